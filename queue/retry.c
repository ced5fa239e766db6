/*
 * retry — exponential backoff with jitter, and the expiry clamp.
 *
 * The doubling is computed as a shift in 64 bits, with the shift itself
 * bounded, so attempt numbers up to UINT32_MAX cannot overflow.  Jitter is
 * drawn without modulo bias (multiply-high), and time sums saturate instead
 * of wrapping.  Pure: any thread.
 */
#include "queue/retry.h"

#include <stddef.h>

uint64_t
retry_rng_next(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Uniform integer in [0, n) (n > 0). */
static uint64_t
uniform(uint64_t *rng, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)retry_rng_next(rng) * n) >> 64);
}

uint32_t
retry_delay(uint32_t attempt, uint32_t initial, uint32_t max,
	    uint32_t jitter_pct, uint64_t *rng)
{
	uint64_t base, span, d;
	uint32_t shift;

	if (max == 0)
		max = UINT32_MAX;
	if (initial == 0)
		initial = 1;
	if (initial > max)
		initial = max;
	shift = attempt > 1 ? attempt - 1 : 0;
	/* initial >= 1, so any shift of 32 or more passes every uint32_t. */
	base = shift >= 32 ? max : (uint64_t)initial << shift;
	if (base > max)
		base = max;

	if (rng == NULL || jitter_pct == 0)
		return (uint32_t)base;
	if (jitter_pct > 100)
		jitter_pct = 100;
	span = base * jitter_pct / 100;
	/* base - span + [0, 2 span]: fits easily in 64 bits. */
	d = base - span + uniform(rng, 2 * span + 1);
	if (d == 0)
		d = 1;
	if (d > UINT32_MAX)
		d = UINT32_MAX;
	return (uint32_t)d;
}

/* a + b without wrapping (b >= 0). */
static int64_t
sat_add(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

bool
retry_expired(int64_t arrival, uint32_t expiry, int64_t now)
{
	return now >= sat_add(arrival, expiry);
}

int64_t
retry_next_time(int64_t arrival, uint32_t expiry, int64_t now, uint32_t delay)
{
	int64_t deadline = sat_add(arrival, expiry);
	int64_t next = sat_add(now, delay);

	if (now >= deadline)
		return -1;
	return next < deadline ? next : deadline;
}
