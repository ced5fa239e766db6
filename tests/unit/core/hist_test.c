/*
 * hist: a value lands in the first bucket whose bound is at least it,
 * the bounds themselves included, and above the last one in +Inf.
 */
#include <criterion/criterion.h>

#include "core/hist.h"

Test(hist, bounds_are_ascending)
{
	for (size_t i = 1; i < HIST_ATTEMPT_N; i++)
		cr_expect_gt(hist_attempt_ms[i], hist_attempt_ms[i - 1]);
	for (size_t i = 1; i < HIST_QUEUE_N; i++)
		cr_expect_gt(hist_queue_s[i], hist_queue_s[i - 1]);
}

Test(hist, buckets)
{
	static const struct {
		uint64_t v;
		size_t bucket;
	} cases[] = {
		{ 0, 0 }, { 1, 0 }, { 5, 0 }, { 6, 1 }, { 10, 1 }, { 11, 2 },
		{ 999, 7 }, { 1000, 7 }, { 1001, 8 }, { 600000, 15 },
		{ 600001, HIST_ATTEMPT_N }, { UINT64_MAX, HIST_ATTEMPT_N },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t counts[HIST_ATTEMPT_N + 1] = { 0 };
		hist_add(counts, hist_attempt_ms, HIST_ATTEMPT_N, cases[i].v);
		for (size_t b = 0; b <= HIST_ATTEMPT_N; b++)
			cr_expect_eq(counts[b], b == cases[i].bucket, "v=%llu bucket %zu",
				     (unsigned long long)cases[i].v, b);
	}
}

Test(hist, queue_day)
{
	uint64_t counts[HIST_QUEUE_N + 1] = { 0 };

	hist_add(counts, hist_queue_s, HIST_QUEUE_N, 86400);
	hist_add(counts, hist_queue_s, HIST_QUEUE_N, 86401);
	cr_expect_eq(counts[12], 1);
	cr_expect_eq(counts[13], 1);
}
