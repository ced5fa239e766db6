/*
 * tls — TLS sessions over memory buffers (wolfSSL); the caller does all I/O.
 *
 * This module never touches a socket.  The io_uring worker receives
 * ciphertext and hands it over with tls_feed(); wolfSSL's output lands in
 * an output buffer the worker sends from (tls_out_ptr/len) and then
 * releases (tls_out_consume).  Plaintext goes in with tls_write() and comes
 * out of tls_read().  It also turns wolfSSL's verification errors into the
 * mail-flow-intelligence verdict (enum mfi_tls) with a human detail line.
 * It is not an SMTP layer: STARTTLS, the session reset after it and the
 * TLS policy of a connector belong to the SMTP client/server.
 *
 * Threads and ownership:
 *  - struct tls_ctx is made on the main thread at config load, then shared
 *    read-only by every worker (wolfSSL's WOLFSSL_CTX is safe to share for
 *    creating sessions).  Free it on the main thread once no tls_conn made
 *    from it is left.
 *  - struct tls_conn belongs to the one worker thread that made it; no
 *    locking.  Every tls_conn call must come from that thread.
 *  - wolfSSL_Init runs once per process, from the first tls_*_ctx_new
 *    (pthread_once).  tls_cleanup() undoes it at exit.
 *
 * The output buffer rule (what keeps an in-flight send intact):
 *    A tls_conn has two output buffers, "front" and "back".  tls_out_ptr()
 *    returns the unsent bytes of the front buffer and pins it: from then on
 *    nothing moves, frees or overwrites those bytes until tls_out_consume()
 *    has consumed all of them (or tls_conn_free()).  Output produced while
 *    the front is pinned (tls_write, tls_handshake, tls_read, tls_shutdown)
 *    goes to the back buffer, which may grow freely.  When the front is
 *    fully consumed the buffers swap.  So: take ptr+len, submit the send,
 *    and on its CQE consume res bytes; call tls_out_ptr() again for the
 *    rest (a short send leaves the pointer where it was, advanced by res).
 *    Keep at most one send in flight per tls_conn.
 *
 * After every call that can produce output (tls_handshake, tls_read,
 * tls_write, tls_shutdown, and a failed handshake, which queues an alert)
 * check tls_out_len().
 */
#ifndef SLUICE_TLS_TLS_H
#define SLUICE_TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mfi/mfi.h"

struct tls_ctx;
struct tls_conn;

/* Most ciphertext tls_feed() holds unread; beyond it tls_feed refuses. */
#define TLS_IN_MAX	(64 * 1024)

/* Longest useful tls_failure() detail, NUL included. */
#define TLS_DETAIL_MAX	512

/*
 * A server context: certificate (chain allowed: leaf first, then its
 * intermediates) and private key from PEM files; TLS 1.2 minimum, 1.3
 * preferred (tls_ctx_proto changes both); any SNI name is accepted (tls_sni() tells which one) and
 * answered with this one certificate; no client certificates asked for.
 * The key is proven to belong to the certificate by one handshake in
 * memory (wolfSSL 5.5.4's own check passes any EC key).  Returns NULL on
 * failure with a message in err.  Main thread.
 */
struct tls_ctx *tls_server_ctx_new(const char *cert_pem, const char *key_pem,
				   char *err, size_t errlen);

/*
 * A client context.  ca_file: PEM bundle of trusted CAs, NULL for the
 * system bundle (/etc/ssl/certs/ca-certificates.crt).  verify false: no
 * verification at all (policy "required": encryption, any certificate);
 * ca_file and crl_file are then ignored.  crl_file: PEM CRL(s), NULL for
 * none; with a CRL file every leaf certificate must be covered by a CRL
 * in it (a leaf whose issuer has no CRL there fails as UNTRUSTED), and
 * only the leaf is checked.  wolfSSL refuses to load a CRL past its
 * nextUpdate (this returns NULL then); one that goes stale later makes
 * handshakes fail as UNTRUSTED.
 * Returns NULL on failure with a message in err.  Main thread.
 */
struct tls_ctx *tls_client_ctx_new(const char *ca_file, bool verify,
				   const char *crl_file, char *err,
				   size_t errlen);

/*
 * The protocol settings of a context, from the config (inbound tls:
 * min_version/ciphers/ciphersuites, a connector's tls_min_version/
 * tls_ciphers/tls_ciphersuites).  NULL lists keep the built-in order.
 */
struct tls_proto {
	unsigned min_version;	/* 12: TLS 1.2 and 1.3; 13: TLS 1.3 only */
	const char *ciphers;	/* TLS 1.2 cipher names, ':' between, or NULL */
	const char *suites;	/* TLS 1.3 suite names, ':' between, or NULL */
};

/*
 * The built-in orders (measured with bench/tls_bench.c, see tls.c): AES-GCM
 * first where wolfSSL and the CPU have AES instructions, ChaCha20-Poly1305
 * first where they do not.  TLS 1.3 suites, then TLS 1.2 ciphers.
 */
#define TLS_SUITES_AES_FIRST \
	"TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES256-GCM-SHA384"
#define TLS_SUITES_CHACHA_FIRST \
	"TLS13-CHACHA20-POLY1305-SHA256:TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384"
#define TLS_CIPHERS_AES_FIRST \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
#define TLS_CIPHERS_CHACHA_FIRST \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"

/* Whether this process puts AES-GCM first (the above, decided once). */
bool tls_aes_first(void);

/*
 * Apply p to ctx before any session is made from it: the lowest version,
 * and the cipher order, TLS 1.3 suites first, then TLS 1.2 ciphers (a
 * server follows its own order).  Every name must be one wolfSSL knows:
 * the first that is not is named in err ("unknown cipher 'X'").  Returns
 * 0 or -EINVAL.  Main thread.
 */
int tls_ctx_proto(struct tls_ctx *ctx, const struct tls_proto *p, char *err,
		  size_t errlen);

/*
 * Session tickets (server contexts, TLS 1.3 and 1.2): sealed with a key
 * that changes every TLS_TICKET_PERIOD seconds, the previous key still
 * accepted, so a ticket lives one period (tls_ticket.c says how).  By
 * default the keys come from a random secret of this process, the same
 * for every server context and worker.  tls_ctx_ticket_keys derives them
 * from the secret in file path instead (32 to 1024 bytes, read now), so
 * that nodes given the same file accept each other's tickets.  Returns 0
 * or -EINVAL with a message in err.  Main thread, before any session.
 */
#define TLS_TICKET_PERIOD	3600
int tls_ctx_ticket_keys(struct tls_ctx *ctx, const char *path, char *err,
			size_t errlen);

/* Start the next key period now: tickets of the current key still open
 * for one period, older ones no more.  Any thread (tests, mostly). */
void tls_ticket_rotate(void);

/* Release a context (NULL is fine).  Main thread, after its conns. */
void tls_ctx_free(struct tls_ctx *ctx);

/* Release wolfSSL's global state; at process exit, after every ctx. */
void tls_cleanup(void);

/* Release what wolfSSL keeps per thread (the ECC fixed-point cache that
 * verifying a signature fills); on a thread that made handshakes, when it
 * ends. */
void tls_thread_end(void);

/*
 * A session on ctx.  server must match how ctx was made.  peer_name
 * (client only): sent as SNI unless it is an IP literal, and, when ctx
 * verifies, the name the certificate must carry (NULL: no name check).
 * Names match per RFC 6125 s. 6.4 (rules in tls.c's opening comment).
 * Returns NULL only when out of memory.  The conn's worker thread.
 */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, bool server,
			      const char *peer_name);

/*
 * Client, before the first tls_handshake: offer the session this thread
 * has cached for the same context, destination dest (the next hop, e.g.
 * "[192.0.2.1]:25") and peer name, and cache the sessions this
 * connection receives (the TLS 1.2 session at the end of the handshake,
 * TLS 1.3 tickets whenever they arrive, during tls_read) under that key.
 * A session is cached only once the handshake passed the context's
 * verification for that name, and is offered only to the same context:
 * never across another CA, policy or name.  A handshake that fails
 * forgets the key's session, and sessions descending from a full
 * handshake more than an hour old (TLS_CACHE_REVERIFY) are not offered:
 * the certificate is checked again at least that often.  Per thread,
 * TLS_CACHE_MAX (tls/tls_cache.h) sessions at most.
 * Returns 1 if a session was offered, 0 if none, -ENOMEM.
 */
int tls_conn_resume(struct tls_conn *c, const char *dest);

/* The handshake is done and resumed a session (no certificate exchanged). */
bool tls_resumed(const struct tls_conn *c);

/* Release a session and both output buffers (NULL is fine).  No send
 * may still be in flight from tls_out_ptr(). */
void tls_conn_free(struct tls_conn *c);

/*
 * Ciphertext received from the peer: copied into the input buffer.
 * Returns 0, or -ENOBUFS when more than TLS_IN_MAX bytes would be unread
 * (nothing is copied then; drain with tls_read/tls_handshake first).
 */
int tls_feed(struct tls_conn *c, const void *p, size_t n);

/* The peer closed its side (recv returned 0): once the fed bytes are
 * used up, reads see end of file. */
void tls_eof(struct tls_conn *c);

/*
 * Advance the handshake with what has been fed.  Returns 1 when done
 * (again 1 on later calls), 0 when it needs more input (send tls_out
 * first if there is any), <0 (-EPROTO) when it failed: tls_failure()
 * says why, and tls_out may hold an alert worth sending.
 */
int tls_handshake(struct tls_conn *c);

/*
 * Decrypted application data, after the handshake: >0 bytes copied into
 * buf, 0 nothing available (feed more), <0: -ESHUTDOWN the peer sent
 * close_notify, -ECONNRESET end of file without close_notify (truncated),
 * -EPROTO a protocol error (tls_failure() has the detail), -ENOTCONN the
 * handshake is not done.  May queue output (a TLS 1.3 key update reply).
 */
long tls_read(struct tls_conn *c, void *buf, size_t n);

/*
 * Encrypt all n bytes of p into the output buffer (records of at most
 * 16 KiB each).  Returns n, or <0: -ENOTCONN before the handshake or
 * after tls_shutdown, -EPROTO on a wolfSSL failure.  The output buffer
 * is not bounded: the caller throttles with tls_out_pending().
 */
long tls_write(struct tls_conn *c, const void *p, size_t n);

/* Bytes to send now: the unsent rest of the front buffer (0 if none). */
size_t tls_out_len(const struct tls_conn *c);

/* Where those bytes are; pins them (see the output buffer rule above).
 * NULL when tls_out_len() is 0 (nothing is pinned then). */
const void *tls_out_ptr(struct tls_conn *c);

/* n bytes from tls_out_ptr() were sent: release them; unpins and swaps
 * in the back buffer once the front is all sent.  n <= tls_out_len(). */
void tls_out_consume(struct tls_conn *c, size_t n);

/* All output not yet consumed, front and back (for back-pressure). */
size_t tls_out_pending(const struct tls_conn *c);

/* Queue a close_notify alert (only once the handshake is done; before,
 * there is nothing to close); tls_write fails afterwards.  Send the
 * output, then close the socket (no need to wait for the peer's). */
void tls_shutdown(struct tls_conn *c);

/*
 * Why the handshake (or a read) failed: MFI_TLS_NONE if it has not.  The
 * certificate verdicts (EXPIRED, NOT_YET_VALID, NAME_MISMATCH, UNTRUSTED,
 * SELF_SIGNED, REVOKED) come only from a verifying client; everything
 * else (alerts, protocol errors, EOF mid-handshake, garbage) is
 * HANDSHAKE_FAILED.  detail (may be NULL) receives one line for people,
 * e.g. "certificate has expired (notAfter 2020-02-01 00:00:00 UTC)".
 */
enum mfi_tls tls_failure(const struct tls_conn *c, char *detail, size_t len);

/* The native wolfSSL error code behind tls_failure() (0 if none), for
 * logs and tests. */
int tls_failure_code(const struct tls_conn *c);

/* Longest subject kept by tls_peer_cert, NUL included. */
#define TLS_SUBJECT_MAX	128

/* The peer's own certificate, as the expiry insight needs it. */
struct tls_cert {
	int64_t not_after;		/* unix s it expires */
	char subject[TLS_SUBJECT_MAX];	/* its subject's CN, or the whole
					   subject on one line when it has
					   none: the peer's bytes (subject_len
					   of them, cut to fit, may hold a NUL;
					   escape before showing), then a NUL */
	size_t subject_len;		/* bytes of subject */
};

/*
 * Client: the peer's own certificate, once the handshake has seen it (it
 * succeeded, or verification failed on a certificate it had read).  Noted
 * once per session, by the verify callback or at the end of the handshake,
 * whatever the context verifies.  Returns 0 with *out filled, or -ENOENT.
 */
int tls_peer_cert(const struct tls_conn *c, struct tls_cert *out);

/* Negotiated protocol ("TLSv1.3", "TLSv1.2"); "" before the handshake. */
const char *tls_version(const struct tls_conn *c);

/* The negotiated protocol as an index of the workers' TLS counters
 * (core/worker.h): 0 TLS 1.2, 1 TLS 1.3, 2 anything else; and the label
 * of each index ("TLSv1.2", "TLSv1.3", "other"). */
unsigned tls_proto_index(const struct tls_conn *c);
extern const char *const tls_proto_names[];

/* Negotiated cipher suite (e.g. "TLS_AES_128_GCM_SHA256"); "" before. */
const char *tls_cipher(const struct tls_conn *c);

/* Server: the SNI host name the client asked for (NULL if none).  Client:
 * the name it sent (NULL if none). */
const char *tls_sni(const struct tls_conn *c);

#endif
