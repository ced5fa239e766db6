/*
 * redis_link_test — unit tests of core/tenant/redis_link against fake
 * servers on free loopback ports: each a thread that answers RESP commands
 * with canned replies (a sentinel naming a master or knowing none, a
 * master, a replica) and counts its connections and the AUTH passwords it
 * got.  Covered: direct connect and its reason, the sentinels asked in
 * turn, a replica named by the sentinels skipped (and connected once
 * however many sentinels name it), the grouped reasons, the passwords
 * sent where they belong, and the stale-reply rule.
 */
#include "core/tenant/redis_link.h"

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/core/tenant/loopback.h"

/* One fake server. */
struct fake {
	int lfd;			/* listening socket */
	int port;			/* its port */
	const char *sentinel;		/* reply to SENTINEL, NULL: error */
	const char *role;		/* reply to ROLE, NULL: error */
	const char *auth_ok;		/* the password AUTH takes, NULL: any */
	char auth[64];			/* the last AUTH argument */
	atomic_int conns;		/* connections accepted */
	atomic_bool stop;		/* end the thread */
	pthread_t thread;
};

/* Read one RESP array command into args (at most 4, each NUL-terminated
 * in buf).  Returns the number of arguments, or -1 at EOF or on garbage. */
static int
read_command(FILE *in, char args[4][64])
{
	int n, len;

	if (fscanf(in, "*%d\r\n", &n) != 1 || n < 1)
		return -1;
	for (int i = 0; i < n; i++) {
		char tmp[256];

		if (fscanf(in, "$%d\r\n", &len) != 1 || len < 0 || len >= (int)sizeof(tmp) ||
		    fread(tmp, 1, (size_t)len + 2, in) != (size_t)len + 2)
			return -1;
		tmp[len] = '\0';
		if (i < 4)
			snprintf(args[i], 64, "%.63s", tmp);
	}
	return n;
}

static void
serve(struct fake *f, int fd)
{
	FILE *in = fdopen(dup(fd), "r");
	char args[4][64];
	int n;

	while (in != NULL && (n = read_command(in, args)) > 0) {
		const char *reply = "-ERR unknown command\r\n";

		if (strcasecmp(args[0], "AUTH") == 0 && n == 2) {
			snprintf(f->auth, sizeof(f->auth), "%s", args[1]);
			reply = f->auth_ok == NULL || strcmp(f->auth_ok, args[1]) == 0 ? "+OK\r\n" :
				"-WRONGPASS invalid username-password pair\r\n";
		} else if (strcasecmp(args[0], "SENTINEL") == 0 && f->sentinel != NULL) {
			reply = f->sentinel;
		} else if (strcasecmp(args[0], "ROLE") == 0 && f->role != NULL) {
			reply = f->role;
		}
		if (write(fd, reply, strlen(reply)) < 0)
			break;
	}
	if (in != NULL)
		fclose(in);
	close(fd);
}

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd p = { .fd = f->lfd, .events = POLLIN };

	while (!atomic_load(&f->stop)) {
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(f->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		atomic_fetch_add(&f->conns, 1);
		serve(f, fd);	/* one client at a time is all a test needs */
	}
	return NULL;
}

static struct fake *
fake_start(const char *sentinel, const char *role)
{
	struct fake *f = calloc(1, sizeof(*f));

	cr_assert_not_null(f);
	f->sentinel = sentinel;
	f->role = role;
	f->lfd = loopback_bind(&f->port);
	cr_assert_eq(listen(f->lfd, 8), 0);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

static void
fake_stop(struct fake *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	close(f->lfd);
	free(f);
}

/* SENTINEL get-master-addr-by-name's answer naming 127.0.0.1:port, in buf. */
static const char *
names(char *buf, size_t len, int port)
{
	char p[16];

	snprintf(p, sizeof(p), "%d", port);
	snprintf(buf, len, "*2\r\n$9\r\n127.0.0.1\r\n$%zu\r\n%s\r\n", strlen(p), p);
	return buf;
}

#define ROLE_MASTER	"*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"
#define ROLE_REPLICA	"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:6379\r\n$9\r\nconnected\r\n:0\r\n"
#define UNKNOWN		"*-1\r\n"

static redisContext *
link_to(const char *const *sentinels, size_t n, char *addr, char *why)
{
	struct redis_target t = { .sentinels = sentinels, .nsentinels = n,
				  .master = "mymaster", .timeout_ms = 1000 };

	return redis_link_connect(&t, addr, 64, why, 512);
}

Test(redis_link, direct)
{
	struct fake *m = fake_start(NULL, NULL);
	char addr[64], why[512], want[128];
	int port = free_port();
	struct redis_target t = { .host = "127.0.0.1", .port = m->port, .password = "pw",
				  .timeout_ms = 1000 };
	redisContext *rc = redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why));

	cr_assert_not_null(rc, "%s", why);
	snprintf(want, sizeof(want), "127.0.0.1:%d", m->port);
	cr_expect_str_eq(addr, want);
	cr_expect_str_eq(m->auth, "pw");
	redisFree(rc);
	/* a wrong password, then nobody there */
	m->auth_ok = "other";
	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why)));
	snprintf(want, sizeof(want), "redis 127.0.0.1:%d: AUTH: WRONGPASS invalid "
		 "username-password pair", m->port);
	cr_expect_str_eq(why, want);
	cr_expect_str_eq(addr, "");
	t.port = port;
	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why)));
	snprintf(want, sizeof(want), "redis 127.0.0.1:%d: Connection refused", port);
	cr_expect_str_eq(why, want);
	fake_stop(m);
}

Test(redis_link, sentinels_in_turn_skip_a_replica)
{
	char b1[64], b2[64], s[3][32], addr[64], why[512], want[64];
	struct fake *m = fake_start(NULL, ROLE_MASTER);
	struct fake *r = fake_start(NULL, ROLE_REPLICA);
	struct fake *s1 = fake_start(names(b1, sizeof(b1), r->port), NULL);
	struct fake *s3 = fake_start(names(b2, sizeof(b2), m->port), NULL);
	const char *list[] = { s[0], s[1], s[2] };
	redisContext *rc;

	/* s1 and s2 still name the replica; s3 names the master */
	snprintf(s[0], sizeof(s[0]), "127.0.0.1:%d", s1->port);
	snprintf(s[1], sizeof(s[1]), "127.0.0.1:%d", s1->port);
	snprintf(s[2], sizeof(s[2]), "127.0.0.1:%d", s3->port);
	rc = link_to(list, 3, addr, why);
	cr_assert_not_null(rc, "%s", why);
	snprintf(want, sizeof(want), "127.0.0.1:%d", m->port);
	cr_expect_str_eq(addr, want);
	cr_expect_eq(atomic_load(&r->conns), 1, "the replica asked once, not %d times",
		     atomic_load(&r->conns));
	cr_expect_eq(atomic_load(&s1->conns), 2);
	redisFree(rc);
	fake_stop(m);
	fake_stop(r);
	fake_stop(s1);
	fake_stop(s3);
}

Test(redis_link, reasons_grouped_by_sentinel)
{
	char b1[64], s[4][32], addr[64], why[512], want[512];
	struct fake *r = fake_start(NULL, ROLE_REPLICA);
	struct fake *named = fake_start(names(b1, sizeof(b1), r->port), NULL);
	struct fake *unknown = fake_start(UNKNOWN, NULL);
	int dead = free_port();
	const char *list[] = { s[0], s[1], s[2], s[3] };

	snprintf(s[0], sizeof(s[0]), "127.0.0.1:%d", dead);
	snprintf(s[1], sizeof(s[1]), "127.0.0.1:%d", named->port);
	snprintf(s[2], sizeof(s[2]), "127.0.0.1:%d", unknown->port);
	snprintf(s[3], sizeof(s[3]), "127.0.0.1:%d", named->port);
	cr_expect_null(link_to(list, 4, addr, why));
	snprintf(want, sizeof(want), "sentinel %s: Connection refused; sentinels %s, %s: "
		 "master mymaster at 127.0.0.1:%d: is a replica, not the master (failover "
		 "under way?); sentinel %s: no master named mymaster", s[0], s[1], s[3],
		 r->port, s[2]);
	cr_expect_str_eq(why, want);
	cr_expect_str_eq(addr, "");
	/* every sentinel down: one group */
	snprintf(s[1], sizeof(s[1]), "127.0.0.1:%d", free_port());
	cr_expect_null(link_to(list, 2, addr, why));
	snprintf(want, sizeof(want), "sentinels %s, %s: Connection refused", s[0], s[1]);
	cr_expect_str_eq(why, want);
	fake_stop(r);
	fake_stop(named);
	fake_stop(unknown);
}

Test(redis_link, passwords_go_where_they_belong)
{
	char b1[64], s[32], addr[64], why[512], want[256];
	struct fake *m = fake_start(NULL, ROLE_MASTER);
	struct fake *st = fake_start(names(b1, sizeof(b1), m->port), NULL);
	const char *list[] = { s };
	struct redis_target t = { .sentinels = list, .nsentinels = 1, .master = "mymaster",
				  .password = "for-redis", .sentinel_password = "for-sentinels",
				  .timeout_ms = 1000 };
	redisContext *rc;

	snprintf(s, sizeof(s), "127.0.0.1:%d", st->port);
	rc = redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why));
	cr_assert_not_null(rc, "%s", why);
	cr_expect_str_eq(st->auth, "for-sentinels");
	cr_expect_str_eq(m->auth, "for-redis");
	redisFree(rc);
	st->auth_ok = "something else";
	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why)));
	snprintf(want, sizeof(want), "sentinel %s: AUTH: WRONGPASS invalid "
		 "username-password pair", s);
	cr_expect_str_eq(why, want);
	fake_stop(m);
	fake_stop(st);
}

Test(redis_link, bad_targets)
{
	const char *list[] = { "[::1", "127.0.0.1:0" };
	struct redis_target t = { .sentinels = list, .nsentinels = 2, .timeout_ms = 100 };
	char addr[64], why[256];

	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why)));
	cr_expect_str_eq(why, "sentinels: no master name given");
	t.master = "m";
	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, sizeof(why)));
	cr_expect_str_eq(why, "sentinels [::1, 127.0.0.1:0: not a host:port");
	/* a reason longer than the caller's buffer is cut, and says so */
	cr_expect_null(redis_link_connect(&t, addr, sizeof(addr), why, 16));
	cr_expect_str_eq(why, "sentinels [:...");
}

Test(redis_link, stale_replies)
{
	static const struct {
		int type;
		const char *str;
		bool stale;
	} cases[] = {
		{ REDIS_REPLY_ERROR, "READONLY You can't write against a read only replica.", true },
		{ REDIS_REPLY_ERROR, "LOADING Redis is loading the dataset in memory", true },
		{ REDIS_REPLY_ERROR, "MASTERDOWN Link with MASTER is down", true },
		{ REDIS_REPLY_ERROR, "UNBLOCKED force unblock", true },
		{ REDIS_REPLY_ERROR, "READONLY", true },
		{ REDIS_REPLY_ERROR, "READONLYX", false },
		{ REDIS_REPLY_ERROR, "ERR wrong number of arguments", false },
		{ REDIS_REPLY_ERROR, "NOAUTH Authentication required.", false },
		{ REDIS_REPLY_STATUS, "READONLY", false },
		{ REDIS_REPLY_STRING, "LOADING", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		redisReply r = { .type = cases[i].type, .str = (char *)cases[i].str,
				 .len = strlen(cases[i].str) };

		cr_expect_eq(redis_link_reply_stale(&r), cases[i].stale, "%s", cases[i].str);
	}
	cr_expect_not(redis_link_reply_stale(NULL));
}
