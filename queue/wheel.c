/*
 * wheel — hierarchical timer wheel (see wheel.h for the API and its rules).
 *
 * Job: place timers in 3 levels of 64 slots by how far ahead they are, move
 * ("cascade") a higher-level slot down when its span begins, fire level-0
 * slots second by second.  Pure: no I/O, no clock, no allocation.
 *
 * Not for: sharing between threads (one owner thread, no locks).
 *
 * How a timer is placed.  Let base be the first second not yet processed
 * (w->now + 1 between calls; the second being cascaded during a cascade) and
 * d = expires - base:
 *
 *	d < 64			level 0, slot  expires        & 63
 *	d < 64^2 (4,096)	level 1, slot (expires >>  6) & 63
 *	d < 64^3 (262,144)	level 2, slot (expires >> 12) & 63
 *	otherwise		parked as if due at base + 262,143 (level 2)
 *
 * Slots are indexed by absolute time bits, so a slot on level l is reached
 * exactly when the clock enters the 64^l-second span it stands for; there
 * the slot is emptied and each timer placed again from its real expiry,
 * landing one level lower (or, for a parked timer, parked again ~72 h
 * further on).  The bounds on d guarantee that on each level the timers
 * waiting in one slot all belong to the same span, the next one with that
 * index, so nothing is moved early or skipped for a lap: a timer fires at
 * its exact second whatever the distance, after at most ceil(d / 2^18) + 2
 * moves.
 *
 * Skipping empty seconds.  busy[l] has one bit per non-empty slot.  From it
 * next_event() finds, per level, the next second at which that level has
 * something to do (fire a level-0 slot, or cascade a level-1/2 slot) with a
 * rotate and a count-trailing-zeros; wheel_advance() jumps straight there.
 * The seconds it jumps over would only have cascaded empty slots, so the
 * result is the same as ticking one second at a time.
 *
 * Callback safety.  The slot being fired is first detached onto a list on
 * the stack; each timer is unlinked from it before its callback runs.  The
 * lists are doubly linked through pprev, so a callback can cancel any
 * timer, one still waiting on that stack list included, and a timer inserted
 * by a callback lands in the live slots (if due this very second, in the due
 * list for the next call), never in the list being walked.  Cascades run no
 * callbacks.
 */
#include "queue/wheel.h"

#include <assert.h>
#include <string.h>

#define SLOT_MASK	(WHEEL_SLOTS - 1)
#define SLOT_DUE	(WHEEL_LEVELS * WHEEL_SLOTS)	/* t->slot on the due list */

_Static_assert(WHEEL_SLOTS == 64, "busy bitmaps are one uint64_t per level");
_Static_assert(SLOT_DUE <= UINT16_MAX, "struct wheel_timer.slot is 16 bits");

/* Link t at the head of the list *head. */
static inline void
list_push(struct wheel_timer **head, struct wheel_timer *t)
{
	t->next = *head;
	if (t->next != NULL)
		t->next->pprev = &t->next;
	t->pprev = head;
	*head = t;
}

/* Unlink t from whatever list holds it (no head needed) and mark it idle. */
static inline void
list_unlink(struct wheel_timer *t)
{
	*t->pprev = t->next;
	if (t->next != NULL)
		t->next->pprev = t->pprev;
	t->next = NULL;
	t->pprev = NULL;
}

/* Move the whole list *from onto the empty list *to (a stack variable), so
 * the timers' pprev links stay valid for cancels from callbacks. */
static inline void
list_move(struct wheel_timer **from, struct wheel_timer **to)
{
	*to = *from;
	*from = NULL;
	if (*to != NULL)
		(*to)->pprev = to;
}

/* x rotated right by n (0..63); compiles to one ror. */
static inline uint64_t
ror64(uint64_t x, unsigned n)
{
	return (x >> n) | (x << (-n & 63));
}

/* Put t (expires >= base) in the slot its distance from base calls for. */
static void
place(struct wheel *w, struct wheel_timer *t, uint64_t base)
{
	uint64_t key = t->expires;
	uint64_t d;
	unsigned level, idx;

	assert(key >= base);
	d = key - base;
	if (d >= WHEEL_HORIZON) {
		/* Beyond the top level's reach: park in the furthest slot
		   there is; it is cascaded before the real expiry and the
		   timer placed again from its real expiry then. */
		key = base + WHEEL_HORIZON - 1;
		d = WHEEL_HORIZON - 1;
	}
	if (d < WHEEL_SLOTS)
		level = 0;
	else if (d < (UINT64_C(1) << (2 * WHEEL_SLOT_BITS)))
		level = 1;
	else
		level = 2;
	idx = (unsigned)(key >> (level * WHEEL_SLOT_BITS)) & SLOT_MASK;
	list_push(&w->slot[level][idx], t);
	w->busy[level] |= UINT64_C(1) << idx;
	t->slot = (uint16_t)(level * WHEEL_SLOTS + idx);
}

/*
 * The first second >= base at which a slot has work: the second of the
 * earliest level-0 timer, or the start of the span of the next busy slot on
 * a higher level (when it must be cascaded).  UINT64_MAX when all are empty.
 */
static uint64_t
next_event(const struct wheel *w, uint64_t base)
{
	uint64_t best = UINT64_MAX;

	for (unsigned level = 0; level < WHEEL_LEVELS; level++) {
		unsigned shift = level * WHEEL_SLOT_BITS;
		uint64_t span, at;
		unsigned n;

		if (w->busy[level] == 0)
			continue;
		/* First span of this level that starts at or after base;
		   every busy slot is reached within the next 64 spans. */
		span = (base + (UINT64_C(1) << shift) - 1) >> shift;
		n = (unsigned)__builtin_ctzll(ror64(w->busy[level],
						    (unsigned)span & SLOT_MASK));
		at = (span + n) << shift;
		if (at < best)
			best = at;
	}
	return best;
}

/* Empty slot idx of level into the levels below, from the second `at` at
 * which its span begins. */
static void
cascade(struct wheel *w, unsigned level, unsigned idx, uint64_t at)
{
	struct wheel_timer *t = w->slot[level][idx];

	w->slot[level][idx] = NULL;
	w->busy[level] &= ~(UINT64_C(1) << idx);
	while (t != NULL) {
		struct wheel_timer *next = t->next;

		place(w, t, at);
		t = next;
	}
}

/* Fire every timer on the detached list *list; returns how many. */
static size_t
run_list(struct wheel *w, struct wheel_timer **list)
{
	struct wheel_timer *t;
	size_t fired = 0;

	/* Re-read the head each time: a callback may have cancelled the
	   next timer on this list. */
	while ((t = *list) != NULL) {
		list_unlink(t);
		w->count--;
		fired++;
		t->cb(t, w->arg);	/* may free or re-insert t */
	}
	return fired;
}

void
wheel_init(struct wheel *w, uint64_t now, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->now = now;
	w->arg = arg;
}

/* Mark every timer on list *head idle. */
static void
forget_list(struct wheel_timer **head)
{
	struct wheel_timer *t;

	while ((t = *head) != NULL)
		list_unlink(t);
}

void
wheel_fini(struct wheel *w)
{
	for (unsigned l = 0; l < WHEEL_LEVELS; l++)
		for (unsigned i = 0; i < WHEEL_SLOTS; i++)
			forget_list(&w->slot[l][i]);
	forget_list(&w->due);
	memset(w->busy, 0, sizeof(w->busy));
	w->count = 0;
}

void
wheel_timer_init(struct wheel_timer *t, wheel_cb *cb)
{
	memset(t, 0, sizeof(*t));
	t->cb = cb;
}

void
wheel_insert(struct wheel *w, struct wheel_timer *t, uint64_t when)
{
	if (wheel_pending(t))
		wheel_cancel(w, t);
	t->expires = when;
	w->count++;
	if (when <= w->now) {
		/* Its second is processed already (or being processed by
		   the running callback): next wheel_advance(). */
		list_push(&w->due, t);
		t->slot = SLOT_DUE;
		return;
	}
	place(w, t, w->now + 1);
}

bool
wheel_cancel(struct wheel *w, struct wheel_timer *t)
{
	unsigned level, idx;

	if (!wheel_pending(t))
		return false;
	list_unlink(t);
	w->count--;
	if (t->slot == SLOT_DUE)
		return true;
	/* t may sit on a list detached by wheel_advance(); then its slot
	   was already marked free (and may have been refilled since), and
	   this test leaves the bit as it should be either way. */
	level = t->slot / WHEEL_SLOTS;
	idx = t->slot % WHEEL_SLOTS;
	if (w->slot[level][idx] == NULL)
		w->busy[level] &= ~(UINT64_C(1) << idx);
	return true;
}

size_t
wheel_advance(struct wheel *w, uint64_t now)
{
	struct wheel_timer *list;
	size_t fired = 0;

	assert(!w->running);	/* not from a callback */
	w->running = true;

	/* Timers inserted for a past second since the last call.  Ones
	   their callbacks insert for a past second wait for the next call. */
	if (w->due != NULL) {
		list_move(&w->due, &list);
		fired += run_list(w, &list);
	}

	while (w->now < now) {
		uint64_t at = next_event(w, w->now + 1);

		if (at > now) {
			w->now = now;
			break;
		}
		/* Seconds before `at` had nothing to do.  From the top
		   down, cascade the slots whose span begins at `at`; then
		   fire level 0's slot for `at`, which now holds every timer
		   due at `at`. */
		w->now = at;
		for (unsigned l = WHEEL_LEVELS - 1; l > 0; l--) {
			unsigned shift = l * WHEEL_SLOT_BITS;

			if ((at & ((UINT64_C(1) << shift) - 1)) == 0)
				cascade(w, l, (unsigned)(at >> shift) & SLOT_MASK, at);
		}
		if (w->slot[0][at & SLOT_MASK] != NULL) {
			list_move(&w->slot[0][at & SLOT_MASK], &list);
			w->busy[0] &= ~(UINT64_C(1) << (at & SLOT_MASK));
			fired += run_list(w, &list);
		}
	}

	w->running = false;
	return fired;
}

uint64_t
wheel_next_expiry(const struct wheel *w)
{
	if (w->due != NULL)
		return w->now;
	return next_event(w, w->now + 1);
}
