/*
 * smtp_server_cmd — what a session answers to each command: EHLO/HELO and
 * the extensions offered; MAIL and RCPT with their parameters checked
 * (net/smtp_proto.c parses them); whether a recipient is taken: relay
 * rules, the tenant's directory (authoritative domains, fix-now) and its
 * invalid-recipient quota; DATA, which starts the spool record with the
 * envelope and our Received: line; STARTTLS (RFC 3207); and the rest.
 *
 * Built on smtp_server_session.c (replies, the transaction, timers);
 * smtp_server.c, which reads the input, calls session_command for each
 * line.  Nothing here reads or writes a socket.  Worker thread only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tenant/cluster.h"
#include "core/tenant/directory.h"
#include "core/tenant/fixnow.h"
#include "core/tenant/tenant.h"
#include "core/tenant/tenant_event.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/smtp_proto.h"
#include "net/smtp_server_int.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "tls/tls.h"

static void
cmd_helo(struct session *s, const struct smtp_cmd *c, bool esmtp)
{
	const struct config *cfg = s->w->cfg;

	if (!smtp_valid_helo(c->arg, c->arglen)) {
		session_replyf(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		session_error(s);
		return;
	}
	session_txn_reset(s);
	free(s->helo);
	s->helo = xstrndup(c->arg, c->arglen);
	s->esmtp = esmtp;
	if (!esmtp) {
		session_replyf(s, "250 %s", cfg->hostname);
		return;
	}
	session_replyf(s, "250-%s Hello %s [%s]", cfg->hostname, s->helo, s->peer);
	session_reply(s, "250-PIPELINING");
	session_replyf(s, "250-SIZE %llu", (unsigned long long)cfg->limits.message_size);
	session_reply(s, "250-8BITMIME");
	session_reply(s, "250-ENHANCEDSTATUSCODES");
	session_reply(s, "250-SMTPUTF8");
	if (cfg->tls_server != NULL && s->tls == NULL)
		session_reply(s, "250-STARTTLS");
	session_reply(s, "250 DSN");
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_mail_params mp;
	struct smtp_path path;
	const char *err;

	if (s->helo == NULL) {
		session_reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		session_error(s);
		return;
	}
	if (s->require_tls && !s->tls_on) {
		session_reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		session_error(s);
		return;
	}
	if (s->in_txn) {
		session_reply(s, "503 5.5.1 Error: nested MAIL command");
		session_error(s);
		return;
	}
	err = smtp_parse_mail(c->arg, c->arglen, &path, &mp);
	if (err != NULL) {
		session_reply(s, err);
		session_error(s);
		return;
	}
	if (mp.size > s->w->cfg->limits.message_size) {
		session_reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	s->in_txn = true;
	s->sender = xstrndup(path.addr, path.len);
	s->envid = mp.envidlen ? xstrndup(mp.envid, mp.envidlen) : NULL;
	s->ret = (uint8_t)mp.ret;
	s->body = (uint8_t)mp.body;
	s->smtputf8 = mp.smtputf8;
	session_reply(s, "250 2.1.0 Ok");
}

/* Has tenant t reached its invalid-recipient quota, on this node (exact
 * but for the slack of core/tenant/tenant.h) or in the cluster (as of the
 * last flush to Redis)? */
static bool
tenant_quota_reached(const struct session *s, const struct cfg_tenant *t, uint64_t now)
{
	const struct config *cfg = s->w->cfg;

	return t->quota > 0 &&
	       (tenant_over_quota(tenant_table_counter(cfg->tenant_table, (size_t)t->counter),
				  s->w->id, now, t->quota) ||
		(cfg->cluster != NULL &&
		 cluster_tenant_total_idx(cfg->cluster, (size_t)t->counter, now) >= t->quota));
}

/*
 * A recipient of a tenant's domain: over the tenant's invalid-recipient
 * quota every new recipient is deferred; an authoritative domain (in the
 * config, or switched by fix-now) accepts only addresses in the tenant's
 * directory, and each one it rejects counts against the quota.  The
 * directory is looked up before the quota is checked so that the check
 * and the count of an unknown recipient follow one another at once: the
 * narrower that gap, the rarer two workers both let in the event that
 * reaches the quota.
 */
static const char *
rcpt_tenant(struct session *s, const struct cfg_domain *dom, const struct smtp_path *p)
{
	const struct cfg_tenant *t = dom->tenant_cfg;
	uint64_t now = (uint64_t)time(NULL);
	bool unknown;

	if (t == NULL || s->w->cfg->tenant_table == NULL || t->counter < 0)
		return NULL;
	unknown = t->dir != NULL &&
		  (dom->mode == CFG_DOMAIN_AUTHORITATIVE || fixnow_has(p->domain, p->domainlen)) &&
		  !directory_has(t->dir, p->addr, p->len);
	if (tenant_quota_reached(s, t, now))
		return "451 4.7.500 Tenant over invalid-recipient quota, retry later";
	if (!unknown)
		return NULL;
	tenant_event_invalid(s->w, t, now);
	return "550 5.1.10 Recipient not found";
}

/* May this client send to this domain?  NULL if so, else the reply. */
static const char *
rcpt_route(struct session *s, const struct smtp_path *p)
{
	const struct config *cfg = s->w->cfg;
	const struct cfg_domain *dom;

	if (p->domain == NULL)
		return "550 5.1.1 This relay has no local mailboxes";
	dom = config_domain_find(cfg, p->domain, p->domainlen);
	if (dom != NULL)
		return rcpt_tenant(s, dom, p);
	if (!s->trusted)
		return "550 5.7.1 Relay access denied";
	if (cfg->default_route == NULL)
		return "550 5.4.4 Unable to route: no connector for this domain";
	return NULL;
}

static void
cmd_rcpt(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_rcpt_params rp;
	struct smtp_path path;
	struct env_rcpt *r;
	const char *err;

	if (!s->in_txn) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	err = smtp_parse_rcpt(c->arg, c->arglen, s->smtputf8, &path, &rp);
	if (err == NULL)
		err = rcpt_route(s, &path);
	if (err != NULL) {
		session_reply(s, err);
		session_error(s);
		return;
	}
	if (s->nrcpt >= s->w->cfg->limits.recipients) {
		session_reply(s, "452 4.5.3 Too many recipients");
		return;
	}
	if (s->nrcpt == s->caprcpt) {
		uint32_t cap = s->caprcpt ? s->caprcpt * 2 : 4;
		r = xrealloc(s->rcpt, cap * sizeof(*r));
		s->rcpt = r;
		s->caprcpt = cap;
	}
	r = &s->rcpt[s->nrcpt++];
	r->addr = xstrndup(path.addr, path.len);
	r->orcpt = rp.orcptlen ? xstrndup(rp.orcpt, rp.orcptlen) : NULL;
	r->notify = rp.notify;
	r->state = ENV_RCPT_PENDING;
	session_reply(s, "250 2.1.5 Ok");
}

/* DATA: start the spool record with the envelope and our Received: line. */
static void
cmd_data(struct session *s)
{
	struct worker *w = s->w;
	const struct config *cfg = w->cfg;
	struct envelope env;
	char id[17];
	const char *proto;

	if (!s->in_txn) {
		session_reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	if (s->nrcpt == 0) {
		session_reply(s, "554 5.5.1 Error: no valid recipients");
		session_error(s);
		return;
	}
	s->id = spool_new_id(w->spool);
	envelope_id_str(s->id, id);
	env = (struct envelope){
		.id = s->id, .arrival = time(NULL), .sender = s->sender,
		.envid = s->envid, .helo = s->helo, .client = s->peer,
		.ret = s->ret, .body = s->body, .smtputf8 = s->smtputf8,
		.nrcpt = s->nrcpt, .rcpt = s->rcpt,
	};
	s->msg.len = 0;
	s->rec_start = spool_rec_begin(&s->msg, SPOOL_REC_MSG, s->id);
	envelope_encode(&env, &s->msg);
	s->env_len = s->msg.len - s->rec_start - SPOOL_HDR_SIZE;
	proto = s->smtputf8 ? (s->tls_on ? "UTF8SMTPS" : "UTF8SMTP")
		: s->esmtp ? (s->tls_on ? "ESMTPS" : "ESMTP") : (s->tls_on ? "SMTPS" : "SMTP");
	buf_printf(&s->msg, "Received: from %s ([%s])\r\n\tby %s (Sluice) with %s id %s",
		   s->helo, s->peer, cfg->hostname, proto, id);
	if (s->nrcpt == 1)
		buf_printf(&s->msg, "\r\n\tfor <%s>", s->rcpt[0].addr);
	buf_printf(&s->msg, "; %s\r\n", worker_date(w));
	smtp_data_init(&s->data, cfg->limits.text_line, cfg->limits.message_size);
	smtp_hops_init(&s->hops);
	s->state = SS_DATA;
	session_charge(s);
	session_timer(s);
	session_data_budget_arm(s);
	session_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/*
 * STARTTLS (RFC 3207): 220 in clear, then every byte is TLS.  Whatever the
 * client pipelined behind the command is thrown away (session_feed stops
 * at it), and the session forgets its EHLO and transaction, so no command
 * injected in clear can run inside the encrypted session (CVE-2011-0411).
 */
static void
cmd_starttls(struct session *s, const struct smtp_cmd *c)
{
	const struct config *cfg = s->w->cfg;

	if (cfg->tls_server == NULL) {
		session_reply(s, "502 5.5.1 Command not implemented");
		session_error(s);
		return;
	}
	if (s->tls != NULL) {
		session_reply(s, "554 5.5.1 Error: TLS already active");
		session_error(s);
		return;
	}
	if (c->arglen > 0) {
		session_reply(s, "501 5.5.4 Syntax: STARTTLS");
		session_error(s);
		return;
	}
	s->tls = tls_conn_new(cfg->tls_server, true, NULL);
	if (s->tls != NULL)
		s->tls_cfg = config_hold(cfg);
	if (s->tls == NULL) {
		session_reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	session_reply(s, "220 2.0.0 Ready to start TLS");
	s->plain_pending = s->out.len;
	session_txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	s->in.len = 0;
}

/* One command line (without its line end), answered into s->out. */
void
session_command(struct session *s, const char *line, size_t len)
{
	struct smtp_cmd c;

	smtp_cmd_parse(line, len, &c);
	switch (c.verb) {
	case SMTP_EHLO:
		cmd_helo(s, &c, true);
		break;
	case SMTP_HELO:
		cmd_helo(s, &c, false);
		break;
	case SMTP_MAIL:
		cmd_mail(s, &c);
		break;
	case SMTP_RCPT:
		cmd_rcpt(s, &c);
		break;
	case SMTP_DATA:
		if (c.arglen > 0) {
			session_reply(s, "501 5.5.4 Syntax: DATA takes no argument");
			session_error(s);
		} else {
			cmd_data(s);
		}
		break;
	case SMTP_RSET:
		session_txn_reset(s);
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_NOOP:
		session_reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_QUIT:
		session_reply(s, "221 2.0.0 Bye");
		session_end(s);
		break;
	case SMTP_VRFY:
		session_reply(s, "252 2.5.0 Cannot VRFY user, but will accept message "
			      "and attempt delivery");
		break;
	case SMTP_EXPN:
		session_reply(s, "502 5.5.1 EXPN not available");
		break;
	case SMTP_HELP:
		session_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
			      "NOOP QUIT VRFY HELP");
		break;
	case SMTP_STARTTLS:
		cmd_starttls(s, &c);
		break;
	case SMTP_BDAT:
	case SMTP_AUTH:
		session_reply(s, "502 5.5.1 Command not implemented");
		session_error(s);
		break;
	case SMTP_UNKNOWN:
		session_reply(s, "500 5.5.2 Error: command not recognized");
		session_error(s);
		break;
	}
}
