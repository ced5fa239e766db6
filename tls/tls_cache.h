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

#define TLS_CACHE_MAX	256

/* The session cached under key, or NULL; the cache keeps it (valid until
 * the next tls_cache_* call). */
WOLFSSL_SESSION *tls_cache_get(const char *key);

/* Cache s under key (replacing what was there); the cache owns s from
 * now on (it is freed at once when the key cannot be stored). */
void tls_cache_put(const char *key, WOLFSSL_SESSION *s);

/* Forget the session under key, if any. */
void tls_cache_drop(const char *key);

/* Free this thread's cache (tls_thread_end). */
void tls_cache_clear(void);

#endif
