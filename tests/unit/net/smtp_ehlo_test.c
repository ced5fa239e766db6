/*
 * smtp_ehlo tests: the capabilities of real and hostile EHLO replies,
 * table driven.  Each reply goes through smtp_reply_parse() first, as in
 * the client.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "net/smtp_ehlo.h"

struct ehlo_case {
	const char *name;	/* what the case shows */
	const char *reply;	/* the whole reply, CRLF (or LF) endings */
	struct smtp_ehlo want;	/* what must come out */
};

static const struct ehlo_case ehlo_cases[] = {
	{ "postfix",
	  "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n"
	  "250-ETRN\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
	  "250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
	  { .pipelining = true, .chunking = true, .eightbit = true, .smtputf8 = true,
	    .dsn = true, .starttls = true, .size = true, .size_max = 10240000 } },
	{ "exchange: CHUNKING among others",
	  "250-mx.example.net Hello [192.0.2.1]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n"
	  "250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n"
	  "250-BINARYMIME\r\n250-CHUNKING\r\n250 SMTPUTF8\r\n",
	  { .pipelining = true, .chunking = true, .eightbit = true, .smtputf8 = true,
	    .dsn = true, .starttls = true, .size = true, .size_max = 37748736 } },
	{ "CHUNKING without PIPELINING is still read (the client needs both)",
	  "250-mx\r\n250 chunking\r\n", { .chunking = true } },
	{ "postfix with message_size_limit = 0: bare SIZE",
	  "250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE\r\n250 8BITMIME\r\n",
	  { .pipelining = true, .eightbit = true, .size = true } },
	{ "SIZE 0 means no fixed maximum",
	  "250-mx\r\n250 SIZE 0\r\n", { .size = true } },
	{ "no SIZE at all", "250-mx\r\n250 DSN\r\n", { .dsn = true } },
	{ "greeting line only", "250 mx.example.net Hello\r\n", { 0 } },
	{ "the greeting is not a keyword",
	  "250-PIPELINING greets you\r\n250 SIZE 5\r\n", { .size = true, .size_max = 5 } },
	{ "keywords are case-insensitive",
	  "250-mx\r\n250-pipelining\r\n250-Size 42\r\n250 starttls\r\n",
	  { .pipelining = true, .starttls = true, .size = true, .size_max = 42 } },
	{ "whole words only",
	  "250-mx\r\n250-PIPELININGX\r\n250-DSNX\r\n250-SIZEX 5\r\n250-CHUNKINGS\r\n"
	  "250 AUTH=LOGIN\r\n", { 0 } },
	{ "a limit that is not a number is unknown",
	  "250-mx\r\n250 SIZE 10M\r\n", { .size = true } },
	{ "a negative limit is not a number",
	  "250-mx\r\n250 SIZE -1\r\n", { .size = true } },
	{ "trailing blanks after the limit",
	  "250-mx\r\n250 SIZE 1000  \r\n", { .size = true, .size_max = 1000 } },
	{ "largest 64-bit limit",
	  "250-mx\r\n250 SIZE 18446744073709551615\r\n",
	  { .size = true, .size_max = UINT64_MAX } },
	{ "one past it saturates instead of wrapping to 0",
	  "250-mx\r\n250 SIZE 18446744073709551616\r\n",
	  { .size = true, .size_max = UINT64_MAX } },
	{ "far past it saturates instead of wrapping to a small limit",
	  "250-mx\r\n250 SIZE 99999999999999999999999999999\r\n",
	  { .size = true, .size_max = UINT64_MAX } },
	{ "LF-only line ends",
	  "250-mx\n250-PIPELINING\n250 SIZE 7\n",
	  { .pipelining = true, .size = true, .size_max = 7 } },
	{ "short and empty lines",
	  "250-mx\r\n250-\r\n250-D\r\n250 DSN\r\n", { .dsn = true } },
};

Test(smtp_ehlo, table)
{
	for (size_t i = 0; i < sizeof(ehlo_cases) / sizeof(ehlo_cases[0]); i++) {
		const struct ehlo_case *c = &ehlo_cases[i];
		struct smtp_reply r;
		struct smtp_ehlo e;
		long n = smtp_reply_parse(c->reply, strlen(c->reply), &r);

		cr_assert_eq(n, (long)strlen(c->reply), "%s: reply not parsed", c->name);
		memset(&e, 0xa5, sizeof(e));	/* every field must be written */
		smtp_ehlo_parse(&r, &e);
		cr_expect_eq(e.pipelining, c->want.pipelining, "%s: PIPELINING", c->name);
		cr_expect_eq(e.chunking, c->want.chunking, "%s: CHUNKING", c->name);
		cr_expect_eq(e.eightbit, c->want.eightbit, "%s: 8BITMIME", c->name);
		cr_expect_eq(e.smtputf8, c->want.smtputf8, "%s: SMTPUTF8", c->name);
		cr_expect_eq(e.dsn, c->want.dsn, "%s: DSN", c->name);
		cr_expect_eq(e.starttls, c->want.starttls, "%s: STARTTLS", c->name);
		cr_expect_eq(e.size, c->want.size, "%s: SIZE", c->name);
		cr_expect_eq(e.size_max, c->want.size_max, "%s: SIZE limit %llu", c->name,
			     (unsigned long long)e.size_max);
	}
}
