/*
 * listen_probe — is a configured listening address already taken?
 *
 * The kernel's bind conflict rules do the work.  The probe socket sets
 * SO_REUSEADDR, so connections of an earlier run lingering in TIME_WAIT on
 * the port do not count, and does not set SO_REUSEPORT, so a socket in
 * LISTEN on the same address, on the wildcard of its family (0.0.0.0 for
 * 127.0.0.1; [::] for [::1]), or a dual-stack [::] socket for an IPv4
 * address, makes bind() fail with EADDRINUSE, whoever owns it and whatever
 * options it set.  An IPv6 probe is V6ONLY like the listener it stands for,
 * so a separate IPv4 wildcard is not mistaken for a rival.
 *
 * The probe is closed at once; the workers bind right after.  BUGS: two
 * daemons with different spools started in the same few milliseconds can
 * both pass the probe before either listens; a shared spool is caught by
 * the spool lock (queue/spool_lock.h) first.
 */
#include "net/listen_probe.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* 0 when nobody listens on cl's address, else -errno with err set. */
static int
probe_one(const struct cfg_listener *cl, char *err, size_t errlen)
{
	int fd, one = 1, rc = 0;

	fd = socket(cl->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "listen %s: socket: %s", cl->text, strerror(-rc));
		return rc;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (cl->addr.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)&cl->addr, cl->addrlen) < 0) {
		rc = -errno;
		if (rc == -EADDRINUSE)
			snprintf(err, errlen, "listen %s: address already in use: another "
				 "process listens on it (or on a wildcard address covering "
				 "it); sluiced does not share a listening address",
				 cl->text);
		else
			snprintf(err, errlen, "listen %s: %s", cl->text, strerror(-rc));
	}
	close(fd);
	return rc;
}

int
listen_probe(const struct config *cfg, char *err, size_t errlen)
{
	for (size_t i = 0; i < cfg->nlisteners; i++) {
		int rc = probe_one(&cfg->listeners[i], err, errlen);

		if (rc < 0)
			return rc;
	}
	return 0;
}
