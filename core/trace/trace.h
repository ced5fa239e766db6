/*
 * trace — the message trace: every message's life (received, each
 * delivery attempt, delivered, deferred, expired, returned, the operator's
 * actions) recorded in an SQLite database by one writer thread, for
 * `sluicectl trace` (core/ctl/ctl_trace.c) to query.
 *
 * Not for: the log (which says the same things as they happen), durable
 * state (the spool is that), or anything a worker waits for.
 *
 * Threading.  Each worker has a feed (struct trace_feed, w->trace): a
 * bounded single-producer ring (core/trace/trace_rec.h) and the record it
 * is building.  The worker builds a record in place and commits it: a
 * copy into the ring, or, when the ring is full, a drop that is counted.
 * It never blocks, takes no lock and makes no system call but a write to
 * the writer's eventfd when its ring passes half full.  The writer thread
 * (named sluice-trace, at nice 10 and in the idle I/O class: it yields to
 * the workers) wakes every TRACE_FLUSH_MS (or on that kick), drains every
 * ring and stores what it found in one transaction with prepared statements
 * (core/trace/trace_db.h), then prunes by age and size a chunk at a time.
 * Memory is bounded: workers x the ring's size.
 *
 * Start-up: trace_start opens the database on the calling thread (the main
 * thread, after the drop to user:, so the file is the user's) and starts
 * the writer; the feeds exist from then on.  trace_stop, after the workers
 * are gone, drains what is left and closes.  A trace that cannot start is
 * reported by the caller and the relay runs without it (w->trace NULL:
 * every call below is then one test of a pointer).
 */
#ifndef SLUICE_CORE_TRACE_TRACE_H
#define SLUICE_CORE_TRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/trace/trace_rec.h"

#define TRACE_FLUSH_MS	100		/* the writer's period */
#define TRACE_RING_SIZE	(4u << 20)	/* bytes of each worker's ring: about a
					   second of records at 20,000 msg/s */

struct trace;
struct trace_feed;

/* What trace_start needs (from the config's trace: section). */
struct trace_conf {
	const char *path;		/* the database file */
	uint32_t retention;		/* s a message is kept */
	uint64_t max_size;		/* bytes in use at most, 0: no limit */
	uint64_t ring_size;		/* bytes per worker ring, 0: the default */
};

/* The writer's counters (stats keys trace.*). */
struct trace_stats {
	uint64_t records;		/* stored */
	uint64_t dropped;		/* refused by a full ring */
	uint64_t batches;		/* transactions committed */
	uint64_t errors;		/* records lost to a database error */
	uint64_t pruned;		/* messages deleted by retention/size */
	uint64_t used;			/* bytes the database uses (last prune) */
	uint64_t pending;		/* bytes in the rings now */
};

/*
 * Open the database of c (creating it) and start the writer with nfeeds
 * feeds.  Returns 0, or -errno with one line in err (the relay then runs
 * without a trace).  Main thread, once.
 */
int trace_start(const struct trace_conf *c, unsigned nfeeds, struct trace **out, char *err,
		size_t errlen);

/* Feed i (0 <= i < nfeeds) of t: a worker's w->trace.  NULL t: NULL. */
struct trace_feed *trace_feed(struct trace *t, unsigned i);

/* New retention and size limit (a reload).  Any thread. */
void trace_set_limits(struct trace *t, uint32_t retention, uint64_t max_size);

/* Drain what the feeds hold, stop the writer, close and free t.  After
 * every producer is gone.  NULL is fine. */
void trace_stop(struct trace *t);

/* The running trace, or NULL (never started, failed, or stopped); and,
 * when NULL, why in why[0..len) ("" when it was not asked for). */
struct trace *trace_running(char *why, size_t len);

/* Its database file and its counters.  Any thread. */
const char *trace_path(const struct trace *t);
void trace_get_stats(struct trace *t, struct trace_stats *st);

/* ---- producers: a worker's thread, with its own feed ------------------ */

/* Start a record of kind for queue id, now: NULL when f is NULL (the
 * trace is off).  Fill it with trace_enc_* (core/trace/trace_rec.h), then
 * trace_commit; nothing else may start a record on f meanwhile. */
struct trace_enc *trace_begin(struct trace_feed *f, enum trace_kind kind, uint64_t id);

/* Push the record into f's ring, or count it dropped when the ring is
 * full.  Never blocks. */
void trace_commit(struct trace_feed *f, struct trace_enc *e);

#endif
