/*
 * ring — conventions shared by everything that submits to a worker's
 * io_uring.
 *
 * Every SQE's user_data points at a struct op embedded in its owner.  The
 * worker's dispatcher calls op->cb(op, cqe->res, cqe->flags) and never
 * touches the op again, so a callback may free the owner.  user_data 0
 * marks CQEs nobody waits for (linked timeouts, cancellations).  Memory an
 * in-flight SQE refers to belongs to the kernel until its last CQE
 * (multishot: IORING_CQE_F_MORE clear).
 *
 * Valgrind's memcheck (`make valgrind`) cannot see the kernel's side of
 * the ring: bytes a recv or read completion delivers were written outside
 * any system call it follows, and bytes an SQE sends were never checked.
 * So every completion that delivered bytes marks exactly those (res of
 * them) with ring_filled() before anything reads them, and every send or
 * write SQE checks its bytes with ring_sending()/ring_sending_iov(), as
 * memcheck does for send(2) and write(2).  Outside valgrind these are a few
 * instructions that do nothing; without valgrind's header, nothing at all.
 *
 * One thread per ring: only the worker that owns the ring calls these.
 */
#ifndef SLUICE_CORE_RING_H
#define SLUICE_CORE_RING_H

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define RING_MEMCHECK 1
#endif
#endif

struct op;
typedef void (*op_cb)(struct op *op, int res, uint32_t flags);

struct op {
	op_cb cb;	/* called for every CQE of this op */
};

/*
 * An SQE from the ring; when the submission queue is full it submits what
 * is queued first, so it never returns NULL.
 */
static inline struct io_uring_sqe *
ring_sqe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);

	while (sqe == NULL) {
		io_uring_submit(ring);
		sqe = io_uring_get_sqe(ring);
	}
	return sqe;
}

/* Attach op to sqe. */
static inline void
op_set(struct io_uring_sqe *sqe, struct op *op)
{
	io_uring_sqe_set_data(sqe, op);
}

/* The kernel wrote n bytes at p for a completion (n <= 0: none). */
static inline void
ring_filled(const void *p, int n)
{
#ifdef RING_MEMCHECK
	if (n > 0)
		(void)VALGRIND_MAKE_MEM_DEFINED(p, (size_t)n);
#else
	(void)p;
	(void)n;
#endif
}

/* An SQE is about to send or write n bytes at p: under memcheck, report
 * any of them that is uninitialised (where a send(2) would be reported). */
static inline void
ring_sending(const void *p, size_t n)
{
#ifdef RING_MEMCHECK
	(void)VALGRIND_CHECK_MEM_IS_DEFINED(p, n);
#else
	(void)p;
	(void)n;
#endif
}

/* Same for a writev's n buffers. */
static inline void
ring_sending_iov(const struct iovec *iov, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ring_sending(iov[i].iov_base, iov[i].iov_len);
}

/*
 * Submit what is queued and wait for at least one completion, as
 * io_uring_submit_and_wait(ring, 1).  Under valgrind (3.19) io_uring_enter
 * is not a system call that may block, so a thread waiting in it keeps
 * valgrind's lock and every other thread (main, the control socket)
 * stops with it: there the wait is a poll(2) on the ring, which valgrind
 * lets block, and the completions are then collected without waiting.
 * Returns what io_uring_submit_and_wait would: >= 0, or -errno.
 */
static inline int
ring_submit_and_wait(struct io_uring *ring)
{
#ifdef RING_MEMCHECK
	if (RUNNING_ON_VALGRIND) {
		struct pollfd pfd = { .fd = ring->ring_fd, .events = POLLIN };
		int rc = io_uring_submit(ring);

		if (rc < 0 || io_uring_cq_ready(ring) > 0)
			return rc;
		if (poll(&pfd, 1, 1000) < 0)	/* 1 s: the tick comes anyway */
			return -errno;
		return io_uring_get_events(ring);
	}
#endif
	return io_uring_submit_and_wait(ring, 1);
}

/* Deliver one CQE to its op (0 user_data: ignored). */
static inline void
op_dispatch(struct io_uring_cqe *cqe)
{
	struct op *op = io_uring_cqe_get_data(cqe);

	if (op != NULL)
		op->cb(op, cqe->res, cqe->flags);
}

#endif
