/*
 * smtp_server — listeners and sessions of one worker.
 *
 * A session is fed bytes from multishot recv completions.  Complete command
 * lines are answered at once into s->out; the replies of one loop turn go
 * out in one send at the end of the turn (smtp_server_flush), which is what
 * makes PIPELINING cheap.  DATA bytes go through the smtp_data reader
 * straight into s->msg, which already holds the spool record header and
 * the envelope, so the finished message is one iovec for the group commit.
 * While that record waits for its fdatasync the session is paused: later
 * pipelined input stays in s->in and is processed after the 250 is queued,
 * so replies keep their order.
 *
 * DATA memory is bounded by design, not by message size times sessions: a
 * message spills to its own body file (net/smtp_spill.c) once its data
 * passes limits.data_spill, or as soon as it grows while the worker's
 * sessions hold more than limits.data_memory.  A spilling session keeps at
 * most two SMTP_SPILL_CHUNK buffers, one filling and one being written; when
 * both are busy it consumes no more input (back-pressure), and a session
 * that cannot consume (paused, or waiting for the disk) stops reading its
 * socket once SMTP_IN_PAUSE bytes wait in s->in, so TCP holds the rest.
 * Everything a session buffers for DATA is counted in w->srv->data_mem.
 *
 * Crash invariant: the 250 goes out only after the MSG record is synced;
 * a spilled message's body file (data and name) is synced before its MSG
 * record is even handed to the group commit.  A refused or abandoned
 * spill unlinks its body file; one left by a crash has no record and
 * recovery unlinks it.
 *
 * Lifetime: session_close() only marks a session and cancels its recv;
 * the memory is released by session_release() at the end of a callback,
 * once no recv, send or spool write refers to it any more.
 */
#include "net/smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/tenant/cluster.h"
#include "core/tenant/directory.h"
#include "core/tenant/fixnow.h"
#include "core/tenant/tenant.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/anvil.h"
#include "net/smtp_proto.h"
#include "net/smtp_spill.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "tls/tls.h"

#define SMTP_OUT_MAX (1u << 20)		/* a client that does not read */
#define SMTP_IN_MAX (1u << 20)		/* input while paused: the client ignores
					   that we stopped reading */
#define SMTP_IN_PAUSE (64u << 10)	/* stop reading a blocked session then */
#define SMTP_MSG_KEEP (32u << 10)	/* keep a message buffer this big */
#define DATA_SLICE (64u << 10)		/* DATA input taken per step */
#define BUFGROUP 0

struct smtp_listener {
	struct op op;			/* multishot accept */
	struct worker *w;		/* owner */
	int fd;				/* listening socket */
	bool armed;			/* accept is in flight */
	bool stopped;			/* no re-arm (draining) */
	bool require_tls;		/* sessions must STARTTLS before MAIL */
	const char *text;		/* address as configured, for logs */
};

/* The SMTP server of one worker (w->srv): its listeners and sessions. */
struct smtp_server {
	struct smtp_listener *listeners;/* one per configured listener */
	size_t nlisteners;		/* their number */
	struct list idle;		/* sessions awaiting a command, LRU */
	struct list data;		/* sessions inside DATA, LRU */
	struct list dirty;		/* sessions with replies to send */
	unsigned nsessions;		/* live sessions */
	uint64_t data_mem;		/* bytes of DATA buffers of sessions in a
					   transaction (limits.data_memory) */
};

enum session_state {
	SS_CMD,		/* reading commands */
	SS_DATA,	/* reading the message */
	SS_SPOOL,	/* message handed to the spool, waiting for the sync */
};

struct session {
	struct op recv_op;		/* multishot recv */
	struct op send_op;		/* send of s->flight */
	struct worker *w;		/* owner */
	int fd;				/* the connection */
	uint8_t state;			/* enum session_state */
	bool recv_armed;		/* multishot recv in flight */
	bool send_busy;			/* send in flight */
	bool closing;			/* being torn down */
	bool quit;			/* close once the output is sent */
	bool skip_line;			/* discarding an over-long line */
	bool esmtp;			/* EHLO (not HELO) was used */
	bool trusted;			/* client in trusted_networks */
	bool on_dirty;			/* linked on w->srv->dirty */
	bool require_tls;		/* listener wants STARTTLS before MAIL */
	bool tls_on;			/* handshake done: all I/O is encrypted */
	bool tls_send;			/* the send in flight is TLS output */
	struct tls_conn *tls;		/* after STARTTLS, or NULL */
	const struct config *tls_cfg;	/* held (config_hold) while tls lives:
					   tls borrows that config's context */
	size_t plain_pending;		/* bytes at the head of out still to go
					   in clear (the 220 to STARTTLS) */
	uint16_t errors;		/* bad commands so far */
	struct list link;		/* on w->srv->idle or w->srv->data */
	struct list dirty;		/* on w->srv->dirty */
	uint64_t last;			/* w->now of the last input */
	struct buf in;			/* input not yet processed */
	struct buf out;			/* replies not yet sent */
	struct buf flight;		/* replies being sent */
	size_t flight_off;		/* bytes of flight already taken */
	char *helo;			/* EHLO/HELO argument */
	char peer[48];			/* client IP as text */
	struct anvil_ticket anvil;	/* its count in the per-client limits */

	/* the transaction (MAIL .. end of data) */
	bool in_txn;			/* MAIL accepted */
	char *sender;			/* reverse path */
	char *envid;			/* ENVID or NULL */
	uint8_t ret;			/* RET */
	uint8_t body;			/* BODY */
	bool smtputf8;			/* SMTPUTF8 */
	struct env_rcpt *rcpt;		/* accepted recipients */
	uint32_t nrcpt;			/* their number */
	uint32_t caprcpt;		/* allocated */
	uint64_t id;			/* queue id, from DATA on */
	uint64_t data_start;		/* w->now of the 354 */
	struct wheel_timer data_timer;	/* the DATA phase's time budget */
	struct smtp_data data;		/* DATA reader */
	struct buf msg;			/* spool record being built */
	size_t rec_start;		/* record header offset in msg */
	size_t env_len;			/* encoded envelope length */
	struct spool_write sw;		/* the record in the group commit */

	/* DATA memory and spilling */
	size_t charged;			/* bytes counted in w->srv->data_mem */
	bool rx_paused;			/* not reading: input waits in the socket */
	bool rx_cancel;			/* our cancel of the recv is outstanding */
	const char *data_err;		/* refusal of a spilled message, sent when
					   its body file's ops are done */
	struct smtp_spill spill;	/* the body file of a large message */
};

static void session_process(struct session *s);
static void session_arm_recv(struct session *s);
static void session_flow(struct session *s);
static void data_spooled(struct spool_write *sw, int res);

/* ---- replies -------------------------------------------------------- */

static void
session_dirty(struct session *s)
{
	if (!s->on_dirty) {
		s->on_dirty = true;
		list_add_tail(&s->w->srv->dirty, &s->dirty);
	}
}

/* Queue one reply line (without CRLF). */
static void
reply(struct session *s, const char *line)
{
	buf_puts(&s->out, line);
	buf_append(&s->out, "\r\n", 2);
	session_dirty(s);
}

static void
replyf(struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
replyf(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	reply(s, line);
}

/* ---- lifetime ------------------------------------------------------- */

static void
txn_reset(struct session *s)
{
	free(s->sender);
	free(s->envid);
	for (uint32_t i = 0; i < s->nrcpt; i++) {
		free(s->rcpt[i].addr);
		free(s->rcpt[i].orcpt);
	}
	s->sender = s->envid = NULL;
	s->nrcpt = 0;
	s->in_txn = false;
	s->smtputf8 = false;
	s->id = 0;
	if (s->msg.cap > SMTP_MSG_KEEP)
		buf_free(&s->msg);
	s->msg.len = 0;
	s->data_err = NULL;
}

/*
 * Count what the session holds for DATA in w->srv->data_mem: its record, spill
 * and write buffers while it is in a transaction's DATA or spool phase.
 */
static void
session_charge(struct session *s)
{
	size_t want = 0;

	if (s->state == SS_DATA || s->state == SS_SPOOL)
		want = s->msg.cap + smtp_spill_mem(&s->spill);
	s->w->srv->data_mem = s->w->srv->data_mem - s->charged + want;
	s->charged = want;
}

static void
session_timer(struct session *s)
{
	struct worker *w = s->w;

	if (s->closing)
		return;
	s->last = w->now;
	if (s->state == SS_DATA)
		list_move_tail(&w->srv->data, &s->link);
	else if (s->state == SS_CMD)
		list_move_tail(&w->srv->idle, &s->link);
	else
		list_del(&s->link);
}

static void
session_close(struct session *s)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	s->closing = true;
	list_del(&s->link);
	if (s->on_dirty) {
		list_del(&s->dirty);
		s->on_dirty = false;
	}
	if (s->recv_armed) {
		sqe = ring_sqe(&s->w->ring);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->recv_op, 0);
		op_set(sqe, NULL);
	}
	shutdown(s->fd, SHUT_RDWR);
}

/* Free the session if nothing refers to it any more; call at callback end. */
static void
session_release(struct session *s)
{
	if (!s->closing || s->recv_armed || s->send_busy || s->state == SS_SPOOL ||
	    smtp_spill_busy(&s->spill))
		return;
	close(s->fd);
	tls_conn_free(s->tls);
	if (s->tls_cfg != NULL)
		config_release(s->tls_cfg);
	smtp_spill_done(&s->spill, false);	/* abandoned mid-DATA, if at all */
	s->w->srv->data_mem -= s->charged;
	txn_reset(s);
	buf_free(&s->msg);
	buf_free(&s->in);
	buf_free(&s->out);
	buf_free(&s->flight);
	free(s->rcpt);
	free(s->helo);
	anvil_leave(s->w->anvil, &s->anvil);
	wheel_cancel(&s->w->q->wheel, &s->data_timer);
	s->w->srv->nsessions--;
	free(s);
}

/* Send what is queued, then close. */
static void
session_end(struct session *s)
{
	s->quit = true;
	if (s->out.len == 0 && !s->send_busy && (s->tls == NULL || tls_out_len(s->tls) == 0))
		session_close(s);
}

/* Count a bad command; past the limit the session ends with a 421. */
static void
session_error(struct session *s)
{
	if (++s->errors >= s->w->cfg->limits.errors) {
		reply(s, "421 4.7.0 Too many errors, closing connection");
		session_end(s);
	}
}

/* ---- sending -------------------------------------------------------- */

static void
session_send(struct session *s)
{
	struct worker *w = s->w;
	struct io_uring_sqe *sqe;

	sqe = ring_sqe(&w->ring);
	if (s->tls_send) {
		ring_sending(tls_out_ptr(s->tls), tls_out_len(s->tls));
		io_uring_prep_send(sqe, s->fd, tls_out_ptr(s->tls), tls_out_len(s->tls),
				   MSG_NOSIGNAL);
	} else {
		ring_sending(s->flight.p + s->flight_off, s->flight.len - s->flight_off);
		io_uring_prep_send(sqe, s->fd, s->flight.p + s->flight_off,
				   s->flight.len - s->flight_off, MSG_NOSIGNAL);
	}
	sqe->flags |= IOSQE_IO_LINK;
	op_set(sqe, &s->send_op);
	sqe = ring_sqe(&w->ring);
	io_uring_prep_link_timeout(sqe, &w->send_ts, 0);
	op_set(sqe, NULL);
	s->send_busy = true;
}

static void
session_send_done(struct op *op, int res, uint32_t flags)
{
	struct session *s = container_of(op, struct session, send_op);

	s->send_busy = false;
	if (res <= 0) {
		if (res == -ECANCELED && !s->closing)
			log_info("session %s: client did not read replies for %us, closed",
				 s->peer, s->w->cfg->limits.send_timeout);
		session_close(s);
	} else if (s->tls_send) {
		s->tls_send = false;
		tls_out_consume(s->tls, (size_t)res);
		if (tls_out_len(s->tls) > 0 || s->out.len > 0)
			session_dirty(s);
		else if (s->quit)
			session_close(s);
	} else if ((s->flight_off += (size_t)res) < s->flight.len) {
		if (!s->closing)
			session_send(s);
	} else {
		s->flight.len = 0;
		s->flight_off = 0;
		if (s->out.len > 0)
			session_dirty(s);
		else if (s->quit)
			session_close(s);
	}
	session_release(s);
}

void
smtp_server_flush(struct worker *w)
{
	while (!list_empty(&w->srv->dirty)) {
		struct session *s = container_of(w->srv->dirty.next, struct session, dirty);
		struct buf t;

		list_del(&s->dirty);
		s->on_dirty = false;
		if (s->send_busy || s->closing)
			continue;
		if (s->tls != NULL && s->plain_pending == 0) {
			/* encrypt the turn's replies; send what TLS has to say */
			if (s->tls_on && s->out.len > 0 &&
			    tls_write(s->tls, s->out.p, s->out.len) < 0) {
				session_close(s);
				continue;
			}
			s->out.len = 0;
			if (tls_out_len(s->tls) > 0) {
				s->tls_send = true;
				session_send(s);
			}
			continue;
		}
		if (s->out.len == 0)
			continue;
		if (s->plain_pending > 0) {
			/* the 220 to STARTTLS goes in clear, alone */
			s->flight.len = 0;
			buf_append(&s->flight, s->out.p, s->plain_pending);
			buf_consume(&s->out, s->plain_pending);
			s->plain_pending = 0;
			s->flight_off = 0;
			session_send(s);
			continue;
		}
		t = s->flight;
		s->flight = s->out;
		s->out = t;
		s->out.len = 0;
		s->flight_off = 0;
		session_send(s);
	}
}

/* ---- commands ------------------------------------------------------- */

static void
cmd_helo(struct session *s, const struct smtp_cmd *c, bool esmtp)
{
	const struct config *cfg = s->w->cfg;

	if (!smtp_valid_helo(c->arg, c->arglen)) {
		replyf(s, "501 5.5.4 Syntax: %s hostname", esmtp ? "EHLO" : "HELO");
		session_error(s);
		return;
	}
	txn_reset(s);
	free(s->helo);
	s->helo = xstrndup(c->arg, c->arglen);
	s->esmtp = esmtp;
	if (!esmtp) {
		replyf(s, "250 %s", cfg->hostname);
		return;
	}
	replyf(s, "250-%s Hello %s [%s]", cfg->hostname, s->helo, s->peer);
	reply(s, "250-PIPELINING");
	replyf(s, "250-SIZE %llu", (unsigned long long)cfg->limits.message_size);
	reply(s, "250-8BITMIME");
	reply(s, "250-ENHANCEDSTATUSCODES");
	reply(s, "250-SMTPUTF8");
	if (cfg->tls_server != NULL && s->tls == NULL)
		reply(s, "250-STARTTLS");
	reply(s, "250 DSN");
}

static void
cmd_mail(struct session *s, const struct smtp_cmd *c)
{
	struct smtp_mail_params mp;
	struct smtp_path path;
	const char *err;

	if (s->helo == NULL) {
		reply(s, "503 5.5.1 Error: send HELO/EHLO first");
		session_error(s);
		return;
	}
	if (s->require_tls && !s->tls_on) {
		reply(s, "530 5.7.0 Must issue a STARTTLS command first");
		session_error(s);
		return;
	}
	if (s->in_txn) {
		reply(s, "503 5.5.1 Error: nested MAIL command");
		session_error(s);
		return;
	}
	err = smtp_parse_mail(c->arg, c->arglen, &path, &mp);
	if (err != NULL) {
		reply(s, err);
		session_error(s);
		return;
	}
	if (mp.size > s->w->cfg->limits.message_size) {
		reply(s, "552 5.3.4 Message size exceeds fixed maximum message size");
		return;
	}
	s->in_txn = true;
	s->sender = xstrndup(path.addr, path.len);
	s->envid = mp.envidlen ? xstrndup(mp.envid, mp.envidlen) : NULL;
	s->ret = (uint8_t)mp.ret;
	s->body = (uint8_t)mp.body;
	s->smtputf8 = mp.smtputf8;
	reply(s, "250 2.1.0 Ok");
}

/*
 * A recipient of a tenant's domain: over the tenant's invalid-recipient
 * quota every new recipient is deferred; an authoritative domain (in the
 * config, or switched by fix-now) accepts only addresses in the tenant's
 * directory, and each one it rejects counts against the quota.
 */
static const char *
rcpt_tenant(struct session *s, const struct cfg_domain *dom, const struct smtp_path *p)
{
	const struct cfg_tenant *t = dom->tenant_cfg;
	struct tenant_counter *ctr;
	uint64_t now = (uint64_t)time(NULL);

	if (t == NULL || s->w->cfg->tenant_table == NULL || t->counter < 0)
		return NULL;
	ctr = tenant_table_counter(s->w->cfg->tenant_table, (size_t)t->counter);
	if (t->quota > 0 && (tenant_over_quota(ctr, s->w->id, now, t->quota) ||
			     (s->w->cfg->cluster != NULL &&
			      cluster_tenant_total_idx(s->w->cfg->cluster, (size_t)t->counter,
						       now) >= t->quota)))
		return "451 4.7.500 Tenant over invalid-recipient quota, retry later";
	if (t->dir == NULL || (dom->mode != CFG_DOMAIN_AUTHORITATIVE &&
			       !fixnow_has(p->domain, p->domainlen)))
		return NULL;
	if (directory_has(t->dir, p->addr, p->len))
		return NULL;
	tenant_count_add(ctr, s->w->id, now, 1);
	if (s->w->cfg->cluster != NULL)
		cluster_add_idx(s->w->cfg->cluster, (size_t)t->counter, s->w->id, now, 1);
	s->w->st.invalid_rcpts++;
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
		reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	err = smtp_parse_rcpt(c->arg, c->arglen, s->smtputf8, &path, &rp);
	if (err == NULL)
		err = rcpt_route(s, &path);
	if (err != NULL) {
		reply(s, err);
		session_error(s);
		return;
	}
	if (s->nrcpt >= s->w->cfg->limits.recipients) {
		reply(s, "452 4.5.3 Too many recipients");
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
	reply(s, "250 2.1.5 Ok");
}

/*
 * The DATA phase's budget.  data_timeout alone restarts with every byte,
 * so a client trickling one byte a minute would hold its session (and its
 * message memory) for ever.  Besides it, the whole phase must end within
 * data_total, and once data_timeout has passed it must have averaged
 * data_min_rate bytes/s: the deadline is
 *
 *	start + min(data_total, data_timeout + bytes / data_min_rate)
 *
 * One wheel timer per session, armed at the 354 for that deadline.  When it
 * fires the deadline is computed again with the bytes received by then: a
 * session still inside it is re-armed, one past it gets 421 4.4.2.  So the
 * cost is one insert per message plus one per re-arm, nothing per byte.
 * A timer that fires after its DATA ended does nothing.
 */
static uint64_t
data_deadline(const struct session *s)
{
	const struct cfg_limits *lim = &s->w->cfg->limits;
	uint64_t end = s->data_start + lim->data_total;

	if (lim->data_min_rate > 0) {
		uint64_t r = s->data_start + lim->data_timeout + s->data.size / lim->data_min_rate;

		end = r < end ? r : end;
	}
	return end;
}

static void
data_budget_fire(struct wheel_timer *t, void *arg)
{
	struct session *s = WHEEL_CONTAINER(t, struct session, data_timer);
	struct worker *w = s->w;
	uint64_t end;

	if (s->closing || s->quit || s->state != SS_DATA)
		return;
	end = data_deadline(s);
	if (w->now < end) {
		wheel_insert(&w->q->wheel, &s->data_timer, end);
		return;
	}
	if (end == s->data_start + w->cfg->limits.data_total)
		log_info("session %s: DATA not finished within data_total %us (%llu bytes), "
			 "closed", s->peer, w->cfg->limits.data_total,
			 (unsigned long long)s->data.size);
	else
		log_info("session %s: DATA below data_min_rate %u bytes/s (%llu bytes in "
			 "%llus), closed", s->peer, w->cfg->limits.data_min_rate,
			 (unsigned long long)s->data.size,
			 (unsigned long long)(w->now - s->data_start));
	list_del(&s->link);
	reply(s, "421 4.4.2 Timeout exceeded, closing connection");
	session_end(s);
}

static void
data_budget_arm(struct session *s)
{
	s->data_start = s->w->now;
	wheel_insert(&s->w->q->wheel, &s->data_timer, data_deadline(s));
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
		reply(s, "503 5.5.1 Error: need MAIL command");
		session_error(s);
		return;
	}
	if (s->nrcpt == 0) {
		reply(s, "554 5.5.1 Error: no valid recipients");
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
	s->state = SS_DATA;
	session_charge(s);
	session_timer(s);
	data_budget_arm(s);
	reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

/* ---- DATA spilled to a body file (net/smtp_spill.c) ------------------ */

/* Offset of the message data (our Received: line first) in s->msg. */
static size_t
data_start(const struct session *s)
{
	return s->rec_start + SPOOL_HDR_SIZE + s->env_len;
}

/*
 * A spilled message that will not be queued: refused at the end of its
 * data, its body file failed, or the client left.  Nothing is in flight.
 */
static void
spill_abort(struct session *s)
{
	struct worker *w = s->w;
	int err = smtp_spill_error(&s->spill);
	char id[17];

	smtp_spill_done(&s->spill, false);
	envelope_id_str(s->id, id);
	if (s->data_err != NULL) {
		w->st.rejected++;
		log_info("rejected id=%s from=<%s> client=%s: %s", id, LOG_FIELD(s->sender),
			 s->peer, s->data_err);
		if (!s->closing)
			reply(s, s->data_err);
	} else if (err < 0) {
		w->st.spool_errors++;
		log_warn("id=%s not queued from=<%s> client=%s: body file: %s", id,
			 LOG_FIELD(s->sender), s->peer, strerror(-err));
		if (!s->closing)
			reply(s, "452 4.3.1 Insufficient system storage, try again later");
	}
	txn_reset(s);
	s->state = SS_CMD;
	session_charge(s);
	if (!s->closing)
		session_timer(s);
}

/*
 * The end of a spilled message, from data_end and from every completion of
 * its body file: once the file is durable, its MSG record goes to the group
 * commit and data_spooled answers as for any message.
 */
static void
spill_finish(struct session *s)
{
	switch (smtp_spill_finish(&s->spill, s->data_err == NULL && !s->closing, &s->msg,
				  s->rec_start)) {
	case SMTP_SPILL_WAIT:
		break;
	case SMTP_SPILL_FAILED:
		spill_abort(s);
		break;
	case SMTP_SPILL_READY:
		spool_rec_end(&s->msg, s->rec_start, s->env_len);
		s->sw.iov.iov_base = s->msg.p + s->rec_start;
		s->sw.iov.iov_len = s->msg.len - s->rec_start;
		s->sw.cb = data_spooled;
		spool_append(s->w->spool, &s->sw);
		break;
	}
}

/* Read what waits in s->in, and read the socket again if it can. */
static void
session_resume(struct session *s)
{
	if (s->closing)
		return;
	if (s->state != SS_SPOOL)
		session_process(s);
	session_flow(s);
}

/* An op of the body file completed. */
static void
session_spill_done(struct smtp_spill *sp)
{
	struct session *s = container_of(sp, struct session, spill);

	session_charge(s);
	if (s->state == SS_SPOOL) {
		spill_finish(s);
		if (s->state == SS_CMD)
			session_resume(s);	/* refused: on to what was pipelined */
	} else if (s->state == SS_DATA && !s->closing) {
		smtp_spill_step(&s->spill);
		session_resume(s);
	}
	session_release(s);
}

/* After a step of DATA: count it, and spill when the message or the
 * worker's sessions hold too much. */
static void
data_account(struct session *s)
{
	const struct cfg_limits *lim = &s->w->cfg->limits;

	if (s->spill.active) {
		smtp_spill_step(&s->spill);
	} else if (!s->data.done && !(s->data.flags & SMTP_DATA_TOO_BIG) &&
		   (s->msg.len - data_start(s) > lim->data_spill ||
		    s->w->srv->data_mem + s->msg.cap - s->charged > lim->data_memory)) {
		s->w->st.spilled++;
		smtp_spill_start(&s->spill, s->w->spool, &s->w->ring, s->id, &s->msg,
				 data_start(s));
	}
	session_charge(s);
}

static void
data_spooled(struct spool_write *sw, int res)
{
	struct session *s = container_of(sw, struct session, sw);
	struct worker *w = s->w;
	char id[17];

	envelope_id_str(s->id, id);
	s->state = SS_CMD;
	if (s->spill.active)
		smtp_spill_done(&s->spill, res == 0);	/* the record names it now */
	if (res == 0) {
		w->st.messages_in++;
		w->st.rcpts_in += s->nrcpt;
		w->st.bytes_in += s->data.size;
		log_info("queued id=%s from=<%s> nrcpt=%u size=%llu client=%s", id,
			 LOG_FIELD(s->sender), s->nrcpt, (unsigned long long)s->data.size, s->peer);
		if (!s->closing)
			replyf(s, "250 2.0.0 Ok: queued as %s", id);
		if (w->cfg->tenant_in != NULL)
			for (uint32_t i = 0; i < s->nrcpt; i++) {
				const struct cfg_tenant *t = config_addr_tenant(w->cfg, s->rcpt[i].addr);
				if (t != NULL)
					tenant_count_add(tenant_table_counter(w->cfg->tenant_in,
									      (size_t)t->counter),
							 w->id, (uint64_t)time(NULL), 1);
			}
		queue_accept(w, &s->msg, s->rec_start, &sw->loc);
	} else {
		w->st.spool_errors++;
		log_warn("id=%s not queued from=<%s> client=%s: spool write failed: %s",
			 id, LOG_FIELD(s->sender), s->peer, strerror(-res));
		if (!s->closing)
			reply(s, "452 4.3.1 Insufficient system storage, try again later");
	}
	txn_reset(s);
	session_charge(s);
	if (!s->closing) {
		session_timer(s);
		if (w->draining) {
			reply(s, "421 4.3.2 Service shutting down, closing connection");
			session_end(s);
		} else {
			session_resume(s);
		}
	}
	session_release(s);
}

/* End of DATA: reject, or hand the record to the group commit. */
static void
data_end(struct session *s)
{
	const char *err = smtp_data_reject(&s->data);

	if (s->spill.active) {
		s->data_err = err;
		s->state = SS_SPOOL;
		session_timer(s);
		spill_finish(s);
		return;
	}
	if (err != NULL) {
		char id[17];
		envelope_id_str(s->id, id);
		s->w->st.rejected++;
		log_info("rejected id=%s from=<%s> client=%s: %s", id,
			 LOG_FIELD(s->sender), s->peer, err);
		reply(s, err);
		txn_reset(s);
		s->state = SS_CMD;
		session_charge(s);
		session_timer(s);
		return;
	}
	spool_rec_end(&s->msg, s->rec_start, s->env_len);
	s->sw.iov.iov_base = s->msg.p + s->rec_start;
	s->sw.iov.iov_len = s->msg.len - s->rec_start;
	s->sw.cb = data_spooled;
	s->state = SS_SPOOL;
	session_timer(s);
	spool_append(s->w->spool, &s->sw);
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
		reply(s, "502 5.5.1 Command not implemented");
		session_error(s);
		return;
	}
	if (s->tls != NULL) {
		reply(s, "554 5.5.1 Error: TLS already active");
		session_error(s);
		return;
	}
	if (c->arglen > 0) {
		reply(s, "501 5.5.4 Syntax: STARTTLS");
		session_error(s);
		return;
	}
	s->tls = tls_conn_new(cfg->tls_server, true, NULL);
	if (s->tls != NULL)
		s->tls_cfg = config_hold(cfg);
	if (s->tls == NULL) {
		reply(s, "454 4.7.0 TLS not available due to temporary reason");
		return;
	}
	reply(s, "220 2.0.0 Ready to start TLS");
	s->plain_pending = s->out.len;
	txn_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	s->in.len = 0;
}

static void
command(struct session *s, const char *line, size_t len)
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
			reply(s, "501 5.5.4 Syntax: DATA takes no argument");
			session_error(s);
		} else {
			cmd_data(s);
		}
		break;
	case SMTP_RSET:
		txn_reset(s);
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_NOOP:
		reply(s, "250 2.0.0 Ok");
		break;
	case SMTP_QUIT:
		reply(s, "221 2.0.0 Bye");
		session_end(s);
		break;
	case SMTP_VRFY:
		reply(s, "252 2.5.0 Cannot VRFY user, but will accept message and "
			 "attempt delivery");
		break;
	case SMTP_EXPN:
		reply(s, "502 5.5.1 EXPN not available");
		break;
	case SMTP_HELP:
		reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP "
			 "QUIT VRFY HELP");
		break;
	case SMTP_STARTTLS:
		cmd_starttls(s, &c);
		break;
	case SMTP_BDAT:
	case SMTP_AUTH:
		reply(s, "502 5.5.1 Command not implemented");
		session_error(s);
		break;
	case SMTP_UNKNOWN:
		reply(s, "500 5.5.2 Error: command not recognized");
		session_error(s);
		break;
	}
}

/*
 * Process input at p: whole lines in command state, anything in DATA.
 * Stops when the session pauses (spool) or ends.  Returns bytes consumed.
 */
static size_t
session_feed(struct session *s, const char *p, size_t n)
{
	const uint32_t maxline = s->w->cfg->limits.command_line;
	size_t off = 0;

	while (off < n && !s->quit && !s->closing) {
		if (s->state == SS_SPOOL)
			break;
		if (s->state == SS_DATA) {
			size_t room = s->spill.active ? smtp_spill_room(&s->spill) : DATA_SLICE;
			if (room == 0)
				break;		/* the disk is behind: wait for it */
			off += smtp_data_feed(&s->data, p + off, n - off < room ? n - off : room,
					      s->spill.active ? smtp_spill_out(&s->spill) : &s->msg);
			data_account(s);
			if (s->data.done)
				data_end(s);
			continue;
		}
		const char *nl = memchr(p + off, '\n', n - off);
		if (nl == NULL) {
			if (n - off > maxline) {	/* too long already: drop it */
				s->skip_line = true;
				off = n;
			}
			break;
		}
		size_t len = (size_t)(nl - (p + off));
		const char *line = p + off;
		off += len + 1;
		if (s->skip_line || len + 1 > maxline) {
			s->skip_line = false;
			reply(s, "500 5.5.2 Error: line too long");
			session_error(s);
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		command(s, line, len);
		if (s->tls != NULL && !s->tls_on)
			return n;	/* pipelined behind STARTTLS: discarded */
	}
	return off;
}

/* Can the session take no input now (its record syncs, or its disk is behind)? */
static bool
session_blocked(const struct session *s)
{
	return s->state == SS_SPOOL || (s->state == SS_DATA && smtp_spill_blocked(&s->spill));
}

/*
 * Back-pressure on the socket: a session that cannot take input and has
 * SMTP_IN_PAUSE bytes of it waiting stops reading (its multishot recv is
 * cancelled), so what a pipelining or fast client sends next waits in the
 * kernel and TCP slows it down; reading starts again once it can take it.
 */
static void
session_flow(struct session *s)
{
	bool pause = session_blocked(s) && s->in.len >= SMTP_IN_PAUSE;
	struct io_uring_sqe *sqe;

	if (s->closing || pause == s->rx_paused)
		return;
	s->rx_paused = pause;
	if (pause && s->recv_armed && !s->rx_cancel) {
		sqe = ring_sqe(&s->w->ring);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->recv_op, 0);
		op_set(sqe, NULL);
		s->rx_cancel = true;
	} else if (!pause && !s->recv_armed) {
		session_arm_recv(s);
	}
}

/* Process whatever s->in holds (after a pause or a partial line). */
static void
session_process(struct session *s)
{
	size_t used;

	if (s->in.len == 0)
		return;
	used = session_feed(s, s->in.p, s->in.len);
	buf_consume(&s->in, used);
}

/* New bytes from the network. */
static void
session_input(struct session *s, const char *p, size_t n)
{
	size_t used = 0;

	session_timer(s);
	if (s->in.len == 0 && !session_blocked(s))
		used = session_feed(s, p, n);
	if (used < n && !s->closing && !s->quit) {
		buf_append(&s->in, p + used, n - used);
		if (s->in.len > 0 && !session_blocked(s))
			session_process(s);
		if (s->in.len > SMTP_IN_MAX) {
			log_info("session %s: %zu bytes of unprocessed input, closed",
				 s->peer, s->in.len);
			session_close(s);
		}
	}
	session_flow(s);
	if (s->out.len > SMTP_OUT_MAX) {
		log_info("session %s: client does not read its replies, closed", s->peer);
		session_close(s);
	}
}

/* Bytes from the socket: in clear, or TLS records to decrypt first. */
static void
session_raw(struct session *s, const char *p, size_t n)
{
	char plain[16384];
	long r;

	if (s->tls == NULL) {
		session_input(s, p, n);
		return;
	}
	if (tls_feed(s->tls, p, n) < 0) {
		log_info("session %s: TLS input overflow, closed", s->peer);
		session_close(s);
		return;
	}
	if (!s->tls_on) {
		int rc = tls_handshake(s->tls);
		if (rc < 0) {
			char why[256];
			tls_failure(s->tls, why, sizeof(why));
			log_info("session %s: TLS handshake failed: %s", s->peer,
				 LOG_TEXT(why));
			session_dirty(s);	/* the alert, if any */
			s->quit = true;
			if (tls_out_len(s->tls) == 0)
				session_close(s);
			return;
		}
		session_dirty(s);
		if (rc == 0)
			return;
		s->tls_on = true;
		/* the SNI name is any bytes an unauthenticated client chose */
		const char *sni = tls_sni(s->tls);
		log_info("session %s: TLS %s %s%s%s", s->peer, tls_version(s->tls),
			 tls_cipher(s->tls), sni ? " sni=" : "", LOG_FIELD(sni));
	}
	while (!s->closing && !s->quit && (r = tls_read(s->tls, plain, sizeof(plain))) != 0) {
		if (r < 0) {
			session_close(s);
			return;
		}
		session_input(s, plain, (size_t)r);
	}
	if (tls_out_len(s->tls) > 0)
		session_dirty(s);
}

static void
session_recv_done(struct op *op, int res, uint32_t flags)
{
	struct session *s = container_of(op, struct session, recv_op);
	struct worker *w = s->w;

	if (!(flags & IORING_CQE_F_MORE)) {
		s->recv_armed = false;
		s->rx_cancel = false;
	}
	if (res > 0) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		ring_filled(worker_buf(w, bid), res);
		if (!s->closing)
			session_raw(s, worker_buf(w, bid), (size_t)res);
		worker_buf_put(w, bid);
	} else if (res == 0) {
		session_close(s);
	} else if (res == -ECANCELED && !s->closing) {
		/* stopped by session_flow: read again when it says so */
	} else if (res != -ENOBUFS) {
		if (res != -ECANCELED && res != -ECONNRESET)
			log_info("session %s: recv: %s", s->peer, strerror(-res));
		session_close(s);
	}
	if (!s->recv_armed && !s->closing && !s->rx_paused)
		session_arm_recv(s);
	session_release(s);
}

static void
session_arm_recv(struct session *s)
{
	struct io_uring_sqe *sqe = ring_sqe(&s->w->ring);

	io_uring_prep_recv_multishot(sqe, s->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = BUFGROUP;
	op_set(sqe, &s->recv_op);
	s->recv_armed = true;
}

/* ---- accepting ------------------------------------------------------ */

/*
 * The per-client limits, over all workers (net/anvil.h): a client past its
 * concurrent sessions or its connections per minute gets a 421 and the
 * door, like Postfix's anvil.  Logged once a minute per client, so a flood
 * cannot flood the log.  Exempt clients (limits.client_exempt, by default
 * trusted_networks) are not counted at all.  True when s may proceed.
 */
static bool
session_admit(struct worker *w, struct session *s, const struct sockaddr *sa)
{
	const struct cfg_limits *lim = &w->cfg->limits;
	enum anvil_verdict v;
	char line[128];
	bool log;
	int n;

	if (w->anvil == NULL || config_client_exempt(w->cfg, sa))
		return true;
	v = anvil_enter(w->anvil, sa, w->now, lim->client_sessions, lim->client_rate,
			&s->anvil, &log);
	if (v == ANVIL_OK)
		return true;
	w->st.sessions_limited++;
	if (log)
		log_warn("client %s: over its limit of %u %s, refused with 421 4.7.0 "
			 "(logged once a minute)", s->peer,
			 v == ANVIL_RATE ? lim->client_rate : lim->client_sessions,
			 v == ANVIL_RATE ? "connections per minute" : "concurrent sessions");
	n = snprintf(line, sizeof(line), "421 4.7.0 Too many connections%s from %s, "
		     "try again later\r\n", v == ANVIL_RATE ? " per minute" : "", s->peer);
	if (n > 0 && write(s->fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
		/* nothing to do: the client is gone as well */
	}
	return false;
}

static void
session_new(struct worker *w, int fd, bool require_tls)
{
	const struct config *cfg = w->cfg;
	struct sockaddr_storage ss = { .ss_family = AF_UNSPEC };
	socklen_t sl = sizeof(ss);
	struct session *s;
	int one = 1;

	if (w->srv->nsessions >= cfg->limits.max_sessions || w->draining) {
		static const char busy[] = "421 4.7.0 Too many connections, try again later\r\n";
		w->st.sessions_refused++;
		if (write(fd, busy, sizeof(busy) - 1) < 0) {
			/* nothing to do: the client is gone as well */
		}
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		return;
	}
	s->w = w;
	s->fd = fd;
	s->require_tls = require_tls;
	s->recv_op.cb = session_recv_done;
	s->send_op.cb = session_send_done;
	wheel_timer_init(&s->data_timer, data_budget_fire);
	smtp_spill_init(&s->spill, session_spill_done);
	list_init(&s->link);
	list_init(&s->dirty);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, s->peer,
				  sizeof(s->peer));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, s->peer,
				  sizeof(s->peer));
		s->trusted = config_is_trusted(cfg, (struct sockaddr *)&ss);
	}
	if (s->peer[0] == '\0')
		snprintf(s->peer, sizeof(s->peer), "unknown");
	if (ss.ss_family != AF_UNSPEC && !session_admit(w, s, (struct sockaddr *)&ss)) {
		close(fd);
		free(s);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->srv->nsessions++;
	w->st.sessions++;
	s->state = SS_CMD;
	session_timer(s);
	replyf(s, "220 %s ESMTP Sluice", cfg->hostname);
	session_arm_recv(s);
}

static void
listener_arm(struct smtp_listener *l)
{
	struct io_uring_sqe *sqe = ring_sqe(&l->w->ring);

	io_uring_prep_multishot_accept(sqe, l->fd, NULL, NULL, SOCK_CLOEXEC);
	op_set(sqe, &l->op);
	l->armed = true;
}

static void
listener_done(struct op *op, int res, uint32_t flags)
{
	struct smtp_listener *l = container_of(op, struct smtp_listener, op);

	if (!(flags & IORING_CQE_F_MORE))
		l->armed = false;
	if (res >= 0)
		session_new(l->w, res, l->require_tls);
	else if (res != -ECANCELED)
		log_warn("listener %s: accept: %s", l->text, strerror(-res));
	/* EMFILE and friends: re-arm from the next tick, not in a hot loop */
	if (!l->armed && !l->stopped && (res >= 0 || res == -ECANCELED))
		listener_arm(l);
}

static int
listener_open(const struct cfg_listener *cl, char *err, size_t errlen)
{
	int fd, one = 1;

	fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen %s: socket: %s", cl->text, strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0 ||
	    listen(fd, 4096) < 0) {
		int e = errno;
		snprintf(err, errlen, "listen %s: %s", cl->text, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int
smtp_server_listen(struct worker *w, char *err, size_t errlen)
{
	const struct config *cfg = w->cfg;
	struct smtp_server *srv = calloc(1, sizeof(*srv));

	if (srv == NULL)
		return -ENOMEM;
	list_init(&srv->idle);
	list_init(&srv->data);
	list_init(&srv->dirty);
	w->srv = srv;
	srv->listeners = calloc(cfg->nlisteners, sizeof(*srv->listeners));
	if (srv->listeners == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		struct smtp_listener *l = &w->srv->listeners[i];
		int fd = listener_open(&cfg->listeners[i], err, errlen);
		if (fd < 0)
			return fd;
		l->op.cb = listener_done;
		l->w = w;
		l->fd = fd;
		l->text = cfg->listeners[i].text;
		l->require_tls = cfg->listeners[i].require_tls;
		w->srv->nlisteners++;
		listener_arm(l);
	}
	return 0;
}

/* ---- timers and shutdown -------------------------------------------- */

static void
expire(struct list *head, uint64_t now, uint32_t timeout, const char *what)
{
	while (!list_empty(head)) {
		struct session *s = container_of(head->next, struct session, link);
		if (s->last + timeout > now)
			break;
		log_info("session %s: %s timeout after %us", s->peer, what, timeout);
		list_del(&s->link);
		reply(s, "421 4.4.2 Timeout exceeded, closing connection");
		session_end(s);
	}
}

void
smtp_server_tick(struct worker *w)
{
	const struct cfg_limits *lim = &w->cfg->limits;

	expire(&w->srv->idle, w->now, lim->idle_timeout, "idle");
	expire(&w->srv->data, w->now, lim->data_timeout, "data");
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		if (!w->srv->listeners[i].armed && !w->srv->listeners[i].stopped)
			listener_arm(&w->srv->listeners[i]);
}

void
smtp_server_drain(struct worker *w)
{
	struct io_uring_sqe *sqe;

	for (size_t i = 0; i < w->srv->nlisteners; i++) {
		struct smtp_listener *l = &w->srv->listeners[i];
		l->stopped = true;
		if (l->armed) {
			sqe = ring_sqe(&w->ring);
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&l->op, 0);
			op_set(sqe, NULL);
		}
	}
	/* sessions between transactions go now; the others after their 250 */
	while (!list_empty(&w->srv->idle)) {
		struct session *s = container_of(w->srv->idle.next, struct session, link);
		list_del(&s->link);
		if (s->in_txn) {
			list_add_tail(&w->srv->data, &s->link);	/* keep its timer */
			continue;
		}
		reply(s, "421 4.3.2 Service shutting down, closing connection");
		session_end(s);
	}
}

int
smtp_server_idle(const struct worker *w)
{
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		if (w->srv->listeners[i].armed)
			return 0;
	return w->srv->nsessions == 0;
}

void
smtp_server_abort(struct worker *w)
{
	struct list *heads[] = { &w->srv->idle, &w->srv->data };

	for (size_t i = 0; i < 2; i++) {
		while (!list_empty(heads[i])) {
			struct session *s = container_of(heads[i]->next, struct session, link);
			session_close(s);	/* unlinks it */
			session_release(s);
		}
	}
}

unsigned
smtp_server_sessions(const struct worker *w)
{
	return w->srv->nsessions;
}

uint64_t
smtp_server_data_mem(const struct worker *w)
{
	return w->srv->data_mem;
}

void
smtp_server_fini(struct worker *w)
{
	struct smtp_server *srv = w->srv;

	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->nlisteners; i++)
		close(srv->listeners[i].fd);
	free(srv->listeners);
	free(srv);
	w->srv = NULL;
}
