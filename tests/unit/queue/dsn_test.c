/*
 * dsn_test — unit tests of queue/dsn: failure and delay reports parsed back
 * structurally (MIME boundary and parts, every RFC 3464 field and its
 * value), what RET returns, CRLF and line-length invariants on hostile
 * originals, header injection through every envelope string, UTF-8
 * addresses and subjects, the subject extractor and the NOTIFY table.
 *
 * The parser here is deliberately independent of dsn.c: it reads the
 * report the way a receiving MUA or bounce processor would.
 */
#include "queue/dsn.h"

#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/envelope.h"

/* A MIME entity: header section and body, pointers into a message. */
struct ent {
	const char *h;		/* header section, with its last CRLF */
	size_t hlen;		/* its length */
	const char *b;		/* body (after the empty line) */
	size_t blen;		/* its length */
};

/* A built report and its parsed structure. */
struct rep {
	struct buf out;		/* dsn_build() output, NUL added */
	unsigned flags;		/* dsn_build() result */
	struct ent top;		/* the whole message */
	char bnd[128];		/* the boundary */
	struct ent part[8];	/* the MIME parts */
	size_t nparts;		/* how many */
	struct ent grp[16];	/* delivery-status groups (0: per message) */
	size_t ngrp;		/* how many */
};

static struct ent
split_entity(const char *p, size_t n)
{
	struct ent e = { p, 0, p, n };
	const char *s;

	if (n >= 2 && p[0] == '\r' && p[1] == '\n') {
		e.b = p + 2;
		e.blen = n - 2;
		return e;
	}
	s = memmem(p, n, "\r\n\r\n", 4);
	if (s == NULL) {
		e.hlen = n;
		e.b = p + n;
		e.blen = 0;
		return e;
	}
	e.hlen = (size_t)(s - p) + 2;
	e.b = s + 4;
	e.blen = n - e.hlen - 2;
	return e;
}

/* The unfolded value of the n-th field called name (malloc'd), or NULL. */
static char *
hdr_nth(const struct ent *e, const char *name, int nth)
{
	size_t nl = strlen(name), i = 0;

	while (i < e->hlen) {
		const char *p = e->h + i;
		const char *eol = memmem(p, e->hlen - i, "\r\n", 2);
		size_t l = eol ? (size_t)(eol - p) : e->hlen - i;

		if (l > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':' &&
		    nth-- == 0) {
			struct buf v = { 0 };
			const char *s = p + nl + 1;

			while (*s == ' ')
				s++;
			buf_append(&v, s, (size_t)(p + l - s));
			i += l + 2;
			while (i < e->hlen && (e->h[i] == ' ' || e->h[i] == '\t')) {
				p = e->h + i;
				eol = memmem(p, e->hlen - i, "\r\n", 2);
				l = eol ? (size_t)(eol - p) : e->hlen - i;
				buf_append(&v, p, l);
				i += l + 2;
			}
			buf_append(&v, "", 1);
			return v.p;
		}
		i += l + 2;
	}
	return NULL;
}

static char *
hdr(const struct ent *e, const char *name)
{
	return hdr_nth(e, name, 0);
}

static int
hdr_count(const struct ent *e, const char *name)
{
	int n = 0;
	char *v;

	while ((v = hdr_nth(e, name, n)) != NULL) {
		free(v);
		n++;
	}
	return n;
}

/* Assert field name of e is exactly want (NULL: absent). */
static void
expect_hdr(const struct ent *e, const char *name, const char *want)
{
	char *v = hdr(e, name);

	if (want == NULL)
		cr_expect_null(v, "%s present: %s", name, v);
	else if (v == NULL)
		cr_expect_fail("%s missing", name);
	else
		cr_expect_str_eq(v, want, "%s", name);
	free(v);
}

/* CRLF only, lines <= 998, no NUL. */
static void
check_lines(const char *p, size_t n)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n' && (i == 0 || p[i - 1] != '\r'))
			cr_assert_fail("bare LF at %zu", i);
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			cr_assert_fail("bare CR at %zu", i);
		if (p[i] == '\0')
			cr_assert_fail("NUL at %zu", i);
		if (p[i] == '\r')
			continue;
		if (p[i] == '\n') {
			col = 0;
			continue;
		}
		if (++col > 998)
			cr_assert_fail("line over 998 at %zu", i);
	}
	cr_assert(n >= 2 && p[n - 2] == '\r' && p[n - 1] == '\n', "ends in CRLF");
}

/* Build r and parse the result into *x. */
static void
build(const struct dsn_report *r, struct rep *x)
{
	char *ct, *b;
	size_t dl, i;
	const char *body;

	memset(x, 0, sizeof(*x));
	x->flags = dsn_build(r, &x->out);
	check_lines(x->out.p, x->out.len);
	buf_append(&x->out, "", 1);
	x->out.len--;
	x->top = split_entity(x->out.p, x->out.len);

	ct = hdr(&x->top, "Content-Type");
	cr_assert_not_null(ct);
	static const char mr[] = "multipart/report; report-type=delivery-status;";
	cr_assert(strncmp(ct, mr, sizeof(mr) - 1) == 0, "%s", ct);
	b = strstr(ct, "boundary=\"");
	cr_assert_not_null(b);
	b += 10;
	cr_assert_not_null(strchr(b, '"'));
	*strchr(b, '"') = '\0';
	snprintf(x->bnd, sizeof(x->bnd), "%s", b);
	free(ct);
	cr_assert(strlen(x->bnd) > 10 && strlen(x->bnd) <= 70);

	/* Parts: between "\r\n--b\r\n" delimiters, closed by "\r\n--b--". */
	dl = strlen(x->bnd);
	body = x->top.b;
	i = 0;
	const char *cur = NULL;
	bool closed = false;
	while (i < x->top.blen) {
		const char *p = body + i;
		const char *eol = memmem(p, x->top.blen - i, "\r\n", 2);
		size_t l = eol ? (size_t)(eol - p) : x->top.blen - i;

		if (l >= dl + 2 && p[0] == '-' && p[1] == '-' &&
		    memcmp(p + 2, x->bnd, dl) == 0) {
			bool close = l == dl + 4 && p[dl + 2] == '-' && p[dl + 3] == '-';

			cr_assert(close || l == dl + 2, "junk after boundary");
			cr_assert(!closed, "part after the close delimiter");
			if (cur != NULL) {
				/* The CRLF before a delimiter belongs to it. */
				cr_assert(p - 2 >= cur);
				x->part[x->nparts - 1] = split_entity(cur, (size_t)(p - 2 - cur));
			}
			if (close) {
				closed = true;
				cur = NULL;
			} else {
				cr_assert_lt(x->nparts, 8);
				x->nparts++;
				cur = p + l + 2;
			}
		}
		i += l + 2;
	}
	cr_assert(closed, "no close delimiter");
	/* The boundary appears only in delimiter lines (and Content-Type). */
	size_t hits = 0;
	for (const char *s = x->out.p; (s = strstr(s, x->bnd)) != NULL; s++)
		hits++;
	cr_assert_eq(hits, x->nparts + 2, "boundary inside content");

	/* Our own parts hold no control bytes but CRLF. */
	for (size_t k = 0; k < 2 && k < x->nparts; k++)
		for (size_t j = 0; j < x->part[k].hlen + 2 + x->part[k].blen; j++) {
			unsigned char c = (unsigned char)x->part[k].h[j];

			if ((c < 0x20 && c != '\r' && c != '\n') || c == 0x7f)
				cr_assert_fail("control byte %#x in part %zu", c, k);
		}

	/* Delivery-status groups. */
	if (x->nparts >= 2) {
		const struct ent *d = &x->part[1];
		const char *p = d->b, *end = d->b + d->blen;

		while (p < end && x->ngrp < 16) {
			const char *s = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
			size_t l = s ? (size_t)(s - p) + 2 : (size_t)(end - p);

			x->grp[x->ngrp].h = p;
			x->grp[x->ngrp].hlen = l;
			x->ngrp++;
			p += s ? l + 2 : l;
		}
	}
}

static void
rep_free(struct rep *x)
{
	buf_free(&x->out);
}

/* The body of e with every run of blanks and line breaks as one space. */
static char *
flat(const struct ent *e)
{
	char *o = malloc(e->blen + 1);
	size_t n = 0;

	cr_assert_not_null(o);
	for (size_t i = 0; i < e->blen; i++) {
		char c = e->b[i];

		if (c == '\r' || c == '\n' || c == ' ' || c == '\t') {
			if (n > 0 && o[n - 1] == ' ')
				continue;
			c = ' ';
		}
		o[n++] = c;
	}
	o[n] = '\0';
	return o;
}

/* True if some line of the whole output starts with s. */
static bool
line_starts(const struct rep *x, const char *s)
{
	size_t n = strlen(s);
	const char *p = x->out.p;

	for (;;) {
		if (strncasecmp(p, s, n) == 0)
			return true;
		p = strstr(p, "\r\n");
		if (p == NULL)
			return false;
		p += 2;
	}
}

#define ORIG_HDRS \
	"From: Alice <alice@tenant.test>\r\n" \
	"To: bob@partner.test, carol@partner.test\r\n" \
	"Subject: Quarterly\r\n report\r\n" \
	"Message-ID: <m1@tenant.test>\r\n"
#define ORIG ORIG_HDRS "\r\nBODY-MARKER line one\r\nline two\r\n"

/* 2025-07-01 12:00:00 UTC and friends. */
#define T0	INT64_C(1751371200)
#define HOUR	3600

static const struct dsn_rcpt failed_rcpts[] = {
	{
		.addr = "bob@partner.test",
		.orcpt = "rfc822;bob+2Bx@partner.test",
		.action = DSN_ACTION_FAILED,
		.code = MFI_REMOTE,
		.reply_code = 550,
		.reply_text = "550-5.1.1 <bob@partner.test>: user unknown\r\n"
			      "550 5.1.1 see https://partner.test/help",
		.remote_mta = "mx.partner.test",
		.detail = "mx.partner.test [192.0.2.1] said: 550 5.1.1 ...",
		.last_attempt = T0 + 60,
	},
	{
		/* expired: refused at every attempt, so no MTA answered */
		.addr = "carol@partner.test",
		.action = DSN_ACTION_FAILED,
		.expired = true,
		.attempts = 13,
		.code = MFI_CONN_REFUSED,
		.detail = "connect to mx.partner.test [192.0.2.1]:25 refused",
		.last_attempt = T0 + 24 * HOUR,
	},
};

static struct dsn_report
failed_report(void)
{
	struct dsn_report r = {
		.reporting_mta = "relay.sluice.test",
		.envid = "ENV+2B123",
		.queue_id = "00000000DEADBEEF",
		.arrival = T0,
		.now = T0 + 24 * HOUR,
		.orig_sender = "alice@tenant.test",
		.ret = ENV_RET_HDRS,
		.rcpts = failed_rcpts,
		.nrcpt = 2,
		.orig = ORIG,
		.origlen = sizeof(ORIG) - 1,
		.orig_max = DSN_ORIG_MAX,
		.unique = UINT64_C(0x0123456789abcdef),
	};
	return r;
}

Test(dsn, failed_report_structure)
{
	struct dsn_report r = failed_report();
	struct rep x;
	char *v;

	build(&r, &x);
	cr_expect_eq(x.flags, 0);

	/* Top-level header section. */
	expect_hdr(&x.top, "From", "Mail Delivery System <MAILER-DAEMON@relay.sluice.test>");
	expect_hdr(&x.top, "To", "<alice@tenant.test>");
	expect_hdr(&x.top, "Subject", "Undeliverable: Quarterly report");
	expect_hdr(&x.top, "Date", "Wed, 02 Jul 2025 12:00:00 +0000");
	expect_hdr(&x.top, "Message-ID",
		   "<dsn.0123456789abcdef.1751457600@relay.sluice.test>");
	expect_hdr(&x.top, "Auto-Submitted", "auto-replied");
	expect_hdr(&x.top, "MIME-Version", "1.0");
	cr_expect_eq(hdr_count(&x.top, "To"), 1);
	cr_expect_eq(hdr_count(&x.top, "Subject"), 1);

	/* Three parts of the right types. */
	cr_assert_eq(x.nparts, 3);
	v = hdr(&x.part[0], "Content-Type");
	cr_expect_str_eq(v, "text/plain; charset=utf-8");
	free(v);
	expect_hdr(&x.part[0], "Content-Transfer-Encoding", "7bit");
	expect_hdr(&x.part[1], "Content-Type", "message/delivery-status");
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");

	/* Per-message fields. */
	cr_assert_eq(x.ngrp, 3);
	expect_hdr(&x.grp[0], "Reporting-MTA", "dns; relay.sluice.test");
	expect_hdr(&x.grp[0], "Original-Envelope-Id", "ENV+123");
	expect_hdr(&x.grp[0], "Arrival-Date", "Tue, 01 Jul 2025 12:00:00 +0000");

	/* Recipient 1: the destination's own 5xx. */
	expect_hdr(&x.grp[1], "Original-Recipient", "rfc822;bob+x@partner.test");
	expect_hdr(&x.grp[1], "Final-Recipient", "rfc822; bob@partner.test");
	expect_hdr(&x.grp[1], "Action", "failed");
	expect_hdr(&x.grp[1], "Status", "5.1.1");
	expect_hdr(&x.grp[1], "Remote-MTA", "dns; mx.partner.test");
	expect_hdr(&x.grp[1], "Diagnostic-Code",
		   "smtp; 550-5.1.1 <bob@partner.test>: user unknown "
		   "550 5.1.1 see https://partner.test/help");
	expect_hdr(&x.grp[1], "Last-Attempt-Date", "Tue, 01 Jul 2025 12:01:00 +0000");
	expect_hdr(&x.grp[1], "Will-Retry-Until", NULL);

	/* Recipient 2: expired on 4.4.316: a final status, the last error
	   in Diagnostic-Code as Sluice's own (no SMTP reply behind it), and
	   no Remote-MTA (nothing answered). */
	expect_hdr(&x.grp[2], "Original-Recipient", NULL);
	expect_hdr(&x.grp[2], "Final-Recipient", "rfc822; carol@partner.test");
	expect_hdr(&x.grp[2], "Action", "failed");
	expect_hdr(&x.grp[2], "Status", "5.4.7");
	expect_hdr(&x.grp[2], "Remote-MTA", NULL);
	expect_hdr(&x.grp[2], "Diagnostic-Code", "X-Sluice; 450 4.4.316 Connection refused; "
		   "delivery time expired after 24 hours and 13 attempts");
	expect_hdr(&x.grp[2], "Last-Attempt-Date", "Wed, 02 Jul 2025 12:00:00 +0000");

	/* The human part: intro, each recipient, the advice for each. */
	char *text = flat(&x.part[0]);
	cr_expect_not_null(strstr(text, "could not be delivered to the following "
				  "recipients. "), "%s", text);
	cr_expect_null(strstr(text, "It expired after"), "one was not expired: %s", text);
	cr_expect_not_null(strstr(text, "<bob@partner.test>"));
	cr_expect_not_null(strstr(text, "<carol@partner.test>"));
	cr_expect_not_null(strstr(text, "Status: 5.4.7 (delivery time expired)"), "%s", text);
	cr_expect_not_null(strstr(text, "Expired: after 24 hours and 13 attempts, final; the "
				  "last error was 450 4.4.316 Connection refused "), "%s", text);
	cr_expect_null(strstr(text, "Error:"), "the Expired line says it: %s", text);
	cr_expect_not_null(strstr(text, "What happened:"));
	cr_expect_not_null(strstr(text, "How to fix:"));
	/* 5.1.1: the sender corrects the address, and is who acts */
	cr_expect_not_null(strstr(text, "Who should act: sender "), "%s", text);
	cr_expect_not_null(strstr(text, "Who should act: operator, or partner or destination "
				  "administrator"), "%s", text);
	cr_expect_not_null(strstr(text, "in the destination's firewall"), "%s", text);
	cr_expect_not_null(strstr(text, "Queue ID: 00000000DEADBEEF"));
	cr_expect_not_null(strstr(text, "headers of the original message are attached"));
	free(text);

	/* RET=HDRS: the headers, no body. */
	cr_expect_null(strstr(x.out.p, "BODY-MARKER"));
	cr_expect_eq(x.part[2].blen, sizeof(ORIG_HDRS) - 1);
	cr_expect(memcmp(x.part[2].b, ORIG_HDRS, sizeof(ORIG_HDRS) - 1) == 0);
	rep_free(&x);
}

Test(dsn, outright_rejection_says_no_duration)
{
	struct dsn_report r = failed_report();
	struct rep x;

	r.nrcpt = 1;		/* only the 550 5.1.1 */
	r.now = T0 + 2 * HOUR;
	build(&r, &x);
	char *text = flat(&x.part[0]);
	cr_expect_not_null(strstr(text, "following recipient. "), "%s", text);
	cr_expect_null(strstr(text, "hours"), "%s", text);
	/* The detail line carries the reply, so no separate Reply line. */
	cr_expect_not_null(strstr(text, "Detail: mx.partner.test [192.0.2.1] said"));
	cr_expect_null(strstr(text, "Reply:"));
	free(text);
	rep_free(&x);

	/* Without a detail line, the reply is shown with the server's name. */
	struct dsn_rcpt rc = failed_rcpts[0];
	rc.detail = NULL;
	r.rcpts = &rc;
	build(&r, &x);
	text = flat(&x.part[0]);
	cr_expect_not_null(strstr(text, "Reply: mx.partner.test said: 550-5.1.1 "
				  "<bob@partner.test>: user unknown 550 5.1.1 see"), "%s", text);
	free(text);
	rep_free(&x);
}

Test(dsn, ret_full_carries_the_body)
{
	struct dsn_report r = failed_report();
	struct rep x;

	r.ret = ENV_RET_FULL;
	build(&r, &x);
	cr_assert_eq(x.nparts, 3);
	expect_hdr(&x.part[2], "Content-Type", "message/rfc822");
	expect_hdr(&x.part[2], "Content-Description", "Undelivered message");
	/* The part's body is the original, byte for byte. */
	cr_expect_eq(x.part[2].blen, sizeof(ORIG) - 1);
	cr_expect(memcmp(x.part[2].b, ORIG, sizeof(ORIG) - 1) == 0);
	cr_expect_not_null(strstr(x.out.p, "The original message is attached."));
	rep_free(&x);

	/* RET unset: headers only, like HDRS. */
	r.ret = ENV_RET_NONE;
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_null(strstr(x.out.p, "BODY-MARKER"));
	rep_free(&x);
}

Test(dsn, ret_full_over_the_cap_returns_headers)
{
	struct dsn_report r = failed_report();
	size_t n = DSN_ORIG_MAX + 100;
	char *big = malloc(n);
	struct rep x;

	cr_assert_not_null(big);
	memcpy(big, ORIG, sizeof(ORIG) - 1);
	for (size_t i = sizeof(ORIG) - 1; i < n; i++)
		big[i] = (i % 80 == 78) ? '\r' : (i % 80 == 79) ? '\n' : 'x';
	r.ret = ENV_RET_FULL;
	r.orig = big;
	r.origlen = n;
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_null(strstr(x.out.p, "BODY-MARKER"));
	cr_expect_lt(x.out.len, 20000);
	cr_expect_not_null(strstr(x.out.p, "too large to return"));
	rep_free(&x);

	/* Exactly at the cap: returned whole. */
	r.origlen = DSN_ORIG_MAX;
	big[DSN_ORIG_MAX - 2] = '\r';
	big[DSN_ORIG_MAX - 1] = '\n';
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "message/rfc822");
	cr_expect_eq(x.part[2].blen, DSN_ORIG_MAX);
	rep_free(&x);
	free(big);
}

/* The queue's limit (ndr_return_max), and a caller that read only the
 * head of a large original: headers, and the report says why. */
Test(dsn, ret_full_over_the_return_limit_or_read_in_part_returns_headers)
{
	struct dsn_report r = failed_report();
	struct rep x;

	r.ret = ENV_RET_FULL;
	r.orig_max = sizeof(ORIG) - 2;		/* one byte short */
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_null(strstr(x.out.p, "BODY-MARKER"));
	cr_expect_not_null(strstr(x.out.p, "too large to return"));
	rep_free(&x);

	r.orig_max = sizeof(ORIG) - 1;		/* exactly: whole */
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "message/rfc822");
	cr_expect_eq(x.part[2].blen, sizeof(ORIG) - 1);
	rep_free(&x);

	r.orig_max = 0;				/* ndr_return_max: 0 */
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	rep_free(&x);

	/* only the head was read: never passed off as the whole message */
	r.orig_max = DSN_ORIG_MAX;
	r.origsize = 8u << 20;
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_null(strstr(x.out.p, "BODY-MARKER"));
	cr_expect_not_null(strstr(x.out.p, "too large to return"));
	rep_free(&x);
	r.ret = ENV_RET_HDRS;
	build(&r, &x);
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_null(strstr(x.out.p, "too large"));
	rep_free(&x);
}

/* A head cut inside an endless header section (DSN_HEAD_MAX bytes, no
 * empty line, the cut in mid-line): still a well-formed report. */
Test(dsn, head_cut_inside_the_headers)
{
	struct dsn_report r = failed_report();
	size_t n = DSN_HEAD_MAX;
	char *head = malloc(n);
	struct rep x;

	cr_assert_not_null(head);
	for (size_t i = 0; i < n; i++)
		head[i] = (i % 100 == 98) ? '\r' : (i % 100 == 99) ? '\n' :
			  (i % 100 == 0) ? 'X' : (i % 100 == 1) ? ':' : 'h';
	r.orig = head;
	r.origlen = n - 37;		/* mid-line */
	r.origsize = 8u << 20;
	build(&r, &x);			/* checks CRLF, line lengths, parts */
	expect_hdr(&x.part[2], "Content-Type", "text/rfc822-headers");
	cr_expect_geq(x.part[2].blen, n - 37);
	rep_free(&x);
	free(head);
}

Test(dsn, delayed_report)
{
	static const struct dsn_rcpt rc[] = { {
		.addr = "dave@partner.test",
		.orcpt = "rfc822;dave@partner.test",
		.action = DSN_ACTION_DELAYED,
		.code = MFI_CONN_TIMEOUT,
		.remote_mta = "mx.partner.test",
		.detail = "connect to mx.partner.test [192.0.2.1]:25 timed out",
		.last_attempt = T0 + 4 * HOUR,
	} };
	struct dsn_report r = failed_report();
	struct rep x;

	r.rcpts = rc;
	r.nrcpt = 1;
	r.envid = NULL;
	r.now = T0 + 4 * HOUR;
	r.retry_until = T0 + 24 * HOUR;
	build(&r, &x);
	expect_hdr(&x.top, "Subject", "Delayed: Quarterly report");
	cr_assert_eq(x.ngrp, 2);
	expect_hdr(&x.grp[0], "Original-Envelope-Id", NULL);
	expect_hdr(&x.grp[1], "Original-Recipient", "rfc822;dave@partner.test");
	expect_hdr(&x.grp[1], "Action", "delayed");
	expect_hdr(&x.grp[1], "Status", "4.4.315");
	expect_hdr(&x.grp[1], "Diagnostic-Code", "X-Sluice; 450 4.4.315 Connection timed out");
	expect_hdr(&x.grp[1], "Remote-MTA", "dns; mx.partner.test");	/* as the caller said */
	expect_hdr(&x.grp[1], "Last-Attempt-Date", "Tue, 01 Jul 2025 16:00:00 +0000");
	expect_hdr(&x.grp[1], "Will-Retry-Until", "Wed, 02 Jul 2025 12:00:00 +0000");

	char *text = flat(&x.part[0]);
	cr_expect_not_null(strstr(text, "has not yet been delivered"), "%s", text);
	cr_expect_not_null(strstr(text, "queued for 4 hours"), "%s", text);
	cr_expect_not_null(strstr(text, "until Wed, 02 Jul 2025 12:00:00 +0000"), "%s", text);
	cr_expect_not_null(strstr(text, "450 4.4.315 Connection timed out"));
	cr_expect_not_null(strstr(text, "operator, or partner or destination administrator"));
	cr_expect_not_null(strstr(text, "Detail: connect to mx.partner.test"));
	cr_expect_null(strstr(text, "could not be delivered"));
	free(text);
	rep_free(&x);
}

Test(dsn, mixed_failed_and_delayed)
{
	const struct dsn_rcpt rc[] = {
		{ .addr = "a@p.test", .action = DSN_ACTION_DELAYED, .code = MFI_CONN_DROPPED },
		{ .addr = "b@p.test", .action = DSN_ACTION_FAILED, .code = MFI_REMOTE,
		  .reply_code = 552, .reply_text = "5.2.2 mailbox full" },
		{ .addr = "c@p.test", .action = DSN_ACTION_FAILED, .status = "5.9.99x" },
	};
	struct dsn_report r = failed_report();
	struct rep x;

	r.rcpts = rc;
	r.nrcpt = 3;
	r.now = T0 + 30;
	r.retry_until = T0 + 24 * HOUR;
	build(&r, &x);
	expect_hdr(&x.top, "Subject", "Undeliverable: Quarterly report");
	cr_assert_eq(x.ngrp, 4);
	expect_hdr(&x.grp[1], "Action", "delayed");
	expect_hdr(&x.grp[1], "Status", "4.4.318");
	expect_hdr(&x.grp[1], "Will-Retry-Until", "Wed, 02 Jul 2025 12:00:00 +0000");
	expect_hdr(&x.grp[1], "Last-Attempt-Date", NULL);
	expect_hdr(&x.grp[1], "Remote-MTA", NULL);
	expect_hdr(&x.grp[2], "Status", "5.2.2");
	expect_hdr(&x.grp[2], "Diagnostic-Code", "smtp; 552 5.2.2 mailbox full");
	/* A malformed status and nothing else known: a failure, of no
	   known kind. */
	expect_hdr(&x.grp[3], "Status", "5.0.0");
	expect_hdr(&x.grp[3], "Diagnostic-Code", NULL);

	char *text = flat(&x.part[0]);
	/* None expired: no "expired after N". */
	cr_expect_not_null(strstr(text, "following recipients. "), "%s", text);
	cr_expect_null(strstr(text, "expired"), "%s", text);
	cr_expect_not_null(strstr(text, "not yet been delivered to the following "
				  "recipient; we will keep trying until"), "%s", text);
	/* Failed ones first. */
	cr_expect_lt(strstr(text, "<b@p.test>"), strstr(text, "<a@p.test>"));
	free(text);
	rep_free(&x);
}

/*
 * Expiry: every recipient expired, the last error a remote 4xx: the
 * opening says it expired, after how long and how many attempts, and that
 * it is final; the status is final (5.4.7); the remote reply is kept
 * verbatim as an smtp Diagnostic-Code, with the server that sent it.
 */
Test(dsn, expired_on_a_remote_reply)
{
	const struct dsn_rcpt rc[] = { {
		.addr = "erin@partner.test", .action = DSN_ACTION_FAILED,
		.expired = true, .attempts = 13, .code = MFI_REMOTE,
		.reply_code = 452, .reply_text = "452 4.2.2 Mailbox full",
		.remote_mta = "mx.partner.test",
		.detail = "mx.partner.test [192.0.2.1] said: 452 4.2.2 Mailbox full "
			  "(in reply to RCPT TO)",
		.last_attempt = T0 + 24 * HOUR,
	} };
	struct dsn_report r = failed_report();
	struct rep x;

	r.rcpts = rc;
	r.nrcpt = 1;
	build(&r, &x);
	cr_assert_eq(x.ngrp, 2);
	expect_hdr(&x.grp[1], "Action", "failed");
	expect_hdr(&x.grp[1], "Status", "5.4.7");
	expect_hdr(&x.grp[1], "Remote-MTA", "dns; mx.partner.test");
	expect_hdr(&x.grp[1], "Diagnostic-Code", "smtp; 452 4.2.2 Mailbox full");

	char *text = flat(&x.part[0]);
	cr_expect_not_null(strstr(text, "could not be delivered to the following recipient. "
				  "It expired after 24 hours and 13 attempts without being "
				  "delivered. This is final: no further attempts will be made. "
				  "Once the cause below is fixed, you can send it again."),
			   "%s", text);
	cr_expect_not_null(strstr(text, "Expired: after 24 hours and 13 attempts, final; the "
				  "last error was 452 4.2.2 Mailbox full "),
			   "%s", text);
	/* the advice is the reply's (4.2.2: the mailbox), not 5.4.7's */
	cr_expect_not_null(strstr(text, "What happened: The recipient's mailbox is full."),
			   "%s", text);
	cr_expect_not_null(strstr(text, "Who should act: partner or destination administrator"),
			   "%s", text);
	free(text);
	rep_free(&x);
}

/*
 * The report fix-now sends (queue_fixnow): Sluice's own 550 5.1.10 with
 * no remote MTA: its status, an X-Sluice Diagnostic-Code, and the advice
 * of 5.1.10, its "How to fix" line included.
 */
Test(dsn, fixnow_report_says_how_to_fix)
{
	const struct dsn_rcpt rc[] = { {
		.addr = "gone@acme.test", .action = DSN_ACTION_FAILED, .status = "5.1.10",
		.reply_code = 550, .reply_text = "550 5.1.10 Recipient not found",
		.detail = "the domain was made authoritative (fix-now) and this "
			  "recipient is not in its directory",
		.last_attempt = T0 + HOUR,
	} };
	struct dsn_report r = failed_report();
	struct rep x;

	r.rcpts = rc;
	r.nrcpt = 1;
	r.now = T0 + 2 * HOUR;
	build(&r, &x);
	expect_hdr(&x.grp[1], "Status", "5.1.10");
	expect_hdr(&x.grp[1], "Remote-MTA", NULL);
	expect_hdr(&x.grp[1], "Diagnostic-Code", "X-Sluice; 550 5.1.10 Recipient not found");

	char *text = flat(&x.part[0]);
	cr_expect_null(strstr(text, "expired"), "%s", text);
	cr_expect_not_null(strstr(text, "What happened: The recipient's address was not found"),
			   "%s", text);
	cr_expect_not_null(strstr(text, "How to fix: The sender checks the recipient's address"),
			   "%s", text);
	cr_expect_not_null(strstr(text, "Who should act: sender, or partner or destination "
				  "administrator"), "%s", text);
	cr_expect_not_null(strstr(text, "Detail: the domain was made authoritative (fix-now)"),
			   "%s", text);
	free(text);
	rep_free(&x);
}

Test(dsn, header_injection_is_neutralised)
{
	const struct dsn_rcpt rc[] = { {
		.addr = "bob@partner.test\r\nX-Injected: rcpt",
		.orcpt = "rfc822;bob@p+0D+0AX-Injected:+20orcpt",
		.action = DSN_ACTION_FAILED,
		.status = "5.1.1\r\nX-Injected: status",
		.code = MFI_REMOTE,
		.reply_code = 550,
		.reply_text = "550 5.1.1 no\r\nX-Injected: reply\nBcc: x@y\r",
		.remote_mta = "mx\r\nX-Injected: mta",
		.detail = "detail\r\nX-Injected: detail",
		.last_attempt = T0,
	} };
	struct dsn_report r = failed_report();
	struct rep x;

	r.rcpts = rc;
	r.nrcpt = 1;
	r.orig_sender = "evil@x.test>\r\nBcc: victim@y.test";
	r.envid = "id+0D+0AX-Injected:+20envid\r\nX-Injected: raw";
	r.reporting_mta = "relay\r\nX-Injected: mta";
	r.queue_id = "Q\r\nX-Injected: q";
	build(&r, &x);
	cr_expect(!line_starts(&x, "X-Injected"), "%s", x.out.p);
	cr_expect(!line_starts(&x, "Bcc"), "%s", x.out.p);
	cr_expect_eq(hdr_count(&x.top, "To"), 1);
	cr_expect_eq(hdr_count(&x.top, "Bcc"), 0);
	cr_expect_eq(hdr_count(&x.grp[0], "Original-Envelope-Id"), 1);
	cr_expect_eq(hdr_count(&x.grp[1], "Status"), 1);
	/* The values are kept, defused. */
	expect_hdr(&x.grp[0], "Original-Envelope-Id", "id??X-Injected: envid??X-Injected: raw");
	expect_hdr(&x.grp[1], "Final-Recipient", "rfc822; bob@partner.test??X-Injected: rcpt");
	expect_hdr(&x.grp[1], "Original-Recipient", "rfc822;bob@p??X-Injected: orcpt");
	expect_hdr(&x.grp[1], "Status", "5.1.1");
	expect_hdr(&x.grp[1], "Remote-MTA", "dns; mx--X-Injected:-mta");
	expect_hdr(&x.grp[1], "Diagnostic-Code", "smtp; 550 5.1.1 no X-Injected: reply Bcc: x@y");
	expect_hdr(&x.grp[0], "Reporting-MTA", "dns; relay--X-Injected:-mta");
	rep_free(&x);
}

Test(dsn, hostile_original_lines)
{
	struct buf o = { 0 };
	struct dsn_report r = failed_report();
	struct rep x;

	buf_puts(&o, "Subject: long\nX-Long: ");
	for (int i = 0; i < 1500; i++)
		buf_puts(&o, "h");
	buf_puts(&o, "\nX-Exact: ");
	for (int i = 0; i < 998 - 9; i++)
		buf_puts(&o, "e");
	buf_puts(&o, "\r\nX-Nul: a");
	buf_append(&o, "\0", 1);
	buf_puts(&o, "b\r\r\n\nbody\rmore\n");
	for (int i = 0; i < 3000; i++)
		buf_puts(&o, "b");
	buf_puts(&o, "\n--=_sluice_0123456789abcdef_0--\r\nend");
	r.orig = o.p;
	r.origlen = o.len;
	r.ret = ENV_RET_FULL;
	build(&r, &x);	/* CRLF and 998 checked in build() */
	cr_assert_eq(x.nparts, 3);
	/* The guessed boundary was avoided. */
	cr_expect_str_eq(x.bnd, "=_sluice_0123456789abcdef_1");
	/* The long header was folded, so it stays one field. */
	struct ent inner = split_entity(x.part[2].b, x.part[2].blen);
	char *v = hdr(&inner, "X-Long");
	cr_assert_not_null(v);
	cr_expect_eq(strlen(v), 1500 + 1, "folded adds one blank: %zu", strlen(v));
	free(v);
	/* A line of exactly 998 is not broken. */
	v = hdr(&inner, "X-Exact");
	cr_assert_not_null(v);
	cr_expect_eq(strlen(v), 998 - 9);
	free(v);
	expect_hdr(&inner, "X-Nul", "a?b");
	/* The empty line from "\r\r\n\n" ends the headers: "\r" and "\r\n" are
	   two line ends, "\n" a third, so the body starts with one blank line. */
	cr_expect(strncmp(inner.b, "\r\nbody\r\nmore\r\n", 14) == 0, "%.20s", inner.b);
	rep_free(&x);

	/* Headers only of the same: the fold applies there too. */
	r.ret = ENV_RET_HDRS;
	build(&r, &x);
	cr_expect_null(strstr(x.out.p, "body"));
	rep_free(&x);
	buf_free(&o);
}

/*
 * An original holding every boundary guess for the first salts (and digits
 * that rule out several) cannot exhaust them: the report still gets a
 * boundary found nowhere in its parts (build() counts the occurrences).
 * Before, salts stopped at 64 and the last, colliding one was used.
 */
Test(dsn, guessed_boundaries_cannot_exhaust_the_salts)
{
	struct buf o = { 0 };
	struct dsn_report r = failed_report();
	struct rep x;

	buf_puts(&o, "Subject: guesses\r\n\r\n");
	for (int i = 0; i < 200; i++)
		buf_printf(&o, "--=_sluice_0123456789abcdef_%d\r\n", i);
	/* rules out 2, 20, 200 and 2000 at once */
	buf_puts(&o, "x=_sluice_0123456789abcdef_2000\r\n");
	r.orig = o.p;
	r.origlen = o.len;
	r.ret = ENV_RET_FULL;
	build(&r, &x);
	cr_assert_eq(x.nparts, 3);
	cr_expect_str_eq(x.bnd, "=_sluice_0123456789abcdef_201");
	buf_free(&o);
	rep_free(&x);
}

Test(dsn, no_original_and_no_subject)
{
	struct dsn_report r = failed_report();
	struct rep x;

	r.orig = NULL;
	r.origlen = 0;
	r.reporting_mta = NULL;
	build(&r, &x);
	expect_hdr(&x.top, "Subject", "Undeliverable: (no subject)");
	expect_hdr(&x.grp[0], "Reporting-MTA", "dns; localhost");
	cr_expect_eq(x.part[2].blen, 0);
	rep_free(&x);
}

/* Minimal base64 decoder for the encoded-word check. */
static size_t
unb64(const char *s, size_t n, char *out)
{
	static const char a[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t v = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < n && s[i] != '='; i++) {
		v = v << 6 | (uint32_t)(strchr(a, s[i]) - a);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(v >> bits);
		}
	}
	return o;
}

Test(dsn, utf8_subject_and_addresses)
{
	static const char orig[] =
		"Subject: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x80\x94 "
		"ein recht langer Betreff mit \xe2\x82\xac und mehr Text\r\n\r\nbody\r\n";
	const struct dsn_rcpt rc[] = { {
		.addr = "j\xc3\xb6rg@partner.test",
		.action = DSN_ACTION_FAILED,
		.code = MFI_REMOTE, .reply_code = 550, .reply_text = "550 5.1.1 unknown",
	} };
	struct dsn_report r = failed_report();
	struct rep x;
	char dec[512] = "";
	size_t dn = 0;

	r.rcpts = rc;
	r.nrcpt = 1;
	r.orig = orig;
	r.origlen = sizeof(orig) - 1;
	r.orig_sender = "al\xc3\xaf" "ce@tenant.test";
	build(&r, &x);
	cr_expect_eq(x.flags, DSN_8BIT | DSN_SMTPUTF8);
	expect_hdr(&x.part[1], "Content-Type", "message/global-delivery-status");
	expect_hdr(&x.grp[1], "Final-Recipient", "utf-8; j\xc3\xb6rg@partner.test");
	/* UTF-8 headers in the original: message/global-headers. */
	expect_hdr(&x.part[2], "Content-Type", "message/global-headers");

	/* The Subject is ASCII: encoded words, each <= 75, lines short. */
	char *s = hdr(&x.top, "Subject");
	cr_assert_not_null(s);
	for (const char *p = s; *p; p++)
		cr_expect((unsigned char)*p < 0x80);
	for (char *w = strstr(s, "=?UTF-8?B?"); w != NULL; w = strstr(w, "=?UTF-8?B?")) {
		char *e = strstr(w + 10, "?=");
		cr_assert_not_null(e);
		cr_expect_leq((size_t)(e + 2 - w), 75);
		dn += unb64(w + 10, (size_t)(e - w - 10), dec + dn);
		w = e + 2;
	}
	dec[dn] = '\0';
	cr_expect_str_eq(dec, "Undeliverable: Gr\xc3\xbc\xc3\x9f" "e aus K\xc3\xb6ln \xe2\x80\x94 "
			 "ein recht langer Betreff mit \xe2\x82\xac und mehr Text");
	free(s);
	rep_free(&x);

	/* UTF-8 only inside the body parts: 8BITMIME, not SMTPUTF8. */
	r.orig_sender = "alice@tenant.test";
	build(&r, &x);
	cr_expect_eq(x.flags, DSN_8BIT);
	expect_hdr(&x.part[1], "Content-Type", "message/global-delivery-status");
	expect_hdr(&x.part[1], "Content-Transfer-Encoding", "8bit");
	rep_free(&x);

	/* ASCII everything but an 8-bit body with RET=FULL: 8BITMIME only. */
	static const char o8[] = "Subject: x\r\n\r\nK\xc3\xb6ln\r\n";
	r.rcpts = failed_rcpts;
	r.nrcpt = 2;
	r.orig_sender = "alice@tenant.test";
	r.orig = o8;
	r.origlen = sizeof(o8) - 1;
	r.ret = ENV_RET_FULL;
	build(&r, &x);
	cr_expect_eq(x.flags, DSN_8BIT);
	expect_hdr(&x.part[2], "Content-Type", "message/rfc822");
	expect_hdr(&x.part[2], "Content-Transfer-Encoding", "8bit");
	expect_hdr(&x.part[1], "Content-Type", "message/delivery-status");
	rep_free(&x);
}

/* One row of the subject table. */
struct subj_row {
	const char *orig;	/* message */
	size_t buflen;		/* output size */
	const char *want;	/* dsn_subject() */
};

Test(dsn, subject_table)
{
	static const struct subj_row sr[] = {
		{ "Subject: hello\r\n\r\nbody", 64, "hello" },
		{ "subject:hello\r\n\r\n", 64, "hello" },
		{ "SUBJECT:   spaced   \r\n\r\n", 64, "spaced" },
		{ "From: a\r\nSubject: folded\r\n  twice\r\n\tthrice\r\nTo: b\r\n\r\n", 64,
		  "folded  twice thrice" },
		{ "From: a\r\n\r\nSubject: in body\r\n", 64, "" },
		{ "\r\nSubject: after empty line\r\n", 64, "" },
		{ "From: a\r\n", 64, "" },
		{ "Subject: lf only\nFrom: a\n\nbody", 64, "lf only" },
		{ "Subject: ctl\x01\x7f" "x\r\n\r\n", 64, "ctl??x" },
		{ "Subject: bad \xff utf8\r\n\r\n", 64, "bad ? utf8" },
		{ "Subject: 0123456789\r\n\r\n", 6, "01234" },
		{ "Subject: ab\xc3\xa9" "cd\r\n\r\n", 4, "ab" },	/* no half char */
		{ "Subject: ab\xc3\xa9" "cd\r\n\r\n", 5, "ab\xc3\xa9" },
		{ "Subject: x\r\n\r\n", 1, "" },
		{ "Subject-Extra: no\r\nSubject: yes\r\n\r\n", 64, "yes" },
		{ "Subject: =?UTF-8?B?w6k=?=\r\n\r\n", 64, "=?UTF-8?B?w6k=?=" },
		{ "Subject:\r\n\r\n", 64, "" },
	};
	char buf[64];

	for (size_t i = 0; i < sizeof(sr) / sizeof(sr[0]); i++) {
		memset(buf, 'Z', sizeof(buf));
		cr_expect_eq(dsn_subject(sr[i].orig, strlen(sr[i].orig), buf,
					 sr[i].buflen), buf);
		cr_expect_str_eq(buf, sr[i].want, "row %zu", i);
	}
	cr_expect_eq(dsn_subject("Subject: x", 10, buf, 0), buf);
	dsn_subject(NULL, 0, buf, sizeof(buf));
	cr_expect_str_eq(buf, "");
}

/* One row of the NOTIFY table. */
struct notify_row {
	uint8_t notify;		/* ENV_NOTIFY_* bits */
	bool failure;		/* dsn_wanted(n, false) */
	bool delay;		/* dsn_wanted(n, true) */
};

Test(dsn, wanted_table)
{
	static const struct notify_row nr[] = {
		{ 0, true, true },
		{ ENV_NOTIFY_NEVER, false, false },
		{ ENV_NOTIFY_FAILURE, true, false },
		{ ENV_NOTIFY_DELAY, false, true },
		{ ENV_NOTIFY_SUCCESS, false, false },
		{ ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY, true, true },
		{ ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE, true, false },
		{ ENV_NOTIFY_SUCCESS | ENV_NOTIFY_DELAY, false, true },
		{ ENV_NOTIFY_SUCCESS | ENV_NOTIFY_FAILURE | ENV_NOTIFY_DELAY, true, true },
		{ ENV_NOTIFY_NEVER | ENV_NOTIFY_FAILURE, false, false },
	};

	for (size_t i = 0; i < sizeof(nr) / sizeof(nr[0]); i++) {
		cr_expect_eq(dsn_wanted(nr[i].notify, false), nr[i].failure, "row %zu", i);
		cr_expect_eq(dsn_wanted(nr[i].notify, true), nr[i].delay, "row %zu", i);
	}
}

Test(dsn, null_sender)
{
	cr_expect(dsn_is_null_sender(""));
	cr_expect(dsn_is_null_sender("<>"));
	cr_expect(dsn_is_null_sender(NULL));
	cr_expect(!dsn_is_null_sender("a@b"));
	cr_expect(!dsn_is_null_sender("MAILER-DAEMON@relay.test"));
}

Test(dsn, dates)
{
	static const struct { int64_t t; const char *want; } dr[] = {
		{ 0, "Thu, 01 Jan 1970 00:00:00 +0000" },
		{ -5, "Thu, 01 Jan 1970 00:00:00 +0000" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 +0000" },
		{ 4107542399, "Sun, 28 Feb 2100 23:59:59 +0000" },
		{ 4107542400, "Mon, 01 Mar 2100 00:00:00 +0000" },
		{ INT64_MAX, "Fri, 31 Dec 9999 23:59:59 +0000" },
	};

	for (size_t i = 0; i < sizeof(dr) / sizeof(dr[0]); i++) {
		struct dsn_report r = failed_report();
		struct rep x;

		r.now = dr[i].t;
		build(&r, &x);
		expect_hdr(&x.top, "Date", dr[i].want);
		rep_free(&x);
	}
}

/*
 * Absurd arrival times (a damaged envelope) give a report with the dates
 * clamped, and an age computed between them: no signed overflow (UBSan in
 * the sanitizer run of the unit tests; the fuzzer found it).
 */
Test(dsn, absurd_arrival_times)
{
	static const int64_t at[] = { INT64_MIN, -1, INT64_MAX };
	static const char *const want[] = {
		"after 472000", "after 472000", "Received:       Fri, 31 Dec 9999",
	};

	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		struct dsn_report r = failed_report();
		struct dsn_rcpt rc = *r.rcpts;
		struct rep x;

		rc.expired = true;	/* the text states the age */
		r.rcpts = &rc;
		r.nrcpt = 1;
		r.arrival = at[i];
		r.now = INT64_C(1699200000);	/* 2023-11-05 16:00 */
		build(&r, &x);
		cr_expect(strstr(x.out.p, want[i]) != NULL, "arrival %" PRId64 ": %s", at[i],
			  x.out.p);
		rep_free(&x);
	}
}

/* Random recipients and originals: invariants always hold. */
Test(dsn, random_reports)
{
	static const char *const strs[] = {
		NULL, "", "a@b.test", "x\r\ny", "\xff\xfe", "j\xc3\xb6rg@x.test",
		"rfc822;a+2Bb@c", ";", "rfc822;", "+", "550 5.1.1 x\r\n550 y",
	};
	unsigned seed = 7;

	for (int i = 0; i < 300; i++) {
		struct dsn_rcpt rc[3];
		char orig[600];
		struct dsn_report r = failed_report();
		struct rep x;

		for (int k = 0; k < 3; k++) {
			rc[k] = (struct dsn_rcpt){
				.addr = strs[rand_r(&seed) % 11],
				.orcpt = strs[rand_r(&seed) % 11],
				.action = rand_r(&seed) % 2 ? DSN_ACTION_FAILED : DSN_ACTION_DELAYED,
				.status = strs[rand_r(&seed) % 11],
				.code = (enum mfi_code)(rand_r(&seed) % (MFI_NCODES + 2)),
				.reply_code = (int)(rand_r(&seed) % 700) - 50,
				.reply_text = strs[rand_r(&seed) % 11],
				.remote_mta = strs[rand_r(&seed) % 11],
				.detail = strs[rand_r(&seed) % 11],
				.last_attempt = rand_r(&seed) % 2 ? T0 : 0,
			};
		}
		for (size_t k = 0; k < sizeof(orig); k++) {
			static const char alpha[] = "ab: \r\n\t\x80\xc3-";
			orig[k] = alpha[rand_r(&seed) % (sizeof(alpha) - 1)];
		}
		r.rcpts = rc;
		r.nrcpt = 1 + rand_r(&seed) % 3;
		r.orig = orig;
		r.origlen = rand_r(&seed) % sizeof(orig);
		r.ret = (uint8_t)(rand_r(&seed) % 3);
		r.envid = strs[rand_r(&seed) % 11];
		r.orig_sender = strs[rand_r(&seed) % 11];
		build(&r, &x);
		cr_assert_eq(x.nparts, 3);
		cr_assert_eq(x.ngrp, 1 + r.nrcpt, "iteration %d", i);
		for (size_t g = 1; g < x.ngrp; g++) {
			char *st = hdr(&x.grp[g], "Status");
			cr_assert_not_null(st);
			cr_assert(st[0] == '4' || st[0] == '5' || st[0] == '2', "%s", st);
			free(st);
			cr_assert_eq(hdr_count(&x.grp[g], "Action"), 1);
			cr_assert_eq(hdr_count(&x.grp[g], "Final-Recipient"), 1);
		}
		rep_free(&x);
	}
}
