/*
 * http_hist: counters' growth goes to the minute of the sample, the
 * queue is the minute's last sample, an hour later a slot starts over,
 * and the JSON always has 60 minutes, oldest first.
 */
#include <criterion/criterion.h>

#include "core/http/http_hist.h"

static struct http_hist_sample
at(int64_t t, uint64_t delivered, uint64_t received, uint64_t queue)
{
	return (struct http_hist_sample){ .time = t, .delivered = delivered, .deferred = 1,
					  .bounced = 0, .received = received, .queue = queue };
}

Test(http_hist, minutes)
{
	struct http_hist h = { 0 };
	int64_t t0 = 1800000000 / 60 * 60;	/* a minute's start */
	struct http_hist_sample s;

	s = at(t0, 100, 200, 5);
	http_hist_add(&h, &s);	/* the first sample: a base, no growth */
	s = at(t0 + 10, 110, 230, 7);
	http_hist_add(&h, &s);
	s = at(t0 + 70, 150, 230, 3);
	http_hist_add(&h, &s);
	s = at(t0 + 80, 140, 231, 2);	/* a counter that went back adds nothing */
	http_hist_add(&h, &s);

	json_t *j = http_hist_json(&h, t0 + 90);
	json_t *m = json_object_get(j, "minutes");
	cr_assert_eq(json_array_size(m), HTTP_HIST_MINUTES);
	json_t *last = json_array_get(m, HTTP_HIST_MINUTES - 1);
	json_t *prev = json_array_get(m, HTTP_HIST_MINUTES - 2);
	cr_expect_eq(json_integer_value(json_object_get(last, "time")), t0 + 60);
	cr_expect_eq(json_integer_value(json_object_get(last, "delivered")), 40);
	cr_expect_eq(json_integer_value(json_object_get(last, "received")), 1);
	cr_expect_eq(json_integer_value(json_object_get(last, "queue")), 2);
	cr_expect_eq(json_integer_value(json_object_get(prev, "delivered")), 10);
	cr_expect_eq(json_integer_value(json_object_get(prev, "received")), 30);
	cr_expect_eq(json_integer_value(json_object_get(prev, "queue")), 7);
	cr_expect_eq(json_integer_value(json_object_get(prev, "deferred")), 0);
	cr_expect(json_is_null(json_object_get(json_array_get(m, 0), "queue")));
	cr_expect_eq(json_integer_value(json_object_get(j, "sample_seconds")), 10);
	json_decref(j);

	/* an hour later the minute's slot starts over */
	s = at(t0 + 3600 + 5, 160, 240, 1);
	http_hist_add(&h, &s);
	j = http_hist_json(&h, t0 + 3600 + 5);
	m = json_object_get(j, "minutes");
	last = json_array_get(m, HTTP_HIST_MINUTES - 1);
	cr_expect_eq(json_integer_value(json_object_get(last, "time")), t0 + 3600);
	cr_expect_eq(json_integer_value(json_object_get(last, "delivered")), 20);
	cr_expect_eq(json_integer_value(json_object_get(last, "queue")), 1);
	/* t0 + 60 is 59 minutes back: still there */
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(m, 0), "delivered")), 40);
	json_decref(j);
}
