/*
 * strb — text built into a fixed array: always NUL-terminated, never written
 * past its end, and a truncation is remembered instead of wrapping a length.
 *
 * This replaces the `n += snprintf(p + n, size - n, ...)` idiom, which goes
 * wrong the moment one call is truncated (snprintf returns the length it
 * wanted, n passes size, size - n wraps to a huge size_t and the next call
 * writes past the array) and which leaves the array unterminated when no
 * call happens at all.  `scripts/lint.sh` refuses that idiom in the tree.
 *
 * A cut never leaves half a UTF-8 character at the end: the text stays
 * valid UTF-8 if what was appended was (a terminal or a JSON encoder would
 * otherwise choke on the stray lead byte).
 *
 * Not thread-safe; the array and the strb belong to the caller.
 */
#ifndef SLUICE_CORE_STRB_H
#define SLUICE_CORE_STRB_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

struct strb {
	char *p;	/* the caller's array, always NUL-terminated */
	size_t cap;	/* its size in bytes (> 0) */
	size_t len;	/* characters in use, always < cap */
	bool trunc;	/* something did not fit */
};

/* Start an empty string in p[0..cap); cap must be at least 1. */
static inline void
strb_init(struct strb *sb, char *p, size_t cap)
{
	sb->p = p;
	sb->cap = cap;
	sb->len = 0;
	sb->trunc = false;
	p[0] = '\0';
}

/* Declare a local array of n bytes and a strb named sb over it. */
#define STRB_LOCAL(sb, n) \
	char sb##_mem[n]; struct strb sb; strb_init(&sb, sb##_mem, sizeof(sb##_mem))

/* Append printf-formatted text, cut at the end of the array. */
void strb_printf(struct strb *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void strb_vprintf(struct strb *sb, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* Append n bytes (or a string), cut at the end of the array. */
void strb_putn(struct strb *sb, const char *s, size_t n);
void strb_puts(struct strb *sb, const char *s);

/*
 * If something was cut, end the text with mark (e.g. "..."), cutting more
 * (on a character boundary) to make room for it.  mark must fit in cap - 1.
 */
void strb_mark_cut(struct strb *sb, const char *mark);

/* Forget the contents; the array stays the caller's. */
static inline void
strb_reset(struct strb *sb)
{
	sb->len = 0;
	sb->trunc = false;
	sb->p[0] = '\0';
}

#endif
