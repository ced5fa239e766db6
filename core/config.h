/*
 * config — the relay's configuration: YAML file (libyaml) or the built-in
 * default, validated into one immutable struct config.
 *
 * A loaded config is never modified.  Reload builds a new one and publishes
 * it (core/daemon/sluiced.c); workers switch to it at a loop boundary and
 * the old one is freed once every worker has let go and no config_hold is
 * left.  Any thread may read a config it holds.  Loading happens on the
 * main thread only.
 *
 * The rule for a pointer into a config (a connector, its TLS context, a host
 * name): it may be used within one turn of the worker loop.  Whatever keeps
 * one across an await (an I/O completion, a DNS answer, a timer) holds the
 * config with config_hold, or keeps a name and looks it up again.
 */
#ifndef SLUICE_CORE_CONFIG_H
#define SLUICE_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Outbound TLS policy of a connector (tls/ fills in the behaviour). */
enum cfg_tls_policy {
	CFG_TLS_NONE,		/* never STARTTLS */
	CFG_TLS_OPPORTUNISTIC,	/* STARTTLS when offered, plaintext fallback */
	CFG_TLS_REQUIRED,	/* STARTTLS or fail; any certificate */
	CFG_TLS_VERIFY,		/* STARTTLS, chain and name verified */
};

/* The word of p as the file writes it: "none", "opportunistic", ... */
const char *config_tls_policy_name(enum cfg_tls_policy p);

/* How recipients of an accepted domain are checked. */
enum cfg_domain_mode {
	CFG_DOMAIN_INTERNAL_RELAY,	/* accept every recipient, relay it */
	CFG_DOMAIN_AUTHORITATIVE,	/* only recipients in the directory */
};

/* TLS protocol settings of one side: inbound (tls:) or a connector's
 * outbound (tls_min_version, tls_ciphers, tls_ciphersuites).  tls/ applies
 * them; NULL lists keep its built-in order. */
struct cfg_tls_proto {
	uint32_t min_version;		/* 12: TLS 1.2 (default), 13: TLS 1.3 */
	char *ciphers;			/* TLS 1.2 cipher names, ':' between, or NULL */
	char *ciphersuites;		/* TLS 1.3 suite names, ':' between, or NULL */
};

/* Where log lines go (log: to). */
enum cfg_log_to {
	CFG_LOG_STDERR,			/* standard error (default) */
	CFG_LOG_SYSLOG,			/* the local syslog socket (the journal
					   under systemd) */
	CFG_LOG_FILE,			/* a file, appended, reopened on SIGUSR1 */
};

/* log: how sluiced logs (core/log.h writes; core/config_service.c parses). */
struct cfg_log {
	enum cfg_log_to to;		/* destination (stderr) */
	char *path;			/* the file for to: file, else NULL */
	bool json;			/* format: json, every line one object (text) */
	unsigned level;			/* enum log_level of core/log.h: lines
					   below it are dropped (info) */
	unsigned facility;		/* syslog facility code (mail: 2) */
};

/* http: the admin listener (core/http/http.h); off unless the section is
 * given.  Taken at start, like the SMTP listeners: a reload keeps it. */
struct cfg_http {
	bool enabled;			/* the http: section is there */
	struct sockaddr_storage addr;	/* listen address */
	socklen_t addrlen;		/* its length */
	char *listen;			/* as written ("127.0.0.1:8025") */
	char *token_file;		/* the bearer token's file (read as root
					   at start), or NULL: no token */
	bool write;			/* POST actions allowed (false; they also
					   need the token) */
	bool read_token;		/* GET /api and /metrics need the token
					   too (false: open to whoever reaches
					   the address) */
	uint32_t max_connections;	/* served at once (32); more are
					   answered 503 and closed */
	char *static_dir;		/* files served under / (the dashboard),
					   HTTP_STATIC_DIR by default; missing: a
					   built-in page */
};

/* Where the dashboard's files are installed: the Debian package's place;
 * make install compiles the installed sluiced with its own WWWDIR. */
#ifndef HTTP_STATIC_DIR
#define HTTP_STATIC_DIR "/usr/share/sluice/www"
#endif

/* trace: the message trace (core/trace/trace.h).  Taken at start; a
 * reload changes retention and max_size only. */
struct cfg_trace {
	bool enabled;			/* record every message's life (false;
					   true once a trace: section is given) */
	char *path;			/* the database, NULL: <spool>/trace.db */
	uint32_t retention;		/* s a message is kept (10d) */
	uint64_t max_size;		/* bytes the database may use, oldest
					   messages deleted beyond it (1G);
					   0: no limit */
};

struct cfg_listener {
	struct sockaddr_storage addr;	/* bind address */
	socklen_t addrlen;		/* length of addr */
	char *text;			/* "127.0.0.1:2525" as written */
	bool require_tls;		/* 530 5.7.0 before STARTTLS */
	bool proxy_protocol;		/* a PROXY protocol header (v1 or v2)
					   comes before the client's first byte
					   (net/smtp_server_proxy.c) */
	struct cfg_net *proxy_from;	/* the load balancers that may send it
					   (given whenever proxy_protocol is) */
	size_t nproxy_from;		/* their number */
};

struct cfg_net {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* network address, masked to prefix */
	uint8_t prefix;		/* prefix length in bits */
};

struct cfg_host {
	char *name;		/* host name or IP literal (no brackets) */
	uint16_t port;		/* TCP port, default 25 */
};

struct cfg_connector {
	char *name;			/* unique name, used in logs and stats */
	bool mx;			/* route by the recipient domain's MX */
	struct cfg_host *hosts;		/* smart hosts in order (if !mx) */
	size_t nhosts;			/* number of hosts */
	uint32_t retry_initial;		/* first retry after this many s (60) */
	uint32_t retry_max;		/* backoff cap in s (900) */
	uint32_t retry_jitter;		/* +- percent of jitter (10) */
	uint32_t expiry;		/* give up this many s after arrival (86400) */
	uint32_t delay_warning;		/* "delayed" DSN after s, 0 = off (0) */
	uint32_t cert_warning;		/* warn when a host's certificate
					   expires within s, 0 = off
					   (cert_expiry_warning: the top-level
					   value for smart hosts, 0 for mx) */
	bool cert_warning_set;		/* the connector's entry gave it */
	uint32_t max_connections;	/* per destination, all workers (20) */
	uint32_t max_msgs_per_conn;	/* messages per connection (100) */
	uint32_t down_after;		/* consecutive failures -> down (3) */
	uint32_t mx_port;		/* port of MX hosts (25) */
	uint32_t connect_timeout;	/* s (30) */
	uint32_t command_timeout;	/* s per SMTP reply (300) */
	enum cfg_tls_policy tls;	/* outbound TLS policy (opportunistic
					   for mx, else none) */
	struct cfg_tls_proto tls_proto;	/* its versions and ciphers */
	char *tls_domain;		/* name to verify, NULL = smart host */
	char *tls_ca;			/* CA bundle path, NULL = system */
	bool enabled;			/* false: queue, do not deliver */
	bool chunking;			/* BDAT when the next hop offers
					   CHUNKING and PIPELINING (true) */
	struct tls_ctx *tls_client;	/* built by the daemon, or NULL */
};

struct directory;
struct tenant_table;
struct cluster;

/* A tenant: owns accepted domains, their directory and a quota. */
struct cfg_tenant {
	char *name;			/* unique name (first: lookups rely on it) */
	char *directory;		/* file of valid addresses, or NULL */
	uint32_t quota;			/* invalid recipients per window, 0 = none */
	struct directory *dir;		/* loaded by the daemon, or NULL */
	int counter;			/* its index in cfg->tenant_table */
};

struct cfg_domain {
	char *name;			/* lower-case domain, or "*" */
	struct cfg_connector *connector;/* where its mail goes */
	enum cfg_domain_mode mode;	/* recipient checking */
	char *tenant;			/* owning tenant name or NULL */
	struct cfg_tenant *tenant_cfg;	/* that tenant, or NULL */
};

struct cfg_limits {
	uint64_t message_size;		/* bytes (10 MiB); 552 5.3.4 above */
	uint32_t recipients;		/* per message (500); 452 4.5.3 */
	uint32_t hops;			/* Received: headers a message may arrive
					   with (50); 554 5.4.6 above: a loop */
	uint32_t errors;		/* per session (10); 421 and close */
	uint32_t command_line;		/* bytes incl. CRLF (512) */
	uint32_t text_line;		/* bytes incl. CRLF (1000) */
	uint32_t idle_timeout;		/* s waiting for a command (300) */
	uint32_t data_timeout;		/* s without bytes inside DATA (180) */
	uint32_t send_timeout;		/* s for a reply to be taken (60) */
	uint32_t drain_timeout;		/* s given to sessions on SIGTERM (10) */
	uint32_t proxy_timeout;		/* s for a balancer's PROXY header to
					   arrive complete, from the accept (5) */
	uint32_t max_sessions;		/* per worker (20000) */
	/* per client address (IPv6: /64), all workers (net/anvil.h) */
	uint32_t client_sessions;	/* concurrent sessions (50), 0 = none */
	uint32_t client_rate;		/* connections per minute (600), 0 = none */
	/* the DATA phase as a whole, not just the gaps between bytes */
	uint32_t data_total;		/* s from 354 to the final dot (3600) */
	uint32_t data_min_rate;		/* bytes/s it must average once
					   data_timeout has passed (500), 0 = none */
	uint64_t data_memory;		/* DATA held in memory per worker (32 MiB);
					   beyond it messages spill to disk */
	uint64_t data_spill;		/* a message larger spills (256 KiB) */
};

#define CFG_ALERTS_NOTIFY_MAX 32	/* addresses in alerts.notify, at most */

/* alerts: when a queue alert is raised, and who is told of every alert
 * (core/config_alerts.c parses it; core/ctl/ctl_notify.c mails and posts). */
struct cfg_alerts {
	uint32_t threshold;		/* a queue alert: this many messages queued
					   at one connector (200); 0 = none */
	uint32_t age;			/* for more than this many s (1h) */
	char **notify;			/* addresses each alert is mailed to,
					   NULL: alerts are only logged */
	size_t nnotify;			/* their number */
	char *connector;		/* the notices go through it, NULL: each
					   by its domain's route */
	uint32_t daily_limit;		/* notices per alert per UTC day (3),
					   0 = no limit */
	bool notify_cleared;		/* mail when an alert clears (true) */
	char *webhook;			/* http://host[:port]/path as written, or
					   NULL: no JSON POST */
	char *webhook_host;		/* its host, without brackets */
	uint16_t webhook_port;		/* its port (80) */
	char *webhook_path;		/* its path and query, "/" at least */
};

/* cluster: what this node shares with the others through Redis
 * (core/cluster/agent.h); used only when redis: is set. */
struct cfg_cluster {
	char *node;			/* its name in the cluster view, NULL:
					   the hostname */
	uint32_t number;		/* this node's number, 0..255, in every
					   queue id it makes (0) */
	char *prefix;			/* Redis key prefix ("sluice:") */
	uint32_t publish;		/* s between status publications (5) */
	uint32_t stale;			/* s of silence before a node is
					   flagged as not reporting (20) */
	char *state_file;		/* the cluster settings' local copy,
					   NULL: <spool>/cluster-state.json */
	bool alerts_cluster;		/* queue alerts count the organisation's
					   queue, not only this node's (false) */
};

struct config {
	char *path;			/* file it came from, "(built-in)" */
	uint32_t workers;		/* worker threads, 0 = one per core */
	char *hostname;			/* our name in banner and Received */
	char *spool_dir;		/* spool root */
	uint64_t segment_size;		/* rotate spool segments at (64 MiB) */
	char *control_socket;		/* unix socket path */
	char *tls_cert;			/* PEM certificate for STARTTLS, or NULL */
	char *tls_key;			/* its PEM private key */
	char *tls_ticket_key;		/* secret the session ticket keys are
					   derived from (shared by a cluster),
					   NULL: a random one per process */
	struct cfg_tls_proto tls_proto;	/* inbound versions and ciphers */
	struct tls_ctx *tls_server;	/* built from them by the daemon */
	char **resolvers;		/* DNS servers "ip[:port]", NULL = resolv.conf */
	size_t nresolvers;		/* their number */
	uint32_t dns_timeout_ms;	/* first try's timeout per server (2000) */
	struct cfg_listener *listeners;	/* SMTP listeners */
	size_t nlisteners;
	struct cfg_net *trusted;	/* may relay to any routed domain */
	size_t ntrusted;
	struct cfg_net *client_exempt;	/* no per-client limits (limits.client_exempt) */
	size_t nclient_exempt;		/* their number */
	bool client_exempt_set;		/* given: else trusted_networks are exempt */
	struct cfg_limits limits;	/* session limits */
	struct cfg_connector *connectors;
	size_t nconnectors;
	struct cfg_domain *domains;	/* accepted domains (not "*") */
	size_t ndomains;
	struct cfg_domain *default_route;	/* the "*" entry or NULL */
	struct cfg_tenant *tenants;	/* tenants */
	size_t ntenants;		/* their number */
	uint32_t quota_window;		/* tenants' quota window in s (3600) */
	uint32_t quota_bucket;		/* its bucket width in s (60) */
	uint32_t cert_expiry_warning;	/* the connectors' certificate warning
					   window in s, 0 = off (14 d) */
	struct tenant_table *tenant_table; /* counters, built by the daemon */
	struct tenant_table *tenant_in;	/* recipients accepted, same window */
	struct tenant_table *tenant_out;	/* recipients delivered, same window */
	struct cluster *cluster;	/* Redis counters (redis set), or NULL */
	char *postmaster;		/* gets the NDRs nothing else can take
					   (queue/queue_msg.c), or NULL */
	uint64_t ndr_return_max;	/* RET=FULL: an original up to this size
					   goes back whole in its NDR, a larger
					   one only its headers (128 KiB) */
	char *state_file;		/* fix-now switches are kept here */
	char *redis_host;		/* cluster counters on one Redis, NULL:
					   sentinels, or local only */
	uint32_t redis_port;		/* (6379) */
	char *redis_password;		/* AUTH password, NULL = none */
	char **redis_sentinels;		/* or through Redis Sentinel: "host:port"
					   of each sentinel (array freed by
					   config_free, strings in the pool) */
	size_t nredis_sentinels;	/* 0: no sentinels */
	char *redis_master;		/* the master's name at the sentinels */
	char *redis_sentinel_password;	/* AUTH for the sentinels, NULL = none */
	struct cfg_cluster cluster_cfg;	/* the cluster section */
	char *user;			/* run as this user once the listeners and
					   the control socket are open, or NULL */
	char *group;			/* and this group, NULL: the user's
					   primary group */
	char *control_group;		/* group of the control socket, which is
					   then mode 0660 (else 0600), or NULL */
	struct cfg_log log;		/* where and how to log */
	struct cfg_http http;		/* the HTTP admin listener */
	struct cfg_alerts alerts;	/* alert thresholds and notices */
	struct cfg_trace trace;		/* the message trace */
	void *domain_index;		/* private lookup table */
	unsigned holds;			/* config_hold count (atomic access
					   only; the one mutable field) */
	void (*built_free)(struct config *cfg); /* frees what was built from
					   the settings above core/ (TLS
					   contexts, directories, counters,
					   the cluster link: core/daemon/
					   daemon_config.c), or NULL;
					   config_free calls it first */
};

struct tls_ctx;

/* The YAML of the built-in default (printed by `sluiced -d`). */
extern const char config_default_yaml[];

/*
 * Parse and validate the YAML file at path.  On success *out is a new config
 * (caller frees with config_free) and 0 is returned.  On failure returns
 * -EINVAL (or -errno if the file cannot be read) and writes one line into
 * err: "FILE:LINE: what was expected" (at most errlen bytes, NUL-terminated).
 */
int config_load(const char *path, struct config **out, char *err, size_t errlen);

/* Same from a string; name is used in error messages in place of a file. */
int config_load_string(const char *name, const char *yaml, struct config **out,
		       char *err, size_t errlen);

/* Free a config from config_load* (and, through built_free, what was built
 * from it).  NULL is fine.  Nothing may hold it (see config_held). */
void config_free(struct config *cfg);

/*
 * Keep cfg from being freed by a reload until config_release: for an object
 * that uses cfg, or pointers into it, across an await (an outbound
 * connection keeps its connector and TLS context through STARTTLS).  Call
 * it on a config the caller already may read (the worker's w->cfg).  Any
 * thread.  Returns cfg.
 */
const struct config *config_hold(const struct config *cfg);

/* Give back a config_hold.  After it, cfg may be freed at any moment. */
void config_release(const struct config *cfg);

/* True while a config_hold on cfg is not released.  Main thread, when it
 * decides whether a replaced config can be freed. */
bool config_held(const struct config *cfg);

/*
 * Accepted domain for a (lower- or mixed-case) domain, exact match, O(1);
 * NULL when the domain is not accepted.  Does not fall back to "*".
 */
const struct cfg_domain *config_domain_find(const struct config *cfg,
					    const char *domain, size_t len);

/* The entry that routes address addr ("local@domain"): its domain's, else
 * the "*" route; NULL when nothing routes it. */
const struct cfg_domain *config_route(const struct config *cfg, const char *addr);

/* The tenant owning the domain of address addr ("local@domain"), or NULL
 * (no tenant, or no counters set up). */
const struct cfg_tenant *config_addr_tenant(const struct config *cfg, const char *addr);

/* Tenant by name, or NULL. */
const struct cfg_tenant *config_tenant_find(const struct config *cfg, const char *name);

/* Connector by name, or NULL. */
const struct cfg_connector *config_connector_find(const struct config *cfg,
						  const char *name);

/*
 * The one definition of a connector's defaults: every connector starts
 * from it before its mapping is read (config_connector.c), and the queue
 * goes by it for a destination whose connector a reload removed (its mail
 * still needs a retry schedule, an expiry and health rules).  No name, no
 * hosts.
 */
extern const struct cfg_connector config_connector_default;

/* True when addr (an AF_INET/AF_INET6 sockaddr; an IPv4-mapped IPv6
 * address counts as its IPv4 address) is inside one of nets[0..n). */
bool config_nets_contain(const struct cfg_net *nets, size_t n, const struct sockaddr *addr);

/* True when addr (AF_INET/AF_INET6 sockaddr) is inside trusted_networks. */
bool config_is_trusted(const struct config *cfg, const struct sockaddr *addr);

/* True when addr is exempt from the per-client limits: inside
 * limits.client_exempt, or inside trusted_networks when that is not set. */
bool config_client_exempt(const struct config *cfg, const struct sockaddr *addr);

#endif
