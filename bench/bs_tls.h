/*
 * bs_tls.h - STARTTLS in sluice-bench (bs_tls.c).
 *
 * Main thread only. s->tls is set from the 220 to STARTTLS until the
 * connection's last CQE; while it is, recv lands in s->tin.
 */
#ifndef BENCH_BS_TLS_H
#define BENCH_BS_TLS_H

#include <stddef.h>

struct bs_session;

/* --tls at start-up: a client context that verifies nothing, and the -H
 * target's host as SNI when it is a name. Returns 0 or a negative errno
 * (written to stderr). */
int bs_tls_setup(const char *target);

/* The 220 to STARTTLS came: create the TLS session and send the
 * ClientHello. */
void bs_start_tls(struct bs_session *s);

/* n bytes of ciphertext arrived in s->tin: advance the handshake, or
 * decrypt into s->in[] and parse, then send what TLS has to say. */
void bs_tls_input(struct bs_session *s, size_t n);

/* Send the TLS output there is unless a send is in flight (its CQE calls
 * this again); the bytes stay pinned until tls_out_consume. */
void bs_flush_tls(struct bs_session *s);

#endif
