/*
 * ctl_show — the read-only commands of the control socket (show info,
 * show stats, show connectors, show insights, qshape, show metrics) and
 * the queue alerts, on the control thread.
 *
 * Each command sends one snapshot request to every worker (ctl_round) and
 * merges the answers: counters are summed, destinations are merged by
 * connector (show connectors, metrics, alerts) or by name (qshape).
 *
 * Queue alerts: once a second the control thread asks every worker for
 * its oldest messages (CTL_SNAP_ALERT, bounded) and raises an alert for a
 * connector with at least ctl.alert_threshold messages queued for more
 * than ctl.alert_age seconds; it clears when that no longer holds.  Both
 * are logged as one JSON line.  The alert carries the dominant
 * mail-flow-intelligence code of those messages with its meaning and fix.
 */
#include "core/ctl/ctl_show.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/xalloc.h"

/* ---- counters ------------------------------------------------------- */

/* A counter or gauge of struct ctl_snap, with its stats key and metric. */
struct skey {
	const char *key;		/* dotted stats key */
	const char *metric;		/* Prometheus name */
	const char *help;		/* # HELP text */
	bool counter;			/* counter (else gauge) */
	bool u32;			/* 32-bit field */
	size_t off;			/* offset in struct ctl_snap */
	bool max;			/* the workers' maximum, not their sum */
};

#define SK64(k, m, h, c, f) { k, m, h, c, false, offsetof(struct ctl_snap, f), false }
#define SK32(k, m, h, c, f) { k, m, h, c, true, offsetof(struct ctl_snap, f), false }
#define SKMAX(k, m, h, f) { k, m, h, false, false, offsetof(struct ctl_snap, f), true }

static const struct skey skeys[] = {
	SK64("smtp.in.sessions", "sluice_smtp_in_sessions_total",
	     "SMTP sessions accepted.", true, st.sessions),
	SK64("smtp.in.sessions_refused", "sluice_smtp_in_sessions_refused_total",
	     "SMTP sessions refused over max_sessions.", true, st.sessions_refused),
	SK64("smtp.in.sessions_limited", "sluice_smtp_in_sessions_limited_total",
	     "SMTP sessions refused: client over its session or connection-rate limit.",
	     true, st.sessions_limited),
	SK32("smtp.in.sessions_active", "sluice_smtp_in_sessions",
	     "SMTP sessions open now.", false, nsessions),
	SK64("smtp.in.messages", "sluice_smtp_in_messages_total",
	     "Messages accepted (answered 250).", true, st.messages_in),
	SK64("smtp.in.bytes", "sluice_smtp_in_bytes_total",
	     "Bytes of the messages accepted.", true, st.bytes_in),
	SK64("smtp.in.recipients", "sluice_smtp_in_recipients_total",
	     "Recipients of the messages accepted.", true, st.rcpts_in),
	SK64("smtp.in.rejected", "sluice_smtp_in_rejected_total",
	     "Messages refused at the end of data.", true, st.rejected),
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

#define NSKEYS (sizeof(skeys) / sizeof(skeys[0]))

static uint64_t
sval(const struct ctl_snap *s, const struct skey *k)
{
	const char *p = (const char *)s + k->off;

	return k->u32 ? *(const uint32_t *)(const void *)p : *(const uint64_t *)(const void *)p;
}

static uint64_t
stotal(struct ctl_run *r, const struct skey *k)
{
	uint64_t t = 0;

	for (unsigned i = 0; i < ctl.nw; i++) {
		uint64_t v = sval(&r->reqs[i]->snap, k);
		t = k->max ? (v > t ? v : t) : t + v;
	}
	return t;
}

/* ---- connectors, merged --------------------------------------------- */

/* One connector across workers and destinations. */
struct conn_agg {
	struct ctl_conn_cfg cfg;	/* from the config (worker 0 first) */
	bool configured;		/* in a worker's config */
	bool disabled;			/* disabled at run time */
	uint32_t ndests, ndown;		/* destinations, of which down */
	uint64_t nready, ndeferred, nactive, nheld, nconns;
	int64_t oldest, oldest_expiry;	/* oldest job, 0 none known */
	uint64_t old;			/* jobs older than alert_age */
	uint64_t old_codes[QUEUE_NCODES];
	uint64_t attempts, delivered, deferred, bounced, retries;
	uint64_t codes[QUEUE_NCODES];	/* failures by code */
	int64_t last_attempt;		/* unix s */
	int64_t last_time;		/* last failure, unix s */
	uint8_t last_code;		/* its code */
	char last_error[256];		/* its text */
	char last_host[128];		/* where from */
};

static struct conn_agg *
agg_get(struct conn_agg **a, size_t *n, const char *name)
{
	for (size_t i = 0; i < *n; i++)
		if (strcmp((*a)[i].cfg.name, name) == 0)
			return &(*a)[i];
	*a = xrealloc(*a, (*n + 1) * sizeof(**a));
	memset(&(*a)[*n], 0, sizeof(**a));
	snprintf((*a)[*n].cfg.name, sizeof((*a)[*n].cfg.name), "%s", name);
	return &(*a)[(*n)++];
}

/* Merge the answers of r's round by connector; filter "" = all. */
static struct conn_agg *
merge_connectors(struct ctl_run *r, size_t *np)
{
	struct conn_agg *a = NULL;
	size_t n = 0;

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->nconn; i++) {
			struct conn_agg *g = agg_get(&a, &n, s->conns[i].name);
			if (!g->configured)
				g->cfg = s->conns[i];
			g->configured = true;
			g->disabled |= s->conns[i].disabled;
		}
		for (size_t i = 0; i < s->ndests; i++) {
			const struct ctl_dest_snap *d = &s->dests[i];
			struct conn_agg *g = agg_get(&a, &n, d->connector);
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

static const char *
agg_state(const struct conn_agg *g)
{
	if (!g->configured)
		return "removed";
	if (!g->cfg.enabled)
		return "disabled (config)";
	return g->disabled ? "disabled" : "enabled";
}

static void
agg_health(const struct conn_agg *g, char *out, size_t n)
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

/* "4.4.316", or the enhanced status of a destination's own reply. */
static void
code_text(uint8_t code, const char *reply, char *out, size_t n)
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

static uint64_t
agg_queued(const struct conn_agg *g)
{
	return g->nready + g->ndeferred + g->nactive;
}

/* ---- show info -------------------------------------------------------- */

static void
info_round(struct ctl_run *r)
{
	const struct ctl_snap *s0 = &r->reqs[0]->snap;
	uint64_t spool = 0, queued = 0, mem = 0, sess = 0, conns = 0, segs = 0, age = 0;
	int64_t up = time(NULL) - ctl.started;
	char started[32], upt[32];

	for (unsigned i = 0; i < ctl.nw; i++) {
		const struct ctl_snap *s = &r->reqs[i]->snap;
		spool += s->spool_bytes;
		segs += s->spool_segments;
		age = s->spool_age > age ? s->spool_age : age;
		queued += s->nmsgs;
		mem += s->qmem;
		sess += s->nsessions;
		conns += s->nconns;
	}
	ctl_fmt_time(ctl.started, started, sizeof(started));
	ctl_fmt_age(up, upt, sizeof(upt));
	if (r->json) {
		ctl_json(r, json_pack("{s:s, s:i, s:s, s:I, s:i, s:s, s:s, s:s, s:s, s:I, s:I, "
				      "s:I, s:I, s:I, s:I, s:I}",
				      "version", ctl.version, "pid", (int)getpid(), "started", started,
				      "uptime", (json_int_t)up, "workers", (int)ctl.nw,
				      "config", s0->cfg_path, "hostname", s0->hostname,
				      "spool", s0->spool_dir, "control_socket", ctl.path,
				      "spool_bytes", (json_int_t)spool,
				      "spool_segments", (json_int_t)segs,
				      "spool_oldest_segment_age", (json_int_t)age,
				      "queued", (json_int_t)queued,
				      "queue_memory_bytes", (json_int_t)mem,
				      "sessions", (json_int_t)sess, "connections_out",
				      (json_int_t)conns));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){ "KEY", "VALUE", NULL });
		char v[10][96];
		snprintf(v[0], 96, "%d", (int)getpid());
		snprintf(v[1], 96, "%s (%s)", upt, started);
		snprintf(v[2], 96, "%u", ctl.nw);
		snprintf(v[3], 96, "%llu", (unsigned long long)spool);
		snprintf(v[4], 96, "%llu", (unsigned long long)queued);
		snprintf(v[5], 96, "%llu", (unsigned long long)mem);
		snprintf(v[6], 96, "%llu", (unsigned long long)sess);
		snprintf(v[7], 96, "%llu", (unsigned long long)conns);
		snprintf(v[8], 96, "%llu", (unsigned long long)segs);
		ctl_fmt_age((int64_t)age, v[9], 96);
		ctl_table_row(t, "version", ctl.version);
		ctl_table_row(t, "pid", v[0]);
		ctl_table_row(t, "uptime", v[1]);
		ctl_table_row(t, "workers", v[2]);
		ctl_table_row(t, "config", s0->cfg_path);
		ctl_table_row(t, "hostname", s0->hostname);
		ctl_table_row(t, "spool", s0->spool_dir);
		ctl_table_row(t, "spool_bytes", v[3]);
		ctl_table_row(t, "spool_segments", v[8]);
		ctl_table_row(t, "spool_oldest_segment_age", age ? v[9] : "-");
		ctl_table_row(t, "queued", v[4]);
		ctl_table_row(t, "queue_memory_bytes", v[5]);
		ctl_table_row(t, "sessions", v[6]);
		ctl_table_row(t, "connections_out", v[7]);
		ctl_table_row(t, "control_socket", ctl.path);
		ctl_table_print(t, r);
	}
	ctl_end(r);
}

static void
no_args(struct ctl_run *r, const char *usage, void (*then)(struct ctl_run *),
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

static void
cmd_show_info(struct ctl_run *r)
{
	no_args(r, "show info [json]", info_round, 0);
}

const struct ctl_cmd ctl_cmd_show_info = {
	.words = "show info",
	.args = "",
	.help = "version, uptime, workers, config, spool size",
	.changes = false,
	.run = cmd_show_info,
};

/* ---- show stats ------------------------------------------------------- */

static void
stats_round(struct ctl_run *r)
{
	int64_t up = time(NULL) - ctl.started;

	if (r->json) {
		json_t *tot = json_object(), *per = json_array();
		for (size_t k = 0; k < NSKEYS; k++)
			log_json_set(&tot, skeys[k].key,
				     json_integer((json_int_t)stotal(r, &skeys[k])));
		for (unsigned i = 0; i < ctl.nw; i++) {
			json_t *o = json_pack("{s:i}", "worker", (int)i);
			for (size_t k = 0; k < NSKEYS; k++)
				log_json_set(&o, skeys[k].key, json_integer(
					(json_int_t)sval(&r->reqs[i]->snap, &skeys[k])));
			log_json_append(&per, o);
		}
		ctl_json(r, json_pack("{s:I, s:i, s:I, s:o, s:o}", "uptime", (json_int_t)up,
				      "workers", (int)ctl.nw, "time", (json_int_t)time(NULL),
				      "totals", tot, "per_worker", per));
	} else {
		const char **heads = xcalloc(ctl.nw + 3, sizeof(*heads));
		char (*names)[16] = xcalloc(ctl.nw, sizeof(*names));
		const char **cells = xcalloc(ctl.nw + 2, sizeof(*cells));
		char (*vals)[24] = xcalloc(ctl.nw + 1, sizeof(*vals));
		struct ctl_table *t;

		heads[0] = "COUNTER";
		heads[1] = ">TOTAL";
		for (unsigned i = 0; i < ctl.nw; i++) {
			snprintf(names[i], sizeof(names[i]), ">W%u", i);
			heads[2 + i] = names[i];
		}
		t = ctl_table_new(heads);
		for (size_t k = 0; k < NSKEYS; k++) {
			cells[0] = skeys[k].key;
			snprintf(vals[0], sizeof(vals[0]), "%llu",
				 (unsigned long long)stotal(r, &skeys[k]));
			cells[1] = vals[0];
			for (unsigned i = 0; i < ctl.nw; i++) {
				snprintf(vals[1 + i], sizeof(vals[0]), "%llu",
					 (unsigned long long)sval(&r->reqs[i]->snap, &skeys[k]));
				cells[2 + i] = vals[1 + i];
			}
			ctl_table_rowv(t, cells);
		}
		ctl_table_print(t, r);
		free(heads);
		free(names);
		free(cells);
		free(vals);
	}
	ctl_end(r);
}

static void
cmd_show_stats(struct ctl_run *r)
{
	no_args(r, "show stats [json]", stats_round, 0);
}

const struct ctl_cmd ctl_cmd_show_stats = {
	.words = "show stats",
	.args = "",
	.help = "counters: sessions, messages and bytes in/out, deliveries "
		"by result, retries, bounces; per worker",
	.changes = false,
	.run = cmd_show_stats,
};

/* ---- show connectors ---------------------------------------------------- */

/* One connector; its last error is the next hop's reply and its
 * destination a host name from DNS: log_json_s.  NULL if jansson failed. */
static json_t *
agg_json(const struct conn_agg *g, int64_t now)
{
	char health[32], code[32];
	json_t *codes = json_object(), *o, *last = json_null();

	agg_health(g, health, sizeof(health));
	for (int c = 1; c < QUEUE_NCODES; c++)
		if (g->codes[c] > 0)
			log_json_set(&codes, mfi_name((enum mfi_code)c),
				     json_integer((json_int_t)g->codes[c]));
	if (g->last_time != 0) {
		code_text(g->last_code, g->last_error, code, sizeof(code));
		json_decref(last);
		last = json_pack("{s:s, s:s, s:o, s:o, s:o}", "code", code, "mfi",
				 mfi_name((enum mfi_code)g->last_code),
				 "text", log_json_s(g->last_error),
				 "destination", log_json_s(g->last_host),
				 "time", ctl_json_time(g->last_time));
	}
	o = json_pack("{s:s, s:s, s:b, s:s, s:b, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, "
		      "s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
		      "name", g->cfg.name, "state", agg_state(g),
		      "enabled", g->configured && g->cfg.enabled && !g->disabled,
		      "health", health, "up", g->ndown == 0, "hosts", g->cfg.hosts,
		      "destinations", (int)g->ndests, "destinations_down", (int)g->ndown,
		      "queued", (json_int_t)agg_queued(g), "ready", (json_int_t)g->nready,
		      "active", (json_int_t)g->nactive,
		      "deferred", (json_int_t)(g->ndeferred - g->nheld),
		      "held", (json_int_t)g->nheld, "connections", (json_int_t)g->nconns,
		      "attempts", (json_int_t)g->attempts, "delivered", (json_int_t)g->delivered,
		      "deferrals", (json_int_t)g->deferred, "bounced", (json_int_t)g->bounced,
		      "retries", (json_int_t)g->retries, "failures", codes, "last_error", last,
		      "last_attempt", ctl_json_time(g->last_attempt));
	if (g->oldest != 0) {
		log_json_set(&o, "oldest_queued", ctl_json_time(g->oldest));
		log_json_set(&o, "oldest_queued_age", json_integer(now - g->oldest));
		log_json_set(&o, "oldest_expires", ctl_json_time(g->oldest_expiry));
		log_json_set(&o, "oldest_expires_in", json_integer(g->oldest_expiry - now));
	} else {
		log_json_set(&o, "oldest_queued", json_null());
		log_json_set(&o, "oldest_queued_age", json_null());
		log_json_set(&o, "oldest_expires", json_null());
		log_json_set(&o, "oldest_expires_in", json_null());
	}
	return o;
}

static void
connectors_round(struct ctl_run *r)
{
	size_t n;
	struct conn_agg *a = merge_connectors(r, &n);
	int64_t now = time(NULL);
	const char *filter = r->argc > 0 ? r->argv[0] : NULL;

	if (filter != NULL && !r->reqs[0]->known) {
		free(a);
		ctl_fail(r, "no connector '%s'", filter);
		return;
	}
	if (r->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++)
			if (filter == NULL || strcmp(a[i].cfg.name, filter) == 0)
				log_json_append(&arr, agg_json(&a[i], now));
		ctl_json(r, json_pack("{s:o, s:o}", "time", ctl_json_time(now), "connectors",
				      arr));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"CONNECTOR", "STATE", "HEALTH", ">QUEUED", ">ACTIVE", ">DEFERRED", ">HELD",
			">OLDEST", ">EXPIRES-IN", "LAST-CODE", ">LAST-ATTEMPT", "DESTINATION",
			"LAST-ERROR", NULL });
		for (size_t i = 0; i < n; i++) {
			const struct conn_agg *g = &a[i];
			char health[32], q[24], ac[24], de[24], he[24], old[24], exp[24], code[32];
			char la[32];
			if (filter != NULL && strcmp(g->cfg.name, filter) != 0)
				continue;
			agg_health(g, health, sizeof(health));
			snprintf(q, sizeof(q), "%llu", (unsigned long long)agg_queued(g));
			snprintf(ac, sizeof(ac), "%llu", (unsigned long long)g->nactive);
			snprintf(de, sizeof(de), "%llu",
				 (unsigned long long)(g->ndeferred - g->nheld));
			snprintf(he, sizeof(he), "%llu", (unsigned long long)g->nheld);
			ctl_fmt_age(g->oldest ? now - g->oldest : -1, old, sizeof(old));
			ctl_fmt_age(g->oldest ? g->oldest_expiry - now : -1, exp, sizeof(exp));
			code_text(g->last_time ? g->last_code : 0, g->last_error, code,
				  sizeof(code));
			if (g->last_attempt != 0) {
				ctl_fmt_age(now - g->last_attempt, la, sizeof(la));
				strncat(la, " ago", sizeof(la) - strlen(la) - 1);
			} else {
				snprintf(la, sizeof(la), "-");
			}
			/* the next hop's text, escaped for the terminal */
			ctl_table_row(t, g->cfg.name, agg_state(g), health, q, ac, de, he, old,
				      exp, code, la, g->last_host[0] ? LOG_TEXT(g->last_host)
								      : (g->cfg.hosts[0] ? g->cfg.hosts : "-"),
				      g->last_time ? LOG_TEXT(g->last_error) : "-");
		}
		ctl_table_print(t, r);
	}
	free(a);
	ctl_end(r);
}

static void
cmd_show_connectors(struct ctl_run *r)
{
	struct ctl_wreq tmpl = { .kind = CTL_W_SNAP, .flags = CTL_SNAP_DESTS | CTL_SNAP_SCAN,
				 .alert_age = ctl.alert_age };

	if (r->argc > 1) {
		ctl_fail(r, "usage: show connectors [CONNECTOR] [json]");
		return;
	}
	if (r->argc == 1)
		snprintf(tmpl.connector, sizeof(tmpl.connector), "%s", r->argv[0]);
	r->on_round = connectors_round;
	ctl_round(r, &tmpl);
}

const struct ctl_cmd ctl_cmd_show_connectors = {
	.words = "show connectors",
	.args = "[CONNECTOR]",
	.help = "per connector: state, health, queue, oldest message and "
		"its expiry, last error and where it came from",
	.changes = false,
	.run = cmd_show_connectors,
};

/* ---- alerts ----------------------------------------------------------- */

/* One connector's alert state. */
struct alert {
	char connector[CTL_NAME_MAX];	/* which */
	bool open;			/* raised, not cleared */
	int64_t since;			/* unix s it was raised */
	uint8_t code;			/* dominant enum mfi_code */
	char code_text[32];		/* its status, for people */
	uint64_t old;			/* messages older than alert_age */
	uint64_t queued;		/* all queued */
	int64_t oldest;			/* arrival of the oldest */
	char last_error[256];		/* connector's last failure */
	char last_host[128];		/* and where from */
};

static struct alert *alerts;		/* one per connector seen */
static size_t nalerts;
static struct ctl_run *alert_run;	/* the periodic check in flight */

static struct alert *
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

static void
alert_log(const struct alert *al, const char *state)
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
			      "meaning", mfi_meaning((enum mfi_code)al->code),
			      "fix", mfi_fix((enum mfi_code)al->code),
			      "last_error", log_json_s(al->last_error)),
		 "alert");
}

/* The most frequent failure code among g's old messages (else its last). */
static uint8_t
dominant(const struct conn_agg *g)
{
	uint8_t best = MFI_NONE;

	for (int c = 1; c < QUEUE_NCODES; c++)
		if (g->old_codes[c] > (best ? g->old_codes[best] : 0))
			best = (uint8_t)c;
	if (best == MFI_NONE && g->last_time != 0)
		best = g->last_code;
	return best;
}

/* Raise and clear alerts from an ALERT round's answers. */
static void
alerts_update(struct ctl_run *r)
{
	size_t n;
	struct conn_agg *a = merge_connectors(r, &n);
	int64_t now = time(NULL);

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
		const struct conn_agg *g = &a[k];
		bool cond = g->old >= ctl.alert_threshold && ctl.alert_threshold > 0;
		struct alert *al;
		if (!cond) {
			for (size_t i = 0; i < nalerts; i++)
				if (alerts[i].open && strcmp(alerts[i].connector, g->cfg.name) == 0) {
					alerts[i].open = false;
					alerts[i].old = g->old;
					alerts[i].queued = agg_queued(g);
					alert_log(&alerts[i], "cleared");
				}
			continue;
		}
		al = alert_get(g->cfg.name);
		al->code = dominant(g);
		code_text(al->code, g->last_error, al->code_text, sizeof(al->code_text));
		al->old = g->old;
		al->queued = agg_queued(g);
		al->oldest = g->oldest;
		snprintf(al->last_error, sizeof(al->last_error), "%s", g->last_error);
		snprintf(al->last_host, sizeof(al->last_host), "%s", g->last_host);
		if (!al->open) {
			al->open = true;
			al->since = now;
			alert_log(al, "raised");
		}
	}
	free(a);
}

static void
alert_round(struct ctl_run *r)
{
	alerts_update(r);
	ctl_end(r);
}

static void
alert_run_free(struct ctl_run *r)
{
	alert_run = NULL;
}

static void
alert_check(struct ctl_run *r, void (*then)(struct ctl_run *))
{
	struct ctl_wreq tmpl = { .kind = CTL_W_SNAP, .flags = CTL_SNAP_DESTS | CTL_SNAP_ALERT,
				 .alert_threshold = ctl.alert_threshold,
				 .alert_age = ctl.alert_age };

	r->on_round = then;
	ctl_round(r, &tmpl);
}

void
ctl_alerts_tick(void)
{
	if (alert_run != NULL || ctl.nw == 0)
		return;
	alert_run = ctl_run_new(NULL);
	alert_run->on_free = alert_run_free;
	alert_check(alert_run, alert_round);
}

void
ctl_alerts_fini(void)
{
	free(alerts);
	alerts = NULL;
	nalerts = 0;
}

/* ---- show insights ---------------------------------------------------- */

static void
insights_round(struct ctl_run *r)
{
	int64_t now = time(NULL);
	char agebuf[32];
	size_t open = 0;

	alerts_update(r);
	ctl_fmt_age(ctl.alert_age, agebuf, sizeof(agebuf));
	for (size_t i = 0; i < nalerts; i++)
		open += alerts[i].open;
	if (r->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < nalerts; i++) {
			const struct alert *al = &alerts[i];
			if (!al->open)
				continue;
			log_json_append(&arr, json_pack(
				"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:o, s:o, s:o}",
				"connector", al->connector, "code", al->code_text,
				"mfi", mfi_name((enum mfi_code)al->code),
				"meaning", mfi_meaning((enum mfi_code)al->code),
				"fix", mfi_fix((enum mfi_code)al->code),
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
		json_t *tarr = json_array();
		ctl_tenant_insights(r, &tarr);
		ctl_json(r, json_pack("{s:{s:i, s:i}, s:o, s:o}", "settings", "alert_threshold",
				      (int)ctl.alert_threshold, "alert_age", (int)ctl.alert_age,
				      "alerts", arr, "tenants", tarr));
		ctl_end(r);
		return;
	}
	if (open == 0) {
		ctl_printf(r, "no open alerts (an alert needs %u messages queued at one "
			      "connector for more than %s)\n", ctl.alert_threshold, agebuf);
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
		const struct alert *al = &alerts[i];
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
		const struct alert *al = &alerts[i];
		if (!al->open)
			continue;
		ctl_printf(r, "%s: what happened: %s\n", al->connector,
			   mfi_meaning((enum mfi_code)al->code));
		ctl_printf(r, "%s: how to fix: %s\n", al->connector,
			   mfi_fix((enum mfi_code)al->code));
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
	ctl_tenant_insights(r, NULL);
	ctl_end(r);
}

static void
cmd_show_insights(struct ctl_run *r)
{
	if (r->argc > 0) {
		ctl_fail(r, "usage: show insights [json]");
		return;
	}
	alert_check(r, insights_round);
}

const struct ctl_cmd ctl_cmd_show_insights = {
	.words = "show insights",
	.args = "",
	.help = "open queue alerts with their code, meaning and fix",
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

/* ---- qshape ----------------------------------------------------------- */

static const char *const bucket_names[CTL_NBUCKETS] = {
	"5", "10", "20", "40", "80", "160", "320", "640", "1280", "1280+", "",
};

/* One destination's age profile, merged across workers. */
struct shape {
	char name[256];			/* destination */
	char connector[CTL_NAME_MAX];	/* its connector */
	uint64_t total;			/* jobs */
	uint64_t b[CTL_NBUCKETS];	/* by age */
};

static int
shape_cmp(const void *a, const void *b)
{
	const struct shape *x = a, *y = b;

	if (x->total != y->total)
		return x->total < y->total ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void
qshape_round(struct ctl_run *r)
{
	struct shape *sh = NULL, tot = { .name = "TOTAL" };
	size_t n = 0;
	const unsigned nb = CTL_NBUCKETS - 1;	/* shown buckets */

	if (r->argc > 0 && !r->reqs[0]->known) {
		ctl_fail(r, "no connector '%s'", r->argv[0]);
		return;
	}
	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->ndests; i++) {
			const struct ctl_dest_snap *d = &s->dests[i];
			struct shape *x = NULL;
			for (size_t k = 0; k < n && x == NULL; k++)
				if (strcmp(sh[k].name, d->name) == 0)
					x = &sh[k];
			if (x == NULL) {
				sh = xrealloc(sh, (n + 1) * sizeof(*sh));
				x = &sh[n++];
				memset(x, 0, sizeof(*x));
				snprintf(x->name, sizeof(x->name), "%s", d->name);
				snprintf(x->connector, sizeof(x->connector), "%s", d->connector);
			}
			for (unsigned b = 0; b < nb; b++) {
				/* the last real bucket is "1280+" */
				uint64_t v = d->buckets[b] + (b == nb - 1 ? d->buckets[nb] : 0);
				x->b[b] += v;
				x->total += v;
				tot.b[b] += v;
				tot.total += v;
			}
		}
	}
	/* show only destinations with mail */
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (sh[i].total > 0)
			sh[m++] = sh[i];
	n = m;
	if (n > 1)
		qsort(sh, n, sizeof(*sh), shape_cmp);
	if (r->json) {
		json_t *names = json_array(), *dests = json_array();
		for (unsigned b = 0; b < nb; b++)
			log_json_append(&names, log_json_s(bucket_names[b]));
		for (size_t i = 0; i <= n; i++) {
			const struct shape *x = i == 0 ? &tot : &sh[i - 1];
			json_t *bk = json_array();
			for (unsigned b = 0; b < nb; b++)
				log_json_append(&bk, json_integer((json_int_t)x->b[b]));
			if (i == 0)
				log_json_append(&dests, json_pack("{s:s, s:I, s:o}", "name",
								  "TOTAL", "T",
								  (json_int_t)x->total, "buckets",
								  bk));
			else	/* a destination's name holds a recipient domain */
				log_json_append(&dests, json_pack(
					"{s:o, s:s, s:I, s:o}", "name", log_json_s(x->name),
					"connector", x->connector, "T", (json_int_t)x->total,
					"buckets", bk));
		}
		ctl_json(r, json_pack("{s:s, s:o, s:o}", "unit", "minutes", "buckets", names,
				      "destinations", dests));
	} else {
		const char *heads[CTL_NBUCKETS + 3];
		char hb[CTL_NBUCKETS][12];
		char vals[CTL_NBUCKETS + 1][24];
		const char *cells[CTL_NBUCKETS + 2];
		struct ctl_table *t;
		heads[0] = "DESTINATION";
		heads[1] = ">T";
		for (unsigned b = 0; b < nb; b++) {
			snprintf(hb[b], sizeof(hb[b]), ">%s", bucket_names[b]);
			heads[2 + b] = hb[b];
		}
		heads[2 + nb] = NULL;
		t = ctl_table_new(heads);
		for (size_t i = 0; i <= n; i++) {
			const struct shape *x = i == 0 ? &tot : &sh[i - 1];
			cells[0] = x->name;
			snprintf(vals[0], sizeof(vals[0]), "%llu", (unsigned long long)x->total);
			cells[1] = vals[0];
			for (unsigned b = 0; b < nb; b++) {
				snprintf(vals[1 + b], sizeof(vals[0]), "%llu",
					 (unsigned long long)x->b[b]);
				cells[2 + b] = vals[1 + b];
			}
			ctl_table_rowv(t, cells);
		}
		ctl_table_print(t, r);
	}
	free(sh);
	ctl_end(r);
}

static void
cmd_qshape(struct ctl_run *r)
{
	struct ctl_wreq tmpl = { .kind = CTL_W_SNAP, .flags = CTL_SNAP_DESTS | CTL_SNAP_SCAN,
				 .alert_age = ctl.alert_age };

	if (r->argc > 1) {
		ctl_fail(r, "usage: qshape [CONNECTOR] [json]");
		return;
	}
	if (r->argc == 1)
		snprintf(tmpl.connector, sizeof(tmpl.connector), "%s", r->argv[0]);
	r->on_round = qshape_round;
	ctl_round(r, &tmpl);
}

const struct ctl_cmd ctl_cmd_qshape = {
	.words = "qshape",
	.args = "[CONNECTOR]",
	.help = "queued messages per destination by age in minutes",
	.changes = false,
	.run = cmd_qshape,
};

/* ---- show metrics ----------------------------------------------------- */

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
	size_t n;
	struct conn_agg *a;
	int64_t now = time(NULL);

	alerts_update(r);
	a = merge_connectors(r, &n);
	prom_family(&b, "sluice_build_info", "gauge", "Version of sluiced (always 1).");
	buf_puts(&b, "sluice_build_info{version=\"");
	prom_label(&b, ctl.version);
	buf_puts(&b, "\"} 1\n");
	prom_family(&b, "sluice_start_time_seconds", "gauge",
		    "Unix time sluiced started.");
	buf_printf(&b, "sluice_start_time_seconds %lld\n", (long long)ctl.started);
	prom_family(&b, "sluice_workers", "gauge", "Worker threads.");
	buf_printf(&b, "sluice_workers %u\n", ctl.nw);
	for (size_t k = 0; k < NSKEYS; k++) {
		prom_family(&b, skeys[k].metric, skeys[k].counter ? "counter" : "gauge",
			    skeys[k].help);
		buf_printf(&b, "%s %llu\n", skeys[k].metric,
			   (unsigned long long)stotal(r, &skeys[k]));
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
			const struct conn_agg *g = &a[i];
			long long v = 0;
			switch (gi) {
			case 0: v = g->configured && g->cfg.enabled && !g->disabled; break;
			case 1: v = g->ndown == 0; break;
			case 2: v = (long long)agg_queued(g); break;
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
	for (size_t i = 0; i < nalerts; i++)
		if (alerts[i].open)
			prom_conn(&b, "sluice_alert", alerts[i].connector, "code",
				  alerts[i].code_text, 1);
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
	no_args(r, "show metrics", metrics_round, CTL_SNAP_DESTS | CTL_SNAP_ALERT);
}

const struct ctl_cmd ctl_cmd_show_metrics = {
	.words = "show metrics",
	.args = "",
	.help = "Prometheus text exposition",
	.changes = false,
	.run = cmd_show_metrics,
};
