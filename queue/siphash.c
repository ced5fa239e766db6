/*
 * siphash — SipHash-2-4 written from the paper's description: the key's
 * two little-endian words initialise four 64-bit lanes XORed with the
 * constants "somepseudorandomlygeneratedbytes"; every 8-byte little-endian
 * message word m is absorbed as v3 ^= m, two SipRounds, v0 ^= m; the last
 * word carries the leftover bytes and the length mod 256 in its top byte;
 * then v2 ^= 0xff, four SipRounds, and the tag is v0 ^ v1 ^ v2 ^ v3.
 */
#include "queue/siphash.h"

#include <endian.h>
#include <string.h>

static inline uint64_t
rotl(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

static inline uint64_t
load_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

struct sip {
	uint64_t v0, v1, v2, v3;	/* the four lanes */
};

static inline void
sip_round(struct sip *s)
{
	s->v0 += s->v1;
	s->v1 = rotl(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = rotl(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = rotl(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = rotl(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = rotl(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = rotl(s->v2, 32);
}

static inline void
sip_absorb(struct sip *s, uint64_t m)
{
	s->v3 ^= m;
	sip_round(s);
	sip_round(s);
	s->v0 ^= m;
}

uint64_t
siphash24(const uint8_t key[SIPHASH_KEY_SIZE], const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t k0 = load_le64(key), k1 = load_le64(key + 8), last;
	struct sip s = {
		k0 ^ 0x736f6d6570736575ull, k1 ^ 0x646f72616e646f6dull,
		k0 ^ 0x6c7967656e657261ull, k1 ^ 0x7465646279746573ull,
	};
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		sip_absorb(&s, load_le64(b + i));
	last = (uint64_t)(n & 0xff) << 56;
	for (unsigned k = 0; i + k < n; k++)
		last |= (uint64_t)b[i + k] << (8 * k);
	sip_absorb(&s, last);
	s.v2 ^= 0xff;
	for (int r = 0; r < 4; r++)
		sip_round(&s);
	return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}
