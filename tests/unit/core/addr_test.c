/*
 * addr_test — unit tests of core/addr: the character classes byte by
 * byte, and tables of local parts and domains with the length each
 * scanner takes and whether it saw 8-bit bytes.  The cases are those the
 * SMTP parser's and the directory's tests had for the syntax they now
 * share (net/smtp_proto_test.c, core/tenant/directory_test.c), plus the
 * edges of each rule.
 */
#include "core/addr.h"

#include <criterion/criterion.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct scan_case {
	const char *s;		/* input */
	size_t n;		/* its length (literals may hold NUL) */
	size_t want;		/* length scanned, 0: bad syntax */
	bool eight;		/* an 8-bit byte was seen */
};

#define S(lit, want, eight) { lit, sizeof(lit) - 1, want, eight }

static void
run(const char *what, size_t (*scan)(const char *, size_t, bool *),
    const struct scan_case *t, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		bool eight = false;
		size_t got = scan(t[i].s, t[i].n, &eight);

		cr_expect_eq(got, t[i].want, "%s case %zu: want %zu, got %zu", what, i,
			     t[i].want, got);
		if (got != 0)
			cr_expect_eq(eight, t[i].eight, "%s case %zu: eight", what, i);
		/* eight may be NULL, with the same answer */
		cr_expect_eq(scan(t[i].s, t[i].n, NULL), got, "%s case %zu: NULL", what, i);
	}
}

Test(addr, classes)
{
	static const char atext_punct[] = "!#$%&'*+-/=?^_`{|}~";

	for (unsigned c = 0; c < 256; c++) {
		bool letdig = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9');
		bool atext = letdig || (c != 0 && strchr(atext_punct, (int)c) != NULL);

		cr_expect_eq(addr_is_let_dig((unsigned char)c), letdig, "let-dig %u", c);
		cr_expect_eq(addr_is_atext((unsigned char)c), atext, "atext %u", c);
	}
}

Test(addr, local_part)
{
	static const struct scan_case t[] = {
		S("a", 1, false),
		S("a.b+c", 5, false),
		S("john.doe", 8, false),
		S("dave+tag", 8, false),
		S("a@b.test", 1, false),		/* stops at the '@' */
		S("al(ice", 2, false),			/* and at any non-atext */
		S("a b", 1, false),
		S("<alice", 0, false),
		S("", 0, false),
		S("@b.test", 0, false),
		S("a..b", 0, false),
		S(".alice", 0, false),
		S("alice.", 0, false),
		S("alice.@b", 0, false),
		S("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 65,
		  false),				/* length is the caller's */
		/* quoted strings */
		S("\"a b\"", 5, false),
		S("\"\"", 2, false),
		S("\"with # hash\"@x", 13, false),
		S("\"a\\\"b\"", 6, false),
		S("\"a\\ b\"", 6, false),
		S("\"x\\yz\"", 6, false),
		S("\"alice@contoso.com", 0, false),	/* no closing quote */
		S("\"a\\", 0, false),
		S("\"al\x01ice\"", 0, false),
		S("\"a\x7f\"", 0, false),
		S("\"a\r\"", 0, false),
		/* quoted-pair: "\\" then printable ASCII only */
		S("\"a\\\x7f\"", 0, false),
		S("\"a\\\xc3\xa9\"", 0, false),
		S("\"\\\xc3\xa9\"", 0, false),
		S("\"a\\\r\"", 0, false),
		S("\"a\\\0\"", 0, false),
		/* 8-bit bytes: taken and reported; well-formed is the caller's */
		S("\xc3\xa9", 2, true),
		S("jos\xc3\xa9", 5, true),
		S("\xf0\x9f\x93\xae", 4, true),
		S("\xc3", 1, true),
		S("\xff", 1, true),
		S("\"\xc3\xa9 x\"", 6, true),
		S("\"\xff\"", 3, true),
		S("a.\xc3\xa9", 4, true),
	};

	run("local", addr_scan_local, t, N(t));
}

Test(addr, dot_string_and_quoted_alone)
{
	bool eight = false;

	cr_expect_eq(addr_scan_dot_string("\"a\"", 3, NULL), 0);
	cr_expect_eq(addr_scan_quoted("a", 1, NULL), 0);
	cr_expect_eq(addr_scan_quoted("", 0, NULL), 0);
	cr_expect_eq(addr_scan_quoted("\"a\"b", 4, &eight), 3);
	cr_expect_not(eight);
}

Test(addr, domain)
{
	static const struct scan_case t[] = {
		S("b.test", 6, false),
		S("sub.b-c.test", 12, false),
		S("contoso.com", 11, false),
		S("b.test>", 6, false),			/* stops at the '>' */
		S("contoso.com#note", 11, false),
		S("b.test x", 6, false),
		S("", 0, false),
		S("b..test", 0, false),
		S("-b.test", 0, false),
		S("contoso-.com", 0, false),
		S(".contoso.com", 0, false),
		S("b.test.", 0, false),
		S("a-", 0, false),
		S("a--b", 4, false),			/* inner hyphens, any number */
		/* labels up to 63 octets */
		S("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.x", 65,
		  false),
		S("bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.x", 0,
		  false),
		/* address literals */
		S("[127.0.0.1]", 11, false),
		S("[192.0.2.1]>", 11, false),
		S("[IPv6:::1]", 10, false),
		S("[12]", 4, false),
		S("[1]", 0, false),			/* two bytes inside at least */
		S("[]", 0, false),
		S("[1.2", 0, false),
		S("[a b]", 0, false),
		S("[a\\b]", 0, false),
		S("[a[b]", 0, false),
		S("[a\x7f]", 0, false),
		S("[\xc3\xa9]", 0, false),
		/* 8-bit bytes in labels */
		S("\xc3\xa9.test", 7, true),
		S("ex\xc3\xa4mple.com", 12, true),
		S("b\xe9.test", 7, true),
	};

	run("domain", addr_scan_domain, t, N(t));
}
