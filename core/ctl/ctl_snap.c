/*
 * ctl_snap — the snapshot round of the read-only commands and the merge of
 * its answers: the catalogue of counters (stats key, Prometheus name and
 * help, where it sits in struct ctl_snap, summed or the maximum across
 * workers) and the connectors merged across workers and destinations.
 * Control thread.  Nothing here writes an answer: how the numbers are
 * shown belongs to the commands (ctl_show.c, ctl_alert.c, ctl_metrics.c).
 */
#include "core/ctl/ctl_snap.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mfi/mfi.h"
#include "core/xalloc.h"

/* ---- counters ------------------------------------------------------- */

#define SK64(k, m, h, c, f) { k, m, h, c, false, offsetof(struct ctl_snap, f), false }
#define SK32(k, m, h, c, f) { k, m, h, c, true, offsetof(struct ctl_snap, f), false }
#define SKMAX(k, m, h, f) { k, m, h, false, false, offsetof(struct ctl_snap, f), true }

const struct ctl_skey ctl_skeys[] = {
	SK64("smtp.in.sessions", "sluice_smtp_in_sessions_total",
	     "SMTP sessions accepted.", true, st.sessions),
	SK64("smtp.in.sessions_refused", "sluice_smtp_in_sessions_refused_total",
	     "SMTP sessions refused over max_sessions.", true, st.sessions_refused),
	SK64("smtp.in.sessions_limited", "sluice_smtp_in_sessions_limited_total",
	     "SMTP sessions refused: client over its session or connection-rate limit.",
	     true, st.sessions_limited),
	SK64("smtp.in.proxy_refused", "sluice_smtp_in_proxy_refused_total",
	     "Connections closed before the banner on a proxy_protocol listener: a peer "
	     "not in proxy_from, or a malformed or late PROXY header.", true, st.proxy_refused),
	SK32("smtp.in.sessions_active", "sluice_smtp_in_sessions_active",
	     "SMTP sessions open now.", false, nsessions),
	SK64("smtp.in.messages", "sluice_smtp_in_messages_total",
	     "Messages accepted (answered 250).", true, st.messages_in),
	SK64("smtp.in.bytes", "sluice_smtp_in_bytes_total",
	     "Bytes of the messages accepted.", true, st.bytes_in),
	SK64("smtp.in.recipients", "sluice_smtp_in_recipients_total",
	     "Recipients of the messages accepted.", true, st.rcpts_in),
	SK64("smtp.in.rejected", "sluice_smtp_in_rejected_total",
	     "Messages refused at the end of data.", true, st.rejected),
	SK64("smtp.in.loops", "sluice_smtp_in_loops_total",
	     "Messages refused at the end of data as a mail loop (over limits.hops).",
	     true, st.loops),
	SK64("smtp.in.spool_errors", "sluice_smtp_in_spool_errors_total",
	     "Messages answered 452 because the spool failed.", true, st.spool_errors),
	SK64("smtp.in.spilled", "sluice_smtp_in_spilled_total",
	     "Messages whose data was written to a body file as it arrived.", true, st.spilled),
	SK64("smtp.in.data_memory_bytes", "sluice_smtp_in_data_memory_bytes",
	     "Bytes of DATA held in memory by SMTP sessions now.", false, data_mem),
	SK64("smtp.out.attempts", "sluice_smtp_out_attempts_total",
	     "Delivery attempts (one per message and destination tried).", true, st.attempts),
	SK64("smtp.out.retries", "sluice_smtp_out_retries_total",
	     "Delivery attempts of mail that had failed before.", true, st.retries),
	SK64("smtp.out.messages", "sluice_smtp_out_messages_total",
	     "Attempts that delivered at least one recipient.", true, st.messages_out),
	SK64("smtp.out.bytes", "sluice_smtp_out_bytes_total",
	     "Bytes of the messages delivered.", true, st.bytes_out),
	SK32("smtp.out.connections", "sluice_smtp_out_connections",
	     "Outbound SMTP connections open now.", false, nconns),
	SK64("tls.in.handshakes_full", "sluice_tls_in_handshakes_full_total",
	     "Inbound TLS handshakes completed in full (STARTTLS of clients).", true,
	     st.tls_resumed[0][0]),
	SK64("tls.in.handshakes_resumed", "sluice_tls_in_handshakes_resumed_total",
	     "Inbound TLS handshakes that resumed a session (a ticket of ours).", true,
	     st.tls_resumed[0][1]),
	SK64("tls.out.handshakes_full", "sluice_tls_out_handshakes_full_total",
	     "Outbound TLS handshakes completed in full (certificate checked).", true,
	     st.tls_resumed[1][0]),
	SK64("tls.out.handshakes_resumed", "sluice_tls_out_handshakes_resumed_total",
	     "Outbound TLS handshakes that resumed a session cached for the same "
	     "destination, name and TLS settings.", true, st.tls_resumed[1][1]),
	SK64("delivery.delivered", "sluice_recipients_delivered_total",
	     "Recipients delivered.", true, st.rcpts_delivered),
	SK64("delivery.deferred", "sluice_recipients_deferred_total",
	     "Recipient deferrals (temporary failures).", true, st.rcpts_deferred),
	SK64("delivery.bounced", "sluice_recipients_bounced_total",
	     "Recipients returned to the sender (failed, expired or bounced by the operator).",
	     true, st.rcpts_bounced),
	SK64("delivery.expired", "sluice_recipients_expired_total",
	     "Recipients returned because they expired in the queue.", true, st.rcpts_expired),
	SK64("delivery.deleted", "sluice_recipients_deleted_total",
	     "Recipients deleted by the operator without an NDR.", true, st.rcpts_deleted),
	SK64("ndr.sent", "sluice_ndrs_total", "Non-delivery reports queued.", true, st.ndrs),
	SK32("queue.messages", "sluice_queue_messages", "Messages in the queue.", false, nmsgs),
	SK64("queue.memory_bytes", "sluice_queue_memory_bytes",
	     "Bytes of queued message data kept in memory.", false, qmem),
	SK64("spool.bytes", "sluice_spool_bytes", "Bytes of spool segments and body files.",
	     false, spool_bytes),
	SK32("spool.segments", "sluice_spool_segments", "Spool segment files.", false,
	     spool_segments),
	SKMAX("spool.oldest_segment_age", "sluice_spool_oldest_segment_age_seconds",
	      "Age of the oldest spool segment other than the current one (a live message "
	      "pins it and every newer one).", spool_age),
};

const size_t ctl_nskeys = sizeof(ctl_skeys) / sizeof(ctl_skeys[0]);

uint64_t
ctl_skey_value(const struct ctl_snap *s, const struct ctl_skey *k)
{
	const char *p = (const char *)s + k->off;

	return k->u32 ? *(const uint32_t *)(const void *)p : *(const uint64_t *)(const void *)p;
}

uint64_t
ctl_skey_total(struct ctl_run *r, const struct ctl_skey *k)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < ctl.nw; i++) {
		uint64_t v = ctl_skey_value(&r->reqs[i]->snap, k);
		t = k->max ? (v > t ? v : t) : t + v;
	}
	return t;
}

/* ---- connectors, merged --------------------------------------------- */

static struct ctl_conn_agg *
agg_get(struct ctl_conn_agg **a, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*a)[i].cfg.name, name) == 0)
			return &(*a)[i];
	*a = xrealloc(*a, (*n + 1) * sizeof(**a));
	memset(&(*a)[*n], 0, sizeof(**a));
	snprintf((*a)[*n].cfg.name, sizeof((*a)[*n].cfg.name), "%s", name);
	return &(*a)[(*n)++];
}

struct ctl_conn_agg *
ctl_agg_merge(struct ctl_run *r, size_t *np)
{
	struct ctl_conn_agg *a = NULL;
	size_t n = 0;

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->nconn; i++) {
			struct ctl_conn_agg *g = agg_get(&a, &n, s->conns[i].name);
			if (!g->configured)
				g->cfg = s->conns[i];
			g->configured = true;
			g->disabled |= s->conns[i].disabled;
		}
		for (size_t i = 0; i < s->ndests; i++) {
			const struct ctl_dest_snap *d = &s->dests[i];
			struct ctl_conn_agg *g = agg_get(&a, &n, d->connector);
			g->ndests++;
			g->ndown += d->down;
			g->disabled |= d->disabled;
			g->nready += d->nready;
			g->ndeferred += d->ndeferred;
			g->nactive += d->nactive;
			g->nheld += d->nheld;
			g->nconns += d->nconns;
			if (d->oldest != 0 && (g->oldest == 0 || d->oldest < g->oldest)) {
				g->oldest = d->oldest;
				g->oldest_expiry = d->oldest_expiry;
			}
			g->old += d->old;
			for (int c = 0; c < QUEUE_NCODES; c++) {
				g->old_codes[c] += d->old_codes[c];
				g->codes[c] += d->st.codes[c];
			}
			g->remote[0] += d->st.remote[0];
			g->remote[1] += d->st.remote[1];
			g->attempts += d->st.attempts;
			g->delivered += d->st.delivered;
			g->deferred += d->st.deferred;
			g->bounced += d->st.bounced;
			g->retries += d->st.retries;
			if (d->st.last_attempt > g->last_attempt)
				g->last_attempt = d->st.last_attempt;
			if (d->st.last_time > g->last_time) {
				g->last_time = d->st.last_time;
				g->last_code = d->st.last_code;
				snprintf(g->last_error, sizeof(g->last_error), "%s", d->st.last_error);
				snprintf(g->last_host, sizeof(g->last_host), "%s", d->st.last_host);
			}
		}
	}
	*np = n;
	return a;
}

const char *
ctl_agg_state(const struct ctl_conn_agg *g)
{
	if (!g->configured)
		return "removed";
	if (!g->cfg.enabled)
		return "disabled (config)";
	return g->disabled ? "disabled" : "enabled";
}

void
ctl_agg_health(const struct ctl_conn_agg *g, char *out, size_t n)
{
	if (g->ndests == 0)
		snprintf(out, n, "-");
	else if (g->ndown == 0)
		snprintf(out, n, "up");
	else if (g->ndown == g->ndests)
		snprintf(out, n, "down");
	else
		snprintf(out, n, "%u/%u down", g->ndown, g->ndests);
}

void
ctl_code_text(uint8_t code, const char *reply, char *out, size_t n)
{
	char st[MFI_STATUS_MAX];

	if (code == MFI_NONE || code >= MFI_NCODES) {
		snprintf(out, n, "-");
	} else if (code == MFI_REMOTE) {
		int rc = atoi(reply);
		const char *s = mfi_reply_status(reply, rc, st);
		snprintf(out, n, "%d %s", rc, s);
	} else {
		snprintf(out, n, "%s", mfi_status((enum mfi_code)code));
	}
}

uint64_t
ctl_agg_queued(const struct ctl_conn_agg *g)
{
	return g->nready + g->ndeferred + g->nactive;
}

/* ---- the round -------------------------------------------------------- */

void
ctl_snap_round(struct ctl_run *r, const char *usage, void (*then)(struct ctl_run *),
	       unsigned flags)
{
	struct ctl_wreq tmpl = { .kind = CTL_W_SNAP, .flags = flags,
				 .alert_threshold = ctl.alert_threshold,
				 .alert_age = ctl.alert_age };

	if (r->argc > 0) {
		ctl_fail(r, "usage: %s", usage);
		return;
	}
	r->on_round = then;
	ctl_round(r, &tmpl);
}
