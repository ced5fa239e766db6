/*
 * queue_data — a queued message's data read back for delivery and NDRs, a
 * piece at a time, so that no reader ever holds a whole large message.
 *
 * A message the queue keeps in memory (its record, up to QUEUE_MEM_MAX per
 * worker: small ones, spooled inline) is handed out by pointer, no copy;
 * any other is read from the spool (queue/spool.h, struct spool_reader)
 * into the caller's scratch buffer, one piece of the size it asks for.
 * Nothing is logged here: the caller knows what a failure means (a
 * transaction to abort, an NDR without its original) and says so once.
 *
 * Thread: the owning worker's only.
 */
#include <errno.h>

#include "core/worker.h"
#include "queue/queue.h"

int
queue_data_open(struct worker *w, struct qmsg *m, struct queue_data *d)
{
	int rc;

	*d = (struct queue_data){ .sr = { .fd = -1 } };
	if (m->rec.len > 0) {
		d->mem = m->rec.p + m->data_off;
		d->size = m->rec.len - m->data_off;
		d->open = true;
		return 0;
	}
	rc = spool_reader_open(w->spool, &m->loc, &d->sr);
	if (rc < 0)
		return rc;
	d->size = d->sr.size;
	d->open = true;
	return 0;
}

long
queue_data_read(struct worker *w, struct queue_data *d, size_t max, struct buf *scratch,
		const char **p)
{
	size_t n = d->size - d->off < max ? (size_t)(d->size - d->off) : max;
	long r;

	if (d->mem != NULL) {
		*p = d->mem + d->off;
		d->off += n;
		return (long)n;
	}
	scratch->len = 0;
	buf_reserve(scratch, n);
	r = spool_reader_read(w->spool, &d->sr, scratch->p, n);
	if (r < 0)
		return r;
	scratch->len = (size_t)r;
	d->off += (uint64_t)r;
	*p = scratch->p;
	return r;
}

void
queue_data_close(struct queue_data *d)
{
	if (d->open)
		spool_reader_close(&d->sr);
	d->open = false;
}

int
queue_data_head(struct worker *w, struct qmsg *m, size_t max, struct buf *tmp,
		const char **p, size_t *n, uint64_t *size)
{
	struct queue_data d;
	int rc = queue_data_open(w, m, &d);
	long r;

	*p = "";
	*n = 0;
	if (rc < 0)
		return rc;
	*size = d.size;
	r = queue_data_read(w, &d, max, tmp, p);	/* one read: all of it */
	queue_data_close(&d);
	if (r < 0)
		return (int)r;
	*n = (size_t)r;
	return 0;
}
