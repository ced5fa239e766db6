/*
 * smtp_server_session — a session's state and its way out: the replies of
 * a loop turn queued in s->out and sent in one send at the end of the turn
 * (smtp_server_flush), in clear or through TLS; the transaction's reset;
 * the DATA memory it is charged; the LRU lists the idle and data timeouts
 * walk, and the DATA phase's time budget on the wheel; and its lifetime
 * (close, end after the output, release when nothing refers to it); and
 * who its client is (session_identify).
 *
 * The bottom of the server's files (net/smtp_server_int.h): it neither
 * reads input nor decides anything about a command, and calls neither
 * smtp_server_cmd.c nor smtp_server.c.  Lifetime: session_close() only
 * marks a session and cancels its recv; session_release() frees it at the
 * end of a callback, once no recv, send or spool write refers to it any
 * more.  Worker thread only.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/anvil.h"
#include "net/smtp_server_int.h"
#include "queue/queue.h"
#include "tls/tls.h"

#define SMTP_MSG_KEEP (32u << 10)	/* keep a message buffer this big */

/* ---- replies -------------------------------------------------------- */

/* Link s on the list of sessions with replies to send this turn. */
void
session_dirty(struct session *s)
{
	if (!s->on_dirty) {
		s->on_dirty = true;
		list_add_tail(&s->w->srv->dirty, &s->dirty);
	}
}

/* Queue one reply line (without CRLF). */
void
session_reply(struct session *s, const char *line)
{
	buf_puts(&s->out, line);
	buf_append(&s->out, "\r\n", 2);
	session_dirty(s);
}

/* The same, printf-style (at most 1,023 bytes). */
void
session_replyf(struct session *s, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	session_reply(s, line);
}

/* ---- the client ----------------------------------------------------- */

/* Its address text and whether it may relay: what the replies, the
 * Received: line, the envelope, the logs and the trace say of it. */
void
session_identify(struct session *s, const struct sockaddr *sa)
{
	s->peer[0] = '\0';
	s->trusted = false;
	if (sa != NULL && sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			  s->peer, sizeof(s->peer));
	else if (sa != NULL && sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			  s->peer, sizeof(s->peer));
	if (s->peer[0] == '\0')
		snprintf(s->peer, sizeof(s->peer), "unknown");
	else
		s->trusted = config_is_trusted(s->w->cfg, sa);
}

/* ---- lifetime ------------------------------------------------------- */

/* Forget the transaction (MAIL .. end of data); a large message buffer goes. */
void
session_txn_reset(struct session *s)
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
void
session_charge(struct session *s)
{
	size_t want = 0;

	if (s->state == SS_DATA || s->state == SS_SPOOL)
		want = s->msg.cap + smtp_spill_mem(&s->spill);
	s->w->srv->data_mem = s->w->srv->data_mem - s->charged + want;
	s->charged = want;
}

/* Input arrived or the state changed: s goes to the end of the LRU list of
 * its state (idle, data), whose head smtp_server_tick times out. */
void
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

/* Tear s down: unlinked, its recv cancelled, the socket shut down; freed
 * by session_release once nothing refers to it. */
void
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
void
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
	session_txn_reset(s);
	buf_free(&s->msg);
	buf_free(&s->in);
	buf_free(&s->out);
	buf_free(&s->flight);
	free(s->rcpt);
	free(s->helo);
	anvil_leave(s->w->anvil, &s->anvil);
	wheel_cancel(queue_wheel(s->w), &s->data_timer);
	s->w->srv->nsessions--;
	free(s);
}

/* Send what is queued, then close. */
void
session_end(struct session *s)
{
	s->quit = true;
	if (s->out.len == 0 && !s->send_busy && (s->tls == NULL || tls_out_len(s->tls) == 0))
		session_close(s);
}

/* Count a bad command; past the limit the session ends with a 421. */
void
session_error(struct session *s)
{
	if (++s->errors >= s->w->cfg->limits.errors) {
		session_reply(s, "421 4.7.0 Too many errors, closing connection");
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
	op_set(sqe, &s->send_op);
	s->send_busy = true;
	s->send_since = w->now;
	list_move_tail(&w->srv->sending, &s->sending);
}

/*
 * The send timeout is kept by the tick, not by a timeout linked to every
 * send: a linked timeout is one more SQE, one more CQE and a kernel timer
 * armed and cancelled per reply, a visible part of the cost of a message.
 * Sends are issued in time order, so the oldest is at the head; the
 * cancelled send completes with -ECANCELED and session_send_done closes
 * the session, within a second of limits.send_timeout.
 */
void
session_send_expire(struct worker *w)
{
	uint32_t timeout = w->cfg->limits.send_timeout;

	while (!list_empty(&w->srv->sending)) {
		struct session *s = container_of(w->srv->sending.next, struct session, sending);
		struct io_uring_sqe *sqe;

		if (s->send_since + timeout > w->now)
			break;
		list_del(&s->sending);
		sqe = ring_sqe(&w->ring);
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->send_op, 0);
		op_set(sqe, NULL);
	}
}

/* The send of s->flight (or of TLS output) completed. */
void
session_send_done(struct op *op, int res, uint32_t flags)
{
	struct session *s = container_of(op, struct session, send_op);

	s->send_busy = false;
	list_del(&s->sending);
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

/* ---- the DATA phase's budget ----------------------------------------- */

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

void
session_data_budget_fire(struct wheel_timer *t, void *arg)
{
	struct session *s = WHEEL_CONTAINER(t, struct session, data_timer);
	struct worker *w = s->w;
	uint64_t end;

	if (s->closing || s->quit || s->state != SS_DATA)
		return;
	end = data_deadline(s);
	if (w->now < end) {
		wheel_insert(queue_wheel(w), &s->data_timer, end);
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
	session_reply(s, "421 4.4.2 Timeout exceeded, closing connection");
	session_end(s);
}

/* At the 354: the DATA phase starts now. */
void
session_data_budget_arm(struct session *s)
{
	s->data_start = s->w->now;
	wheel_insert(queue_wheel(s->w), &s->data_timer, data_deadline(s));
}
