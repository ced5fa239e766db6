/*
 * fixnow — "fix now": accepted domains switched from internal relay to
 * authoritative at run time, kept in the state file so a restart keeps
 * them.
 *
 * The set is an immutable array published through an atomic pointer:
 * workers read it without locks (fixnow_has); the control thread replaces
 * it (fixnow_add) and the old array is kept until exit (a few bytes per
 * switch; switches are rare operator actions).
 */
#ifndef SLUICE_CORE_TENANT_FIXNOW_H
#define SLUICE_CORE_TENANT_FIXNOW_H

#include <stdbool.h>
#include <stddef.h>

/* Read the state file (missing: empty).  Main thread, at start-up. */
int fixnow_load(const char *path, char *err, size_t errlen);

/*
 * Switch domain (lower-case) to authoritative and rewrite the state file
 * (write to a temporary, fsync, rename).  Returns 1 if added, 0 if it was
 * already there, <0 -errno if the file could not be written (the switch
 * then still holds until restart).  Control thread.
 */
int fixnow_add(const char *domain);

/* True if domain (len bytes, any case) was switched.  Any thread. */
bool fixnow_has(const char *domain, size_t len);

/* Domains switched so far, for show tenants: copies up to max pointers. */
size_t fixnow_list(const char **out, size_t max);

#endif
