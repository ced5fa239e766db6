/*
 * http_hist — the last hour of mail flow, minute by minute, for the
 * dashboard's chart (GET /api/v1/history): recipients delivered, deferred
 * and bounced, messages received, and the queue size.  The listener
 * samples `show stats json` every HTTP_HIST_SAMPLE seconds and adds each
 * sample here; a minute gets the growth of the counters since the sample
 * before, and the queue size of its last sample.
 *
 * Pure: the ring is the caller's, no I/O and no lock (the listener holds
 * its own around it).  Unit-tested in tests/unit/core/http/http_hist_test.c.
 */
#ifndef SLUICE_CORE_HTTP_HTTP_HIST_H
#define SLUICE_CORE_HTTP_HTTP_HIST_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define HTTP_HIST_MINUTES 60	/* minutes kept */
#define HTTP_HIST_SAMPLE 10	/* s between samples */

/* The counters of one sample (totals since the daemon started). */
struct http_hist_sample {
	int64_t time;			/* unix s it was taken */
	uint64_t delivered;		/* delivery.delivered */
	uint64_t deferred;		/* delivery.deferred */
	uint64_t bounced;		/* delivery.bounced */
	uint64_t received;		/* smtp.in.messages */
	uint64_t queue;			/* queue.messages, now */
};

/* One minute. */
struct http_hist_minute {
	int64_t minute;			/* unix s / 60; 0: never used */
	uint64_t delivered, deferred, bounced, received;	/* growth in it */
	uint64_t queue;			/* queue size at its last sample */
	bool sampled;			/* a sample fell in it */
};

/* The ring.  Zeroed: empty. */
struct http_hist {
	struct http_hist_minute m[HTTP_HIST_MINUTES];	/* by minute % 60 */
	struct http_hist_sample last;	/* the sample before */
	bool have_last;			/* there was one */
};

/* Add sample s (taken after the last one added). */
void http_hist_add(struct http_hist *h, const struct http_hist_sample *s);

/*
 * The hour ending in the minute of now, oldest first, as
 * {"minutes": [{"time": START, "delivered": N, "deferred": N, "bounced":
 * N, "received": N, "queue": N or null}, ...], "minute_seconds": 60,
 * "sample_seconds": 10}: always HTTP_HIST_MINUTES entries, zeros and a
 * null queue for a minute without a sample.  NULL if jansson failed.
 */
json_t *http_hist_json(const struct http_hist *h, int64_t now);

#endif
