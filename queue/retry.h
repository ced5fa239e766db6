/*
 * retry — the backoff schedule of a deferred message: how long to wait
 * before attempt n, with jitter so that a destination coming back is not
 * hit by its whole backlog in the same second, and when to give up.
 *
 * The schedule (docs/ARCHITECTURE.md, "The life of a message", step 5):
 * by default 60 s doubling to a 900 s cap, +-10 % jitter, expiry 24 h
 * after arrival, no delay warning; all configurable per connector, and
 * the defaults defined once, in config_connector_default (core/config.h).
 *
 * Not for: keeping timers (queue/wheel.h) or reading a clock: times are
 * unix seconds passed in by the caller.  Pure, no state: any thread.  The
 * random state is the caller's (one per worker, so no sharing).
 */
#ifndef SLUICE_QUEUE_RETRY_H
#define SLUICE_QUEUE_RETRY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Next value of a splitmix64 generator; advances *state.  Any seed works,
 * including 0.  Not for cryptography.
 */
uint64_t retry_rng_next(uint64_t *state);

/*
 * Delay in seconds before the retry that follows failed attempt number
 * attempt (1 = the first attempt failed): initial doubled attempt-1 times,
 * capped at max, then moved by a uniform +-jitter_pct % (at most 100) drawn
 * from *rng, so it may exceed max by that much.  initial > max is clamped
 * to max; max == 0 means no cap; attempt 0 counts as 1; rng NULL or
 * jitter_pct 0 means no jitter.  Never 0 and never overflows, for any
 * arguments.
 */
uint32_t retry_delay(uint32_t attempt, uint32_t initial, uint32_t max,
		     uint32_t jitter_pct, uint64_t *rng);

/*
 * True once a message that arrived at arrival has been queued for expiry
 * seconds or more at now: after a failed attempt at or past that moment,
 * the recipients still pending are returned to the sender.
 */
bool retry_expired(int64_t arrival, uint32_t expiry, int64_t now);

/*
 * When to try again after an attempt that failed at now, given the delay
 * from retry_delay(): now + delay, but never past the expiry moment
 * arrival + expiry, so the last attempt happens exactly at expiry rather
 * than a full delay later.  Returns -1 if the message has expired at now
 * (retry_expired() is true): no further attempt, return it.
 */
int64_t retry_next_time(int64_t arrival, uint32_t expiry, int64_t now,
			uint32_t delay);

#endif
