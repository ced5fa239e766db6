/*
 * smtp_server — listeners and sessions of one worker: accepting, and a
 * session's input.  What a command gets is smtp_server_cmd.c's, the
 * session's replies, timers and lifetime smtp_server_session.c's, the
 * PROXY header that comes first on a proxy_protocol listener
 * smtp_server_proxy.c's (lower layers than this file:
 * net/smtp_server_int.h).
 *
 * A session is fed bytes from multishot recv completions.  Complete command
 * lines are answered at once into s->out; the replies of one loop turn go
 * out in one send at the end of the turn (smtp_server_flush, in
 * smtp_server_session.c), which is what makes PIPELINING cheap.  DATA bytes go through the smtp_data reader
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
 * Lifetime (smtp_server_session.c): session_close() only marks a session
 * and cancels its recv; the memory is released by session_release() at the
 * end of a callback, once no recv, send or spool write refers to it any
 * more.
 */
#include "net/smtp_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/log.h"
#include "core/tenant/tenant_event.h"
#include "core/trace/trace.h"
#include "core/worker.h"
#include "net/anvil.h"
#include "net/smtp_proto.h"
#include "net/smtp_server_int.h"
#include "net/smtp_spill.h"
#include "queue/envelope.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "tls/tls.h"

#define SMTP_OUT_MAX (1u << 20)		/* a client that does not read */
#define SMTP_IN_MAX (1u << 20)		/* input while paused: the client ignores
					   that we stopped reading */
#define SMTP_IN_PAUSE (64u << 10)	/* stop reading a blocked session then */
#define DATA_SLICE (64u << 10)		/* DATA input taken per step */
#define BUFGROUP 0

struct smtp_listener {
	struct op op;			/* multishot accept */
	struct worker *w;		/* owner */
	int fd;				/* listening socket */
	bool armed;			/* accept is in flight */
	bool stopped;			/* no re-arm (draining) */
	bool require_tls;		/* sessions must STARTTLS before MAIL */
	char *text;			/* address as configured, for logs (a
					   copy: a reload frees the config) */
	struct cfg_net *proxy_from;	/* with proxy_protocol: the balancers
					   that may send a PROXY header (a copy),
					   else NULL */
	size_t nproxy_from;		/* their number */
};

static void session_process(struct session *s);
static void session_arm_recv(struct session *s);
static void session_flow(struct session *s);
static void data_spooled(struct spool_write *sw, int res);

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
			session_reply(s, s->data_err);
	} else if (err < 0) {
		w->st.spool_errors++;
		log_warn("id=%s not queued from=<%s> client=%s: body file: %s", id,
			 LOG_FIELD(s->sender), s->peer, strerror(-err));
		if (!s->closing)
			session_reply(s, "452 4.3.1 Insufficient system storage, try again later");
	}
	session_txn_reset(s);
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

/* The message trace's "received" (core/trace/trace.h): what the log's
 * "queued id=" line says, and the recipients. */
static void
trace_received(struct session *s)
{
	struct worker *w = s->w;
	struct trace_enc *e = trace_begin(w->trace, TRACE_RECEIVED, s->id);
	const struct cfg_tenant *t;

	if (e == NULL)
		return;
	t = s->nrcpt > 0 ? config_addr_tenant(w->cfg, s->rcpt[0].addr) : NULL;
	trace_enc_str(e, TRACE_S_CLIENT, s->peer);
	trace_enc_str(e, TRACE_S_HOST, s->helo);	/* the event's host: its HELO */
	trace_enc_str(e, TRACE_S_IP, s->peer);
	trace_enc_str(e, TRACE_S_SENDER, s->sender);
	trace_enc_str(e, TRACE_S_TENANT, t != NULL ? t->name : NULL);
	trace_enc_num(e, TRACE_N_SIZE, (int64_t)s->data.size);
	for (uint32_t i = 0; i < s->nrcpt; i++)
		trace_enc_rcpt(e, s->rcpt[i].addr);
	trace_commit(w->trace, e);
}

static void
data_spooled(struct spool_write *sw, int res)
{
	struct session *s = container_of(sw, struct session, sw);
	struct worker *w = s->w;
	uint64_t now = (uint64_t)time(NULL);
	char id[17];

	envelope_id_str(s->id, id);
	s->state = SS_CMD;
	if (s->spill.active)
		smtp_spill_done(&s->spill, res == 0);	/* the record names it now */
	if (res == 0) {
		w->st.messages_in++;
		w->st.rcpts_in += s->nrcpt;
		w->st.bytes_in += s->data.size;
		/* an event, written at any level: the report counts it */
		struct log_ev ev;

		log_ev_begin(&ev, "queued");
		log_ev_str(&ev, "id", id);
		log_ev_str(&ev, "from", s->sender);
		log_ev_int(&ev, "nrcpt", s->nrcpt);
		log_ev_int(&ev, "size", (long long)s->data.size);
		log_ev_str(&ev, "client", s->peer);
		if (s->proxy[0] != '\0')	/* the balancer it came through */
			log_ev_str(&ev, "proxy", s->proxy);
		log_ev_end(&ev);
		trace_received(s);
		if (!s->closing)
			session_replyf(s, "250 2.0.0 Ok: queued as %s", id);
		for (uint32_t i = 0; i < s->nrcpt; i++)
			tenant_event_rcpt(w, w->cfg->tenant_in, s->rcpt[i].addr, now);
		queue_accept(w, &s->msg, s->rec_start, &sw->loc);
	} else {
		w->st.spool_errors++;
		log_warn("id=%s not queued from=<%s> client=%s: spool write failed: %s",
			 id, LOG_FIELD(s->sender), s->peer, strerror(-res));
		if (!s->closing)
			session_reply(s, "452 4.3.1 Insufficient system storage, try again later");
	}
	session_txn_reset(s);
	session_charge(s);
	if (!s->closing) {
		session_timer(s);
		if (w->draining) {
			session_reply(s, "421 4.3.2 Service shutting down, closing connection");
			session_end(s);
		} else {
			session_resume(s);
		}
	}
	session_release(s);
}

/*
 * A message with more Received: fields than limits.hops has been going
 * round (RFC 5321 6.3): the refusal, after noting each of its recipient
 * domains and the connector it routes to for the loop insight; NULL when
 * it is under the limit.  The count is the client's fields, not our own
 * line, which is not part of the data.
 */
static const char *
data_loop(struct session *s)
{
	const struct config *cfg = s->w->cfg;
	int64_t now = time(NULL);

	if (s->hops.count <= cfg->limits.hops)
		return NULL;
	for (uint32_t i = 0; i < s->nrcpt; i++) {
		const char *addr = s->rcpt[i].addr, *at = strrchr(addr, '@');
		const struct cfg_domain *d = config_route(cfg, addr);
		if (at != NULL)
			smtp_loops_note(&s->w->srv->loops, at + 1, strlen(at + 1),
					d != NULL ? d->connector->name : "", s->hops.count,
					s->id, now);
	}
	s->w->st.loops++;
	snprintf(s->loop_reply, sizeof(s->loop_reply),
		 "554 5.4.6 Routing loop detected (%u Received: headers)", s->hops.count);
	return s->loop_reply;
}

/* End of DATA: reject, or hand the record to the group commit. */
static void
data_end(struct session *s)
{
	const char *err = smtp_data_reject(&s->data);

	if (err == NULL)
		err = data_loop(s);

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
		session_reply(s, err);
		session_txn_reset(s);
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
			struct buf *out = s->spill.active ? smtp_spill_out(&s->spill) : &s->msg;
			size_t had = out->len;
			if (room == 0)
				break;		/* the disk is behind: wait for it */
			off += smtp_data_feed(&s->data, p + off, n - off < room ? n - off : room,
					      out);
			if (out->len > had && !smtp_hops_done(&s->hops))	/* headers only */
				smtp_hops_feed(&s->hops, out->p + had, out->len - had);
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
			session_reply(s, "500 5.5.2 Error: line too long");
			session_error(s);
			continue;
		}
		if (len > 0 && line[len - 1] == '\r')
			len--;
		session_command(s, line, len);
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
			s->w->st.tls_failed[0][tls_failure(s->tls, why, sizeof(why))]++;
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
		s->w->st.tls_done[0][tls_proto_index(s->tls)]++;
		s->w->st.tls_resumed[0][tls_resumed(s->tls)]++;
		/* the SNI name is any bytes an unauthenticated client chose */
		const char *sni = tls_sni(s->tls);
		log_info("session %s: TLS %s %s%s%s%s", s->peer, tls_version(s->tls),
			 tls_cipher(s->tls), tls_resumed(s->tls) ? " resumed" : "",
			 sni ? " sni=" : "", LOG_FIELD(sni));
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

/*
 * A completion of the session's multishot recv: bytes go to feed, the end
 * or an error closes, and the recv is armed again when it stopped.  Inlined
 * into each of the two callbacks, so a session's input costs no test of
 * whether it still waits for a PROXY header.
 */
static inline void
session_recv(struct session *s, int res, uint32_t flags,
	     void (*feed)(struct session *s, const char *p, size_t n))
{
	struct worker *w = s->w;

	if (!(flags & IORING_CQE_F_MORE)) {
		s->recv_armed = false;
		s->rx_cancel = false;
	}
	if (res > 0) {
		unsigned bid = flags >> IORING_CQE_BUFFER_SHIFT;
		ring_filled(worker_buf(w, bid), res);
		if (!s->closing)
			feed(s, worker_buf(w, bid), (size_t)res);
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
session_recv_done(struct op *op, int res, uint32_t flags)
{
	session_recv(container_of(op, struct session, recv_op), res, flags, session_raw);
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

/*
 * The client of s is known (sa; AF_UNSPEC: it could not be told, or it is
 * a balancer's health check, not counted) and may proceed when the
 * per-client limits admit it: the banner.  False when they refused it
 * (answered 421 already).
 */
static bool
session_greet(struct session *s, const struct sockaddr *sa)
{
	struct worker *w = s->w;

	if (sa->sa_family != AF_UNSPEC && !session_admit(w, s, sa))
		return false;
	w->st.sessions++;
	s->state = SS_CMD;
	session_timer(s);
	session_replyf(s, "220 %s ESMTP Sluice", w->cfg->hostname);
	return true;
}

/* Bytes of a session still waiting for its PROXY header. */
static void
session_proxy_raw(struct session *s, const char *p, size_t n)
{
	struct sockaddr_storage client;

	if (session_proxy_input(s, p, n, &client) <= 0)
		return;			/* more to come, or closed */
	s->recv_op.cb = session_recv_done;
	if (!session_greet(s, (const struct sockaddr *)&client)) {
		session_close(s);
		return;
	}
	session_process(s);		/* what came after the header */
	session_flow(s);
}

static void
session_proxy_recv_done(struct op *op, int res, uint32_t flags)
{
	session_recv(container_of(op, struct session, recv_op), res, flags,
		     session_proxy_raw);
}

static void
session_new(struct worker *w, int fd, const struct smtp_listener *l)
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
	s->require_tls = l->require_tls;
	s->recv_op.cb = session_recv_done;
	s->send_op.cb = session_send_done;
	wheel_timer_init(&s->data_timer, session_data_budget_fire);
	smtp_spill_init(&s->spill, session_spill_done);
	list_init(&s->link);
	list_init(&s->dirty);
	list_init(&s->sending);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		ss.ss_family = AF_UNSPEC;
	session_identify(s, (struct sockaddr *)&ss);
	if (l->proxy_from != NULL) {
		/* the banner waits for the balancer's header */
		if (!session_proxy_begin(s, (struct sockaddr *)&ss, l->proxy_from,
					 l->nproxy_from, l->text)) {
			close(fd);
			free(s);
			return;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		s->recv_op.cb = session_proxy_recv_done;
		session_arm_recv(s);
		return;
	}
	if (!session_greet(s, (struct sockaddr *)&ss)) {
		close(fd);
		free(s);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	w->srv->nsessions++;
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
		session_new(l->w, res, l);
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

/* What a listener keeps of its configuration, copied: the listeners keep
 * their start-up settings while a reload replaces (and frees) the config. */
static int
listener_settings(struct smtp_listener *l, const struct cfg_listener *cl)
{
	l->require_tls = cl->require_tls;
	l->text = strdup(cl->text);
	if (l->text == NULL)
		return -ENOMEM;
	if (!cl->proxy_protocol)
		return 0;
	l->proxy_from = calloc(cl->nproxy_from, sizeof(*l->proxy_from));
	if (l->proxy_from == NULL)
		return -ENOMEM;
	memcpy(l->proxy_from, cl->proxy_from, cl->nproxy_from * sizeof(*l->proxy_from));
	l->nproxy_from = cl->nproxy_from;
	return 0;
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
	list_init(&srv->sending);
	list_init(&srv->proxy);
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
		w->srv->nlisteners++;
		if (listener_settings(l, &cfg->listeners[i]) < 0)
			return -ENOMEM;
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
		session_reply(s, "421 4.4.2 Timeout exceeded, closing connection");
		session_end(s);
	}
}

void
smtp_server_tick(struct worker *w)
{
	const struct cfg_limits *lim = &w->cfg->limits;

	expire(&w->srv->idle, w->now, lim->idle_timeout, "idle");
	expire(&w->srv->data, w->now, lim->data_timeout, "data");
	session_send_expire(w);
	session_proxy_expire(w);
	for (size_t i = 0; i < w->srv->nlisteners; i++)
		if (!w->srv->listeners[i].armed && !w->srv->listeners[i].stopped)
			listener_arm(&w->srv->listeners[i]);
}

/* Close every session on the list head at once. */
static void
sessions_close(struct list *head)
{
	while (!list_empty(head)) {
		struct session *s = container_of(head->next, struct session, link);
		session_close(s);	/* unlinks it */
		session_release(s);
	}
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
	sessions_close(&w->srv->proxy);	/* before their banner: without one */
	/* sessions between transactions go now; the others after their 250 */
	while (!list_empty(&w->srv->idle)) {
		struct session *s = container_of(w->srv->idle.next, struct session, link);
		list_del(&s->link);
		if (s->in_txn) {
			list_add_tail(&w->srv->data, &s->link);	/* keep its timer */
			continue;
		}
		session_reply(s, "421 4.3.2 Service shutting down, closing connection");
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
	sessions_close(&w->srv->idle);
	sessions_close(&w->srv->data);
	sessions_close(&w->srv->proxy);
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

size_t
smtp_server_loops(struct worker *w, int64_t now, struct smtp_loop *out, size_t max)
{
	return smtp_loops_get(&w->srv->loops, now, out, max);
}

void
smtp_server_fini(struct worker *w)
{
	struct smtp_server *srv = w->srv;

	if (srv == NULL)
		return;
	for (size_t i = 0; i < srv->nlisteners; i++) {
		close(srv->listeners[i].fd);
		free(srv->listeners[i].text);
		free(srv->listeners[i].proxy_from);
	}
	free(srv->listeners);
	free(srv);
	w->srv = NULL;
}
