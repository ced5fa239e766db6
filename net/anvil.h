/*
 * anvil — per-client connection limits shared by every worker: concurrent
 * sessions and new connections per minute from one client address (named
 * after Postfix's anvil(8), which does the same job as a separate server).
 *
 * SO_REUSEPORT spreads one client's connections over all workers, so a
 * per-worker count would allow workers x limit.  The counts live in one
 * table that every worker updates with atomic operations on its accept
 * path; there is no lock.  The table is a fixed-size sketch: a client is
 * counted in two slots chosen by two keyed hashes and its count is the
 * smaller of the two, so a collision can only over-count, never let a
 * client past its limit, and needs a collision in both rows to matter.
 * The keys are random per process, so a remote cannot aim its addresses
 * at another client's slots.
 *
 * A client is an IPv4 address, or the /64 prefix of an IPv6 address (one
 * host usually holds a whole /64); an IPv4-mapped IPv6 address is its IPv4
 * address.
 *
 * Threading: anvil_new/anvil_free on the main thread, before the workers
 * start and after they stop; enter/leave from any worker at any time.
 */
#ifndef SLUICE_NET_ANVIL_H
#define SLUICE_NET_ANVIL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define ANVIL_ROWS 2			/* hashes per client */

struct anvil;

/* What a session admitted by anvil_enter holds until anvil_leave. */
struct anvil_ticket {
	uint32_t slot[ANVIL_ROWS];	/* its session counters */
	bool held;			/* counted: give it back on close */
};

enum anvil_verdict {
	ANVIL_OK,		/* admitted; the ticket is held */
	ANVIL_SESSIONS,		/* over the concurrent-session limit */
	ANVIL_RATE,		/* over the connection-rate limit */
};

/* A new table (1 MiB of counters, pages touched as clients come), with
 * random keys; NULL when out of memory. */
struct anvil *anvil_new(void);

/* Free the table (no worker may use it any more).  NULL is fine. */
void anvil_free(struct anvil *a);

/*
 * Count a new connection from addr (AF_INET or AF_INET6) at monotonic
 * second now against max_sessions concurrent sessions and max_rate
 * connections per 60 s window, opened by the client's first connection
 * (0 = no limit).  Every attempt counts toward the rate, refused ones too,
 * so a client hammering above it stays out.  Returns the verdict; on
 * ANVIL_OK t is held.  *log is set for the client's first refusal in 60 s:
 * log only then.
 * Other families are admitted without counting (t not held).
 */
enum anvil_verdict anvil_enter(struct anvil *a, const struct sockaddr *addr, uint64_t now,
			       uint32_t max_sessions, uint32_t max_rate,
			       struct anvil_ticket *t, bool *log);

/* The session of ticket t ended (nothing if t is not held). */
void anvil_leave(struct anvil *a, struct anvil_ticket *t);

/* Current estimate of addr's concurrent sessions (tests, diagnostics). */
uint32_t anvil_sessions(struct anvil *a, const struct sockaddr *addr);

#endif
