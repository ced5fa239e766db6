/*
 * quota-bench — cost of the invalid-recipient quota check that the SMTP
 * server makes on every RCPT of a tenant with a quota
 * (tenant_over_quota(), core/tenant/tenant.h), per shard count.
 *
 * For 2 and 16 shards (workers) of a counter with a 60 x 1 min window
 * already holding events in every bucket, it times on worker 0:
 *   quiet   the check at a fixed `now` while nobody counts (the RCPT path
 *           between invalid recipients);
 *   busy    the same while another thread counts events on shard 1 as
 *           fast as it can (its bucket's cache line bounces on every
 *           write: the worst case for a check that reads it live);
 *   roll    the check with `now` one bucket later on each call (the work
 *           done once per bucket change, amortised in real use);
 *   add     tenant_count_add() on the worker's own shard (an invalid
 *           recipient counted).
 * Times are the checking thread's CPU time per call (the honest figure on
 * a machine busy with other work) and wall time in brackets.
 *
 * Not a test.  Pin it (taskset -c 0,1) for stable numbers; the busy case
 * needs two cores to mean anything.
 *
 *	usage: quota-bench [calls (default 20,000,000)]
 */
#include "core/tenant/tenant.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0	UINT64_C(1764213600)	/* a bucket start, UNIX seconds */
#define QUOTA	UINT64_C(1) << 40	/* never reached: the check runs whole */

static const struct tenant_window win = { .bucket_secs = 60, .buckets = 60 };

/* Shared with the busy writer. */
struct busy {
	struct tenant_counter *c;	/* counter it counts into */
	atomic_bool stop;		/* set by the checker when done */
	uint64_t adds;			/* events it counted */
};

static uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Counts on shard 1 at T0 until told to stop. */
static void *
busy_writer(void *p)
{
	struct busy *b = p;

	while (!atomic_load_explicit(&b->stop, memory_order_relaxed)) {
		tenant_count_add(b->c, 1, T0, 1);
		b->adds++;
	}
	return NULL;
}

enum mode { QUIET, BUSY, ROLL, ADD };

static const char *const mode_name[] = { "quiet", "busy", "roll", "add" };

/* Time n calls of mode m on worker 0; prints one line. */
static int
run(unsigned shards, enum mode m, uint64_t n)
{
	struct tenant_counter *c = NULL;
	struct busy b = { 0 };
	pthread_t th;
	uint64_t w0, c0, w1, c1, over = 0;

	if (tenant_counter_new(shards, &win, &c) < 0) {
		fprintf(stderr, "quota-bench: out of memory\n");
		return 1;
	}
	/* An event in every bucket of the window on every shard. */
	for (unsigned w = 0; w < shards; w++)
		for (uint64_t k = 0; k < win.buckets; k++)
			tenant_count_add(c, w, T0 - k * win.bucket_secs, 1);
	b.c = c;
	atomic_init(&b.stop, false);
	if (m == BUSY && pthread_create(&th, NULL, busy_writer, &b) != 0) {
		fprintf(stderr, "quota-bench: pthread_create failed\n");
		return 1;
	}
	(void)tenant_over_quota(c, 0, T0, QUOTA);	/* warm the cache */
	w0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	for (uint64_t i = 0; i < n; i++) {
		switch (m) {
		case QUIET:
		case BUSY:
			over += tenant_over_quota(c, 0, T0, QUOTA);
			break;
		case ROLL:
			over += tenant_over_quota(c, 0,
						  T0 + i * win.bucket_secs,
						  QUOTA);
			break;
		case ADD:
			tenant_count_add(c, 0, T0, 1);
			break;
		}
	}
	c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	w1 = clock_ns(CLOCK_MONOTONIC);
	if (m == BUSY) {
		atomic_store(&b.stop, true);
		pthread_join(th, NULL);
	}
	printf("%2u shards  %-5s  %7.2f ns/call CPU (%7.2f wall)%s\n", shards,
	       mode_name[m], (double)(c1 - c0) / (double)n,
	       (double)(w1 - w0) / (double)n,
	       over != 0 ? "  (quota reached?)" : "");
	if (m == BUSY)
		printf("           (the writer counted %llu events meanwhile)\n",
		       (unsigned long long)b.adds);
	tenant_counter_free(c);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 20000000;
	static const unsigned shards[] = { 2, 16 };

	if (n == 0) {
		fprintf(stderr, "usage: quota-bench [calls (>0)]\n");
		return 2;
	}
	for (size_t s = 0; s < sizeof(shards) / sizeof(shards[0]); s++)
		for (int m = QUIET; m <= ADD; m++)
			if (run(shards[s], (enum mode)m,
				m == ROLL ? n / 100 : n) != 0)
				return 1;
	return 0;
}
