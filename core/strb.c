/*
 * strb — the appenders: each clamps to the room left and records a cut.
 */
#include "core/strb.h"

#include <stdio.h>
#include <string.h>

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
		sb->trunc = true;
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

	if (n > room) {
		n = room;
		sb->trunc = true;
	}
	memcpy(sb->p + sb->len, s, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

void
strb_puts(struct strb *sb, const char *s)
{
	strb_putn(sb, s, strlen(s));
}
