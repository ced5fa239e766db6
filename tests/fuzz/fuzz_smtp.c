/*
 * libFuzzer target: the SMTP server's parsers on arbitrary bytes.  The
 * first byte picks the parser; the rest is its input.  Any crash, hang,
 * sanitizer report or broken invariant (DATA consumed more than given,
 * body larger than the limit, a result that depends on how the input was
 * split, the streaming dot-stuffer disagreeing with the whole-message one,
 * BDAT chunks of the same pieces not carrying the message and its missing
 * final CRLF exactly,
 * the Received: counter of net/smtp_hops.c disagreeing with a plain
 * line-by-line count or with itself fed in pieces) is a bug.  The client's reply parser has its own target,
 * fuzz_reply.c.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "net/smtp_hops.h"
#include "net/smtp_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Received: fields in the header section of msg, line by line: how the
 * counter is specified (net/smtp_hops.h), without its state machine. */
static uint32_t
ref_hops(const char *msg, size_t n, bool *done)
{
	static const char name[] = "received";
	uint32_t count = 0;
	size_t off = 0;

	*done = false;
	while (off < n) {
		const char *nl = memchr(msg + off, '\n', n - off);
		size_t len = nl ? (size_t)(nl - (msg + off)) : n - off, k;
		const char *l = msg + off;
		if (nl != NULL && (len == 0 || (len == 1 && l[0] == '\r'))) {
			*done = true;
			break;
		}
		if (len > 8 && strncasecmp(l, name, 8) == 0) {	/* then blanks, ':' */
			for (k = 8; k < len && (l[k] == ' ' || l[k] == '\t'); k++)
				;
			if (k < len && l[k] == ':')
				count++;
		}
		off += len + 1;
	}
	return count;
}

/* The counter over msg whole, and in pieces cut where msg's own bytes say,
 * must agree with ref_hops. */
static void
check_hops(const char *msg, size_t n)
{
	struct smtp_hops whole, cut;
	size_t off = 0, k = 0;
	bool done;
	uint32_t want = ref_hops(msg, n, &done);

	smtp_hops_init(&whole);
	smtp_hops_feed(&whole, msg, n);
	smtp_hops_init(&cut);
	while (off < n) {
		size_t piece = 1 + (unsigned char)msg[k++ % n] % 11;
		if (piece > n - off)
			piece = n - off;
		smtp_hops_feed(&cut, msg + off, piece);
		off += piece;
	}
	if (whole.count != want || cut.count != want || smtp_hops_done(&whole) != done ||
	    smtp_hops_done(&cut) != done)
		abort();
}

/* The BDAT chunks in w[0..wn) carry msg[0..n) and a CRLF when it did not
 * end with one: every chunk has the size it announces, only the last
 * says LAST. */
static void
check_bdat(const char *msg, size_t n, const char *w, size_t wn)
{
	bool crlf = n >= 2 && msg[n - 2] == '\r' && msg[n - 1] == '\n';
	size_t off = 0, got = 0;

	for (;;) {
		const char *nl = memchr(w + off, '\n', wn - off);
		size_t size = 0, i = off + 5;
		bool last;

		if (nl == NULL || wn - off < 8 || memcmp(w + off, "BDAT ", 5) != 0)
			abort();
		while (w[i] >= '0' && w[i] <= '9')
			size = size * 10 + (size_t)(w[i++] - '0');
		last = (size_t)(nl - w) - i == 6 && memcmp(w + i, " LAST\r", 6) == 0;
		if (!last && ((size_t)(nl - w) - i != 1 || w[i] != '\r'))
			abort();
		off = (size_t)(nl - w) + 1;
		if (size > wn - off)
			abort();
		if (got + size > n + 2 || memcmp(w + off, msg + got,
						  got + size > n ? n - got : size) != 0)
			abort();
		got += size;
		off += size;
		if (last)
			break;
	}
	if (off != wn || got != n + (crlf ? 0 : 2) ||
	    (!crlf && memcmp(w + off - 2, "\r\n", 2) != 0))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 1;
	size_t n = size ? size - 1 : 0;

	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct smtp_cmd c;
		smtp_cmd_parse(p, n, &c);
		if (c.arg < p || c.arg + c.arglen > p + n)
			abort();
		break;
	}
	case 1: {
		struct smtp_path path;
		struct smtp_mail_params mp;
		if (smtp_parse_mail(p, n, &path, &mp) == NULL && path.len > 256)
			abort();
		break;
	}
	case 2: {
		struct smtp_path path;
		struct smtp_rcpt_params rp;
		if (smtp_parse_rcpt(p, n, data[0] & 0x80, &path, &rp) == NULL && path.len > 256)
			abort();
		break;
	}
	case 3: {
		/*
		 * Fed whole (a), in two pieces (b), and without a size limit
		 * (c, the reference).  Everything but the body kept after
		 * TOO_BIG must agree.  Past the limit the body is unspecified
		 * ("nothing is appended once TOO_BIG is set", and the message
		 * is refused): the chunk that crosses the limit is dropped
		 * whole, so how much of the text before it was kept depends
		 * on where the input was split.  It is still a prefix of the
		 * real body and never over the limit.
		 */
		struct smtp_data a, b, c;
		struct buf oa = { 0 }, ob = { 0 }, oc = { 0 };
		size_t cut = n ? (size_t)data[0] % n : 0, ua, ub, uc;
		bool big;
		smtp_data_init(&a, 1000, 4096);
		smtp_data_init(&b, 1000, 4096);
		smtp_data_init(&c, 1000, 0);
		ua = smtp_data_feed(&a, p, n, &oa);
		ub = smtp_data_feed(&b, p, cut, &ob);
		if (!b.done)
			ub += smtp_data_feed(&b, p + cut, n - cut, &ob);
		uc = smtp_data_feed(&c, p, n, &oc);
		big = c.size > 4096;
		if (ua > n || ua != ub || ua != uc || a.done != b.done || a.done != c.done ||
		    a.flags != b.flags || a.size != c.size || b.size != c.size ||
		    (a.flags & ~SMTP_DATA_TOO_BIG) != c.flags ||
		    !!(a.flags & SMTP_DATA_TOO_BIG) != big || oc.len != c.size)
			abort();
		if (oa.len > 4096 || ob.len > 4096 || oa.len > oc.len || ob.len > oc.len ||
		    (oa.len && memcmp(oa.p, oc.p, oa.len)) ||
		    (ob.len && memcmp(ob.p, oc.p, ob.len)))
			abort();
		if (!big && (oa.len != oc.len || ob.len != oc.len))
			abort();
		check_hops(oc.p, oc.len);
		buf_free(&oa);
		buf_free(&ob);
		buf_free(&oc);
		break;
	}
	case 4: {
		struct smtp_reply r;
		char flat[256];
		long k = smtp_reply_parse(p, n, &r);
		if (k > (long)n)
			abort();
		if (k > 0) {
			smtp_reply_flat(&r, flat, sizeof(flat));
			smtp_reply_has(&r, "PIPELINING", NULL, NULL);
		}
		break;
	}
	case 5: {
		/* the streaming stuffer, in pieces cut where the input's own
		   bytes say, gives what the whole-message one gives; BDAT
		   chunks of the same pieces carry the message as it is */
		struct buf out = { 0 }, st_out = { 0 }, bdat = { 0 };
		struct smtp_stuffer st, bt;
		size_t off = 0, k = 0;
		smtp_stuff(p, n, &out);
		smtp_stuff_init(&st);
		smtp_stuff_init(&bt);
		while (off < n) {
			size_t piece = 1 + (unsigned char)p[k++ % n] % 7;
			if (piece > n - off)
				piece = n - off;
			smtp_stuff_chunk(&st, p + off, piece, &st_out);
			smtp_bdat_chunk(&bt, p + off, piece, off + piece == n, &bdat);
			off += piece;
		}
		if (n == 0)
			smtp_bdat_chunk(&bt, p, 0, true, &bdat);
		smtp_stuff_end(&st, &st_out);
		if (out.len != st_out.len || memcmp(out.p, st_out.p, out.len) != 0)
			abort();
		check_bdat(p, n, bdat.p, bdat.len);
		buf_free(&out);
		buf_free(&st_out);
		buf_free(&bdat);
		break;
	}
	}
	return 0;
}
