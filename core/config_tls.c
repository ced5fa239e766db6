/*
 * config_tls — the TLS contexts of a config: kept apart from config.c so the
 * YAML loader stays free of wolfSSL.  Contexts are made on the main thread
 * and shared read-only by every worker for the life of the config.
 */
#include <errno.h>
#include <stdio.h>

#include "core/config.h"
#include "tls/tls.h"

int
config_tls_setup(struct config *cfg, char *err, size_t errlen)
{
	char why[512];

	if (cfg->tls_cert != NULL) {
		cfg->tls_server = tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, why,
						     sizeof(why));
		if (cfg->tls_server == NULL) {
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
		if (c->tls_client == NULL) {
			snprintf(err, errlen, "%s: connector '%s': tls: %s", cfg->path,
				 c->name, why);
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

void
config_tls_free(struct config *cfg)
{
	tls_ctx_free(cfg->tls_server);
	cfg->tls_server = NULL;
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		tls_ctx_free(cfg->connectors[i].tls_client);
		cfg->connectors[i].tls_client = NULL;
	}
}
