/*
 * bs_stats.h - sluice-bench's measurements and messages (bs_stats.c).
 *
 * Main thread only.
 */
#ifndef BENCH_BS_STATS_H
#define BENCH_BS_STATS_H

#include <stdint.h>

struct bs_session;

/* Allocate the latency histogram. Returns 0 or -ENOMEM. */
int bs_hist_init(void);

/* Count one acknowledged message's latency, ns nanoseconds. */
void bs_hist_add(uint64_t ns);

/* Print "session N: what: detail" (detail NULL: none) unless -q or
 * BS_ERR_SHOW lines are out already. */
void bs_report_detail(struct bs_session *s, const char *what,
		      const char *detail);

/* The same with strerror(err) as the detail (err 0: none). */
void bs_report(struct bs_session *s, const char *what, int err);

/* Print the result of a run that took secs seconds: one line, or one JSON
 * object with --json. */
void bs_print_result(double secs);

#endif
