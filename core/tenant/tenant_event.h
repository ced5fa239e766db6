/*
 * tenant_event — what a worker counts for a tenant as mail passes through:
 * an invalid recipient (one the tenant's directory refused at RCPT, or a
 * destination's "user unknown") in the tenant's quota window, the
 * cluster's count and the worker's stats; a recipient accepted or
 * delivered in the tables behind the tenant insights (cfg->tenant_in,
 * cfg->tenant_out).
 *
 * Not for: deciding anything (the SMTP server compares the window with
 * the quota), keeping the windows (core/tenant/tenant.h) or sharing them
 * (core/tenant/cluster.h).  Worker thread only: each call writes the
 * calling worker's own shard and stats.
 */
#ifndef SLUICE_CORE_TENANT_TENANT_EVENT_H
#define SLUICE_CORE_TENANT_TENANT_EVENT_H

#include <stdint.h>

struct worker;
struct cfg_tenant;
struct tenant_table;

/*
 * An invalid recipient of tenant t at now (unix s): one event in t's
 * quota window on w's shard, in the cluster's count when a cluster is
 * configured, and in w->st.invalid_rcpts.  Nothing when t is NULL or has
 * no counter, or w's config has no tenant counters.
 */
void tenant_event_invalid(struct worker *w, const struct cfg_tenant *t, uint64_t now);

/*
 * Recipient addr ("local@domain") accepted or delivered at now (unix s):
 * one event for the tenant owning addr's domain in table (w->cfg->tenant_in
 * or tenant_out), on w's shard.  Nothing when table is NULL or no tenant
 * owns the domain.
 */
void tenant_event_rcpt(struct worker *w, struct tenant_table *table, const char *addr,
		       uint64_t now);

#endif /* SLUICE_CORE_TENANT_TENANT_EVENT_H */
