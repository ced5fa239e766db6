/*
 * sink_tls.h - STARTTLS in sluice-sink (sink_tls.c).
 *
 * Main thread only. The session's tls_* bits (bench/sink_state.h) say where it
 * is: tls_rx once STARTTLS is accepted, tls_tx once its 220 is out,
 * tls_up after the handshake.
 */
#ifndef BENCH_SINK_TLS_H
#define BENCH_SINK_TLS_H

#include <stddef.h>

struct sink_session;

/* True (1) when EHLO lists STARTTLS and the command is answered at all:
 * a certificate or --starttls-reply, and not --mode no-starttls. */
int sink_starttls_offered(void);

/* Answer STARTTLS (has_args: it came with an argument). On success the
 * 220 is queued, unparsed plaintext dropped, and input from now on is
 * TLS; the session's SMTP state is reset. */
void sink_cmd_starttls(struct sink_session *s, int has_args);

/* Ciphertext queued and not yet sent; 0 before TLS output starts. */
size_t sink_tls_pending(const struct sink_session *s);

/* Run the handshake; once done, decrypt into s->in[] while there is room.
 * Returns the plaintext bytes added, or -1 when s is closing or quitting
 * because of a TLS failure (the failure is written to stderr). */
long sink_tls_in(struct sink_session *s);

#endif
