/*
 * ctl_show — the read-only commands of the control socket that show the
 * workers' state as people and scripts read it: show info, show stats,
 * show connectors and qshape, on the control thread.
 *
 * Each command sends one snapshot request to every worker (ctl_round,
 * core/ctl/ctl_snap.h) and merges the answers: counters are summed,
 * destinations are merged by connector (show connectors) or by name
 * (qshape).  The queue alerts and show insights are core/ctl/ctl_alert.c;
 * show metrics is core/ctl/ctl_metrics.c.
 */
#include "core/ctl/ctl_show.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_snap.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/trace/trace.h"
#include "core/xalloc.h"

/* ---- show info -------------------------------------------------------- */

/* The cluster link as JSON: null without redis:, else its state, the
 * server it talks to, how that was found and why it is down. */
static json_t *
redis_json(const struct ctl_redis_state *st)
{
	char since[32];

	if (st->up < 0)
		return json_null();
	ctl_fmt_time((int64_t)st->since, since, sizeof(since));
	return json_pack("{s:s, s:o, s:o, s:I, s:o, s:s}", "state", st->up ? "up" : "down",
			 "address", st->addr[0] ? log_json_s(st->addr) : json_null(),
			 "master", st->master[0] ? log_json_s(st->master) : json_null(),
			 "sentinels", (json_int_t)st->nsentinels,
			 "error", st->why[0] ? log_json_s(st->why) : json_null(),
			 "since", since);
}

/* The same as one line: "up, 127.0.0.1:6380 (master mymaster, from 3
 * sentinels), since ..." or "down since ...: <reason>". */
static void
redis_text(const struct ctl_redis_state *st, char *out, size_t len)
{
	char since[32], from[192] = "";

	if (st->up < 0) {
		snprintf(out, len, "not configured (quotas counted on this node only)");
		return;
	}
	ctl_fmt_time((int64_t)st->since, since, sizeof(since));
	if (st->nsentinels > 0)
		snprintf(from, sizeof(from), " (master %s, from %zu sentinel%s)", st->master,
			 st->nsentinels, st->nsentinels == 1 ? "" : "s");
	if (st->up)
		snprintf(out, len, "up, %s%s, since %s", st->addr, from, since);
	else
		snprintf(out, len, "down since %s: %s", since, st->why);
}

static void
info_round(struct ctl_run *r)
{
	const struct ctl_snap *s0 = &r->reqs[0]->snap;
	uint64_t spool = 0, queued = 0, mem = 0, sess = 0, conns = 0, segs = 0, age = 0;
	int64_t up = time(NULL) - ctl.started;
	char started[32], upt[32];
	struct ctl_redis_state rs;

	ctl_redis_state(&rs);

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
				      "s:I, s:I, s:I, s:I, s:I, s:o}",
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
				      (json_int_t)conns, "redis", redis_json(&rs)));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){ "KEY", "VALUE", NULL });
		char v[10][96], redis[640];
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
		redis_text(&rs, redis, sizeof(redis));
		ctl_table_row(t, "redis", redis);
		ctl_table_print(t, r);
	}
	ctl_end(r);
}

static void
cmd_show_info(struct ctl_run *r)
{
	ctl_snap_round(r, "show info [json]", info_round, 0);
}

const struct ctl_cmd ctl_cmd_show_info = {
	.words = "show info",
	.args = "",
	.help = "version, uptime, workers, config, spool size",
	.changes = false,
	.run = cmd_show_info,
};

/* ---- show stats ------------------------------------------------------- */

/* The message trace's counters (core/trace/trace.h): JSON, or null when
 * it is not running. */
static json_t *
trace_stats_json(void)
{
	struct trace *t = trace_running(NULL, 0);
	struct trace_stats st;

	if (t == NULL)
		return json_null();
	trace_get_stats(t, &st);
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "trace.records", (json_int_t)st.records,
			 "trace.dropped", (json_int_t)st.dropped,
			 "trace.batches", (json_int_t)st.batches,
			 "trace.errors", (json_int_t)st.errors,
			 "trace.pruned", (json_int_t)st.pruned,
			 "trace.bytes", (json_int_t)st.used,
			 "trace.pending", (json_int_t)st.pending);
}

/* The same as a line under the table. */
static void
trace_stats_text(struct ctl_run *r)
{
	struct trace *t = trace_running(NULL, 0);
	struct trace_stats st;

	if (t == NULL)
		return;
	trace_get_stats(t, &st);
	ctl_printf(r, "trace: %llu records stored in %llu transactions, %llu dropped (the "
		   "writer behind), %llu lost to errors, %llu messages pruned, %llu bytes in "
		   "the database, %llu bytes waiting\n", (unsigned long long)st.records,
		   (unsigned long long)st.batches, (unsigned long long)st.dropped,
		   (unsigned long long)st.errors, (unsigned long long)st.pruned,
		   (unsigned long long)st.used, (unsigned long long)st.pending);
}

static void
stats_round(struct ctl_run *r)
{
	int64_t up = time(NULL) - ctl.started;

	if (r->json) {
		json_t *tot = json_object(), *per = json_array();
		for (size_t k = 0; k < ctl_nskeys; k++)
			log_json_set(&tot, ctl_skeys[k].key,
				     json_integer((json_int_t)ctl_skey_total(r, &ctl_skeys[k])));
		for (unsigned i = 0; i < ctl.nw; i++) {
			json_t *o = json_pack("{s:i}", "worker", (int)i);
			for (size_t k = 0; k < ctl_nskeys; k++)
				log_json_set(&o, ctl_skeys[k].key, json_integer(
					(json_int_t)ctl_skey_value(&r->reqs[i]->snap, &ctl_skeys[k])));
			log_json_append(&per, o);
		}
		ctl_json(r, json_pack("{s:I, s:i, s:I, s:o, s:o, s:o}", "uptime", (json_int_t)up,
				      "workers", (int)ctl.nw, "time", (json_int_t)time(NULL),
				      "totals", tot, "per_worker", per,
				      "trace", trace_stats_json()));
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
		for (size_t k = 0; k < ctl_nskeys; k++) {
			cells[0] = ctl_skeys[k].key;
			snprintf(vals[0], sizeof(vals[0]), "%llu",
				 (unsigned long long)ctl_skey_total(r, &ctl_skeys[k]));
			cells[1] = vals[0];
			for (unsigned i = 0; i < ctl.nw; i++) {
				snprintf(vals[1 + i], sizeof(vals[0]), "%llu",
					 (unsigned long long)ctl_skey_value(&r->reqs[i]->snap, &ctl_skeys[k]));
				cells[2 + i] = vals[1 + i];
			}
			ctl_table_rowv(t, cells);
		}
		ctl_table_print(t, r);
		trace_stats_text(r);
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
	ctl_snap_round(r, "show stats [json]", stats_round, 0);
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

/* The last error's meaning, fix and who acts (core/mfi/mfi.h), as the
 * queue flyout of Exchange Online shows them beside the code: Sluice's
 * own codes have theirs, a destination's reply those of its enhanced
 * status when it has texts. */
static void
last_error_advice(json_t **last, const struct ctl_conn_agg *g)
{
	char st[MFI_STATUS_MAX];
	const char *status = g->last_code == MFI_REMOTE
			     ? mfi_reply_status(g->last_error, atoi(g->last_error), st)
			     : mfi_status((enum mfi_code)g->last_code);
	struct mfi_advice adv;

	if (!mfi_advice((enum mfi_code)g->last_code, status, &adv))
		return;
	log_json_set(last, "meaning", log_json_s(adv.meaning));
	log_json_set(last, "fix", log_json_s(adv.fix));
	log_json_set(last, "who", log_json_s(adv.who));
}

/* One connector; its last error is the next hop's reply and its
 * destination a host name from DNS: log_json_s.  NULL if jansson failed. */
static json_t *
agg_json(const struct ctl_conn_agg *g, int64_t now)
{
	char health[32], code[32];
	json_t *codes = json_object(), *o, *last = json_null();

	ctl_agg_health(g, health, sizeof(health));
	for (int c = 1; c < QUEUE_NCODES; c++)
		if (g->codes[c] > 0)
			log_json_set(&codes, mfi_name((enum mfi_code)c),
				     json_integer((json_int_t)g->codes[c]));
	if (g->last_time != 0) {
		ctl_code_text(g->last_code, g->last_error, code, sizeof(code));
		json_decref(last);
		last = json_pack("{s:s, s:s, s:o, s:o, s:o}", "code", code, "mfi",
				 mfi_name((enum mfi_code)g->last_code),
				 "text", log_json_s(g->last_error),
				 "destination", log_json_s(g->last_host),
				 "time", ctl_json_time(g->last_time));
		if (last != NULL)
			last_error_advice(&last, g);
	}
	o = json_pack("{s:s, s:s, s:b, s:s, s:b, s:s, s:i, s:i, s:I, s:I, s:I, s:I, s:I, "
		      "s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}",
		      "name", g->cfg.name, "state", ctl_agg_state(g),
		      "enabled", g->configured && g->cfg.enabled && !g->disabled,
		      "health", health, "up", g->ndown == 0, "hosts", g->cfg.hosts,
		      "destinations", (int)g->ndests, "destinations_down", (int)g->ndown,
		      "queued", (json_int_t)ctl_agg_queued(g), "ready", (json_int_t)g->nready,
		      "active", (json_int_t)g->nactive,
		      "deferred", (json_int_t)(g->ndeferred - g->nheld),
		      "held", (json_int_t)g->nheld, "connections", (json_int_t)g->nconns,
		      "attempts", (json_int_t)g->attempts, "delivered", (json_int_t)g->delivered,
		      "deferrals", (json_int_t)g->deferred, "bounced", (json_int_t)g->bounced,
		      "retries", (json_int_t)g->retries, "failures", codes, "last_error", last,
		      "last_attempt", ctl_json_time(g->last_attempt));
	if (ctl_cluster_on()) {
		char node[CTL_CL_NODE];
		log_json_set(&o, "state_source",
			     g->disabled && ctl_cluster_source(CTL_CL_DISABLE, g->cfg.name, node,
							       sizeof(node))
				     ? json_pack("{s:s, s:s}", "from", "cluster", "node", node)
				     : log_json_s(g->disabled ? "local" : "config"));
	}
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
	struct ctl_conn_agg *a = ctl_agg_merge(r, &n);
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
			const struct ctl_conn_agg *g = &a[i];
			char health[32], q[24], ac[24], de[24], he[24], old[24], exp[24], code[32];
			char la[32];
			if (filter != NULL && strcmp(g->cfg.name, filter) != 0)
				continue;
			ctl_agg_health(g, health, sizeof(health));
			snprintf(q, sizeof(q), "%llu", (unsigned long long)ctl_agg_queued(g));
			snprintf(ac, sizeof(ac), "%llu", (unsigned long long)g->nactive);
			snprintf(de, sizeof(de), "%llu",
				 (unsigned long long)(g->ndeferred - g->nheld));
			snprintf(he, sizeof(he), "%llu", (unsigned long long)g->nheld);
			ctl_fmt_age(g->oldest ? now - g->oldest : -1, old, sizeof(old));
			ctl_fmt_age(g->oldest ? g->oldest_expiry - now : -1, exp, sizeof(exp));
			ctl_code_text(g->last_time ? g->last_code : 0, g->last_error, code,
				  sizeof(code));
			if (g->last_attempt != 0) {
				ctl_fmt_age(now - g->last_attempt, la, sizeof(la));
				strncat(la, " ago", sizeof(la) - strlen(la) - 1);
			} else {
				snprintf(la, sizeof(la), "-");
			}
			/* the next hop's text, escaped for the terminal */
			char node[CTL_CL_NODE];
			ctl_table_row(t, g->cfg.name,
				      g->disabled && ctl_cluster_source(CTL_CL_DISABLE, g->cfg.name,
									node, sizeof(node))
					      ? "disabled (cluster)" : ctl_agg_state(g), health, q, ac, de, he, old,
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
