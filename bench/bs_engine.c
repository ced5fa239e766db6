/*
 * bs_engine.c - sluice-bench's load engine: -c sessions on one ring, each
 * connecting, reconnecting and closing, the sends, timers and errors the
 * dialogue asks for, and the completions that drive them.
 *
 * Per session at most one connect or recv, one send and one timeout are in
 * flight, kept by the session's struct bench_conn (bench/bench_conn.h):
 * closing cancels them and the session moves on (bs_closed) only after the
 * last CQE, so no completion can reach a recycled session. A connection
 * error loses the message in flight and retries after BS_RETRY_NS; a
 * session that gets nowhere for BS_GIVE_UP_NS stops. A 100 ms tick
 * enforces --timeout on every reply awaited; SIGINT/SIGTERM starts no new
 * message, a second one closes everything.
 *
 * The I/O layer of the program: what the bytes mean is bs_smtp.c's
 * business, reached only through the struct bs_proto_ops handed to
 * bs_run; TLS here is only tls/'s buffers (encrypt on send, send the
 * pinned output, free the session after the last CQE).
 * May call: bs_stats.c, bs_state.c, bench/bench_*.c, tls/.
 */
#include "bench/bs_engine.h"

#include "bench/bs_state.h"
#include "bench/bs_stats.h"
#include "tls/tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>

/* The dialogue over the bytes (bs_run's argument). */
static const struct bs_proto_ops *bs_proto;

static void bs_connect(struct bs_session *s);

/* A connection-level failure: count it, lose the message in flight, and
 * reconnect after a pause. */
void bs_error_detail(struct bs_session *s, const char *what,
			    const char *detail)
{
	bench.errors++;
	bs_report_detail(s, what, detail);
	bs_close(s, BS_AFTER_RETRY);
}

void bs_error(struct bs_session *s, const char *what, int err)
{
	bs_error_detail(s, what, err != 0 ? strerror(err) : NULL);
}

/* Something no retry will fix (--tls against a server without STARTTLS):
 * say so even with -q, close every session and end the run (exit 2). */
void bs_fatal(const char *what)
{
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned i;

	if (!bench.fatal)
		fprintf(stderr, "sluice-bench: %s: %s\n",
			bench_addr_str(&bench.addr, addr, sizeof(addr)), what);
	bench.fatal = 1;
	bench.stop = 1;
	for (i = 0; i < bench.conc; i++)
		if (bench.sess[i].state != BS_DONE &&
		    !bench.sess[i].conn.closing)
			bs_close(&bench.sess[i], BS_AFTER_RETRY);
}

static void bs_arm_recv(struct bs_session *s)
{
	int rc;

	if (bench_conn_armed(&s->conn, BENCH_CONN_RECV) || s->conn.closing)
		return;
	if (s->tls == NULL && s->in_len == BS_IN_CAP) {
		bs_error(s, "reply too long", 0);
		return;
	}
	/* s->tls changes only while no recv is in flight (it is made while
	 * a recv's CQE is handled, freed after the last CQE), so the CQE
	 * knows where its bytes went. The reply is never there yet when we
	 * ask: bench_conn_recv skips the first try. */
	if (s->tls != NULL)
		rc = bench_conn_recv(&s->conn, s->tin, BS_TIN_CAP);
	else
		rc = bench_conn_recv(&s->conn, s->in + s->in_len,
				     BS_IN_CAP - s->in_len);
	if (rc < 0)
		bs_error(s, "ring full", 0);
}

static void bs_arm_send(struct bs_session *s)
{
	if (bench_conn_send(&s->conn, s->send_p, s->send_len) < 0)
		bs_error(s, "ring full", 0);
}

/* Send the TLS output there is, unless a send is in flight (its CQE
 * calls this again). The bytes stay pinned until tls_out_consume. */
void bs_flush_tls(struct bs_session *s)
{
	size_t len;

	if (bench_conn_armed(&s->conn, BENCH_CONN_SEND) || s->conn.closing)
		return;
	len = tls_out_len(s->tls);
	if (len == 0)
		return;
	if (bench_conn_send(&s->conn, tls_out_ptr(s->tls), len) < 0) {
		bs_error(s, "ring full", 0);
		return;
	}
	s->send_tls = 1;
}

/* Send len bytes of a shared buffer (encrypted once TLS is up) and expect
 * a reply in new_state. */
void bs_send(struct bs_session *s, const char *p, size_t len,
		    enum bs_state new_state)
{
	s->state = new_state;
	s->deadline = bench_now_ns() + bench.timeout_ns;
	if (s->tls_on) {
		/* Copied and encrypted now: the shared buffer is free again. */
		if (tls_write(s->tls, p, len) < 0) {
			bs_error(s, "TLS write failed", 0);
			return;
		}
		bs_flush_tls(s);
		return;
	}
	if (bench_conn_armed(&s->conn, BENCH_CONN_SEND)) {
		/* A reply outran the previous send's CQE: queue behind it. */
		s->next_p = p;
		s->next_len = len;
		return;
	}
	s->send_p = p;
	s->send_len = len;
	bs_arm_send(s);
}

void bs_arm_timer(struct bs_session *s, uint64_t ns)
{
	s->delay.tv_sec = (long long)(ns / 1000000000ull);
	s->delay.tv_nsec = (long long)(ns % 1000000000ull);
	if (bench_conn_timeout(&s->conn, &s->delay) < 0)
		bs_error(s, "ring full", 0);
}

static void bs_finish(struct bs_session *s)
{
	s->state = BS_DONE;
	s->deadline = 0;
	bench.done++;
}

/* Every op has completed and the socket is closed: move on. */
static void bs_closed(struct bench_conn *c)
{
	struct bs_session *s = container_of(c, struct bs_session, conn);
	uint64_t now = bench_now_ns();

	/* No op is in flight any more: no send points into its buffers. */
	tls_conn_free(s->tls);
	s->tls = NULL;
	s->tls_on = 0;
	s->send_tls = 0;
	bench_conn_open(&s->conn, -1);	/* for the timer or the next connect */
	s->in_len = 0;
	s->deadline = 0;
	if (s->in_msg) {
		bench.lost++;
		s->in_msg = 0;
	}
	if (s->unclaimed) {
		s->unclaimed = 0;
		bench.unclaimed--;
	}
	/* Connections still opening will take what is left: one more would
	 * only connect (with --tls: handshake) to QUIT. */
	if (bench.stop || bench.started + bench.unclaimed >= bench.total) {
		bs_finish(s);
		return;
	}
	if (s->after == BS_AFTER_NEXT) {
		bs_connect(s);
		return;
	}
	/* The failure began when the session last got anywhere: a long
	 * --timeout on a silent server counts in full. */
	if (s->fail_since == 0)
		s->fail_since = s->progress;
	if (now - s->fail_since >= BS_GIVE_UP_NS) {
		bs_report(s, "giving up after 3 s of failures", 0);
		bs_finish(s);
		return;
	}
	s->state = BS_IDLE;
	bs_arm_timer(s, BS_RETRY_NS);
}

void bs_close(struct bs_session *s, enum bs_after after)
{
	if (s->conn.closing)
		return;
	s->after = after;
	s->deadline = 0;
	s->next_p = NULL;
	if (s->state == BS_RATE_WAIT && s->in_msg) {
		/* Claimed but never started: give it back. */
		s->in_msg = 0;
		bench.started--;
	}
	bench_conn_close(&s->conn, SHUT_RDWR);
}

static void bs_conn_done(struct bs_session *s, int res)
{
	if (res < 0) {
		bs_error(s, "connect", -res);
		return;
	}
	s->state = BS_BANNER;
	s->deadline = bench_now_ns() + bench.timeout_ns;
	bs_arm_recv(s);
}

static void bs_recv_done(struct bs_session *s, int res)
{
	if (res == 0) {
		if (s->state == BS_QUIT_EOF)
			bs_close(s, BS_AFTER_NEXT);
		else
			bs_error(s, "connection closed by server", 0);
		return;
	}
	if (res < 0) {
		if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
			bs_arm_recv(s);
			return;
		}
		if (s->state == BS_QUIT_EOF) {
			bs_close(s, BS_AFTER_NEXT);	/* a RST after 221 */
			return;
		}
		bs_error(s, "recv", -res);
		return;
	}
	bs_proto->input(s, (size_t)res);
	bs_arm_recv(s);
}

static void bs_send_done(struct bs_session *s, int res)
{
	if (res <= 0) {
		if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
			if (s->send_tls)
				bs_flush_tls(s);	/* same pinned bytes */
			else
				bs_arm_send(s);
			return;
		}
		bs_error(s, "send", res < 0 ? -res : EPIPE);
		return;
	}
	if (s->send_tls) {
		s->send_tls = 0;
		tls_out_consume(s->tls, (size_t)res);
		bs_flush_tls(s);	/* the rest, or what was written since */
		return;
	}
	if ((size_t)res < s->send_len) {
		s->send_p += res;
		s->send_len -= (size_t)res;
		bs_arm_send(s);
		return;
	}
	if (s->next_p != NULL) {
		s->send_p = s->next_p;
		s->send_len = s->next_len;
		s->next_p = NULL;
		bs_arm_send(s);
	} else if (s->tls != NULL) {
		/* STARTTLS's CQE came after its 220: the ClientHello waited. */
		bs_flush_tls(s);
	}
}

static void bs_timer_done(struct bs_session *s, int res)
{
	if (s->state == BS_IDLE)
		bs_connect(s);
	else if (s->state == BS_RATE_WAIT)
		bs_proto->rate_slot(s);
}

/* A completion of one of the session's ops (not called once closing). */
static void bs_done(struct bench_conn *c, enum bench_conn_op op, int res)
{
	struct bs_session *s = container_of(c, struct bs_session, conn);

	switch (op) {
	case BENCH_CONN_CONNECT:
		bs_conn_done(s, res);
		break;
	case BENCH_CONN_RECV:
		bs_recv_done(s, res);
		break;
	case BENCH_CONN_SEND:
		bs_send_done(s, res);
		break;
	default:
		bs_timer_done(s, res);
		break;
	}
}

static const struct bench_conn_ops bs_conn_ops = {
	.done = bs_done,
	.drained = bs_closed,
};

static void bs_connect(struct bs_session *s)
{
	int fd;

	s->pipelining = 0;
	s->starttls = 0;
	s->unclaimed = 1;
	bench.unclaimed++;
	s->conn_msgs = 0;
	s->in_len = 0;
	s->next_p = NULL;
	if (s->fail_since == 0)
		s->progress = bench_now_ns();
	bench.connections++;
	fd = socket(bench.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bench_conn_open(&s->conn, fd);
	if (fd < 0) {
		bs_error(s, "socket", errno);
		return;
	}
	bench_sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	if (bench_conn_connect(&s->conn, (struct sockaddr *)&bench.addr,
			       bench.addrlen) < 0) {
		bs_error(s, "ring full", 0);
		return;
	}
	s->state = BS_CONNECT;
	s->deadline = bench_now_ns() + bench.timeout_ns;
}

static void bs_arm_tick(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&bench.ring, &bench.op_tick);

	if (sqe != NULL)
		io_uring_prep_timeout(sqe, &bench.tick, 0, 0);
}

/* Enforce --timeout on every session waiting for a reply. */
static void bs_tick_cb(struct bench_op *op, int res, unsigned flags)
{
	uint64_t now = bench_now_ns();
	unsigned i;

	for (i = 0; i < bench.conc; i++) {
		struct bs_session *s = &bench.sess[i];

		if (s->deadline == 0 || now <= s->deadline || s->conn.closing)
			continue;
		if (s->state == BS_QUIT_EOF) {
			/* 221 came but the server keeps the line open: fine. */
			bs_close(s, BS_AFTER_NEXT);
		} else {
			bench.errors++;
			bs_report(s, "timed out waiting for the server", 0);
			bs_close(s, BS_AFTER_RETRY);
		}
	}
	if (bench.done < bench.conc)
		bs_arm_tick();
}

static void bs_arm_signal(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&bench.ring, &bench.op_signal);

	if (sqe != NULL)
		io_uring_prep_read(sqe, bench.signal_fd, bench.sigbuf,
				   sizeof(bench.sigbuf), 0);
}

/* SIGINT/SIGTERM: start no new message; sessions finish what they have
 * and QUIT, or are closed. A second signal closes everything. */
static void bs_signal_cb(struct bench_op *op, int res, unsigned flags)
{
	unsigned i;

	int again = bench.stop;

	if (res > 0 || res == -EINTR || res == -EAGAIN)
		bs_arm_signal();
	if (res <= 0)
		return;
	bench.stop = 1;
	for (i = 0; i < bench.conc; i++) {
		struct bs_session *s = &bench.sess[i];

		if (s->state == BS_DONE || s->conn.closing)
			continue;
		if (again || s->state == BS_IDLE || s->state == BS_RATE_WAIT ||
		    s->state == BS_CONNECT || s->state == BS_BANNER)
			bs_close(s, BS_AFTER_RETRY);
	}
}

int bs_run(const struct bs_proto_ops *proto)
{
	unsigned i, nstart;
	int rc = 0;

	bs_proto = proto;
	bench.op_tick = (struct bench_op){ bs_tick_cb, NULL, BS_OP_TICK };
	bench.tick.tv_nsec = (long long)BS_TICK_NS;
	bench.op_signal = (struct bench_op){ bs_signal_cb, NULL, BS_OP_SIGNAL };
	bench.t0 = bench_now_ns();
	bench.rate_next = (double)bench.t0;
	nstart = bench.total < bench.conc ? (unsigned)bench.total : bench.conc;
	for (i = 0; i < bench.conc; i++) {
		struct bs_session *s = &bench.sess[i];

		s->idx = i;
		bench_conn_init(&s->conn, &bench.ring, &bs_conn_ops);
		if (i < nstart)
			bs_connect(s);
		else
			bs_finish(s);
	}
	bs_arm_tick();
	if (bench.signal_fd >= 0)
		bs_arm_signal();
	while (bench.done < bench.conc) {
		rc = bench_ring_step(&bench.ring);
		if (rc < 0) {
			fprintf(stderr, "sluice-bench: io_uring: %s\n",
				strerror(-rc));
			break;
		}
	}
	return rc;
}
