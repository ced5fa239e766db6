/*
 * log_sink — where finished log lines go: standard error, a file opened
 * for appending, or the local syslog socket.  core/log.c formats the lines
 * and batches a worker's turn; this file only delivers bytes, and never
 * logs itself (a failure is returned, or the line goes to stderr).
 *
 * One descriptor, one number.  The sink writes to sink_fd, which is set
 * once by log_open before any other thread logs.  Reopening (SIGUSR1 after
 * logrotate moved the file) and reconnecting (syslogd restarted) make a new
 * descriptor and dup2 it onto that same number: dup2 swaps the open file
 * behind the number atomically, so a worker's write in the same instant
 * goes whole to the old file or whole to the new one, never to a closed or
 * reused descriptor.  The main thread reopens; any thread may write.
 *
 * Syslog.  sluiced speaks the local syslog protocol itself rather than
 * through <syslog.h> (whose LOG_ERR, LOG_INFO... macros collide with
 * core/log.h's levels): one datagram per line on the unix socket /dev/log,
 * "<PRI>Mmm dd hh:mm:ss sluiced[PID]: text", PRI = facility * 8 +
 * severity, as glibc's syslog(3) sends it; systemd-journald and rsyslog
 * read it.  The environment variable SLUICE_SYSLOG_SOCKET names another
 * socket: it exists for the tests, which bind their own.  A line that
 * cannot be sent even after one reconnection goes to stderr instead of
 * being lost.  Sends block like glibc's when the reader is behind.
 */
#include "core/log_sink.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/strb.h"

#define SYSLOG_SOCKET	"/dev/log"

static int sink_fd = 2;			/* where lines go; fixed once open */
static enum log_dest sink_to = LOG_TO_STDERR;
static char sink_path[4096];		/* the file, or the syslog socket */
static unsigned sink_facility = 2;	/* syslog facility code (mail) */
static int sink_pid;			/* our pid, for syslog lines */
static pthread_mutex_t sink_mu = PTHREAD_MUTEX_INITIALIZER; /* reconnects */

void
log_set_fd(int fd)
{
	sink_fd = fd;
	sink_to = LOG_TO_STDERR;
}

/* A new descriptor for the file (created true when this made it). */
static int
file_open(const char *path, bool *created)
{
	int flags = O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY;
	int fd = open(path, flags | O_CREAT | O_EXCL, 0640);

	if (created != NULL)
		*created = fd >= 0;
	if (fd < 0 && errno == EEXIST)
		fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

/* A new datagram socket connected to the syslog socket at path. */
static int
syslog_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

/* Put the new descriptor fd behind sink_fd's number. */
static int
swap_in(int fd)
{
	int rc = 0;

	if (fd != sink_fd && dup2(fd, sink_fd) < 0)
		rc = -errno;
	if (fd != sink_fd)
		close(fd);
	return rc;
}

int
log_sink_open(const struct log_setup *s, bool *created, char *err, size_t errlen)
{
	const char *path = s->path;
	int fd;

	if (created != NULL)
		*created = false;
	sink_facility = s->facility;
	sink_pid = (int)getpid();
	if (s->to == LOG_TO_STDERR) {
		log_set_fd(2);
		return 0;
	}
	if (s->to == LOG_TO_SYSLOG) {
		path = getenv("SLUICE_SYSLOG_SOCKET");
		if (path == NULL || path[0] == '\0')
			path = SYSLOG_SOCKET;
		tzset();	/* the syslog time stamp is local time */
		fd = syslog_connect(path);
	} else {
		fd = file_open(path, created);
	}
	if (fd < 0) {
		snprintf(err, errlen, "log: %s %s: %s", s->to == LOG_TO_SYSLOG ?
			 "syslog socket" : "file", path, strerror(-fd));
		return fd;
	}
	snprintf(sink_path, sizeof(sink_path), "%s", path);
	sink_fd = fd;
	sink_to = s->to;
	return 0;
}

int
log_sink_reopen(char *err, size_t errlen)
{
	int fd, rc;

	if (sink_to == LOG_TO_STDERR)
		return 0;
	pthread_mutex_lock(&sink_mu);
	fd = sink_to == LOG_TO_FILE ? file_open(sink_path, NULL) :
				      syslog_connect(sink_path);
	rc = fd < 0 ? fd : swap_in(fd);
	pthread_mutex_unlock(&sink_mu);
	if (rc < 0)
		snprintf(err, errlen, "%s: %s", sink_path, strerror(-rc));
	return rc;
}

size_t
log_sink_head(char *out, size_t cap, enum log_level lvl)
{
	/* severities of RFC 5424: debug 7, info 6, warning 4, error 3 */
	static const unsigned sev[] = { 7, 6, 4, 3 };
	static const char mon[][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct strb sb;
	struct tm tm;
	time_t now;

	if (sink_to != LOG_TO_SYSLOG || cap == 0)
		return 0;
	now = time(NULL);
	localtime_r(&now, &tm);
	strb_init(&sb, out, cap);
	strb_printf(&sb, "<%u>%s %2d %02d:%02d:%02d sluiced[%d]: ",
		    sink_facility * 8 + sev[lvl], mon[tm.tm_mon % 12], tm.tm_mday,
		    tm.tm_hour, tm.tm_min, tm.tm_sec, sink_pid);
	return sb.len;
}

static void
write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

/* One datagram; a gone syslogd gets one reconnection, then stderr. */
static void
syslog_send(const char *p, size_t n)
{
	for (int tries = 0; tries < 2; tries++) {
		ssize_t w;

		do
			w = send(sink_fd, p, n, MSG_NOSIGNAL);
		while (w < 0 && errno == EINTR);
		if (w >= 0)
			return;
		if (tries > 0 || (errno != ECONNREFUSED && errno != ENOTCONN &&
				  errno != ECONNRESET && errno != EPIPE))
			break;
		pthread_mutex_lock(&sink_mu);
		w = syslog_connect(sink_path);
		if (w >= 0)
			swap_in((int)w);
		pthread_mutex_unlock(&sink_mu);
	}
	write_all(2, p, n);
	write_all(2, "\n", 1);
}

void
log_sink_write(const char *p, size_t n)
{
	if (sink_to != LOG_TO_SYSLOG) {
		write_all(sink_fd, p, n);
		return;
	}
	/* lines end in '\n'; each is a datagram of its own, without it */
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) : n;

		if (len > 0)
			syslog_send(p, len);
		len += nl != NULL;
		p += len;
		n -= len;
	}
}

bool
log_sink_tty(void)
{
	return sink_to != LOG_TO_STDERR && isatty(2);
}
