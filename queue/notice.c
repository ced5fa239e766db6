/*
 * notice — writing an alert notice.
 *
 * The body is written first, into a scratch buffer, so the header can say
 * whether it is 7bit or 8bit.  Each paragraph and field value goes through
 * dsn_put_text (printable ASCII and valid UTF-8; CR/LF runs become one
 * space, other control bytes '?') and is then wrapped; a value can hold
 * no line break of its own, so it cannot end the header section early or
 * start a line of its own in the body.  Header values are stricter: the
 * host name keeps host-name characters only, a recipient printable ASCII
 * without the address delimiters, and the subject is sanitised text
 * written as RFC 2047 words when it is not ASCII.
 *
 * Pure: any thread.
 */
#include "queue/notice.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "queue/dsn.h"

#define ADDR_MAX	254	/* a recipient in To: */

/* A recipient for To:: printable ASCII, and none of the bytes that would
 * end the address or the list ("<>,;\"\\" and blanks) — those become '?'. */
static void
put_addr(struct buf *out, const char *a)
{
	size_t n = 0;

	for (; a != NULL && *a != '\0' && n < ADDR_MAX; a++, n++) {
		char c = *a;

		if ((unsigned char)c <= 0x20 || (unsigned char)c >= 0x7f ||
		    strchr("<>,;\"\\", c) != NULL)
			c = '?';
		buf_append(out, &c, 1);
	}
}

/* "Subject: s" (sanitised text, utf8 if it holds any): ASCII folded at spaces to keep lines
 * within 78 columns where its words allow; UTF-8 as dsn_put_subject's
 * encoded words (folded already). */
static void
put_subject(struct buf *out, const char *s, bool utf8)
{
	size_t col = strlen("Subject:");

	if (utf8) {
		dsn_put_subject(out, s);
		return;
	}
	buf_puts(out, "Subject:");
	while (*(s += strspn(s, " ")) != '\0') {	/* a run of spaces is one */
		size_t w = strcspn(s, " ");

		if (col > strlen("Subject:") && col + 1 + w > 78) {
			buf_puts(out, "\r\n");	/* the space below starts the fold */
			col = 0;
		}
		buf_puts(out, " ");
		buf_append(out, s, w);
		col += 1 + w;
		s += w;
	}
	buf_puts(out, "\r\n");
}

/* A paragraph: sanitised, wrapped, then an empty line.  True if it
 * holds UTF-8. */
static bool
put_para(struct buf *out, const char *text)
{
	struct buf v = { 0 };
	bool utf8;

	if (text == NULL || text[0] == '\0')
		return false;
	utf8 = dsn_put_text(&v, text, NOTICE_TEXT_MAX);
	dsn_put_wrapped(out, "", 0, v.p, v.len);
	buf_puts(out, "\r\n");
	buf_free(&v);
	return utf8;
}

/* A labelled line, wrapped in its column.  True if it holds UTF-8. */
static bool
put_field(struct buf *out, const struct notice_field *f)
{
	char lead[NOTICE_LABEL_W + 1];
	struct buf v = { 0 };
	bool utf8;

	if (f->text == NULL || f->text[0] == '\0')
		return false;
	snprintf(lead, sizeof(lead), "  %-*s", NOTICE_LABEL_W - 2,
		 f->label != NULL ? f->label : "");
	/* the label is ours, but no byte of it may break a line either */
	for (char *p = lead; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
			*p = '?';
	utf8 = dsn_put_text(&v, f->text, NOTICE_TEXT_MAX);
	dsn_put_wrapped(out, lead, NOTICE_LABEL_W, v.p, v.len);
	buf_free(&v);
	return utf8;
}

/* The body; true if it holds UTF-8. */
static bool
build_body(struct buf *b, const struct notice *n)
{
	bool utf8 = put_para(b, n->opening);

	for (size_t i = 0; i < n->nfields; i++)
		utf8 |= put_field(b, &n->fields[i]);
	if (n->nfields > 0)
		buf_puts(b, "\r\n");
	for (size_t i = 0; i < n->nnotes; i++)
		utf8 |= put_para(b, n->notes[i]);
	buf_puts(b, "-- \r\nSluice on ");
	dsn_put_host(b, n->hostname);
	buf_puts(b, "\r\n");
	return utf8;
}

unsigned
notice_build(const struct notice *n, struct buf *out)
{
	struct buf body = { 0 }, s = { 0 };
	bool body8, subj8;

	buf_reserve(&body, 2048);	/* never an empty buffer: an empty lead
					   appended to it would copy to NULL */
	body8 = build_body(&body, n);

	buf_puts(out, "From: \"Sluice ");
	dsn_put_host(out, n->hostname);
	buf_puts(out, "\" <postmaster@");
	dsn_put_host(out, n->hostname);
	buf_puts(out, ">\r\nTo: ");
	for (size_t i = 0; i < n->nto; i++) {
		buf_puts(out, i == 0 ? "<" : ",\r\n <");
		put_addr(out, n->to[i]);
		buf_puts(out, ">");
	}
	if (n->nto == 0)
		buf_puts(out, "undisclosed-recipients:;");
	buf_puts(out, "\r\n");

	buf_puts(&s, "[Sluice ");
	dsn_put_host(&s, n->hostname);
	buf_puts(&s, "] ");
	subj8 = dsn_put_text(&s, n->subject != NULL ? n->subject : "", NOTICE_SUBJECT_MAX);
	buf_append(&s, "", 1);
	put_subject(out, s.p, subj8);
	buf_free(&s);

	buf_puts(out, "Date: ");
	dsn_put_date(out, n->now);
	buf_printf(out, "\r\nMessage-ID: <alert.%016" PRIx64 ".%" PRId64 "@", n->unique,
		   n->now);
	dsn_put_host(out, n->hostname);
	buf_puts(out, ">\r\nAuto-Submitted: auto-generated\r\n");
	if (n->tag != NULL && n->tag[0] != '\0') {
		struct buf t = { 0 };

		/* ASCII only: a filter matches it byte for byte */
		dsn_put_text(&t, n->tag, 200);
		for (size_t i = 0; i < t.len; i++)
			if ((unsigned char)t.p[i] >= 0x80)
				t.p[i] = '?';
		buf_puts(out, "X-Sluice-Alert: ");
		buf_append(out, t.p, t.len);
		buf_puts(out, "\r\n");
		buf_free(&t);
	}
	buf_printf(out, "MIME-Version: 1.0\r\n"
		   "Content-Type: text/plain; charset=utf-8\r\n"
		   "Content-Transfer-Encoding: %s\r\n\r\n", body8 ? "8bit" : "7bit");
	buf_append(out, body.p, body.len);
	buf_free(&body);
	return body8 ? NOTICE_8BIT : 0;
}
