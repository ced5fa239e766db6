/*
 * config_domain — who the relay accepts mail for and on whose behalf:
 * accepted domains (each routed to a connector, checked as an internal
 * relay or against a tenant's directory), the "*" default route, tenants
 * (directory file and invalid-recipient quota), and the postmaster
 * address, which a domain must route (the Redis that shares the tenants'
 * counters across a cluster: core/config_redis.c).  Domains are parsed last: they name connectors and
 * tenants, which may come after them in the file.
 *
 * Not for: loading directories or building the counters (core/tenant/,
 * built by core/daemon/daemon_config.c).  Loading: main thread; the
 * lookups: any thread that may read the config.
 */
#include "core/config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* tenants.                                                                 */

static const struct cfg_field tenant_fields[] = {
#define TN(m)	offsetof(struct cfg_tenant, m)
	{ "directory", cfg_f_path, TN(directory), 0, 0, NULL },
	{ "invalid_recipient_quota", cfg_f_u32, TN(quota), 0, 100000000, NULL },
#undef TN
};

int
cfg_f_tenants(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
	struct config *cfg = ld->cfg;
	struct cfg_qbuf q;
	long n, dup;
	int rc;

	n = cfg_map_open(ld, v, "tenants", "a mapping of tenant names to settings");
	if (n <= 0)
		return (int)n;
	cfg->tenants = calloc((size_t)n, sizeof(*cfg->tenants));
	if (cfg->tenants == NULL || cfg_ntab_init(&ld->ix->tenants, (size_t)n) < 0)
		return cfg_nomem(ld);
	for (size_t i = 0; i < (size_t)n; i++) {
		struct cfg_tenant *t = &cfg->tenants[i];
		yaml_node_t *k, *val;

		if ((rc = cfg_map_pair(ld, v, i, &k, &val)) < 0 ||
		    (rc = cfg_name(ld, k, "tenants", "a tenant", &t->name)) < 0)
			return rc;
		dup = cfg_ntab_add(&ld->ix->tenants, cfg->tenants, sizeof(*t),
				   (uint32_t)i, false);
		if (dup >= 0)
			return cfg_fail(ld, k, "duplicate tenant %s",
					cfg_quote(&q, t->name, strlen(t->name)));
		cfg->ntenants = i + 1;
		cfg_entry(ld, "tenant", t->name);
		if (val->type != YAML_MAPPING_NODE)
			return cfg_fail(ld, val, "%s: expected a mapping of settings, got %s",
					ld->ctx_buf, cfg_describe(&q, val));
		rc = cfg_load_map(ld, val, tenant_fields, CFG_NFIELDS(tenant_fields), t,
				  ld->ctx_buf, ld->where_buf);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* domains.                                                                 */

/* Long form of a domain entry while it is parsed. */
struct domain_spec {
	yaml_node_t *connector;		/* value node of connector: */
	int mode;			/* enum cfg_domain_mode */
	char *tenant;			/* pool string or NULL */
};

static int
f_domain_connector(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		   void *base)
{
	((struct domain_spec *)base)->connector = v;
	return 0;
}

static int
f_domain_mode(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
	static const char *const words[] = { "internal_relay", "authoritative", NULL };

	return cfg_word(ld, v, words, "internal_relay or authoritative",
			&((struct domain_spec *)base)->mode);
}

static int
f_tenant(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	 void *base)
{
	return cfg_name(ld, v, ld->ctx, "a tenant",
			&((struct domain_spec *)base)->tenant);
}

static int
domain_entry(struct cfg_loader *ld, yaml_node_t *v, const char *name,
	     struct cfg_domain *d)
{
	static const struct cfg_field fields[] = {
		{ "connector", f_domain_connector, 0, 0, 0, NULL },
		{ "mode", f_domain_mode, 0, 0, 0, NULL },
		{ "tenant", f_tenant, 0, 0, 0, NULL },
	};
	struct domain_spec spec = { .mode = CFG_DOMAIN_INTERNAL_RELAY };
	struct cfg_qbuf q, q2;
	long ci;
	int rc;

	cfg_entry(ld, "domain", name);
	if (v->type == YAML_MAPPING_NODE) {
		rc = cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), &spec,
				  ld->ctx_buf, ld->where_buf);
		if (rc < 0)
			return rc;
		if (spec.connector == NULL)
			return cfg_fail(ld, v, "%s: expected a connector", ld->ctx_buf);
	} else if (is_scalar(v)) {
		spec.connector = v;
	} else {
		return cfg_fail(ld, v, "%s: expected a connector name or a mapping, got %s",
				ld->ctx_buf, cfg_describe(&q, v));
	}
	if (!is_scalar(spec.connector))
		return cfg_fail(ld, spec.connector, "%s: expected a connector name, got %s",
				ld->ctx_buf, cfg_describe(&q, spec.connector));
	ci = cfg_ntab_find(&ld->ix->connectors, ld->cfg->connectors,
			   sizeof(struct cfg_connector), sval(spec.connector),
			   slen(spec.connector), false);
	if (ci < 0 || memchr(sval(spec.connector), '\0', slen(spec.connector)))
		return cfg_fail(ld, spec.connector, "domain %s routes to unknown "
				"connector %s", cfg_quote(&q, name, strlen(name)),
				cfg_describe(&q2, spec.connector));
	d->connector = &ld->cfg->connectors[ci];
	d->mode = (enum cfg_domain_mode)spec.mode;
	d->tenant = spec.tenant;
	if (spec.tenant != NULL) {
		long ti = ld->cfg->ntenants == 0 ? -1 :
			cfg_ntab_find(&ld->ix->tenants, ld->cfg->tenants,
				      sizeof(struct cfg_tenant), spec.tenant,
				      strlen(spec.tenant), false);
		if (ti < 0)
			return cfg_fail(ld, v, "%s: tenant %s is not defined under tenants",
					ld->ctx_buf,
					cfg_quote(&q, spec.tenant, strlen(spec.tenant)));
		d->tenant_cfg = &ld->cfg->tenants[ti];
	}
	if (d->mode == CFG_DOMAIN_AUTHORITATIVE &&
	    (d->tenant_cfg == NULL || d->tenant_cfg->directory == NULL))
		return cfg_fail(ld, v, "%s: an authoritative domain needs a tenant with a "
				"directory", ld->ctx_buf);
	return 0;
}

static int
load_domains(struct cfg_loader *ld, yaml_node_t *v)
{
	struct config *cfg = ld->cfg;
	struct cfg_index *ix = ld->ix;
	uint32_t *lines, star_line = 0;
	struct cfg_qbuf q;
	long n;
	int rc = 0;

	n = cfg_map_open(ld, v, "domains", "a mapping of domains to connectors");
	if (n <= 0)
		return (int)n;
	cfg->domains = calloc((size_t)n, sizeof(*cfg->domains));
	lines = calloc((size_t)n, sizeof(*lines));
	if (cfg->domains == NULL || lines == NULL ||
	    cfg_ntab_init(&ix->domains, (size_t)n) < 0) {
		free(lines);
		return cfg_nomem(ld);
	}
	for (size_t i = 0; i < (size_t)n; i++) {
		yaml_node_t *k, *val;
		struct cfg_domain *d;
		long dup;

		if ((rc = cfg_map_pair(ld, v, i, &k, &val)) < 0)
			break;
		if (is_scalar(k) && slen(k) == 1 && sval(k)[0] == '*') {
			if (cfg->default_route) {
				rc = cfg_fail(ld, k, "duplicate domain '*' (first at line %u)",
					      star_line);
				break;
			}
			cfg->default_route = calloc(1, sizeof(*cfg->default_route));
			if (cfg->default_route == NULL ||
			    (cfg->default_route->name = cfg_strndup(ix, "*", 1)) == NULL) {
				rc = cfg_nomem(ld);
				break;
			}
			star_line = (uint32_t)cfg_line(k);
			rc = domain_entry(ld, val, "*", cfg->default_route);
			if (rc < 0)
				break;
			continue;
		}
		if (!is_scalar(k) || !cfg_valid_domain(sval(k), slen(k))) {
			rc = cfg_fail(ld, k, "domains: expected a domain name (labels of "
				      "letters, digits and '-', 1 to 63 characters, 253 in "
				      "all), got %s", cfg_describe(&q, k));
			break;
		}
		d = &cfg->domains[cfg->ndomains];
		d->name = cfg_strndup_lower(ix, sval(k), slen(k));
		if (d->name == NULL) {
			rc = cfg_nomem(ld);
			break;
		}
		dup = cfg_ntab_add(&ix->domains, cfg->domains, sizeof(*d),
				   (uint32_t)cfg->ndomains, true);
		if (dup >= 0) {
			rc = cfg_fail(ld, k, "duplicate domain %s (first at line %u)",
				      cfg_quote(&q, d->name, strlen(d->name)), lines[dup]);
			break;
		}
		lines[cfg->ndomains] = (uint32_t)cfg_line(k);
		cfg->ndomains++;
		rc = domain_entry(ld, val, d->name, d);
		if (rc < 0)
			break;
	}
	free(lines);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* postmaster: gets the NDRs nothing else can take.                         */

/*
 * A plain mailbox (cfg_valid_mailbox), as the NDR's envelope recipient.
 * Whether a connector routes it is checked with the domains
 * (cfg_domains_load).
 */
int
cfg_f_postmaster(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	struct cfg_qbuf q;

	if (!is_scalar(v) || !cfg_valid_mailbox(sval(v), slen(v)))
		return cfg_fail(ld, v, "%s: expected a mail address like "
				"postmaster@example.net, got %s", ld->ctx, cfg_describe(&q, v));
	ld->postmaster = v;
	*CFG_AT(base, f, char *) = cfg_strndup(ld->ix, sval(v), slen(v));
	return *CFG_AT(base, f, char *) ? 0 : cfg_nomem(ld);
}

int
cfg_domains_load(struct cfg_loader *ld)
{
	int rc;

	if (ld->domains && (rc = load_domains(ld, ld->domains)) < 0)
		return rc;
	if (ld->postmaster != NULL) {
		const char *pm = ld->cfg->postmaster, *at = strchr(pm, '@');

		if (config_domain_find(ld->cfg, at + 1, strlen(at + 1)) == NULL &&
		    ld->cfg->default_route == NULL)
			return cfg_fail(ld, ld->postmaster, "postmaster: no connector "
					"routes '%s': add its domain to domains (or a \"*\" "
					"route)", at + 1);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Lookups.                                                                 */

const struct cfg_domain *
config_domain_find(const struct config *cfg, const char *domain, size_t len)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || domain == NULL || len == 0 || len > CFG_DOMAIN_MAX)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		/* A config not made by config_load*: no table, scan. */
		for (size_t j = 0; j < cfg->ndomains; j++)
			if (cfg_name_eq(cfg->domains[j].name, domain, len, true))
				return &cfg->domains[j];
		return NULL;
	}
	i = cfg_ntab_find(&ix->domains, cfg->domains, sizeof(*cfg->domains), domain,
			  len, true);
	return i < 0 ? NULL : &cfg->domains[i];
}

const struct cfg_domain *
config_route(const struct config *cfg, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *d = NULL;

	if (at != NULL)
		d = config_domain_find(cfg, at + 1, strlen(at + 1));
	return d != NULL ? d : cfg->default_route;
}

const struct cfg_tenant *
config_addr_tenant(const struct config *cfg, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *d;

	if (at == NULL || cfg->ntenants == 0)
		return NULL;
	d = config_domain_find(cfg, at + 1, strlen(at + 1));
	if (d == NULL || d->tenant_cfg == NULL || d->tenant_cfg->counter < 0)
		return NULL;
	return d->tenant_cfg;
}

const struct cfg_tenant *
config_tenant_find(const struct config *cfg, const char *name)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || name == NULL || cfg->ntenants == 0)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		for (size_t j = 0; j < cfg->ntenants; j++)
			if (strcmp(cfg->tenants[j].name, name) == 0)
				return &cfg->tenants[j];
		return NULL;
	}
	i = cfg_ntab_find(&ix->tenants, cfg->tenants, sizeof(*cfg->tenants), name,
			  strlen(name), false);
	return i < 0 ? NULL : &cfg->tenants[i];
}

