/*
 * libFuzzer target: the message trace's pure parts — the words of
 * "trace" (core/ctl/ctl_trace_parse.c), the SQL built from them
 * (core/trace/trace_sql.c), and the decoder of the records the workers
 * hand the writer (core/trace/trace_rec.c).
 *
 * The first byte picks the part.  Words: printable ASCII split at blanks,
 * as the control parser passes them on.  Invariants: a refusal leaves one
 * printable line in its buffer; an accepted filter builds a query whose
 * text holds no quote but the builder's own (the ESCAPE clause, the null
 * sender, the statuses), the same whatever the patterns' bytes but their
 * wildcards, whose parameters fit and are terminated, and whose LIKE
 * prefix, unescaped, is the pattern's literal start.  Records: whatever
 * the bytes, the decoder either refuses them or yields strings and a
 * recipient walk inside the record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctl/ctl_trace_parse.h"
#include "core/trace/trace_rec.h"
#include "core/trace/trace_sql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXW 40

/* The LIKE string of pattern p, unescaped, is p's literal prefix. */
static void
check_like(const char *p)
{
	char like[2 * TRACE_PAT_MAX + 2], plain[TRACE_PAT_MAX + 1];
	size_t k = 0, n = strcspn(p, "*?");

	if (!trace_sql_like_prefix(p, like, sizeof(like)))
		return;
	for (const char *c = like; *c != '\0' && c[1] != '\0'; c++) {
		if (*c == '\\')
			c++;
		else if (*c == '%' || *c == '_')
			abort();	/* a wildcard of the operator's */
		plain[k++] = *c;
	}
	if (k != n || memcmp(plain, p, n) != 0)
		abort();
}

/* Every byte of p that is not a wildcard or a LIKE special becomes 'a'. */
static void
shape(char *p)
{
	for (; *p != '\0'; p++)
		if (strchr("*?%_\\", *p) == NULL)
			*p = 'a';
}

static void
words(const char *in, size_t size)
{
	char buf[2048], *argv[MAXW], err[160];
	struct trace_filter f;
	struct trace_sql q, q2;
	int argc = 0;

	if (size >= sizeof(buf))
		return;
	memcpy(buf, in, size);
	buf[size] = '\0';
	for (const char *c = buf; *c != '\0'; c++)
		if ((*c < 0x20 && *c != '\t') || *c >= 0x7f)
			return;
	for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w && argc < MAXW;
	     w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	memset(err, 'x', sizeof(err));
	if (ctl_trace_parse(argv, argc, 1800000000LL, &f, err, sizeof(err)) < 0) {
		size_t n = strnlen(err, sizeof(err));
		if (n == sizeof(err) || n == 0)
			abort();	/* not one terminated line */
		for (size_t i = 0; i < n; i++)
			if (err[i] < 0x20 || err[i] == 0x7f)
				abort();
		return;
	}
	if (trace_sql_build(&f, &q) < 0)
		abort();	/* the parser keeps the limit in range */
	if (q.np > TRACE_SQL_PARAMS || strnlen(q.text, sizeof(q.text)) == sizeof(q.text))
		abort();
	for (unsigned i = 0; i < q.np; i++)
		if (q.p[i].text && strnlen(q.p[i].s, sizeof(q.p[i].s)) == sizeof(q.p[i].s))
			abort();
	if (f.has_sender)
		check_like(f.sender);
	if (f.has_rcpt)
		check_like(f.rcpt);
	/* the text is the builder's shape for such patterns: the same when
	   every byte but the wildcards and LIKE's specials is an 'a' */
	shape(f.sender);
	shape(f.rcpt);
	if (trace_sql_build(&f, &q2) < 0 || strcmp(q.text, q2.text) != 0)
		abort();
}

static void
record(const uint8_t *in, size_t size)
{
	static _Alignas(8) unsigned char buf[TRACE_REC_MAX];
	struct trace_rec rec;
	const unsigned char *it = NULL;
	const char *a;
	uint16_t n;
	uint32_t listed = 0;

	if (size > sizeof(buf))
		return;
	memcpy(buf, in, size);
	if (trace_rec_decode(buf, size, &rec) < 0)
		return;
	for (int i = 0; i < TRACE_NSTR; i++)
		if (rec.str[i] != NULL && ((const unsigned char *)rec.str[i] < buf ||
					   (const unsigned char *)rec.str[i] + rec.len[i] >
					   buf + size))
			abort();
	while (trace_rec_rcpt_next(&rec, &it, &a, &n)) {
		if ((const unsigned char *)a < buf || (const unsigned char *)a + n > buf + size)
			abort();
		listed++;
	}
	if (listed != rec.nrcpt_listed)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (data[0] & 1)
		record(data + 1, size - 1);
	else
		words((const char *)data + 1, size - 1);
	return 0;
}
