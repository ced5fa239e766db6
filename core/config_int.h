/*
 * config_int — what the configuration loader's files share; included by
 * core/config*.c only.  core/config.h is the public API.
 *
 * The loader is one small parsing core and one file per section:
 *
 *   config.c            load/free entry points, the YAML pass and the walk
 *                       of the top level, defaults
 *   config_parse.c      the core: string pool, name tables, errors with
 *                       file:line, field tables (cfg_load_map) and the
 *                       field parsers every section uses, lists and maps
 *   config_scalar.c     pure text parsers: numbers, sizes, durations,
 *                       names, IP literals, host:port
 *   config_listen.c     listen, trusted_networks, limits, inbound tls
 *   config_connector.c  connectors (smart hosts, retry, TLS policy),
 *                       resolvers
 *   config_domain.c     domains, tenants, postmaster
 *   config_redis.c      redis: one Redis, or Redis Sentinel
 *   config_service.c    how the daemon runs: user, group, control_group,
 *                       log, trace
 *   config_tls.c        TLS versions and ciphers, inbound and outbound
 *   config_http.c       the HTTP admin listener (http)
 *   config_cluster.c    what a node shares with the cluster (cluster)
 *   config_alerts.c     alerts: thresholds, notice recipients, webhook
 *
 * A section parser is a cfg_field_fn named in a field table: it reads one
 * YAML value, stores the result in the config being built, and on bad input
 * reports once with cfg_fail (file, line, what was expected) and returns its
 * negative result.  Everything it keeps is either in the string pool or in
 * an array that config_free releases.  Main thread only (loading).
 */
#ifndef SLUICE_CORE_CONFIG_INT_H
#define SLUICE_CORE_CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <yaml.h>

#include "core/config.h"

#define KIB		1024ULL
#define MIB		(1024ULL * KIB)
#define GIB		(1024ULL * MIB)
#define MINUTE		60ULL
#define HOUR		(60ULL * MINUTE)
#define DAY		(24ULL * HOUR)

#define CFG_DOMAIN_MAX	253		/* RFC 1035 text form, no final dot */
#define CFG_LABEL_MAX	63		/* one label of a domain */
#define CFG_NAME_MAX	64		/* connector and tenant names */
#define CFG_CERT_WARNING (14 * DAY)	/* cert_expiry_warning by default */

/* ------------------------------------------------------------------------ */
/* String pool and name tables (config_parse.c).                            */

/*
 * Open-addressing name table with linear probing.  A slot holds the name's
 * hash and its index + 1 into the owner's array (0 = empty); the name itself
 * is read from the array, so a slot is 8 bytes (16 MiB for a million domains
 * at load factor <= 0.5).  Contents come only from the config file, so
 * lookups from the network cannot build collision chains.  Built once while
 * loading, never grown.
 */
struct cfg_name_slot {
	uint32_t hash;			/* hash of the (folded) name */
	uint32_t idx1;			/* index + 1 into the array, 0 = empty */
};

struct cfg_name_table {
	struct cfg_name_slot *slots;	/* mask + 1 slots, NULL when empty */
	uint32_t mask;			/* capacity - 1 (a power of two) */
};

struct cfg_pool_chunk;

/* What cfg->domain_index points at. */
struct cfg_index {
	struct cfg_name_table domains;	/* over cfg->domains, case-insensitive */
	struct cfg_name_table connectors; /* over cfg->connectors, exact */
	struct cfg_name_table tenants;	/* over cfg->tenants, exact */
	struct cfg_pool_chunk *pool;	/* newest chunk of the string pool */
};

/* Copy of s[0..len) and a NUL in the config's string pool; NULL: no memory. */
char *cfg_strndup(struct cfg_index *ix, const char *s, size_t len);

/* Same, folded to lower case (host and domain names). */
char *cfg_strndup_lower(struct cfg_index *ix, const char *s, size_t len);

/* Free the pool and the tables (config_free). */
void cfg_index_free(struct cfg_index *ix);

/* ASCII lower case of one byte. */
static inline unsigned char
cfg_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* stored (NUL-terminated, lower-case when icase) equals key[0..len)? */
bool cfg_name_eq(const char *stored, const char *key, size_t len, bool icase);

/* Room for n names at load factor <= 1/2.  0 or -ENOMEM. */
int cfg_ntab_init(struct cfg_name_table *t, size_t n);

/*
 * The tables index an array whose elements start with a `char *name`
 * (cfg_domain, cfg_connector, cfg_tenant): base is the array, stride the
 * size of an element.
 */

/* Index of the element named key[0..len), or -1. */
long cfg_ntab_find(const struct cfg_name_table *t, const void *base, size_t stride,
		   const char *key, size_t len, bool icase);

/* Add element idx (its name already stored).  -1 when added, else the index
 * of the element that already has the name. */
long cfg_ntab_add(struct cfg_name_table *t, const void *base, size_t stride,
		  uint32_t idx, bool icase);

/* ------------------------------------------------------------------------ */
/* Loader state and error reporting (config_parse.c).                       */

struct cfg_loader {
	const char *name;		/* file name used in messages */
	const char *text;		/* the YAML text */
	size_t textlen;			/* its length */
	yaml_document_t doc;		/* the parsed document */
	struct config *cfg;		/* config being built */
	struct cfg_index *ix;		/* its pool and tables */
	char *err;			/* caller's error buffer (may be NULL) */
	size_t errlen;			/* its size */
	const char *ctx;		/* context of the value being parsed */
	yaml_node_t *root;		/* top-level mapping */
	yaml_node_t *listen;		/* the listen value, if any */
	yaml_node_t *domains;		/* parsed after the connectors */
	yaml_node_t *postmaster;	/* checked against the domains */
	yaml_node_t *alerts;		/* checked against the connectors and
					   the domains */
	yaml_node_t *cluster;		/* checked against redis */
	uint32_t *conn_line;		/* line of each connector's name */
	size_t budget;			/* list items and pairs left to visit */
	char ctx_buf[160];		/* "connector 'x'" / "domain 'x'" */
	char where_buf[192];		/* "in connector 'x'" / ... */
};

/* Quoted, shortened and printable copy of a value for an error message. */
struct cfg_qbuf {
	char s[112];
};

/* 'value' for s[0..len): control bytes as '?', long ones cut with "...". */
const char *cfg_quote(struct cfg_qbuf *q, const char *s, size_t len);

/* "'value'" for a scalar, "a list" / "a mapping" otherwise. */
const char *cfg_describe(struct cfg_qbuf *q, const yaml_node_t *n);

/* 1-based line of a node (1 for NULL). */
size_t cfg_line(const yaml_node_t *n);

/* Report "NAME:LINE: message" (line 0: "NAME: message"); -EINVAL. */
__attribute__((format(printf, 3, 4)))
int cfg_fail_line(struct cfg_loader *ld, size_t line, const char *fmt, ...);

/* Same at the line of node n. */
__attribute__((format(printf, 3, 4)))
int cfg_fail(struct cfg_loader *ld, const yaml_node_t *n, const char *fmt, ...);

/* Report "NAME: out of memory"; -ENOMEM. */
int cfg_nomem(struct cfg_loader *ld);

/* Charge n list items or mapping pairs to the visit budget: 0, or -EINVAL
 * reported at node at. */
int cfg_charge(struct cfg_loader *ld, const yaml_node_t *at, size_t n);

/* Set ld->ctx_buf to "KIND 'name'" and ld->where_buf to "in KIND 'name'",
 * the context of the errors about one named entry. */
void cfg_entry(struct cfg_loader *ld, const char *kind, const char *name);

static inline bool
is_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE;
}

static inline const char *
sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline size_t
slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

/* ------------------------------------------------------------------------ */
/* Lists and mappings (config_parse.c).                                     */

/* The items of a list value; a single scalar counts as a one-item list. */
struct cfg_list {
	yaml_node_t *v;			/* the value */
	yaml_node_item_t *it;		/* its items; NULL: v is the one item */
	size_t n;			/* number of items */
};

/*
 * Open the list value v and charge its items to the visit budget.  A
 * mapping is refused with "CTX: expected WHAT, got a mapping" (ld->ctx).
 * 0 or <0 (reported).
 */
int cfg_list_open(struct cfg_loader *ld, yaml_node_t *v, const char *what,
		  struct cfg_list *l);

/* Item i of an open list, or NULL after reporting a broken list. */
yaml_node_t *cfg_list_item(struct cfg_loader *ld, const struct cfg_list *l, size_t i);

/*
 * Number of pairs of the mapping v, charged to the visit budget; anything
 * else is refused with "CTX: expected WHAT, got ...".  Returns the number
 * or <0 (reported).
 */
long cfg_map_open(struct cfg_loader *ld, yaml_node_t *v, const char *ctx,
		  const char *what);

/* Key and value of pair i of a mapping: 0, or <0 after reporting a broken
 * mapping. */
int cfg_map_pair(struct cfg_loader *ld, yaml_node_t *map, size_t i,
		 yaml_node_t **k, yaml_node_t **v);

/* The key node of key in the mapping map (one that cfg_load_map has
 * accepted), and its value in *value when value is not NULL; NULL when the
 * key is absent.  For checks that need the whole mapping: the line of an
 * error about a key that goes with another. */
yaml_node_t *cfg_map_key(struct cfg_loader *ld, yaml_node_t *map, const char *key,
			 yaml_node_t **value);

/* ------------------------------------------------------------------------ */
/* Scalars (config_scalar.c): pure, no loader, no I/O.                      */

/* Decimal digits only; 0 ok, -1 not a number, -2 too large. */
int cfg_parse_u64(const char *s, size_t len, uint64_t *out);

/* Bytes with an optional K/M/G unit; same results as cfg_parse_u64. */
int cfg_parse_size(const char *s, size_t len, uint64_t *out);

/* Seconds with an optional s/m/h/d unit; same results as cfg_parse_u64. */
int cfg_parse_duration(const char *s, size_t len, uint64_t *out);

/* v in its largest exact unit ("1M", "90s", "1d") into buf; returns buf. */
const char *cfg_fmt_size(char *buf, size_t size, uint64_t v);
const char *cfg_fmt_duration(char *buf, size_t size, uint64_t v);

/* Domain name in text form (RFC 5321 sub-domains, 253 bytes at most). */
bool cfg_valid_domain(const char *s, size_t len);

/* Only digits and dots (a would-be IPv4 address, not a name). */
bool cfg_all_digits_dots(const char *s, size_t len);

/* Connector and tenant names: [A-Za-z0-9_.-]{1,64}. */
bool cfg_valid_name(const char *s, size_t len);

/* A plain mailbox local@domain: a dot-atom local part of at most 64
 * characters and a domain name (postmaster, alerts.notify). */
bool cfg_valid_mailbox(const char *s, size_t len);

/* User and group names: [A-Za-z0-9_.-]{1,32}, not starting with '-'. */
bool cfg_valid_account(const char *s, size_t len);

/* One name of a cipher list: [A-Za-z0-9_-]{1,64}. */
bool cfg_valid_cipher(const char *s, size_t len);

/* True for a TLS 1.3 suite name ("TLS13-...", or "TLS_..." without
 * "_WITH_"), false for a TLS 1.2 cipher. */
bool cfg_tls13_suite(const char *s, size_t len);

/* IP literal (no brackets) into 16 bytes; returns its family or 0. */
int cfg_parse_ip(const char *s, size_t len, uint8_t addr[16]);

enum cfg_hp {
	CFG_HP_OK,
	CFG_HP_BAD,		/* not an address (or host name) */
	CFG_HP_V6_BARE,		/* IPv6 without brackets */
	CFG_HP_PORT,		/* port missing, not a number or out of range */
};

/* Result of cfg_parse_hostport. */
struct cfg_hostport {
	const char *host;	/* host inside s, without brackets */
	size_t hostlen;		/* its length */
	int family;		/* AF_INET/AF_INET6 for literals, 0 for a name */
	uint8_t addr[16];	/* the literal's address */
	uint16_t port;		/* port, or the default */
};

/*
 * "host", "host:port", "[v6]", "[v6]:port".  port_default 0 means the port
 * is required; names false means IP literals only.
 */
enum cfg_hp cfg_parse_hostport(const char *s, size_t len, uint16_t port_default,
			       bool names, struct cfg_hostport *hp);

/* ------------------------------------------------------------------------ */
/* Field tables (config_parse.c).                                           */

struct cfg_field;
typedef int cfg_field_fn(struct cfg_loader *ld, const struct cfg_field *f,
			 yaml_node_t *v, void *base);

struct cfg_field {
	const char *key;	/* YAML key */
	cfg_field_fn *parse;	/* parses the value into base */
	size_t off;		/* destination offset in base */
	uint64_t min, max;	/* accepted range of numbers */
	const char *what;	/* description when not the parser's own */
};

/* The destination of field f in base, as a type *. */
#define CFG_AT(base, f, type)	((type *)(void *)((char *)(base) + (f)->off))

/* Number of entries of a field table. */
#define CFG_NFIELDS(t)		(sizeof(t) / sizeof((t)[0]))

/*
 * Walk a mapping against a field table: unknown keys (with a "did you mean"),
 * duplicate keys and wrong types are refused here.  ctx is the context put
 * in front of value errors (NULL: the key itself); where completes
 * "unknown key 'x' ...".  0 or the first parser's negative result.
 */
int cfg_load_map(struct cfg_loader *ld, yaml_node_t *map,
		 const struct cfg_field *fields, size_t nfields, void *base,
		 const char *ctx, const char *where);

/* Field parsers: a value into the member at f->off, range f->min..f->max. */
cfg_field_fn cfg_f_u32;		/* uint32_t */
cfg_field_fn cfg_f_size;	/* uint64_t bytes, "10M" */
cfg_field_fn cfg_f_duration;	/* uint32_t seconds, "15m" */
cfg_field_fn cfg_f_bool;	/* bool: true/yes, false/no */
cfg_field_fn cfg_f_path;	/* char *, non-empty text */
cfg_field_fn cfg_f_hostname;	/* char *, a host name stored lower-case */

/* Non-empty text without NUL bytes, copied into the pool; else "CTX:
 * expected WHAT, got ...". */
int cfg_text(struct cfg_loader *ld, yaml_node_t *v, const char *what, char **out);

/* A connector or tenant name into the pool; else "CTX: expected KIND name
 * of letters, digits, '_', '.' or '-', got ..." (kind: "a tenant"). */
int cfg_name(struct cfg_loader *ld, yaml_node_t *v, const char *ctx,
	     const char *kind, char **out);

/* One of the NULL-terminated words into *out (its index); else "CTX:
 * expected EXPECTED, got ...". */
int cfg_word(struct cfg_loader *ld, yaml_node_t *v, const char *const *words,
	     const char *expected, int *out);

/* ------------------------------------------------------------------------ */
/* Sections, named in the top-level table (config.c).                       */

/* config_listen.c */
cfg_field_fn cfg_f_listen;		/* listen */
/* An IP literal and port (v) into *ss; else "KEY: expected ... like
 * 127.0.0.1:EX". 0 or <0 (reported). */
int cfg_sockaddr(struct cfg_loader *ld, yaml_node_t *v, const char *key, const char *ex,
		 struct sockaddr_storage *ss, socklen_t *len);
cfg_field_fn cfg_f_trusted;		/* trusted_networks */
cfg_field_fn cfg_f_limits;		/* limits */
cfg_field_fn cfg_f_tls_server;		/* tls: {cert, key} */
void cfg_limits_defaults(struct cfg_limits *l);

/* config_connector.c */
cfg_field_fn cfg_f_connectors;		/* connectors */
cfg_field_fn cfg_f_resolvers;		/* resolvers */
/* What a connector's entry left to the top level: cert_expiry_warning
 * (smart hosts take the top-level value, MX routing none).  Once the top
 * level is done. */
void cfg_connectors_inherit(struct config *cfg);

/* config_domain.c */
cfg_field_fn cfg_f_tenants;		/* tenants */
cfg_field_fn cfg_f_redis;		/* redis (config_redis.c) */
cfg_field_fn cfg_f_postmaster;		/* postmaster */

/* config_service.c */
cfg_field_fn cfg_f_account;		/* user, group, control_group */
cfg_field_fn cfg_f_log;			/* log */
void cfg_log_defaults(struct cfg_log *l);
cfg_field_fn cfg_f_trace;		/* trace */
void cfg_trace_defaults(struct cfg_trace *t);

/* config_cluster.c */
cfg_field_fn cfg_f_cluster;		/* cluster */
int cfg_cluster_check(struct cfg_loader *ld);
void cfg_cluster_defaults(struct cfg_cluster *c);

/* config_http.c */
cfg_field_fn cfg_f_http;		/* http */
void cfg_http_defaults(struct cfg_http *h);
/* config_alerts.c */
cfg_field_fn cfg_f_alerts;		/* alerts */
void cfg_alerts_defaults(struct cfg_alerts *a);
/* Its connector is configured, and without one each recipient's domain is
 * routed.  After the domains; 0 or <0 (reported). */
int cfg_alerts_check(struct cfg_loader *ld);

/* config_tls.c: fields of a struct cfg_tls_proto (f->off is its offset) */
cfg_field_fn cfg_f_tls_version;		/* min_version: 1.2 or 1.3 */
cfg_field_fn cfg_f_tls_ciphers;		/* ciphers: TLS 1.2 names */
cfg_field_fn cfg_f_tls_suites;		/* ciphersuites: TLS 1.3 names */

/* The domains (ld->domains, kept by the top-level walk: they name the
 * connectors and tenants) and the check that the postmaster is routed.
 * Called once the top level is done.  0 or <0 (reported). */
int cfg_domains_load(struct cfg_loader *ld);

#endif
