/*
 * spool — segment files, group commit through the ring, recovery.
 *
 * Write path: spool_append links the record into the collecting batch;
 * spool_flush (end of a loop turn) moves up to SPOOL_MAX_IOV records into
 * a flight, seals each one for the place it will occupy (spool_seal.c),
 * and issues one IORING_OP_WRITEV linked to one IORING_OP_FSYNC(DATASYNC)
 * at an offset reserved when it is issued, so up to SPOOL_FLIGHTS flights
 * run at once.  A failed or short write cancels the sync; every writer of
 * that flight hears the error and nothing of it is acknowledged.  Its bytes
 * are cut off when nothing follows them, else left for recovery to skip,
 * and the segment is retired, as after a failed fdatasync (its pages can no
 * longer be trusted to reach the disk).
 *
 * Accounting: a segment's live count is the number of messages whose MSG
 * record it holds and whose DONE is not synced yet; it is raised for a
 * whole flight before any writer hears the result, because a writer's
 * callback may finish other messages and collect segments, which moves the
 * entries of sp->segs.  The sum of the live counts equals the messages the
 * queue holds (queue_tick checks it).
 *
 * Recovery maps each segment read-only and walks the records.  A record
 * that does not verify (damaged, torn, or not sealed by this spool's key at
 * this offset) is skipped by searching forward for the next header that
 * does; a client can put any bytes in a payload but cannot seal them, so
 * the search never stops inside a message.  If nothing valid follows in
 * the newest segment, the tail is a torn write and is truncated away.
 * Segments in the old unsealed format, or sealed with another key, stop
 * the start with an error rather than being cut.
 *
 * Crash invariant: a MSG record is durable before its writer's callback
 * (the 250) runs; a segment is unlinked only when it and every older one
 * hold no live message.
 */
#include "queue/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"
#include "core/list.h"
#include "core/log.h"

/*
 * Zero-filled tail.  fdatasync after an append must also persist the new
 * file size; after an overwrite of blocks already written it need not, and
 * costs about half (measured on this machine's ext4).  So a flight that
 * reaches past the zeroed part appends SPOOL_ZERO_AHEAD zero bytes behind
 * its records, and the next ~1,500 messages overwrite zeros.  Recovery takes
 * an all-zero tail for the clean end of a segment.
 */
#define SPOOL_ZERO_AHEAD (1u << 20)
#define SPOOL_ZERO_CHUNK (64u << 10)
static const char spool_zeros[SPOOL_ZERO_CHUNK];

static struct spool_seg *
seg_cur(struct spool *sp)
{
	return &sp->segs[sp->nsegs - 1];
}

struct spool_seg *
spool_seg_find(struct spool *sp, uint32_t seq)
{
	size_t lo = 0, hi = sp->nsegs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (sp->segs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (lo < sp->nsegs && sp->segs[lo].seq == seq) ? &sp->segs[lo] : NULL;
}

static int
seg_push(struct spool *sp, uint32_t seq, int fd, uint64_t size, int64_t born)
{
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct spool_seg *s = realloc(sp->segs, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		sp->segs = s;
		sp->capsegs = cap;
	}
	sp->segs[sp->nsegs++] = (struct spool_seg){ seq, 0, 0, fd, size, size, born };
	return 0;
}

static void
seg_name(uint32_t seq, char out[16])
{
	snprintf(out, 16, "%08x.seg", seq);
}

/* Unlink finished segments from the oldest on, never the current one. */
static void
seg_collect(struct spool *sp, struct spool_recovery *st)
{
	size_t n = 0;
	char name[16];

	while (n + 1 < sp->nsegs && sp->segs[n].live == 0 && sp->segs[n].flights == 0) {
		seg_name(sp->segs[n].seq, name);
		if (unlinkat(sp->dirfd, name, 0) < 0)
			log_warn("spool %s/%s: unlink: %s", sp->dir, name, strerror(errno));
		close(sp->segs[n].fd);
		if (st != NULL)
			st->deleted++;
		n++;
	}
	if (n > 0) {
		memmove(sp->segs, sp->segs + n, (sp->nsegs - n) * sizeof(*sp->segs));
		sp->nsegs -= n;
	}
}

/* Create the next segment and make its directory entry durable. */
static int
seg_new(struct spool *sp)
{
	uint32_t seq = sp->nsegs ? seg_cur(sp)->seq + 1 : 1;
	char name[16];
	int fd, err;

	seg_name(seq, name);
	fd = openat(sp->dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (fsync(sp->dirfd) < 0 || (err = seg_push(sp, seq, fd, 0, time(NULL))) < 0) {
		err = errno ? -errno : -ENOMEM;
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return err;
	}
	sp->cur_broken = false;
	seg_collect(sp, NULL);
	return 0;
}

/* The node's number in its cluster (cluster: number), for the ids. */
static unsigned id_node;

void
spool_id_node(unsigned node)
{
	id_node = node & 0xff;
}

uint64_t
spool_new_id(struct spool *sp)
{
	uint64_t mine = (uint64_t)id_node << 24 | (uint64_t)(sp->worker & 0xff) << 16;
	struct timespec ts;
	uint64_t base;

	clock_gettime(CLOCK_REALTIME, &ts);
	base = (uint64_t)(uint32_t)ts.tv_sec << 32 | mine;
	if (base > sp->last_id)
		sp->last_id = base;
	else if ((sp->last_id & 0xffff0000) != mine ||	/* recovered: not ours */
		 (sp->last_id & 0xffff) == 0xffff)	/* counter full */
		sp->last_id = ((sp->last_id >> 32) + 1) << 32 | mine;	/* next second */
	else
		sp->last_id++;
	return sp->last_id;
}

size_t
spool_rec_begin(struct buf *b, enum spool_rec_type type, uint64_t id)
{
	struct spool_rec_hdr h = { .magic = SPOOL_MAGIC, .type = (uint8_t)type, .id = id };
	size_t start = b->len;

	buf_append(b, &h, sizeof(h));
	return start;
}

void
spool_rec_end(struct buf *b, size_t start, uint64_t aux)
{
	struct spool_rec_hdr h;

	/* the seals wait for spool_flush, which knows where the record goes */
	memcpy(&h, b->p + start, sizeof(h));
	h.len = (uint32_t)(b->len - start - sizeof(h));
	h.aux = aux;
	memcpy(b->p + start, &h, sizeof(h));
}

/* ---- recovery ------------------------------------------------------- */

/* Forget a message: finished, or impossible to deliver. */
static void
rec_drop(struct spool *sp, struct spool_index *x, struct spool_index_msg *e)
{
	struct spool_seg *seg = spool_seg_find(sp, e->loc.seg);

	if (seg != NULL && seg->live > 0)
		seg->live--;
	spool_index_drop(x, e);
}

/* Does a live message own body file id?  (spool_body_sweep) */
static bool
rec_live(void *arg, uint64_t id)
{
	struct spool_index_msg *e = spool_index_find(arg, id);

	return e != NULL && e->loc.body;
}

/* Apply one valid record to the table. */
static void
rec_apply(struct spool *sp, struct spool_index *x, const struct spool_rec_hdr *h,
	  const uint8_t *payload, uint32_t seq, uint64_t off,
	  struct spool_recovery *st)
{
	struct spool_index_msg *e;

	if (h->id == 0 || h->id == UINT64_MAX) {	/* the index's own markers */
		st->bad_records++;
		return;
	}
	/* a MSG's id is looked up by spool_index_add, only when it may be live */
	e = h->type != SPOOL_REC_MSG ? spool_index_find(x, h->id) : NULL;

	switch (h->type) {
	case SPOOL_REC_MSG: {
		struct spool_loc loc = { seq, SPOOL_HDR_SIZE + h->len, off, h->len - h->aux,
					 false };
		struct spool_body_ref ref;
		struct envelope *env;
		if (h->aux > h->len) {
			st->bad_records++;
			return;
		}
		if (h->flags & SPOOL_REC_F_BODY) {
			if (h->len - h->aux != sizeof(ref)) {
				st->bad_records++;
				return;
			}
			memcpy(&ref, payload + h->aux, sizeof(ref));
			loc.size = ref.size;
			loc.body = true;
		}
		if ((env = envelope_decode(payload, h->aux)) == NULL) {
			st->bad_records++;
			return;
		}
		if (spool_index_add(x, h->id, env, &loc) < 0) {	/* -EEXIST too */
			free(env);
			st->bad_records++;
			return;
		}
		spool_seg_find(sp, seq)->live++;
		if (h->id > sp->last_id)
			sp->last_id = h->id;
		break;
	}
	case SPOOL_REC_RCPT:
		if (e != NULL && (h->aux >> 8) < e->env->nrcpt)
			e->env->rcpt[h->aux >> 8].state = (uint8_t)(h->aux & 0xff);
		break;
	case SPOOL_REC_DONE:
		if (e != NULL)
			rec_drop(sp, x, e);
		break;
	case SPOOL_REC_TRIED:
		for (uint32_t k = 0; e != NULL && k + 1 <= h->len / sizeof(uint32_t); k++) {
			uint32_t i;

			memcpy(&i, payload + k * sizeof(i), sizeof(i));
			if (i < e->env->nrcpt && e->env->rcpt[i].tries < h->aux)
				e->env->rcpt[i].tries = h->aux < UINT16_MAX ? (uint16_t)h->aux
									    : UINT16_MAX;
		}
		break;
	}
}

/*
 * Can this segment be read with our key at all?  A segment of the old
 * unsealed format, or one whose first header is ours in every field but
 * its tag (another spool's key), would otherwise be skipped or cut as
 * damaged: refuse it.  Returns 0 or -errno with err set.
 */
static int
rec_first(struct spool *sp, const struct spool_seg *seg, const uint8_t *map, uint64_t size,
	  char *err, size_t errlen)
{
	struct spool_rec_hdr h;
	uint32_t magic;

	if (size < sizeof(magic))
		return 0;
	memcpy(&magic, map, sizeof(magic));
	if (magic == SPOOL_MAGIC_V1) {
		snprintf(err, errlen, "spool %s/%08x.seg is in the old unsealed format (SCL1), "
			 "which recovery can no longer trust: deliver that queue with the "
			 "sluiced that wrote it, or move the spool aside", sp->dir, seg->seq);
		return -EPROTO;
	}
	if (spool_rec_check(sp->key, map, size, seg->seq, 0, &h) == -EKEYREJECTED) {
		snprintf(err, errlen, "spool %s/%08x.seg was sealed with another key than "
			 "%s: it belongs to another spool, or the key was replaced", sp->dir,
			 seg->seq, SPOOL_KEY_FILE);
		return -EKEYREJECTED;
	}
	return 0;
}

/*
 * The next offset after off where a record sealed for this place starts,
 * or size.  Only headers are looked at here: one that was not sealed by us
 * costs one 48-byte tag, however long it claims to be.
 */
static uint64_t
rec_resync(struct spool *sp, const uint8_t *map, uint64_t size, uint32_t seq, uint64_t off)
{
	static const uint32_t magic = SPOOL_MAGIC;
	struct spool_rec_hdr h;
	uint64_t next = off + 1;

	while (next + SPOOL_HDR_SIZE <= size) {
		const uint8_t *m = memmem(map + next, size - next, &magic, sizeof(magic));
		if (m == NULL)
			return size;
		next = (uint64_t)(m - map);
		if (spool_rec_check(sp->key, m, size - next, seq, next, &h) == 0)
			return next;
		next++;
	}
	return size;
}

/* Walk one segment.  last: the newest segment, whose torn tail is cut. */
static int
rec_segment(struct spool *sp, struct spool_index *x, struct spool_seg *seg,
	    bool last, struct spool_recovery *st, char *err, size_t errlen)
{
	struct spool_rec_hdr h;
	struct stat sb;
	uint8_t *map;
	uint64_t off = 0, size;
	int rc;

	if (fstat(seg->fd, &sb) < 0) {
		snprintf(err, errlen, "%s/%08x.seg: %s", sp->dir, seg->seq, strerror(errno));
		return -errno;
	}
	size = (uint64_t)sb.st_size;
	seg->size = size;
	seg->filled = size;
	seg->born = sb.st_mtime;
	st->segments++;
	if (size == 0)
		return 0;
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, seg->fd, 0);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "%s/%08x.seg: mmap: %s", sp->dir, seg->seq, strerror(errno));
		return -errno;
	}
	madvise(map, size, MADV_SEQUENTIAL);
	if ((rc = rec_first(sp, seg, map, size, err, errlen)) < 0) {
		munmap(map, size);
		return rc;
	}
	while (off < size) {
		if (spool_rec_check(sp->key, map + off, size - off, seg->seq, off, &h) == 0) {
			st->records++;
			rec_apply(sp, x, &h, map + off + SPOOL_HDR_SIZE, seg->seq, off, st);
			off += SPOOL_HDR_SIZE + h.len;
			/* the next record's slot in the index (a cache miss in a
			   large table) loads while that record's tags are checked;
			   its id is not verified yet, but a prefetch is only a hint */
			if (off + SPOOL_HDR_SIZE <= size) {
				uint64_t next_id;
				memcpy(&next_id, map + off + offsetof(struct spool_rec_hdr, id),
				       sizeof(next_id));
				spool_index_prefetch(x, next_id);
			}
			continue;
		}
		/* damaged: resynchronise on the next record sealed for its place */
		uint64_t next = rec_resync(sp, map, size, seg->seq, off);
		if (next + SPOOL_HDR_SIZE > size) {
			uint64_t end = size;
			while (end > off && map[end - 1] == 0)
				end--;
			if (end == off) {	/* zero-filled tail: the clean end */
				seg->size = off;
				break;
			}
			if (last) {
				st->torn_bytes += end - off;
				log_warn("spool %s/%08x.seg: torn tail of %llu bytes at "
					 "offset %llu cut", sp->dir, seg->seq,
					 (unsigned long long)(end - off),
					 (unsigned long long)off);
				if (ftruncate(seg->fd, (off_t)off) == 0)
					seg->size = seg->filled = off;
			} else {
				st->bad_records++;
				log_err("spool %s/%08x.seg: damaged records from offset "
					"%llu to the end skipped", sp->dir, seg->seq,
					(unsigned long long)off);
			}
			break;
		}
		st->bad_records++;
		log_err("spool %s/%08x.seg: damaged record at offset %llu, %llu bytes "
			"skipped", sp->dir, seg->seq, (unsigned long long)off,
			(unsigned long long)(next - off));
		off = next;
	}
	munmap(map, size);
	return 0;
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int
spool_recover(struct spool *sp, spool_recover_cb cb, void *arg,
	      struct spool_recovery *st, char *err, size_t errlen)
{
	struct spool_index x = { 0 };
	uint32_t *seqs = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int dfd, rc = 0;

	dfd = dup(sp->dirfd);
	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		snprintf(err, errlen, "%s: %s", sp->dir, strerror(errno));
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned seq;
		char tail[8];
		if (sscanf(de->d_name, "%8x.se%1s", &seq, tail) != 2 ||
		    strlen(de->d_name) != 12 || strcmp(de->d_name + 8, ".seg") != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			uint32_t *s = realloc(seqs, cap * sizeof(*s));
			if (s == NULL) {
				rc = -ENOMEM;
				break;
			}
			seqs = s;
		}
		seqs[n++] = seq;
	}
	closedir(d);
	if (rc < 0)
		goto out;
	if (n > 1)
		qsort(seqs, n, sizeof(*seqs), cmp_u32);
	for (size_t i = 0; i < n; i++) {
		char name[16];
		int fd;
		seg_name(seqs[i], name);
		fd = openat(sp->dirfd, name, (i + 1 == n ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0 || seg_push(sp, seqs[i], fd, 0, 0) < 0) {
			rc = fd < 0 ? -errno : -ENOMEM;
			snprintf(err, errlen, "%s/%s: %s", sp->dir, name, strerror(-rc));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		rc = rec_segment(sp, &x, seg_cur(sp), i + 1 == n, st, err, errlen);
		if (rc < 0)
			goto out;
	}
	/* a live message's body must be there: it was synced before its record */
	for (size_t i = 0; i < x.n; i++) {
		struct spool_index_msg *e = &x.m[i];
		if (e->env == NULL || !e->loc.body || spool_body_present(sp, e->id, e->loc.size))
			continue;
		if (spool_body_keep_damaged(sp, e->id))
			log_err("spool %s: message %016llX: its body file is not %llu bytes "
				"long; it cannot be delivered (the file is kept as "
				"body/%016llX.damaged)", sp->dir, (unsigned long long)e->id,
				(unsigned long long)e->loc.size, (unsigned long long)e->id);
		else
			log_err("spool %s: message %016llX has no body file of %llu bytes; "
				"it cannot be delivered", sp->dir, (unsigned long long)e->id,
				(unsigned long long)e->loc.size);
		st->lost_bodies++;
		rec_drop(sp, &x, e);
	}
	spool_body_sweep(sp, rec_live, &x, st);
	/* in the order the records were written: the queue gets the oldest first */
	st->messages = x.live;
	for (size_t i = 0; i < x.n; i++) {
		if (x.m[i].env == NULL)
			continue;
		cb(arg, x.m[i].env, &x.m[i].loc);
		x.m[i].env = NULL;
	}
out:
	spool_index_fini(&x);
	free(seqs);
	return rc;
}

int
spool_open(struct spool **out, const char *root, unsigned worker,
	   uint64_t segment_size, spool_recover_cb cb, void *arg,
	   struct spool_recovery *stats, char *err, size_t errlen)
{
	struct spool *sp;
	char path[PATH_MAX];
	int rc;

	memset(stats, 0, sizeof(*stats));
	snprintf(path, sizeof(path), "%s/w%u", root, worker);
	if ((rc = file_mkdirs(path, 0700)) < 0) {
		snprintf(err, errlen, "%s: cannot create spool: %s", path, strerror(-rc));
		return rc;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	sp->dirfd = sp->bodyfd = -1;
	sp->dir = strdup(path);
	sp->worker = worker;
	sp->segsize = segment_size ? segment_size : 64u << 20;
	sp->batch_tail = &sp->batch;
	sp->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->dir == NULL || sp->dirfd < 0) {
		rc = sp->dir ? -errno : -ENOMEM;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		goto fail;
	}
	if ((rc = spool_key_load(root, sp->key, err, errlen)) < 0 ||
	    (rc = spool_body_dir_open(sp, err, errlen)) < 0)
		goto fail;
	rc = spool_recover(sp, cb, arg, stats, err, errlen);
	if (rc < 0)
		goto fail;
	size_t before = sp->nsegs;
	rc = seg_new(sp);	/* also unlinks the finished ones in front */
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot create a segment: %s", path, strerror(-rc));
		goto fail;
	}
	stats->deleted = before + 1 - sp->nsegs;
	*out = sp;
	return 0;
fail:
	spool_close(sp);
	return rc;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	for (size_t i = 0; i < sp->nsegs; i++)
		close(sp->segs[i].fd);
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	if (sp->bodyfd >= 0)
		close(sp->bodyfd);
	explicit_bzero(sp->key, sizeof(sp->key));
	free(sp->segs);
	free(sp->dir);
	free(sp);
}

/* ---- group commit --------------------------------------------------- */

void
spool_append(struct spool *sp, struct spool_write *w)
{
	w->next = NULL;
	*sp->batch_tail = w;
	sp->batch_tail = &w->next;
}

bool
spool_busy(const struct spool *sp)
{
	return sp->batch != NULL || sp->nflight > 0;
}

/*
 * Hand every write of a finished flight its result.  A failed flight is cut
 * off the file when nothing was written after it; otherwise its bytes stay
 * as garbage that recovery skips, and the segment takes no more writes.
 */
static void
flight_done(struct spool_flight *f, int res)
{
	struct spool *sp = f->sp;
	struct spool_seg *seg = spool_seg_find(sp, f->seq);
	struct spool_write *head = f->head, *w, *next;
	uint32_t seq = f->seq;

	f->busy = false;
	f->head = NULL;
	sp->nflight--;
	if (res < 0) {
		if (seg == seg_cur(sp) && seg->size == f->off + f->len &&
		    ftruncate(seg->fd, (off_t)f->off) == 0)
			seg->size = seg->filled = f->off;
		else
			sp->cur_broken = sp->cur_broken || seg == seg_cur(sp);
	} else {
		/* count the flight's messages before any writer hears of it: a
		 * writer may finish other messages, and collecting their segments
		 * moves the entries of sp->segs under any pointer held here */
		for (w = head; w != NULL; w = w->next)
			if (((const struct spool_rec_hdr *)w->iov.iov_base)->type == SPOOL_REC_MSG)
				seg->live++;
	}
	seg = NULL;
	/* the flight pins its segment (flights > 0) until every writer ran */
	for (w = head; w != NULL; w = next) {
		next = w->next;
		w->cb(w, res);
	}
	spool_seg_find(sp, seq)->flights--;
	seg_collect(sp, NULL);
}

static void
spool_write_done(struct op *op, int res, uint32_t flags)
{
	struct spool_flight *f = container_of(op, struct spool_flight, write_op);

	f->write_res = res;
}

static void
spool_sync_done(struct op *op, int res, uint32_t flags)
{
	struct spool_flight *f = container_of(op, struct spool_flight, sync_op);
	struct spool *sp = f->sp;
	int wr = f->write_res;

	if (wr >= 0 && (uint64_t)wr >= f->len && (uint64_t)wr < f->wlen) {
		/* the records were written but not all the zeros behind them (the
		 * disk is nearly full): sync what was written, stop zero-filling */
		struct spool_seg *seg = spool_seg_find(sp, f->seq);
		struct io_uring_sqe *sqe = ring_sqe(sp->ring);
		f->wlen = (uint64_t)wr;
		seg->filled = f->off + (uint64_t)wr;
		sp->no_zero = true;
		io_uring_prep_fsync(sqe, seg->fd, IORING_FSYNC_DATASYNC);
		op_set(sqe, &f->sync_op);
		return;
	}
	if (wr < 0 || (uint64_t)wr != f->wlen) {
		res = wr < 0 ? wr : -ENOSPC;	/* short write: the disk is full */
		log_err("spool %s/%08x.seg: write of %llu bytes failed: %s", sp->dir,
			f->seq, (unsigned long long)f->len, strerror(-res));
	} else if (res < 0) {
		log_err("spool %s/%08x.seg: fdatasync failed: %s; segment retired",
			sp->dir, f->seq, strerror(-res));
		if (spool_seg_find(sp, f->seq) == seg_cur(sp))
			sp->cur_broken = true;
	}
	flight_done(f, res < 0 ? res : 0);
}

/* Where record w goes: segment seq at offset off. */
static void
loc_fill(struct spool_write *w, uint32_t seq, uint64_t off)
{
	struct spool_rec_hdr h;
	struct spool_body_ref ref;

	memcpy(&h, w->iov.iov_base, sizeof(h));
	w->loc = (struct spool_loc){ .seg = seq, .len = (uint32_t)w->iov.iov_len, .off = off };
	if (h.type != SPOOL_REC_MSG || h.aux > h.len)
		return;
	w->loc.size = h.len - h.aux;
	if ((h.flags & SPOOL_REC_F_BODY) && h.len - h.aux == sizeof(ref)) {
		memcpy(&ref, (const char *)w->iov.iov_base + SPOOL_HDR_SIZE + h.aux, sizeof(ref));
		w->loc.size = ref.size;
		w->loc.body = true;
	}
}

void
spool_flush(struct spool *sp, struct io_uring *ring)
{
	struct spool_flight *f = NULL;
	struct io_uring_sqe *sqe;
	struct spool_write *w, **tail;
	struct spool_seg *seg;
	uint64_t len = 0, off;
	size_t n = 0;

	if (sp->batch == NULL || sp->nflight == SPOOL_FLIGHTS)
		return;
	for (unsigned i = 0; i < SPOOL_FLIGHTS && f == NULL; i++)
		if (!sp->flight[i].busy)
			f = &sp->flight[i];
	/* take up to SPOOL_MAX_IOV records off the batch */
	for (w = sp->batch, tail = &sp->batch; w != NULL && n < SPOOL_MAX_IOV; w = w->next) {
		f->iov[n++] = w->iov;
		len += w->iov.iov_len;
		tail = &w->next;
	}
	f->sp = sp;
	f->head = sp->batch;
	sp->batch = *tail;
	*tail = NULL;
	if (sp->batch == NULL)
		sp->batch_tail = &sp->batch;
	f->len = len;
	f->busy = true;
	sp->nflight++;

	seg = seg_cur(sp);
	if (sp->cur_broken || (seg->size > 0 && seg->size + len > sp->segsize)) {
		int rc = seg_new(sp);
		if (rc < 0) {
			log_err("spool %s: cannot start a new segment: %s", sp->dir,
				strerror(-rc));
			f->seq = seg->seq;
			f->off = seg->size + 1;	/* never truncates anything */
			seg->flights++;
			flight_done(f, rc);
			return;
		}
		seg = seg_cur(sp);
	}
	f->seq = seg->seq;
	f->off = off = seg->size;
	seg->size += len;
	seg->flights++;
	f->wlen = len;
	sp->ring = ring;
	if (seg->size > seg->filled && !sp->no_zero) {
		for (uint32_t z = 0; z < SPOOL_ZERO_AHEAD / SPOOL_ZERO_CHUNK && n < SPOOL_MAX_IOV + 16; z++) {
			f->iov[n++] = (struct iovec){ (void *)spool_zeros, SPOOL_ZERO_CHUNK };
			f->wlen += SPOOL_ZERO_CHUNK;
		}
		seg->filled = seg->size + (f->wlen - len);
	}
	for (w = f->head; w != NULL; w = w->next) {
		spool_rec_seal(sp->key, w->iov.iov_base, seg->seq, off);
		loc_fill(w, seg->seq, off);
		off += w->iov.iov_len;
	}
	f->write_op.cb = spool_write_done;
	f->sync_op.cb = spool_sync_done;
	f->write_res = 0;
	sqe = ring_sqe(ring);
	ring_sending_iov(f->iov, (unsigned)n);
	io_uring_prep_writev(sqe, seg->fd, f->iov, (unsigned)n, f->off);
	sqe->flags |= IOSQE_IO_LINK;
	op_set(sqe, &f->write_op);
	sqe = ring_sqe(ring);
	io_uring_prep_fsync(sqe, seg->fd, IORING_FSYNC_DATASYNC);
	op_set(sqe, &f->sync_op);
}

void
spool_release(struct spool *sp, const struct spool_loc *loc, uint64_t id)
{
	struct spool_seg *seg = spool_seg_find(sp, loc->seg);

	if (loc->body) {
		spool_body_unlink(sp, id);
		sp->nbodies -= sp->nbodies > 0;
		sp->body_bytes -= loc->size < sp->body_bytes ? loc->size : sp->body_bytes;
	}
	if (seg != NULL && seg->live > 0 && --seg->live == 0)
		seg_collect(sp, NULL);
}

void
spool_stats(const struct spool *sp, struct spool_stats *st)
{
	*st = (struct spool_stats){ .body_bytes = sp->body_bytes, .bodies = sp->nbodies,
				    .segments = (uint32_t)sp->nsegs };
	for (size_t i = 0; i < sp->nsegs; i++) {
		st->bytes += sp->segs[i].size;
		st->live += sp->segs[i].live;
	}
	st->bytes += sp->body_bytes;
	if (sp->nsegs > 1)
		st->oldest = sp->segs[0].born;
}

uint64_t
spool_bytes(const struct spool *sp)
{
	struct spool_stats st;

	spool_stats(sp, &st);
	return st.bytes;
}
