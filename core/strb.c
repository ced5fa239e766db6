/*
 * strb — the appenders: each clamps to the room left and records a cut.
 */
#include "core/strb.h"

#include <stdio.h>
#include <string.h>

/*
 * Drop an incomplete UTF-8 sequence from the end of p[0..len): walk back over
 * at most three continuation bytes to a lead byte and keep the sequence only
 * if all the bytes its lead announces are there.  Returns the new length.
 */
static size_t
utf8_whole(const char *p, size_t len)
{
	size_t i = len, need;
	unsigned char c;

	while (i > 0 && len - i < 4 && ((unsigned char)p[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return len;
	c = (unsigned char)p[i - 1];
	if (c < 0xC0)
		return len;	/* ASCII (or a stray continuation): nothing open */
	need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
	return len - (i - 1) < need ? i - 1 : len;
}

/* After a cut: no half character at the end. */
static void
strb_cut(struct strb *sb)
{
	sb->trunc = true;
	sb->len = utf8_whole(sb->p, sb->len);
	sb->p[sb->len] = '\0';
}

void
strb_vprintf(struct strb *sb, const char *fmt, va_list ap)
{
	size_t room = sb->cap - sb->len;
	int n = vsnprintf(sb->p + sb->len, room, fmt, ap);

	if (n < 0) {		/* encoding error: keep what was there */
		sb->p[sb->len] = '\0';
		sb->trunc = true;
		return;
	}
	if ((size_t)n >= room) {
		sb->len = sb->cap - 1;
		strb_cut(sb);
	} else {
		sb->len += (size_t)n;
	}
}

void
strb_printf(struct strb *sb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	strb_vprintf(sb, fmt, ap);
	va_end(ap);
}

void
strb_putn(struct strb *sb, const char *s, size_t n)
{
	size_t room = sb->cap - 1 - sb->len;

	memcpy(sb->p + sb->len, s, n > room ? room : n);
	sb->len += n > room ? room : n;
	sb->p[sb->len] = '\0';
	if (n > room)
		strb_cut(sb);
}

void
strb_mark_cut(struct strb *sb, const char *mark)
{
	size_t m = strlen(mark);

	if (!sb->trunc)
		return;
	if (sb->len + m > sb->cap - 1)
		sb->len = utf8_whole(sb->p, sb->cap - 1 - m);
	memcpy(sb->p + sb->len, mark, m + 1);
	sb->len += m;
}

void
strb_puts(struct strb *sb, const char *s)
{
	strb_putn(sb, s, strlen(s));
}
