/*
 * hist — the buckets and the count.  Bounds suit mail: an attempt takes
 * milliseconds on a LAN and up to a connector's timeouts (minutes) when a
 * destination is slow; a message waits seconds when all is well and hours
 * to days when a destination is down.
 */
#include "core/hist.h"

const uint64_t hist_attempt_ms[HIST_ATTEMPT_N] = {
	5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
	60000, 120000, 300000, 600000,
};

const uint64_t hist_queue_s[HIST_QUEUE_N] = {
	1, 5, 15, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200,
	86400, 172800, 432000,
};

void
hist_add(uint64_t *counts, const uint64_t *bound, size_t n, uint64_t v)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {	/* the first bound >= v, or n */
		size_t mid = lo + (hi - lo) / 2;
		if (bound[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	counts[lo]++;
}
