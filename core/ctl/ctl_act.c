/*
 * ctl_act — the control socket's actions on queued mail, on the control
 * thread: flush, hold, release, delete, bounce.
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

#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/xalloc.h"

/* ---- flush, hold, release, delete, bounce ------------------------------ */

struct act {
	enum queue_ctl_op op;		/* what */
	const char *verb;		/* its command word */
	char target[CTL_NAME_MAX];	/* id, connector, or "all" */
	uint64_t id;			/* message id, 0 none */
	bool any_known;			/* some worker knows the connector */
	bool found;			/* some worker has the message */
	struct queue_ctl_result tot;	/* summed */
};

static void
act_free(struct ctl_run *r)
{
	free(r->state);
}

static void
act_done(struct ctl_run *r)
{
	struct act *a = r->state;
	static const char *const done[] = {
		[QUEUE_CTL_FLUSH] = "flushed", [QUEUE_CTL_HOLD] = "held",
		[QUEUE_CTL_RELEASE] = "released", [QUEUE_CTL_DELETE] = "deleted",
		[QUEUE_CTL_BOUNCE] = "bounced",
	};

	if (a->id != 0 && !a->found) {
		ctl_fail(r, "no message %s in the queue", a->target);
		return;
	}
	if (a->id == 0 && strcmp(a->target, "all") != 0 && !a->any_known) {
		ctl_fail(r, "no connector '%s'", a->target);
		return;
	}
	if (r->json) {
		ctl_json(r, json_pack("{s:s, s:s, s:s, s:i, s:i, s:i}", "action", a->verb,
				      "target", a->target, "result", done[a->op],
				      "messages", (int)a->tot.msgs, "jobs", (int)a->tot.jobs,
				      "after_attempt", (int)a->tot.later));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"ACTION", "TARGET", ">MESSAGES", ">JOBS", ">AFTER-ATTEMPT", NULL });
		char m[16], j[16], l[16];
		snprintf(m, sizeof(m), "%u", a->tot.msgs);
		snprintf(j, sizeof(j), "%u", a->tot.jobs);
		snprintf(l, sizeof(l), "%u", a->tot.later);
		ctl_table_row(t, a->verb, a->target, m, j, l);
		ctl_table_print(t, r);
		ctl_printf(r, "%u job%s %s now; %u on a connection: %s\n", a->tot.jobs,
			   a->tot.jobs == 1 ? "" : "s", done[a->op], a->tot.later,
			   a->op == QUEUE_CTL_FLUSH ? "being tried already"
						    : "applied when the attempt ends");
	}
	ctl_end(r);
}

static void
act_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	struct act *a = r->state;

	a->any_known |= q->known;
	if (q->rc == 0 && q->id != 0)
		a->found = true;
	a->tot.msgs += q->act.msgs;
	a->tot.jobs += q->act.jobs;
	a->tot.later += q->act.later;
	if (q->rc == 0 && q->act.more) {	/* next slice of that worker's queue */
		struct ctl_wreq *n = ctl_req_new(r, q->worker, CTL_W_ACT);
		n->op = q->op;
		memcpy(n->connector, q->connector, sizeof(n->connector));
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

	r->state = a;
	r->on_free = act_free;
	a->op = op;
	a->verb = verb;
	if (r->argc > 1 || (r->argc == 0 && op != QUEUE_CTL_FLUSH)) {
		ctl_fail(r, "usage: %s %s [json]", verb,
			 op == QUEUE_CTL_FLUSH ? "[CONNECTOR|ID]" : "CONNECTOR|ID");
		return;
	}
	if (r->argc == 0) {
		snprintf(a->target, sizeof(a->target), "all");
	} else {
		if (strlen(r->argv[0]) >= sizeof(a->target)) {
			ctl_fail(r, "no connector '%.40s...'", r->argv[0]);
			return;
		}
		snprintf(a->target, sizeof(a->target), "%s", r->argv[0]);
		if (!ctl_sel_parse_id(r->argv[0], &a->id))
			a->id = 0;
	}
	r->on_reply = act_reply;
	for (unsigned i = 0; i < ctl.nw; i++) {
		struct ctl_wreq *q = ctl_req_new(r, i, CTL_W_ACT);
		q->op = op;
		q->id = a->id;
		if (a->id == 0 && r->argc == 1)
			snprintf(q->connector, sizeof(q->connector), "%s", a->target);
		ctl_req_send(q);
	}
}

static void
cmd_flush(struct ctl_run *r)
{
	act_start(r, QUEUE_CTL_FLUSH, "flush");
}

const struct ctl_cmd ctl_cmd_flush = {
	.words = "flush",
	.args = "[CONNECTOR|ID]",
	.help = "retry deferred mail now, bypassing the backoff",
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
	.args = "CONNECTOR|ID",
	.help = "stop delivery attempts until released",
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
	.args = "CONNECTOR|ID",
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
	.args = "CONNECTOR|ID",
	.help = "drop queued mail without an NDR",
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
	.args = "CONNECTOR|ID",
	.help = "return queued mail to its sender now, with an NDR",
	.changes = true,
	.run = cmd_bounce,
};
