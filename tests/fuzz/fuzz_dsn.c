/*
 * libFuzzer target: the DSN builder (queue/dsn.c) with hostile envelopes,
 * remote replies and original messages.
 *
 * Input: a fixed header (recipient count, RET, which strings are absent,
 * the report's random number, times, per recipient its action, code
 * (whether it expired, its attempts) and reply code), then NUL-separated strings (reporting MTA, ENVID, queue id,
 * original sender, Message-ID host, and per recipient: address, ORCPT,
 * status, reply text, remote MTA, detail), then the original message:
 * whatever is left, NULs included.
 *
 * Whatever the input, the report must be a message any MTA takes:
 *  - CR and LF only as CRLF, no NUL, every line at most 998 octets;
 *  - a header section of exactly the fields dsn.c writes, each once (no
 *    input can add a header), 8-bit only when DSN_SMTPUTF8 is returned
 *    (a UTF-8 To:), the body 8-bit only when DSN_8BIT is;
 *  - exactly one boundary parameter; the boundary occurs in the body only
 *    in its three delimiter lines and the close delimiter, which ends it;
 *  - a delivery-status part of known fields only, one Final-Recipient
 *    and one Action per recipient (no reply text can forge a recipient);
 * And dsn_subject() fits any buffer with whole, printable characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/mfi/mfi.h"
#include "queue/envelope.h"
#include "queue/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXR	8		/* recipients at most */
#define HDR	(16 + 4 * MAXR)	/* fixed header bytes */

/* Reads little-endian integers from the header (zero past the input). */
static uint64_t
le(const uint8_t *h, size_t off, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)h[off + i] << (8 * i);
	return v;
}

/* A time for the report: usually plausible, sometimes absurd. */
static int64_t
pick_time(uint8_t sel, uint32_t v)
{
	switch (sel & 3) {
	case 0: return INT64_C(1700000000) + (int32_t)v;
	case 1: return 0;
	case 2: return (int64_t)v * 100000;		/* up to year ~15000 */
	default: return (v & 1) ? INT64_MAX - (v >> 1) : INT64_MIN + (v >> 1);
	}
}

/* Length of the valid UTF-8 sequence at p (n left), 0 if invalid. */
static size_t
utf8_ok(const unsigned char *p, size_t n)
{
	size_t l;

	if (p[0] < 0x80)
		return 1;
	l = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
	if (l == 0 || l > n)
		return 0;
	for (size_t i = 1; i < l; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return l;
}

static void
check_subject(const char *orig, size_t len)
{
	static const size_t sizes[] = { 1, 2, 5, 40, DSN_SUBJECT_MAX + 1 };
	char buf[DSN_SUBJECT_MAX + 16];

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n;

		memset(buf, 0x5a, sizeof(buf));
		if (dsn_subject(orig, len, buf, sizes[k]) != buf)
			abort();
		n = strnlen(buf, sizes[k]);
		if (n >= sizes[k] || buf[sizes[k]] != 0x5a)
			abort();
		for (size_t i = 0; i < n;) {
			size_t l = utf8_ok((const unsigned char *)buf + i, n - i);
			if (l == 0 || (unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
				abort();
			i += l;
		}
	}
}

/* Is line (n bytes) "Name:..." with Name one of names[]?  Index or -1. */
static int
field(const char *line, size_t n, const char *const *names, size_t nnames)
{
	for (size_t i = 0; i < nnames; i++) {
		size_t l = strlen(names[i]);
		if (n > l && memcmp(line, names[i], l) == 0 && line[l] == ':')
			return (int)i;
	}
	return -1;
}

static const char *const top_fields[] = {
	"From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version",
	"Content-Type", "Content-Transfer-Encoding",
};
#define NTOP (sizeof(top_fields) / sizeof(top_fields[0]))

static const char *const ds_fields[] = {
	"Final-Recipient", "Action", "Reporting-MTA", "Original-Envelope-Id",
	"Arrival-Date", "Original-Recipient", "Status", "Remote-MTA", "Diagnostic-Code",
	"Last-Attempt-Date", "Will-Retry-Until",
};
#define NDS (sizeof(ds_fields) / sizeof(ds_fields[0]))

static const char *const part_fields[] = {
	"Content-Type", "Content-Description", "Content-Transfer-Encoding",
};

static void
check_report(const char *p, size_t n, unsigned flags, size_t nrcpt)
{
	const char *hend, *body, *b, *q, *part2 = NULL, *part3 = NULL;
	size_t col = 0, blen, bl, hits = 0, dl = 0, closes = 0, seen[NTOP] = { 0 };
	size_t finals = 0, actions = 0;
	char bnd[80];

	/* CRLF only, no NUL, lines <= 998, ends with CRLF */
	if (n < 2 || p[n - 2] != '\r' || p[n - 1] != '\n')
		abort();
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\0')
			abort();
		if (p[i] == '\r') {
			if (i + 1 >= n || p[i + 1] != '\n')
				abort();
			i++;
			col = 0;
			continue;
		}
		if (p[i] == '\n' || ++col > 998)
			abort();
	}

	/* the header section: our fields, each once */
	hend = memmem(p, n, "\r\n\r\n", 4);
	if (hend == NULL)
		abort();
	for (q = p; q < hend + 2;) {
		const char *e = memmem(q, (size_t)(hend + 2 - q), "\r\n", 2);
		size_t l = (size_t)(e - q);
		int f;

		if (l > 0 && (q[0] == ' ' || q[0] == '\t')) {
			q = e + 2;		/* a folded continuation */
			continue;
		}
		f = field(q, l, top_fields, NTOP);
		if (f < 0)
			abort();		/* a header dsn.c never writes */
		seen[f]++;
		q = e + 2;
	}
	for (size_t i = 0; i < NTOP; i++)
		if (seen[i] != 1)
			abort();
	if (!(flags & DSN_SMTPUTF8))
		for (q = p; q < hend; q++)
			if ((unsigned char)*q >= 0x80)
				abort();
	if (!(flags & DSN_8BIT))
		for (q = hend; q < p + n; q++)
			if ((unsigned char)*q >= 0x80)
				abort();

	/* one boundary parameter, in the Content-Type field (other fields,
	 * e.g. a Subject taken from the original, may say "boundary=" too) */
	static const char ctf[] = "\r\nContent-Type: multipart/report;";
	const char *ct = memmem(p, (size_t)(hend - p), ctf, sizeof(ctf) - 1);
	const char *cte;
	if (ct == NULL)
		abort();
	for (cte = ct + 2; (cte = memmem(cte, (size_t)(hend + 2 - cte), "\r\n", 2)) != NULL &&
	     cte + 2 < hend + 2 && (cte[2] == ' ' || cte[2] == '\t'); cte += 2)
		;			/* to the end of the field, folds included */
	if (cte == NULL)
		abort();
	b = memmem(ct, (size_t)(cte - ct), "boundary=\"", 10);
	if (b == NULL || memmem(b + 1, (size_t)(cte - b - 1), "boundary=", 9) != NULL)
		abort();
	b += 10;
	q = memchr(b, '"', (size_t)(hend - b));
	if (q == NULL || q == b || (size_t)(q - b) > 70)
		abort();
	bl = (size_t)(q - b);
	memcpy(bnd, b, bl);
	bnd[bl] = '\0';
	for (size_t i = 0; i < bl; i++)
		if (strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "'()+_,-./:=?", bnd[i]) == NULL)
			abort();

	/* the body: the boundary only in delimiter lines, the close last */
	body = hend + 4;
	blen = (size_t)(p + n - body);
	for (q = body; (q = memmem(q, (size_t)(body + blen - q), bnd, bl)) != NULL; q++)
		hits++;
	for (q = body; q < body + blen;) {
		const char *e = memmem(q, (size_t)(body + blen - q), "\r\n", 2);
		size_t l = (size_t)(e - q);

		if (l == bl + 2 && q[0] == '-' && q[1] == '-' && memcmp(q + 2, bnd, bl) == 0) {
			if (closes)
				abort();
			dl++;
			if (dl == 2)
				part2 = e + 2;
			if (dl == 3)
				part3 = e + 2;
		} else if (l == bl + 4 && q[0] == '-' && q[1] == '-' &&
			   memcmp(q + 2, bnd, bl) == 0 && q[bl + 2] == '-' && q[bl + 3] == '-') {
			closes++;
			if (e + 2 != body + blen)
				abort();	/* content after the close delimiter */
		}
		q = e + 2;
	}
	if (dl != 3 || closes != 1 || hits != 4)
		abort();

	/* the delivery-status part: known fields only, one group per rcpt */
	for (q = part2; q < part3;) {
		const char *e = memmem(q, (size_t)(part3 - q), "\r\n", 2);
		size_t l = (size_t)(e - q);
		int f;

		if (l > 0) {
			f = field(q, l, ds_fields, NDS);
			if (f < 0)
				f = field(q, l, part_fields, 3) < 0 ? -1 : 99;
			if (f < 0 && !(l == bl + 2 && q[0] == '-' && q[1] == '-'))
				abort();
			finals += f == 0;
			actions += f == 1;
		}
		q = e + 2;
	}
	if (finals != nrcpt || actions != nrcpt)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t h[HDR] = { 0 };
	struct dsn_rcpt rc[MAXR];
	struct dsn_report r;
	const char *str[5 + 6 * MAXR];
	struct buf out = { 0 };
	char *text, *p, *end;
	size_t nrcpt, nstr;
	unsigned flags;

	memcpy(h, data, size < HDR ? size : HDR);
	nrcpt = 1 + h[0] % MAXR;
	nstr = 5 + 6 * nrcpt;
	text = malloc(size - (size < HDR ? size : HDR) + 1);
	if (text == NULL)
		return 0;
	p = text;
	end = text + (size < HDR ? 0 : size - HDR);
	if (size > HDR)
		memcpy(text, data + HDR, size - HDR);
	*end = '\0';
	for (size_t i = 0; i < nstr; i++) {
		str[i] = p;
		p += strlen(p);
		if (p < end)
			p++;
	}

	memset(&r, 0, sizeof(r));
	r.reporting_mta = (h[2] & 0x08) ? NULL : str[0];
	r.envid = (h[2] & 0x01) ? NULL : str[1];
	r.queue_id = (h[2] & 0x02) ? NULL : str[2];
	r.orig_sender = (h[2] & 0x20) ? NULL : str[3];
	r.message_id_host = (h[2] & 0x04) ? NULL : str[4];
	r.ret = h[1] % 3;
	r.unique = le(h, 3, 8);
	r.now = INT64_C(1700000000) + (int64_t)le(h, 11, 3);
	r.arrival = pick_time(h[14], (uint32_t)le(h, 11, 4) * 2654435761u);
	r.retry_until = pick_time(h[15], (uint32_t)le(h, 12, 4));
	r.rcpts = rc;
	r.nrcpt = nrcpt;
	r.orig = (h[2] & 0x10) ? NULL : p;
	r.origlen = r.orig ? (size_t)(end - p) : 0;
	/* the return limit, and a head read from a larger message */
	r.orig_max = (h[2] & 0x40) ? r.origlen / 2 : DSN_ORIG_MAX;
	r.origsize = (h[2] & 0x80) ? (uint64_t)r.origlen + 1 + h[1] : 0;
	for (size_t i = 0; i < nrcpt; i++) {
		const uint8_t *c = h + 16 + 4 * i;
		const char *const *s = str + 5 + 6 * i;

		rc[i] = (struct dsn_rcpt){
			.addr = (c[0] & 0x80) ? NULL : s[0],
			.orcpt = (c[0] & 0x40) ? NULL : s[1],
			.action = (c[0] & 1) ? DSN_ACTION_DELAYED : DSN_ACTION_FAILED,
			.status = (c[0] & 0x20) ? NULL : s[2],
			.code = (enum mfi_code)(c[1] % (MFI_NCODES + 2)),	/* + out of range */
			.expired = (c[1] & 0x40) != 0,	/* bits the code barely uses */
			.attempts = (uint32_t)c[3] * 0x01010101u,
			.reply_code = (int)(le(c, 2, 2) % 700),
			.reply_text = (c[0] & 0x10) ? NULL : s[3],
			.remote_mta = (c[0] & 0x08) ? NULL : s[4],
			.detail = (c[0] & 0x04) ? NULL : s[5],
			.last_attempt = (c[0] & 0x02) ? 0 : pick_time(c[3], (uint32_t)le(c, 0, 4)),
		};
	}

	flags = dsn_build(&r, &out);
	check_report(out.p, out.len, flags, nrcpt);
	check_subject(r.orig, r.origlen);
	buf_free(&out);
	free(text);
	return 0;
}
