/*
 * queue_ctl — what the operator's commands do to the queued jobs of one
 * worker: sluicectl hold/release/delete/bounce/flush, connector
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
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"
#include "core/tenant/directory.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/dsn.h"
#include "queue/queue_int.h"

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
		queue_rcpt_final(w, m, j->rcpt[i], ENV_RCPT_FAILED);
	j->nrcpt = 0;
	queue_job_free(w, j);
}

/* Return j's recipients to the sender now, with an NDR. */
static void
job_bounce(struct worker *w, struct qjob *j)
{
	struct qmsg *m = j->msg;
	struct dsn_rcpt *info;
	struct buf detail = { 0 };
	char qid[17];

	buf_puts(&detail, "returned by the relay operator before delivery");
	if (j->last_detail != NULL)
		buf_printf(&detail, "; last attempt: %s", j->last_detail);
	buf_append(&detail, "", 1);
	/* never tried: no code of its own to report */
	info = queue_job_dsn(j, DSN_ACTION_FAILED, j->last_code == MFI_NONE ? "5.0.0" : NULL,
			     detail.p, j->last_attempt);
	envelope_id_str(m->id, qid);
	log_info("id=%s: %u recipient(s) for %s returned by the operator", qid, j->nrcpt,
		 LOG_FIELD(j->dest->name));
	j->dest->st.bounced += j->nrcpt;
	w->st.rcpts_bounced += j->nrcpt;
	queue_ndr_send(w, m, j->rcpt, info, j->nrcpt, false, 0);
	j->nrcpt = 0;
	queue_job_free(w, j);
	free(info);
	buf_free(&detail);
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
		break;
	case QUEUE_CTL_RELEASE:
		if (j->state != QJOB_HELD)
			return false;
		j->ctl = QUEUE_CTL_NONE;
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
