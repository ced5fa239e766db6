/*
 * queue_outcome — what the outcome of one delivery attempt does to its job
 * (queue_job_done): each recipient delivered, deferred or returned, as the
 * reply or the MFI classification of the failure says; the counters, the
 * one JSON line per outcome class, the invalid-recipient quota, the
 * destination's health; the rest deferred with a backoff (queue/retry.c)
 * clamped so the last try is at expiry, returned at expiry, and the
 * delay notice once a message has waited delay_warning.
 *
 * The top of the queue's files: it calls queue.c (jobs, destinations),
 * queue_msg.c (records, NDRs) and queue_ctl.c (an operator's action that
 * waited for the attempt to end); none of them calls back.  The SMTP client
 * calls queue_job_done on the worker's thread.
 */
#include "queue/queue.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/tenant/tenant_event.h"
#include "core/trace/trace.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/dsn.h"
#include "queue/queue_int.h"
#include "queue/retry.h"

/* *dst becomes a copy of s (or NULL); the old string is freed. */
static void
set_str(char **dst, const char *s)
{
	free(*dst);
	*dst = s ? xstrdup(s) : NULL;
}

/* An event's "code": the MFI status (450's 4.4.316), "remote" for the
 * next hop's own reply (in "detail"), "" when nothing failed. */
static const char *
code_word(enum mfi_code code)
{
	return code == MFI_NONE ? "" : code == MFI_REMOTE ? "remote" : mfi_status(code);
}

/* The attempt event of recipients idx[0..n) of j: built by jansson, the
 * peer's text through log_json_s (a host name from DNS, the remote reply
 * in detail). */
static void
log_attempt(struct worker *w, const struct qjob *j, const char *result,
	    const struct mfi_attempt *a, enum mfi_code code, const char *detail,
	    const uint32_t *idx, uint32_t n, uint64_t ms)
{
	char qid[17];

	envelope_id_str(j->msg->id, qid);
	const struct log_kv f[] = {
		LOG_KV_S("id", qid), LOG_KV_S("connector", j->dest->connector),
		LOG_KV_SLOT("tenant"), LOG_KV_S("result", result), LOG_KV_S("host", a->host),
		LOG_KV_S("ip", a->ip), LOG_KV_SLOT("rcpts"), LOG_KV_S("code", code_word(code)),
		LOG_KV_S("mfi", mfi_name(code)), LOG_KV_S("detail", detail ? detail : ""),
		LOG_KV_I("ms", ms), LOG_KV_I("attempt", j->attempts + 1),
	};
	queue_log_rcpts(w, j->msg, idx, n, "attempt", f, sizeof(f) / sizeof(f[0]));
}

/* Job j's attempt into its history (show message): what happened to its
 * recipients, and its last failure (j->last_*) if they were not all
 * delivered. */
static void
record_attempt(struct qjob *j, int64_t now, uint64_t ms, uint8_t result)
{
	struct qjob_attempt a = {
		.at = (uint32_t)(now > j->msg->env->arrival ? now - j->msg->env->arrival : 0),
		.ms = ms < UINT32_MAX ? (uint32_t)ms : UINT32_MAX,
		.reply = (uint16_t)(j->last_reply > 0 && j->last_reply < 1000 ? j->last_reply : 0),
		.code = j->last_code, .result = result,
	};
	char buf[MFI_STATUS_MAX];
	const char *st = j->last_code != MFI_REMOTE ? mfi_status(j->last_code)
			 : mfi_reply_status(j->last_error, j->last_reply, buf);
	unsigned c, su, d;

	if (sscanf(st, "%1u.%3u.%3u", &c, &su, &d) == 3) {
		a.cls = (uint8_t)c;
		a.subj = (uint16_t)su;
		a.det = (uint16_t)d;
	}
	queue_job_hist_add(j, &a);
}

/*
 * The "delayed" DSN (RFC 3464 Action: delayed): once per message, when it
 * has waited delay_warning seconds (0: never), for the job's recipients
 * whose NOTIFY asks for delays (queue_ndr_send filters by dsn_wanted).
 */
static void
delay_notice(struct worker *w, struct qjob *j, const struct cfg_connector *c, int64_t now)
{
	struct qmsg *m = j->msg;
	struct dsn_rcpt *info;

	if (c->delay_warning == 0 || m->delay_sent ||
	    now - m->env->arrival < (int64_t)c->delay_warning)
		return;
	m->delay_sent = true;
	info = queue_job_dsn(j, j->rcpt, j->nrcpt, DSN_ACTION_DELAYED, NULL, j->last_detail, j->last_attempt);
	queue_ndr_send(w, m, j->rcpt, info, j->nrcpt, true,
		       m->env->arrival + (int64_t)c->expiry);
	free(info);
}

/* What one attempt did to its job's recipients (outcome_classify). */
struct outcome {
	uint32_t nall;			/* recipients of the attempt */
	uint32_t ndeliv;		/* of which delivered */
	uint32_t nfail;			/* returned: fail[], finfo[] */
	uint32_t nkeep;			/* deferred: moved to the front of
					   j->rcpt */
	uint32_t *fail;			/* recipient indexes to return */
	struct dsn_rcpt *finfo;		/* what their NDR says of each */
	char **texts;			/* per recipient of the attempt: the
					   reply line of its failure... */
	char **details;			/* ...and its detail (finfo borrows
					   both; freed by outcome_fini) */
	bool conn_level;		/* a failure not the destination's own
					   reply (DNS, connect, TLS, ...) */
	bool reached;			/* a recipient got as far as MAIL */
	uint32_t *ok;			/* delivered: recipient indexes (ndeliv) */
	uint32_t *idx;			/* per recipient of the attempt: its
					   index in the envelope... */
	uint8_t *cls;			/* ...and enum trace_result, for the
					   trace (j->rcpt is reordered) */
	const struct mfi_attempt *last_fail; /* the last failure seen */
	enum mfi_code last_code;	/* and its code */
	struct buf detail;		/* scratch for mfi_detail */
};

static void
outcome_init(struct outcome *o, uint32_t n)
{
	*o = (struct outcome){
		.nall = n,
		.fail = xmalloc(n * sizeof(*o->fail)),
		.finfo = xcalloc(n, sizeof(*o->finfo)),
		.texts = xcalloc(n, sizeof(*o->texts)),
		.details = xcalloc(n, sizeof(*o->details)),
		.ok = xmalloc(n * sizeof(*o->ok)),
		.idx = xmalloc(n * sizeof(*o->idx)),
		.cls = xmalloc(n),
		.last_code = MFI_NONE,
	};
}

/* Free what o owns (after the NDR that borrows it was handed over). */
static void
outcome_fini(struct outcome *o)
{
	buf_free(&o->detail);
	free(o->ok);
	free(o->fail);
	free(o->finfo);
	for (uint32_t i = 0; i < o->nall; i++) {
		free(o->texts[i]);
		free(o->details[i]);
	}
	free(o->texts);
	free(o->details);
	free(o->idx);
	free(o->cls);
}

/* Recipient i of j failed with code (attempt a): its reply line and detail
 * in o, and the last error of the job and of its destination. */
static void
note_failure(struct qjob *j, uint32_t i, const struct mfi_attempt *a, enum mfi_code code,
	     int64_t now, struct outcome *o)
{
	struct dest *d = j->dest;

	d->st.codes[code < QUEUE_NCODES ? code : 0]++;
	if (code == MFI_REMOTE)
		d->st.remote[a->reply_code / 100 == 5]++;
	o->detail.len = 0;
	mfi_detail(a, code, &o->detail);
	buf_append(&o->detail, "", 1);
	if (code == MFI_REMOTE && a->reply_text != NULL)
		o->texts[i] = xstrdup(a->reply_text);	/* one line already */
	else
		o->texts[i] = xstrdup(mfi_reply(code));
	o->details[i] = xstrdup(o->detail.p);
	set_str(&j->last_error, o->texts[i]);
	set_str(&j->last_detail, o->detail.p);
	set_str(&j->last_host, a->host);
	set_str(&j->last_ip, a->ip);
	j->last_code = (uint8_t)code;
	j->last_reply = a->reply_code;
	j->last_answered = mfi_answered(a);
	d->st.last_code = (uint8_t)code;
	d->st.last_time = now;
	snprintf(d->st.last_error, sizeof(d->st.last_error), "%s", o->texts[i]);
	snprintf(d->st.last_host, sizeof(d->st.last_host), "%s [%s]",
		 a->host ? a->host : "?", a->ip ? a->ip : "?");
	o->last_fail = a;
	o->last_code = code;
}

/* n recipients of m reached their final outcome at now: [0] delivered,
 * [1] returned; their wait goes into the histogram of time in queue. */
static void
count_queue_time(struct worker *w, int returned, const struct qmsg *m, int64_t now,
		 uint32_t n)
{
	uint64_t waited = now > m->env->arrival ? (uint64_t)(now - m->env->arrival) : 0;

	for (uint32_t k = 0; k < n; k++)
		hist_add(w->st.queue_s[returned], hist_queue_s, HIST_QUEUE_N, waited);
	w->st.queue_s_sum[returned] += waited * n;
}

/*
 * Sort j's recipients by per_rcpt: a 2xx to the body is delivered (its
 * RCPT record written now); a permanent failure goes to o->fail for the
 * NDR; the rest are kept at the front of j->rcpt (o->nkeep) for a retry.
 * Counts each in the stats and in o's address lists.
 */
static void
outcome_classify(struct worker *w, struct qjob *j, const struct mfi_attempt *per_rcpt,
		 int64_t now, struct outcome *o)
{
	struct qmsg *m = j->msg;
	struct dest *d = j->dest;

	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct mfi_attempt *a = &per_rcpt[i];
		struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		enum mfi_code code;

		o->idx[i] = j->rcpt[i];
		o->cls[i] = TRACE_R_DEFERRED;
		if (a->stage >= MFI_STAGE_MAIL)
			o->reached = true;
		if (a->stage == MFI_STAGE_BODY && a->reply_code / 100 == 2) {
			o->ok[o->ndeliv] = j->rcpt[i];
			o->cls[i] = TRACE_R_DELIVERED;
			tenant_event_rcpt(w, w->cfg->tenant_out, r->addr, (uint64_t)now);
			queue_rcpt_final(w, m, j->rcpt[i], ENV_RCPT_DELIVERED);
			count_queue_time(w, 0, m, now, 1);
			d->st.delivered++;
			w->st.rcpts_delivered++;
			o->ndeliv++;
			continue;
		}
		code = mfi_classify(a);
		if (code == MFI_NONE)
			code = MFI_REMOTE;
		if (code != MFI_REMOTE)
			o->conn_level = true;
		note_failure(j, i, a, code, now, o);
		if (mfi_permanent(a)) {
			o->cls[i] = TRACE_R_BOUNCED;
			/* the destination says the recipient does not exist: it
			   counts against its tenant's invalid-recipient quota */
			if (mfi_user_unknown(a->reply_text, a->reply_code))
				tenant_event_invalid(w, config_addr_tenant(w->cfg, r->addr),
						     (uint64_t)now);
			o->finfo[o->nfail] = (struct dsn_rcpt){
				.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_FAILED,
				.code = code, .reply_code = a->reply_code,
				.reply_text = o->texts[i],
				.remote_mta = !mfi_answered(a) ? NULL : a->host ? a->host : a->ip,
				.detail = o->details[i], .last_attempt = now,
			};
			o->fail[o->nfail++] = j->rcpt[i];
			count_queue_time(w, 1, m, now, 1);
			d->st.bounced++;
			w->st.rcpts_bounced++;
		} else {
			j->rcpt[o->nkeep++] = j->rcpt[i];
			d->st.deferred++;
			w->st.rcpts_deferred++;
		}
	}
}

/* The trace's record of one outcome class of the attempt (what the
 * attempt line says), with the recipients o sorted into that class. */
static void
trace_attempt(struct worker *w, const struct qjob *j, enum trace_result result,
	      const struct mfi_attempt *a, enum mfi_code code, const char *detail,
	      const struct outcome *o, uint64_t ms)
{
	struct trace_enc *e = trace_begin(w->trace, TRACE_ATTEMPT, j->msg->id);
	const struct cfg_tenant *t = NULL;

	if (e == NULL)
		return;
	for (uint32_t i = 0; i < o->nall && t == NULL; i++)	/* the first one's */
		if (o->cls[i] == result)
			t = config_addr_tenant(w->cfg, j->msg->env->rcpt[o->idx[i]].addr);
	trace_enc_result(e, result);
	trace_enc_str(e, TRACE_S_CONNECTOR, j->dest->connector);
	trace_enc_str(e, TRACE_S_TENANT, t != NULL ? t->name : NULL);
	trace_enc_str(e, TRACE_S_HOST, a->host);
	trace_enc_str(e, TRACE_S_IP, a->ip);
	trace_enc_str(e, TRACE_S_CODE, code_word(code));
	trace_enc_str(e, TRACE_S_MFI, code == MFI_NONE ? NULL : mfi_name(code));
	trace_enc_str(e, TRACE_S_DETAIL, detail);
	trace_enc_num(e, TRACE_N_REPLY, a->reply_code);
	trace_enc_num(e, TRACE_N_MS, (int64_t)ms);
	trace_enc_num(e, TRACE_N_ATTEMPT, (int64_t)j->attempts + 1);
	for (uint32_t i = 0; i < o->nall; i++)
		if (o->cls[i] == result)
			trace_enc_rcpt(e, j->msg->env->rcpt[o->idx[i]].addr);
	trace_commit(w->trace, e);
}

/* The attempt events, one per outcome class (and per tenant and line's
 * worth of recipients, queue_log_rcpts). */
static void
outcome_log(struct worker *w, const struct qjob *j, const struct mfi_attempt *per_rcpt,
	    struct outcome *o, uint64_t ms)
{
	if (o->ndeliv > 0) {
		struct mfi_attempt ok = per_rcpt[0];
		uint32_t k = 0;
		w->st.messages_out++;
		w->st.bytes_out += j->msg->loc.size;
		log_attempt(w, j, "delivered", &ok, MFI_NONE, "", o->ok, o->ndeliv, ms);
		while (k + 1 < o->nall && o->cls[k] != TRACE_R_DELIVERED)
			k++;	/* the first delivered one's reply */
		trace_attempt(w, j, TRACE_R_DELIVERED, &per_rcpt[k], MFI_NONE,
			      per_rcpt[k].reply_text, o, ms);
	}
	if (o->nkeep > 0) {
		log_attempt(w, j, "deferred", o->last_fail, o->last_code, j->last_detail,
			    j->rcpt, o->nkeep, ms);
		trace_attempt(w, j, TRACE_R_DEFERRED, o->last_fail, o->last_code,
			      j->last_detail, o, ms);
	}
	if (o->nfail > 0) {
		log_attempt(w, j, "bounced", o->last_fail, o->last_code, j->last_detail,
			    o->fail, o->nfail, ms);
		trace_attempt(w, j, TRACE_R_BOUNCED, o->last_fail, o->last_code,
			      j->last_detail, o, ms);
	}
}

/* The tenant of j's first recipient, or NULL (the trace keeps one per
 * event; the log's events group recipients by tenant). */
static const char *
job_tenant(const struct worker *w, const struct qjob *j)
{
	const struct cfg_tenant *t = j->nrcpt > 0
		? config_addr_tenant(w->cfg, j->msg->env->rcpt[j->rcpt[0]].addr) : NULL;

	return t != NULL ? t->name : NULL;
}

/* The trace's record of j's expiry (what the expired line says). */
static void
trace_expired(struct worker *w, const struct qjob *j, int64_t now)
{
	struct trace_enc *e = trace_begin(w->trace, TRACE_EXPIRED, j->msg->id);

	if (e == NULL)
		return;
	trace_enc_str(e, TRACE_S_CONNECTOR, j->dest->connector);
	trace_enc_str(e, TRACE_S_TENANT, job_tenant(w, j));
	trace_enc_str(e, TRACE_S_CODE, code_word(j->last_code));
	trace_enc_str(e, TRACE_S_MFI, j->last_code == MFI_NONE ? NULL : mfi_name(j->last_code));
	trace_enc_str(e, TRACE_S_DETAIL, j->last_detail);
	trace_enc_str(e, TRACE_S_HOST, j->last_host);
	trace_enc_str(e, TRACE_S_IP, j->last_ip);
	trace_enc_num(e, TRACE_N_MS, now - j->msg->env->arrival);
	trace_enc_num(e, TRACE_N_ATTEMPT, (int64_t)j->attempts);
	for (uint32_t i = 0; i < j->nrcpt; i++)
		trace_enc_rcpt(e, j->msg->env->rcpt[j->rcpt[i]].addr);
	trace_commit(w->trace, e);
}

/* The event of j's expiry: its recipients are returned with the last
 * error, after j->attempts attempts and the age of the message. */
static void
log_expired(struct worker *w, const struct qjob *j, int64_t now)
{
	char qid[17];

	envelope_id_str(j->msg->id, qid);
	const struct log_kv f[] = {
		LOG_KV_S("id", qid), LOG_KV_S("connector", j->dest->connector),
		LOG_KV_SLOT("tenant"), LOG_KV_SLOT("rcpts"), LOG_KV_S("code", code_word(j->last_code)),
		LOG_KV_S("mfi", mfi_name(j->last_code)),
		LOG_KV_S("detail", j->last_detail ? j->last_detail : ""),
		LOG_KV_I("age", now - j->msg->env->arrival), LOG_KV_I("attempts", j->attempts),
	};
	queue_log_rcpts(w, j->msg, j->rcpt, j->nrcpt, "expired", f, sizeof(f) / sizeof(f[0]));
	trace_expired(w, j, now);
}

/*
 * j failed at now with recipients left (j->nrcpt): defer it for the next
 * backoff step, clamped to the expiry, or return them if it has expired;
 * unless the operator asked for something during the attempt (j->ctl).
 * j may be gone afterwards.
 */
static void
job_defer_or_expire(struct worker *w, struct qjob *j, const struct cfg_connector *c,
		    int64_t now)
{
	struct qmsg *m = j->msg;
	struct dest *d = j->dest;
	uint32_t delay;
	int64_t next;

	j->attempts++;
	delay = retry_delay(j->attempts, c->retry_initial, c->retry_max, c->retry_jitter,
			    &w->q->rng);
	next = retry_next_time(m->env->arrival, c->expiry, now, delay);
	if (next < 0) {
		/* expired: return what is left, with the last error */
		struct dsn_rcpt *info = queue_job_dsn(j, j->rcpt, j->nrcpt, DSN_ACTION_FAILED, NULL,
						      j->last_detail, now);

		for (uint32_t k = 0; k < j->nrcpt; k++)
			info[k].expired = true;	/* Status 5.4.7: dsn.c */
		log_expired(w, j, now);
		count_queue_time(w, 1, m, now, j->nrcpt);
		d->st.bounced += j->nrcpt;
		w->st.rcpts_bounced += j->nrcpt;
		w->st.rcpts_expired += j->nrcpt;
		queue_ndr_send(w, m, j->rcpt, info, j->nrcpt, false, 0);
		free(info);
		j->nrcpt = 0;
		queue_job_free(w, j);
	} else if (j->ctl != QUEUE_CTL_NONE && queue_ctl_after_attempt(w, j)) {
		/* core/ctl: held, deleted or bounced during the attempt */
	} else {
		queue_job_tried(w, j);
		j->state = QJOB_ACTIVE;
		list_init(&j->link);
		queue_job_defer(w, j, w->now + (uint64_t)(next > now ? next - now : 0));
		if (d->down)
			queue_job_defer(w, j, j->expires);
		delay_notice(w, j, c, now);
	}
}

void
queue_job_done(struct worker *w, struct qjob *j, const struct mfi_attempt *per_rcpt,
	       uint64_t elapsed_ms)
{
	struct qmsg *m = j->msg;
	struct dest *d = j->dest;
	const struct cfg_connector *c = queue_dest_policy(w, d);
	int64_t now = time(NULL);
	struct outcome o;

	d->nactive--;
	d->st.attempts++;
	d->st.last_attempt = now;
	w->st.attempts++;
	hist_add(w->st.attempt_ms, hist_attempt_ms, HIST_ATTEMPT_N, elapsed_ms);
	w->st.attempt_ms_sum += elapsed_ms;
	if (j->attempts > 0) {
		w->st.retries++;
		d->st.retries++;
	}
	j->last_attempt = now;
	outcome_init(&o, j->nrcpt);
	outcome_classify(w, j, per_rcpt, now, &o);
	outcome_log(w, j, per_rcpt, &o, elapsed_ms);
	if (o.conn_level && !o.reached)
		queue_dest_result(w, d, false);
	d->probing = false;	/* an attempt (the probe, if one was out) ended */
	if (o.nfail > 0)
		queue_ndr_send(w, m, o.fail, o.finfo, o.nfail, false, 0);
	if (o.nkeep > 0)	/* the job stays: remember this attempt */
		record_attempt(j, now, elapsed_ms, QJOB_ATT_DEFERRED |
			       (o.ndeliv ? QJOB_ATT_DELIVERED : 0) | (o.nfail ? QJOB_ATT_FAILED : 0));
	j->nrcpt = o.nkeep;
	if (j->nrcpt == 0)
		queue_job_free(w, j);
	else
		job_defer_or_expire(w, j, c, now);
	outcome_fini(&o);
	queue_msg_finish(w, m);
	queue_dest_kick(w, d);
}
