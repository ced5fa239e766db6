/*
 * handshake-bench — CPU of a TLS handshake, full or resumed, on each side.
 *
 * A client (verifying, as a connector with "tls: verify") and a server
 * context of tls/ talk in memory, one connection after the other, the
 * output of one fed to the other: no sockets, no ring, so what is counted
 * is wolfSSL's and tls/'s work alone.  Each side's calls are timed with
 * the thread's CPU clock.  N full handshakes, then N that resume the
 * session the previous connection received (tls_conn_resume); after each
 * handshake the server writes one reply, which carries the TLS 1.3
 * ticket to the client, as an SMTP server's first reply would.
 *
 * Not a test: it checks only that every handshake succeeds and resumes
 * when it should.  Single-threaded; pin it (taskset) for stable numbers.
 *
 *	usage: handshake-bench CERTDIR [N]
 * CERTDIR: tests/tls/make-certs.sh's output (valid.pem, valid.key, ca.pem).
 */
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double side_cpu[2];	/* seconds: [0] client, [1] server */

static double
cpu_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Everything from has to send, into to. */
static void
hb_move(struct tls_conn *from, struct tls_conn *to)
{
	size_t n;

	while ((n = tls_out_len(from)) > 0 && tls_feed(to, tls_out_ptr(from), n) == 0)
		tls_out_consume(from, n);
}

/* One connection; returns 1 if it resumed, 0 if not, -1 if it failed. */
static int
hb_connect(struct tls_ctx *cc, struct tls_ctx *sc, int resume)
{
	struct tls_conn *c = tls_conn_new(cc, false, "localhost");
	struct tls_conn *s = tls_conn_new(sc, true, NULL);
	int hc = 0, hs = 0, rc = -1;
	char buf[64];
	double t;

	if (c == NULL || s == NULL || (resume && tls_conn_resume(c, "bench") < 0))
		goto out;
	for (int i = 0; i < 20 && (hc == 0 || hs == 0); i++) {
		t = cpu_now();
		if (hc == 0)
			hc = tls_handshake(c);
		side_cpu[0] += cpu_now() - t;
		hb_move(c, s);
		t = cpu_now();
		if (hs == 0)
			hs = tls_handshake(s);
		side_cpu[1] += cpu_now() - t;
		hb_move(s, c);
	}
	if (hc != 1 || hs != 1)
		goto out;
	t = cpu_now();
	tls_write(s, "250 ok\r\n", 8);
	side_cpu[1] += cpu_now() - t;
	hb_move(s, c);
	t = cpu_now();
	while (tls_read(c, buf, sizeof(buf)) > 0)
		;
	side_cpu[0] += cpu_now() - t;
	rc = tls_resumed(c) && tls_resumed(s);
out:
	tls_conn_free(c);
	tls_conn_free(s);
	return rc;
}

int
main(int argc, char **argv)
{
	char err[256], pem[512], key[512], ca[512];
	struct tls_ctx *sc, *cc;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: handshake-bench CERTDIR [N]\n");
		return 2;
	}
	snprintf(pem, sizeof(pem), "%s/valid.pem", argv[1]);
	snprintf(key, sizeof(key), "%s/valid.key", argv[1]);
	snprintf(ca, sizeof(ca), "%s/ca.pem", argv[1]);
	sc = tls_server_ctx_new(pem, key, err, sizeof(err));
	cc = sc != NULL ? tls_client_ctx_new(ca, true, NULL, err, sizeof(err)) : NULL;
	if (cc == NULL) {
		fprintf(stderr, "handshake-bench: %s\n", err);
		return 1;
	}
	for (int resume = 0; resume < 2; resume++) {
		long resumed = 0;

		if (hb_connect(cc, sc, resume) < 0)	/* warm up; a ticket */
			return 1;
		side_cpu[0] = side_cpu[1] = 0;
		for (long i = 0; i < n; i++) {
			int r = hb_connect(cc, sc, resume);

			if (r < 0 || r != resume) {
				fprintf(stderr, "handshake-bench: handshake %ld %s\n", i,
					r < 0 ? "failed" : "did not resume as it should");
				return 1;
			}
			resumed += r;
		}
		printf("%s: %ld handshakes (%ld resumed), CPU per handshake: client %.0f us, "
		       "server %.0f us\n", resume ? "resumed" : "full", n, resumed,
		       side_cpu[0] * 1e6 / (double)n, side_cpu[1] * 1e6 / (double)n);
	}
	tls_ctx_free(cc);
	tls_ctx_free(sc);
	tls_cleanup();
	return 0;
}
