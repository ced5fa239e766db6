/*
 * bench_reply tests: how the bench tools read a server's replies.  Each
 * reply goes through smtp_reply_parse() first, as in sluice-bench; the
 * table checks the queue id --ids records, and a pipelined stream of
 * replies is read back whatever byte the recv cut it at.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "bench/bench_reply.h"
#include "net/smtp_proto.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct id_case {
	const char *name;	/* what the case shows */
	const char *reply;	/* the whole reply, line ends included */
	const char *want;	/* the queue id that must come out */
};

static const struct id_case id_cases[] = {
	{ "sluiced", "250 2.0.0 Ok: queued as 0123abcdef\r\n", "0123abcdef" },
	{ "postfix", "250 2.0.0 Ok: queued as 4QxY2z1Jmwz9sT\r\n", "4QxY2z1Jmwz9sT" },
	{ "sluice-sink", "250 2.0.0 Ok: queued as S12\r\n", "S12" },
	{ "any case", "250 Ok: Queued As AbC\r\n", "AbC" },
	{ "spaces around the id", "250 queued as   X1  and more\r\n", "X1" },
	{ "no 'queued as': the last word",
	  "250 2.0.0 Message accepted <m1@host>\r\n", "<m1@host>" },
	{ "trailing spaces before the line end", "250 OK id=1XyZ   \r\n", "id=1XyZ" },
	{ "the code alone", "250\r\n", "250" },
	{ "nothing after 'queued as'", "250 queued as \r\n", "" },
	{ "LF-only line end", "250 ok queued as L7\n", "L7" },
	{ "multi-line: the last line counts",
	  "250-first queued as WRONG\r\n250 2.0.0 queued as RIGHT\r\n", "RIGHT" },
	{ "multi-line without 'queued as'",
	  "250-queued as WRONG\r\n250 accepted 77\r\n", "77" },
};

Test(bench_reply, queue_id)
{
	for (size_t i = 0; i < N(id_cases); i++) {
		const struct id_case *c = &id_cases[i];
		struct smtp_reply r;
		const char *id;
		size_t len;

		cr_assert_gt(smtp_reply_parse(c->reply, strlen(c->reply), &r), 0,
			     "%s: not a reply", c->name);
		bench_reply_queue_id(&r, &id, &len);
		cr_expect(len == strlen(c->want) && memcmp(id, c->want, len) == 0,
			  "%s: got '%.*s', want '%s'", c->name, (int)len, id, c->want);
	}
}

/*
 * What a pipelining sluice-bench session reads after an EHLO and one
 * transaction, cut in two at every byte: the replies come out whole, in
 * order, with their codes, and nothing is read twice or lost (the loop is
 * bs_parse's: parse, consume, keep the rest for the next recv).
 */
Test(bench_reply, pipelined_stream_cut_anywhere)
{
	static const char stream[] =
		"250-sink.test\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n"
		"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as S1\r\n221 2.0.0 Bye\r\n";
	static const int want[] = { 250, 250, 250, 250, 354, 250, 221 };
	const size_t total = sizeof(stream) - 1;

	for (size_t cut = 0; cut <= total; cut++) {
		char in[sizeof(stream)];
		size_t have = 0, fed = 0, got = 0;
		struct smtp_reply r;
		long n;

		while (fed < total || have > 0) {
			/* one "recv": up to the cut, then the rest */
			size_t take = fed < cut ? cut - fed : total - fed;

			memcpy(in + have, stream + fed, take);
			have += take;
			fed += take;
			while ((n = smtp_reply_parse(in, have, &r)) > 0) {
				cr_assert_lt(got, N(want), "cut %zu: a reply too many", cut);
				cr_expect_eq(r.code, want[got], "cut %zu: reply %zu is %d",
					     cut, got, r.code);
				got++;
				memmove(in, in + n, have - (size_t)n);
				have -= (size_t)n;
			}
			cr_assert_eq(n, 0, "cut %zu: malformed", cut);
			if (fed == total)
				break;
		}
		cr_expect_eq(have, 0, "cut %zu: %zu bytes left over", cut, have);
		cr_expect_eq(got, N(want), "cut %zu: %zu replies", cut, got);
	}
}
