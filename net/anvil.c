/*
 * anvil — the shared per-client counters behind the connection limits.
 *
 * Layout: two rows of ANVIL_SLOTS slots.  A client (see anvil.h) maps to one
 * slot per row through a keyed hash; each slot holds the sessions open, the
 * connections of the current 60 s window, and when a refusal was last
 * logged.  A client's value is the minimum over its two slots (a count-min
 * sketch): other clients sharing a slot only add to it, so the estimate is
 * never below the truth, and a wrong refusal needs a collision in both rows.
 *
 * Concurrency: every field is an atomic updated without a lock.  Sessions
 * are incremented first and checked after, then given back when over the
 * limit, so two workers racing for a client's last session can both refuse
 * (a transient over-count), never both admit past it.  The rate word packs
 * the window's start and count so one compare-and-swap opens a new window.
 *
 * The hash is two rounds of the murmur3 finaliser over a random key, not a
 * cryptographic PRF: good enough that slots cannot be predicted from outside
 * without seeing the process's memory.
 */
#include "net/anvil.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define ANVIL_SLOT_BITS	15
#define ANVIL_SLOTS	(1u << ANVIL_SLOT_BITS)	/* per row */
#define ANVIL_WINDOW	60u			/* seconds of a rate window */

struct anvil_slot {
	_Atomic uint32_t sessions;	/* sessions open, summed over clients */
	_Atomic uint32_t logged;	/* second + 1 of the last logged refusal */
	_Atomic uint64_t rate;		/* (second + 1 its window opened) << 32 |
					   connections in the window */
};

struct anvil {
	uint64_t key[ANVIL_ROWS];	/* hash keys, random per process */
	struct anvil_slot row[ANVIL_ROWS][ANVIL_SLOTS];	/* the counters */
};

static inline uint64_t
fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	return h ^ (h >> 33);
}

/* The client an address stands for: family tag and 64-bit value. */
static bool
anvil_client(const struct sockaddr *sa, uint64_t *tag, uint64_t *val)
{
	const uint8_t *p;

	if (sa->sa_family == AF_INET) {
		p = (const uint8_t *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
		*tag = 4;
		*val = (uint64_t)p[0] << 24 | (uint64_t)p[1] << 16 | (uint64_t)p[2] << 8 | p[3];
		return true;
	}
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

	p = a6->s6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		*tag = 4;
		*val = (uint64_t)p[12] << 24 | (uint64_t)p[13] << 16 | (uint64_t)p[14] << 8 |
		       p[15];
		return true;
	}
	*tag = 6;
	*val = 0;
	for (int i = 0; i < 8; i++)	/* the /64 */
		*val = *val << 8 | p[i];
	return true;
}

static void
anvil_slots(const struct anvil *a, uint64_t tag, uint64_t val, uint32_t slot[ANVIL_ROWS])
{
	for (unsigned r = 0; r < ANVIL_ROWS; r++)
		slot[r] = (uint32_t)(fmix64(fmix64(a->key[r] ^ tag) ^ val) & (ANVIL_SLOTS - 1));
}

struct anvil *
anvil_new(void)
{
	struct anvil *a = calloc(1, sizeof(*a));

	if (a == NULL)
		return NULL;
	if (getrandom(a->key, sizeof(a->key), GRND_NONBLOCK) != (ssize_t)sizeof(a->key)) {
		/* no entropy yet this early in boot: still distinct per start */
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		a->key[0] = fmix64((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)a);
		a->key[1] = fmix64(a->key[0] ^ (uint64_t)ts.tv_sec);
	}
	return a;
}

void
anvil_free(struct anvil *a)
{
	free(a);
}

/*
 * Count one connection at second t (now + 1, so 0 means never) in s's rate
 * window, which opens with the first connection and lasts ANVIL_WINDOW
 * seconds (as in Postfix's anvil: no shared boundary at which every
 * client's count drops at once).  Returns the window's count.
 */
static uint32_t
rate_bump(struct anvil_slot *s, uint32_t t)
{
	uint64_t old = atomic_load_explicit(&s->rate, memory_order_relaxed), nv;

	do {
		uint32_t start = (uint32_t)(old >> 32);

		if (start == 0 || t - start >= ANVIL_WINDOW)
			nv = (uint64_t)t << 32 | 1;
		else if ((uint32_t)old == UINT32_MAX)
			nv = old;
		else
			nv = old + 1;
	} while (!atomic_compare_exchange_weak_explicit(&s->rate, &old, nv,
							memory_order_relaxed,
							memory_order_relaxed));
	return (uint32_t)nv;
}

/* True for the first refusal of this slot's clients in ANVIL_WINDOW s. */
static bool
first_refusal(struct anvil_slot *s, uint32_t t)
{
	uint32_t last = atomic_load_explicit(&s->logged, memory_order_relaxed);

	if (last != 0 && t - last < ANVIL_WINDOW)
		return false;
	/* one of the racing workers logs */
	return atomic_compare_exchange_strong_explicit(&s->logged, &last, t,
						       memory_order_relaxed,
						       memory_order_relaxed);
}

enum anvil_verdict
anvil_enter(struct anvil *a, const struct sockaddr *addr, uint64_t now, uint32_t max_sessions,
	    uint32_t max_rate, struct anvil_ticket *t, bool *log)
{
	uint32_t sec = (uint32_t)now + 1;	/* 0: never */
	struct anvil_slot *s[ANVIL_ROWS];
	uint32_t est = UINT32_MAX;
	uint64_t tag, val;

	t->held = false;
	*log = false;
	if (!anvil_client(addr, &tag, &val))
		return ANVIL_OK;
	anvil_slots(a, tag, val, t->slot);
	for (unsigned r = 0; r < ANVIL_ROWS; r++)
		s[r] = &a->row[r][t->slot[r]];
	if (max_rate > 0) {
		for (unsigned r = 0; r < ANVIL_ROWS; r++) {
			uint32_t c = rate_bump(s[r], sec);

			est = c < est ? c : est;
		}
		if (est > max_rate) {
			*log = first_refusal(s[0], sec);
			return ANVIL_RATE;
		}
	}
	/*
	 * Sessions are counted even with no limit, so a reload may add one.
	 * The verdict reads the rows again once all are counted: the values
	 * each increment returned are not enough, since two racing clients
	 * can each see the lower count on a different row (one 3 then 4, the
	 * other 4 then 3) and both pass a limit of 3.  Reading after every
	 * increment (sequentially consistent), the last of any set of racers
	 * to read sees all of them, so the limit holds; a race can only
	 * refuse one too many, never admit one.
	 */
	for (unsigned r = 0; r < ANVIL_ROWS; r++)
		atomic_fetch_add_explicit(&s[r]->sessions, 1, memory_order_seq_cst);
	est = UINT32_MAX;
	for (unsigned r = 0; r < ANVIL_ROWS; r++) {
		uint32_t c = atomic_load_explicit(&s[r]->sessions, memory_order_seq_cst);

		est = c < est ? c : est;
	}
	if (max_sessions > 0 && est > max_sessions) {
		for (unsigned r = 0; r < ANVIL_ROWS; r++)
			atomic_fetch_sub_explicit(&s[r]->sessions, 1, memory_order_relaxed);
		*log = first_refusal(s[0], sec);
		return ANVIL_SESSIONS;
	}
	t->held = true;
	return ANVIL_OK;
}

void
anvil_leave(struct anvil *a, struct anvil_ticket *t)
{
	if (a == NULL || !t->held)
		return;
	for (unsigned r = 0; r < ANVIL_ROWS; r++)
		atomic_fetch_sub_explicit(&a->row[r][t->slot[r]].sessions, 1,
					  memory_order_relaxed);
	t->held = false;
}

uint32_t
anvil_sessions(struct anvil *a, const struct sockaddr *addr)
{
	uint32_t slot[ANVIL_ROWS], est = UINT32_MAX;
	uint64_t tag, val;

	if (!anvil_client(addr, &tag, &val))
		return 0;
	anvil_slots(a, tag, val, slot);
	for (unsigned r = 0; r < ANVIL_ROWS; r++) {
		uint32_t c = atomic_load_explicit(&a->row[r][slot[r]].sessions,
						  memory_order_relaxed);

		est = c < est ? c : est;
	}
	return est;
}
