/*
 * spool_body — body files: the data of a message too large to hold in
 * memory, in <root>/w<N>/body/<id>, written through the worker's ring as
 * the client sends it (net/smtp_server.c decides when a message spills).
 *
 * Why a file per message and not the segment: a segment is shared by every
 * session of the worker and written by group commit, so a message streamed
 * into it would hold the segment's append point (or its own region of it)
 * for as long as a slow client takes; and a message refused at the end of
 * its data would leave dead bytes behind in a segment that stays until
 * everything in it is finished.  A body file costs an open, a directory
 * sync and an unlink, which is nothing beside 256 KiB of data or more, and
 * it goes the moment its message is done.
 *
 * Crash invariant: the file's data and its directory entry are synced
 * before the MSG record that names it is handed to the group commit, so a
 * MSG record recovery accepts always finds its body.  A body file without a
 * live MSG record (a crash before the record was synced, or after the DONE
 * but before the unlink) is garbage, and recovery unlinks it.
 *
 * Thread: the owning worker's only.
 */
#include "queue/spool_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"
#include "queue/crc32c.h"

#define BODY_DIR "body"

/* The file name of message id: 16 hex digits. */
static void
body_name(uint64_t id, char out[17])
{
	envelope_id_str(id, out);
}

int
spool_body_dir_open(struct spool *sp, char *err, size_t errlen)
{
	if (mkdirat(sp->dirfd, BODY_DIR, 0700) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "%s/%s: %s", sp->dir, BODY_DIR, strerror(errno));
		return -errno;
	}
	sp->bodyfd = openat(sp->dirfd, BODY_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sp->bodyfd < 0) {
		snprintf(err, errlen, "%s/%s: %s", sp->dir, BODY_DIR, strerror(errno));
		return -errno;
	}
	return 0;
}

/* ---- writing ---------------------------------------------------------- */

/* After every completion: what the owner may look at, then its callback. */
static void
body_event(struct spool_body *b)
{
	b->synced = b->data_synced && b->dir_synced && b->err == 0;
	b->cb(b);	/* may free the owner, and b with it */
}

static void
body_write_done(struct op *op, int res, uint32_t flags)
{
	struct spool_body *b = container_of(op, struct spool_body, wop);

	b->inflight--;
	b->writing = false;
	if (b->want == 0) {		/* the fdatasync */
		if (res < 0 && b->err == 0)
			b->err = res;
		b->data_synced = res == 0;
	} else if (res < 0 || (uint64_t)res != b->want) {
		/* a short write to a regular file: the disk is full */
		if (b->err == 0)
			b->err = res < 0 ? res : -ENOSPC;
	} else {
		b->size += b->want;
	}
	body_event(b);		/* the owner logs a failure, with its context */
}

static void
body_dir_done(struct op *op, int res, uint32_t flags)
{
	struct spool_body *b = container_of(op, struct spool_body, dop);

	b->inflight--;
	if (res < 0 && b->err == 0)
		b->err = res;
	b->dir_synced = res == 0;
	body_event(b);
}

int
spool_body_open(struct spool *sp, struct spool_body *b, uint64_t id, struct io_uring *ring)
{
	struct io_uring_sqe *sqe;
	char name[17];
	int fd;

	b->fd = -1;
	body_name(id, name);
	fd = openat(sp->bodyfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	*b = (struct spool_body){ .cb = b->cb, .fd = fd, .sp = sp, .id = id };
	b->wop.cb = body_write_done;
	b->dop.cb = body_dir_done;
	/* the name must be durable before the record naming it: sync it while
	 * the data still arrives */
	sqe = ring_sqe(ring);
	io_uring_prep_fsync(sqe, sp->bodyfd, 0);
	op_set(sqe, &b->dop);
	b->inflight++;
	return 0;
}

void
spool_body_write(struct spool_body *b, struct io_uring *ring, const void *p, size_t n)
{
	struct io_uring_sqe *sqe = ring_sqe(ring);

	b->crc = crc32c(b->crc, p, n);
	b->want = n;
	b->writing = true;
	b->inflight++;
	io_uring_prep_write(sqe, b->fd, p, (unsigned)n, b->size);
	op_set(sqe, &b->wop);
}

void
spool_body_commit(struct spool_body *b, struct io_uring *ring)
{
	struct io_uring_sqe *sqe = ring_sqe(ring);

	b->want = 0;
	b->writing = true;
	b->inflight++;
	io_uring_prep_fsync(sqe, b->fd, IORING_FSYNC_DATASYNC);
	op_set(sqe, &b->wop);
}

void
spool_body_ref(const struct spool_body *b, struct buf *rec, size_t start)
{
	struct spool_body_ref ref = { .size = b->size, .crc = b->crc };
	struct spool_rec_hdr h;

	buf_append(rec, &ref, sizeof(ref));
	memcpy(&h, rec->p + start, sizeof(h));
	h.flags |= SPOOL_REC_F_BODY;
	memcpy(rec->p + start, &h, sizeof(h));
}

void
spool_body_close(struct spool_body *b, bool keep)
{
	if (b->fd < 0)
		return;
	close(b->fd);
	b->fd = -1;
	if (keep) {
		b->sp->nbodies++;
		b->sp->body_bytes += b->size;
	} else {
		spool_body_unlink(b->sp, b->id);
	}
}

/* ---- reading, release, recovery --------------------------------------- */

void
spool_body_unlink(struct spool *sp, uint64_t id)
{
	char name[17];

	body_name(id, name);
	if (unlinkat(sp->bodyfd, name, 0) < 0 && errno != ENOENT)
		log_warn("spool %s/%s/%s: unlink: %s", sp->dir, BODY_DIR, name, strerror(errno));
}

bool
spool_body_present(struct spool *sp, uint64_t id, uint64_t size)
{
	struct stat sb;
	char name[17];

	body_name(id, name);
	return fstatat(sp->bodyfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode) &&
	       (uint64_t)sb.st_size == size;
}

bool
spool_body_keep_damaged(struct spool *sp, uint64_t id)
{
	char name[17], kept[32];

	body_name(id, name);
	snprintf(kept, sizeof(kept), "%s.damaged", name);
	return renameat(sp->bodyfd, name, sp->bodyfd, kept) == 0;
}

int
spool_body_open_read(struct spool *sp, uint64_t id)
{
	char name[17];
	int fd;

	body_name(id, name);
	fd = openat(sp->bodyfd, name, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

void
spool_body_sweep(struct spool *sp, bool (*live)(void *arg, uint64_t id), void *arg,
		 struct spool_recovery *st)
{
	struct dirent *de;
	int dfd = dup(sp->bodyfd);
	DIR *d;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		log_warn("spool %s/%s: %s", sp->dir, BODY_DIR, strerror(errno));
		return;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned long long id;
		struct stat sb;
		char *end;

		if (de->d_name[0] == '.')
			continue;
		id = strtoull(de->d_name, &end, 16);
		if (strlen(de->d_name) != 16 || *end != '\0')
			continue;	/* not ours: left alone */
		if (live(arg, id)) {
			if (fstatat(sp->bodyfd, de->d_name, &sb, 0) == 0) {
				sp->nbodies++;
				sp->body_bytes += (uint64_t)sb.st_size;
			}
			continue;
		}
		if (unlinkat(sp->bodyfd, de->d_name, 0) == 0)
			st->orphans++;
		else
			log_warn("spool %s/%s/%s: unlink: %s", sp->dir, BODY_DIR, de->d_name,
				 strerror(errno));
	}
	closedir(d);
}
