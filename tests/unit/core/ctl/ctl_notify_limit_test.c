/*
 * ctl_notify_limit_test — the daily limit of alert notices: N notices per
 * alert per UTC day, then one that says the rest are suppressed, then
 * nothing until midnight UTC; keys counted apart; no limit at 0.
 */
#include "core/ctl/ctl_notify_limit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define DAY	86400
#define T0	(20000 * (int64_t)DAY)		/* a midnight UTC */

/* The verdicts of n takes of key at now, as letters: S(end) L(ast) D(rop). */
static void
takes(struct ctl_nlim *l, const char *key, int64_t now, uint32_t limit, int n, char *out)
{
	static const char c[] = { 'S', 'L', 'D' };

	for (int i = 0; i < n; i++)
		out[i] = c[ctl_nlim_take(l, key, now, limit)];
	out[n] = '\0';
}

Test(ctl_notify_limit, limit_then_one_last_then_nothing)
{
	static const struct { uint32_t limit; const char *want; } t[] = {
		{ 1, "SLDDD" }, { 3, "SSSLD" }, { 0, "SSSSS" }, { 5, "SSSSS" },
	};
	char got[8];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ctl_nlim l = { 0 };
		takes(&l, "queue:partner", T0 + 100, t[i].limit, 5, got);
		cr_expect_str_eq(got, t[i].want, "limit %u", t[i].limit);
		ctl_nlim_fini(&l);
	}
}

Test(ctl_notify_limit, counted_per_key)
{
	struct ctl_nlim l = { 0 };
	char got[8];

	takes(&l, "queue:partner", T0, 1, 2, got);
	cr_expect_str_eq(got, "SL");
	takes(&l, "down:partner", T0, 1, 2, got);	/* another kind, same name */
	cr_expect_str_eq(got, "SL");
	takes(&l, "queue:other", T0, 1, 1, got);
	cr_expect_str_eq(got, "S");
	cr_expect_eq(ctl_nlim_sent(&l, "queue:partner", T0), 1);
	cr_expect_eq(ctl_nlim_sent(&l, "queue:nosuch", T0), 0);
	ctl_nlim_fini(&l);
}

/* The counts start again at midnight UTC, not 24 hours after the first. */
Test(ctl_notify_limit, reset_at_utc_midnight)
{
	struct ctl_nlim l = { 0 };
	char got[8];

	takes(&l, "quota:acme", T0 + DAY - 10, 2, 3, got);	/* 23:59:50 */
	cr_expect_str_eq(got, "SSL");
	takes(&l, "quota:acme", T0 + DAY - 1, 2, 1, got);	/* 23:59:59 */
	cr_expect_str_eq(got, "D");
	cr_expect_eq(ctl_nlim_sent(&l, "quota:acme", T0 + DAY - 1), 2);
	cr_expect_eq(ctl_nlim_sent(&l, "quota:acme", T0 + DAY), 0);
	takes(&l, "quota:acme", T0 + DAY, 2, 3, got);		/* 00:00:00 */
	cr_expect_str_eq(got, "SSL");
	cr_expect_eq(ctl_nlim_day_end(T0 + DAY - 1), T0 + DAY);
	cr_expect_eq(ctl_nlim_day_end(T0 + DAY), T0 + 2 * DAY);
	cr_expect_eq(ctl_nlim_day_end(T0), T0 + DAY);
	ctl_nlim_fini(&l);
}

/* A limit lowered during the day (a reload) applies to what was sent. */
Test(ctl_notify_limit, limit_changed_during_the_day)
{
	struct ctl_nlim l = { 0 };
	char got[8];

	takes(&l, "loop:a.test/x", T0, 5, 3, got);
	cr_expect_str_eq(got, "SSS");
	takes(&l, "loop:a.test/x", T0 + 60, 2, 2, got);
	cr_expect_str_eq(got, "LD");
	ctl_nlim_fini(&l);
}

/* Keys past CTL_NLIM_MAX in one day are dropped, not grown without end;
 * a long key is cut and still counted as one. */
Test(ctl_notify_limit, bounded)
{
	struct ctl_nlim l = { 0 };
	char key[40], longkey[1000];

	for (int i = 0; i < CTL_NLIM_MAX; i++) {
		snprintf(key, sizeof(key), "loop:%d", i);
		cr_assert_eq(ctl_nlim_take(&l, key, T0, 3), CTL_NLIM_SEND);
	}
	cr_expect_eq(ctl_nlim_take(&l, "loop:one-more", T0, 3), CTL_NLIM_DROP);
	cr_expect_eq(ctl_nlim_take(&l, "loop:0", T0, 3), CTL_NLIM_SEND);	/* known */
	cr_expect_eq(ctl_nlim_take(&l, "loop:one-more", T0 + DAY, 3), CTL_NLIM_SEND);
	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	cr_expect_eq(ctl_nlim_take(&l, longkey, T0 + DAY, 1), CTL_NLIM_SEND);
	cr_expect_eq(ctl_nlim_take(&l, longkey, T0 + DAY, 1), CTL_NLIM_LAST);
	cr_expect_eq(ctl_nlim_sent(&l, longkey, T0 + DAY), 1);
	ctl_nlim_fini(&l);
}
