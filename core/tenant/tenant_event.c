/*
 * tenant_event — a tenant's events counted where the SMTP server and the
 * queue meet them (core/tenant/tenant_event.h): one place that knows every
 * counter an event goes to, so the server's RCPT and the queue's outcome
 * count the same way.  Worker thread only.
 */
#include "core/tenant/tenant_event.h"

#include "core/config.h"
#include "core/tenant/cluster.h"
#include "core/tenant/tenant.h"
#include "core/worker.h"

void
tenant_event_invalid(struct worker *w, const struct cfg_tenant *t, uint64_t now)
{
	const struct config *cfg = w->cfg;

	if (t == NULL || t->counter < 0 || cfg->tenant_table == NULL)
		return;
	tenant_count_add(tenant_table_counter(cfg->tenant_table, (size_t)t->counter), w->id,
			 now, 1);
	if (cfg->cluster != NULL)
		cluster_add_idx(cfg->cluster, (size_t)t->counter, w->id, now, 1);
	w->st.invalid_rcpts++;
}

void
tenant_event_rcpt(struct worker *w, struct tenant_table *table, const char *addr,
		  uint64_t now)
{
	const struct cfg_tenant *t;

	if (table == NULL)
		return;
	t = config_addr_tenant(w->cfg, addr);
	if (t != NULL)
		tenant_count_add(tenant_table_counter(table, (size_t)t->counter), w->id, now, 1);
}
