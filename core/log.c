/*
 * log — formatting, the per-thread batches, and the one escaper every
 * untrusted string passes on its way into a line; where the bytes go is
 * core/log_sink.c.  log_msg lines longer than the 4 KiB stack buffer are
 * truncated, never split; raw (JSON) lines are never truncated, since
 * half a JSON object is worse than none.
 *
 * The format (text or JSON) is set once by log_open before other threads
 * log; the level is a relaxed atomic that any thread may change.
 */
#include "core/log.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log_sink.h"
#include "core/strb.h"
#include "core/utf8.h"
#include "core/xalloc.h"

static _Atomic int log_min = LOG_INFO;
static bool log_json_fmt;		/* every line one JSON object */
static const char *const log_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level lvl)
{
	atomic_store_explicit(&log_min, (int)lvl, memory_order_relaxed);
}

enum log_level
log_get_level(void)
{
	return (enum log_level)atomic_load_explicit(&log_min, memory_order_relaxed);
}

int
log_open(const struct log_setup *s, bool *created, char *err, size_t errlen)
{
	int rc = log_sink_open(s, created, err, errlen);

	if (rc == 0)
		log_json_fmt = s->json;
	return rc;
}

int
log_reopen(char *err, size_t errlen)
{
	return log_sink_reopen(err, errlen);
}

static __thread struct buf log_ev_line;	/* see log_ev_begin */

/* Per-thread batch: a worker collects a loop turn's lines, one write(2). */
#define LOG_BATCH 65536
static __thread char *log_batch;	/* NULL: write each line at once */
static __thread size_t log_batch_len;	/* bytes collected */

static void
log_write(const char *p, size_t n)
{
	if (log_batch == NULL) {
		log_sink_write(p, n);
		return;
	}
	if (LOG_BATCH - log_batch_len < n)
		log_batch_flush();
	if (n > LOG_BATCH) {
		log_sink_write(p, n);
		return;
	}
	memcpy(log_batch + log_batch_len, p, n);
	log_batch_len += n;
}

void
log_batch_begin(void)
{
	if (log_batch == NULL)
		log_batch = malloc(LOG_BATCH);
}

void
log_batch_flush(void)
{
	if (log_batch_len > 0)
		log_sink_write(log_batch, log_batch_len);
	log_batch_len = 0;
}

void
log_batch_end(void)
{
	log_batch_flush();
	free(log_batch);
	log_batch = NULL;
	buf_free(&log_ev_line);
}

/* "2026-11-27T03:35:25.123Z" (UTC, milliseconds) into out[32]; the
 * second's text is made once per second and thread. */
static void
log_stamp(char out[32])
{
	static __thread time_t sec_at = -1;
	static __thread char sec[24];
	struct timespec ts;
	unsigned ms;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != sec_at) {
		struct tm tm;

		gmtime_r(&ts.tv_sec, &tm);
		if (strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
			sec[0] = '\0';
		sec_at = ts.tv_sec;
	}
	ms = (unsigned)(ts.tv_nsec / 1000000) % 1000;
	n = strlen(sec);	/* 19 */
	memcpy(out, sec, n);
	out[n] = '.';
	out[n + 1] = (char)('0' + ms / 100);
	out[n + 2] = (char)('0' + ms / 10 % 10);
	out[n + 3] = (char)('0' + ms % 10);
	out[n + 4] = 'Z';
	out[n + 5] = '\0';
}

/*
 * A whole line: the sink's head for lvl, then text, then '\n'; one write.
 * Never cut (the heap takes what the stack buffer cannot).
 */
static void
log_record(enum log_level lvl, const char *text, size_t len)
{
	char small[8192], *line = small;
	size_t head;

	head = log_sink_head(small, 256, lvl);
	if (head + len + 1 > sizeof(small)) {
		line = malloc(head + len + 1);
		if (line == NULL) {
			log_err("a log line of %zu bytes was dropped: out of memory", len);
			return;
		}
		memcpy(line, small, head);
	}
	memcpy(line + head, text, len);
	line[head + len] = '\n';
	log_write(line, head + len + 1);
	if (line != small)
		free(line);
}

/* Dump o (consumed) as one compact ASCII line at level lvl; an error line
 * naming event when it cannot be built. */
static void
log_dump(json_t *o, enum log_level lvl, const char *event)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (s == NULL)
		log_err("%s: the JSON log line could not be built (out of memory)", event);
	else
		log_record(lvl, s, strlen(s));
	free(s);
	json_decref(o);
}

/* "TIME level: text\n", or for syslog "HEAD level: text\n". */
static void __attribute__((format(printf, 3, 0)))
log_text(enum log_level lvl, const char *stamp, const char *fmt, va_list ap)
{
	char line[4096], head[256];
	size_t hl = log_sink_head(head, sizeof(head), lvl);
	struct strb sb;

	strb_init(&sb, line, sizeof(line) - 1);	/* room for the newline */
	if (hl > 0)
		strb_putn(&sb, head, hl);
	else
		strb_printf(&sb, "%s ", stamp);
	strb_printf(&sb, "%s: ", log_names[lvl]);
	strb_vprintf(&sb, fmt, ap);
	line[sb.len++] = '\n';
	log_write(line, sb.len);
}

static void __attribute__((format(printf, 2, 0)))
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char msg[4096], stamp[32];
	struct strb sb;
	json_t *o;
	va_list again;

	log_stamp(stamp);
	if (!log_json_fmt) {
		log_text(lvl, stamp, fmt, ap);
		return;
	}
	va_copy(again, ap);
	strb_init(&sb, msg, sizeof(msg));
	strb_vprintf(&sb, fmt, ap);
	o = json_pack("{s:s, s:s, s:o}", "ts", stamp, "level", log_names[lvl],
		      "msg", log_json_str(sb.p, sb.len));
	if (o != NULL)
		log_dump(o, lvl, "log");
	else	/* out of memory: the line as text rather than nothing */
		log_text(lvl, stamp, fmt, again);
	va_end(again);
}

void
log_msg(enum log_level lvl, const char *fmt, ...)
{
	va_list ap;

	if ((int)lvl < atomic_load_explicit(&log_min, memory_order_relaxed))
		return;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

/* ---- untrusted text --------------------------------------------------- */

/* Characters that are valid UTF-8 yet end lines or reorder text in a
 * viewer or terminal (see log.h): escaped like control bytes. */
static bool
log_cp_hostile(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9F) || c == 0x2028 || c == 0x2029 ||
	       c == 0x200E || c == 0x200F || (c >= 0x202A && c <= 0x202E) ||
	       (c >= 0x2066 && c <= 0x2069);
}

/* A byte that every mode keeps as it is: printable ASCII but for the
 * escaper's own \\ and ", and a space unless LOG_ESC_SPACE. */
static inline bool
log_plain(unsigned char c, unsigned flags)
{
	return c > 0x20 ? c < 0x7F && c != '\\' && c != '"'
			: c == ' ' && !(flags & LOG_ESC_SPACE);
}

char *
log_esc(char *out, size_t cap, const char *p, size_t n, unsigned flags)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i = 0, o = 0, mark = 0;
	bool json = flags & LOG_ESC_JSON;

	if (cap == 0)
		return out;
	if (p == NULL)
		n = 0;
	while (i < n) {
		char unit[16];	/* one character's rendering */
		size_t k = 0, len, run = 0;
		uint32_t cp;
		unsigned char c;

		/* a run of printable ASCII that stays as it is, at once */
		while (i + run < n && o + run < cap - 1 &&
		       log_plain((unsigned char)p[i + run], flags))
			run++;
		if (run > 0) {
			memcpy(out + o, p + i, run);
			if (o + run + 3 <= cap - 1)
				mark = o + run;
			else if (cap >= 4 && o + 4 <= cap - 1)
				mark = cap - 4;	/* the last of the run with room */
			o += run;
			i += run;
			continue;
		}
		c = (unsigned char)p[i];

		len = utf8_seq(p + i, n - i, &cp);
		if (len == 0 || c == 0 ||
		    (!json && (c < 0x20 || c == 0x7F || log_cp_hostile(cp) ||
			       (c == ' ' && (flags & LOG_ESC_SPACE))))) {
			/* every byte of it as \xNN (a bad byte alone) */
			if (len == 0)
				len = 1;
			for (size_t b = 0; b < len; b++) {
				unsigned char x = (unsigned char)p[i + b];
				unit[k++] = '\\';
				unit[k++] = 'x';
				unit[k++] = hex[x >> 4];
				unit[k++] = hex[x & 15];
			}
		} else if (!json && (c == '\\' || c == '"')) {
			unit[k++] = '\\';
			unit[k++] = (char)c;
		} else {
			memcpy(unit, p + i, len);
			k = len;
		}
		if (o + k > cap - 1) {	/* cut at the last boundary with room */
			if (cap >= 4) {
				o = mark;
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		memcpy(out + o, unit, k);
		o += k;
		if (o + 3 <= cap - 1)
			mark = o;
		i += len;
	}
	out[o] = '\0';
	return out;
}

/*
 * The n bytes at p as jansson and JSON lines take them: p itself when they
 * are UTF-8 without NUL (and fewer than max), else rendered by log_esc with
 * LOG_ESC_JSON into at most max bytes (0: room for all), in small when they
 * fit there or on the heap (*heap, for the caller to free).  *n is updated.
 */
static const char *
log_json_clean(const char *p, size_t *n, size_t max, char *small, size_t smallcap,
	       char **heap)
{
	size_t cap = max != 0 ? max : *n * 4 + 1;	/* every byte as \xNN */

	*heap = NULL;
	if ((max == 0 || *n < max) && memchr(p, '\0', *n) == NULL && utf8_valid(p, *n))
		return p;
	if (cap > smallcap)
		small = *heap = xmalloc(cap);
	log_esc(small, cap, p, *n, LOG_ESC_JSON);
	*n = strlen(small);
	return small;
}

/* log_json_str and log_json_whole: cut at max bytes (0: never). */
static json_t *
log_json_cut(const char *p, size_t n, size_t max)
{
	char small[LOG_JSON_MAX], *heap;
	json_t *s;

	if (p == NULL)
		return json_null();
	p = log_json_clean(p, &n, max, small, sizeof(small), &heap);
	s = json_stringn(p, n);
	free(heap);
	return s;
}

json_t *
log_json_str(const char *p, size_t n)
{
	return log_json_cut(p, n, LOG_JSON_MAX);
}

json_t *
log_json_whole(const char *p, size_t n)
{
	return log_json_cut(p, n, 0);
}

json_t *
log_json_s(const char *s)
{
	return log_json_str(s, log_len(s));
}

bool
log_json_append(json_t **arr, json_t *v)
{
	if (*arr == NULL) {
		json_decref(v);
		return false;
	}
	if (json_array_append_new(*arr, v) < 0) {	/* consumed v */
		json_decref(*arr);
		*arr = NULL;
		return false;
	}
	return true;
}

bool
log_json_set(json_t **obj, const char *key, json_t *v)
{
	if (*obj == NULL) {
		json_decref(v);
		return false;
	}
	if (json_object_set_new(*obj, key, v) < 0) {	/* consumed v */
		json_decref(*obj);
		*obj = NULL;
		return false;
	}
	return true;
}

/* ---- events ----------------------------------------------------------- */

/* Whether s reads as a number, true or false in a text event. */
static bool
log_kv_word(const char *s, size_t n)
{
	const char *d = s + (n > 0 && s[0] == '-'), *end = s + n;

	if ((n == 4 && memcmp(s, "true", 4) == 0) || (n == 5 && memcmp(s, "false", 5) == 0))
		return true;
	if (d == end)
		return false;
	while (d < end && *d >= '0' && *d <= '9')
		d++;
	return d == end;
}

/* A text event's value: bare when it is one plain word, else quoted; the
 * escaper's \" and \\ keep a quoted value closed, and a list's elements
 * have their commas and spaces escaped so ',' only separates them. */
static void
log_kv_str(struct buf *b, const char *s, size_t n, bool elem)
{
	size_t at, len;
	char *esc;
	bool quote = n == 0;

	buf_reserve(b, n * 4 + 3);	/* every byte as \xNN at worst, quotes */
	at = b->len + 1;		/* room for an opening quote */
	esc = log_esc(b->p + at, n * 4 + 1, s, n, 0);
	len = strlen(esc);
	for (size_t i = 0; i < len && !quote; i++)
		quote = esc[i] == ' ' || esc[i] == '=' || esc[i] == '"' || esc[i] == '\\';
	/* a string that would read back as another type is quoted too: a
	   number, "-" (null, or in a list the empty list), true, false */
	if (!quote && (log_kv_word(esc, len) || (len == 1 && esc[0] == '-'))) {
		if (elem) {
			if (len == 1 && esc[0] == '-')
				buf_puts(b, "\\x2D");
			else {
				memmove(b->p + b->len, esc, len);
				b->len += len;
			}
			return;
		}
		quote = true;
	}
	if (elem) {	/* escape commas and spaces: may grow, so from a copy */
		char small[256], *copy = len < sizeof(small) ? small : xmalloc(len);

		memcpy(copy, esc, len);
		for (size_t i = 0; i < len; i++)
			if (copy[i] == ',' || copy[i] == ' ')
				buf_puts(b, copy[i] == ',' ? "\\x2C" : "\\x20");
			else
				buf_append(b, copy + i, 1);
		if (copy != small)
			free(copy);
		return;
	}
	if (quote) {
		b->p[b->len] = '"';
		b->len += len + 1;
		buf_append(b, "\"", 1);
	} else {
		memmove(b->p + b->len, esc, len);
		b->len += len;
	}
}

/* "\\uXXXX" for u < 0x10000, into room reserved before. */
static void
json_put_u(struct buf *b, uint32_t u)
{
	static const char hex[] = "0123456789ABCDEF";
	char *q = b->p + b->len;

	q[0] = '\\', q[1] = 'u';
	q[2] = hex[u >> 12 & 15], q[3] = hex[u >> 8 & 15];
	q[4] = hex[u >> 4 & 15], q[5] = hex[u & 15];
	b->len += 6;
}

/* A JSON string of untrusted bytes, ASCII only (as jansson's
 * JSON_ENSURE_ASCII writes it): what is not UTF-8, and NUL, first become
 * \xNN text (log_esc with LOG_ESC_JSON).  Never cut. */
static void
log_json_put(struct buf *b, const char *s, size_t n)
{
	char small[LOG_JSON_MAX], *heap;

	s = log_json_clean(s, &n, 0, small, sizeof(small), &heap);
	buf_reserve(b, n * 12 + 2);	/* a 4-byte character: two \uXXXX */
	b->p[b->len++] = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		uint32_t cp;
		char *o = b->p + b->len;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o = (char)c;
			b->len++;
			i++;
			continue;
		}
		if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' ||
		    c == '\b' || c == '\f') {
			o[0] = '\\';
			o[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' :
			       c == '\b' ? 'b' : c == '\f' ? 'f' : (char)c;
			b->len += 2;
			i++;
			continue;
		}
		i += c < 0x80 ? (cp = c, 1) : utf8_seq(s + i, n - i, &cp);
		if (cp >= 0x10000) {	/* a surrogate pair */
			json_put_u(b, 0xD800 | ((cp - 0x10000) >> 10));
			json_put_u(b, 0xDC00 | ((cp - 0x10000) & 0x3FF));
		} else {
			json_put_u(b, cp);
		}
	}
	b->p[b->len++] = '"';
	free(heap);
}

static void
log_put_int(struct buf *b, long long v)
{
	char d[24], *p = d + sizeof(d);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	buf_append(b, p, (size_t)(d + sizeof(d) - p));
}

/* Each thread's line under construction (log_ev_line, above): a batching
 * thread keeps it from one event to the next, so an event costs no
 * allocation, unless one grew it past LOG_EV_KEEP.  An event begun while
 * another is open takes its own. */
#define LOG_EV_KEEP (64u << 10)
static __thread bool log_ev_busy;

void
log_ev_begin(struct log_ev *e, const char *event)
{
	char stamp[32], head[256];
	size_t hl = log_sink_head(head, sizeof(head), LOG_INFO);

	e->json = log_json_fmt;
	e->own = (struct buf){ 0 };
	e->b = log_ev_busy ? &e->own : &log_ev_line;
	log_ev_busy = true;
	e->b->len = 0;
	e->n = 0;
	buf_append(e->b, head, hl);
	log_stamp(stamp);
	if (e->json) {
		buf_puts(e->b, "{\"ts\":\"");
		buf_puts(e->b, stamp);
		buf_puts(e->b, "\",\"level\":\"info\",\"event\":");
		log_json_put(e->b, event, strlen(event));
		return;
	}
	if (hl == 0) {
		buf_puts(e->b, stamp);
		buf_append(e->b, " ", 1);
	}
	buf_puts(e->b, "info: ");
	buf_puts(e->b, event);
}

static void
log_ev_key(struct log_ev *e, const char *key)
{
	if (e->json) {
		buf_append(e->b, ",\"", 2);
		buf_puts(e->b, key);
		buf_append(e->b, "\":", 2);
	} else {
		buf_append(e->b, " ", 1);
		buf_puts(e->b, key);
		buf_append(e->b, "=", 1);
	}
}

/* A string value (also a list's element): JSON, or text bare or quoted. */
static void
log_ev_val(struct log_ev *e, const char *s, size_t n, bool elem)
{
	if (s == NULL)
		buf_puts(e->b, e->json ? "null" : "-");
	else if (e->json)
		log_json_put(e->b, s, n);
	else
		log_kv_str(e->b, s, n, elem);
}

void
log_ev_strn(struct log_ev *e, const char *key, const char *s, size_t n)
{
	log_ev_key(e, key);
	log_ev_val(e, s, n, false);
}

void
log_ev_str(struct log_ev *e, const char *key, const char *s)
{
	log_ev_strn(e, key, s, log_len(s));
}

void
log_ev_int(struct log_ev *e, const char *key, long long v)
{
	log_ev_key(e, key);
	log_put_int(e->b, v);
}

void
log_ev_kv(struct log_ev *e, const struct log_kv *f)
{
	if (f->type == LOG_KV_INT)
		log_ev_int(e, f->key, f->i);
	else if (f->type == LOG_KV_STR)
		log_ev_str(e, f->key, f->s);
}

void
log_ev_list_begin(struct log_ev *e, const char *key)
{
	log_ev_key(e, key);
	if (e->json)
		buf_append(e->b, "[", 1);
	e->n = 0;
}

void
log_ev_list_strn(struct log_ev *e, const char *s, size_t n)
{
	if (e->n++ > 0)
		buf_append(e->b, ",", 1);
	log_ev_val(e, s, n, true);
}

void
log_ev_list_str(struct log_ev *e, const char *s)
{
	log_ev_list_strn(e, s, log_len(s));
}

void
log_ev_list_end(struct log_ev *e)
{
	if (e->json)
		buf_append(e->b, "]", 1);
	else if (e->n == 0)
		buf_append(e->b, "-", 1);
}

void
log_ev_end(struct log_ev *e)
{
	if (e->json)
		buf_append(e->b, "}", 1);
	buf_append(e->b, "\n", 1);
	log_write(e->b->p, e->b->len);
	if (e->b == &log_ev_line) {
		log_ev_busy = false;
		/* kept only by a batching thread, which frees it at the end
		   (log_batch_end): a thread-local pointer dies with its thread */
		if (log_batch == NULL || log_ev_line.cap > LOG_EV_KEEP)
			buf_free(&log_ev_line);
	}
	buf_free(&e->own);
}

/* A jansson value as an event's field: strings as log_ev_val, the rest
 * as they read in text (a list a,b,c), or compact JSON. */
static void
log_ev_json(struct log_ev *e, json_t *v, bool elem)
{
	char *s;
	size_t i;
	json_t *x;

	switch (json_typeof(v)) {
	case JSON_STRING:
		log_ev_val(e, json_string_value(v), json_string_length(v), elem);
		return;
	case JSON_INTEGER:
		log_put_int(e->b, (long long)json_integer_value(v));
		return;
	case JSON_ARRAY:
		if (elem && !e->json)
			break;	/* nested in a text list: as compact JSON */
		if (e->json)
			buf_append(e->b, "[", 1);
		json_array_foreach(v, i, x) {
			if (i > 0)
				buf_append(e->b, ",", 1);
			log_ev_json(e, x, true);
		}
		if (e->json)
			buf_append(e->b, "]", 1);
		else if (json_array_size(v) == 0)
			buf_append(e->b, "-", 1);
		return;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		if (!e->json) {
			buf_puts(e->b, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "-");
			return;
		}
		break;
	default:
		break;
	}
	s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_ENCODE_ANY);
	if (s == NULL)
		buf_puts(e->b, e->json ? "null" : "-");	/* out of memory */
	else if (e->json)
		buf_puts(e->b, s);
	else
		log_kv_str(e->b, s, strlen(s), elem);
	free(s);
}

void
log_json(json_t *o, const char *event)
{
	const char *key, *name;
	struct log_ev e;
	json_t *v;

	if (o == NULL) {
		log_err("%s: the JSON log line could not be built (out of memory)", event);
		return;
	}
	name = json_string_value(json_object_get(o, "event"));
	log_ev_begin(&e, name != NULL ? name : event);
	json_object_foreach(o, key, v) {
		if (strcmp(key, "event") == 0)
			continue;
		log_ev_key(&e, key);
		log_ev_json(&e, v, false);
	}
	log_ev_end(&e);
	json_decref(o);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	if (log_sink_tty()) {
		va_start(ap, fmt);
		fputs("sluiced: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	exit(1);
}
