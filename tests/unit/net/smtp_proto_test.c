/*
 * smtp_proto unit tests: command splitting, MAIL/RCPT paths and parameters,
 * and the DATA reader (dot-stuffing, the end marker, smuggling variants,
 * limits), table driven; the delivery side's streaming dot-stuffer against
 * the whole-message one, cut at every place; its BDAT chunks against what
 * DATA delivers, cut at every place.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "net/smtp_proto.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

Test(smtp_proto, cmd_parse)
{
	static const struct {
		const char *line;
		enum smtp_verb verb;
		const char *arg;
	} t[] = {
		{ "EHLO client.test", SMTP_EHLO, "client.test" },
		{ "ehlo   client.test  ", SMTP_EHLO, "client.test" },
		{ "MAIL FROM:<a@b.c>", SMTP_MAIL, "FROM:<a@b.c>" },
		{ "rcpt TO:<a@b.c>", SMTP_RCPT, "TO:<a@b.c>" },
		{ "DATA", SMTP_DATA, "" },
		{ "QUIT", SMTP_QUIT, "" },
		{ "StartTLS", SMTP_STARTTLS, "" },
		{ "EHLOX a", SMTP_UNKNOWN, "a" },
		{ "", SMTP_UNKNOWN, "" },
		{ "GET / HTTP/1.1", SMTP_UNKNOWN, "/ HTTP/1.1" },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct smtp_cmd c;
		smtp_cmd_parse(t[i].line, strlen(t[i].line), &c);
		cr_expect_eq(c.verb, t[i].verb, "verb of '%s'", t[i].line);
		cr_expect_eq(c.arglen, strlen(t[i].arg), "arg of '%s'", t[i].line);
		cr_expect(strncmp(c.arg, t[i].arg, c.arglen) == 0, "arg of '%s'", t[i].line);
	}
}

Test(smtp_proto, mail)
{
	static const struct {
		const char *arg;
		const char *err;	/* NULL: accepted; else reply prefix */
		const char *addr;
	} t[] = {
		{ "FROM:<a@b.test>", NULL, "a@b.test" },
		{ "from: <a@b.test>", NULL, "a@b.test" },
		{ "FROM:<>", NULL, "" },
		{ "FROM:<a.b+c@sub.b-c.test> SIZE=1000 BODY=8BITMIME", NULL, "a.b+c@sub.b-c.test" },
		{ "FROM:<\"a b\"@b.test>", NULL, "\"a b\"@b.test" },
		{ "FROM:<@relay.test:a@b.test>", NULL, "a@b.test" },
		{ "FROM:<a@[127.0.0.1]>", NULL, "a@[127.0.0.1]" },
		{ "FROM:<a@b.test> RET=HDRS ENVID=abc+2Bdef", NULL, "a@b.test" },
		{ "FROM:<a@b.test> AUTH=<>", NULL, "a@b.test" },
		{ "FROM:<\xc3\xa9@b.test> SMTPUTF8", NULL, "\xc3\xa9@b.test" },
		{ "FROM:<\xc3\xa9@b.test>", "553 5.6.7", NULL },
		{ "FROM:a@b.test", "501 5.1.7", NULL },
		{ "FROM:<a@b.test", "501 5.1.7", NULL },
		{ "FROM:<a@>", "501 5.1.7", NULL },
		{ "FROM:<@b.test>", "501 5.1.7", NULL },
		{ "FROM:<a..b@b.test>", "501 5.1.7", NULL },
		{ "FROM:<a@b..test>", "501 5.1.7", NULL },
		{ "FROM:<a@-b.test>", "501 5.1.7", NULL },
		{ "FROM:<a b@b.test>", "501 5.1.7", NULL },
		{ "FROM:<a@b.test>x", "501 5.1.7", NULL },
		{ "TO:<a@b.test>", "501 5.5.4", NULL },
		{ "", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> SIZE=", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> SIZE=12x", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> SIZE=99999999999999999999", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> BODY=BINARYMIME", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> RET=ALL", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> ENVID=a=b", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> ENVID=a+4", "501 5.5.4", NULL },
		{ "FROM:<a@b.test> XFOO=1", "555 5.5.4", NULL },
		{ "FROM:<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.test>",
		  "501 5.1.7", NULL },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct smtp_path p;
		struct smtp_mail_params mp;
		const char *err = smtp_parse_mail(t[i].arg, strlen(t[i].arg), &p, &mp);
		if (t[i].err == NULL) {
			cr_expect_null(err, "'%s' rejected: %s", t[i].arg, err);
			if (err == NULL)
				cr_expect(p.len == strlen(t[i].addr) &&
					  memcmp(p.addr, t[i].addr, p.len) == 0,
					  "address of '%s'", t[i].arg);
		} else {
			cr_expect(err != NULL && strncmp(err, t[i].err, strlen(t[i].err)) == 0,
				  "'%s': want %s, got %s", t[i].arg, t[i].err, err ? err : "ok");
		}
	}
}

Test(smtp_proto, mail_params)
{
	const char *a = "FROM:<a@b.test> SIZE=2048 BODY=8BITMIME RET=FULL ENVID=x1 SMTPUTF8";
	struct smtp_path p;
	struct smtp_mail_params mp;

	cr_assert_null(smtp_parse_mail(a, strlen(a), &p, &mp));
	cr_expect_eq(mp.size, 2048);
	cr_expect_eq(mp.body, ENV_BODY_8BITMIME);
	cr_expect_eq(mp.ret, ENV_RET_FULL);
	cr_expect(mp.smtputf8);
	cr_expect(mp.envidlen == 2 && memcmp(mp.envid, "x1", 2) == 0);
	cr_expect(p.domainlen == 6 && memcmp(p.domain, "b.test", 6) == 0);
}

Test(smtp_proto, rcpt)
{
	static const struct {
		const char *arg;
		const char *err;
		uint8_t notify;
	} t[] = {
		{ "TO:<a@b.test>", NULL, 0 },
		{ "TO:<Postmaster>", NULL, 0 },
		{ "TO:<a@b.test> NOTIFY=SUCCESS,FAILURE", NULL,
		  ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE },
		{ "TO:<a@b.test> NOTIFY=NEVER", NULL, ENV_NOTIFY_NEVER },
		{ "TO:<a@b.test> NOTIFY=delay ORCPT=rfc822;a+40b.test", NULL, ENV_NOTIFY_DELAY },
		{ "TO:<a@b.test> NOTIFY=NEVER,DELAY", "501 5.5.4", 0 },
		{ "TO:<a@b.test> NOTIFY=SOMETIMES", "501 5.5.4", 0 },
		{ "TO:<a@b.test> NOTIFY", "501 5.5.4", 0 },	/* found by fuzz_smtp */
		{ "TO:<a@b.test> NOTIFY=FAILURE,", "501 5.5.4", 0 },
		{ "TO:<a@b.test> ORCPT=a@b.test", "501 5.5.4", 0 },
		{ "TO:<a@b.test> ORCPT=rfc822;", "501 5.5.4", 0 },
		{ "TO:<a@b.test> FOO", "555 5.5.4", 0 },
		{ "TO:<>", "501 5.1.3", 0 },
		{ "TO:<a>", "501 5.1.3", 0 },
		{ "FROM:<a@b.test>", "501 5.5.4", 0 },
		{ "TO:<\xc3\xa9@b.test>", "553 5.6.7", 0 },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct smtp_path p;
		struct smtp_rcpt_params rp;
		const char *err = smtp_parse_rcpt(t[i].arg, strlen(t[i].arg), false, &p, &rp);
		if (t[i].err == NULL) {
			cr_expect_null(err, "'%s' rejected: %s", t[i].arg, err);
			cr_expect_eq(rp.notify, t[i].notify, "notify of '%s'", t[i].arg);
		} else {
			cr_expect(err != NULL && strncmp(err, t[i].err, strlen(t[i].err)) == 0,
				  "'%s': want %s, got %s", t[i].arg, t[i].err, err ? err : "ok");
		}
	}
}

/*
 * Hostile bytes in MAIL and RCPT: nothing with a control byte, DEL, or an
 * 8-bit byte outside a well-formed UTF-8 address under SMTPUTF8 may be
 * accepted, since what is accepted is relayed (a bare CR in ORCPT ended
 * the RCPT line at the next hop and injected a command).
 */
struct hostile_case {
	bool rcpt;		/* RCPT (else MAIL) */
	bool utf8;		/* RCPT: the transaction has SMTPUTF8 */
	const char *arg;	/* command argument */
	size_t len;		/* its length (NULs inside) */
	const char *err;	/* NULL accepted; else reply prefix */
};

#define M(lit, err) { false, false, lit, sizeof(lit) - 1, err }
#define R(utf8, lit, err) { true, utf8, lit, sizeof(lit) - 1, err }

Test(smtp_proto, hostile_bytes)
{
	static const struct hostile_case t[] = {
		/* ORCPT: addr-type is an atom, the value xtext (RFC 3461) */
		R(false, "TO:<u@example.test> ORCPT=rfc822\rQUIT;u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u@example.test\rQUIT", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc\0822;u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822\x7f;u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc\xe9;u@example.test", "501 5.5.4"),
		R(true, "TO:<u@example.test> ORCPT=rfc822;\xc3\xa9@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u\x7f@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=(rfc822);u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc.822;u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=;u@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u+4@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u+4g@example.test", "501 5.5.4"),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u+40example.test", NULL),
		R(false, "TO:<u@example.test> ORCPT=utf-8;u+40example.test", NULL),
		R(false, "TO:<u@example.test> ORCPT=rfc822;u+40example.test+0D+0A", NULL),
		/* any parameter: keyword and value syntax (RFC 5321 4.1.2) */
		R(false, "TO:<u@example.test> NOTIFY=NEVER\x01", "501 5.5.4"),
		R(false, "TO:<u@example.test> NOTIFY=NEVER\r", "501 5.5.4"),
		R(false, "TO:<u@example.test> X\x01=1", "501 5.5.4"),
		R(false, "TO:<u@example.test> =1", "501 5.5.4"),
		R(false, "TO:<u@example.test>\tNOTIFY=NEVER", "501 5.1.3"),
		M("FROM:<a@b.test> ENVID=abc\rQUIT", "501 5.5.4"),
		M("FROM:<a@b.test> ENVID=abc\xff", "501 5.5.4"),
		M("FROM:<a@b.test> AUTH=<>\r", "501 5.5.4"),
		M("FROM:<a@b.test> AUTH=\xff", "501 5.5.4"),
		M("FROM:<a@b.test> AUTH=a=b", "501 5.5.4"),
		M("FROM:<a@b.test> BODY=7BIT\0", "501 5.5.4"),
		M("FROM:<a@b.test> SMTPUTF8\x0b", "501 5.5.4"),
		M("FROM:<a@b.test> X-\x80", "501 5.5.4"),
		/* quoted-pair: "\\" then printable ASCII only */
		R(false, "TO:<\"a\\\x7f\"@example.test>", "501 5.1.3"),
		R(true, "TO:<\"a\\\xc3\xa9\"@example.test>", "501 5.1.3"),
		R(false, "TO:<\"a\\\r\"@example.test>", "501 5.1.3"),
		R(false, "TO:<\"a\\\0\"@example.test>", "501 5.1.3"),
		R(false, "TO:<\"a\\\"b\"@example.test>", NULL),
		R(false, "TO:<\"a\\ b\"@example.test>", NULL),
		M("FROM:<\"a\\\x7f\"@b.test>", "501 5.1.7"),
		M("FROM:<\"\\\xc3\xa9\"@b.test> SMTPUTF8", "501 5.1.7"),
		/* source route: skipped, but no control byte in it either */
		R(false, "TO:<@a\rb:u@example.test>", "501 5.1.3"),
		R(false, "TO:<@relay.test:u@example.test>", NULL),
		/* 8-bit: well-formed UTF-8, and only with SMTPUTF8 */
		R(true, "TO:<\xc3\xa9@\xc3\xa9.test>", NULL),
		R(true, "TO:<\"\xc3\xa9 x\"@b.test>", NULL),
		R(true, "TO:<\xf0\x9f\x93\xae@b.test>", NULL),
		R(false, "TO:<\xc3\xa9@b.test>", "553 5.6.7"),
		R(true, "TO:<\xc3@example.test>", "501 5.1.3"),
		R(true, "TO:<\xc0\xaf@example.test>", "501 5.1.3"),		/* overlong */
		R(true, "TO:<u@\xed\xa0\x80.test>", "501 5.1.3"),		/* surrogate */
		R(true, "TO:<\xf4\x90\x80\x80@x.test>", "501 5.1.3"),	/* > U+10FFFF */
		R(true, "TO:<\"\xff\"@x.test>", "501 5.1.3"),
		R(false, "TO:<\xff@b.test>", "501 5.1.3"),
		M("FROM:<\xc3\xa9@b.test> SMTPUTF8", NULL),
		M("FROM:<\xc3@b.test> SMTPUTF8", "501 5.1.7"),
		M("FROM:<u@b\xe9.test> SMTPUTF8", "501 5.1.7"),
		M("FROM:<\xc3\xa9@b.test>", "553 5.6.7"),
	};

	for (size_t i = 0; i < N(t); i++) {
		struct smtp_path p;
		struct smtp_mail_params mp;
		struct smtp_rcpt_params rp;
		const char *err;

		if (t[i].rcpt)
			err = smtp_parse_rcpt(t[i].arg, t[i].len, t[i].utf8, &p, &rp);
		else
			err = smtp_parse_mail(t[i].arg, t[i].len, &p, &mp);
		if (t[i].err != NULL) {
			cr_expect(err != NULL && strncmp(err, t[i].err, strlen(t[i].err)) == 0,
				  "case %zu: want %s, got %s", i, t[i].err, err ? err : "ok");
			continue;
		}
		cr_expect_null(err, "case %zu rejected: %s", i, err);
		if (err != NULL)
			continue;
		/* what is accepted carries no control byte anywhere */
		for (size_t k = 0; k < p.len; k++)
			cr_expect((unsigned char)p.addr[k] >= 32 && p.addr[k] != 127,
				  "case %zu: control byte in the address", i);
		for (size_t k = 0; t[i].rcpt && k < rp.orcptlen; k++)
			cr_expect((unsigned char)rp.orcpt[k] > 32 &&
				  (unsigned char)rp.orcpt[k] < 127,
				  "case %zu: bad byte in ORCPT", i);
	}
}

/* ---- DATA reader ---------------------------------------------------- */

struct data_case {
	const char *name;
	const char *in;		/* input after the DATA command's 354 */
	const char *body;	/* expected body (when done) */
	bool done;		/* end of data found */
	const char *rest;	/* input left for the next command */
	uint8_t flags;		/* expected SMTP_DATA_* */
};

static const struct data_case data_cases[] = {
	{ "simple", "a\r\nb\r\n.\r\n", "a\r\nb\r\n", true, "", 0 },
	{ "empty", ".\r\n", "", true, "", 0 },
	{ "stuffed", "..x\r\n..\r\n.\r\n", ".x\r\n.\r\n", true, "", 0 },
	{ "pipelined", "a\r\n.\r\nQUIT\r\n", "a\r\n", true, "QUIT\r\n", 0 },
	{ "not yet", "a\r\n.", "a\r\n", false, "", 0 },
	{ "dot in line", "a.b\r\n.\r\n", "a.b\r\n", true, "", 0 },
	/* smuggling: only CRLF.CRLF ends the message */
	{ "LF.LF", "a\n.\nMAIL FROM:<x@y.z>\r\n.\r\n", "a\n.\nMAIL FROM:<x@y.z>\r\n",
	  true, "", SMTP_DATA_BARE_LF },
	{ "CR.CRLF", "a\r.\r\nMAIL FROM:<x@y.z>\r\n.\r\n", "a\r.\r\nMAIL FROM:<x@y.z>\r\n",
	  true, "", SMTP_DATA_BARE_CR },
	{ "LF.CRLF", "a\n.\r\nMAIL FROM:<x@y.z>\r\n.\r\n", "a\n.\r\nMAIL FROM:<x@y.z>\r\n",
	  true, "", SMTP_DATA_BARE_LF },
	{ "CRLF.CR", "a\r\n.\rMAIL FROM:<x@y.z>\r\n.\r\n", "a\r\n\rMAIL FROM:<x@y.z>\r\n",
	  true, "", SMTP_DATA_BARE_CR },
	{ "CRLF.LF", "a\r\n.\nMAIL\r\n.\r\n", "a\r\n\nMAIL\r\n", true, "", SMTP_DATA_BARE_LF },
	{ "bare LF line", "a\nb\r\n.\r\n", "a\nb\r\n", true, "", SMTP_DATA_BARE_LF },
	{ "CRCRLF", "a\r\r\n.\r\n", "a\r\r\n", true, "", SMTP_DATA_BARE_CR },
};

static void
data_check(const struct data_case *c, size_t chunk)
{
	struct smtp_data d;
	struct buf out = { 0 };
	size_t n = strlen(c->in), off = 0;

	smtp_data_init(&d, 1000, 0);
	while (off < n && !d.done) {
		size_t k = chunk && n - off > chunk ? chunk : n - off;
		off += smtp_data_feed(&d, c->in + off, k, &out);
	}
	cr_expect_eq(d.done, c->done, "%s (chunk %zu): done", c->name, chunk);
	cr_expect_eq(d.flags, c->flags, "%s (chunk %zu): flags %x", c->name, chunk, d.flags);
	cr_expect(out.len == strlen(c->body) && (out.len == 0 || memcmp(out.p, c->body, out.len) == 0),
		  "%s (chunk %zu): body '%.*s'", c->name, chunk, (int)out.len, out.p);
	if (c->done)
		cr_expect_str_eq(c->in + off, c->rest, "%s (chunk %zu): rest", c->name, chunk);
	buf_free(&out);
}

Test(smtp_proto, data_reader)
{
	/* whole, byte by byte, and in odd chunks: all must agree */
	for (size_t i = 0; i < N(data_cases); i++) {
		data_check(&data_cases[i], 0);
		data_check(&data_cases[i], 1);
		data_check(&data_cases[i], 3);
	}
}

Test(smtp_proto, data_limits)
{
	struct smtp_data d;
	struct buf out = { 0 };
	char line[2100];

	/* a 1001-byte line (with CRLF) is over the 1000 limit; 1000 is fine */
	memset(line, 'x', 998);
	memcpy(line + 998, "\r\n.\r\n", 6);
	smtp_data_init(&d, 1000, 0);
	smtp_data_feed(&d, line, strlen(line), &out);
	cr_expect(d.done);
	cr_expect_eq(d.flags, 0);
	cr_expect_null(smtp_data_reject(&d));

	memset(line, 'x', 999);
	memcpy(line + 999, "\r\n.\r\n", 6);
	smtp_data_init(&d, 1000, 0);
	out.len = 0;
	smtp_data_feed(&d, line, strlen(line), &out);
	cr_expect(d.done);
	cr_expect_eq(d.flags, SMTP_DATA_LONG_LINE);
	cr_expect_str_eq(smtp_data_reject(&d),
			 "550 5.6.0 Message has a line over the text-line limit "
			 "(RFC 5321 4.5.3.1.6)");

	/* size: body stops growing, reader still finds the end */
	smtp_data_init(&d, 0, 10);
	out.len = 0;
	smtp_data_feed(&d, "0123456789abc\r\n.\r\nNOOP\r\n", 24, &out);
	cr_expect(d.done);
	cr_expect(d.flags & SMTP_DATA_TOO_BIG);
	cr_expect(out.len <= 10);
	cr_expect(strncmp(smtp_data_reject(&d), "552 5.3.4", 9) == 0);
	buf_free(&out);
}

Test(smtp_proto, helo)
{
	cr_expect(smtp_valid_helo("client.test", 11));
	cr_expect(smtp_valid_helo("[127.0.0.1]", 11));
	cr_expect(!smtp_valid_helo("", 0));
	cr_expect(!smtp_valid_helo("a b", 3));
	cr_expect(!smtp_valid_helo("a\x01", 2));
	cr_expect(!smtp_valid_helo("a\x7f", 2));
	cr_expect(!smtp_valid_helo("client\xff.test", 12));		/* not UTF-8 */
	cr_expect(smtp_valid_helo("\xc3\xa9.test", 7));
}

Test(smtp_proto, reply_parse)
{
	static const struct {
		const char *in;
		long ret;	/* bytes, 0 need more, -1 bad */
		int code;
		const char *flat;
	} t[] = {
		{ "250 ok\r\n", 8, 250, "250 ok" },
		{ "250-a\r\n250-b\r\n250 c\r\nNEXT", 21, 250, "250-a / b / c" },
		{ "220\r\n", 5, 220, "220" },
		{ "421 4.3.2 busy\n", 15, 421, "421 4.3.2 busy" },
		{ "250-a\r\n250 b", 0, 0, NULL },
		{ "25", 0, 0, NULL },
		{ "250-a\r\n251 b\r\n", -1, 0, NULL },
		{ "hello\r\n", -1, 0, NULL },
		{ "600 x\r\n", -1, 0, NULL },
		{ "250x\r\n", -1, 0, NULL },
		{ "550 5.1.1 <a\x01>\r\n", 16, 550, "550 5.1.1 <a?>" },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct smtp_reply r;
		char flat[256];
		long got = smtp_reply_parse(t[i].in, strlen(t[i].in), &r);
		cr_expect_eq(got, t[i].ret, "'%s': %ld", t[i].in, got);
		if (got > 0) {
			cr_expect_eq(r.code, t[i].code);
			smtp_reply_flat(&r, flat, sizeof(flat));
			cr_expect_str_eq(flat, t[i].flat);
		}
	}
}

Test(smtp_proto, reply_ext)
{
	const char *ehlo = "250-sink.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
			   "250 STARTTLS\r\n";
	struct smtp_reply r;
	const char *p;
	size_t pl;

	cr_assert_gt(smtp_reply_parse(ehlo, strlen(ehlo), &r), 0);
	cr_expect(smtp_reply_has(&r, "pipelining", NULL, NULL));
	cr_expect(smtp_reply_has(&r, "STARTTLS", NULL, NULL));
	cr_expect(!smtp_reply_has(&r, "SMTPUTF8", NULL, NULL));
	cr_expect(!smtp_reply_has(&r, "PIPE", NULL, NULL));
	cr_expect(smtp_reply_has(&r, "SIZE", &p, &pl));
	cr_expect(pl == 4 && memcmp(p, "1000", 4) == 0);
}

Test(smtp_proto, stuff)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "a\r\nb\r\n", "a\r\nb\r\n.\r\n" },
		{ ".a\r\n..b\r\n.\r\n", "..a\r\n...b\r\n..\r\n.\r\n" },
		{ "no newline", "no newline\r\n.\r\n" },
		{ "", "\r\n.\r\n" },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct buf b = { 0 };
		smtp_stuff(t[i].in, strlen(t[i].in), &b);
		cr_expect(b.len == strlen(t[i].out) && memcmp(b.p, t[i].out, b.len) == 0,
			  "stuff '%s' -> '%.*s'", t[i].in, (int)b.len, b.p);
		buf_free(&b);
	}
}

/* The pieces of a message, written "a|b|c" ('|' cuts; "\|" is not used),
 * dot-stuffed, or as BDAT chunks (bdat). */
static void
stuff_pieces(const char *spec, bool bdat, struct buf *out)
{
	struct smtp_stuffer st;
	const char *p = spec;

	smtp_stuff_init(&st);
	for (;;) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (bdat)
			smtp_bdat_chunk(&st, p, n, bar == NULL, out);
		else
			smtp_stuff_chunk(&st, p, n, out);
		if (bar == NULL)
			break;
		p = bar + 1;
	}
	if (!bdat)
		smtp_stuff_end(&st, out);
}

/* The message a spec describes, cuts removed. */
static size_t
spec_whole(const char *spec, char *out)
{
	size_t n = 0;

	for (; *spec; spec++)
		if (*spec != '|')
			out[n++] = *spec;
	return n;
}

Test(smtp_proto, stuff_chunked)
{
	static const struct {
		const char *pieces, *out;
	} t[] = {
		/* a dot at the start of a piece that starts a line */
		{ "a\r\n|.b\r\n", "a\r\n..b\r\n.\r\n" },
		/* ... and one that does not (the line began in the piece before) */
		{ "a|.b\r\n", "a.b\r\n.\r\n" },
		{ "a\r|.b\r\n", "a\r.b\r\n.\r\n" },
		/* CRLF split across pieces, then a dot */
		{ "a\r|\n.b\r\n", "a\r\n..b\r\n.\r\n" },
		{ "a\r|\n|.|b\r\n", "a\r\n..b\r\n.\r\n" },
		/* the final CRLF split: no extra CRLF */
		{ "a\r|\n", "a\r\n.\r\n" },
		{ "a|\r|\n", "a\r\n.\r\n" },
		/* a dot as the last byte of a piece, its CRLF in the next */
		{ "a\r\n.|\r\n", "a\r\n..\r\n.\r\n" },
		/* lines of only '.', however cut */
		{ ".\r\n.\r\n", "..\r\n..\r\n.\r\n" },
		{ ".|\r\n|.|\r|\n", "..\r\n..\r\n.\r\n" },
		{ ".\r\n|.\r\n|.\r\n", "..\r\n..\r\n..\r\n.\r\n" },
		/* not ending in CRLF */
		{ "abc|d", "abcd\r\n.\r\n" },
		{ "abc|\r", "abc\r\r\n.\r\n" },
		{ "abc\n", "abc\n\r\n.\r\n" },
		{ "a\r\n|b", "a\r\nb\r\n.\r\n" },
		/* a bare LF starts a line too (as smtp_stuff has it) */
		{ "a\n|.b", "a\n..b\r\n.\r\n" },
		/* empty pieces change nothing */
		{ "|a\r\n||.b\r\n|", "a\r\n..b\r\n.\r\n" },
		/* the empty message */
		{ "", "\r\n.\r\n" },
		{ "||", "\r\n.\r\n" },
		/* one byte at a time */
		{ ".|.|\r|\n|x|\r|\n", "...\r\nx\r\n.\r\n" },
		{ "\r|\n", "\r\n.\r\n" },
		{ ".", "..\r\n.\r\n" },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct buf a = { 0 }, b = { 0 };
		char whole[64];
		size_t n = spec_whole(t[i].pieces, whole);

		stuff_pieces(t[i].pieces, false, &a);
		smtp_stuff(whole, n, &b);
		cr_expect(a.len == strlen(t[i].out) && memcmp(a.p, t[i].out, a.len) == 0,
			  "pieces '%s' -> '%.*s'", t[i].pieces, (int)a.len, a.p);
		cr_expect(a.len == b.len && memcmp(a.p, b.p, a.len) == 0,
			  "pieces '%s' differ from smtp_stuff", t[i].pieces);
		buf_free(&a);
		buf_free(&b);
	}
}

/* Messages to cut at every place: dots, CR and LF in every arrangement. */
static const char *const cut_msgs[] = {
	"Subject: x\r\n\r\n.hidden\r\n..two\r\n.\r\nend\r\n",
	".\r\n.\r\n.\r\n",
	".\n.\n.\n.",
	"no line end at all .",
	"\r\n\r\n.\r\n\r\n",
	"a\rb\r.\r\n.\n\r.",
	"\xc3\xa9t\xc3\xa9 8-bit \xff\xfe\r\n.\r\n",
	"",
};

/* Message s of n bytes in three pieces cut at i and j, dot-stuffed or as
 * BDAT chunks (bdat), into out; checks the growth bound of each piece. */
static void
cut_in_three(const char *s, size_t n, size_t i, size_t j, bool bdat, struct buf *out)
{
	struct smtp_stuffer st;
	size_t cut[4] = { 0, i, j, n };

	smtp_stuff_init(&st);
	for (int k = 0; k < 3; k++) {
		size_t before = out->len, len = cut[k + 1] - cut[k];
		if (bdat) {
			smtp_bdat_chunk(&st, s + cut[k], len, k == 2, out);
			cr_expect_leq(out->len - before, len + 32);
		} else {
			smtp_stuff_chunk(&st, s + cut[k], len, out);
			cr_expect_leq(out->len - before, len + len / 2 + 1);
		}
	}
	if (!bdat)
		smtp_stuff_end(&st, out);
}

/* Every way of cutting a message into three pieces gives smtp_stuff's
 * result, and the growth bound holds for each piece. */
Test(smtp_proto, stuff_chunked_every_cut)
{
	for (size_t m = 0; m < N(cut_msgs); m++) {
		const char *s = cut_msgs[m];
		size_t n = strlen(s);
		struct buf want = { 0 };

		smtp_stuff(s, n, &want);
		for (size_t i = 0; i <= n; i++)
			for (size_t j = i; j <= n; j++) {
				struct buf got = { 0 };

				cut_in_three(s, n, i, j, false, &got);
				cr_expect(got.len == want.len && memcmp(got.p, want.p, got.len) == 0,
					  "message %zu cut at %zu, %zu: '%.*s'", m, i, j,
					  (int)got.len, got.p);
				buf_free(&got);
			}
		buf_free(&want);
	}
}

Test(smtp_proto, bdat_chunks)
{
	static const struct {
		const char *pieces, *out;
	} t[] = {
		{ "a\r\n", "BDAT 3 LAST\r\na\r\n" },
		/* no dot-stuffing: dots are data */
		{ ".x\r\n.\r\n", "BDAT 7 LAST\r\n.x\r\n.\r\n" },
		/* a missing final CRLF is added inside the last chunk's count */
		{ "abc|d", "BDAT 3\r\nabcBDAT 3 LAST\r\nd\r\n" },
		{ "abc\n", "BDAT 6 LAST\r\nabc\n\r\n" },
		{ "abc|\r", "BDAT 3\r\nabcBDAT 3 LAST\r\n\r\r\n" },
		/* ... but not when it came split over two chunks */
		{ "a\r|\n", "BDAT 2\r\na\rBDAT 1 LAST\r\n\n" },
		/* the data ran out with a chunk: the last one is empty */
		{ "a\r\n|", "BDAT 3\r\na\r\nBDAT 0 LAST\r\n" },
		{ "a|", "BDAT 1\r\naBDAT 2 LAST\r\n\r\n" },
		/* the empty message is an empty line, as after DATA */
		{ "", "BDAT 2 LAST\r\n\r\n" },
		{ "\r\n", "BDAT 2 LAST\r\n\r\n" },
	};
	for (size_t i = 0; i < N(t); i++) {
		struct buf a = { 0 };

		stuff_pieces(t[i].pieces, true, &a);
		cr_expect(a.len == strlen(t[i].out) && memcmp(a.p, t[i].out, a.len) == 0,
			  "pieces '%s' -> '%.*s'", t[i].pieces, (int)a.len, a.p);
		buf_free(&a);
	}
}

/* Read BDAT chunks as a server does: the payloads into msg; false if the
 * input is not chunks that end with exactly one LAST. */
static bool
bdat_read(const char *p, size_t n, struct buf *msg)
{
	size_t off = 0;

	while (off < n) {
		const char *nl = memchr(p + off, '\n', n - off);
		char line[64], *end;
		unsigned long long size;
		size_t len;
		bool last;

		if (nl == NULL || (len = (size_t)(nl - p - off)) < 7 || len >= sizeof(line) ||
		    p[off + len - 1] != '\r')
			return false;
		memcpy(line, p + off, len - 1);
		line[len - 1] = '\0';
		if (strncmp(line, "BDAT ", 5) != 0)
			return false;
		size = strtoull(line + 5, &end, 10);
		last = strcmp(end, " LAST") == 0;
		if (end == line + 5 || (!last && *end != '\0'))
			return false;
		off += len + 1;
		if (size > n - off)
			return false;
		buf_append(msg, p + off, (size_t)size);
		off += (size_t)size;
		if (last)
			return off == n;
	}
	return false;
}

/* Every way of cutting a message into three chunks delivers what DATA
 * delivers: the message, with a CRLF when it lacked one (for a message of
 * CRLF lines, what a server's DATA reader takes from smtp_stuff's
 * output); and every chunk has the bytes it announces. */
Test(smtp_proto, bdat_every_cut)
{
	for (size_t m = 0; m < N(cut_msgs); m++) {
		const char *s = cut_msgs[m];
		size_t n = strlen(s);
		bool crlf = n >= 2 && s[n - 2] == '\r' && s[n - 1] == '\n';
		struct buf want = { 0 }, stuffed = { 0 }, via_data = { 0 };
		struct smtp_data d;

		buf_append(&want, s, n);
		if (!crlf)
			buf_append(&want, "\r\n", 2);
		smtp_stuff(s, n, &stuffed);
		smtp_data_init(&d, 0, 0);
		smtp_data_feed(&d, stuffed.p, stuffed.len, &via_data);
		if (d.flags == 0)	/* no bare CR or LF: DATA carries it as it is */
			cr_expect(via_data.len == want.len &&
				  memcmp(via_data.p, want.p, want.len) == 0,
				  "message %zu through DATA", m);
		for (size_t i = 0; i <= n; i++)
			for (size_t j = i; j <= n; j++) {
				struct buf wire = { 0 }, got = { 0 };

				cut_in_three(s, n, i, j, true, &wire);
				cr_expect(bdat_read(wire.p, wire.len, &got),
					  "message %zu cut at %zu, %zu: bad chunks '%.*s'", m, i, j,
					  (int)wire.len, wire.p);
				cr_expect(got.len == want.len && memcmp(got.p, want.p, got.len) == 0,
					  "message %zu cut at %zu, %zu: '%.*s'", m, i, j,
					  (int)got.len, got.p);
				buf_free(&wire);
				buf_free(&got);
			}
		buf_free(&want);
		buf_free(&stuffed);
		buf_free(&via_data);
	}
}

/*
 * The DATA reader against a model of the protocol written for clarity, one
 * byte at a time (the reader's fast path takes whole runs of lines with
 * memchr): random bodies from an alphabet heavy in CR, LF and '.', fed in
 * random cuts, must give the same body, flags, size, end and consumed
 * count, with and without limits.
 */
struct model {
	int state;		/* 0 line start, 1 mid, 2 after CR, 3 after BOL dot, 4 dot CR */
	unsigned flags;
	bool done;
	uint64_t linelen, size;
};

static void
model_emit(struct model *m, struct buf *out, uint64_t max_size, const char *p, size_t n)
{
	m->size += n;
	if (m->flags & SMTP_DATA_TOO_BIG)
		return;
	if (max_size && m->size > max_size) {
		m->flags |= SMTP_DATA_TOO_BIG;
		return;
	}
	buf_append(out, p, n);
}

static size_t
model_feed(struct model *m, uint32_t max_line, uint64_t max_size, const char *p,
	   size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (m->state == 0)
			m->linelen = 0;
		if (!(m->state == 4 && c == '\n'))
			m->linelen++;
		if (max_line && m->linelen > max_line)
			m->flags |= SMTP_DATA_LONG_LINE;
		switch (m->state) {
		case 0:
			if (c == '.') {
				m->state = 3;
				continue;
			}
			if (c == '\r') {
				m->state = 2;
				continue;
			}
			break;
		case 2:
			if (c == '\n') {
				model_emit(m, out, max_size, "\r\n", 2);
				m->state = 0;
				continue;
			}
			m->flags |= SMTP_DATA_BARE_CR;
			model_emit(m, out, max_size, "\r", 1);
			if (c == '\r')
				continue;
			break;
		case 3:
			if (c == '\r') {
				m->state = 4;
				continue;
			}
			break;
		case 4:
			if (c == '\n') {
				m->done = true;
				return i + 1;
			}
			m->flags |= SMTP_DATA_BARE_CR;
			model_emit(m, out, max_size, "\r", 1);
			if (c == '\r') {
				m->state = 2;
				continue;
			}
			break;
		default:
			if (c == '\r') {
				m->state = 2;
				continue;
			}
		}
		if (c == '\n')
			m->flags |= SMTP_DATA_BARE_LF;
		model_emit(m, out, max_size, &c, 1);
		m->state = 1;
	}
	return n;
}

Test(smtp_proto, data_reader_model)
{
	static const char alphabet[] = "\r\n.aaaaaaaaaaa \r\n";
	char in[600];
	unsigned seed = 12345;

	for (int round = 0; round < 20000; round++) {
		size_t len = (size_t)(rand_r(&seed) % sizeof in);
		uint32_t max_line = round % 3 == 0 ? 0 : 1 + (uint32_t)(rand_r(&seed) % 80);
		uint64_t max_size = round % 4 == 0 ? 0 : (uint64_t)(rand_r(&seed) % 500);
		struct smtp_data d;
		struct model m = { 0 };
		struct buf got = { 0 }, want = { 0 };
		size_t off_d = 0, off_m = 0;

		for (size_t k = 0; k < len; k++) {
			/* long clean stretches too, where the fast path runs */
			in[k] = round % 2 ? alphabet[rand_r(&seed) % (sizeof alphabet - 1)] :
				(rand_r(&seed) % 16 ? 'x' : alphabet[rand_r(&seed) % 3]);
		}
		smtp_data_init(&d, max_line, max_size);
		while (off_d < len && !d.done) {
			size_t cut = 1 + (size_t)(rand_r(&seed) % 97);
			if (cut > len - off_d)
				cut = len - off_d;
			off_d += smtp_data_feed(&d, in + off_d, cut, &got);
		}
		off_m = model_feed(&m, max_line, max_size, in, len, &want);
		cr_assert_eq(off_d, off_m, "round %d: consumed %zu, model %zu", round, off_d, off_m);
		cr_assert_eq(d.done, m.done, "round %d: end", round);
		cr_assert_eq(d.flags, m.flags, "round %d: flags %x, model %x", round, d.flags, m.flags);
		cr_assert_eq(d.size, m.size, "round %d: size", round);
		/* a body over the limit is refused whole: what was kept of it is no
		   one's (the reader drops the piece that crosses, the model a byte) */
		if (d.flags & SMTP_DATA_TOO_BIG)
			cr_assert_leq(got.len, max_size, "round %d: kept past the limit", round);
		else {
			cr_assert_eq(got.len, want.len, "round %d: body length %zu, model %zu",
				     round, got.len, want.len);
			cr_assert(got.len == 0 || memcmp(got.p, want.p, got.len) == 0,
				  "round %d: body", round);
		}
		buf_free(&got);
		buf_free(&want);
	}
}
