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
 * When the next hop offers CHUNKING and PIPELINING (and the connector has
 * not turned chunking off) the body goes as BDAT chunks instead (RFC
 * 3030): MAIL, the RCPTs and the first chunk in one send, the rest each
 * as the previous one has been sent, and their replies read at the end,
 * in one receive for a message of one chunk: one round trip where DATA
 * takes two, and no dot-stuffing.  The reply to BDAT LAST is the
 * message's outcome as the reply to the final dot is; a chunk refused
 * before it fails the transaction at the same stage, and no chunk follows
 * (RFC 3030 s. 2).  The replies of at most CONN_BDAT_WINDOW chunks are
 * left unread while sending, so a server that writes a reply per chunk
 * and waits until it is taken cannot block the two sides on each other.
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
#define CONN_BDAT_WINDOW 64	/* BDAT chunks sent before their replies are
				   read (4 MiB; their replies: a few KiB) */

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

/* What a failed read of the spool (-errno) says in the log. */
static const char *
read_error(int err)
{
	return err == -EIO ? "damaged: not the bytes that were written" : strerror(-err);
}

/* The job's data cannot be opened or read (what, why) before anything of
 * its transaction was sent: its recipients wait for a retry with 451, and
 * the connection takes the next job. */
static void
txn_unreadable(struct smtp_conn *c, const char *what, const char *why)
{
	struct mfi_attempt a = { .stage = MFI_STAGE_MAIL, .reply_code = 451,
				 .reply_text = UNREADABLE };
	char qid[17];

	envelope_id_str(c->job->msg->id, qid);
	log_err("id=%s: cannot %s its data in the local spool: %s", qid, what, why);
	smtp_conn_job_fill(c, &a);
	smtp_conn_job_report(c);
	conn_run_job(c);
}

/* Append the BDAT chunk of the n bytes at p to out, the last one (BDAT
 * LAST) once the message's data is used up, and expect its reply. */
static void
bdat_chunk(struct smtp_conn *c, const char *p, size_t n)
{
	bool last = c->data.off == c->data.size;

	smtp_bdat_chunk(&c->stuff, p, n, last, &c->out);
	smtp_conn_expect(c, last ? EX_BODY : EX_BDAT, c->out.len);
	c->bdat_wait++;
	c->body_on = !last;
}

/* Build and send the transaction of c->job (RSET first when needed). */
void
smtp_conn_start_txn(struct smtp_conn *c)
{
	struct qjob *j = c->job;
	const struct envelope *env = j->msg->env;
	STRB_LOCAL(params, 512);
	const char *chunk = NULL;
	long n = 0;
	int rc;

	c->state = CS_TXN;
	c->out.len = c->out_off = 0;
	c->nexpect = c->ex = c->unsent = 0;
	c->bdat = c->chunking;
	queue_data_close(&c->data);
	if ((rc = queue_data_open(c->w, j->msg, &c->data)) < 0) {
		txn_unreadable(c, "open", strerror(-rc));
		return;
	}
	/* BDAT's first chunk goes with MAIL: read it before anything is
	   built, so that a spool that cannot give it leaves the connection
	   as it was (a damaged body is found here, at its last read, for
	   every message of one chunk) */
	if (c->bdat && (n = queue_data_read(c->w, &c->data, CONN_CHUNK, &c->tmp, &chunk)) < 0) {
		txn_unreadable(c, "read", read_error((int)n));
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
	if (c->bdat) {		/* the first chunk, and all of it in one send */
		smtp_stuff_init(&c->stuff);
		c->bdat_wait = 0;
		bdat_chunk(c, chunk, (size_t)n);
		c->unsent = 0;
		smtp_conn_send(c);
		return;
	}
	smtp_conn_cmd(c, EX_DATA, "DATA");
	smtp_conn_flush(c);	/* the body follows the 354, a chunk at a time */
}

/*
 * The spool could not give the rest of the body: a damaged or short body
 * file, found at the latest on the read of its last chunk, when all the
 * rest may already have gone out.  The final dot (or BDAT LAST) must never
 * follow, or the next hop would take a corrupt message for a whole one; so
 * the connection is closed here, mid-data, which makes the next hop drop
 * what it has (RFC 5321 4.1.1.4: no dot, no message; RFC 3030 likewise
 * without the last chunk).  The recipients get the same 451 as a message
 * unreadable before MAIL, and wait for a retry.
 */
static void
body_unreadable(struct smtp_conn *c, int err)
{
	struct mfi_attempt a = { .stage = MFI_STAGE_BODY, .reply_code = 451,
				 .reply_text = UNREADABLE };
	char qid[17];

	envelope_id_str(c->job->msg->id, qid);
	log_err("id=%s: its data in the local spool is unreadable (%s) after %llu of %llu "
		"bytes went to %s [%s]: connection closed without %s",
		qid, read_error(err), (unsigned long long)c->stuff.n,
		(unsigned long long)c->data.size, c->host, c->ip,
		c->bdat ? "BDAT LAST" : "the final dot");
	smtp_conn_job_fill(c, &a);
	smtp_conn_job_report(c);
	smtp_conn_free(c);
}

/*
 * Build the next chunk of the body in out (CONN_CHUNK bytes of the message,
 * dot-stuffed; the last one with the end marker; or a BDAT chunk) and send
 * it.  Called after the 354 (with BDAT, after the send of MAIL and the
 * first chunk) and then each time a chunk has been sent (through TLS too,
 * which encrypts out as it is sent), so a connection holds one chunk
 * however large the message: out (at most 1.5 times CONN_CHUNK stuffed)
 * and tmp, the bytes read from the spool.  The read is a synchronous pread
 * of CONN_CHUNK, usually from the page cache; the socket's own buffer keeps
 * the wire busy while it runs, so no second chunk is prepared ahead.
 * With CONN_BDAT_WINDOW chunks unanswered it receives instead, and the
 * replies (smtp_client.c) call it again.  Returns false when c is gone
 * (body_unreadable).
 */
bool
smtp_conn_body_send(struct smtp_conn *c)
{
	const char *p;
	long n;

	if (c->bdat && c->bdat_wait >= CONN_BDAT_WINDOW) {
		smtp_conn_recv(c);
		return true;
	}
	c->out.len = c->out_off = 0;
	n = queue_data_read(c->w, &c->data, CONN_CHUNK, &c->tmp, &p);
	if (n < 0) {
		body_unreadable(c, (int)n);
		return false;
	}
	if (c->bdat) {
		bdat_chunk(c, p, (size_t)n);
		smtp_conn_send(c);
		return true;
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

/*
 * A next hop that offers CHUNKING yet refuses BDAT as a command (500, 502,
 * 504) is at fault, not the mail: its recipients wait for a retry (451 in
 * *r and *text, built in soft and sb) instead of bouncing, and the
 * destination gets DATA from now on.  False for any other reply.
 */
static bool
bdat_refused(struct smtp_conn *c, const struct smtp_reply **r, const char **text,
	     struct smtp_reply *soft, struct strb *sb)
{
	int code = (*r)->code;

	if (code != 500 && code != 502 && code != 504)
		return false;
	if (!c->d->no_bdat)
		log_warn("%s: %s [%s] offers CHUNKING but refused BDAT (%s): DATA from now on",
			 LOG_FIELD(c->d->name), LOG_FIELD(c->host), c->ip, LOG_TEXT(*text));
	c->d->no_bdat = true;
	strb_printf(sb, "451 4.5.1 BDAT refused by the next hop (%s); to be sent again with DATA",
		    *text);
	*soft = (struct smtp_reply){ .code = 451, .text = sb->p, .len = sb->len };
	*r = soft;
	*text = sb->p;
	return true;
}

/*
 * The reply to a BDAT chunk before the last.  A failure is the outcome of
 * every recipient still waiting for one, at the body stage, as a refused
 * final dot would be; no chunk follows it (RFC 3030 s. 2: the server
 * discards the rest of the message, and the client must not go on), and
 * the next transaction starts with RSET, since BDAT LAST never came.  The
 * replies of the chunks already sent are read (and ignored: the
 * recipients have their outcome) before the transaction is over.
 */
static enum reply_act
bdat_reply(struct smtp_conn *c, const struct smtp_reply *r, const char *text)
{
	struct smtp_reply soft;
	STRB_LOCAL(sb, 700);

	c->bdat_wait--;
	bdat_refused(c, &r, &text, &soft, &sb);
	if (r->code / 100 != 2) {
		for (uint32_t i = 0; i < c->nres; i++)
			if (res_accepted(c, i))
				res_set(c, i, MFI_STAGE_BODY, r, text);
		c->need_rset = true;
		c->body_on = false;
	}
	if (!c->body_on && c->ex == c->nexpect)	/* stopped, and every reply is in */
		return txn_done(c);
	return R_NEXT;
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
	struct smtp_reply soft;
	STRB_LOCAL(sb, 700);

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
	case EX_BDAT:
		return bdat_reply(c, r, text);
	case EX_BODY:
		if (c->bdat) {
			c->bdat_wait--;
			bdat_refused(c, &r, &text, &soft, &sb);
		}
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
