/*
 * smtp_hops tests: the Received: counter, table driven, each message fed
 * whole, cut in two at every offset, and a byte at a time (the count and
 * where the header section ends must not depend on the cuts); and the
 * worker's table of domains refused as loops.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/strb.h"
#include "net/smtp_hops.h"

struct hops_case {
	const char *name;	/* what the case shows */
	const char *msg;	/* the message, as delivered */
	uint32_t count;		/* Received: fields it has */
	bool done;		/* its header section ends in it */
};

static const struct hops_case hops_cases[] = {
	{ "two fields, then the body",
	  "Received: from a by b\r\nReceived: from c by d\r\nSubject: x\r\n\r\nbody\r\n", 2, true },
	{ "folded fields count once; continuations never",
	  "Received: from a\r\n\tby b\r\n (x)\r\nReceived:\r\n  Received: folded\r\n\r\n",
	  2, true },
	{ "the name in any case",
	  "RECEIVED: x\r\nreceived: y\r\nReCeIvEd: z\r\n\r\n", 3, true },
	{ "blanks before the colon (obsolete syntax)",
	  "Received : a\r\nReceived \t : b\r\n\r\n", 2, true },
	{ "other fields that look alike",
	  "Received-SPF: pass\r\nX-Received: y\r\nReceive: z\r\nReceivedX: w\r\n"
	  "Subject: Received: x\r\nReceived\r\nReceived x: y\r\n\r\n", 0, true },
	{ "after the empty line it is body",
	  "Subject: x\r\n\r\nReceived: not a header\r\nReceived: nor this\r\n", 0, true },
	{ "an empty header section",
	  "\r\nReceived: body\r\n", 0, true },
	{ "LF line ends",
	  "Received: a\nReceived: b\n\nReceived: c\n", 2, true },
	{ "a header section that never ends",
	  "Received: a\r\nReceived: b", 2, false },
	{ "a name cut short by the line's end",
	  "Receiv\r\nReceived: a\r\n\r\n", 1, true },
	{ "a CR that is not a line end",
	  "\rReceived: a\r\nReceived: b\r\n\r\n", 1, true },
	{ "an empty message", "", 0, false },
};

static void
feed_cut(const char *msg, size_t len, size_t cut, struct smtp_hops *h)
{
	smtp_hops_init(h);
	smtp_hops_feed(h, msg, cut);
	smtp_hops_feed(h, msg + cut, len - cut);
}

Test(smtp_hops, counts_whatever_the_cuts)
{
	for (size_t i = 0; i < sizeof(hops_cases) / sizeof(hops_cases[0]); i++) {
		const struct hops_case *c = &hops_cases[i];
		size_t len = strlen(c->msg);
		struct smtp_hops h;

		for (size_t cut = 0; cut <= len; cut++) {
			feed_cut(c->msg, len, cut, &h);
			cr_expect_eq(h.count, c->count, "%s: cut at %zu: %u, want %u", c->name,
				     cut, h.count, c->count);
			cr_expect_eq(smtp_hops_done(&h), c->done, "%s: cut at %zu", c->name, cut);
		}
		smtp_hops_init(&h);
		for (size_t k = 0; k < len; k++)
			smtp_hops_feed(&h, c->msg + k, 1);
		cr_expect_eq(h.count, c->count, "%s: a byte at a time", c->name);
		cr_expect_eq(smtp_hops_done(&h), c->done, "%s: a byte at a time", c->name);
	}
}

/* A body as large as anything: nothing after the header section counts,
 * and a message of limit + 1 fields is told apart from one of limit. */
Test(smtp_hops, many_fields_and_a_large_body)
{
	static char msg[1 << 16];
	struct smtp_hops h;
	struct strb sb;

	strb_init(&sb, msg, sizeof(msg));
	for (int i = 0; i < 51; i++)
		strb_printf(&sb, "Received: from hop%d.test by hop%d.test; Thu, 1 Jan 2026\r\n",
			    i, i + 1);
	strb_puts(&sb, "\r\n");
	while (sb.len + 14 < sb.cap)
		strb_puts(&sb, "Received: x\r\n");
	cr_assert(!sb.trunc);
	smtp_hops_init(&h);
	smtp_hops_feed(&h, msg, sb.len);
	cr_expect_eq(h.count, 51);
	cr_expect(smtp_hops_done(&h));
	smtp_hops_feed(&h, "Received: y\r\n", 13);
	cr_expect_eq(h.count, 51, "fed after the end: nothing counts");
}

Test(smtp_loops, a_message_counts_once_per_domain)
{
	static struct smtp_loops t;
	struct smtp_loop out[SMTP_LOOPS_MAX];
	size_t n;

	memset(&t, 0, sizeof(t));
	smtp_loops_note(&t, "Loop.TEST", 9, "hub", 51, 1, 1000);
	smtp_loops_note(&t, "loop.test", 9, "hub", 51, 1, 1000);	/* same message */
	smtp_loops_note(&t, "loop.test", 9, "hub", 60, 2, 1010);
	smtp_loops_note(&t, "other.test", 10, "internet", 52, 2, 1010);
	n = smtp_loops_get(&t, 1020, out, SMTP_LOOPS_MAX);
	cr_assert_eq(n, 2);
	cr_expect_str_eq(out[0].domain, "loop.test");
	cr_expect_str_eq(out[0].connector, "hub");
	cr_expect_eq(out[0].messages, 2);
	cr_expect_eq(out[0].hops, 60);
	cr_expect_eq(out[0].first, 1000);
	cr_expect_eq(out[0].last, 1010);
	cr_expect_str_eq(out[1].domain, "other.test");
	cr_expect_eq(out[1].messages, 1);
}

Test(smtp_loops, full_table_and_window)
{
	static struct smtp_loops t;
	struct smtp_loop out[SMTP_LOOPS_MAX];
	char d[32];
	size_t n;

	memset(&t, 0, sizeof(t));
	for (int i = 0; i < SMTP_LOOPS_MAX; i++) {
		snprintf(d, sizeof(d), "d%d.test", i);
		smtp_loops_note(&t, d, strlen(d), "c", 51, (uint64_t)i + 1, 100 + i);
	}
	/* full: d0, seen longest ago, gives way */
	smtp_loops_note(&t, "new.test", 8, "c", 51, 99, 200);
	n = smtp_loops_get(&t, 200, out, SMTP_LOOPS_MAX);
	cr_assert_eq(n, SMTP_LOOPS_MAX);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_neq(out[i].domain, "d0.test");
	/* a day after d1's loop (at 101) it is forgotten; new.test is not */
	n = smtp_loops_get(&t, 101 + SMTP_LOOP_WINDOW + 1, out, 4);
	cr_expect_eq(n, 4, "copies at most max");
	cr_expect_eq(t.n, SMTP_LOOPS_MAX - 1);
	n = smtp_loops_get(&t, 200 + SMTP_LOOP_WINDOW + 1, out, SMTP_LOOPS_MAX);
	cr_expect_eq(n, 0);
	cr_expect_eq(t.n, 0);
	/* a domain longer than the entry is cut, not overflowed */
	{
		char longd[400];
		memset(longd, 'a', sizeof(longd));
		smtp_loops_note(&t, longd, sizeof(longd), "c", 51, 1, 300);
		n = smtp_loops_get(&t, 300, out, 1);
		cr_assert_eq(n, 1);
		cr_expect_eq(strlen(out[0].domain), sizeof(out[0].domain) - 1);
	}
}
