/*
 * ctl_config — the daemon's settings on the control socket: "show config"
 * (Postfix's postconf: the configuration the workers run, as sluiced
 * parsed it, defaults included; "changed" only what differs from them,
 * postconf -n; "defaults" the defaults alone, postconf -d) and "set
 * log-level".  On the control thread.
 *
 * show config asks worker 0 for the config it runs, held (config_hold)
 * until the answer is written, so a reload cannot free it meanwhile.  The
 * defaults are what the parser itself makes of a file that gives only the
 * required keys (DEFAULTS_YAML), parsed for each command, so they cannot
 * drift from core/config*.c.  The text is YAML that sluiced accepts back
 * (sluiced -t -c FILE), every key at its default marked "# default", and
 * what is not set written as a comment; JSON is the same tree (durations
 * in seconds, sizes in bytes, which the parser accepts too) with the list
 * of keys at their default.  A secret (the Redis password) is never
 * shown: "(set)", a comment in YAML; TLS keys are paths, shown.
 *
 * A key the parser learns must be added here too: the tests compare this
 * output with the config's keys (tests/integration/test_ops_config.py).
 */
#include "core/ctl/ctl_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "core/config.h"
#include "core/ctl/ctl_run.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"

#define CW_DEPTH 6		/* mappings open at once, at most */

/* What a file needs to parse; everything else takes its default. */
static const char DEFAULTS_YAML[] =
	"listen: [\"127.0.0.1:2525\"]\n"
	"connectors: {d: {smarthosts: [\"127.0.0.1\"]}}\n"
	"domains: {d.test: d}\n";

enum cw_mode {
	CW_ALL,		/* every key, defaults marked */
	CW_CHANGED,	/* only what differs from the defaults */
	CW_DEFAULTS,	/* the defaults themselves */
};

/* The writer: YAML lines into the answer, or a JSON tree. */
struct cw {
	struct ctl_run *r;		/* the answer */
	bool json;			/* a JSON tree, not YAML */
	enum cw_mode mode;		/* which keys */
	int depth;			/* mappings open */
	const char *keys[CW_DEPTH];	/* their keys (keys[0] unused) */
	bool shown[CW_DEPTH];		/* YAML: their key line is out */
	json_t *obj[CW_DEPTH];		/* JSON: their objects, obj[0] the root */
	json_t *defaults;		/* JSON: the dotted keys at their default */
};

/* s as a YAML double-quoted scalar (every string of a config is UTF-8:
 * libyaml checked it; control bytes become \xNN). */
static void
yaml_quote(struct strb *sb, const char *s)
{
	strb_puts(sb, "\"");
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			strb_printf(sb, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			strb_printf(sb, "\\x%02X", c);
		else
			strb_putn(sb, s, 1);
	}
	strb_puts(sb, "\"");
}

/* A mapping key: plain when it is a plain word, else quoted ("*"). */
static void
yaml_key(struct strb *sb, const char *k)
{
	if (k[0] != '\0' && strspn(k, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
				   "0123456789_.-") == strlen(k))
		strb_puts(sb, k);
	else
		yaml_quote(sb, k);
}

/* The key lines of the mappings whose first member comes now. */
static void
cw_heads(struct cw *w)
{
	for (int d = 1; d <= w->depth; d++) {
		STRB_LOCAL(k, 600);
		if (w->shown[d])
			continue;
		yaml_key(&k, w->keys[d]);
		ctl_printf(w->r, "%*s%s:\n", 2 * (d - 1), "", k.p);
		w->shown[d] = true;
	}
}

static void
cw_open(struct cw *w, const char *key)
{
	if (w->depth + 1 >= CW_DEPTH)
		return;			/* the schema nests 4 deep */
	w->depth++;
	w->keys[w->depth] = key;
	w->shown[w->depth] = false;
	w->obj[w->depth] = w->json ? json_object() : NULL;
}

static void
cw_close(struct cw *w)
{
	json_t *o = w->obj[w->depth];

	if (w->json && (json_object_size(o) > 0 || w->mode != CW_CHANGED))
		log_json_set(&w->obj[w->depth - 1], w->keys[w->depth], o);
	else
		json_decref(o);
	w->depth--;
}

/*
 * One member: text is its YAML value, v its JSON value (consumed), dflt
 * whether it is the default.  text NULL: not set (a comment in YAML).
 */
static void
cw_put(struct cw *w, const char *key, const char *text, json_t *v, bool dflt,
       const char *note)
{
	if ((w->mode == CW_CHANGED && dflt) || (w->mode == CW_DEFAULTS && !dflt)) {
		json_decref(v);
		return;
	}
	if (w->json) {
		if (dflt && w->mode == CW_ALL) {
			STRB_LOCAL(path, 1024);
			for (int d = 1; d <= w->depth; d++)
				strb_printf(&path, "%s.", w->keys[d]);
			strb_puts(&path, key);
			log_json_append(&w->defaults, log_json_s(path.p));
		}
		log_json_set(&w->obj[w->depth], key, v);
		return;
	}
	json_decref(v);
	cw_heads(w);
	STRB_LOCAL(k, 600);
	yaml_key(&k, key);
	if (text == NULL)
		ctl_printf(w->r, "%*s# %s: (not set%s%s)\n", 2 * w->depth, "", k.p,
			   note ? ": " : "", note ? note : "");
	else
		ctl_printf(w->r, "%*s%s: %s%s\n", 2 * w->depth, "", k.p, text,
			   dflt && w->mode == CW_ALL ? "  # default" : "");
}

static void
cw_u32(struct cw *w, const char *key, uint64_t v, uint64_t dv)
{
	char t[32];

	snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
	cw_put(w, key, t, json_integer((json_int_t)v), v == dv, NULL);
}

static void
cw_bool(struct cw *w, const char *key, bool v, bool dv)
{
	cw_put(w, key, v ? "true" : "false", json_boolean(v), v == dv, NULL);
}

/* "90s", "15m", "1h", "1d": the largest unit that is exact; dflt says
 * whether it is the default. */
static void
cw_dur_is(struct cw *w, const char *key, uint64_t v, bool dflt)
{
	static const struct { uint64_t n; char u; } units[] = {
		{ 86400, 'd' }, { 3600, 'h' }, { 60, 'm' },
	};
	char t[32];

	snprintf(t, sizeof(t), "%llus", (unsigned long long)v);
	for (size_t i = 0; i < 3 && v > 0; i++)
		if (v % units[i].n == 0) {
			snprintf(t, sizeof(t), "%llu%c", (unsigned long long)(v / units[i].n),
				 units[i].u);
			break;
		}
	cw_put(w, key, t, json_integer((json_int_t)v), dflt, NULL);
}

static void
cw_dur(struct cw *w, const char *key, uint64_t v, uint64_t dv)
{
	cw_dur_is(w, key, v, v == dv);
}

/* "64M", "256K", "1000": bytes in the largest exact unit. */
static void
cw_size(struct cw *w, const char *key, uint64_t v, uint64_t dv)
{
	static const char units[] = "GMK";
	char t[32];

	snprintf(t, sizeof(t), "%llu", (unsigned long long)v);
	for (int i = 0; i < 3 && v > 0; i++) {
		uint64_t n = 1ULL << (10 * (3 - i));
		if (v % n == 0) {
			snprintf(t, sizeof(t), "%llu%c", (unsigned long long)(v / n), units[i]);
			break;
		}
	}
	cw_put(w, key, t, json_integer((json_int_t)v), v == dv, NULL);
}

/* A string; NULL is "not set", note says what that means. */
static void
cw_str(struct cw *w, const char *key, const char *s, const char *ds, const char *note)
{
	bool dflt = s == NULL ? ds == NULL : ds != NULL && strcmp(s, ds) == 0;
	STRB_LOCAL(t, 2048);

	if (s != NULL)
		yaml_quote(&t, s);
	cw_put(w, key, s ? t.p : NULL, s ? log_json_s(s) : json_null(), dflt, note);
}

/* A word of a fixed set (no quotes needed). */
static void
cw_word(struct cw *w, const char *key, const char *v, const char *dv)
{
	cw_put(w, key, v, log_json_s(v), strcmp(v, dv) == 0, NULL);
}

/* A secret: never shown, only whether it is set ("(set)"; in YAML a
 * comment, so the text is never taken back as the secret itself). */
static void
cw_secret(struct cw *w, const char *key, const char *s)
{
	if ((w->mode == CW_CHANGED && s == NULL) || (w->mode == CW_DEFAULTS && s != NULL))
		return;
	if (w->json) {
		cw_put(w, key, NULL, s ? log_json_s("(set)") : json_null(), s == NULL, NULL);
		return;
	}
	cw_heads(w);
	ctl_printf(w->r, "%*s# %s: (%s)\n", 2 * w->depth, "", key,
		   s ? "set, not shown" : "not set");
}

/* TLS versions and ciphers (a connector's keys have prefix "tls_"). */
static void
cw_tls_proto(struct cw *w, const char *prefix, const struct cfg_tls_proto *p,
	     const struct cfg_tls_proto *d)
{
	char k[3][40];

	snprintf(k[0], sizeof(k[0]), "%smin_version", prefix);
	snprintf(k[1], sizeof(k[1]), "%sciphers", prefix);
	snprintf(k[2], sizeof(k[2]), "%sciphersuites", prefix);
	cw_word(w, k[0], p->min_version == 13 ? "1.3" : "1.2",
		d->min_version == 13 ? "1.3" : "1.2");
	cw_str(w, k[1], p->ciphers, d->ciphers, "wolfSSL's own order");
	cw_str(w, k[2], p->ciphersuites, d->ciphersuites, "wolfSSL's own order");
}

/* log: {to, path, format, level, facility} */
static void
w_log(struct cw *w, const struct cfg_log *l, const struct cfg_log *d)
{
	static const char *const to[] = { "stderr", "syslog", "file" };
	static const char *const lv[] = { "debug", "info", "warn", "error" };
	static const struct { const char *name; unsigned code; } fac[] = {
		{ "mail", 2 }, { "daemon", 3 }, { "user", 1 }, { "local0", 16 },
		{ "local1", 17 }, { "local2", 18 }, { "local3", 19 }, { "local4", 20 },
		{ "local5", 21 }, { "local6", 22 }, { "local7", 23 },
	};
	const char *f = "mail", *df = "mail";

	for (size_t i = 0; i < sizeof(fac) / sizeof(fac[0]); i++) {
		if (fac[i].code == l->facility)
			f = fac[i].name;
		if (fac[i].code == d->facility)
			df = fac[i].name;
	}
	cw_open(w, "log");
	cw_word(w, "to", to[l->to % 3], to[d->to % 3]);
	if (l->to == CFG_LOG_FILE)	/* path and facility only where they apply */
		cw_str(w, "path", l->path, d->path, NULL);
	cw_word(w, "format", l->json ? "json" : "text", d->json ? "json" : "text");
	cw_word(w, "level", lv[l->level & 3], lv[d->level & 3]);
	if (l->to == CFG_LOG_SYSLOG)
		cw_word(w, "facility", f, df);
	cw_close(w);
}

/* http: the admin listener, or a comment that there is none */
static void
w_http(struct cw *w, const struct cfg_http *h, const struct cfg_http *d)
{
	if (!h->enabled) {
		cw_put(w, "http", NULL, json_null(), true, "no HTTP listener");
		return;
	}
	cw_open(w, "http");
	cw_str(w, "listen", h->listen, "127.0.0.1:8025", NULL);
	cw_str(w, "token_file", h->token_file, d->token_file,
	       "no token: POST actions are refused");
	cw_bool(w, "write", h->write, d->write);
	cw_bool(w, "read_token", h->read_token, d->read_token);
	cw_u32(w, "max_connections", h->max_connections, d->max_connections);
	cw_str(w, "static_dir", h->static_dir, d->static_dir, NULL);
	cw_close(w);
}

/* A list of strings, as one flow sequence. */
static void
cw_list(struct cw *w, const char *key, const char *const *v, size_t n, bool dflt)
{
	struct buf t = { 0 };
	json_t *a = json_array();

	buf_puts(&t, "[");
	for (size_t i = 0; i < n; i++) {
		STRB_LOCAL(q, 2048);
		yaml_quote(&q, v[i]);
		buf_printf(&t, "%s%s", i ? ", " : "", q.p);
		log_json_append(&a, log_json_s(v[i]));
	}
	buf_puts(&t, "]");
	buf_append(&t, "", 1);
	cw_put(w, key, t.p, a, dflt, NULL);
	buf_free(&t);
}

#define NET_TEXT (INET6_ADDRSTRLEN + 8)	/* "addr/prefix" and its NUL */

/* A network as CIDR text. */
static void
net_text(const struct cfg_net *net, char out[NET_TEXT])
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop(net->family, net->addr, a, sizeof(a));
	snprintf(out, NET_TEXT, "%s/%u", a, net->prefix);
}

/* Networks as CIDR text. */
static void
cw_nets(struct cw *w, const char *key, const struct cfg_net *nets, size_t n, bool dflt)
{
	char (*text)[NET_TEXT] = xcalloc(n ? n : 1, sizeof(*text));
	const char **v = xcalloc(n ? n : 1, sizeof(*v));

	for (size_t i = 0; i < n; i++) {
		net_text(&nets[i], text[i]);
		v[i] = text[i];
	}
	cw_list(w, key, v, n, dflt);
	free(v);
	free(text);
}

/* Two lists of networks are the same. */
static bool
nets_eq(const struct cfg_net *a, size_t na, const struct cfg_net *b, size_t nb)
{
	return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

/* ---- the sections ----------------------------------------------------- */

/* A listener with settings besides its address, as a flow mapping into t
 * and a JSON object. */
static json_t *
listener_map(struct buf *t, const struct cfg_listener *l, const char *quoted)
{
	json_t *o = json_pack("{s:o}", "address", log_json_s(l->text));

	buf_printf(t, "{address: %s", quoted);
	if (l->require_tls) {
		buf_puts(t, ", require_tls: true");
		log_json_set(&o, "require_tls", json_true());
	}
	if (l->proxy_protocol) {
		buf_puts(t, ", proxy_protocol: true");
		log_json_set(&o, "proxy_protocol", json_true());
	}
	if (l->nproxy_from > 0) {
		json_t *a = json_array();

		buf_puts(t, ", proxy_from: [");
		for (size_t i = 0; i < l->nproxy_from; i++) {
			char net[NET_TEXT];

			net_text(&l->proxy_from[i], net);
			buf_printf(t, "%s\"%s\"", i ? ", " : "", net);
			log_json_append(&a, log_json_s(net));
		}
		buf_puts(t, "]");
		log_json_set(&o, "proxy_from", a);
	}
	buf_puts(t, "}");
	return o;
}

static void
w_listen(struct cw *w, const struct config *c)
{
	struct buf t = { 0 };
	json_t *a = json_array();

	buf_puts(&t, "[");
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct cfg_listener *l = &c->listeners[i];
		STRB_LOCAL(q, 300);
		yaml_quote(&q, l->text);
		buf_puts(&t, i ? ", " : "");
		if (l->require_tls || l->proxy_protocol || l->nproxy_from > 0) {
			log_json_append(&a, listener_map(&t, l, q.p));
		} else {
			buf_puts(&t, q.p);
			log_json_append(&a, log_json_s(l->text));
		}
	}
	buf_puts(&t, "]");
	buf_append(&t, "", 1);
	cw_put(w, "listen", t.p, a, false, NULL);
	buf_free(&t);
}

static void
w_limits(struct cw *w, const struct cfg_limits *l, const struct cfg_limits *d,
	 const struct config *c)
{
	cw_open(w, "limits");
	cw_size(w, "message_size", l->message_size, d->message_size);
	cw_u32(w, "recipients", l->recipients, d->recipients);
	cw_u32(w, "hops", l->hops, d->hops);
	cw_u32(w, "errors", l->errors, d->errors);
	cw_u32(w, "command_line", l->command_line, d->command_line);
	cw_u32(w, "text_line", l->text_line, d->text_line);
	cw_dur(w, "idle_timeout", l->idle_timeout, d->idle_timeout);
	cw_dur(w, "data_timeout", l->data_timeout, d->data_timeout);
	cw_dur(w, "send_timeout", l->send_timeout, d->send_timeout);
	cw_dur(w, "drain_timeout", l->drain_timeout, d->drain_timeout);
	cw_dur(w, "proxy_timeout", l->proxy_timeout, d->proxy_timeout);
	cw_u32(w, "max_sessions", l->max_sessions, d->max_sessions);
	cw_u32(w, "client_sessions", l->client_sessions, d->client_sessions);
	cw_u32(w, "client_rate", l->client_rate, d->client_rate);
	if (c->client_exempt_set)
		cw_nets(w, "client_exempt", c->client_exempt, c->nclient_exempt, false);
	else
		cw_put(w, "client_exempt", NULL, json_null(), true,
		       "trusted_networks are exempt");
	cw_dur(w, "data_total", l->data_total, d->data_total);
	cw_u32(w, "data_min_rate", l->data_min_rate, d->data_min_rate);
	cw_size(w, "data_memory", l->data_memory, d->data_memory);
	cw_size(w, "data_spill", l->data_spill, d->data_spill);
	cw_close(w);
}

static void
w_connector(struct cw *w, const struct cfg_connector *c, const struct cfg_connector *d)
{
	cw_open(w, c->name);
	if (c->mx) {
		cw_bool(w, "mx", true, false);
	} else {
		char (*hp)[300] = xcalloc(c->nhosts ? c->nhosts : 1, sizeof(*hp));
		const char **v = xcalloc(c->nhosts ? c->nhosts : 1, sizeof(*v));
		for (size_t i = 0; i < c->nhosts; i++) {
			bool v6 = strchr(c->hosts[i].name, ':') != NULL;
			snprintf(hp[i], sizeof(hp[i]), "%s%s%s:%u", v6 ? "[" : "",
				 c->hosts[i].name, v6 ? "]" : "", (unsigned)c->hosts[i].port);
			v[i] = hp[i];
		}
		cw_list(w, "smarthosts", v, c->nhosts, false);
		free(v);
		free(hp);
		cw_bool(w, "mx", false, false);
	}
	cw_open(w, "retry");
	cw_dur(w, "initial", c->retry_initial, d->retry_initial);
	cw_dur(w, "max", c->retry_max, d->retry_max);
	cw_u32(w, "jitter", c->retry_jitter, d->retry_jitter);
	cw_close(w);
	cw_dur(w, "expiry", c->expiry, d->expiry);
	cw_dur(w, "delay_warning", c->delay_warning, d->delay_warning);
	/* what the entry leaves out comes from the top level (or is 0 for mx) */
	cw_dur_is(w, "cert_expiry_warning", c->cert_warning, !c->cert_warning_set);
	cw_u32(w, "max_connections", c->max_connections, d->max_connections);
	cw_u32(w, "max_messages_per_connection", c->max_msgs_per_conn, d->max_msgs_per_conn);
	cw_u32(w, "down_after", c->down_after, d->down_after);
	cw_u32(w, "mx_port", c->mx_port, d->mx_port);
	cw_dur(w, "connect_timeout", c->connect_timeout, d->connect_timeout);
	cw_dur(w, "command_timeout", c->command_timeout, d->command_timeout);
	cw_word(w, "tls", config_tls_policy_name(c->tls), config_tls_policy_name(d->tls));
	cw_str(w, "tls_domain", c->tls_domain, d->tls_domain, "the smart host's name");
	cw_str(w, "tls_ca", c->tls_ca, d->tls_ca, "the system's CA bundle");
	cw_tls_proto(w, "tls_", &c->tls_proto, &d->tls_proto);
	cw_bool(w, "enabled", c->enabled, d->enabled);
	cw_bool(w, "chunking", c->chunking, d->chunking);
	cw_close(w);
}

/* alerts: {threshold, age, notify, connector, daily_limit, notify_cleared,
 * webhook} */
static void
w_alerts(struct cw *w, const struct cfg_alerts *a, const struct cfg_alerts *d)
{
	cw_open(w, "alerts");
	cw_u32(w, "threshold", a->threshold, d->threshold);
	cw_dur(w, "age", a->age, d->age);
	if (a->nnotify > 0)
		cw_list(w, "notify", (const char *const *)a->notify, a->nnotify, false);
	else
		cw_put(w, "notify", NULL, json_null(), true, "alerts are only logged");
	cw_str(w, "connector", a->connector, d->connector,
	       "each recipient's domain routes the notices");
	cw_u32(w, "daily_limit", a->daily_limit, d->daily_limit);
	cw_bool(w, "notify_cleared", a->notify_cleared, d->notify_cleared);
	cw_str(w, "webhook", a->webhook, d->webhook, "no JSON POST");
	cw_close(w);
}

/* A domain: its connector's name, or {connector, mode, tenant}. */
static void
w_domain(struct cw *w, const char *name, const struct cfg_domain *dm)
{
	bool plain = dm->mode == CFG_DOMAIN_INTERNAL_RELAY && dm->tenant == NULL;

	if (plain) {
		cw_put(w, name, dm->connector->name, log_json_s(dm->connector->name), false, NULL);
		return;
	}
	cw_open(w, name);
	cw_put(w, "connector", dm->connector->name, log_json_s(dm->connector->name), false,
	       NULL);
	cw_word(w, "mode", dm->mode == CFG_DOMAIN_AUTHORITATIVE ? "authoritative"
								: "internal_relay", "internal_relay");
	cw_str(w, "tenant", dm->tenant, NULL, NULL);
	cw_close(w);
}

/* The whole config c against the defaults d. */
static void
w_config(struct cw *w, const struct config *c, const struct config *d)
{
	cw_u32(w, "workers", c->workers, d->workers);
	cw_str(w, "hostname", c->hostname, d->hostname, NULL);
	w_listen(w, c);
	cw_str(w, "spool", c->spool_dir, d->spool_dir, NULL);
	cw_size(w, "spool_segment_size", c->segment_size, d->segment_size);
	cw_str(w, "control_socket", c->control_socket, d->control_socket, NULL);
	cw_str(w, "user", c->user, d->user, "stays the user it was started as");
	cw_str(w, "group", c->group, d->group, "the user's primary group");
	cw_str(w, "control_group", c->control_group, d->control_group,
	       "the control socket is mode 0600");
	w_log(w, &c->log, &d->log);
	w_http(w, &c->http, &d->http);
	cw_nets(w, "trusted_networks", c->trusted, c->ntrusted,
		nets_eq(c->trusted, c->ntrusted, d->trusted, d->ntrusted));
	if (c->nresolvers > 0)
		cw_list(w, "resolvers", (const char *const *)c->resolvers, c->nresolvers, false);
	else
		cw_put(w, "resolvers", NULL, json_null(), true, "those of /etc/resolv.conf");
	cw_u32(w, "dns_timeout_ms", c->dns_timeout_ms, d->dns_timeout_ms);
	cw_str(w, "postmaster", c->postmaster, d->postmaster, "reports nothing routes are "
	       "dropped with a warning");
	cw_size(w, "ndr_return_max", c->ndr_return_max, d->ndr_return_max);
	cw_dur(w, "cert_expiry_warning", c->cert_expiry_warning, d->cert_expiry_warning);
	cw_str(w, "state_file", c->state_file, d->state_file, "<spool>/fixnow.txt");
	cw_dur(w, "quota_window", c->quota_window, d->quota_window);
	cw_dur(w, "quota_bucket", c->quota_bucket, d->quota_bucket);
	w_limits(w, &c->limits, &d->limits, c);
	if (c->tls_cert != NULL) {
		cw_open(w, "tls");
		cw_str(w, "cert", c->tls_cert, NULL, NULL);
		cw_str(w, "key", c->tls_key, NULL, NULL);
		cw_tls_proto(w, "", &c->tls_proto, &d->tls_proto);
		cw_str(w, "ticket_key_file", c->tls_ticket_key, NULL,
		       "a random secret per process");
		cw_close(w);
	} else {
		cw_put(w, "tls", NULL, json_null(), true, "no STARTTLS offered");
	}
	cw_open(w, "trace");
	cw_bool(w, "enabled", c->trace.enabled, d->trace.enabled);
	cw_str(w, "path", c->trace.path, d->trace.path, "<spool>/trace.db");
	cw_dur(w, "retention", c->trace.retention, d->trace.retention);
	cw_size(w, "max_size", c->trace.max_size, d->trace.max_size);
	cw_close(w);
	if (c->redis_host != NULL) {
		cw_open(w, "redis");
		cw_str(w, "host", c->redis_host, NULL, NULL);
		cw_u32(w, "port", c->redis_port, 6379);
		cw_secret(w, "password", c->redis_password);
		cw_close(w);
	} else if (c->nredis_sentinels > 0) {
		cw_open(w, "redis");
		cw_list(w, "sentinels", (const char *const *)c->redis_sentinels,
			c->nredis_sentinels, false);
		cw_str(w, "master", c->redis_master, NULL, NULL);
		cw_secret(w, "password", c->redis_password);
		cw_secret(w, "sentinel_password", c->redis_sentinel_password);
		cw_close(w);
	}
	if (c->redis_host != NULL || c->nredis_sentinels > 0) {
		cw_open(w, "cluster");
		cw_str(w, "node", c->cluster_cfg.node, d->cluster_cfg.node, "the hostname");
		cw_u32(w, "number", c->cluster_cfg.number, d->cluster_cfg.number);
		cw_str(w, "prefix", c->cluster_cfg.prefix, d->cluster_cfg.prefix, NULL);
		cw_dur(w, "publish_interval", c->cluster_cfg.publish, d->cluster_cfg.publish);
		cw_dur(w, "stale_after", c->cluster_cfg.stale, d->cluster_cfg.stale);
		cw_str(w, "state_file", c->cluster_cfg.state_file, d->cluster_cfg.state_file,
		       "<spool>/cluster-state.json");
		cw_word(w, "alerts", c->cluster_cfg.alerts_cluster ? "cluster" : "node",
			d->cluster_cfg.alerts_cluster ? "cluster" : "node");
		cw_close(w);
	} else {
		cw_put(w, "redis", NULL, json_null(), true, "quotas counted on this node only");
		cw_put(w, "cluster", NULL, json_null(), true, "no cluster without redis");
	}
	w_alerts(w, &c->alerts, &d->alerts);
	if (c->ntenants > 0) {
		cw_open(w, "tenants");
		for (size_t i = 0; i < c->ntenants; i++) {
			const struct cfg_tenant *t = &c->tenants[i];
			cw_open(w, t->name);
			cw_str(w, "directory", t->directory, NULL, "no directory");
			cw_u32(w, "invalid_recipient_quota", t->quota, 0);
			cw_close(w);
		}
		cw_close(w);
	} else {
		cw_put(w, "tenants", NULL, json_null(), true, NULL);
	}
	if (w->mode != CW_DEFAULTS) {
		cw_open(w, "connectors");
		for (size_t i = 0; i < c->nconnectors; i++)
			w_connector(w, &c->connectors[i], &d->connectors[0]);
		cw_close(w);
		cw_open(w, "domains");
		for (size_t i = 0; i < c->ndomains; i++)
			w_domain(w, c->domains[i].name, &c->domains[i]);
		if (c->default_route != NULL)
			w_domain(w, "*", c->default_route);
		cw_close(w);
	} else {
		/* what every connector gets when its entry leaves a key out */
		cw_open(w, "connectors");
		struct cfg_connector dc = d->connectors[0];
		dc.name = "(every connector)";
		w_connector(w, &dc, &d->connectors[0]);
		cw_close(w);
	}
}

/* ---- show config ------------------------------------------------------ */

static void
config_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	const struct config *c = q->cfg;
	struct config *d = NULL;
	enum cw_mode mode = r->state != NULL ? *(enum cw_mode *)r->state : CW_ALL;
	struct cw w = { .r = r, .json = r->json, .mode = mode };
	char err[512];

	if (c == NULL || config_load_string("(defaults)", DEFAULTS_YAML, &d, err,
					    sizeof(err)) < 0) {
		ctl_req_free(q);
		ctl_fail(r, "the configuration could not be read: %s", c ? err : "no worker");
		return;
	}
	if (w.json) {
		w.obj[0] = json_object();
		w.defaults = json_array();
	} else {
		if (mode == CW_DEFAULTS)
			ctl_printf(r, "# the defaults: what a key a configuration leaves out "
				      "gets\n");
		else
			ctl_printf(r, "# the configuration in use: %s, as sluiced parsed it (%s)\n",
				   c->path, mode == CW_ALL ? "defaults included, marked \"# default\""
				   : "only what differs from the defaults");
	}
	w_config(&w, mode == CW_DEFAULTS ? d : c, d);
	if (w.json)
		ctl_json(r, json_pack("{s:o, s:s, s:o, s:o*}", "source", log_json_s(c->path),
				      "show", mode == CW_ALL ? "all" : mode == CW_CHANGED ?
				      "changed" : "defaults", "config", w.obj[0],
				      "defaults", mode == CW_ALL ? w.defaults : NULL));
	if (w.json && mode != CW_ALL)
		json_decref(w.defaults);
	config_free(d);
	ctl_req_free(q);		/* gives the worker's config back */
	ctl_end(r);
}

static void
config_free_state(struct ctl_run *r)
{
	free(r->state);
}

static void
cmd_show_config(struct ctl_run *r)
{
	enum cw_mode *mode = xcalloc(1, sizeof(*mode));
	struct ctl_wreq *q;

	r->state = mode;
	r->on_free = config_free_state;
	if (r->argc > 1 || (r->argc == 1 && strcmp(r->argv[0], "changed") != 0 &&
			    strcmp(r->argv[0], "defaults") != 0)) {
		ctl_fail(r, "usage: show config [changed|defaults] [json]");
		return;
	}
	*mode = r->argc == 0 ? CW_ALL : r->argv[0][0] == 'c' ? CW_CHANGED : CW_DEFAULTS;
	r->on_reply = config_reply;
	q = ctl_req_new(r, 0, CTL_W_CONFIG);
	ctl_req_send(q);
}

const struct ctl_cmd ctl_cmd_show_config = {
	.words = "show config",
	.args = "[changed|defaults]",
	.help = "the configuration in use as sluiced parsed it, defaults included "
		"(postconf); changed: only what differs from the defaults; defaults: "
		"those alone.  YAML that sluiced -t accepts",
	.changes = false,
	.run = cmd_show_config,
};

/* ---- set log-level ---------------------------------------------------- */

static void
cmd_set_log_level(struct ctl_run *r)
{
	static const char *const names[] = { "debug", "info", "warn", "error" };
	enum log_level was = log_get_level();
	int lvl = -1;

	for (int i = 0; r->argc == 1 && i < 4; i++)
		if (strcmp(r->argv[0], names[i]) == 0)
			lvl = i;
	if (lvl < 0) {
		ctl_fail(r, "usage: set log-level debug|info|warn|error [json]");
		return;
	}
	/* said before the change, so a level that hides warnings still shows it */
	log_warn("control: log level %s (was %s)", names[lvl], names[was & 3]);
	log_set_level((enum log_level)lvl);
	if (r->json)
		ctl_json(r, json_pack("{s:s, s:s}", "log_level", names[lvl], "was", names[was & 3]));
	else
		ctl_printf(r, "log level %s (was %s), until a reload or restart sets the "
			      "configuration's\n", names[lvl], names[was & 3]);
	ctl_end(r);
}

const struct ctl_cmd ctl_cmd_set_log_level = {
	.words = "set log-level",
	.args = "debug|info|warn|error",
	.help = "log from this level up, until a reload or restart",
	.changes = true,
	.run = cmd_set_log_level,
};
