/*
 * ctl_run — the plumbing every control command uses, on the control
 * thread: a run's answer (text, one-line and streamed JSON, the error
 * answer, the empty line that ends it), the requests a run sends to the
 * workers and the round that collects one answer per worker, and the list
 * of requests in flight with its deadlines.
 *
 * Not for: the socket and its connections (core/ctl/ctl.c, which owns the
 * clients whose output side this appends to, and calls ctl_answers and
 * ctl_timeouts from its loop), what a command computes (the command
 * files) or what runs on a worker (ctl_worker.c).  It knows no command and
 * no dispatcher: with ctl_parse it is the bottom of core/ctl/.
 *
 * Requests in flight sit on one list; a request whose command went away
 * (client gone, timeout) is "orphaned" and freed when its worker finally
 * answers, since until then the worker may still write into it.
 */
#include "core/ctl/ctl_run.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/xalloc.h"

struct ctl ctl;

static struct ctl_wreq *inflight;	/* requests the workers hold */

int64_t
ctl_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- output ----------------------------------------------------------- */

void
ctl_write(struct ctl_run *r, const char *p, size_t n)
{
	if (r->cl == NULL || r->cl->quit)
		return;
	buf_append(&r->cl->out, p, n);
}

void
ctl_table_print(struct ctl_table *t, struct ctl_run *r)
{
	struct buf b = { 0 };

	ctl_table_render(t, &b);
	ctl_write(r, b.p, b.len);
	buf_free(&b);
}

void
ctl_printf(struct ctl_run *r, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int n;

	if (r->cl == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		p = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	ctl_write(r, p, (size_t)n);
	if (p != small)
		free(p);
}

size_t
ctl_pending(const struct ctl_run *r)
{
	return r->cl ? r->cl->out.len - r->cl->out_off : 0;
}

/*
 * Every JSON answer goes out through here: j is whole, or the answer is
 * an error.  j is NULL when a jansson call building it failed (a string
 * that is not UTF-8 makes json_pack fail; log_json_str prevents that,
 * so what is left is running out of memory).
 */
void
ctl_json(struct ctl_run *r, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	if (s == NULL) {
		ctl_json_error(r);
		return;
	}
	ctl_write(r, s, strlen(s));
	ctl_write(r, "\n", 1);
	free(s);
}

char *
ctl_json_text(json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	return s;
}

void
ctl_json_error(struct ctl_run *r)
{
	char *s;
	json_t *e = json_pack("{s:s}", "error", "the answer could not be built "
			      "(out of memory)");

	s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (s != NULL) {
		ctl_write(r, s, strlen(s));
		free(s);
	} else {
		ctl_write(r, "null", 4);	/* still valid JSON */
	}
	ctl_write(r, "\n", 1);
}

/*
 * Streamed JSON: the opening is jansson's own text for {"key":[]} with
 * the closing "]}" cut off, so no JSON is written by hand.
 */
void
ctl_json_stream_begin(struct ctl_run *r, const char *key)
{
	json_t *o = json_pack("{s:[]}", key);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n = s != NULL ? strlen(s) : 0;

	json_decref(o);
	r->jitems = 0;
	r->jbroken = s == NULL || n < 2;
	if (!r->jbroken) {
		ctl_write(r, s, n - 2);
		ctl_write(r, "\n", 1);
	}
	free(s);
}

int
ctl_json_stream_item(struct ctl_run *r, json_t *item)
{
	char *s = item != NULL ? json_dumps(item, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(item);
	if (s == NULL)
		return -ENOMEM;
	if (r->jitems++ > 0)
		ctl_write(r, ",", 1);
	ctl_write(r, s, strlen(s));
	ctl_write(r, "\n", 1);
	free(s);
	return 0;
}

void
ctl_json_stream_end(struct ctl_run *r, json_t *tail)
{
	char *s = tail != NULL ? json_dumps(tail, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(tail);
	if (r->jbroken) {		/* the opening was never sent */
		free(s);
		ctl_json_error(r);
		return;
	}
	if (s == NULL) {		/* the tail failed: say so in it */
		json_t *e = json_pack("{s:s}", "error", "the answer could not be "
				      "completed (out of memory)");
		s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
		json_decref(e);
	}
	/* "]" closes the array; the tail object's members (without its own
	 * "{") follow, or its "}" alone if it has none */
	ctl_write(r, "]", 1);
	if (s != NULL && strcmp(s, "{}") != 0) {
		ctl_write(r, ",", 1);
		ctl_write(r, s + 1, strlen(s + 1));
	} else {
		ctl_write(r, "}", 1);
	}
	ctl_write(r, "\n", 1);
	free(s);
}

/* ---- requests ------------------------------------------------------- */

struct ctl_wreq *
ctl_req_new(struct ctl_run *r, unsigned i, enum ctl_wkind kind)
{
	struct ctl_wreq *q = xcalloc(1, sizeof(*q));

	atomic_init(&q->done, 0);
	q->run = r;
	q->worker = i;
	q->kind = kind;
	return q;
}

void
ctl_req_send(struct ctl_wreq *q)
{
	struct worker *w = &ctl.ws[q->worker];
	uint64_t one = 1;

	q->next = inflight;
	inflight = q;
	if (q->run != NULL) {
		q->run->outstanding++;
		if (q->run->deadline == 0)
			q->run->deadline = ctl_mono() + CTL_TIMEOUT;
	}
	mpsc_push(&w->ctlq, &q->node);
	/* after the push, so the wake-up always finds the node (core/mpsc.h) */
	if (write(w->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("control: waking worker %u: %s", q->worker, strerror(errno));
}

void
ctl_req_free(struct ctl_wreq *q)
{
	if (q == NULL)
		return;
	free(q->snap.conns);
	free(q->snap.dests);
	free(q->snap.loops);
	free(q->snap.certs);
	buf_free(&q->val.steps);
	buf_free(&q->mail);
	buf_free(&q->mail_to);
	free(q->rows);
	buf_free(&q->arena);
	if (q->msg != NULL) {
		buf_free(&q->msg->env);
		buf_free(&q->msg->head);
		buf_free(&q->msg->arena);
		free(q->msg->jobs);
		free(q->msg->rcpt_job);
		free(q->msg);
	}
	if (q->cfg != NULL)
		config_release(q->cfg);
	free(q);
}

/* Default answer handler of a round: collect; all in -> on_round. */
static void
round_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	r->reqs[q->worker] = q;
	if (r->outstanding == 0 && r->on_round != NULL)
		r->on_round(r);
}

void
ctl_round(struct ctl_run *r, const struct ctl_wreq *tmpl)
{
	if (r->reqs == NULL) {
		r->reqs = xcalloc(ctl.nw, sizeof(*r->reqs));
	}
	for (unsigned i = 0; i < ctl.nw; i++) {
		ctl_req_free(r->reqs[i]);
		r->reqs[i] = NULL;
	}
	r->on_reply = round_reply;
	r->deadline = 0;
	for (unsigned i = 0; i < ctl.nw; i++) {
		struct ctl_wreq *q = ctl_req_new(r, i, tmpl->kind);
		q->flags = tmpl->flags;
		q->alert_threshold = tmpl->alert_threshold;
		q->alert_age = tmpl->alert_age;
		memcpy(q->connector, tmpl->connector, sizeof(q->connector));
		q->sel = tmpl->sel;
		q->id = tmpl->id;
		q->cursor = tmpl->cursor;
		q->limit = tmpl->limit;
		q->op = tmpl->op;
		q->disable = tmpl->disable;
		q->scope = tmpl->scope;
		ctl_req_send(q);
	}
}

void
ctl_answers(void)
{
	struct ctl_wreq **pp = &inflight;

	while (*pp != NULL) {
		struct ctl_wreq *q = *pp;
		struct ctl_run *r;

		if (!atomic_load_explicit(&q->done, memory_order_acquire)) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		r = q->run;
		if (r == NULL) {		/* orphan */
			ctl_req_free(q);
			continue;
		}
		r->outstanding--;
		if (r->outstanding == 0)
			r->deadline = 0;
		r->on_reply(r, q);
		/* the handler may have sent requests (pushed at the head) or
		   ended runs (orphaning theirs); *pp is still valid */
	}
}

void
ctl_timeouts(void)
{
	int64_t now = ctl_mono();
	struct ctl_wreq *q;

again:
	for (q = inflight; q != NULL; q = q->next) {
		struct ctl_run *r = q->run;
		if (r == NULL || r->deadline == 0 || now < r->deadline)
			continue;
		ctl_fail(r, "worker %u did not answer within %d s", q->worker, CTL_TIMEOUT);
		goto again;	/* ending r changed the list's runs */
	}
}

bool
ctl_inflight(void)
{
	return inflight != NULL;
}

/* ---- runs ----------------------------------------------------------- */

struct ctl_run *
ctl_run_new(struct ctl_client *cl)
{
	struct ctl_run *r = xcalloc(1, sizeof(*r));

	r->cl = cl;
	if (cl != NULL)
		cl->run = r;
	return r;
}

void
ctl_run_free(struct ctl_run *r)
{
	/* requests still out lose their run: freed when answered */
	for (struct ctl_wreq *q = inflight; q != NULL; q = q->next)
		if (q->run == r)
			q->run = NULL;
	if (r->on_free != NULL)
		r->on_free(r);
	if (r->reqs != NULL) {
		for (unsigned i = 0; i < ctl.nw; i++)
			ctl_req_free(r->reqs[i]);
		free(r->reqs);
	}
	free(r);
}

void
ctl_end(struct ctl_run *r)
{
	struct ctl_client *cl = r->cl;

	if (cl != NULL) {
		ctl_write(r, "\n", 1);
		cl->run = NULL;
	}
	ctl_run_free(r);
}

void
ctl_fail(struct ctl_run *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->json)
		ctl_json(r, json_pack("{s:s}", "error", msg));
	else
		ctl_printf(r, "error: %s\n", msg);
	ctl_end(r);
}

