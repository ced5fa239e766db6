/*
 * bench_common.c - ring set-up, CQE dispatch, parsing and clock helpers
 * shared by sluice-bench and sluice-sink.
 *
 * Not a general library: only what the two bench programs need, with no
 * dependency outside bench/. Single-threaded: each program owns one ring
 * and calls these helpers from that thread only.
 * May call: libc and liburing only (the bottom of both programs).
 */
#include "bench/bench_common.h"

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>

/* CQEs copied out of the CQ ring per dispatch round; copying first frees
 * CQ space before callbacks queue more work. */
#define BENCH_CQE_BATCH 256

/* SQ slots kept free before each callback runs: a callback queues at most
 * a handful of SQEs (recv, send, timeout, cancels). */
#define BENCH_SQ_RESERVE 16

uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_parse_ull(const char *s, unsigned long long min,
		    unsigned long long max, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int bench_parse_addr(const char *spec, int default_port,
		     struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256], port[16];
	struct addrinfo hints, *res = NULL;
	const char *colon;
	size_t hlen;
	int rc;

	if (spec == NULL || *spec == '\0')
		return -EINVAL;
	if (spec[0] == '[') {
		/* "[v6]" or "[v6]:port" */
		const char *close = strchr(spec, ']');

		if (close == NULL)
			return -EINVAL;
		hlen = (size_t)(close - spec - 1);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec + 1, hlen);
		host[hlen] = '\0';
		if (close[1] == ':')
			colon = close + 1;
		else if (close[1] == '\0')
			colon = NULL;
		else
			return -EINVAL;
	} else {
		colon = strrchr(spec, ':');
		/* A bare IPv6 literal has several colons and no port. */
		if (colon != NULL && strchr(spec, ':') != colon)
			colon = NULL;
		hlen = colon ? (size_t)(colon - spec) : strlen(spec);
		if (hlen == 0 || hlen >= sizeof(host))
			return -EINVAL;
		memcpy(host, spec, hlen);
		host[hlen] = '\0';
	}
	if (colon != NULL) {
		unsigned long long p;

		if (bench_parse_ull(colon + 1, 1, 65535, &p) < 0)
			return -EINVAL;
		snprintf(port, sizeof(port), "%u", (unsigned)p);
	} else {
		snprintf(port, sizeof(port), "%d", default_port);
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0 || res == NULL)
		return -EINVAL;
	if (res->ai_addrlen > sizeof(*ss)) {
		freeaddrinfo(res);
		return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

const char *bench_addr_str(const struct sockaddr_storage *ss, char *buf,
			   size_t size)
{
	char host[INET6_ADDRSTRLEN];

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
		snprintf(buf, size, "[%s]:%u", host, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
		snprintf(buf, size, "%s:%u", host, ntohs(a->sin_port));
	}
	return buf;
}

long bench_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return -errno;
	if (rl.rlim_cur != rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			return -errno;
	}
	return rl.rlim_cur > LONG_MAX ? LONG_MAX : (long)rl.rlim_cur;
}

int bench_ring_init(struct io_uring *ring, unsigned sq_entries,
		    unsigned cq_entries)
{
	/* Newest first: DEFER_TASKRUN runs completions only when we wait,
	 * which batches them; COOP_TASKRUN avoids IPIs on 5.19+. */
	static const unsigned flag_sets[] = {
		IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
			IORING_SETUP_SUBMIT_ALL,
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
		0,
	};
	struct io_uring_params p;
	int rc = -EINVAL;
	size_t i;

	for (i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cq_entries;
		rc = io_uring_queue_init_params(sq_entries, ring, &p);
		if (rc == 0)
			return 0;
		if (rc != -EINVAL)
			return rc;
	}
	return rc;
}

struct io_uring_sqe *bench_sqe(struct io_uring *ring, struct bench_op *op)
{
	struct io_uring_sqe *sqe;
	int tries, rc;

	for (tries = 0; tries < 8; tries++) {
		sqe = io_uring_get_sqe(ring);
		if (sqe != NULL) {
			io_uring_sqe_set_data(sqe, op);
			return sqe;
		}
		/* SQ full: hand it to the kernel and try again. */
		rc = io_uring_submit(ring);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return NULL;
	}
	return NULL;
}

int bench_ring_step(struct io_uring *ring)
{
	struct {
		struct bench_op *op;	/* the CQE's user_data */
		int res;		/* cqe->res */
		unsigned flags;		/* cqe->flags */
	} batch[BENCH_CQE_BATCH];
	struct io_uring_cqe *cqe;
	unsigned head, n, i;
	int rc;

	rc = io_uring_submit_and_wait(ring, 1);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY &&
	    rc != -ETIME)
		return rc;
	for (;;) {
		n = 0;
		io_uring_for_each_cqe(ring, head, cqe) {
			batch[n].op = io_uring_cqe_get_data(cqe);
			batch[n].res = cqe->res;
			batch[n].flags = cqe->flags;
			if (++n == BENCH_CQE_BATCH)
				break;
		}
		if (n == 0)
			return 0;
		io_uring_cq_advance(ring, n);
		for (i = 0; i < n; i++) {
			if (io_uring_sq_space_left(ring) < BENCH_SQ_RESERVE)
				io_uring_submit(ring);
			if (batch[i].op != NULL)
				batch[i].op->cb(batch[i].op, batch[i].res,
						batch[i].flags);
		}
	}
}

int bench_signalfd(void)
{
	sigset_t sigs;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	return fd >= 0 ? fd : -errno;
}

void bench_sockopt_int(int fd, int level, int name, int value)
{
	(void)setsockopt(fd, level, name, &value, sizeof(value));
}
