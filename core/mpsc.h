/*
 * mpsc — lock-free intrusive multi-producer single-consumer FIFO queue
 * (the node-based design with a stub node described by Dmitry Vyukov).
 *
 * Job: carry messages to a worker thread (control commands, timer inserts,
 * stats requests) without a lock.  Any thread pushes; only the worker that
 * owns the queue pops.  The queue only links nodes: the pusher wakes the
 * worker itself (eventfd or IORING_OP_MSG_RING), after mpsc_push() returns.
 *
 * Not for: several consumers, bounded queues or back-pressure (it never
 * fills up; the caller limits what it sends), blocking waits.
 *
 * Threading: mpsc_push() from any thread, wait-free (one atomic exchange and
 * one store, no loop).  mpsc_pop() and mpsc_empty() from the owner thread
 * only.  mpsc_init() before any other thread can see the queue.
 *
 * Ownership: a pushed node belongs to the queue until mpsc_pop() returns it,
 * then to the consumer (which may free or reuse it at once: no producer
 * touches it again).  A node must not be pushed again while queued.
 *
 * The one catch: a push is two steps (swap the queue's head, then link the
 * old head to the new node).  A producer preempted between them hides its
 * node, every node pushed after it, and the node just before it (which it
 * has yet to write to): mpsc_pop() returns NULL although mpsc_empty() is
 * false.  Nothing is lost; the consumer just retries later.
 * If every pusher wakes the consumer after mpsc_push() returns, the wake-up
 * of the stalled producer arrives after its link, so draining on each
 * wake-up until mpsc_pop() returns NULL never strands a node.
 *
 * Order: FIFO per producer; pushes from different producers are ordered by
 * their atomic exchange on the head.
 */
#ifndef SLUICE_CORE_MPSC_H
#define SLUICE_CORE_MPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* The struct that embeds member `member` of type struct mpsc_node. */
#define MPSC_CONTAINER(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* A link, embedded in the user's message.  Private to the queue. */
struct mpsc_node {
	_Atomic(struct mpsc_node *) next;	/* the node pushed after this
						   one; NULL while it is the
						   newest (or not linked yet) */
};

/*
 * A queue, in the caller's storage (typically the worker).  Fields are
 * private.  Producers write `head`, the consumer `tail`: they sit 64 bytes
 * apart so they never share a cache line.
 */
struct mpsc {
	_Atomic(struct mpsc_node *) head;	/* newest node: producers swap
						   themselves in here */
	char pad[64 - sizeof(struct mpsc_node *)];	/* keeps tail off
							   head's line */
	struct mpsc_node *tail;			/* oldest node not yet popped
						   (or the stub); consumer's */
	struct mpsc_node stub;			/* dummy node that keeps the
						   list non-empty, so push
						   never tests for empty */
};

/* Make q empty.  Not thread-safe: before q is shared.  Cannot fail. */
void mpsc_init(struct mpsc *q);

/* Append n at the tail of q.  Any thread; wait-free.  n belongs to q until
 * popped.  The caller wakes the consumer afterwards if it needs to. */
void mpsc_push(struct mpsc *q, struct mpsc_node *n);

/* Take the oldest node, or NULL when q is empty or when a producer is half
 * way through a push (then mpsc_empty() is false: retry later, e.g. on the
 * next wake-up).  Owner thread only. */
struct mpsc_node *mpsc_pop(struct mpsc *q);

/* True when q holds nothing, not even a half-pushed node.  A false answer
 * with mpsc_pop() returning NULL means a push is in progress.  Owner thread
 * only; producers may make it false again at any moment. */
bool mpsc_empty(struct mpsc *q);

#endif /* SLUICE_CORE_MPSC_H */
