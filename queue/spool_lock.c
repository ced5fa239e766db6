/*
 * spool_lock — the exclusive lock that makes a spool belong to one sluiced.
 *
 * The lock is an open file description lock (F_OFD_SETLK) on <spool>/lock:
 * it belongs to the descriptor, not to a thread or to whichever descriptor
 * of the file is closed first (the trap of classic POSIX locks), and the
 * kernel drops it when the process dies, however it dies, so a crash never
 * leaves a stale lock behind.  The file holds the owner's pid as text for
 * the message a second instance prints; the pid is only informative, the
 * lock is what counts, so the file is never unlinked (unlinking would let a
 * newcomer lock a fresh inode while the old owner still runs).
 *
 * Invariant: no code path opens, recovers, creates or deletes a segment
 * before spool_lock() has returned a descriptor; core/daemon/sluiced.c
 * calls it right after loading the config.  `sluiced -t` does not take it.
 */
#include "queue/spool_lock.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/file.h"

/*
 * The pid the holder wrote, or 0.  The holder writes it just after taking
 * the lock, so an empty file is retried for a moment before giving up.
 */
static long
lock_holder(int fd)
{
	char text[32];
	ssize_t n;
	long pid;

	for (int i = 0; i < 20; i++) {
		n = pread(fd, text, sizeof(text) - 1, 0);
		if (n > 0) {
			text[n] = '\0';
			pid = strtol(text, NULL, 10);
			if (pid > 0)
				return pid;
		}
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return 0;
}

int
spool_lock(const char *root, char *err, size_t errlen)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	char path[PATH_MAX], text[32];
	int fd, rc, len;
	long pid;

	if ((rc = file_mkdirs(root, 0700)) < 0) {
		snprintf(err, errlen, "%s: cannot create spool: %s", root, strerror(-rc));
		return rc;
	}
	if (snprintf(path, sizeof(path), "%s/lock", root) >= (int)sizeof(path)) {
		snprintf(err, errlen, "%s: spool path too long", root);
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open the spool lock: %s", path,
			 strerror(-rc));
		return rc;
	}
	if (fcntl(fd, F_OFD_SETLK, &fl) < 0) {
		rc = -errno;
		if (rc == -EAGAIN || rc == -EACCES) {
			pid = lock_holder(fd);
			if (pid > 0)
				snprintf(err, errlen, "spool %s is in use by sluiced pid %ld "
					 "(lock %s held); stop that process or give this "
					 "one its own spool", root, pid, path);
			else
				snprintf(err, errlen, "spool %s is in use by another process "
					 "(lock %s held)", root, path);
			rc = -EWOULDBLOCK;
		} else {
			snprintf(err, errlen, "%s: cannot lock the spool: %s", path,
				 strerror(-rc));
		}
		close(fd);
		return rc;
	}
	/* ours: say who we are (a stale pid from an earlier owner goes) */
	len = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)len, 0) != len) {
		rc = errno ? -errno : -EIO;
		snprintf(err, errlen, "%s: cannot write our pid: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	return fd;
}

/* True when directory path holds a file, directly or one level down (the
 * segments, and the body files in body/). */
static bool
holds_files(const char *path, int depth)
{
	DIR *d = opendir(path);
	struct dirent *e;
	bool found = false;

	if (d == NULL)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		char sub[PATH_MAX];

		if (e->d_name[0] == '.')
			continue;
		if (e->d_type == DT_DIR) {
			if (depth > 0 &&
			    snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name) < (int)sizeof(sub))
				found = holds_files(sub, depth - 1);
		} else {
			found = true;
		}
	}
	closedir(d);
	return found;
}

unsigned
spool_workers_used(const char *root)
{
	DIR *d = opendir(root);
	struct dirent *e;
	unsigned n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[PATH_MAX], *end;
		unsigned long k;

		if (e->d_name[0] != 'w' || e->d_name[1] < '0' || e->d_name[1] > '9')
			continue;
		k = strtoul(e->d_name + 1, &end, 10);
		if (*end != '\0' || k >= 4096 || k + 1 <= n ||
		    snprintf(path, sizeof(path), "%s/%s", root, e->d_name) >= (int)sizeof(path))
			continue;
		if (holds_files(path, 1))
			n = (unsigned)k + 1;
	}
	closedir(d);
	return n;
}
