/*
 * tenant — sharded sliding-window counters and the tenant table (see
 * tenant.h for the window's definition and the threading rules).
 *
 * Job: make counting an event cost one load and one store on the calling
 * worker's own cache line, and make reading the window a lock-free sum.
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
 * and never see a torn word.
 *
 * Two words ahead of the ring, in the shard's first cache line, cache the
 * last full sum for tenant_over_quota(); only the owner touches them.
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
	SHARD_CACHE_NOW,	/* `now` of the cached sum, UINT64_MAX: none */
	SHARD_CACHE_SUM,	/* window sum at that now, plus own events
				   counted since */
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
		atomic_init(&shard(c, w)[SHARD_CACHE_NOW], UINT64_MAX);
	*out = c;
	return 0;
}

void
tenant_counter_free(struct tenant_counter *c)
{
	free(c);
}

void
tenant_count_add(struct tenant_counter *c, unsigned worker, uint64_t now,
		 uint32_t n)
{
	_Atomic uint64_t *s, *b;
	uint64_t k, v, count;

	if (worker >= c->workers)
		return;
	s = shard(c, worker);
	k = (uint32_t)(now / c->win.bucket_secs);
	b = &s[SHARD_RING + (now / c->win.bucket_secs) % c->win.buckets];
	v = atomic_load_explicit(b, memory_order_relaxed);
	count = (v >> 32) == k ? (uint32_t)v : 0;
	count += n;
	if (count > UINT32_MAX)
		count = UINT32_MAX;
	atomic_store_explicit(b, k << 32 | count, memory_order_relaxed);
	/* Keep the cached sum honest about our own events.  Owner only, so
	   relaxed load and store again. */
	if (atomic_load_explicit(&s[SHARD_CACHE_NOW], memory_order_relaxed) ==
	    now)
		atomic_store_explicit(&s[SHARD_CACHE_SUM],
			atomic_load_explicit(&s[SHARD_CACHE_SUM],
					     memory_order_relaxed) + n,
			memory_order_relaxed);
}

uint64_t
tenant_count_sum(const struct tenant_counter *c, uint64_t now)
{
	uint32_t cur = (uint32_t)(now / c->win.bucket_secs);
	uint32_t nb = c->win.buckets;
	uint64_t sum = 0;

	for (unsigned w = 0; w < c->workers; w++) {
		const _Atomic uint64_t *ring = shard(c, w) + SHARD_RING;

		for (uint32_t i = 0; i < nb; i++) {
			uint64_t v = atomic_load_explicit(&ring[i],
							  memory_order_relaxed);

			/* Inside the window: cur - (nb - 1) <= k <= cur. */
			if ((uint32_t)(cur - (uint32_t)(v >> 32)) < nb)
				sum += (uint32_t)v;
		}
	}
	return sum;
}

bool
tenant_over_quota(struct tenant_counter *c, unsigned worker, uint64_t now,
		  uint64_t quota)
{
	_Atomic uint64_t *s;
	uint64_t sum;

	if (quota == 0)
		return false;
	if (worker >= c->workers)
		return tenant_count_sum(c, now) >= quota;
	s = shard(c, worker);
	if (atomic_load_explicit(&s[SHARD_CACHE_NOW], memory_order_relaxed) ==
	    now) {
		sum = atomic_load_explicit(&s[SHARD_CACHE_SUM],
					   memory_order_relaxed);
	} else {
		sum = tenant_count_sum(c, now);
		atomic_store_explicit(&s[SHARD_CACHE_SUM], sum,
				      memory_order_relaxed);
		atomic_store_explicit(&s[SHARD_CACHE_NOW], now,
				      memory_order_relaxed);
	}
	return sum >= quota;
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
