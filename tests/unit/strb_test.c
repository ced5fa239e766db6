/*
 * strb: termination with nothing appended, exact fits, truncation that
 * never writes past the array, and appends after a cut.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "core/strb.h"

/* A guard byte after the array catches any write past it. */
struct guarded {
	char a[8];
	char guard;
};

Test(strb, empty_is_terminated)
{
	char a[4] = { 'x', 'x', 'x', 'x' };
	struct strb sb;

	strb_init(&sb, a, sizeof(a));
	cr_expect_str_eq(a, "");
	cr_expect_eq(sb.len, 0);
	cr_expect(!sb.trunc);
}

Test(strb, fits_exactly)
{
	struct guarded g = { .guard = 'G' };
	struct strb sb;

	strb_init(&sb, g.a, sizeof(g.a));
	strb_printf(&sb, "%s", "abc");
	strb_puts(&sb, "defg");
	cr_expect_str_eq(g.a, "abcdefg");
	cr_expect_eq(sb.len, 7);
	cr_expect(!sb.trunc);
	cr_expect_eq(g.guard, 'G');
}

Test(strb, truncation_stays_inside)
{
	struct guarded g = { .guard = 'G' };
	struct strb sb;

	strb_init(&sb, g.a, sizeof(g.a));
	/* the idiom this replaces wrapped its size after this first call */
	strb_printf(&sb, "%s", "a-recipient-longer-than-the-array@example.test");
	cr_expect(sb.trunc);
	cr_expect_eq(sb.len, 7);
	strb_printf(&sb, ",%s", "more");
	strb_puts(&sb, "and more");
	strb_putn(&sb, "xyz", 3);
	cr_expect_eq(sb.len, 7);
	cr_expect_str_eq(g.a, "a-recip");
	cr_expect_eq(g.guard, 'G');
}

Test(strb, putn_cuts_and_terminates)
{
	struct guarded g = { .guard = 'G' };
	struct strb sb;

	strb_init(&sb, g.a, sizeof(g.a));
	strb_putn(&sb, "0123456789", 10);
	cr_expect_str_eq(g.a, "0123456");
	cr_expect(sb.trunc);
	strb_reset(&sb);
	cr_expect_str_eq(g.a, "");
	cr_expect(!sb.trunc);
	cr_expect_eq(g.guard, 'G');
}
