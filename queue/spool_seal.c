/*
 * spool_seal — the spool's secret key and the seal on every record.
 *
 * The key is 32 random bytes in <root>/spool.key: the first 16 key the
 * header tag, the last 16 the payload tag (queue/spool.h).  It is made once,
 * by whichever worker gets there first: written to a private temporary
 * file, synced, and published with link(2), which fails if the name exists,
 * so every worker ends up with the same key and no reader ever sees half a
 * file.  The spool directory's entry is synced before any record is sealed
 * with it.
 *
 * Crash invariant: a key, once any record was sealed with it, is never
 * replaced.  Without the key nothing in a segment verifies, and recovery
 * would cut the newest segment as torn; so a key is only made for a spool
 * that holds no segment with data, and a segment whose first header does
 * not verify stops the start instead of being cut.
 */
#include "queue/spool_int.h"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/strb.h"
#include "queue/siphash.h"

#define SEAL_HDR_BYTES offsetof(struct spool_rec_hdr, mac)	/* tagged header */

_Static_assert(sizeof(struct spool_rec_hdr) == SPOOL_HDR_SIZE, "spool header size");
_Static_assert(sizeof(struct spool_body_ref) == 16, "body ref size");

/* The header tag: the header up to the tag, then the offset it sits at. */
static uint64_t
hdr_tag(const uint8_t key[SPOOL_KEY_SIZE], const struct spool_rec_hdr *h, uint64_t off)
{
	uint8_t m[SEAL_HDR_BYTES + 8];
	uint64_t le = htole64(off);

	memcpy(m, h, SEAL_HDR_BYTES);
	memcpy(m + SEAL_HDR_BYTES, &le, 8);
	return siphash24(key, m, sizeof(m));
}

void
spool_rec_seal(const uint8_t key[SPOOL_KEY_SIZE], void *rec, uint32_t seq, uint64_t off)
{
	struct spool_rec_hdr h;

	memcpy(&h, rec, sizeof(h));
	h.seg = seq;
	h.sum = siphash24(key + SIPHASH_KEY_SIZE, (const uint8_t *)rec + SPOOL_HDR_SIZE, h.len);
	h.mac = hdr_tag(key, &h, off);
	memcpy(rec, &h, sizeof(h));
}

int
spool_rec_check(const uint8_t key[SPOOL_KEY_SIZE], const uint8_t *p, uint64_t avail,
		uint32_t seq, uint64_t off, struct spool_rec_hdr *h)
{
	if (avail < SPOOL_HDR_SIZE)
		return -EBADMSG;
	memcpy(h, p, sizeof(*h));
	if (h->magic != SPOOL_MAGIC || h->type < SPOOL_REC_MSG || h->type > SPOOL_REC_TRIED ||
	    (h->flags & ~SPOOL_REC_F_BODY) != 0 || h->pad != 0 || h->seg != seq ||
	    h->len > avail - SPOOL_HDR_SIZE)
		return -EBADMSG;
	/* the short tag first: a forged header costs one 48-byte hash */
	if (hdr_tag(key, h, off) != h->mac)
		return -EKEYREJECTED;
	if (siphash24(key + SIPHASH_KEY_SIZE, p + SPOOL_HDR_SIZE, h->len) != h->sum)
		return -EBADMSG;
	return 0;
}

/* ---- the key file ----------------------------------------------------- */

static int
key_read(const char *path, uint8_t key[SPOOL_KEY_SIZE], char *err, size_t errlen)
{
	struct stat sb;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

	if (fd < 0) {
		if (errno != ENOENT)
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &sb) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(sb.st_mode) || sb.st_size != SPOOL_KEY_SIZE) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s: not a spool key (a regular file of %d bytes); "
			 "segments sealed with the real one cannot be read without it",
			 path, SPOOL_KEY_SIZE);
	} else if (sb.st_mode & 077) {
		rc = -EPERM;
		snprintf(err, errlen, "%s: mode %03o lets others read the spool's secret; "
			 "chmod 600 it", path, (unsigned)(sb.st_mode & 0777));
	} else if ((n = pread(fd, key, SPOOL_KEY_SIZE, 0)) != SPOOL_KEY_SIZE) {
		rc = n < 0 ? -errno : -EIO;
		snprintf(err, errlen, "%s: read: %s", path, strerror(-rc));
	}
	close(fd);
	return rc;
}

/* Does some <root>/w<N>/ hold a segment with data in it? */
static bool
has_segments(const char *root)
{
	STRB_LOCAL(path, PATH_MAX);
	struct dirent *de, *se;
	bool found = false;
	DIR *d = opendir(root), *s;

	if (d == NULL)
		return false;
	while (!found && (de = readdir(d)) != NULL) {
		strb_reset(&path);
		strb_printf(&path, "%s/%s", root, de->d_name);
		if (de->d_name[0] != 'w' || path.trunc || (s = opendir(path.p)) == NULL)
			continue;
		while (!found && (se = readdir(s)) != NULL) {
			size_t n = strlen(se->d_name);
			struct stat sb;
			if (n > 4 && strcmp(se->d_name + n - 4, ".seg") == 0 &&
			    fstatat(dirfd(s), se->d_name, &sb, 0) == 0 && sb.st_size > 0)
				found = true;
		}
		closedir(s);
	}
	closedir(d);
	return found;
}

static int
key_create(const char *root, const char *path, uint8_t key[SPOOL_KEY_SIZE], char *err,
	   size_t errlen)
{
	STRB_LOCAL(tmp, PATH_MAX);
	int fd, dfd, rc = 0;

	if (has_segments(root)) {
		snprintf(err, errlen, "spool %s holds segments but no %s: they were written "
			 "by an older sluiced in the unsealed format (SCL1), or the key was "
			 "lost; recovery cannot tell them from forged records.  Deliver that "
			 "queue with the sluiced that wrote it, or move the spool aside",
			 root, SPOOL_KEY_FILE);
		return -ENOKEY;
	}
	if (getrandom(key, SPOOL_KEY_SIZE, 0) != SPOOL_KEY_SIZE) {
		snprintf(err, errlen, "getrandom: %s", strerror(errno));
		return -EIO;
	}
	strb_printf(&tmp, "%s.%d.%d", path, (int)getpid(), (int)gettid());
	fd = tmp.trunc ? -1 : open(tmp.p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
				   0600);
	if (fd < 0) {
		rc = tmp.trunc ? -ENAMETOOLONG : -errno;
		snprintf(err, errlen, "%s: %s", tmp.p, strerror(-rc));
		return rc;
	}
	if (write(fd, key, SPOOL_KEY_SIZE) != SPOOL_KEY_SIZE || fsync(fd) < 0)
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc == 0 && link(tmp.p, path) < 0)
		rc = -errno;	/* -EEXIST: another worker published first */
	unlink(tmp.p);
	if (rc < 0) {
		if (rc != -EEXIST)
			snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: sync of the new key's name: %s", root, strerror(errno));
	}
	if (dfd >= 0)
		close(dfd);
	return rc;
}

int
spool_key_load(const char *root, uint8_t key[SPOOL_KEY_SIZE], char *err, size_t errlen)
{
	STRB_LOCAL(path, PATH_MAX);
	int rc = -ENOENT;

	strb_printf(&path, "%s/%s", root, SPOOL_KEY_FILE);
	if (path.trunc) {
		snprintf(err, errlen, "%s: path too long", root);
		return -ENAMETOOLONG;
	}
	for (int tries = 0; tries < 2 && (rc == -ENOENT || rc == -EEXIST); tries++) {
		rc = key_read(path.p, key, err, errlen);
		if (rc == -ENOENT)
			rc = key_create(root, path.p, key, err, errlen);
	}
	return rc;
}
