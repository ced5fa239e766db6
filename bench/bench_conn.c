/*
 * bench_conn.c - a connection's ops on the ring, shared by the bench
 * programs' sessions; the rules are in bench/bench_conn.h.
 *
 * Every op of a connection completes through bench_conn_cb: clear the
 * kind's armed bit, let the owner act (unless closing), then count the op
 * out, and only then, if closing and nothing is left, close the socket
 * and hand the connection back to its owner.
 * May call: bench_common.c; its owner only through struct bench_conn_ops.
 */
#include "bench/bench_conn.h"

#include <errno.h>
#include <unistd.h>

/* Closing, and nothing is in flight: no op points into c any more. */
static void bench_conn_drained(struct bench_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->ops->drained(c);
}

static void bench_conn_cb(struct bench_op *op, int res, unsigned flags)
{
	struct bench_conn *c = op->owner;

	c->armed &= ~(1u << op->kind);
	if (!c->closing)
		c->ops->done(c, (enum bench_conn_op)op->kind, res);
	if (--c->inflight == 0 && c->closing)
		bench_conn_drained(c);
}

void bench_conn_init(struct bench_conn *c, struct io_uring *ring,
		     const struct bench_conn_ops *ops)
{
	int k;

	for (k = 0; k < BENCH_CONN_NOPS; k++)
		c->op[k] = (struct bench_op){ bench_conn_cb, c, k };
	c->ops = ops;
	c->ring = ring;
	c->fd = -1;
	c->inflight = 0;
	c->armed = 0;
	c->closing = false;
}

void bench_conn_open(struct bench_conn *c, int fd)
{
	c->fd = fd;
	c->closing = false;
}

/* Next SQE for an op of this kind, counted in flight. */
static struct io_uring_sqe *bench_conn_sqe(struct bench_conn *c,
					   enum bench_conn_op op)
{
	struct io_uring_sqe *sqe = bench_sqe(c->ring, &c->op[op]);

	if (sqe == NULL)
		return NULL;
	c->armed |= 1u << op;
	c->inflight++;
	return sqe;
}

int bench_conn_recv(struct bench_conn *c, void *buf, size_t len)
{
	struct io_uring_sqe *sqe = bench_conn_sqe(c, BENCH_CONN_RECV);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_recv(sqe, c->fd, buf, len, 0);
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	return 0;
}

int bench_conn_send(struct bench_conn *c, const void *p, size_t len)
{
	struct io_uring_sqe *sqe = bench_conn_sqe(c, BENCH_CONN_SEND);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_send(sqe, c->fd, p, len, MSG_NOSIGNAL);
	return 0;
}

int bench_conn_timeout(struct bench_conn *c, struct __kernel_timespec *ts)
{
	struct io_uring_sqe *sqe = bench_conn_sqe(c, BENCH_CONN_TIMER);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_timeout(sqe, ts, 0, 0);
	return 0;
}

int bench_conn_connect(struct bench_conn *c, const struct sockaddr *addr,
		       socklen_t len)
{
	struct io_uring_sqe *sqe = bench_conn_sqe(c, BENCH_CONN_CONNECT);

	if (sqe == NULL)
		return -ENOMEM;
	io_uring_prep_connect(sqe, c->fd, addr, len);
	return 0;
}

void bench_conn_close(struct bench_conn *c, int shut_how)
{
	const unsigned sock_ops = 1u << BENCH_CONN_CONNECT |
				  1u << BENCH_CONN_RECV | 1u << BENCH_CONN_SEND;
	struct io_uring_sqe *sqe;

	if (c->closing)
		return;
	c->closing = true;
	if (c->armed & sock_ops) {
		sqe = bench_sqe(c->ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		else
			(void)shutdown(c->fd, shut_how);
	}
	if (bench_conn_armed(c, BENCH_CONN_TIMER)) {
		sqe = bench_sqe(c->ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel(sqe, &c->op[BENCH_CONN_TIMER], 0);
	}
	if (c->inflight == 0)
		bench_conn_drained(c);
}
