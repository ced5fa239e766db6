/*
 * smtp_client_conn — the plumbing of one outbound connection (struct
 * smtp_conn, net/smtp_client_int.h): its one network op at a time on the
 * ring, each linked to a timeout (send, recv, TLS output); the commands
 * queued with the replies they expect; the per-recipient results of its
 * job and their report to the queue; the record of a test connection; and
 * its teardown.
 *
 * The bottom of the client's files: it decides nothing about the SMTP
 * dialogue and calls neither smtp_client_txn.c nor smtp_client.c; an op's
 * completion reaches them through c->op.cb, which they set.  Worker thread
 * only.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/strb.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/dns.h"
#include "net/smtp_client_int.h"
#include "queue/queue.h"
#include "tls/tls.h"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t
conn_timeout(struct smtp_conn *c, bool connecting)
{
	return connecting ? c->cc->connect_timeout : c->cc->command_timeout;
}

/* ---- teardown ------------------------------------------------------- */

static void
job_results_free(struct smtp_conn *c)
{
	for (uint32_t i = 0; i < c->nres; i++)
		free(c->res_text[i]);
	free(c->res);
	free(c->res_text);
	c->res = NULL;
	c->res_text = NULL;
	c->nres = 0;
}

/* Free c; no op may be in flight.  Its gate slot goes back. */
void
smtp_conn_free(struct smtp_conn *c)
{
	struct worker *w = c->w;
	struct dest *d = c->d;

	if (c->dq != NULL)
		dns_cancel(w->dns, c->dq);
	wheel_cancel(queue_wheel(w), &c->io_timer);
	if (c->state == CS_IDLE) {
		list_del(&c->link);
		d->nidle--;
	}
	if (c->fd >= 0)
		close(c->fd);
	for (uint32_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	job_results_free(c);
	queue_data_close(&c->data);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->tmp);
	free(c->expect);
	free(c->cmd_end);
	tls_conn_free(c->tls);	/* before the config that owns its context */
	buf_free(&c->tin);
	if (c->cfg != NULL)
		config_release(c->cfg);
	if (c->val_conn) {	/* its destination is private, not queued */
		queue_dest_detached_free(d);
		free(c);
		return;
	}
	free(c);
	queue_conn_gone(w, d);
}

/* ---- validation ------------------------------------------------------- */

/* Record one step of a test connection. */
void
smtp_validate_step(struct smtp_conn *c, const char *step, bool ok, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (c->val == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	buf_printf(&c->val->steps, "%s\t%s\t%s\n", step, ok ? "ok" : "fail", line);
}

/* The step a failure at a's stage belongs to, as the step lines name it:
 * the reply to the final dot is "end-of-data", a connection lost before
 * that reply is the "data" step's failure. */
static const char *
val_step(const struct mfi_attempt *a)
{
	switch (a->stage) {
	case MFI_STAGE_DNS: return "dns";
	case MFI_STAGE_CONNECT: return "connect";
	case MFI_STAGE_BANNER: return "banner";
	case MFI_STAGE_EHLO: return "ehlo";
	case MFI_STAGE_STARTTLS: return "starttls";
	case MFI_STAGE_TLS_HANDSHAKE: return "tls";
	case MFI_STAGE_MAIL: return "mail";
	case MFI_STAGE_RCPT: return "rcpt";
	case MFI_STAGE_DATA: return "data";
	case MFI_STAGE_BODY: break;
	}
	return a->reply_code != 0 ? "end-of-data" : "data";
}

/* If the last step line of v is a failure, its step name into v->step. */
static bool
val_last_failed(struct smtp_validate *v)
{
	const char *p = v->steps.p, *end = p ? p + v->steps.len : NULL, *line, *t1;

	if (p == NULL || end == p)
		return false;
	for (line = end - 1; line > p && line[-1] != '\n'; line--)
		;
	t1 = memchr(line, '\t', (size_t)(end - line));
	if (t1 == NULL || (size_t)(end - t1) < 6 || memcmp(t1, "\tfail\t", 6) != 0 ||
	    (size_t)(t1 - line) >= sizeof(v->step))
		return false;
	memcpy(v->step, line, (size_t)(t1 - line));
	v->step[t1 - line] = '\0';
	return true;
}

/*
 * The test connection ends: a failure (a), or success (a == NULL, or a
 * 2xx to the final dot).  The verdict names the code; the step that failed
 * is the last step line, added here when the failure was not a step's own
 * answer (a connection lost or timed out, which no reply reports).
 */
void
smtp_validate_finish(struct smtp_conn *c, const struct mfi_attempt *a)
{
	struct smtp_validate *v = c->val;
	struct mfi_attempt at;
	struct buf d = { 0 };

	v->step[0] = '\0';
	if (a != NULL) {
		at = *a;
		at.host = c->host[0] ? c->host : NULL;
		at.ip = c->ip[0] ? c->ip : NULL;
		at.port = c->port;
		v->code = (int)mfi_classify(&at);
	}
	if (a == NULL || v->code == MFI_NONE) {
		v->code = 0;
		struct strb sb;
		strb_init(&sb, v->verdict, sizeof(v->verdict));
		if (a != NULL)	/* the test message was taken */
			strb_printf(&sb, "ok: the test message was accepted by %s [%s]: %s",
				    c->host, c->ip, a->reply_text ? a->reply_text : "");
		else
			strb_puts(&sb, "ok: the connector delivers");
		strb_mark_cut(&sb, "...");
	} else {
		mfi_detail(&at, (enum mfi_code)v->code, &d);
		buf_append(&d, "", 1);
		snprintf(v->verdict, sizeof(v->verdict), "%s: %s",
			 v->code == MFI_REMOTE || mfi_reply((enum mfi_code)v->code)[0] == '\0'
				 ? "remote" : mfi_reply((enum mfi_code)v->code), d.p);
		if (!val_last_failed(v)) {
			snprintf(v->step, sizeof(v->step), "%s", val_step(&at));
			if (strcmp(v->step, "data") == 0 && c->val_data[0] != '\0')
				smtp_validate_step(c, v->step, false, "%s; then %s", c->val_data,
						   d.p);
			else
				smtp_validate_step(c, v->step, false, "%s", d.p);
		}
		buf_free(&d);
	}
	c->val = NULL;		/* v belongs to the caller again */
	v->done(v);
}

/* ---- job outcome ------------------------------------------------------ */

void
smtp_conn_job_begin(struct smtp_conn *c, struct qjob *j)
{
	c->job = j;
	c->nres = j->nrcpt;
	c->res = xcalloc(j->nrcpt, sizeof(*c->res));
	c->res_text = xcalloc(j->nrcpt, sizeof(*c->res_text));
	c->rcpt_ok = 0;
	c->rcpt_i = 0;
	c->mail_ok = false;
	c->t0 = now_ms();
}

/* True if recipient i has no outcome yet. */
static bool
res_empty(const struct smtp_conn *c, uint32_t i)
{
	const struct mfi_attempt *a = &c->res[i];

	return a->stage == 0 && a->reply_code == 0 && a->err == 0 && a->dns_status == 0;
}

/*
 * Every recipient without a final outcome (none yet, or accepted at RCPT
 * and waiting for the end of data) gets a; its text is copied.
 */
void
smtp_conn_job_fill(struct smtp_conn *c, const struct mfi_attempt *a)
{
	for (uint32_t i = 0; i < c->nres; i++) {
		if (!res_empty(c, i) &&
		    !(c->res[i].stage == MFI_STAGE_RCPT && c->res[i].reply_code / 100 == 2))
			continue;
		free(c->res_text[i]);
		c->res_text[i] = a->reply_text ? strdup(a->reply_text) : NULL;
		c->res[i] = *a;
		c->res[i].reply_text = c->res_text[i];
	}
}

/* Hand the job's outcome to the queue.  Every reply text in c->res came
 * through smtp_reply_flat (or is one of our own lines), as queue_job_done
 * expects. */
void
smtp_conn_job_report(struct smtp_conn *c)
{
	struct qjob *j = c->job;

	if (j == NULL)
		return;
	c->job = NULL;
	queue_data_close(&c->data);
	c->body_on = false;
	for (uint32_t i = 0; i < c->nres; i++) {
		c->res[i].host = c->host[0] ? c->host : NULL;
		c->res[i].ip = c->ip[0] ? c->ip : NULL;
		c->res[i].port = c->port;
	}
	queue_job_done(c->w, j, c->res, now_ms() - c->t0);
	job_results_free(c);
}

/* The connection ends with failure a: the job gets it, a test connection
 * its verdict, and c is freed. */
void
smtp_conn_end(struct smtp_conn *c, const struct mfi_attempt *a)
{
	if (c->job != NULL) {
		smtp_conn_job_fill(c, a);
		smtp_conn_job_report(c);
	}
	if (c->val != NULL)
		smtp_validate_finish(c, a);
	smtp_conn_free(c);
}

/*
 * The connection failed at stage with err (or a reply): the job gets it
 * and the connection goes.  Called from op callbacks only.
 */
void
smtp_conn_fail(struct smtp_conn *c, enum mfi_stage stage, int err,
	       const struct smtp_reply *r)
{
	struct mfi_attempt a = { .stage = stage, .err = err };
	char text[512];

	if (r != NULL) {
		smtp_reply_flat(r, text, sizeof(text));
		a.reply_code = r->code;
		a.reply_text = text;
	}
	smtp_conn_end(c, &a);
}

/* ---- I/O ------------------------------------------------------------ */

/* Link a timeout to the op just prepared: the connector's connect_timeout
 * (connecting, or waiting for the banner) or its command_timeout. */
void
smtp_conn_link_timeout(struct smtp_conn *c, bool connecting)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);

	c->ts.tv_sec = conn_timeout(c, connecting);
	c->ts.tv_nsec = 0;
	io_uring_prep_link_timeout(sqe, &c->ts, 0);
	op_set(sqe, NULL);
}

/*
 * The send or recv just issued must end within connect_timeout (waiting
 * for the banner) or command_timeout.  A deadline the wheel checks, not a
 * timeout linked to the op: that is one SQE, one CQE and a kernel timer
 * less for each of the sends and recvs of every message.  The timer is
 * lazy: it stays armed across ops and is moved only when it fires before
 * the deadline or a deadline comes before it.  The cancelled op completes
 * with -ECANCELED, which conn_io_done takes for a timeout, as before.
 */
static void
conn_deadline(struct smtp_conn *c, bool connecting)
{
	struct wheel *wh = queue_wheel(c->w);
	uint64_t when = c->w->now + conn_timeout(c, connecting);

	c->io_deadline = when;
	if (wheel_pending(&c->io_timer)) {
		if (c->io_timer.expires <= when)
			return;
		wheel_cancel(wh, &c->io_timer);
	}
	wheel_insert(wh, &c->io_timer, when);
}

void
smtp_conn_deadline_fire(struct wheel_timer *t, void *arg)
{
	struct smtp_conn *c = WHEEL_CONTAINER(t, struct smtp_conn, io_timer);
	struct io_uring_sqe *sqe;

	if (!c->busy || c->io_deadline == 0)
		return;		/* no timed op in flight: re-armed by the next */
	if (c->io_deadline > c->w->now) {
		wheel_insert(queue_wheel(c->w), t, c->io_deadline);
		return;
	}
	c->io_deadline = 0;
	sqe = ring_sqe(&c->w->ring);
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&c->op, 0);
	op_set(sqe, NULL);
}

/* Send what TLS has to say (records, handshake messages). */
void
smtp_conn_tls_send(struct smtp_conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);

	ring_sending(tls_out_ptr(c->tls), tls_out_len(c->tls));
	io_uring_prep_send(sqe, c->fd, tls_out_ptr(c->tls), tls_out_len(c->tls), MSG_NOSIGNAL);
	op_set(sqe, &c->op);
	conn_deadline(c, false);
	c->busy = true;
	c->sending = true;
	c->tls_send = true;
}

/* Send out[out_off, end) (encrypted once TLS is on). */
void
smtp_conn_send_to(struct smtp_conn *c, size_t end)
{
	struct io_uring_sqe *sqe;

	if (c->tls_on) {
		if (end > c->out_off && tls_write(c->tls, c->out.p + c->out_off,
						  end - c->out_off) < 0)
			end = c->out_off;	/* the send below fails the conn */
		c->out_off = c->send_end = end;
		smtp_conn_tls_send(c);
		return;
	}
	sqe = ring_sqe(&c->w->ring);
	c->send_end = end;
	ring_sending(c->out.p + c->out_off, end - c->out_off);
	io_uring_prep_send(sqe, c->fd, c->out.p + c->out_off, end - c->out_off,
			   MSG_NOSIGNAL);
	op_set(sqe, &c->op);
	conn_deadline(c, false);
	c->busy = true;
	c->sending = true;
}

void
smtp_conn_send(struct smtp_conn *c)
{
	smtp_conn_send_to(c, c->out.len);
}

void
smtp_conn_recv(struct smtp_conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);
	struct buf *b = c->tls ? &c->tin : &c->in;

	buf_reserve(b, c->tls ? 16384 : 4096);
	io_uring_prep_recv(sqe, c->fd, b->p + b->len, b->cap - b->len, 0);
	op_set(sqe, &c->op);
	conn_deadline(c, c->state == CS_GREET && c->ex == 0 && c->expect[0] == EX_BANNER);
	c->busy = true;
	c->sending = false;
}

/* Note that a reply to a command ending at out offset end will come. */
void
smtp_conn_expect(struct smtp_conn *c, enum expect ex, size_t end)
{
	if (c->nexpect == c->capexpect) {
		uint32_t cap = c->capexpect ? c->capexpect * 2 : 8;
		c->expect = xrealloc(c->expect, cap);
		c->cmd_end = xrealloc(c->cmd_end, cap * sizeof(*c->cmd_end));
		c->capexpect = cap;
	}
	c->cmd_end[c->nexpect] = (uint32_t)end;
	c->expect[c->nexpect++] = (uint8_t)ex;
}

/* Queue a command line (without CRLF) and what its reply answers. */
void
smtp_conn_cmd(struct smtp_conn *c, enum expect ex, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	buf_append(&c->out, line, (size_t)n + 2);
	smtp_conn_expect(c, ex, c->out.len);
	c->unsent++;
}

/* Send what the protocol allows now: everything, or one command. */
void
smtp_conn_flush(struct smtp_conn *c)
{
	size_t end;

	if (c->unsent == 0)
		return;
	if (c->pipelining) {
		end = c->out.len;
		c->unsent = 0;
	} else {
		end = c->cmd_end[c->nexpect - c->unsent];
		c->unsent--;
	}
	smtp_conn_send_to(c, end);
}
