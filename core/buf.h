/*
 * buf — a growable byte buffer (pointer, length, capacity).
 *
 * Not thread-safe; owned by whoever embeds it.  Growth doubles, so appends
 * are amortised O(1).  Allocation failure aborts the process: out of memory
 * on a mail relay is not a condition a session can answer sensibly, and
 * half-built replies are worse.
 */
#ifndef SLUICE_CORE_BUF_H
#define SLUICE_CORE_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *p;	/* bytes, NULL until the first append */
	size_t len;	/* bytes in use */
	size_t cap;	/* bytes allocated */
};

/* Make room for at least n more bytes after len. */
void buf_reserve(struct buf *b, size_t n);

/* Append n bytes. */
static inline void
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n == 0)		/* p may be NULL then: memcpy must not see it */
		return;
	if (b->cap - b->len < n)
		buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Append a NUL-terminated string (without the NUL). */
static inline void
buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

/* Append printf-formatted text. */
void buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Drop the first n bytes, moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);

/* Release the memory; the buf is empty and reusable afterwards. */
void buf_free(struct buf *b);

#endif
