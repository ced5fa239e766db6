/*
 * spool_read — a message's data read back from the spool, a piece at a
 * time (queue/spool.h, struct spool_reader).
 *
 * Inline data (a MSG record's payload after the envelope) is read from the
 * segment at the record's offset; a body file's data from the file, whose
 * CRC32C is computed as it is read and compared with the one its record
 * names when the last byte has been read.  So a damaged body file is only
 * known at the end: a caller that sends as it reads (delivery) must be
 * able to take back what it sent, which for SMTP means never sending the
 * final dot (net/smtp_client_txn.c closes the connection instead).
 *
 * Nothing here writes.  Thread: the owning worker's only.
 */
#include "queue/spool_int.h"

#include <errno.h>
#include <unistd.h>

#include "queue/crc32c.h"

int
spool_reader_open(struct spool *sp, const struct spool_loc *loc, struct spool_reader *r)
{
	struct spool_seg *seg = spool_seg_find(sp, loc->seg);
	struct spool_body_ref ref;
	struct spool_rec_hdr h;
	off_t data = (off_t)(loc->off + SPOOL_HDR_SIZE);
	int fd;

	*r = (struct spool_reader){ .fd = -1, .seg = loc->seg };
	if (seg == NULL)
		return -ENOENT;
	if (pread(seg->fd, &h, sizeof(h), (off_t)loc->off) != (ssize_t)sizeof(h))
		return -EIO;
	if (h.magic != SPOOL_MAGIC || h.type != SPOOL_REC_MSG || h.aux > h.len)
		return -EIO;
	data += (off_t)h.aux;
	if (!(h.flags & SPOOL_REC_F_BODY)) {
		r->base = (uint64_t)data;
		r->size = h.len - h.aux;
		return 0;
	}
	if (h.len - h.aux != sizeof(ref) ||
	    pread(seg->fd, &ref, sizeof(ref), data) != (ssize_t)sizeof(ref))
		return -EIO;
	fd = spool_body_open_read(sp, h.id);
	if (fd < 0)
		return fd;
	r->fd = fd;
	r->size = ref.size;
	r->want = ref.crc;
	return 0;
}

long
spool_reader_read(struct spool *sp, struct spool_reader *r, void *p, size_t n)
{
	size_t got = 0;
	int fd = r->fd;

	if (n > r->size - r->off)
		n = (size_t)(r->size - r->off);
	if (fd < 0 && n > 0) {
		struct spool_seg *seg = spool_seg_find(sp, r->seg);
		if (seg == NULL)
			return -EIO;
		fd = seg->fd;
	}
	while (got < n) {
		ssize_t k = pread(fd, (char *)p + got, n - got, (off_t)(r->base + r->off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -EIO;	/* shorter than recorded, or unreadable */
		got += (size_t)k;
	}
	r->off += got;
	if (r->fd >= 0) {
		r->crc = crc32c(r->crc, p, got);
		if (r->off == r->size && !r->checked) {
			if (r->crc != r->want)
				return -EIO;
			r->checked = true;
		}
	}
	return (long)got;
}

void
spool_reader_close(struct spool_reader *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

int
spool_read_data(struct spool *sp, const struct spool_loc *loc, struct buf *out)
{
	struct spool_reader r;
	size_t len0 = out->len;
	long n;
	int rc = spool_reader_open(sp, loc, &r);

	if (rc < 0)
		return rc;
	buf_reserve(out, r.size);
	do {
		n = spool_reader_read(sp, &r, out->p + out->len, (size_t)(r.size - r.off));
		if (n > 0)
			out->len += (size_t)n;
	} while (n > 0);
	spool_reader_close(&r);
	if (n < 0) {
		out->len = len0;
		return (int)n;
	}
	return 0;
}
