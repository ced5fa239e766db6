/*
 * ctl_metrics — show metrics: one snapshot round (with the alert check,
 * so the alerts it exports are fresh) written in the Prometheus text
 * exposition format: the counters of core/ctl/ctl_snap.c under
 * their metric names, per-connector gauges and counters, the workers'
 * histograms (attempt duration, time in queue) and TLS counters, summed
 * across workers, the tenants' quota use and the Redis link, one series
 * per open alert, and the expiry of each destination certificate seen
 * (core/ctl/ctl_cert.h).  Label values are escaped as the format
 * requires; there is no JSON form.  Control thread.
 *
 * Conventions kept (promtool check metrics, tests/integration/test_ctl.py
 * and test_http.py): a counter's name ends in _total and no gauge takes
 * the name a counter's family has without it; base units (seconds,
 * bytes); a time stamp that does not exist (a connector never tried) is
 * no sample rather than 0.
 */
#include "core/ctl/ctl_metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/ctl/ctl_alert.h"
#include "core/ctl/ctl_cert.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_snap.h"
#include "core/ctl/ctl_tenant.h"
#include "core/hist.h"
#include "core/log.h"
#include "core/mfi/mfi.h"

/* A label value, escaped as the text exposition format requires. */
static void
prom_label(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_puts(b, "\\\\");
		else if (*s == '"')
			buf_puts(b, "\\\"");
		else if (*s == '\n')
			buf_puts(b, "\\n");
		else
			buf_append(b, s, 1);
	}
}

static void
prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{connector="c"[,k="v"]} value */
static void
prom_conn(struct buf *b, const char *name, const char *conn, const char *k,
	  const char *v, long long val)
{
	buf_printf(b, "%s{connector=\"", name);
	prom_label(b, conn);
	buf_puts(b, "\"");
	if (k != NULL) {
		buf_printf(b, ",%s=\"", k);
		prom_label(b, v);
		buf_puts(b, "\"");
	}
	buf_printf(b, "} %lld\n", val);
}

_Static_assert(MFI_REMOTE == QUEUE_NCODES - 1, "the remote classes follow the other codes");

/* A bound in ms as seconds, without trailing zeros ("0.005", "2.5", "60"). */
static const char *
ms_seconds(char *out, size_t n, uint64_t ms)
{
	size_t len;

	snprintf(out, n, "%llu.%03llu", (unsigned long long)(ms / 1000),
		 (unsigned long long)(ms % 1000));
	len = strlen(out);
	while (len > 0 && out[len - 1] == '0')
		out[--len] = '\0';
	if (len > 0 && out[len - 1] == '.')
		out[--len] = '\0';
	return out;
}

/*
 * One histogram series: counts[0..n] per bucket (summed over the
 * workers, not cumulative) with bounds in ms (ms true) or s, its sum in
 * those units; labels "" or `k="v"` put before le.
 */
static void
prom_hist(struct buf *b, const char *name, const char *labels, const uint64_t *counts,
	  const uint64_t *bound, size_t n, bool ms, uint64_t sum)
{
	uint64_t cum = 0;
	char le[32];
	const char *sep = labels[0] ? "," : "";

	for (size_t i = 0; i <= n; i++) {
		cum += counts[i];
		if (i == n)
			snprintf(le, sizeof(le), "+Inf");
		else if (ms)
			ms_seconds(le, sizeof(le), bound[i]);
		else
			snprintf(le, sizeof(le), "%llu", (unsigned long long)bound[i]);
		buf_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, le,
			   (unsigned long long)cum);
	}
	if (ms)
		buf_printf(b, "%s_sum%s%s%s %s\n", name, labels[0] ? "{" : "", labels,
			   labels[0] ? "}" : "", ms_seconds(le, sizeof(le), sum));
	else
		buf_printf(b, "%s_sum%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
			   labels[0] ? "}" : "", (unsigned long long)sum);
	buf_printf(b, "%s_count%s%s%s %llu\n", name, labels[0] ? "{" : "", labels,
		   labels[0] ? "}" : "", (unsigned long long)cum);
}

/* The workers' histograms, summed. */
static void
metrics_hists(struct ctl_run *r, struct buf *b)
{
	uint64_t att[HIST_ATTEMPT_N + 1] = { 0 }, att_sum = 0;
	uint64_t qt[2][HIST_QUEUE_N + 1] = { { 0 } }, qt_sum[2] = { 0 };

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct worker_stats *st = &r->reqs[w]->snap.st;
		for (size_t i = 0; i <= HIST_ATTEMPT_N; i++)
			att[i] += st->attempt_ms[i];
		att_sum += st->attempt_ms_sum;
		for (int k = 0; k < 2; k++) {
			for (size_t i = 0; i <= HIST_QUEUE_N; i++)
				qt[k][i] += st->queue_s[k][i];
			qt_sum[k] += st->queue_s_sum[k];
		}
	}
	prom_family(b, "sluice_delivery_attempt_duration_seconds", "histogram",
		    "Time a delivery attempt took, from the connection (or its reuse) to the "
		    "last reply, whatever its outcome.");
	prom_hist(b, "sluice_delivery_attempt_duration_seconds", "", att, hist_attempt_ms,
		  HIST_ATTEMPT_N, true, att_sum);
	prom_family(b, "sluice_queue_time_seconds", "histogram",
		    "Time from a message's arrival to a recipient's final outcome: delivered, "
		    "or returned (refused for good or expired).");
	prom_hist(b, "sluice_queue_time_seconds", "result=\"delivered\"", qt[0], hist_queue_s,
		  HIST_QUEUE_N, false, qt_sum[0]);
	prom_hist(b, "sluice_queue_time_seconds", "result=\"returned\"", qt[1], hist_queue_s,
		  HIST_QUEUE_N, false, qt_sum[1]);
}

/* The workers' TLS counters, summed: handshakes by direction and
 * protocol, failures by direction and reason (enum mfi_tls). */
static void
metrics_tls(struct ctl_run *r, struct buf *b)
{
	static const char *const proto[WORKER_TLS_NPROTO] = { "TLSv1.2", "TLSv1.3", "other" };
	static const char *const dir[2] = { "in", "out" };
	static const char *const reason[] = {
		[MFI_TLS_NOT_OFFERED] = "not_offered", [MFI_TLS_REFUSED] = "starttls_refused",
		[MFI_TLS_EXPIRED] = "cert_expired", [MFI_TLS_NOT_YET_VALID] = "cert_not_yet_valid",
		[MFI_TLS_NAME_MISMATCH] = "cert_name_mismatch",
		[MFI_TLS_UNTRUSTED] = "cert_untrusted", [MFI_TLS_SELF_SIGNED] = "cert_self_signed",
		[MFI_TLS_REVOKED] = "cert_revoked", [MFI_TLS_HANDSHAKE_FAILED] = "handshake_failed",
	};
	uint64_t done[2][WORKER_TLS_NPROTO] = { { 0 } }, failed[2][WORKER_TLS_NREASONS] = { { 0 } };

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct worker_stats *st = &r->reqs[w]->snap.st;
		for (int d = 0; d < 2; d++) {
			for (int p = 0; p < WORKER_TLS_NPROTO; p++)
				done[d][p] += st->tls_done[d][p];
			for (int k = 0; k < WORKER_TLS_NREASONS; k++)
				failed[d][k] += st->tls_failed[d][k];
		}
	}
	prom_family(b, "sluice_tls_handshakes_total", "counter",
		    "TLS handshakes completed: in, STARTTLS of clients; out, to destinations.");
	for (int d = 0; d < 2; d++)
		for (int p = 0; p < WORKER_TLS_NPROTO; p++)
			buf_printf(b, "sluice_tls_handshakes_total{direction=\"%s\",protocol=\"%s\"} "
				   "%llu\n", dir[d], proto[p], (unsigned long long)done[d][p]);
	prom_family(b, "sluice_tls_failures_total", "counter",
		    "TLS that failed, by reason: out, also STARTTLS not offered or refused "
		    "where the connector requires TLS, and each certificate verdict.");
	for (int d = 0; d < 2; d++)
		for (int k = 1; k < (int)(sizeof(reason) / sizeof(reason[0])); k++) {
			/* a client's handshake fails for one reason only */
			if (d == 0 && k != MFI_TLS_HANDSHAKE_FAILED && failed[d][k] == 0)
				continue;
			buf_printf(b, "sluice_tls_failures_total{direction=\"%s\",reason=\"%s\"} "
				   "%llu\n", dir[d], reason[k], (unsigned long long)failed[d][k]);
		}
}

/* Tenants' quota use and the Redis link (core/ctl/ctl_tenant.c). */
static void
metrics_tenants(struct buf *b)
{
	static const struct {
		const char *name, *help;
	} fam[] = {
		{ "sluice_tenant_invalid_recipients", "Invalid recipients counted against the "
		  "tenant in its quota window (the cluster's count with Redis)." },
		{ "sluice_tenant_invalid_recipient_quota", "The tenant's invalid-recipient "
		  "quota per window (0: none)." },
		{ "sluice_tenant_throttled", "1 while the tenant is over its quota (new "
		  "recipients get 451 4.7.500)." },
	};
	int redis;
	size_t n;
	struct ctl_tenant_use *u = ctl_tenant_usage(&n, &redis);

	for (int k = 0; k < 3; k++) {
		prom_family(b, fam[k].name, "gauge", fam[k].help);
		for (size_t i = 0; i < n; i++) {
			uint64_t v = k == 0 ? u[i].invalid : k == 1 ? u[i].quota
				   : u[i].quota > 0 && u[i].invalid >= u[i].quota;
			buf_printf(b, "%s{tenant=\"", fam[k].name);
			prom_label(b, u[i].name);
			buf_printf(b, "\"} %llu\n", (unsigned long long)v);
		}
	}
	free(u);
	prom_family(b, "sluice_redis_up", "gauge", "1 while the last exchange with Redis "
		    "(the cluster's quota counters) succeeded; no sample without redis:.");
	if (redis >= 0)
		buf_printf(b, "sluice_redis_up %d\n", redis);
}

static void
metrics_round(struct ctl_run *r)
{
	struct buf b = { 0 };
	size_t n, nal;
	struct ctl_conn_agg *a;
	const struct ctl_alert *al;
	const struct ctl_cert *ce;
	int64_t now = time(NULL);

	ctl_alerts_update(r);
	a = ctl_agg_merge(r, &n);
	prom_family(&b, "sluice_build_info", "gauge", "Version of sluiced (always 1).");
	buf_puts(&b, "sluice_build_info{version=\"");
	prom_label(&b, ctl.version);
	buf_puts(&b, "\"} 1\n");
	prom_family(&b, "sluice_start_time_seconds", "gauge",
		    "Unix time sluiced started.");
	buf_printf(&b, "sluice_start_time_seconds %lld\n", (long long)ctl.started);
	prom_family(&b, "sluice_workers", "gauge", "Worker threads.");
	buf_printf(&b, "sluice_workers %u\n", ctl.nw);
	for (size_t k = 0; k < ctl_nskeys; k++) {
		prom_family(&b, ctl_skeys[k].metric, ctl_skeys[k].counter ? "counter" : "gauge",
			    ctl_skeys[k].help);
		buf_printf(&b, "%s %llu\n", ctl_skeys[k].metric,
			   (unsigned long long)ctl_skey_total(r, &ctl_skeys[k]));
	}

	static const struct {
		const char *name, *help;
	} gauges[] = {
		{ "sluice_connector_enabled", "1 if the connector may deliver." },
		{ "sluice_connector_up", "1 if none of the connector's destinations is down." },
		{ "sluice_connector_queued", "Jobs (message and destination) queued at the "
		  "connector." },
		{ "sluice_connector_active", "Jobs on a connection now." },
		{ "sluice_connector_deferred", "Jobs waiting for their retry or on hold." },
		{ "sluice_connector_oldest_queued_seconds", "Age of the oldest job queued at "
		  "the connector (0 when none)." },
		{ "sluice_connector_last_attempt_timestamp_seconds", "Unix time of the last "
		  "delivery attempt (no sample when none)." },
	};
	for (size_t gi = 0; gi < sizeof(gauges) / sizeof(gauges[0]); gi++) {
		prom_family(&b, gauges[gi].name, "gauge", gauges[gi].help);
		for (size_t i = 0; i < n; i++) {
			const struct ctl_conn_agg *g = &a[i];
			long long v = 0;
			switch (gi) {
			case 0: v = g->configured && g->cfg.enabled && !g->disabled; break;
			case 1: v = g->ndown == 0; break;
			case 2: v = (long long)ctl_agg_queued(g); break;
			case 3: v = (long long)g->nactive; break;
			case 4: v = (long long)g->ndeferred; break;
			case 5: v = g->oldest ? now - g->oldest : 0; break;
			default: v = g->last_attempt; break;
			}
			if (gi == 6 && v == 0)
				continue;	/* never tried: no time to give */
			prom_conn(&b, gauges[gi].name, g->cfg.name, NULL, NULL, v);
		}
	}
	prom_family(&b, "sluice_connector_attempts_total", "counter",
		    "Delivery attempts through the connector.");
	for (size_t i = 0; i < n; i++)
		prom_conn(&b, "sluice_connector_attempts_total", a[i].cfg.name, NULL, NULL,
			  (long long)a[i].attempts);
	prom_family(&b, "sluice_connector_recipients_total", "counter",
		    "Recipient outcomes at the connector, by result.");
	for (size_t i = 0; i < n; i++) {
		prom_conn(&b, "sluice_connector_recipients_total", a[i].cfg.name, "result",
			  "delivered", (long long)a[i].delivered);
		prom_conn(&b, "sluice_connector_recipients_total", a[i].cfg.name, "result",
			  "deferred", (long long)a[i].deferred);
		prom_conn(&b, "sluice_connector_recipients_total", a[i].cfg.name, "result",
			  "bounced", (long long)a[i].bounced);
	}
	prom_family(&b, "sluice_connector_failures_total", "counter",
		    "Failed recipient attempts by mail-flow-intelligence code.");
	for (size_t i = 0; i < n; i++)
		for (int c = 1; c < QUEUE_NCODES + 1; c++) {
			/* the destination's own replies, by class: 4xx, then 5xx */
			bool remote = c >= MFI_REMOTE;
			int k = remote ? MFI_REMOTE : c;
			const char *code = !remote ? mfi_status((enum mfi_code)c)
					 : c == MFI_REMOTE ? "remote_4xx" : "remote_5xx";
			uint64_t v = !remote ? a[i].codes[c] : a[i].remote[c - MFI_REMOTE];
			buf_printf(&b, "sluice_connector_failures_total{connector=\"");
			prom_label(&b, a[i].cfg.name);
			buf_printf(&b, "\",code=\"%s\",reason=\"%s\"} %llu\n", code,
				   mfi_name((enum mfi_code)k), (unsigned long long)v);
		}
	metrics_hists(r, &b);
	metrics_tls(r, &b);
	metrics_tenants(&b);
	prom_family(&b, "sluice_alert", "gauge",
		    "Open queue alerts (1), by connector and dominant code.");
	al = ctl_alerts_get(&nal);
	for (size_t i = 0; i < nal; i++)
		if (al[i].open)
			prom_conn(&b, "sluice_alert", al[i].connector, "code", al[i].code_text, 1);
	prom_family(&b, "sluice_tls_cert_expiry_timestamp_seconds", "gauge",
		    "Unix time the certificate a connector's host showed at its last TLS "
		    "handshake expires (connectors with cert_expiry_warning).");
	ce = ctl_certs_get(&nal);
	for (size_t i = 0; i < nal; i++)	/* an MX host's name is from DNS: escaped */
		prom_conn(&b, "sluice_tls_cert_expiry_timestamp_seconds", ce[i].connector, "host",
			  LOG_TEXT(ce[i].c.host), (long long)ce[i].c.not_after);
	ctl_write(r, b.p, b.len);
	buf_free(&b);
	free(a);
	ctl_end(r);
}

static void
cmd_show_metrics(struct ctl_run *r)
{
	if (r->json) {
		ctl_fail(r, "show metrics has no JSON form (it is the Prometheus text format)");
		return;
	}
	ctl_snap_round(r, "show metrics", metrics_round, CTL_SNAP_DESTS | CTL_SNAP_ALERT);
}

const struct ctl_cmd ctl_cmd_show_metrics = {
	.words = "show metrics",
	.args = "",
	.help = "Prometheus text exposition",
	.changes = false,
	.run = cmd_show_metrics,
};
