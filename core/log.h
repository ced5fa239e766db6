/*
 * log — one line per event, written with a single write(2) (or syslog
 * datagram) so lines from different threads never interleave.
 *
 * Where and how: log_open, from the config's log: section, sends lines to
 * stderr (the default), a file (appended; log_reopen on SIGUSR1 moves to a
 * new file of the same name) or the syslog socket (the journal under
 * systemd); in text format a line is "TIME level: text" (syslog adds its
 * own head instead of the time), and an event (log_json) is "TIME info:
 * EVENT key=value ..." with its fields in order (a value with a space is
 * quoted, a list is a,b,c); in JSON format every line is one object with
 * "ts" and "level" first, then "msg" for a text line or the event's own
 * fields.
 *
 * Any thread may log.  fatal() is for start-up and configuration only: a
 * request path logs and answers, it never exits.
 *
 * Untrusted text.  Whatever a client, a next hop, a DNS answer or a
 * certificate chose (addresses, HELO and SNI names, replies, certificate
 * names, destination domains) reaches a log line only through log_esc:
 * in a text line as an argument LOG_FIELD(s) or LOG_TEXT(s), in a JSON
 * line as a string made by log_json_str, and JSON lines are built by
 * jansson and written by log_json, or built by log_ev, whose strings pass
 * the same escaper.  So no byte a peer sends can end a line, forge a
 * field or a whole event, or make a JSON line invalid.
 * Configuration and operator input (connector names, the control line)
 * are trusted and printed as they are.
 */
#ifndef SLUICE_CORE_LOG_H
#define SLUICE_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "core/buf.h"

struct json_t;

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

/* Where lines go (the config's log: to). */
enum log_dest {
	LOG_TO_STDERR,		/* file descriptor 2 (the default) */
	LOG_TO_SYSLOG,		/* the local syslog socket, /dev/log */
	LOG_TO_FILE,		/* a file, appended */
};

/* What log_open sets up. */
struct log_setup {
	enum log_dest to;	/* destination */
	const char *path;	/* LOG_TO_FILE: the file (copied) */
	bool json;		/* every line one JSON object */
	unsigned facility;	/* LOG_TO_SYSLOG: facility code (mail: 2) */
};

/*
 * From now on, send lines where s says, in its format.  A file is opened
 * for appending and created (mode 0640) if missing: *created (may be
 * NULL) says whether this call made it.  Returns 0, or -errno with "log:
 * file PATH: why" in err, and lines keep going where they went.  Main
 * thread, at start-up, before other threads log.
 */
int log_open(const struct log_setup *s, bool *created, char *err, size_t errlen);

/*
 * The file again by its name (SIGUSR1, after logrotate moved it away), or
 * a new connection to syslog; nothing for stderr.  The new descriptor
 * takes the old one's number (dup2), so a line written meanwhile by any
 * thread goes whole to one file or the other.  Returns 0, or -errno with
 * "PATH: why" in err, and lines keep going to the old file.  Main thread.
 */
int log_reopen(char *err, size_t errlen);

/* Lines below this level are dropped (default LOG_INFO).  Any thread:
 * the level is one relaxed atomic (a control command may change it). */
void log_set_level(enum log_level lvl);

/* The level now. */
enum log_level log_get_level(void);

/* Send lines to fd, as text or JSON lines as before (default 2): for
 * tests that read what is logged.  Not while other threads log. */
void log_set_fd(int fd);

/* "2026-11-27T03:35:25.123Z info: text\n" (text format) or
 * {"ts":"2026-11-27T03:35:25.123Z","level":"info","msg":"text"} (JSON);
 * printf format.  The text is cut at about 4 KiB. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define LOG_ESC_SPACE	0x01	/* a space too: a value in "key=value" */
#define LOG_ESC_JSON	0x02	/* for jansson: only NUL and non-UTF-8 */

/*
 * Render the n untrusted bytes at p (NULL is "") into out, cap bytes with
 * the NUL; returns out.  The rules:
 *  - a backslash and '"' become \\ and \" (so a backslash always starts
 *    an escape, and a quoted field cannot be closed from inside);
 *  - bytes below 0x20, DEL, and every byte that is not part of well-formed
 *    UTF-8 (core/utf8.h) become \xNN (two upper-case hex digits);
 *  - so do the bytes of characters that end lines or reorder text in
 *    viewers: C1 controls U+0080..U+009F, U+2028, U+2029, and the bidi
 *    controls U+200E, U+200F, U+202A..U+202E, U+2066..U+2069;
 *  - LOG_ESC_SPACE: a space becomes \x20;
 *  - everything else (printable ASCII, other UTF-8) is kept;
 *  - what does not fit is cut at a character boundary, never inside an
 *    escape, and "..." marks the cut.
 * LOG_ESC_JSON: only NUL and bytes that are not UTF-8 become \xNN;
 * jansson quotes the rest itself.  Pure; any thread.
 */
char *log_esc(char *out, size_t cap, const char *p, size_t n, unsigned flags);

static inline size_t
log_len(const char *s)
{
	return s != NULL ? strlen(s) : 0;
}

/* Escaped copies for a text line, valid until the end of the enclosing
 * block (a compound literal): log_info("from=<%s>", LOG_FIELD(sender)). */
#define LOG_ESC_MAX 1024
#define LOG_FIELD(s) \
	log_esc((char[LOG_ESC_MAX]){ 0 }, LOG_ESC_MAX, (s), log_len(s), LOG_ESC_SPACE)
#define LOG_TEXT(s) \
	log_esc((char[LOG_ESC_MAX]){ 0 }, LOG_ESC_MAX, (s), log_len(s), 0)

/*
 * A JSON string of the n untrusted bytes at p, valid UTF-8 whatever they
 * are (log_esc with LOG_ESC_JSON; at most LOG_JSON_MAX bytes); json null
 * for p NULL.  NULL only when out of memory: jansson's json_pack fails on
 * a NULL "o" argument, so the caller's check catches it.
 */
#define LOG_JSON_MAX 2048
struct json_t *log_json_str(const char *p, size_t n);

/* Same for a C string (NULL gives json null). */
struct json_t *log_json_s(const char *s);

/* As log_json_str, but never cut: what a log_ev string field reads back
 * as (log_ev never cuts either), for a reader of its lines. */
struct json_t *log_json_whole(const char *p, size_t n);

/*
 * Build JSON without losing a failure: append v to the array *arr (set
 * v as member key of the object *obj).  v is consumed either way.  If v
 * is NULL or jansson fails, *arr (*obj) is released and set to NULL, so
 * the json_pack or ctl_json/log_json that takes it next fails and says
 * so, instead of printing a list with an element silently missing.
 * Returns false then (or when *arr was NULL already).
 */
bool log_json_append(struct json_t **arr, struct json_t *v);
bool log_json_set(struct json_t **obj, const char *key, struct json_t *v);

/*
 * Write event o (a JSON object whose "event" names it) as one line and
 * release it.  In JSON format the line is o, compact and ASCII only (no
 * byte of it can be taken for a line end by any reader), with "ts" and
 * "level" ("info") in front of its fields; in text format it is
 * "TIME info: EVENT key=value ...", every string through log_esc.
 * If o is NULL (a jansson call failed) or cannot be dumped, an error line
 * naming event is logged instead: a JSON line is whole or absent, never
 * half.  Not filtered by the level: these are the events of record.
 */
void log_json(struct json_t *o, const char *event);

/*
 * An event built field by field, without jansson: the line log_json
 * writes for an object with these fields in this order (the per-message
 * events, queued and attempt, are built this way).  Every string is
 * untrusted and escaped as log_json_whole and log_esc would (never cut:
 * the line is as long as it takes); NULL is null
 * ("-" in text).  log_ev_begin .. log_ev_end on one thread, with nothing
 * between them that returns early: log_ev_end writes the line.
 */
struct log_ev {
	struct buf *b;		/* the line: the thread's, or own */
	struct buf own;		/* for an event begun inside another */
	bool json;		/* JSON format */
	unsigned n;		/* elements of the open list */
};

/* A field for a helper that writes many events alike (queue_log_rcpts):
 * a string, a number, or a slot the helper fills in. */
enum log_kv_type { LOG_KV_STR, LOG_KV_INT, LOG_KV_SLOT };
struct log_kv {
	const char *key;
	enum log_kv_type type;
	const char *s;
	long long i;
};
#define LOG_KV_S(k, v) { (k), LOG_KV_STR, (v), 0 }
#define LOG_KV_I(k, v) { (k), LOG_KV_INT, NULL, (long long)(v) }
#define LOG_KV_SLOT(k) { (k), LOG_KV_SLOT, NULL, 0 }

void log_ev_begin(struct log_ev *e, const char *event);
void log_ev_str(struct log_ev *e, const char *key, const char *s);
void log_ev_strn(struct log_ev *e, const char *key, const char *s, size_t n);
void log_ev_int(struct log_ev *e, const char *key, long long v);
void log_ev_kv(struct log_ev *e, const struct log_kv *f);	/* not a slot */
void log_ev_list_begin(struct log_ev *e, const char *key);	/* a,b,c */
void log_ev_list_str(struct log_ev *e, const char *s);
void log_ev_list_strn(struct log_ev *e, const char *s, size_t n);
void log_ev_list_end(struct log_ev *e);
void log_ev_end(struct log_ev *e);

/*
 * Batching for a worker thread: after log_batch_begin, this thread's lines
 * are collected and written by log_batch_flush (once per loop turn) with a
 * single write(2).  log_batch_end flushes and stops batching.
 */
void log_batch_begin(void);
void log_batch_flush(void);
void log_batch_end(void);

/* Log at LOG_ERR and exit(1); also on stderr when the log goes elsewhere
 * and stderr is a terminal.  Start-up and config load only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
