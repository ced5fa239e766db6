/*
 * tls — wolfSSL sessions driven through memory I/O callbacks.
 *
 * wolfSSL reads ciphertext through tls_io_recv (from the bytes tls_feed
 * copied in) and writes it through tls_io_send (into the front or back
 * output buffer, see tls.h); neither ever blocks, so wolfSSL's non-blocking
 * state machine returns WANT_READ whenever it has used up its input.
 *
 * Verification (client contexts made with verify = true) is wolfSSL's own
 * for the chain against the CA file, the dates and an optional CRL for the
 * leaf.  The peer name is checked here, in the verify callback, on the
 * peer's certificate (depth 0), so a mismatch fails the handshake like any
 * other verification error (DOMAIN_NAME_MISMATCH, alert bad_certificate).
 * wolfSSL's own checks are not used: wolfSSL_set1_host does not fail the
 * handshake in 5.5.4 (and wolfSSL_get_verify_result stays 0), and
 * wolfSSL_check_domain_name, which does, runs MatchDomainName, which in
 * 5.5.4 reads past the end of the name when a wildcard pattern outlasts it
 * (valgrind: "*.*.x" against "anything") and accepts "*" alone, "*.*.x"
 * and partial labels.  The rules here (RFC 6125 s. 6.4, as browsers and
 * MTA-STS apply them):
 *   - DNS subjectAltNames only; the CN only when there is no DNS SAN;
 *   - ASCII case-insensitive; one trailing dot on either side ignored;
 *   - '*' only as the whole leftmost label, standing for exactly one
 *     non-empty label: "*.example.com" matches "mx.example.com", not
 *     "example.com" nor "a.mx.example.com"; never "*.com" or "*";
 *     no partial labels ("f*.example.com" matches nothing);
 *   - an IP literal peer name matches only an IP SAN
 *     (wolfSSL_X509_check_ip_asc), and is never sent as SNI (RFC 6066).
 * Should wolfSSL not call the callback for a good certificate (a build
 * without WOLFSSL_ALWAYS_VERIFY_CB), the same check runs on the peer's
 * certificate once the handshake is done, and fails it then.
 *
 * Besides that IP check, the verify callback only watches: it keeps the
 * first error wolfSSL reports for a certificate with that certificate's
 * names and dates, so tls_failure() can say which certificate and when,
 * and it notes the peer's own certificate (notAfter, subject) for
 * tls_peer_cert.  A context that does not verify has no callback: the
 * peer's certificate is read once the handshake is done instead (one copy
 * of it, per session).  The verdict itself comes from the native error
 * code (tls_reason_of).
 *
 * Resumption: server contexts seal tickets with the process's keys
 * (tls_ticket.c); client contexts ask for tickets and, for connections
 * that call tls_conn_resume, keep each new session in the thread's cache
 * (tls_cache.c) under a key naming the context, destination and peer
 * name, so a session is offered again only where it was verified.
 *
 * Threading: a tls_ctx is read-only after tls_*_ctx_new; each tls_conn is
 * used by one thread.  Global state: wolfSSL's own (initialised once
 * through pthread_once), the contexts' id counter, the ticket secret and
 * rotation count (tls_ticket.c) and each thread's session cache.
 */
#include "tls/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/error-crypt.h>

#include "core/buf.h"
#include "core/log.h"
#include "core/file.h"
#include "core/strb.h"
#include "core/worker.h"
#include "tls/tls_cache.h"
#include "tls/tls_ticket.h"

#define TLS_SYSTEM_CA	"/etc/ssl/certs/ca-certificates.crt"
#define TLS_NAME_MAX	256	/* longest SNI name kept, NUL included */
#define TLS_CN_MAX	128	/* longest CN kept for details */
#define TLS_OUT_KEEP	(64 * 1024)	/* emptied buffers bigger than this
					   are released, not kept */

struct tls_ctx {
	WOLFSSL_CTX *w;		/* shared read-only by every session */
	bool server;		/* made by tls_server_ctx_new */
	bool verify;		/* client: verify chain and name */
	uint64_t id;		/* unique in the process: cached sessions are
				   offered only to the context they came from */
	struct tls_ticket_secret *tickets;	/* server: the key file's
				   secret (tls_ctx_ticket_keys), or NULL */
};

static atomic_uint_fast64_t tls_ctx_ids;	/* last tls_ctx.id given */

/* One output buffer; bytes [off, b.len) are unsent. */
struct tls_obuf {
	struct buf b;		/* ciphertext */
	size_t off;		/* consumed prefix */
};

/* What the verify callback saw about the first certificate it rejected. */
struct tls_bad_cert {
	int err;		/* wolfSSL error for it, 0 if none seen */
	int depth;		/* 0 = the peer's own certificate */
	char subject[TLS_CN_MAX];	/* its CN (or whole subject) */
	char issuer[TLS_CN_MAX];	/* its issuer's CN */
	char not_before[32];	/* "2020-01-01 00:00:00 UTC" */
	char not_after[32];	/* same format */
};

struct tls_conn {
	WOLFSSL *ssl;			/* the wolfSSL session */
	struct tls_ctx *ctx;		/* borrowed; outlives the conn */
	struct buf in;			/* ciphertext fed, unread from in_off */
	size_t in_off;			/* bytes of in already given to wolfSSL */
	struct tls_obuf out[2];		/* front (out[front]) and back */
	int front;			/* index of the front buffer */
	bool pinned;			/* front handed out by tls_out_ptr */
	bool server;			/* accept side */
	bool eof;			/* peer closed: no input beyond in */
	bool done;			/* handshake complete */
	bool shut;			/* tls_shutdown called */
	bool failed;			/* reason/detail are set */
	int err;			/* native wolfSSL error of the failure */
	enum mfi_tls reason;		/* verdict of the failure */
	char detail[TLS_DETAIL_MAX];	/* its explanation */
	struct tls_bad_cert bad;	/* from the verify callback */
	char *peer_name;		/* client: name to verify, or NULL */
	bool peer_is_ip;		/* peer_name is an IP literal */
	bool name_checked;		/* the peer name check has run */
	char cert_names[TLS_CN_MAX];	/* names the peer's certificate has,
					   for a mismatch detail */
	char sni[TLS_NAME_MAX];		/* SNI sent (client) or received */
	struct tls_cert leaf;		/* client: the peer's certificate */
	bool leaf_seen;			/* leaf is filled */
	char *cache_key;		/* client: its sessions' key in this
					   thread's cache (tls_conn_resume), or
					   NULL: none cached */
	int64_t verified;		/* unix s of the full handshake the
					   offered session descends from; 0:
					   none offered (this one is full) */
};

static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int tls_init_rc;

static void
tls_global_init(void)
{
	tls_init_rc = wolfSSL_Init();
}

static int
tls_init(char *err, size_t errlen)
{
	pthread_once(&tls_once, tls_global_init);
	if (tls_init_rc != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "wolfSSL_Init failed (%d)", tls_init_rc);
		return -1;
	}
	return 0;
}

void
tls_cleanup(void)
{
	if (tls_init_rc == WOLFSSL_SUCCESS)
		wolfSSL_Cleanup();
	tls_init_rc = -1;	/* no ctx can be made afterwards */
}

void
tls_thread_end(void)
{
#ifdef FP_ECC
	wc_ecc_fp_free();
#endif
	tls_cache_clear();
}

/* ---- memory I/O --------------------------------------------------------- */

static int
tls_io_recv(WOLFSSL *ssl, char *p, int sz, void *arg)
{
	struct tls_conn *c = arg;
	size_t avail = c->in.len - c->in_off;
	size_t n;

	if (avail == 0)
		return c->eof ? WOLFSSL_CBIO_ERR_CONN_CLOSE :
				WOLFSSL_CBIO_ERR_WANT_READ;
	n = (size_t)sz < avail ? (size_t)sz : avail;
	memcpy(p, c->in.p + c->in_off, n);
	c->in_off += n;
	if (c->in_off == c->in.len)
		c->in_off = c->in.len = 0;
	return (int)n;
}

static int
tls_io_send(WOLFSSL *ssl, char *p, int sz, void *arg)
{
	struct tls_conn *c = arg;
	/* A pinned front may be in the kernel's hands: never touch it. */
	struct tls_obuf *o = &c->out[c->pinned ? c->front ^ 1 : c->front];

	buf_append(&o->b, p, (size_t)sz);
	return sz;
}

/* ---- contexts ----------------------------------------------------------- */

/*
 * The bulk cipher, by measurement (build/tls-bench on this 2-core Xeon,
 * wolfSSL 5.7.2 built by scripts/wolfssl.sh): with AES-NI, AES-128-GCM
 * seals and opens a 16 KiB record in 5.6 + 6.6 us against ChaCha20-
 * Poly1305's 12.7 + 15.1 us, and a 1 KiB write in 1.9 + 1.9 against
 * 3.1 + 3.3 us.  Without AES instructions (Debian's generic 5.5.4, or a
 * CPU without them) GCM falls back to 4-bit tables and ChaCha20 is twice
 * as fast instead (10 vs 22 us per 1,400-byte record).  AES-256 costs
 * 0-5 % more than AES-128 for nothing a relay needs, so it comes last.
 */
bool
tls_aes_first(void)
{
#if defined(WOLFSSL_AESNI) && (defined(__x86_64__) || defined(__i386__))
	static int cached = -1;

	if (cached < 0)
		cached = __builtin_cpu_supports("aes") && __builtin_cpu_supports("pclmul");
	return cached;
#elif defined(WOLFSSL_ARMASM) && defined(__aarch64__)
	return true;
#else
	return false;
#endif
}

/* Apply what server and client contexts share. */
static int
tls_ctx_common(struct tls_ctx *t, char *err, size_t errlen)
{
	if (wolfSSL_CTX_SetMinVersion(t->w, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set TLS 1.2 as minimum version");
		return -1;
	}
	wolfSSL_CTX_SetIORecv(t->w, tls_io_recv);
	wolfSSL_CTX_SetIOSend(t->w, tls_io_send);
	/*
	 * Key exchange: X25519 first.  Debian's wolfSSL does NIST curves with
	 * generic big-number code and X25519 with its own field arithmetic,
	 * which is several times cheaper per handshake; with the private
	 * build's P-256 assembly the two cost the same within the noise
	 * (build/tls-bench: 154-165 vs 169-229 us per server handshake), and
	 * OpenSSL clients send an X25519 key share, so X25519 stays first.
	 * P-256 stays for peers that lack X25519.
	 */
	int groups[] = { WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1 };
	if (wolfSSL_CTX_set_groups(t->w, groups, 3) != WOLFSSL_SUCCESS)
		wolfSSL_CTX_set_groups(t->w, groups + 1, 2);
	/* Bulk cipher: see tls_aes_first(); the server's order decides. */
	wolfSSL_CTX_set_cipher_list(t->w, tls_aes_first() ?
				   TLS_SUITES_AES_FIRST ":" TLS_CIPHERS_AES_FIRST :
				   TLS_SUITES_CHACHA_FIRST ":" TLS_CIPHERS_CHACHA_FIRST);
	return 0;
}

/*
 * Every name of list (':'-separated) known to wolfSSL, tried one by one
 * on ctx (wolfSSL takes a list as long as one name in it is known, and
 * drops the others without a word).  The caller sets the real list after.
 */
static int
tls_names_known(WOLFSSL_CTX *w, const char *list, char *err, size_t errlen)
{
	char name[72];

	for (const char *p = list, *end; *p; p = *end ? end + 1 : end) {
		size_t n;

		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		n = (size_t)(end - p);
		if (n == 0 || n >= sizeof(name)) {
			snprintf(err, errlen, "malformed cipher list '%s'", list);
			return -EINVAL;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (wolfSSL_CTX_set_cipher_list(w, name) != WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "unknown cipher '%s': not a name this "
				 "wolfSSL knows", name);
			return -EINVAL;
		}
	}
	return 0;
}

int
tls_ctx_proto(struct tls_ctx *t, const struct tls_proto *p, char *err, size_t errlen)
{
	const char *suites = p->suites ? p->suites :
			     tls_aes_first() ? TLS_SUITES_AES_FIRST : TLS_SUITES_CHACHA_FIRST;
	const char *ciphers = p->ciphers ? p->ciphers :
			      tls_aes_first() ? TLS_CIPHERS_AES_FIRST : TLS_CIPHERS_CHACHA_FIRST;
	struct strb sb;
	char *list;
	int rc = 0;

	if (wolfSSL_CTX_SetMinVersion(t->w, p->min_version == 13 ? WOLFSSL_TLSV1_3 :
				      WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cannot set TLS 1.%u as the minimum version",
			 p->min_version == 13 ? 3 : 2);
		return -EINVAL;
	}
	if (p->suites == NULL && p->ciphers == NULL)
		return 0;
	list = malloc(strlen(suites) + strlen(ciphers) + 2);
	if (list == NULL) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	strb_init(&sb, list, strlen(suites) + strlen(ciphers) + 2);
	strb_printf(&sb, "%s:%s", suites, ciphers);
	if ((p->suites != NULL && (rc = tls_names_known(t->w, p->suites, err, errlen)) < 0) ||
	    (p->ciphers != NULL && (rc = tls_names_known(t->w, p->ciphers, err, errlen)) < 0))
		;	/* reported; the caller drops the context */
	else if (wolfSSL_CTX_set_cipher_list(t->w, list) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "cipher list '%s' refused", list);
		rc = -EINVAL;
	}
	free(list);
	return rc;
}

static struct tls_ctx *
tls_ctx_alloc(bool server, char *err, size_t errlen)
{
	struct tls_ctx *t;

	if (tls_init(err, errlen) < 0)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	t->server = server;
	t->id = atomic_fetch_add(&tls_ctx_ids, 1) + 1;
	/* The "v23" methods negotiate the highest version both sides have
	 * (TLS 1.3 here); SetMinVersion cuts off below 1.2. */
	t->w = wolfSSL_CTX_new(server ? wolfSSLv23_server_method() :
					wolfSSLv23_client_method());
	if (t->w == NULL) {
		snprintf(err, errlen, "wolfSSL_CTX_new failed");
		free(t);
		return NULL;
	}
	if (tls_ctx_common(t, err, errlen) < 0) {
		tls_ctx_free(t);
		return NULL;
	}
	return t;
}

/* Move everything from's output into to; returns bytes moved. */
static size_t
tls_selftest_move(struct tls_conn *from, struct tls_conn *to)
{
	size_t len, moved = 0;

	while ((len = tls_out_len(from)) > 0 &&
	       tls_feed(to, tls_out_ptr(from), len) == 0) {
		tls_out_consume(from, len);
		moved += len;
	}
	return moved;
}

/*
 * A handshake in memory between srv and a non-verifying client: the
 * client checks the server's signature with the certificate's public key,
 * so it fails when key and certificate do not belong together.
 */
static int
tls_selftest(struct tls_ctx *srv, char *err, size_t errlen)
{
	struct tls_ctx *cli = tls_client_ctx_new(NULL, false, NULL, err,
						 errlen);
	struct tls_conn *c = NULL, *s = NULL;
	int rc = -1, hc = 0, hs = 0, rounds;
	char detail[TLS_DETAIL_MAX];

	if (cli == NULL)
		return -1;
	c = tls_conn_new(cli, false, NULL);
	s = tls_conn_new(srv, true, NULL);
	if (c == NULL || s == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (rounds = 0; rounds < 32 && (hc == 0 || hs == 0); rounds++) {
		if (hc == 0)
			hc = tls_handshake(c);
		if (hs == 0)
			hs = tls_handshake(s);
		if (tls_selftest_move(c, s) + tls_selftest_move(s, c) == 0 &&
		    (hc != 0 || hs != 0))
			break;
	}
	if (hc == 1 && hs == 1) {
		rc = 0;
	} else {
		tls_failure(hc < 0 ? c : s, detail, sizeof(detail));
		snprintf(err, errlen, "%s", detail[0] ? detail : "no progress");
	}
out:
	tls_conn_free(c);
	tls_conn_free(s);
	tls_ctx_free(cli);
	return rc;
}

/* Server: keep the SNI name the client sent, whatever it is. */
static int
tls_sni_cb(WOLFSSL *ssl, int *alert, void *arg)
{
	struct tls_conn *c = wolfSSL_get_app_data(ssl);
	const char *name = wolfSSL_get_servername(ssl, WOLFSSL_SNI_HOST_NAME);

	if (c != NULL && name != NULL)
		snprintf(c->sni, sizeof(c->sni), "%s", name);
	return 0;	/* SSL_TLSEXT_ERR_OK: one certificate for any name */
}

/* wolfSSL reads these whole at start: a FIFO among them would hang it, a
 * directory gives a vaguer error.  -1 with err set if one is neither
 * missing (wolfSSL says so) nor a regular file. */
static int
tls_files_regular(const char *const *paths, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		if (paths[i] != NULL && file_is_regular(paths[i]) == 0) {
			snprintf(err, errlen, "%s: not a regular file", paths[i]);
			return -1;
		}
	}
	return 0;
}

struct tls_ctx *
tls_server_ctx_new(const char *cert_pem, const char *key_pem, char *err,
		   size_t errlen)
{
	const char *files[] = { cert_pem, key_pem };
	struct tls_ctx *t;
	char why[TLS_DETAIL_MAX];

	if (tls_files_regular(files, 2, err, errlen) < 0 ||
	    (t = tls_ctx_alloc(true, err, errlen)) == NULL)
		return NULL;
	if (wolfSSL_CTX_use_certificate_chain_file(t->w, cert_pem) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load certificate (chain) PEM",
			 cert_pem);
		goto fail;
	}
	if (wolfSSL_CTX_use_PrivateKey_file(t->w, key_pem,
					    WOLFSSL_FILETYPE_PEM) !=
	    WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load private key PEM",
			 key_pem);
		goto fail;
	}
	if (wolfSSL_CTX_check_private_key(t->w) != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s does not match the certificate in %s",
			 key_pem, cert_pem);
		goto fail;
	}
	wolfSSL_CTX_set_verify(t->w, WOLFSSL_VERIFY_NONE, NULL);
	wolfSSL_CTX_set_servername_callback(t->w, tls_sni_cb);
	tls_ticket_setup(t->w, NULL);
	/* wolfSSL 5.5.4's key check passes any EC key: prove the pair. */
	if (tls_selftest(t, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%s does not match the certificate in %s "
			 "(test handshake: %s)", key_pem, cert_pem, why);
		goto fail;
	}
	return t;
fail:
	tls_ctx_free(t);
	return NULL;
}

static int tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store);
static int tls_new_session_cb(WOLFSSL *ssl, WOLFSSL_SESSION *sess);

struct tls_ctx *
tls_client_ctx_new(const char *ca_file, bool verify, const char *crl_file,
		   char *err, size_t errlen)
{
	const char *files[] = { verify ? ca_file : NULL, verify ? crl_file : NULL };
	const char *ca = ca_file != NULL ? ca_file : TLS_SYSTEM_CA;
	struct tls_ctx *t;
	int rc;

	if (tls_files_regular(files, 2, err, errlen) < 0 ||
	    (t = tls_ctx_alloc(false, err, errlen)) == NULL)
		return NULL;
	t->verify = verify;
	/* Resumption (tls_conn_resume): ask for TLS 1.2 tickets too, and
	 * hear of every session and TLS 1.3 ticket as it arrives. */
	wolfSSL_CTX_UseSessionTicket(t->w);
	wolfSSL_CTX_sess_set_new_cb(t->w, tls_new_session_cb);
	if (!verify) {
		wolfSSL_CTX_set_verify(t->w, WOLFSSL_VERIFY_NONE, NULL);
		return t;
	}
	/* A system bundle may hold a certificate wolfSSL cannot parse:
	 * skip it there, but insist on every one in an explicit CA file. */
	rc = wolfSSL_CTX_load_verify_locations_ex(t->w, ca, NULL,
		ca_file != NULL ? 0 : WOLFSSL_LOAD_FLAG_IGNORE_ERR);
	if (rc != WOLFSSL_SUCCESS) {
		snprintf(err, errlen, "%s: cannot load CA certificates", ca);
		goto fail;
	}
	if (crl_file != NULL) {
		if (wolfSSL_CTX_EnableCRL(t->w, 0) != WOLFSSL_SUCCESS ||
		    wolfSSL_CTX_LoadCRLFile(t->w, crl_file,
					    WOLFSSL_FILETYPE_PEM) !=
		    WOLFSSL_SUCCESS) {
			snprintf(err, errlen, "%s: cannot load CRL", crl_file);
			goto fail;
		}
	}
	wolfSSL_CTX_set_verify(t->w, WOLFSSL_VERIFY_PEER, tls_verify_cb);
	return t;
fail:
	tls_ctx_free(t);
	return NULL;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	if (t->w != NULL)
		wolfSSL_CTX_free(t->w);
	tls_ticket_secret_free(t->tickets);
	free(t);
}

int
tls_ctx_ticket_keys(struct tls_ctx *t, const char *path, char *err, size_t errlen)
{
	struct tls_ticket_secret *sec;

	if (!t->server) {
		snprintf(err, errlen, "ticket keys are for a server context");
		return -EINVAL;
	}
	sec = tls_ticket_secret_load(path, err, errlen);
	if (sec == NULL)
		return -EINVAL;
	tls_ticket_setup(t->w, sec);
	tls_ticket_secret_free(t->tickets);
	t->tickets = sec;
	return 0;
}

/* ---- verification detail ------------------------------------------------ */

/* "YYYY-MM-DD HH:MM:SS UTC", or "?" when wolfSSL cannot read it. */
static void
tls_time_str(const WOLFSSL_ASN1_TIME *t, char *out, size_t len)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || wolfSSL_ASN1_TIME_to_tm(t, &tm) != WOLFSSL_SUCCESS ||
	    strftime(out, len, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, len, "?");
}

/*
 * The text of the loc-th entry of name, exactly as the certificate has
 * it: data and length from the ASN.1 string, never a C string (a CN may
 * hold a NUL, and a fixed buffer would cut it).  NULL if there is none.
 */
static const char *
tls_name_entry(WOLFSSL_X509_NAME *name, int loc, int *len)
{
	WOLFSSL_X509_NAME_ENTRY *e = wolfSSL_X509_NAME_get_entry(name, loc);
	WOLFSSL_ASN1_STRING *d = e != NULL ? wolfSSL_X509_NAME_ENTRY_get_data(e) : NULL;
	const char *p = d != NULL ? (const char *)wolfSSL_ASN1_STRING_data(d) : NULL;

	*len = d != NULL ? wolfSSL_ASN1_STRING_length(d) : 0;
	return p != NULL && *len >= 0 ? p : NULL;
}

/* The CN of name, or the whole one-line name if it has none, escaped
 * (core/log.h): it is the peer's text and ends up in logs. */
static void
tls_name_str(WOLFSSL_X509_NAME *name, char *out, size_t len)
{
	char line[TLS_NAME_MAX];
	const char *p;
	int loc, n;

	out[0] = '\0';
	if (name == NULL)
		return;
	loc = wolfSSL_X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	if (loc >= 0 && (p = tls_name_entry(name, loc, &n)) != NULL) {
		log_esc(out, len, p, (size_t)n, 0);
		return;
	}
	if (wolfSSL_X509_NAME_oneline(name, line, (int)sizeof(line)) != NULL)
		log_esc(out, len, line, strlen(line), 0);
}

static void
tls_note_cert(struct tls_bad_cert *b, WOLFSSL_X509 *x)
{
	if (x == NULL)
		return;
	tls_name_str(wolfSSL_X509_get_subject_name(x), b->subject,
		     sizeof(b->subject));
	tls_name_str(wolfSSL_X509_get_issuer_name(x), b->issuer,
		     sizeof(b->issuer));
	tls_time_str(wolfSSL_X509_get_notBefore(x), b->not_before,
		     sizeof(b->not_before));
	tls_time_str(wolfSSL_X509_get_notAfter(x), b->not_after,
		     sizeof(b->not_after));
}

/* Note x, the peer's own certificate, in c->leaf: its notAfter and
 * subject as the certificate has them (escaped only when shown). */
static void
tls_note_leaf(struct tls_conn *c, WOLFSSL_X509 *x)
{
	WOLFSSL_X509_NAME *name;
	char line[TLS_NAME_MAX];
	const char *p = NULL;
	struct tm tm;
	int loc, n = 0;

	memset(&tm, 0, sizeof(tm));
	if (c->leaf_seen || x == NULL ||
	    wolfSSL_ASN1_TIME_to_tm(wolfSSL_X509_get_notAfter(x), &tm) != WOLFSSL_SUCCESS)
		return;
	c->leaf.not_after = (int64_t)timegm(&tm);
	name = wolfSSL_X509_get_subject_name(x);
	loc = name != NULL ? wolfSSL_X509_NAME_get_index_by_NID(name, NID_commonName, -1) : -1;
	if (loc >= 0)
		p = tls_name_entry(name, loc, &n);
	if (p == NULL && name != NULL &&
	    wolfSSL_X509_NAME_oneline(name, line, (int)sizeof(line)) != NULL) {
		p = line;
		n = (int)strlen(line);
	}
	if (p == NULL || n < 0)
		n = 0;
	if ((size_t)n >= sizeof(c->leaf.subject))
		n = (int)sizeof(c->leaf.subject) - 1;
	if (n > 0)
		memcpy(c->leaf.subject, p, (size_t)n);
	c->leaf.subject[n] = '\0';
	c->leaf.subject_len = (size_t)n;
	c->leaf_seen = true;
}

static char
tls_lower(char ch)
{
	return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static bool
tls_eq_nocase(const char *a, const char *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (tls_lower(a[i]) != tls_lower(b[i]))
			return false;
	return true;
}

/*
 * Does presented identifier pat (plen bytes, from the certificate) match
 * host?  RFC 6125 s. 6.4 with the rules in the opening comment.
 */
static bool
tls_name_match(const char *pat, size_t plen, const char *host)
{
	size_t hlen = strlen(host), rlen;
	const char *dot;

	if (memchr(pat, '\0', plen) != NULL)
		return false;		/* an embedded NUL: a forgery */
	if (plen > 0 && pat[plen - 1] == '.')
		plen--;
	if (hlen > 0 && host[hlen - 1] == '.')
		hlen--;
	if (plen == 0 || hlen == 0)
		return false;
	if (pat[0] != '*')
		return memchr(pat, '*', plen) == NULL && plen == hlen &&
		       tls_eq_nocase(pat, host, hlen);
	/* "*.rest": rest has no '*' and at least two labels. */
	if (plen < 4 || pat[1] != '.' || memchr(pat + 1, '*', plen - 1) ||
	    memchr(pat + 2, '.', plen - 2) == NULL)
		return false;
	dot = memchr(host, '.', hlen);
	if (dot == NULL || dot == host)
		return false;
	rlen = plen - 1;	/* ".rest" */
	return (size_t)(host + hlen - dot) == rlen &&
	       tls_eq_nocase(dot, pat + 1, rlen);
}

/* Add name (n bytes, the peer's) escaped to the comma list in out (for
 * details only); a name that does not fit whole is left out. */
static void
tls_names_add(char *out, size_t len, const char *name, size_t n)
{
	char esc[TLS_CN_MAX];
	size_t used = strlen(out), k;

	log_esc(esc, sizeof(esc), name, n, 0);
	k = strlen(esc);
	if (used + 2 + k >= len)
		return;
	if (used > 0) {
		memcpy(out + used, ", ", 2);
		used += 2;
	}
	memcpy(out + used, esc, k + 1);
}

/*
 * Does certificate x carry host?  Notes its names in c->cert_names.
 * Every name is taken with the length the library gives, never as a C
 * string, and a name with a NUL fails the whole check: a CA signs
 * "victim.example\0.attacker.example" for whoever owns attacker.example,
 * and strlen would read it as victim.example.
 */
static bool
tls_cert_has_name(struct tls_conn *c, WOLFSSL_X509 *x, const char *host)
{
	WOLFSSL_GENERAL_NAMES *sans;
	WOLFSSL_GENERAL_NAME *gn;
	WOLFSSL_X509_NAME *subj;
	bool any_dns = false, ok = false, nul = false;
	const char *p;
	int i, n, len;

	c->cert_names[0] = '\0';
	if (c->peer_is_ip)
		return wolfSSL_X509_check_ip_asc(x, host, 0) == WOLFSSL_SUCCESS;
	sans = wolfSSL_X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	n = sans != NULL ? wolfSSL_sk_GENERAL_NAME_num(sans) : 0;
	for (i = 0; i < n; i++) {
		gn = wolfSSL_sk_GENERAL_NAME_value(sans, i);
		if (gn == NULL || gn->type != ASN_DNS_TYPE ||
		    gn->d.dNSName == NULL)
			continue;
		p = (const char *)wolfSSL_ASN1_STRING_data(gn->d.dNSName);
		len = wolfSSL_ASN1_STRING_length(gn->d.dNSName);
		if (p == NULL || len <= 0)
			continue;
		any_dns = true;
		tls_names_add(c->cert_names, sizeof(c->cert_names), p,
			      (size_t)len);
		if (memchr(p, '\0', (size_t)len) != NULL)
			nul = true;
		else if (tls_name_match(p, (size_t)len, host))
			ok = true;
	}
	if (sans != NULL)
		wolfSSL_GENERAL_NAMES_free(sans);
	if (any_dns)
		return ok && !nul;
	/* No DNS SAN: the CNs (RFC 6125 s. 6.4.4), each as the library has it. */
	subj = wolfSSL_X509_get_subject_name(x);
	for (i = subj != NULL ? wolfSSL_X509_NAME_get_index_by_NID(subj, NID_commonName, -1)
			      : -1;
	     i >= 0; i = wolfSSL_X509_NAME_get_index_by_NID(subj, NID_commonName, i)) {
		p = tls_name_entry(subj, i, &len);
		if (p == NULL || len <= 0)
			continue;
		tls_names_add(c->cert_names, sizeof(c->cert_names), p,
			      (size_t)len);
		if (memchr(p, '\0', (size_t)len) != NULL)
			nul = true;
		else if (tls_name_match(p, (size_t)len, host))
			ok = true;
	}
	return ok && !nul;
}

/*
 * Called for every certificate of the chain (this build of wolfSSL has
 * WOLFSSL_ALWAYS_VERIFY_CB): checks the peer name on the peer's own
 * certificate, and notes the first certificate that fails, and why.
 */
static int
tls_verify_cb(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
	struct tls_conn *c = store->userCtx;
	WOLFSSL_X509 *x = wolfSSL_X509_STORE_CTX_get_current_cert(store);
	int e = store->error;

	if (c == NULL)
		return preverify;
	if (store->error_depth == 0)
		tls_note_leaf(c, x);
	if (preverify && c->peer_name != NULL && store->error_depth == 0 &&
	    x != NULL) {
		c->name_checked = true;
		if (!tls_cert_has_name(c, x, c->peer_name)) {
			preverify = 0;
			e = DOMAIN_NAME_MISMATCH;
		}
	}
	if (preverify || c->bad.err != 0)
		return preverify;
	c->bad.err = e != 0 ? e : VERIFY_CERT_ERROR;
	c->bad.depth = store->error_depth;
	tls_note_cert(&c->bad, x);
	return 0;
}

/*
 * Native wolfSSL error (negative) or OpenSSL-style X509_V_ERR (positive,
 * what store->error may carry) → verdict.
 */
static enum mfi_tls
tls_reason_of(int e)
{
	switch (e) {
	case ASN_AFTER_DATE_E:
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return MFI_TLS_EXPIRED;
	case ASN_BEFORE_DATE_E:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return MFI_TLS_NOT_YET_VALID;
	case DOMAIN_NAME_MISMATCH:
		return MFI_TLS_NAME_MISMATCH;
	case ASN_SELF_SIGNED_E:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
		return MFI_TLS_SELF_SIGNED;
	case ASN_NO_SIGNER_E:
	case ASN_SIG_CONFIRM_E:
	case ASN_PATHLEN_SIZE_E:
	case ASN_PATHLEN_INV_E:
	case CRL_MISSING:
	case CRL_CERT_DATE_ERR:
	case ASN_CRL_CONFIRM_E:
	case ASN_CRL_NO_SIGNER_E:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return MFI_TLS_UNTRUSTED;
	case CRL_CERT_REVOKED:
	case OCSP_CERT_REVOKED:
	case X509_V_ERR_CERT_REVOKED:
		return MFI_TLS_REVOKED;
	default:
		return MFI_TLS_HANDSHAKE_FAILED;
	}
}

/* Which certificate, for details: "" for the peer's own, else its CN. */
static const char *
tls_which(const struct tls_conn *c, char *buf, size_t len)
{
	if (c->bad.err == 0 || c->bad.depth == 0)
		return "certificate";
	snprintf(buf, len, "issuer certificate \"%s\"", c->bad.subject);
	return buf;
}

/* Fill c->detail for verdict r from native error e. */
static void
tls_explain(struct tls_conn *c, enum mfi_tls r, int e)
{
	char which[TLS_CN_MAX + 32];
	const char *w = tls_which(c, which, sizeof(which));
	WOLFSSL_ALERT_HISTORY h;

	switch (r) {
	case MFI_TLS_EXPIRED:
		snprintf(c->detail, sizeof(c->detail),
			 "%s has expired (notAfter %s)", w,
			 c->bad.err ? c->bad.not_after : "?");
		return;
	case MFI_TLS_NOT_YET_VALID:
		snprintf(c->detail, sizeof(c->detail),
			 "%s is not yet valid (notBefore %s)", w,
			 c->bad.err ? c->bad.not_before : "?");
		return;
	case MFI_TLS_NAME_MISMATCH:
		snprintf(c->detail, sizeof(c->detail),
			 "certificate name mismatch: wanted %s%s%s",
			 c->peer_name ? c->peer_name : "?",
			 c->cert_names[0] ? ", certificate is for " : "",
			 c->cert_names);
		return;
	case MFI_TLS_SELF_SIGNED:
		snprintf(c->detail, sizeof(c->detail),
			 "self-signed certificate%s%s%s",
			 c->bad.err ? " (CN " : "", c->bad.err ?
			 c->bad.subject : "", c->bad.err ? ")" : "");
		return;
	case MFI_TLS_UNTRUSTED:
		if (e == CRL_MISSING)
			snprintf(c->detail, sizeof(c->detail),
				 "no CRL for the issuer%s%s%s",
				 c->bad.err ? " \"" : "", c->bad.err ?
				 c->bad.issuer : "", c->bad.err ? "\"" : "");
		else if (e == CRL_CERT_DATE_ERR || e == ASN_CRL_CONFIRM_E ||
			 e == ASN_CRL_NO_SIGNER_E)
			snprintf(c->detail, sizeof(c->detail),
				 "the CRL for the issuer%s%s%s is out of date "
				 "or does not verify",
				 c->bad.err ? " \"" : "", c->bad.err ?
				 c->bad.issuer : "", c->bad.err ? "\"" : "");
		else if (e == ASN_SIG_CONFIRM_E)
			snprintf(c->detail, sizeof(c->detail),
				 "%s signature does not verify", w);
		else
			snprintf(c->detail, sizeof(c->detail),
				 "issuer not trusted%s%s%s",
				 c->bad.err ? " (issuer \"" : "", c->bad.err ?
				 c->bad.issuer : "", c->bad.err ? "\")" : "");
		return;
	case MFI_TLS_REVOKED:
		snprintf(c->detail, sizeof(c->detail),
			 "%s revoked by its issuer%s%s%s", w,
			 c->bad.err ? " \"" : "", c->bad.err ?
			 c->bad.issuer : "", c->bad.err ? "\"" : "");
		return;
	default:
		break;
	}
	memset(&h, 0, sizeof(h));
	if (e == FATAL_ERROR && wolfSSL_get_alert_history(c->ssl, &h) ==
	    WOLFSSL_SUCCESS && h.last_rx.level == alert_fatal) {
		snprintf(c->detail, sizeof(c->detail), "peer sent alert: %s",
			 wolfSSL_alert_desc_string_long(h.last_rx.code));
	} else if (e == SOCKET_PEER_CLOSED_E || e == SOCKET_ERROR_E ||
		   e == WOLFSSL_ERROR_SYSCALL) {	/* 5.7: the transport's EOF */
		snprintf(c->detail, sizeof(c->detail),
			 "connection closed during the TLS handshake");
	} else {
		snprintf(c->detail, sizeof(c->detail),
			 "TLS handshake failed: %s (%d)",
			 wolfSSL_ERR_reason_error_string((unsigned long)e), e);
	}
}

/* Record the failure with native error e (first one wins). */
static void
tls_fail(struct tls_conn *c, int e)
{
	enum mfi_tls r;

	if (c->failed)
		return;
	c->failed = true;
	c->err = e;
	/* A plain VERIFY_CERT_ERROR says less than the callback saw. */
	if (e == VERIFY_CERT_ERROR && c->bad.err != 0)
		e = c->bad.err;
	r = tls_reason_of(e);
	/* Without a verifying client, certificate verdicts cannot arise. */
	if (c->server || !c->ctx->verify)
		r = MFI_TLS_HANDSHAKE_FAILED;
	/* wolfSSL says "no signer" for an untrusted self-signed leaf too. */
	if (r == MFI_TLS_UNTRUSTED && e == ASN_NO_SIGNER_E &&
	    c->bad.err != 0 && c->bad.depth == 0 &&
	    strcmp(c->bad.subject, c->bad.issuer) == 0)
		r = MFI_TLS_SELF_SIGNED;
	c->reason = r;
	tls_explain(c, r, e);
	wolfSSL_ERR_clear_error();
}

enum mfi_tls
tls_failure(const struct tls_conn *c, char *detail, size_t len)
{
	if (detail != NULL && len > 0) {
		struct strb sb;

		strb_init(&sb, detail, len);
		strb_puts(&sb, c->failed ? c->detail : "");
	}
	return c->failed ? c->reason : MFI_TLS_NONE;
}

int
tls_failure_code(const struct tls_conn *c)
{
	return c->failed ? c->err : 0;
}

/* ---- sessions ----------------------------------------------------------- */

static bool
tls_is_ip(const char *s)
{
	unsigned char a[16];

	return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

struct tls_conn *
tls_conn_new(struct tls_ctx *ctx, bool server, const char *peer_name)
{
	struct tls_conn *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return NULL;
	c->ctx = ctx;
	c->server = server;
	c->ssl = wolfSSL_new(ctx->w);
	if (c->ssl == NULL)
		goto fail;
	wolfSSL_SetIOReadCtx(c->ssl, c);
	wolfSSL_SetIOWriteCtx(c->ssl, c);
	wolfSSL_SetCertCbCtx(c->ssl, c);
	wolfSSL_set_app_data(c->ssl, c);
	if (server || peer_name == NULL || peer_name[0] == '\0')
		return c;

	c->peer_name = strdup(peer_name);
	if (c->peer_name == NULL)
		goto fail;
	c->peer_is_ip = tls_is_ip(peer_name);
	if (!c->peer_is_ip) {
		if (wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, peer_name,
				   (unsigned short)strlen(peer_name)) !=
		    WOLFSSL_SUCCESS)
			goto fail;
		snprintf(c->sni, sizeof(c->sni), "%s", peer_name);
	}
	return c;
fail:
	tls_conn_free(c);
	return NULL;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL)
		wolfSSL_free(c->ssl);
	buf_free(&c->in);
	buf_free(&c->out[0].b);
	buf_free(&c->out[1].b);
	free(c->peer_name);
	free(c->cache_key);
	free(c);
}

int
tls_conn_resume(struct tls_conn *c, const char *dest)
{
	const char *name = c->peer_name != NULL ? c->peer_name : "";
	size_t len = strlen(dest) + strlen(name) + 32;
	WOLFSSL_SESSION *s;

	if (c->server)
		return 0;
	free(c->cache_key);
	c->cache_key = malloc(len);
	if (c->cache_key == NULL)
		return -ENOMEM;
	/* Everything a session's trust depends on: the context (CA file,
	 * CRL, verify or not, versions), where it goes and the name it was
	 * checked for. */
	snprintf(c->cache_key, len, "%llu %s %s", (unsigned long long)c->ctx->id, dest,
		 name);
	s = tls_cache_get(c->cache_key, &c->verified);
	if (s == NULL)
		return 0;
	if (wolfSSL_set_session(c->ssl, s) != WOLFSSL_SUCCESS) {
		tls_cache_drop(c->cache_key);
		wolfSSL_ERR_clear_error();
		c->verified = 0;
		return 0;
	}
	return 1;
}

/*
 * wolfSSL has a new client session: the TLS 1.2 one as the handshake
 * ends, or a TLS 1.3 ticket (NewSessionTicket, any time after).  Cache a
 * copy when the connection asked for it and its peer passed the
 * context's checks: verified for this name (the verify callback ran the
 * name check), or resumed from a session that was.  Returning 0 leaves
 * sess to wolfSSL.
 */
static int
tls_new_session_cb(WOLFSSL *ssl, WOLFSSL_SESSION *sess)
{
	struct tls_conn *c = wolfSSL_get_app_data(ssl);
	bool resumed, trusted;

	if (c == NULL || c->cache_key == NULL || c->failed)
		return 0;
	resumed = wolfSSL_session_reused(ssl) && c->verified != 0;
	trusted = !c->ctx->verify || c->peer_name == NULL || c->name_checked || resumed;
	/* TLS 1.3 resumes only with a ticket; the end of its handshake
	 * brings a session without one, which would replace a good one. */
	if (trusted && (wolfSSL_SESSION_has_ticket(sess) ||
			wolfSSL_version(ssl) < TLS1_3_VERSION))
		tls_cache_put(c->cache_key, wolfSSL_SESSION_dup(sess),
			      resumed ? c->verified : (int64_t)time(NULL));
	return 0;
}

bool
tls_resumed(const struct tls_conn *c)
{
	return c->done && wolfSSL_session_reused(c->ssl);
}

int
tls_feed(struct tls_conn *c, const void *p, size_t n)
{
	size_t unread = c->in.len - c->in_off;

	if (n > TLS_IN_MAX || unread > TLS_IN_MAX - n)
		return -ENOBUFS;
	if (n == 0)
		return 0;
	if (c->in_off > 0) {
		buf_consume(&c->in, c->in_off);
		c->in_off = 0;
	}
	buf_append(&c->in, p, n);
	return 0;
}

void
tls_eof(struct tls_conn *c)
{
	c->eof = true;
}

/* The peer name check, after the handshake, for when the verify callback
 * did not see the peer's certificate (see the opening comment). */
static int
tls_check_name_late(struct tls_conn *c)
{
	WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
	bool ok = false;

	c->name_checked = true;
	if (x != NULL) {
		ok = tls_cert_has_name(c, x, c->peer_name);
		wolfSSL_X509_free(x);
	}
	return ok ? 0 : -1;
}

int
tls_handshake(struct tls_conn *c)
{
	int rc, e;

	if (c->done)
		return 1;
	if (c->failed)
		return -EPROTO;
	rc = wolfSSL_negotiate(c->ssl);
	if (rc == WOLFSSL_SUCCESS) {
		/* A resumed session was verified for this name when it was
		 * made (tls_conn_resume's key); no certificate comes now. */
		if (!c->server && c->ctx->verify && c->peer_name != NULL &&
		    !c->name_checked && !wolfSSL_session_reused(c->ssl) &&
		    tls_check_name_late(c) < 0) {
			tls_fail(c, DOMAIN_NAME_MISMATCH);
			/* We finished; the server did not: tell it why. */
			wolfSSL_shutdown(c->ssl);
			return -EPROTO;
		}
		if (!c->server && !c->leaf_seen) {	/* no verify callback ran */
			WOLFSSL_X509 *x = wolfSSL_get_peer_certificate(c->ssl);
			if (x != NULL) {
				tls_note_leaf(c, x);
				wolfSSL_X509_free(x);
			}
		}
		c->done = true;
		return 1;
	}
	e = wolfSSL_get_error(c->ssl, rc);
	if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
		return 0;
	tls_fail(c, e);
	if (c->cache_key != NULL)	/* do not offer it again */
		tls_cache_drop(c->cache_key);
	return -EPROTO;
}

long
tls_read(struct tls_conn *c, void *buf, size_t n)
{
	int rc, e;

	if (!c->done)
		return -ENOTCONN;
	if (c->failed)
		return -EPROTO;
	if (n == 0)
		return 0;
	rc = wolfSSL_read(c->ssl, buf, n > INT_MAX ? INT_MAX : (int)n);
	if (rc > 0)
		return rc;
	e = wolfSSL_get_error(c->ssl, rc);
	switch (e) {
	case WOLFSSL_ERROR_WANT_READ:
	case WOLFSSL_ERROR_WANT_WRITE:
		return 0;
	case WOLFSSL_ERROR_ZERO_RETURN:
		return -ESHUTDOWN;
	case SOCKET_PEER_CLOSED_E:
	case SOCKET_ERROR_E:
	case WOLFSSL_ERROR_SYSCALL:	/* what 5.7 says for the transport's EOF */
		wolfSSL_ERR_clear_error();
		return -ECONNRESET;
	default:
		tls_fail(c, e);
		return -EPROTO;
	}
}

long
tls_write(struct tls_conn *c, const void *p, size_t n)
{
	const char *q = p;
	size_t left = n;
	int chunk, rc;

	if (!c->done || c->shut)
		return -ENOTCONN;
	if (c->failed)
		return -EPROTO;
	while (left > 0) {
		chunk = left > INT_MAX / 2 ? INT_MAX / 2 : (int)left;
		rc = wolfSSL_write(c->ssl, q, chunk);
		if (rc != chunk) {
			tls_fail(c, wolfSSL_get_error(c->ssl, rc));
			return -EPROTO;
		}
		q += chunk;
		left -= (size_t)chunk;
	}
	return (long)n;
}

size_t
tls_out_len(const struct tls_conn *c)
{
	const struct tls_obuf *o = &c->out[c->front];

	return o->b.len - o->off;
}

const void *
tls_out_ptr(struct tls_conn *c)
{
	struct tls_obuf *o = &c->out[c->front];

	if (o->b.len == o->off)
		return NULL;
	c->pinned = true;
	return o->b.p + o->off;
}

void
tls_out_consume(struct tls_conn *c, size_t n)
{
	struct tls_obuf *o = &c->out[c->front];

	if (n > o->b.len - o->off)
		n = o->b.len - o->off;
	o->off += n;
	if (o->off < o->b.len)
		return;
	/* All sent: the front is free again.  Swap in what the back
	 * gathered meanwhile (possibly nothing). */
	o->off = o->b.len = 0;
	if (o->b.cap > TLS_OUT_KEEP)
		buf_free(&o->b);
	c->pinned = false;
	c->front ^= 1;
}

size_t
tls_out_pending(const struct tls_conn *c)
{
	return tls_out_len(c) + c->out[c->front ^ 1].b.len;
}

void
tls_shutdown(struct tls_conn *c)
{
	if (c->shut)
		return;
	c->shut = true;
	if (c->done && !c->failed)
		(void)wolfSSL_shutdown(c->ssl);
	wolfSSL_ERR_clear_error();
}

int
tls_peer_cert(const struct tls_conn *c, struct tls_cert *out)
{
	if (!c->leaf_seen)
		return -ENOENT;
	*out = c->leaf;
	return 0;
}

const char *
tls_version(const struct tls_conn *c)
{
	return c->done ? wolfSSL_get_version(c->ssl) : "";
}

_Static_assert(MFI_TLS_HANDSHAKE_FAILED < WORKER_TLS_NREASONS,
	       "the workers' TLS failure counters need a slot per enum mfi_tls");

const char *const tls_proto_names[WORKER_TLS_NPROTO] = { "TLSv1.2", "TLSv1.3", "other" };

unsigned
tls_proto_index(const struct tls_conn *c)
{
	const char *v = tls_version(c);

	if (strcmp(v, "TLSv1.2") == 0)
		return 0;
	return strcmp(v, "TLSv1.3") == 0 ? 1 : 2;
}

const char *
tls_cipher(const struct tls_conn *c)
{
	const char *s;
	int suite;

	if (!c->done)
		return "";
	/* The IANA name ("TLS_AES_128_GCM_SHA256", what OpenSSL and the
	 * RFCs say) rather than wolfSSL's own ("TLS13-AES128-GCM-SHA256"). */
	suite = wolfSSL_get_current_cipher_suite(c->ssl);
	s = suite < 0 ? NULL : wolfSSL_get_cipher_name_iana_from_suite(
		(unsigned char)(suite >> 8), (unsigned char)suite);
	if (s == NULL || s[0] == '\0' || strcmp(s, "None") == 0)
		s = wolfSSL_get_cipher_name(c->ssl);
	return s != NULL ? s : "";
}

const char *
tls_sni(const struct tls_conn *c)
{
	return c->sni[0] ? c->sni : NULL;
}
