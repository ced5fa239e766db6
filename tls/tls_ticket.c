/*
 * tls_ticket — session ticket keys, derived from a secret and the clock.
 *
 * How a key is made (what lets every worker, every reload and, with a key
 * file, every node of a cluster agree on it without sharing any state):
 *   1. Time is cut into periods of TLS_TICKET_PERIOD seconds; period
 *      n = now / TLS_TICKET_PERIOD (+ the rotations forced so far).
 *   2. Key n and its 16-byte name are HMAC-SHA256(secret, label || n).
 *      The secret is the process's own (32 random bytes, made once) or a
 *      key file's (tls_ctx_ticket_keys).
 *   3. A ticket is sealed with key n (ChaCha20-Poly1305; random nonce; the
 *      key name and the nonce are authenticated too).
 *   4. A ticket is opened when its key name is key n's or key n-1's: a
 *      key is replaced every period and the previous one still opens the
 *      tickets it sealed for one more period, which is the tickets'
 *      lifetime.  A TLS 1.2 ticket of the previous key is renewed (TLS
 *      1.3 gets a new ticket after every handshake).  Anything
 *      else (an older key, another secret, a forged ticket) is refused
 *      and the client gets a full handshake, never an error.
 * Rotation therefore needs no timer and no lock: the period number moves
 * by itself.  tls_ticket_rotate() only adds to it.
 *
 * Threads: the callback runs on any worker; it reads the secret (never
 * changed after its context is made) and the rotation count (atomic).
 */
#include "tls/tls_ticket.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hmac.h>

#include "core/file.h"
#include "tls/tls.h"

#define TLS_TICKET_SECRET_MIN	32
#define TLS_TICKET_SECRET_MAX	1024

struct tls_ticket_secret {
	unsigned char k[TLS_TICKET_SECRET_MAX];	/* the secret */
	size_t len;				/* bytes of k used */
};

/* One key of a period: its name (in the ticket) and the AEAD key. */
struct tls_ticket_key {
	unsigned char name[WOLFSSL_TICKET_NAME_SZ];
	unsigned char key[CHACHA20_POLY1305_AEAD_KEYSIZE];
};

_Static_assert(WC_SHA256_DIGEST_SIZE >= WOLFSSL_TICKET_NAME_SZ &&
	       WC_SHA256_DIGEST_SIZE == CHACHA20_POLY1305_AEAD_KEYSIZE,
	       "a key and a name are each one HMAC-SHA256");
_Static_assert(WOLFSSL_TICKET_IV_SZ >= CHACHA20_POLY1305_AEAD_IV_SIZE &&
	       WOLFSSL_TICKET_MAC_SZ >= CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE,
	       "the nonce and the tag fit the ticket's fields");

static struct tls_ticket_secret tls_process_secret;	/* random, made once */
static pthread_once_t tls_process_once = PTHREAD_ONCE_INIT;
static int tls_process_rc;				/* 0 once made */
static atomic_uint_fast64_t tls_rotations;		/* tls_ticket_rotate */

static void
tls_process_secret_make(void)
{
	tls_process_secret.len = TLS_TICKET_SECRET_MIN;
	tls_process_rc = getrandom(tls_process_secret.k, TLS_TICKET_SECRET_MIN, 0) ==
			 TLS_TICKET_SECRET_MIN ? 0 : -1;
}

static uint64_t
tls_ticket_period_now(void)
{
	return (uint64_t)time(NULL) / TLS_TICKET_PERIOD +
	       atomic_load_explicit(&tls_rotations, memory_order_relaxed);
}

void
tls_ticket_rotate(void)
{
	atomic_fetch_add(&tls_rotations, 1);
}

/* HMAC-SHA256(sec, label || n) into out (32 bytes). */
static int
tls_ticket_hmac(const struct tls_ticket_secret *sec, const char *label, uint64_t n,
		unsigned char *out)
{
	unsigned char be[8];
	Hmac h;
	int rc;

	for (int i = 0; i < 8; i++)
		be[i] = (unsigned char)(n >> (56 - 8 * i));
	if (wc_HmacInit(&h, NULL, INVALID_DEVID) != 0)
		return -1;
	rc = wc_HmacSetKey(&h, WC_SHA256, sec->k, (word32)sec->len);
	if (rc == 0)
		rc = wc_HmacUpdate(&h, (const byte *)label, (word32)strlen(label));
	if (rc == 0)
		rc = wc_HmacUpdate(&h, be, sizeof(be));
	if (rc == 0)
		rc = wc_HmacFinal(&h, out);
	wc_HmacFree(&h);
	return rc == 0 ? 0 : -1;
}

static int
tls_ticket_key(const struct tls_ticket_secret *sec, uint64_t n, struct tls_ticket_key *k)
{
	unsigned char name[WC_SHA256_DIGEST_SIZE];

	if (tls_ticket_hmac(sec, "sluice ticket name", n, name) < 0 ||
	    tls_ticket_hmac(sec, "sluice ticket key", n, k->key) < 0)
		return -1;
	memcpy(k->name, name, sizeof(k->name));
	return 0;
}

/* What is authenticated besides the ticket: its key name and nonce. */
static void
tls_ticket_aad(unsigned char *aad, const unsigned char *name, const unsigned char *iv)
{
	memcpy(aad, name, WOLFSSL_TICKET_NAME_SZ);
	memcpy(aad + WOLFSSL_TICKET_NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
}

/* wolfSSL's SessionTicketEncCb: seal (enc) or open the ticket in place. */
static int
tls_ticket_cb(WOLFSSL *ssl, unsigned char name[WOLFSSL_TICKET_NAME_SZ],
	      unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
	      int enc, unsigned char *ticket, int len, int *outlen, void *arg)
{
	const struct tls_ticket_secret *sec = arg != NULL ? arg : &tls_process_secret;
	unsigned char aad[WOLFSSL_TICKET_NAME_SZ + WOLFSSL_TICKET_IV_SZ];
	struct tls_ticket_key k;
	uint64_t n = tls_ticket_period_now();
	int rc = WOLFSSL_TICKET_RET_REJECT;

	if (len < 0)
		return WOLFSSL_TICKET_RET_REJECT;
	if (enc) {
		if (tls_ticket_key(sec, n, &k) < 0 ||
		    getrandom(iv, WOLFSSL_TICKET_IV_SZ, 0) != WOLFSSL_TICKET_IV_SZ)
			return WOLFSSL_TICKET_RET_FATAL;
		memcpy(name, k.name, sizeof(k.name));
		tls_ticket_aad(aad, name, iv);
		memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
		rc = wc_ChaCha20Poly1305_Encrypt(k.key, iv, aad, sizeof(aad), ticket,
						 (word32)len, ticket, mac) == 0 ?
		     WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_FATAL;
		*outlen = len;
		explicit_bzero(&k, sizeof(k));
		return rc;
	}
	/* The tag fills the front of wolfSSL's MAC field; the rest is sealed
	 * as zeros and must still be, or a ticket altered there would open. */
	for (size_t i = CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE; i < WOLFSSL_TICKET_MAC_SZ; i++)
		if (mac[i] != 0)
			return WOLFSSL_TICKET_RET_REJECT;
	/* This period's key, then the previous one (renew what it opens). */
	for (uint64_t age = 0; age < 2 && n >= age; age++) {
		if (tls_ticket_key(sec, n - age, &k) < 0)
			break;
		if (memcmp(name, k.name, sizeof(k.name)) != 0)
			continue;
		tls_ticket_aad(aad, name, iv);
		if (wc_ChaCha20Poly1305_Decrypt(k.key, iv, aad, sizeof(aad), ticket,
						(word32)len, mac, ticket) == 0) {
			*outlen = len;
			/* TLS 1.3 sends a new ticket anyway, and wolfSSL
			 * 5.7 takes "renew" there as "refused". */
			rc = age == 0 || wolfSSL_version(ssl) >= TLS1_3_VERSION ?
			     WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
		}
		break;
	}
	explicit_bzero(&k, sizeof(k));
	return rc;
}

void
tls_ticket_setup(WOLFSSL_CTX *w, const struct tls_ticket_secret *sec)
{
	pthread_once(&tls_process_once, tls_process_secret_make);
	/* Without randomness there is no secret worth sealing with: keep
	 * wolfSSL's own ticket keys (per context) rather than a weak one. */
	if (sec == NULL && tls_process_rc < 0)
		return;
	wolfSSL_CTX_set_TicketEncCb(w, tls_ticket_cb);
	wolfSSL_CTX_set_TicketEncCtx(w, (void *)sec);
	wolfSSL_CTX_set_TicketHint(w, TLS_TICKET_PERIOD);
	/* wolfSSL refuses a ticket older than the session timeout. */
	wolfSSL_CTX_set_timeout(w, TLS_TICKET_PERIOD);
}

struct tls_ticket_secret *
tls_ticket_secret_load(const char *path, char *err, size_t errlen)
{
	struct tls_ticket_secret *sec;
	char *buf = NULL;
	size_t len = 0;
	int rc;

	if (file_is_regular(path) == 0) {	/* a FIFO would hang the start */
		snprintf(err, errlen, "%s: the ticket key file is not a regular file", path);
		return NULL;
	}
	rc = file_read(path, TLS_TICKET_SECRET_MAX, &buf, &len);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot read the ticket key file: %s", path,
			 rc == -EFBIG ? "more than 1024 bytes" : strerror(-rc));
		return NULL;
	}
	if (len < TLS_TICKET_SECRET_MIN) {
		snprintf(err, errlen, "%s: ticket key file has %zu bytes, expected at "
			 "least %d (e.g. head -c 32 /dev/urandom)", path, len,
			 TLS_TICKET_SECRET_MIN);
		free(buf);
		return NULL;
	}
	sec = calloc(1, sizeof(*sec));
	if (sec == NULL) {
		snprintf(err, errlen, "out of memory");
		free(buf);
		return NULL;
	}
	memcpy(sec->k, buf, len);
	sec->len = len;
	explicit_bzero(buf, len);
	free(buf);
	return sec;
}

void
tls_ticket_secret_free(struct tls_ticket_secret *sec)
{
	if (sec == NULL)
		return;
	explicit_bzero(sec, sizeof(*sec));
	free(sec);
}
