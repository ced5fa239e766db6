/*
 * spool_index unit tests: recovery's table of live messages — add, find,
 * drop, a duplicate refused whether or not its id is the highest so far,
 * the markers refused, order kept, growth over many ids in random order,
 * and add/drop churn that must not grow the table without bound.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>

#include "queue/spool_int.h"

/* An envelope the index may own (only freed by it). */
static struct envelope *
env_new(uint64_t id)
{
	struct envelope *e = calloc(1, sizeof(*e));

	cr_assert_not_null(e);
	e->id = id;
	return e;
}

static int
add(struct spool_index *x, uint64_t id)
{
	struct spool_loc loc = { .seg = 1, .off = id };
	struct envelope *e = env_new(id);
	int rc = spool_index_add(x, id, e, &loc);

	if (rc < 0)
		free(e);
	return rc;
}

TestSuite(spool_index);

Test(spool_index, add_find_drop)
{
	struct spool_index x = { 0 };

	cr_expect_null(spool_index_find(&x, 7));	/* empty: no table yet */
	cr_expect_eq(add(&x, 7), 0);
	cr_expect_eq(add(&x, 9), 0);
	cr_expect_eq(add(&x, 0), -EINVAL);
	cr_expect_eq(add(&x, UINT64_MAX), -EINVAL);
	cr_expect_null(spool_index_find(&x, 0));
	cr_expect_null(spool_index_find(&x, UINT64_MAX));
	struct spool_index_msg *e = spool_index_find(&x, 7);
	cr_assert_not_null(e);
	cr_expect_eq(e->env->id, 7);
	cr_expect_eq(e->loc.off, 7);
	spool_index_drop(&x, e);
	cr_expect_null(spool_index_find(&x, 7));
	cr_expect_not_null(spool_index_find(&x, 9));	/* past the tomb */
	cr_expect_eq(x.live, 1);
	cr_expect_eq(add(&x, 7), 0);	/* a dropped id may come again */
	cr_expect_eq(x.live, 2);
	spool_index_fini(&x);
}

Test(spool_index, duplicates_refused_below_and_at_the_top)
{
	struct spool_index x = { 0 };

	cr_expect_eq(add(&x, 100), 0);
	cr_expect_eq(add(&x, 50), 0);	/* out of order */
	cr_expect_eq(add(&x, 100), -EEXIST);	/* the highest */
	cr_expect_eq(add(&x, 50), -EEXIST);	/* below the highest */
	cr_expect_eq(x.live, 2);
	cr_expect_eq(x.n, 2);
	spool_index_fini(&x);
}

Test(spool_index, many_in_random_order_keep_their_order)
{
	enum { N = 100000 };
	struct spool_index x = { 0 };
	uint64_t *ids = malloc(N * sizeof(*ids));

	cr_assert_not_null(ids);
	srandom(1);
	for (size_t i = 0; i < N; i++) {
		ids[i] = ((uint64_t)random() << 31 | (uint64_t)random()) | 1;
		if (add(&x, ids[i]) < 0)	/* a rare random clash */
			ids[i] = 0;
	}
	for (size_t i = 0; i < N; i += 2)
		if (ids[i] != 0)
			spool_index_drop(&x, spool_index_find(&x, ids[i]));
	size_t k = 0;
	for (size_t i = 0; i < N; i++) {
		if (ids[i] == 0)
			continue;
		struct spool_index_msg *e = spool_index_find(&x, ids[i]);
		if (i % 2 == 0) {
			cr_assert_null(e, "dropped %zu found", i);
		} else {
			cr_assert_not_null(e, "live %zu lost", i);
			cr_assert_eq(e->env->id, ids[i]);
		}
		/* the dense array holds them as added, dropped ones emptied */
		cr_assert_eq(x.m[k].id, ids[i]);
		cr_assert_eq(x.m[k].env == NULL, i % 2 == 0);
		k++;
	}
	cr_expect_eq(x.n, k);
	cr_expect_leq(x.used * 2, x.nslots);
	free(ids);
	spool_index_fini(&x);
}

/* Messages that come and go (MSG then DONE) leave tombs; the table is
 * rebuilt for the live ones, not grown for every id ever seen. */
Test(spool_index, churn_does_not_grow_the_table)
{
	struct spool_index x = { 0 };

	for (uint64_t id = 1; id <= 200000; id++) {
		cr_assert_eq(add(&x, id), 0);
		if (id > 10)
			spool_index_drop(&x, spool_index_find(&x, id - 10));
	}
	cr_expect_eq(x.live, 10);
	cr_expect_leq(x.nslots, 1024);
	cr_expect_leq(x.n, 1024);	/* the array is compacted too */
	for (uint64_t id = 200000 - 9; id <= 200000; id++)
		cr_expect_not_null(spool_index_find(&x, id));
	spool_index_fini(&x);
}
