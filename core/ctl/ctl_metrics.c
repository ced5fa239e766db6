/*
 * ctl_metrics — show metrics: one snapshot round (with the alert check,
 * so the alerts it exports are fresh) written in the Prometheus text
 * exposition format: the counters of core/ctl/ctl_snap.c under
 * their metric names, per-connector gauges and counters, and one series
 * per open alert, and the expiry of each destination certificate seen
 * (core/ctl/ctl_cert.h).  Label values are escaped as the format requires; there
 * is no JSON form.  Control thread.
 */
#include "core/ctl/ctl_metrics.h"

#include <stdlib.h>
#include <time.h>

#include "core/buf.h"
#include "core/ctl/ctl_alert.h"
#include "core/ctl/ctl_cert.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_snap.h"
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
		  "delivery attempt (0 when none)." },
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
		for (int c = 1; c < QUEUE_NCODES; c++) {
			const char *code = c == MFI_REMOTE ? "remote" : mfi_status((enum mfi_code)c);
			buf_printf(&b, "sluice_connector_failures_total{connector=\"");
			prom_label(&b, a[i].cfg.name);
			buf_printf(&b, "\",code=\"%s\",reason=\"%s\"} %llu\n", code,
				   mfi_name((enum mfi_code)c), (unsigned long long)a[i].codes[c]);
		}
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
