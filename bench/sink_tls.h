/*
 * sink_tls.h - the TLS side of a sluice-sink session (sink_tls.c): its
 * TLS session, the handshake, and decrypting into in[].
 *
 * Main thread only. The session's tls_* bits (bench/sink_state.h) say
 * where it is: tls_rx once STARTTLS is accepted, tls_tx once its 220 is
 * out, tls_up after the handshake. The STARTTLS command itself is the
 * dialogue's (sink_smtp.c); the sends and recvs are sink_io.c's.
 */
#ifndef BENCH_SINK_TLS_H
#define BENCH_SINK_TLS_H

#include <stddef.h>

struct sink_session;

/* STARTTLS is being accepted: get s its ciphertext buffer and a server
 * TLS session (both kept while s is pooled, the buffer across
 * connections). Returns 0 or -ENOMEM. */
int sink_tls_start(struct sink_session *s);

/* Ciphertext queued and not yet sent; 0 before TLS output starts. */
size_t sink_tls_pending(const struct sink_session *s);

/* Run the handshake; once done, decrypt into s->in[] while there is room.
 * Returns the plaintext bytes added, or (the failure written to stderr)
 * -EPROTO when the handshake failed: s quits once the alert is sent; or
 * -ECONNRESET when a record could not be read: the caller resets the
 * connection. */
long sink_tls_in(struct sink_session *s);

#endif
