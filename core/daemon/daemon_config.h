/*
 * daemon_config — the run-time objects the daemon builds from a loaded
 * config: TLS contexts, tenant directories, quota counters, the cluster
 * link.  The config keeps only pointers to them (cfg->tls_server,
 * c->tls_client, t->dir, cfg->tenant_table...) and frees them through
 * cfg->built_free, which these functions set.
 *
 * Main thread only, before the config is handed to the workers.
 */
#ifndef SLUICE_CORE_DAEMON_DAEMON_CONFIG_H
#define SLUICE_CORE_DAEMON_DAEMON_CONFIG_H

#include <stddef.h>

struct config;

/*
 * Make the TLS contexts a loaded config asks for (the STARTTLS server
 * context from tls.cert/key, a client context per connector whose policy
 * is not none) and load the tenants' directories.  Returns 0, or -EINVAL
 * with "what: why" in err; config_free releases whatever was made.
 */
int daemon_config_build(struct config *cfg, char *err, size_t errlen);

/*
 * Build the tenants' counter tables for `workers` workers, and start the
 * cluster link when redis is set; a tenant that was in prev (the config
 * being replaced, or NULL) keeps its counters, so a reload loses no event.
 * Returns 0 or -errno with the reason in err.
 */
int daemon_config_tenants(struct config *cfg, unsigned workers,
			  const struct config *prev, char *err, size_t errlen);

#endif
