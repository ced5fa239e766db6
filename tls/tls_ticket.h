/*
 * tls_ticket — the keys that seal the session tickets of server contexts;
 * inside tls/ only (the rest of the tree uses tls/tls.h: tls_ctx_ticket_keys,
 * tls_ticket_rotate).  See tls_ticket.c for how keys are made and rotated.
 */
#ifndef SLUICE_TLS_TLS_TICKET_H
#define SLUICE_TLS_TLS_TICKET_H

#include <stddef.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

/* A secret the ticket keys are derived from (opaque). */
struct tls_ticket_secret;

/*
 * Seal the tickets of server context w with keys derived from sec, or
 * from the process's own random secret when sec is NULL, and make a
 * ticket live as long as its key is accepted.  sec must outlive w's
 * sessions.  Main thread, at context set-up.
 */
void tls_ticket_setup(WOLFSSL_CTX *w, const struct tls_ticket_secret *sec);

/* The secret in file path (TLS_TICKET_SECRET_MIN to _MAX bytes, used
 * whole).  NULL with a message in err.  Main thread. */
struct tls_ticket_secret *tls_ticket_secret_load(const char *path, char *err,
						 size_t errlen);

/* Release a secret from tls_ticket_secret_load (NULL is fine). */
void tls_ticket_secret_free(struct tls_ticket_secret *sec);

#endif
