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

/* "€" is three bytes: a cut inside it drops the whole character. */
Test(strb, cut_keeps_utf8_whole)
{
	struct guarded g = { .guard = 'G' };
	struct strb sb;

	strb_init(&sb, g.a, sizeof(g.a));	/* room for 7 bytes */
	strb_puts(&sb, "ab\xe2\x82\xac\xe2\x82\xac");	/* a b € € = 8 bytes */
	cr_expect(sb.trunc);
	cr_expect_str_eq(g.a, "ab\xe2\x82\xac");
	cr_expect_eq(sb.len, 5);
	strb_reset(&sb);
	strb_printf(&sb, "%s", "abcde\xf0\x9f\x93\xa8");	/* a 4-byte one */
	cr_expect_str_eq(g.a, "abcde");
	strb_reset(&sb);
	strb_printf(&sb, "%s", "abcdef\xc3\xa9");	/* a 2-byte one, cut after its lead */
	cr_expect_str_eq(g.a, "abcdef");
	cr_expect_eq(g.guard, 'G');
}

Test(strb, mark_cut)
{
	struct guarded g = { .guard = 'G' };
	struct strb sb;

	strb_init(&sb, g.a, sizeof(g.a));
	strb_puts(&sb, "abc");
	strb_mark_cut(&sb, "...");		/* nothing cut: no mark */
	cr_expect_str_eq(g.a, "abc");
	strb_reset(&sb);
	strb_puts(&sb, "ab\xe2\x82\xac\xe2\x82\xac");	/* kept: "ab€" */
	strb_mark_cut(&sb, "...");
	cr_expect_str_eq(g.a, "ab...");		/* "ab" + 2 bytes of € + "..." would not do */
	cr_expect(sb.trunc);
	strb_reset(&sb);
	strb_puts(&sb, "0123456789");
	strb_mark_cut(&sb, "...");
	cr_expect_str_eq(g.a, "0123...");
	cr_expect_eq(g.guard, 'G');
}
