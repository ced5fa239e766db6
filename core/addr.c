/*
 * addr — the scanners of core/addr.h: one definition of what a local part
 * and a domain may hold, for the SMTP parser and the tenant directory.
 * Each walks its bytes once; none allocates, copies or folds case.
 */
#include "core/addr.h"

#define LETDIG	(ADDR_C_ATEXT | ADDR_C_LETDIG)

const unsigned char addr_class[256] = {
	['0' ... '9'] = LETDIG, ['A' ... 'Z'] = LETDIG, ['a' ... 'z'] = LETDIG,
	['!'] = ADDR_C_ATEXT, ['#'] = ADDR_C_ATEXT, ['$'] = ADDR_C_ATEXT,
	['%'] = ADDR_C_ATEXT, ['&'] = ADDR_C_ATEXT, ['\''] = ADDR_C_ATEXT,
	['*'] = ADDR_C_ATEXT, ['+'] = ADDR_C_ATEXT, ['-'] = ADDR_C_ATEXT,
	['/'] = ADDR_C_ATEXT, ['='] = ADDR_C_ATEXT, ['?'] = ADDR_C_ATEXT,
	['^'] = ADDR_C_ATEXT, ['_'] = ADDR_C_ATEXT, ['`'] = ADDR_C_ATEXT,
	['{'] = ADDR_C_ATEXT, ['|'] = ADDR_C_ATEXT, ['}'] = ADDR_C_ATEXT,
	['~'] = ADDR_C_ATEXT,
};

static inline void
saw_eight(bool *eight)
{
	if (eight != NULL)
		*eight = true;
}

size_t
addr_scan_dot_string(const char *p, size_t n, bool *eight)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (i == 0 || p[i - 1] == '.')
				return 0;
		} else if (c >= 0x80) {
			saw_eight(eight);
		} else if (!addr_is_atext(c)) {
			break;
		}
	}
	if (i == 0 || p[i - 1] == '.')
		return 0;
	return i;
}

size_t
addr_scan_quoted(const char *p, size_t n, bool *eight)
{
	if (n == 0 || p[0] != '"')
		return 0;
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '"')
			return i + 1;
		if (c == '\\') {
			/* quoted-pairSMTP: never a control byte, DEL or an
			 * 8-bit byte after the backslash */
			if (++i >= n || (unsigned char)p[i] < 32 || (unsigned char)p[i] > 126)
				return 0;
			continue;
		}
		if (c < 32 || c == 127)
			return 0;
		if (c >= 0x80)
			saw_eight(eight);
	}
	return 0;	/* no closing quote */
}

size_t
addr_scan_local(const char *p, size_t n, bool *eight)
{
	if (n > 0 && p[0] == '"')
		return addr_scan_quoted(p, n, eight);
	return addr_scan_dot_string(p, n, eight);
}

size_t
addr_scan_domain(const char *p, size_t n, bool *eight)
{
	size_t i, label = 0;

	if (n > 0 && p[0] == '[') {
		for (i = 1; i < n && p[i] != ']'; i++) {
			unsigned char c = (unsigned char)p[i];

			if (c <= ' ' || c >= 127 || c == '[' || c == '\\')
				return 0;
		}
		return i < n && i >= 3 ? i + 1 : 0;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '.') {
			if (label == 0 || p[i - 1] == '-')
				return 0;
			label = 0;
		} else if (addr_is_let_dig(c) || c >= 0x80 || (c == '-' && label > 0)) {
			if (c >= 0x80)
				saw_eight(eight);
			if (++label > 63)
				return 0;
		} else {
			break;
		}
	}
	if (label == 0 || p[i - 1] == '-')
		return 0;
	return i;
}
