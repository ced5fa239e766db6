/*
 * crc32c — CRC-32C (Castagnoli), the checksum of a spilled message's body
 * file: computed as it is written (queue/spool_body.c), named by its MSG
 * record, checked when it is read back (queue/spool_read.c).  Records
 * themselves are sealed with SipHash (queue/spool_seal.c), not this.
 * Uses the SSE4.2 crc32 instruction when the CPU has it, a table otherwise.
 * Pure; any thread.
 */
#ifndef SLUICE_QUEUE_CRC32C_H
#define SLUICE_QUEUE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Continue a CRC: start with crc = 0; returns the CRC of everything so far. */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);

#endif
