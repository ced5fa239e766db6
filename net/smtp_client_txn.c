/*
 * smtp_client_txn — what an outbound connection does once it is ready
 * (after EHLO, and STARTTLS when there is one): its transactions, one job
 * after another.  MAIL with the SIZE, BODY, SMTPUTF8, RET and ENVID
 * parameters, RCPT with NOTIFY and ORCPT (in one send with PIPELINING,
 * else one command at a time), DATA and the body streamed from the queue a
 * chunk at a time, each reply recorded as the outcome of the recipients it
 * concerns; then the next job, idle in the cache, or QUIT.  A test
 * connection (validate connector) sends MAIL FROM:<> and RCPT here, then
 * RSET, or with --send DATA and the test message (net/smtp_testmsg.h).
 *
 * Built on smtp_client_conn.c (I/O, results, teardown) and on the queue;
 * the connection set-up above (smtp_client.c) calls in when the connection
 * is ready and hands over every reply of a transaction.  Nothing here calls
 * up.  Worker thread only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/log.h"
#include "core/strb.h"
#include "core/worker.h"
#include "net/smtp_client_int.h"
#include "net/smtp_testmsg.h"
#include "queue/queue.h"

#define CONN_CHUNK (64u << 10)	/* message bytes read and sent at a time */

/* What a job gets when its message cannot be read back from the spool. */
#define UNREADABLE "451 4.3.0 Message data unreadable in the local spool"

/* Next job from the destination, or idle, or QUIT. */
static void
conn_run_job(struct smtp_conn *c)
{
	const struct cfg_connector *cc = conn_cfg(c);
	struct worker *w = c->w;

	/* a reload since this connection started: its settings are out of
	   date, so it takes no new job (the one it has goes on) */
	if (c->job == NULL && !conn_stale(c) && c->msgs < cc->max_msgs_per_conn)
		c->job = queue_next_job(w, c->d);
	if (c->job != NULL && c->res == NULL)
		smtp_conn_job_begin(c, c->job);
	if (c->job != NULL) {
		c->msgs++;
		smtp_conn_start_txn(c);
		return;
	}
	if (w->draining || conn_stale(c) || c->msgs >= cc->max_msgs_per_conn) {
		c->state = CS_QUIT;
		c->out.len = c->out_off = 0;
		c->nexpect = c->ex = c->unsent = 0;
		buf_append(&c->out, "QUIT\r\n", 6);
		smtp_conn_send(c);
		return;
	}
	c->nexpect = c->ex = c->unsent = 0;
	c->in.len = 0;
	c->state = CS_IDLE;
	c->idle_since = w->now;
	c->reused = false;
	list_add_tail(&c->d->idle, &c->link);
	c->d->nidle++;
}

/* Ready after EHLO: health is good; run the job or go idle. */
void
smtp_conn_ready(struct smtp_conn *c)
{
	if (c->val_conn) {	/* a test: MAIL and RCPT, then RSET or DATA */
		c->state = CS_TXN;
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		smtp_conn_cmd(c, EX_MAIL, "MAIL FROM:<>");
		smtp_conn_cmd(c, EX_RCPT, "RCPT TO:<%s>", c->val_rcpt);
		if (c->val_send)
			smtp_conn_cmd(c, EX_DATA, "DATA");
		else
			smtp_conn_cmd(c, EX_RSET, "RSET");
		smtp_conn_flush(c);
		return;
	}
	queue_dest_result(c->w, c->d, true);
	conn_run_job(c);
}

/* Build and send the transaction of c->job (RSET first when needed). */
void
smtp_conn_start_txn(struct smtp_conn *c)
{
	struct qjob *j = c->job;
	const struct envelope *env = j->msg->env;
	STRB_LOCAL(params, 512);
	int rc;

	c->state = CS_TXN;
	c->out.len = c->out_off = 0;
	c->nexpect = c->ex = c->unsent = 0;
	queue_data_close(&c->data);
	if ((rc = queue_data_open(c->w, j->msg, &c->data)) < 0) {
		struct mfi_attempt a = { .stage = MFI_STAGE_MAIL, .reply_code = 451,
					 .reply_text = UNREADABLE };
		char qid[17];
		envelope_id_str(j->msg->id, qid);
		log_err("id=%s: cannot open its data in the local spool: %s", qid,
			strerror(-rc));
		smtp_conn_job_fill(c, &a);
		smtp_conn_job_report(c);
		conn_run_job(c);
		return;
	}
	if (env->smtputf8 && !c->smtputf8) {
		struct mfi_attempt a = { .stage = MFI_STAGE_MAIL, .reply_code = 553,
					 .reply_text = "553 5.6.7 The destination does not support "
						       "SMTPUTF8, which this message needs" };
		smtp_conn_job_fill(c, &a);
		smtp_conn_job_report(c);
		conn_run_job(c);
		return;
	}
	if (c->need_rset || c->reused)
		smtp_conn_cmd(c, EX_RSET, "RSET");
	c->need_rset = false;
	if (c->size_max > 0)
		strb_printf(&params, " SIZE=%llu", (unsigned long long)c->data.size);
	if (env->body == ENV_BODY_8BITMIME && c->eightbit)
		strb_printf(&params, " BODY=8BITMIME");
	if (env->smtputf8)
		strb_printf(&params, " SMTPUTF8");
	if (c->dsn && env->ret != ENV_RET_NONE)
		strb_printf(&params, " RET=%s",
			       env->ret == ENV_RET_FULL ? "FULL" : "HDRS");
	if (c->dsn && env->envid != NULL)
		strb_printf(&params, " ENVID=%.100s",
			       env->envid);
	smtp_conn_cmd(c, EX_MAIL, "MAIL FROM:<%s>%s", env->sender, params.p);
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct env_rcpt *r = &env->rcpt[j->rcpt[i]];
		STRB_LOCAL(rp, 600);
		if (c->dsn && r->notify != 0) {
			strb_puts(&rp, " NOTIFY=");
			if (r->notify & ENV_NOTIFY_NEVER)
				strb_puts(&rp, "NEVER");
			else
				strb_printf(&rp, "%s%s%s",
					    (r->notify & ENV_NOTIFY_SUCCESS) ? "SUCCESS," : "",
					    (r->notify & ENV_NOTIFY_FAILURE) ? "FAILURE," : "",
					    (r->notify & ENV_NOTIFY_DELAY) ? "DELAY," : "");
			if (rp.p[rp.len - 1] == ',')
				rp.p[--rp.len] = '\0';
		}
		if (c->dsn && r->orcpt != NULL)
			strb_printf(&rp, " ORCPT=%.500s", r->orcpt);
		smtp_conn_cmd(c, EX_RCPT, "RCPT TO:<%s>%s", r->addr, rp.p);
	}
	smtp_conn_cmd(c, EX_DATA, "DATA");
	smtp_conn_flush(c);	/* the body follows the 354, a chunk at a time */
}

/*
 * The spool could not give the rest of the body: a damaged or short body
 * file, found at the latest on the read of its last chunk, when all the
 * rest may already have gone out.  The final dot must never follow, or the
 * next hop would take a corrupt message for a whole one; so the connection
 * is closed here, mid-data, which makes the next hop drop what it has
 * (RFC 5321 4.1.1.4: no dot, no message).  The recipients get the same 451
 * as a message unreadable before MAIL, and wait for a retry.
 */
static void
body_unreadable(struct smtp_conn *c, int err)
{
	struct mfi_attempt a = { .stage = MFI_STAGE_BODY, .reply_code = 451,
				 .reply_text = UNREADABLE };
	char qid[17];

	envelope_id_str(c->job->msg->id, qid);
	log_err("id=%s: its data in the local spool is unreadable (%s) after %llu of %llu "
		"bytes went to %s [%s]: connection closed without the final dot",
		qid, err == -EIO ? "damaged: not the bytes that were written" : strerror(-err),
		(unsigned long long)c->stuff.n,
		(unsigned long long)c->data.size, c->host, c->ip);
	smtp_conn_job_fill(c, &a);
	smtp_conn_job_report(c);
	smtp_conn_free(c);
}

/*
 * Build the next chunk of the body in out (CONN_CHUNK bytes of the message,
 * dot-stuffed; the last one with the end marker) and send it.  Called after
 * the 354 and then each time a chunk has been sent (through TLS too, which
 * encrypts out as it is sent), so a connection holds one chunk however
 * large the message: out (at most 1.5 times CONN_CHUNK stuffed) and tmp,
 * the bytes read from the spool.  The read is a synchronous pread of
 * CONN_CHUNK, usually from the page cache; the socket's own buffer keeps
 * the wire busy while it runs, so no second chunk is prepared ahead.
 * Returns false when c is gone (body_unreadable).
 */
bool
smtp_conn_body_send(struct smtp_conn *c)
{
	const char *p;
	long n;

	c->out.len = c->out_off = 0;
	n = queue_data_read(c->w, &c->data, CONN_CHUNK, &c->tmp, &p);
	if (n < 0) {
		body_unreadable(c, (int)n);
		return false;
	}
	smtp_stuff_chunk(&c->stuff, p, (size_t)n, &c->out);
	if (c->data.off == c->data.size) {
		smtp_stuff_end(&c->stuff, &c->out);
		c->body_on = false;
		smtp_conn_expect(c, EX_BODY, c->out.len);
	}
	smtp_conn_send(c);
	return true;
}

/* Record reply text r as recipient i's outcome at stage. */
static void
res_set(struct smtp_conn *c, uint32_t i, enum mfi_stage stage, const struct smtp_reply *r,
	const char *flat)
{
	c->res[i].stage = stage;
	c->res[i].reply_code = r->code;
	free(c->res_text[i]);
	c->res_text[i] = strdup(flat);
	c->res[i].reply_text = c->res_text[i];
}

/* True if recipient i was accepted and is still waiting for DATA's fate. */
static bool
res_accepted(const struct smtp_conn *c, uint32_t i)
{
	return c->res[i].stage == MFI_STAGE_RCPT && c->res[i].reply_code / 100 == 2;
}

/* The transaction is over: report, then the next job (or idle, or QUIT). */
static enum reply_act
txn_done(struct smtp_conn *c)
{
	smtp_conn_job_report(c);
	conn_run_job(c);
	return R_IO;
}

/* A test connection says goodbye. */
static enum reply_act
val_quit(struct smtp_conn *c)
{
	c->state = CS_QUIT;
	c->out.len = c->out_off = 0;
	buf_append(&c->out, "QUIT\r\n", 6);
	smtp_conn_send(c);
	return R_IO;
}

/* After the 354 (text): the test message, dot-stuffed, and the final dot.
 * Its "data" line waits for the reply to the final dot: a connection lost
 * before it fails the data step (smtp_validate_finish). */
static enum reply_act
val_message(struct smtp_conn *c, const char *text)
{
	struct smtp_testmsg m = {
		.hostname = c->cfg->hostname, .connector = c->cc->name, .rcpt = c->val_rcpt,
		.date = worker_date(c->w),
	};
	char id[SMTP_TESTMSG_ID_MAX];
	struct buf msg = { 0 };
	struct strb line;

	if (getrandom(&m.unique, sizeof(m.unique), GRND_NONBLOCK) != sizeof(m.unique))
		m.unique = (uint64_t)time(NULL) << 24 ^ (uint64_t)(uintptr_t)c;	/* unique enough */
	smtp_testmsg_id(&m, id);
	smtp_testmsg_build(&m, &msg);
	c->out.len = c->out_off = 0;
	smtp_stuff(msg.p, msg.len, &c->out);
	strb_init(&line, c->val_data, sizeof(c->val_data));
	strb_printf(&line, "%.200s; test message of %zu bytes sent, Message-ID %s", text,
		    msg.len, id);
	buf_free(&msg);
	smtp_conn_expect(c, EX_BODY, c->out.len);
	smtp_conn_send(c);
	return R_IO;
}

/*
 * A reply inside a test connection's transaction: MAIL, RCPT, then RSET
 * (no message) or DATA, the message and the reply to its final dot.  Once
 * a step has failed (c->val is NULL) what follows is only taken down: a
 * 354 that should not have come is answered by closing without the final
 * dot, which makes the server drop what it has (RFC 5321 4.1.1.4).
 */
static enum reply_act
val_reply(struct smtp_conn *c, enum expect ex, const struct smtp_reply *r, const char *text)
{
	struct mfi_attempt a = { .reply_code = r->code, .reply_text = text };
	bool ok = r->code / 100 == 2;

	switch (ex) {
	case EX_MAIL:
	case EX_RCPT:
		smtp_validate_step(c, ex == EX_MAIL ? "mail" : "rcpt", ok, "%s", text);
		if (!ok && c->val != NULL) {
			a.stage = ex == EX_MAIL ? MFI_STAGE_MAIL : MFI_STAGE_RCPT;
			smtp_validate_finish(c, &a);
		}
		return R_NEXT;
	case EX_DATA:
		if (r->code == 354 && c->val != NULL)
			return val_message(c, text);
		if (r->code == 354) {
			smtp_conn_free(c);
			return R_GONE;
		}
		smtp_validate_step(c, "data", false, "%s", text);
		if (c->val != NULL) {
			a.stage = MFI_STAGE_DATA;
			smtp_validate_finish(c, &a);
		}
		return val_quit(c);
	case EX_BODY:
		smtp_validate_step(c, "data", true, "%s", c->val_data);
		smtp_validate_step(c, "end-of-data", ok, "%s", text);
		if (c->val != NULL) {
			a.stage = MFI_STAGE_BODY;
			smtp_validate_finish(c, &a);	/* a 2xx: the verdict is ok */
		}
		return val_quit(c);
	default:	/* RSET: the test without a message is over */
		if (c->val != NULL)
			smtp_validate_finish(c, NULL);
		return val_quit(c);
	}
}

/* One reply of a transaction or of a test connection's (text: r flattened). */
enum reply_act
smtp_conn_txn_reply(struct smtp_conn *c, enum expect ex, const struct smtp_reply *r,
		    const char *text)
{
	if (c->val_conn && c->state == CS_TXN)
		return val_reply(c, ex, r, text);
	switch (ex) {
	case EX_RSET:
		if (r->code / 100 != 2) {
			smtp_conn_fail(c, MFI_STAGE_MAIL, 0, r);
			return R_GONE;
		}
		c->reused = false;	/* the cached connection is alive */
		return R_NEXT;
	case EX_MAIL:
		if (r->code / 100 == 2) {
			c->mail_ok = true;
		} else {
			for (uint32_t i = 0; i < c->nres; i++)
				res_set(c, i, MFI_STAGE_MAIL, r, text);
			c->need_rset = true;
		}
		return R_NEXT;
	case EX_RCPT: {
		uint32_t i = c->rcpt_i++;
		if (i >= c->nres || !c->mail_ok)
			return R_NEXT;
		res_set(c, i, MFI_STAGE_RCPT, r, text);
		if (r->code / 100 == 2)
			c->rcpt_ok++;
		return R_NEXT;
	}
	case EX_DATA:
		if (r->code == 354) {
			/* send the body (or, with no recipient left, an empty one) */
			c->out.len = c->out_off = 0;
			if (c->mail_ok && c->rcpt_ok > 0) {
				smtp_stuff_init(&c->stuff);
				c->body_on = true;
				return smtp_conn_body_send(c) ? R_IO : R_GONE;
			}
			buf_append(&c->out, ".\r\n", 3);
			c->need_rset = true;
			smtp_conn_expect(c, EX_BODY, c->out.len);
			smtp_conn_send(c);
			return R_IO;
		}
		for (uint32_t i = 0; i < c->nres; i++)
			if (res_accepted(c, i))
				res_set(c, i, MFI_STAGE_DATA, r, text);
		c->need_rset = true;
		return txn_done(c);
	case EX_BODY:
		for (uint32_t i = 0; i < c->nres; i++)
			if (res_accepted(c, i))
				res_set(c, i, MFI_STAGE_BODY, r, text);
		if (r->code / 100 != 2)
			c->need_rset = true;
		return txn_done(c);
	default:	/* the greeting's, answered in smtp_client.c */
		break;
	}
	return R_NEXT;
}
