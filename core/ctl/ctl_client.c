/*
 * ctl_client — one request and its answer, as a client of the control
 * socket.  The exchange is the one core/ctl/ctl.h promises: one line,
 * shutdown(SHUT_WR), read to EOF; the answer ends with an empty line.
 */
#include "core/ctl/ctl_client.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"

int
ctl_client_connect(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	return fd;
}

int
ctl_client_send(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

char *
ctl_client_error(const char *line, size_t n)
{
	if (n >= 7 && memcmp(line, "error: ", 7) == 0)
		return strndup(line + 7, n - 7);
	if (n > 0 && line[0] == '{') {	/* a JSON answer: {"error": TEXT} */
		json_t *j = json_loadb(line, n, 0, NULL);
		const char *m = json_string_value(json_object_get(j, "error"));
		char *s = m != NULL && json_object_size(j) == 1 ? strdup(m) : NULL;
		json_decref(j);
		return s;
	}
	return NULL;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ctl_client_call(const char *path, const char *line, int timeout_ms, size_t max,
		struct buf *out, char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	size_t start = out->len;
	char rbuf[65536];
	int fd, rc;

	if ((fd = ctl_client_connect(path, err, errlen)) < 0)
		return fd;
	if ((rc = ctl_client_send(fd, line, strlen(line))) < 0 ||
	    (rc = ctl_client_send(fd, "\n", 1)) < 0) {
		snprintf(err, errlen, "sending to %s: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0 || (rc = poll(&p, 1, (int)left)) == 0) {
			snprintf(err, errlen, "no answer from %s within %d ms", path, timeout_ms);
			rc = -ETIMEDOUT;
			break;
		}
		if (rc < 0 && errno == EINTR)
			continue;
		n = rc < 0 ? -1 : recv(fd, rbuf, sizeof(rbuf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "reading from %s: %s", path, strerror(errno));
			break;
		}
		if (n == 0) {
			size_t len = out->len - start;
			/* the answer ends with an empty line: "...\n\n", or "\n" alone */
			if (len >= 1 && out->p[out->len - 1] == '\n' &&
			    (len == 1 || out->p[out->len - 2] == '\n')) {
				out->len--;
				rc = 0;
			} else {
				snprintf(err, errlen, "the answer from %s was cut short", path);
				rc = -EPROTO;
			}
			break;
		}
		if (out->len - start + (size_t)n > max) {
			snprintf(err, errlen, "the answer from %s is larger than %zu bytes", path,
				 max);
			rc = -EMSGSIZE;
			break;
		}
		buf_append(out, rbuf, (size_t)n);
	}
	close(fd);
	return rc;
}
