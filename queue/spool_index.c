/*
 * spool_index — recovery's table of the live messages: id -> the message's
 * envelope and MSG record place, built while the segments are walked and
 * handed to the queue at the end.  Pure memory, no I/O; used only by
 * spool_recover on the owning worker's thread.
 *
 * Shaped for a spool of a million messages: the messages sit in one dense
 * array in the order their records were found (so the hand-over walks it
 * in spool order, which is id order, and the queue gets them oldest
 * first), and the hash table holds only 16-byte slots {id, index}, half
 * full at most, rebuilt from the dense array when it fills.
 *
 * Both are mappings of their own, asked for in transparent huge pages
 * (MADV_HUGEPAGE; the system default here is "madvise"): a million
 * messages' slots are 32 MiB written at random, and in 4 KiB pages every
 * insert missed the TLB and every new page took a fault (and, for pages
 * the zero page was mapped into by a probe's read, a copy-on-write fault
 * with a TLB shootdown); that was over a second of CPU.  The array grows
 * by mremap, without copying.  Without huge pages it all still works, in
 * small pages.
 */
#include "queue/spool_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "core/hash.h"

#define INDEX_TOMB UINT64_MAX	/* a slot whose message was dropped */
#define INDEX_MIN_SLOTS 1024u

/* n bytes of zeroed memory in a mapping of its own (huge pages asked
 * for), or grown from old (oldn bytes) keeping its contents; NULL when
 * out of memory. */
static void *
map_grow(void *old, size_t oldn, size_t n)
{
	void *p = old != NULL ? mremap(old, oldn, n, MREMAP_MAYMOVE)
			      : mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				     -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n, MADV_HUGEPAGE);	/* advice: fine if refused */
	return p;
}

static size_t
slot_of(const struct spool_index *x, uint64_t id)
{
	return (size_t)hash_mix64(id) & (x->nslots - 1);
}

/* Rebuild the slots for the messages still live, with room for one more,
 * and close the gaps the dropped ones left in the array (order kept), so
 * a spool of mostly finished mail costs memory for its live messages. */
static int
index_rehash(struct spool_index *x)
{
	size_t n = hash_slots(x->live + 1, INDEX_MIN_SLOTS);
	struct spool_index_slot *s = map_grow(NULL, 0, n * sizeof(*s));

	if (s == NULL)
		return -ENOMEM;
	if (x->slot != NULL)
		munmap(x->slot, x->nslots * sizeof(*x->slot));
	x->slot = s;
	x->nslots = n;
	x->used = 0;
	size_t j = 0;
	for (size_t i = 0; i < x->n; i++) {
		if (x->m[i].env == NULL)
			continue;
		x->m[j] = x->m[i];
		size_t k = slot_of(x, x->m[j].id);
		while (x->slot[k].id != 0)
			k = (k + 1) & (n - 1);
		x->slot[k] = (struct spool_index_slot){ x->m[j].id, (uint32_t)j };
		x->used++;
		j++;
	}
	x->n = j;
	return 0;
}

void
spool_index_prefetch(const struct spool_index *x, uint64_t id)
{
	if (x->nslots != 0)
		__builtin_prefetch(&x->slot[slot_of(x, id)], 1);
}

struct spool_index_msg *
spool_index_find(struct spool_index *x, uint64_t id)
{
	if (x->nslots == 0 || id == 0 || id == INDEX_TOMB)
		return NULL;
	for (size_t k = slot_of(x, id);; k = (k + 1) & (x->nslots - 1)) {
		if (x->slot[k].id == id)
			return &x->m[x->slot[k].idx];
		if (x->slot[k].id == 0)
			return NULL;
	}
}

int
spool_index_add(struct spool_index *x, uint64_t id, struct envelope *env,
		const struct spool_loc *loc)
{
	size_t k;

	if (id == 0 || id == INDEX_TOMB || env == NULL || x->n >= UINT32_MAX)
		return -EINVAL;
	/* ids grow as a worker writes, so a new message's id is usually above
	   every id seen: then it cannot be live already, and the lookup (a
	   cache miss in a table of a million) is skipped */
	if (id <= x->max_id && spool_index_find(x, id) != NULL)
		return -EEXIST;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : INDEX_MIN_SLOTS;
		struct spool_index_msg *m = map_grow(x->m, x->cap * sizeof(*m),
						     cap * sizeof(*m));
		if (m == NULL)
			return -ENOMEM;
		x->m = m;
		x->cap = cap;
	}
	if ((x->used + 1) * 2 > x->nslots) {	/* half full: tombs count too */
		int rc = index_rehash(x);
		if (rc < 0)
			return rc;
	}
	for (k = slot_of(x, id); x->slot[k].id != 0 && x->slot[k].id != INDEX_TOMB;
	     k = (k + 1) & (x->nslots - 1))
		;
	if (x->slot[k].id == 0)
		x->used++;
	x->slot[k] = (struct spool_index_slot){ id, (uint32_t)x->n };
	x->m[x->n++] = (struct spool_index_msg){ id, env, *loc };
	x->live++;
	if (id > x->max_id)
		x->max_id = id;
	return 0;
}

void
spool_index_drop(struct spool_index *x, struct spool_index_msg *e)
{
	for (size_t k = slot_of(x, e->id);; k = (k + 1) & (x->nslots - 1))
		if (x->slot[k].id == e->id) {
			x->slot[k].id = INDEX_TOMB;	/* keeps later probes going */
			break;
		}
	free(e->env);
	e->env = NULL;
	x->live--;
}

void
spool_index_fini(struct spool_index *x)
{
	for (size_t i = 0; i < x->n; i++)
		free(x->m[i].env);
	if (x->m != NULL)
		munmap(x->m, x->cap * sizeof(*x->m));
	if (x->slot != NULL)
		munmap(x->slot, x->nslots * sizeof(*x->slot));
	memset(x, 0, sizeof(*x));
}
