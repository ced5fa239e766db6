/*
 * crc32c tests: the published check values, and every length and
 * alignment against a bit-at-a-time reference, so the hardware path (its
 * 8-byte loop and its tail) and the table path agree with the polynomial.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "queue/crc32c.h"

/* One bit at a time, straight from the definition (reflected 0x1EDC6F41). */
static uint32_t
ref_crc32c(const unsigned char *p, size_t n)
{
	uint32_t c = 0xffffffffu;

	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
	}
	return ~c;
}

Test(crc32c, check_values)
{
	unsigned char zeros[32] = { 0 }, ones[32];

	memset(ones, 0xff, sizeof(ones));
	/* RFC 3720 B.4 and the CRC catalogue's check value */
	cr_expect_eq(crc32c(0, "123456789", 9), 0xE3069283u);
	cr_expect_eq(crc32c(0, zeros, sizeof(zeros)), 0x8A9136AAu);
	cr_expect_eq(crc32c(0, ones, sizeof(ones)), 0x62A8AB43u);
	cr_expect_eq(crc32c(0, "", 0), 0u);
}

Test(crc32c, lengths_alignments_and_chaining)
{
	unsigned char buf[200];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	for (size_t off = 0; off < 8; off++) {
		for (size_t n = 0; n + off <= sizeof(buf); n++) {
			uint32_t want = ref_crc32c(buf + off, n);
			size_t cut = n / 3;

			cr_assert_eq(crc32c(0, buf + off, n), want, "off %zu len %zu", off, n);
			cr_assert_eq(crc32c(crc32c(0, buf + off, cut), buf + off + cut, n - cut),
				     want, "chained at %zu, off %zu len %zu", cut, off, n);
		}
	}
}
