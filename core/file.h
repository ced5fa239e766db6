/*
 * file — the file system work sluiced does at start-up and on reload: a
 * whole small file into memory (the configuration, the tenants' recipient
 * directories), a directory path made with its parents (the spool), and a
 * small state file replaced whole so a crash leaves the old or the new.
 * Not for the spool's records (queue/ maps and appends its segments) nor
 * for anything on a worker's request path: these block.  Any thread.
 */
#ifndef SLUICE_CORE_FILE_H
#define SLUICE_CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Whether path is a regular file (after symlinks): 1 yes, 0 it is something
 * else (a FIFO, whose open would wait for a writer; a directory; a device),
 * -errno when stat fails.  For files that must be read whole at start.
 */
int file_is_regular(const char *path);

/*
 * Read all of the file at path into a new malloc'd buffer: *buf (caller
 * frees; not NUL-terminated) and its length *len.  A file of more than max
 * bytes is refused, a regular file before any read (max < SIZE_MAX).
 * Returns 0, or -errno of open/read, -EISDIR for a directory, -EFBIG, or
 * -ENOMEM; on error *buf and *len are left alone.
 */
int file_read(const char *path, size_t max, char **buf, size_t *len);

/*
 * mkdir -p: create the directory path and whichever of its parents are
 * missing, each with mode.  Existing ones are fine (whatever they are: a
 * later open says so).  Returns 0, -ENAMETOOLONG (empty or longer than
 * PATH_MAX), or -errno of the mkdir that failed.
 */
int file_mkdirs(const char *path, mode_t mode);

/*
 * Replace the file at path with p[0..n) so that a crash at any moment
 * leaves either the old contents or the new: write "<path>.tmp" (mode
 * 0644), fsync it, rename it over path, fsync the directory.  Returns 0 or
 * -errno of the step that failed (the temporary is removed then).
 */
int file_replace(const char *path, const void *p, size_t n);

#endif
