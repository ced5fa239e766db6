/*
 * xalloc_test — unit tests of core/xalloc.h: zero sizes still give a
 * pointer, copies are whole and terminated, and xrealloc keeps contents.
 * (Out of memory aborts by design; not exercised here.)
 */
#include "core/xalloc.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

Test(xalloc, zero_sizes_are_not_null)
{
	void *a = xmalloc(0), *b = xcalloc(0, 8), *c = xcalloc(8, 0);
	void *d = xrealloc(NULL, 0);

	cr_expect_not_null(a);
	cr_expect_not_null(b);
	cr_expect_not_null(c);
	cr_expect_not_null(d);
	free(a);
	free(b);
	free(c);
	free(d);
}

Test(xalloc, calloc_zeroes_and_realloc_keeps)
{
	uint32_t *v = xcalloc(64, sizeof(*v));

	for (size_t i = 0; i < 64; i++) {
		cr_assert_eq(v[i], 0);
		v[i] = (uint32_t)i;
	}
	v = xrealloc(v, 4096 * sizeof(*v));
	for (size_t i = 0; i < 64; i++)
		cr_assert_eq(v[i], i);
	free(v);
}

Test(xalloc, string_copies)
{
	char shortstr[16] = "ab";	/* n past the NUL: the copy stops there */
	char *a = xstrdup("relay.example"), *b = xstrndup("relay.example", 5);
	char *c = xstrndup(shortstr, 10);

	cr_expect_str_eq(a, "relay.example");
	cr_expect_str_eq(b, "relay");
	cr_expect_str_eq(c, "ab");
	free(a);
	free(b);
	free(c);
}
