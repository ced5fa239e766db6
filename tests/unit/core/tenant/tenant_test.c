/*
 * tenant_test — unit tests of core/tenant/tenant: buckets expire exactly
 * at the window's edge (table of window shapes, for the sum and the quota
 * check), a bucket slot is reused after a full window, shards sum, the
 * quota check sees another worker's events at once (issue 14: it did not
 * for up to a second) and agrees with the full sum through bucket changes
 * (random runs), the tenant table (lookup, duplicates, counters kept
 * across a reload), 4 writer threads against a reader summing all along,
 * and 2, 4 and 8 threads racing check-then-count on one quota (at most
 * threads - 1 over it).  The threaded tests are also meant to be run built
 * with -fsanitize=thread (outside Criterion, which does not start under
 * TSan).
 */
#include "core/tenant/tenant.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

/* Fail the test unless cond holds; cheap when it does (hot loops). */
#define CHECK(cond, ...) do { if (!(cond)) cr_assert_fail(__VA_ARGS__); } while (0)

static struct tenant_counter *
counter(unsigned workers, uint32_t secs, uint32_t buckets)
{
	struct tenant_window win = { .bucket_secs = secs, .buckets = buckets };
	struct tenant_counter *c = NULL;

	cr_assert_eq(tenant_counter_new(workers, &win, &c), 0);
	cr_assert_not_null(c);
	return c;
}

/* A window shape and an event time: the event must count from its own
 * second up to last_in, and not at last_in + 1. */
struct expiry_case {
	uint32_t secs;		/* bucket width */
	uint32_t buckets;	/* window length in buckets */
	uint64_t at;		/* event time */
	uint64_t last_in;	/* last second at which it still counts */
};

static const struct expiry_case expiry_cases[] = {
	{ 1, 1, 100, 100 },
	{ 1, 2, 100, 101 },
	{ 1, 60, 100, 159 },
	{ 60, 60, 0, 3599 },		/* first second of bucket 0 */
	{ 60, 60, 59, 3599 },		/* last second of bucket 0 */
	{ 60, 60, 60, 3659 },
	{ 60, 60, 1000000007, (1000000007 / 60 + 60) * 60 - 1 },
	{ 10, 6, 125, 179 },
	{ 7, 3, 20, 34 },		/* buckets [14,21) [21,28) [28,35) */
	{ 1, 4096, 5, 4100 },
};

Test(tenant, expiry_is_exact)
{
	for (size_t i = 0; i < sizeof(expiry_cases) / sizeof(expiry_cases[0]);
	     i++) {
		const struct expiry_case *e = &expiry_cases[i];
		struct tenant_counter *c = counter(2, e->secs, e->buckets);

		uint64_t start = e->at / e->secs * e->secs;	/* its bucket's */

		tenant_count_add(c, 1, e->at, 3);
		if (start > 0)
			cr_assert_eq(tenant_count_sum(c, start - 1), 0,
				     "case %zu: counted before its bucket", i);
		cr_assert_eq(tenant_count_sum(c, start), 3, "case %zu", i);
		cr_assert_eq(tenant_count_sum(c, e->at), 3, "case %zu", i);
		cr_assert_eq(tenant_count_sum(c, (e->at + e->last_in) / 2), 3,
			     "case %zu", i);
		cr_assert_eq(tenant_count_sum(c, e->last_in), 3, "case %zu", i);
		/* The quota check from worker 0 (the events are worker
		   1's), from the bucket and just past the edge. */
		cr_assert(tenant_over_quota(c, 0, e->at, 3), "case %zu", i);
		cr_assert_not(tenant_over_quota(c, 0, e->at, 4), "case %zu",
			      i);
		cr_assert(tenant_over_quota(c, 0, e->last_in, 3), "case %zu",
			  i);
		cr_assert_not(tenant_over_quota(c, 0, e->last_in + 1, 1),
			      "case %zu: still over at the edge", i);
		cr_assert_eq(tenant_count_sum(c, e->last_in + 1), 0,
			     "case %zu: still counted at %lu", i,
			     (unsigned long)(e->last_in + 1));
		cr_assert_eq(tenant_count_sum(c, e->last_in + 1000000), 0,
			     "case %zu", i);
		tenant_counter_free(c);
	}
}

Test(tenant, window_slides)
{
	struct tenant_counter *c = counter(1, 1, 3);

	tenant_count_add(c, 0, 100, 1);
	tenant_count_add(c, 0, 101, 2);
	tenant_count_add(c, 0, 102, 4);
	cr_assert_eq(tenant_count_sum(c, 102), 7);
	cr_assert_eq(tenant_count_sum(c, 103), 6);
	cr_assert_eq(tenant_count_sum(c, 104), 4);
	cr_assert_eq(tenant_count_sum(c, 105), 0);
	/* 103 lands in 100's slot: 100's count is gone, not added to. */
	tenant_count_add(c, 0, 103, 8);
	cr_assert_eq(tenant_count_sum(c, 103), 14);
	cr_assert_eq(tenant_count_sum(c, 104), 12);
	/* A whole window later the slot of 101 starts from zero. */
	tenant_count_add(c, 0, 104 + 3 * 100, 16);
	cr_assert_eq(tenant_count_sum(c, 404), 16);
	/* Same bucket, several adds. */
	for (int i = 0; i < 10; i++)
		tenant_count_add(c, 0, 404, 1);
	cr_assert_eq(tenant_count_sum(c, 404), 26);
	tenant_counter_free(c);
}

Test(tenant, shards_sum)
{
	struct tenant_counter *c = counter(8, 60, 60);
	uint64_t want = 0;

	cr_assert_eq(tenant_counter_workers(c), 8);
	cr_assert_eq(tenant_counter_window(c)->buckets, 60);
	for (unsigned w = 0; w < 8; w++)
		for (uint64_t t = 0; t < 3560; t += 37 + w) {
			tenant_count_add(c, w, 10000 + t, w + 1);
			want += w + 1;
		}
	/* Events at 10000..13559: buckets 166 (9960..10019) to 225, the
	   window at 13559.  At 13560 bucket 166 leaves the window. */
	cr_assert_eq(tenant_count_sum(c, 13559), want);
	for (unsigned w = 0; w < 8; w++)
		for (uint64_t t = 0; t < 20; t += 37 + w)
			want -= w + 1;
	cr_assert_eq(tenant_count_sum(c, 13560), want);
	/* Out-of-range worker: ignored. */
	tenant_count_add(c, 8, 13560, 1000);
	tenant_count_add(c, 1000, 13560, 1000);
	cr_assert_eq(tenant_count_sum(c, 13560), want);
	tenant_counter_free(c);
}

Test(tenant, saturation)
{
	struct tenant_counter *c = counter(2, 1, 2);

	tenant_count_add(c, 0, 50, UINT32_MAX - 1);
	tenant_count_add(c, 0, 50, 5);
	tenant_count_add(c, 1, 50, UINT32_MAX);
	tenant_count_add(c, 0, 51, 1);
	cr_assert_eq(tenant_count_sum(c, 51), 2 * (uint64_t)UINT32_MAX + 1);
	tenant_counter_free(c);
}

Test(tenant, bad_arguments)
{
	struct tenant_window ok = { 60, 60 }, zero_secs = { 0, 60 },
			     zero_b = { 60, 0 },
			     big = { 60, TENANT_MAX_BUCKETS + 1 };
	struct tenant_counter *c = NULL;

	cr_assert_eq(tenant_counter_new(0, &ok, &c), -EINVAL);
	cr_assert_eq(tenant_counter_new(TENANT_MAX_WORKERS + 1, &ok, &c),
		     -EINVAL);
	cr_assert_eq(tenant_counter_new(1, &zero_secs, &c), -EINVAL);
	cr_assert_eq(tenant_counter_new(1, &zero_b, &c), -EINVAL);
	cr_assert_eq(tenant_counter_new(1, &big, &c), -EINVAL);
	cr_assert_eq(tenant_counter_new(1, NULL, &c), -EINVAL);
	cr_assert_null(c);
	tenant_counter_free(NULL);
}

Test(tenant, over_quota)
{
	struct tenant_counter *c = counter(2, 1, 2);

	cr_assert_not(tenant_over_quota(c, 0, 10, 0));
	tenant_count_add(c, 0, 10, 2);
	cr_assert_not(tenant_over_quota(c, 0, 10, 3));
	cr_assert_not(tenant_over_quota(c, 0, 10, 0));	/* no quota */
	tenant_count_add(c, 0, 10, 1);
	cr_assert(tenant_over_quota(c, 0, 10, 3));
	cr_assert_not(tenant_over_quota(c, 0, 10, 4));
	tenant_count_add(c, 1, 10, 1);
	cr_assert(tenant_over_quota(c, 0, 10, 4));
	cr_assert(tenant_over_quota(c, 1, 10, 4));
	cr_assert(tenant_over_quota(c, 0, 11, 4));
	/* It clears when the window falls below the quota. */
	cr_assert_not(tenant_over_quota(c, 0, 12, 4));
	cr_assert_not(tenant_over_quota(c, 1, 12, 1));
	/* Out-of-range worker: full sum, no cache. */
	tenant_count_add(c, 1, 12, 1);
	cr_assert(tenant_over_quota(c, 9, 12, 1));
	tenant_counter_free(c);
}

/* Window shapes for the checks below: one bucket, two (no closed bucket),
 * and longer ones (closed buckets cached). */
static const struct tenant_window shapes[] = {
	{ 1, 1 }, { 1, 2 }, { 1, 3 }, { 1, 60 }, { 60, 60 }, { 7, 5 },
};
#define NSHAPES	(sizeof(shapes) / sizeof(shapes[0]))

/*
 * Issue 14 item 0: worker 0 checks (and so caches), worker 1 counts within
 * the same second, and worker 0's next check must see it.  The old check
 * cached the whole sum per second and saw other workers' events only when
 * `now` changed, so under a burst every worker let about a quota through.
 */
Test(tenant, other_workers_events_seen_at_once)
{
	for (size_t i = 0; i < NSHAPES; i++) {
		struct tenant_counter *c = counter(4, shapes[i].bucket_secs,
						   shapes[i].buckets);
		uint64_t now = 1000003 * (uint64_t)shapes[i].bucket_secs + 1;

		tenant_count_add(c, 0, now, 2);
		cr_assert_not(tenant_over_quota(c, 0, now, 3), "shape %zu", i);
		tenant_count_add(c, 1, now, 1);
		cr_assert(tenant_over_quota(c, 0, now, 3),
			  "shape %zu: worker 1's event not seen by worker 0", i);
		tenant_count_add(c, 3, now, 1);
		cr_assert(tenant_over_quota(c, 0, now, 4), "shape %zu", i);
		cr_assert_not(tenant_over_quota(c, 0, now, 5), "shape %zu", i);
		/* A worker that read the clock just before the bucket
		   boundary counts into the previous bucket after the
		   checker moved on: still seen at once. */
		if (shapes[i].buckets >= 2) {
			uint64_t next = now + shapes[i].bucket_secs;

			cr_assert_not(tenant_over_quota(c, 0, next, 5),
				      "shape %zu", i);
			tenant_count_add(c, 2, now, 1);
			cr_assert(tenant_over_quota(c, 0, next, 5),
				  "shape %zu: late event not seen", i);
		}
		tenant_counter_free(c);
	}
}

/* Events stamped in a closed bucket (more than one bucket back): the
 * worker's own are seen at once, another worker's from the checker's next
 * bucket change (the stated slack). */
Test(tenant, stale_stamps)
{
	struct tenant_counter *c = counter(2, 1, 10);

	cr_assert_not(tenant_over_quota(c, 0, 1000, 1));	/* caches */
	tenant_count_add(c, 0, 995, 1);
	cr_assert(tenant_over_quota(c, 0, 1000, 1), "own stale event");
	cr_assert_not(tenant_over_quota(c, 0, 1000, 2));
	tenant_count_add(c, 1, 995, 1);
	cr_assert_not(tenant_over_quota(c, 0, 1000, 2),
		      "seen before the bucket changed: update the slack");
	cr_assert(tenant_over_quota(c, 0, 1001, 2));
	/* Own stale events outside the window, or from the future, do not
	   count. */
	tenant_count_add(c, 0, 991, 5);		/* 10 buckets back */
	tenant_count_add(c, 0, 1002, 5);
	cr_assert_not(tenant_over_quota(c, 0, 1001, 3));
	cr_assert_eq(tenant_count_sum(c, 1001), 2);
	tenant_counter_free(c);
}

static uint64_t test_rng = 0x9e3779b97f4a7c15ULL;	/* xorshift64 state */

static uint64_t
rnd(uint64_t n)
{
	test_rng ^= test_rng << 13;
	test_rng ^= test_rng >> 7;
	test_rng ^= test_rng << 17;
	return test_rng % n;
}

/*
 * The check agrees with the full sum (tenant_count_sum()) at every step of
 * random runs: workers count (stamped now, or up to a bucket earlier, as a
 * worker that read the clock just before) and check, while time moves by
 * steps of zero to a few buckets, and sometimes by more than a window.
 */
Test(tenant, check_agrees_with_sum)
{
	for (size_t i = 0; i < NSHAPES; i++) {
		uint32_t secs = shapes[i].bucket_secs;
		struct tenant_counter *c = counter(5, secs, shapes[i].buckets);
		uint64_t now = 5000000, span = (uint64_t)secs *
					       shapes[i].buckets;

		for (int step = 0; step < 20000; step++) {
			unsigned w = (unsigned)rnd(5);
			uint64_t r = rnd(100), sum;

			if (r < 40) {
				tenant_count_add(c, w, now - rnd(secs + 1),
						 (uint32_t)rnd(3) + 1);
			} else if (r < 90) {
				sum = tenant_count_sum(c, now);
				CHECK(sum == 0 || tenant_over_quota(c, w, now, sum),
				      "shape %zu step %d: under at %lu", i,
				      step, (unsigned long)sum);
				CHECK(!tenant_over_quota(c, w, now, sum + 1),
				      "shape %zu step %d: over %lu", i, step,
				      (unsigned long)sum);
			} else if (r < 99) {
				now += rnd(3 * secs + 1);
			} else {
				now += span + rnd(span);
			}
		}
		tenant_counter_free(c);
	}
}

Test(tenant, table)
{
	static const char *const names[] = { "contoso", "fabrikam",
					     "Contoso", "tailspin" };
	struct tenant_window win = { 1, 2 };
	struct tenant_table *t = NULL;
	const char *dup = NULL;

	cr_assert_eq(tenant_table_new(names, 4, 4, &win, NULL, &t, &dup), 0);
	cr_assert_eq(tenant_table_count(t), 4);
	cr_assert_eq(tenant_table_workers(t), 4);
	cr_assert_eq(tenant_table_window(t)->buckets, 2);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(tenant_table_find(t, names[i], strlen(names[i])),
			     (int)i);
		cr_assert_str_eq(tenant_table_name(t, i), names[i]);
		cr_assert_not_null(tenant_table_counter(t, i));
	}
	cr_assert_eq(tenant_table_find(t, "CONTOSO", 7), -ENOENT);
	cr_assert_eq(tenant_table_find(t, "contos", 6), -ENOENT);
	cr_assert_eq(tenant_table_find(t, "contosoX", 7), 0);	/* by length */
	cr_assert_eq(tenant_table_find(t, "", 0), -ENOENT);
	cr_assert_eq(tenant_table_find(NULL, "contoso", 7), -ENOENT);
	cr_assert_neq(tenant_table_counter(t, 0), tenant_table_counter(t, 2));
	tenant_table_free(t);

	{
		static const char *const twice[] = { "a", "b", "a" };
		static const char *const empty[] = { "a", "" };

		t = NULL;
		cr_assert_eq(tenant_table_new(twice, 3, 1, &win, NULL, &t,
					      &dup), -EEXIST);
		cr_assert_str_eq(dup, "a");
		cr_assert_null(t);
		cr_assert_eq(tenant_table_new(empty, 2, 1, &win, NULL, &t,
					      NULL), -EINVAL);
		cr_assert_eq(tenant_table_new(names, 4, 0, &win, NULL, &t,
					      NULL), -EINVAL);
		cr_assert_eq(tenant_table_new(NULL, 0, 1, &win, NULL, &t,
					      NULL), 0);
		cr_assert_eq(tenant_table_count(t), 0);
		cr_assert_eq(tenant_table_find(t, "a", 1), -ENOENT);
		tenant_table_free(t);
		tenant_table_free(NULL);
	}
}

Test(tenant, reload_keeps_counters)
{
	static const char *const v1[] = { "contoso", "fabrikam" };
	static const char *const v2[] = { "tailspin", "contoso" };
	struct tenant_window win = { 60, 60 }, other = { 60, 30 };
	struct tenant_table *t1, *t2, *t3;
	struct tenant_counter *c;

	cr_assert_eq(tenant_table_new(v1, 2, 2, &win, NULL, &t1, NULL), 0);
	c = tenant_table_counter(t1, 0);
	tenant_count_add(c, 1, 1000, 5);
	cr_assert_eq(tenant_table_new(v2, 2, 2, &win, t1, &t2, NULL), 0);
	/* The same object: an event counted on the old table after the new
	   one was built is not lost. */
	cr_assert_eq(tenant_table_counter(t2, 1), c);
	tenant_count_add(c, 0, 1001, 1);
	cr_assert_eq(tenant_count_sum(tenant_table_counter(t2, 1), 1001), 6);
	cr_assert_eq(tenant_count_sum(tenant_table_counter(t2, 0), 1001), 0);
	/* A different window: fresh counters. */
	cr_assert_eq(tenant_table_new(v2, 2, 2, &other, t2, &t3, NULL), 0);
	cr_assert_neq(tenant_table_counter(t3, 1), c);
	cr_assert_eq(tenant_count_sum(tenant_table_counter(t3, 1), 1001), 0);
	/* Old table freed first: the shared counter survives (ASan would
	   catch a use after free here). */
	tenant_table_free(t1);
	tenant_count_add(tenant_table_counter(t2, 1), 0, 1002, 1);
	cr_assert_eq(tenant_count_sum(tenant_table_counter(t2, 1), 1002), 7);
	tenant_table_free(t3);
	tenant_table_free(t2);
}

/* ---- threads ---------------------------------------------------------- */

enum { WRITERS = 4, ADDS = 1000000, BASE = 100000 };

/* Shared by the writers and the reader. */
struct race {
	struct tenant_counter *c;	/* the counter under test */
	atomic_uint done;		/* writers finished */
	uint64_t reads;			/* sums the reader took */
	bool ok;			/* reader saw only sane sums */
};

struct writer_arg {
	struct race *r;		/* shared state */
	unsigned worker;	/* this writer's shard */
};

/* Events at 1-second steps over 100 s of a 120-bucket window, so none
 * expires while the reader reads at the end of those 100 s. */
static void *
writer(void *p)
{
	struct writer_arg *a = p;

	for (uint32_t i = 0; i < ADDS; i++) {
		uint64_t now = BASE + i / (ADDS / 100);

		tenant_count_add(a->r->c, a->worker, now, 1);
		if (i % 4096 == 0)
			(void)tenant_over_quota(a->r->c, a->worker, now,
						ADDS);
	}
	atomic_fetch_add(&a->r->done, 1);
	return NULL;
}

/* Sums only grow (nothing expires) and never exceed the total. */
static void *
reader(void *p)
{
	struct race *r = p;
	uint64_t last = 0;

	r->ok = true;
	while (atomic_load(&r->done) < WRITERS) {
		uint64_t s = tenant_count_sum(r->c, BASE + 100);

		if (s < last || s > (uint64_t)WRITERS * ADDS)
			r->ok = false;
		last = s;
		r->reads++;
	}
	return NULL;
}

Test(tenant, threads_add_while_reader_sums)
{
	struct race r = { .c = counter(WRITERS, 1, 120) };
	struct writer_arg args[WRITERS];
	pthread_t wt[WRITERS], rt;

	atomic_init(&r.done, 0);
	cr_assert_eq(pthread_create(&rt, NULL, reader, &r), 0);
	for (unsigned i = 0; i < WRITERS; i++) {
		args[i] = (struct writer_arg){ .r = &r, .worker = i };
		cr_assert_eq(pthread_create(&wt[i], NULL, writer, &args[i]), 0);
	}
	for (unsigned i = 0; i < WRITERS; i++)
		pthread_join(wt[i], NULL);
	pthread_join(rt, NULL);
	cr_assert(r.ok, "reader saw a shrinking or impossible sum");
	cr_assert_gt(r.reads, 0);
	cr_assert_eq(tenant_count_sum(r.c, BASE + 100),
		     (uint64_t)WRITERS * ADDS);
	/* 20 s later the first 20 s of events (20 %) have expired. */
	cr_assert_eq(tenant_count_sum(r.c, BASE + 139),
		     (uint64_t)WRITERS * ADDS * 80 / 100);
	tenant_counter_free(r.c);
}

/* ---- a burst against the quota ---------------------------------------- */

enum { BURST_QUOTA = 1000, BURST_ROUNDS = 300, BURST_MAX_THREADS = 8 };

/* Shared by the burst threads and the test. */
struct burst {
	struct tenant_counter *c;	/* this round's counter */
	uint64_t now;			/* this round's clock */
	pthread_barrier_t set, ready, done;	/* round set up by the test,
					   by the threads, round over */
	atomic_uint go;			/* round number + 1 once it may
					   start: the threads spin on it,
					   to start together */
	unsigned rounds;		/* rounds to play */
};

struct burst_arg {
	struct burst *b;	/* shared state */
	unsigned worker;	/* this thread's shard */
};

/* Each round, as the server on an RCPT of an unknown address: check, and
 * count unless over the quota, until over it. */
static void *
burster(void *p)
{
	struct burst_arg *a = p;
	struct burst *b = a->b;

	for (unsigned r = 0; r < b->rounds; r++) {
		pthread_barrier_wait(&b->set);
		/* A worker has usually checked already in this second (the
		   old check's cache was then blind to the others). */
		(void)tenant_over_quota(b->c, a->worker, b->now, BURST_QUOTA);
		pthread_barrier_wait(&b->ready);
		while (atomic_load_explicit(&b->go, memory_order_acquire) != r + 1)
			sched_yield();	/* more threads than cores */
		while (!tenant_over_quota(b->c, a->worker, b->now, BURST_QUOTA))
			tenant_count_add(b->c, a->worker, b->now, 1);
		pthread_barrier_wait(&b->done);
	}
	return NULL;
}

/* Threads race on fresh counters, round after round, each having
 * checked once before the start; the count must reach the quota and pass
 * it by threads - 1 at most.  Half the rounds start with half the quota
 * in the previous bucket. */
static void
burst(unsigned threads)
{
	struct burst b = { .rounds = BURST_ROUNDS };
	struct burst_arg args[BURST_MAX_THREADS];
	pthread_t th[BURST_MAX_THREADS];
	uint64_t worst = 0;

	atomic_init(&b.go, 0);
	cr_assert_eq(pthread_barrier_init(&b.set, NULL, threads + 1), 0);
	cr_assert_eq(pthread_barrier_init(&b.ready, NULL, threads + 1), 0);
	cr_assert_eq(pthread_barrier_init(&b.done, NULL, threads + 1), 0);
	for (unsigned i = 0; i < threads; i++) {
		args[i] = (struct burst_arg){ .b = &b, .worker = i };
		cr_assert_eq(pthread_create(&th[i], NULL, burster, &args[i]),
			     0);
	}
	for (unsigned r = 0; r < BURST_ROUNDS; r++) {
		uint64_t got;

		b.c = counter(threads, 1, 60);
		b.now = 2000000 + r;
		if (r % 2)	/* the previous bucket, last second */
			tenant_count_add(b.c, r % threads, b.now - 1,
					 BURST_QUOTA / 2);
		pthread_barrier_wait(&b.set);
		pthread_barrier_wait(&b.ready);
		atomic_store_explicit(&b.go, r + 1, memory_order_release);
		pthread_barrier_wait(&b.done);
		got = tenant_count_sum(b.c, b.now);
		CHECK(got >= BURST_QUOTA && got <= BURST_QUOTA + threads - 1,
		      "%u threads, round %u: %lu counted for a quota of %d",
		      threads, r, (unsigned long)got, BURST_QUOTA);
		if (got - BURST_QUOTA > worst)
			worst = got - BURST_QUOTA;
		tenant_counter_free(b.c);
	}
	for (unsigned i = 0; i < threads; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&b.set);
	pthread_barrier_destroy(&b.ready);
	pthread_barrier_destroy(&b.done);
	cr_log_info("%u threads: at most %lu over the quota in %d rounds",
		    threads, (unsigned long)worst, BURST_ROUNDS);
}

Test(tenant, burst_2_threads) { burst(2); }
Test(tenant, burst_4_threads) { burst(4); }
Test(tenant, burst_8_threads) { burst(8); }
