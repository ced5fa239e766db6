/*
 * spool — segment files, group commit through the ring, recovery.
 *
 * Write path: spool_append links the record into the collecting batch;
 * spool_flush (end of a loop turn) moves up to SPOOL_MAX_IOV records into
 * a flight: one IORING_OP_WRITEV linked to one IORING_OP_FSYNC(DATASYNC),
 * at an offset reserved when it is issued, so up to SPOOL_FLIGHTS flights
 * run at once.  A failed or short write cancels the sync; every writer of
 * that flight hears the error and nothing of it is acknowledged.  Its bytes
 * are cut off when nothing follows them, else left for recovery to skip,
 * and the segment is retired, as after a failed fdatasync (its pages can no
 * longer be trusted to reach the disk).
 *
 * Recovery maps each segment read-only and walks the records.  A record
 * whose magic, length or CRC is wrong is skipped by searching forward for
 * the next valid header; if none follows in the newest segment, the tail is
 * a torn write and is truncated away.
 */
#include "queue/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"
#include "queue/crc32c.h"

#define SPOOL_MAX_IOV (1024 - 16)	/* records per writev; 16 left for zeros */
/*
 * Flights in flight at once.  A sync costs the disk's flush latency whatever
 * its size, so while one flight waits the next turn's records go out in
 * another instead of queueing behind it: a message waits about one flush.
 */
#define SPOOL_FLIGHTS 2

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

struct spool_seg {
	uint32_t seq;		/* file name number */
	uint32_t live;		/* messages not yet finished */
	uint32_t flights;	/* flights writing into it: keep it */
	int fd;			/* open for reading (and writing if current) */
	uint64_t size;		/* bytes of records written (or being written) */
	uint64_t filled;	/* file length: records plus zero-filled tail */
};

/* One writev + fdatasync pair in flight. */
struct spool_flight {
	struct spool *sp;		/* owner */
	struct spool_write *head;	/* its records, in file order */
	uint32_t seq;			/* segment written */
	uint64_t off;			/* offset of the first byte */
	uint64_t len;			/* bytes of records */
	uint64_t wlen;			/* bytes written: records and zeros */
	int write_res;			/* result of the writev CQE */
	bool busy;			/* in flight */
	struct op write_op;		/* writev completion */
	struct op sync_op;		/* fdatasync completion */
	struct iovec iov[SPOOL_MAX_IOV + 16];	/* the writev's vector (+ zeros) */
};

struct spool {
	int dirfd;			/* the worker's spool directory */
	char *dir;			/* its path, for messages */
	unsigned worker;		/* worker index, part of every id */
	uint64_t segsize;		/* rotate when a batch would pass this */
	uint64_t last_id;		/* last id handed out */

	struct spool_seg *segs;		/* oldest first; last one is current */
	size_t nsegs, capsegs;		/* used / allocated entries */
	bool cur_broken;		/* current segment must not be written */

	struct spool_write *batch;	/* collecting: head of list */
	struct spool_write **batch_tail;/* where the next one is linked */
	unsigned nflight;		/* flights busy */
	bool no_zero;			/* the disk refused zeros: stop zero-filling */
	struct io_uring *ring;		/* the worker's ring, for a retried sync */
	struct spool_flight flight[SPOOL_FLIGHTS]; /* concurrent syncs */
};

static struct spool_seg *
seg_cur(struct spool *sp)
{
	return &sp->segs[sp->nsegs - 1];
}

static struct spool_seg *
seg_find(struct spool *sp, uint32_t seq)
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
seg_push(struct spool *sp, uint32_t seq, int fd, uint64_t size)
{
	if (sp->nsegs == sp->capsegs) {
		size_t cap = sp->capsegs ? sp->capsegs * 2 : 16;
		struct spool_seg *s = realloc(sp->segs, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		sp->segs = s;
		sp->capsegs = cap;
	}
	sp->segs[sp->nsegs++] = (struct spool_seg){ seq, 0, 0, fd, size, size };
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
	if (fsync(sp->dirfd) < 0 || (err = seg_push(sp, seq, fd, 0)) < 0) {
		err = errno ? -errno : -ENOMEM;
		close(fd);
		unlinkat(sp->dirfd, name, 0);
		return err;
	}
	sp->cur_broken = false;
	seg_collect(sp, NULL);
	return 0;
}

uint64_t
spool_new_id(struct spool *sp)
{
	struct timespec ts;
	uint64_t base;

	clock_gettime(CLOCK_REALTIME, &ts);
	base = ((uint64_t)(uint32_t)ts.tv_sec << 32) | ((uint64_t)(sp->worker & 0xff) << 24);
	if (base > sp->last_id)
		sp->last_id = base;
	else if ((sp->last_id & 0xffffff) == 0xffffff)	/* counter full: next second */
		sp->last_id = (sp->last_id & ~0xffffffull) + (1ull << 32);
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
	uint32_t crc;

	memcpy(&h, b->p + start, sizeof(h));
	h.len = (uint32_t)(b->len - start - sizeof(h));
	h.aux = aux;
	h.crc = 0;
	crc = crc32c(0, &h, sizeof(h));
	h.crc = crc32c(crc, b->p + start + sizeof(h), h.len);
	memcpy(b->p + start, &h, sizeof(h));
}

/* ---- recovery ------------------------------------------------------- */

/* Open-addressing table id -> live message, used only during recovery. */
struct rec_entry {
	uint64_t id;			/* 0 = empty slot */
	struct envelope *env;		/* decoded envelope (owned) */
	struct spool_loc loc;		/* where its MSG record is */
};

struct rec_table {
	struct rec_entry *e;		/* slots */
	size_t cap, n, tomb;		/* slots, live entries, deleted slots */
};

#define REC_TOMB UINT64_MAX

static size_t
rec_hash(uint64_t id, size_t cap)
{
	id ^= id >> 33;
	id *= 0xff51afd7ed558ccdull;
	id ^= id >> 33;
	return (size_t)id & (cap - 1);
}

static struct rec_entry *
rec_find(struct rec_table *t, uint64_t id)
{
	if (t->cap == 0)
		return NULL;
	for (size_t i = rec_hash(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].id == id)
			return &t->e[i];
		if (t->e[i].id == 0)
			return NULL;
	}
}

static int
rec_insert(struct rec_table *t, uint64_t id, struct envelope *env,
	   const struct spool_loc *loc)
{
	if ((t->n + t->tomb + 1) * 4 >= t->cap * 3) {
		struct rec_table nt = { 0 };
		nt.cap = t->cap ? (t->n * 4 >= t->cap ? t->cap * 2 : t->cap) : 1024;
		nt.e = calloc(nt.cap, sizeof(*nt.e));
		if (nt.e == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < t->cap; i++)
			if (t->e[i].id != 0 && t->e[i].id != REC_TOMB)
				rec_insert(&nt, t->e[i].id, t->e[i].env, &t->e[i].loc);
		free(t->e);
		*t = nt;
	}
	for (size_t i = rec_hash(id, t->cap);; i = (i + 1) & (t->cap - 1)) {
		if (t->e[i].id == 0 || t->e[i].id == REC_TOMB) {
			if (t->e[i].id == REC_TOMB)
				t->tomb--;
			t->e[i] = (struct rec_entry){ id, env, *loc };
			t->n++;
			return 0;
		}
	}
}

static bool
rec_valid(const uint8_t *p, uint64_t avail, struct spool_rec_hdr *h)
{
	uint32_t crc, want;

	if (avail < SPOOL_HDR_SIZE)
		return false;
	memcpy(h, p, sizeof(*h));
	if (h->magic != SPOOL_MAGIC || h->type < SPOOL_REC_MSG ||
	    h->type > SPOOL_REC_DONE || h->len > avail - SPOOL_HDR_SIZE)
		return false;
	want = h->crc;
	h->crc = 0;
	crc = crc32c(0, h, sizeof(*h));
	crc = crc32c(crc, p + SPOOL_HDR_SIZE, h->len);
	h->crc = want;
	return crc == want;
}

/* Apply one valid record to the table. */
static void
rec_apply(struct spool *sp, struct rec_table *t, const struct spool_rec_hdr *h,
	  const uint8_t *payload, uint32_t seq, uint64_t off,
	  struct spool_recovery *st)
{
	struct rec_entry *e = rec_find(t, h->id);
	struct spool_seg *seg;

	switch (h->type) {
	case SPOOL_REC_MSG: {
		struct spool_loc loc = { seq, SPOOL_HDR_SIZE + h->len, off };
		struct envelope *env;
		if (e != NULL || h->aux > h->len ||
		    (env = envelope_decode(payload, h->aux)) == NULL) {
			st->bad_records++;
			return;
		}
		if (rec_insert(t, h->id, env, &loc) < 0) {
			free(env);
			st->bad_records++;
			return;
		}
		seg_find(sp, seq)->live++;
		if (h->id > sp->last_id)
			sp->last_id = h->id;
		break;
	}
	case SPOOL_REC_RCPT:
		if (e != NULL && (h->aux >> 8) < e->env->nrcpt)
			e->env->rcpt[h->aux >> 8].state = (uint8_t)(h->aux & 0xff);
		break;
	case SPOOL_REC_DONE:
		if (e == NULL)
			break;
		seg = seg_find(sp, e->loc.seg);
		if (seg != NULL && seg->live > 0)
			seg->live--;
		free(e->env);
		e->id = REC_TOMB;
		e->env = NULL;
		t->n--;
		t->tomb++;
		break;
	}
}

/* Walk one segment.  last: the newest segment, whose torn tail is cut. */
static int
rec_segment(struct spool *sp, struct rec_table *t, struct spool_seg *seg,
	    bool last, struct spool_recovery *st)
{
	struct spool_rec_hdr h;
	struct stat sb;
	uint8_t *map;
	uint64_t off = 0, size;

	if (fstat(seg->fd, &sb) < 0)
		return -errno;
	size = (uint64_t)sb.st_size;
	seg->size = size;
	seg->filled = size;
	st->segments++;
	if (size == 0)
		return 0;
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, seg->fd, 0);
	if (map == MAP_FAILED)
		return -errno;
	madvise(map, size, MADV_SEQUENTIAL);
	while (off < size) {
		if (rec_valid(map + off, size - off, &h)) {
			st->records++;
			rec_apply(sp, t, &h, map + off + SPOOL_HDR_SIZE, seg->seq, off, st);
			off += SPOOL_HDR_SIZE + h.len;
			continue;
		}
		/* damaged: resynchronise on the next valid header */
		uint64_t next = off + 1;
		while (next + SPOOL_HDR_SIZE <= size) {
			const uint8_t *m = memmem(map + next, size - next, "SCL1", 4);
			if (m == NULL) {
				next = size;
				break;
			}
			next = (uint64_t)(m - map);
			if (rec_valid(m, size - next, &h))
				break;
			next++;
		}
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
	struct rec_table t = { 0 };
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
		if (fd < 0 || seg_push(sp, seqs[i], fd, 0) < 0) {
			rc = fd < 0 ? -errno : -ENOMEM;
			snprintf(err, errlen, "%s/%s: %s", sp->dir, name, strerror(-rc));
			if (fd >= 0)
				close(fd);
			goto out;
		}
		rc = rec_segment(sp, &t, seg_cur(sp), i + 1 == n, st);
		if (rc < 0) {
			snprintf(err, errlen, "%s/%s: %s", sp->dir, name, strerror(-rc));
			goto out;
		}
	}
	for (size_t i = 0; i < t.cap; i++) {
		if (t.e[i].id == 0 || t.e[i].id == REC_TOMB)
			continue;
		st->messages++;
		cb(arg, t.e[i].env, &t.e[i].loc);
		t.e[i].env = NULL;
	}
out:
	for (size_t i = 0; i < t.cap; i++)
		if (t.e[i].id != 0 && t.e[i].id != REC_TOMB)
			free(t.e[i].env);
	free(t.e);
	free(seqs);
	return rc;
}

/* mkdir -p: create path and its missing parents (mode 0700). */
static int
mkdir_p(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -errno;
	return 0;
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
	if ((rc = mkdir_p(path)) < 0) {
		snprintf(err, errlen, "%s: cannot create spool: %s", path, strerror(-rc));
		return rc;
	}
	sp = calloc(1, sizeof(*sp));
	if (sp == NULL)
		return -ENOMEM;
	sp->dirfd = -1;
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
	struct spool_seg *seg = seg_find(sp, f->seq);
	struct spool_write *w = f->head, *next;

	f->busy = false;
	f->head = NULL;
	sp->nflight--;
	seg->flights--;
	if (res < 0) {
		if (seg == seg_cur(sp) && seg->size == f->off + f->len &&
		    ftruncate(seg->fd, (off_t)f->off) == 0)
			seg->size = seg->filled = f->off;
		else
			sp->cur_broken = sp->cur_broken || seg == seg_cur(sp);
	}
	for (; w != NULL; w = next) {
		const struct spool_rec_hdr *h = w->iov.iov_base;
		next = w->next;
		if (res == 0 && h->type == SPOOL_REC_MSG)
			seg->live++;
		w->cb(w, res);
	}
	if (res == 0)
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
		struct spool_seg *seg = seg_find(sp, f->seq);
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
		if (seg_find(sp, f->seq) == seg_cur(sp))
			sp->cur_broken = true;
	}
	flight_done(f, res < 0 ? res : 0);
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
		w->loc.seg = seg->seq;
		w->loc.off = off;
		w->loc.len = (uint32_t)w->iov.iov_len;
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
spool_release(struct spool *sp, uint32_t seq)
{
	struct spool_seg *seg = seg_find(sp, seq);

	if (seg != NULL && seg->live > 0 && --seg->live == 0)
		seg_collect(sp, NULL);
}

uint64_t
spool_bytes(const struct spool *sp)
{
	uint64_t n = 0;

	for (size_t i = 0; i < sp->nsegs; i++)
		n += sp->segs[i].size;
	return n;
}

int
spool_read_data(struct spool *sp, const struct spool_loc *loc, struct buf *out)
{
	struct spool_seg *seg = seg_find(sp, loc->seg);
	struct spool_rec_hdr h;
	ssize_t r;
	size_t n;

	if (seg == NULL)
		return -ENOENT;
	if (pread(seg->fd, &h, sizeof(h), (off_t)loc->off) != (ssize_t)sizeof(h))
		return -EIO;
	if (h.magic != SPOOL_MAGIC || h.type != SPOOL_REC_MSG || h.aux > h.len)
		return -EIO;
	n = h.len - h.aux;
	buf_reserve(out, n);
	r = pread(seg->fd, out->p + out->len, n,
		  (off_t)(loc->off + SPOOL_HDR_SIZE + h.aux));
	if (r != (ssize_t)n)
		return -EIO;
	out->len += n;
	return 0;
}
