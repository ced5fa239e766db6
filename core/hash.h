/*
 * hash — what the tree's hash tables share: FNV-1a for names, a 64-bit
 * finaliser for integer keys and for the low bits that index a table, the
 * size of an open-addressing table, and the rehash of a chained table when
 * it doubles.
 *
 * The tables themselves stay with their owners, each shaped for its use:
 * the config's name tables (core/config_parse.c), the tenant index
 * (core/tenant/tenant.c), the recipient directory (core/tenant/directory.c,
 * its own wyhash-style hash with case folding), the spool's recovery table
 * (queue/spool.c) and the queue's messages and destinations (queue/queue.c).
 * The hashes are unkeyed: a table whose keys an outsider could choose in
 * bulk wants a keyed hash instead (net/anvil.c keys its rows per process).
 *
 * Pure functions and a macro; any thread.
 */
#ifndef SLUICE_CORE_HASH_H
#define SLUICE_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/xalloc.h"

/* FNV-1a, 64 bits: the start value and one byte more. */
#define HASH_FNV1A_INIT	UINT64_C(0xcbf29ce484222325)

static inline uint64_t
hash_fnv1a_add(uint64_t h, unsigned char c)
{
	return (h ^ c) * UINT64_C(0x100000001b3);
}

/* FNV-1a of len bytes at p. */
static inline uint64_t
hash_fnv1a(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint64_t h = HASH_FNV1A_INIT;

	for (size_t i = 0; i < len; i++)
		h = hash_fnv1a_add(h, s[i]);
	return h;
}

/*
 * Spread every bit of h into the low bits (the first half of MurmurHash3's
 * finaliser): for sequential ids, and for FNV-1a, whose low bits alone are
 * weak, before masking with a power-of-two table size.
 */
static inline uint64_t
hash_mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= UINT64_C(0xff51afd7ed558ccd);
	return h ^ (h >> 33);
}

/*
 * Slots of an open-addressing table for n entries, kept at most half full
 * so that linear probing stays short and always finds an empty slot: the
 * smallest power of two >= 2n and >= min (a power of two).  The caller
 * bounds n (2n must not overflow).
 */
static inline size_t
hash_slots(size_t n, size_t min)
{
	size_t cap = min;

	while (cap < 2 * n)
		cap *= 2;
	return cap;
}

/*
 * Rehash a chained table into nnew buckets (a power of two): tab is an
 * array of nold head pointers (NULL when nold is 0), the entries link
 * through their member `link`, and HASH(e) is entry e's hash.  tab is freed
 * and replaced; the new array comes from xmalloc (out of memory aborts)
 * and is zeroed by writing it: calloc's fresh pages would be the kernel's
 * zero page, and the first push into each (a read, then a write) would
 * take a copy-on-write fault and a TLB shootdown per 4 KiB.
 * Each entry is pushed at the head of its new chain.
 */
#define HASH_CHAIN_REHASH(tab, nold, nnew, link, HASH)				\
	do {									\
		__typeof__(tab) hcr_new = xmalloc((nnew) * sizeof(*hcr_new));	\
										\
		memset(hcr_new, 0, (nnew) * sizeof(*hcr_new));			\
		for (size_t hcr_i = 0; hcr_i < (size_t)(nold); hcr_i++) {	\
			__typeof__(*hcr_new) hcr_e = (tab)[hcr_i], hcr_next;	\
										\
			for (; hcr_e != NULL; hcr_e = hcr_next) {		\
				size_t hcr_b = (size_t)HASH(hcr_e) &		\
					       ((size_t)(nnew) - 1);		\
										\
				hcr_next = hcr_e->link;				\
				hcr_e->link = hcr_new[hcr_b];			\
				hcr_new[hcr_b] = hcr_e;				\
			}							\
		}								\
		free(tab);							\
		(tab) = hcr_new;						\
	} while (0)

#endif
