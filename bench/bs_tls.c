/*
 * bs_tls.c - STARTTLS in sluice-bench (--tls): the client context, the
 * handshake after the 220, and the TLS side of every recv.
 *
 * Every connection does STARTTLS after the first EHLO, then EHLO again
 * inside TLS (RFC 3207 s. 4.2; bs_smtp.c says it when bs_tls_feed reports
 * the handshake done). The certificate is not verified at all (any
 * issuer, any name, expired or not): this measures the cost of
 * encryption, it does not check who the server is. TLS uses the relay's
 * tls/ module (wolfSSL over memory buffers) the way the relay does: the
 * ring receives ciphertext into the session's tin[] and hands it to
 * tls_feed(); commands and the message are encrypted with tls_write() and
 * sent from tls_out_ptr() by the engine (bs_send, bs_flush_tls), pinned
 * until the send's CQE releases it with tls_out_consume() (see tls/tls.h),
 * so at most one send is in flight per session here too. Every
 * connection makes a full handshake, unless --tls-resume: then it offers
 * the session the last one received (tls_conn_resume). Plaintext runs
 * never come here.
 *
 * Between the engine and the dialogue: called by bs_smtp.c, it reads
 * bytes into in[] and says what happened; it does not know SMTP.
 * May call: bs_engine.c, bs_state.c, bench/bench_*.c, tls/.
 */
#include "bench/bs_tls.h"

#include "bench/bs_state.h"
#include "bench/bs_engine.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The 220 to STARTTLS came: start the handshake (the ClientHello goes
 * out now; the recv armed after this reply targets tin[]). */
void bs_start_tls(struct bs_session *s)
{
	if (s->tin == NULL)
		s->tin = malloc(BS_TIN_CAP);
	if (s->tin != NULL)
		s->tls = tls_conn_new(bench.tls_ctx, false, bench.sni);
	/* one destination: every connection offers the newest session */
	if (s->tls != NULL && bench.tls_resume && tls_conn_resume(s->tls, "bench") < 0) {
		tls_conn_free(s->tls);
		s->tls = NULL;
	}
	if (s->tls == NULL) {
		bs_error(s, "STARTTLS", ENOMEM);
		return;
	}
	/* RFC 3207 s. 4.2: what the server said before is forgotten. */
	s->pipelining = 0;
	s->starttls = 0;
	s->state = BS_HANDSHAKE;
	s->deadline = bench_now_ns() + bench.timeout_ns;
	if (tls_handshake(s->tls) < 0) {
		bs_error(s, "TLS handshake could not start", 0);
		return;
	}
	bs_flush_tls(s);
}

/* n bytes of ciphertext arrived in tin[]: feed them, and advance the
 * handshake while it is not done. */
int bs_tls_feed(struct bs_session *s, size_t n)
{
	char detail[TLS_DETAIL_MAX];
	int rc;

	if (tls_feed(s->tls, s->tin, n) < 0) {
		bs_error(s, "TLS input", ENOBUFS);
		return -EPIPE;
	}
	if (s->tls_on)
		return 0;
	rc = tls_handshake(s->tls);
	if (rc < 0) {
		tls_failure(s->tls, detail, sizeof(detail));
		bs_error_detail(s, "TLS handshake failed", detail);
		return -EPIPE;
	}
	if (rc == 0) {
		bs_flush_tls(s);
		return -EINPROGRESS;
	}
	s->tls_on = 1;
	bench.handshakes++;
	bench.resumed += tls_resumed(s->tls);
	if (bench.tls_desc[0] == '\0')
		snprintf(bench.tls_desc, sizeof(bench.tls_desc), "%s %s",
			 tls_version(s->tls), tls_cipher(s->tls));
	return 1;
}

/* Decrypt into in[] what fits; at the end, send what TLS has to say. */
long bs_tls_read(struct bs_session *s)
{
	char detail[TLS_DETAIL_MAX];
	long r;

	if (s->in_len == BS_IN_CAP) {
		bs_error(s, "reply too long", 0);
		return -EPIPE;
	}
	r = tls_read(s->tls, s->in + s->in_len, BS_IN_CAP - s->in_len);
	if (r > 0) {
		s->in_len += (size_t)r;
		return r;
	}
	if (r == 0) {
		bs_flush_tls(s);	/* e.g. a key update reply */
		return 0;
	}
	if (s->state == BS_QUIT_EOF)
		bs_close(s, BS_AFTER_NEXT);	/* close_notify after 221 */
	else if (r == -ESHUTDOWN)
		bs_error(s, "server closed the TLS session", 0);
	else {
		tls_failure(s->tls, detail, sizeof(detail));
		bs_error_detail(s, "TLS read failed", detail);
	}
	return -EPIPE;
}

/* --tls: a client context that verifies nothing, and the -H host as SNI
 * when it is a name ("[v6]:port" and bare v6 literals send none; tls/
 * leaves out IP literals itself). */
int bs_tls_setup(const char *target)
{
	const char *colon = strrchr(target, ':');
	char err[TLS_DETAIL_MAX];

	bench.tls_ctx = tls_client_ctx_new(NULL, false, NULL, err, sizeof(err));
	if (bench.tls_ctx == NULL) {
		fprintf(stderr, "sluice-bench: --tls: %s\n", err);
		return -EINVAL;
	}
	if (target[0] == '[' || (colon != NULL && strchr(target, ':') != colon))
		return 0;
	bench.sni = colon != NULL ? strndup(target, (size_t)(colon - target)) :
		strdup(target);
	return bench.sni != NULL ? 0 : -ENOMEM;
}
