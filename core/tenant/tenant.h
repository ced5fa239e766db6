/*
 * tenant — per-tenant invalid-recipient counters over a sliding window, and
 * the table that finds a tenant's counter by name.
 *
 * Job: count invalid-recipient events (RCPT rejected for an authoritative
 * domain, 5.1.x from a destination) per tenant so the SMTP server can defer
 * the tenant's new recipients once the window holds `quota` of them.
 *
 * Not for: the cluster-wide view (core/tenant/cluster.h adds that), reading
 * a clock (time is always a parameter: seconds of the caller's clock; use
 * the same clock everywhere, CLOCK_REALTIME if the counts also go to the
 * cluster), deciding the reply (the server's business).
 *
 * The window.  Time is cut into buckets of bucket_secs seconds; bucket k
 * holds the events whose time t has t / bucket_secs == k.  At time now the
 * window is the `buckets` buckets ending with the current one, so an event
 * at t is counted while now / bucket_secs - t / bucket_secs < buckets: for
 * 60 one-minute buckets, between 59 and 60 minutes, then it expires at
 * once, at the bucket boundary.  Events stamped later than `now` are not
 * counted (yet).
 *
 * Threading: a counter has one shard per worker.  tenant_count_add() and
 * tenant_over_quota() are called by worker `worker` only, on its own shard:
 * no shard is written by two threads, and the hot path writes only cache
 * lines of the caller's own shard (shards are 64-byte aligned and padded).
 * tenant_count_sum() may run on any thread at any time: bucket values are
 * C11 atomics (relaxed), each bucket is one 64-bit word holding its bucket
 * number and its count together, so a reader never sees a count paired
 * with the wrong bucket.  A thread that is not a worker and must count
 * events needs a shard of its own (create the counters with workers + 1).
 *
 * The quota check (tenant_over_quota()) sees every worker's events, not
 * only its own: it adds the newest two buckets of every shard, read live,
 * to a per-worker cached sum of the older buckets of the window, which
 * change only when the bucket number does.  Cost per check: 2 x workers
 * relaxed loads of lines other workers write only when they count an
 * event, no write, no lock; once per bucket change per worker, the cached
 * sum is recomputed (workers x buckets loads) and two words of the
 * worker's own shard written.
 *
 * Slack.  On one node the check is exact but for two races, both bounded:
 *  - check-then-count: workers that check at the same moment, before any
 *    of them has counted, all see the same sum; each worker has at most
 *    one event between its check and its count, so a tenant's window can
 *    hold at most quota + workers - 1 events counted after a check
 *    (tenant_count_add() makes its count visible to every thread before
 *    the worker's next check, which is what bounds it).  Events counted
 *    without a check (a destination's 5.1.x answers) come on top: nothing
 *    refuses them;
 *  - an event stamped more than one bucket before the checking worker's
 *    `now` by another worker (a worker that stalled over a bucket
 *    boundary between reading the clock and counting) is seen by the
 *    checker only from its next bucket change.  Sluice's callers read the
 *    clock right before they count, so this takes a stall of a bucket's
 *    width.
 *
 * Tables are built and freed on the main thread (config load, reload); a
 * built table is immutable, so any thread may look names up in it.
 *
 * Memory: a counter is 64 bytes plus, per worker, (buckets + 2) 8-byte
 * words rounded up to 64 bytes (the 2: the cached sum of the quota check
 * and its bucket number): 512 bytes per worker for 60 buckets, so 10,000
 * tenants on 8 workers take about 40 MiB.
 */
#ifndef SLUICE_CORE_TENANT_TENANT_H
#define SLUICE_CORE_TENANT_TENANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TENANT_MAX_BUCKETS	4096	/* buckets in a window */
#define TENANT_MAX_WORKERS	1024	/* shards in a counter */

/* The shape of the sliding window.  Every node of a cluster must use the
 * same one (core/tenant/cluster.h). */
struct tenant_window {
	uint32_t bucket_secs;	/* width of a bucket in seconds (60) */
	uint32_t buckets;	/* buckets in the window (60) */
};

struct tenant_counter;
struct tenant_table;

/*
 * A new counter with `workers` shards, all zero (*out, caller owns it:
 * tenant_counter_free()).  Returns 0, -EINVAL when workers or the window is
 * out of range (0 or above the TENANT_MAX_* limits, bucket_secs 0), or
 * -ENOMEM.  Main thread.
 */
int tenant_counter_new(unsigned workers, const struct tenant_window *win,
		       struct tenant_counter **out);

/* Free c (NULL is a no-op).  Only when no thread uses it any more. */
void tenant_counter_free(struct tenant_counter *c);

/* Add n events at time now to worker's shard (saturates at 2^32 - 1 events
 * per bucket and worker).  Worker `worker` only; no lock: one relaxed load
 * and one relaxed store on the worker's own shard, then a full fence
 * (mfence, dmb ish: tens of cycles), which makes the count visible to the
 * other workers before this worker's next quota check (see "Slack").
 * worker >= the shard count is ignored. */
void tenant_count_add(struct tenant_counter *c, unsigned worker,
		      uint64_t now, uint32_t n);

/* Events in the window ending at now, summed over every shard.  Any
 * thread; O(workers x buckets) relaxed loads, no writes. */
uint64_t tenant_count_sum(const struct tenant_counter *c, uint64_t now);

/*
 * True when the window ending at now holds quota events or more (quota 0:
 * no quota, never true): "quota" is the number of invalid recipients a
 * tenant may cause per window, and reaching it throttles the tenant.
 * For the hot path: worker `worker` only.  It sees every worker's events
 * at once (the newest two buckets of every shard read live, the older
 * ones from a sum cached per worker and bucket number): 2 x workers
 * relaxed loads, no write but once per bucket change.  Exact but for the
 * slack stated above (at most workers - 1 events over the quota).  A
 * worker >= the shard count (a thread that is not a worker) gets the full
 * sum, tenant_count_sum(c, now) >= quota.
 */
bool tenant_over_quota(struct tenant_counter *c, unsigned worker,
		       uint64_t now, uint64_t quota);

/* The counter's shard count and window. */
unsigned tenant_counter_workers(const struct tenant_counter *c);
const struct tenant_window *tenant_counter_window(const struct tenant_counter *c);

/*
 * A table of the tenants names[0..n-1] (copied), each with a fresh counter
 * of `workers` shards and window win (*out, caller owns it:
 * tenant_table_free()).  When prev is not NULL (the table of the config
 * being replaced) and has the same workers and window, a tenant present in
 * both keeps its counter object itself, shared by both tables, so a reload
 * loses no event, not even one counted on the old table after the new one
 * was built.  Returns 0, -EINVAL (empty name, bad workers or window),
 * -EEXIST (a name twice; the name goes to *dup when dup is not NULL) or
 * -ENOMEM.  Main thread only (the counter sharing is not thread-safe).
 */
int tenant_table_new(const char *const *names, size_t n, unsigned workers,
		     const struct tenant_window *win,
		     const struct tenant_table *prev,
		     struct tenant_table **out, const char **dup);

/* Free t and the counters no other table shares.  NULL is a no-op.  Main
 * thread; only when no worker can still use t or its counters. */
void tenant_table_free(struct tenant_table *t);

/* Tenants in t. */
size_t tenant_table_count(const struct tenant_table *t);

/* Index (0 .. count-1, the order of names[]) of the tenant called name
 * (len bytes, case-sensitive), or -ENOENT.  O(1); any thread. */
int tenant_table_find(const struct tenant_table *t, const char *name,
		      size_t len);

/* Name and counter of tenant idx (< tenant_table_count()).  Any thread. */
const char *tenant_table_name(const struct tenant_table *t, size_t idx);
struct tenant_counter *tenant_table_counter(const struct tenant_table *t,
					    size_t idx);

/* Shard count and window the table's counters were made with. */
unsigned tenant_table_workers(const struct tenant_table *t);
const struct tenant_window *tenant_table_window(const struct tenant_table *t);

#endif /* SLUICE_CORE_TENANT_TENANT_H */
