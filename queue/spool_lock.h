/*
 * spool_lock — one sluiced per spool: an exclusive lock on <spool>/lock,
 * taken before recovery or anything else touches the spool, and held until
 * the process exits.
 *
 * Why: recovery assumes it is alone.  A second instance started on the same
 * spool would replay the live segments, unlink the running instance's open
 * ones and lose mail it had acknowledged.
 *
 * Main thread, at start-up only.
 */
#ifndef SLUICE_QUEUE_SPOOL_LOCK_H
#define SLUICE_QUEUE_SPOOL_LOCK_H

#include <stddef.h>

/*
 * Create the spool root if missing, lock <root>/lock and write our pid into
 * it.  Returns the lock's file descriptor (keep it open: closing it releases
 * the lock), -EWOULDBLOCK when another process holds the lock (err names
 * its pid as written in the file), or -errno; err gets one line.
 */
int spool_lock(const char *root, char *err, size_t errlen);

/*
 * The number of workers whose directories (w0, w1, ...) in the spool at
 * root hold a segment or a body file: one more than the highest such
 * index, 0 when none does.  A spool written by more workers than this
 * start has must be recovered by at least that many, or the mail of the
 * others would wait unread (a node moved to a smaller host, a spool
 * adopted from another node).  Under the lock, before recovery.
 */
unsigned spool_workers_used(const char *root);

#endif
