/*
 * notice_test — unit tests of queue/notice: the alert notice read back as
 * a mail reader would (its header fields, in order, and its body),
 * header injection through every string it carries (subject, host name,
 * recipients, tag, labels and values), wrapping of the opening and the
 * fields, long values, UTF-8 text and the 8bit flag.
 */
#include "queue/notice.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strb.h"

/* A built notice, NUL-terminated, and where its body starts. */
struct built {
	struct buf out;		/* notice_build() output, NUL added */
	unsigned flags;		/* its result */
	const char *body;	/* after the empty line */
	size_t hlen;		/* bytes of the header section, its last CRLF in */
};

static void
build(const struct notice *n, struct built *b)
{
	const char *e;

	memset(b, 0, sizeof(*b));
	b->flags = notice_build(n, &b->out);
	buf_append(&b->out, "", 1);
	e = strstr(b->out.p, "\r\n\r\n");
	cr_assert_not_null(e, "no end of the header section");
	b->hlen = (size_t)(e - b->out.p) + 2;
	b->body = e + 4;
}

/* Every line ends in CRLF, none holds a bare CR or LF or another control
 * byte (tabs aside), none is longer than max. */
static void
check_lines(const char *p, size_t n, size_t max)
{
	size_t col = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '\r') {
			cr_assert(i + 1 < n && p[i + 1] == '\n', "bare CR at %zu", i);
			cr_assert_leq(col, max, "line of %zu bytes before %zu", col, i);
			col = 0;
			i++;
			continue;
		}
		cr_assert_neq(c, '\n', "bare LF at %zu", i);
		cr_assert(c >= 0x20 || c == '\t', "control byte 0x%02x at %zu", c, i);
		col++;
	}
	cr_assert_eq(col, 0, "last line without CRLF");
}

/* The names of the header fields, in order, joined by spaces. */
static void
field_names(const struct built *b, char *out, size_t n)
{
	const char *p = b->out.p, *end = b->out.p + b->hlen;
	struct strb sb;

	strb_init(&sb, out, n);
	while (p < end) {
		const char *eol = strstr(p, "\r\n"), *colon;
		if (*p != ' ' && *p != '\t') {
			colon = memchr(p, ':', (size_t)(eol - p));
			cr_assert_not_null(colon, "a header line without a colon: %.*s",
					   (int)(eol - p), p);
			strb_printf(&sb, "%s%.*s", sb.len ? " " : "", (int)(colon - p), p);
		}
		p = eol + 2;
	}
	cr_assert_not(sb.trunc);
}

/* The value of header field name (first one; continuation lines joined),
 * into out. */
static const char *
field(const struct built *b, const char *name, char *out, size_t n)
{
	const char *p = b->out.p, *end = b->out.p + b->hlen;
	size_t nl = strlen(name);
	struct strb sb;

	strb_init(&sb, out, n);
	while (p < end) {
		const char *eol = strstr(p, "\r\n");
		if (strncmp(p, name, nl) == 0 && p[nl] == ':') {
			const char *v = p + nl + 1;
			for (;;) {
				strb_putn(&sb, v, (size_t)(eol - v));
				if (eol + 2 >= end || (eol[2] != ' ' && eol[2] != '\t'))
					break;
				v = eol + 2;
				eol = strstr(v, "\r\n");
			}
			cr_assert_not(sb.trunc);
			return out[0] == ' ' ? out + 1 : out;
		}
		p = eol + 2;
	}
	return NULL;
}

static const char *const two[] = { "ops@example.net", "second@example.net" };

static const struct notice_field fields[] = {
	{ "Connector:", "partner" },
	{ "Code:", "4.4.316 (conn_refused)" },
	{ "Empty:", "" },
	{ "Absent:", NULL },
	{ "How to fix:", "The partner or destination administrator allows the relay's "
	  "addresses on TCP 25 (or the connector's port) in the destination's firewall and "
	  "checks that the server listens; if that server was retired, the operator points "
	  "the connector at the new server, or runs fix-now for the domain." },
};

static const char *const notes[] = { "This is notice 1 of at most 3 a day about this "
				     "alert (alerts: daily_limit, counted per UTC day)." };

static struct notice
plain(void)
{
	return (struct notice){
		.hostname = "relay.example.net", .to = two, .nto = 2,
		.subject = "Queue alert raised: partner 4.4.316 Connection refused (215 messages)",
		.tag = "queue; raised; partner",
		.opening = "A queue alert was raised for connector partner: 215 messages queued "
			   "there, at least 200 of them for more than 1 hour (the alert's "
			   "threshold is 200).",
		.fields = fields, .nfields = 5, .notes = notes, .nnotes = 1,
		.now = 1796585458, .unique = 0x0123456789abcdefULL,
	};
}

Test(notice, headers_and_body)
{
	struct notice n = plain();
	struct built b;
	char v[1024], names[512];

	build(&n, &b);
	field_names(&b, names, sizeof(names));
	cr_expect_str_eq(names, "From To Subject Date Message-ID Auto-Submitted X-Sluice-Alert "
			 "MIME-Version Content-Type Content-Transfer-Encoding");
	cr_expect_str_eq(field(&b, "From", v, sizeof(v)),
			 "\"Sluice relay.example.net\" <postmaster@relay.example.net>");
	cr_expect_str_eq(field(&b, "To", v, sizeof(v)), "<ops@example.net>, <second@example.net>");
	cr_expect_str_eq(field(&b, "Subject", v, sizeof(v)), "[Sluice relay.example.net] Queue "
			 "alert raised: partner 4.4.316 Connection refused (215 messages)");
	cr_expect_str_eq(field(&b, "Date", v, sizeof(v)), "Sun, 06 Dec 2026 19:30:58 +0000");
	cr_expect_str_eq(field(&b, "Message-ID", v, sizeof(v)),
			 "<alert.0123456789abcdef.1796585458@relay.example.net>");
	cr_expect_str_eq(field(&b, "Auto-Submitted", v, sizeof(v)), "auto-generated");
	cr_expect_str_eq(field(&b, "X-Sluice-Alert", v, sizeof(v)), "queue; raised; partner");
	cr_expect_str_eq(field(&b, "Content-Type", v, sizeof(v)), "text/plain; charset=utf-8");
	cr_expect_str_eq(field(&b, "Content-Transfer-Encoding", v, sizeof(v)), "7bit");
	cr_expect_eq(b.flags, 0);
	check_lines(b.out.p, b.out.len - 1, 78);
	/* the opening wrapped, the fields in their column, the empty ones out */
	cr_expect(strncmp(b.body, "A queue alert was raised for connector partner: 215 "
			  "messages queued there,\r\nat least 200", 88) == 0, "%s", b.body);
	cr_expect_not_null(strstr(b.body, "\r\n\r\n  Connector:      partner\r\n"
				  "  Code:           4.4.316 (conn_refused)\r\n"
				  "  How to fix:     The partner or destination administrator "
				  "allows the\r\n                  relay's addresses"));
	cr_expect_null(strstr(b.body, "Empty:"));
	cr_expect_null(strstr(b.body, "Absent:"));
	cr_expect_not_null(strstr(b.body, "\r\n\r\nThis is notice 1 of at most 3 a day"));
	cr_expect_not_null(strstr(b.body, "\r\n-- \r\nSluice on relay.example.net\r\n"));
	buf_free(&b.out);
}

/*
 * Every string of a notice tries to start a header of its own, end the
 * header section, or carry a control byte: none of it works.
 */
Test(notice, header_injection)
{
	static const char *const to[] = { "ops@example.net>\r\nBcc: <victim@evil.test",
					  "a@b\nX-Evil: 1" };
	static const struct notice_field f[] = {
		{ "Connector:", "par\r\ntner\r\n\r\nX-Injected: 1" },
		{ "Last\r\nX-Label:", "450 4.4.316 a\rb\nc\x1b[31m\x7f" },
	};
	static const char *const nt[] = { "note\r\n\r\nSubject: again" };
	struct notice n = {
		.hostname = "relay\r\nBcc: host@evil.test", .to = to, .nto = 2,
		.subject = "Queue alert raised: par\r\ntner\r\nBcc: subject@evil.test\r\n\r\nbody",
		.tag = "queue; raised; par\r\ntner\nX-Tag: 1",
		.opening = "opening\r\nX-Opening: 1", .fields = f, .nfields = 2, .notes = nt,
		.nnotes = 1, .now = 1796585458, .unique = 1,
	};
	struct built b;
	char names[512], v[1024];

	build(&n, &b);
	check_lines(b.out.p, b.out.len - 1, 998);
	field_names(&b, names, sizeof(names));
	cr_expect_str_eq(names, "From To Subject Date Message-ID Auto-Submitted X-Sluice-Alert "
			 "MIME-Version Content-Type Content-Transfer-Encoding");
	cr_expect_str_eq(field(&b, "From", v, sizeof(v)),
			 "\"Sluice relay--Bcc:-host-evil.test\" "
			 "<postmaster@relay--Bcc:-host-evil.test>");
	cr_expect_str_eq(field(&b, "To", v, sizeof(v)),
			 "<ops@example.net???Bcc:??victim@evil.test>, <a@b?X-Evil:?1>");
	cr_expect_str_eq(field(&b, "Subject", v, sizeof(v)), "[Sluice relay--Bcc:-host-evil.test] "
			 "Queue alert raised: par tner Bcc: subject@evil.test body");
	cr_expect_str_eq(field(&b, "X-Sluice-Alert", v, sizeof(v)),
			 "queue; raised; par tner X-Tag: 1");
	/* the body: each value on its own field line, no line of its own */
	for (const char *p = b.body; *p != '\0'; p = strstr(p, "\r\n") + 2) {
		cr_expect(strncmp(p, "X-", 2) != 0 && strncmp(p, "Subject:", 8) != 0 &&
			  strncmp(p, "Bcc:", 4) != 0, "a line starts a header: %.40s", p);
		if (strstr(p, "\r\n") == NULL)
			break;
	}
	cr_expect_not_null(strstr(b.body, "  Connector:      par tner X-Injected: 1\r\n"));
	cr_expect_not_null(strstr(b.body, "  Last??X-Label:  450 4.4.316 a b c?[31m?\r\n"), "%s",
			   b.body);
	buf_free(&b.out);
}

/* A value longer than NOTICE_TEXT_MAX is cut and marked; a word longer
 * than a line is broken within 998 bytes; a long subject is cut. */
Test(notice, long_values)
{
	char *word = malloc(5000), *subj = malloc(1000);
	struct notice_field f[] = { { "Last error:", word } };
	struct notice n = plain();
	struct built b;
	char v[2048];

	memset(word, 'x', 4999);
	word[4999] = '\0';
	memset(subj, 's', 999);
	subj[999] = '\0';
	n.fields = f;
	n.nfields = 1;
	n.subject = subj;
	build(&n, &b);
	check_lines(b.out.p, b.out.len - 1, 998);
	cr_expect_not_null(strstr(b.body, "xxx..."));
	cr_expect_null(strstr(b.body, "xxxx\r\n                  xxxx..."), "cut before broken");
	cr_expect_eq(strlen(field(&b, "Subject", v, sizeof(v))),
		     strlen("[Sluice relay.example.net] ") + NOTICE_SUBJECT_MAX + 3);
	free(word);
	free(subj);
	buf_free(&b.out);
}

/* UTF-8 text stays UTF-8 in the body (8bit), and becomes encoded words in
 * the subject; bytes that are not UTF-8 become '?'. */
Test(notice, utf8)
{
	struct notice_field f[] = { { "Domain:", "b\xc3\xbc" "cher.example \xff\xfe" } };
	struct notice n = plain();
	struct built b;
	char v[1024];

	n.fields = f;
	n.nfields = 1;
	n.subject = "Possible mail loop: b\xc3\xbc" "cher.example";
	build(&n, &b);
	cr_expect_eq(b.flags, NOTICE_8BIT);
	cr_expect_str_eq(field(&b, "Content-Transfer-Encoding", v, sizeof(v)), "8bit");
	cr_expect_not_null(strstr(b.body, "  Domain:         b\xc3\xbc" "cher.example ??\r\n"));
	field(&b, "Subject", v, sizeof(v));
	cr_expect(strncmp(v, "=?UTF-8?B?", 10) == 0 || strstr(v, "=?UTF-8?B?") != NULL, "%s", v);
	for (size_t i = 0; i < b.hlen; i++)
		cr_assert_lt((unsigned char)b.out.p[i], 0x80, "8-bit byte in the header");
	buf_free(&b.out);
}

/* No recipient: a To that says so, still a valid message. */
Test(notice, no_recipient)
{
	struct notice n = plain();
	struct built b;
	char v[256];

	n.nto = 0;
	n.tag = NULL;
	build(&n, &b);
	cr_expect_str_eq(field(&b, "To", v, sizeof(v)), "undisclosed-recipients:;");
	cr_expect_null(field(&b, "X-Sluice-Alert", v, sizeof(v)));
	buf_free(&b.out);
}
