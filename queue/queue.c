/*
 * queue — messages, jobs and destinations of one worker, and what happens
 * after each delivery attempt.
 *
 * A message is split into one job per destination.  A job waits on its
 * destination's ready list until a connection takes it; the connection
 * reports per-recipient outcomes to queue_job_done(), which records the
 * delivered and returned recipients in the spool, returns failed ones in an
 * NDR, and puts the rest back on the deferred list with a wheel timer
 * (backoff from queue/retry.c, clamped so the last try is at expiry).
 *
 * Durability order: an NDR is spooled before the recipients it reports are
 * recorded as failed, and a message's DONE record is written only when no
 * recipient, job or NDR of it is left; the segment holding it is released
 * after that record is synced.  A crash in between repeats an attempt (or
 * an NDR), never loses one.
 */
#include "queue/queue.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/tenant/cluster.h"
#include "core/tenant/directory.h"
#include "core/tenant/tenant.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/dsn.h"
#include "queue/gate.h"
#include "queue/retry.h"

#define QUEUE_MEM_MAX (256u << 20)	/* message data kept in memory per worker */

/* A spool record the queue writes: RCPT, DONE or an NDR's MSG. */
struct qrec {
	struct spool_write sw;		/* in the group commit */
	struct worker *w;		/* owner */
	struct buf b;			/* the record bytes */
	struct qmsg *m;			/* message concerned */
	uint32_t *fail;			/* NDR: recipients to mark failed after */
	uint32_t nfail;			/* how many */
};

static void dest_kick(struct worker *w, struct dest *d);
static struct dest *route(struct worker *w, const char *addr);
static struct qjob *job_new(struct worker *w, struct qmsg *m, struct dest *d,
			    const uint32_t *idx, uint32_t n);
static void job_timer(struct wheel_timer *t, void *arg);
static void msg_finish(struct worker *w, struct qmsg *m);
static void delay_notice(struct worker *w, struct qjob *j, const struct cfg_connector *c,
			 int64_t now);
static bool ctl_after_attempt(struct worker *w, struct qjob *j);

/* The tables' hashes: a message by its id, a destination by its name. */
static inline uint64_t
msg_hash(const struct qmsg *m)
{
	return hash_mix64(m->id);
}

static inline uint64_t
dest_hash(const struct dest *d)
{
	return hash_fnv1a(d->name, strlen(d->name));
}

static const struct cfg_connector *
dest_cfg(struct worker *w, const struct dest *d)
{
	return config_connector_find(w->cfg, d->connector);
}

/* ---- tables --------------------------------------------------------- */

static void
msgs_grow(struct queue *q)
{
	uint32_t n = q->nmsgslots ? q->nmsgslots * 2 : 1024;

	HASH_CHAIN_REHASH(q->msgs, q->nmsgslots, n, hnext, msg_hash);
	q->nmsgslots = n;
}

static void
msgs_del(struct queue *q, struct qmsg *m)
{
	struct qmsg **pp = &q->msgs[msg_hash(m) & (q->nmsgslots - 1)];

	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	q->nmsgs--;
}

static struct dest *
dest_get(struct worker *w, const char *connector, const char *domain)
{
	struct queue *q = w->q;
	char name[512];
	struct dest *d;
	uint64_t h;

	snprintf(name, sizeof(name), "%s%s%s", connector, domain ? "/" : "",
		 domain ? domain : "");
	h = hash_fnv1a(name, strlen(name));
	if (q->ndestslots > 0)
		for (d = q->dests[h & (q->ndestslots - 1)]; d != NULL; d = d->hnext)
			if (strcmp(d->name, name) == 0)
				return d;
	if (q->ndests + 1 > q->ndestslots) {
		uint32_t n = q->ndestslots ? q->ndestslots * 2 : 64;

		HASH_CHAIN_REHASH(q->dests, q->ndestslots, n, hnext, dest_hash);
		q->ndestslots = n;
	}
	d = xcalloc(1, sizeof(*d));
	d->name = xstrdup(name);
	d->connector = xstrdup(connector);
	d->domain = domain ? xstrdup(domain) : NULL;
	list_init(&d->ready);
	list_init(&d->deferred);
	list_init(&d->idle);
	wheel_timer_init(&d->probe, NULL);
	d->gate = gate_get(name);
	for (uint32_t i = 0; i < q->ndisabled; i++)	/* core/ctl: disabled at run time */
		if (strcmp(q->disabled[i], connector) == 0)
			d->disabled = true;
	d->hnext = q->dests[h & (q->ndestslots - 1)];
	q->dests[h & (q->ndestslots - 1)] = d;
	q->ndests++;
	return d;
}

/* ---- spool records ---------------------------------------------------- */

static void
qrec_free(struct qrec *r)
{
	buf_free(&r->b);
	free(r->fail);
	free(r);
}

static struct qrec *
qrec_new(struct worker *w, struct qmsg *m, enum spool_rec_type type, uint64_t id,
	 uint64_t aux, void (*cb)(struct spool_write *, int))
{
	struct qrec *r = xcalloc(1, sizeof(*r));
	size_t start;

	r->w = w;
	r->m = m;
	start = spool_rec_begin(&r->b, type, id);
	spool_rec_end(&r->b, start, aux);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = cb;
	return r;
}

static void
rcpt_rec_done(struct spool_write *sw, int res)
{
	struct qrec *r = container_of(sw, struct qrec, sw);

	if (res < 0)
		log_warn("RCPT record not written: %s (a restart may retry that "
			 "recipient)", strerror(-res));
	qrec_free(r);
}

/* Record a recipient's final state; skipped when DONE will say it all. */
static void
rcpt_final(struct worker *w, struct qmsg *m, uint32_t i, enum env_rcpt_state st)
{
	struct qrec *r;

	m->env->rcpt[i].state = (uint8_t)st;
	m->pending--;
	if (m->pending == 0)
		return;
	r = qrec_new(w, m, SPOOL_REC_RCPT, m->id, ((uint64_t)i << 8) | st, rcpt_rec_done);
	spool_append(w->spool, &r->sw);
}

static void
done_rec_done(struct spool_write *sw, int res)
{
	struct qrec *r = container_of(sw, struct qrec, sw);
	struct worker *w = r->w;
	struct qmsg *m = r->m;

	if (res < 0)
		log_warn("DONE record for %016llX not written: %s (a restart "
			 "retries it)", (unsigned long long)m->id, strerror(-res));
	else
		spool_release(w->spool, &m->loc, m->id);
	msgs_del(w->q, m);
	list_del(&m->link);
	w->st.queued--;
	if (m->rec.cap > 0)
		w->q->mem -= m->rec.cap;
	buf_free(&m->rec);
	free(m->env);
	free(m);
	qrec_free(r);
}

/* The message has nothing left to do: write DONE, free it after the sync. */
static void
msg_finish(struct worker *w, struct qmsg *m)
{
	struct qrec *r;

	if (m->pending > 0 || m->njobs > 0 || m->ndr_inflight > 0 || m->finishing)
		return;
	m->finishing = true;
	r = qrec_new(w, m, SPOOL_REC_DONE, m->id, 0, done_rec_done);
	spool_append(w->spool, &r->sw);
}

/* ---- jobs ------------------------------------------------------------- */

/* The memory of j and its strings (no list, timer or message bookkeeping). */
static void
job_release(struct qjob *j)
{
	free(j->rcpt);
	free(j->last_error);
	free(j->last_detail);
	free(j->last_host);
	free(j->last_ip);
	free(j);
}

static void
job_free(struct worker *w, struct qjob *j)
{
	struct qmsg *m = j->msg;

	wheel_cancel(&w->q->wheel, &j->timer);
	list_del(&j->mlink);
	job_release(j);
	m->njobs--;
	msg_finish(w, m);
}

static void
job_ready(struct worker *w, struct qjob *j)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_DEFERRED || j->state == QJOB_HELD) {
		list_del(&j->link);
		d->ndeferred--;
	}
	wheel_cancel(&w->q->wheel, &j->timer);
	j->state = QJOB_READY;
	list_add_tail(&d->ready, &j->link);
	d->nready++;
}

/* Put j on its destination's deferred list with a timer at when (mono s). */
static void
job_defer(struct worker *w, struct qjob *j, uint64_t when)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_READY) {
		list_del(&j->link);
		d->nready--;
	}
	if (j->state != QJOB_DEFERRED && j->state != QJOB_HELD) {
		list_add_tail(&d->deferred, &j->link);
		d->ndeferred++;
	}
	j->state = QJOB_DEFERRED;
	wheel_insert(&w->q->wheel, &j->timer, when);
}

static uint64_t
job_expires(struct worker *w, const struct qmsg *m, const struct cfg_connector *c)
{
	int64_t left = m->env->arrival + (int64_t)(c ? c->expiry : RETRY_DEFAULT_EXPIRY) -
		       (int64_t)time(NULL);

	return w->now + (uint64_t)(left > 0 ? left : 0);
}

static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

/* ---- NDRs and delay notices ------------------------------------------- */

static void ndr_rec_done(struct spool_write *sw, int res);

/* NDRs and delay notices are the messages with this client (and <>). */
#define NDR_CLIENT "local"

/*
 * Where a report about a failed report of ours goes: the postmaster, when
 * one is set, something routes it, and it is not the recipient that failed
 * (a report to the postmaster that fails is the end of the line: no loop).
 * NULL otherwise.
 */
static const char *
ndr_postmaster(struct worker *w, const struct qmsg *m, const uint32_t *idx, size_t n)
{
	const char *pm = w->cfg->postmaster;

	if (pm == NULL || m->env->client == NULL || strcmp(m->env->client, NDR_CLIENT) != 0)
		return NULL;
	for (size_t k = 0; k < n; k++)
		if (strcasecmp(m->env->rcpt[idx[k]].addr, pm) == 0)
			return NULL;
	return route(w, pm) != NULL ? pm : NULL;
}

/*
 * Return recipients idx[0..n) of m to the sender: spool an NDR (or, when
 * none is wanted or possible, just record them as failed).  info[k] says
 * why recipient idx[k] failed.
 *
 * The report goes to the sender; to the postmaster (when set) if nothing
 * routes the sender's domain, or if m is itself one of our reports (a
 * double bounce).  When it can go nowhere the recipients are failed and a
 * warning names the message, its sender and why: a report is never dropped
 * without a word.
 */
static void
ndr_send(struct worker *w, struct qmsg *m, const uint32_t *idx,
	 const struct dsn_rcpt *info, size_t n, bool delayed, int64_t retry_until)
{
	const struct config *cfg = w->cfg;
	struct envelope *env = m->env;
	struct dsn_rcpt *dr;
	struct dsn_report rep;
	struct buf tmp = { 0 }, body = { 0 };
	const char *orig = "", *to = env->sender, *why = NULL;
	const char *kind = delayed ? "delay notice" : "NDR";
	size_t origlen = 0, nd = 0;
	uint64_t origsize = 0;
	struct queue_data qd;
	struct qrec *r;
	char qid[17];

	envelope_id_str(m->id, qid);
	dr = xcalloc(n, sizeof(*dr));
	if (dsn_is_null_sender(env->sender)) {
		/* no report to <>; a report of ours that failed: the postmaster */
		if (delayed) {
			free(dr);
			return;
		}
		to = ndr_postmaster(w, m, idx, n);
		why = "it has a null sender (it is a report itself)";
		for (size_t k = 0; to != NULL && k < n; k++)
			dr[nd++] = info[k];	/* its NOTIFY=NEVER is for <> */
	} else {
		for (size_t k = 0; k < n; k++)
			if (dsn_wanted(env->rcpt[idx[k]].notify, delayed))
				dr[nd++] = info[k];
		if (nd == 0) {
			if (!delayed) {
				log_info("id=%s: %zu recipient(s) returned, no NDR (NOTIFY says "
					 "no)", qid, n);
				for (size_t k = 0; k < n; k++)
					rcpt_final(w, m, idx[k], ENV_RCPT_FAILED);
			}
			free(dr);
			return;
		}
		if (route(w, env->sender) == NULL) {
			why = "no connector routes the sender's domain";
			to = cfg->postmaster != NULL && route(w, cfg->postmaster) != NULL
			     ? cfg->postmaster : NULL;
			if (to != NULL)
				log_warn("id=%s: %s for <%s> cannot be delivered (%s): sent to "
					 "the postmaster <%s>", qid, kind, LOG_FIELD(env->sender), why, to);
		}
	}
	if (to == NULL) {
		log_warn("id=%s from=<%s>: %s for %zu recipient(s) (first <%s>: %s) dropped: "
			 "%s%s", qid, LOG_FIELD(env->sender), kind, n,
			 LOG_FIELD(n ? info[0].addr : ""),
			 LOG_TEXT(n && info[0].reply_text ? info[0].reply_text : ""), why,
			 cfg->postmaster ? "" : "; set postmaster to receive these");
		if (!delayed)
			for (size_t k = 0; k < n; k++)
				rcpt_final(w, m, idx[k], ENV_RCPT_FAILED);
		free(dr);
		return;
	}
	/* Only what goes back is read: the whole original for RET=FULL when
	   it is within ndr_return_max, else its head, where the headers are.
	   A large message is never in memory for its report. */
	if (queue_data_open(w, m, &qd) == 0) {
		bool whole = env->ret == ENV_RET_FULL && qd.size <= cfg->ndr_return_max;
		long k = queue_data_read(w, &qd, whole ? (size_t)qd.size : DSN_HEAD_MAX,
					 &tmp, &orig);
		origsize = qd.size;
		origlen = k > 0 ? (size_t)k : 0;
		if (k < 0)
			orig = "";
		queue_data_close(&qd);
		if (k < 0)
			log_err("id=%s: its data in the local spool is damaged: the %s goes "
				"without the original", qid, kind);
	} else {
		log_err("id=%s: cannot open its data in the local spool: the %s goes "
			"without the original", qid, kind);
	}
	rep = (struct dsn_report){
		.reporting_mta = cfg->hostname, .envid = env->envid, .queue_id = qid,
		.arrival = env->arrival, .now = time(NULL),
		.retry_until = retry_until,
		.orig_sender = to, .ret = env->ret, .rcpts = dr, .nrcpt = nd,
		.orig = orig, .origlen = origlen, .origsize = origsize,
		.orig_max = cfg->ndr_return_max,
		.unique = retry_rng_next(&w->q->rng),
	};
	unsigned bits = dsn_build(&rep, &body);
	buf_free(&tmp);

	/* the report is a new message from <> to the original sender */
	struct env_rcpt rto = { .addr = (char *)to, .notify = ENV_NOTIFY_NEVER };
	struct envelope ne = {
		.id = spool_new_id(w->spool), .arrival = time(NULL), .sender = "",
		.helo = cfg->hostname, .client = NDR_CLIENT,
		.body = (bits & DSN_8BIT) ? ENV_BODY_8BITMIME : ENV_BODY_NONE,
		.smtputf8 = (bits & DSN_SMTPUTF8) ? 1 : 0, .nrcpt = 1, .rcpt = &rto,
	};
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	r->m = m;
	size_t start = spool_rec_begin(&r->b, SPOOL_REC_MSG, ne.id);
	envelope_encode(&ne, &r->b);
	size_t envlen = r->b.len - start - SPOOL_HDR_SIZE;
	buf_append(&r->b, body.p, body.len);
	spool_rec_end(&r->b, start, envlen);
	buf_free(&body);
	if (!delayed) {
		r->fail = xmalloc(n * sizeof(*r->fail));
		memcpy(r->fail, idx, n * sizeof(*idx));
		r->nfail = (uint32_t)n;
	}
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = ndr_rec_done;
	m->ndr_inflight++;
	if (!delayed)
		w->st.ndrs++;
	char nid[17];
	envelope_id_str(ne.id, nid);
	log_info("id=%s: %s for %zu recipient(s) to <%s> queued as %s", qid, kind, nd,
		 LOG_FIELD(to), nid);
	free(dr);
	spool_append(w->spool, &r->sw);
}

static void
ndr_rec_done(struct spool_write *sw, int res)
{
	struct qrec *r = container_of(sw, struct qrec, sw);
	struct worker *w = r->w;
	struct qmsg *m = r->m;

	m->ndr_inflight--;
	if (res == 0) {
		struct spool_loc loc = sw->loc;
		for (uint32_t k = 0; k < r->nfail; k++)
			rcpt_final(w, m, r->fail[k], ENV_RCPT_FAILED);
		queue_accept(w, &r->b, 0, &loc);
	} else {
		/* not durable: the recipients stay queued and are tried again */
		log_err("id=%016llX: NDR not spooled: %s; its recipients stay queued",
			(unsigned long long)m->id, strerror(-res));
		for (uint32_t k = 0; k < r->nfail; k++) {
			struct dest *d = route(w, m->env->rcpt[r->fail[k]].addr);
			if (d != NULL) {
				struct qjob *j = job_new(w, m, d, &r->fail[k], 1);
				job_defer(w, j, w->now + RETRY_DEFAULT_INITIAL);
			}
		}
	}
	qrec_free(r);
	msg_finish(w, m);
}

/*
 * A job for recipients idx[0..n) of m, all routed to d, made ready (or held).
 * Returns it.
 */
static struct qjob *
job_new(struct worker *w, struct qmsg *m, struct dest *d, const uint32_t *idx, uint32_t n)
{
	struct qjob *j = xcalloc(1, sizeof(*j));

	j->rcpt = xmalloc(n * sizeof(*j->rcpt));
	memcpy(j->rcpt, idx, n * sizeof(*idx));
	j->nrcpt = n;
	j->msg = m;
	j->dest = d;
	wheel_timer_init(&j->timer, job_timer);
	j->expires = job_expires(w, m, dest_cfg(w, d));
	j->state = QJOB_HELD;	/* so that job_ready/job_defer link it */
	list_add_tail(&d->deferred, &j->link);
	d->ndeferred++;
	m->njobs++;
	list_add_tail(&m->jobs, &j->mlink);
	if (m->held)
		j->ctl = QUEUE_CTL_HOLD;
	else
		job_ready(w, j);
	return j;
}

/* ---- routing and adding messages -------------------------------------- */

/* The destination of address addr, or NULL when nothing routes it. */
static struct dest *
route(struct worker *w, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *dom = NULL;
	const struct cfg_connector *c;
	char lower[256];
	size_t n;

	if (at != NULL)
		dom = config_domain_find(w->cfg, at + 1, strlen(at + 1));
	if (dom == NULL)
		dom = w->cfg->default_route;
	if (dom == NULL)
		return NULL;
	c = dom->connector;
	if (!c->mx)
		return dest_get(w, c->name, NULL);
	n = at ? strlen(at + 1) : 0;
	if (n == 0 || n >= sizeof(lower))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)((at[1 + i] >= 'A' && at[1 + i] <= 'Z') ? at[1 + i] + 32 : at[1 + i]);
	return dest_get(w, c->name, lower);
}

static struct qmsg *
msg_new(struct worker *w, struct envelope *env, const struct spool_loc *loc)
{
	struct queue *q = w->q;
	struct qmsg *m = xcalloc(1, sizeof(*m));
	uint32_t h;

	m->id = env->id;
	m->env = env;
	m->loc = *loc;
	list_init(&m->jobs);
	for (uint32_t i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == ENV_RCPT_PENDING)
			m->pending++;
	if ((q->nmsgs + 1) * 2 > q->nmsgslots)
		msgs_grow(q);
	h = (uint32_t)(msg_hash(m) & (q->nmsgslots - 1));
	m->hnext = q->msgs[h];
	q->msgs[h] = m;
	q->nmsgs++;
	list_add_tail(&q->all, &m->link);
	return m;
}

/* Split the pending recipients of m into jobs, one per destination. */
static void
msg_route(struct worker *w, struct qmsg *m, bool kick)
{
	struct envelope *env = m->env;
	struct dest **rd = xcalloc(env->nrcpt, sizeof(*rd));
	uint32_t *noroute = xmalloc(env->nrcpt * sizeof(*noroute)), nnoroute = 0;

	for (uint32_t i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == ENV_RCPT_PENDING)
			rd[i] = route(w, env->rcpt[i].addr);
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		if (env->rcpt[i].state != ENV_RCPT_PENDING)
			continue;
		if (rd[i] == NULL) {
			noroute[nnoroute++] = i;	/* every one: a pending
							   recipient without a job
							   would never finish */
			continue;
		}
		if (rd[i] == (struct dest *)m)	/* already placed in a job */
			continue;
		struct dest *d = rd[i];
		uint32_t *idx = xmalloc(env->nrcpt * sizeof(*idx)), n = 0;
		for (uint32_t k = i; k < env->nrcpt; k++)
			if (rd[k] == d) {
				idx[n++] = k;
				rd[k] = (struct dest *)m;
			}
		job_new(w, m, d, idx, n);
		free(idx);
		if (kick && !m->held)
			dest_kick(w, d);
	}
	free(rd);
	/* nothing routes these any more (config changed): return them */
	if (nnoroute > 0) {
		struct dsn_rcpt *info = xmalloc(nnoroute * sizeof(*info));
		for (uint32_t k = 0; k < nnoroute; k++)
			info[k] = (struct dsn_rcpt){
				.addr = env->rcpt[noroute[k]].addr,
				.orcpt = env->rcpt[noroute[k]].orcpt,
				.action = DSN_ACTION_FAILED, .status = "5.4.4",
				.reply_text = "550 5.4.4 No connector routes this domain",
				.reply_code = 550, .last_attempt = time(NULL),
			};
		ndr_send(w, m, noroute, info, nnoroute, false, 0);
		free(info);
	}
	free(noroute);
	msg_finish(w, m);
}

void
queue_accept(struct worker *w, struct buf *rec, size_t start, const struct spool_loc *loc)
{
	const struct spool_rec_hdr *h = (const void *)(rec->p + start);
	struct envelope *env = envelope_decode(rec->p + start + SPOOL_HDR_SIZE, h->aux);
	struct qmsg *m;

	if (env == NULL) {	/* cannot happen: we just encoded it */
		log_err("queue: spooled record %016llX does not decode",
			(unsigned long long)h->id);
		spool_release(w->spool, loc, h->id);	/* nothing will finish it */
		return;
	}
	m = msg_new(w, env, loc);
	w->st.queued++;
	if (!loc->body && w->q->mem + rec->cap <= QUEUE_MEM_MAX) {
		m->rec = *rec;
		m->data_off = start + SPOOL_HDR_SIZE + h->aux;
		w->q->mem += rec->cap;
		*rec = (struct buf){ 0 };
	}
	msg_route(w, m, true);
}

void
queue_recovered(struct worker *w, struct envelope *env, const struct spool_loc *loc)
{
	msg_new(w, env, loc);	/* routed into jobs by queue_start */
	w->st.queued++;
}

void
queue_start(struct worker *w)
{
	for (struct list *l = w->q->all.next; l != &w->q->all; l = l->next)
		msg_route(w, container_of(l, struct qmsg, link), false);
	for (uint32_t i = 0; i < w->q->ndestslots; i++)
		for (struct dest *d = w->q->dests[i]; d != NULL; d = d->hnext)
			dest_kick(w, d);
}

/* ---- destinations ----------------------------------------------------- */

/* Jobs waiting at a down destination wait for the probe or their expiry. */
static void
dest_park(struct worker *w, struct dest *d)
{
	while (!list_empty(&d->ready)) {
		struct qjob *j = container_of(d->ready.next, struct qjob, link);
		job_defer(w, j, j->expires);
	}
}

static void
dest_probe_timer(struct wheel_timer *t, void *arg)
{
	struct worker *w = arg;
	struct dest *d = container_of(t, struct dest, probe);

	/* the probe needs a job: the oldest deferred one goes first */
	if (d->down && list_empty(&d->ready) && !list_empty(&d->deferred)) {
		struct qjob *j = container_of(d->deferred.next, struct qjob, link);
		if (j->state == QJOB_DEFERRED)
			job_ready(w, j);
	}
	dest_kick(w, d);
}

static void
dest_down(struct worker *w, struct dest *d, const struct cfg_connector *c)
{
	uint32_t step = d->failures - (c ? c->down_after : 3) + 1;
	uint32_t delay = retry_delay(step, c ? c->retry_initial : 60, c ? c->retry_max : 900,
				     c ? c->retry_jitter : 10, &w->q->rng);

	if (!d->down)
		log_warn("destination %s marked down after %u consecutive connection "
			 "failures (%s); probing every backoff step", LOG_FIELD(d->name),
			 d->failures, LOG_TEXT(d->st.last_error));
	d->down = true;
	d->probe_at = w->now + delay;
	d->probe.cb = dest_probe_timer;
	wheel_insert(&w->q->wheel, &d->probe, d->probe_at);
	dest_park(w, d);
}

void
queue_dest_result(struct worker *w, struct dest *d, bool ok)
{
	const struct cfg_connector *c = dest_cfg(w, d);

	if (!ok) {
		d->failures++;
		if (d->down || d->failures >= (c ? c->down_after : 3))
			dest_down(w, d, c);
		return;
	}
	d->failures = 0;
	if (!d->down)
		return;
	/* the first success releases the whole backlog at once */
	d->down = false;
	wheel_cancel(&w->q->wheel, &d->probe);
	log_info("destination %s is up again: releasing %u deferred jobs",
		 LOG_FIELD(d->name), d->ndeferred);
	struct list *l = d->deferred.next;
	while (l != &d->deferred) {
		struct qjob *j = container_of(l, struct qjob, link);
		l = l->next;
		if (j->state == QJOB_DEFERRED)
			job_ready(w, j);
	}
	dest_kick(w, d);
}

static void
job_take(struct dest *d, struct qjob *j)
{
	list_del(&j->link);
	d->nready--;
	d->nactive++;
	j->state = QJOB_ACTIVE;
}

static void
dest_kick(struct worker *w, struct dest *d)
{
	const struct cfg_connector *c;

	if (w->draining || list_empty(&d->ready))
		return;
	c = dest_cfg(w, d);
	if (c == NULL || !c->enabled || d->disabled)
		return;		/* removed or disabled connector: mail waits */
	while (!list_empty(&d->ready)) {
		struct qjob *j = container_of(d->ready.next, struct qjob, link);
		if (d->down) {
			if (d->probing || w->now < d->probe_at) {
				dest_park(w, d);
				break;
			}
			if (!gate_enter(d->gate, c->max_connections))
				break;
			d->probing = true;
			job_take(d, j);
			w->q->transport->open(w, d, j);
			continue;
		}
		if (d->nidle > 0) {
			job_take(d, j);
			if (w->q->transport->reuse(w, d, j))
				continue;
			/* no usable cached connection after all: back in front */
			d->nactive--;
			j->state = QJOB_READY;
			list_add_tail(d->ready.next, &j->link);
			d->nready++;
		}
		/* a fair share per worker, so no worker takes every slot; the
		 * gate enforces the cap over all of them */
		if (w->nworkers > 1 && c->max_connections > 0 &&
		    d->nconns >= (c->max_connections + w->nworkers - 1) / w->nworkers)
			break;
		if (!gate_enter(d->gate, c->max_connections))
			break;	/* other workers hold the slots: queue_tick retries */
		job_take(d, j);
		w->q->transport->open(w, d, j);
	}
}

struct qjob *
queue_next_job(struct worker *w, struct dest *d)
{
	struct qjob *j;

	if (w->draining || list_empty(&d->ready) || d->down || d->disabled)
		return NULL;
	j = container_of(d->ready.next, struct qjob, link);
	job_take(d, j);
	return j;
}

void
queue_conn_gone(struct worker *w, struct dest *d)
{
	gate_leave(d->gate);
	dest_kick(w, d);
}

/* ---- outcomes --------------------------------------------------------- */

/* A destination said the recipient does not exist: count it against the
 * tenant that owns the recipient's domain (the invalid-recipient quota). */
static void
count_invalid(struct worker *w, const char *addr, int64_t now)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *dom = at ? config_domain_find(w->cfg, at + 1, strlen(at + 1))
					  : NULL;

	if (dom == NULL || dom->tenant_cfg == NULL || w->cfg->tenant_table == NULL ||
	    dom->tenant_cfg->counter < 0)
		return;
	tenant_count_add(tenant_table_counter(w->cfg->tenant_table,
					      (size_t)dom->tenant_cfg->counter),
			 w->id, (uint64_t)now, 1);
	if (w->cfg->cluster != NULL)
		cluster_add_idx(w->cfg->cluster, (size_t)dom->tenant_cfg->counter, w->id,
				(uint64_t)now, 1);
	w->st.invalid_rcpts++;
}

/* The JSON attempt line: built by jansson, the peer's text through
 * log_json_s (a host name from DNS, the remote reply in detail). */
static void
log_attempt(struct worker *w, const struct qjob *j, const char *result,
	    const struct mfi_attempt *a, enum mfi_code code, const char *detail,
	    json_t *rcpts, uint64_t ms)
{
	char qid[17];

	envelope_id_str(j->msg->id, qid);
	log_json(json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:o, s:s, s:s, s:o, s:I, s:i}",
			   "event", "attempt", "id", qid, "connector", j->dest->connector,
			   "result", result, "host", log_json_s(a->host), "ip", a->ip,
			   "rcpts", rcpts, "code", code == MFI_NONE ? "" :
			   code == MFI_REMOTE ? "remote" : mfi_status(code),
			   "mfi", mfi_name(code), "detail", log_json_s(detail ? detail : ""),
			   "ms", (json_int_t)ms, "attempt", (int)j->attempts + 1),
		 "attempt");
}

void
queue_job_done(struct worker *w, struct qjob *j, const struct mfi_attempt *per_rcpt,
	       uint64_t elapsed_ms)
{
	struct qmsg *m = j->msg;
	struct dest *d = j->dest;
	const struct cfg_connector *c = dest_cfg(w, d);
	uint32_t *fail = xmalloc(j->nrcpt * sizeof(*fail));
	struct dsn_rcpt *finfo = xcalloc(j->nrcpt, sizeof(*finfo));
	char **texts = xcalloc(j->nrcpt, sizeof(*texts));
	char **details = xcalloc(j->nrcpt, sizeof(*details));
	uint32_t nall = j->nrcpt;
	uint32_t nfail = 0, nkeep = 0, ndeliv = 0;
	bool conn_level = false, reached = false;
	struct buf detail = { 0 };
	int64_t now = time(NULL);
	json_t *ok_r = json_array(), *def_r = json_array(), *fail_r = json_array();
	const struct mfi_attempt *last_fail = NULL;
	enum mfi_code last_code = MFI_NONE;

	d->nactive--;
	d->st.attempts++;
	d->st.last_attempt = now;
	w->st.attempts++;
	if (j->attempts > 0) {
		w->st.retries++;
		d->st.retries++;
	}
	j->last_attempt = now;
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct mfi_attempt *a = &per_rcpt[i];
		struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		if (a->stage >= MFI_STAGE_MAIL)
			reached = true;
		if (a->stage == MFI_STAGE_BODY && a->reply_code / 100 == 2) {
			log_json_append(&ok_r, log_json_s(r->addr));
			if (w->cfg->tenant_out != NULL) {
				const struct cfg_tenant *t = config_addr_tenant(w->cfg, r->addr);
				if (t != NULL)
					tenant_count_add(tenant_table_counter(w->cfg->tenant_out,
									      (size_t)t->counter),
							 w->id, (uint64_t)now, 1);
			}
			rcpt_final(w, m, j->rcpt[i], ENV_RCPT_DELIVERED);
			d->st.delivered++;
			w->st.rcpts_delivered++;
			ndeliv++;
			continue;
		}
		enum mfi_code code = mfi_classify(a);
		if (code == MFI_NONE)
			code = MFI_REMOTE;
		if (code != MFI_REMOTE)
			conn_level = true;
		d->st.codes[code < QUEUE_NCODES ? code : 0]++;
		detail.len = 0;
		mfi_detail(a, code, &detail);
		buf_append(&detail, "", 1);
		if (code == MFI_REMOTE && a->reply_text != NULL) {
			texts[i] = xstrdup(a->reply_text);	/* one line already */
		} else {
			texts[i] = xstrdup(mfi_reply(code));
		}
		details[i] = xstrdup(detail.p);
		set_str(&j->last_error, texts[i]);
		set_str(&j->last_detail, detail.p);
		set_str(&j->last_host, a->host);
		set_str(&j->last_ip, a->ip);
		j->last_code = (uint8_t)code;
		j->last_reply = a->reply_code;
		d->st.last_code = (uint8_t)code;
		d->st.last_time = now;
		snprintf(d->st.last_error, sizeof(d->st.last_error), "%s", texts[i]);
		snprintf(d->st.last_host, sizeof(d->st.last_host), "%s [%s]",
			 a->host ? a->host : "?", a->ip ? a->ip : "?");
		last_fail = a;
		last_code = code;
		if (mfi_permanent(a)) {
			log_json_append(&fail_r, log_json_s(r->addr));
			if (mfi_user_unknown(a->reply_text, a->reply_code))
				count_invalid(w, r->addr, now);
			finfo[nfail] = (struct dsn_rcpt){
				.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_FAILED,
				.code = code, .reply_code = a->reply_code,
				.reply_text = texts[i], .remote_mta = a->host ? a->host : a->ip,
				.detail = details[i], .last_attempt = now,
			};
			fail[nfail++] = j->rcpt[i];
			d->st.bounced++;
			w->st.rcpts_bounced++;
		} else {
			log_json_append(&def_r, log_json_s(r->addr));
			j->rcpt[nkeep++] = j->rcpt[i];
			d->st.deferred++;
			w->st.rcpts_deferred++;
		}
	}
	/* one JSON line per outcome class of this attempt */
	if (ndeliv > 0) {
		struct mfi_attempt ok = per_rcpt[0];
		w->st.messages_out++;
		w->st.bytes_out += m->loc.size;
		log_attempt(w, j, "delivered", &ok, MFI_NONE, "", ok_r, elapsed_ms);
	} else {
		json_decref(ok_r);
	}
	if (nkeep > 0)
		log_attempt(w, j, "deferred", last_fail, last_code, j->last_detail, def_r,
			    elapsed_ms);
	else
		json_decref(def_r);
	if (nfail > 0)
		log_attempt(w, j, "bounced", last_fail, last_code, j->last_detail, fail_r,
			    elapsed_ms);
	else
		json_decref(fail_r);

	if (conn_level && !reached)
		queue_dest_result(w, d, false);
	d->probing = false;	/* an attempt (the probe, if one was out) ended */
	if (nfail > 0)
		ndr_send(w, m, fail, finfo, nfail, false, 0);
	j->nrcpt = nkeep;
	if (nkeep == 0) {
		job_free(w, j);
	} else {
		uint32_t delay;
		int64_t next;

		j->attempts++;
		delay = retry_delay(j->attempts, c ? c->retry_initial : RETRY_DEFAULT_INITIAL,
				    c ? c->retry_max : RETRY_DEFAULT_MAX,
				    c ? c->retry_jitter : RETRY_DEFAULT_JITTER, &w->q->rng);
		next = retry_next_time(m->env->arrival, c ? c->expiry : RETRY_DEFAULT_EXPIRY,
				       now, delay);
		if (next < 0) {
			/* expired: return what is left, with the last error */
			for (uint32_t i = 0; i < nkeep; i++) {
				struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
				finfo[i] = (struct dsn_rcpt){
					.addr = r->addr, .orcpt = r->orcpt,
					.action = DSN_ACTION_FAILED, .code = (enum mfi_code)j->last_code,
					.reply_code = j->last_reply, .reply_text = j->last_error,
					.remote_mta = j->last_host ? j->last_host : j->last_ip,
					.detail = j->last_detail, .last_attempt = now,
				};
			}
			log_info("id=%016llX: expired after %u attempts, returning %u "
				 "recipient(s): %s", (unsigned long long)m->id, j->attempts,
				 nkeep, LOG_TEXT(j->last_error));
			d->st.bounced += nkeep;
			w->st.rcpts_bounced += nkeep;
			w->st.rcpts_expired += nkeep;
			ndr_send(w, m, j->rcpt, finfo, nkeep, false, 0);
			j->nrcpt = 0;
			job_free(w, j);
		} else if (j->ctl != QUEUE_CTL_NONE && ctl_after_attempt(w, j)) {
			/* core/ctl: held, deleted or bounced during the attempt */
		} else {
			j->state = QJOB_ACTIVE;
			list_init(&j->link);
			job_defer(w, j, w->now + (uint64_t)(next > now ? next - now : 0));
			if (d->down)
				job_defer(w, j, j->expires);
			delay_notice(w, j, c, now);
		}
	}
	buf_free(&detail);
	free(fail);
	free(finfo);
	for (uint32_t i = 0; i < nall; i++) {
		free(texts[i]);
		free(details[i]);
	}
	free(texts);
	free(details);
	msg_finish(w, m);
	dest_kick(w, d);
}

/*
 * The "delayed" DSN (RFC 3464 Action: delayed): once per message, when it
 * has waited delay_warning seconds (0: never), for the job's recipients
 * whose NOTIFY asks for delays (ndr_send filters by dsn_wanted).
 */
static void
delay_notice(struct worker *w, struct qjob *j, const struct cfg_connector *c, int64_t now)
{
	struct qmsg *m = j->msg;
	struct dsn_rcpt *info;

	if (c == NULL || c->delay_warning == 0 || m->delay_sent ||
	    now - m->env->arrival < (int64_t)c->delay_warning)
		return;
	m->delay_sent = true;
	info = xcalloc(j->nrcpt, sizeof(*info));
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		info[i] = (struct dsn_rcpt){
			.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_DELAYED,
			.code = (enum mfi_code)j->last_code, .reply_code = j->last_reply,
			.reply_text = j->last_error,
			.remote_mta = j->last_host ? j->last_host : j->last_ip,
			.detail = j->last_detail, .last_attempt = j->last_attempt,
		};
	}
	ndr_send(w, m, j->rcpt, info, j->nrcpt, true, m->env->arrival + (int64_t)c->expiry);
	free(info);
}

/* A deferred job's timer: try again, or (destination down) keep waiting. */
static void
job_timer(struct wheel_timer *t, void *arg)
{
	struct worker *w = arg;
	struct qjob *j = container_of(t, struct qjob, timer);
	struct dest *d = j->dest;

	if (j->state != QJOB_DEFERRED)
		return;
	if (d->down && w->now < j->expires) {
		wheel_insert(&w->q->wheel, &j->timer, j->expires);
		return;
	}
	job_ready(w, j);
	dest_kick(w, d);
}

/* ---- set-up ----------------------------------------------------------- */

void
queue_init(struct worker *w, const struct queue_transport *t)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	w->q = q;
	q->transport = t;
	wheel_init(&q->wheel, w->now, w);
	list_init(&q->all);
	q->rng = (uint64_t)time(NULL) ^ ((uint64_t)w->id << 32) ^ (uint64_t)(uintptr_t)q;
	msgs_grow(q);
}

/*
 * Every message the queue holds has its MSG record counted live in a
 * segment, and nothing else is (queue/spool.c): a difference means a
 * segment can never be freed, and every newer one with it.  Say so.
 */
static void
spool_check(struct worker *w)
{
	struct spool_stats ss;
	int64_t drift;

	spool_stats(w->spool, &ss);
	drift = (int64_t)ss.live - (int64_t)w->q->nmsgs;
	if (drift == w->q->spool_drift)
		return;
	if (drift != 0)
		log_err("spool accounting: segments hold %llu live messages, the queue %u; "
			"%u segments kept (%llu bytes) until a restart",
			(unsigned long long)ss.live, w->q->nmsgs, ss.segments,
			(unsigned long long)ss.bytes);
	else
		log_info("spool accounting agrees with the queue again");
	w->q->spool_drift = drift;
}

void
queue_tick(struct worker *w)
{
	struct queue *q = w->q;

	wheel_advance(&q->wheel, w->now);
	spool_check(w);
	q->transport->tick(w);
	/* slots freed by other workers wake nobody here: look again */
	for (uint32_t i = 0; i < q->ndestslots; i++)
		for (struct dest *d = q->dests[i]; d != NULL; d = d->hnext)
			if (d->nready > 0 && d->nconns == 0)
				dest_kick(w, d);
}

void
queue_trim(struct worker *w)
{
	struct queue *q = w->q;

	/* the table doubled with the backlog (8 MiB for a million messages) */
	if (q->nmsgs == 0 && q->nmsgslots > 1024) {
		free(q->msgs);
		q->msgs = NULL;
		q->nmsgslots = 0;
		msgs_grow(q);
	}
}

void
queue_fini(struct worker *w)
{
	struct queue *q = w->q;

	/* first, while the timers' memory (jobs, dest probes) is still ours */
	wheel_fini(&q->wheel);
	while (!list_empty(&q->all)) {
		struct qmsg *m = container_of(q->all.next, struct qmsg, link);
		list_del(&m->link);
		buf_free(&m->rec);
		free(m->env);
		free(m);
	}
	for (uint32_t i = 0; i < q->ndestslots; i++) {
		struct dest *d = q->dests[i], *next;
		for (; d != NULL; d = next) {
			struct list *heads[] = { &d->ready, &d->deferred };
			next = d->hnext;
			for (int k = 0; k < 2; k++)
				while (!list_empty(heads[k])) {
					struct qjob *j = container_of(heads[k]->next, struct qjob, link);
					list_del(&j->link);
					job_release(j);
				}
			free(d->name);
			free(d->connector);
			free(d->domain);
			free(d);
		}
	}
	free(q->dests);
	free(q->msgs);
	for (uint32_t i = 0; i < q->ndisabled; i++)
		free(q->disabled[i]);
	free(q->disabled);
	free(q);
	w->q = NULL;
}

/* ---- control socket (core/ctl) ----------------------------------------
 * What sluicectl hold/release/delete/bounce/flush and connector
 * enable/disable do to the jobs of this worker.  Runs on the worker thread,
 * called from core/ctl/ctl_worker.c.  A job on a connection is never touched:
 * the op is remembered in j->ctl and applied when its attempt ends
 * (ctl_after_attempt, from queue_job_done).
 */

/* A job that is not active goes on hold: off the ready list, no timer. */
static void
job_hold(struct worker *w, struct qjob *j)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_READY) {
		list_del(&j->link);
		d->nready--;
	}
	if (j->state == QJOB_READY || j->state == QJOB_ACTIVE) {
		list_add_tail(&d->deferred, &j->link);
		d->ndeferred++;
	}
	wheel_cancel(&w->q->wheel, &j->timer);
	j->state = QJOB_HELD;
	j->ctl = QUEUE_CTL_HOLD;
}

/* Take a job that is not active off its destination's list. */
static void
job_unlink(struct qjob *j)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_READY)
		d->nready--;
	else if (j->state == QJOB_DEFERRED || j->state == QJOB_HELD)
		d->ndeferred--;
	list_del(&j->link);
}

/* Drop j's recipients without an NDR (their state is recorded). */
static void
job_delete(struct worker *w, struct qjob *j)
{
	struct qmsg *m = j->msg;
	char qid[17];

	envelope_id_str(m->id, qid);
	log_info("id=%s: %u recipient(s) for %s deleted by the operator", qid, j->nrcpt,
		 LOG_FIELD(j->dest->name));
	w->st.rcpts_deleted += j->nrcpt;
	for (uint32_t i = 0; i < j->nrcpt; i++)
		rcpt_final(w, m, j->rcpt[i], ENV_RCPT_FAILED);
	j->nrcpt = 0;
	job_free(w, j);
}

/* Return j's recipients to the sender now, with an NDR. */
static void
job_bounce(struct worker *w, struct qjob *j)
{
	struct qmsg *m = j->msg;
	struct dsn_rcpt *info = xcalloc(j->nrcpt, sizeof(*info));
	struct buf detail = { 0 };
	char qid[17];

	buf_puts(&detail, "returned by the relay operator before delivery");
	if (j->last_detail != NULL)
		buf_printf(&detail, "; last attempt: %s", j->last_detail);
	buf_append(&detail, "", 1);
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		info[i] = (struct dsn_rcpt){
			.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_FAILED,
			.status = j->last_code == MFI_NONE ? "5.0.0" : NULL,
			.code = (enum mfi_code)j->last_code, .reply_code = j->last_reply,
			.reply_text = j->last_error,
			.remote_mta = j->last_host ? j->last_host : j->last_ip,
			.detail = detail.p, .last_attempt = j->last_attempt,
		};
	}
	envelope_id_str(m->id, qid);
	log_info("id=%s: %u recipient(s) for %s returned by the operator", qid, j->nrcpt,
		 LOG_FIELD(j->dest->name));
	j->dest->st.bounced += j->nrcpt;
	w->st.rcpts_bounced += j->nrcpt;
	ndr_send(w, m, j->rcpt, info, j->nrcpt, false, 0);
	j->nrcpt = 0;
	job_free(w, j);
	free(info);
	buf_free(&detail);
}

/*
 * The attempt of active job j ended with recipients left (attempts counted)
 * and the operator asked for something meanwhile.  True if j was dealt
 * with (held, or gone); false to defer it as usual.
 */
static bool
ctl_after_attempt(struct worker *w, struct qjob *j)
{
	switch (j->ctl) {
	case QUEUE_CTL_HOLD:
		job_hold(w, j);
		return true;
	case QUEUE_CTL_DELETE:
		job_delete(w, j);
		return true;
	case QUEUE_CTL_BOUNCE:
		job_bounce(w, j);
		return true;
	default:
		j->ctl = QUEUE_CTL_NONE;
		return false;
	}
}

/* Apply op to one job; true if something was done (now or later). */
static bool
ctl_job(struct worker *w, struct qjob *j, enum queue_ctl_op op, struct queue_ctl_result *res)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_ACTIVE) {
		if (op == QUEUE_CTL_FLUSH)
			return false;	/* being tried right now */
		if (op == QUEUE_CTL_RELEASE) {
			if (j->ctl != QUEUE_CTL_HOLD)
				return false;
			j->ctl = QUEUE_CTL_NONE;
		} else {
			j->ctl = (uint8_t)op;
		}
		res->later++;
		return true;
	}
	switch (op) {
	case QUEUE_CTL_FLUSH:
		if (j->state == QJOB_READY) {
			/* waiting for a connection slot: ask again now */
			dest_kick(w, d);
			break;
		}
		if (j->state != QJOB_DEFERRED)
			return false;
		job_ready(w, j);
		if (d->down && !d->probing)
			d->probe_at = w->now;	/* probe now, not at the next step */
		dest_kick(w, d);
		break;
	case QUEUE_CTL_HOLD:
		if (j->state == QJOB_HELD)
			return false;
		job_hold(w, j);
		break;
	case QUEUE_CTL_RELEASE:
		if (j->state != QJOB_HELD)
			return false;
		j->ctl = QUEUE_CTL_NONE;
		job_ready(w, j);
		dest_kick(w, d);
		break;
	case QUEUE_CTL_DELETE:
		job_unlink(j);
		job_delete(w, j);
		break;
	case QUEUE_CTL_BOUNCE:
		job_unlink(j);
		job_bounce(w, j);
		break;
	default:
		return false;
	}
	res->jobs++;
	return true;
}

/* Apply op to the jobs of m (those at connector, or all when NULL). */
static void
ctl_msg(struct worker *w, struct qmsg *m, const char *connector, enum queue_ctl_op op,
	struct queue_ctl_result *res)
{
	bool any = false;
	struct list *l, *next;

	if (m->finishing)
		return;
	if (connector == NULL && op == QUEUE_CTL_HOLD)
		m->held = true;		/* jobs made later are held too */
	for (l = m->jobs.next; l != &m->jobs; l = next) {
		struct qjob *j = container_of(l, struct qjob, mlink);
		next = l->next;		/* j may be freed */
		if (connector != NULL && strcmp(j->dest->connector, connector) != 0)
			continue;
		if (ctl_job(w, j, op, res))
			any = true;
	}
	if (op == QUEUE_CTL_RELEASE && m->held) {
		m->held = false;	/* held while any job still is */
		for (l = m->jobs.next; l != &m->jobs; l = l->next)
			if (container_of(l, struct qjob, mlink)->ctl == QUEUE_CTL_HOLD)
				m->held = true;
	}
	if (any)
		res->msgs++;
}

int
queue_ctl_apply(struct worker *w, uint64_t id, const char *connector, enum queue_ctl_op op,
		uint64_t *cursor, uint32_t budget, struct queue_ctl_result *res)
{
	struct queue *q = w->q;
	struct list *l;
	uint32_t seen = 0;

	memset(res, 0, sizeof(*res));
	if (id != 0) {
		struct qmsg *m = queue_msg_find(w, id);
		if (m == NULL)
			return -ENOENT;
		ctl_msg(w, m, NULL, op, res);
		return 0;
	}
	l = q->all.next;
	if (*cursor != 0) {
		struct qmsg *m = queue_msg_find(w, *cursor);
		if (m != NULL)		/* else start over: every op is idempotent */
			l = m->link.next;
	}
	for (; l != &q->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		if (seen++ >= budget) {
			res->more = true;
			return 0;
		}
		ctl_msg(w, m, connector, op, res);
		*cursor = m->id;
	}
	return 0;
}

struct qmsg *
queue_msg_find(struct worker *w, uint64_t id)
{
	struct queue *q = w->q;
	struct qmsg *m;

	for (m = q->msgs[hash_mix64(id) & (q->nmsgslots - 1)]; m != NULL; m = m->hnext)
		if (m->id == id)
			return m;
	return NULL;
}

uint32_t
queue_fixnow(struct worker *w, const char *domain)
{
	const struct cfg_domain *dom = config_domain_find(w->cfg, domain, strlen(domain));
	const struct cfg_tenant *t = dom ? dom->tenant_cfg : NULL;
	uint32_t returned = 0, *idx = NULL, cap = 0;
	struct dsn_rcpt *info = NULL;

	if (t == NULL || t->dir == NULL)
		return 0;
	for (struct list *l = w->q->all.next; l != &w->q->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		struct list *jl, *jnext;

		if (m->finishing)
			continue;
		for (jl = m->jobs.next; jl != &m->jobs; jl = jnext) {
			struct qjob *j = container_of(jl, struct qjob, mlink);
			uint32_t keep = 0, n = 0;
			jnext = jl->next;
			if (j->state == QJOB_ACTIVE)
				continue;	/* its RCPT is being answered right now */
			if (cap < j->nrcpt) {
				cap = j->nrcpt;
				idx = xrealloc(idx, cap * sizeof(*idx));
				info = xrealloc(info, cap * sizeof(*info));
			}
			for (uint32_t i = 0; i < j->nrcpt; i++) {
				const struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
				const char *at = strrchr(r->addr, '@');
				if (at != NULL && strcasecmp(at + 1, domain) == 0 &&
				    !directory_has(t->dir, r->addr, strlen(r->addr))) {
					info[n] = (struct dsn_rcpt){
						.addr = r->addr, .orcpt = r->orcpt,
						.action = DSN_ACTION_FAILED, .status = "5.1.10",
						.reply_code = 550,
						.reply_text = "550 5.1.10 Recipient not found",
						.detail = "the domain was made authoritative (fix-now) "
							  "and this recipient is not in its directory",
						.last_attempt = j->last_attempt,
					};
					idx[n++] = j->rcpt[i];
				} else {
					j->rcpt[keep++] = j->rcpt[i];
				}
			}
			if (n == 0)
				continue;
			j->nrcpt = keep;
			returned += n;
			j->dest->st.bounced += n;
			ndr_send(w, m, idx, info, n, false, 0);
			if (keep == 0) {
				job_unlink(j);
				job_free(w, j);
			}
		}
	}
	free(idx);
	free(info);
	if (returned > 0)
		log_info("fix-now %s: %u queued recipient(s) not in the directory returned",
			 domain, returned);
	return returned;
}

uint32_t
queue_ctl_connector(struct worker *w, const char *connector, bool disabled)
{
	struct queue *q = w->q;
	uint32_t n = 0, i;

	for (i = 0; i < q->ndisabled && strcmp(q->disabled[i], connector) != 0; i++)
		;
	if (disabled && i == q->ndisabled) {
		char **t = xrealloc(q->disabled, (q->ndisabled + 1) * sizeof(*t));
		q->disabled = t;
		q->disabled[q->ndisabled++] = xstrdup(connector);
	} else if (!disabled && i < q->ndisabled) {
		free(q->disabled[i]);
		q->disabled[i] = q->disabled[--q->ndisabled];
	}
	for (i = 0; i < q->ndestslots; i++)
		for (struct dest *d = q->dests[i]; d != NULL; d = d->hnext) {
			if (strcmp(d->connector, connector) != 0)
				continue;
			d->disabled = disabled;
			n++;
			if (!disabled)
				dest_kick(w, d);
		}
	return n;
}
