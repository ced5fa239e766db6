/*
 * smtp_testmsg tests: the connector test message says what it is (its
 * Subject, X-Sluice-Validation with the connector, Auto-Submitted, From
 * postmaster@ this relay, To the operator's address), is 7-bit with CRLF
 * line ends, and no string it is given can add or end a field.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "net/smtp_testmsg.h"

static char *
build(const struct smtp_testmsg *m, struct buf *out)
{
	out->len = 0;
	smtp_testmsg_build(m, out);
	buf_append(out, "", 1);
	return out->p;
}

Test(smtp_testmsg, fields)
{
	struct smtp_testmsg m = {
		.hostname = "relay.example.net", .connector = "onprem",
		.rcpt = "postmaster@corp.example", .date = "Thu, 01 Jan 2026 00:00:00 +0000",
		.unique = 0x0123456789abcdefULL,
	};
	char id[SMTP_TESTMSG_ID_MAX];
	struct buf b = { 0 };
	const char *t = build(&m, &b), *body;

	smtp_testmsg_id(&m, id);
	cr_expect_str_eq(id, "<validate.0123456789abcdef@relay.example.net>");
	cr_expect(strncmp(t, "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n", 39) == 0, "%s", t);
	cr_expect(strstr(t, "\r\nFrom: Sluice connector validation "
			 "<postmaster@relay.example.net>\r\n") != NULL);
	cr_expect(strstr(t, "\r\nTo: <postmaster@corp.example>\r\n") != NULL);
	cr_expect(strstr(t, "\r\nSubject: Sluice connector validation test\r\n") != NULL);
	cr_expect(strstr(t, "\r\nMessage-ID: <validate.0123456789abcdef@relay.example.net>\r\n")
		  != NULL);
	cr_expect(strstr(t, "\r\nX-Sluice-Validation: onprem\r\n") != NULL);
	cr_expect(strstr(t, "\r\nAuto-Submitted: auto-generated\r\n") != NULL);
	body = strstr(t, "\r\n\r\n");
	cr_assert_not_null(body);
	cr_expect(strstr(body, "connector onprem of the mail relay relay.example.net") != NULL);
	for (size_t i = 0; i < b.len - 1; i++) {
		unsigned char c = (unsigned char)t[i];
		cr_assert(c < 0x80, "8-bit byte at %zu", i);
		if (c == '\n')
			cr_assert(i > 0 && t[i - 1] == '\r', "bare LF at %zu", i);
		if (c == '\r')
			cr_assert(t[i + 1] == '\n', "bare CR at %zu", i);
	}
	cr_expect(b.len >= 3 && memcmp(t + b.len - 3, "\r\n", 2) == 0, "ends with CRLF");
	buf_free(&b);
}

Test(smtp_testmsg, strings_cannot_add_fields)
{
	struct smtp_testmsg m = {
		.hostname = "relay\r\nBcc: x@evil.test", .connector = "c\nX-Evil: 1",
		.rcpt = "a@b.test>\r\nBcc: y@evil.test", .date = "now\r\n\xff",
	};
	struct buf b = { 0 };
	const char *t = build(&m, &b);
	char id[SMTP_TESTMSG_ID_MAX];

	cr_expect(strstr(t, "\r\nBcc:") == NULL);
	cr_expect(strstr(t, "\nX-Evil") == NULL);
	cr_expect(strstr(t, "\r\nTo: <a@b.test>??Bcc: y@evil.test>\r\n") != NULL, "%s", t);
	cr_expect(strstr(t, "Date: now???\r\n") != NULL);
	smtp_testmsg_id(&m, id);
	cr_expect_str_eq(id, "<validate.0000000000000000@relay??Bcc: x@evil.test>");
	buf_free(&b);
}
