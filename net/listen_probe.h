/*
 * listen_probe — refuse to share a listening address with another process.
 *
 * Each worker binds its own SO_REUSEPORT socket per listener, and the
 * kernel lets any socket of the same uid join such a group: a second
 * sluiced (or anything else with SO_REUSEPORT) would silently take part of
 * the traffic.  Before the workers bind, the probe binds every configured
 * address once WITHOUT SO_REUSEPORT, which fails with EADDRINUSE whenever
 * any socket listens on that address or on a wildcard covering it.
 *
 * Main thread, at start-up, before workers_start().
 */
#ifndef SLUICE_NET_LISTEN_PROBE_H
#define SLUICE_NET_LISTEN_PROBE_H

#include <stddef.h>

#include "core/config.h"

/*
 * Check that nobody listens on any of cfg's listener addresses.  Returns 0,
 * -EADDRINUSE with "listen ADDR: ..." in err naming the address taken, or
 * another -errno from socket/bind (e.g. -EACCES for a privileged port).
 */
int listen_probe(const struct config *cfg, char *err, size_t errlen);

#endif
