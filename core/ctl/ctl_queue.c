/*
 * ctl_queue — the control socket's queue commands, on the control thread:
 * show queue (streamed), connector enable|disable, and validate
 * connector.  The actions on queued mail are core/ctl/ctl_act.c.
 *
 * show queue never asks a worker for more than CTL_CHUNK rows at a time
 * and asks again (from a cursor) only when the client has taken most of
 * what was sent, so a million queued messages stream at the client's pace
 * while delivery goes on.  Rows from the workers are merged by arrival.
 * */
#include "core/ctl/ctl_queue.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/strb.h"
#include "core/xalloc.h"

/* ---- show queue -------------------------------------------------------- */

/* Per-worker position in the stream. */
struct qsrc {
	struct ctl_wreq *q;		/* last answer, rows from pos on unread */
	uint32_t pos;			/* next row */
	uint64_t cursor;		/* resume after this id */
	bool end;			/* the worker has no more */
	bool busy;			/* a request is out */
};

struct qstream {
	struct ctl_sel sel;		/* which messages (sel.limit: rows at
					   most, 0 no limit) */
	uint64_t emitted;		/* rows sent */
	struct qsrc *src;		/* one per worker */
	int64_t now;			/* for ages, fixed at the start */
	bool known;			/* some worker knows the connector */
	bool started;			/* the head (or JSON opening) is out: once
					   every worker answered, so an unknown
					   connector is an error alone */
};

static void qstream_pump(struct ctl_run *r);

static void
qstream_free(struct ctl_run *r)
{
	struct qstream *st = r->state;

	for (unsigned i = 0; i < ctl.nw; i++)
		ctl_req_free(st->src[i].q);
	free(st->src);
	free(st);
}

static void
qstream_request(struct ctl_run *r, unsigned i)
{
	struct qstream *st = r->state;
	struct ctl_wreq *q = ctl_req_new(r, i, CTL_W_QUEUE);

	q->sel = st->sel;
	q->cursor = st->src[i].cursor;
	q->limit = CTL_CHUNK;
	st->src[i].busy = true;
	ctl_req_send(q);
}

static void
qstream_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	struct qstream *st = r->state;
	struct qsrc *s = &st->src[q->worker];

	ctl_req_free(s->q);
	s->q = q;
	s->pos = 0;
	s->cursor = q->cursor;
	s->end = q->end;
	s->busy = false;
	st->known |= q->known;
	qstream_pump(r);
}

static const char *
state_name(uint8_t s)
{
	switch (s) {
	case QJOB_READY: return "ready";
	case QJOB_ACTIVE: return "active";
	case QJOB_DEFERRED: return "deferred";
	default: return "held";
	}
}

/*
 * One message as a JSON array element.  Sender, recipients, destination
 * names (they hold recipient domains) and the last error (a remote
 * reply) are the peers' text: log_json_s makes them valid UTF-8, so a
 * message with a stray byte is shown like any other.  NULL only when
 * jansson fails (out of memory).
 */
static json_t *
qstream_row_json(const struct qstream *st, const struct ctl_wreq *q,
		 const struct ctl_qrow *row, const char *id)
{
	const char *ar = q->arena.p, *p = ar + row->rcpts;
	json_t *rcpts = json_array(), *conns = json_array();
	char buf[256], *save, *tok;
	char code[32] = "";
	bool ok = rcpts != NULL && conns != NULL;

	for (uint32_t i = 0; ok && i < row->nrcpt; i++, p += strlen(p) + 1)
		ok = json_array_append_new(rcpts, log_json_s(p)) == 0;
	snprintf(buf, sizeof(buf), "%s", ar + row->connectors);
	for (tok = strtok_r(buf, " ", &save); ok && tok; tok = strtok_r(NULL, " ", &save))
		ok = json_array_append_new(conns, log_json_s(tok)) == 0;
	if (!ok) {
		json_decref(rcpts);
		json_decref(conns);
		return NULL;
	}
	if (row->code != MFI_NONE && row->code != MFI_REMOTE)
		snprintf(code, sizeof(code), "%s", mfi_status((enum mfi_code)row->code));
	return json_pack("{s:s, s:o, s:I, s:s, s:i, s:o, s:o, s:o, s:o, s:s?, s:s, s:o}",
			 "id", id, "arrival", ctl_json_time(row->arrival),
			 "age", (json_int_t)(st->now - row->arrival),
			 "state", state_name(row->state), "attempts", (int)row->attempts,
			 "destinations", conns, "sender", log_json_s(ar + row->sender),
			 "recipients", rcpts, "last_attempt", ctl_json_time(row->last_attempt),
			 "code", code[0] ? code : NULL,
			 "mfi", mfi_name((enum mfi_code)row->code),
			 "last_error", log_json_s(ar + row->error));
}

/* One message, as a JSON element or a table line.  Returns 0, or -ENOMEM
 * when its JSON could not be built (the stream then ends with an error). */
static int
qstream_row(struct ctl_run *r, const struct ctl_wreq *q, const struct ctl_qrow *row)
{
	struct qstream *st = r->state;
	const char *ar = q->arena.p;
	const char *rc = ar + row->rcpts;
	char id[17], age[24];

	envelope_id_str(row->id, id);
	ctl_fmt_age(st->now - row->arrival, age, sizeof(age));
	if (r->json)
		return ctl_json_stream_item(r, qstream_row_json(st, q, row, id));
	/* recipients: the first two, then a count; the peers' text escaped
	 * for the terminal (core/log.h) */
	char more[16] = "";
	STRB_LOCAL(rcpts, 128);
	const char *p = rc;
	if (row->nrcpt > 2)	/* the count always shows: room kept for it */
		snprintf(more, sizeof(more), ",+%u", row->nrcpt - 2);
	rcpts.cap -= strlen(more);
	for (uint32_t i = 0; i < row->nrcpt && i < 2; i++, p += strlen(p) + 1)
		strb_printf(&rcpts, "%s%s", i ? "," : "", LOG_FIELD(p));
	strb_mark_cut(&rcpts, "...");
	rcpts.cap += strlen(more);
	strb_puts(&rcpts, more);
	ctl_printf(r, "%-16s  %7s  %-8s  %4u  %-16s  %-28s  %-34s  %s\n", id, age,
		   state_name(row->state), row->attempts, LOG_TEXT(ar + row->connectors),
		   ar[row->sender] ? LOG_FIELD(ar + row->sender) : "<>", rcpts.p,
		   ar[row->error] ? LOG_TEXT(ar + row->error) : "-");
	return 0;
}

static void
qstream_finish(struct ctl_run *r, const char *error)
{
	struct qstream *st = r->state;

	if (r->json)
		ctl_json_stream_end(r, json_pack("{s:I, s:s*}", "count",
						 (json_int_t)st->emitted, "error", error));
	else if (error != NULL)
		ctl_printf(r, "(%llu message%s, then an error: %s)\n",
			   (unsigned long long)st->emitted, st->emitted == 1 ? "" : "s",
			   error);
	else
		ctl_printf(r, "(%llu message%s)\n", (unsigned long long)st->emitted,
			   st->emitted == 1 ? "" : "s");
	ctl_end(r);
}

/* Send rows while every worker that may have older ones has some buffered;
 * ask for more where a buffer ran dry, as long as the client keeps up. */
static void
qstream_pump(struct ctl_run *r)
{
	struct qstream *st = r->state;
	bool waiting = false;

	if (r->cl == NULL) {		/* client left: stop when answers are in */
		if (r->outstanding == 0)
			ctl_end(r);
		return;
	}
	if (!st->started) {
		if (r->outstanding > 0)
			return;		/* each worker's first answer */
		if (!st->known) {
			ctl_fail(r, "no connector '%s'", st->sel.connector);
			return;
		}
		st->started = true;
		if (r->json)
			ctl_json_stream_begin(r, "messages");
		else
			ctl_printf(r, "%-16s  %7s  %-8s  %4s  %-16s  %-28s  %-34s  %s\n", "ID",
				   "AGE", "STATE", "ATT", "DESTINATION", "SENDER", "RECIPIENTS",
				   "LAST-ERROR");
	}
	for (;;) {
		struct qsrc *best = NULL;
		const struct ctl_qrow *brow = NULL;

		if (st->sel.limit && st->emitted >= st->sel.limit)
			break;
		waiting = false;
		for (unsigned i = 0; i < ctl.nw; i++) {
			struct qsrc *s = &st->src[i];
			const struct ctl_qrow *row;
			if (s->q == NULL || s->pos >= s->q->nrows) {
				if (!s->end)
					waiting = true;
				continue;
			}
			row = &s->q->rows[s->pos];
			if (brow == NULL || row->arrival < brow->arrival ||
			    (row->arrival == brow->arrival && row->id < brow->id)) {
				best = s;
				brow = row;
			}
		}
		if (waiting || best == NULL)
			break;
		if (qstream_row(r, best->q, brow) < 0) {
			qstream_finish(r, "a message could not be shown (out of memory); "
				       "the list stops here");
			return;
		}
		best->pos++;
		st->emitted++;
		if (ctl_pending(r) > (256u << 10))
			return;		/* on_drain calls again */
	}
	if ((st->sel.limit && st->emitted >= st->sel.limit) || !waiting) {
		if (r->outstanding == 0)
			qstream_finish(r, NULL);
		return;
	}
	for (unsigned i = 0; i < ctl.nw; i++) {
		struct qsrc *s = &st->src[i];
		if (!s->busy && !s->end && (s->q == NULL || s->pos >= s->q->nrows))
			qstream_request(r, i);
	}
}

static void
cmd_show_queue(struct ctl_run *r)
{
	struct qstream *st = xcalloc(1, sizeof(*st));
	char err[256];

	st->src = xcalloc(ctl.nw, sizeof(*st->src));
	r->state = st;
	r->on_free = qstream_free;
	r->on_reply = qstream_reply;
	r->on_drain = qstream_pump;
	st->now = time(NULL);
	if (ctl_sel_parse(r->argv, r->argc, CTL_SEL_LIST, st->now, &st->sel, err,
			  sizeof(err)) < 0) {
		ctl_fail(r, "%s; usage: show queue %s [json]", err, ctl_cmd_show_queue.args);
		return;
	}
	for (unsigned i = 0; i < ctl.nw; i++)
		qstream_request(r, i);
}

const struct ctl_cmd ctl_cmd_show_queue = {
	.words = "show queue",
	.args = "[CONNECTOR] [LIMIT] [FILTER...]",
	.help = "queued messages, oldest first: id, age, sender, recipients, attempts, "
		"last error.  FILTERs hold together: connector NAME, sender PATTERN, "
		"rcpt PATTERN (an address or a glob like *@example.com; <> the null "
		"sender), older AGE, younger AGE (90s, 10m, 1h, 2d, 1w), limit N",
	.changes = false,
	.run = cmd_show_queue,
};

/* ---- connector enable|disable ----------------------------------------- */

static void
connector_round(struct ctl_run *r)
{
	bool known = false, disable = r->reqs[0]->disable;
	uint32_t nd = 0;

	for (unsigned i = 0; i < ctl.nw; i++) {
		known |= r->reqs[i]->known;
		nd += r->reqs[i]->ndests;
	}
	if (!known) {
		ctl_fail(r, "no connector '%s'", r->argv[1]);
		return;
	}
	log_info("connector %s %s at run time (%u destinations)%s", r->argv[1],
		 disable ? "disabled" : "enabled", nd,
		 r->reqs[0]->scope == CTL_CL_FROM_CLUSTER ? ", from the cluster" : "");
	if (r->json) {
		ctl_json(r, json_pack("{s:s, s:s, s:i}", "connector", r->argv[1], "state",
				      disable ? "disabled" : "enabled", "destinations", (int)nd));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"CONNECTOR", "STATE", ">DESTINATIONS", NULL });
		char n[16];
		snprintf(n, sizeof(n), "%u", nd);
		ctl_table_row(t, r->argv[1], disable ? "disabled" : "enabled", n);
		ctl_table_print(t, r);
		if (disable)
			ctl_printf(r, "mail for %s queues but is not delivered until "
				      "\"connector enable %s\"%s\n", r->argv[1], r->argv[1],
				   ctl_cluster_on() && r->reqs[0]->scope != CTL_CL_LOCAL
					   ? "" : " (not kept across restarts)");
	}
	if (ctl_cluster_post(r->reqs[0]->scope, CTL_CL_DISABLE, r->argv[1], disable))
		ctl_cluster_said(r);
	ctl_end(r);
}

static void
cmd_connector(struct ctl_run *r)
{
	struct ctl_wreq tmpl = { .kind = CTL_W_CONNECTOR };

	tmpl.scope = (uint8_t)ctl_cluster_scope(r);
	if (r->argc != 2 || (strcmp(r->argv[0], "enable") != 0 &&
			     strcmp(r->argv[0], "disable") != 0) ||
	    strlen(r->argv[1]) >= sizeof(tmpl.connector)) {
		ctl_fail(r, "usage: connector enable|disable NAME [local] [json]");
		return;
	}
	tmpl.disable = strcmp(r->argv[0], "disable") == 0;
	snprintf(tmpl.connector, sizeof(tmpl.connector), "%s", r->argv[1]);
	r->on_round = connector_round;
	ctl_round(r, &tmpl);
}

const struct ctl_cmd ctl_cmd_connector = {
	.words = "connector",
	.args = "enable|disable NAME [local]",
	.help = "let a connector deliver, or only queue (in a cluster on every node, "
		"unless local)",
	.changes = true,
	.run = cmd_connector,
};

/* The test connection's report: one row per step, then the verdict. */
static void
validate_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	const char *p = q->val.steps.p, *end = p + q->val.steps.len;

	if (q->rc == -ENOENT) {
		ctl_fail(r, "no connector '%s'", q->connector);
		ctl_req_free(q);
		return;
	}
	if (r->json) {
		/* details and the verdict quote the next hop: log_json_str */
		json_t *steps = json_array();
		while (steps != NULL && p != NULL && p < end) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *t1 = nl ? memchr(p, '\t', (size_t)(nl - p)) : NULL;
			const char *t2 = t1 ? memchr(t1 + 1, '\t', (size_t)(nl - t1 - 1)) : NULL;
			if (nl == NULL || t1 == NULL || t2 == NULL)
				break;
			if (json_array_append_new(steps, json_pack("{s:o, s:o, s:o}",
				"step", log_json_str(p, (size_t)(t1 - p)),
				"result", log_json_str(t1 + 1, (size_t)(t2 - t1 - 1)),
				"detail", log_json_str(t2 + 1, (size_t)(nl - t2 - 1)))) < 0) {
				json_decref(steps);
				steps = NULL;	/* ctl_json answers the error */
			}
			p = nl + 1;
		}
		ctl_json(r, json_pack("{s:s, s:b, s:o, s:s, s:s, s:s, s:o}", "connector",
				      q->connector, "send", q->send, "steps", steps,
				      "step", q->val.step, "code", q->val.code ?
				      (q->val.code == MFI_REMOTE ? "remote" : mfi_status(q->val.code)) : "",
				      "mfi", mfi_name(q->val.code),
				      "verdict", log_json_s(q->val.verdict)));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"STEP", "RESULT", "DETAIL", NULL });
		while (p != NULL && p < end) {
			char line[600], *f1, *f2;
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
			if (n >= sizeof(line))
				n = sizeof(line) - 1;
			memcpy(line, p, n);
			line[n] = '\0';
			f1 = strchr(line, '\t');
			f2 = f1 ? strchr(f1 + 1, '\t') : NULL;
			if (f2 != NULL) {
				*f1++ = '\0';
				*f2++ = '\0';
				ctl_table_row(t, line, f1, f2);
			}
			p = nl ? nl + 1 : end;
		}
		ctl_table_print(t, r);
		if (q->val.step[0] != '\0')
			ctl_printf(r, "failed at: %s\n", q->val.step);
		ctl_printf(r, "verdict: %s\n", LOG_TEXT(q->val.verdict));
		if (q->val.code != 0 && q->val.code != MFI_REMOTE)
			ctl_printf(r, "fix: %s\n", mfi_fix(q->val.code));
		if (q->val.code == 0 && !q->send)
			ctl_printf(r, "note: no message was sent; `validate connector %s RCPT "
				      "--send` proves the data phase too\n", q->connector);
	}
	ctl_req_free(q);
	ctl_end(r);
}

/* True if s is a mailbox, local@domain (RFC 5321 4.1.2). */
static bool
mailbox_ok(const char *s)
{
	size_t n = strlen(s), l = addr_scan_local(s, n, NULL);

	return l > 0 && l < n && s[l] == '@' &&
	       addr_scan_domain(s + l + 1, n - l - 1, NULL) == n - l - 1;
}

/* validate connector NAME [RCPT [--send]]: --send may stand anywhere
 * after NAME. */
static void
cmd_validate(struct ctl_run *r)
{
	const char *args[2];
	struct ctl_wreq *q;
	bool send = false;
	int n = 0;

	for (int i = 0; i < r->argc; i++) {
		if (i > 0 && strcmp(r->argv[i], "--send") == 0 && !send)
			send = true;
		else if (n < 2)
			args[n++] = r->argv[i];
		else
			n = 3;
	}
	if (n < 1 || n > 2 || (send && n != 2) || strlen(args[0]) >= sizeof(q->connector) ||
	    (n == 2 && strlen(args[1]) >= sizeof(q->rcpt))) {
		ctl_fail(r, "usage: validate connector NAME [RCPT [--send]] [json]%s",
			 send && n == 1 ? ": --send needs the RCPT the test message goes to" : "");
		return;
	}
	if (send && !mailbox_ok(args[1])) {
		ctl_fail(r, "validate connector: '%s' is not an address (local@domain) to send "
			 "the test message to", args[1]);
		return;
	}
	q = ctl_req_new(r, 0, CTL_W_VALIDATE);
	snprintf(q->connector, sizeof(q->connector), "%s", args[0]);
	if (n == 2)
		snprintf(q->rcpt, sizeof(q->rcpt), "%s", args[1]);
	q->send = send;
	r->on_reply = validate_reply;
	r->deadline = ctl_mono() + 180;	/* DNS, connect and replies may all time out */
	ctl_req_send(q);
}

const struct ctl_cmd ctl_cmd_validate = {
	.words = "validate connector",
	.args = "NAME [RCPT [--send]]",
	.help = "test connection through a connector: DNS, connect, banner, EHLO, "
		"STARTTLS, certificate, MAIL/RCPT; --send: DATA and a test message to RCPT",
	.changes = true,
	.run = cmd_validate,
};
