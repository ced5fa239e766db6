/*
 * ctl_select tests: the glob matcher, ages and ids, and the words of show
 * queue and the queue actions into selections (table driven), with hostile
 * input: overlong patterns and names, a pathological glob, bad ages and ids.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/ctl/ctl_select.h"
#include "core/strb.h"

#define NOW 1800000000LL

Test(ctl_select, glob)
{
	static const struct {
		const char *pat, *s;
		bool match;
	} t[] = {
		{ "a@b.test", "a@b.test", true },
		{ "A@B.Test", "a@b.TEST", true },		/* ASCII case ignored */
		{ "a@b.test", "a@b.tes", false },
		{ "a@b.tes", "a@b.test", false },
		{ "*@example.com", "bob@example.com", true },
		{ "*@example.com", "bob@example.com.evil", false },
		{ "*@example.com", "@example.com", true },	/* '*' may be empty */
		{ "*@*.example.com", "x@mail.example.com", true },
		{ "*@*.example.com", "x@example.com", false },
		{ "b?b@x", "bob@x", true },
		{ "b?b@x", "bb@x", false },
		{ "*", "", true },
		{ "", "", true },
		{ "", "a", false },
		{ "?", "", false },
		{ "**a**", "bab", true },
		{ "*a*b*c", "xaxbxc", true },
		{ "*a*b*c", "xaxcxb", false },
		{ "a*", "a", true },
		{ "*aab", "aaaab", true },			/* needs the backtrack */
		{ "*ab*ab", "abxabyab", true },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t steps = 0;
		cr_expect_eq(ctl_glob(t[i].pat, t[i].s, &steps), t[i].match, "'%s' ~ '%s'",
			     t[i].pat, t[i].s);
		cr_expect_gt(steps, 0);
	}
}

/* The worst a pattern can do is bounded by the product of the lengths,
 * and counted: the worker stops a request when its budget is spent. */
Test(ctl_select, glob_cost_is_bounded)
{
	char pat[CTL_PAT_MAX], s[300];
	uint64_t steps = 0;
	size_t np, ns;

	memset(s, 'a', sizeof(s) - 1);
	s[sizeof(s) - 1] = '\0';
	pat[0] = '*';
	memset(pat + 1, 'a', sizeof(pat) - 3);
	pat[sizeof(pat) - 2] = 'b';
	pat[sizeof(pat) - 1] = '\0';
	np = strlen(pat);
	ns = strlen(s);
	cr_expect(!ctl_glob(pat, s, &steps));
	cr_expect_leq(steps, (ns + 1) * (np + 1));
	cr_expect_gt(steps, ns);			/* and it is counted */
	steps = 0;
	for (size_t i = 0; i < np - 1; i++)
		pat[i] = i % 2 ? 'a' : '*';
	cr_expect(!ctl_glob(pat, s, &steps));
	cr_expect_leq(steps, (ns + 1) * (np + 1));
}

Test(ctl_select, ids_and_ages)
{
	uint64_t id;
	int64_t a;

	cr_expect(ctl_sel_parse_id("6B09114E00000001", &id));
	cr_expect_eq(id, 0x6B09114E00000001ULL);
	cr_expect(ctl_sel_parse_id("6b09114e00000001", &id));
	cr_expect(!ctl_sel_parse_id("6B09114E0000000", &id));		/* 15 */
	cr_expect(!ctl_sel_parse_id("6B09114E000000011", &id));	/* 17 */
	cr_expect(!ctl_sel_parse_id("6B09114E0000000G", &id));
	cr_expect(!ctl_sel_parse_id("0000000000000000", &id));
	cr_expect(!ctl_sel_parse_id("+B09114E00000001", &id));

	static const struct {
		const char *s;
		int64_t secs;		/* -1: refused */
	} t[] = {
		{ "90", 90 }, { "90s", 90 }, { "10m", 600 }, { "1h", 3600 },
		{ "2d", 172800 }, { "1w", 604800 }, { "0", 0 }, { "3650d", 3650 * 86400LL },
		{ "", -1 }, { "h", -1 }, { "1x", -1 }, { "1hh", -1 }, { "-1h", -1 },
		{ "1.5h", -1 }, { " 1h", -1 }, { "99999999999999999999", -1 },
		{ "4000d", -1 }, { "600w", -1 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int rc = ctl_sel_parse_age(t[i].s, &a);
		if (t[i].secs < 0) {
			cr_expect_eq(rc, -EINVAL, "'%s' refused", t[i].s);
		} else {
			cr_expect_eq(rc, 0, "'%s' accepted", t[i].s);
			cr_expect_eq(a, t[i].secs, "'%s'", t[i].s);
		}
	}
}

/* Words split on spaces, parsed in mode; "" for none. */
static int
parse(const char *words, enum ctl_sel_mode mode, struct ctl_sel *sel, char *err, size_t n)
{
	static char buf[8192];
	char *argv[64], *save, *tok;
	int argc = 0;

	snprintf(buf, sizeof(buf), "%s", words);
	for (tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save))
		argv[argc++] = tok;
	return ctl_sel_parse(argv, argc, mode, NOW, sel, err, n);
}

Test(ctl_select, words)
{
	static const struct {
		const char *words;
		enum ctl_sel_mode mode;
		const char *want;	/* the selection as text, or the error's start */
		bool ok;
	} t[] = {
		/* today's forms */
		{ "", CTL_SEL_LIST, "", true },
		{ "good", CTL_SEL_LIST, "conn=good", true },
		{ "good 10", CTL_SEL_LIST, "conn=good limit=10", true },
		{ "10", CTL_SEL_LIST, "limit=10", true },
		{ "0", CTL_SEL_LIST, "the limit must be above 0", false },
		{ "good", CTL_SEL_ACT, "conn=good", true },
		{ "6B09114E00000001", CTL_SEL_ACT, "ids=1", true },
		{ "all", CTL_SEL_ACT, "all", true },
		/* filters */
		{ "sender *@example.com", CTL_SEL_ACT, "sender=*@example.com", true },
		{ "sender <a@b.test>", CTL_SEL_ACT, "sender=a@b.test", true },
		{ "sender <>", CTL_SEL_ACT, "sender=", true },
		{ "rcpt <>", CTL_SEL_ACT, "rcpt: expected an address", false },
		{ "rcpt x@y limit 5", CTL_SEL_LIST, "rcpt=x@y limit=5", true },
		{ "limit 5", CTL_SEL_ACT, "two connectors: 'limit' and '5'", false },
		{ "older 1h younger 2d", CTL_SEL_LIST, "before=3600 after=172800", true },
		{ "older 2d younger 1h", CTL_SEL_LIST, "older and younger leave no age", false },
		{ "connector sender", CTL_SEL_LIST, "conn=sender", true },
		{ "good connector bad", CTL_SEL_ACT, "two connectors", false },
		{ "good sender a@b older 10m", CTL_SEL_ACT,
		  "conn=good sender=a@b before=600", true },
		{ "6B09114E00000001 6B09114E00000002 good", CTL_SEL_ACT, "conn=good ids=2", true },
		/* hostile and wrong */
		{ "sender", CTL_SEL_ACT, "sender: expected a value after it", false },
		{ "sender a sender b", CTL_SEL_ACT, "sender given twice", false },
		{ "older soon", CTL_SEL_LIST, "older: expected an age like", false },
		{ "younger -5m", CTL_SEL_LIST, "younger: expected an age", false },
		{ "limit x", CTL_SEL_LIST, "limit: expected a number above 0", false },
		{ "limit 0", CTL_SEL_LIST, "limit: expected a number above 0", false },
		{ "all good", CTL_SEL_ACT, "'all' is the whole queue", false },
		{ "all sender x@y", CTL_SEL_ACT, "'all' is the whole queue", false },
		{ "6B09114E0000000Z", CTL_SEL_ACT, "conn=6B09114E0000000Z", true },
		{ "a b", CTL_SEL_ACT, "two connectors", false },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct ctl_sel sel;
		char err[256];
		int rc = parse(t[i].words, t[i].mode, &sel, err, sizeof(err));

		if (!t[i].ok) {
			cr_expect_eq(rc, -EINVAL, "'%s' refused", t[i].words);
			cr_expect(strncmp(err, t[i].want, strlen(t[i].want)) == 0,
				  "'%s': error '%s', want '%s...'", t[i].words, err, t[i].want);
			continue;
		}
		cr_expect_eq(rc, 0, "'%s': %s", t[i].words, err);
		if (rc != 0)
			continue;
		STRB_LOCAL(sb, 1024);
		if (sel.all)
			strb_puts(&sb, " all");
		if (sel.connector[0])
			strb_printf(&sb, " conn=%s", sel.connector);
		if (sel.has_sender)
			strb_printf(&sb, " sender=%s", sel.sender);
		if (sel.has_rcpt)
			strb_printf(&sb, " rcpt=%s", sel.rcpt);
		if (sel.limit)
			strb_printf(&sb, " limit=%llu", (unsigned long long)sel.limit);
		if (sel.arrived_before)
			strb_printf(&sb, " before=%lld", (long long)(NOW - sel.arrived_before));
		if (sel.arrived_after)
			strb_printf(&sb, " after=%lld", (long long)(NOW - sel.arrived_after));
		if (sel.nids)
			strb_printf(&sb, " ids=%u", sel.nids);
		const char *got = sb.len ? sb.p + 1 : "";
		cr_expect_str_eq(got, t[i].want, "'%s'", t[i].words);
		/* a limit alone selects nothing */
		cr_expect_eq(ctl_sel_empty(&sel), got[0] == '\0' ||
			     (strncmp(got, "limit=", 6) == 0 && !strchr(got, ' ')),
			     "'%s' empty", t[i].words);
	}
}

Test(ctl_select, overlong_words)
{
	char words[4096], err[256];
	struct ctl_sel sel;

	snprintf(words, sizeof(words), "sender %0300d", 7);
	cr_expect_eq(parse(words, CTL_SEL_ACT, &sel, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "sender: a pattern of at most 255 bytes, got 300");
	snprintf(words, sizeof(words), "rcpt <%0255d>", 7);	/* 255 inside < > */
	cr_expect_eq(parse(words, CTL_SEL_ACT, &sel, err, sizeof(err)), 0);
	cr_expect_eq(strlen(sel.rcpt), 255);
	snprintf(words, sizeof(words), "%0200d", 1);
	words[0] = 'x';
	cr_expect_eq(parse(words, CTL_SEL_ACT, &sel, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "names are at most 127 bytes") != NULL, "%s", err);
	/* 17 ids: one too many for a line */
	struct strb ids;
	strb_init(&ids, words, sizeof(words));
	for (int i = 0; i < 17; i++)
		strb_printf(&ids, "%s6B09114E%08X", i ? " " : "", i + 1);
	cr_expect_eq(parse(words, CTL_SEL_ACT, &sel, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "more than 16 queue ids") != NULL, "%s", err);
	/* a tiny error buffer is cut, still terminated */
	char small[8];
	cr_expect_eq(parse("older nope", CTL_SEL_LIST, &sel, small, sizeof(small)), -EINVAL);
	cr_expect_eq(strlen(small), 7);
}

Test(ctl_select, matching)
{
	struct ctl_sel sel;
	char err[256];
	uint64_t steps = 0;

	cr_assert_eq(parse("sender *@spam.test older 1h", CTL_SEL_ACT, &sel, err,
			   sizeof(err)), 0);
	cr_expect(ctl_sel_msg(&sel, "x@SPAM.test", NOW - 3600, &steps));
	cr_expect(!ctl_sel_msg(&sel, "x@spam.test", NOW - 3599, &steps));	/* too young */
	cr_expect(!ctl_sel_msg(&sel, "x@ham.test", NOW - 7200, &steps));
	cr_expect(!ctl_sel_msg(&sel, "", NOW - 7200, &steps));			/* <> */
	cr_expect(ctl_sel_rcpt(&sel, "anyone@any.test", &steps));		/* no rcpt filter */
	cr_assert_eq(parse("sender <> younger 10m", CTL_SEL_ACT, &sel, err, sizeof(err)), 0);
	cr_expect(ctl_sel_msg(&sel, "", NOW - 10, &steps));
	cr_expect(!ctl_sel_msg(&sel, "", NOW - 600, &steps));			/* 10m old */
	cr_expect(!ctl_sel_msg(&sel, "a@b", NOW, &steps));
	cr_assert_eq(parse("rcpt *@corp.test", CTL_SEL_ACT, &sel, err, sizeof(err)), 0);
	cr_expect(ctl_sel_msg(&sel, "", 1, &steps));
	cr_expect(ctl_sel_rcpt(&sel, "u@corp.test", &steps));
	cr_expect(!ctl_sel_rcpt(&sel, "u@corp.test.x", &steps));
}
