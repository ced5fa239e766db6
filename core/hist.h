/*
 * hist — the fixed buckets of the workers' histograms (Prometheus style):
 * how long a delivery attempt took, and how long a recipient waited in the
 * queue before its final outcome.  A worker counts into its own arrays in
 * struct worker_stats (core/worker.h) with hist_add, without a lock or an
 * atomic; the control plane sums the workers' snapshots and writes the
 * cumulative buckets (core/ctl/ctl_metrics.c).
 *
 * Pure: constant tables and one function, no state.  Any thread.
 */
#ifndef SLUICE_CORE_HIST_H
#define SLUICE_CORE_HIST_H

#include <stddef.h>
#include <stdint.h>

/* Delivery attempt duration, in milliseconds: 5 ms to 10 min. */
#define HIST_ATTEMPT_N 16
extern const uint64_t hist_attempt_ms[HIST_ATTEMPT_N];

/* Time in queue, in seconds: 1 s to 5 days (the expiry is 1 day by
 * default, and at most what a connector's expiry says). */
#define HIST_QUEUE_N 15
extern const uint64_t hist_queue_s[HIST_QUEUE_N];

/*
 * Count v into counts[0..n], one per bucket, not cumulative: counts[i]
 * for the first bound[i] >= v, counts[n] above the last bound (+Inf).
 * bound is ascending.
 */
void hist_add(uint64_t *counts, const uint64_t *bound, size_t n, uint64_t v);

#endif
