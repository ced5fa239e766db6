/*
 * log — one line per event on stderr (or a file), written with a single
 * write(2) so lines from different threads never interleave.
 *
 * Any thread may log.  fatal() is for start-up and configuration only: a
 * request path logs and answers, it never exits.
 */
#ifndef SLUICE_CORE_LOG_H
#define SLUICE_CORE_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERR };

/* Lines below this level are dropped (default LOG_INFO). */
void log_set_level(enum log_level lvl);

/* Send lines to fd (default 2). */
void log_set_fd(int fd);

/* "2026-11-27T03:35:25.123Z info: text\n"; printf format. */
void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A raw line (e.g. one JSON object) with no prefix; a newline is added. */
void log_line(const char *text, size_t len);

/*
 * Batching for a worker thread: after log_batch_begin, this thread's lines
 * are collected and written by log_batch_flush (once per loop turn) with a
 * single write(2).  log_batch_end flushes and stops batching.
 */
void log_batch_begin(void);
void log_batch_flush(void);
void log_batch_end(void);

/* Log at LOG_ERR and exit(1).  Start-up and config load only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)

#endif
