/*
 * crc32c — hardware path (SSE4.2, 8 bytes per instruction) and a
 * byte-at-a-time table path for CPUs without it.  Both compute the same
 * reflected polynomial 0x82F63B78 with the usual pre/post inversion.
 *
 * Only the hardware function is compiled for SSE4.2 (a target attribute,
 * not -msse4.2 for the whole build), and only on x86-64: the rest of the
 * tree builds for any architecture, which gets the table path.
 */
#include "queue/crc32c.h"

#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HW 1
#endif

static uint32_t crc32c_table[256];
static int crc32c_have_hw;	/* set once before main(), read-only after */

/* Runs before main(), so no thread ever races on the table or the flag. */
__attribute__((constructor)) static void
crc32c_init(void)
{
#ifdef CRC32C_HW
	/* a constructor may run before libgcc's own: initialise explicitly */
	__builtin_cpu_init();
	crc32c_have_hw = __builtin_cpu_supports("sse4.2");
#endif
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		crc32c_table[i] = c;
	}
}

static uint32_t
crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
	while (n--)
		crc = crc32c_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

#ifdef CRC32C_HW
__attribute__((target("sse4.2"))) static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		n -= 8;
	}
	crc = (uint32_t)c;
	while (n--)
		crc = _mm_crc32_u8(crc, *p++);
	return crc;
}
#else
#define crc32c_hw crc32c_sw	/* never called: crc32c_have_hw stays 0 */
#endif

uint32_t
crc32c(uint32_t crc, const void *p, size_t n)
{
	crc = ~crc;
	crc = crc32c_have_hw ? crc32c_hw(crc, p, n) : crc32c_sw(crc, p, n);
	return ~crc;
}
