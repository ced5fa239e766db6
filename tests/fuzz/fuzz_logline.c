/*
 * libFuzzer target: the log's text events both ways (core/log.c writes,
 * core/ctl/ctl_report.c reads, as `sluicectl report` does).
 *
 * The input, split at its first NUL, gives two strings (any bytes).  They
 * become an attempt event's detail and one recipient, written by log_json
 * in text format into a pipe; the line must be one line, and read back it
 * must be the event that was written (the writer's escaping and quoting
 * and the reader's unescaping agree for every byte).  The same event built
 * from the raw bytes by log_ev, in text and in JSON, must read back the
 * same too.  The whole input is
 * also read as a log line of its own and counted, and the report built
 * from it, which must not crash or leak.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ctl/ctl_report.h"
#include "core/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fds[2] = { -1, -1 };
static char line[1 << 17];
static size_t line_len;		/* without its newline */

/* The line read from the pipe, checked whole, as the event it says. */
static json_t *
read_event(void)
{
	ssize_t n = read(fds[0], line, sizeof(line));

	if (n <= 1 || line[n - 1] != '\n' || memchr(line, '\n', (size_t)n - 1) != NULL)
		abort();	/* not one whole line */
	line_len = (size_t)n - 1;
	return ctl_report_event(line, line_len);
}

/* The event built from the raw strings, in text or JSON, must read back
 * as want. */
static void
check_built(const json_t *want, bool json, const char *d, size_t dn, const char *r, size_t rn,
	    size_t size)
{
	struct log_setup ls = { .to = LOG_TO_STDERR, .json = json };
	char err[256];
	struct log_ev e;
	json_t *got;

	if (log_open(&ls, NULL, err, sizeof(err)) != 0)
		abort();
	log_set_fd(fds[1]);
	log_ev_begin(&e, "attempt");
	log_ev_str(&e, "result", "deferred");
	log_ev_strn(&e, "detail", d, dn);
	log_ev_list_begin(&e, "rcpts");
	log_ev_list_strn(&e, r, rn);
	log_ev_list_end(&e);
	log_ev_int(&e, "ms", (long long)size);
	log_ev_end(&e);
	got = read_event();
	if (got == NULL)
		abort();
	json_object_del(got, "ts");
	json_object_del(got, "level");
	if (!json_equal(got, want)) {
		fprintf(stderr, "built (%s): %s\n", json ? "json" : "text", line);
		abort();
	}
	json_decref(got);
}

/* The attempt event of the two strings, each made a JSON string by str
 * (log_json_str as log_json's callers do, or log_json_whole, uncut, as the
 * builder writes it). */
static json_t *
attempt(json_t *(*str)(const char *, size_t), const char *d, size_t dn, const char *r,
	size_t rn, size_t size)
{
	json_t *o = json_pack("{s:s, s:s, s:o, s:o, s:i}", "event", "attempt",
			      "result", "deferred", "detail", str(d, dn),
			      "rcpts", json_pack("[o]", str(r, rn)), "ms", (int)size);

	if (o == NULL)
		abort();
	return o;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nul = memchr(p, '\0', size);
	size_t la = nul != NULL ? (size_t)(nul - p) : size;
	const char *r = nul != NULL ? nul + 1 : "";
	size_t rn = nul != NULL ? size - la - 1 : 0;
	json_t *want, *got;
	struct ctl_report *rp;
	struct buf out = { 0 };
	struct log_setup text = { .to = LOG_TO_STDERR };
	char err[256];

	if (size > 8192)
		return 0;
	if (fds[0] < 0 && pipe(fds) < 0)
		abort();
	want = attempt(log_json_str, p, la, r, rn, size);
	if (log_open(&text, NULL, err, sizeof(err)) != 0)
		abort();
	log_set_fd(fds[1]);
	log_json(json_incref(want), "fuzz");
	got = read_event();
	if (got == NULL)
		abort();	/* our own event not read */
	json_object_del(got, "ts");
	if (!json_equal(got, want)) {	/* read back as something else */
		fprintf(stderr, "line: %.*s\nwrote: ", (int)line_len, line);
		json_dumpf(want, stderr, JSON_ENSURE_ASCII);
		fprintf(stderr, "\nread:  ");
		json_dumpf(got, stderr, JSON_ENSURE_ASCII);
		fprintf(stderr, "\n");
		abort();
	}
	json_decref(got);
	/* the builder never cuts a value (log_json_str does, past LOG_JSON_MAX) */
	json_decref(want);
	want = attempt(log_json_whole, p, la, r, rn, size);
	check_built(want, false, p, la, r, rn, size);
	check_built(want, true, p, la, r, rn, size);
	json_decref(want);

	rp = ctl_report_new();
	ctl_report_line(rp, p, size);
	ctl_report_line(rp, line, line_len);
	ctl_report_text(rp, &out, 3);
	json_decref(ctl_report_json(rp, 3));
	buf_free(&out);
	ctl_report_free(rp);
	return 0;
}
