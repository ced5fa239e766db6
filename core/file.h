/*
 * file — a whole small file into memory, for the files sluiced parses at
 * start-up and on reload: the configuration and the tenants' recipient
 * directories.  Not for the spool (queue/ maps and appends its segments)
 * nor for anything on a worker's request path: this blocks.  Any thread.
 */
#ifndef SLUICE_CORE_FILE_H
#define SLUICE_CORE_FILE_H

#include <stddef.h>

/*
 * Read all of the file at path into a new malloc'd buffer: *buf (caller
 * frees; not NUL-terminated) and its length *len.  A file of more than max
 * bytes is refused, a regular file before any read (max < SIZE_MAX).
 * Returns 0, or -errno of open/read, -EISDIR for a directory, -EFBIG, or
 * -ENOMEM; on error *buf and *len are left alone.
 */
int file_read(const char *path, size_t max, char **buf, size_t *len);

#endif
