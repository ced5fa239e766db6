/*
 * config_connector — the outbound side of the configuration: connectors
 * (where mail goes: smart hosts in order, or MX routing), their retry and
 * expiry schedule, connection limits and timeouts, and their TLS policy;
 * and the DNS servers MX routing asks (resolvers).  A connector gets its
 * defaults first, then what the file says, then the checks that need the
 * whole entry (smart hosts or mx, retry initial <= max, and the TLS policy
 * of MX routing: opportunistic unless the file says otherwise), and last,
 * once the whole file is read, what it leaves to the top level (the
 * certificate expiry warning).
 *
 * Not for: delivery (net/smtp_client.c), the retry arithmetic
 * (queue/retry.c) or the client TLS contexts (built by
 * core/daemon/daemon_config.c).  Loading: main thread;
 * config_connector_find: any thread that may read the config.
 */
#include "core/config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* connectors.                                                              */

/* The words of tls:, in the order of enum cfg_tls_policy. */
static const char *const tls_words[] = {
	"none", "opportunistic", "required", "verify", NULL
};

const char *
config_tls_policy_name(enum cfg_tls_policy p)
{
	return (unsigned)p < 4 ? tls_words[p] : "none";
}

/* tls: the outbound TLS policy */
static int
f_tls(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
      void *base)
{
	int i = 0, rc;

	rc = cfg_word(ld, v, tls_words, "none, opportunistic, required or verify", &i);
	if (rc == 0)
		*CFG_AT(base, f, enum cfg_tls_policy) = (enum cfg_tls_policy)i;
	return rc;
}

static int
f_smarthosts(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
	struct cfg_connector *c = base;
	struct cfg_hostport hp;
	struct cfg_list list;
	struct cfg_qbuf q;
	int rc;

	if ((rc = cfg_list_open(ld, v, "a list of smart hosts", &list)) < 0)
		return rc;
	if (list.n == 0)
		return cfg_fail(ld, v, "%s: expected at least one smart host", ld->ctx);
	c->hosts = calloc(list.n, sizeof(*c->hosts));
	if (c->hosts == NULL)
		return cfg_nomem(ld);
	for (size_t i = 0; i < list.n; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);
		struct cfg_host *h = &c->hosts[i];

		if (e == NULL)
			return -EINVAL;
		if (!is_scalar(e))
			goto bad;
		switch (cfg_parse_hostport(sval(e), slen(e), 25, true, &hp)) {
		case CFG_HP_OK:
			break;
		case CFG_HP_V6_BARE:
			return cfg_fail(ld, e, "%s: expected an IPv6 address in "
					"brackets like [::1]:25, got %s", ld->ctx,
					cfg_describe(&q, e));
		case CFG_HP_PORT:
			return cfg_fail(ld, e, "%s: expected a port from 1 to 65535, got %s",
					ld->ctx, cfg_describe(&q, e));
		default:
			goto bad;
		}
		h->name = cfg_strndup_lower(ld->ix, hp.host, hp.hostlen);
		if (h->name == NULL)
			return cfg_nomem(ld);
		h->port = hp.port;
		c->nhosts = i + 1;
		continue;
bad:
		return cfg_fail(ld, e, "%s: expected a host name or IP address with an "
				"optional port like mx.example.net:25 or [::1]:25, got %s",
				ld->ctx, cfg_describe(&q, e));
	}
	return 0;
}

/* retry: {initial, max, jitter} */
static int
f_retry(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	void *base)
{
#define C(m)	offsetof(struct cfg_connector, m)
	static const struct cfg_field fields[] = {
		{ "initial", cfg_f_duration, C(retry_initial), 1, DAY, NULL },
		{ "max", cfg_f_duration, C(retry_max), 1, 7 * DAY, NULL },
		{ "jitter", cfg_f_u32, C(retry_jitter), 0, 50, "a percentage" },
	};
#undef C
	char where[sizeof(ld->where_buf) + 16];

	snprintf(where, sizeof(where), "in retry of %s", ld->ctx);
	return cfg_load_map(ld, v, fields, 3, base, ld->ctx, where);
}

static const struct cfg_field connector_fields[] = {
#define C(m)	offsetof(struct cfg_connector, m)
	{ "smarthosts", f_smarthosts, 0, 0, 0, NULL },
	{ "mx", cfg_f_bool, C(mx), 0, 0, NULL },
	{ "retry", f_retry, 0, 0, 0, NULL },
	{ "expiry", cfg_f_duration, C(expiry), 1, 30 * DAY, NULL },
	{ "delay_warning", cfg_f_duration, C(delay_warning), 0, 30 * DAY, NULL },
	{ "cert_expiry_warning", cfg_f_duration, C(cert_warning), 0, 365 * DAY, NULL },
	{ "max_connections", cfg_f_u32, C(max_connections), 1, 100000, NULL },
	{ "max_messages_per_connection", cfg_f_u32, C(max_msgs_per_conn), 1, 1000000,
	  NULL },
	{ "down_after", cfg_f_u32, C(down_after), 1, 1000, NULL },
	{ "mx_port", cfg_f_u32, C(mx_port), 1, 65535, "a port from 1 to 65535" },
	{ "connect_timeout", cfg_f_duration, C(connect_timeout), 1, HOUR, NULL },
	{ "command_timeout", cfg_f_duration, C(command_timeout), 1, DAY, NULL },
	{ "tls", f_tls, C(tls), 0, 0, NULL },
	{ "tls_domain", cfg_f_hostname, C(tls_domain), 0, 0, NULL },
	{ "tls_ca", cfg_f_path, C(tls_ca), 0, 0, NULL },
	{ "tls_min_version", cfg_f_tls_version, C(tls_proto.min_version), 0, 0, NULL },
	{ "tls_ciphers", cfg_f_tls_ciphers, C(tls_proto.ciphers), 0, 0, NULL },
	{ "tls_ciphersuites", cfg_f_tls_suites, C(tls_proto.ciphersuites), 0, 0, NULL },
	{ "enabled", cfg_f_bool, C(enabled), 0, 0, NULL },
	{ "chunking", cfg_f_bool, C(chunking), 0, 0, NULL },
#undef C
};

const struct cfg_connector config_connector_default = {
	.retry_initial = 60,
	.retry_max = 900,
	.retry_jitter = 10,
	.expiry = DAY,
	.delay_warning = 0,
	.cert_warning = CFG_CERT_WARNING,
	.max_connections = 20,
	.max_msgs_per_conn = 100,
	.down_after = 3,
	.mx_port = 25,
	.connect_timeout = 30,
	.command_timeout = 300,
	.tls = CFG_TLS_NONE,
	.tls_proto = { .min_version = 12 },
	.enabled = true,
	.chunking = true,
};

/* c (its name already set) with every other setting at its default. */
static void
connector_defaults(struct cfg_connector *c)
{
	char *name = c->name;

	*c = config_connector_default;
	c->name = name;
}

static int
connector(struct cfg_loader *ld, yaml_node_t *k, yaml_node_t *v,
	  struct cfg_connector *c)
{
	char a[32], b[32];
	struct cfg_qbuf q;
	int rc;

	cfg_entry(ld, "connector", c->name);
	connector_defaults(c);
	if (v->type != YAML_MAPPING_NODE)
		return cfg_fail(ld, v, "%s: expected a mapping with smarthosts or mx: "
				"true, got %s", ld->ctx_buf, cfg_describe(&q, v));
	rc = cfg_load_map(ld, v, connector_fields, CFG_NFIELDS(connector_fields), c,
			  ld->ctx_buf, ld->where_buf);
	if (rc < 0)
		return rc;
	if (c->mx && c->hosts)
		return cfg_fail(ld, k, "%s: expected smarthosts or mx: true, not both",
				ld->ctx_buf);
	if (!c->mx && !c->hosts)
		return cfg_fail(ld, k, "%s: expected smarthosts or mx: true", ld->ctx_buf);
	/* MX routing reaches servers nobody here set up: encrypt when they
	 * offer it.  A smart host's TLS is whatever its operator says. */
	if (c->mx && cfg_map_key(ld, v, "tls", NULL) == NULL)
		c->tls = CFG_TLS_OPPORTUNISTIC;
	c->cert_warning_set = cfg_map_key(ld, v, "cert_expiry_warning", NULL) != NULL;
	if (c->retry_initial > c->retry_max) {
		yaml_node_t *r = NULL;

		cfg_map_key(ld, v, "retry", &r);
		return cfg_fail(ld, r ? r : k, "%s: expected retry initial <= max, got "
				"initial %s and max %s", ld->ctx_buf,
				cfg_fmt_duration(a, sizeof(a), c->retry_initial),
				cfg_fmt_duration(b, sizeof(b), c->retry_max));
	}
	return 0;
}

int
cfg_f_connectors(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	struct config *cfg = ld->cfg;
	struct cfg_qbuf q;
	long n, dup;
	int rc;

	n = cfg_map_open(ld, v, "connectors",
			 "a mapping of connector names to settings");
	if (n <= 0)
		return (int)n;
	cfg->connectors = calloc((size_t)n, sizeof(*cfg->connectors));
	ld->conn_line = calloc((size_t)n, sizeof(*ld->conn_line));
	if (cfg->connectors == NULL || ld->conn_line == NULL ||
	    cfg_ntab_init(&ld->ix->connectors, (size_t)n) < 0)
		return cfg_nomem(ld);
	for (size_t i = 0; i < (size_t)n; i++) {
		struct cfg_connector *c = &cfg->connectors[i];
		yaml_node_t *k, *val;

		if ((rc = cfg_map_pair(ld, v, i, &k, &val)) < 0 ||
		    (rc = cfg_name(ld, k, "connectors", "a connector", &c->name)) < 0)
			return rc;
		dup = cfg_ntab_add(&ld->ix->connectors, cfg->connectors, sizeof(*c),
				   (uint32_t)i, false);
		if (dup >= 0)
			return cfg_fail(ld, k, "duplicate connector %s (first at line %u)",
					cfg_quote(&q, c->name, strlen(c->name)),
					ld->conn_line[dup]);
		ld->conn_line[i] = (uint32_t)cfg_line(k);
		cfg->nconnectors = i + 1;
		rc = connector(ld, k, val, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/*
 * A smart host is the operator's partner, whose certificate is worth a
 * warning; MX routing reaches servers of every domain on the Internet,
 * whose renewals nobody here can act on, so it warns only when its entry
 * says so.
 */
void
cfg_connectors_inherit(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		struct cfg_connector *c = &cfg->connectors[i];
		if (!c->cert_warning_set)
			c->cert_warning = c->mx ? 0 : cfg->cert_expiry_warning;
	}
}

/* ------------------------------------------------------------------------ */
/* resolvers: the DNS servers MX routing asks.                              */

/* resolvers: ["127.0.0.1:5353", "[::1]"]: IP literals, optional port */
int
cfg_f_resolvers(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		void *base)
{
	struct config *cfg = base;
	struct cfg_hostport hp;
	struct cfg_list list;
	struct cfg_qbuf q;
	uint8_t addr[16];
	int rc;

	rc = cfg_list_open(ld, v, "a list of DNS server addresses like 127.0.0.1:53",
			   &list);
	if (rc < 0)
		return rc;
	if (list.n == 0)
		return cfg_fail(ld, v, "resolvers: expected at least one DNS server");
	cfg->resolvers = calloc(list.n, sizeof(*cfg->resolvers));
	if (cfg->resolvers == NULL)
		return cfg_nomem(ld);
	for (size_t i = 0; i < list.n; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);

		if (e == NULL)
			return -EINVAL;
		if (!is_scalar(e) ||
		    cfg_parse_hostport(sval(e), slen(e), 53, false, &hp) != CFG_HP_OK ||
		    cfg_parse_ip(hp.host, hp.hostlen, addr) == 0)
			return cfg_fail(ld, e, "resolvers: expected an IP address with an "
					"optional port like 127.0.0.1:53 or [::1]:53, got %s",
					cfg_describe(&q, e));
		cfg->resolvers[i] = cfg_strndup(ld->ix, sval(e), slen(e));
		if (cfg->resolvers[i] == NULL)
			return cfg_nomem(ld);
		cfg->nresolvers = i + 1;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookup.                                                                  */

const struct cfg_connector *
config_connector_find(const struct config *cfg, const char *name)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || name == NULL)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		for (size_t j = 0; j < cfg->nconnectors; j++)
			if (strcmp(cfg->connectors[j].name, name) == 0)
				return &cfg->connectors[j];
		return NULL;
	}
	i = cfg_ntab_find(&ix->connectors, cfg->connectors, sizeof(*cfg->connectors),
			  name, strlen(name), false);
	return i < 0 ? NULL : &cfg->connectors[i];
}

