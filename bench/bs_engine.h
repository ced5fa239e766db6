/*
 * bs_engine.h - sluice-bench's load engine (bs_engine.c): the sessions'
 * ops on the ring, their errors and closes, and the run itself.
 *
 * Main thread only. A session belongs to the engine; bs_smtp.c and
 * bs_tls.c act on it through these calls.
 */
#ifndef BENCH_BS_ENGINE_H
#define BENCH_BS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bs_state.h"

/* Start the -c sessions (those beyond -n start finished), the --timeout
 * tick and the signal read, and run the ring until every session is done.
 * Returns 0, or a negative errno for a broken ring (written to stderr). */
int bs_run(void);

/* Send len bytes of a shared, read-only buffer (encrypted first once TLS
 * is up) and expect a reply in new_state within --timeout. */
void bs_send(struct bs_session *s, const char *p, size_t len,
	     enum bs_state new_state);

/* Arm s's timer for ns nanoseconds (reconnect delay or --rate slot). */
void bs_arm_timer(struct bs_session *s, uint64_t ns);

/* Start closing s: cancel its ops, then act on after once the last has
 * completed. Nothing more may be done with s in this callback. */
void bs_close(struct bs_session *s, enum bs_after after);

/* A connection-level failure: count it, print "what: strerror(err)" (err
 * 0: no detail), lose the message in flight and retry after a pause. */
void bs_error(struct bs_session *s, const char *what, int err);

/* The same with a free-text detail (NULL: none). */
void bs_error_detail(struct bs_session *s, const char *what,
		     const char *detail);

/* Something no retry fixes (--tls against a server without STARTTLS):
 * say so even with -q, close every session and end the run (exit 2). */
void bs_fatal(const char *what);

#endif
