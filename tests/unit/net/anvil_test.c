/*
 * anvil_test — unit tests of net/anvil: the concurrent-session limit with
 * its give-back, the per-minute connection rate and its window, one log
 * line per client and window, what counts as one client (IPv4, mapped
 * IPv4, an IPv6 /64), and 4 threads entering and leaving at once (the
 * counts come back to zero; no thread is admitted past the limit).
 */
#include "net/anvil.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/un.h>

static struct sockaddr_storage
addr(const char *ip)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(ip, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		cr_assert_eq(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		cr_assert_eq(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
	}
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

Test(anvil, session_limit_and_give_back)
{
	struct anvil *a = anvil_new();
	struct sockaddr_storage c = addr("192.0.2.1"), other = addr("192.0.2.2");
	struct anvil_ticket t[4], x;
	bool log;

	cr_assert_not_null(a);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(anvil_enter(a, SA(c), 100, 3, 0, &t[i], &log), ANVIL_OK);
	cr_expect_eq(anvil_sessions(a, SA(c)), 3);
	cr_expect_eq(anvil_enter(a, SA(c), 100, 3, 0, &t[3], &log), ANVIL_SESSIONS);
	cr_expect(log);
	cr_expect_not(t[3].held);
	cr_expect_eq(anvil_sessions(a, SA(c)), 3);	/* the refusal gave it back */
	cr_expect_eq(anvil_enter(a, SA(c), 159, 3, 0, &x, &log), ANVIL_SESSIONS);
	cr_expect_not(log);				/* logged once a minute */
	cr_expect_eq(anvil_enter(a, SA(c), 160, 3, 0, &x, &log), ANVIL_SESSIONS);
	cr_expect(log);
	/* another client is not affected */
	cr_expect_eq(anvil_enter(a, SA(other), 100, 3, 0, &x, &log), ANVIL_OK);
	anvil_leave(a, &x);
	anvil_leave(a, &x);				/* a second leave is a no-op */
	cr_expect_eq(anvil_sessions(a, SA(other)), 0);
	/* one closes: one more may come */
	anvil_leave(a, &t[0]);
	cr_expect_eq(anvil_enter(a, SA(c), 102, 3, 0, &t[0], &log), ANVIL_OK);
	/* no limit: counted, never refused */
	cr_expect_eq(anvil_enter(a, SA(c), 102, 0, 0, &t[3], &log), ANVIL_OK);
	cr_expect_eq(anvil_sessions(a, SA(c)), 4);
	for (int i = 0; i < 4; i++)
		anvil_leave(a, &t[i]);
	cr_expect_eq(anvil_sessions(a, SA(c)), 0);
	anvil_free(a);
}

Test(anvil, rate_per_window)
{
	struct anvil *a = anvil_new();
	struct sockaddr_storage c = addr("198.51.100.7");
	struct anvil_ticket t;
	bool log;

	for (int i = 0; i < 5; i++) {
		cr_assert_eq(anvil_enter(a, SA(c), 600, 0, 5, &t, &log), ANVIL_OK);
		anvil_leave(a, &t);
	}
	cr_expect_eq(anvil_enter(a, SA(c), 610, 0, 5, &t, &log), ANVIL_RATE);
	cr_expect(log);
	cr_expect_eq(anvil_enter(a, SA(c), 619, 0, 5, &t, &log), ANVIL_RATE);
	cr_expect_not(log);
	cr_expect_eq(anvil_sessions(a, SA(c)), 0);	/* refused: not a session */
	/* the window is 60 s from its first connection: then it starts afresh */
	cr_expect_eq(anvil_enter(a, SA(c), 660, 0, 5, &t, &log), ANVIL_OK);
	anvil_leave(a, &t);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(anvil_enter(a, SA(c), 700, 0, 5, &t, &log), ANVIL_OK);
		anvil_leave(a, &t);
	}
	cr_expect_eq(anvil_enter(a, SA(c), 719, 0, 5, &t, &log), ANVIL_RATE);
	cr_expect(log);		/* 60 s after the last line logged */
	cr_expect_eq(anvil_enter(a, SA(c), 720, 0, 5, &t, &log), ANVIL_OK);
	anvil_leave(a, &t);
	anvil_free(a);
}

Test(anvil, what_one_client_is)
{
	struct anvil *a = anvil_new();
	struct sockaddr_storage v4 = addr("203.0.113.9"), mapped = addr("::ffff:203.0.113.9");
	struct sockaddr_storage h1 = addr("2001:db8:1:2::1"), h2 = addr("2001:db8:1:2:ffff::2");
	struct sockaddr_storage net2 = addr("2001:db8:1:3::1");
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct anvil_ticket t[3];
	bool log;

	cr_assert_eq(anvil_enter(a, SA(v4), 1, 2, 0, &t[0], &log), ANVIL_OK);
	cr_assert_eq(anvil_enter(a, SA(mapped), 1, 2, 0, &t[1], &log), ANVIL_OK);
	cr_expect_eq(anvil_enter(a, SA(v4), 1, 2, 0, &t[2], &log), ANVIL_SESSIONS);
	cr_expect_eq(anvil_sessions(a, SA(mapped)), 2);
	anvil_leave(a, &t[0]);
	anvil_leave(a, &t[1]);

	/* an IPv6 /64 is one client */
	cr_assert_eq(anvil_enter(a, SA(h1), 1, 2, 0, &t[0], &log), ANVIL_OK);
	cr_assert_eq(anvil_enter(a, SA(h2), 1, 2, 0, &t[1], &log), ANVIL_OK);
	cr_expect_eq(anvil_enter(a, SA(h1), 1, 2, 0, &t[2], &log), ANVIL_SESSIONS);
	cr_expect_eq(anvil_enter(a, SA(net2), 1, 2, 0, &t[2], &log), ANVIL_OK);
	anvil_leave(a, &t[0]);
	anvil_leave(a, &t[1]);
	anvil_leave(a, &t[2]);
	cr_expect_eq(anvil_sessions(a, SA(h1)), 0);

	/* not an IP client: admitted, nothing held */
	cr_expect_eq(anvil_enter(a, (const struct sockaddr *)&un, 1, 1, 1, &t[0], &log),
		     ANVIL_OK);
	cr_expect_not(t[0].held);
	anvil_free(a);
}

/* Threads hammering one client: never more than LIMIT admitted at once. */
#define THREADS 4
#define ROUNDS 100000
#define LIMIT 3

struct race {
	struct anvil *a;		/* shared table */
	struct sockaddr_storage c;	/* the client */
	atomic_int inside;		/* admitted and not yet left */
	atomic_int worst;		/* most ever inside */
	atomic_long admitted;		/* admissions in all */
};

static void *
racer(void *arg)
{
	struct race *r = arg;
	struct anvil_ticket t;
	bool log;

	for (int i = 0; i < ROUNDS; i++) {
		if (anvil_enter(r->a, SA(r->c), 5, LIMIT, 0, &t, &log) != ANVIL_OK)
			continue;
		int in = atomic_fetch_add(&r->inside, 1) + 1;
		int w = atomic_load(&r->worst);

		while (in > w && !atomic_compare_exchange_weak(&r->worst, &w, in))
			;
		atomic_fetch_add(&r->admitted, 1);
		atomic_fetch_sub(&r->inside, 1);
		anvil_leave(r->a, &t);
	}
	return NULL;
}

Test(anvil, threads_never_pass_the_limit)
{
	struct race r = { .a = anvil_new(), .c = addr("192.0.2.200") };
	pthread_t th[THREADS];

	for (int i = 0; i < THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, racer, &r), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	cr_expect_leq(atomic_load(&r.worst), LIMIT);
	cr_expect_gt(atomic_load(&r.admitted), 0);
	cr_expect_eq(anvil_sessions(r.a, SA(r.c)), 0);
	anvil_free(r.a);
}
