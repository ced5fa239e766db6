/*
 * siphash — SipHash-2-4 (Aumasson and Bernstein, "SipHash: a fast
 * short-input PRF", 2012): a keyed 64-bit MAC.  The spool seals every
 * record with it, so nothing but the holder of the spool's key can write
 * bytes that recovery takes for a record.
 *
 * Not a checksum for trusted data (queue/crc32c.h is faster for that) and
 * not a hash table's hash.  Pure; any thread.
 */
#ifndef SLUICE_QUEUE_SIPHASH_H
#define SLUICE_QUEUE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_SIZE 16

/* SipHash-2-4 of n bytes at p under the 128-bit key; the tag as an integer. */
uint64_t siphash24(const uint8_t key[SIPHASH_KEY_SIZE], const void *p, size_t n);

#endif
