/*
 * dns_test — unit tests of net/dns against real servers on loopback:
 * a dnsmasq started per test with the records below, a tiny forked UDP
 * responder that answers by the query's first label (SERVFAIL, REFUSED,
 * NXDOMAIN, FORMERR, NOTIMP, A-but-no-AAAA, NODATA), a "blackhole" UDP
 * socket that never reads (timeouts), and a closed port (unreachable).
 *
 * Each test builds its own ring (plain flags) and drives it like a worker:
 * submit and wait, then hand every CQE to op_dispatch().  Tests needing
 * dnsmasq are skipped when it is not installed.  The children are killed
 * by PID in the fixture's teardown (and by PR_SET_PDEATHSIG if the test
 * process dies first).  dnsmasq --no-daemon answers TCP inline, blocking
 * until the client closes: harmless here because c-ares closes its
 * sockets when idle, but it is why teardown falls back to SIGKILL.
 */
#include "core/log.h"
#include "net/dns.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef DNSMASQ
#define DNSMASQ		"/usr/sbin/dnsmasq"	/* -DDNSMASQ=... elsewhere */
#endif
#define BIG_MX		60	/* MX records of big.dns.test: > 1232 bytes */

static struct io_uring ring;	/* this test's ring */
static bool ring_ok;		/* ring is set up */
static pid_t dnsmasq_pid = -1;	/* the test's dnsmasq */
static int dnsmasq_port;	/* its UDP and TCP port on 127.0.0.1 */
static pid_t responder_pid = -1;/* the forked rcode responder */
static int responder_port;	/* its UDP port on 127.0.0.1 */
static int blackhole_fd = -1;	/* bound UDP socket nobody reads */
static int blackhole_port;	/* its port */

/*
 * Plumbing
 */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* One loop turn like a worker's: submit, wait up to 20 ms, dispatch. */
static void
pump(void)
{
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = { .tv_nsec = 20 * 1000000 };

	io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	while (io_uring_peek_cqe(&ring, &cqe) == 0) {
		struct io_uring_cqe c = *cqe;

		io_uring_cqe_seen(&ring, cqe);
		op_dispatch(&c);
	}
}

/* Turn the loop until *count reaches want; fail after ms. */
static void
wait_for(const unsigned *count, unsigned want, unsigned ms)
{
	uint64_t end = now_ms() + ms;

	while (*count < want) {
		cr_assert(now_ms() < end, "timed out: %u of %u callbacks",
		    *count, want);
		pump();
	}
}

/* Turn the loop until d has no lookup and no poll record left. */
static void
settle(struct dns *d)
{
	uint64_t end = now_ms() + 10000;

	while (dns_pending(d) > 0 || d->npolls > 0) {
		cr_assert(now_ms() < end, "not settled: %u queries, %u polls",
		    dns_pending(d), d->npolls);
		pump();
	}
}

static int
udp_bound(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* The child side of a fork: die with the test process. */
static void
child_setup(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

/*
 * SIGTERM, then SIGKILL after 2 s: dnsmasq --no-daemon answers TCP inline
 * and sits in read() until the client closes, and a failed test may not
 * have closed its sockets.
 */
static void
child_stop(pid_t *pid)
{
	uint64_t end = now_ms() + 2000;

	if (*pid <= 0)
		return;
	kill(*pid, SIGTERM);
	while (waitpid(*pid, NULL, WNOHANG) == 0) {
		if (now_ms() >= end) {
			kill(*pid, SIGKILL);
			waitpid(*pid, NULL, 0);
			break;
		}
		usleep(10000);
	}
	*pid = -1;
}

/*
 * The responder: answers by the first label of the query name.
 *   servfail, refused, nxdomain, formerr, notimp: that RCODE
 *   aonly: A 127.0.0.2 for A queries, no answer at all for AAAA
 *   anything else: NOERROR without records (NODATA)
 */
static void
responder_main(int fd)
{
	static const struct { const char *label; int rcode; } rc[] = {
		{ "servfail", 2 }, { "refused", 5 }, { "nxdomain", 3 },
		{ "formerr", 1 }, { "notimp", 4 },
	};
	unsigned char q[1024], r[1100];

	for (;;) {
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0,
		    (struct sockaddr *)&from, &fl);
		char label[64] = "";
		size_t off = 12, len;
		int rcode = 0, qtype, an = 0;

		if (n < 17)
			continue;
		if (q[off] < 64) {
			memcpy(label, q + off + 1, q[off]);
			label[q[off]] = '\0';
		}
		while (off < (size_t)n && q[off] != 0)
			off += q[off] + 1u;
		off += 5;		/* root label, QTYPE, QCLASS */
		if (off > (size_t)n)
			continue;
		qtype = q[off - 4] << 8 | q[off - 3];
		for (size_t i = 0; i < sizeof(rc) / sizeof(rc[0]); i++)
			if (strcmp(label, rc[i].label) == 0)
				rcode = rc[i].rcode;
		if (strcmp(label, "aonly") == 0) {
			if (qtype == 28)
				continue;
			an = qtype == 1;
		}
		memcpy(r, q, off);
		r[2] = 0x80 | (q[2] & 0x01);	/* QR, RD copied */
		r[3] = (unsigned char)(0x80 | rcode);	/* RA, RCODE */
		r[4] = 0, r[5] = 1;		/* QDCOUNT */
		r[6] = 0, r[7] = (unsigned char)an;
		memset(r + 8, 0, 4);		/* NSCOUNT, ARCOUNT */
		len = off;
		if (an) {
			static const unsigned char a[] = {
				0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
				127, 0, 0, 2,
			};
			memcpy(r + len, a, sizeof(a));
			len += sizeof(a);
		}
		sendto(fd, r, len, 0, (struct sockaddr *)&from, fl);
	}
}

static void
responder_up(void)
{
	pid_t parent = getpid();
	int fd = udp_bound(&responder_port);

	responder_pid = fork();
	cr_assert(responder_pid >= 0);
	if (responder_pid == 0) {
		child_setup(parent);
		responder_main(fd);
		_exit(0);
	}
	close(fd);
}

/* A raw A query to port; true if anything answers within ms. */
static bool
udp_answers(int port, unsigned ms)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned char q[64] = { 0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 }, buf[512];
	char label[16];
	size_t n = 12;
	ssize_t got;
	bool ok;

	/* "p<pid>.dns.test": only our own dnsmasq knows that name, so
	   another DNS server on the port (a test running beside this one)
	   is not taken for it */
	snprintf(label, sizeof(label), "p%d", (int)getpid());
	q[n++] = (unsigned char)strlen(label);
	memcpy(q + n, label, strlen(label));
	n += strlen(label);
	memcpy(q + n, "\3dns\4test\0\0\1\0\1", 14);
	n += 14;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	sendto(fd, q, n, 0, (struct sockaddr *)&sa, sizeof(sa));
	got = poll(&pfd, 1, (int)ms) == 1 ? recv(fd, buf, sizeof(buf), 0) : -1;
	/* our id, a response, NOERROR, at least one answer */
	ok = got >= 12 && buf[0] == 0x12 && buf[1] == 0x34 && (buf[2] & 0x80) &&
	     (buf[3] & 0x0f) == 0 && (buf[6] << 8 | buf[7]) > 0;
	close(fd);
	return ok;
}

static pid_t
dnsmasq_spawn(int port)
{
	static char big[BIG_MX][96];
	char portarg[32], servfail[64], probe[64];
	const char *argv[48 + BIG_MX] = {
		DNSMASQ, "--no-daemon", "--no-resolv", "--no-hosts",
		"--bind-interfaces", "--listen-address=127.0.0.1",
		"--conf-file=/dev/null", "--pid-file=", "--local=/dns.test/",
		"--host-record=mx1.dns.test,127.0.0.1",
		"--host-record=mx2.dns.test,127.0.0.2",
		"--host-record=mx3.dns.test,127.0.0.3",
		"--host-record=v6.dns.test,::1",
		"--host-record=both.dns.test,127.0.0.4,::4",
		"--mx-host=dns.test,mx2.dns.test,20",
		"--mx-host=dns.test,mx1.dns.test,10",
		"--mx-host=dns.test,mx3.dns.test,30",
		"--mx-host=tie.dns.test,mx1.dns.test,10",
		"--mx-host=tie.dns.test,mx2.dns.test,10",
		"--mx-host=tie.dns.test,mx3.dns.test,5",
		"--mx-host=nullmx.dns.test,.,0",
		"--txt-record=nomx.dns.test,x",
		"--cname=alias.dns.test,mx1.dns.test",
		portarg, servfail, probe,
	};
	size_t argc = 26;
	pid_t parent = getpid(), pid;

	snprintf(portarg, sizeof(portarg), "--port=%d", port);
	snprintf(probe, sizeof(probe), "--host-record=p%d.dns.test,127.0.0.9", (int)getpid());
	snprintf(servfail, sizeof(servfail),
	    "--server=/servfail.test/127.0.0.1#%d", responder_port);
	for (int i = 0; i < BIG_MX; i++) {
		snprintf(big[i], sizeof(big[i]), "--mx-host=big.dns.test,"
		    "mx%02d.a-rather-long-exchange-name.dns.test,%d",
		    BIG_MX - i, BIG_MX - i);
		argv[argc++] = big[i];
	}
	argv[argc] = NULL;
	cr_assert(argc < sizeof(argv) / sizeof(argv[0]));
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		child_setup(parent);
		dup2(null, 1);
		dup2(null, 2);
		execv(DNSMASQ, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* This test's ring; skip where io_uring is unavailable. */
static void
ring_up(void)
{
	int rc = io_uring_queue_init(64, &ring, 0);

	if (rc == -ENOSYS || rc == -EPERM)
		cr_skip_test("io_uring unavailable: %s", strerror(-rc));
	cr_assert_eq(rc, 0, "io_uring_queue_init: %s", strerror(-rc));
	ring_ok = true;
}

/* Fixture: a responder, then a dnsmasq on a free random port. */
static void
dnsmasq_up(void)
{
	if (access(DNSMASQ, X_OK) != 0)
		cr_skip_test("%s not installed", DNSMASQ);
	ring_up();
	responder_up();
	srandom((unsigned)getpid() ^ (unsigned)now_ms());
	for (int attempt = 0; attempt < 20; attempt++) {
		int port = 20000 + (int)(random() % 20000);
		pid_t pid = dnsmasq_spawn(port);
		uint64_t end = now_ms() + 5000;

		while (now_ms() < end) {
			if (waitpid(pid, NULL, WNOHANG) == pid) {
				pid = -1;	/* port taken: try another */
				break;
			}
			if (udp_answers(port, 50)) {
				dnsmasq_pid = pid;
				dnsmasq_port = port;
				return;
			}
		}
		child_stop(&pid);
	}
	cr_assert_fail("dnsmasq did not start");
}

/* Fixture without dnsmasq: a responder and a blackhole. */
static void
local_up(void)
{
	ring_up();
	responder_up();
	blackhole_fd = udp_bound(&blackhole_port);
}

static void
teardown(void)
{
	child_stop(&dnsmasq_pid);
	child_stop(&responder_pid);
	if (blackhole_fd >= 0)
		close(blackhole_fd);
	blackhole_fd = -1;
	if (ring_ok)
		io_uring_queue_exit(&ring);
	ring_ok = false;
}

/* d on 127.0.0.1:port. */
static void
dns_up(struct dns *d, int port, unsigned timeout_ms, unsigned tries)
{
	char server[32];
	const char *servers[] = { server };

	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	cr_assert_eq(dns_init(d, &ring, servers, 1, timeout_ms, tries), 0);
}

/*
 * Recorded answers
 */

struct host_res {
	unsigned calls;			/* callbacks run */
	enum dns_status st;		/* last status */
	size_t n;			/* last count */
	struct dns_addr addrs[8];	/* first addresses */
};

static void
host_cb(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	struct host_res *r = arg;

	r->calls++;
	r->st = st;
	r->n = n;
	cr_assert(n == 0 || a != NULL);
	cr_assert(st == DNS_OK || n == 0);
	if (n > 0)
		memcpy(r->addrs, a, (n < 8 ? n : 8) * sizeof(*a));
}

struct mx_res {
	unsigned calls;			/* callbacks run */
	enum dns_status st;		/* last status */
	size_t n;			/* last count */
	uint16_t pref[BIG_MX];		/* preferences, in order */
	char host[BIG_MX][96];		/* exchanges, in order */
};

static void
mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct mx_res *r = arg;

	r->calls++;
	r->st = st;
	r->n = n;
	for (size_t i = 0; i < n && i < BIG_MX; i++) {
		r->pref[i] = mx[i].pref;
		snprintf(r->host[i], sizeof(r->host[i]), "%s", mx[i].host);
	}
}

static struct host_res
host_lookup(struct dns *d, const char *name)
{
	struct host_res r = { 0 };

	dns_resolve_host(d, name, host_cb, &r);
	wait_for(&r.calls, 1, 10000);
	cr_assert_eq(r.calls, 1);
	return r;
}

static struct mx_res *
mx_lookup(struct dns *d, const char *name)
{
	static struct mx_res r;

	memset(&r, 0, sizeof(r));
	dns_resolve_mx(d, name, mx_cb, &r);
	wait_for(&r.calls, 1, 10000);
	cr_assert_eq(r.calls, 1);
	return &r;
}

static void
assert_addr(const struct dns_addr *a, int family, const char *text)
{
	uint8_t want[16] = { 0 };

	cr_assert_eq(inet_pton(family, text, want), 1);
	cr_assert_eq(a->family, family, "family %d, want %d (%s)", a->family,
	    family, text);
	cr_assert_eq(memcmp(a->addr, want, family == AF_INET ? 4 : 16), 0,
	    "address is not %s", text);
}

#define assert_st(got, want) \
	cr_assert_eq((got), (want), "status %s, want %s", \
	    dns_status_str(got), dns_status_str(want))

TestSuite(dns, .fini = teardown);

/*
 * Set-up and input that needs no server
 */

Test(dns, init_servers, .init = local_up)
{
	static const struct { const char *s; int rc; } t[] = {
		{ "127.0.0.1", 0 }, { "127.0.0.1:5353", 0 }, { "::1", 0 },
		{ "[::1]", 0 }, { "[::1]:53", 0 }, { "[::ffff:127.0.0.1]:53", 0 },
		{ "", -EINVAL }, { "localhost", -EINVAL },
		{ "127.0.0.1:", -EINVAL }, { "127.0.0.1:0", -EINVAL },
		{ "127.0.0.1:65536", -EINVAL }, { "127.0.0.1:53x", -EINVAL },
		{ "127.0.0.1:-5", -EINVAL }, { "[::1", -EINVAL },
		{ "[::1]53", -EINVAL }, { "[127.0.0.1:53", -EINVAL },
		{ "::1]:53", -EINVAL }, { "1.2.3:53", -EINVAL },
	};
	struct dns d;
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);

	log_set_fd(null);	/* the rejections are logged; expected here */
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *servers[] = { "127.0.0.1:53", t[i].s };
		int rc = dns_init(&d, &ring, servers, 2, 100, 1);

		cr_assert_eq(rc, t[i].rc, "\"%s\": %d, want %d", t[i].s, rc,
		    t[i].rc);
		if (rc == 0)
			dns_fini(&d);
	}
	log_set_fd(2);
	close(null);
	/* System resolver configuration. */
	cr_assert_eq(dns_init(&d, &ring, NULL, 0, 0, 0), 0);
	dns_fini(&d);
}

Test(dns, status_strings)
{
	cr_assert_str_eq(dns_status_str(DNS_OK), "ok");
	cr_assert_str_eq(dns_status_str(DNS_NULL_MX), "null-mx");
	cr_assert_str_eq(dns_status_str(DNS_ERROR), "error");
	cr_assert_str_eq(dns_status_str((enum dns_status)99), "unknown");
}

/* Literals are answered synchronously: no query, no traffic. */
Test(dns, literals, .init = local_up)
{
	static const struct { const char *name; int family; const char *addr; } t[] = {
		{ "127.0.0.1", AF_INET, "127.0.0.1" },
		{ "192.0.2.77", AF_INET, "192.0.2.77" },
		{ "::1", AF_INET6, "::1" },
		{ "2001:db8::25", AF_INET6, "2001:db8::25" },
		{ "[192.0.2.1]", AF_INET, "192.0.2.1" },
		{ "[IPv6:2001:db8::1]", AF_INET6, "2001:db8::1" },
		{ "[ipv6:::1]", AF_INET6, "::1" },
	};
	struct dns d;
	unsigned char buf[64];

	dns_up(&d, blackhole_port, 200, 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct host_res r = { 0 };

		cr_assert_null(dns_resolve_host(&d, t[i].name, host_cb, &r));
		cr_assert_eq(r.calls, 1, "%s: no synchronous answer", t[i].name);
		assert_st(r.st, DNS_OK);
		cr_assert_eq(r.n, 1);
		assert_addr(&r.addrs[0], t[i].family, t[i].addr);
	}
	/* An address literal as a mail domain: its implicit MX, no lookup. */
	struct mx_res m = { 0 };

	cr_assert_null(dns_resolve_mx(&d, "[192.0.2.1]", mx_cb, &m));
	cr_assert_eq(m.calls, 1);
	assert_st(m.st, DNS_NODATA);
	cr_assert_eq(m.n, 1);
	cr_assert_eq(m.pref[0], 0);
	cr_assert_str_eq(m.host[0], "[192.0.2.1]");

	cr_assert_eq(dns_pending(&d), 0);
	cr_assert_eq(d.npolls, 0, "a socket was opened");
	cr_assert_eq(recv(blackhole_fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	cr_assert_eq(errno, EAGAIN, "a query was sent");
	dns_fini(&d);
}

Test(dns, bad_names, .init = local_up)
{
	static char long_label[70], long_name[300];
	const char *t[] = {
		"", ".", "..", "a..b", ".a", "bad name", "a\\.b", "ex\xc3\xa4mple.test",
		"[192.0.2.1", "[IPv6:192.0.2.1]", "a/b", long_label, long_name,
	};
	struct dns d;

	memset(long_label, 'a', 64);
	for (int i = 0; i < 64; i++)	/* 64 labels of 3 = 255 octets */
		memcpy(long_name + 4 * i, "abc.", 4);
	long_name[255] = '\0';
	dns_up(&d, blackhole_port, 200, 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct host_res r = { 0 };
		struct mx_res m = { 0 };

		cr_assert_null(dns_resolve_host(&d, t[i], host_cb, &r));
		cr_assert_eq(r.calls, 1, "\"%s\"", t[i]);
		assert_st(r.st, DNS_BADNAME);
		cr_assert_null(dns_resolve_mx(&d, t[i], mx_cb, &m));
		cr_assert_eq(m.calls, 1, "\"%s\"", t[i]);
		assert_st(m.st, DNS_BADNAME);
	}
	cr_assert_eq(dns_pending(&d), 0);
	dns_fini(&d);
}

/*
 * Addresses through dnsmasq
 */

Test(dns, a_record, .init = dnsmasq_up)
{
	struct dns d;
	struct host_res r;

	dns_up(&d, dnsmasq_port, 1000, 2);
	r = host_lookup(&d, "mx1.dns.test");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 1);
	assert_addr(&r.addrs[0], AF_INET, "127.0.0.1");
	/* A trailing dot is the same name. */
	r = host_lookup(&d, "MX1.dns.test.");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 1);
	/* A CNAME is followed. */
	r = host_lookup(&d, "alias.dns.test");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 1);
	assert_addr(&r.addrs[0], AF_INET, "127.0.0.1");
	settle(&d);
	dns_fini(&d);
}

Test(dns, aaaa_record, .init = dnsmasq_up)
{
	struct dns d;
	struct host_res r;

	dns_up(&d, dnsmasq_port, 1000, 2);
	r = host_lookup(&d, "v6.dns.test");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 1);
	assert_addr(&r.addrs[0], AF_INET6, "::1");
	settle(&d);
	dns_fini(&d);
}

Test(dns, both_families, .init = dnsmasq_up)
{
	struct dns d;
	struct host_res r;

	dns_up(&d, dnsmasq_port, 1000, 2);
	r = host_lookup(&d, "both.dns.test");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 2);
	assert_addr(&r.addrs[0], AF_INET, "127.0.0.4");
	assert_addr(&r.addrs[1], AF_INET6, "::4");
	settle(&d);
	dns_fini(&d);
}

Test(dns, nxdomain, .init = dnsmasq_up)
{
	struct dns d;

	dns_up(&d, dnsmasq_port, 1000, 2);
	assert_st(host_lookup(&d, "nope.dns.test").st, DNS_NXDOMAIN);
	struct mx_res *m = mx_lookup(&d, "nope.dns.test");
	assert_st(m->st, DNS_NXDOMAIN);
	cr_assert_eq(m->n, 0);
	settle(&d);
	dns_fini(&d);
}

Test(dns, nodata, .init = dnsmasq_up)
{
	struct dns d;
	struct host_res r;

	dns_up(&d, dnsmasq_port, 1000, 2);
	r = host_lookup(&d, "nomx.dns.test");	/* a TXT record only */
	assert_st(r.st, DNS_NODATA);
	cr_assert_eq(r.n, 0);
	settle(&d);
	dns_fini(&d);
}

/* dnsmasq has no upstream for other domains and answers REFUSED. */
Test(dns, refused_via_dnsmasq, .init = dnsmasq_up)
{
	struct dns d;

	dns_up(&d, dnsmasq_port, 1000, 2);
	assert_st(host_lookup(&d, "mail.example.org").st, DNS_REFUSED);
	assert_st(mx_lookup(&d, "example.org")->st, DNS_REFUSED);
	settle(&d);
	dns_fini(&d);
}

/* dnsmasq forwards servfail.test to the responder and relays SERVFAIL. */
Test(dns, servfail_via_dnsmasq, .init = dnsmasq_up)
{
	struct dns d;

	dns_up(&d, dnsmasq_port, 1000, 2);
	assert_st(host_lookup(&d, "servfail.servfail.test").st, DNS_SERVFAIL);
	assert_st(mx_lookup(&d, "servfail.servfail.test")->st, DNS_SERVFAIL);
	settle(&d);
	dns_fini(&d);
}

/*
 * MX through dnsmasq
 */

Test(dns, mx_sorted, .init = dnsmasq_up)
{
	struct dns d;
	struct mx_res *m;

	dns_up(&d, dnsmasq_port, 1000, 2);
	m = mx_lookup(&d, "dns.test");
	assert_st(m->st, DNS_OK);
	cr_assert_eq(m->n, 3);
	for (int i = 0; i < 3; i++) {
		char want[32];

		snprintf(want, sizeof(want), "mx%d.dns.test", i + 1);
		cr_assert_eq(m->pref[i], 10 * (i + 1));
		cr_assert_str_eq(m->host[i], want);
	}
	settle(&d);
	dns_fini(&d);
}

/* Equal preferences come in random order (RFC 5321 §5.1). */
Test(dns, mx_ties_shuffled, .init = dnsmasq_up)
{
	struct dns d;
	unsigned first_mx1 = 0, first_mx2 = 0;

	dns_up(&d, dnsmasq_port, 1000, 2);
	for (int i = 0; i < 24; i++) {
		struct mx_res *m = mx_lookup(&d, "tie.dns.test");

		assert_st(m->st, DNS_OK);
		cr_assert_eq(m->n, 3);
		cr_assert_eq(m->pref[0], 5);
		cr_assert_str_eq(m->host[0], "mx3.dns.test");
		cr_assert_eq(m->pref[1], 10);
		cr_assert_eq(m->pref[2], 10);
		cr_assert_str_neq(m->host[1], m->host[2]);
		if (strcmp(m->host[1], "mx1.dns.test") == 0)
			first_mx1++;
		else
			first_mx2++;
	}
	cr_assert(first_mx1 > 0 && first_mx2 > 0, "ties not shuffled: %u/%u",
	    first_mx1, first_mx2);
	settle(&d);
	dns_fini(&d);
}

/* No MX: the implicit MX is the domain itself (RFC 5321 §5.1). */
Test(dns, mx_implicit, .init = dnsmasq_up)
{
	struct dns d;
	struct mx_res *m;

	dns_up(&d, dnsmasq_port, 1000, 2);
	m = mx_lookup(&d, "nomx.dns.test.");
	assert_st(m->st, DNS_NODATA);
	cr_assert_eq(m->n, 1);
	cr_assert_eq(m->pref[0], 0);
	cr_assert_str_eq(m->host[0], "nomx.dns.test");
	settle(&d);
	dns_fini(&d);
}

Test(dns, mx_null, .init = dnsmasq_up)
{
	struct dns d;
	struct mx_res *m;

	dns_up(&d, dnsmasq_port, 1000, 2);
	m = mx_lookup(&d, "nullmx.dns.test");
	assert_st(m->st, DNS_NULL_MX);
	cr_assert_eq(m->n, 0);
	settle(&d);
	dns_fini(&d);
}

/* 60 MX records do not fit 1232 bytes: c-ares retries over TCP. */
Test(dns, mx_large_over_tcp, .init = dnsmasq_up)
{
	struct dns d;
	struct mx_res *m;

	dns_up(&d, dnsmasq_port, 1000, 2);
	m = mx_lookup(&d, "big.dns.test");
	assert_st(m->st, DNS_OK);
	cr_assert_eq(m->n, BIG_MX);
	for (int i = 0; i < BIG_MX; i++) {
		char want[96];

		snprintf(want, sizeof(want),
		    "mx%02d.a-rather-long-exchange-name.dns.test", i + 1);
		cr_assert_eq(m->pref[i], i + 1);
		cr_assert_str_eq(m->host[i], want);
	}
	settle(&d);
	dns_fini(&d);
}

/* A lookup chained from a callback: the MX's first host's address. */
struct chain {
	struct dns *d;		/* the resolver */
	struct host_res r;	/* the host lookup's answer */
};

static void
chain_mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct chain *c = arg;

	cr_assert_eq(st, DNS_OK);
	cr_assert_geq(n, 1);
	dns_resolve_host(c->d, mx[0].host, host_cb, &c->r);
}

Test(dns, chained_from_callback, .init = dnsmasq_up)
{
	struct dns d;
	struct chain c = { .d = &d };

	dns_up(&d, dnsmasq_port, 1000, 2);
	dns_resolve_mx(&d, "dns.test", chain_mx_cb, &c);
	wait_for(&c.r.calls, 1, 10000);
	assert_st(c.r.st, DNS_OK);
	assert_addr(&c.r.addrs[0], AF_INET, "127.0.0.1");
	settle(&d);
	dns_fini(&d);
}

/*
 * Answer codes, timeouts and partial answers from the responder
 */

Test(dns, rcodes, .init = local_up)
{
	static const struct { const char *name; enum dns_status st; } t[] = {
		{ "servfail.r.test", DNS_SERVFAIL },
		{ "refused.r.test", DNS_REFUSED },
		{ "nxdomain.r.test", DNS_NXDOMAIN },
		{ "formerr.r.test", DNS_ERROR },
		{ "notimp.r.test", DNS_ERROR },
		{ "empty.r.test", DNS_NODATA },
	};
	struct dns d;

	dns_up(&d, responder_port, 1000, 1);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct host_res r = host_lookup(&d, t[i].name);
		struct mx_res *m;

		cr_assert_eq(r.st, t[i].st, "%s: %s", t[i].name,
		    dns_status_str(r.st));
		m = mx_lookup(&d, t[i].name);
		if (t[i].st == DNS_NODATA) {
			cr_assert_eq(m->n, 1);
			cr_assert_str_eq(m->host[0], t[i].name);
		}
		cr_assert_eq(m->st, t[i].st, "MX %s: %s", t[i].name,
		    dns_status_str(m->st));
	}
	settle(&d);
	dns_fini(&d);
}

/* A answered, AAAA never: the A records are the answer. */
Test(dns, one_family_times_out, .init = local_up)
{
	struct dns d;
	struct host_res r;
	uint64_t t0 = now_ms();

	dns_up(&d, responder_port, 300, 1);
	r = host_lookup(&d, "aonly.r.test");
	assert_st(r.st, DNS_OK);
	cr_assert_eq(r.n, 1);
	assert_addr(&r.addrs[0], AF_INET, "127.0.0.2");
	cr_assert_geq(now_ms() - t0, 250, "answered before AAAA timed out");
	settle(&d);
	dns_fini(&d);
}

Test(dns, timeout, .init = local_up)
{
	struct dns d;
	uint64_t t0 = now_ms(), dt;
	struct host_res r = { 0 };
	struct mx_res m = { 0 };

	dns_up(&d, blackhole_port, 300, 1);
	cr_assert_not_null(dns_resolve_host(&d, "mx1.dns.test", host_cb, &r));
	cr_assert_not_null(dns_resolve_mx(&d, "dns.test", mx_cb, &m));
	cr_assert_eq(dns_pending(&d), 2);
	wait_for(&r.calls, 1, 5000);
	wait_for(&m.calls, 1, 5000);
	dt = now_ms() - t0;
	assert_st(r.st, DNS_TIMEOUT);
	assert_st(m.st, DNS_TIMEOUT);
	cr_assert(dt >= 250 && dt < 2000, "timed out after %llu ms",
	    (unsigned long long)dt);
	settle(&d);
	dns_fini(&d);
}

/* Packets the blackhole has received (and drops). */
static unsigned
blackhole_count(void)
{
	unsigned char buf[512];
	unsigned n = 0;

	while (recv(blackhole_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

static void
pump_until(uint64_t t)
{
	while (now_ms() < t)
		pump();
}

/*
 * The armed timeout is moved earlier when a new query is due first.  With
 * one server c-ares doubles the timeout per try: A is sent at 0 and 300
 * (armed then for 900); B is sent at 350, due at 650.  At 775 the
 * blackhole has seen B's second try only if the timeout was updated.
 * Then a stale timeout (B's answer arrives first) must be harmless.
 */
Test(dns, timer_moved_earlier, .init = local_up)
{
	struct dns d;
	struct mx_res a = { 0 }, b = { 0 };
	uint64_t t0;

	dns_up(&d, blackhole_port, 300, 2);
	t0 = now_ms();
	dns_resolve_mx(&d, "a.dns.test", mx_cb, &a);
	pump_until(t0 + 350);
	cr_assert_eq(blackhole_count(), 2, "A not retried at 300 ms");
	dns_resolve_mx(&d, "b.dns.test", mx_cb, &b);
	pump_until(t0 + 775);
	cr_assert_eq(blackhole_count(), 2, "B not retried at 650 ms");
	cr_assert_eq(a.calls + b.calls, 0);
	wait_for(&a.calls, 1, 3000);
	wait_for(&b.calls, 1, 3000);
	assert_st(a.st, DNS_TIMEOUT);
	assert_st(b.st, DNS_TIMEOUT);
	settle(&d);
	dns_fini(&d);
}

/* A timeout left armed after every query has finished fires harmlessly. */
Test(dns, stale_timer, .init = dnsmasq_up)
{
	struct dns d;

	dns_up(&d, dnsmasq_port, 150, 1);
	assert_st(host_lookup(&d, "mx1.dns.test").st, DNS_OK);
	settle(&d);
	cr_assert(d.timer_armed);
	pump_until(now_ms() + 300);
	cr_assert(!d.timer_armed, "stale timeout did not complete");
	assert_st(host_lookup(&d, "v6.dns.test").st, DNS_OK);
	cr_assert_null(dns_resolve_host(&d, "127.0.0.1", host_cb,
	    &(struct host_res){ 0 }));
	dns_cancel(&d, NULL);
	settle(&d);
	dns_fini(&d);
}

/* Nothing listening: ICMP port unreachable also means no server answered. */
Test(dns, unreachable, .init = local_up)
{
	struct dns d;
	int port, fd = udp_bound(&port);

	close(fd);
	dns_up(&d, port, 2000, 2);
	assert_st(host_lookup(&d, "mx1.dns.test").st, DNS_TIMEOUT);
	settle(&d);
	dns_fini(&d);
}

/* A second server is tried when the first does not answer. */
Test(dns, second_server, .init = local_up)
{
	struct dns d;
	char s1[32], s2[32];
	const char *servers[] = { s1, s2 };

	snprintf(s1, sizeof(s1), "127.0.0.1:%d", blackhole_port);
	snprintf(s2, sizeof(s2), "127.0.0.1:%d", responder_port);
	cr_assert_eq(dns_init(&d, &ring, servers, 2, 200, 2), 0);
	assert_st(host_lookup(&d, "aonly.r.test").st, DNS_OK);
	settle(&d);
	dns_fini(&d);
}

/*
 * Load, cancel, teardown
 */

struct many {
	unsigned calls;		/* callbacks run */
	unsigned wrong;		/* with an unexpected status */
};

static struct many many;

static void
many_ok_cb(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	many.calls++;
	if (st != (enum dns_status)(uintptr_t)arg)
		many.wrong++;
}

Test(dns, concurrent_200, .init = dnsmasq_up)
{
	static const struct { const char *name; enum dns_status st; } t[] = {
		{ "mx1.dns.test", DNS_OK }, { "v6.dns.test", DNS_OK },
		{ "both.dns.test", DNS_OK }, { "nope.dns.test", DNS_NXDOMAIN },
		{ "nomx.dns.test", DNS_NODATA },
	};
	struct dns d;

	dns_up(&d, dnsmasq_port, 1000, 3);
	memset(&many, 0, sizeof(many));
	for (int i = 0; i < 200; i++) {
		size_t k = (size_t)i % (sizeof(t) / sizeof(t[0]));

		cr_assert_not_null(dns_resolve_host(&d, t[k].name, many_ok_cb,
		    (void *)(uintptr_t)t[k].st));
	}
	cr_assert_eq(dns_pending(&d), 200);
	wait_for(&many.calls, 200, 20000);
	cr_assert_eq(many.calls, 200);
	cr_assert_eq(many.wrong, 0);
	settle(&d);
	dns_fini(&d);
}

static void
never_cb(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	cr_assert_fail("cancelled callback ran (%s)", dns_status_str(st));
}

static void
never_mx_cb(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	cr_assert_fail("cancelled MX callback ran (%s)", dns_status_str(st));
}

/* Cancelled before any answer: c-ares times them out, nobody is told. */
Test(dns, cancel_pending, .init = local_up)
{
	struct dns d;
	struct dns_query *q1, *q2;
	char *owner = malloc(64);	/* what a caller would free */

	dns_up(&d, blackhole_port, 200, 1);
	q1 = dns_resolve_host(&d, "mx1.dns.test", never_cb, owner);
	q2 = dns_resolve_mx(&d, "dns.test", never_mx_cb, owner);
	cr_assert_not_null(q1);
	cr_assert_not_null(q2);
	dns_cancel(&d, q1);
	dns_cancel(&d, q2);
	free(owner);
	settle(&d);
	dns_fini(&d);
}

/* Half of 20 lookups cancelled while the answers are on their way. */
Test(dns, cancel_some, .init = dnsmasq_up)
{
	struct dns d;
	struct dns_query *q[20];

	dns_up(&d, dnsmasq_port, 1000, 2);
	memset(&many, 0, sizeof(many));
	for (int i = 0; i < 20; i++) {
		q[i] = dns_resolve_host(&d, i % 2 ? "mx1.dns.test" : "v6.dns.test",
		    i % 2 ? never_cb : many_ok_cb, (void *)(uintptr_t)DNS_OK);
		cr_assert_not_null(q[i]);
	}
	/* The queries are on the wire; answers may already be waiting. */
	for (int i = 1; i < 20; i += 2)
		dns_cancel(&d, q[i]);
	settle(&d);
	cr_assert_eq(many.calls, 10);
	cr_assert_eq(many.wrong, 0);
	dns_fini(&d);
}

static struct dns *fini_dns;	/* the resolver being finished */
static struct host_res fini_late; /* lookup started during dns_fini */

static void
fini_cb(void *arg, enum dns_status st, const struct dns_addr *a, size_t n)
{
	host_cb(arg, st, a, n);
	cr_assert_null(dns_resolve_host(fini_dns, "mx1.dns.test", host_cb,
	    &fini_late));
}

/* dns_fini fails what is pending, and a lookup started then fails at once. */
Test(dns, fini_with_pending, .init = local_up)
{
	struct dns d;
	struct host_res r = { 0 };
	struct mx_res m = { 0 };
	struct dns_query *q;

	dns_up(&d, blackhole_port, 5000, 2);
	fini_dns = &d;
	memset(&fini_late, 0, sizeof(fini_late));
	cr_assert_not_null(dns_resolve_host(&d, "mx1.dns.test", fini_cb, &r));
	cr_assert_not_null(dns_resolve_mx(&d, "dns.test", mx_cb, &m));
	q = dns_resolve_host(&d, "mx2.dns.test", never_cb, NULL);
	cr_assert_not_null(q);
	dns_cancel(&d, q);
	pump();
	dns_fini(&d);
	cr_assert_eq(r.calls, 1);
	assert_st(r.st, DNS_ERROR);
	cr_assert_eq(m.calls, 1);
	assert_st(m.st, DNS_ERROR);
	cr_assert_eq(fini_late.calls, 1);
	assert_st(fini_late.st, DNS_ERROR);
	cr_assert_eq(dns_pending(&d), 0);
	cr_assert_eq(d.npolls, 0);
}
