/*
 * smtp_spill — a message's data to its body file while it arrives.
 *
 * Two buffers of SMTP_SPILL_CHUNK: the DATA reader fills one while the
 * other is being written; when the filling one is full and the write is
 * still out, the spill takes no input (smtp_spill_room is 0) and the
 * session stops reading.  So a spilling session holds at most two chunks,
 * whatever the message's size.  The first write is the data that came
 * before the spill started (up to limits.data_spill), in the session's
 * own message buffer, freed when it is written.
 *
 * Crash invariant: SMTP_SPILL_READY only once the file's data (fdatasync)
 * and its directory entry (fsync of body/, issued when the file was made)
 * are durable; only then may the MSG record naming it be written.  A spill
 * that fails or is refused unlinks its file once nothing is in flight.
 */
#include "net/smtp_spill.h"

#include "core/list.h"

#define SPILL_SLACK 16	/* un-stuffing emits at most a byte more than it takes */

static void
spill_file_done(struct spool_body *b)
{
	struct smtp_spill *sp = container_of(b, struct smtp_spill, file);

	if (!b->writing && sp->wbuf.len > 0) {	/* a write is done: reuse its buffer */
		sp->wbuf.len = 0;
		sp->wbuf_off = 0;
		if (sp->wbuf.cap > SMTP_SPILL_CHUNK)
			buf_free(&sp->wbuf);	/* the session's first buffer */
	}
	sp->cb(sp);		/* may free the owner, and sp with it */
}

void
smtp_spill_init(struct smtp_spill *sp, void (*cb)(struct smtp_spill *sp))
{
	*sp = (struct smtp_spill){ .cb = cb };
	sp->file.fd = -1;
	sp->file.cb = spill_file_done;
}

/* Is the data being dropped (the file failed): the end answers 452? */
static bool
spill_dropping(const struct smtp_spill *sp)
{
	return sp->err != 0 || sp->file.err != 0;
}

/* Hand the collected data to the disk if no write is out. */
static void
spill_pump(struct smtp_spill *sp)
{
	struct buf t;

	if (sp->file.writing || spill_dropping(sp) || sp->fill.len == 0)
		return;
	t = sp->wbuf;
	sp->wbuf = sp->fill;
	sp->fill = t;
	sp->fill.len = 0;
	buf_reserve(&sp->fill, SMTP_SPILL_CHUNK);
	sp->wbuf_off = 0;
	spool_body_write(&sp->file, sp->ring, sp->wbuf.p, sp->wbuf.len);
}

void
smtp_spill_start(struct smtp_spill *sp, struct spool *spool, struct io_uring *ring,
		 uint64_t id, struct buf *msg, size_t start)
{
	struct buf rec = { 0 };
	int rc;

	sp->active = true;
	sp->ring = ring;
	buf_append(&rec, msg->p, start);
	rc = spool_body_open(spool, &sp->file, id, ring);
	if (rc < 0) {
		sp->err = rc;
		buf_free(msg);
	} else if (msg->len > start) {
		sp->wbuf = *msg;
		sp->wbuf_off = start;
		spool_body_write(&sp->file, ring, sp->wbuf.p + start, sp->wbuf.len - start);
	} else {
		buf_free(msg);
	}
	*msg = rec;
	buf_reserve(&sp->fill, SMTP_SPILL_CHUNK);
}

size_t
smtp_spill_room(struct smtp_spill *sp)
{
	if (spill_dropping(sp))
		return SMTP_SPILL_CHUNK - SPILL_SLACK;	/* read and dropped */
	if (sp->fill.len + SPILL_SLACK >= SMTP_SPILL_CHUNK)
		spill_pump(sp);
	if (sp->fill.len + SPILL_SLACK >= SMTP_SPILL_CHUNK)
		return 0;
	return SMTP_SPILL_CHUNK - SPILL_SLACK - sp->fill.len;
}

void
smtp_spill_step(struct smtp_spill *sp)
{
	if (spill_dropping(sp))
		sp->fill.len = 0;	/* dropped: the end answers 452 */
	else if (sp->fill.len + SPILL_SLACK >= SMTP_SPILL_CHUNK)
		spill_pump(sp);
}

bool
smtp_spill_blocked(const struct smtp_spill *sp)
{
	return sp->active && !spill_dropping(sp) && sp->file.writing &&
	       sp->fill.len + SPILL_SLACK >= SMTP_SPILL_CHUNK;
}

enum smtp_spill_end
smtp_spill_finish(struct smtp_spill *sp, bool ok, struct buf *rec, size_t rec_start)
{
	if (sp->recorded || sp->file.writing)
		return SMTP_SPILL_WAIT;
	if (!ok || spill_dropping(sp)) {
		if (spool_body_busy(&sp->file))
			return SMTP_SPILL_WAIT;		/* the directory sync is out */
		return SMTP_SPILL_FAILED;
	}
	if (sp->fill.len > 0) {
		spill_pump(sp);
		return SMTP_SPILL_WAIT;
	}
	if (!sp->file.data_synced) {
		spool_body_commit(&sp->file, sp->ring);
		return SMTP_SPILL_WAIT;
	}
	if (!sp->file.synced)
		return SMTP_SPILL_WAIT;			/* the directory sync is out */
	sp->recorded = true;
	spool_body_ref(&sp->file, rec, rec_start);
	return SMTP_SPILL_READY;
}

int
smtp_spill_error(const struct smtp_spill *sp)
{
	return sp->err ? sp->err : sp->file.err;
}

bool
smtp_spill_busy(const struct smtp_spill *sp)
{
	return spool_body_busy(&sp->file);
}

size_t
smtp_spill_mem(const struct smtp_spill *sp)
{
	return sp->fill.cap + sp->wbuf.cap;
}

void
smtp_spill_done(struct smtp_spill *sp, bool keep)
{
	void (*cb)(struct smtp_spill *) = sp->cb;

	if (sp->active)
		spool_body_close(&sp->file, keep);
	buf_free(&sp->fill);
	buf_free(&sp->wbuf);
	smtp_spill_init(sp, cb);
}
