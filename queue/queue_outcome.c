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
#include "core/tenant/cluster.h"
#include "core/tenant/tenant.h"
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

/* A destination said the recipient does not exist: count it against the
 * tenant that owns the recipient's domain (the invalid-recipient quota). */
static void
count_invalid(struct worker *w, const char *addr, int64_t now)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *dom = at ? config_domain_find(w->cfg, at + 1, strlen(at + 1))
					  : NULL;

	if (dom == NULL || dom->tenant_cfg == NULL || w->cfg->tenant_table == NULL ||
	    dom->tenant_cfg->counter < 0)
		return;
	tenant_count_add(tenant_table_counter(w->cfg->tenant_table,
					      (size_t)dom->tenant_cfg->counter),
			 w->id, (uint64_t)now, 1);
	if (w->cfg->cluster != NULL)
		cluster_add_idx(w->cfg->cluster, (size_t)dom->tenant_cfg->counter, w->id,
				(uint64_t)now, 1);
	w->st.invalid_rcpts++;
}

/* The JSON attempt line: built by jansson, the peer's text through
 * log_json_s (a host name from DNS, the remote reply in detail). */
static void
log_attempt(struct worker *w, const struct qjob *j, const char *result,
	    const struct mfi_attempt *a, enum mfi_code code, const char *detail,
	    json_t *rcpts, uint64_t ms)
{
	char qid[17];

	envelope_id_str(j->msg->id, qid);
	log_json(json_pack("{s:s, s:s, s:s, s:s, s:o, s:s?, s:o, s:s, s:s, s:o, s:I, s:i}",
			   "event", "attempt", "id", qid, "connector", j->dest->connector,
			   "result", result, "host", log_json_s(a->host), "ip", a->ip,
			   "rcpts", rcpts, "code", code == MFI_NONE ? "" :
			   code == MFI_REMOTE ? "remote" : mfi_status(code),
			   "mfi", mfi_name(code), "detail", log_json_s(detail ? detail : ""),
			   "ms", (json_int_t)ms, "attempt", (int)j->attempts + 1),
		 "attempt");
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

	if (c == NULL || c->delay_warning == 0 || m->delay_sent ||
	    now - m->env->arrival < (int64_t)c->delay_warning)
		return;
	m->delay_sent = true;
	info = xcalloc(j->nrcpt, sizeof(*info));
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		info[i] = (struct dsn_rcpt){
			.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_DELAYED,
			.code = (enum mfi_code)j->last_code, .reply_code = j->last_reply,
			.reply_text = j->last_error,
			.remote_mta = j->last_host ? j->last_host : j->last_ip,
			.detail = j->last_detail, .last_attempt = j->last_attempt,
		};
	}
	queue_ndr_send(w, m, j->rcpt, info, j->nrcpt, true,
		       m->env->arrival + (int64_t)c->expiry);
	free(info);
}

void
queue_job_done(struct worker *w, struct qjob *j, const struct mfi_attempt *per_rcpt,
	       uint64_t elapsed_ms)
{
	struct qmsg *m = j->msg;
	struct dest *d = j->dest;
	const struct cfg_connector *c = queue_dest_cfg(w, d);
	uint32_t *fail = xmalloc(j->nrcpt * sizeof(*fail));
	struct dsn_rcpt *finfo = xcalloc(j->nrcpt, sizeof(*finfo));
	char **texts = xcalloc(j->nrcpt, sizeof(*texts));
	char **details = xcalloc(j->nrcpt, sizeof(*details));
	uint32_t nall = j->nrcpt;
	uint32_t nfail = 0, nkeep = 0, ndeliv = 0;
	bool conn_level = false, reached = false;
	struct buf detail = { 0 };
	int64_t now = time(NULL);
	json_t *ok_r = json_array(), *def_r = json_array(), *fail_r = json_array();
	const struct mfi_attempt *last_fail = NULL;
	enum mfi_code last_code = MFI_NONE;

	d->nactive--;
	d->st.attempts++;
	d->st.last_attempt = now;
	w->st.attempts++;
	if (j->attempts > 0) {
		w->st.retries++;
		d->st.retries++;
	}
	j->last_attempt = now;
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct mfi_attempt *a = &per_rcpt[i];
		struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
		if (a->stage >= MFI_STAGE_MAIL)
			reached = true;
		if (a->stage == MFI_STAGE_BODY && a->reply_code / 100 == 2) {
			log_json_append(&ok_r, log_json_s(r->addr));
			if (w->cfg->tenant_out != NULL) {
				const struct cfg_tenant *t = config_addr_tenant(w->cfg, r->addr);
				if (t != NULL)
					tenant_count_add(tenant_table_counter(w->cfg->tenant_out,
									      (size_t)t->counter),
							 w->id, (uint64_t)now, 1);
			}
			queue_rcpt_final(w, m, j->rcpt[i], ENV_RCPT_DELIVERED);
			d->st.delivered++;
			w->st.rcpts_delivered++;
			ndeliv++;
			continue;
		}
		enum mfi_code code = mfi_classify(a);
		if (code == MFI_NONE)
			code = MFI_REMOTE;
		if (code != MFI_REMOTE)
			conn_level = true;
		d->st.codes[code < QUEUE_NCODES ? code : 0]++;
		detail.len = 0;
		mfi_detail(a, code, &detail);
		buf_append(&detail, "", 1);
		if (code == MFI_REMOTE && a->reply_text != NULL) {
			texts[i] = xstrdup(a->reply_text);	/* one line already */
		} else {
			texts[i] = xstrdup(mfi_reply(code));
		}
		details[i] = xstrdup(detail.p);
		set_str(&j->last_error, texts[i]);
		set_str(&j->last_detail, detail.p);
		set_str(&j->last_host, a->host);
		set_str(&j->last_ip, a->ip);
		j->last_code = (uint8_t)code;
		j->last_reply = a->reply_code;
		d->st.last_code = (uint8_t)code;
		d->st.last_time = now;
		snprintf(d->st.last_error, sizeof(d->st.last_error), "%s", texts[i]);
		snprintf(d->st.last_host, sizeof(d->st.last_host), "%s [%s]",
			 a->host ? a->host : "?", a->ip ? a->ip : "?");
		last_fail = a;
		last_code = code;
		if (mfi_permanent(a)) {
			log_json_append(&fail_r, log_json_s(r->addr));
			if (mfi_user_unknown(a->reply_text, a->reply_code))
				count_invalid(w, r->addr, now);
			finfo[nfail] = (struct dsn_rcpt){
				.addr = r->addr, .orcpt = r->orcpt, .action = DSN_ACTION_FAILED,
				.code = code, .reply_code = a->reply_code,
				.reply_text = texts[i], .remote_mta = a->host ? a->host : a->ip,
				.detail = details[i], .last_attempt = now,
			};
			fail[nfail++] = j->rcpt[i];
			d->st.bounced++;
			w->st.rcpts_bounced++;
		} else {
			log_json_append(&def_r, log_json_s(r->addr));
			j->rcpt[nkeep++] = j->rcpt[i];
			d->st.deferred++;
			w->st.rcpts_deferred++;
		}
	}
	/* one JSON line per outcome class of this attempt */
	if (ndeliv > 0) {
		struct mfi_attempt ok = per_rcpt[0];
		w->st.messages_out++;
		w->st.bytes_out += m->loc.size;
		log_attempt(w, j, "delivered", &ok, MFI_NONE, "", ok_r, elapsed_ms);
	} else {
		json_decref(ok_r);
	}
	if (nkeep > 0)
		log_attempt(w, j, "deferred", last_fail, last_code, j->last_detail, def_r,
			    elapsed_ms);
	else
		json_decref(def_r);
	if (nfail > 0)
		log_attempt(w, j, "bounced", last_fail, last_code, j->last_detail, fail_r,
			    elapsed_ms);
	else
		json_decref(fail_r);

	if (conn_level && !reached)
		queue_dest_result(w, d, false);
	d->probing = false;	/* an attempt (the probe, if one was out) ended */
	if (nfail > 0)
		queue_ndr_send(w, m, fail, finfo, nfail, false, 0);
	if (nkeep > 0)		/* the job stays: remember this attempt */
		record_attempt(j, now, elapsed_ms, QJOB_ATT_DEFERRED |
			       (ndeliv ? QJOB_ATT_DELIVERED : 0) | (nfail ? QJOB_ATT_FAILED : 0));
	j->nrcpt = nkeep;
	if (nkeep == 0) {
		queue_job_free(w, j);
	} else {
		uint32_t delay;
		int64_t next;

		j->attempts++;
		delay = retry_delay(j->attempts, c ? c->retry_initial : RETRY_DEFAULT_INITIAL,
				    c ? c->retry_max : RETRY_DEFAULT_MAX,
				    c ? c->retry_jitter : RETRY_DEFAULT_JITTER, &w->q->rng);
		next = retry_next_time(m->env->arrival, c ? c->expiry : RETRY_DEFAULT_EXPIRY,
				       now, delay);
		if (next < 0) {
			/* expired: return what is left, with the last error */
			for (uint32_t i = 0; i < nkeep; i++) {
				struct env_rcpt *r = &m->env->rcpt[j->rcpt[i]];
				finfo[i] = (struct dsn_rcpt){
					.addr = r->addr, .orcpt = r->orcpt,
					.action = DSN_ACTION_FAILED, .code = (enum mfi_code)j->last_code,
					.reply_code = j->last_reply, .reply_text = j->last_error,
					.remote_mta = j->last_host ? j->last_host : j->last_ip,
					.detail = j->last_detail, .last_attempt = now,
				};
			}
			log_info("id=%016llX: expired after %u attempts, returning %u "
				 "recipient(s): %s", (unsigned long long)m->id, j->attempts,
				 nkeep, LOG_TEXT(j->last_error));
			d->st.bounced += nkeep;
			w->st.rcpts_bounced += nkeep;
			w->st.rcpts_expired += nkeep;
			queue_ndr_send(w, m, j->rcpt, finfo, nkeep, false, 0);
			j->nrcpt = 0;
			queue_job_free(w, j);
		} else if (j->ctl != QUEUE_CTL_NONE && queue_ctl_after_attempt(w, j)) {
			/* core/ctl: held, deleted or bounced during the attempt */
		} else {
			j->state = QJOB_ACTIVE;
			list_init(&j->link);
			queue_job_defer(w, j, w->now + (uint64_t)(next > now ? next - now : 0));
			if (d->down)
				queue_job_defer(w, j, j->expires);
			delay_notice(w, j, c, now);
		}
	}
	buf_free(&detail);
	free(fail);
	free(finfo);
	for (uint32_t i = 0; i < nall; i++) {
		free(texts[i]);
		free(details[i]);
	}
	free(texts);
	free(details);
	queue_msg_finish(w, m);
	queue_dest_kick(w, d);
}
