/*
 * ctl_message — "show message ID", Postfix's postcat and a delivery
 * trace in one: the envelope (sender, ENVID, RET, BODY, the client, each
 * recipient with its ORCPT and NOTIFY), each recipient's state (queued,
 * active, deferred, held, delivered, failed, or returning: its report is
 * being spooled), each job's attempts (the count, the last error with
 * its MFI code, where it went, the next try and the expiry, and its last
 * QJOB_HIST attempts, which the queue keeps in memory only), and the
 * header section as it is spooled.  On the control thread.
 *
 * One request goes to every worker (a message lives in one); the worker
 * that has it copies it out (core/ctl/ctl_worker.c: the envelope in its
 * spool encoding, the headers read from memory, the segment or the body
 * file as delivery reads them, at most CTL_HEAD_MAX bytes).  Everything
 * the client or a next hop chose is escaped for the terminal (LOG_FIELD,
 * LOG_TEXT) or made valid UTF-8 for JSON (log_json_str); the header lines
 * are split at CRLF only, so none is empty and the answer's framing holds
 * (core/ctl/ctl.h).
 */
#include "core/ctl/ctl_message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/strb.h"
#include "core/xalloc.h"
#include "queue/envelope.h"

/* What a job's state (enum qjob_state) is called. */
static const char *
job_state_name(uint8_t st)
{
	static const char *const names[] = {
		[QJOB_READY] = "queued", [QJOB_ACTIVE] = "active",
		[QJOB_DEFERRED] = "deferred", [QJOB_HELD] = "held",
	};

	return st < 4 ? names[st] : "?";
}

/* What a recipient's state is called. */
static const char *
rcpt_state(const struct ctl_minfo *mi, const struct envelope *env, uint32_t i)
{
	if (env->rcpt[i].state == ENV_RCPT_DELIVERED)
		return "delivered";
	if (env->rcpt[i].state == ENV_RCPT_FAILED)
		return "failed";
	if (mi->rcpt_job[i] == UINT32_MAX)
		return "returning";
	return job_state_name(mi->jobs[mi->rcpt_job[i]].state);
}

/* NOTIFY as RFC 3461 writes it: "never", "success,failure,delay", "-". */
static void
notify_text(uint8_t n, char *out, size_t len)
{
	struct strb sb;

	strb_init(&sb, out, len);
	if (n & ENV_NOTIFY_NEVER)
		strb_puts(&sb, "never");
	if (n & ENV_NOTIFY_SUCCESS)
		strb_puts(&sb, "success");
	if (n & ENV_NOTIFY_FAILURE)
		strb_printf(&sb, "%sfailure", sb.len ? "," : "");
	if (n & ENV_NOTIFY_DELAY)
		strb_printf(&sb, "%sdelay", sb.len ? "," : "");
	if (sb.len == 0)
		strb_puts(&sb, "-");
}

/* An attempt's enhanced status, "4.4.316", or "". */
static void
att_status(const struct qjob_attempt *a, char *out, size_t len)
{
	if (a->cls != 0)
		snprintf(out, len, "%u.%u.%u", a->cls, a->subj, a->det);
	else
		snprintf(out, len, "%s", "");
}

/* What an attempt did: "deferred", "partly delivered", ... */
static const char *
att_result(const struct qjob_attempt *a)
{
	if (a->result & QJOB_ATT_DELIVERED)
		return a->result & QJOB_ATT_FAILED ? "partly delivered, failed" : "partly delivered";
	return a->result & QJOB_ATT_FAILED ? "partly failed" : "deferred";
}

/* The job's last failure code for people: "4.4.316", the reply's own
 * status for MFI_REMOTE, "-" for none. */
static void
job_code(const struct ctl_mjob *j, const char *error, char *out, size_t len)
{
	char st[MFI_STATUS_MAX];

	if (j->code == MFI_NONE)
		snprintf(out, len, "-");
	else if (j->code != MFI_REMOTE)
		snprintf(out, len, "%s", mfi_status((enum mfi_code)j->code));
	else
		snprintf(out, len, "%s", mfi_reply_status(error, j->reply, st)[0] ? st : "-");
}

static const char *
ret_name(uint8_t ret)
{
	return ret == ENV_RET_FULL ? "full" : ret == ENV_RET_HDRS ? "hdrs" : NULL;
}

static const char *
body_name(uint8_t body)
{
	return body == ENV_BODY_7BIT ? "7bit" : body == ENV_BODY_8BITMIME ? "8bitmime" : NULL;
}

/* The header lines, each handed to line(p, n, arg); split at CRLF. */
static void
each_header(const struct ctl_minfo *mi, void (*line)(const char *, size_t, void *),
	    void *arg)
{
	const char *p = mi->head.p, *end = p + mi->head.len;

	while (p != NULL && p < end) {
		const char *nl = memmem(p, (size_t)(end - p), "\r\n", 2);
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (n > 0)
			line(p, n, arg);
		p = nl ? nl + 2 : end;
	}
}

/* ---- JSON ------------------------------------------------------------- */

static void
json_header(const char *p, size_t n, void *arg)
{
	log_json_append(arg, log_json_str(p, n));
}

static json_t *
json_job(const struct ctl_minfo *mi, const struct ctl_mjob *j, int64_t arrival)
{
	const char *a = mi->arena.p;
	json_t *hist = json_array();
	uint32_t k = j->nhist < QJOB_HIST ? j->nhist : QJOB_HIST;
	char code[32];

	for (uint32_t i = 0; i < k; i++) {
		const struct qjob_attempt *h = &j->hist[i];
		char st[32];
		att_status(h, st, sizeof(st));
		log_json_append(&hist, json_pack("{s:i, s:o, s:I, s:i, s:s, s:i, s:s, s:s}",
			"attempt", (int)(j->nhist - k + i + 1),
			"time", ctl_json_time(arrival + h->at), "after", (json_int_t)h->at,
			"ms", (int)h->ms, "result", att_result(h), "reply", (int)h->reply,
			"status", st, "mfi", mfi_name((enum mfi_code)h->code)));
	}
	job_code(j, a + j->error, code, sizeof(code));
	return json_pack("{s:o, s:s, s:i, s:i, s:o, s:o, s:o, s:s, s:s, s:i, s:o, s:o, "
			 "s:o, s:o, s:I, s:o}",
			 "destination", log_json_s(a + j->dest),
			 "state", job_state_name(j->state), "recipients", (int)j->nrcpt,
			 "attempts", (int)j->attempts,
			 "last_attempt", ctl_json_time(j->last_attempt),
			 "next_attempt", ctl_json_time(j->next_try),
			 "expires", ctl_json_time(j->expires), "code", code,
			 "mfi", mfi_name((enum mfi_code)j->code), "reply", j->reply,
			 "last_error", log_json_s(a + j->error),
			 "detail", log_json_s(a + j->detail), "host", log_json_s(a + j->host),
			 "ip", log_json_s(a + j->ip), "history_total", (json_int_t)j->nhist,
			 "history", hist);
}

static void
message_json(struct ctl_run *r, const struct ctl_minfo *mi, const struct envelope *env,
	     unsigned worker, const char *id)
{
	json_t *rcpts = json_array(), *jobs = json_array(), *head = json_array();
	char seg[64], body[80];
	uint32_t pending = 0;

	for (uint32_t i = 0; i < env->nrcpt; i++) {
		const struct env_rcpt *rc = &env->rcpt[i];
		uint32_t k = mi->rcpt_job[i];
		char n[40];
		notify_text(rc->notify, n, sizeof(n));
		pending += rc->state == ENV_RCPT_PENDING;
		log_json_append(&rcpts, json_pack("{s:o, s:o, s:s, s:s, s:o}",
			"address", log_json_s(rc->addr), "orcpt", log_json_s(rc->orcpt),
			"notify", n, "state", rcpt_state(mi, env, i), "destination",
			k == UINT32_MAX ? json_null() : log_json_s(mi->arena.p + mi->jobs[k].dest)));
	}
	for (uint32_t k = 0; k < mi->njobs; k++)
		log_json_append(&jobs, json_job(mi, &mi->jobs[k], env->arrival));
	each_header(mi, json_header, &head);
	snprintf(seg, sizeof(seg), "w%u/%08x.seg", worker, mi->loc.seg);
	snprintf(body, sizeof(body), "w%u/body/%s", worker, id);
	ctl_json(r, json_pack("{s:s, s:o, s:I, s:I, s:{s:i, s:s, s:I, s:s?, s:b}, s:o, s:o, "
			      "s:o, s:o, s:s?, s:s?, s:b, s:b, s:i, s:o, s:o, s:o, s:i, s:b, "
			      "s:s?}",
		"id", id, "arrival", ctl_json_time(env->arrival),
		"age", (json_int_t)(time(NULL) - env->arrival), "size", (json_int_t)mi->size,
		"spool", "worker", (int)worker, "segment", seg, "offset",
		(json_int_t)mi->loc.off, "body_file", mi->loc.body ? body : NULL,
		"in_memory", mi->in_memory,
		"client", log_json_s(env->client), "helo", log_json_s(env->helo),
		"sender", log_json_s(env->sender), "envid", log_json_s(env->envid),
		"ret", ret_name(env->ret), "body", body_name(env->body),
		"smtputf8", env->smtputf8 != 0, "held", mi->held, "pending", (int)pending,
		"recipients", rcpts, "jobs", jobs, "headers", head,
		"headers_bytes", (int)mi->head.len, "headers_truncated", mi->head_cut,
		"headers_error", mi->head_rc < 0 ? strerror(-mi->head_rc) : NULL));
}

/* ---- text ------------------------------------------------------------- */

/* A header line for the terminal: escaped as log lines are, but a tab
 * (folding white space) stays a tab. */
static void
text_header(const char *p, size_t n, void *arg)
{
	struct ctl_run *r = arg;
	char *e = xmalloc(4 * n + 4);
	const char *end = p + n;

	while (p <= end) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		size_t k = tab ? (size_t)(tab - p) : (size_t)(end - p);
		log_esc(e, 4 * k + 4, p, k, 0);
		ctl_printf(r, "%s%s", e, tab ? "\t" : "\n");
		p += k + 1;
	}
	free(e);
}

static void
message_text(struct ctl_run *r, const struct ctl_minfo *mi, const struct envelope *env,
	     unsigned worker, const char *id)
{
	const char *a = mi->arena.p;
	char t[32], age[24], when[40];
	uint32_t pending = 0;
	struct ctl_table *tb;

	for (uint32_t i = 0; i < env->nrcpt; i++)
		pending += env->rcpt[i].state == ENV_RCPT_PENDING;
	ctl_fmt_time(env->arrival, t, sizeof(t));
	ctl_fmt_age(time(NULL) - env->arrival, age, sizeof(age));
	ctl_printf(r, "id          %s\n", id);
	ctl_printf(r, "arrival     %s (%s ago)\n", t, age);
	ctl_printf(r, "size        %llu bytes: worker %u, segment w%u/%08x.seg at %llu%s%s\n",
		   (unsigned long long)mi->size, worker, worker, mi->loc.seg,
		   (unsigned long long)mi->loc.off, mi->loc.body ? ", data in body file" : "",
		   mi->in_memory ? ", data held in memory" : "");
	ctl_printf(r, "client      %s (helo %s)\n", LOG_FIELD(env->client), LOG_FIELD(env->helo));
	ctl_printf(r, "sender      <%s>\n", LOG_FIELD(env->sender));
	ctl_printf(r, "envid       %s\n", env->envid ? LOG_FIELD(env->envid) : "-");
	ctl_printf(r, "ret         %s\n", ret_name(env->ret) ?: "-");
	ctl_printf(r, "body        %s%s\n", body_name(env->body) ?: "-",
		   env->smtputf8 ? ", smtputf8" : "");
	ctl_printf(r, "state       %u of %u recipient%s pending%s%s\n", pending, env->nrcpt,
		   env->nrcpt == 1 ? "" : "s", mi->held ? ", held" : "",
		   mi->finishing ? ", finishing" : "");
	ctl_printf(r, "recipients:\n");
	tb = ctl_table_new((const char *[]){ "RECIPIENT", "ORCPT", "NOTIFY", "STATE",
					     "DESTINATION", NULL });
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		const struct env_rcpt *rc = &env->rcpt[i];
		uint32_t k = mi->rcpt_job[i];
		char n[40];
		notify_text(rc->notify, n, sizeof(n));
		ctl_table_row(tb, LOG_FIELD(rc->addr), rc->orcpt ? LOG_FIELD(rc->orcpt) : "-", n,
			      rcpt_state(mi, env, i),
			      k == UINT32_MAX ? "-" : LOG_FIELD(a + mi->jobs[k].dest));
	}
	ctl_table_print(tb, r);
	ctl_printf(r, "jobs:\n");
	tb = ctl_table_new((const char *[]){ "DESTINATION", "STATE", ">RCPTS", ">ATT",
					     "LAST-ATTEMPT", "NEXT-TRY", "EXPIRES", "CODE",
					     "LAST-ERROR", NULL });
	for (uint32_t k = 0; k < mi->njobs; k++) {
		const struct ctl_mjob *j = &mi->jobs[k];
		char n[16], at[16], last[40], next[40], exp[40], code[32];
		snprintf(n, sizeof(n), "%u", j->nrcpt);
		snprintf(at, sizeof(at), "%u", j->attempts);
		ctl_fmt_time(j->last_attempt, last, sizeof(last));
		ctl_fmt_time(j->next_try, next, sizeof(next));
		ctl_fmt_time(j->expires, exp, sizeof(exp));
		job_code(j, a + j->error, code, sizeof(code));
		ctl_table_row(tb, LOG_FIELD(a + j->dest), job_state_name(j->state), n, at,
			      last[0] ? last : "-", next[0] ? next : "-", exp, code,
			      a[j->detail] ? LOG_TEXT(a + j->detail)
					   : a[j->error] ? LOG_TEXT(a + j->error) : "-");
	}
	ctl_table_print(tb, r);
	ctl_printf(r, "attempts (the last %d of each job are kept, in memory):\n", QJOB_HIST);
	tb = ctl_table_new((const char *[]){ "DESTINATION", ">#", "TIME", ">AFTER", ">MS",
					     "RESULT", ">REPLY", "STATUS", "MFI", NULL });
	for (uint32_t k = 0; k < mi->njobs; k++) {
		const struct ctl_mjob *j = &mi->jobs[k];
		uint32_t m = j->nhist < QJOB_HIST ? j->nhist : QJOB_HIST;
		for (uint32_t i = 0; i < m; i++) {
			const struct qjob_attempt *h = &j->hist[i];
			char no[16], after[24], ms[16], reply[8], st[32];
			snprintf(no, sizeof(no), "%u", j->nhist - m + i + 1);
			ctl_fmt_time(env->arrival + h->at, when, sizeof(when));
			ctl_fmt_age(h->at, after, sizeof(after));
			snprintf(ms, sizeof(ms), "%u", h->ms);
			snprintf(reply, sizeof(reply), "%u", h->reply);
			att_status(h, st, sizeof(st));
			ctl_table_row(tb, LOG_FIELD(a + j->dest), no, when, after, ms,
				      att_result(h), h->reply ? reply : "-", st[0] ? st : "-",
				      mfi_name((enum mfi_code)h->code));
		}
	}
	ctl_table_print(tb, r);
	if (mi->head_rc < 0)
		ctl_printf(r, "headers: not readable from the spool: %s\n", strerror(-mi->head_rc));
	else
		ctl_printf(r, "headers (%zu bytes%s):\n", mi->head.len,
			   mi->head_cut ? ", cut: no end of the headers in the first 64 KiB" : "");
	each_header(mi, text_header, r);
}

/* ---- the command ------------------------------------------------------ */

static void
message_round(struct ctl_run *r)
{
	const struct ctl_wreq *q = NULL;
	struct envelope *env;
	char id[17];

	for (unsigned i = 0; i < ctl.nw && q == NULL; i++)
		if (r->reqs[i]->msg != NULL)
			q = r->reqs[i];
	envelope_id_str(r->reqs[0]->id, id);
	if (q == NULL) {
		ctl_fail(r, "no message %s in the queue", id);
		return;
	}
	env = envelope_decode(q->msg->env.p, q->msg->env.len);
	if (env == NULL) {
		ctl_fail(r, "message %s: its envelope could not be read back (out of memory)", id);
		return;
	}
	if (r->json)
		message_json(r, q->msg, env, q->worker, id);
	else
		message_text(r, q->msg, env, q->worker, id);
	free(env);
	ctl_end(r);
}

static void
cmd_show_message(struct ctl_run *r)
{
	struct ctl_wreq tmpl = { .kind = CTL_W_MESSAGE };

	if (r->argc != 1 || !ctl_sel_parse_id(r->argv[0], &tmpl.id)) {
		ctl_fail(r, "usage: show message ID [json] (ID: the 16 hex digits of a queue id%s)",
			 r->argc == 1 ? "; show queue lists them" : "");
		return;
	}
	r->on_round = message_round;
	ctl_round(r, &tmpl);
}

const struct ctl_cmd ctl_cmd_show_message = {
	.words = "show message",
	.args = "ID",
	.help = "one queued message (postcat): envelope, each recipient's state, each "
		"job's attempts and last errors, the headers",
	.changes = false,
	.run = cmd_show_message,
};
