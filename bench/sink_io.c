/*
 * sink_io.c - a sluice-sink session on the ring: its recv, send and
 * delay timer, the pump that moves it on, and its close.
 *
 * Not the SMTP dialogue (sink_smtp.c reads in[] and writes replies into
 * out[]) nor TLS itself (sink_tls.c): this file only moves bytes and keeps
 * the ops' lifetimes. At most one recv, one send and one timeout are in
 * flight per session, kept by the session's struct bench_conn
 * (bench/bench_conn.h): a session goes back onto the pool only once all
 * three have completed (closing cancels them first), so no completion can
 * reach a recycled session. Input is parsed only while no reply batch is
 * being sent or delayed, which keeps pipelined replies in order, one write
 * per batch.
 *
 * The I/O layer of the program: below the dialogue, which it calls only
 * through the session's struct sink_proto_ops (sink_io.h); above what it
 * drives directly, the TLS side, the fault modes' greeting and delays,
 * and the counters.
 * May call: sink_tls.c, sink_fault.c, sink_store.c, sink_state.c,
 * bench/bench_*.c, tls/.
 */
#include "bench/sink_io.h"

#include "bench/bench_conn.h"
#include "bench/sink_state.h"
#include "bench/sink_fault.h"
#include "bench/sink_store.h"
#include "bench/sink_tls.h"
#include "tls/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A reply batch is on its way out, or waiting out its delay. */
static bool sink_batch_busy(const struct sink_session *s)
{
	return bench_conn_armed(&s->conn, BENCH_CONN_SEND) ||
	       bench_conn_armed(&s->conn, BENCH_CONN_TIMER);
}

/* The session closed and its last op completed (the socket is closed):
 * back onto the pool. */
static void sink_drained(struct bench_conn *c)
{
	struct sink_session *s = container_of(c, struct sink_session, conn);

	/* No op is in flight any more, so no send still points into the
	 * TLS output buffers. */
	tls_conn_free(s->tls);
	s->tls = NULL;
	s->next_free = sink.free_list;
	sink.free_list = s;
	sink.active--;
}

/* Advance the TLS side (sink_tls_in): a record that cannot be read
 * resets the connection; a failed handshake leaves s quitting with the
 * alert to send. */
static long sink_tls_step(struct sink_session *s)
{
	long n = sink_tls_in(s);

	if (n == -ECONNRESET)
		sink_close(s, 1);
	return n;
}

/* Parse what there is. With TLS, go on decrypting as parsing makes room
 * in in[], until a reply is waiting or wolfSSL has used up its input
 * (records left behind would otherwise wait for a recv that the client,
 * waiting for our reply, never feeds). */
static void sink_feed_parse(struct sink_session *s)
{
	for (;;) {
		if (s->tls_rx && sink_tls_step(s) < 0)
			return;
		if (s->conn.closing)
			return;
		s->proto->parse(s);
		if (!s->tls_rx || !s->tls_up || s->tls_want || s->conn.closing ||
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
	if (!s->conn.closing)
		sink_pump(s);
}

static void sink_timer_done(struct sink_session *s, int res)
{
	s->slow_done = 1;
	sink_pump(s);
}

/* A completion of one of the session's ops (not called once closing). */
static void sink_done(struct bench_conn *c, enum bench_conn_op op, int res)
{
	struct sink_session *s = container_of(c, struct sink_session, conn);

	if (op == BENCH_CONN_RECV)
		sink_recv_done(s, res);
	else if (op == BENCH_CONN_SEND)
		sink_send_done(s, res);
	else
		sink_timer_done(s, res);
}

static const struct bench_conn_ops sink_conn_ops = {
	.done = sink_done,
	.drained = sink_drained,
};

/* Send what is due: plaintext out[] until TLS output starts, then the
 * ciphertext (out[] encrypted as one batch first). */
static void sink_send(struct sink_session *s)
{
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
		/* Pinned by tls_out_ptr until tls_out_consume in send_done. */
		if (bench_conn_send(&s->conn, tls_out_ptr(s->tls), len) < 0) {
			sink_close(s, 1);
			return;
		}
		s->send_tls = 1;
	} else {
		if (s->out_len <= s->out_sent)
			return;
		if (bench_conn_send(&s->conn, s->out + s->out_sent,
				    s->out_len - s->out_sent) < 0) {
			sink_close(s, 1);
			return;
		}
		s->send_tls = 0;
	}
}

/* Advance the session: parse if idle, then send (or delay) replies and
 * keep a recv posted while there is room. */
void sink_pump(struct sink_session *s)
{
	int rc;

	if (s->conn.closing)
		return;
	if (!sink_batch_busy(s)) {
		if (s->out_len == 0 && sink_tls_pending(s) == 0)
			sink_feed_parse(s);
		else if (s->tls_rx && !s->tls_up)
			(void)sink_tls_step(s);	/* handshake output waits too */
		if (s->conn.closing)
			return;
		if (!s->slow_done && s->out_len > s->out_sent &&
		    sink_batch_delayed(s)) {
			if (bench_conn_timeout(&s->conn, &s->delay) < 0) {
				sink_close(s, 1);
				return;
			}
		} else {
			sink_send(s);
			if (s->conn.closing)
				return;
		}
		/* A batch that needed no bytes (e.g. QUIT's goodbye after a
		 * failed handshake) is over at once. */
		if (!sink_batch_busy(s) && s->out_len == 0 &&
		    sink_tls_pending(s) == 0 && s->quit) {
			sink_batch_done(s);
			if (s->conn.closing)
				return;
			if (s->tls_bye && sink_tls_pending(s) > 0)
				sink_send(s);
			if (s->conn.closing)
				return;
		}
	} else if (s->tls_rx && !s->tls_up && !s->tls_dead) {
		/* Keep the handshake moving while the 220 is on its way. */
		(void)sink_tls_step(s);
		if (s->conn.closing)
			return;
	}
	if (s->eof) {
		if (!sink_batch_busy(s) && s->out_len == 0 &&
		    sink_tls_pending(s) == 0)
			sink_close(s, 0);
		return;
	}
	if (bench_conn_armed(&s->conn, BENCH_CONN_RECV) || s->quit ||
	    s->in_len >= SINK_IN_CAP)
		return;
	/* The client waits for our reply, so its next bytes are not there
	 * yet: bench_conn_recv skips the first, failing, attempt. */
	if (s->tls_rx) {
		if (s->tls_dead || !s->tls_want)
			return;
		rc = bench_conn_recv(&s->conn, s->tin, SINK_TLS_IN);
		s->recv_tls = 1;
	} else {
		rc = bench_conn_recv(&s->conn, s->in + s->in_len,
				     SINK_IN_CAP - s->in_len);
		s->recv_off = s->in_len;
		s->recv_tls = 0;
	}
	if (rc < 0)
		sink_close(s, 1);
}

/* Start closing: cancel what is in flight, free when it has drained.
 * abort_conn sends a RST instead of a FIN. */
void sink_close(struct sink_session *s, int abort_conn)
{
	if (s->conn.closing)
		return;
	if (abort_conn) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(s->conn.fd, SOL_SOCKET, SO_LINGER, &lg,
				 sizeof(lg));
	}
	bench_conn_close(&s->conn, SHUT_RD);
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
	bench_conn_init(&s->conn, &sink.ring, &sink_conn_ops);
	return s;
}

void sink_session_start(int fd, const struct sink_proto_ops *proto)
{
	struct sink_session *s = sink_session_get();

	if (s == NULL) {
		close(fd);
		return;
	}
	s->proto = proto;
	bench_conn_open(&s->conn, fd);
	sink.sessions++;
	sink.active++;
	sink_count_changed();
	bench_sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	sink_fault_greet(s);
	sink_pump(s);
}
