/*
 * ctl_trace_parse — the words of "trace" (core/ctl/ctl_trace_parse.h).
 * A keyword takes the next word as its value; any other word is an error
 * that names it, and so is a keyword given twice.
 */
#include "core/ctl/ctl_trace_parse.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_select.h"
#include "core/strb.h"

bool
ctl_trace_glob(const char *pattern, const char *value)
{
	uint64_t steps = 0;

	return ctl_glob(pattern, value, &steps);
}

/* n digits of s as a number into *v; false if one is not a digit. */
static bool
digits(const char *s, int n, int *v)
{
	*v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		*v = *v * 10 + (s[i] - '0');
	}
	return true;
}

int
ctl_trace_time(const char *s, int64_t now, int64_t *out)
{
	struct tm tm = { 0 };
	size_t n = strlen(s);
	int y, mo, d, h = 0, mi = 0, sec = 0;
	time_t t;

	if (ctl_sel_parse_age(s, out) == 0) {
		*out = now - *out;
		return 0;
	}
	if (n > 0 && s[n - 1] == 'Z')
		n--;
	if (n < 10 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d))
		return -EINVAL;
	if (n > 10 && (n < 16 || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
		       s[13] != ':' || !digits(s + 14, 2, &mi)))
		return -EINVAL;
	if (n > 16 && (n != 19 || s[16] != ':' || !digits(s + 17, 2, &sec)))
		return -EINVAL;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -EINVAL;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1 || tm.tm_mday != d)	/* 2024-02-31 */
		return -EINVAL;
	*out = (int64_t)t;
	return 0;
}

/* The TRACE_SEEN_* bit of a status word, 0 if none. */
static unsigned
status_bit(const char *w)
{
	static const struct { const char *word; unsigned bit; } st[] = {
		{ "delivered", TRACE_SEEN_DELIVERED }, { "deferred", TRACE_SEEN_DEFERRED },
		{ "bounced", TRACE_SEEN_BOUNCED }, { "expired", TRACE_SEEN_EXPIRED },
		{ "returned", TRACE_SEEN_RETURNED },
	};

	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (strcmp(w, st[i].word) == 0)
			return st[i].bit;
	return 0;
}

static bool
is_keyword(const char *w)
{
	static const char *const kw[] = { "id", "sender", "rcpt", "status", "since", "until",
					  "limit", NULL };

	for (int i = 0; kw[i] != NULL; i++)
		if (strcmp(w, kw[i]) == 0)
			return true;
	return false;
}

/* Keyword k with value v into f; -EINVAL with sb's line. */
static int
keyword(const char *k, const char *v, int64_t now, struct trace_filter *f, struct strb *sb)
{
	char e[160];
	int64_t t;

	if (strcmp(k, "id") == 0) {
		if (f->id != 0)
			goto twice;
		if (!ctl_sel_parse_id(v, &f->id)) {
			strb_printf(sb, "id: expected a queue id of 16 hex digits, got '%.40s'", v);
			return -EINVAL;
		}
	} else if (strcmp(k, "sender") == 0 || strcmp(k, "rcpt") == 0) {
		bool s = k[0] == 's';
		if (s ? f->has_sender : f->has_rcpt)
			goto twice;
		if (ctl_sel_pattern(k, v, s, s ? f->sender : f->rcpt, e, sizeof(e)) < 0) {
			strb_puts(sb, e);
			return -EINVAL;
		}
		*(s ? &f->has_sender : &f->has_rcpt) = true;
	} else if (strcmp(k, "status") == 0) {
		if (f->seen != 0)
			goto twice;
		if ((f->seen = status_bit(v)) == 0) {
			strb_printf(sb, "status: expected delivered, deferred, bounced, expired "
				    "or returned, got '%.40s'", v);
			return -EINVAL;
		}
	} else if (strcmp(k, "since") == 0 || strcmp(k, "until") == 0) {
		bool since = k[0] == 's';
		if (since ? f->since : f->until)
			goto twice;
		if (ctl_trace_time(v, now, &t) < 0 || t <= 0) {
			strb_printf(sb, "%s: expected an age like 90s, 10m, 2h, 3d or 1w, or a "
				    "UTC time like 2024-05-01T10:00Z, got '%.40s'", k, v);
			return -EINVAL;
		}
		*(since ? &f->since : &f->until) = t;
	} else if (strcmp(k, "limit") == 0) {
		char *end;
		unsigned long n;
		if (f->limit != 0)
			goto twice;
		n = strtoul(v, &end, 10);
		if (!isdigit((unsigned char)v[0]) || *end != '\0' || n == 0 ||
		    n > TRACE_LIMIT_MAX) {
			strb_printf(sb, "limit: expected a number from 1 to %d, got '%.40s'",
				    TRACE_LIMIT_MAX, v);
			return -EINVAL;
		}
		f->limit = (uint32_t)n;
	}
	return 0;
twice:
	strb_printf(sb, "%s given twice", k);
	return -EINVAL;
}

int
ctl_trace_parse(char *const *argv, int argc, int64_t now, struct trace_filter *f, char *err,
		size_t errlen)
{
	struct strb sb;

	memset(f, 0, sizeof(*f));
	strb_init(&sb, err, errlen);
	for (int i = 0; i < argc; i += 2) {
		if (!is_keyword(argv[i])) {
			strb_printf(&sb, "unknown word '%.40s': expected id, sender, rcpt, status, "
				    "since, until or limit", argv[i]);
			return -EINVAL;
		}
		if (i + 1 == argc) {
			strb_printf(&sb, "%.40s: expected a value after it", argv[i]);
			return -EINVAL;
		}
		if (keyword(argv[i], argv[i + 1], now, f, &sb) < 0)
			return -EINVAL;
	}
	if (f->since && f->until && f->until < f->since) {
		strb_puts(&sb, "until is before since: no time between them");
		return -EINVAL;
	}
	return 0;
}
