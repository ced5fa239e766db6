/*
 * ctl_tenant — the tenant commands of the control socket: `show tenants`
 * (domains and their mode, invalid recipients in the quota window against
 * the quota, throttled or not) and `fix-now DOMAIN` (switch an internal
 * relay domain to authoritative, keep that in the state file, and return
 * the queued mail of recipients its directory does not know), and what
 * show insights (core/ctl/ctl_alert.c) says of the tenants: quotas
 * tripped, Redis down, domains fix-now could switch.  It uses no other
 * command file.
 *
 * Runs on the control thread.  Counters are read with tenant_count_sum,
 * which any thread may call; the config is the one the first worker runs
 * (configs are immutable and outlive every worker that may still use them).
 */
#include "core/ctl/ctl_tenant.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/config.h"
#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/tenant/cluster.h"
#include "core/tenant/fixnow.h"
#include "core/tenant/tenant.h"
#include "core/xalloc.h"

static const struct config *
current_cfg(void)
{
	return atomic_load_explicit(&ctl.ws[0].acked_cfg, memory_order_acquire);
}

/* Invalid recipients of tn in the quota window ending at now: the local
 * count, or the cluster's when Redis knows more (it includes ours; the
 * local count stands when Redis is away). */
static uint64_t
tenant_invalid(const struct config *cfg, const struct cfg_tenant *tn, uint64_t now)
{
	uint64_t inv = 0;

	if (cfg->tenant_table == NULL || tn->counter < 0)
		return 0;
	inv = tenant_count_sum(tenant_table_counter(cfg->tenant_table, (size_t)tn->counter),
			       now);
	if (cfg->cluster != NULL) {
		uint64_t c = cluster_tenant_total_idx(cfg->cluster, (size_t)tn->counter, now);
		if (c > inv)
			inv = c;
	}
	return inv;
}

static void
cmd_show_tenants(struct ctl_run *r)
{
	const struct config *cfg = current_cfg();
	uint64_t now = (uint64_t)time(NULL);
	struct ctl_table *t = NULL;
	json_t *arr = NULL;

	if (r->json)
		arr = json_array();
	else
		t = ctl_table_new((const char *[]){ "TENANT", "DOMAINS", ">RCPTS-IN",
						    ">RCPTS-OUT", ">INVALID", ">QUOTA",
						    "THROTTLED", NULL });
	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct cfg_tenant *tn = &cfg->tenants[i];
		uint64_t inv = 0, in = 0, out = 0;
		struct buf doms = { 0 };
		json_t *jd = r->json ? json_array() : NULL;
		char a[32], b[32], ci[32], co[32];

		if (cfg->tenant_in != NULL && tn->counter >= 0) {
			in = tenant_count_sum(tenant_table_counter(cfg->tenant_in,
								   (size_t)tn->counter), now);
			out = tenant_count_sum(tenant_table_counter(cfg->tenant_out,
								    (size_t)tn->counter), now);
		}
		inv = tenant_invalid(cfg, tn, now);
		for (size_t k = 0; k < cfg->ndomains; k++) {
			const struct cfg_domain *d = &cfg->domains[k];
			const char *mode;
			char src[CTL_CL_NODE];
			if (d->tenant_cfg != tn)
				continue;
			mode = d->mode == CFG_DOMAIN_AUTHORITATIVE ? "authoritative"
			     : fixnow_has(d->name, strlen(d->name))
				? (ctl_cluster_source(CTL_CL_FIXNOW, d->name, src, sizeof(src))
					   ? "authoritative (fix-now, cluster)"
					   : "authoritative (fix-now)")
			     : "internal_relay";
			if (jd != NULL)
				log_json_append(&jd, json_pack("{s:s, s:s}", "domain",
							       d->name, "mode", mode));
			else
				buf_printf(&doms, "%s%s (%s)", doms.len ? ", " : "", d->name, mode);
		}
		bool throttled = tn->quota > 0 && inv >= tn->quota;
		if (r->json) {
			log_json_append(&arr, json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:b}",
				"tenant", tn->name, "domains", jd, "recipients_in", (json_int_t)in,
				"recipients_delivered", (json_int_t)out, "invalid_recipients",
				(json_int_t)inv, "quota", (json_int_t)tn->quota,
				"window_seconds", (json_int_t)cfg->quota_window,
				"throttled", throttled));
		} else {
			buf_append(&doms, "", 1);
			snprintf(a, sizeof(a), "%llu", (unsigned long long)inv);
			snprintf(b, sizeof(b), "%u", tn->quota);
			snprintf(ci, sizeof(ci), "%llu", (unsigned long long)in);
			snprintf(co, sizeof(co), "%llu", (unsigned long long)out);
			ctl_table_row(t, tn->name, doms.p ? doms.p : "-", ci, co, a,
				      tn->quota ? b : "none", throttled ? "yes" : "no");
		}
		buf_free(&doms);
	}
	char why[256] = "";
	const char *cl = cfg->cluster == NULL ? "local only"
		       : cluster_up(cfg->cluster, why, sizeof(why)) ? "redis up" : "redis down";
	if (r->json) {
		ctl_json(r, json_pack("{s:o, s:I, s:s, s:o}", "tenants", arr, "window_seconds",
				      (json_int_t)cfg->quota_window, "cluster", cl,
				      "cluster_error", log_json_s(why)));
	} else {
		ctl_table_print(t, r);
		ctl_printf(r, "(recipients and invalid recipients in the last %us; counters: %s%s%s)\n",
			   cfg->quota_window, cl, why[0] ? ": " : "", why);
	}
	ctl_end(r);
}

const struct ctl_cmd ctl_cmd_show_tenants = {
	.words = "show tenants",
	.args = "",
	.help = "per tenant: domains and their mode, invalid recipients in "
		"the quota window, quota, throttled",
	.changes = false,
	.run = cmd_show_tenants,
};

static void
fixnow_round(struct ctl_run *r)
{
	uint32_t n = 0;

	for (unsigned i = 0; i < ctl.nw; i++)
		n += r->reqs[i]->ndests;
	if (r->json)
		ctl_json(r, json_pack("{s:s, s:s, s:i}", "domain", r->argv[0], "mode",
				      "authoritative", "returned", (int)n));
	else
		ctl_printf(r, "%s is now authoritative: unknown recipients get 550 5.1.10 at "
			      "RCPT; %u queued recipient(s) not in the directory returned with "
			      "an NDR\n", r->argv[0], n);
	ctl_end(r);
}

static void
cmd_fixnow(struct ctl_run *r)
{
	const struct config *cfg = current_cfg();
	const struct cfg_domain *d;
	struct ctl_wreq tmpl = { .kind = CTL_W_FIXNOW };
	enum ctl_cl_scope sc = ctl_cluster_scope(r);
	int rc;

	if (r->argc != 1 || strlen(r->argv[0]) >= sizeof(tmpl.connector)) {
		ctl_fail(r, "usage: fix-now DOMAIN [local] [json]");
		return;
	}
	for (char *p = r->argv[0]; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	d = config_domain_find(cfg, r->argv[0], strlen(r->argv[0]));
	if (d == NULL) {
		ctl_fail(r, "'%s' is not an accepted domain", r->argv[0]);
		return;
	}
	if (d->tenant_cfg == NULL || d->tenant_cfg->dir == NULL) {
		ctl_fail(r, "'%s' has no tenant with a directory: fix-now needs one to know "
			 "which recipients exist", r->argv[0]);
		return;
	}
	if (d->mode == CFG_DOMAIN_AUTHORITATIVE) {
		ctl_fail(r, "'%s' is already authoritative", r->argv[0]);
		return;
	}
	rc = fixnow_add(r->argv[0]);
	if (rc < 0)
		ctl_printf(r, "warning: the state file could not be written (%s): the switch "
			      "holds until restart\n", strerror(-rc));
	log_info("fix-now: %s switched to authoritative%s", r->argv[0],
		 sc == CTL_CL_FROM_CLUSTER ? " (from the cluster)" : "");
	if (ctl_cluster_post(sc, CTL_CL_FIXNOW, r->argv[0], true))
		ctl_cluster_said(r);
	snprintf(tmpl.connector, sizeof(tmpl.connector), "%s", r->argv[0]);
	r->on_round = fixnow_round;
	ctl_round(r, &tmpl);
}

const struct ctl_cmd ctl_cmd_fixnow = {
	.words = "fix-now",
	.args = "DOMAIN [local]",
	.help = "make an internal-relay domain authoritative: unknown "
		"recipients rejected, queued mail to them returned (in a cluster on "
		"every node, unless local)",
	.changes = true,
	.run = cmd_fixnow,
};

/* ---- insights --------------------------------------------------------- */

size_t
ctl_fixnow_candidates(const char *connector, const char **out, size_t max)
{
	const struct config *cfg = current_cfg();
	size_t n = 0;

	for (size_t k = 0; k < cfg->ndomains && n < max; k++) {
		const struct cfg_domain *d = &cfg->domains[k];
		if (d->mode == CFG_DOMAIN_INTERNAL_RELAY && d->tenant_cfg != NULL &&
		    d->tenant_cfg->dir != NULL && strcmp(d->connector->name, connector) == 0 &&
		    !fixnow_has(d->name, strlen(d->name)))
			out[n++] = d->name;
	}
	return n;
}

/* Is tn over its quota at now?  *inv gets its invalid recipients (the
 * cluster's count when that is larger). */
static bool
over_quota(const struct config *cfg, const struct cfg_tenant *tn, uint64_t now,
	   uint64_t *inv)
{
	*inv = tenant_invalid(cfg, tn, now);
	return tn->quota != 0 && *inv >= tn->quota;
}

size_t
ctl_tenants_over(const struct config *cfg, struct ctl_tenant_over *out, size_t max)
{
	uint64_t now = (uint64_t)time(NULL);
	size_t n = 0;

	for (size_t i = 0; i < cfg->ntenants && n < max; i++) {
		const struct cfg_tenant *tn = &cfg->tenants[i];
		uint64_t inv = 0;
		if (over_quota(cfg, tn, now, &inv))
			out[n++] = (struct ctl_tenant_over){ .name = tn->name, .invalid = inv,
							     .quota = tn->quota };
	}
	return n;
}

size_t
ctl_tenant_insights(struct ctl_run *r, json_t **arr)
{
	const struct config *cfg = current_cfg();
	uint64_t now = (uint64_t)time(NULL);
	size_t n = 0;
	char why[256] = "";

	for (size_t i = 0; i < cfg->ntenants; i++) {
		const struct cfg_tenant *tn = &cfg->tenants[i];
		uint64_t inv = 0;
		if (!over_quota(cfg, tn, now, &inv))
			continue;
		n++;
		if (arr != NULL)
			log_json_append(arr, json_pack("{s:s, s:s, s:I, s:I, s:s}",
				"tenant", tn->name, "code", "4.7.500",
				"invalid_recipients", (json_int_t)inv, "quota", (json_int_t)tn->quota,
				"fix", "new recipients of this tenant are deferred until the window "
				"falls below the quota: clean the sender's address lists, or make the "
				"domain authoritative with an up-to-date directory"));
		else
			ctl_printf(r, "tenant %s: over its invalid-recipient quota (%llu of %u in "
				      "the last %us): new recipients get 451 4.7.500 until the window "
				      "falls below the quota; fix the senders' address lists or the "
				      "directory\n", tn->name, (unsigned long long)inv, tn->quota,
				   cfg->quota_window);
	}
	if (cfg->cluster != NULL && !cluster_up(cfg->cluster, why, sizeof(why))) {
		n++;
		if (arr != NULL)
			log_json_append(arr, json_pack("{s:s, s:o}", "cluster",
						       "redis down", "why", log_json_s(why)));
		else
			ctl_printf(r, "cluster: Redis unreachable (%s): quotas are enforced on this "
				      "node's own counts plus the other nodes' last known ones until "
				      "it returns\n", why);
	}
	return n;
}

void
ctl_redis_state(struct ctl_redis_state *st)
{
	const struct config *cfg = current_cfg();
	struct cluster_stats cs;

	memset(st, 0, sizeof(*st));
	st->up = -1;
	if (cfg->cluster == NULL)
		return;
	st->up = cluster_up(cfg->cluster, st->why, sizeof(st->why));
	cluster_addr(cfg->cluster, st->addr, sizeof(st->addr));
	cluster_stats(cfg->cluster, &cs);
	st->since = cs.since;
	st->nsentinels = cfg->nredis_sentinels;
	if (cfg->redis_master != NULL)
		snprintf(st->master, sizeof(st->master), "%s", cfg->redis_master);
}

struct ctl_tenant_use *
ctl_tenant_usage(size_t *np, int *redis)
{
	const struct config *cfg = current_cfg();
	uint64_t now = (uint64_t)time(NULL);
	struct ctl_tenant_use *u = xcalloc(cfg->ntenants ? cfg->ntenants : 1, sizeof(*u));

	for (size_t i = 0; i < cfg->ntenants; i++) {
		snprintf(u[i].name, sizeof(u[i].name), "%s", cfg->tenants[i].name);
		u[i].invalid = tenant_invalid(cfg, &cfg->tenants[i], now);
		u[i].quota = cfg->tenants[i].quota;
	}
	*np = cfg->ntenants;
	*redis = cfg->cluster == NULL ? -1 : cluster_up(cfg->cluster, NULL, 0);
	return u;
}
