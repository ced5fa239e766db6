/*
 * libFuzzer target: what the SMTP client reads from a next hop.  The input
 * is the byte stream a server sends; it is cut into replies the way
 * smtp_client.c does (smtp_reply_parse until it wants more or refuses),
 * and each reply goes through everything the client does with it: the
 * one-line form for logs and DSNs, keyword lookups and the EHLO
 * capabilities.
 *
 * Invariants beyond "no crash, no sanitizer report": a reply spans what it
 * says and no more; the same reply is found whatever prefix of it arrived
 * first (a prefix is "need more", never a different answer); the flat
 * text fits its buffer, is terminated and has no control bytes; the EHLO
 * capabilities agree with a plain reading of the lines.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/smtp_ehlo.h"
#include "net/smtp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* smtp_reply_flat into max bytes followed by guard bytes. */
static void
check_flat(const struct smtp_reply *r, size_t max)
{
	char out[600];
	size_t n;

	memset(out, 0x5a, sizeof(out));
	smtp_reply_flat(r, out, max);
	if (max == 0) {
		if (out[0] != 0x5a)
			abort();
		return;
	}
	for (size_t i = max; i < sizeof(out); i++)
		if (out[i] != 0x5a)
			abort();		/* wrote past max */
	n = strnlen(out, max);
	if (n >= max)
		abort();			/* not terminated inside max */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			abort();		/* a log line could be split */
}

/* Whether line (len bytes, no CR/LF) names keyword as its first word. */
static bool
line_has(const char *line, size_t len, const char *kw)
{
	size_t k = strlen(kw);

	return len >= 4 + k && strncasecmp(line + 4, kw, k) == 0 &&
	       (len == 4 + k || line[4 + k] == ' ');
}

/* A second, plain reading of the capabilities to hold smtp_ehlo to. */
static void
check_ehlo(const struct smtp_reply *r)
{
	static const char *const kws[] = { "PIPELINING", "8BITMIME", "SMTPUTF8", "DSN",
					   "STARTTLS", "SIZE" };
	bool want[6] = { false };
	struct smtp_ehlo e;
	size_t off = 0;
	bool first = true;

	smtp_ehlo_parse(r, &e);
	while (off < r->len) {
		const char *line = r->text + off;
		const char *nl = memchr(line, '\n', r->len - off);
		size_t len = nl ? (size_t)(nl - line) : r->len - off;

		off += len + 1;
		if (len > 0 && line[len - 1] == '\r')
			len--;
		if (first) {
			first = false;
			continue;
		}
		for (int i = 0; i < 6; i++)
			if (line_has(line, len, kws[i]))
				want[i] = true;
	}
	if (e.pipelining != want[0] || e.eightbit != want[1] || e.smtputf8 != want[2] ||
	    e.dsn != want[3] || e.starttls != want[4] || e.size != want[5])
		abort();
	if (!e.size && e.size_max != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	size_t n = size;

	while (n > 0) {
		struct smtp_reply r, r2;
		long k = smtp_reply_parse(p, n, &r);

		if (k <= 0)
			break;			/* need more, or a protocol failure */
		if ((size_t)k > n || r.text != p || r.len >= (size_t)k ||
		    r.code < 200 || r.code > 599)
			abort();
		if (r.len < 3 || (p[k - 1] != '\n'))
			abort();
		/* the same reply whatever part of it came first */
		for (size_t cut = 1; cut < (size_t)k; cut += 1 + (size_t)k / 7)
			if (smtp_reply_parse(p, cut, &r2) != 0)
				abort();
		if (smtp_reply_parse(p, (size_t)k, &r2) != k || r2.len != r.len ||
		    r2.code != r.code)
			abort();
		check_flat(&r, 0);
		check_flat(&r, 1);
		check_flat(&r, 5);
		check_flat(&r, 64);
		check_flat(&r, 512);
		check_ehlo(&r);
		if (smtp_reply_has(&r, "SIZE", &(const char *){ NULL }, &(size_t){ 0 })) {
			const char *v;
			size_t vl;
			smtp_reply_has(&r, "SIZE", &v, &vl);
			if (v < r.text || v + vl > r.text + r.len)
				abort();
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}
