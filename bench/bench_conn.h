/*
 * bench_conn.h - one connection's ops on the ring, for the bench programs'
 * sessions (sluice-sink's, sluice-bench's): at most one op of each kind in
 * flight, and a close that frees nothing until the last CQE is in.
 *
 * The rule it keeps for both programs: an SQE's user_data points at an op
 * record inside the connection, so the connection (and its session, and
 * every buffer an op reads or fills) must outlive the op's CQE. Each kind
 * has its own record and armed bit; inflight counts what the kernel holds.
 * bench_conn_close cancels what is in flight, and the drained callback
 * runs only when the count reaches zero: after the callback of the last
 * CQE has returned, so a session may start closing from inside any of its
 * own callbacks and is never freed under that callback's feet.
 *
 * Threading: the thread that owns the ring, only. Nothing is allocated;
 * the owner embeds struct bench_conn in its session.
 */
#ifndef BENCH_BENCH_CONN_H
#define BENCH_BENCH_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <liburing.h>

#include "bench/bench_common.h"
#include "core/list.h"	/* container_of, for the owners */

/* The kinds of op a connection has, one of each at most in flight. */
enum bench_conn_op {
	BENCH_CONN_CONNECT,	/* connect (sluice-bench) */
	BENCH_CONN_RECV,	/* recv into the owner's buffer */
	BENCH_CONN_SEND,	/* send from the owner's buffer */
	BENCH_CONN_TIMER,	/* a timeout: a delay before the owner's next step */
	BENCH_CONN_NOPS,
};

struct bench_conn;

/* What the owner does with its connection's completions. */
struct bench_conn_ops {
	/* op completed with res (cqe->res). Not called once the connection
	 * is closing (a cancelled op's CQE only counts down). */
	void (*done)(struct bench_conn *c, enum bench_conn_op op, int res);
	/* The connection closed and its last op completed: the socket is
	 * closed (fd -1), c stays closing until bench_conn_open, and may be
	 * freed. */
	void (*drained)(struct bench_conn *c);
};

/* A connection. The owner embeds it and finds itself from the callbacks'
 * c with container_of. */
struct bench_conn {
	struct bench_op op[BENCH_CONN_NOPS];	/* user_data of each kind's SQE */
	const struct bench_conn_ops *ops;	/* the owner's callbacks */
	struct io_uring *ring;			/* the ring every op goes to */
	int fd;					/* the socket, -1 when none */
	unsigned inflight;			/* ops the kernel holds */
	unsigned armed;				/* bit 1 << op per op in flight */
	bool closing;				/* cancelling; drained at inflight 0 */
};

/* Set c up for ring with the owner's ops, no socket yet (fd -1). */
void bench_conn_init(struct bench_conn *c, struct io_uring *ring,
		     const struct bench_conn_ops *ops);

/* (Re)start c on socket fd: after bench_conn_init, or once drained (fd
 * -1: no socket yet, e.g. for a timer before connecting again). */
void bench_conn_open(struct bench_conn *c, int fd);

/* True when an op of this kind is in flight. */
static inline bool bench_conn_armed(const struct bench_conn *c,
				    enum bench_conn_op op)
{
	return (c->armed & (1u << op)) != 0;
}

/* Post a recv of up to len bytes into buf (IORING_RECVSEND_POLL_FIRST:
 * the peer's bytes are not there yet when we ask, it is waiting for us).
 * buf belongs to the kernel until the CQE. Returns 0, or -ENOMEM when the
 * ring is broken (nothing posted). */
int bench_conn_recv(struct bench_conn *c, void *buf, size_t len);

/* Post a send of p[0..len) (MSG_NOSIGNAL); p stays valid and unchanged
 * until the CQE. Returns 0 or -ENOMEM as bench_conn_recv. */
int bench_conn_send(struct bench_conn *c, const void *p, size_t len);

/* Post a timeout of *ts (read when the ring submits: ts must live until
 * then). Returns 0 or -ENOMEM as bench_conn_recv. */
int bench_conn_timeout(struct bench_conn *c, struct __kernel_timespec *ts);

/* Post a connect of c->fd to addr. Returns 0 or -ENOMEM as
 * bench_conn_recv. */
int bench_conn_connect(struct bench_conn *c, const struct sockaddr *addr,
		       socklen_t len);

/* Start closing c: cancel its socket ops (shutdown(fd, shut_how) if even
 * the cancel cannot be queued) and its timer. drained runs once the last
 * op has completed: at once when nothing is in flight (then c may be gone
 * when this returns), else from the last CQE. Does nothing if c is
 * already closing. */
void bench_conn_close(struct bench_conn *c, int shut_how);

#endif
