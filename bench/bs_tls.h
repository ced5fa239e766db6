/*
 * bs_tls.h - STARTTLS in sluice-bench (bs_tls.c).
 *
 * Main thread only. s->tls is set from the 220 to STARTTLS until the
 * connection's last CQE; while it is, recv lands in s->tin. These
 * functions say what happened and leave what is said next (EHLO again,
 * the replies' meaning) to the caller, bs_smtp.c.
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
 * ClientHello. On failure s is closing (the error is counted). */
void bs_start_tls(struct bs_session *s);

/* n bytes of ciphertext arrived in s->tin: hand them to TLS and advance
 * the handshake. Returns 1 when the handshake completed with them (the
 * caller says EHLO again), 0 when it was done already (plaintext may
 * follow: bs_tls_read), or -EINPROGRESS while it goes on (its next flight
 * is on its way) or -EPIPE when s is closing (the error is counted):
 * nothing more to do with these bytes. */
int bs_tls_feed(struct bs_session *s, size_t n);

/* Decrypt what fits into s->in[] after s->in_len. Returns the bytes
 * added (counted into s->in_len), 0 when there are no more for now (what
 * TLS has to say, e.g. a key update, is on its way), or -EPIPE when s is
 * closing: a TLS failure, a full in[], or close_notify after the 221
 * (a clean end). */
long bs_tls_read(struct bs_session *s);

#endif
