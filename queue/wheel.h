/*
 * wheel — hierarchical timer wheel: 1 s tick, 3 levels x 64 slots
 * (262,144 s, about 72.8 h, before a timer has to be re-parked), exact to the
 * second, O(1) insert and cancel, intrusive timers.
 *
 * Job: hold one worker's timers that fire at a given second (job retries
 * and expiries, destination probes, sessions' DATA budgets, outbound
 * connections' send and recv timeouts: see docs/ARCHITECTURE.md, Timers)
 * and fire them when the worker's fixed 1 s tick advances the wheel
 * (queue_tick calls wheel_advance()).  It can also say when the next one
 * is due (wheel_next_expiry()), which only the unit tests use: the worker
 * ticks whatever the wheel holds.
 *
 * Not for: sub-second timeouts (a connect carries a linked timeout on the
 * ring), inactivity timeouts that every read would move (the SMTP server
 * and client keep those on lists in order of last activity), reading a clock (the caller passes monotonic seconds in; the wheel
 * does no I/O at all), or being shared between threads.
 *
 * Threading: a wheel and the timers in it belong to one thread, the worker
 * that owns them.  Other threads never touch either; they send an insert or
 * cancel request through the worker's MPSC queue (core/mpsc.h).
 *
 * Ownership: the caller owns the storage of the wheel and of every timer; the
 * wheel only links timers together.  A pending timer must not be freed or
 * re-initialised: cancel it first.  The wheel unlinks a timer before calling
 * its callback and never touches it afterwards, so a callback may re-insert,
 * free or reuse its own timer, and may insert or cancel any other timer.
 *
 * Callbacks: a timer carries a function pointer; the callback gets the timer
 * and the wheel's arg (given to wheel_init, typically the worker) and recovers
 * its own object with WHEEL_CONTAINER():
 *
 *	struct msg { ...; struct wheel_timer retry; };
 *	static void msg_retry(struct wheel_timer *t, void *arg)
 *	{
 *		struct msg *m = WHEEL_CONTAINER(t, struct msg, retry);
 *		...
 *	}
 *	wheel_timer_init(&m->retry, msg_retry);
 *	wheel_insert(&worker->wheel, &m->retry, now + 60);
 *
 * Timing rule: a timer for second T fires during the first wheel_advance(w,
 * now) with now >= T: never earlier and never in a later call.  A timer
 * inserted with T <= the last time passed to wheel_advance() (for example a
 * callback re-arming itself for "now") fires at the start of the next
 * wheel_advance() call, never in the call that is running, so a callback
 * cannot make wheel_advance() loop forever.  Timers due in the same second
 * fire in no particular order; timers due in different seconds fire in the
 * order of their seconds.  Times are below 2^63.
 */
#ifndef SLUICE_QUEUE_WHEEL_H
#define SLUICE_QUEUE_WHEEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WHEEL_LEVELS	3	/* levels of the hierarchy */
#define WHEEL_SLOT_BITS	6	/* log2 of the slots per level */
#define WHEEL_SLOTS	(1u << WHEEL_SLOT_BITS)	/* slots per level (64) */
/* Seconds ahead that the wheel places exactly (2^18 = 262,144 s, ~72.8 h);
 * timers further out are parked and re-placed, still firing on time. */
#define WHEEL_HORIZON	(UINT64_C(1) << (WHEEL_LEVELS * WHEEL_SLOT_BITS))

/* The struct that embeds member `member` of type struct wheel_timer. */
#define WHEEL_CONTAINER(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct wheel_timer;

/* Called once when a timer fires.  t is already unlinked (not pending);
 * arg is the wheel's arg from wheel_init(). */
typedef void wheel_cb(struct wheel_timer *t, void *arg);

/*
 * A timer, embedded in the user's object.  40 bytes on LP64.  Fields are
 * private to the wheel; use the functions below.
 */
struct wheel_timer {
	struct wheel_timer *next;	/* next timer in the same list */
	struct wheel_timer **pprev;	/* the pointer that points at us (list
					   head or previous timer's next), so
					   unlinking needs no list head; NULL
					   when not pending */
	uint64_t expires;		/* the second it is due, as inserted */
	wheel_cb *cb;			/* what to call when it fires */
	uint16_t slot;			/* level * WHEEL_SLOTS + index of the
					   slot whose busy bit to re-check on
					   unlink; WHEEL_LEVELS * WHEEL_SLOTS
					   when on the due list */
};

/*
 * A wheel.  The caller provides the storage (embedded in the worker); the
 * fields are private to the wheel.  About 1.6 KiB.
 */
struct wheel {
	/* Slot lists: slot[l][i] holds timers due in the 64^l-second span
	   whose level-l index is i; NULL when empty. */
	struct wheel_timer *slot[WHEEL_LEVELS][WHEEL_SLOTS];
	uint64_t busy[WHEEL_LEVELS];	/* bit i set <=> slot[l][i] non-empty,
					   so next_expiry need not scan slots */
	struct wheel_timer *due;	/* timers inserted for a second already
					   processed; fired first by the next
					   wheel_advance() */
	uint64_t now;			/* last second processed: every tick
					   <= now is done; during a callback,
					   the second being processed */
	size_t count;			/* pending timers (slots + due list) */
	void *arg;			/* passed to every callback */
	bool running;			/* inside wheel_advance(): catches a
					   callback calling it recursively */
};

/* Start an empty wheel whose clock reads `now` (seconds, the caller's
 * monotonic clock); arg is passed to every callback.  Cannot fail. */
void wheel_init(struct wheel *w, uint64_t now, void *arg);

/* Unlink every pending timer without firing it (they become not pending;
 * their storage stays the caller's).  The wheel may be wheel_init()ed again. */
void wheel_fini(struct wheel *w);

/* Prepare a timer (not pending) that will call cb when it fires.  Call once
 * before first use, and never on a pending timer. */
void wheel_timer_init(struct wheel_timer *t, wheel_cb *cb);

/* Schedule t to fire at second `when` (absolute, same clock as
 * wheel_advance()).  A pending t is rescheduled.  when <= wheel_now(w) means
 * "at the next wheel_advance()".  O(1); may be called from a callback. */
void wheel_insert(struct wheel *w, struct wheel_timer *t, uint64_t when);

/* Stop t from firing.  Returns true if it was pending, false (and does
 * nothing) if not.  O(1); may be called from a callback, on any timer,
 * including one due in the same second that has not fired yet. */
bool wheel_cancel(struct wheel *w, struct wheel_timer *t);

/* True while t is scheduled (inserted, not yet fired or cancelled). */
static inline bool
wheel_pending(const struct wheel_timer *t)
{
	return t->pprev != NULL;
}

/* The second t was last scheduled for (meaningful while pending). */
static inline uint64_t
wheel_timer_expires(const struct wheel_timer *t)
{
	return t->expires;
}

/* Process every second up to and including `now`: fire the timers due, in
 * order of their seconds, after the ones left due by earlier calls.  A `now`
 * earlier than the last one is treated as the last one (the clock never runs
 * back).  Returns the number of timers fired.  Must not be called from a
 * callback.  Cost: O(timers fired + timers cascaded + levels per busy slot
 * passed), independent of how many seconds the call skips. */
size_t wheel_advance(struct wheel *w, uint64_t now);

/* The earliest second at which a timer may fire, for a caller that sleeps
 * until then (the worker does not: it ticks every second, so today only
 * the unit tests call this).  UINT64_MAX when no timer is pending;
 * wheel_now(w) or earlier when one is due already (fire it at once).  May
 * be earlier than the first real expiry when a higher-level slot must be
 * cascaded first: advancing to it then fires nothing and the caller simply
 * asks again.  O(levels). */
uint64_t wheel_next_expiry(const struct wheel *w);

/* Pending timers. */
static inline size_t
wheel_count(const struct wheel *w)
{
	return w->count;
}

/* The wheel's clock: the last second processed, or inside a callback the
 * second being processed (for the timers left due by an earlier call, the
 * second the previous call ended at). */
static inline uint64_t
wheel_now(const struct wheel *w)
{
	return w->now;
}

#endif /* SLUICE_QUEUE_WHEEL_H */
