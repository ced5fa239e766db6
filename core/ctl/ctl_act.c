/*
 * ctl_act — the control socket's actions on queued mail, on the control
 * thread: flush, hold, release, delete, bounce, requeue.
 *
 * Each takes a selection (core/ctl/ctl_select.h): a connector, up to 16
 * queue ids, "all", or filters (sender, rcpt, older, younger), which hold
 * together; flush alone is all.  Hold, release and flush act on whole
 * jobs (the recipients of a message at one destination: one transaction);
 * delete and bounce with rcpt take only the recipients that match.  An id
 * given alone that is not queued is an error, as before; among several,
 * the missing ones are named in the answer (not_found).
 *
 * Actions walk a worker's queue CTL_ACT_BUDGET messages per request and
 * resume from a cursor, so even "bounce" of a large backlog runs as many
 * short steps of the worker's loop instead of one long stall.  What an
 * action does to a job is queue/queue_ctl.c, on the worker.
 */
#include "core/ctl/ctl_act.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/strb.h"
#include "core/xalloc.h"

/* ---- flush, hold, release, delete, bounce ------------------------------ */

struct act {
	enum queue_ctl_op op;		/* what */
	const char *verb;		/* its command word */
	char target[200];		/* the selection as given ("all" for
					   flush without one) */
	struct ctl_sel sel;		/* which mail */
	bool any_known;			/* some worker knows the connector */
	uint32_t found;			/* bit i: some worker has sel.ids[i] */
	struct queue_ctl_result tot;	/* summed */
	enum ctl_cl_scope scope;	/* hold|release CONNECTOR: for the cluster? */
};

static void
act_free(struct ctl_run *r)
{
	free(r->state);
}

/* The ids given that no worker has, as text or JSON. */
static void
act_missing(const struct act *a, struct strb *text, json_t **arr)
{
	for (uint32_t i = 0; i < a->sel.nids; i++) {
		char id[17];
		if (a->found & (1u << i))
			continue;
		envelope_id_str(a->sel.ids[i], id);
		strb_printf(text, "%s%s", text->len ? " " : "", id);
		log_json_append(arr, log_json_s(id));
	}
}

static void
act_done(struct ctl_run *r)
{
	struct act *a = r->state;
	static const char *const done[] = {
		[QUEUE_CTL_FLUSH] = "flushed", [QUEUE_CTL_HOLD] = "held",
		[QUEUE_CTL_RELEASE] = "released", [QUEUE_CTL_DELETE] = "deleted",
		[QUEUE_CTL_BOUNCE] = "bounced", [QUEUE_CTL_REQUEUE] = "requeued",
	};
	const struct queue_ctl_result *t = &a->tot;
	STRB_LOCAL(missing, CTL_SEL_IDS * 17 + 1);
	json_t *nf = json_array();

	if (a->sel.connector[0] && !a->any_known) {
		json_decref(nf);
		ctl_fail(r, "no connector '%s'", a->sel.connector);
		return;
	}
	act_missing(a, &missing, &nf);
	if (a->sel.nids == 1 && a->found == 0) {
		json_decref(nf);
		ctl_fail(r, "no message %s in the queue", missing.p);
		return;
	}
	if (r->json) {
		ctl_json(r, json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:o}",
				      "action", a->verb, "target", a->target,
				      "result", done[a->op], "messages", (int)t->msgs,
				      "jobs", (int)t->jobs, "recipients", (int)t->rcpts,
				      "after_attempt", (int)t->later, "busy", (int)t->busy,
				      "unroutable", (int)t->unroutable, "not_found", nf));
	} else {
		struct ctl_table *tb = ctl_table_new((const char *[]){
			"ACTION", "TARGET", ">MESSAGES", ">JOBS", ">RECIPIENTS",
			">AFTER-ATTEMPT", NULL });
		char m[16], j[16], n[16], l[16];
		json_decref(nf);
		snprintf(m, sizeof(m), "%u", t->msgs);
		snprintf(j, sizeof(j), "%u", t->jobs);
		snprintf(n, sizeof(n), "%u", t->rcpts);
		snprintf(l, sizeof(l), "%u", t->later);
		ctl_table_row(tb, a->verb, a->target, m, j, n, l);
		ctl_table_print(tb, r);
		if (a->op == QUEUE_CTL_DELETE || a->op == QUEUE_CTL_BOUNCE)
			ctl_printf(r, "%u recipient%s of %u job%s %s now", t->rcpts,
				   t->rcpts == 1 ? "" : "s", t->jobs,
				   t->jobs == 1 ? "" : "s", done[a->op]);
		else
			ctl_printf(r, "%u job%s %s now", t->jobs, t->jobs == 1 ? "" : "s",
				   done[a->op]);
		ctl_printf(r, "; %u on a connection: %s\n", t->later,
			   a->op == QUEUE_CTL_FLUSH ? "being tried already"
						    : "applied when the attempt ends");
		if (a->op == QUEUE_CTL_REQUEUE)
			ctl_printf(r, "%u recipient%s moved to the destination the configuration "
				   "routes %s to now; %u that nothing routes now left where "
				   "they were\n", t->rcpts, t->rcpts == 1 ? "" : "s",
				   t->rcpts == 1 ? "it" : "them", t->unroutable);
		if (t->busy > 0)
			ctl_printf(r, "%u job%s on a connection left alone: only some of its "
				   "recipients were selected; try again after the attempt\n",
				   t->busy, t->busy == 1 ? "" : "s");
		if (missing.len > 0)
			ctl_printf(r, "not in the queue: %s\n", missing.p);
	}
	if ((a->op == QUEUE_CTL_HOLD || a->op == QUEUE_CTL_RELEASE) && a->sel.connector[0] &&
	    a->sel.nids == 0 && !a->sel.all && !ctl_sel_filters(&a->sel) &&
	    ctl_cluster_post(a->scope, CTL_CL_HOLD, a->sel.connector, a->op == QUEUE_CTL_HOLD))
		ctl_cluster_said(r);
	ctl_end(r);
}

static void
act_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	struct act *a = r->state;

	a->any_known |= q->known;
	a->found |= q->act.found;
	a->tot.msgs += q->act.msgs;
	a->tot.jobs += q->act.jobs;
	a->tot.rcpts += q->act.rcpts;
	a->tot.later += q->act.later;
	a->tot.busy += q->act.busy;
	a->tot.unroutable += q->act.unroutable;
	if (q->rc == 0 && q->act.more) {	/* next slice of that worker's queue */
		struct ctl_wreq *n = ctl_req_new(r, q->worker, CTL_W_ACT);
		n->op = q->op;
		n->sel = q->sel;
		n->cursor = q->cursor;
		ctl_req_send(n);
	}
	ctl_req_free(q);
	if (r->outstanding == 0)
		act_done(r);
}

static void
act_start(struct ctl_run *r, enum queue_ctl_op op, const char *verb)
{
	struct act *a = xcalloc(1, sizeof(*a));
	struct strb target;
	char err[256];

	r->state = a;
	r->on_free = act_free;
	a->op = op;
	a->verb = verb;
	a->scope = ctl_cluster_scope(r);
	if (ctl_sel_parse(r->argv, r->argc, CTL_SEL_ACT, time(NULL), &a->sel, err,
			  sizeof(err)) < 0) {
		ctl_fail(r, "%s; usage: %s %s [json]", err, verb, r->cmd->args);
		return;
	}
	if (ctl_sel_empty(&a->sel) && op != QUEUE_CTL_FLUSH) {
		ctl_fail(r, "usage: %s %s [json] (say which mail: a connector, queue ids, "
			 "all, or filters)", verb, r->cmd->args);
		return;
	}
	strb_init(&target, a->target, sizeof(a->target));
	for (int i = 0; i < r->argc; i++)
		strb_printf(&target, "%s%s", i ? " " : "", r->argv[i]);
	strb_mark_cut(&target, "...");
	if (r->argc == 0)
		strb_puts(&target, "all");
	r->on_reply = act_reply;
	for (unsigned i = 0; i < ctl.nw; i++) {
		struct ctl_wreq *q = ctl_req_new(r, i, CTL_W_ACT);
		q->op = op;
		q->sel = a->sel;
		ctl_req_send(q);
	}
}

/* The selection words of every action, for its usage line: FILTERs are
 * show queue's (connector, sender, rcpt, older, younger). */
#define ACT_ARGS "CONNECTOR|ID...|all|FILTER..."

static void
cmd_flush(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_FLUSH, "flush");
}

const struct ctl_cmd ctl_cmd_flush = {
	.words = "flush",
	.args = "[" ACT_ARGS "]",
	.help = "retry deferred mail now, bypassing the backoff (all without a selection; "
		"FILTERs as show queue's)",
	.changes = true,
	.run = cmd_flush,
};

static void
cmd_hold(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_HOLD, "hold");
}

const struct ctl_cmd ctl_cmd_hold = {
	.words = "hold",
	.args = ACT_ARGS,
	.help = "stop delivery attempts until released (\"-\" in sluicectl: ids from stdin; "
		"a connector alone: on every node of a cluster, unless followed by local)",
	.changes = true,
	.run = cmd_hold,
};

static void
cmd_release(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_RELEASE, "release");
}

const struct ctl_cmd ctl_cmd_release = {
	.words = "release",
	.args = ACT_ARGS,
	.help = "end a hold",
	.changes = true,
	.run = cmd_release,
};

static void
cmd_delete(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_DELETE, "delete");
}

const struct ctl_cmd ctl_cmd_delete = {
	.words = "delete",
	.args = ACT_ARGS,
	.help = "drop queued mail without an NDR (with rcpt: those recipients only)",
	.changes = true,
	.run = cmd_delete,
};

static void
cmd_bounce(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_BOUNCE, "bounce");
}

const struct ctl_cmd ctl_cmd_bounce = {
	.words = "bounce",
	.args = ACT_ARGS,
	.help = "return queued mail to its sender now, with an NDR (with rcpt: those "
		"recipients only)",
	.changes = true,
	.run = cmd_bounce,
};

static void
cmd_requeue(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_REQUEUE, "requeue");
}

const struct ctl_cmd ctl_cmd_requeue = {
	.words = "requeue",
	.args = ACT_ARGS,
	.help = "route queued mail again through the current configuration (after a "
		"reload moved a domain): attempts kept, moved mail tried at once",
	.changes = true,
	.run = cmd_requeue,
};
