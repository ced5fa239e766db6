/*
 * notify_test — core/daemon/notify: NOTIFY_SOCKET values (paths, abstract
 * names, what is refused), the datagrams sent to a socket the test binds
 * (a path and an abstract name), RELOADING=1 with a MONOTONIC_USEC of now,
 * the watchdog's variables, and silence without a service manager.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/daemon/notify.h"

Test(notify, addresses)
{
	struct sockaddr_un sa;
	socklen_t len = 0;
	char longp[200];

	cr_expect_eq(notify_addr("/run/systemd/notify", &sa, &len), 0);
	cr_expect_str_eq(sa.sun_path, "/run/systemd/notify");
	cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + 20, "with its NUL");
	cr_expect_eq(notify_addr("@sluice/notify", &sa, &len), 0);
	cr_expect_eq(sa.sun_path[0], '\0', "abstract");
	cr_expect_eq(memcmp(sa.sun_path + 1, "sluice/notify", 13), 0);
	cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + 14, "no NUL after it");
	cr_expect_eq(notify_addr("", &sa, &len), -EINVAL);
	cr_expect_eq(notify_addr(NULL, &sa, &len), -EINVAL);
	cr_expect_eq(notify_addr("@", &sa, &len), -EINVAL);
	cr_expect_eq(notify_addr("run/notify", &sa, &len), -EINVAL, "relative");
	cr_expect_eq(notify_addr("vsock:2:1234", &sa, &len), -EINVAL);
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[108] = '\0';
	cr_expect_eq(notify_addr(longp, &sa, &len), -ENAMETOOLONG, "108 bytes and a NUL");
	longp[107] = '\0';
	cr_expect_eq(notify_addr(longp, &sa, &len), 0, "107 bytes and a NUL fit");
	longp[0] = '@';
	longp[107] = longp[108] = 'a';
	longp[109] = '\0';
	cr_expect_eq(notify_addr(longp, &sa, &len), -ENAMETOOLONG);
	longp[108] = '\0';
	cr_expect_eq(notify_addr(longp, &sa, &len), 0, "an abstract name may fill sun_path");
}

/* A datagram socket at name ("@..." abstract), set as NOTIFY_SOCKET. */
static int
manager(const char *name)
{
	struct sockaddr_un sa;
	struct timeval tv = { 2, 0 };
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(notify_addr(name, &sa, &len), 0);
	if (name[0] == '/')
		unlink(name);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, len), 0, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("NOTIFY_SOCKET", name, 1);
	return fd;
}

static const char *
message(int fd)
{
	static char buf[2048];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	cr_assert_gt(n, 0, "no message: %s", strerror(errno));
	buf[n] = '\0';
	return buf;
}

static void
exchange(const char *name)
{
	char err[256];
	const char *m;
	unsigned long long usec;
	struct timespec ts;
	int fd = manager(name);

	cr_assert_eq(notify_open(err, sizeof(err)), 1, "%s", err);
	cr_expect_eq(notify_send("READY=1\nSTATUS=ready: %d workers", 2), 0);
	cr_expect_str_eq(message(fd), "READY=1\nSTATUS=ready: 2 workers");
	cr_expect_eq(notify_reloading("reloading"), 0);
	m = message(fd);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	cr_assert_eq(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading", &usec), 1,
		     "%s", m);
	cr_expect_leq(usec, (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
	cr_expect_geq(usec + 2000000, (unsigned long long)ts.tv_sec * 1000000, "now");
	cr_expect(strstr(m, "\nSTATUS=reloading") != NULL, "%s", m);
	cr_expect_eq(notify_send("STOPPING=1"), 0);
	cr_expect_str_eq(message(fd), "STOPPING=1");
	close(fd);
}

Test(notify, path_socket)
{
	char path[64];

	snprintf(path, sizeof(path), "/tmp/sluice-notify-test-%d", (int)getpid());
	exchange(path);
	unlink(path);
}

Test(notify, abstract_socket)
{
	char name[64];

	snprintf(name, sizeof(name), "@sluice-notify-test-%d", (int)getpid());
	exchange(name);
}

Test(notify, nobody_listening)
{
	char err[256];

	unsetenv("NOTIFY_SOCKET");
	cr_expect_eq(notify_open(err, sizeof(err)), 0);
	cr_expect_eq(notify_send("READY=1"), 0, "a no-op");
	setenv("NOTIFY_SOCKET", "vsock:2:99", 1);
	cr_expect_eq(notify_open(err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "NOTIFY_SOCKET=vsock:2:99: expected an absolute path or an "
			 "@abstract name");
	/* a socket that went away: the send says so */
	setenv("NOTIFY_SOCKET", "/tmp/sluice-notify-test-none", 1);
	cr_assert_eq(notify_open(err, sizeof(err)), 1);
	cr_expect_eq(notify_send("READY=1"), -ENOENT);
}

Test(notify, watchdog_variables)
{
	char pid[32];

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	cr_expect_eq(notify_watchdog_usec(), 0);
	setenv("WATCHDOG_USEC", "30000000", 1);
	cr_expect_eq(notify_watchdog_usec(), 30000000);
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	cr_expect_eq(notify_watchdog_usec(), 30000000, "for us");
	setenv("WATCHDOG_PID", "1", 1);
	cr_expect_eq(notify_watchdog_usec(), 0, "for another process");
	unsetenv("WATCHDOG_PID");
	setenv("WATCHDOG_USEC", "soon", 1);
	cr_expect_eq(notify_watchdog_usec(), 0);
}
