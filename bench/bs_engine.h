/*
 * bs_engine.h - sluice-bench's load engine (bs_engine.c): the sessions'
 * ops on the ring, their sends, timers, errors and closes, and the run
 * itself.
 *
 * The I/O layer: it knows bytes, not SMTP. What the bytes mean is handed
 * to it by the layer above as a struct bs_proto_ops (bs_smtp.c's), so the
 * engine calls up only through that table; bs_tls.c and bs_smtp.c call
 * down into the functions below. Main thread only. A session belongs to
 * the engine from bs_run to the end.
 */
#ifndef BENCH_BS_ENGINE_H
#define BENCH_BS_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bs_state.h"

/* What the engine calls up into: the dialogue over a session's bytes.
 * Neither is called once the session is closing. */
struct bs_proto_ops {
	/* n bytes arrived: ciphertext in s->tin when s->tls is set, else
	 * plaintext in s->in[] after s->in_len (the callee counts them in).
	 * May close s. */
	void (*input)(struct bs_session *s, size_t n);
	/* The --rate slot of s's claimed message came (BS_RATE_WAIT): start
	 * the message. */
	void (*rate_slot)(struct bs_session *s);
};

/* Start the -c sessions (those beyond -n start finished), the --timeout
 * tick and the signal read, and run the ring until every session is done,
 * with proto for what the bytes mean (static storage). Returns 0, or a
 * negative errno for a broken ring (written to stderr). */
int bs_run(const struct bs_proto_ops *proto);

/* Send len bytes of a shared, read-only buffer (encrypted first once TLS
 * is up) and expect a reply in new_state within --timeout. */
void bs_send(struct bs_session *s, const char *p, size_t len,
	     enum bs_state new_state);

/* Send the TLS output there is unless a send is in flight (its CQE calls
 * this again); the bytes stay pinned until tls_out_consume. */
void bs_flush_tls(struct bs_session *s);

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
