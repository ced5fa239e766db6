/*
 * ctl_alert — the queue alerts, on the control thread, and the commands
 * that show and tune them (show insights, set alert).
 *
 * Once a second the control thread asks every worker for its oldest
 * messages (CTL_SNAP_ALERT, bounded) and raises an alert for a connector
 * with at least ctl.alert_threshold messages queued for more than
 * ctl.alert_age seconds; it clears when that no longer holds.  Both are
 * logged as an alert event.  The alert carries the dominant
 * mail-flow-intelligence code of those messages with its meaning and fix;
 * raised before any attempt there has finished, it says the code is not
 * known yet, and an "updated" event follows when the code becomes known
 * or changes.
 * Each event is also handed to the alert notices (core/ctl/ctl_notify.h),
 * which mail and post it, and the end of every round to them too.
 * show insights runs the same check at once and adds the mail loops the
 * workers refused (core/ctl/ctl_loop.h, fed by each round here) and what
 * the tenants know (core/ctl/ctl_tenant.h): fix-now candidates, tenants
 * over their quota, the cluster counters' state.
 * The same round feeds the certificate-expiry warnings
 * (core/ctl/ctl_cert.h), which show insights lists too.
 */
#include "core/ctl/ctl_alert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_cert.h"
#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_loop.h"
#include "core/ctl/ctl_notify.h"
#include "core/ctl/ctl_snap.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/xalloc.h"

#define ALERT_SNAP (CTL_SNAP_DESTS | CTL_SNAP_ALERT)	/* the check's round */

static struct ctl_alert *alerts;	/* one per connector seen */
static size_t nalerts;
static struct ctl_run *alert_run;	/* the periodic check in flight */

static struct ctl_alert *
alert_get(const char *name)
{
	for (size_t i = 0; i < nalerts; i++)
		if (strcmp(alerts[i].connector, name) == 0)
			return &alerts[i];
	alerts = xrealloc(alerts, (nalerts + 1) * sizeof(*alerts));
	memset(&alerts[nalerts], 0, sizeof(*alerts));
	snprintf(alerts[nalerts].connector, sizeof(alerts[0].connector), "%s", name);
	return &alerts[nalerts++];
}

/* What an alert says while no attempt at its connector has finished (a
 * blackholed host, DNS that does not answer): not "nothing to fix". */
static const char *
alert_meaning(uint8_t code)
{
	return code != MFI_NONE ? mfi_meaning((enum mfi_code)code)
	       : "No delivery attempt at this connector has finished yet: its "
		 "connections are still being tried, so the failure code is not known. "
		 "An alert line with state \"updated\" gives it when the first attempt ends.";
}

static const char *
alert_fix(uint8_t code)
{
	return code != MFI_NONE ? mfi_fix((enum mfi_code)code)
	       : "Wait for the first attempt's code (at most the connector's "
		 "connect_timeout plus command_timeout); meanwhile check that the "
		 "connector's hosts resolve and answer.";
}

static void
alert_log(const struct ctl_alert *al, const char *state)
{
	int64_t now = time(NULL);

	log_json(json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:i, s:I, s:s, s:s, "
			      "s:o}",
			      "event", "alert", "state", state, "connector", al->connector,
			      "code", al->code_text, "mfi", mfi_name((enum mfi_code)al->code),
			      "messages_over_age", (json_int_t)al->old,
			      "queued", (json_int_t)al->queued,
			      "threshold", (int)ctl.alert_threshold, "age", (int)ctl.alert_age,
			      "oldest_age", (json_int_t)(al->oldest ? now - al->oldest : 0),
			      "meaning", alert_meaning(al->code), "fix", alert_fix(al->code),
			      "last_error", log_json_s(al->last_error)),
		 "alert");
	ctl_notify_queue(al, state, alert_meaning(al->code), alert_fix(al->code));
}

/* The most frequent failure code among g's old messages (else its last). */
static uint8_t
dominant(const struct ctl_conn_agg *g)
{
	uint8_t best = MFI_NONE;

	for (int c = 1; c < QUEUE_NCODES; c++)
		if (g->old_codes[c] > (best ? g->old_codes[best] : 0))
			best = (uint8_t)c;
	if (best == MFI_NONE && g->last_time != 0)
		best = g->last_code;
	return best;
}

/* This node's status for the cluster, from what the round merged. */
static void
note_cluster(const struct ctl_conn_agg *a, size_t n)
{
	size_t nt;
	int redis;
	struct ctl_tenant_use *u;

	if (!ctl_cluster_on())
		return;
	u = ctl_tenant_usage(&nt, &redis);
	ctl_cluster_note_round(a, n, alerts, nalerts, u, nt);
	free(u);
}

void
ctl_alerts_update(struct ctl_run *r)
{
	size_t n;
	struct ctl_conn_agg *a = ctl_agg_merge(r, &n);
	int64_t now = time(NULL);

	ctl_certs_update(r);
	for (size_t i = 0; i < nalerts; i++) {
		bool seen = false;
		for (size_t k = 0; k < n && !seen; k++)
			seen = strcmp(a[k].cfg.name, alerts[i].connector) == 0;
		if (!seen && alerts[i].open) {	/* connector gone */
			alerts[i].open = false;
			alerts[i].old = 0;
			alert_log(&alerts[i], "cleared");
		}
	}
	for (size_t k = 0; k < n; k++) {
		const struct ctl_conn_agg *g = &a[k];
		uint64_t old = g->old + ctl_cluster_others_old(g->cfg.name);
		bool cond = old >= ctl.alert_threshold && ctl.alert_threshold > 0, updated;
		struct ctl_alert *al;
		uint8_t code;
		if (!cond) {
			for (size_t i = 0; i < nalerts; i++)
				if (alerts[i].open && strcmp(alerts[i].connector, g->cfg.name) == 0) {
					alerts[i].open = false;
					alerts[i].old = old;
					alerts[i].queued = ctl_agg_queued(g);
					alert_log(&alerts[i], "cleared");
				}
			continue;
		}
		al = alert_get(g->cfg.name);
		code = dominant(g);
		if (code == MFI_NONE && al->open)
			code = al->code;	/* the last known one stays */
		/* an open alert whose code became known or changed says so */
		updated = al->open && code != al->code;
		al->code = code;
		ctl_code_text(al->code, g->last_error, al->code_text, sizeof(al->code_text));
		al->old = old;
		al->queued = ctl_agg_queued(g);
		al->oldest = g->oldest;
		snprintf(al->last_error, sizeof(al->last_error), "%s", g->last_error);
		snprintf(al->last_host, sizeof(al->last_host), "%s", g->last_host);
		if (!al->open) {
			al->open = true;
			al->since = now;
			alert_log(al, "raised");
		} else if (updated) {
			alert_log(al, "updated");
		}
	}
	ctl_loops_update(r);
	ctl_notify_update(r, a, n, alerts, nalerts);
	note_cluster(a, n);
	free(a);
}

const struct ctl_alert *
ctl_alerts_get(size_t *n)
{
	*n = nalerts;
	return alerts;
}

static void
alert_round(struct ctl_run *r)
{
	ctl_alerts_update(r);
	ctl_end(r);
}

static void
alert_run_free(struct ctl_run *r)
{
	alert_run = NULL;
}

void
ctl_alerts_tick(void)
{
	if (alert_run != NULL || ctl.nw == 0)
		return;
	alert_run = ctl_run_new(NULL);
	alert_run->on_free = alert_run_free;
	ctl_snap_round(alert_run, "", alert_round, ALERT_SNAP);
}

void
ctl_alerts_fini(void)
{
	free(alerts);
	alerts = NULL;
	nalerts = 0;
	ctl_loops_fini();
	ctl_certs_fini();
	ctl_notify_fini();
}

/* ---- show insights, set alert ------------------------------------------ */

static void
insights_round(struct ctl_run *r)
{
	int64_t now = time(NULL);
	char agebuf[32];
	size_t open = 0;

	ctl_alerts_update(r);
	ctl_fmt_age(ctl.alert_age, agebuf, sizeof(agebuf));
	for (size_t i = 0; i < nalerts; i++)
		open += alerts[i].open;
	if (r->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < nalerts; i++) {
			const struct ctl_alert *al = &alerts[i];
			if (!al->open)
				continue;
			log_json_append(&arr, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}",
				"connector", al->connector, "code", al->code_text,
				"mfi", mfi_name((enum mfi_code)al->code),
				"meaning", alert_meaning(al->code), "fix", alert_fix(al->code),
				"who", mfi_who((enum mfi_code)al->code),
				"messages_over_age", (json_int_t)al->old,
				"queued", (json_int_t)al->queued,
				"oldest_age", (json_int_t)(al->oldest ? now - al->oldest : 0),
				"since", ctl_json_time(al->since),
				"last_error", log_json_s(al->last_error),
				"destination", log_json_s(al->last_host)));
		}
		for (size_t k = 0, i = 0; i < nalerts; i++) {
			const char *cand[16];
			size_t nc;
			json_t *fx;
			if (!alerts[i].open)
				continue;
			nc = alerts[i].code == MFI_CONN_REFUSED
				? ctl_fixnow_candidates(alerts[i].connector, cand, 16) : 0;
			fx = json_array();
			for (size_t c = 0; c < nc; c++)
				log_json_append(&fx, log_json_s(cand[c]));
			json_t *al = arr != NULL ? json_incref(json_array_get(arr, k++)) : NULL;
			if (!log_json_set(&al, "fix_now", fx)) {
				json_decref(arr);	/* the answer is an error */
				arr = NULL;
			}
			json_decref(al);
		}
		json_t *tarr = json_array(), *larr = json_array(), *carr = json_array();
		ctl_tenant_insights(r, &tarr);
		ctl_loops_insights(r, &larr);
		ctl_cert_insights(r, &carr);
		ctl_json(r, json_pack("{s:{s:i, s:i}, s:o, s:o, s:o, s:o}", "settings",
				      "alert_threshold", (int)ctl.alert_threshold,
				      "alert_age", (int)ctl.alert_age, "alerts", arr,
				      "loops", larr, "certificates", carr, "tenants", tarr));
		ctl_end(r);
		return;
	}
	if (open == 0) {
		ctl_printf(r, "no open alerts (an alert needs %u messages queued at one "
			      "connector for more than %s)\n", ctl.alert_threshold, agebuf);
		ctl_loops_insights(r, NULL);
		ctl_cert_insights(r, NULL);
		ctl_tenant_insights(r, NULL);
		ctl_end(r);
		return;
	}
	ctl_printf(r, "%zu open alert%s (%u messages queued for more than %s)\n", open,
		   open == 1 ? "" : "s", ctl.alert_threshold, agebuf);
	struct ctl_table *t = ctl_table_new((const char *[]){
		"CONNECTOR", "CODE", "REASON", ">QUEUED", ">OVER-AGE", ">OLDEST", "SINCE",
		"DESTINATION", NULL });
	for (size_t i = 0; i < nalerts; i++) {
		const struct ctl_alert *al = &alerts[i];
		char q[24], o[24], old[24], since[32];
		if (!al->open)
			continue;
		snprintf(q, sizeof(q), "%llu", (unsigned long long)al->queued);
		snprintf(o, sizeof(o), "%llu", (unsigned long long)al->old);
		ctl_fmt_age(al->oldest ? now - al->oldest : -1, old, sizeof(old));
		ctl_fmt_time(al->since, since, sizeof(since));
		ctl_table_row(t, al->connector, al->code_text, mfi_name((enum mfi_code)al->code),
			      q, o, old, since, al->last_host[0] ? LOG_TEXT(al->last_host) : "-");
	}
	ctl_table_print(t, r);
	for (size_t i = 0; i < nalerts; i++) {
		const struct ctl_alert *al = &alerts[i];
		if (!al->open)
			continue;
		ctl_printf(r, "%s: what happened: %s\n", al->connector, alert_meaning(al->code));
		ctl_printf(r, "%s: how to fix: %s\n", al->connector, alert_fix(al->code));
		if (al->last_error[0])
			ctl_printf(r, "%s: last error: %s\n", al->connector,
				   LOG_TEXT(al->last_error));
		if (al->code == MFI_CONN_REFUSED) {
			const char *cand[16];
			size_t nc = ctl_fixnow_candidates(al->connector, cand, 16);
			for (size_t c = 0; c < nc; c++)
				ctl_printf(r, "%s: fix now: %s is internal relay; if its server "
					      "was retired, `sluicectl fix-now %s` rejects unknown "
					      "recipients and returns their queued mail at once\n",
					   al->connector, cand[c], cand[c]);
		}
	}
	ctl_loops_insights(r, NULL);
	ctl_cert_insights(r, NULL);
	ctl_tenant_insights(r, NULL);
	ctl_end(r);
}

static void
cmd_show_insights(struct ctl_run *r)
{
	ctl_snap_round(r, "show insights [json]", insights_round, ALERT_SNAP);
}

const struct ctl_cmd ctl_cmd_show_insights = {
	.words = "show insights",
	.args = "",
	.help = "open queue alerts with their code, meaning and fix; mail loops; certificates "
		"to renew; tenants over quota",
	.changes = false,
	.run = cmd_show_insights,
};

static void
cmd_set_alert(struct ctl_run *r)
{
	long thr = -1, age = -1;

	for (int i = 0; i + 1 < r->argc; i += 2) {
		char *end;
		long v = strtol(r->argv[i + 1], &end, 10);
		if (*end == 'm')
			v *= 60, end++;
		else if (*end == 'h')
			v *= 3600, end++;
		else if (*end == 's')
			end++;
		if (*end != '\0' || v < 0 || v > 100000000)
			goto usage;
		if (strcmp(r->argv[i], "threshold") == 0)
			thr = v;
		else if (strcmp(r->argv[i], "age") == 0)
			age = v;
		else
			goto usage;
	}
	if (r->argc == 0 || r->argc % 2 != 0)
		goto usage;
	if (thr >= 0)
		ctl.alert_threshold = (uint32_t)thr;
	if (age >= 0)
		ctl.alert_age = (uint32_t)age;
	if (r->json)
		ctl_json(r, json_pack("{s:i, s:i}", "alert_threshold", (int)ctl.alert_threshold,
				      "alert_age", (int)ctl.alert_age));
	else
		ctl_printf(r, "queue alert: %u messages queued for more than %u s\n",
			   ctl.alert_threshold, ctl.alert_age);
	ctl_end(r);
	return;
usage:
	ctl_fail(r, "usage: set alert [threshold N] [age SECONDS] [json]");
}

const struct ctl_cmd ctl_cmd_set_alert = {
	.words = "set alert",
	.args = "threshold N age SECONDS",
	.help = "queue alert: N messages older than "
		"SECONDS at one connector",
	.changes = true,
	.run = cmd_set_alert,
};
