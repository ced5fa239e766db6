/*
 * xalloc — allocation that does not come back empty-handed: out of memory
 * ends the process with abort() at the allocation, instead of a NULL
 * carried on into the next dereference.
 *
 * For memory a worker or the control thread cannot run without (queue
 * tables, a session's envelope copies, a connection, a control request):
 * there is no smaller answer to give there, and a relay that has run out
 * of memory has stopped serving anyway.  Code that can refuse one thing
 * and go on — loading a config (an error line, the old config stays),
 * building the tenant counters, spool recovery — checks malloc's NULL
 * itself and does not use these.
 *
 * A zero size still gives a pointer that free() accepts, never NULL.
 * Sizes are not checked for overflow: callers pass counts they bound.
 * Any thread (they only call the allocator).
 */
#ifndef SLUICE_CORE_XALLOC_H
#define SLUICE_CORE_XALLOC_H

#include <stdlib.h>
#include <string.h>

/* malloc(size), never NULL. */
__attribute__((malloc, returns_nonnull))
static inline void *
xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

/* calloc(n, size): zeroed, never NULL. */
__attribute__((malloc, returns_nonnull))
static inline void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		abort();
	return p;
}

/* realloc(p, size), never NULL; p may be NULL. */
__attribute__((returns_nonnull))
static inline void *
xrealloc(void *p, size_t size)
{
	p = realloc(p, size ? size : 1);
	if (p == NULL)
		abort();
	return p;
}

/* Copy of the NUL-terminated s (not NULL); caller frees. */
__attribute__((malloc, returns_nonnull))
static inline char *
xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

/* Copy of at most n bytes of s and a NUL; caller frees. */
__attribute__((malloc, returns_nonnull))
static inline char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (p == NULL)
		abort();
	return p;
}

#endif
