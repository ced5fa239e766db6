/*
 * tls-bench — what the relay's TLS layer (tls/tls.h) costs in CPU, with no
 * network and no SMTP in the way: a client (verifying, as a connector with
 * "tls: verify") and a server context of tls/ talk in memory, the output of
 * one fed to the other, one thread.  Each side's calls are timed with the
 * thread's CPU clock.
 *
 *   handshakes  N full handshakes (the built-in suite and group order),
 *               then N that resume the session the previous connection
 *               received (tls_conn_resume); after each handshake the
 *               server writes one reply, which carries the TLS 1.3 ticket
 *               to the client, as an SMTP server's first reply would;
 *   suites      per TLS 1.3 suite, MiB/s of CPU to seal (tls_write) and
 *               open (tls_read) 16 KiB records (a body in flight) and
 *               1 KiB writes (SMTP commands, small messages): the
 *               measurement the built-in suite order is chosen by.
 *
 * Not a test: it checks only that every handshake succeeds and resumes
 * when it should.  Pin it (taskset -c 1) for stable numbers.
 *
 *	usage: tls-bench CERTDIR [N]
 * CERTDIR: tests/tls/make-certs.sh's output (valid.pem, valid.key, ca.pem).
 */
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A client and a server session of cc/sc with the handshake done (NULL
 * on failure), for the bulk measurements. */
static int
hb_pair(struct tls_ctx *cc, struct tls_ctx *sc, struct tls_conn **cp, struct tls_conn **sp)
{
	struct tls_conn *c = tls_conn_new(cc, false, "localhost");
	struct tls_conn *s = tls_conn_new(sc, true, NULL);
	int hc = 0, hs = 0;

	for (int i = 0; c != NULL && s != NULL && i < 20 && (hc == 0 || hs == 0); i++) {
		if (hc == 0)
			hc = tls_handshake(c);
		hb_move(c, s);
		if (hs == 0)
			hs = tls_handshake(s);
		hb_move(s, c);
	}
	*cp = c;
	*sp = s;
	return hc == 1 && hs == 1 ? 0 : -1;
}

/* MiB/s of CPU to seal and open total bytes written chunk bytes at a time. */
static void
bench_bulk(struct tls_conn *c, struct tls_conn *s, size_t chunk, size_t total)
{
	static char in[16384], out[16384];
	double seal = 0, open = 0, t;
	size_t done = 0;

	memset(in, 'x', sizeof in);
	while (done < total) {
		t = cpu_now();
		if (tls_write(c, in, chunk) != (long)chunk) {
			fprintf(stderr, "tls-bench: write failed\n");
			exit(1);
		}
		seal += cpu_now() - t;
		hb_move(c, s);
		t = cpu_now();
		for (size_t got = 0; got < chunk;) {
			long r = tls_read(s, out, sizeof out);
			if (r <= 0) {
				fprintf(stderr, "tls-bench: read failed (%ld)\n", r);
				exit(1);
			}
			got += (size_t)r;
		}
		open += cpu_now() - t;
		done += chunk;
	}
	printf("  %5zu-byte writes: seal %6.0f MiB/s, open %6.0f MiB/s (%.2f + %.2f us per write)\n",
	       chunk, total / seal / (1 << 20), total / open / (1 << 20),
	       seal * 1e6 * chunk / total, open * 1e6 * chunk / total);
}


/* Each TLS 1.3 suite alone on a server context of pem/key. */
static int
bench_suites(struct tls_ctx *cc, const char *pem, const char *key)
{
	static const char *suites[] = {
		"TLS13-AES128-GCM-SHA256", "TLS13-CHACHA20-POLY1305-SHA256",
		"TLS13-AES256-GCM-SHA384",
	};
	char err[256];

	printf("built-in order: %s first\n", tls_aes_first() ? "AES-GCM" : "ChaCha20");
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		struct tls_proto p = { .min_version = 13, .suites = suites[i] };
		struct tls_ctx *one = tls_server_ctx_new(pem, key, err, sizeof err);
		struct tls_conn *c, *s;

		if (one == NULL || tls_ctx_proto(one, &p, err, sizeof err) < 0 ||
		    hb_pair(cc, one, &c, &s) < 0) {
			fprintf(stderr, "tls-bench: %s: %s\n", suites[i], one ? err : "no context");
			return -1;
		}
		printf("suite %s (%s):\n", suites[i], tls_cipher(s));
		bench_bulk(c, s, 16384, (size_t)256 << 20);
		bench_bulk(c, s, 1024, (size_t)32 << 20);
		tls_conn_free(c);
		tls_conn_free(s);
		tls_ctx_free(one);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	char err[256], pem[512], key[512], ca[512];
	struct tls_ctx *sc, *cc;
	long n = argc > 2 ? strtol(argv[2], NULL, 10) : 1000;

	if (argc < 2 || n <= 0) {
		fprintf(stderr, "usage: tls-bench CERTDIR [N]\n");
		return 2;
	}
	snprintf(pem, sizeof(pem), "%s/valid.pem", argv[1]);
	snprintf(key, sizeof(key), "%s/valid.key", argv[1]);
	snprintf(ca, sizeof(ca), "%s/ca.pem", argv[1]);
	sc = tls_server_ctx_new(pem, key, err, sizeof(err));
	cc = sc != NULL ? tls_client_ctx_new(ca, true, NULL, err, sizeof(err)) : NULL;
	if (cc == NULL) {
		fprintf(stderr, "tls-bench: %s\n", err);
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
				fprintf(stderr, "tls-bench: handshake %ld %s\n", i,
					r < 0 ? "failed" : "did not resume as it should");
				return 1;
			}
			resumed += r;
		}
		printf("%s: %ld handshakes (%ld resumed), CPU per handshake: client %.0f us, "
		       "server %.0f us\n", resume ? "resumed" : "full", n, resumed,
		       side_cpu[0] * 1e6 / (double)n, side_cpu[1] * 1e6 / (double)n);
	}
	if (bench_suites(cc, pem, key) < 0)
		return 1;
	tls_ctx_free(cc);
	tls_ctx_free(sc);
	tls_cleanup();
	return 0;
}
