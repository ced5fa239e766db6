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
}

/* "2026-11-27T03:35:25.123Z" (UTC, milliseconds) into out[32]. */
static void
log_stamp(char out[32])
{
	struct timespec ts;
	struct tm tm;
	struct strb sb;
	char sec[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(sec, sizeof(sec), "%Y-%m-%dT%H:%M:%S", &tm);
	strb_init(&sb, out, 32);
	strb_printf(&sb, "%s.%03uZ", sec, (unsigned)(ts.tv_nsec / 1000000) % 1000);
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
		size_t k = 0, len;
		uint32_t cp;
		unsigned char c = (unsigned char)p[i];

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

json_t *
log_json_str(const char *p, size_t n)
{
	char buf[LOG_JSON_MAX];

	if (p == NULL)
		return json_null();
	/* the usual case, and the only one jansson takes as it is */
	if (n < sizeof(buf) && memchr(p, '\0', n) == NULL && utf8_valid(p, n))
		return json_stringn(p, n);
	log_esc(buf, sizeof(buf), p, n, LOG_ESC_JSON);
	return json_string(buf);
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

/* Whether s reads as a number, true or false in a text event. */
static bool
log_kv_word(const char *s)
{
	const char *d = s + (s[0] == '-');

	if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
		return true;
	if (*d == '\0')
		return false;
	while (*d >= '0' && *d <= '9')
		d++;
	return *d == '\0';
}

/* A text event's value: bare when it is one plain word, else quoted; the
 * escaper's \" and \\ keep a quoted value closed, and a list's elements
 * have their commas and spaces escaped so ',' only separates them. */
static void
log_kv_str(struct strb *sb, const char *s, size_t n, bool elem)
{
	char small[LOG_ESC_MAX * 4], *esc = small;
	size_t cap = n * 4 + 1;	/* every byte as \xNN at worst */
	bool quote = n == 0;

	if (cap > sizeof(small) && (esc = malloc(cap)) == NULL) {
		esc = small;
		cap = sizeof(small);	/* cut, marked "...", rather than lost */
	}
	log_esc(esc, cap < sizeof(small) ? sizeof(small) : cap, s, n, 0);
	for (const char *c = esc; *c != '\0' && !quote; c++)
		quote = *c == ' ' || *c == '=' || *c == '"' || *c == '\\';
	/* a string that would read back as another type is quoted too: a
	   number, "-" (null, or in a list the empty list), true, false */
	if (!quote && (log_kv_word(esc) || (esc[0] == '-' && esc[1] == '\0'))) {
		if (elem) {
			strb_puts(sb, esc[0] == '-' && esc[1] == '\0' ? "\\x2D" : esc);
			goto out;
		}
		quote = true;
	}
	if (quote && !elem)
		strb_putn(sb, "\"", 1);
	for (const char *c = esc; *c != '\0'; c++)
		if (elem && (*c == ',' || *c == ' '))
			strb_puts(sb, *c == ',' ? "\\x2C" : "\\x20");
		else
			strb_putn(sb, c, 1);
	if (quote && !elem)
		strb_putn(sb, "\"", 1);
out:
	if (esc != small)
		free(esc);
}

static void
log_kv_val(struct strb *sb, json_t *v, bool elem)
{
	char *s;

	switch (json_typeof(v)) {
	case JSON_STRING:
		log_kv_str(sb, json_string_value(v), json_string_length(v), elem);
		break;
	case JSON_INTEGER:
		strb_printf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		strb_printf(sb, "%g", json_real_value(v));
		break;
	case JSON_TRUE:
	case JSON_FALSE:
	case JSON_NULL:
		strb_puts(sb, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "-");
		break;
	case JSON_ARRAY:
		if (!elem) {	/* a list: a,b,c ("-" when empty) */
			size_t i;
			json_t *e;

			json_array_foreach(v, i, e) {
				if (i > 0)
					strb_putn(sb, ",", 1);
				log_kv_val(sb, e, true);
			}
			if (json_array_size(v) == 0)
				strb_putn(sb, "-", 1);
			break;
		}
		__attribute__((fallthrough));	/* nested: as compact JSON */
	case JSON_OBJECT:
		s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);
		log_kv_str(sb, s, log_len(s), elem);
		free(s);
		break;
	}
}

/*
 * An event in text format: "TIME info: EVENT key=value ..." in the
 * object's order, "event" itself first and not repeated.  The heap takes
 * a line the stack cannot, so an event is never cut.
 */
static void
log_event_text(json_t *o, const char *stamp, const char *event)
{
	char small[8192], head[256], *big = NULL;
	size_t hl = log_sink_head(head, sizeof(head), LOG_INFO), cap = sizeof(small);
	const char *key, *name = json_string_value(json_object_get(o, "event"));
	struct strb sb;
	json_t *v;

	for (;;) {
		strb_init(&sb, big ? big : small, cap);
		if (hl == 0)
			strb_printf(&sb, "%s ", stamp);
		strb_printf(&sb, "%s: %s", log_names[LOG_INFO], name ? name : event);
		json_object_foreach(o, key, v) {
			if (strcmp(key, "event") == 0)
				continue;
			strb_printf(&sb, " %s=", key);
			log_kv_val(&sb, v, false);
		}
		if (!sb.trunc || cap >= (1u << 24))
			break;
		free(big);
		cap *= 4;
		if ((big = malloc(cap)) == NULL) {
			log_err("%s: the log line could not be built (out of memory)", event);
			json_decref(o);
			return;
		}
	}
	log_record(LOG_INFO, sb.p, sb.len);
	free(big);
	json_decref(o);
}

void
log_json(json_t *o, const char *event)
{
	char stamp[32];
	json_t *line;

	log_stamp(stamp);
	if (o == NULL) {
		log_dump(o, LOG_INFO, event);
		return;
	}
	if (!log_json_fmt) {
		log_event_text(o, stamp, event);
		return;
	}
	/* ts and level first, then the event's own fields */
	line = json_pack("{s:s, s:s}", "ts", stamp, "level", log_names[LOG_INFO]);
	if (line != NULL && json_object_update(line, o) < 0) {
		json_decref(line);
		line = NULL;
	}
	json_decref(o);
	log_dump(line, LOG_INFO, event);
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
