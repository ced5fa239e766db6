/*
 * loopback — what the Redis tests share: TCP sockets on 127.0.0.1 on a
 * port the kernel picks.  Header only (static inline): each test binary is
 * one file linked with the library.
 */
#ifndef SLUICE_TESTS_LOOPBACK_H
#define SLUICE_TESTS_LOOPBACK_H

#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

/* A TCP socket bound to 127.0.0.1 on a free port, which goes to *port. */
static inline int
loopback_bind(int *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	cr_assert(fd >= 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A loopback TCP port nobody listens on (right now). */
static inline int
free_port(void)
{
	int port;

	close(loopback_bind(&port));
	return port;
}

#endif
