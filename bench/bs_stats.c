/*
 * bs_stats.c - what sluice-bench measures and says: the latency
 * histogram, the error lines on stderr, and the result line (or JSON).
 *
 * Latency is end to end per message: MAIL FROM sent to the end-of-data
 * 250 received, acknowledged messages only. The histogram is exact below
 * 1024 us, then 512 sub-buckets per power of two (0.2 % resolution) up to
 * 2^63 us, so the quantiles need no sample list. Error lines stop after
 * BS_ERR_SHOW (and are never printed with -q); the counters behind the
 * result live in struct bench (bench/bs_state.h) and are kept by the engine.
 * May call: bs_state.c.
 */
#include "bench/bs_stats.h"

#include "bench/bs_state.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define BS_ERR_SHOW	10			/* error lines printed before going quiet */

/* Latency histogram: exact below 1024 us, then 512 sub-buckets per power
 * of two (0.2 % resolution) up to 2^63 us. */
#define BS_HIST_EXACT	1024
#define BS_HIST_SUB	512
#define BS_HIST_SIZE	(BS_HIST_EXACT + 54 * BS_HIST_SUB)

int bs_hist_init(void)
{
	bench.hist = calloc(BS_HIST_SIZE, sizeof(uint64_t));
	return bench.hist != NULL ? 0 : -ENOMEM;
}

static size_t bs_hist_index(uint64_t us)
{
	unsigned msb, shift;

	if (us < BS_HIST_EXACT)
		return (size_t)us;
	msb = 63u - (unsigned)__builtin_clzll(us);
	shift = msb - 9;
	return BS_HIST_EXACT + (size_t)(shift - 1) * BS_HIST_SUB +
	       (size_t)((us >> shift) - BS_HIST_SUB);
}

/* Middle of bucket i, in microseconds. */
static double bs_hist_value(size_t i)
{
	size_t shift, sub;

	if (i < BS_HIST_EXACT)
		return (double)i;
	shift = (i - BS_HIST_EXACT) / BS_HIST_SUB + 1;
	sub = (i - BS_HIST_EXACT) % BS_HIST_SUB + BS_HIST_SUB;
	return ((double)sub + 0.5) * (double)(1ull << shift);
}

void bs_hist_add(uint64_t ns)
{
	uint64_t us = ns / 1000;

	bench.hist[bs_hist_index(us)]++;
	if (us > bench.lat_max_us)
		bench.lat_max_us = us;
}

/* Latency at quantile q (0..1) in milliseconds; 0 with no samples. */
static double bs_hist_quantile(double q)
{
	unsigned long long rank, seen = 0;
	double v;
	size_t i;

	if (bench.ok == 0)
		return 0.0;
	rank = (unsigned long long)ceil(q * (double)bench.ok);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < BS_HIST_SIZE; i++) {
		seen += bench.hist[i];
		if (seen >= rank) {
			v = bs_hist_value(i);
			if (v > (double)bench.lat_max_us)
				v = (double)bench.lat_max_us;
			return v / 1000.0;
		}
	}
	return (double)bench.lat_max_us / 1000.0;
}

/* Print "session N: what[: detail]" unless -q or too many already. */
void bs_report_detail(struct bs_session *s, const char *what,
			     const char *detail)
{
	if (bench.quiet || bench.errors_shown > BS_ERR_SHOW)
		return;
	if (bench.errors_shown++ == BS_ERR_SHOW) {
		fprintf(stderr, "sluice-bench: further errors not shown\n");
		return;
	}
	if (detail != NULL)
		fprintf(stderr, "sluice-bench: session %u: %s: %s\n", s->idx,
			what, detail);
	else
		fprintf(stderr, "sluice-bench: session %u: %s\n", s->idx, what);
}

void bs_report(struct bs_session *s, const char *what, int err)
{
	bs_report_detail(s, what, err != 0 ? strerror(err) : NULL);
}

void bs_print_result(double secs)
{
	unsigned long long sent = bench.started;
	double rate = secs > 0 ? (double)sent / secs : 0.0;
	double p50 = bs_hist_quantile(0.50), p99 = bs_hist_quantile(0.99);
	double p999 = bs_hist_quantile(0.999), pmax = (double)bench.lat_max_us / 1000.0;
	double cpu = 0.0;
	struct rusage ru;

	/* Our own CPU time: on a shared machine the load generator's part
	 * (with --tls, its handshakes) comes out of the server's cores. */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;

	if (bench.json)
		printf("{\"sent\":%llu,\"ok\":%llu,\"failed\":%llu,\"errors\":%llu,"
		       "\"lost\":%llu,\"connections\":%llu,\"seconds\":%.3f,"
		       "\"msg_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,"
		       "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
		       "\"sessions\":%u,\"size\":%llu,\"rcpts\":%u,"
		       "\"tls\":%s,\"handshakes\":%llu,\"resumed\":%llu,"
		       "\"tls_version\":\"%s\",\"cpu_s\":%.3f}\n",
		       sent, bench.ok, bench.failed, bench.errors, bench.lost,
		       bench.connections, secs, rate, p50, p99, p999, pmax,
		       bench.conc, bench.size, bench.rcpts,
		       bench.tls ? "true" : "false", bench.handshakes, bench.resumed,
		       bench.tls_desc, cpu);
	else
		printf("sent %llu msgs (ok %llu, failed %llu, errors %llu) in %.3f s: "
		       "%.1f msg/s; latency ms p50 %.3f p99 %.3f p999 %.3f max %.3f%s",
		       sent, bench.ok, bench.failed, bench.errors, secs, rate, p50,
		       p99, p999, pmax, bench.tls ? "" : "\n");
	if (!bench.json && bench.tls)
		printf("; TLS handshakes %llu (%.1f/s, %llu resumed) %s\n", bench.handshakes,
		       secs > 0 ? (double)bench.handshakes / secs : 0.0, bench.resumed,
		       bench.tls_desc);
	fflush(stdout);
}
