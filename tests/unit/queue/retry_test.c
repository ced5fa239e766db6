/*
 * retry_test — unit tests of queue/retry: the default schedule without
 * jitter, jitter bounds and spread over many draws, huge attempt numbers,
 * degenerate parameters (initial > max, zeros), and the expiry edge where
 * the last attempt lands exactly on the expiry moment.
 *
 * Pure functions: no ring, no clock.
 */
#include "queue/retry.h"

#include <criterion/criterion.h>
#include <stdint.h>

#include "core/config.h"

/* The defaults every connector starts from. */
#define DEF (&config_connector_default)

/* Fail the test unless cond holds; cheap when it does (hot loops). */
#define CHECK(cond, ...) do { if (!(cond)) cr_assert_fail(__VA_ARGS__); } while (0)

Test(retry, default_schedule_without_jitter)
{
	static const uint32_t want[] = { 60, 120, 240, 480, 900, 900, 900, 900 };

	for (uint32_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		cr_expect_eq(retry_delay(i + 1, DEF->retry_initial,
					 DEF->retry_max, 0, NULL), want[i],
			     "attempt %u", i + 1);
	/* jitter_pct without an rng, or rng with 0 %, is no jitter. */
	cr_expect_eq(retry_delay(3, 60, 900, 10, NULL), 240);
	uint64_t rng = 1;
	cr_expect_eq(retry_delay(3, 60, 900, 0, &rng), 240);
	cr_expect_eq(rng, 1, "no draw without jitter");
	/* attempt 0 counts as the first. */
	cr_expect_eq(retry_delay(0, 60, 900, 0, NULL), 60);
}

/* One row of the degenerate-parameter table. */
struct delay_row {
	uint32_t attempt, initial, max;	/* arguments */
	uint32_t want;			/* expected delay (no jitter) */
};

Test(retry, edges_table)
{
	static const struct delay_row rows[] = {
		{ 1, 1000, 900, 900 },		/* initial > max: clamped */
		{ 5, 1000, 900, 900 },
		{ 1, 0, 900, 1 },		/* never 0 */
		{ 2, 0, 900, 2 },
		{ 1, 0, 0, 1 },
		{ 1, 60, 0, 60 },		/* max 0: no cap */
		{ 33, 1, 0, UINT32_MAX },
		{ 32, 1, 0, UINT32_C(1) << 31 },
		{ 31, 1, UINT32_MAX, UINT32_C(1) << 30 },
		{ 32, 2, UINT32_MAX, UINT32_MAX },	/* 2^32 capped */
		{ 64, 60, 900, 900 },
		{ 65, 60, 900, 900 },		/* shift past 64 bits */
		{ 1000, 60, 900, 900 },
		{ UINT32_MAX, 60, 900, 900 },
		{ UINT32_MAX, UINT32_MAX, UINT32_MAX, UINT32_MAX },
		{ 2, UINT32_MAX, 0, UINT32_MAX },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct delay_row *r = &rows[i];

		cr_expect_eq(retry_delay(r->attempt, r->initial, r->max, 0, NULL),
			     r->want, "row %zu: attempt %u initial %u max %u",
			     i, r->attempt, r->initial, r->max);
	}
}

Test(retry, jitter_bounds_and_spread)
{
	uint64_t rng = 42;
	uint32_t lo = UINT32_MAX, hi = 0;
	unsigned seen[181] = { 0 };

	for (int i = 0; i < 10000; i++) {
		uint32_t d = retry_delay(7, 60, 900, 10, &rng);

		CHECK(d >= 810 && d <= 990, "draw %d: %u outside 900 +- 10 %%", i, d);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		seen[d - 810]++;
	}
	cr_expect_lt(lo, hi, "jitter is constant");
	/* Roughly uniform: both tails reached, no value dominates. */
	cr_expect_leq(lo, 815);
	cr_expect_geq(hi, 985);
	for (int v = 0; v <= 180; v++)
		cr_expect_lt(seen[v], 200, "value %d drawn %u times", v + 810, seen[v]);

	/* Attempt 1 as well: 54..66. */
	for (int i = 0; i < 10000; i++) {
		uint32_t d = retry_delay(1, 60, 900, 10, &rng);

		CHECK(d >= 54 && d <= 66, "draw %d: %u", i, d);
	}
}

Test(retry, jitter_extremes)
{
	uint64_t rng = 0;	/* seed 0 works */

	for (int i = 0; i < 10000; i++) {
		/* 100 % jitter of 1 s: 0 would be drawn, but never 0. */
		uint32_t d = retry_delay(1, 1, 1, 100, &rng);
		CHECK(d >= 1 && d <= 2, "%u", d);
		/* jitter over 100 % is clamped to 100 %. */
		d = retry_delay(1, 100, 100, 500, &rng);
		CHECK(d >= 1 && d <= 200, "%u", d);
		/* the top of the range saturates instead of wrapping. */
		d = retry_delay(UINT32_MAX, UINT32_MAX, UINT32_MAX, 100, &rng);
		CHECK(d >= 1, "%u", d);
		d = retry_delay(40, 60, 0, 50, &rng);
		CHECK(d >= UINT32_MAX / 2, "%u", d);
	}
}

Test(retry, rng_is_deterministic_and_moves)
{
	uint64_t a = 7, b = 7;
	uint64_t x = retry_rng_next(&a);

	cr_expect_eq(x, retry_rng_next(&b));
	cr_expect_neq(retry_rng_next(&a), x);
	uint64_t z = 0;
	cr_expect_neq(retry_rng_next(&z), 0);
}

/* One row of the expiry table. */
struct exp_row {
	int64_t arrival;	/* when the message came in */
	uint32_t expiry;	/* seconds it may stay */
	int64_t now;		/* when the attempt failed */
	uint32_t delay;		/* retry_delay() result */
	bool expired;		/* retry_expired() */
	int64_t next;		/* retry_next_time() */
};

Test(retry, expiry_edges_table)
{
	static const struct exp_row rows[] = {
		{ 1000, 86400, 1000, 60, false, 1060 },
		{ 1000, 86400, 87340, 60, false, 87400 },	/* lands on it */
		{ 1000, 86400, 87341, 60, false, 87400 },	/* clamped */
		{ 1000, 86400, 87000, 900, false, 87400 },	/* clamped */
		{ 1000, 86400, 87399, 900, false, 87400 },
		{ 1000, 86400, 87400, 900, true, -1 },		/* at expiry */
		{ 1000, 86400, 90000, 60, true, -1 },
		{ 1000, 0, 1000, 60, true, -1 },		/* no retries */
		{ 0, 60, 0, 0, false, 0 },
		{ INT64_MAX - 10, 86400, INT64_MAX - 5, 60, false, INT64_MAX },
		{ INT64_MAX, UINT32_MAX, INT64_MAX, 1, true, -1 },
		{ -100, 50, -60, 60, false, -50 },
	};

	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct exp_row *r = &rows[i];

		cr_expect_eq(retry_expired(r->arrival, r->expiry, r->now),
			     r->expired, "row %zu expired", i);
		cr_expect_eq(retry_next_time(r->arrival, r->expiry, r->now,
					     r->delay), r->next,
			     "row %zu next", i);
	}
}

Test(retry, default_run_ends_with_an_attempt_at_expiry)
{
	int64_t arrival = 1700000000, t = arrival;
	uint64_t rng = 99;
	uint32_t attempt = 1;
	int64_t last = 0;

	/* Fail every attempt: the schedule must end exactly at expiry. */
	for (;;) {
		int64_t next;

		if (retry_expired(arrival, DEF->expiry, t))
			break;
		next = retry_next_time(arrival, DEF->expiry, t,
				       retry_delay(attempt, DEF->retry_initial,
						   DEF->retry_max,
						   DEF->retry_jitter, &rng));
		cr_assert_gt(next, t);
		last = t = next;
		attempt++;
	}
	cr_expect_eq(last, arrival + DEF->expiry);
	/* ~24 h at ~15 min: about 100 attempts. */
	cr_expect(attempt > 90 && attempt < 110, "%u attempts", attempt);
}
