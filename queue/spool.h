/*
 * spool — the durable store: per-worker append-only segment files of
 * checksummed records, written by group commit through the worker's ring.
 *
 * Layout: <root>/w<N>/<seq>.seg, seq in 8 hex digits, one directory per
 * worker.  A record is a 32-byte header (magic, type, payload length,
 * CRC32C over header and payload, queue id, aux) and its payload.  A MSG
 * record's payload is the encoded envelope (aux = its length) followed by
 * the message as it will be delivered (Received: header first).
 *
 * Group commit: records handed to spool_append during one loop turn are
 * written by spool_flush with one writev and one fdatasync linked behind
 * it; every writer's callback runs after the sync completes (res 0) or
 * failed (res < 0; nothing of that batch is kept).  While one batch is in
 * flight the next one collects, so batches grow with load.
 *
 * Deletion: a segment is unlinked when no live message remains in it and
 * every older segment of the directory is gone, so the DONE records a
 * segment holds never vanish before the messages they retire.
 *
 * Thread: a struct spool belongs to one worker and is used only by it
 * (recovery runs in that worker before it serves).
 */
#ifndef SLUICE_QUEUE_SPOOL_H
#define SLUICE_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "net/ring.h"
#include "queue/envelope.h"

#define SPOOL_MAGIC 0x314c4353u	/* "SCL1" on disk */
#define SPOOL_HDR_SIZE 32

enum spool_rec_type {
	SPOOL_REC_MSG = 1,	/* a message: envelope + data */
	SPOOL_REC_RCPT = 2,	/* aux = rcpt index << 8 | env_rcpt_state */
	SPOOL_REC_DONE = 3,	/* the message is finished, forget it */
};

struct spool_rec_hdr {
	uint32_t magic;		/* SPOOL_MAGIC */
	uint8_t type;		/* enum spool_rec_type */
	uint8_t pad[3];		/* zero */
	uint32_t len;		/* payload bytes after the header */
	uint32_t crc;		/* CRC32C of header (crc = 0) + payload */
	uint64_t id;		/* queue id */
	uint64_t aux;		/* type-specific, see enum spool_rec_type */
};

/* Where a record landed: its segment and offset. */
struct spool_loc {
	uint32_t seg;		/* segment sequence number */
	uint32_t len;		/* record length incl. header */
	uint64_t off;		/* offset of the header in the segment */
};

/* One record waiting for group commit; embedded in its writer. */
struct spool_write {
	struct iovec iov;	/* the whole record; caller keeps it valid */
	void (*cb)(struct spool_write *w, int res);	/* after sync */
	struct spool_write *next;	/* private: batch list */
	struct spool_loc loc;	/* filled in before cb runs */
};

struct spool;

/* Results of recovery, for the log and for tests. */
struct spool_recovery {
	uint64_t segments;	/* segment files read */
	uint64_t records;	/* valid records seen */
	uint64_t messages;	/* live messages handed to the callback */
	uint64_t bad_records;	/* CRC or framing errors skipped */
	uint64_t torn_bytes;	/* bytes cut from a torn tail */
	uint64_t deleted;	/* empty segments unlinked */
};

/*
 * Called once per live message found by recovery.  env is heap memory the
 * callee now owns (free()); loc says where the MSG record sits.
 */
typedef void (*spool_recover_cb)(void *arg, struct envelope *env,
				 const struct spool_loc *loc);

/*
 * Open (creating if needed) <root>/w<worker>, recover what it holds through
 * cb, then start a fresh segment.  Returns 0 or -errno with a message in
 * err.  Runs on the owning worker's thread.
 */
int spool_open(struct spool **out, const char *root, unsigned worker,
	       uint64_t segment_size, spool_recover_cb cb, void *arg,
	       struct spool_recovery *stats, char *err, size_t errlen);

/* Close files and free.  No write may be in flight. */
void spool_close(struct spool *sp);

/* A new queue id, unique across workers and restarts (time-ordered). */
uint64_t spool_new_id(struct spool *sp);

/* Start a record in b: appends a header placeholder, returns its offset. */
size_t spool_rec_begin(struct buf *b, enum spool_rec_type type, uint64_t id);

/* Finish the record that starts at b->p + start: length, aux and CRC. */
void spool_rec_end(struct buf *b, size_t start, uint64_t aux);

/* Queue w (record bytes in w->iov) for the next group commit. */
void spool_append(struct spool *sp, struct spool_write *w);

/* Issue the pending batch if none is in flight.  Once per loop turn. */
void spool_flush(struct spool *sp, struct io_uring *ring);

/* True while records are queued or in flight. */
bool spool_busy(const struct spool *sp);

/* A message recorded in segment seg is finished (after its DONE is synced). */
void spool_release(struct spool *sp, uint32_t seg);

/* Bytes in live segments of this worker, for show info. */
uint64_t spool_bytes(const struct spool *sp);

/*
 * Read a MSG record's data (the part after the envelope) into out.
 * Synchronous pread; used by delivery for bodies not in memory.
 */
int spool_read_data(struct spool *sp, const struct spool_loc *loc, struct buf *out);

#endif
