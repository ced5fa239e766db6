/*
 * hash_test — unit tests of core/hash.h: FNV-1a against the published test
 * vectors, the finaliser, open-addressing sizes, and a chained table that
 * doubles several times without losing or misplacing an entry.
 */
#include "core/hash.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

Test(hash, fnv1a_test_vectors)
{
	/* Landon Curt Noll's FNV-1a 64-bit vectors. */
	static const struct {
		const char *s;
		uint64_t h;
	} v[] = {
		{ "", UINT64_C(0xcbf29ce484222325) },
		{ "a", UINT64_C(0xaf63dc4c8601ec8c) },
		{ "foobar", UINT64_C(0x85944171f73967e8) },
	};

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		cr_expect_eq(hash_fnv1a(v[i].s, strlen(v[i].s)), v[i].h, "%s", v[i].s);
}

Test(hash, fnv1a_add_is_the_same_walk)
{
	const char *s = "sluice.example";
	uint64_t h = HASH_FNV1A_INIT;

	for (size_t i = 0; s[i]; i++)
		h = hash_fnv1a_add(h, (unsigned char)s[i]);
	cr_expect_eq(h, hash_fnv1a(s, strlen(s)));
}

Test(hash, mix64_spreads_sequential_ids)
{
	uint64_t seen = 0;
	unsigned used = 0;

	cr_expect_eq(hash_mix64(0), 0);
	/* consecutive ids, masked to 64 buckets, spread over most of them */
	for (uint64_t id = 1000; id < 1032; id++)
		seen |= UINT64_C(1) << (hash_mix64(id) & 63);
	for (; seen != 0; seen &= seen - 1)
		used++;
	cr_expect_gt(used, 16, "%u buckets", used);
}

Test(hash, slots_half_full_power_of_two)
{
	cr_expect_eq(hash_slots(0, 16), 16);
	cr_expect_eq(hash_slots(8, 16), 16);
	cr_expect_eq(hash_slots(9, 16), 32);
	cr_expect_eq(hash_slots(1, 8), 8);
	cr_expect_eq(hash_slots(5, 8), 16);
	cr_expect_eq(hash_slots(1000000, 8), 2097152);
	for (size_t n = 0; n < 5000; n += 7) {
		size_t s = hash_slots(n, 8);

		cr_assert_eq(s & (s - 1), 0, "%zu for %zu", s, n);
		cr_assert_geq(s, 2 * n);
		cr_assert(s == 8 || s / 2 < 2 * n, "%zu for %zu", s, n);
	}
}

/* An entry of a chained table keyed by an integer. */
struct entry {
	uint64_t key;		/* what it is found by */
	struct entry *next;	/* chain */
};

static uint64_t
entry_hash(const struct entry *e)
{
	return hash_mix64(e->key);
}

Test(hash, chain_rehash_keeps_every_entry_in_its_bucket)
{
	enum { N = 3000 };
	struct entry *e = calloc(N, sizeof(*e));
	struct entry **tab = NULL;
	size_t nb = 0, n = 0;

	cr_assert_not_null(e);
	for (size_t i = 0; i < N; i++) {
		if ((n + 1) * 2 > nb) {
			size_t nn = nb ? nb * 2 : 4;

			HASH_CHAIN_REHASH(tab, nb, nn, next, entry_hash);
			nb = nn;
		}
		e[i].key = i * 7919;
		e[i].next = tab[entry_hash(&e[i]) & (nb - 1)];
		tab[entry_hash(&e[i]) & (nb - 1)] = &e[i];
		n++;
	}
	cr_expect_eq(nb, 8192);
	n = 0;
	for (size_t b = 0; b < nb; b++)
		for (struct entry *x = tab[b]; x != NULL; x = x->next) {
			cr_assert_eq(entry_hash(x) & (nb - 1), b);
			n++;
		}
	cr_expect_eq(n, N);
	free(tab);
	free(e);
}
