/*
 * redis_link — find and connect to the Redis master: directly, or through
 * Redis Sentinel.
 *
 * Job: one blocking call that returns a ready hiredis context on the
 * current master (address asked of the sentinels in turn with SENTINEL
 * get-master-addr-by-name, then checked with ROLE, since a sentinel may
 * still name a demoted master for a moment after a failover), authenticated
 * and with its command timeout set; and the rule that says when an error
 * reply means "this server is not the master any more, find it again".
 *
 * Not for: keeping the connection (the caller owns the context, drops it
 * on an I/O error or a stale reply and calls redis_link_connect() again),
 * retries or backoff (the caller's loop), subscribing to sentinel events
 * (the caller rediscovers on failure instead; a failover is noticed on the
 * next command, as READONLY or a lost connection).
 *
 * Stateless: no globals, no allocation kept between calls.  Any thread;
 * blocking, bounded by timeout_ms per step (connect, each command), so a
 * whole call with n sentinels costs at most about (2n + 3) * timeout_ms.
 */
#ifndef SLUICE_CORE_TENANT_REDIS_LINK_H
#define SLUICE_CORE_TENANT_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>

#include <hiredis/hiredis.h>

/* Where Redis is.  Borrowed for the call only. */
struct redis_target {
	const char *host;		/* direct Redis, used when nsentinels == 0 */
	int port;			/* its TCP port */
	const char *const *sentinels;	/* "host:port" of each sentinel ("[::1]:26379" for v6) */
	size_t nsentinels;		/* entries in sentinels */
	const char *master;		/* the master's name at the sentinels */
	const char *password;		/* AUTH for Redis (master), NULL/"": none */
	const char *sentinel_password;	/* AUTH for the sentinels, NULL/"": none */
	unsigned timeout_ms;		/* connect and command timeout per step */
};

/* Connect to the current master (direct, or asked of each sentinel in turn with SENTINEL
 * get-master-addr-by-name, then checked with ROLE to be a master), AUTH, set the command timeout.
 * Returns a new context, or NULL with a one-line reason in why ("redis 127.0.0.1:6379: Connection refused",
 * "sentinels 127.0.0.1:26379, 127.0.0.1:26380: no master named mymaster", ...). addr gets "host:port" of the
 * server connected. Blocking, bounded by timeout_ms per step. Any thread. */
redisContext *redis_link_connect(const struct redis_target *t, char *addr, size_t addrlen,
				 char *why, size_t whylen);

/* True when reply r (an error reply) means this server cannot take our writes any more (READONLY, LOADING,
 * MASTERDOWN, ...): drop the context and connect again. */
bool redis_link_reply_stale(const redisReply *r);

#endif /* SLUICE_CORE_TENANT_REDIS_LINK_H */
