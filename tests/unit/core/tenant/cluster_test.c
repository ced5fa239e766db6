/*
 * cluster_test — unit tests of core/tenant/cluster against a real
 * redis-server on a free loopback port (started per test with no
 * persistence, stopped by PID; skipped when redis-server is not installed).  Two instances in one
 * process play two edge nodes: their counts add up; Redis killed and
 * restarted empty on the same port: both go down, keep counting locally,
 * and converge on the exact total once it is back; Redis absent at start;
 * a stop writes the last counts; keys expire with a 2 x 1 s window.
 */
#include "core/tenant/cluster.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "tests/unit/core/tenant/loopback.h"

static pid_t redis_pid = -1;	/* the test's redis-server, -1 if none */
static int redis_port;		/* its port */

/* True if redis-server is on the PATH (or in /usr/bin). */
static bool
have_redis(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (access("/usr/bin/redis-server", X_OK) == 0)
		return true;
	for (const char *p = path; p != NULL && *p != '\0';) {
		const char *e = strchr(p, ':');
		size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
		static const char exe[] = "/redis-server";

		/* an entry too long for buf cannot be tested: skip it */
		if (n < sizeof(buf) - sizeof(exe)) {
			memcpy(buf, p, n);
			memcpy(buf + n, exe, sizeof(exe));
			if (access(buf, X_OK) == 0)
				return true;
		}
		p = e != NULL ? e + 1 : NULL;
	}
	return false;
}

static redisContext *
redis_connect(int port)
{
	struct timeval tv = { .tv_sec = 1 };
	redisContext *rc = redisConnectWithTimeout("127.0.0.1", port, tv);

	if (rc != NULL && rc->err) {
		redisFree(rc);
		return NULL;
	}
	if (rc != NULL)
		redisSetTimeout(rc, tv);
	return rc;
}

/* A command to the test's Redis; the caller frees the reply. */
static redisReply *
rcmd(const char *fmt, ...)
{
	redisContext *rc = redis_connect(redis_port);
	redisReply *r;
	va_list ap;

	cr_assert_not_null(rc, "cannot reach redis on %d", redis_port);
	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	redisFree(rc);
	cr_assert_not_null(r);
	return r;
}

/* Start redis-server on port (requiring password pw unless NULL) and wait
 * until it answers PING (with or without NOAUTH). */
static void
redis_start_pw(int port, const char *pw)
{
	char p[16];
	pid_t pid;

	snprintf(p, sizeof(p), "%d", port);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);

		/* Dies with the test process, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(null, 1);
		dup2(null, 2);
		execlp("redis-server", "redis-server", "--port", p,
		       "--bind", "127.0.0.1", "--save", "", "--appendonly",
		       "no", "--daemonize", "no", "--dir", "/tmp",
		       "--loglevel", "warning",
		       pw != NULL ? "--requirepass" : (char *)NULL, pw,
		       (char *)NULL);
		_exit(127);
	}
	redis_pid = pid;
	redis_port = port;
	for (int i = 0; i < 500; i++) {
		redisContext *rc = redis_connect(port);

		if (rc != NULL) {
			redisReply *r = redisCommand(rc, "PING");
			bool ok = r != NULL && (r->type == REDIS_REPLY_STATUS ||
				  (pw != NULL && r->type == REDIS_REPLY_ERROR));

			freeReplyObject(r);
			redisFree(rc);
			if (ok)
				return;
		}
		usleep(20000);
	}
	cr_assert_fail("redis-server did not start on port %d", port);
}

static void
redis_start(int port)
{
	redis_start_pw(port, NULL);
}

/* Kill the test's redis-server (SIGKILL: a crash, not a clean exit). */
static void
redis_kill(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
		redis_pid = -1;
	}
}

static void
setup(void)
{
	log_set_level(LOG_ERR);		/* up/down lines are expected */
}

TestSuite(cluster, .init = setup, .fini = redis_kill);

/* Poll expr every 20 ms for up to ms milliseconds; true if it held. */
#define WAIT_UNTIL(expr, ms) ({					\
	bool ok_ = false;					\
	for (int i_ = 0; i_ < (ms) / 20 && !(ok_ = (expr)); i_++)	\
		usleep(20000);					\
	ok_ || (expr);						\
})

static struct tenant_table *
tenants(uint32_t secs, uint32_t buckets)
{
	static const char *const names[] = { "t", "u", "a/b" };
	struct tenant_window win = { secs, buckets };
	struct tenant_table *t = NULL;

	cr_assert_eq(tenant_table_new(names, 3, 2, &win, NULL, &t, NULL), 0);
	return t;
}

static struct cluster *
node(const struct tenant_table *t, int port, const char *name)
{
	struct cluster_config cfg = {
		.host = "127.0.0.1", .port = port, .flush_ms = 50,
		.timeout_ms = 500, .backoff_max_ms = 200, .node = name,
	};
	struct cluster *c = NULL;

	cr_assert_eq(cluster_start(&cfg, t, &c), 0);
	cr_assert_not_null(c);
	return c;
}

/* Skip the test (before it allocates anything) without redis-server. */
static void
need_redis(void)
{
	if (!have_redis())
		cr_skip_test("redis-server is not installed");
}

static uint64_t
total(const struct cluster *c, const char *tenant)
{
	return cluster_tenant_total(c, tenant, (uint64_t)time(NULL));
}

/* The count this node stored for tenant in bucket (start), -1 if none. */
static long long
stored(const struct cluster *c, unsigned width, uint64_t start,
       const char *tenant)
{
	redisReply *r = rcmd("HGET sluice:tq:%u:%llu %s/%s", width,
			     (unsigned long long)start, tenant,
			     cluster_node_id(c));
	long long v = r->type == REDIS_REPLY_STRING ? atoll(r->str) : -1;

	freeReplyObject(r);
	return v;
}

/* This node's stored count of tenant "t" in the 10 s bucket of now, 0 if
 * none. */
static long long
stored0(const struct cluster *c, uint64_t now)
{
	long long v = stored(c, 10, now / 10 * 10, "t");

	return v < 0 ? 0 : v;
}

Test(cluster, two_nodes_add_up)
{
	struct tenant_table *t;
	struct cluster *a, *b;
	uint64_t now;
	redisReply *r;
	char why[256];

	need_redis();
	t = tenants(10, 30);
	redis_start(free_port());
	a = node(t, redis_port, "node-a");
	b = node(t, redis_port, "node/b");	/* '/' is made '_' */
	cr_assert_null(strchr(cluster_node_id(b), '/'));
	cr_assert_str_neq(cluster_node_id(a), cluster_node_id(b));
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0) && cluster_up(b, NULL, 0),
			     10000));
	cr_assert(cluster_up(a, why, sizeof(why)));
	cr_assert_str_eq(why, "");

	now = (uint64_t)time(NULL);
	cluster_add(a, "t", 0, now, 2);
	cluster_add(a, "t", 1, now, 1);
	cluster_add_idx(b, 0, 1, now, 3);
	cluster_add(b, "a/b", 0, now, 1);	/* a '/' in a tenant name */
	cluster_add(a, "nope", 0, now, 100);	/* unknown: ignored */
	cluster_add_idx(a, 99, 0, now, 100);	/* out of range: ignored */
	cluster_add_idx(a, 1, 7, now, 100);	/* no such worker: ignored */
	cr_assert(WAIT_UNTIL(total(a, "t") == 6 && total(b, "t") == 6, 10000),
		  "a %lu b %lu", (unsigned long)total(a, "t"),
		  (unsigned long)total(b, "t"));
	cr_assert(WAIT_UNTIL(total(a, "a/b") == 1, 10000));
	cr_assert_eq(total(a, "u"), 0);
	cr_assert_eq(total(b, "u"), 0);
	cr_assert_eq(total(a, "nope"), 0);
	cr_assert_eq(cluster_tenant_total_idx(a, 99, now), 0);

	/* In Redis: one field per node, each with its own count. */
	cr_assert_eq(stored(a, 10, now / 10 * 10, "t"), 3);
	cr_assert_eq(stored(b, 10, now / 10 * 10, "t"), 3);
	r = rcmd("TTL sluice:tq:10:%llu", (unsigned long long)(now / 10 * 10));
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert(r->integer > 0 && r->integer <= 310, "ttl %lld", r->integer);
	freeReplyObject(r);

	/* A stopped node's counts keep counting until they expire. */
	cluster_stop(b);
	cluster_add(a, "t", 0, now, 1);
	cluster_kick(a);
	cr_assert(WAIT_UNTIL(total(a, "t") == 7, 10000));
	cluster_stop(a);
	tenant_table_free(t);
}

Test(cluster, outage_then_resync)
{
	struct tenant_table *t;
	struct cluster *a, *b;
	struct cluster_stats st;
	char why[256], want[64];
	uint64_t now, now1;
	int port = free_port();

	need_redis();
	t = tenants(10, 30);
	redis_start(port);
	a = node(t, port, "node-a");
	b = node(t, port, "node-b");
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0) && cluster_up(b, NULL, 0),
			     10000));
	now = now1 = (uint64_t)time(NULL);
	cluster_add(a, "t", 0, now, 3);
	cluster_add(b, "t", 1, now, 3);
	cr_assert(WAIT_UNTIL(total(a, "t") == 6 && total(b, "t") == 6,
			     10000));

	/* Redis crashes: both nodes notice and say why. */
	redis_kill();
	cr_assert(WAIT_UNTIL(!cluster_up(a, NULL, 0) &&
			     !cluster_up(b, NULL, 0), 10000));
	cr_assert_not(cluster_up(a, why, sizeof(why)));
	snprintf(want, sizeof(want), "redis 127.0.0.1:%d: ", port);
	cr_assert(strncmp(why, want, strlen(want)) == 0, "why: %s", why);
	cluster_stats(a, &st);
	cr_assert_not(st.up);
	cr_assert_geq(st.failures, 1);
	cr_assert_gt(st.since, 0);

	/* Local counting goes on: last known total of the other node plus
	   our own live count. */
	now = (uint64_t)time(NULL);
	cluster_add(a, "t", 0, now, 2);
	cluster_add(b, "t", 0, now, 1);
	cr_assert(WAIT_UNTIL(total(a, "t") == 8 && total(b, "t") == 7, 10000),
		  "a %lu b %lu", (unsigned long)total(a, "t"),
		  (unsigned long)total(b, "t"));
	cluster_stats(a, &st);
	cr_assert_geq(st.unsent, 1);

	/* Redis returns empty (no persistence): each node writes its whole
	   window again and both converge on the true total, 3+2 + 3+1. */
	redis_start(port);
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0) && cluster_up(b, NULL, 0) &&
			     total(a, "t") == 9 && total(b, "t") == 9, 15000),
		  "a %lu b %lu", (unsigned long)total(a, "t"),
		  (unsigned long)total(b, "t"));
	cluster_stats(a, &st);
	cr_assert(st.up);
	cr_assert_eq(st.unsent, 0);
	cr_assert_geq(st.connects, 2);
	cr_assert_eq(st.dropped, 0);
	/* Stored: 5 + 4, maybe split over the buckets of now1 and now. */
	cr_assert_eq(stored0(a, now1) + stored0(b, now1) +
		     (now1 / 10 != now / 10 ?
		      stored0(a, now) + stored0(b, now) : 0), 9);
	cluster_stop(a);
	cluster_stop(b);
	tenant_table_free(t);
}

Test(cluster, redis_absent_at_start)
{
	struct tenant_table *t;
	struct cluster_stats st;
	struct cluster *a;
	char why[256];
	uint64_t now;
	int port = free_port();

	need_redis();
	t = tenants(10, 30);
	a = node(t, port, "node-a");
	cr_assert_not(cluster_up(a, why, sizeof(why)));
	cr_assert(WAIT_UNTIL((cluster_stats(a, &st), st.failures >= 2), 10000));
	cr_assert_not(cluster_up(a, why, sizeof(why)));
	cr_assert(strstr(why, "Connection refused") != NULL, "why: %s", why);

	now = (uint64_t)time(NULL);
	cluster_add(a, "u", 1, now, 4);
	cr_assert(WAIT_UNTIL(total(a, "u") == 4, 10000));

	redis_start(port);
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0) &&
			     stored(a, 10, now / 10 * 10, "u") == 4, 10000));
	cr_assert_eq(total(a, "u"), 4);
	cluster_stop(a);
	tenant_table_free(t);
}

Test(cluster, stop_writes_last_counts)
{
	struct tenant_table *t;
	struct cluster *a;
	char id[256];
	uint64_t now;

	need_redis();
	t = tenants(10, 30);
	redis_start(free_port());
	a = node(t, redis_port, "node-a");
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0), 10000));
	now = (uint64_t)time(NULL);
	snprintf(id, sizeof(id), "%s", cluster_node_id(a));
	cluster_add(a, "t", 0, now, 5);
	cluster_stop(a);		/* at once: no flush period passed */
	{
		redisReply *r = rcmd("HGET sluice:tq:10:%llu t/%s",
				     (unsigned long long)(now / 10 * 10), id);

		cr_assert_eq(r->type, REDIS_REPLY_STRING);
		cr_assert_str_eq(r->str, "5");
		freeReplyObject(r);
	}
	tenant_table_free(t);
}

Test(cluster, keys_expire)
{
	struct tenant_table *t;
	struct cluster *a;
	uint64_t now;
	redisReply *r;
	long long got = -1;

	need_redis();
	t = tenants(1, 2);
	redis_start(free_port());
	a = node(t, redis_port, "node-a");
	cr_assert(WAIT_UNTIL(cluster_up(a, NULL, 0), 10000));
	now = (uint64_t)time(NULL);
	cluster_add(a, "t", 0, now, 3);
	cluster_kick(a);
	/* Seen in the window while it lasts (2 s)... */
	cr_assert(WAIT_UNTIL(cluster_tenant_total(a, "t", now) == 3 ||
			     (uint64_t)time(NULL) > now + 1, 3000));
	cr_assert_eq(cluster_tenant_total(a, "t", now), 3);
	got = stored(a, 1, now, "t");
	cr_assert_eq(got, 3);
	/* ...with an expiry one bucket after it leaves the window. */
	r = rcmd("EXPIRETIME sluice:tq:1:%llu", (unsigned long long)now);
	if (r->type == REDIS_REPLY_INTEGER)	/* Redis >= 7 */
		cr_assert_eq(r->integer, (long long)now + 3);
	freeReplyObject(r);
	r = rcmd("TTL sluice:tq:1:%llu", (unsigned long long)now);
	cr_assert_eq(r->type, REDIS_REPLY_INTEGER);
	cr_assert(r->integer >= 0 && r->integer <= 3, "ttl %lld", r->integer);
	freeReplyObject(r);

	/* Out of the window after 2 s, out of Redis after 3 s. */
	cr_assert(WAIT_UNTIL(total(a, "t") == 0, 5000));
	cr_assert_geq((uint64_t)time(NULL), now + 2);
	cr_assert(WAIT_UNTIL(stored(a, 1, now, "t") == -1, 8000));
	r = rcmd("EXISTS sluice:tq:1:%llu", (unsigned long long)now);
	cr_assert_eq(r->integer, 0);
	freeReplyObject(r);
	cluster_stop(a);
	tenant_table_free(t);
}

Test(cluster, password)
{
	struct tenant_table *t;
	struct cluster_config cfg = { .host = "127.0.0.1", .flush_ms = 50,
				      .backoff_max_ms = 200 };
	struct cluster *good, *bad;
	char why[256];

	need_redis();
	t = tenants(10, 30);
	redis_start_pw(free_port(), "s3cret");
	cfg.port = redis_port;
	cfg.password = "wrong";
	cr_assert_eq(cluster_start(&cfg, t, &bad), 0);
	cfg.password = "s3cret";
	cr_assert_eq(cluster_start(&cfg, t, &good), 0);
	cr_assert(WAIT_UNTIL(cluster_up(good, NULL, 0), 10000));
	cluster_add(good, "t", 0, (uint64_t)time(NULL), 2);
	cr_assert(WAIT_UNTIL(total(good, "t") == 2, 10000));
	cr_assert(WAIT_UNTIL((cluster_up(bad, why, sizeof(why)),
			      strstr(why, "AUTH") != NULL), 10000));
	cr_assert_not(cluster_up(bad, why, sizeof(why)));
	cr_assert(strstr(why, "AUTH: ") != NULL, "why: %s", why);
	cluster_stop(good);
	cluster_stop(bad);
	tenant_table_free(t);
}

Test(cluster, bad_config)
{
	struct tenant_table *t = tenants(10, 30);
	struct cluster_config cfg = { .host = "127.0.0.1", .port = 70000 };
	struct cluster *c = NULL;

	cr_assert_eq(cluster_start(&cfg, t, &c), -EINVAL);
	cr_assert_eq(cluster_start(NULL, t, &c), -EINVAL);
	cfg.port = 1;
	cr_assert_eq(cluster_start(&cfg, NULL, &c), -EINVAL);
	cr_assert_null(c);
	cluster_stop(NULL);
	tenant_table_free(t);
}
