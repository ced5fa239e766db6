/*
 * queue_msg — a message's life in the queue of one worker: taken in (just
 * spooled, or found by recovery) and split into one job per destination;
 * each recipient's fate recorded in the spool (RCPT records); reports
 * back to its sender (NDRs, delay notices), spooled as new messages; and
 * its end, the DONE record.  Also the relay's own alert notices to its
 * operators (queue_notice_send), spooled the way an NDR is.
 *
 * Durability order: an NDR is spooled before the recipients it reports are
 * recorded as failed, and a message's DONE record is written only when no
 * recipient, job or NDR of it is left; the segment holding it is released
 * after that record is synced.  A crash in between repeats an attempt (or
 * an NDR), never loses one.
 *
 * Not for: when jobs run (queue.c, which this file builds on) or what an
 * attempt's outcome means (queue_outcome.c, which calls in here).  Worker
 * thread only.
 */
#include "queue/queue.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/log.h"
#include "core/trace/trace.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/dsn.h"
#include "queue/queue_int.h"
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

/* ---- spool records ---------------------------------------------------- */

static void
qrec_free(struct qrec *r)
{
	buf_free(&r->b);
	free(r->fail);
	free(r);
}

/* A record of type for queue id id: aux, then n bytes of payload. */
static struct qrec *
qrec_new(struct worker *w, struct qmsg *m, enum spool_rec_type type, uint64_t id,
	 uint64_t aux, const void *payload, size_t n, void (*cb)(struct spool_write *, int))
{
	struct qrec *r = xcalloc(1, sizeof(*r));
	size_t start;

	r->w = w;
	r->m = m;
	start = spool_rec_begin(&r->b, type, id);
	if (n > 0)
		buf_append(&r->b, payload, n);
	spool_rec_end(&r->b, start, aux);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = cb;
	return r;
}

static void
tried_rec_done(struct spool_write *sw, int res)
{
	struct qrec *r = container_of(sw, struct qrec, sw);

	if (res < 0)
		log_warn("TRIED record not written: %s (after a restart the attempts "
			 "are counted from the last one written)", strerror(-res));
	qrec_free(r);
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

/*
 * Record that j's recipients have now failed j->attempts times (a TRIED
 * record, synced with the next batch), so a restart counts on from there
 * instead of from 1; the envelope in memory says so too.
 */
void
queue_job_tried(struct worker *w, const struct qjob *j)
{
	struct qmsg *m = j->msg;
	uint16_t n = j->attempts < UINT16_MAX ? (uint16_t)j->attempts : UINT16_MAX;

	for (uint32_t i = 0; i < j->nrcpt; i++)
		m->env->rcpt[j->rcpt[i]].tries = n;
	spool_append(w->spool, &qrec_new(w, m, SPOOL_REC_TRIED, m->id, n, j->rcpt,
					 j->nrcpt * sizeof(*j->rcpt), tried_rec_done)->sw);
}

/* The "rcpts" list of the group that starts at i: the recipients after
 * it with its tenant, up to QUEUE_LOG_RCPT_BYTES; marked done. */
static void
log_rcpt_group(struct log_ev *e, const struct qmsg *m, const uint32_t *idx, uint32_t n,
	       const struct cfg_tenant **t, bool *done, uint32_t i)
{
	size_t bytes = 0;

	log_ev_list_begin(e, "rcpts");
	for (uint32_t k = i; k < n; k++) {
		const char *a = m->env->rcpt[idx[k]].addr;
		size_t len = strlen(a);

		if (done[k] || t[k] != t[i])
			continue;
		if (bytes > 0 && bytes + len > QUEUE_LOG_RCPT_BYTES)
			break;	/* the next line takes it */
		log_ev_list_str(e, a);
		bytes += len + 1;
		done[k] = true;
	}
	log_ev_list_end(e);
}

void
queue_log_rcpts(struct worker *w, const struct qmsg *m, const uint32_t *idx, uint32_t n,
		const char *event, const struct log_kv *f, size_t nf)
{
	const struct cfg_tenant *small_t[8], **t = small_t;
	bool small_done[8], *done = small_done;

	if (n > 8) {
		t = xmalloc(n * sizeof(*t));
		done = xmalloc(n * sizeof(*done));
	}
	for (uint32_t i = 0; i < n; i++) {
		t[i] = config_addr_tenant(w->cfg, m->env->rcpt[idx[i]].addr);
		done[i] = false;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct log_ev e;

		if (done[i])
			continue;
		log_ev_begin(&e, event);
		for (size_t k = 0; k < nf; k++) {
			if (f[k].type != LOG_KV_SLOT)
				log_ev_kv(&e, &f[k]);
			else if (strcmp(f[k].key, "tenant") == 0 && t[i] != NULL)
				log_ev_str(&e, "tenant", t[i]->name);
			else if (strcmp(f[k].key, "rcpts") == 0)
				log_rcpt_group(&e, m, idx, n, t, done, i);
		}
		log_ev_end(&e);
	}
	if (t != small_t) {
		free(done);
		free(t);
	}
}

/* Record a recipient's final state; skipped when DONE will say it all. */
void
queue_rcpt_final(struct worker *w, struct qmsg *m, uint32_t i, enum env_rcpt_state st)
{
	struct qrec *r;

	m->env->rcpt[i].state = (uint8_t)st;
	m->pending--;
	if (m->pending == 0)
		return;
	r = qrec_new(w, m, SPOOL_REC_RCPT, m->id, ((uint64_t)i << 8) | st, NULL, 0,
		     rcpt_rec_done);
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
	queue_msgs_del(w->q, m);
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
void
queue_msg_finish(struct worker *w, struct qmsg *m)
{
	struct qrec *r;

	if (m->pending > 0 || m->njobs > 0 || m->ndr_inflight > 0 || m->finishing)
		return;
	m->finishing = true;
	r = qrec_new(w, m, SPOOL_REC_DONE, m->id, 0, NULL, 0, done_rec_done);
	spool_append(w->spool, &r->sw);
}

/* A job leaves its message (on no list any more). */
void
queue_job_free(struct worker *w, struct qjob *j)
{
	struct qmsg *m = j->msg;

	wheel_cancel(&w->q->wheel, &j->timer);
	list_del(&j->mlink);
	queue_job_release(j);
	m->njobs--;
	queue_msg_finish(w, m);
}

/* ---- NDRs and delay notices ------------------------------------------- */

struct dsn_rcpt *
queue_job_dsn(const struct qjob *j, const uint32_t *idx, uint32_t n, enum dsn_action action,
	      const char *status, const char *detail, int64_t last_attempt)
{
	struct dsn_rcpt *info = xcalloc(n, sizeof(*info));

	for (uint32_t i = 0; i < n; i++) {
		const struct env_rcpt *r = &j->msg->env->rcpt[idx[i]];

		info[i] = (struct dsn_rcpt){
			.addr = r->addr, .orcpt = r->orcpt, .action = action,
			.status = status, .attempts = j->attempts,
			.code = (enum mfi_code)j->last_code,
			.reply_code = j->last_reply, .reply_text = j->last_error,
			.remote_mta = !j->last_answered ? NULL
				      : j->last_host ? j->last_host : j->last_ip,
			.detail = detail, .last_attempt = last_attempt,
		};
	}
	return info;
}

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
	return queue_route(w, pm) != NULL ? pm : NULL;
}

/*
 * The trace's record of a report about m (what the log says of it): sent
 * as message nid to `to` (0: none, and why), for its recipients idx[0..n);
 * and, when sent, the report's own "received", which refers back to m.
 */
static void
trace_ndr(struct worker *w, const struct qmsg *m, const uint32_t *idx, size_t n,
	  bool delayed, uint64_t nid, const char *to, const char *why, uint64_t size)
{
	struct trace_enc *e = trace_begin(w->trace, TRACE_NDR, m->id);
	char detail[320];

	if (e == NULL)
		return;
	trace_enc_result(e, nid == 0 ? TRACE_R_NOT_SENT : delayed ? TRACE_R_DELAY : TRACE_R_SENT);
	if (nid != 0)
		snprintf(detail, sizeof(detail), "%s to <%.255s>", delayed ? "delay notice" : "NDR",
			 to);
	else
		snprintf(detail, sizeof(detail), "no report: %s", why ? why : "?");
	trace_enc_str(e, TRACE_S_DETAIL, detail);
	trace_enc_num(e, TRACE_N_REF, (int64_t)nid);
	for (size_t k = 0; k < n; k++)
		trace_enc_rcpt(e, m->env->rcpt[idx[k]].addr);
	trace_commit(w->trace, e);
	if (nid == 0 || (e = trace_begin(w->trace, TRACE_RECEIVED, nid)) == NULL)
		return;
	trace_enc_str(e, TRACE_S_CLIENT, NDR_CLIENT);
	trace_enc_str(e, TRACE_S_DETAIL, delayed ? "delay notice" : "NDR");
	trace_enc_str(e, TRACE_S_SENDER, "");
	trace_enc_num(e, TRACE_N_SIZE, (int64_t)size);
	trace_enc_num(e, TRACE_N_REF, (int64_t)m->id);
	trace_enc_rcpt(e, to);
	trace_commit(w->trace, e);
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
void
queue_ndr_send(struct worker *w, struct qmsg *m, const uint32_t *idx,
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
				trace_ndr(w, m, idx, n, false, 0, NULL, "NOTIFY says no", 0);
				for (size_t k = 0; k < n; k++)
					queue_rcpt_final(w, m, idx[k], ENV_RCPT_FAILED);
			}
			free(dr);
			return;
		}
		if (queue_route(w, env->sender) == NULL) {
			why = "no connector routes the sender's domain";
			to = cfg->postmaster != NULL && queue_route(w, cfg->postmaster) != NULL
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
			trace_ndr(w, m, idx, n, false, 0, NULL, why, 0);
		if (!delayed)
			for (size_t k = 0; k < n; k++)
				queue_rcpt_final(w, m, idx[k], ENV_RCPT_FAILED);
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
	trace_ndr(w, m, idx, n, delayed, ne.id, to, NULL, r->b.len);
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
			queue_rcpt_final(w, m, r->fail[k], ENV_RCPT_FAILED);
		queue_accept(w, &r->b, 0, &loc);
	} else {
		/* not durable: the recipients stay queued and are tried again */
		log_err("id=%016llX: NDR not spooled: %s; its recipients stay queued",
			(unsigned long long)m->id, strerror(-res));
		for (uint32_t k = 0; k < r->nfail; k++) {
			struct dest *d = queue_route_env(w, m->env, m->env->rcpt[r->fail[k]].addr);
			if (d != NULL) {
				struct qjob *j = queue_job_new(w, m, d, &r->fail[k], 1);
				queue_job_defer(w, j, w->now +
						config_connector_default.retry_initial);
			}
		}
	}
	qrec_free(r);
	queue_msg_finish(w, m);
}

/* ---- alert notices ----------------------------------------------------- */

static void
notice_rec_done(struct spool_write *sw, int res)
{
	struct qrec *r = container_of(sw, struct qrec, sw);
	struct spool_loc loc = sw->loc;

	if (res == 0)
		queue_accept(r->w, &r->b, 0, &loc);
	else
		log_err("alert notice not spooled: %s; it is not sent", strerror(-res));
	qrec_free(r);
}

int
queue_notice_send(struct worker *w, const struct queue_notice *n)
{
	const struct config *cfg = w->cfg;
	struct env_rcpt *rc = xcalloc(n->nrcpt ? n->nrcpt : 1, sizeof(*rc));
	struct envelope ne = { .route = (char *)n->route };
	uint32_t k = 0;
	struct qrec *r;
	char nid[17];

	for (size_t i = 0; i < n->nrcpt; i++) {
		if (queue_route_env(w, &ne, n->rcpts[i]) == NULL) {
			log_warn("alert notice (%s): nothing routes <%s>: not sent to it",
				 LOG_TEXT(n->what), LOG_FIELD(n->rcpts[i]));
			continue;
		}
		rc[k++] = (struct env_rcpt){ .addr = (char *)n->rcpts[i],
					     .notify = ENV_NOTIFY_NEVER };
	}
	if (k == 0) {
		free(rc);
		return -EINVAL;
	}
	ne = (struct envelope){
		.id = spool_new_id(w->spool), .arrival = time(NULL), .sender = "",
		.helo = cfg->hostname, .client = NDR_CLIENT,
		.body = n->eightbit ? ENV_BODY_8BITMIME : ENV_BODY_NONE,
		.nrcpt = k, .rcpt = rc, .route = (char *)n->route,
	};
	r = xcalloc(1, sizeof(*r));
	r->w = w;
	size_t start = spool_rec_begin(&r->b, SPOOL_REC_MSG, ne.id);
	envelope_encode(&ne, &r->b);
	size_t envlen = r->b.len - start - SPOOL_HDR_SIZE;
	buf_append(&r->b, n->data, n->len);
	spool_rec_end(&r->b, start, envlen);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = notice_rec_done;
	envelope_id_str(ne.id, nid);
	log_info("alert notice (%s) to %u recipient(s) queued as %s%s%s", LOG_TEXT(n->what),
		 k, nid, n->route ? " through connector " : "", n->route ? n->route : "");
	free(rc);
	spool_append(w->spool, &r->sw);
	return 0;
}

/* ---- intake: a message split into jobs ------------------------------- */

/* Split the pending recipients of m into jobs, one per destination. */
static void
msg_route(struct worker *w, struct qmsg *m, bool kick)
{
	struct envelope *env = m->env;
	struct dest **rd = xcalloc(env->nrcpt, sizeof(*rd));
	uint32_t *noroute = xmalloc(env->nrcpt * sizeof(*noroute)), nnoroute = 0;

	for (uint32_t i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == ENV_RCPT_PENDING)
			rd[i] = queue_route_env(w, env, env->rcpt[i].addr);
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
		queue_job_new(w, m, d, idx, n);
		free(idx);
		if (kick && !m->held)
			queue_dest_kick(w, d);
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
		queue_ndr_send(w, m, noroute, info, nnoroute, false, 0);
		free(info);
	}
	free(noroute);
	queue_msg_finish(w, m);
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
	m = queue_msg_new(w, env, loc);
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
queue_recovered(struct worker *w, struct envelope *env, const struct spool_loc *loc,
		uint64_t total)
{
	if (w->q->nmsgs == 0)	/* the first one */
		queue_msgs_reserve(w->q, (size_t)total);
	queue_msg_new(w, env, loc);	/* routed into jobs by queue_start */
	w->st.queued++;
}

void
queue_start(struct worker *w)
{
	for (struct list *l = w->q->all.next; l != &w->q->all; l = l->next)
		msg_route(w, container_of(l, struct qmsg, link), false);
	for (uint32_t i = 0; i < w->q->ndestslots; i++)
		for (struct dest *d = w->q->dests[i]; d != NULL; d = d->hnext)
			queue_dest_kick(w, d);
}
