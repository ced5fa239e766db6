/*
 * tenant — sharded sliding-window counters and the tenant table (see
 * tenant.h for the window's definition and the threading rules).
 *
 * Job: make counting an event cost one load and one store on the calling
 * worker's own cache line (and a fence), make reading the window a
 * lock-free sum, and make the quota check a few loads that see every
 * worker's events.
 *
 * Not for: anything with I/O or a clock.
 *
 * A shard is a ring of `buckets` 64-bit words, bucket k at index
 * k % buckets; each word packs the low 32 bits of k (high half) with the
 * bucket's count (low half).  The writer compares the word's bucket number
 * with the current one: equal, it adds; different, the word belongs to a
 * bucket at least one window old and it starts over from n.  Readers count
 * a word only if its bucket number lies inside their window, so a bucket
 * nobody wrote to for a while simply stops counting: no sweeper, no reset.
 * Bucket numbers are compared modulo 2^32 (136 years of 1-second buckets
 * before they wrap, and then only a bucket untouched for that long could be
 * mistaken for a current one).
 *
 * Why no atomic read-modify-write: only the owner writes a shard, so a
 * plain load and store suffice; they are C11 relaxed atomics only so that
 * the concurrent readers are race-free (the language's, and TSan's, sense)
 * and never see a torn word.  The fence after the store is there for the
 * quota check, not for the count: see tenant_count_add().
 *
 * The quota check.  Of the window's buckets, only the newest two can
 * still change under a worker's feet: the current one, and the previous
 * one for a worker that read the clock just before the boundary.  The
 * older ones (the "closed" buckets) change only when the bucket number
 * does.  So each worker keeps, in two words ahead of the ring (the shard's
 * first cache line), the sum over every shard of the closed buckets and
 * the bucket number it is for; a check reads those two words of its own
 * and the newest two bucket words of every shard, live.  Only the owner
 * writes the two words, once per bucket change (and for its own events
 * stamped in a closed bucket, so those are not missed either).
 */
#include "core/tenant/tenant.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"

#define CACHE_LINE	64
#define WORDS_PER_LINE	(CACHE_LINE / sizeof(uint64_t))

/* Layout of a shard: these words, then the bucket ring. */
enum {
	SHARD_CLOSED_AT,	/* bucket number (low 32 bits) that
				   SHARD_CLOSED is for; UINT64_MAX: none */
	SHARD_CLOSED,		/* events of every shard in the window's
				   closed buckets (all but the newest two)
				   at that bucket, plus own events stamped
				   in those buckets since */
	SHARD_RING,		/* index of the first bucket word */
};

struct tenant_counter {
	uint32_t workers;	/* shards */
	uint32_t stride;	/* words per shard, a multiple of 8 */
	struct tenant_window win;	/* the window's shape */
	unsigned refs;		/* tables holding it (main thread only);
				   0 for a counter made on its own */
	/* Then, from offset 64 (CACHE_LINE), workers x stride words. */
	_Alignas(CACHE_LINE) _Atomic uint64_t words[];
};

/* The words of worker w's shard. */
static inline _Atomic uint64_t *
shard(const struct tenant_counter *c, unsigned w)
{
	return (_Atomic uint64_t *)&c->words[(size_t)w * c->stride];
}

static bool
window_ok(unsigned workers, const struct tenant_window *win)
{
	return win != NULL && workers > 0 && workers <= TENANT_MAX_WORKERS &&
	       win->bucket_secs > 0 && win->buckets > 0 &&
	       win->buckets <= TENANT_MAX_BUCKETS;
}

int
tenant_counter_new(unsigned workers, const struct tenant_window *win,
		   struct tenant_counter **out)
{
	struct tenant_counter *c;
	size_t stride, bytes;

	if (!window_ok(workers, win))
		return -EINVAL;
	stride = (SHARD_RING + win->buckets + WORDS_PER_LINE - 1) &
		 ~(WORDS_PER_LINE - 1);
	bytes = sizeof(*c) + (size_t)workers * stride * sizeof(uint64_t);
	c = aligned_alloc(CACHE_LINE, bytes);
	if (c == NULL)
		return -ENOMEM;
	memset(c, 0, bytes);	/* bucket 0 with count 0: harmless */
	c->workers = workers;
	c->stride = (uint32_t)stride;
	c->win = *win;
	c->refs = 0;
	for (unsigned w = 0; w < workers; w++)
		atomic_init(&shard(c, w)[SHARD_CLOSED_AT], UINT64_MAX);
	*out = c;
	return 0;
}

void
tenant_counter_free(struct tenant_counter *c)
{
	free(c);
}

/* How many buckets older than bucket cur the bucket of word v is, modulo
 * 2^32 (huge for a bucket later than cur). */
static inline uint32_t
age(uint32_t cur, uint64_t v)
{
	return cur - (uint32_t)(v >> 32);
}

void
tenant_count_add(struct tenant_counter *c, unsigned worker, uint64_t now,
		 uint32_t n)
{
	_Atomic uint64_t *s, *b;
	uint64_t k, v, count, old, at;
	uint32_t a;

	if (worker >= c->workers)
		return;
	s = shard(c, worker);
	k = (uint32_t)(now / c->win.bucket_secs);
	b = &s[SHARD_RING + (now / c->win.bucket_secs) % c->win.buckets];
	v = atomic_load_explicit(b, memory_order_relaxed);
	old = (v >> 32) == k ? (uint32_t)v : 0;
	count = old + n;
	if (count > UINT32_MAX)
		count = UINT32_MAX;
	atomic_store_explicit(b, k << 32 | count, memory_order_relaxed);
	/* The count is visible to every thread before this worker's next
	   quota check reads the other shards: without it both sides of a
	   race could keep counting on stale views (store buffers), and the
	   overshoot would have no bound (tenant.h: "Slack"). */
	atomic_thread_fence(memory_order_seq_cst);
	/* An event stamped in a closed bucket of our cached sum: keep the
	   sum honest about it.  Owner only, so relaxed load and store. */
	at = atomic_load_explicit(&s[SHARD_CLOSED_AT], memory_order_relaxed);
	a = (uint32_t)at - (uint32_t)k;
	if (at != UINT64_MAX && a >= 2 && a < c->win.buckets)
		atomic_store_explicit(&s[SHARD_CLOSED],
			atomic_load_explicit(&s[SHARD_CLOSED],
					     memory_order_relaxed) +
			(count - old), memory_order_relaxed);
}

/* Events of every shard in the buckets min_age .. buckets - 1 buckets
 * older than cur.  O(workers x buckets) relaxed loads. */
static uint64_t
sum_from_age(const struct tenant_counter *c, uint32_t cur, uint32_t min_age)
{
	uint32_t nb = c->win.buckets;
	uint64_t sum = 0;

	for (unsigned w = 0; w < c->workers; w++) {
		const _Atomic uint64_t *ring = shard(c, w) + SHARD_RING;

		for (uint32_t i = 0; i < nb; i++) {
			uint64_t v = atomic_load_explicit(&ring[i],
							  memory_order_relaxed);
			uint32_t a = age(cur, v);

			if (a >= min_age && a < nb)
				sum += (uint32_t)v;
		}
	}
	return sum;
}

uint64_t
tenant_count_sum(const struct tenant_counter *c, uint64_t now)
{
	return sum_from_age(c, (uint32_t)(now / c->win.bucket_secs), 0);
}

/* Events of every shard in the newest two buckets of the window ending
 * with bucket k (only the newest when the window has one): 2 x workers
 * relaxed loads. */
static uint64_t
sum_live(const struct tenant_counter *c, uint64_t k)
{
	uint32_t nb = c->win.buckets, cur = (uint32_t)k;
	uint32_t i = (uint32_t)(k % nb), prev = i == 0 ? nb - 1 : i - 1;
	uint64_t sum = 0;

	for (unsigned w = 0; w < c->workers; w++) {
		const _Atomic uint64_t *ring = shard(c, w) + SHARD_RING;
		uint64_t v = atomic_load_explicit(&ring[i],
						  memory_order_relaxed);

		if (age(cur, v) == 0)
			sum += (uint32_t)v;
		if (nb < 2)
			continue;
		v = atomic_load_explicit(&ring[prev], memory_order_relaxed);
		if (age(cur, v) == 1)
			sum += (uint32_t)v;
	}
	return sum;
}

bool
tenant_over_quota(struct tenant_counter *c, unsigned worker, uint64_t now,
		  uint64_t quota)
{
	_Atomic uint64_t *s;
	uint64_t k = now / c->win.bucket_secs, closed;
	uint32_t cur = (uint32_t)k;

	if (quota == 0)
		return false;
	if (worker >= c->workers)
		return tenant_count_sum(c, now) >= quota;
	s = shard(c, worker);
	if (atomic_load_explicit(&s[SHARD_CLOSED_AT], memory_order_relaxed) ==
	    cur) {
		closed = atomic_load_explicit(&s[SHARD_CLOSED],
					      memory_order_relaxed);
	} else {
		closed = sum_from_age(c, cur, 2);
		atomic_store_explicit(&s[SHARD_CLOSED], closed,
				      memory_order_relaxed);
		atomic_store_explicit(&s[SHARD_CLOSED_AT], cur,
				      memory_order_relaxed);
	}
	return closed + sum_live(c, k) >= quota;
}

unsigned
tenant_counter_workers(const struct tenant_counter *c)
{
	return c->workers;
}

const struct tenant_window *
tenant_counter_window(const struct tenant_counter *c)
{
	return &c->win;
}

/* ---- the table -------------------------------------------------------- */

struct tenant_table {
	size_t n;			/* tenants */
	char **names;			/* their names, n entries */
	struct tenant_counter **ctrs;	/* their counters, n entries */
	int32_t *index;			/* open addressing: tenant index
					   or -1; mask + 1 entries, at
					   most half in use */
	size_t mask;			/* index entries - 1 */
	unsigned workers;		/* shards per counter */
	struct tenant_window win;	/* window of every counter */
};

/* FNV-1a, 64 bits: names are short and built into the table once. */
static uint64_t
name_hash(const char *s, size_t n)
{
	uint64_t h = hash_fnv1a(s, n);

	return h ^ (h >> 29);
}

int
tenant_table_find(const struct tenant_table *t, const char *name, size_t len)
{
	if (t == NULL || t->n == 0)
		return -ENOENT;
	for (size_t i = (size_t)name_hash(name, len) & t->mask;;
	     i = (i + 1) & t->mask) {
		int32_t x = t->index[i];

		if (x < 0)
			return -ENOENT;
		if (strncmp(t->names[x], name, len) == 0 &&
		    t->names[x][len] == '\0')
			return x;
	}
}

void
tenant_table_free(struct tenant_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->n; i++) {
		free(t->names[i]);
		if (t->ctrs[i] != NULL && --t->ctrs[i]->refs == 0)
			tenant_counter_free(t->ctrs[i]);
	}
	free(t->names);
	free(t->ctrs);
	free(t->index);
	free(t);
}

int
tenant_table_new(const char *const *names, size_t n, unsigned workers,
		 const struct tenant_window *win,
		 const struct tenant_table *prev, struct tenant_table **out,
		 const char **dup)
{
	struct tenant_table *t;
	bool reuse;
	size_t slots;
	int rc;

	if (!window_ok(workers, win) || n > INT32_MAX / 2)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (names[i] == NULL || names[i][0] == '\0')
			return -EINVAL;
	slots = hash_slots(n, 8);
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	t->workers = workers;
	t->win = *win;
	t->mask = slots - 1;
	t->names = calloc(n + 1, sizeof(*t->names));
	t->ctrs = calloc(n + 1, sizeof(*t->ctrs));
	t->index = malloc(slots * sizeof(*t->index));
	if (t->names == NULL || t->ctrs == NULL || t->index == NULL) {
		tenant_table_free(t);
		return -ENOMEM;
	}
	memset(t->index, 0xff, slots * sizeof(*t->index));	/* all -1 */
	reuse = prev != NULL && prev->workers == workers &&
		prev->win.bucket_secs == win->bucket_secs &&
		prev->win.buckets == win->buckets;

	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		int old;

		if (tenant_table_find(t, names[i], len) >= 0) {
			if (dup != NULL)
				*dup = names[i];
			tenant_table_free(t);
			return -EEXIST;
		}
		t->names[i] = strdup(names[i]);
		if (t->names[i] == NULL) {
			tenant_table_free(t);
			return -ENOMEM;
		}
		old = reuse ? tenant_table_find(prev, names[i], len) : -ENOENT;
		if (old >= 0) {
			t->ctrs[i] = prev->ctrs[old];
		} else {
			rc = tenant_counter_new(workers, win, &t->ctrs[i]);
			if (rc < 0) {
				t->n = i + 1;
				tenant_table_free(t);
				return rc;
			}
		}
		t->ctrs[i]->refs++;
		t->n = i + 1;
		for (size_t k = (size_t)name_hash(names[i], len) & t->mask;;
		     k = (k + 1) & t->mask) {
			if (t->index[k] < 0) {
				t->index[k] = (int32_t)i;
				break;
			}
		}
	}
	*out = t;
	return 0;
}

size_t
tenant_table_count(const struct tenant_table *t)
{
	return t == NULL ? 0 : t->n;
}

const char *
tenant_table_name(const struct tenant_table *t, size_t idx)
{
	return t->names[idx];
}

struct tenant_counter *
tenant_table_counter(const struct tenant_table *t, size_t idx)
{
	return t->ctrs[idx];
}

unsigned
tenant_table_workers(const struct tenant_table *t)
{
	return t->workers;
}

const struct tenant_window *
tenant_table_window(const struct tenant_table *t)
{
	return &t->win;
}
