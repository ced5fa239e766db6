/*
 * notify — the sd_notify(3) datagram protocol (core/daemon/notify.h):
 * parse NOTIFY_SOCKET, keep one datagram socket and its address, send one
 * message per call.  No state changes after notify_open, so any thread
 * may send.
 */
#include "core/daemon/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/strb.h"

static int notify_fd = -1;		/* socket to send on, -1: nobody listens */
static struct sockaddr_un notify_sa;	/* where to */
static socklen_t notify_salen;		/* its length (abstract names count) */

int
notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = value != NULL ? strlen(value) : 0;

	if (n < 2 || (value[0] != '/' && value[0] != '@'))
		return -EINVAL;
	if (n > sizeof(sa->sun_path) - (value[0] == '/'))
		return -ENAMETOOLONG;
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	memcpy(sa->sun_path, value, n);
	if (value[0] == '@')
		sa->sun_path[0] = '\0';		/* abstract: no NUL after the name */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			   (value[0] == '/'));
	return 0;
}

int
notify_open(char *err, size_t errlen)
{
	const char *v = getenv("NOTIFY_SOCKET");
	int rc;

	if (v == NULL || v[0] == '\0')
		return 0;
	rc = notify_addr(v, &notify_sa, &notify_salen);
	if (rc < 0) {
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: %s", v, rc == -EINVAL ?
			 "expected an absolute path or an @abstract name" : strerror(-rc));
		return rc;
	}
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (notify_fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "NOTIFY_SOCKET=%s: socket: %s", v, strerror(errno));
		return rc;
	}
	return 1;
}

static int __attribute__((format(printf, 1, 0)))
notify_vsend(const char *fmt, va_list ap)
{
	char msg[1024];
	struct strb sb;
	ssize_t w;

	if (notify_fd < 0)
		return 0;
	strb_init(&sb, msg, sizeof(msg));
	strb_vprintf(&sb, fmt, ap);
	do
		w = sendto(notify_fd, sb.p, sb.len, MSG_NOSIGNAL,
			   (const struct sockaddr *)&notify_sa, notify_salen);
	while (w < 0 && errno == EINTR);
	return w < 0 ? -errno : 0;
}

int
notify_send(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = notify_vsend(fmt, ap);
	va_end(ap);
	return rc;
}

int
notify_reloading(const char *status)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return notify_send("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=%s",
			   (unsigned long long)ts.tv_sec * 1000000ULL +
				   (unsigned long long)ts.tv_nsec / 1000, status);
}

/* A decimal environment variable, or 0 when unset or not a number. */
static unsigned long long
env_number(const char *name)
{
	const char *v = getenv(name);
	char *end;
	unsigned long long n;

	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	return errno != 0 || *end != '\0' ? 0 : n;
}

uint64_t
notify_watchdog_usec(void)
{
	unsigned long long pid = env_number("WATCHDOG_PID");

	if (getenv("WATCHDOG_PID") != NULL && pid != (unsigned long long)getpid())
		return 0;
	return env_number("WATCHDOG_USEC");
}
