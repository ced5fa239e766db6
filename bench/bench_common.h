/*
 * bench_common.h - helpers shared by sluice-bench and sluice-sink, and the
 * map of bench/.
 *
 * bench/ owns the measuring tools: sluice-bench (sluice_bench.c, bs_*.c:
 * a load generator), sluice-sink (sluice_sink.c, sink_*.c: a strict
 * downstream server with fault modes), wheel-bench, directory-bench,
 * sluice-spoolgen, and the benchmark scripts (*.sh). The common code of
 * the two SMTP programs is bench_*.c: this file (the op record, ring
 * set-up and dispatch, signals, parsing, clock), bench_conn.h (a
 * connection's ops and their lifetimes) and bench_reply.h (what a reply
 * says beyond its code); it calls nothing of either program.
 *
 * Each SMTP program is a stack of layers, and a file calls only files
 * below it (its header comment ends with a "May call:" line). The I/O
 * layer calls the dialogue above it only through an ops table it
 * declares itself and is handed at start; no file calls its main file.
 * Top to bottom (files on one line do not call each other):
 *
 *   sluice-bench:
 *     sluice_bench.c             options, main; hands bs_smtp_ops to bs_run
 *     bs_smtp.c                  the dialogue
 *     bs_tls.c                   --tls: handshake, records into in[]
 *     bs_engine.c                sessions on the ring: send, timers,
 *                                errors, close; up via bs_proto_ops
 *     bs_stats.c, bs_msg.c       latency and results; what is sent
 *     bs_state.c                 struct bench
 *
 *   sluice-sink:
 *     sluice_sink.c              options, listener; hands sink_smtp_ops
 *                                to each session
 *     sink_smtp.c                the dialogue, STARTTLS included
 *     sink_io.c                  a session's ring ops and pump; up via
 *                                sink_proto_ops
 *     sink_tls.c, sink_fault.c,  the TLS side, --mode, --out and
 *     sink_store.c, sink_check.c the counts, the MAIL/RCPT grammar
 *     sink_state.c               struct sink, the reply batch (out[])
 *
 * Under both: bench_conn.c, bench_reply.c, bench_common.c. make layers
 * (scripts/layers.py --objects build) checks from the objects' symbols
 * that no two files call each other, however indirectly.
 *
 * The two SMTP programs keep their own rings, sessions and state
 * machines, and nothing of the relay's event loop, queue or connection
 * code, so that they keep working (and keep measuring the same thing)
 * while the relay's own code changes. What they take from the tree is
 * pure code or a peer: STARTTLS (sluice-sink with --tls-cert,
 * sluice-bench --tls) uses tls/ (and the core/ bits it needs), a TLS peer
 * for the relay's TLS code, not a measure of it; sluice-bench reads
 * server replies with the relay's pure reply parser (net/smtp_proto.h,
 * net/smtp_ehlo.h), so the tree has one reply reader, unit-tested and
 * fuzzed; core/strb.h and core/list.h are small helpers. Nothing outside
 * bench/ (and tests/) includes bench/.
 *
 * Threading: every function here is called from the one thread that owns
 * the ring (bench_signalfd: at start-up). Nothing is allocated; nothing
 * here keeps global state.
 */
#ifndef BENCH_BENCH_COMMON_H
#define BENCH_BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <liburing.h>

struct bench_op;

/* Completion callback: res and flags are cqe->res and cqe->flags. The
 * dispatcher never touches op after the call, so the callback may free the
 * op's owner. */
typedef void bench_op_cb(struct bench_op *op, int res, unsigned flags);

/* One in-flight operation. SQE user_data points at it; it usually sits
 * inside its owner (a session) so that no allocation happens per op. */
struct bench_op {
	bench_op_cb *cb;	/* called once per CQE of this op */
	void *owner;		/* the session or program state the op serves */
	int kind;		/* owner-defined tag, for logs and asserts */
};

/* Monotonic clock in nanoseconds. */
uint64_t bench_now_ns(void);

/* Parse "host:port", "[v6]:port" or "host" (port then default_port) into
 * *ss and *len. Names are resolved with getaddrinfo (start-up only).
 * Returns 0 or -EINVAL. */
int bench_parse_addr(const char *spec, int default_port,
		     struct sockaddr_storage *ss, socklen_t *len);

/* Format *ss as "host:port" / "[v6]:port" into buf. Returns buf. */
const char *bench_addr_str(const struct sockaddr_storage *ss, char *buf,
			   size_t size);

/* Parse a decimal unsigned integer in [min, max] from s, the whole string.
 * Returns 0 or -EINVAL. */
int bench_parse_ull(const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out);

/* Raise RLIMIT_NOFILE's soft limit to its hard limit. Returns the new soft
 * limit, or a negative errno. */
long bench_raise_nofile(void);

/* Set up ring with sq_entries SQEs and cq_entries CQEs, asking for
 * SINGLE_ISSUER | DEFER_TASKRUN and falling back to older set-ups on older
 * kernels. Returns 0 or a negative errno. */
int bench_ring_init(struct io_uring *ring, unsigned sq_entries,
		    unsigned cq_entries);

/* Next free SQE, submitting what is queued when the SQ is full. The SQE's
 * user_data is set to op (NULL: a CQE nobody waits for, e.g. a cancel).
 * Returns NULL only if the ring is broken (the caller then treats the
 * operation as failed). */
struct io_uring_sqe *bench_sqe(struct io_uring *ring, struct bench_op *op);

/* Submit what is queued, wait for at least one completion, then dispatch
 * every available CQE to its op's callback. EINTR, EAGAIN and EBUSY from
 * the kernel are not errors: they return 0 and the caller loops. Returns 0
 * or a negative errno for a broken ring. */
int bench_ring_step(struct io_uring *ring);

/* Ignore SIGPIPE (a reset peer is then an error return, not our death),
 * block SIGINT and SIGTERM, and return a signalfd that reads them (to be
 * read on the ring), or a negative errno. Start-up only. */
int bench_signalfd(void);

/* Set a socket option, ignoring failures that do not matter for a
 * benchmark (TCP_NODELAY on a socket the peer already reset). */
void bench_sockopt_int(int fd, int level, int name, int value);

#endif
