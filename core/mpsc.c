/*
 * mpsc — lock-free intrusive MPSC queue (see mpsc.h for the API and rules).
 *
 * Job: a singly linked list from the oldest node (tail, the consumer's end)
 * to the newest (head, the producers' end).  A producer swaps itself in as
 * head, then links the previous head to itself.  The consumer unlinks from
 * the tail.  A stub node stays in the list whenever it would otherwise be
 * empty, so producers never test for "empty" and never touch `tail`.
 *
 * Not for: more than one consumer (pop has no atomics on `tail`).
 *
 * Memory order, the why of each:
 *  - push: the exchange on head is acq_rel.  Release publishes the node's
 *    next = NULL before any later producer can link onto it; acquire makes
 *    the previous producer's next = NULL happen before our link below, so
 *    their NULL cannot overwrite our pointer.
 *  - push: the link (prev->next = n) is a release store; pop's acquire load
 *    of that pointer makes the node's payload, written before the push,
 *    visible to the consumer.
 *  - pop: the load of head is acquire only to compare it; it does not read
 *    through it.
 */
#include "core/mpsc.h"

void
mpsc_init(struct mpsc *q)
{
	atomic_init(&q->stub.next, NULL);
	atomic_init(&q->head, &q->stub);
	q->tail = &q->stub;
}

void
mpsc_push(struct mpsc *q, struct mpsc_node *n)
{
	struct mpsc_node *prev;

	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	prev = atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
	/* Between these two lines n (and whatever is pushed after it) is
	   unreachable from tail: pop sees the gap and returns NULL. */
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

struct mpsc_node *
mpsc_pop(struct mpsc *q)
{
	struct mpsc_node *tail = q->tail;
	struct mpsc_node *next = atomic_load_explicit(&tail->next,
						      memory_order_acquire);

	if (tail == &q->stub) {
		/* Step over the stub; it was only holding the place. */
		if (next == NULL)
			return NULL;	/* empty, or first push half done */
		q->tail = next;
		tail = next;
		next = atomic_load_explicit(&next->next, memory_order_acquire);
	}
	if (next != NULL) {
		/* tail has a successor, so no producer will write to it
		   again: it is the consumer's now. */
		q->tail = next;
		return tail;
	}
	/* tail is the last linked node.  If it is not the head, a producer
	   has swapped the head but not linked tail to its node yet. */
	if (tail != atomic_load_explicit(&q->head, memory_order_acquire))
		return NULL;
	/* tail is the only node.  Handing it out would leave the list
	   empty, so put the stub behind it first. */
	mpsc_push(q, &q->stub);
	next = atomic_load_explicit(&tail->next, memory_order_acquire);
	if (next != NULL) {
		q->tail = next;
		return tail;
	}
	/* A producer got in before the stub and has not linked yet: tail
	   stays, the stub and that node come later. */
	return NULL;
}

bool
mpsc_empty(struct mpsc *q)
{
	/* The stub is the newest node only when nothing was pushed after it,
	   and the tail only when everything before it was popped. */
	return q->tail == &q->stub &&
	       atomic_load_explicit(&q->head, memory_order_acquire) == &q->stub;
}
