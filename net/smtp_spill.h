/*
 * smtp_spill — the data of one incoming message written to its body file
 * as it arrives (queue/spool.h, body files), in bounded chunks through the
 * worker's ring: the part of DATA handling that keeps a session's memory
 * independent of the message's size.
 *
 * The session (net/smtp_server.c) decides when a message spills and feeds
 * the DATA reader's output into smtp_spill_out(); this module owns the two
 * buffers, the writes and the syncs, and says when input must wait
 * (back-pressure) and when the MSG record may be written.
 *
 * Thread: the owning worker's only.  Embedded in its session; cb runs
 * after every completion of the body file and may free the session, so
 * nothing touches the spill after it.
 */
#ifndef SLUICE_NET_SMTP_SPILL_H
#define SLUICE_NET_SMTP_SPILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/ring.h"
#include "queue/spool.h"

#define SMTP_SPILL_CHUNK (64u << 10)	/* a write; each buffer's size */

struct smtp_spill {
	struct spool_body file;		/* the body file */
	struct buf fill;		/* data collecting for the next write */
	struct buf wbuf;		/* data being written */
	size_t wbuf_off;		/* where in wbuf that data starts */
	struct io_uring *ring;		/* the worker's ring */
	bool active;			/* the message goes to the file */
	bool recorded;			/* its MSG record went to the group commit */
	int err;			/* the file could not be made: dropping */
	void (*cb)(struct smtp_spill *sp);	/* owner: after every file op */
};

/* What smtp_spill_finish says. */
enum smtp_spill_end {
	SMTP_SPILL_WAIT,	/* ops are out: call again from cb */
	SMTP_SPILL_READY,	/* the file is durable and named in the record */
	SMTP_SPILL_FAILED,	/* refused or failed: the file is gone */
};

/* Before first use: nothing open.  cb is the owner's. */
void smtp_spill_init(struct smtp_spill *sp, void (*cb)(struct smtp_spill *sp));

/*
 * From now on message id goes to its body file.  msg holds the record's
 * prefix (header and envelope, start bytes) and the data so far; the data
 * becomes the first write and msg keeps the prefix only.  If the file
 * cannot be made, sp->err is set: the rest of the data is dropped and the
 * end is SMTP_SPILL_FAILED.
 */
void smtp_spill_start(struct smtp_spill *sp, struct spool *spool, struct io_uring *ring,
		      uint64_t id, struct buf *msg, size_t start);

/* Where the DATA reader writes while active. */
static inline struct buf *
smtp_spill_out(struct smtp_spill *sp)
{
	return &sp->fill;
}

/* DATA input the spill can take now; 0: both buffers busy, input waits. */
size_t smtp_spill_room(struct smtp_spill *sp);

/* After the DATA reader wrote into smtp_spill_out(): write a full buffer. */
void smtp_spill_step(struct smtp_spill *sp);

/* True while no input can be taken (the disk is behind). */
bool smtp_spill_blocked(const struct smtp_spill *sp);

/*
 * The end of the data.  ok: the message is to be queued (not refused, the
 * client still there).  Writes what is left, syncs the file, and on
 * SMTP_SPILL_READY has appended the body reference to the record that
 * starts at rec->p + rec_start (spool_rec_end and spool_append are the
 * caller's).  Call again from cb while it says SMTP_SPILL_WAIT.
 */
enum smtp_spill_end smtp_spill_finish(struct smtp_spill *sp, bool ok, struct buf *rec,
				      size_t rec_start);

/* Why it failed (-errno), 0 when it was only refused. */
int smtp_spill_error(const struct smtp_spill *sp);

/* True while an op of the file is in flight: the spill must stay. */
bool smtp_spill_busy(const struct smtp_spill *sp);

/* Bytes of memory the spill holds. */
size_t smtp_spill_mem(const struct smtp_spill *sp);

/*
 * Done with the message (nothing in flight): keep the file (its record is
 * durable) or unlink it, free the buffers, ready for the next message.
 */
void smtp_spill_done(struct smtp_spill *sp, bool keep);

#endif
