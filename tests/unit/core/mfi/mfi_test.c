/*
 * mfi_test — unit tests of core/mfi: every stage against every class of
 * failure (socket errors, EOF, timeouts, replies, DNS and TLS verdicts) with
 * the expected code, permanence and detail line; the texts of every code,
 * and of every enhanced status a destination can reply with, whose fix
 * must name exactly the parties its "who should act" names;
 * enhanced-status parsing; and sanitising of hostile reply text.
 *
 * Pure functions: no ring, no clock.
 */
#include "core/mfi/mfi.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One classified attempt and what must come out of it. */
struct row {
	enum mfi_stage stage;	/* where it failed */
	int err;		/* negative errno or 0 */
	enum mfi_dns dns;	/* resolver verdict */
	int code;		/* reply code */
	const char *text;	/* reply text */
	enum mfi_tls tls;	/* TLS verdict */
	enum mfi_code want;	/* expected classification */
	bool permanent;		/* expected mfi_permanent() */
	const char *detail;	/* exact expected mfi_detail() */
};

#define H	"mx.partner.test"
#define IP	"192.0.2.1"
#define P	H " [" IP "]"

static const struct row rows[] = {
	/* DNS: always 4.4.312, never permanent (even a null MX). */
	{ MFI_STAGE_DNS, 0, MFI_DNS_NXDOMAIN, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: NXDOMAIN" },
	{ MFI_STAGE_DNS, 0, MFI_DNS_SERVFAIL, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: SERVFAIL" },
	{ MFI_STAGE_DNS, -ETIMEDOUT, MFI_DNS_TIMEOUT, 0, NULL, 0, MFI_DNS_FAILED,
	  false, "DNS query for " H " failed: timed out" },
	{ MFI_STAGE_DNS, 0, MFI_DNS_REFUSED, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: REFUSED" },
	{ MFI_STAGE_DNS, 0, MFI_DNS_NODATA, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: no MX or address records (NODATA)" },
	{ MFI_STAGE_DNS, 0, MFI_DNS_NULL_MX, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: null MX: the domain accepts no mail" },
	{ MFI_STAGE_DNS, -ENOMEM, MFI_DNS_OTHER, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: resolver error (Cannot allocate memory)" },
	{ MFI_STAGE_DNS, 0, MFI_DNS_NONE, 0, NULL, 0, MFI_DNS_FAILED, false,
	  "DNS query for " H " failed: unknown error" },
	/* Connect. */
	{ MFI_STAGE_CONNECT, -ECONNREFUSED, 0, 0, NULL, 0, MFI_CONN_REFUSED, false,
	  "connect to " P " refused" },
	{ MFI_STAGE_CONNECT, -ETIMEDOUT, 0, 0, NULL, 0, MFI_CONN_TIMEOUT, false,
	  "connect to " P " timed out" },
	{ MFI_STAGE_CONNECT, -ECANCELED, 0, 0, NULL, 0, MFI_CONN_TIMEOUT, false,
	  "connect to " P " timed out" },
	{ MFI_STAGE_CONNECT, -ETIME, 0, 0, NULL, 0, MFI_CONN_TIMEOUT, false,
	  "connect to " P " timed out" },
	{ MFI_STAGE_CONNECT, -EHOSTUNREACH, 0, 0, NULL, 0, MFI_CONN_TIMEOUT, false,
	  "connect to " P " failed: No route to host" },
	{ MFI_STAGE_CONNECT, -ENETUNREACH, 0, 0, NULL, 0, MFI_CANNOT_CONNECT, false,
	  "connect to " P " failed: Network is unreachable" },
	{ MFI_STAGE_CONNECT, -EADDRNOTAVAIL, 0, 0, NULL, 0, MFI_CANNOT_CONNECT,
	  false, "connect to " P " failed: Cannot assign requested address" },
	{ MFI_STAGE_CONNECT, 0, 0, 0, NULL, 0, MFI_NONE, false, "no failure" },
	/* Banner. */
	{ MFI_STAGE_BANNER, 0, 0, 421, "421 4.3.2 busy", 0, MFI_CANNOT_CONNECT,
	  false, P " answered the banner with 421 4.3.2 busy" },
	{ MFI_STAGE_BANNER, 0, 0, 554, "5.7.1 go away", 0, MFI_CANNOT_CONNECT,
	  false, P " answered the banner with 554 5.7.1 go away" },
	{ MFI_STAGE_BANNER, -ETIMEDOUT, 0, 0, NULL, 0, MFI_CONN_TIMEOUT, false,
	  P " accepted the connection but sent no banner in time" },
	{ MFI_STAGE_BANNER, 0, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed by the server during the banner" },
	{ MFI_STAGE_BANNER, -ECONNRESET, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during the banner: Connection reset by peer" },
	{ MFI_STAGE_BANNER, 0, 0, 220, "220 hello", 0, MFI_NONE, false,
	  "no failure" },
	/* EHLO. */
	{ MFI_STAGE_EHLO, 0, 0, 421, "421 4.7.0 too many connections", 0,
	  MFI_CANNOT_CONNECT, false,
	  P " answered EHLO with 421 4.7.0 too many connections" },
	{ MFI_STAGE_EHLO, 0, 0, 550, "550 5.7.1 no", 0, MFI_CANNOT_CONNECT, false,
	  P " answered EHLO with 550 5.7.1 no" },
	{ MFI_STAGE_EHLO, -EPIPE, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during EHLO: Broken pipe" },
	{ MFI_STAGE_EHLO, 0, 0, 250, "250 ok", MFI_TLS_NOT_OFFERED,
	  MFI_CANNOT_CONNECT, false,
	  "TLS required but " P " does not offer STARTTLS" },
	/* STARTTLS. */
	{ MFI_STAGE_STARTTLS, 0, 0, 454, "454 4.7.0 TLS not available", 0,
	  MFI_CANNOT_CONNECT, false,
	  P " answered STARTTLS with 454 4.7.0 TLS not available" },
	{ MFI_STAGE_STARTTLS, 0, 0, 454, "454 4.7.0 TLS not available",
	  MFI_TLS_REFUSED, MFI_CANNOT_CONNECT, false,
	  "TLS required but " P " answered STARTTLS with 454 4.7.0 TLS not available" },
	{ MFI_STAGE_STARTTLS, -ETIMEDOUT, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " timed out during STARTTLS" },
	/* TLS handshake. */
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_EXPIRED,
	  MFI_CERT_INVALID, false, "certificate of " P " has expired" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_NOT_YET_VALID,
	  MFI_CERT_INVALID, false, "certificate of " P " is not yet valid" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_NAME_MISMATCH,
	  MFI_CERT_INVALID, false,
	  "certificate of " P " does not match the host name" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_UNTRUSTED,
	  MFI_CERT_INVALID, false,
	  "certificate of " P " is not issued by a trusted CA" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_SELF_SIGNED,
	  MFI_CERT_INVALID, false, "certificate of " P " is self-signed" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_REVOKED,
	  MFI_CERT_INVALID, false, "certificate of " P " has been revoked" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, MFI_TLS_HANDSHAKE_FAILED,
	  MFI_CONN_DROPPED, false, "TLS handshake with " P " failed" },
	{ MFI_STAGE_TLS_HANDSHAKE, -ECONNRESET, 0, 0, NULL,
	  MFI_TLS_HANDSHAKE_FAILED, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during the TLS handshake: Connection reset by peer" },
	{ MFI_STAGE_TLS_HANDSHAKE, 0, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed by the server during the TLS handshake" },
	/* MAIL / RCPT / DATA / end of data. */
	{ MFI_STAGE_MAIL, 0, 0, 451, "451 4.3.0 try later", 0, MFI_REMOTE, false,
	  P " said: 451 4.3.0 try later (in reply to MAIL FROM)" },
	{ MFI_STAGE_MAIL, 0, 0, 553, "553 5.1.8 bad sender", 0, MFI_REMOTE, true,
	  P " said: 553 5.1.8 bad sender (in reply to MAIL FROM)" },
	{ MFI_STAGE_RCPT, 0, 0, 550, "550 5.1.1 <x@y>: user unknown", 0,
	  MFI_REMOTE, true,
	  P " said: 550 5.1.1 <x@y>: user unknown (in reply to RCPT TO)" },
	{ MFI_STAGE_RCPT, 0, 0, 450, "4.2.1 mailbox busy", 0, MFI_REMOTE, false,
	  P " said: 450 4.2.1 mailbox busy (in reply to RCPT TO)" },
	{ MFI_STAGE_RCPT, -ECONNRESET, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during RCPT TO: Connection reset by peer" },
	{ MFI_STAGE_RCPT, 0, 0, 250, "250 ok", 0, MFI_NONE, false, "no failure" },
	{ MFI_STAGE_DATA, 0, 0, 554, "554 5.5.1 no valid recipients", 0,
	  MFI_REMOTE, true,
	  P " said: 554 5.5.1 no valid recipients (in reply to DATA)" },
	{ MFI_STAGE_DATA, -ECONNRESET, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during DATA: Connection reset by peer" },
	{ MFI_STAGE_DATA, -EPIPE, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed during DATA: Broken pipe" },
	{ MFI_STAGE_DATA, 0, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " closed by the server during DATA" },
	{ MFI_STAGE_BODY, 0, 0, 552, "552 5.3.4 message too big", 0, MFI_REMOTE,
	  true, P " said: 552 5.3.4 message too big (in reply to end of data)" },
	{ MFI_STAGE_BODY, 0, 0, 421, "421 4.4.2 timeout", 0, MFI_REMOTE, false,
	  P " said: 421 4.4.2 timeout (in reply to end of data)" },
	{ MFI_STAGE_BODY, -ETIMEDOUT, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "connection to " P " timed out during end of data" },
	{ MFI_STAGE_BODY, -EPROTO, 0, 0, NULL, 0, MFI_CONN_DROPPED, false,
	  "malformed reply from " P " during end of data" },
	/* A certificate verdict wins at any stage; a 5xx there is not final. */
	{ MFI_STAGE_RCPT, 0, 0, 550, "550 x", MFI_TLS_EXPIRED, MFI_CERT_INVALID,
	  false, "certificate of " P " has expired" },
	/* Out-of-range stage: nothing to say. */
	{ (enum mfi_stage)99, -EPIPE, 0, 0, NULL, 0, MFI_NONE, false,
	  "no failure" },
};

Test(mfi, classify_table)
{
	size_t n = sizeof(rows) / sizeof(rows[0]);

	cr_assert_geq(n, 30);
	for (size_t i = 0; i < n; i++) {
		const struct row *r = &rows[i];
		struct mfi_attempt a = {
			.stage = r->stage, .err = r->err, .dns_status = r->dns,
			.reply_code = r->code, .reply_text = r->text,
			.tls_reason = r->tls, .host = H, .ip = IP,
		};
		struct buf b = { 0 };
		enum mfi_code c = mfi_classify(&a);

		cr_expect_eq(c, r->want, "row %zu: got %s want %s", i,
			     mfi_name(c), mfi_name(r->want));
		cr_expect_eq(mfi_permanent(&a), r->permanent, "row %zu permanent", i);
		mfi_detail(&a, c, &b);
		buf_append(&b, "", 1);
		cr_expect_str_eq(b.p, r->detail, "row %zu detail", i);
		buf_free(&b);
	}
}

/* The fixed strings of one code. */
struct code_row {
	enum mfi_code c;	/* the code */
	const char *name;	/* mfi_name() */
	const char *status;	/* mfi_status() */
	const char *reply;	/* mfi_reply() */
};

Test(mfi, code_strings)
{
	static const struct code_row cr[] = {
		{ MFI_DNS_FAILED, "dns_failed", "4.4.312", "450 4.4.312 DNS query failed" },
		{ MFI_CONN_TIMEOUT, "conn_timeout", "4.4.315", "450 4.4.315 Connection timed out" },
		{ MFI_CONN_REFUSED, "conn_refused", "4.4.316", "450 4.4.316 Connection refused" },
		{ MFI_CANNOT_CONNECT, "cannot_connect", "4.4.317",
		  "450 4.4.317 Cannot connect to remote server" },
		{ MFI_CONN_DROPPED, "conn_dropped", "4.4.318", "450 4.4.318 Connection dropped" },
		{ MFI_CERT_INVALID, "cert_invalid", "4.7.320",
		  "450 4.7.320 Certificate validation failed" },
		{ MFI_REMOTE, "remote", "", "" },
		{ MFI_NONE, "none", "", "" },
		{ (enum mfi_code)-1, "none", "", "" },
		{ MFI_NCODES, "none", "", "" },
	};

	for (size_t i = 0; i < sizeof(cr) / sizeof(cr[0]); i++) {
		enum mfi_code c = cr[i].c;

		cr_expect_str_eq(mfi_name(c), cr[i].name, "row %zu", i);
		cr_expect_str_eq(mfi_status(c), cr[i].status, "row %zu", i);
		cr_expect_str_eq(mfi_reply(c), cr[i].reply, "row %zu", i);
	}
	for (int c = MFI_DNS_FAILED; c < MFI_NCODES; c++) {
		const char *st = mfi_status(c), *rp = mfi_reply(c);

		cr_expect_gt(strlen(mfi_meaning(c)), 20, "%s meaning", mfi_name(c));
		cr_expect_gt(strlen(mfi_fix(c)), 40, "%s fix", mfi_name(c));
		/* Lowercase key, no spaces. */
		for (const char *p = mfi_name(c); *p; p++)
			cr_expect(islower((unsigned char)*p) || *p == '_');
		if (c == MFI_REMOTE)
			continue;
		/* "4.4.3xx" / "4.7.320" and "450 <status> <Text>". */
		cr_expect(strlen(st) == 7 && st[0] == '4' && st[1] == '.' &&
			  st[3] == '.' && isdigit((unsigned char)st[4]), "%s", st);
		cr_expect(strncmp(rp, "450 ", 4) == 0 && strncmp(rp + 4, st, 7) == 0 &&
			  rp[11] == ' ' && isupper((unsigned char)rp[12]), "%s", rp);
	}
	cr_expect_str_eq(mfi_who(MFI_NONE), "");
	cr_expect_str_eq(mfi_stage_name(MFI_STAGE_RCPT), "rcpt");
	cr_expect_str_eq(mfi_stage_name(MFI_STAGE_TLS_HANDSHAKE), "tls_handshake");
	cr_expect_str_eq(mfi_stage_name((enum mfi_stage)42), "unknown");
}

/* One row of the enhanced-status table. */
struct st_row {
	const char *text;	/* reply text */
	int code;		/* reply code */
	const char *status;	/* mfi_reply_status() */
	bool unknown;		/* mfi_user_unknown() */
};

Test(mfi, reply_status_and_user_unknown)
{
	static const struct st_row sr[] = {
		{ "550 5.1.1 <x@y>: user unknown", 550, "5.1.1", true },
		{ "5.1.1 user unknown", 550, "5.1.1", true },
		{ "550-5.1.1 first line\r\n550 5.1.1 second", 550, "5.1.1", true },
		{ "550 5.1.10 recipient address rejected", 550, "5.1.10", true },
		{ "553 5.1.3 bad syntax", 553, "5.1.3", true },
		{ "550 5.7.1 relaying denied", 550, "5.7.1", false },
		{ "550 user unknown", 550, "5.0.0", false },
		{ "550", 550, "5.0.0", false },
		{ "", 550, "5.0.0", false },
		{ NULL, 550, "5.0.0", false },
		{ "450 4.1.1 try later", 450, "4.1.1", false },
		{ "550 4.1.1 class mismatch", 550, "5.0.0", false },
		{ "550 5.1.1234 too long", 550, "5.0.0", false },
		{ "550 5.1. empty", 550, "5.0.0", false },
		{ "550 5.123.456 ok", 550, "5.123.456", false },
		{ "250 2.1.5 ok", 250, "", false },
		{ "5.1.1 x", 0, "", false },
		{ "5.1.1 x", 700, "", false },
	};
	char out[MFI_STATUS_MAX];

	for (size_t i = 0; i < sizeof(sr) / sizeof(sr[0]); i++) {
		cr_expect_str_eq(mfi_reply_status(sr[i].text, sr[i].code, out),
				 sr[i].status, "row %zu", i);
		cr_expect_eq(mfi_user_unknown(sr[i].text, sr[i].code),
			     sr[i].unknown, "row %zu", i);
	}
}

Test(mfi, detail_peer_forms)
{
	static const struct {
		const char *host, *ip;	/* destination */
		uint16_t port;		/* port */
		const char *want;	/* detail */
	} pr[] = {
		{ NULL, "127.0.0.1", 2526, "connect to 127.0.0.1:2526 timed out" },
		{ NULL, "2001:db8::1", 25, "connect to [2001:db8::1]:25 timed out" },
		{ NULL, "2001:db8::1", 0, "connect to 2001:db8::1 timed out" },
		{ "mx.a.test", NULL, 0, "connect to mx.a.test timed out" },
		{ "mx.a.test", "mx.a.test", 0, "connect to mx.a.test timed out" },
		{ "mx.a.test", "192.0.2.9", 587,
		  "connect to mx.a.test [192.0.2.9]:587 timed out" },
		{ NULL, NULL, 0, "connect to the destination timed out" },
		{ "", "", 25, "connect to the destination port 25 timed out" },
		{ "evil\r\nX-Injected: 1", NULL, 0,
		  "connect to evil??X-Injected: 1 timed out" },
	};

	for (size_t i = 0; i < sizeof(pr) / sizeof(pr[0]); i++) {
		struct mfi_attempt a = {
			.stage = MFI_STAGE_CONNECT, .err = -ETIMEDOUT,
			.host = pr[i].host, .ip = pr[i].ip, .port = pr[i].port,
		};
		struct buf b = { 0 };

		mfi_detail(&a, mfi_classify(&a), &b);
		buf_append(&b, "", 1);
		cr_expect_str_eq(b.p, pr[i].want, "row %zu", i);
		buf_free(&b);
	}
	/* DNS without a name. */
	struct mfi_attempt d = { .stage = MFI_STAGE_DNS, .dns_status = MFI_DNS_SERVFAIL };
	struct buf b = { 0 };
	mfi_detail(&d, mfi_classify(&d), &b);
	buf_append(&b, "", 1);
	cr_expect_str_eq(b.p, "DNS query failed: SERVFAIL");
	buf_free(&b);
}

Test(mfi, detail_sanitises_and_caps_reply)
{
	char big[2000];
	struct buf b = { 0 };
	struct mfi_attempt a = {
		.stage = MFI_STAGE_RCPT, .reply_code = 550,
		.reply_text = "550-5.1.1 first\r\n550 5.1.1 sec\x01ond\tx\x7f\xc3\xa9\r\n",
		.host = H, .ip = IP,
	};

	mfi_detail(&a, mfi_classify(&a), &b);
	buf_append(&b, "", 1);
	cr_expect_str_eq(b.p, P " said: 550-5.1.1 first 550 5.1.1 sec?ond x???"
			 " (in reply to RCPT TO)");
	b.len = 0;

	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "550 5.1.1 ", 10);
	big[500] = '\n';	/* line breaks inside: still one line */
	a.reply_text = big;
	mfi_detail(&a, mfi_classify(&a), &b);
	cr_expect_lt(b.len, 400 + 100, "capped: %zu", b.len);
	cr_expect_gt(b.len, 400);
	cr_expect_null(memchr(b.p, '\r', b.len));
	cr_expect_null(memchr(b.p, '\n', b.len));
	buf_append(&b, "", 1);
	cr_expect_not_null(strstr(b.p, "AAA... (in reply to RCPT TO)"));
	for (size_t i = 0; i + 1 < b.len; i++)
		cr_expect(b.p[i] >= 0x20 && b.p[i] < 0x7f, "byte %zu", i);
	buf_free(&b);

	/* Reply code with no text. */
	struct mfi_attempt n = { .stage = MFI_STAGE_MAIL, .reply_code = 421, .ip = IP };
	mfi_detail(&n, mfi_classify(&n), &b);
	buf_append(&b, "", 1);
	cr_expect_str_eq(b.p, IP " said: 421 (in reply to MAIL FROM)");
	buf_free(&b);
}

/* Random attempts never crash and always give one clean line. */
Test(mfi, random_attempts)
{
	static const int errs[] = { 0, -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET,
				    -EPIPE, -EHOSTUNREACH, -ENETUNREACH, -EPROTO,
				    -ECANCELED, -99999, 12 };
	static const int codes[] = { 0, 220, 250, 354, 421, 450, 550, 554, 999, -5 };
	static const char *const texts[] = { NULL, "", "5.1.1 x", "550 5.1.1 a\r\nb",
					     "\x80\xff\r\r\n\n" };
	unsigned seed = 1;

	for (int i = 0; i < 20000; i++) {
		struct mfi_attempt a = {
			.stage = (enum mfi_stage)(rand_r(&seed) % 12),
			.err = errs[rand_r(&seed) % 11],
			.dns_status = (enum mfi_dns)(rand_r(&seed) % 10),
			.reply_code = codes[rand_r(&seed) % 10],
			.reply_text = texts[rand_r(&seed) % 5],
			.tls_reason = (enum mfi_tls)(rand_r(&seed) % 11),
			.host = rand_r(&seed) % 2 ? H : NULL,
			.ip = rand_r(&seed) % 2 ? "::1" : NULL,
			.port = (uint16_t)(rand_r(&seed) % 2 ? 25 : 0),
		};
		struct buf b = { 0 };
		enum mfi_code c = mfi_classify(&a);

		if ((unsigned)c >= MFI_NCODES)
			cr_assert_fail("code %d", c);
		if (mfi_permanent(&a) && (c != MFI_REMOTE || a.reply_code < 500))
			cr_assert_fail("permanent but %s %d", mfi_name(c), a.reply_code);
		mfi_detail(&a, c, &b);
		if (b.len == 0 || memchr(b.p, '\n', b.len) || memchr(b.p, '\r', b.len))
			cr_assert_fail("bad detail for row %d", i);
		buf_free(&b);
	}
}

/* ---- who should act, against the fix ---------------------------------- */

/* The parties a who names, and the words that name each in a fix. */
static const char *const parties[][2] = {
	{ "sender", "sender" },
	{ "operator", "operator" },
	{ "partner or destination administrator", "destination administrator" },
};
#define NPARTIES	(sizeof(parties) / sizeof(parties[0]))

/*
 * a's who is one or more parties joined with ", or ", and its fix names
 * each of them and no other: a reader told "who should act: sender" finds
 * the sender's part in the fix, and no part for anyone not told to act.
 */
static void
expect_consistent(const char *what, const struct mfi_advice *a)
{
	char who[128];
	size_t n = 0;

	cr_assert(a->meaning != NULL && a->fix != NULL && a->who != NULL, "%s", what);
	cr_expect_gt(strlen(a->meaning), 20, "%s meaning", what);
	cr_expect_gt(strlen(a->fix), 30, "%s fix", what);
	snprintf(who, sizeof(who), "%s", a->who);
	for (char *save = NULL, *p = who; ; p = NULL) {
		char *tok = strtok_r(p, ",", &save);
		bool known = false;

		if (tok == NULL)
			break;
		if (n > 0) {
			cr_expect(strncmp(tok, " or ", 4) == 0, "%s: who '%s'", what, a->who);
			tok += 4;
		}
		for (size_t k = 0; k < NPARTIES; k++)
			known |= strcmp(tok, parties[k][0]) == 0;
		cr_expect(known, "%s: who '%s' has an unknown party '%s'", what, a->who, tok);
		n++;
	}
	cr_expect_gt(n, 0, "%s: no who", what);
	for (size_t k = 0; k < NPARTIES; k++) {
		bool in_who = strstr(a->who, parties[k][0]) != NULL;
		bool in_fix = strstr(a->fix, parties[k][1]) != NULL;

		cr_expect_eq(in_who, in_fix, "%s: the %s is %sin who '%s' but %snamed in the "
			     "fix: %s", what, parties[k][1], in_who ? "" : "not ", a->who,
			     in_fix ? "" : "not ", a->fix);
	}
}

/* One code or status and who must act on it. */
struct who_row {
	enum mfi_code c;	/* the classification */
	const char *status;	/* the reply's status, or NULL */
	const char *who;	/* expected who */
};

#define W_S	"sender"
#define W_O	"operator"
#define W_D	"partner or destination administrator"

Test(mfi, who_matches_fix)
{
	static const struct who_row rows_who[] = {
		/* Sluice's own codes: the cause is on either side. */
		{ MFI_DNS_FAILED, NULL, W_O ", or " W_D },
		{ MFI_CONN_TIMEOUT, NULL, W_O ", or " W_D },
		{ MFI_CONN_REFUSED, NULL, W_O ", or " W_D },	/* fix-now: operator */
		{ MFI_CANNOT_CONNECT, NULL, W_O ", or " W_D },
		{ MFI_CONN_DROPPED, NULL, W_O ", or " W_D },
		{ MFI_CERT_INVALID, NULL, W_O ", or " W_D },
		/* The code wins over a status passed beside it. */
		{ MFI_CONN_REFUSED, "5.1.1", W_O ", or " W_D },
		/* The destination's replies: addresses are the sender's. */
		{ MFI_REMOTE, "5.1.1", W_S },
		{ MFI_REMOTE, "5.1.2", W_S },
		{ MFI_REMOTE, "5.1.3", W_S },
		{ MFI_REMOTE, "5.1.6", W_S },
		{ MFI_REMOTE, "5.1.7", W_S },
		{ MFI_REMOTE, "5.1.8", W_S ", or " W_O },
		{ MFI_REMOTE, "5.1.10", W_S ", or " W_D },
		{ MFI_REMOTE, "5.1.99", W_S },		/* the subject's entry */
		{ MFI_REMOTE, "4.2.2", W_D },
		{ MFI_REMOTE, "5.2.3", W_S ", or " W_D },
		{ MFI_REMOTE, "4.3.1", W_D },
		{ MFI_REMOTE, "5.3.4", W_S ", or " W_D },
		{ MFI_REMOTE, "5.4.4", W_O ", or " W_D },
		{ MFI_REMOTE, "5.4.6", W_O ", or " W_D },
		{ MFI_REMOTE, "4.4.7", W_D },
		{ MFI_REMOTE, "5.5.2", W_O ", or " W_D },
		{ MFI_REMOTE, "5.6.0", W_S ", or " W_D },
		{ MFI_REMOTE, "5.7.1", W_O ", or " W_D },
		{ MFI_REMOTE, "5.7.23", W_O },
		{ MFI_REMOTE, "5.7.27", W_S },
		/* No status, one of no subject, or none parsed: the general
		   text, the destination's. */
		{ MFI_REMOTE, NULL, W_D },
		{ MFI_REMOTE, "5.0.0", W_D },
		{ MFI_REMOTE, "5.9.1", W_D },
		{ MFI_REMOTE, "5.1.1x", W_D },
		/* Sluice's own replies (fix-now, no route): code MFI_NONE. */
		{ MFI_NONE, "5.1.10", W_S ", or " W_D },
		{ MFI_NONE, "5.4.4", W_O ", or " W_D },
	};
	struct mfi_advice a;
	char what[64];

	for (size_t i = 0; i < sizeof(rows_who) / sizeof(rows_who[0]); i++) {
		const struct who_row *r = &rows_who[i];

		snprintf(what, sizeof(what), "%s %s", mfi_name(r->c),
			 r->status ? r->status : "-");
		cr_assert(mfi_advice(r->c, r->status, &a), "%s", what);
		cr_expect_str_eq(a.who, r->who, "%s", what);
		expect_consistent(what, &a);
	}
	/* Every status a destination can send, whatever it is. */
	for (int cls = 4; cls <= 5; cls++)
		for (int subj = 0; subj <= 9; subj++)
			for (int det = 0; det <= 32; det++) {
				char st[MFI_STATUS_MAX];

				snprintf(st, sizeof(st), "%d.%d.%d", cls, subj, det);
				cr_assert(mfi_advice(MFI_REMOTE, st, &a), "%s", st);
				expect_consistent(st, &a);
			}
	/* Nothing to say: no failure, or Sluice's status of no subject. */
	cr_expect_not(mfi_advice(MFI_NONE, NULL, &a));
	cr_expect_null(a.fix);
	cr_expect_not(mfi_advice(MFI_NONE, "5.0.0", &a));
	cr_expect_not(mfi_advice((enum mfi_code)42, NULL, &a));
}

/* 5.1.7 is the sender's own address, never the recipient's. */
Test(mfi, bad_sender_address_is_the_senders)
{
	struct mfi_advice a, rc;

	cr_assert(mfi_advice(MFI_REMOTE, "5.1.7", &a));
	cr_assert(mfi_advice(MFI_REMOTE, "5.1.1", &rc));
	cr_expect_str_eq(a.who, "sender");
	cr_expect_not_null(strstr(a.meaning, "sender's own address"), "%s", a.meaning);
	cr_expect_null(strstr(a.meaning, "recipient's mailbox"), "%s", a.meaning);
	cr_expect_not_null(strstr(a.fix, "The sender corrects the return address"), "%s", a.fix);
	cr_expect_null(strstr(a.fix, "recipient"), "%s", a.fix);
	cr_expect_str_neq(a.meaning, rc.meaning);
	cr_expect_not_null(strstr(rc.meaning, "recipient's mailbox"), "%s", rc.meaning);
	/* its temporary form and 5.1.8 (the sender's domain) too */
	cr_assert(mfi_advice(MFI_REMOTE, "4.1.7", &rc));
	cr_expect_str_eq(rc.meaning, a.meaning);
	cr_assert(mfi_advice(MFI_REMOTE, "5.1.8", &a));
	cr_expect_not_null(strstr(a.meaning, "sender's own address"), "%s", a.meaning);
}

/* mfi_answered: only an SMTP answer makes a remote MTA part of it. */
Test(mfi, answered)
{
	static const struct { struct mfi_attempt a; bool want; } rows_ans[] = {
		{ { .stage = MFI_STAGE_DNS, .dns_status = MFI_DNS_NXDOMAIN }, false },
		{ { .stage = MFI_STAGE_CONNECT, .err = -ECONNREFUSED }, false },
		{ { .stage = MFI_STAGE_CONNECT, .err = -ETIMEDOUT }, false },
		{ { .stage = MFI_STAGE_BANNER, .err = -ETIMEDOUT }, false },
		{ { .stage = MFI_STAGE_BANNER }, false },		/* EOF */
		{ { .stage = MFI_STAGE_BANNER, .reply_code = 421 }, true },
		{ { .stage = MFI_STAGE_EHLO }, true },			/* EOF after 220 */
		{ { .stage = MFI_STAGE_TLS_HANDSHAKE,
		    .tls_reason = MFI_TLS_EXPIRED }, true },
		{ { .stage = MFI_STAGE_RCPT, .reply_code = 550 }, true },
		{ { .stage = MFI_STAGE_BODY, .err = -ECONNRESET }, true },
	};

	for (size_t i = 0; i < sizeof(rows_ans) / sizeof(rows_ans[0]); i++)
		cr_expect_eq(mfi_answered(&rows_ans[i].a), rows_ans[i].want, "row %zu", i);
}
