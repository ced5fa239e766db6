/*
 * ctl_worker — the part of the control socket that runs on a worker
 * thread: drain the worker's MPSC queue at the start of a turn, fill each
 * request's answer from the worker's own state (counters, queue,
 * destinations), mark it done and wake the control thread.
 *
 * Not for: formatting or merging (the control thread does that).
 *
 * The worker never blocks here: it copies what it owns into the request
 * (arrays it malloc()s and the control thread frees), and the amount of
 * work per request is bounded (show queue: CTL_CHUNK rows; actions:
 * CTL_ACT_BUDGET messages; patterns: CTL_MATCH_BUDGET bytes compared;
 * alert checks: only the oldest messages), except CTL_SNAP_SCAN, a walk of
 * the whole queue that only show connectors and qshape ask for.  show
 * message reads at most CTL_HEAD_MAX bytes of one message from the spool
 * (one pread, as an NDR reads its original's headers).  An alert notice
 * (CTL_W_NOTICE) comes built: the worker only spools and queues it.
 * After `done` is stored the request is the control thread's: it is not
 * touched again.
 */
#include "core/ctl/ctl_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ctl/ctl_run.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"
#include "net/smtp_server.h"
#include "queue/retry.h"
#include "queue/spool.h"

#define QROW_SCAN_MAX (CTL_CHUNK * 20)	/* messages looked at per chunk */

static const struct cfg_connector *
conn_of(const struct worker *w, const char *name)
{
	return config_connector_find(w->cfg, name);
}

/* Age bucket of qshape: 5 10 20 40 80 160 320 640 1280 minutes, 1280+. */
static unsigned
bucket(int64_t age)
{
	int64_t min = age / 60, lim = 5;
	unsigned b = 0;

	while (b < CTL_NBUCKETS - 1 && min >= lim) {
		b++;
		lim *= 2;
	}
	return b;
}

static void
snap_config(struct worker *w, struct ctl_wreq *q)
{
	const struct config *cfg = w->cfg;
	struct ctl_snap *s = &q->snap;

	snprintf(s->cfg_path, sizeof(s->cfg_path), "%s", cfg->path);
	snprintf(s->hostname, sizeof(s->hostname), "%s", cfg->hostname);
	snprintf(s->spool_dir, sizeof(s->spool_dir), "%s", cfg->spool_dir);
	s->hops_limit = cfg->limits.hops;
	s->nconn = cfg->nconnectors;
	s->conns = xcalloc(cfg->nconnectors, sizeof(*s->conns));
	for (size_t i = 0; i < cfg->nconnectors; i++) {
		const struct cfg_connector *c = &cfg->connectors[i];
		struct ctl_conn_cfg *o = &s->conns[i];
		struct strb hosts;
		strb_init(&hosts, o->hosts, sizeof(o->hosts));
		snprintf(o->name, sizeof(o->name), "%s", c->name);
		o->enabled = c->enabled;
		o->mx = c->mx;
		o->cert_warning = c->cert_warning;
		o->tls = (uint8_t)c->tls;
		o->expiry = c->expiry;
		for (uint32_t d = 0; d < w->q->ndisabled; d++)
			if (strcmp(w->q->disabled[d], c->name) == 0)
				o->disabled = true;
		if (c->mx)
			strb_puts(&hosts, "MX");
		for (size_t h = 0; !c->mx && h < c->nhosts; h++)
			strb_printf(&hosts, "%s%s:%u", h ? " " : "", c->hosts[h].name,
				    (unsigned)c->hosts[h].port);
	}
}

/* Per-destination counters; d->ctl_idx indexes s->dests (or UINT32_MAX).
 * Then the certificates the destinations' hosts showed. */
static void
snap_dests(struct worker *w, struct ctl_wreq *q, uint32_t *expiry)
{
	struct queue *qu = w->q;
	struct ctl_snap *s = &q->snap;
	size_t n = 0, ncerts = 0;

	s->dests = xcalloc(qu->ndests, sizeof(*s->dests));
	for (uint32_t i = 0; i < qu->ndestslots; i++)
		for (struct dest *d = qu->dests[i]; d != NULL; d = d->hnext) {
			struct ctl_dest_snap *o;
			d->ctl_idx = UINT32_MAX;
			if (q->connector[0] && strcmp(q->connector, d->connector) != 0)
				continue;
			d->ctl_idx = (uint32_t)n;
			o = &s->dests[n];
			expiry[n++] = queue_dest_policy(w, d)->expiry;
			snprintf(o->name, sizeof(o->name), "%s", d->name);
			snprintf(o->connector, sizeof(o->connector), "%s", d->connector);
			o->down = d->down;
			o->disabled = d->disabled;
			o->nready = d->nready;
			o->ndeferred = d->ndeferred;
			o->nactive = d->nactive;
			o->nconns = d->nconns;
			o->failures = d->failures;
			o->st = d->st;
			ncerts += d->ncerts;
		}
	s->ndests = n;
	if (ncerts == 0)
		return;
	s->certs = xcalloc(ncerts, sizeof(*s->certs));
	for (uint32_t i = 0; i < qu->ndestslots; i++)
		for (struct dest *d = qu->dests[i]; d != NULL; d = d->hnext)
			for (uint32_t k = 0; d->ctl_idx != UINT32_MAX && k < d->ncerts; k++) {
				struct ctl_cert_snap *o = &s->certs[s->ncerts++];
				snprintf(o->connector, sizeof(o->connector), "%s", d->connector);
				o->c = d->certs[k];
			}
}

/* Walk every message: states, oldest, ages, old jobs and their codes. */
static void
snap_scan(struct worker *w, struct ctl_wreq *q, const uint32_t *expiry)
{
	int64_t now = time(NULL);
	struct ctl_snap *s = &q->snap;

	for (struct list *l = w->q->all.next; l != &w->q->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		int64_t age = now - m->env->arrival;
		for (struct list *k = m->jobs.next; k != &m->jobs; k = k->next) {
			struct qjob *j = container_of(k, struct qjob, mlink);
			uint32_t i = j->dest->ctl_idx;
			struct ctl_dest_snap *o;
			if (i == UINT32_MAX)
				continue;
			o = &s->dests[i];
			if (j->state == QJOB_HELD)
				o->nheld++;
			if (o->oldest == 0 || m->env->arrival < o->oldest) {
				o->oldest = m->env->arrival;
				o->oldest_expiry = m->env->arrival + expiry[i];
			}
			o->buckets[bucket(age)]++;
			if (age > (int64_t)q->alert_age) {
				o->old++;
				o->old_codes[j->last_code < QUEUE_NCODES ? j->last_code : 0]++;
			}
		}
	}
}

/*
 * Walk the oldest messages only (the queue is in arrival order): each
 * destination's oldest job, and its jobs older than alert_age until it
 * has alert_threshold of them.
 */
static void
snap_alert(struct worker *w, struct ctl_wreq *q, const uint32_t *expiry)
{
	struct ctl_snap *s = &q->snap;
	int64_t now = time(NULL);
	uint32_t need_oldest = 0, undecided = 0;
	bool *decided = xcalloc(s->ndests, sizeof(*decided));

	for (size_t i = 0; i < s->ndests; i++) {
		const struct ctl_dest_snap *o = &s->dests[i];
		if (o->nready + o->ndeferred + o->nactive > 0) {
			need_oldest++;
			undecided++;
		}
	}
	for (struct list *l = w->q->all.next; l != &w->q->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		bool old = now - m->env->arrival > (int64_t)q->alert_age;
		if (!old)
			undecided = 0;		/* younger ones follow */
		if (undecided == 0 && need_oldest == 0)
			break;
		for (struct list *k = m->jobs.next; k != &m->jobs; k = k->next) {
			struct qjob *j = container_of(k, struct qjob, mlink);
			uint32_t i = j->dest->ctl_idx;
			struct ctl_dest_snap *o;
			if (i == UINT32_MAX)
				continue;
			o = &s->dests[i];
			if (o->oldest == 0) {
				o->oldest = m->env->arrival;
				o->oldest_expiry = m->env->arrival + expiry[i];
				if (need_oldest > 0)
					need_oldest--;
			}
			if (old && !decided[i]) {
				o->old++;
				o->old_codes[j->last_code < QUEUE_NCODES ? j->last_code : 0]++;
				if (o->old >= q->alert_threshold) {
					decided[i] = true;
					if (undecided > 0)
						undecided--;
				}
			}
		}
	}
	free(decided);
}

static void
do_snap(struct worker *w, struct ctl_wreq *q)
{
	struct ctl_snap *s = &q->snap;
	uint32_t *expiry = NULL;
	struct spool_stats ss;
	int64_t now = time(NULL);

	s->st = w->st;
	s->nsessions = smtp_server_sessions(w);
	s->nconns = w->q->nconns;
	spool_stats(w->spool, &ss);
	s->spool_bytes = ss.bytes;
	s->spool_segments = ss.segments;
	s->spool_age = ss.oldest > 0 && ss.oldest < now ? (uint64_t)(now - ss.oldest) : 0;
	s->qmem = w->q->mem;
	s->data_mem = smtp_server_data_mem(w);
	s->nmsgs = w->q->nmsgs;
	snap_config(w, q);
	q->known = q->connector[0] == '\0' || conn_of(w, q->connector) != NULL;
	if (!(q->flags & (CTL_SNAP_DESTS | CTL_SNAP_SCAN | CTL_SNAP_ALERT)))
		return;
	expiry = xcalloc(w->q->ndests, sizeof(*expiry));
	snap_dests(w, q, expiry);
	if (q->flags & CTL_SNAP_SCAN)
		snap_scan(w, q, expiry);
	else if (q->flags & CTL_SNAP_ALERT)
		snap_alert(w, q, expiry);
	free(expiry);
	if (q->flags & CTL_SNAP_ALERT)		/* what the alert notices need */
		q->cfg = config_hold(w->cfg);
	if (q->flags & CTL_SNAP_ALERT) {	/* the loop insight: usually none */
		struct smtp_loop loops[SMTP_LOOPS_MAX];
		s->nloops = smtp_server_loops(w, now, loops, SMTP_LOOPS_MAX);
		if (s->nloops > 0) {
			s->loops = xmalloc(s->nloops * sizeof(*s->loops));
			memcpy(s->loops, loops, s->nloops * sizeof(*s->loops));
		}
	}
}

/* ---- show queue ------------------------------------------------------ */

static uint32_t
arena_str(struct buf *a, const char *s)
{
	uint32_t off = (uint32_t)a->len;

	buf_puts(a, s ? s : "");
	buf_append(a, "", 1);
	return off;
}

/* State order for a message: the most "alive" of its jobs. */
static int
state_rank(uint8_t st)
{
	switch (st) {
	case QJOB_ACTIVE: return 3;
	case QJOB_READY: return 2;
	case QJOB_DEFERRED: return 1;
	default: return 0;		/* held */
	}
}

/* Does name have a place here: in the config, or still named by a
 * destination (a connector a reload removed, with mail left at it)? */
static bool
conn_known(struct worker *w, const char *name)
{
	struct queue *qu = w->q;

	if (name[0] == '\0' || conn_of(w, name) != NULL)
		return true;
	for (uint32_t i = 0; i < qu->ndestslots; i++)
		for (const struct dest *d = qu->dests[i]; d != NULL; d = d->hnext)
			if (strcmp(d->connector, name) == 0)
				return true;
	return false;
}

/* Is job j in sel (its connector, and a recipient that matches)? */
static bool
job_in(const struct ctl_sel *sel, const struct qmsg *m, const struct qjob *j,
       uint64_t *steps)
{
	if (sel->connector[0] && strcmp(j->dest->connector, sel->connector) != 0)
		return false;
	for (uint32_t i = 0; sel->has_rcpt && i < j->nrcpt; i++)
		if (ctl_sel_rcpt(sel, m->env->rcpt[j->rcpt[i]].addr, steps))
			return true;
	return !sel->has_rcpt;
}

/*
 * Add m as a row if it is in sel: its sender and age pass, and it has a
 * job in sel (one at sel's connector with a matching recipient), or, for
 * a message between jobs (its NDR being spooled), no connector is asked
 * and a pending recipient matches.  The row shows the jobs in sel.
 */
static bool
qrow_add(struct ctl_wreq *q, struct qmsg *m, uint64_t *steps)
{
	const struct ctl_sel *sel = &q->sel;
	struct ctl_qrow *row = &q->rows[q->nrows];
	const struct qjob *latest = NULL;
	struct buf *a = &q->arena;
	bool any = false;
	int rank = -1;

	if (!ctl_sel_msg(sel, m->env->sender, m->env->arrival, steps))
		return false;
	memset(row, 0, sizeof(*row));
	for (struct list *k = m->jobs.next; k != &m->jobs; k = k->next) {
		const struct qjob *j = container_of(k, struct qjob, mlink);
		if (!job_in(sel, m, j, steps))
			continue;
		any = true;
		if (state_rank(j->state) > rank) {
			rank = state_rank(j->state);
			row->state = j->state;
		}
		if (j->attempts > row->attempts)
			row->attempts = j->attempts;
		if (latest == NULL || j->last_attempt > latest->last_attempt)
			latest = j;
	}
	if (!any) {
		bool pending = false;
		if (sel->connector[0] || !list_empty(&m->jobs))
			return false;
		for (uint32_t i = 0; i < m->env->nrcpt && !pending; i++)
			pending = m->env->rcpt[i].state == ENV_RCPT_PENDING &&
				  ctl_sel_rcpt(sel, m->env->rcpt[i].addr, steps);
		if (!pending)
			return false;
		row->state = m->held ? QJOB_HELD : QJOB_DEFERRED;
	}
	row->id = m->id;
	row->arrival = m->env->arrival;
	row->sender = arena_str(a, m->env->sender);
	/* connectors, then recipients of the jobs shown */
	row->connectors = (uint32_t)a->len;
	for (struct list *k = m->jobs.next; k != &m->jobs; k = k->next) {
		const struct qjob *j = container_of(k, struct qjob, mlink);
		if (!job_in(sel, m, j, steps))
			continue;
		if (a->len > row->connectors)
			buf_append(a, " ", 1);
		buf_puts(a, j->dest->name);
	}
	buf_append(a, "", 1);
	row->rcpts = (uint32_t)a->len;
	if (!any) {
		for (uint32_t i = 0; i < m->env->nrcpt; i++)
			if (m->env->rcpt[i].state == ENV_RCPT_PENDING) {
				arena_str(a, m->env->rcpt[i].addr);
				row->nrcpt++;
			}
	}
	for (struct list *k = m->jobs.next; any && k != &m->jobs; k = k->next) {
		const struct qjob *j = container_of(k, struct qjob, mlink);
		if (!job_in(sel, m, j, steps))
			continue;
		for (uint32_t i = 0; i < j->nrcpt; i++) {
			arena_str(a, m->env->rcpt[j->rcpt[i]].addr);
			row->nrcpt++;
		}
	}
	if (latest != NULL) {
		row->last_attempt = latest->last_attempt;
		row->code = latest->last_code;
		row->error = arena_str(a, latest->last_detail ? latest->last_detail
							       : latest->last_error);
	} else {
		row->error = arena_str(a, "");
	}
	q->nrows++;
	return true;
}

/* A chunk of show queue: at most CTL_CHUNK rows, QROW_SCAN_MAX messages
 * looked at and CTL_MATCH_BUDGET bytes compared by the patterns; the
 * cursor says where the next chunk starts. */
static void
do_queue(struct worker *w, struct ctl_wreq *q)
{
	struct queue *qu = w->q;
	struct list *l = qu->all.next;
	uint32_t limit = q->limit && q->limit < CTL_CHUNK ? q->limit : CTL_CHUNK;
	uint32_t scanned = 0;
	uint64_t after = q->cursor, steps = 0;
	bool skip_old = false;

	q->rows = xcalloc(limit, sizeof(*q->rows));
	q->known = conn_known(w, q->sel.connector);
	if (!q->known) {
		q->end = true;
		return;
	}
	if (q->cursor != 0) {
		struct qmsg *m = queue_msg_find(w, q->cursor);
		if (m != NULL)
			l = m->link.next;
		else
			skip_old = true;	/* it left: ids grow with arrival */
	}
	for (; l != &qu->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		if (q->nrows == limit || scanned == QROW_SCAN_MAX || steps > CTL_MATCH_BUDGET)
			return;			/* more to come */
		scanned++;
		q->cursor = m->id;
		if (skip_old && m->id <= after)
			continue;
		if (!m->finishing)
			qrow_add(q, m, &steps);
	}
	q->end = true;
}

/* ---- show message ---------------------------------------------------- */

/* Monotonic second when (the wheel's) as unix time. */
static int64_t
mono_to_unix(const struct worker *w, uint64_t when, int64_t now)
{
	return now + (int64_t)when - (int64_t)w->now;
}

/* The header section of m: its data up to the blank line, read from
 * memory, the segment or the body file as delivery reads it. */
static void
message_head(struct worker *w, struct qmsg *m, struct ctl_minfo *mi)
{
	struct buf tmp = { 0 };
	const char *p, *end;
	size_t n;

	mi->head_rc = queue_data_head(w, m, CTL_HEAD_MAX, &tmp, &p, &n, &mi->size);
	if (mi->head_rc == 0) {
		if (n >= 2 && p[0] == '\r' && p[1] == '\n')
			end = p;			/* no headers at all */
		else if ((end = memmem(p, n, "\r\n\r\n", 4)) != NULL)
			end += 2;			/* the last header's CRLF */
		else
			end = p + n;			/* all headers, or cut */
		mi->head_cut = end == p + n && n < mi->size;
		buf_append(&mi->head, p, (size_t)(end - p));
	}
	buf_free(&tmp);
}

/* Job j of m into o. */
static void
message_job(struct worker *w, const struct qjob *j, struct ctl_mjob *o, struct buf *a,
	    int64_t now)
{

	o->dest = arena_str(a, j->dest->name);
	o->state = j->state;
	o->ctl = j->ctl;
	o->code = j->last_code;
	o->reply = j->last_reply;
	o->attempts = j->attempts;
	o->nrcpt = j->nrcpt;
	o->last_attempt = j->last_attempt;
	/* as queue_job_done decides it */
	o->expires = j->msg->env->arrival + queue_dest_policy(w, j->dest)->expiry;
	if (j->state == QJOB_DEFERRED && j->timer.pprev != NULL)
		o->next_try = mono_to_unix(w, j->timer.expires, now);
	o->error = arena_str(a, j->last_error);
	o->detail = arena_str(a, j->last_detail);
	o->host = arena_str(a, j->last_host);
	o->ip = arena_str(a, j->last_ip);
	if (j->hist != NULL) {
		uint32_t k = j->hist->n < QJOB_HIST ? j->hist->n : QJOB_HIST;
		o->nhist = j->hist->n;
		for (uint32_t i = 0; i < k; i++)	/* oldest first */
			o->hist[i] = j->hist->a[(j->hist->n - k + i) % QJOB_HIST];
	}
}

/* Everything about message q->id, if this worker has it. */
static void
do_message(struct worker *w, struct ctl_wreq *q)
{
	struct qmsg *m = queue_msg_find(w, q->id);
	struct ctl_minfo *mi;
	int64_t now = time(NULL);
	uint32_t k = 0;

	if (m == NULL)
		return;
	mi = q->msg = xcalloc(1, sizeof(*mi));
	envelope_encode(m->env, &mi->env);
	message_head(w, m, mi);
	mi->loc = m->loc;
	mi->size = m->loc.size;
	mi->in_memory = m->rec.len > 0;
	mi->held = m->held;
	mi->finishing = m->finishing;
	mi->ndr_inflight = m->ndr_inflight;
	mi->rcpt_job = xmalloc((m->env->nrcpt ? m->env->nrcpt : 1) * sizeof(*mi->rcpt_job));
	for (uint32_t i = 0; i < m->env->nrcpt; i++)
		mi->rcpt_job[i] = UINT32_MAX;
	mi->njobs = m->njobs;
	mi->jobs = xcalloc(m->njobs ? m->njobs : 1, sizeof(*mi->jobs));
	for (struct list *l = m->jobs.next; l != &m->jobs && k < m->njobs; l = l->next, k++) {
		const struct qjob *j = container_of(l, struct qjob, mlink);
		message_job(w, j, &mi->jobs[k], &mi->arena, now);
		for (uint32_t i = 0; i < j->nrcpt; i++)
			if (j->rcpt[i] < m->env->nrcpt)
				mi->rcpt_job[j->rcpt[i]] = k;
	}
	mi->njobs = k;
}

/* ---- actions --------------------------------------------------------- */

/* The filters of an action, for queue_ctl_apply, with the bytes their
 * patterns compared in this request. */
struct act_filter {
	const struct ctl_sel *sel;	/* the request's */
	uint64_t steps;			/* ctl_glob's count */
};

static int
act_msg(const struct qmsg *m, void *arg)
{
	struct act_filter *f = arg;

	if (f->steps > CTL_MATCH_BUDGET)
		return -1;		/* resumed by the next request */
	return ctl_sel_msg(f->sel, m->env->sender, m->env->arrival, &f->steps);
}

static bool
act_rcpt(const char *addr, void *arg)
{
	struct act_filter *f = arg;

	return ctl_sel_rcpt(f->sel, addr, &f->steps);
}

static void
do_act(struct worker *w, struct ctl_wreq *q)
{
	const struct ctl_sel *cs = &q->sel;
	struct act_filter f = { .sel = cs };
	struct queue_ctl_sel sel = {
		.ids = cs->ids, .nids = cs->nids,
		.connector = cs->connector[0] ? cs->connector : NULL,
		.msg_match = ctl_sel_filters(cs) ? act_msg : NULL,
		.rcpt_match = cs->has_rcpt ? act_rcpt : NULL,
		.arg = &f,
	};

	q->known = conn_known(w, cs->connector);
	if (!q->known)
		return;
	q->rc = queue_ctl_apply(w, &sel, q->op, &q->cursor, CTL_ACT_BUDGET, &q->act);
}

static void
do_connector(struct worker *w, struct ctl_wreq *q)
{
	q->known = conn_of(w, q->connector) != NULL;
	if (q->known)
		q->ndests = queue_ctl_connector(w, q->connector, q->disable);
}

/* An alert notice the control thread built: spool and queue it. */
static void
do_notice(struct worker *w, struct ctl_wreq *q)
{
	const char **to = xcalloc(q->nmail_to ? q->nmail_to : 1, sizeof(*to));
	const char *p = q->mail_to.p;

	for (uint32_t i = 0; i < q->nmail_to; i++, p += strlen(p) + 1)
		to[i] = p;
	q->rc = queue_notice_send(w, &(struct queue_notice){
		.data = q->mail.p, .len = q->mail.len, .rcpts = to, .nrcpt = q->nmail_to,
		.route = q->connector[0] ? q->connector : NULL, .eightbit = q->mail_8bit,
		.what = q->mail_what });
	free(to);
}

/* A test connection finished (worker thread): hand the answer back. */
static void
validate_done(struct smtp_validate *v)
{
	struct ctl_wreq *q = container_of(v, struct ctl_wreq, val);
	uint64_t one = 1;

	atomic_store_explicit(&q->done, 1, memory_order_release);
	if (write(ctl.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("validate: waking the control thread: %s", strerror(errno));
}

void
ctl_worker_run(struct worker *w)
{
	struct mpsc_node *n;
	bool any = false;
	uint64_t one = 1;

	while ((n = mpsc_pop(&w->ctlq)) != NULL) {
		struct ctl_wreq *q = MPSC_CONTAINER(n, struct ctl_wreq, node);
		switch (q->kind) {
		case CTL_W_SNAP:
			do_snap(w, q);
			break;
		case CTL_W_QUEUE:
			do_queue(w, q);
			break;
		case CTL_W_ACT:
			do_act(w, q);
			break;
		case CTL_W_CONNECTOR:
			do_connector(w, q);
			break;
		case CTL_W_FIXNOW:
			q->ndests = queue_fixnow(w, q->connector);
			break;
		case CTL_W_MESSAGE:
			do_message(w, q);
			break;
		case CTL_W_CONFIG:
			q->cfg = config_hold(w->cfg);
			break;
		case CTL_W_NOTICE:
			do_notice(w, q);
			break;
		case CTL_W_VALIDATE:
			q->val.done = validate_done;
			q->rc = smtp_client_validate(w, q->connector,
						     q->rcpt[0] ? q->rcpt : NULL, q->send,
						     &q->val);
			if (q->rc == 0)
				continue;	/* answered by validate_done */
			break;
		}
		/* from here on q is the control thread's */
		atomic_store_explicit(&q->done, 1, memory_order_release);
		any = true;
	}
	if (any && write(ctl.efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("worker %u: waking the control thread: %s", w->id, strerror(errno));
}
