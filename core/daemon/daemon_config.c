/*
 * daemon_config — what the daemon builds from a loaded config beyond its
 * settings: the TLS contexts (tls/), the tenants' recipient directories,
 * their quota counters and the cluster link (core/tenant/).  core/config.c
 * only parses and validates; it knows none of these libraries, and frees
 * what is built here through cfg->built_free (config_free calls it).
 *
 * Not for: parsing (core/config*.c) or publishing a reload (sluiced.c).
 * Main thread, before the config is handed to workers; what is built is
 * shared read-only by every worker for the life of the config.
 */
#include "core/daemon/daemon_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/tenant/cluster.h"
#include "core/tenant/directory.h"
#include "core/tenant/tenant.h"
#include "tls/tls.h"

static void daemon_config_free(struct config *cfg);

/* The config's protocol settings of one side onto its context. */
static int
apply_proto(struct tls_ctx *ctx, const struct cfg_tls_proto *cp, char *why, size_t len)
{
	struct tls_proto p = {
		.min_version = cp->min_version,
		.ciphers = cp->ciphers,
		.suites = cp->ciphersuites,
	};

	return tls_ctx_proto(ctx, &p, why, len);
}

int
daemon_config_build(struct config *cfg, char *err, size_t errlen)
{
	char why[512];

	cfg->built_free = daemon_config_free;	/* also what a failure left */

	if (cfg->tls_cert != NULL) {
		cfg->tls_server = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, why,
						     sizeof(why));
		if (cfg->tls_server == NULL ||
		    apply_proto(cfg->tls_server, &cfg->tls_proto, why, sizeof(why)) < 0 ||
		    (cfg->tls_ticket_key != NULL &&
		     tls_ctx_ticket_keys(cfg->tls_server, cfg->tls_ticket_key, why,
					 sizeof(why)) < 0)) {
			snprintf(err, errlen, "%s: tls: %s", cfg->path, why);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		struct cfg_connector *c = &cfg->connectors[i];
		if (c->tls == CFG_TLS_NONE)
			continue;
		c->tls_client = tls_client_ctx_new(c->tls_ca, c->tls == CFG_TLS_VERIFY, NULL,
						   why, sizeof(why));
		if (c->tls_client == NULL ||
		    apply_proto(c->tls_client, &c->tls_proto, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: connector '%s': tls: %s", cfg->path,
				 c->name, why);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->ntenants; i++) {
		struct cfg_tenant *t = &cfg->tenants[i];
		if (t->directory == NULL)
			continue;
		if (directory_load(t->directory, &t->dir, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: tenant '%s': %s", cfg->path, t->name, why);
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		if (cfg->listeners[i].require_tls && cfg->tls_server == NULL) {
			snprintf(err, errlen, "%s: listener %s requires TLS but no tls "
				 "cert/key is configured", cfg->path, cfg->listeners[i].text);
			return -EINVAL;
		}
	}
	return 0;
}

int
daemon_config_tenants(struct config *cfg, unsigned workers, const struct config *prev,
		      char *err, size_t errlen)
{
	struct tenant_window win = { cfg->quota_bucket,
				     cfg->quota_window / (cfg->quota_bucket ? cfg->quota_bucket : 1) };
	const char **names;
	const char *dup = NULL;
	int rc;

	if (cfg->ntenants == 0)
		return 0;
	cfg->built_free = daemon_config_free;
	if (win.buckets == 0 || win.buckets > TENANT_MAX_BUCKETS) {
		snprintf(err, errlen, "%s: quota_window / quota_bucket must be 1 to %d "
			 "buckets", cfg->path, TENANT_MAX_BUCKETS);
		return -EINVAL;
	}
	names = calloc(cfg->ntenants, sizeof(*names));
	if (names == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->ntenants; i++)
		names[i] = cfg->tenants[i].name;
	rc = tenant_table_new(names, cfg->ntenants, workers, &win,
			      prev ? prev->tenant_table : NULL, &cfg->tenant_table, &dup);
	/* traffic for show tenants: same names, same order, same indexes */
	if (rc == 0)
		rc = tenant_table_new(names, cfg->ntenants, workers, &win,
				      prev ? prev->tenant_in : NULL, &cfg->tenant_in, NULL);
	if (rc == 0)
		rc = tenant_table_new(names, cfg->ntenants, workers, &win,
				      prev ? prev->tenant_out : NULL, &cfg->tenant_out, NULL);
	free(names);
	if (rc < 0) {
		snprintf(err, errlen, "%s: tenant counters: %s%s%s", cfg->path, strerror(-rc),
			 dup ? ": " : "", dup ? dup : "");
		return rc;
	}
	for (size_t i = 0; i < cfg->ntenants; i++)
		cfg->tenants[i].counter = tenant_table_find(cfg->tenant_table,
							    cfg->tenants[i].name,
							    strlen(cfg->tenants[i].name));
	if (cfg->redis_host != NULL || cfg->nredis_sentinels > 0) {
		struct cluster_config cc = {
			.host = cfg->redis_host, .port = (int)cfg->redis_port,
			.sentinels = (const char *const *)cfg->redis_sentinels,
			.nsentinels = cfg->nredis_sentinels, .master = cfg->redis_master,
			.password = cfg->redis_password,
			.sentinel_password = cfg->redis_sentinel_password,
			.node = cfg->hostname,
		};
		rc = cluster_start(&cc, cfg->tenant_table, &cfg->cluster);
		if (rc < 0) {
			snprintf(err, errlen, "%s: redis: %s", cfg->path, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* Free what daemon_config_build and daemon_config_tenants made (from
 * config_free, through cfg->built_free). */
static void
daemon_config_free(struct config *cfg)
{
	tls_ctx_free(cfg->tls_server);
	cfg->tls_server = NULL;
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		tls_ctx_free(cfg->connectors[i].tls_client);
		cfg->connectors[i].tls_client = NULL;
	}
	for (size_t i = 0; i < cfg->ntenants; i++) {
		directory_free(cfg->tenants[i].dir);
		cfg->tenants[i].dir = NULL;
	}
	cluster_stop(cfg->cluster);	/* before the table it borrows */
	cfg->cluster = NULL;
	tenant_table_free(cfg->tenant_table);
	cfg->tenant_table = NULL;
	tenant_table_free(cfg->tenant_in);
	tenant_table_free(cfg->tenant_out);
	cfg->tenant_in = cfg->tenant_out = NULL;
}
