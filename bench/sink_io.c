/*
 * sink_io.c - a sluice-sink session on the ring: its recv, send and
 * delay timer, the pump that moves it on, and its close.
 *
 * Not the SMTP dialogue (sink_smtp.c reads in[] and writes replies into
 * out[]) nor TLS itself (sink_tls.c): this file only moves bytes and keeps
 * the ops' lifetimes. At most one recv, one send and one timeout are in
 * flight per session, each with its user_data on an op record inside the
 * session. A session is freed (back onto the pool) only when all three
 * have completed: closing cancels them first, and sink_op_end frees after
 * the last CQE, so no completion can reach a recycled session. Input is
 * parsed only while no reply batch is being sent or delayed, which keeps
 * pipelined replies in order, one write per batch.
 */
#include "bench/sink_io.h"

#include "bench/sink.h"
#include "bench/sink_fault.h"
#include "bench/sink_smtp.h"
#include "bench/sink_store.h"
#include "bench/sink_tls.h"
#include "tls/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void sink_free(struct sink_session *s)
{
	close(s->fd);
	s->fd = -1;
	/* No op is in flight any more, so no send still points into the
	 * TLS output buffers. */
	tls_conn_free(s->tls);
	s->tls = NULL;
	s->next_free = sink.free_list;
	sink.free_list = s;
	sink.active--;
}

/* Ends every completion callback: the op stops counting only after the
 * callback has acted, so a close started inside it completes here and the
 * session is never freed under the callback's feet. */
static void sink_op_end(struct sink_session *s)
{
	s->inflight--;
	if (s->closing && s->inflight == 0)
		sink_free(s);
}

/* Parse what there is. With TLS, go on decrypting as parsing makes room
 * in in[], until a reply is waiting or wolfSSL has used up its input
 * (records left behind would otherwise wait for a recv that the client,
 * waiting for our reply, never feeds). */
static void sink_feed_parse(struct sink_session *s)
{
	for (;;) {
		if (s->tls_rx && sink_tls_in(s) < 0)
			return;
		if (s->closing)
			return;
		sink_parse(s);
		if (!s->tls_rx || !s->tls_up || s->tls_want || s->closing ||
		    s->quit || s->out_len > 0)
			return;
	}
}

static void sink_recv_done(struct sink_session *s, int res)
{
	const char *data;

	if (res > 0) {
		if (s->tls_rx) {
			/* Ciphertext, normally in tin; but a recv into in[]
			 * posted before STARTTLS was accepted carries the
			 * first handshake bytes. */
			data = s->recv_tls ? s->tin : s->in + s->recv_off;
			if (tls_feed(s->tls, data, (size_t)res) < 0) {
				sink_close(s, 1);
				return;
			}
			s->tls_want = 0;
		} else {
			/* The parser may have compacted in[] while the recv
			 * was in flight: move the bytes to the end of it. */
			if (s->recv_off != s->in_len)
				memmove(s->in + s->in_len, s->in + s->recv_off,
					(size_t)res);
			s->in_len += (size_t)res;
		}
	} else if (res == 0) {
		/* The client half-closed: answer what it sent, then close. */
		s->eof = 1;
		if (s->tls != NULL)
			tls_eof(s->tls);
	} else if (res != -EINTR && res != -EAGAIN && res != -ENOBUFS) {
		sink_close(s, 1);
		return;
	}
	sink_pump(s);
}

static void sink_recv_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->recv_armed = 0;
	if (!s->closing)
		sink_recv_done(s, res);
	sink_op_end(s);
}

/* Everything queued went out: the batch is over. */
static void sink_batch_done(struct sink_session *s)
{
	s->slow_done = 0;
	if (!s->quit)
		return;
	if (s->tls_up && !s->tls_bye && !s->tls_dead) {
		/* Say goodbye in TLS too; the pump sends it, then we close. */
		s->tls_bye = 1;
		tls_shutdown(s->tls);
		return;
	}
	sink_close(s, 0);
}

static void sink_send_done(struct sink_session *s, int res)
{
	if (res == 0 ||
	    (res < 0 && res != -EINTR && res != -EAGAIN && res != -ENOBUFS)) {
		sink_close(s, 1);
		return;
	}
	if (s->send_tls) {
		if (res > 0)
			tls_out_consume(s->tls, (size_t)res);
		if (tls_out_pending(s->tls) == 0 && s->out_len == 0)
			sink_batch_done(s);
	} else {
		if (res > 0)
			s->out_sent += (size_t)res;
		if (s->out_sent >= s->out_len) {
			s->out_len = s->out_sent = 0;
			/* The STARTTLS 220 (and what preceded it) is out:
			 * from now on we speak TLS. */
			if (s->tls_rx)
				s->tls_tx = 1;
			if (sink_tls_pending(s) == 0)
				sink_batch_done(s);
		}
	}
	if (!s->closing)
		sink_pump(s);
}

static void sink_send_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->send_armed = 0;
	if (!s->closing)
		sink_send_done(s, res);
	sink_op_end(s);
}

static void sink_timer_done(struct sink_session *s, int res)
{
	s->slow_done = 1;
	sink_pump(s);
}

static void sink_timer_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->timer_armed = 0;
	if (!s->closing)
		sink_timer_done(s, res);
	sink_op_end(s);
}

static int sink_arm(struct sink_session *s, struct bench_op *op,
		    struct io_uring_sqe **sqep)
{
	*sqep = bench_sqe(&sink.ring, op);
	if (*sqep == NULL) {
		sink_close(s, 1);
		return -ENOMEM;
	}
	s->inflight++;
	return 0;
}

/* Send what is due: plaintext out[] until TLS output starts, then the
 * ciphertext (out[] encrypted as one batch first). */
static void sink_send(struct sink_session *s)
{
	struct io_uring_sqe *sqe;
	size_t len;

	if (s->tls_tx && s->out_len > 0) {
		if (tls_write(s->tls, s->out, s->out_len) < 0) {
			sink_close(s, 1);
			return;
		}
		s->out_len = s->out_sent = 0;
	}
	if (s->tls_tx) {
		len = tls_out_len(s->tls);
		if (len == 0)
			return;
		if (sink_arm(s, &s->op_send, &sqe) < 0)
			return;
		/* Pinned by tls_out_ptr until tls_out_consume in send_done. */
		io_uring_prep_send(sqe, s->fd, tls_out_ptr(s->tls), len,
				   MSG_NOSIGNAL);
		s->send_tls = 1;
	} else {
		if (s->out_len <= s->out_sent)
			return;
		if (sink_arm(s, &s->op_send, &sqe) < 0)
			return;
		io_uring_prep_send(sqe, s->fd, s->out + s->out_sent,
				   s->out_len - s->out_sent, MSG_NOSIGNAL);
		s->send_tls = 0;
	}
	s->send_armed = 1;
}

/* Advance the session: parse if idle, then send (or delay) replies and
 * keep a recv posted while there is room. */
void sink_pump(struct sink_session *s)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	if (!s->send_armed && !s->timer_armed) {
		if (s->out_len == 0 && sink_tls_pending(s) == 0)
			sink_feed_parse(s);
		else if (s->tls_rx && !s->tls_up)
			(void)sink_tls_in(s);	/* handshake output waits too */
		if (s->closing)
			return;
		if (!s->slow_done && s->out_len > s->out_sent &&
		    sink_batch_delayed(s)) {
			if (sink_arm(s, &s->op_timer, &sqe) < 0)
				return;
			io_uring_prep_timeout(sqe, &s->delay, 0, 0);
			s->timer_armed = 1;
		} else {
			sink_send(s);
			if (s->closing)
				return;
		}
		/* A batch that needed no bytes (e.g. QUIT's goodbye after a
		 * failed handshake) is over at once. */
		if (!s->send_armed && !s->timer_armed && s->out_len == 0 &&
		    sink_tls_pending(s) == 0 && s->quit) {
			sink_batch_done(s);
			if (s->closing)
				return;
			if (s->tls_bye && sink_tls_pending(s) > 0)
				sink_send(s);
			if (s->closing)
				return;
		}
	} else if (s->tls_rx && !s->tls_up && !s->tls_dead) {
		/* Keep the handshake moving while the 220 is on its way. */
		(void)sink_tls_in(s);
		if (s->closing)
			return;
	}
	if (s->eof) {
		if (!s->send_armed && !s->timer_armed && s->out_len == 0 &&
		    sink_tls_pending(s) == 0)
			sink_close(s, 0);
		return;
	}
	if (s->recv_armed || s->quit || s->in_len >= SINK_IN_CAP)
		return;
	if (s->tls_rx) {
		if (s->tls_dead || !s->tls_want)
			return;
		if (sink_arm(s, &s->op_recv, &sqe) < 0)
			return;
		io_uring_prep_recv(sqe, s->fd, s->tin, SINK_TLS_IN, 0);
		s->recv_tls = 1;
	} else {
		if (sink_arm(s, &s->op_recv, &sqe) < 0)
			return;
		io_uring_prep_recv(sqe, s->fd, s->in + s->in_len,
				   SINK_IN_CAP - s->in_len, 0);
		s->recv_off = s->in_len;
		s->recv_tls = 0;
	}
	/* The client waits for our reply, so its next bytes are not
	 * there yet: skip the first, failing, attempt. */
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	s->recv_armed = 1;
}

/* Start closing: cancel what is in flight, free when it has drained.
 * abort_conn sends a RST instead of a FIN. */
void sink_close(struct sink_session *s, int abort_conn)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	s->closing = 1;
	if (abort_conn) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (s->recv_armed || s->send_armed) {
		sqe = bench_sqe(&sink.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
		else
			(void)shutdown(s->fd, SHUT_RD);
	}
	if (s->timer_armed) {
		sqe = bench_sqe(&sink.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel(sqe, &s->op_timer, 0);
	}
	if (s->inflight == 0)
		sink_free(s);
}

static struct sink_session *sink_session_get(void)
{
	struct sink_session *s = sink.free_list;

	if (s != NULL) {
		sink.free_list = s->next_free;
	} else {
		s = malloc(sizeof(*s));
		if (s == NULL)
			return NULL;
		s->env.p = s->msg.p = NULL;
		s->env.cap = s->msg.cap = 0;
		s->tin = NULL;
	}
	/* Reset everything before the buffers; keep --out buffers. */
	memset(s, 0, offsetof(struct sink_session, env));
	s->env.len = s->msg.len = 0;
	s->op_recv = (struct bench_op){ sink_recv_cb, s, SINK_OP_RECV };
	s->op_send = (struct bench_op){ sink_send_cb, s, SINK_OP_SEND };
	s->op_timer = (struct bench_op){ sink_timer_cb, s, SINK_OP_TIMER };
	return s;
}

void sink_session_start(int fd)
{
	struct sink_session *s = sink_session_get();

	if (s == NULL) {
		close(fd);
		return;
	}
	s->fd = fd;
	sink.sessions++;
	sink.active++;
	sink_count_changed();
	bench_sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	sink_fault_greet(s);
	sink_pump(s);
}
