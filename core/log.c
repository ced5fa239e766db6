/*
 * log — formatting and the single write(2) per line, and the one escaper
 * every untrusted string passes on its way into a line.  log_msg lines
 * longer than the 4 KiB stack buffer are truncated, never split; raw
 * (JSON) lines are never truncated, since half a JSON object is worse
 * than none.
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

#include "core/strb.h"
#include "core/utf8.h"

static _Atomic int log_min = LOG_INFO;
static int log_fd = 2;
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

void
log_set_fd(int fd)
{
	log_fd = fd;
}

/* Per-thread batch: a worker collects a loop turn's lines, one write(2). */
#define LOG_BATCH 65536
static __thread char *log_batch;	/* NULL: write each line at once */
static __thread size_t log_batch_len;	/* bytes collected */

static void
log_write_now(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(log_fd, p, n);
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void
log_write(const char *p, size_t n)
{
	if (log_batch == NULL) {
		log_write_now(p, n);
		return;
	}
	if (LOG_BATCH - log_batch_len < n)
		log_batch_flush();
	if (n > LOG_BATCH) {
		log_write_now(p, n);
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
		log_write_now(log_batch, log_batch_len);
	log_batch_len = 0;
}

void
log_batch_end(void)
{
	log_batch_flush();
	free(log_batch);
	log_batch = NULL;
}

static void
log_vmsg(enum log_level lvl, const char *fmt, va_list ap)
{
	char line[4096], stamp[32];
	struct strb sb;
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
	strb_init(&sb, line, sizeof(line) - 1);	/* room for the newline */
	strb_printf(&sb, "%s.%03ldZ %s: ", stamp, ts.tv_nsec / 1000000, log_names[lvl]);
	strb_vprintf(&sb, fmt, ap);
	line[sb.len++] = '\n';
	log_write(line, sb.len);
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

void
log_line(const char *text, size_t len)
{
	char small[8192], *line = small;

	if (len + 1 > sizeof(small)) {
		line = malloc(len + 1);
		if (line == NULL) {
			log_err("a log line of %zu bytes was dropped: out of memory", len);
			return;
		}
	}
	memcpy(line, text, len);
	line[len++] = '\n';
	log_write(line, len);
	if (line != small)
		free(line);
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

void
log_json(json_t *o, const char *event)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	if (s == NULL)
		log_err("%s: the JSON log line could not be built (out of memory)", event);
	else
		log_line(s, strlen(s));
	free(s);
	json_decref(o);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_ERR, fmt, ap);
	va_end(ap);
	exit(1);
}
