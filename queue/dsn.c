/*
 * dsn — building RFC 3464 reports.
 *
 * The text and delivery-status parts are built into scratch buffers first,
 * so the MIME boundary can be checked against everything the report
 * carries (a subject, an address or a returned message could contain a
 * guessed boundary) before the headers are written.  The original is
 * copied last, straight into the output, with its line endings normalised
 * to CRLF and over-long lines broken, so the report is valid whatever was
 * spooled.
 *
 * Sanitising: header and delivery-status values keep printable ASCII only
 * (addresses, Subject and the human text also keep valid UTF-8); CR, LF and
 * every other control byte become '?' (reply lines are joined with a space
 * first), so no input can start a new header line.  ENVID and ORCPT are
 * xtext-decoded (RFC 3461 6.3) before that.
 *
 * Pure: any thread.
 */
#include "queue/dsn.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/utf8.h"
#include "queue/envelope.h"

/* Caps on copied strings (far above any valid value). */
#define ADDR_MAX	512	/* an address */
#define HOST_MAX	255	/* a host name */
#define REPLY_MAX	400	/* a remote reply in Diagnostic-Code */
#define DETAIL_MAX	900	/* a detail line in the text part */
#define ENVID_MAX	200	/* a decoded ENVID */
#define WRAP		76	/* text part line width */
#define LINE_MAX_	998	/* RFC 5322 line limit, without CRLF */
#define LABEL_W		18	/* width of "  What happened:  " */

/* put_clean() flags. */
#define CL_UTF8		0x01	/* keep valid UTF-8 (else non-ASCII -> '?') */
#define CL_JOIN		0x02	/* CR/LF runs -> one space (else '?') */

static bool
has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/*
 * Append n bytes of s, sanitised (see the file comment), at most max bytes;
 * a cut is marked "...".  Returns true if non-ASCII bytes were written.
 */
static bool
put_clean(struct buf *out, const char *s, size_t n, size_t max, unsigned fl)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0, i = 0, l;
	bool brk = false, utf8 = false;

	if (n == 0)
		return false;
	while (i < n) {
		unsigned char c = p[i];

		if ((c == '\r' || c == '\n') && (fl & CL_JOIN)) {
			brk = true;
			i++;
			continue;
		}
		if (brk && w > 0) {
			if (w + 1 > max)
				goto cut;
			buf_append(out, " ", 1);
			w++;
		}
		brk = false;
		l = 1;
		if (c >= 0x80 && (fl & CL_UTF8))
			l = utf8_seq(s + i, n - i, NULL);
		if (w + (l ? l : 1) > max)
			goto cut;
		if (c >= 0x80 && l > 0 && (fl & CL_UTF8)) {
			buf_append(out, p + i, l);
			utf8 = true;
			i += l;
			w += l;
			continue;
		}
		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		buf_append(out, &c, 1);
		i++;
		w++;
	}
	return utf8;
cut:
	buf_puts(out, "...");
	return utf8;
}

static bool
put_cleans(struct buf *out, const char *s, size_t max, unsigned fl)
{
	return s != NULL ? put_clean(out, s, strlen(s), max, fl) : false;
}

/* A host name for DNS-typed fields: letters, digits, ".-_[]:" only. */
static void
put_host(struct buf *out, const char *h)
{
	size_t n = 0;

	if (h == NULL || h[0] == '\0')
		h = "localhost";
	for (; *h != '\0' && n < HOST_MAX; h++, n++) {
		char c = *h;

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || strchr(".-_[]:", c) != NULL))
			c = '-';
		buf_append(out, &c, 1);
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Decode xtext ("+HH" escapes) into dst; returns the decoded length. */
static size_t
xtext_decode(const char *s, char *dst, size_t dstlen)
{
	size_t n = 0;

	while (*s != '\0' && n < dstlen) {
		int hi, lo;

		if (s[0] == '+' && (hi = hexval(s[1])) >= 0 &&
		    (lo = hexval(s[2])) >= 0) {
			dst[n++] = (char)(hi << 4 | lo);
			s += 3;
		} else {
			dst[n++] = *s++;
		}
	}
	return n;
}

/* Days since 1970-01-01 -> civil date (proleptic Gregorian). */
static void
civil(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	int64_t era, yy;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	yy = (int64_t)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yy + (*m <= 2);
}

/* t clamped to the dates a report can show: years 1970-9999. */
static int64_t
clamp_time(int64_t t)
{
	if (t < 0)
		return 0;
	if (t > INT64_C(253402300799))
		return INT64_C(253402300799);
	return t;
}

/* RFC 5322 date-time in UTC, t clamped to years 1970-9999. */
static void
put_date(struct buf *out, int64_t t)
{
	static const char wday[7][4] = {
		"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"
	};
	static const char mon[12][4] = {
		"Jan", "Feb", "Mar", "Apr", "May", "Jun",
		"Jul", "Aug", "Sep", "Oct", "Nov", "Dec"
	};
	int64_t days, secs, y;
	unsigned m, d;

	t = clamp_time(t);
	days = t / 86400;
	secs = t % 86400;
	civil(days, &y, &m, &d);
	buf_printf(out, "%s, %02u %s %04" PRId64 " %02d:%02d:%02d +0000",
		   wday[days % 7], d, mon[m - 1], y, (int)(secs / 3600),
		   (int)(secs / 60 % 60), (int)(secs % 60));
}

/* Byte put_wrapped() prints as a space but never breaks a line at. */
#define NBSP	'\x01'

/* put_date() with non-breaking spaces, for running text. */
static void
put_date_nb(struct buf *out, int64_t t)
{
	size_t from = out->len;

	put_date(out, t);
	for (size_t i = from; i < out->len; i++)
		if (out->p[i] == ' ')
			out->p[i] = NBSP;
}

/* "N hours", "N minutes", "N seconds" or "1 hour" (rounded down). */
static void
put_duration(struct buf *out, int64_t s)
{
	int64_t n = s >= 3600 ? s / 3600 : s >= 60 ? s / 60 : s;

	buf_printf(out, "%" PRId64 " %s%s", n,
		   s >= 3600 ? "hour" : s >= 60 ? "minute" : "second",
		   n == 1 ? "" : "s");
}

/* "24 hours and 13 attempts" (the attempts only when known). */
static void
put_expiry(struct buf *out, int64_t age, uint32_t attempts)
{
	put_duration(out, age);
	if (attempts > 0)
		buf_printf(out, " and %" PRIu32 " attempt%s", attempts,
			   attempts == 1 ? "" : "s");
}

/*
 * Append text (n bytes, no CR/LF) after lead, wrapped at WRAP columns;
 * continuation lines are indented by ind spaces.  A word longer than a
 * line is left whole unless it would pass LINE_MAX_.  NBSP bytes come out
 * as spaces inside a word (sanitised input holds no control bytes).
 */
static void
put_word(struct buf *out, const char *p, size_t n)
{
	size_t from = out->len;

	buf_append(out, p, n);
	for (size_t i = from; i < out->len; i++)
		if (out->p[i] == NBSP)
			out->p[i] = ' ';
}

static void
put_wrapped(struct buf *out, const char *lead, size_t ind, const char *text,
	    size_t n)
{
	size_t col = strlen(lead), i = 0;
	bool first = true;

	buf_puts(out, lead);
	while (i < n) {
		size_t j, wl;

		while (i < n && text[i] == ' ')
			i++;
		if (i == n)
			break;
		for (j = i; j < n && text[j] != ' '; j++)
			;
		wl = j - i;
		if (!first && col + 1 + wl > WRAP) {
			buf_puts(out, "\r\n");
			buf_printf(out, "%*s", (int)ind, "");
			col = ind;
		} else if (!first) {
			buf_puts(out, " ");
			col++;
		}
		while (col + wl > LINE_MAX_) {
			size_t k = LINE_MAX_ - col;

			put_word(out, text + i, k);
			buf_puts(out, "\r\n");
			buf_printf(out, "%*s", (int)ind, "");
			col = ind;
			i += k;
			wl -= k;
		}
		put_word(out, text + i, wl);
		col += wl;
		i += wl;
		first = false;
	}
	buf_puts(out, "\r\n");
}

/* put_wrapped() for a NUL-terminated string with a label column. */
static void
put_field(struct buf *out, const char *label, const char *text)
{
	char lead[LABEL_W + 1];

	snprintf(lead, sizeof(lead), "  %-*s", LABEL_W - 2, label);
	put_wrapped(out, lead, LABEL_W, text, strlen(text));
}

/* True if s is an RFC 3463 status "c.sss.ddd" with class 2, 4 or 5. */
static bool
valid_status(const char *s)
{
	size_t i = 1, k;

	if (s == NULL || (s[0] != '2' && s[0] != '4' && s[0] != '5'))
		return false;
	for (int part = 0; part < 2; part++) {
		if (s[i++] != '.')
			return false;
		for (k = 0; k < 3 && s[i] >= '0' && s[i] <= '9'; k++)
			i++;
		if (k == 0)
			return false;
	}
	return s[i] == '\0';
}

static bool
has_reply(const struct dsn_rcpt *rc)
{
	return (rc->code == MFI_REMOTE || rc->code == MFI_NONE) &&
	       ((rc->reply_code >= 200 && rc->reply_code <= 599) ||
		(rc->reply_text != NULL && rc->reply_text[0] != '\0'));
}

/* Whether a recipient expired: failed because its time ran out. */
static bool
is_expired(const struct dsn_rcpt *rc)
{
	return rc->expired && rc->action == DSN_ACTION_FAILED;
}

/*
 * The Status of a recipient (see struct dsn_rcpt).
 *
 * An expired recipient gets 5.4.7, not the last attempt's code (4.4.316
 * and the like) nor Exchange Online's 4.4.7.  RFC 3463 does allow a
 * 4.X.X status on a failure report (a persistent transient condition led
 * to abandonment; sending again later may work), but bounce processors
 * read the class digit first, and a 4 beside "Action: failed" reads to
 * them as a delay: Sisimai's is_permanent() says 0 (temporary) for
 * 4.4.7 and for 4.4.316, and it classifies 4.4.316 "onhold".  The report
 * is final (Sluice makes no further attempt), so the class says so; 5.4.7
 * is RFC 3463's "delivery time expired" in that class.  What the 4 would
 * have said is not lost: Diagnostic-Code keeps the last error (a remote
 * reply verbatim, or Sluice's own code), and the human part gives it with
 * its fix and says the message can be sent again once that is done.  Sisimai has no table entry for
 * 5.4.7 (it has one for 4.4.7), so the Diagnostic-Code of a failure
 * Sluice itself recorded also says "delivery time expired" in words,
 * which it matches: reason "expired" (tests/integration/test_ndr.py).
 */
static const char *
rcpt_status(const struct dsn_rcpt *rc, char out[MFI_STATUS_MAX])
{
	const char *st;

	if (valid_status(rc->status))
		return rc->status;
	if (is_expired(rc))
		return DSN_STATUS_EXPIRED;
	if (has_reply(rc) && rc->reply_code >= 400 && rc->reply_code <= 599)
		st = mfi_reply_status(rc->reply_text, rc->reply_code, out);
	else if (mfi_status(rc->code)[0] != '\0')
		st = mfi_status(rc->code);
	else
		st = rc->action == DSN_ACTION_DELAYED ? "4.0.0" : "5.0.0";
	/* the same for any other end of a temporary failure (the operator
	   returned the message): final, so not class 4; Diagnostic-Code
	   keeps the last error */
	return rc->action == DSN_ACTION_FAILED && st[0] == '4' ? "5.0.0" : st;
}

/* The status its advice is looked up by: the reply's own, or the status
 * Sluice set (fix-now's 5.1.10, no route's 5.4.4); NULL if neither. */
static const char *
advice_status(const struct dsn_rcpt *rc, char out[MFI_STATUS_MAX])
{
	if (has_reply(rc) && rc->reply_code >= 400 && rc->reply_code <= 599)
		return mfi_reply_status(rc->reply_text, rc->reply_code, out);
	return valid_status(rc->status) ? rc->status : NULL;
}

/* The remote reply, its code first, joined to one line, ASCII. */
static void
put_reply(struct buf *out, const struct dsn_rcpt *rc)
{
	const char *t = rc->reply_text;
	char code[12];

	if (rc->reply_code >= 200 && rc->reply_code <= 599) {
		snprintf(code, sizeof(code), "%d", rc->reply_code);
		if (t == NULL || strncmp(t, code, 3) != 0) {
			buf_puts(out, code);
			if (t != NULL && t[0] != '\0')
				buf_puts(out, " ");
		}
	}
	put_cleans(out, t, REPLY_MAX, CL_JOIN);
}

/* The last error in one line: the reply, else Sluice's code's line. */
static void
put_last_error(struct buf *out, const struct dsn_rcpt *rc)
{
	if (has_reply(rc))
		put_reply(out, rc);
	else
		buf_puts(out, mfi_reply(rc->code));
}

/*
 * Index just past the line starting at i: a line ends at CRLF, or at a
 * bare CR or LF, as put_original() sees it.
 */
static size_t
line_next(const char *p, size_t i, size_t n)
{
	while (i < n && p[i] != '\r' && p[i] != '\n')
		i++;
	if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n')
		i++;
	return i < n ? i + 1 : n;
}

/* Byte length of the header section: up to the first empty line. */
static size_t
header_len(const char *p, size_t n)
{
	size_t i = 0;

	while (i < n && p[i] != '\r' && p[i] != '\n')
		i = line_next(p, i, n);
	return i;
}

const char *
dsn_subject(const char *orig, size_t len, char *buf, size_t buflen)
{
	struct buf v = { 0 };
	size_t hl, i = 0, n;

	if (buflen == 0)
		return buf;
	buf[0] = '\0';
	if (orig == NULL)
		return buf;
	hl = header_len(orig, len);
	while (i < hl) {
		size_t end = line_next(orig, i, hl);

		if (end - i >= 8 && strncasecmp(orig + i, "Subject:", 8) == 0) {
			/* The field: this line and its continuation lines. */
			while (end < hl && (orig[end] == ' ' || orig[end] == '\t'))
				end = line_next(orig, end, hl);
			/* Unfold: drop CR and LF, keep the blanks after them. */
			for (size_t k = i + 8; k < end; k++)
				if (orig[k] != '\r' && orig[k] != '\n')
					buf_append(&v, orig + k, 1);
			break;
		}
		i = end;
	}
	for (i = 0; i < v.len && (v.p[i] == ' ' || v.p[i] == '\t'); i++)
		;
	if (i < v.len) {
		struct buf c = { 0 };
		size_t a = 0, b;

		put_clean(&c, v.p + i, v.len - i, SIZE_MAX, CL_UTF8);
		/* Truncate before the character that does not fit. */
		b = c.len;
		if (b > buflen - 1) {
			b = buflen - 1;
			while (b > 0 && ((unsigned char)c.p[b] & 0xc0) == 0x80)
				b--;
		}
		while (a < b && c.p[a] == ' ')
			a++;
		while (b > a && c.p[b - 1] == ' ')
			b--;
		n = b - a;
		memcpy(buf, c.p + a, n);
		buf[n] = '\0';
		buf_free(&c);
	}
	buf_free(&v);
	return buf;
}

bool
dsn_wanted(uint8_t notify, bool delayed)
{
	if (notify & ENV_NOTIFY_NEVER)
		return false;
	if (notify == 0)
		return true;
	return (notify & (delayed ? ENV_NOTIFY_DELAY : ENV_NOTIFY_FAILURE)) != 0;
}

bool
dsn_is_null_sender(const char *sender)
{
	return sender == NULL || sender[0] == '\0' || strcmp(sender, "<>") == 0;
}

static const char b64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void
put_base64(struct buf *out, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = b64[v >> 18 & 63];
		q[1] = b64[v >> 12 & 63];
		q[2] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		q[3] = i + 2 < n ? b64[v & 63] : '=';
		buf_append(out, q, 4);
	}
}

/*
 * "Subject: <s>" for the report; s is clean (printable ASCII and valid
 * UTF-8).  Non-ASCII goes out as RFC 2047 encoded words of at most 39
 * bytes (64 characters), split on character boundaries, one per folded
 * line, so the header stays ASCII and its lines within 76 characters.
 */
static void
put_subject_header(struct buf *out, const char *s)
{
	size_t n = strlen(s), i = 0;

	if (!has_8bit(s, n)) {
		buf_printf(out, "Subject: %s\r\n", s);
		return;
	}
	buf_puts(out, "Subject:");
	while (i < n) {
		size_t k = i, l;

		while (k < n) {
			l = utf8_seq(s + k, n - k, NULL);
			if (l == 0)
				l = 1;
			if (k + l - i > 39)
				break;
			k += l;
		}
		buf_puts(out, i == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		put_base64(out, (const unsigned char *)s + i, k - i);
		buf_puts(out, "?=");
		i = k;
	}
	buf_puts(out, "\r\n");
}

/* The age of the message a report is about, between the dates shown, so
 * the difference cannot overflow whatever a damaged envelope says. */
static int64_t
report_age(const struct dsn_report *r)
{
	return clamp_time(r->now) - clamp_time(r->arrival);
}

/* One recipient's block in the human-readable part. */
static void
text_rcpt(struct buf *t, const struct dsn_report *r, const struct dsn_rcpt *rc)
{
	char st[MFI_STATUS_MAX];
	struct buf v = { 0 };
	struct mfi_advice adv;
	bool expired = is_expired(rc);

	buf_puts(t, "<");
	put_cleans(t, rc->addr, ADDR_MAX, CL_UTF8);
	buf_puts(t, ">\r\n");
	buf_puts(&v, rcpt_status(rc, st));
	if (expired)
		buf_puts(&v, " (delivery time expired)");
	buf_append(&v, "", 1);
	put_field(t, "Status:", v.p);
	v.len = 0;
	if (expired) {
		/* says what Error: and Reply: would */
		buf_puts(&v, "after ");
		put_expiry(&v, report_age(r), rc->attempts);
		buf_puts(&v, ", final");
		if (has_reply(rc) || mfi_reply(rc->code)[0] != '\0') {
			buf_puts(&v, "; the last error was ");
			put_last_error(&v, rc);
		}
		buf_append(&v, "", 1);
		put_field(t, "Expired:", v.p);
		v.len = 0;
	} else if (has_reply(rc) && (rc->detail == NULL || rc->detail[0] == '\0')) {
		/* The detail line, when there is one, says this and more. */
		if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0') {
			put_host(&v, rc->remote_mta);
			buf_puts(&v, " said: ");
		}
		put_reply(&v, rc);
		buf_append(&v, "", 1);
		put_field(t, "Reply:", v.p);
		v.len = 0;
	}
	if (!expired && mfi_reply(rc->code)[0] != '\0')
		put_field(t, "Error:", mfi_reply(rc->code));
	if (mfi_advice(rc->code, advice_status(rc, st), &adv)) {
		put_field(t, "What happened:", adv.meaning);
		put_field(t, "How to fix:", adv.fix);
		put_field(t, "Who should act:", adv.who);
	}
	if (rc->detail != NULL && rc->detail[0] != '\0') {
		put_cleans(&v, rc->detail, DETAIL_MAX, CL_JOIN);
		buf_append(&v, "", 1);
		put_field(t, "Detail:", v.p);
		v.len = 0;
	} else if (!has_reply(rc) && rc->remote_mta != NULL &&
		   rc->remote_mta[0] != '\0') {
		put_host(&v, rc->remote_mta);
		buf_append(&v, "", 1);
		put_field(t, "Server:", v.p);
		v.len = 0;
	}
	if (rc->last_attempt != 0) {
		put_date(&v, rc->last_attempt);
		buf_append(&v, "", 1);
		put_field(t, "Last attempt:", v.p);
		v.len = 0;
	}
	if (rc->action == DSN_ACTION_DELAYED && r->retry_until != 0) {
		put_date(&v, r->retry_until);
		buf_append(&v, "", 1);
		put_field(t, "Trying until:", v.p);
	}
	buf_puts(t, "\r\n");
	buf_free(&v);
}

/* How much of the original goes back. */
enum orig_mode {
	ORIG_HEADERS,		/* header section (RET=HDRS or none) */
	ORIG_FULL,		/* the whole message (RET=FULL) */
	ORIG_TOO_BIG,		/* RET=FULL but over orig_max: headers */
};

/* The human-readable part. */
static void
build_text(struct buf *t, const struct dsn_report *r, const char *subj,
	   size_t nfailed, size_t ndelayed, enum orig_mode mode)
{
	int64_t age = report_age(r);
	struct buf v = { 0 };
	bool all_expired = nfailed > 0;
	uint32_t attempts = 0;

	/* Every failed recipient expired: the opening says so, with their
	   attempts when they all had the same (one job's recipients do). */
	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		if (rc->action != DSN_ACTION_FAILED)
			continue;
		if (!is_expired(rc))
			all_expired = false;
		else if (attempts == 0)
			attempts = rc->attempts;
		else if (attempts != rc->attempts)
			attempts = UINT32_MAX;
	}
	if (attempts == UINT32_MAX)
		attempts = 0;

	buf_puts(t, "This is the mail system at ");
	put_host(t, r->reporting_mta);
	buf_puts(t, ".\r\n\r\n");

	if (nfailed > 0) {
		buf_printf(&v, "Your message could not be delivered to the "
			   "following recipient%s.", nfailed == 1 ? "" : "s");
		if (all_expired) {
			buf_puts(&v, " It expired after ");
			put_expiry(&v, age, attempts);
			buf_puts(&v, " without being delivered. This is final: "
				 "no further attempts will be made. Once the cause "
				 "below is fixed, you can send it again.");
		}
	} else {
		buf_printf(&v, "Your message has not yet been delivered to the "
			   "following recipient%s", ndelayed == 1 ? "" : "s");
		if (age >= 60) {
			buf_puts(&v, "; it has been queued for ");
			put_duration(&v, age);
		}
		buf_puts(&v, ". We will keep trying");
		if (r->retry_until != 0) {
			buf_puts(&v, " until ");
			put_date_nb(&v, r->retry_until);
		}
		buf_puts(&v, ". This is a warning only: you do not need to "
			 "send the message again, and you will be told if "
			 "it finally fails.");
	}
	put_wrapped(t, "", 0, v.p, v.len);
	buf_puts(t, "\r\n");
	v.len = 0;

	if (subj[0] != '\0')
		put_field(t, "Subject:", subj);
	put_date(&v, r->arrival);
	buf_append(&v, "", 1);
	put_field(t, "Received:", v.p);
	v.len = 0;
	if (r->queue_id != NULL && r->queue_id[0] != '\0') {
		put_cleans(&v, r->queue_id, 64, 0);
		buf_append(&v, "", 1);
		put_field(t, "Queue ID:", v.p);
		v.len = 0;
	}
	buf_puts(t, "\r\n");

	for (size_t i = 0; i < r->nrcpt; i++)
		if (r->rcpts[i].action == DSN_ACTION_FAILED)
			text_rcpt(t, r, &r->rcpts[i]);
	if (nfailed > 0 && ndelayed > 0) {
		buf_printf(&v, "Your message has not yet been delivered to the "
			   "following recipient%s; we will keep trying",
			   ndelayed == 1 ? "" : "s");
		if (r->retry_until != 0) {
			buf_puts(&v, " until ");
			put_date_nb(&v, r->retry_until);
		}
		buf_puts(&v, ".");
		put_wrapped(t, "", 0, v.p, v.len);
		buf_puts(t, "\r\n");
		v.len = 0;
	}
	for (size_t i = 0; i < r->nrcpt; i++)
		if (r->rcpts[i].action != DSN_ACTION_FAILED)
			text_rcpt(t, r, &r->rcpts[i]);

	if (mode == ORIG_FULL)
		buf_puts(t, "The original message is attached.\r\n");
	else if (mode == ORIG_TOO_BIG)
		buf_puts(t, "The original message is too large to return; "
			 "its headers are attached.\r\n");
	else
		buf_puts(t, "The headers of the original message are "
			 "attached.\r\n");
	buf_free(&v);
}

/* "Original-Recipient: type;addr" from an ORCPT value; false if none. */
static bool
ds_orcpt(struct buf *ds, const char *orcpt)
{
	const char *semi;
	char dec[ADDR_MAX * 2];
	size_t n;
	bool utf8;

	if (orcpt == NULL || (semi = strchr(orcpt, ';')) == NULL ||
	    semi == orcpt)
		return false;
	buf_puts(ds, "Original-Recipient: ");
	put_clean(ds, orcpt, (size_t)(semi - orcpt), 32, 0);
	buf_puts(ds, ";");
	n = xtext_decode(semi + 1, dec, sizeof(dec));
	utf8 = put_clean(ds, dec, n, ADDR_MAX, CL_UTF8);
	buf_puts(ds, "\r\n");
	return utf8;
}

/*
 * "Diagnostic-Code:" (RFC 3464 2.3.6).  Type smtp only for a reply the
 * destination sent (MFI_REMOTE), verbatim; a line Sluice made itself (its
 * MFI codes, fix-now's and no route's replies), with no SMTP reply behind
 * it, is type X-Sluice, as Postfix marks its own X-Postfix.  An expired
 * recipient's X-Sluice line adds that the delivery time expired, after
 * how long and how many attempts; a remote reply stays as it was sent.
 */
static void
ds_diagnostic(struct buf *ds, const struct dsn_report *r, const struct dsn_rcpt *rc)
{
	bool remote = has_reply(rc) && rc->code == MFI_REMOTE;
	bool mfi = !has_reply(rc) && mfi_reply(rc->code)[0] != '\0';

	if (!has_reply(rc) && !mfi && !is_expired(rc))
		return;
	buf_puts(ds, remote ? "Diagnostic-Code: smtp; " : "Diagnostic-Code: X-Sluice; ");
	if (has_reply(rc) || mfi)
		put_last_error(ds, rc);
	if (is_expired(rc) && !remote) {
		buf_puts(ds, has_reply(rc) || mfi ? "; delivery time expired after " :
			 "delivery time expired after ");
		put_expiry(ds, report_age(r), rc->attempts);
	}
	buf_puts(ds, "\r\n");
}

/* The message/delivery-status part; *global set if UTF-8 went in. */
static void
build_ds(struct buf *ds, const struct dsn_report *r, bool *global)
{
	char dec[ENVID_MAX];
	char st[MFI_STATUS_MAX];

	buf_puts(ds, "Reporting-MTA: dns; ");
	put_host(ds, r->reporting_mta);
	buf_puts(ds, "\r\n");
	if (r->envid != NULL && r->envid[0] != '\0') {
		buf_puts(ds, "Original-Envelope-Id: ");
		put_clean(ds, dec, xtext_decode(r->envid, dec, sizeof(dec)),
			  ENVID_MAX, 0);
		buf_puts(ds, "\r\n");
	}
	buf_puts(ds, "Arrival-Date: ");
	put_date(ds, r->arrival);
	buf_puts(ds, "\r\n");

	for (size_t i = 0; i < r->nrcpt; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];
		const char *addr = rc->addr != NULL ? rc->addr : "";
		bool u = has_8bit(addr, strlen(addr));

		buf_puts(ds, "\r\n");
		if (ds_orcpt(ds, rc->orcpt))
			*global = true;
		buf_puts(ds, u ? "Final-Recipient: utf-8; " :
			 "Final-Recipient: rfc822; ");
		if (put_cleans(ds, addr, ADDR_MAX, u ? CL_UTF8 : 0))
			*global = true;
		buf_printf(ds, "\r\nAction: %s\r\n",
			   rc->action == DSN_ACTION_DELAYED ? "delayed" : "failed");
		buf_printf(ds, "Status: %s\r\n", rcpt_status(rc, st));
		if (rc->remote_mta != NULL && rc->remote_mta[0] != '\0') {
			buf_puts(ds, "Remote-MTA: dns; ");
			put_host(ds, rc->remote_mta);
			buf_puts(ds, "\r\n");
		}
		ds_diagnostic(ds, r, rc);
		if (rc->last_attempt != 0) {
			buf_puts(ds, "Last-Attempt-Date: ");
			put_date(ds, rc->last_attempt);
			buf_puts(ds, "\r\n");
		}
		if (rc->action == DSN_ACTION_DELAYED && r->retry_until != 0) {
			buf_puts(ds, "Will-Retry-Until: ");
			put_date(ds, r->retry_until);
			buf_puts(ds, "\r\n");
		}
	}
}

/*
 * Copy the original: every CR, LF or CRLF becomes CRLF, NUL becomes '?',
 * and a line reaching LINE_MAX_ bytes is broken there, inside the header
 * section (its first hl bytes) by folding ("CRLF SP"), so the field stays
 * one field and no empty line can appear.
 */
static void
put_original(struct buf *out, const char *p, size_t n, size_t hl)
{
	size_t i = 0, col = 0;

	buf_reserve(out, n + n / 64 + 2);
	while (i < n) {
		size_t s = i;

		while (i < n && p[i] != '\r' && p[i] != '\n' && p[i] != '\0' &&
		       col < LINE_MAX_) {
			i++;
			col++;
		}
		if (i > s)
			buf_append(out, p + s, i - s);
		if (i == n)
			break;
		if (p[i] == '\r' || p[i] == '\n') {
			if (p[i] == '\r' && i + 1 < n && p[i + 1] == '\n')
				i++;
			i++;
			buf_puts(out, "\r\n");
			col = 0;
		} else if (col == LINE_MAX_) {
			buf_puts(out, i < hl ? "\r\n " : "\r\n");
			col = i < hl ? 1 : 0;
		} else {
			buf_puts(out, "?");
			col++;
			i++;
		}
	}
}

/*
 * Note in taken (an array of uint32_t) the salts that an occurrence of
 * the boundary prefix pre (plen bytes) in p[0..n) rules out: those whose
 * decimal form starts the digits after it ("..._12" rules out 1 and 12;
 * "..._0" only 0, as no other salt is written with a leading zero).
 */
static void
salts_taken(struct buf *taken, const char *pre, size_t plen, const char *p, size_t n)
{
	const char *q = p, *end = p + n;

	while ((q = memmem(q, (size_t)(end - q), pre, plen)) != NULL) {
		uint64_t v = 0;

		q += plen;
		for (const char *d = q; d < end && d - q < 10 && *d >= '0' && *d <= '9'; d++) {
			uint32_t s;

			v = v * 10 + (uint64_t)(*d - '0');
			if (v > UINT32_MAX)
				break;
			s = (uint32_t)v;
			buf_append(taken, &s, sizeof(s));
			if (v == 0)
				break;
		}
	}
}

/*
 * A boundary found in none of the parts: "=_sluice_<unique>_<salt>" with
 * the smallest free salt.  Each occurrence of the prefix rules out at most
 * ten salts, so among 10 x occurrences + 1 salts one is free: one scan of
 * the parts finds it, whatever they hold (an original can carry guessed
 * boundaries, and unique is visible in an earlier report's Message-ID).
 */
static void
pick_boundary(char *b, size_t blen, uint64_t unique, const struct buf *t,
	      const struct buf *ds, const char *orig, size_t origlen)
{
	struct buf taken = { 0 }, free_map = { 0 };
	char pre[32];
	const uint32_t *v;
	size_t plen, n;
	uint32_t salt = 0;

	snprintf(pre, sizeof(pre), "=_sluice_%016" PRIx64 "_", unique);
	plen = strlen(pre);
	salts_taken(&taken, pre, plen, t->p, t->len);
	salts_taken(&taken, pre, plen, ds->p, ds->len);
	if (orig != NULL)
		salts_taken(&taken, pre, plen, orig, origlen);
	n = taken.len / sizeof(*v);
	if (n > 0) {
		/* free_map[i] != 0: salt i is taken (only salts <= n matter) */
		buf_reserve(&free_map, n + 1);
		memset(free_map.p, 0, n + 1);
		v = (const uint32_t *)(const void *)taken.p;
		for (size_t i = 0; i < n; i++)
			if (v[i] <= n)
				free_map.p[v[i]] = 1;
		while (free_map.p[salt])
			salt++;
	}
	snprintf(b, blen, "%s%" PRIu32, pre, salt);
	buf_free(&taken);
	buf_free(&free_map);
}

unsigned
dsn_build(const struct dsn_report *r, struct buf *out)
{
	char subj[DSN_SUBJECT_MAX + 1], bnd[64];
	struct buf t = { 0 }, ds = { 0 };
	size_t nfailed = 0, ndelayed = 0, hl = 0, partlen = 0;
	enum orig_mode mode = ORIG_HEADERS;
	bool global = false, orig8, orighdr8, text8;
	unsigned flags = 0;
	const char *orig = r->orig;
	const char *ctype;

	for (size_t i = 0; i < r->nrcpt; i++) {
		if (r->rcpts[i].action == DSN_ACTION_FAILED)
			nfailed++;
		else
			ndelayed++;
	}
	if (orig == NULL)
		orig = "";
	dsn_subject(orig, r->origlen, subj, sizeof(subj));
	if (r->origlen > 0)
		hl = header_len(orig, r->origlen);
	if (r->ret == ENV_RET_FULL && r->origsize <= r->origlen &&
	    r->origlen <= DSN_ORIG_MAX && r->origlen <= r->orig_max) {
		mode = ORIG_FULL;
		partlen = r->origlen;
	} else {
		if (r->ret == ENV_RET_FULL)
			mode = ORIG_TOO_BIG;
		partlen = hl < DSN_ORIG_MAX ? hl : DSN_ORIG_MAX;
	}
	orighdr8 = has_8bit(orig, hl < partlen ? hl : partlen);
	orig8 = orighdr8 || has_8bit(orig + hl, partlen > hl ? partlen - hl : 0);

	build_text(&t, r, subj, nfailed, ndelayed, mode);
	build_ds(&ds, r, &global);
	text8 = has_8bit(t.p, t.len);
	pick_boundary(bnd, sizeof(bnd), r->unique, &t, &ds, orig, partlen);

	/* Top-level header section. */
	buf_puts(out, "From: Mail Delivery System <MAILER-DAEMON@");
	put_host(out, r->reporting_mta);
	buf_puts(out, ">\r\nTo: <");
	if (put_cleans(out, r->orig_sender, ADDR_MAX, CL_UTF8))
		flags |= DSN_SMTPUTF8;
	buf_puts(out, ">\r\n");
	{
		char s[DSN_SUBJECT_MAX + 32];

		snprintf(s, sizeof(s), "%s: %s",
			 nfailed > 0 ? "Undeliverable" : "Delayed",
			 subj[0] != '\0' ? subj : "(no subject)");
		put_subject_header(out, s);
	}
	buf_puts(out, "Date: ");
	put_date(out, r->now);
	buf_printf(out, "\r\nMessage-ID: <dsn.%016" PRIx64 ".%" PRId64 "@",
		   r->unique, r->now);
	put_host(out, r->message_id_host != NULL ? r->message_id_host :
		 r->reporting_mta);
	buf_puts(out, ">\r\nAuto-Submitted: auto-replied\r\n"
		 "MIME-Version: 1.0\r\n"
		 "Content-Type: multipart/report; report-type=delivery-status;"
		 "\r\n\tboundary=\"");
	buf_puts(out, bnd);
	buf_printf(out, "\"\r\nContent-Transfer-Encoding: %s\r\n\r\n",
		   text8 || global || orig8 ? "8bit" : "7bit");
	buf_puts(out, "This is a MIME-encapsulated delivery status "
		 "notification.\r\n");

	/* 1: for humans. */
	buf_printf(out, "\r\n--%s\r\n", bnd);
	buf_printf(out, "Content-Type: text/plain; charset=utf-8\r\n"
		   "Content-Description: Notification\r\n"
		   "Content-Transfer-Encoding: %s\r\n\r\n",
		   text8 ? "8bit" : "7bit");
	buf_append(out, t.p, t.len);

	/* 2: for programs. */
	buf_printf(out, "\r\n--%s\r\n", bnd);
	buf_printf(out, "Content-Type: message/%sdelivery-status\r\n"
		   "Content-Description: Delivery report\r\n",
		   global ? "global-" : "");
	if (global)
		buf_puts(out, "Content-Transfer-Encoding: 8bit\r\n");
	buf_puts(out, "\r\n");
	buf_append(out, ds.p, ds.len);

	/* 3: the original, or its headers. */
	buf_printf(out, "\r\n--%s\r\n", bnd);
	if (mode == ORIG_FULL)
		ctype = orighdr8 ? "message/global" : "message/rfc822";
	else
		ctype = orighdr8 ? "message/global-headers" :
			"text/rfc822-headers";
	buf_printf(out, "Content-Type: %s\r\n"
		   "Content-Description: %s\r\n"
		   "Content-Transfer-Encoding: %s\r\n\r\n", ctype,
		   mode == ORIG_FULL ? "Undelivered message" :
		   "Undelivered message headers", orig8 ? "8bit" : "7bit");
	put_original(out, orig, partlen, hl);
	buf_printf(out, "\r\n--%s--\r\n", bnd);

	if (text8 || global || orig8)
		flags |= DSN_8BIT;
	buf_free(&t);
	buf_free(&ds);
	return flags;
}

/* ---- the pieces, for other messages (queue/notice.c) ------------------ */

bool
dsn_put_text(struct buf *out, const char *s, size_t max)
{
	return put_cleans(out, s, max, CL_UTF8 | CL_JOIN);
}

void
dsn_put_host(struct buf *out, const char *host)
{
	put_host(out, host);
}

void
dsn_put_date(struct buf *out, int64_t t)
{
	put_date(out, t);
}

void
dsn_put_subject(struct buf *out, const char *s)
{
	put_subject_header(out, s);
}

void
dsn_put_wrapped(struct buf *out, const char *lead, size_t ind, const char *text, size_t n)
{
	put_wrapped(out, lead, ind, text, n);
}
