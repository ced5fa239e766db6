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
 * One thread per ring: only the worker that owns the ring calls these.
 */
#ifndef SLUICE_NET_RING_H
#define SLUICE_NET_RING_H

#include <liburing.h>
#include <stdint.h>

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

/* Deliver one CQE to its op (0 user_data: ignored). */
static inline void
op_dispatch(struct io_uring_cqe *cqe)
{
	struct op *op = io_uring_cqe_get_data(cqe);

	if (op != NULL)
		op->cb(op, cqe->res, cqe->flags);
}

#endif
