/*
 * file — the file system work sluiced does at start-up and on reload: a
 * whole small file into memory (the configuration, the tenants' recipient
 * directories) and a directory path made with its parents (the spool).
 * Not for the spool's records (queue/ maps and appends its segments) nor
 * for anything on a worker's request path: these block.  Any thread.
 */
#ifndef SLUICE_CORE_FILE_H
#define SLUICE_CORE_FILE_H

#include <stddef.h>
#include <sys/types.h>

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

#endif
