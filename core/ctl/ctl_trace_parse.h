/*
 * ctl_trace_parse — the words of the control socket's "trace" command:
 *
 *   id ID               one message (16 hex digits)
 *   sender PATTERN      its sender ("<>": the null one)
 *   rcpt PATTERN        one of its recipients
 *   status WORD         it was delivered, deferred, bounced, expired or
 *                       returned (an NDR went back) at some point
 *   since AGE|TIME      made at or after: 2h ago, or 2024-05-01[T10:00[:00]][Z]
 *   until AGE|TIME      made at or before (UTC times)
 *   limit N             messages at most (1..TRACE_LIMIT_MAX; 100)
 *
 * in any order, each once; PATTERN as core/ctl/ctl_select.h says.  Pure:
 * no I/O, no allocation.  Unit-tested in
 * tests/unit/core/ctl/ctl_trace_parse_test.c and fuzzed (fuzz_trace).
 */
#ifndef SLUICE_CORE_CTL_CTL_TRACE_PARSE_H
#define SLUICE_CORE_CTL_CTL_TRACE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/trace/trace_sql.h"

/* Parse argv[0..argc) into f; times count back from now (unix s).  0, or
 * -EINVAL with one line in err naming the word and what was expected. */
int ctl_trace_parse(char *const *argv, int argc, int64_t now, struct trace_filter *f,
		    char *err, size_t errlen);

/* A time word: an AGE back from now (90s, 10m, 2h, 3d, 1w) or a UTC
 * date and time YYYY-MM-DD[THH:MM[:SS]][Z].  0, or -EINVAL. */
int ctl_trace_time(const char *s, int64_t now, int64_t *out);

/* ctl_glob as the trace's matcher (core/trace/trace_query.h). */
bool ctl_trace_glob(const char *pattern, const char *value);

#endif
