/*
 * wheel-bench — cost of the timer wheel (queue/wheel) at a million timers.
 *
 * Inserts N timers (default 1,000,000) with random delays up to 24 h,
 * cancels half of them (in random order, the way retries are cancelled by
 * deliveries), then advances the wheel second by second through 24 h, as
 * a worker woken every second would, and prints ns per insert, per cancel
 * and per fire (cascades included), and the memory per timer.
 *
 * Reading the numbers: with a million cold timers, firing is bound by
 * memory latency, not by the wheel's arithmetic.  A timer due hours ahead is
 * moved twice (level 2 -> 1 -> 0) before it fires, and each move follows a
 * list pointer into a random cache line; those two dependent misses are
 * nearly all of the "fire" figure.  An idle 1-second advance costs ~10 ns.
 *
 * Not a test: it checks only that the right number of timers fired.
 * Single-threaded; pin it (taskset) for stable numbers.
 *
 *	usage: wheel-bench [timers] [seed]
 */
#include "queue/wheel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DAY	UINT64_C(86400)

static uint64_t rng_state;	/* xorshift64* state */

static uint64_t
rnd(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * UINT64_C(2685821657736338717);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
count_fire(struct wheel_timer *t, void *arg)
{
	(*(size_t *)arg)++;
}

int
main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	uint64_t start = 1000000, t0, t_ins, t_can, t_adv;
	struct wheel_timer *tm;
	uint64_t *when;
	uint32_t *order;
	size_t fired = 0, ncancel = n / 2, kept;
	struct wheel w;

	rng_state = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x9e3779b97f4a7c15ULL;
	if (n == 0 || n > UINT32_MAX || rng_state == 0) {
		fprintf(stderr, "usage: wheel-bench [timers (1..2^32-1)] [seed (!= 0)]\n");
		return 2;
	}
	tm = calloc(n, sizeof(*tm));
	when = malloc(n * sizeof(*when));
	order = malloc(n * sizeof(*order));
	if (tm == NULL || when == NULL || order == NULL) {
		fprintf(stderr, "wheel-bench: out of memory\n");
		return 1;
	}
	/* Everything random is drawn before the clock starts. */
	for (size_t i = 0; i < n; i++) {
		wheel_timer_init(&tm[i], count_fire);
		when[i] = start + 1 + rnd() % DAY;
		order[i] = (uint32_t)i;
	}
	for (size_t i = n - 1; i > 0; i--) {	/* Fisher-Yates */
		size_t j = rnd() % (i + 1);
		uint32_t x = order[i];

		order[i] = order[j];
		order[j] = x;
	}

	wheel_init(&w, start, &fired);

	t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		wheel_insert(&w, &tm[i], when[i]);
	t_ins = now_ns() - t0;

	t0 = now_ns();
	for (size_t i = 0; i < ncancel; i++)
		wheel_cancel(&w, &tm[order[i]]);
	t_can = now_ns() - t0;
	kept = wheel_count(&w);

	t0 = now_ns();
	for (uint64_t s = start + 1; s <= start + DAY; s++)
		wheel_advance(&w, s);
	t_adv = now_ns() - t0;

	if (fired != n - ncancel || kept != n - ncancel || wheel_count(&w) != 0) {
		fprintf(stderr, "wheel-bench: fired %zu of %zu, %zu left\n",
			fired, n - ncancel, wheel_count(&w));
		return 1;
	}
	printf("timers          %zu (delays 1 s..24 h), %zu cancelled in random order\n",
	       n, ncancel);
	printf("insert          %6.1f ns\n", (double)t_ins / (double)n);
	printf("cancel          %6.1f ns\n", (double)t_can / (double)ncancel);
	printf("fire            %6.1f ns  (%zu fired, cascades included; "
	       "%llu advance calls, 1 per second)\n",
	       (double)t_adv / (double)fired, fired, (unsigned long long)DAY);
	printf("advance 24 h    %6.1f ms  (%.1f ns per call)\n",
	       (double)t_adv / 1e6, (double)t_adv / (double)DAY);
	printf("bytes per timer %6.1f     (struct wheel_timer %zu + struct wheel %zu / %zu)\n",
	       (double)sizeof(struct wheel_timer) + (double)sizeof(w) / (double)n,
	       sizeof(struct wheel_timer), sizeof(w), n);
	wheel_fini(&w);
	free(order);
	free(when);
	free(tm);
	return 0;
}
