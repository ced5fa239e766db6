/*
 * mpsc_test — unit tests of core/mpsc: FIFO order on one thread, the
 * half-done push seen by the consumer, and 4 producer threads x 1,000,000
 * pushes against one consumer (every node exactly once, each producer's
 * order kept).  Also meant to be run built with -fsanitize=thread.
 */
#include "core/mpsc.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>

/* Fail the test unless cond holds; cheap when it does (hot loops). */
#define CHECK(cond, ...) do { if (!(cond)) cr_assert_fail(__VA_ARGS__); } while (0)

/* A message: the link plus who sent it and its number. */
struct item {
	struct mpsc_node node;	/* the queue's link */
	uint32_t producer;	/* index of the pushing thread */
	uint32_t seq;		/* 0, 1, 2 ... per producer */
};

static struct item *
pop_item(struct mpsc *q)
{
	struct mpsc_node *n = mpsc_pop(q);

	return n == NULL ? NULL : MPSC_CONTAINER(n, struct item, node);
}

Test(mpsc, empty_queue)
{
	struct mpsc q;

	mpsc_init(&q);
	cr_assert(mpsc_empty(&q));
	cr_assert_null(mpsc_pop(&q));
	cr_assert_null(mpsc_pop(&q));
	cr_assert(mpsc_empty(&q));
}

Test(mpsc, fifo_single_thread)
{
	enum { N = 1000 };
	static struct item it[N];
	struct mpsc q;
	uint32_t next = 0;

	/* Batches of varied size, popped in varied amounts, so the stub
	   goes in and out of the list at every position. */
	mpsc_init(&q);
	for (uint32_t pushed = 0, round = 1; pushed < N; round++) {
		for (uint32_t k = 0; k < round % 7 + 1 && pushed < N; k++) {
			it[pushed].seq = pushed;
			mpsc_push(&q, &it[pushed].node);
			pushed++;
		}
		cr_assert(!mpsc_empty(&q));
		for (uint32_t k = 0; k < round % 5 + 1; k++) {
			struct item *x = pop_item(&q);

			if (x == NULL) {
				cr_assert_eq(next, pushed);
				cr_assert(mpsc_empty(&q));
				break;
			}
			cr_assert_eq(x->seq, next);
			next++;
		}
	}
	for (struct item *x; (x = pop_item(&q)) != NULL; next++)
		cr_assert_eq(x->seq, next);
	cr_assert_eq(next, N);
	cr_assert(mpsc_empty(&q));
}

Test(mpsc, one_at_a_time)
{
	static struct item a, b;
	struct mpsc q;

	/* Push one, pop one, again and again: the single-node case that
	   re-inserts the stub every time.  Nodes are reused at once. */
	mpsc_init(&q);
	for (uint32_t i = 0; i < 10000; i++) {
		struct item *x = (i & 1) ? &b : &a;

		x->seq = i;
		mpsc_push(&q, &x->node);
		cr_assert(!mpsc_empty(&q));
		cr_assert_eq(pop_item(&q), x);
		cr_assert(mpsc_empty(&q));
		cr_assert_null(mpsc_pop(&q));
	}
}

Test(mpsc, half_done_push)
{
	static struct item a, b, c;
	struct mpsc q;
	struct mpsc_node *prev;

	/*
	 * Play a producer stopped between its two steps, by hand: a is
	 * queued; b's producer has swapped the head but not linked; c was
	 * pushed after b.  pop must hold back a too (b's producer is about
	 * to write a's link), return NULL without losing anything, and
	 * deliver a, b, c once b's link lands.
	 */
	mpsc_init(&q);
	a.seq = 1, b.seq = 2, c.seq = 3;
	mpsc_push(&q, &a.node);
	atomic_store(&b.node.next, NULL);
	prev = atomic_exchange(&q.head, &b.node);	/* step 1 only */
	mpsc_push(&q, &c.node);
	cr_assert_eq(prev, &a.node);
	cr_assert_null(mpsc_pop(&q));
	cr_assert(!mpsc_empty(&q));
	cr_assert_null(mpsc_pop(&q));
	atomic_store(&prev->next, &b.node);		/* step 2 */
	cr_assert_eq(pop_item(&q), &a);
	cr_assert_eq(pop_item(&q), &b);
	cr_assert_eq(pop_item(&q), &c);
	cr_assert_null(mpsc_pop(&q));
	cr_assert(mpsc_empty(&q));

	/* Same with the queue empty (only the stub) when it starts. */
	atomic_store(&b.node.next, NULL);
	prev = atomic_exchange(&q.head, &b.node);
	cr_assert_eq(prev, &q.stub);
	cr_assert_null(mpsc_pop(&q));
	cr_assert(!mpsc_empty(&q));
	atomic_store(&prev->next, &b.node);
	cr_assert_eq(pop_item(&q), &b);
	cr_assert(mpsc_empty(&q));

	/* And when the half-linked node's predecessor is the only real
	   node: a is not handed out (it would leave the list without a
	   node for b's producer to link to) until b's link lands. */
	mpsc_push(&q, &a.node);
	atomic_store(&b.node.next, NULL);
	prev = atomic_exchange(&q.head, &b.node);
	cr_assert_null(mpsc_pop(&q));		/* a held back */
	mpsc_push(&q, &c.node);
	cr_assert_null(mpsc_pop(&q));
	atomic_store(&prev->next, &b.node);
	cr_assert_eq(pop_item(&q), &a);
	cr_assert_eq(pop_item(&q), &b);
	cr_assert_eq(pop_item(&q), &c);
	cr_assert_null(mpsc_pop(&q));
	cr_assert(mpsc_empty(&q));
}

/*
 * 4 producers x 1,000,000 pushes, one consumer (the test thread).  Each
 * producer numbers its items; the consumer checks that each producer's
 * numbers arrive as 0, 1, 2 ... with none missing or repeated, and that
 * the total is exact.
 */
enum { PRODUCERS = 4, PER_PRODUCER = 1000000 };

/* What one producer thread gets. */
struct producer {
	struct mpsc *q;			/* the shared queue */
	struct item *items;		/* its PER_PRODUCER items */
	uint32_t id;			/* its index */
	pthread_barrier_t *start;	/* to push all at once */
};

static void *
produce(void *arg)
{
	struct producer *p = arg;

	pthread_barrier_wait(p->start);
	for (uint32_t i = 0; i < PER_PRODUCER; i++) {
		p->items[i].producer = p->id;
		p->items[i].seq = i;
		mpsc_push(p->q, &p->items[i].node);
	}
	return NULL;
}

Test(mpsc, four_producers_one_consumer, .timeout = 300)
{
	static struct mpsc q;
	struct producer prod[PRODUCERS];
	pthread_t tid[PRODUCERS];
	pthread_barrier_t start;
	uint32_t expect[PRODUCERS] = { 0 };
	uint64_t received = 0, gaps = 0;
	struct item *items;

	items = calloc((size_t)PRODUCERS * PER_PRODUCER, sizeof(*items));
	cr_assert_not_null(items);
	mpsc_init(&q);
	cr_assert_eq(pthread_barrier_init(&start, NULL, PRODUCERS + 1), 0);
	for (uint32_t p = 0; p < PRODUCERS; p++) {
		prod[p] = (struct producer){
			.q = &q,
			.items = items + (size_t)p * PER_PRODUCER,
			.id = p,
			.start = &start,
		};
		cr_assert_eq(pthread_create(&tid[p], NULL, produce, &prod[p]), 0);
	}
	pthread_barrier_wait(&start);
	while (received < (uint64_t)PRODUCERS * PER_PRODUCER) {
		struct item *x = pop_item(&q);

		if (x == NULL) {
			/* Empty, or a producer between its two steps. */
			if (!mpsc_empty(&q))
				gaps++;
			sched_yield();
			continue;
		}
		CHECK(x->producer < PRODUCERS, "bad producer %u", x->producer);
		CHECK(x->seq == expect[x->producer],
		      "producer %u: got %u, expected %u", x->producer, x->seq,
		      expect[x->producer]);
		CHECK(x == items + (size_t)x->producer * PER_PRODUCER + x->seq,
		      "node/payload mismatch");
		expect[x->producer]++;
		received++;
	}
	for (uint32_t p = 0; p < PRODUCERS; p++) {
		pthread_join(tid[p], NULL);
		cr_assert_eq(expect[p], PER_PRODUCER);
	}
	cr_assert_null(mpsc_pop(&q));
	cr_assert(mpsc_empty(&q));
	cr_log_info("mpsc: %llu received, %llu pops saw a half-done push",
		    (unsigned long long)received, (unsigned long long)gaps);
	pthread_barrier_destroy(&start);
	free(items);
}
