/*
 * http_hist — the ring of minutes.  A slot is reused when its minute comes
 * round again an hour later; a counter that went back (it cannot while the
 * daemon runs, but a sample may be lost or late) adds nothing.
 */
#include "core/http/http_hist.h"

#include <string.h>

#include "core/log.h"

static uint64_t
growth(uint64_t now, uint64_t before)
{
	return now > before ? now - before : 0;
}

void
http_hist_add(struct http_hist *h, const struct http_hist_sample *s)
{
	int64_t min = s->time / 60;
	struct http_hist_minute *m = &h->m[min % HTTP_HIST_MINUTES];

	if (m->minute != min) {
		memset(m, 0, sizeof(*m));
		m->minute = min;
	}
	if (h->have_last && s->time >= h->last.time) {
		m->delivered += growth(s->delivered, h->last.delivered);
		m->deferred += growth(s->deferred, h->last.deferred);
		m->bounced += growth(s->bounced, h->last.bounced);
		m->received += growth(s->received, h->last.received);
	}
	m->queue = s->queue;
	m->sampled = true;
	h->last = *s;
	h->have_last = true;
}

json_t *
http_hist_json(const struct http_hist *h, int64_t now)
{
	json_t *a = json_array();
	int64_t cur = now / 60;

	for (int64_t min = cur - HTTP_HIST_MINUTES + 1; min <= cur; min++) {
		const struct http_hist_minute *m = &h->m[min % HTTP_HIST_MINUTES];
		bool here = m->minute == min;
		log_json_append(&a, json_pack("{s:I, s:I, s:I, s:I, s:I, s:o}",
			"time", (json_int_t)(min * 60),
			"delivered", (json_int_t)(here ? m->delivered : 0),
			"deferred", (json_int_t)(here ? m->deferred : 0),
			"bounced", (json_int_t)(here ? m->bounced : 0),
			"received", (json_int_t)(here ? m->received : 0),
			"queue", here && m->sampled ? json_integer((json_int_t)m->queue)
						    : json_null()));
	}
	return json_pack("{s:o, s:i, s:i}", "minutes", a, "minute_seconds", 60,
			 "sample_seconds", HTTP_HIST_SAMPLE);
}
