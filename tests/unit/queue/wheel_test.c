/*
 * wheel_test — unit tests of queue/wheel: exact firing at slot, level and
 * horizon edges, timers in the past and beyond the horizon, cancel and
 * re-insert from callbacks (also across cascades), next_expiry, and a
 * randomized run checked against a reference model.
 *
 * Single-threaded, no ring, no clock: the tests drive the wheel's time.
 */
#include "queue/wheel.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fail the test unless cond holds; cheap when it does (hot loops). */
#define CHECK(cond, ...) do { if (!(cond)) cr_assert_fail(__VA_ARGS__); } while (0)

#define H	UINT64_C(3600)

/* A timer that records when it fired. */
struct probe {
	struct wheel_timer t;	/* the wheel's node */
	unsigned fired;		/* times the callback ran */
	uint64_t at;		/* wheel_now() in the last callback */
	unsigned call;		/* ctx.calls when it last fired */
};

/* What the plain probes' callbacks see. */
struct ctx {
	struct wheel *w;	/* the wheel under test */
	unsigned calls;		/* wheel_advance() calls made via adv() */
};

static struct ctx ctx;

static void
probe_cb(struct wheel_timer *t, void *arg)
{
	struct probe *p = WHEEL_CONTAINER(t, struct probe, t);
	struct ctx *c = arg;

	cr_assert_eq(c, &ctx);
	cr_assert(!wheel_pending(t));
	p->fired++;
	p->at = wheel_now(c->w);
	p->call = c->calls;
}

static size_t
adv(struct wheel *w, uint64_t now)
{
	ctx.calls++;
	return wheel_advance(w, now);
}

static void
setup(struct wheel *w, uint64_t now)
{
	memset(&ctx, 0, sizeof(ctx));
	ctx.w = w;
	wheel_init(w, now, &ctx);
}

static void
probe_init(struct probe *p)
{
	memset(p, 0, sizeof(*p));
	wheel_timer_init(&p->t, probe_cb);
}

Test(wheel, timer_size)
{
	cr_assert_leq(sizeof(struct wheel_timer), 40);
	cr_assert_geq(WHEEL_HORIZON, 72 * H);
}

/*
 * Exactness at the edges.  Each case starts the wheel at `start`, inserts a
 * timer `delay` seconds ahead and advances in steps of `step` seconds (0:
 * one jump to the second before, then one to the second itself).  The timer
 * must fire in the first call whose `now` reaches its second, at that second.
 */
static const uint64_t edge_starts[] = {
	0, 1, 62, 63, 64, 4095, 4096, 4159, 262143, 262144, 1000003,
	UINT64_C(1) << 40,
};
static const uint64_t edge_delays[] = {
	1, 2, 63, 64, 65, 127, 128, 4095, 4096, 4097, 8191, 8192,
	262143, 262144, 262145, 24 * H, 72 * H, 100 * H, 300 * H,
	1000 * H,
};
static const uint64_t edge_steps[] = { 0, 1, 7, 64, 1000, 4096, 100000 };

static void
check_edge(uint64_t start, uint64_t delay, uint64_t step)
{
	struct wheel w;
	struct probe p;
	uint64_t when = start + delay, now = start;

	if (step == 1 && delay > 300000)
		return;		/* a million calls per case adds nothing */
	setup(&w, start);
	probe_init(&p);
	wheel_insert(&w, &p.t, when);
	cr_assert_eq(wheel_count(&w), 1);
	CHECK(wheel_next_expiry(&w) <= when && wheel_next_expiry(&w) > start,
	      "next_expiry %llu for %llu+%llu",
	      (unsigned long long)wheel_next_expiry(&w),
	      (unsigned long long)start, (unsigned long long)delay);
	if (step == 0) {
		adv(&w, when - 1);
		CHECK(p.fired == 0, "early: start %llu delay %llu (jump)",
		      (unsigned long long)start, (unsigned long long)delay);
		adv(&w, when);
	} else {
		while (p.fired == 0) {
			CHECK(now < when, "late: start %llu delay %llu step %llu",
			      (unsigned long long)start, (unsigned long long)delay,
			      (unsigned long long)step);
			now += step;
			adv(&w, now);
			CHECK(p.fired == 0 || now >= when,
			      "early at %llu: start %llu delay %llu step %llu",
			      (unsigned long long)now, (unsigned long long)start,
			      (unsigned long long)delay, (unsigned long long)step);
		}
	}
	CHECK(p.fired == 1 && p.at == when,
	      "start %llu delay %llu step %llu: fired %u at %llu",
	      (unsigned long long)start, (unsigned long long)delay,
	      (unsigned long long)step, p.fired, (unsigned long long)p.at);
	cr_assert_eq(wheel_count(&w), 0);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	adv(&w, when + 10 * WHEEL_HORIZON);
	cr_assert_eq(p.fired, 1);
	wheel_fini(&w);
}

Test(wheel, exact_at_edges)
{
	for (size_t s = 0; s < sizeof(edge_starts) / sizeof(*edge_starts); s++)
		for (size_t d = 0; d < sizeof(edge_delays) / sizeof(*edge_delays); d++)
			for (size_t k = 0; k < sizeof(edge_steps) / sizeof(*edge_steps); k++)
				check_edge(edge_starts[s], edge_delays[d], edge_steps[k]);
}

/* All edge delays at once in one wheel, fired by one big jump, then by
 * a worker-style loop that only wakes at wheel_next_expiry(). */
Test(wheel, many_in_one_jump)
{
	enum { N = sizeof(edge_delays) / sizeof(*edge_delays) };
	struct wheel w;
	struct probe p[N];
	uint64_t start = 12345;

	setup(&w, start);
	for (size_t i = 0; i < N; i++) {
		probe_init(&p[i]);
		wheel_insert(&w, &p[i].t, start + edge_delays[i]);
	}
	cr_assert_eq(adv(&w, start + 2000 * H), N);
	for (size_t i = 0; i < N; i++)
		cr_assert_eq(p[i].at, start + edge_delays[i], "delay %llu",
			     (unsigned long long)edge_delays[i]);
	wheel_fini(&w);
}

Test(wheel, driven_by_next_expiry)
{
	for (size_t d = 0; d < sizeof(edge_delays) / sizeof(*edge_delays); d++) {
		struct wheel w;
		struct probe p;
		uint64_t start = 777, when = start + edge_delays[d];
		unsigned wakeups = 0;

		setup(&w, start);
		probe_init(&p);
		wheel_insert(&w, &p.t, when);
		while (p.fired == 0) {
			uint64_t next = wheel_next_expiry(&w);

			cr_assert_leq(next, when);
			cr_assert_gt(next, wheel_now(&w));
			adv(&w, next);
			wakeups++;
		}
		cr_assert_eq(p.at, when);
		/* One wake-up per level at most, plus one per re-park. */
		cr_assert_leq(wakeups, WHEEL_LEVELS + 1 +
			      edge_delays[d] / (WHEEL_HORIZON - 4096),
			      "delay %llu took %u wake-ups",
			      (unsigned long long)edge_delays[d], wakeups);
		wheel_fini(&w);
	}
}

Test(wheel, exactly_24h)
{
	struct wheel w;
	struct probe p;

	setup(&w, 1000);
	probe_init(&p);
	wheel_insert(&w, &p.t, 1000 + 24 * H);
	cr_assert_eq(adv(&w, 1000 + 24 * H - 1), 0);
	cr_assert_eq(adv(&w, 1000 + 24 * H), 1);
	cr_assert_eq(p.at, 1000 + 24 * H);
	wheel_fini(&w);
}

Test(wheel, beyond_horizon)
{
	static const uint64_t far[] = { 100 * H, WHEEL_HORIZON * 3 + 17,
					10000 * H };

	for (size_t i = 0; i < sizeof(far) / sizeof(*far); i++) {
		struct wheel w;
		struct probe p;
		uint64_t now = 5;

		setup(&w, now);
		probe_init(&p);
		wheel_insert(&w, &p.t, now + far[i]);
		/* Walk in big odd steps to the second before. */
		while (now + 99991 < 5 + far[i] - 1) {
			now += 99991;
			cr_assert_eq(adv(&w, now), 0);
			cr_assert(wheel_pending(&p.t));
			cr_assert_eq(wheel_count(&w), 1);
		}
		cr_assert_eq(adv(&w, 5 + far[i] - 1), 0);
		cr_assert_eq(adv(&w, 5 + far[i]), 1);
		cr_assert_eq(p.at, 5 + far[i]);
		cr_assert_eq(wheel_timer_expires(&p.t), 5 + far[i]);
		wheel_fini(&w);
	}
}

Test(wheel, insert_in_past)
{
	struct wheel w;
	struct probe a, b, c;

	setup(&w, 1000);
	probe_init(&a);
	probe_init(&b);
	probe_init(&c);
	wheel_insert(&w, &a.t, 5);	/* long past */
	wheel_insert(&w, &b.t, 1000);	/* "now" */
	wheel_insert(&w, &c.t, 0);
	cr_assert_eq(wheel_count(&w), 3);
	cr_assert_leq(wheel_next_expiry(&w), 1000);
	/* The clock did not move, yet they are due. */
	cr_assert_eq(adv(&w, 1000), 3);
	cr_assert(a.fired == 1 && b.fired == 1 && c.fired == 1);
	cr_assert_eq(a.at, 1000);
	cr_assert_eq(wheel_count(&w), 0);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);

	/* A past insert can be cancelled like any other. */
	wheel_insert(&w, &a.t, 3);
	cr_assert(wheel_cancel(&w, &a.t));
	cr_assert_eq(adv(&w, 2000), 0);
	cr_assert_eq(a.fired, 1);
	wheel_fini(&w);
}

Test(wheel, clock_never_runs_back)
{
	struct wheel w;
	struct probe p;

	setup(&w, 500);
	probe_init(&p);
	wheel_insert(&w, &p.t, 501);
	cr_assert_eq(adv(&w, 100), 0);
	cr_assert_eq(wheel_now(&w), 500);
	cr_assert_eq(adv(&w, 501), 1);
	wheel_fini(&w);
}

Test(wheel, cancel_before_fire)
{
	struct wheel w;
	struct probe p[6];
	static const uint64_t delay[6] = { 1, 63, 64, 4096, 262144, 100 * H };

	setup(&w, 0);
	for (int i = 0; i < 6; i++) {
		probe_init(&p[i]);
		cr_assert(!wheel_pending(&p[i].t));
		cr_assert(!wheel_cancel(&w, &p[i].t));	/* never inserted */
		wheel_insert(&w, &p[i].t, delay[i]);
		cr_assert(wheel_pending(&p[i].t));
	}
	cr_assert_eq(wheel_count(&w), 6);
	for (int i = 0; i < 6; i++) {
		cr_assert(wheel_cancel(&w, &p[i].t));
		cr_assert(!wheel_pending(&p[i].t));
		cr_assert(!wheel_cancel(&w, &p[i].t));	/* twice: no-op */
	}
	cr_assert_eq(wheel_count(&w), 0);
	/* The busy bits went with them. */
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	cr_assert_eq(adv(&w, 200 * H), 0);
	for (int i = 0; i < 6; i++)
		cr_assert_eq(p[i].fired, 0);
	wheel_fini(&w);
}

Test(wheel, insert_reschedules)
{
	struct wheel w;
	struct probe p;

	setup(&w, 0);
	probe_init(&p);
	wheel_insert(&w, &p.t, 10000);
	wheel_insert(&w, &p.t, 30);	/* earlier, other level */
	cr_assert_eq(wheel_count(&w), 1);
	cr_assert_eq(wheel_next_expiry(&w), 30);
	wheel_insert(&w, &p.t, 70);	/* later */
	cr_assert_eq(adv(&w, 69), 0);
	cr_assert_eq(adv(&w, 20000), 1);
	cr_assert_eq(p.at, 70);
	wheel_fini(&w);
}

/* Timers that act on other timers when they fire. */
struct actor {
	struct wheel_timer t;	/* the wheel's node */
	struct actor *cancel[4];/* timers to cancel when fired */
	int ncancel;		/* entries in cancel[] */
	unsigned fired;		/* times fired */
	uint64_t at;		/* wheel_now() when fired */
	bool was_pending[4];	/* what each wheel_cancel() returned */
};

static void
actor_cb(struct wheel_timer *t, void *arg)
{
	struct actor *a = WHEEL_CONTAINER(t, struct actor, t);
	struct wheel *w = arg;

	a->fired++;
	a->at = wheel_now(w);
	for (int i = 0; i < a->ncancel; i++)
		a->was_pending[i] = wheel_cancel(w, &a->cancel[i]->t);
}

static void
actor_init(struct actor *a)
{
	memset(a, 0, sizeof(*a));
	wheel_timer_init(&a->t, actor_cb);
}

Test(wheel, cancel_same_second)
{
	struct wheel w;
	struct actor a, b, c;

	/* a, b, c all due at 200; whoever fires first cancels the others,
	   which sit on the list being fired. */
	wheel_init(&w, 0, &w);
	actor_init(&a);
	actor_init(&b);
	actor_init(&c);
	a.cancel[0] = &b, a.cancel[1] = &c, a.ncancel = 2;
	b.cancel[0] = &a, b.cancel[1] = &c, b.ncancel = 2;
	c.cancel[0] = &a, c.cancel[1] = &b, c.ncancel = 2;
	wheel_insert(&w, &a.t, 200);
	wheel_insert(&w, &b.t, 200);
	wheel_insert(&w, &c.t, 200);
	cr_assert_eq(wheel_advance(&w, 1000), 1);
	cr_assert_eq(a.fired + b.fired + c.fired, 1);
	cr_assert_eq(wheel_count(&w), 0);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	wheel_fini(&w);
}

Test(wheel, cancel_during_cascade)
{
	struct wheel w;
	struct actor a, b_same, b_next, c, d, e, f, g;

	/*
	 * From 0, level-1 slot 2 holds the span 128..191: a (128), b_same
	 * (128), b_next (130) and c (191).  At 128 that slot cascades; a
	 * fires and cancels b_same (on the list being fired), b_next (just
	 * cascaded into level 0), d (level-1 slot 3, not cascaded yet),
	 * and e (level 2).  c must still fire at 191.
	 */
	wheel_init(&w, 0, &w);
	actor_init(&a);
	actor_init(&b_same);
	actor_init(&b_next);
	actor_init(&c);
	actor_init(&d);
	actor_init(&e);
	actor_init(&f);
	actor_init(&g);
	a.cancel[0] = &b_same;
	a.cancel[1] = &b_next;
	a.cancel[2] = &d;
	a.cancel[3] = &e;
	a.ncancel = 4;
	/* a and b_same are due in the same second, in no set order:
	   whichever fires first does the same job. */
	b_same.cancel[0] = &a;
	b_same.cancel[1] = &b_next;
	b_same.cancel[2] = &d;
	b_same.cancel[3] = &e;
	b_same.ncancel = 4;
	wheel_insert(&w, &a.t, 128);
	wheel_insert(&w, &b_same.t, 128);
	wheel_insert(&w, &b_next.t, 130);
	wheel_insert(&w, &c.t, 191);
	wheel_insert(&w, &d.t, 192);
	wheel_insert(&w, &e.t, 5000);
	cr_assert_eq(wheel_next_expiry(&w), 128);
	cr_assert_eq(wheel_advance(&w, 128), 1);
	cr_assert_eq(a.fired + b_same.fired, 1);
	for (int i = 0; i < 4; i++)
		cr_assert(a.fired ? a.was_pending[i] : b_same.was_pending[i],
			  "cancel %d found the timer idle", i);
	cr_assert_eq(wheel_count(&w), 1);
	cr_assert_eq(wheel_next_expiry(&w), 191);
	cr_assert_eq(wheel_advance(&w, 10000), 1);
	cr_assert_eq(c.fired, 1);
	cr_assert_eq(c.at, 191);
	cr_assert(!b_next.fired && !d.fired && !e.fired);

	/*
	 * Level 2 -> 1 -> 0 in one second: from 10000, a (16384), f (16384 +
	 * 100) and g (16384 + 70) sit in level 2 slot 4 (16384 = 4 * 4096).
	 * At 16384 that slot cascades: a drops to level 0 and fires at once,
	 * f and g to level 1 slot 1; a cancels f and g, just cascaded.
	 */
	actor_init(&a);
	a.cancel[0] = &f;
	a.cancel[1] = &g;
	a.ncancel = 2;
	wheel_insert(&w, &f.t, 16384 + 100);
	wheel_insert(&w, &g.t, 16384 + 70);
	wheel_insert(&w, &a.t, 16384);
	cr_assert_eq(wheel_advance(&w, 16384), 1);
	cr_assert_eq(a.at, 16384);
	cr_assert(a.was_pending[0] && a.was_pending[1]);
	cr_assert_eq(wheel_count(&w), 0);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	cr_assert_eq(wheel_advance(&w, 100000), 0);
	cr_assert(!f.fired && !g.fired);
	wheel_fini(&w);
}

/* A timer that re-arms itself `left` more times, `period` seconds on. */
struct rearm {
	struct wheel_timer t;	/* the wheel's node */
	uint64_t period;	/* seconds between firings (0: "now") */
	unsigned left;		/* re-arms still to do */
	uint64_t at[300];	/* wheel_now() at each firing */
	unsigned fired;		/* entries in at[] */
};

static void
rearm_cb(struct wheel_timer *t, void *arg)
{
	struct rearm *r = WHEEL_CONTAINER(t, struct rearm, t);
	struct wheel *w = arg;

	cr_assert_lt(r->fired, 300);
	r->at[r->fired++] = wheel_now(w);
	if (r->left > 0) {
		r->left--;
		wheel_insert(w, t, wheel_now(w) + r->period);
	}
}

Test(wheel, reinsert_from_callback)
{
	static const uint64_t periods[] = { 1, 10, 63, 64, 65, 4096, 5000,
					    262144, 300000 };

	for (size_t k = 0; k < sizeof(periods) / sizeof(*periods); k++) {
		struct wheel w;
		struct rearm r;

		/* All 200 firings happen in one wheel_advance() call. */
		wheel_init(&w, 3, &w);
		memset(&r, 0, sizeof(r));
		wheel_timer_init(&r.t, rearm_cb);
		r.period = periods[k];
		r.left = 199;
		wheel_insert(&w, &r.t, 3 + r.period);
		cr_assert_eq(wheel_advance(&w, 3 + 200 * r.period), 200);
		for (unsigned i = 0; i < 200; i++)
			cr_assert_eq(r.at[i], 3 + (i + 1) * r.period,
				     "period %llu firing %u",
				     (unsigned long long)r.period, i);
		cr_assert(!wheel_pending(&r.t));
		wheel_fini(&w);
	}
}

Test(wheel, reinsert_now_waits_for_next_call)
{
	struct wheel w;
	struct rearm r;

	/* Re-arming for "now" must not loop inside one call: each call
	   fires it once. */
	wheel_init(&w, 0, &w);
	memset(&r, 0, sizeof(r));
	wheel_timer_init(&r.t, rearm_cb);
	r.period = 0;
	r.left = 5;
	wheel_insert(&w, &r.t, 50);
	cr_assert_eq(wheel_advance(&w, 100), 1);
	cr_assert_eq(r.at[0], 50);
	cr_assert_leq(wheel_next_expiry(&w), wheel_now(&w));
	for (int i = 0; i < 5; i++)
		cr_assert_eq(wheel_advance(&w, 100), 1);
	cr_assert_eq(wheel_advance(&w, 100), 0);
	cr_assert_eq(r.fired, 6);
	wheel_fini(&w);
}

Test(wheel, next_expiry)
{
	struct wheel w;
	struct probe a, b, c;

	setup(&w, 0);
	probe_init(&a);
	probe_init(&b);
	probe_init(&c);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	wheel_insert(&w, &b.t, 1000);		/* level 1, span 960..1023 */
	cr_assert_eq(wheel_next_expiry(&w), 960);
	wheel_insert(&w, &a.t, 50);		/* level 0: exact */
	cr_assert_eq(wheel_next_expiry(&w), 50);
	wheel_insert(&w, &c.t, 100000);		/* level 2 */
	cr_assert_eq(wheel_next_expiry(&w), 50);
	cr_assert(wheel_cancel(&w, &a.t));
	cr_assert_eq(wheel_next_expiry(&w), 960);
	cr_assert_eq(adv(&w, 960), 0);		/* cascade only */
	cr_assert_eq(wheel_next_expiry(&w), 1000);
	cr_assert_eq(adv(&w, 1000), 1);
	/* c: level 2 span 98304..102399, then level 1 span 99968... */
	cr_assert_eq(wheel_next_expiry(&w), 98304);
	cr_assert_eq(adv(&w, 98304), 0);
	cr_assert_eq(wheel_next_expiry(&w), 99968);
	cr_assert_eq(adv(&w, 99968), 0);
	cr_assert_eq(wheel_next_expiry(&w), 100000);
	cr_assert_eq(adv(&w, 100000), 1);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
	wheel_fini(&w);
}

Test(wheel, fini_forgets_timers)
{
	struct wheel w;
	struct probe p[4];

	setup(&w, 0);
	for (int i = 0; i < 4; i++) {
		probe_init(&p[i]);
		wheel_insert(&w, &p[i].t, i == 0 ? 0 : (uint64_t)i * 10000);
	}
	wheel_fini(&w);
	for (int i = 0; i < 4; i++)
		cr_assert(!wheel_pending(&p[i].t));
	cr_assert_eq(wheel_count(&w), 0);
	cr_assert_eq(wheel_next_expiry(&w), UINT64_MAX);
}

/*
 * Randomized run against a reference model.  Every timer of a pool has an
 * expected state: not pending, or pending for second `when`.  A timer the
 * wheel has to place (when > wheel_now at insert) must fire at exactly
 * `when`; one inserted for a processed second must fire at the start of the
 * next wheel_advance().  After each advance no timer the model says is due
 * may still be pending, and none may have fired twice or early.  Callbacks
 * now and then cancel or insert other timers, or re-arm themselves.
 */
enum { POOL = 4096, OPS = 200000 };

struct rnd_timer {
	struct wheel_timer t;	/* the wheel's node */
	uint32_t id;		/* index in the pool */
};

/* The reference model and the run's state. */
struct model {
	struct wheel w;			/* wheel under test */
	struct rnd_timer tm[POOL];	/* the timers */
	uint64_t when[POOL];		/* expected second, if pending */
	bool pending[POOL];		/* expected wheel_pending() */
	bool overdue[POOL];		/* inserted for a processed second */
	unsigned seq[POOL];		/* advance number at insert */
	size_t npending;		/* expected wheel_count() */
	unsigned advances;		/* wheel_advance() calls so far */
	uint64_t prev_now;		/* wheel_now() before this call */
	uint64_t last_at;		/* last firing second in this call */
	uint64_t fired;			/* firings so far */
	uint64_t rng;			/* xorshift64* state */
};

static struct model *m;

static uint64_t
rnd(void)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * UINT64_C(2685821657736338717);
}

/* Uniform in [0, n]. */
static uint64_t
rnd_upto(uint64_t n)
{
	return rnd() % (n + 1);
}

static void
model_insert(uint32_t i, uint64_t when)
{
	if (!m->pending[i])
		m->npending++;
	m->pending[i] = true;
	m->when[i] = when;
	m->overdue[i] = when <= wheel_now(&m->w);
	m->seq[i] = m->advances;
	wheel_insert(&m->w, &m->tm[i].t, when);
}

static void
model_cancel(uint32_t i)
{
	bool was = wheel_cancel(&m->w, &m->tm[i].t);

	CHECK(was == m->pending[i], "cancel(%u) returned %d, model %d",
	      i, was, m->pending[i]);
	if (m->pending[i])
		m->npending--;
	m->pending[i] = false;
}

/* A random delay: mostly short, sometimes up to 100 h, sometimes past. */
static uint64_t
rnd_when(uint64_t now)
{
	switch (rnd() % 8) {
	case 0:
		return now - rnd_upto(now < 1000 ? now : 1000);	/* past */
	case 1:
	case 2:
		return now + rnd_upto(100);
	case 3:
	case 4:
		return now + rnd_upto(5000);
	default:
		return now + rnd_upto(100 * H);
	}
}

static void
rnd_cb(struct wheel_timer *t, void *arg)
{
	struct rnd_timer *rt = WHEEL_CONTAINER(t, struct rnd_timer, t);
	uint32_t i = rt->id;
	uint64_t at = wheel_now(&m->w);

	CHECK(arg == m, "bad arg");
	CHECK(m->pending[i], "timer %u fired but was not pending", i);
	if (m->overdue[i]) {
		CHECK(m->seq[i] + 1 == m->advances && at == m->prev_now,
		      "overdue timer %u (when %llu, inserted in call %u) fired "
		      "in call %u at %llu", i, (unsigned long long)m->when[i],
		      m->seq[i], m->advances, (unsigned long long)at);
	} else {
		CHECK(at == m->when[i], "timer %u due %llu fired at %llu", i,
		      (unsigned long long)m->when[i], (unsigned long long)at);
	}
	CHECK(at >= m->last_at, "out of order: %llu after %llu",
	      (unsigned long long)at, (unsigned long long)m->last_at);
	m->last_at = at;
	m->pending[i] = false;
	m->npending--;
	m->fired++;

	switch (rnd() % 16) {
	case 0:		/* re-arm self */
		model_insert(i, rnd_when(at));
		break;
	case 1:		/* re-arm self for this very second */
		model_insert(i, at);
		break;
	case 2:		/* cancel another, maybe due this second */
		model_cancel((uint32_t)(rnd() % POOL));
		break;
	case 3:		/* (re)insert another */
		model_insert((uint32_t)(rnd() % POOL), rnd_when(at));
		break;
	default:
		break;
	}
}

static void
model_advance(uint64_t now)
{
	uint64_t min_when = UINT64_MAX;
	bool any_overdue = false;
	size_t n;

	m->advances++;
	m->prev_now = wheel_now(&m->w);
	m->last_at = 0;
	n = wheel_advance(&m->w, now);
	(void)n;
	CHECK(wheel_now(&m->w) == (now > m->prev_now ? now : m->prev_now),
	      "clock %llu after advance to %llu",
	      (unsigned long long)wheel_now(&m->w), (unsigned long long)now);
	for (uint32_t i = 0; i < POOL; i++) {
		CHECK(wheel_pending(&m->tm[i].t) == m->pending[i],
		      "timer %u pending %d, model %d", i,
		      wheel_pending(&m->tm[i].t), m->pending[i]);
		if (!m->pending[i])
			continue;
		if (m->overdue[i]) {
			CHECK(m->seq[i] == m->advances,
			      "overdue timer %u missed call %u", i, m->advances);
			any_overdue = true;
		} else {
			CHECK(m->when[i] > wheel_now(&m->w),
			      "timer %u due %llu not fired by %llu", i,
			      (unsigned long long)m->when[i],
			      (unsigned long long)wheel_now(&m->w));
			if (m->when[i] < min_when)
				min_when = m->when[i];
		}
	}
	CHECK(wheel_count(&m->w) == m->npending, "count %zu, model %zu",
	      wheel_count(&m->w), m->npending);
	if (any_overdue) {
		CHECK(wheel_next_expiry(&m->w) <= wheel_now(&m->w),
		      "next_expiry misses an overdue timer");
	} else {
		uint64_t next = wheel_next_expiry(&m->w);

		CHECK(next <= min_when && next > wheel_now(&m->w),
		      "next_expiry %llu, now %llu, first due %llu",
		      (unsigned long long)next,
		      (unsigned long long)wheel_now(&m->w),
		      (unsigned long long)min_when);
	}
}

Test(wheel, randomized_against_model)
{
	uint64_t now = 1000;

	m = calloc(1, sizeof(*m));
	cr_assert_not_null(m);
	m->rng = 0x5eed5eedcafef00dULL;
	wheel_init(&m->w, now, m);
	for (uint32_t i = 0; i < POOL; i++) {
		wheel_timer_init(&m->tm[i].t, rnd_cb);
		m->tm[i].id = i;
	}
	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = rnd() % 100;

		if (r < 55) {
			model_insert((uint32_t)(rnd() % POOL), rnd_when(now));
		} else if (r < 80) {
			model_cancel((uint32_t)(rnd() % POOL));
		} else {
			switch (rnd() % 4) {
			case 0:
				now += 1 + rnd_upto(99);
				break;
			case 1:
				now += 1 + rnd_upto(4999);
				break;
			case 2:
				now += 1 + rnd_upto(99999);
				break;
			default:	/* same second, or backwards */
				now -= rnd_upto(now < 100 ? now : 100);
				break;
			}
			model_advance(now);
			now = wheel_now(&m->w);
		}
	}
	/* Drain: everything left fires. */
	while (m->npending > 0) {
		now += 100 * H;
		model_advance(now);
	}
	cr_assert_eq(wheel_count(&m->w), 0);
	cr_assert_eq(wheel_next_expiry(&m->w), UINT64_MAX);
	cr_log_info("randomized: %llu firings over %u advances",
		    (unsigned long long)m->fired, m->advances);
	cr_assert_gt(m->fired, 50000);
	wheel_fini(&m->w);
	free(m);
	m = NULL;
}
