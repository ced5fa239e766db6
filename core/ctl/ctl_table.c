/*
 * ctl_table — aligned text tables and the small time formatters of the
 * control socket's answers for people (and sluicectl's own).  Pure
 * formatting into a buffer; ctl_run.c prints a table into an answer.
 */
#include "core/ctl/ctl_table.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/xalloc.h"

#define TABLE_MAXCOL 16

struct ctl_table {
	unsigned ncol;			/* columns */
	const char *heads[TABLE_MAXCOL];/* names (without the '>') */
	bool right[TABLE_MAXCOL];	/* right-aligned (numbers) */
	size_t width[TABLE_MAXCOL];	/* widest cell so far */
	char **cells;			/* nrows * ncol copies */
	size_t nrows;			/* rows */
	size_t cap;			/* rows allocated */
};

struct ctl_table *
ctl_table_new(const char *const *heads)
{
	struct ctl_table *t = xcalloc(1, sizeof(*t));

	for (; heads[t->ncol] != NULL && t->ncol < TABLE_MAXCOL; t->ncol++) {
		const char *h = heads[t->ncol];
		t->right[t->ncol] = h[0] == '>';
		t->heads[t->ncol] = h + (h[0] == '>');
		t->width[t->ncol] = strlen(t->heads[t->ncol]);
	}
	return t;
}

static void
table_grow(struct ctl_table *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xrealloc(t->cells, t->cap * t->ncol * sizeof(*t->cells));
	}
}

static void
table_cell(struct ctl_table *t, unsigned c, const char *s)
{
	char *p = xstrdup(s ? s : "");

	t->cells[t->nrows * t->ncol + c] = p;
	if (strlen(p) > t->width[c])
		t->width[c] = strlen(p);
}

void
ctl_table_row(struct ctl_table *t, ...)
{
	va_list ap;

	table_grow(t);
	va_start(ap, t);
	for (unsigned c = 0; c < t->ncol; c++)
		table_cell(t, c, va_arg(ap, const char *));
	va_end(ap);
	t->nrows++;
}

void
ctl_table_rowv(struct ctl_table *t, const char *const *cells)
{
	table_grow(t);
	for (unsigned c = 0; c < t->ncol; c++)
		table_cell(t, c, cells[c]);
	t->nrows++;
}

/* One line appended to b: cells padded to their column, two spaces
 * apart, no trailing blanks. */
static void
table_line(struct ctl_table *t, struct buf *b, const char *const *cells)
{
	size_t start = b->len;

	for (unsigned c = 0; c < t->ncol; c++) {
		size_t len = strlen(cells[c]), pad = t->width[c] - len;
		bool last = c + 1 == t->ncol;
		if (c > 0)
			buf_puts(b, "  ");
		if (t->right[c])
			for (size_t i = 0; i < pad; i++)
				buf_append(b, " ", 1);
		buf_puts(b, cells[c]);
		if (!t->right[c] && !last)
			for (size_t i = 0; i < pad; i++)
				buf_append(b, " ", 1);
	}
	while (b->len > start && b->p[b->len - 1] == ' ')
		b->len--;
	buf_append(b, "\n", 1);
}

void
ctl_table_render(struct ctl_table *t, struct buf *out)
{
	table_line(t, out, t->heads);
	for (size_t i = 0; i < t->nrows; i++)
		table_line(t, out, (const char *const *)&t->cells[i * t->ncol]);
	ctl_table_free(t);
}

void
ctl_table_free(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncol; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

void
ctl_fmt_age(int64_t s, char *out, size_t n)
{
	if (s < 0)
		snprintf(out, n, "-");
	else if (s >= 86400)
		snprintf(out, n, "%lldd%02lldh", (long long)(s / 86400),
			 (long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(out, n, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(out, n, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
	else
		snprintf(out, n, "%llds", (long long)s);
}

void
ctl_fmt_time(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t == 0) {
		out[0] = '\0';
		return;
	}
	gmtime_r(&tt, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

json_t *
ctl_json_time(int64_t t)
{
	char s[32];

	if (t == 0)
		return json_null();
	ctl_fmt_time(t, s, sizeof(s));
	return log_json_s(s);
}
