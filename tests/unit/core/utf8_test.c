/*
 * utf8_test — unit tests of core/utf8: Unicode's table 3-7 of well-formed
 * sequences as a table of byte strings (overlongs, surrogates, past
 * U+10FFFF, stray and missing continuation bytes), and the code points
 * utf8_seq decodes.
 */
#include "core/utf8.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>

struct utf8_case {
	const char *s;		/* bytes */
	size_t n;		/* their number */
	bool ok;		/* well-formed */
};

#define U(lit, ok) { lit, sizeof(lit) - 1, ok }

Test(utf8, table)
{
	static const struct utf8_case cases[] = {
		U("", true),
		U("plain ascii", true),
		U("\0", true),
		U("caf\xC3\xA9", true),			/* U+00E9 */
		U("\xE2\x82\xAC", true),			/* U+20AC */
		U("\xF0\x9F\x93\xAE", true),		/* U+1F4EE */
		U("\xF4\x8F\xBF\xBF", true),		/* U+10FFFF */
		U("\xEF\xBF\xBD", true),			/* U+FFFD */
		U("\xED\x9F\xBF", true),			/* U+D7FF */
		U("\xEE\x80\x80", true),			/* U+E000 */
		U("\x80", false),			/* stray continuation */
		U("\xBF", false),
		U("\xC3", false),			/* truncated */
		U("\xE2\x82", false),
		U("\xF0\x9F\x93", false),
		U("\xC0\xAF", false),			/* overlong '/' */
		U("\xC1\xBF", false),
		U("\xE0\x80\xAF", false),		/* overlong 3 bytes */
		U("\xE0\x9F\xBF", false),
		U("\xF0\x80\x80\xAF", false),		/* overlong 4 bytes */
		U("\xF0\x8F\xBF\xBF", false),
		U("\xED\xA0\x80", false),		/* surrogate U+D800 */
		U("\xED\xBF\xBF", false),		/* U+DFFF */
		U("\xF4\x90\x80\x80", false),		/* U+110000 */
		U("\xF5\x80\x80\x80", false),
		U("\xFE", false),
		U("\xFF", false),
		U("\xC3\x28", false),			/* bad continuation */
		U("\xE2\x28\xA1", false),
		U("ok\xC3\xA9then\xA9", false),
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(utf8_valid(cases[i].s, cases[i].n), cases[i].ok,
			     "case %zu", i);
}

Test(utf8, code_points)
{
	uint32_t cp = 0;

	cr_expect_eq(utf8_seq("\xC3\xA9", 2, &cp), 2);
	cr_expect_eq(cp, 0xE9);
	cr_expect_eq(utf8_seq("\xE2\x80\xA8x", 4, &cp), 3);
	cr_expect_eq(cp, 0x2028);
	cr_expect_eq(utf8_seq("\xF4\x8F\xBF\xBF", 4, &cp), 4);
	cr_expect_eq(cp, 0x10FFFF);
	cr_expect_eq(utf8_seq("\xF0\x9F\x93\xAE", 3, &cp), 0, "cut short");
	cr_expect_eq(utf8_seq("a", 0, &cp), 0);
}
