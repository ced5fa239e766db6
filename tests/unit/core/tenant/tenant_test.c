/*
 * tenant_test — unit tests of core/tenant/tenant: buckets expire exactly
 * at the window's edge (table of window shapes), a bucket slot is reused
 * after a full window, shards sum, the cached quota check, the tenant
 * table (lookup, duplicates, counters kept across a reload), and 4 writer
 * threads against a reader summing all along.  The threaded test is also
 * meant to be run built with -fsanitize=thread (outside Criterion, which
 * does not start under TSan).
 */
#include "core/tenant/tenant.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
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
	/* Own event: seen at once through the cache. */
	tenant_count_add(c, 0, 10, 1);
	cr_assert(tenant_over_quota(c, 0, 10, 3));
	cr_assert_not(tenant_over_quota(c, 0, 10, 4));
	/* Another worker's event: seen by worker 0 when `now` changes, by
	   worker 1 (fresh cache) at once. */
	tenant_count_add(c, 1, 10, 1);
	cr_assert_not(tenant_over_quota(c, 0, 10, 4));
	cr_assert(tenant_over_quota(c, 1, 10, 4));
	cr_assert(tenant_over_quota(c, 0, 11, 4));
	/* It clears when the window falls below the quota. */
	cr_assert(tenant_over_quota(c, 0, 11, 4));
	cr_assert_not(tenant_over_quota(c, 0, 12, 4));
	cr_assert_not(tenant_over_quota(c, 1, 12, 1));
	/* Out-of-range worker: full sum, no cache. */
	tenant_count_add(c, 1, 12, 1);
	cr_assert(tenant_over_quota(c, 9, 12, 1));
	tenant_counter_free(c);
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
