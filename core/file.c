/*
 * file — reading a whole file, making a directory path, replacing a
 * state file (core/file.h).  A
 * regular file is read into a buffer of its size plus one byte, so the read
 * that returns 0 needs no second allocation; anything else (a pipe,
 * /dev/stdin) grows its buffer by doubling, up to the caller's limit.
 */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reading itself, on an open fd; same results as file_read. */
static int
read_fd(int fd, size_t max, char **bufp, size_t *lenp)
{
	size_t len = 0, cap = 4096;
	struct stat st;
	char *buf, *nb;
	ssize_t r;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		if ((uint64_t)st.st_size > max)
			return -EFBIG;
		cap = (size_t)st.st_size + 1;	/* +1: see the end at once */
	}
	buf = malloc(cap);
	if (buf == NULL)
		return -ENOMEM;
	for (;;) {
		if (len > max) {
			free(buf);
			return -EFBIG;
		}
		if (len == cap) {
			size_t ncap = cap < max / 2 ? cap * 2 : max + 1;

			nb = realloc(buf, ncap);
			if (nb == NULL) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap = ncap;
		}
		r = read(fd, buf + len, cap - len);
		if (r == 0)
			break;
		if (r < 0) {
			int rc = -errno;

			if (rc == -EINTR)
				continue;
			free(buf);
			return rc;
		}
		len += (size_t)r;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int
file_is_regular(const char *path)
{
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	return S_ISREG(st.st_mode);
}

int
file_read(const char *path, size_t max, char **buf, size_t *len)
{
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = read_fd(fd, max, buf, len);
	close(fd);
	return rc;
}

int
file_mkdirs(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Write all of p[0..n) to fd. */
static int
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int
file_replace(const char *path, const void *p, size_t n)
{
	char tmp[PATH_MAX], dir[PATH_MAX];
	int fd, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	rc = write_all(fd, p, n);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		if (fsync(fd) < 0)
			rc = -errno;
		close(fd);
	}
	return rc;
}
