/*
 * smtp_ehlo — the EHLO reply's keywords.
 *
 * A line is "CODE-keyword params" or "CODE keyword params" (the last),
 * maybe with CR before its LF.  The keyword ends at a space or the line's
 * end; an "AUTH=..." style keyword (old servers) is a different word and
 * matches nothing here.  SIZE's parameter must be all digits, else the
 * limit is unknown (0): guessing from a prefix ("10M" read as 10) would
 * make every message look too big.
 */
#include "net/smtp_ehlo.h"

#include <string.h>
#include <strings.h>

static bool
word_is(const char *w, size_t n, const char *name)
{
	return strlen(name) == n && strncasecmp(w, name, n) == 0;
}

/* RFC 1870 size-param: 1*DIGIT; saturates.  0 if not all digits. */
static uint64_t
size_param(const char *p, size_t n)
{
	uint64_t v = 0;

	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned char)p[i] - '0';

		if (d > 9)
			return 0;
		if (v > (UINT64_MAX - d) / 10)
			v = UINT64_MAX;
		else
			v = v * 10 + d;
	}
	return v;
}

void
smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e)
{
	size_t off = 0;
	bool first = true;

	memset(e, 0, sizeof(*e));
	while (off < r->len) {
		const char *line = r->text + off;
		const char *nl = memchr(line, '\n', r->len - off);
		size_t len = nl ? (size_t)(nl - line) : r->len - off;
		size_t k = 4, w;

		off += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (first || len <= k) {	/* the greeting, or no keyword */
			first = false;
			continue;
		}
		for (w = k; w < len && line[w] != ' '; w++)
			;
		if (word_is(line + k, w - k, "PIPELINING")) {
			e->pipelining = true;
		} else if (word_is(line + k, w - k, "CHUNKING")) {
			e->chunking = true;
		} else if (word_is(line + k, w - k, "8BITMIME")) {
			e->eightbit = true;
		} else if (word_is(line + k, w - k, "SMTPUTF8")) {
			e->smtputf8 = true;
		} else if (word_is(line + k, w - k, "DSN")) {
			e->dsn = true;
		} else if (word_is(line + k, w - k, "STARTTLS")) {
			e->starttls = true;
		} else if (word_is(line + k, w - k, "SIZE")) {
			while (w < len && line[w] == ' ')
				w++;
			e->size = true;
			e->size_max = size_param(line + w, len - w);
		}
	}
}
