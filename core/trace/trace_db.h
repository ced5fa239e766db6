/*
 * trace_db — the message trace's SQLite database, the writer's side: the
 * schema, the statements that store a record, and the pruning by age and
 * size.  Used by the trace writer thread only (core/trace/trace.c); the
 * queries are core/trace/trace_query.h, on their own connection.
 *
 * Schema (user_version 2), every time a unix ms:
 *
 *   msg(id INTEGER PRIMARY KEY   queue id; its high 32 bits are the
 *                                second it was made, so an id range is a
 *                                time range and no time index is needed
 *       t, client, helo, sender, tenant, size, nrcpt,
 *       ref, note)               an NDR: the message it reports on, and
 *                                "NDR" or "delay notice"
 *   rcpt(msg, addr)              one row per recipient; index on addr
 *                                COLLATE NOCASE (sender too, on msg)
 *   ev(msg, seq, t, kind, result, connector, host, ip, code, mfi, reply,
 *      detail, ms, attempt, rcpts, ref)   one row per record after
 *                                "received" (which is the msg row),
 *                                WITHOUT ROWID, keyed (msg, seq): a
 *                                message's events are one range, in order
 *
 * What a message came to (its status, a query's "status") is read from
 * its events, not kept up to date in msg: a record costs one INSERT (a
 * received one three: msg, rcpt, and nothing in ev), the fewest b-tree
 * writes that keep every query indexed.  A message received while the
 * trace was off has events but no msg row; a query by its id finds it.
 *
 * WAL mode with synchronous=NORMAL: a commit is a write to the WAL, synced
 * only at checkpoints; a power cut may lose the last commits of the trace,
 * never the spool's mail (the spool has its own fsyncs).  auto_vacuum is
 * INCREMENTAL, so what pruning frees goes back to the file system.
 */
#ifndef SLUICE_CORE_TRACE_TRACE_DB_H
#define SLUICE_CORE_TRACE_TRACE_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/trace/trace_rec.h"

struct trace_db;

/* Open (creating it and its schema when missing) the database at path,
 * read-write, WAL.  0, or -errno / -EIO with one line in err. */
int trace_db_open(struct trace_db **out, const char *path, char *err, size_t errlen);

/* Close it (NULL is fine). */
void trace_db_close(struct trace_db *db);

/* Start and end a transaction (one per batch).  0 or -EIO (err: why). */
int trace_db_begin(struct trace_db *db, char *err, size_t errlen);
int trace_db_commit(struct trace_db *db, char *err, size_t errlen);

/* Give up the open transaction (after a failed put). */
void trace_db_rollback(struct trace_db *db);

/* Store rec inside the transaction.  0 or -EIO (err: why). */
int trace_db_put(struct trace_db *db, const struct trace_rec *rec, char *err, size_t errlen);

/*
 * One step of pruning: delete up to chunk messages (their recipients and
 * events too) made before before_ms, or, when the database holds more than
 * max_size bytes in use (0: no limit), the oldest ones whatever their age.
 * Returns the messages deleted (0: nothing to do) or -EIO.  Events of
 * messages without a row go by the same rule.
 */
long trace_db_prune(struct trace_db *db, int64_t before_ms, uint64_t max_size, unsigned chunk,
		    char *err, size_t errlen);

/* Bytes in use (pages less free pages, times the page size). */
uint64_t trace_db_used(struct trace_db *db);

#endif
