/*
 * bs_tls.c - STARTTLS in sluice-bench (--tls): the client context, the
 * handshake after the 220, and the TLS side of every recv and send.
 *
 * Every connection does STARTTLS after the first EHLO, then EHLO again
 * inside TLS (RFC 3207 s. 4.2). The certificate is not verified at all
 * (any issuer, any name, expired or not): this measures the cost of
 * encryption, it does not check who the server is. TLS uses the relay's
 * tls/ module (wolfSSL over memory buffers) the way the relay does: the
 * ring receives ciphertext into the session's tin[] and hands it to
 * tls_feed(); commands and the message are encrypted with tls_write() and
 * sent from tls_out_ptr(), pinned until the send's CQE releases it with
 * tls_out_consume() (see tls/tls.h), so at most one send is in flight per
 * session here too. No session resumption: every connection makes a full
 * handshake. Plaintext runs never come here.
 */
#include "bench/bs_tls.h"

#include "bench/bs_state.h"
#include "bench/bs_engine.h"
#include "bench/bs_smtp.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Send the TLS output there is, unless a send is in flight (its CQE
 * calls this again). The bytes stay pinned until tls_out_consume. */
void bs_flush_tls(struct bs_session *s)
{
	size_t len;

	if (bench_conn_armed(&s->conn, BENCH_CONN_SEND) || s->conn.closing)
		return;
	len = tls_out_len(s->tls);
	if (len == 0)
		return;
	if (bench_conn_send(&s->conn, tls_out_ptr(s->tls), len) < 0) {
		bs_error(s, "ring full", 0);
		return;
	}
	s->send_tls = 1;
}

/* The 220 to STARTTLS came: start the handshake (the ClientHello goes
 * out now; the recv armed after this reply targets tin[]). */
void bs_start_tls(struct bs_session *s)
{
	if (s->tin == NULL)
		s->tin = malloc(BS_TIN_CAP);
	if (s->tin != NULL)
		s->tls = tls_conn_new(bench.tls_ctx, false, bench.sni);
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

/* n bytes of ciphertext arrived in tin[]: advance the handshake, or
 * decrypt into in[] and parse, then send what TLS has to say. */
void bs_tls_input(struct bs_session *s, size_t n)
{
	char detail[TLS_DETAIL_MAX];
	long r;
	int rc;

	if (tls_feed(s->tls, s->tin, n) < 0) {
		bs_error(s, "TLS input", ENOBUFS);
		return;
	}
	if (!s->tls_on) {
		rc = tls_handshake(s->tls);
		if (rc < 0) {
			tls_failure(s->tls, detail, sizeof(detail));
			bs_error_detail(s, "TLS handshake failed", detail);
			return;
		}
		if (rc == 0) {
			bs_flush_tls(s);
			return;
		}
		s->tls_on = 1;
		bench.handshakes++;
		if (bench.tls_desc[0] == '\0')
			snprintf(bench.tls_desc, sizeof(bench.tls_desc), "%s %s",
				 tls_version(s->tls), tls_cipher(s->tls));
		/* EHLO again, inside TLS: it follows the Finished out. */
		bs_send(s, "EHLO bench.test\r\n", 17, BS_EHLO);
		if (s->conn.closing)
			return;
	}
	for (;;) {
		if (s->in_len == BS_IN_CAP) {
			bs_error(s, "reply too long", 0);
			return;
		}
		r = tls_read(s->tls, s->in + s->in_len, BS_IN_CAP - s->in_len);
		if (r > 0) {
			s->in_len += (size_t)r;
			bs_parse(s);
			if (s->conn.closing)
				return;
			continue;
		}
		if (r == 0)
			break;
		if (s->state == BS_QUIT_EOF) {
			bs_close(s, BS_AFTER_NEXT);	/* close_notify after 221 */
			return;
		}
		if (r == -ESHUTDOWN) {
			bs_error(s, "server closed the TLS session", 0);
			return;
		}
		tls_failure(s->tls, detail, sizeof(detail));
		bs_error_detail(s, "TLS read failed", detail);
		return;
	}
	bs_flush_tls(s);	/* e.g. a key update reply */
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
