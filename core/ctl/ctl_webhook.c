/*
 * ctl_webhook — POSTing alert events to alerts.webhook, off the control
 * thread.
 *
 * The control thread appends a post to a ring of CTL_WEBHOOK_QUEUE under a
 * mutex and signals a condition variable; the webhook thread takes one at
 * a time and sends it with blocking calls bounded by poll() and one
 * deadline: getaddrinfo (the only call not bounded by it: a name, not an
 * address literal, waits for the resolver's own timeouts), a non-blocking
 * connect, the request, then the status line, which is all it reads.
 * Nothing is retried.  The HTTP spoken is the least that works: a request
 * line, Host, Content-Type, Content-Length and Connection: close.
 *
 * Ownership: a queued post (its strings and body) belongs to the ring
 * until the thread takes it, then to the thread, which frees it.  The
 * thread is started on the first post and joined by ctl_webhook_stop.
 */
#include "core/ctl/ctl_webhook.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"

#define STATUS_MAX 256		/* bytes of a status line read, at most */

/* One POST. */
struct wh_post {
	char *host;		/* where to */
	uint16_t port;
	char *path;		/* request target */
	char *body;		/* JSON text */
};

static pthread_mutex_t wh_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wh_cv = PTHREAD_COND_INITIALIZER;
static struct wh_post *ring[CTL_WEBHOOK_QUEUE];	/* waiting posts */
static size_t head, count;		/* first waiting, how many */
static bool stopping;			/* ctl_webhook_stop asked */
static bool started;			/* the thread runs (control thread) */
static pthread_t wh_thread;
static uint64_t dropped;		/* posts lost to a full ring, not yet
					   logged (control thread) */

static void
post_free(struct wh_post *p)
{
	if (p == NULL)
		return;
	free(p->host);
	free(p->path);
	free(p->body);
	free(p);
}

/* ---- the request ------------------------------------------------------ */

size_t
ctl_webhook_request(char *out, size_t n, const char *host, uint16_t port,
		    const char *path, size_t body_len)
{
	struct strb sb;
	bool v6 = strchr(host, ':') != NULL;

	strb_init(&sb, out, n);
	strb_printf(&sb, "POST %s HTTP/1.1\r\nHost: %s%s%s", path, v6 ? "[" : "", host,
		    v6 ? "]" : "");
	if (port != 80)
		strb_printf(&sb, ":%u", (unsigned)port);
	strb_printf(&sb, "\r\nUser-Agent: sluice\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", body_len);
	return sb.trunc ? 0 : sb.len;
}

int
ctl_webhook_status(const char *line, size_t n)
{
	int code = 0;

	/* "HTTP/1.x NNN" and a space or the end */
	if (n < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[7] < '0' || line[7] > '9' ||
	    line[8] != ' ')
		return -1;
	for (size_t i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9')
			return -1;
		code = code * 10 + (line[i] - '0');
	}
	if (n > 12 && line[12] != ' ')
		return -1;
	return code >= 100 ? code : -1;
}

/* ---- sending (webhook thread) ---------------------------------------- */

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for ev on fd until deadline: 0, or -ETIMEDOUT / -errno. */
static int
wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = { .fd = fd, .events = ev };
		int rc;

		if (left <= 0)
			return -ETIMEDOUT;
		rc = poll(&pfd, 1, (int)left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR)
			return -errno;
	}
}

/* A connected socket to p's host and port, or -errno. */
static int
dial(const struct wh_post *p, int64_t deadline)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char port[8];
	int rc = -EHOSTUNREACH;

	snprintf(port, sizeof(port), "%u", (unsigned)p->port);
	if (getaddrinfo(p->host, port, &hints, &res) != 0 || res == NULL)
		return -EHOSTUNREACH;
	for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int err = 0;
		socklen_t el = sizeof(err);

		if (fd < 0) {
			rc = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			rc = -errno;
			close(fd);
			continue;
		}
		rc = wait_fd(fd, POLLOUT, deadline);
		if (rc == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err != 0)
			rc = -err;
		if (rc == 0) {
			freeaddrinfo(res);
			return fd;
		}
		close(fd);
		if (rc == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	return rc;
}

static int
send_all(int fd, const char *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		int rc;

		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if ((rc = wait_fd(fd, POLLOUT, deadline)) < 0)
			return rc;
	}
	return 0;
}

/* The status line into line (NUL-terminated, without CRLF): its length,
 * or -errno (-EPROTO: the peer closed first). */
static long
read_status(int fd, char *line, size_t n, int64_t deadline)
{
	size_t len = 0;

	for (;;) {
		char *eol;
		ssize_t k;
		int rc;

		line[len] = '\0';
		if ((eol = strstr(line, "\r\n")) != NULL || len == n - 1) {
			if (eol != NULL)
				*eol = '\0';
			return (long)strlen(line);
		}
		if ((rc = wait_fd(fd, POLLIN, deadline)) < 0)
			return rc;
		k = recv(fd, line + len, n - 1 - len, 0);
		if (k == 0)
			return len > 0 ? (long)len : -EPROTO;
		if (k < 0 && errno != EAGAIN && errno != EINTR)
			return -errno;
		if (k > 0)
			len += (size_t)k;
	}
}

/* One post, start to status line; logs the outcome. */
static void
post_send(const struct wh_post *p)
{
	int64_t deadline = mono_ms() + CTL_WEBHOOK_TIMEOUT * 1000;
	size_t blen = strlen(p->body);
	char req[1024], line[STATUS_MAX];
	size_t rlen = ctl_webhook_request(req, sizeof(req), p->host, p->port, p->path, blen);
	long rc;
	int fd, code;

	if (rlen == 0) {
		log_warn("alerts webhook: the request to %s does not fit; event dropped",
			 LOG_FIELD(p->host));
		return;
	}
	fd = dial(p, deadline);
	if (fd < 0) {
		log_warn("alerts webhook: cannot connect to %s port %u: %s; event dropped",
			 LOG_FIELD(p->host), (unsigned)p->port, strerror(-fd));
		return;
	}
	rc = send_all(fd, req, rlen, deadline);
	if (rc == 0)
		rc = send_all(fd, p->body, blen, deadline);
	if (rc == 0)
		rc = read_status(fd, line, sizeof(line), deadline);
	close(fd);
	if (rc < 0) {
		log_warn("alerts webhook: POST to %s port %u%s: %s; event dropped",
			 LOG_FIELD(p->host), (unsigned)p->port, LOG_FIELD(p->path),
			 rc == -EPROTO ? "closed without an answer" : strerror((int)-rc));
		return;
	}
	code = ctl_webhook_status(line, (size_t)rc);
	if (code < 200 || code > 299)
		log_warn("alerts webhook: POST to %s port %u%s answered \"%s\"; event dropped",
			 LOG_FIELD(p->host), (unsigned)p->port, LOG_FIELD(p->path),
			 LOG_TEXT(line));
	else
		log_debug("alerts webhook: POST to %s port %u%s: %d", LOG_FIELD(p->host),
			  (unsigned)p->port, LOG_FIELD(p->path), code);
}

static void *
wh_main(void *arg)
{
	pthread_mutex_lock(&wh_mu);
	for (;;) {
		struct wh_post *p;

		while (count == 0 && !stopping)
			pthread_cond_wait(&wh_cv, &wh_mu);
		if (stopping)
			break;
		p = ring[head];
		ring[head] = NULL;
		head = (head + 1) % CTL_WEBHOOK_QUEUE;
		count--;
		pthread_mutex_unlock(&wh_mu);
		post_send(p);
		post_free(p);
		pthread_mutex_lock(&wh_mu);
	}
	pthread_mutex_unlock(&wh_mu);
	return NULL;
}

/* ---- the control thread's side --------------------------------------- */

void
ctl_webhook_post(const char *host, uint16_t port, const char *path, char *body)
{
	struct wh_post *p;
	bool full;

	if (!started) {
		int rc;

		stopping = false;
		rc = pthread_create(&wh_thread, NULL, wh_main, NULL);
		if (rc != 0) {
			log_err("alerts webhook: thread: %s; event dropped", strerror(rc));
			free(body);
			return;
		}
		started = true;
	}
	p = xcalloc(1, sizeof(*p));
	p->host = xstrdup(host);
	p->port = port;
	p->path = xstrdup(path);
	p->body = body;
	pthread_mutex_lock(&wh_mu);
	full = count == CTL_WEBHOOK_QUEUE;
	if (!full) {
		ring[(head + count) % CTL_WEBHOOK_QUEUE] = p;
		count++;
		pthread_cond_signal(&wh_cv);
	}
	pthread_mutex_unlock(&wh_mu);
	if (full) {
		post_free(p);
		/* said once per burst: the first drop, then each 100th */
		if (dropped++ % 100 == 0)
			log_warn("alerts webhook: %d events wait for %s already; event dropped "
				 "(%llu so far)", CTL_WEBHOOK_QUEUE, LOG_FIELD(host),
				 (unsigned long long)dropped);
	}
}

void
ctl_webhook_stop(void)
{
	if (!started)
		return;
	pthread_mutex_lock(&wh_mu);
	stopping = true;
	pthread_cond_signal(&wh_cv);
	pthread_mutex_unlock(&wh_mu);
	pthread_join(wh_thread, NULL);
	started = false;
	while (count > 0) {
		post_free(ring[head]);
		ring[head] = NULL;
		head = (head + 1) % CTL_WEBHOOK_QUEUE;
		count--;
	}
	head = 0;
}
