/*
 * utf8 — the decoder behind utf8_seq: Unicode's table 3-7 of well-formed
 * byte sequences, where the second byte's range depends on the first (that
 * is what rules out overlongs, surrogates and code points past U+10FFFF).
 */
#include "core/utf8.h"

size_t
utf8_seq(const char *p, size_t n, uint32_t *cp)
{
	const unsigned char *s = (const unsigned char *)p;
	unsigned char lo = 0x80, hi = 0xBF;
	size_t len;
	uint32_t c;

	if (n == 0)
		return 0;
	if (s[0] < 0x80) {
		len = 1;
		c = s[0];
		goto out;
	}
	if (s[0] >= 0xC2 && s[0] <= 0xDF) {
		len = 2;
		c = s[0] & 0x1F;
	} else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
		len = 3;
		c = s[0] & 0x0F;
		if (s[0] == 0xE0)
			lo = 0xA0;	/* below: overlong */
		else if (s[0] == 0xED)
			hi = 0x9F;	/* above: surrogates */
	} else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
		len = 4;
		c = s[0] & 0x07;
		if (s[0] == 0xF0)
			lo = 0x90;	/* below: overlong */
		else if (s[0] == 0xF4)
			hi = 0x8F;	/* above: past U+10FFFF */
	} else {
		return 0;	/* continuation byte, C0, C1, F5..FF */
	}
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	c = (c << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < len; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
		c = (c << 6) | (s[i] & 0x3F);
	}
out:
	if (cp != NULL)
		*cp = c;
	return len;
}

bool
utf8_valid(const char *p, size_t n)
{
	size_t i = 0, k;

	while (i < n) {
		if ((unsigned char)p[i] < 0x80) {	/* the common case */
			i++;
			continue;
		}
		k = utf8_seq(p + i, n - i, NULL);
		if (k == 0)
			return false;
		i += k;
	}
	return true;
}
