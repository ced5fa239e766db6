/*
 * queue_ctl — what the operator's commands do to the queued jobs of one
 * worker: sluicectl hold/release/delete/bounce/flush/requeue, connector
 * enable/disable, and fix-now's return of recipients a directory does not
 * know.  Runs on the worker thread, called from core/ctl/ctl_worker.c.
 *
 * A job on a connection is never touched: the op is remembered in j->ctl
 * and applied when its attempt ends (queue_ctl_after_attempt, called by
 * queue_outcome.c).  Built on queue.c (jobs' lists, destinations) and
 * queue_msg.c (records, NDRs); neither calls in here.
 */
#include "queue/queue.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/tenant/directory.h"
#include "core/trace/trace.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/dsn.h"
#include "queue/queue_int.h"

/* The trace's record of an operator's action on recipients idx[0..n)
 * of j (what the log says of it, or that a job was held or released). */
static void
trace_action(struct worker *w, const struct qjob *j, enum trace_kind kind,
	     const uint32_t *idx, uint32_t n, const char *detail)
{
	struct trace_enc *e = trace_begin(w->trace, kind, j->msg->id);

	if (e == NULL)
		return;
	trace_enc_str(e, TRACE_S_CONNECTOR, j->dest->name);
	trace_enc_str(e, TRACE_S_DETAIL, detail);
	for (uint32_t i = 0; i < n; i++)
		trace_enc_rcpt(e, j->msg->env->rcpt[idx[i]].addr);
	trace_commit(w->trace, e);
}

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

/* Drop recipients idx[0..n) of j without an NDR (their state is
 * recorded); they are no longer j's. */
static void
rcpts_delete(struct worker *w, struct qjob *j, const uint32_t *idx, uint32_t n)
{
	struct qmsg *m = j->msg;
	char qid[17];

	envelope_id_str(m->id, qid);
	log_info("id=%s: %u recipient(s) for %s deleted by the operator", qid, n,
		 LOG_FIELD(j->dest->name));
	trace_action(w, j, TRACE_DELETE, idx, n, "deleted by the operator, no report");
	w->st.rcpts_deleted += n;
	for (uint32_t i = 0; i < n; i++)
		queue_rcpt_final(w, m, idx[i], ENV_RCPT_FAILED);
}

/* The event of recipients idx[0..n) of j returned to the sender by an
 * action (by: operator, fix-now) rather than by the next hop or expiry. */
static void
log_returned(struct worker *w, const struct qjob *j, const uint32_t *idx, uint32_t n,
	     const char *by, const char *status, const char *detail)
{
	char qid[17];

	envelope_id_str(j->msg->id, qid);
	const struct log_kv f[] = {
		LOG_KV_S("id", qid), LOG_KV_S("connector", j->dest->connector),
		LOG_KV_SLOT("tenant"), LOG_KV_S("by", by), LOG_KV_SLOT("rcpts"),
		LOG_KV_S("code", status), LOG_KV_S("detail", detail),
		LOG_KV_I("attempts", j->attempts),
	};
	queue_log_rcpts(w, j->msg, idx, n, "returned", f, sizeof(f) / sizeof(f[0]));
}

/* Return recipients idx[0..n) of j to the sender now, with an NDR. */
static void
rcpts_bounce(struct worker *w, struct qjob *j, const uint32_t *idx, uint32_t n)
{
	struct qmsg *m = j->msg;
	struct dsn_rcpt *info;
	struct buf detail = { 0 };

	buf_puts(&detail, "returned by the relay operator before delivery");
	if (j->last_detail != NULL)
		buf_printf(&detail, "; last attempt: %s", j->last_detail);
	buf_append(&detail, "", 1);
	/* never tried: no code of its own to report */
	info = queue_job_dsn(j, idx, n, DSN_ACTION_FAILED, j->last_code == MFI_NONE ? "5.0.0" : NULL,
			     detail.p, j->last_attempt);
	log_returned(w, j, idx, n, "operator", "5.0.0", detail.p);
	trace_action(w, j, TRACE_BOUNCE, idx, n, "returned by the operator");
	j->dest->st.bounced += n;
	w->st.rcpts_bounced += n;
	queue_ndr_send(w, m, idx, info, n, false, 0);
	free(info);
	buf_free(&detail);
}

/* Drop all of j's recipients without an NDR, and j. */
static void
job_delete(struct worker *w, struct qjob *j)
{
	rcpts_delete(w, j, j->rcpt, j->nrcpt);
	j->nrcpt = 0;
	queue_job_free(w, j);
}

/* Return all of j's recipients with an NDR, and free j. */
static void
job_bounce(struct worker *w, struct qjob *j)
{
	rcpts_bounce(w, j, j->rcpt, j->nrcpt);
	j->nrcpt = 0;
	queue_job_free(w, j);
}

/*
 * Recipients idx[0..n) of j go to d now: to m's job there if one is ready
 * (and j is not held), else to a new job that carries j's attempts, last
 * failure and history, ready at once, or held as j is.
 */
static void
job_move(struct worker *w, struct qjob *j, struct dest *d, const uint32_t *idx, uint32_t n)
{
	struct qmsg *m = j->msg;
	struct qjob *t = NULL;

	for (struct list *l = m->jobs.next; l != &m->jobs && t == NULL; l = l->next) {
		struct qjob *o = container_of(l, struct qjob, mlink);
		if (o != j && o->dest == d && o->state == QJOB_READY && j->state != QJOB_HELD)
			t = o;
	}
	if (t != NULL) {
		t->rcpt = xrealloc(t->rcpt, (t->nrcpt + n) * sizeof(*t->rcpt));
		memcpy(t->rcpt + t->nrcpt, idx, n * sizeof(*idx));
		t->nrcpt += n;
	} else {
		t = queue_job_new(w, m, d, idx, n);
		t->attempts = j->attempts;
		t->last_code = j->last_code;
		t->last_reply = j->last_reply;
		t->last_answered = j->last_answered;
		t->last_attempt = j->last_attempt;
		t->last_error = j->last_error ? xstrdup(j->last_error) : NULL;
		t->last_detail = j->last_detail ? xstrdup(j->last_detail) : NULL;
		t->last_host = j->last_host ? xstrdup(j->last_host) : NULL;
		t->last_ip = j->last_ip ? xstrdup(j->last_ip) : NULL;
		if (j->hist != NULL) {
			t->hist = xmalloc(sizeof(*t->hist));
			*t->hist = *j->hist;
		}
		if (j->state == QJOB_HELD && t->state != QJOB_HELD)
			job_hold(w, t);
	}
	if (t->state == QJOB_READY)
		queue_dest_kick(w, d);
}

/* The trace's record of recipients idx[0..n) of j moved to d. */
static void
trace_requeue(struct worker *w, const struct qjob *j, const struct dest *d,
	      const uint32_t *idx, uint32_t n)
{
	char detail[600];

	snprintf(detail, sizeof(detail), "requeued by the operator from %.250s to %.250s",
		 j->dest->name, d->name);
	trace_action(w, j, TRACE_REQUEUE, idx, n, detail);
}

/*
 * Route j's recipients again through the worker's current config: those
 * whose destination changed move there (job_move); those nothing routes
 * now stay in j (res->unroutable).  j is freed when none stays.  Returns
 * true if j is gone.
 */
static bool
job_requeue(struct worker *w, struct qjob *j, struct queue_ctl_result *res)
{
	struct qmsg *m = j->msg;
	uint32_t n = j->nrcpt, keep = 0, moved = 0;
	struct dest **to = xcalloc(n, sizeof(*to));
	uint32_t *idx = xmalloc(n * sizeof(*idx));
	bool *gone = xcalloc(n, sizeof(*gone));
	char qid[17];

	for (uint32_t i = 0; i < n; i++) {
		to[i] = queue_route_env(w, m->env, m->env->rcpt[j->rcpt[i]].addr);
		if (to[i] == NULL) {
			res->unroutable++;
			to[i] = j->dest;
		}
	}
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = 0;
		if (to[i] == j->dest || gone[i])
			continue;
		for (uint32_t x = i; x < n; x++)
			if (to[x] == to[i] && !gone[x]) {
				idx[k++] = j->rcpt[x];
				gone[x] = true;
			}
		envelope_id_str(m->id, qid);
		log_info("id=%s: %u recipient(s) requeued from %s to %s by the operator", qid,
			 k, LOG_FIELD(j->dest->name), LOG_FIELD(to[i]->name));
		trace_requeue(w, j, to[i], idx, k);
		job_move(w, j, to[i], idx, k);
		moved += k;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!gone[i])
			j->rcpt[keep++] = j->rcpt[i];
	j->nrcpt = keep;
	free(to);
	free(idx);
	free(gone);
	if (moved > 0) {
		res->jobs++;
		res->rcpts += moved;
	}
	if (keep > 0)
		return false;
	if (j->state != QJOB_ACTIVE)
		job_unlink(j);
	queue_job_free(w, j);
	return true;
}

/*
 * The attempt of active job j ended with recipients left (attempts counted)
 * and the operator asked for something meanwhile.  True if j was dealt
 * with (held, or gone); false to defer it as usual.
 */
bool
queue_ctl_after_attempt(struct worker *w, struct qjob *j)
{
	switch (j->ctl) {
	case QUEUE_CTL_HOLD:
		job_hold(w, j);
		trace_action(w, j, TRACE_HOLD, j->rcpt, j->nrcpt, "held by the operator");
		return true;
	case QUEUE_CTL_DELETE:
		job_delete(w, j);
		return true;
	case QUEUE_CTL_BOUNCE:
		job_bounce(w, j);
		return true;
	case QUEUE_CTL_REQUEUE: {
		struct queue_ctl_result ignored = { 0 };
		j->ctl = QUEUE_CTL_NONE;
		return job_requeue(w, j, &ignored);	/* what stays is deferred */
	}
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
	uint32_t n = j->nrcpt;

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
			queue_dest_kick(w, d);
			break;
		}
		if (j->state != QJOB_DEFERRED)
			return false;
		queue_job_ready(w, j);
		if (d->down && !d->probing)
			d->probe_at = w->now;	/* probe now, not at the next step */
		queue_dest_kick(w, d);
		break;
	case QUEUE_CTL_HOLD:
		if (j->state == QJOB_HELD)
			return false;
		job_hold(w, j);
		trace_action(w, j, TRACE_HOLD, j->rcpt, j->nrcpt, "held by the operator");
		break;
	case QUEUE_CTL_RELEASE:
		if (j->state != QJOB_HELD)
			return false;
		j->ctl = QUEUE_CTL_NONE;
		trace_action(w, j, TRACE_RELEASE, j->rcpt, j->nrcpt, "released by the operator");
		queue_job_ready(w, j);
		queue_dest_kick(w, d);
		break;
	case QUEUE_CTL_DELETE:
		job_unlink(j);
		job_delete(w, j);
		break;
	case QUEUE_CTL_BOUNCE:
		job_unlink(j);
		job_bounce(w, j);
		break;
	case QUEUE_CTL_REQUEUE: {
		uint32_t before = res->rcpts;
		job_requeue(w, j, res);		/* counts what it moved */
		return res->rcpts > before;
	}
	default:
		return false;
	}
	res->jobs++;
	res->rcpts += n;
	return true;
}

/*
 * Delete or bounce the recipients of j that sel takes, when they are only
 * some of them: they leave j, which stays as it is with the others.
 * Returns false if none do, or if j is on a connection (busy: its
 * recipients are being answered right now).
 */
static bool
ctl_job_part(struct worker *w, struct qjob *j, const struct queue_ctl_sel *sel,
	     enum queue_ctl_op op, struct queue_ctl_result *res)
{
	uint32_t *idx, n = 0, keep = 0;

	if (j->state == QJOB_ACTIVE) {
		res->busy++;
		return false;
	}
	idx = xmalloc(j->nrcpt * sizeof(*idx));
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		if (sel->rcpt_match(j->msg->env->rcpt[j->rcpt[i]].addr, sel->arg))
			idx[n++] = j->rcpt[i];
		else
			j->rcpt[keep++] = j->rcpt[i];
	}
	j->nrcpt = keep;
	if (op == QUEUE_CTL_DELETE)
		rcpts_delete(w, j, idx, n);
	else
		rcpts_bounce(w, j, idx, n);
	free(idx);
	res->jobs++;
	res->rcpts += n;
	return true;
}

/* How many of j's recipients sel takes. */
static uint32_t
job_selected(const struct qjob *j, const struct queue_ctl_sel *sel)
{
	uint32_t n = 0;

	if (sel->rcpt_match == NULL)
		return j->nrcpt;
	for (uint32_t i = 0; i < j->nrcpt; i++)
		n += sel->rcpt_match(j->msg->env->rcpt[j->rcpt[i]].addr, sel->arg);
	return n;
}

/* Apply op to the jobs of m that sel takes. */
static void
ctl_msg(struct worker *w, struct qmsg *m, const struct queue_ctl_sel *sel,
	enum queue_ctl_op op, struct queue_ctl_result *res)
{
	bool any = false;
	struct list *l, *next;

	if (m->finishing)
		return;
	if (sel->connector == NULL && sel->rcpt_match == NULL && op == QUEUE_CTL_HOLD)
		m->held = true;		/* jobs made later are held too */
	for (l = m->jobs.next; l != &m->jobs; l = next) {
		struct qjob *j = container_of(l, struct qjob, mlink);
		uint32_t n;
		next = l->next;		/* j may be freed */
		if (sel->connector != NULL && strcmp(j->dest->connector, sel->connector) != 0)
			continue;
		n = job_selected(j, sel);
		if (n == 0)
			continue;
		if (n < j->nrcpt && (op == QUEUE_CTL_DELETE || op == QUEUE_CTL_BOUNCE)) {
			if (ctl_job_part(w, j, sel, op, res))
				any = true;
		} else if (ctl_job(w, j, op, res)) {
			any = true;
		}
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
queue_ctl_apply(struct worker *w, const struct queue_ctl_sel *sel, enum queue_ctl_op op,
		uint64_t *cursor, uint32_t budget, struct queue_ctl_result *res)
{
	struct queue *q = w->q;
	struct list *l;
	uint32_t seen = 0;

	memset(res, 0, sizeof(*res));
	for (uint32_t i = 0; i < sel->nids && i < 32; i++) {
		struct qmsg *m = queue_msg_find(w, sel->ids[i]);
		if (m == NULL)
			continue;
		res->found |= 1u << i;
		if (sel->msg_match == NULL || sel->msg_match(m, sel->arg) == 1)
			ctl_msg(w, m, sel, op, res);
	}
	if (sel->nids > 0)
		return 0;
	l = q->all.next;
	if (*cursor != 0) {
		struct qmsg *m = queue_msg_find(w, *cursor);
		if (m != NULL)		/* else start over: every op is idempotent */
			l = m->link.next;
	}
	for (; l != &q->all; l = l->next) {
		struct qmsg *m = container_of(l, struct qmsg, link);
		int take = 1;
		if (seen++ >= budget ||
		    (sel->msg_match != NULL && (take = sel->msg_match(m, sel->arg)) < 0)) {
			res->more = true;
			return 0;
		}
		if (take)
			ctl_msg(w, m, sel, op, res);
		*cursor = m->id;
	}
	return 0;
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
			log_returned(w, j, idx, n, "fix-now", "5.1.10", info[0].detail);
			trace_action(w, j, TRACE_FIXNOW, idx, n, "returned by fix-now: the domain "
				     "is authoritative and the recipient is not in its directory");
			queue_ndr_send(w, m, idx, info, n, false, 0);
			if (keep == 0) {
				job_unlink(j);
				queue_job_free(w, j);
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
				queue_dest_kick(w, d);
		}
	return n;
}
