/*
 * tls_cache — the client sessions this thread may resume, by key; inside
 * tls/ only (the rest of the tree uses tls_conn_resume, tls/tls.h).
 *
 * The key is tls.c's business (context, destination and name: what makes
 * a session safe to offer again); here it is an opaque string.  At most
 * TLS_CACHE_MAX sessions per thread, the least recently used one goes
 * first; an expired session is dropped when it is looked up.  Each thread
 * has its own cache (no locks): a worker's outbound connections all run
 * on its thread.
 */
#ifndef SLUICE_TLS_TLS_CACHE_H
#define SLUICE_TLS_TLS_CACHE_H

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

#include <stdint.h>

#define TLS_CACHE_MAX	256
#define TLS_CACHE_REVERIFY	3600	/* s between full handshakes */

/* The session cached under key, or NULL; the cache keeps it (valid until
 * the next tls_cache_* call).  *verified: when the full handshake it
 * descends from checked the certificate (unix s); a session whose check
 * is older than TLS_CACHE_REVERIFY is dropped instead, so that the
 * certificate is seen again at least that often. */
WOLFSSL_SESSION *tls_cache_get(const char *key, int64_t *verified);

/* Cache s, which descends from a full handshake at time verified, under
 * key (replacing what was there); the cache owns s from now on (it is
 * freed at once when the key cannot be stored). */
void tls_cache_put(const char *key, WOLFSSL_SESSION *s, int64_t verified);

/* Forget the session under key, if any. */
void tls_cache_drop(const char *key);

/* Free this thread's cache (tls_thread_end). */
void tls_cache_clear(void);

#endif
