/*
 * log — formatting and the single write(2) per line.  Lines longer than the
 * 4 KiB stack buffer are truncated, never split.
 */
#include "core/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/strb.h"

static enum log_level log_min = LOG_INFO;
static int log_fd = 2;
static const char *const log_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level lvl)
{
	log_min = lvl;
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

	if (lvl < log_min)
		return;
	va_start(ap, fmt);
	log_vmsg(lvl, fmt, ap);
	va_end(ap);
}

void
log_line(const char *text, size_t len)
{
	char line[8192];

	if (len > sizeof(line) - 1)
		len = sizeof(line) - 1;
	memcpy(line, text, len);
	line[len++] = '\n';
	log_write(line, len);
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
