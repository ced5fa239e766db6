/*
 * ctl_trace_parse tests: the words of "trace" into a filter (table
 * driven), times as ages and as UTC dates, and the refusals: unknown
 * words, a keyword twice or without its value, bad ids, statuses, limits
 * and times, until before since.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/ctl/ctl_trace_parse.h"
#include "core/trace/trace_sql.h"

#define NOW 1800000000LL

/* Split s at spaces into argv (at most 16 words) and parse it. */
static int
parse(const char *s, struct trace_filter *f, char *err, size_t errlen)
{
	static char line[512];
	char *argv[16];
	int argc = 0;

	snprintf(line, sizeof(line), "%s", s);
	for (char *p = strtok(line, " "); p != NULL && argc < 16; p = strtok(NULL, " "))
		argv[argc++] = p;
	return ctl_trace_parse(argv, argc, NOW, f, err, errlen);
}

Test(ctl_trace_parse, good)
{
	struct trace_filter f;
	char err[200];

	cr_assert_eq(parse("", &f, err, sizeof(err)), 0);
	cr_assert(!f.has_sender && !f.has_rcpt && f.id == 0 && f.limit == 0);
	cr_assert_eq(parse("id 6B15B70901000000 limit 20 status expired", &f, err,
			   sizeof(err)), 0, "%s", err);
	cr_assert_eq(f.id, 0x6B15B70901000000ull);
	cr_assert_eq(f.limit, 20);
	cr_assert_eq(f.seen, TRACE_SEEN_EXPIRED);
	cr_assert_eq(parse("sender <> rcpt <Bob@x.test>", &f, err, sizeof(err)), 0);
	cr_assert(f.has_sender && f.sender[0] == '\0');
	cr_assert(f.has_rcpt);
	cr_assert_str_eq(f.rcpt, "Bob@x.test");
	cr_assert_eq(parse("since 2h until 30m", &f, err, sizeof(err)), 0);
	cr_assert_eq(f.since, NOW - 7200);
	cr_assert_eq(f.until, NOW - 1800);
	cr_assert_eq(parse("rcpt 100%_off@* sender x'y", &f, err, sizeof(err)), 0);
	cr_assert_str_eq(f.rcpt, "100%_off@*");
	cr_assert_str_eq(f.sender, "x'y");
}

Test(ctl_trace_parse, times)
{
	static const struct {
		const char *s;
		int64_t t;	/* -1: refused */
	} t[] = {
		{ "2024-05-01", 1714521600 },
		{ "2024-05-01T10:00", 1714557600 },
		{ "2024-05-01T10:00Z", 1714557600 },
		{ "2024-05-01T10:00:30Z", 1714557630 },
		{ "2024-02-29", 1709164800 },
		{ "2023-02-29", -1 },
		{ "2024-13-01", -1 },
		{ "2024-05-01T25:00", -1 },
		{ "2024-05-01 10:00", -1 },
		{ "2024-05-01T10", -1 },
		{ "1969-12-31", -1 },
		{ "90s", NOW - 90 },
		{ "1w", NOW - 7 * 86400 },
		{ "", -1 },
		{ "yesterday", -1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t v = 0;
		int rc = ctl_trace_time(t[i].s, NOW, &v);
		if (t[i].t < 0) {
			cr_assert_eq(rc, -EINVAL, "%s accepted as %lld", t[i].s, (long long)v);
		} else {
			cr_assert_eq(rc, 0, "%s refused", t[i].s);
			cr_assert_eq(v, t[i].t, "%s: %lld", t[i].s, (long long)v);
		}
	}
}

Test(ctl_trace_parse, refused)
{
	static const struct {
		const char *words, *err;
	} t[] = {
		{ "foo", "unknown word 'foo'" },
		{ "foo bar", "unknown word 'foo'" },
		{ "rcpt", "rcpt: expected a value" },
		{ "id 123", "id: expected a queue id" },
		{ "id 0000000000000000", "id: expected a queue id" },
		{ "status lost", "status: expected delivered" },
		{ "limit 0", "limit: expected a number from 1 to 1000" },
		{ "limit 1001", "limit: expected a number" },
		{ "limit -5", "limit: expected a number" },
		{ "limit 99999999999999999999999", "limit: expected a number" },
		{ "since never", "since: expected an age" },
		{ "rcpt a rcpt b", "rcpt given twice" },
		{ "rcpt <>", "rcpt: expected an address" },
		{ "since 1h until 2h", "until is before since" },
	};
	struct trace_filter f;
	char err[200];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(parse(t[i].words, &f, err, sizeof(err)), -EINVAL, "%s", t[i].words);
		cr_assert(strstr(err, t[i].err) != NULL, "%s: '%s'", t[i].words, err);
	}
}
