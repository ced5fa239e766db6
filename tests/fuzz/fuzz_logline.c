/*
 * libFuzzer target: the log's text events both ways (core/log.c writes,
 * core/ctl/ctl_report.c reads, as `sluicectl report` does).
 *
 * The input, split at its first NUL, gives two strings (any bytes).  They
 * become an attempt event's detail and one recipient, written by log_json
 * in text format into a pipe; the line must be one line, and read back it
 * must be the event that was written (the writer's escaping and quoting
 * and the reader's unescaping agree for every byte).  The whole input is
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *nul = memchr(p, '\0', size);
	size_t la = nul != NULL ? (size_t)(nul - p) : size;
	json_t *want, *got;
	struct ctl_report *rp;
	struct buf out = { 0 };
	ssize_t n;

	if (size > 8192)
		return 0;
	if (fds[0] < 0 && pipe(fds) < 0)
		abort();
	want = json_pack("{s:s, s:s, s:o, s:o, s:i}", "event", "attempt", "result", "deferred",
			 "detail", log_json_str(p, la),
			 "rcpts", json_pack("[o]", log_json_str(nul ? nul + 1 : "",
							  nul ? size - la - 1 : 0)),
			 "ms", (int)size);
	if (want == NULL)
		abort();
	log_set_fd(fds[1]);
	log_json(json_incref(want), "fuzz");
	n = read(fds[0], line, sizeof(line));
	if (n <= 1 || line[n - 1] != '\n' || memchr(line, '\n', (size_t)n - 1) != NULL)
		abort();	/* not one whole line */
	got = ctl_report_event(line, (size_t)n - 1);
	if (got == NULL)
		abort();	/* our own event not read */
	json_object_del(got, "ts");
	if (!json_equal(got, want)) {	/* read back as something else */
		fprintf(stderr, "line: %.*s\nwrote: ", (int)n, line);
		json_dumpf(want, stderr, JSON_ENSURE_ASCII);
		fprintf(stderr, "\nread:  ");
		json_dumpf(got, stderr, JSON_ENSURE_ASCII);
		fprintf(stderr, "\n");
		abort();
	}
	json_decref(got);
	json_decref(want);

	rp = ctl_report_new();
	ctl_report_line(rp, p, size);
	ctl_report_line(rp, line, (size_t)n - 1);
	ctl_report_text(rp, &out, 3);
	json_decref(ctl_report_json(rp, 3));
	buf_free(&out);
	ctl_report_free(rp);
	return 0;
}
