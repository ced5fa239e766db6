/*
 * ctl_report — a log's daily summary (see ctl_report.h).
 *
 * Every event becomes a JSON object first, whichever format it was written
 * in, so the counting reads one shape.  Tallies are rows of four counts in
 * a vector, found by key through a jansson object (a hash table) mapping
 * the key to the row's index: a day's log has a handful of connectors and
 * codes but may have many distinct deferral details.
 */
#include "core/ctl/ctl_report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"

/* The four counts of a row. */
enum { N_DELIVERED, N_DEFERRED, N_BOUNCED, N_EXPIRED, N_RETURNED, N_KINDS };

static const char *const kind_names[N_KINDS] = {
	"delivered", "deferred", "bounced", "expired", "returned",
};

struct row {
	char *key;		/* the parts, '\x1F' apart */
	long long n[N_KINDS];
};

struct tally {
	json_t *idx;		/* key -> index into rows */
	struct row *rows;
	size_t nrows, cap;
};

struct ctl_report {
	struct tally conns;	/* connector */
	struct tally codes;	/* connector, code, mfi */
	struct tally reasons;	/* connector, code, detail (deferrals) */
	struct tally tenants;	/* tenant */
	long long total[N_KINDS];
	long long received, received_rcpts;
	long long lines, unreadable, events;	/* events: counted ones */
	char first[40], last[40];	/* time stamps seen, ISO 8601 */
};

#define SEP "\x1F"

/* ---- reading a text event -------------------------------------------- */

static int
hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Append the value at p[0..n) to b without its escapes (\\, \", \xNN). */
static void
unescape(struct buf *b, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\\' && i + 3 < n && p[i + 1] == 'x' &&
		    hexval(p[i + 2]) >= 0 && hexval(p[i + 3]) >= 0) {
			c = (char)(hexval(p[i + 2]) << 4 | hexval(p[i + 3]));
			i += 3;
		} else if (c == '\\' && i + 1 < n) {
			c = p[++i];
		}
		buf_append(b, &c, 1);
	}
}

/* A JSON string of the unescaped value p[0..n) (valid UTF-8 or escaped
 * again), whole as log_ev wrote it: the JSON line of the same event is
 * read whole too, and the report must not depend on the format. */
static json_t *
str_value(const char *p, size_t n)
{
	struct buf b = { 0 };
	json_t *s;

	unescape(&b, p, n);
	s = log_json_whole(b.p != NULL ? b.p : "", b.len);
	buf_free(&b);
	return s;
}

/* A bare value as the JSON event had it: null, true/false, an integer, a
 * list for "rcpts", else a string (log.c quotes a string that would read
 * as one of the others). */
static json_t *
bare_value(const char *key, const char *p, size_t n)
{
	if (strcmp(key, "rcpts") == 0) {
		json_t *a = json_array();

		if (n == 1 && p[0] == '-')
			return a;
		for (size_t i = 0, start = 0; i <= n; i++)
			if (i == n || p[i] == ',') {
				log_json_append(&a, str_value(p + start, i - start));
				start = i + 1;
			}
		return a;
	}
	if (n == 1 && p[0] == '-')
		return json_null();
	if (n == 4 && memcmp(p, "true", 4) == 0)
		return json_true();
	if (n == 5 && memcmp(p, "false", 5) == 0)
		return json_false();
	if (n > 0 && n <= 18) {	/* 18 digits: no overflow */
		size_t i = p[0] == '-' && n > 1;
		long long v = 0;

		while (i < n && p[i] >= '0' && p[i] <= '9')
			v = v * 10 + (p[i++] - '0');
		if (i == n)
			return json_integer(p[0] == '-' ? -v : v);
	}
	return str_value(p, n);
}

/* The level word at the head of a text line's message: where the line's
 * own "debug: ", "info: ", "warn: " or "error: " starts, or NULL. */
static const char *
level_at(const char *line, size_t len, size_t *lvl_len)
{
	static const char *const levels[] = { "debug: ", "info: ", "warn: ", "error: " };

	for (size_t i = 0; i < len; i++) {
		if (i > 0 && line[i - 1] != ' ')
			continue;
		for (size_t k = 0; k < sizeof(levels) / sizeof(levels[0]); k++) {
			size_t l = strlen(levels[k]);

			if (len - i >= l && memcmp(line + i, levels[k], l) == 0) {
				*lvl_len = l;
				return line + i;
			}
		}
	}
	return NULL;
}

/* "EVENT key=value ..." (the text after "info: ") as an object, or NULL. */
static json_t *
text_event(const char *p, size_t n)
{
	size_t i = 0;
	char name[32];
	json_t *o;

	while (i < n && i < sizeof(name) - 1 &&
	       ((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
		i++;
	if (i == 0 || (i < n && p[i] != ' '))
		return NULL;
	memcpy(name, p, i);
	name[i] = '\0';
	o = json_pack("{s:s}", "event", name);
	while (o != NULL && i < n) {
		char key[32];
		size_t k = 0, v;

		if (p[i++] != ' ')
			goto bad;
		while (i < n && k < sizeof(key) - 1 &&
		       ((p[i] >= 'a' && p[i] <= 'z') || p[i] == '_'))
			key[k++] = p[i++];
		key[k] = '\0';
		if (k == 0 || i >= n || p[i++] != '=')
			goto bad;
		if (i < n && p[i] == '"') {	/* quoted: to the unescaped '"' */
			v = ++i;
			while (i < n && p[i] != '"')
				i += p[i] == '\\' ? 2 : 1;
			if (i >= n)
				goto bad;
			log_json_set(&o, key, str_value(p + v, i - v));
			i++;
			if (i < n && p[i] != ' ')
				goto bad;
		} else {
			v = i;
			while (i < n && p[i] != ' ')
				i++;
			log_json_set(&o, key, bare_value(key, p + v, i - v));
		}
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}

json_t *
ctl_report_event(const char *line, size_t len)
{
	const char *lv;
	size_t ll;
	json_t *o;

	/* a JSON line, alone or behind a syslog/journal head ("... sluiced[7]:
	   {...}"): the head ends in ": " and holds no level word of its own */
	lv = memchr(line, '{', len);
	if (lv != NULL && lv > line && (lv - line < 2 || lv[-1] != ' ' || lv[-2] != ':' ||
					level_at(line, (size_t)(lv - line), &ll) != NULL))
		lv = NULL;
	if (len > 0 && (line[0] == '{' || lv != NULL)) {
		const char *msg;

		if (lv != NULL) {
			len -= (size_t)(lv - line);
			line = lv;
		}
		o = json_loadb(line, len, 0, NULL);
		if (json_string_value(json_object_get(o, "event")) != NULL)
			return o;
		/* format: json's words: {"ts":..,"level":"info","msg":"queued .."} */
		msg = json_string_value(json_object_get(o, "msg"));
		if (msg != NULL && json_string_value(json_object_get(o, "level")) != NULL &&
		    strcmp(json_string_value(json_object_get(o, "level")), "info") == 0) {
			json_t *e = text_event(msg, strlen(msg)), *ts = json_object_get(o, "ts");

			if (e != NULL && ts != NULL)
				log_json_set(&e, "ts", json_incref(ts));
			json_decref(o);
			return e;
		}
		json_decref(o);
		return NULL;
	}
	lv = level_at(line, len, &ll);
	if (lv == NULL || ll != strlen("info: "))
		return NULL;
	o = text_event(lv + ll, len - (size_t)(lv + ll - line));
	/* an ISO 8601 stamp first: the text format's own, "2026-12-06T18:00:00.000Z
	   info: ...", or journalctl -o short-iso's "2026-12-06T18:00:00+0000 host" */
	if (o != NULL && len > 19 && line[4] == '-' && line[7] == '-' && line[10] == 'T' &&
	    line[0] >= '0' && line[0] <= '9') {
		const char *sp = memchr(line, ' ', (size_t)(lv - line));

		if (sp != NULL && sp - line < 40)
			log_json_set(&o, "ts", log_json_str(line, (size_t)(sp - line)));
	}
	return o;
}

/* ---- counting ---------------------------------------------------------- */

static struct row *
tally_get(struct tally *t, const char *key)
{
	json_t *at;
	size_t i;

	if (t->idx == NULL)
		t->idx = json_object();
	at = json_object_get(t->idx, key);
	if (at != NULL)
		return &t->rows[json_integer_value(at)];
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->rows = xrealloc(t->rows, t->cap * sizeof(*t->rows));
	}
	i = t->nrows++;
	t->rows[i] = (struct row){ .key = xstrdup(key) };
	/* out of memory, the index is dropped (a new one starts): the
	   counts go on, a key seen before in a second row */
	log_json_set(&t->idx, key, json_integer((json_int_t)i));
	return &t->rows[i];
}

static void
tally_free(struct tally *t)
{
	for (size_t i = 0; i < t->nrows; i++)
		free(t->rows[i].key);
	free(t->rows);
	json_decref(t->idx);
}

struct ctl_report *
ctl_report_new(void)
{
	return xcalloc(1, sizeof(struct ctl_report));
}

void
ctl_report_free(struct ctl_report *rp)
{
	if (rp == NULL)
		return;
	tally_free(&rp->conns);
	tally_free(&rp->codes);
	tally_free(&rp->reasons);
	tally_free(&rp->tenants);
	free(rp);
}

static const char *
str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && s[0] != '\0' ? s : dflt;
}

/* The key "a\x1Fb\x1Fc" (each part cut at 900 bytes, at a character's
 * start: a key that is not UTF-8 is one the index refuses) into sb; b and
 * c may be NULL. */
static void
key_of(struct strb *sb, const char *a, const char *b, const char *c)
{
	const char *part[3] = { a, b, c };

	strb_reset(sb);
	for (int k = 0; k < 3 && part[k] != NULL; k++) {
		size_t n = strnlen(part[k], 901);

		if (n > 900)
			for (n = 900; n > 0 && ((unsigned char)part[k][n] & 0xC0) == 0x80; n--)
				;
		if (k > 0)
			strb_putn(sb, SEP, 1);
		/* a separator inside a value (a peer's byte) would split it */
		for (size_t i = 0; i < n; i++)
			strb_putn(sb, part[k][i] == SEP[0] ? "?" : part[k] + i, 1);
	}
}

static void
count_delivery(struct ctl_report *rp, json_t *e, int kind)
{
	json_t *rcpts = json_object_get(e, "rcpts");
	long long n = json_is_array(rcpts) ? (long long)json_array_size(rcpts) : 1;
	const char *conn = str_or(e, "connector", "-"), *code = str_or(e, "code", "-");
	const char *tenant = str_or(e, "tenant", NULL);
	char kb[4096];
	struct strb sb;

	strb_init(&sb, kb, sizeof(kb));
	rp->total[kind] += n;
	key_of(&sb, conn, NULL, NULL);
	tally_get(&rp->conns, sb.p)->n[kind] += n;
	if (tenant != NULL) {
		key_of(&sb, tenant, NULL, NULL);
		tally_get(&rp->tenants, sb.p)->n[kind] += n;
	}
	if (kind == N_DELIVERED)
		return;
	key_of(&sb, conn, code, str_or(e, "mfi", "-"));
	tally_get(&rp->codes, sb.p)->n[kind] += n;
	if (kind == N_DEFERRED) {
		key_of(&sb, conn, code, str_or(e, "detail", "-"));
		tally_get(&rp->reasons, sb.p)->n[kind] += n;
	}
}

static void
note_time(struct ctl_report *rp, const char *ts)
{
	size_t n = ts != NULL ? strlen(ts) + 1 : 0;

	if (n == 0 || n > sizeof(rp->first))
		return;
	if (rp->first[0] == '\0' || strcmp(ts, rp->first) < 0)
		memcpy(rp->first, ts, n);
	if (strcmp(ts, rp->last) > 0)
		memcpy(rp->last, ts, n);
}

/* Whether event e (named ev) has its last field: sluiced writes it after
 * the recipients, so a line cut on its way lacks it. */
static bool
whole(json_t *e, const char *ev)
{
	const char *last = strcmp(ev, "attempt") == 0 ? "attempt"
			   : strcmp(ev, "expired") == 0 || strcmp(ev, "returned") == 0 ? "attempts"
			   : NULL;

	return last == NULL || json_is_integer(json_object_get(e, last));
}

void
ctl_report_line(struct ctl_report *rp, const char *line, size_t len)
{
	json_t *e = ctl_report_event(line, len);
	const char *ev, *res;

	rp->lines++;
	if (e == NULL)
		return;
	ev = json_string_value(json_object_get(e, "event"));
	res = str_or(e, "result", "");
	if (strcmp(ev, "queued") == 0 && json_is_integer(json_object_get(e, "nrcpt")) &&
	    json_integer_value(json_object_get(e, "nrcpt")) >= 0 &&
	    json_integer_value(json_object_get(e, "nrcpt")) <= 1000000) {
		rp->received++;
		rp->received_rcpts += json_integer_value(json_object_get(e, "nrcpt"));
	} else if (!whole(e, ev)) {
		rp->unreadable++;	/* cut short on its way (a syslog line limit) */
	} else if (strcmp(ev, "attempt") == 0 && strcmp(res, "delivered") == 0) {
		count_delivery(rp, e, N_DELIVERED);
	} else if (strcmp(ev, "attempt") == 0 && strcmp(res, "deferred") == 0) {
		count_delivery(rp, e, N_DEFERRED);
	} else if (strcmp(ev, "attempt") == 0 && strcmp(res, "bounced") == 0) {
		count_delivery(rp, e, N_BOUNCED);
	} else if (strcmp(ev, "expired") == 0) {
		count_delivery(rp, e, N_EXPIRED);
	} else if (strcmp(ev, "returned") == 0) {
		count_delivery(rp, e, N_RETURNED);
	} else if (strcmp(ev, "attempt") == 0) {
		rp->unreadable++;
	} else {
		json_decref(e);
		return;	/* another event: not counted, not a time either */
	}
	rp->events++;
	note_time(rp, json_string_value(json_object_get(e, "ts")));
	json_decref(e);
}

long long
ctl_report_lines(const struct ctl_report *rp)
{
	return rp->lines;
}

long long
ctl_report_events(const struct ctl_report *rp)
{
	return rp->events;
}

/* ---- output ------------------------------------------------------------ */

/* Rows of t in the order cmp gives (a sorted copy of pointers). */
static const struct row **
sorted(const struct tally *t, int (*cmp)(const void *, const void *))
{
	const struct row **v = xcalloc(t->nrows + 1, sizeof(*v));

	for (size_t i = 0; i < t->nrows; i++)
		v[i] = &t->rows[i];
	qsort(v, t->nrows, sizeof(*v), cmp);
	return v;
}

static long long
row_failures(const struct row *r)
{
	return r->n[N_DEFERRED] + r->n[N_BOUNCED] + r->n[N_EXPIRED] + r->n[N_RETURNED];
}

static int
by_key(const void *a, const void *b)
{
	return strcmp((*(const struct row *const *)a)->key, (*(const struct row *const *)b)->key);
}

/* Most failures first, then by key. */
static int
by_failures(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;
	long long fx = row_failures(x), fy = row_failures(y);

	return fx != fy ? (fx < fy ? 1 : -1) : strcmp(x->key, y->key);
}

/* Where the key's part k (0-based) starts, its length in *len. */
static const char *
key_part(const char *key, unsigned k, size_t *len)
{
	const char *p = key, *end;

	while (k-- > 0 && p != NULL)
		p = (p = strchr(p, SEP[0])) != NULL ? p + 1 : NULL;
	if (p == NULL)
		p = "";
	end = strchr(p, SEP[0]);
	*len = end != NULL ? (size_t)(end - p) : strlen(p);
	return p;
}

/* The key's part k, escaped for a terminal into out. */
static const char *
part(const char *key, unsigned k, char *out, size_t cap)
{
	size_t len;
	const char *p = key_part(key, k, &len);

	return log_esc(out, cap, p, len, 0);
}

#define CELL 1024

static void
num(char out[32], long long v)
{
	struct strb sb;

	strb_init(&sb, out, 32);
	strb_printf(&sb, "%lld", v);
}

/* One table of t's rows: the key's nparts parts, then the counts kinds
 * (a bit mask of 1 << N_*); rows with no count in kinds are left out. */
static void
table_of(struct buf *out, const char *title, const char *const *heads, unsigned nparts,
	 unsigned kinds, const struct tally *t, int (*cmp)(const void *, const void *),
	 size_t max)
{
	const struct row **v = sorted(t, cmp);
	struct ctl_table *tb = ctl_table_new(heads);
	char cells[8][CELL], nums[N_KINDS][32];
	const char *row[8 + N_KINDS + 1];
	size_t shown = 0;

	for (size_t i = 0; v[i] != NULL && shown < max; i++) {
		unsigned c = 0;
		long long any = 0;

		for (int k = 0; k < N_KINDS; k++)
			if (kinds & (1u << k))
				any += v[i]->n[k];
		if (any == 0)
			continue;
		for (unsigned p = 0; p < nparts; p++)
			row[c++] = part(v[i]->key, p, cells[p], CELL);
		for (int k = 0; k < N_KINDS; k++)
			if (kinds & (1u << k)) {
				num(nums[k], v[i]->n[k]);
				row[c++] = nums[k];
			}
		ctl_table_rowv(tb, row);
		shown++;
	}
	free(v);
	if (shown == 0) {
		ctl_table_free(tb);
		return;
	}
	buf_printf(out, "\n%s\n", title);
	ctl_table_render(tb, out);
}

#define ALL_KINDS ((1u << N_KINDS) - 1)
#define FAILURES ((1u << N_DEFERRED) | (1u << N_BOUNCED) | (1u << N_EXPIRED) | \
		  (1u << N_RETURNED))

/* Most deferrals first. */
static int
by_deferrals(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a, *y = *(const struct row *const *)b;

	if (x->n[N_DEFERRED] != y->n[N_DEFERRED])
		return x->n[N_DEFERRED] < y->n[N_DEFERRED] ? 1 : -1;
	return strcmp(x->key, y->key);
}

static const char *
plural(long long n)
{
	return n == 1 ? "" : "s";
}

void
ctl_report_text(const struct ctl_report *rp, struct buf *out, unsigned top)
{
	static const char *const conn_heads[] = {
		"CONNECTOR", ">DELIVERED", ">DEFERRED", ">BOUNCED", ">EXPIRED", ">RETURNED", NULL };
	static const char *const code_heads[] = {
		"CONNECTOR", "CODE", "MFI", ">DEFERRED", ">BOUNCED", ">EXPIRED", ">RETURNED", NULL };
	static const char *const reason_heads[] = {
		"CONNECTOR", "CODE", "DETAIL", ">DEFERRALS", NULL };
	static const char *const tenant_heads[] = {
		"TENANT", ">DELIVERED", ">DEFERRED", ">BOUNCED", ">EXPIRED", ">RETURNED", NULL };
	char title[64];
	struct strb sb;

	if (rp->first[0] != '\0')
		buf_printf(out, "Log from %s to %s: %lld lines", rp->first, rp->last, rp->lines);
	else if (rp->received + rp->total[N_DELIVERED] + rp->total[N_DEFERRED] +
		 rp->total[N_BOUNCED] + rp->total[N_EXPIRED] + rp->total[N_RETURNED] > 0)
		buf_printf(out, "Log: %lld line%s (no ISO 8601 time stamps)", rp->lines,
			   plural(rp->lines));
	else
		buf_printf(out, "Log: %lld line%s, no deliveries", rp->lines, plural(rp->lines));
	if (rp->unreadable > 0)
		buf_printf(out, ", %lld event%s not understood (cut short on the way?)",
			   rp->unreadable, plural(rp->unreadable));
	buf_printf(out, "\n\nreceived   %10lld message%s (%lld recipient%s)\n", rp->received,
		   plural(rp->received), rp->received_rcpts, plural(rp->received_rcpts));
	buf_printf(out, "delivered  %10lld recipient%s\n", rp->total[N_DELIVERED],
		   plural(rp->total[N_DELIVERED]));
	buf_printf(out, "deferred   %10lld deferral%s (an attempt left a recipient queued)\n",
		   rp->total[N_DEFERRED], plural(rp->total[N_DEFERRED]));
	buf_printf(out, "bounced    %10lld recipient%s (refused for good by the next hop)\n",
		   rp->total[N_BOUNCED], plural(rp->total[N_BOUNCED]));
	buf_printf(out, "expired    %10lld recipient%s (returned when the queue lifetime "
		   "ran out)\n", rp->total[N_EXPIRED], plural(rp->total[N_EXPIRED]));
	buf_printf(out, "returned   %10lld recipient%s (by the operator or fix-now)\n",
		   rp->total[N_RETURNED], plural(rp->total[N_RETURNED]));
	table_of(out, "By connector", conn_heads, 1, ALL_KINDS, &rp->conns, by_key, SIZE_MAX);
	table_of(out, "Failures by connector and code", code_heads, 3, FAILURES, &rp->codes,
		 by_failures, SIZE_MAX);
	strb_init(&sb, title, sizeof(title));
	strb_printf(&sb, "Top %u deferral reasons", top);
	table_of(out, title, reason_heads, 3, 1u << N_DEFERRED, &rp->reasons, by_deferrals, top);
	table_of(out, "By tenant", tenant_heads, 1, ALL_KINDS, &rp->tenants, by_key, SIZE_MAX);
}

/* t's rows as objects: the key's parts under names, then the counts. */
static json_t *
rows_json(const struct tally *t, const char *const *names, unsigned nparts, unsigned kinds,
	  int (*cmp)(const void *, const void *), size_t max)
{
	const struct row **v = sorted(t, cmp);
	json_t *a = json_array();

	for (size_t i = 0; v[i] != NULL && i < max; i++) {
		json_t *o = json_object();

		for (unsigned p = 0; p < nparts; p++) {
			size_t len;
			const char *s = key_part(v[i]->key, p, &len);

			log_json_set(&o, names[p], log_json_str(s, len));
		}
		for (int k = 0; k < N_KINDS; k++)
			if (kinds & (1u << k))
				log_json_set(&o, kind_names[k], json_integer(v[i]->n[k]));
		log_json_append(&a, o);
	}
	free(v);
	return a;
}

json_t *
ctl_report_json(const struct ctl_report *rp, unsigned top)
{
	static const char *const conn[] = { "connector" };
	static const char *const code[] = { "connector", "code", "mfi" };
	static const char *const reason[] = { "connector", "code", "detail" };
	static const char *const tenant[] = { "tenant" };

	return json_pack("{s:s?, s:s?, s:I, s:I, s:{s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, "
			 "s:o, s:o, s:o, s:o}",
			 "from", rp->first[0] ? rp->first : NULL,
			 "to", rp->last[0] ? rp->last : NULL,
			 "lines", (json_int_t)rp->lines, "unreadable", (json_int_t)rp->unreadable,
			 "received", "messages", (json_int_t)rp->received,
			 "recipients", (json_int_t)rp->received_rcpts,
			 "totals", "delivered", (json_int_t)rp->total[N_DELIVERED],
			 "deferred", (json_int_t)rp->total[N_DEFERRED],
			 "bounced", (json_int_t)rp->total[N_BOUNCED],
			 "expired", (json_int_t)rp->total[N_EXPIRED],
			 "returned", (json_int_t)rp->total[N_RETURNED],
			 "connectors", rows_json(&rp->conns, conn, 1, ALL_KINDS, by_key, SIZE_MAX),
			 "codes", rows_json(&rp->codes, code, 3, FAILURES, by_failures, SIZE_MAX),
			 "deferral_reasons", rows_json(&rp->reasons, reason, 3, 1u << N_DEFERRED,
						       by_deferrals, top),
			 "tenants", rows_json(&rp->tenants, tenant, 1, ALL_KINDS, by_key,
					      SIZE_MAX));
}
