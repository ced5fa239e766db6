/*
 * tls-bench — what the relay's TLS layer (tls/tls.h) costs in CPU, with
 * no network and no SMTP in the way: a client and a server session of the
 * relay's own contexts talk through memory in one thread.
 *
 *   handshakes  full handshakes (the relay's built-in suite and group
 *               order) for SECONDS; the server side's CPU is timed apart
 *               (thread CPU clock around each server call), so the
 *               figure "server handshakes per CPU-second" is what an
 *               inbound STARTTLS costs the relay, crypto and record layer
 *               but no kernel;
 *   suites      per TLS 1.3 suite, MiB/s of CPU to seal (tls_write) and
 *               open (tls_read) 16 KiB records (a body in flight) and
 *               1 KiB writes (SMTP commands and small messages): the
 *               measurement the built-in suite order is chosen by.
 *
 * Not a test.  Pin it (taskset -c 1) for stable numbers.
 *
 *	usage: tls-bench CERT KEY [SECONDS (default 3)]
 */
#include "tls/tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double
cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Move what from has to send into to's input.  Returns the bytes moved. */
static size_t
carry(struct tls_conn *from, struct tls_conn *to)
{
	size_t moved = 0, n;

	while ((n = tls_out_len(from)) > 0) {
		if (tls_feed(to, tls_out_ptr(from), n) < 0) {
			fprintf(stderr, "tls-bench: input full\n");
			exit(1);
		}
		tls_out_consume(from, n);
		moved += n;
	}
	return moved;
}

/* A client and a server session of cctx/sctx, handshake done; the
 * server's CPU time added to *scpu. */
static void
pair_open(struct tls_ctx *cctx, struct tls_ctx *sctx, struct tls_conn **cp,
	  struct tls_conn **sp, double *scpu)
{
	double t = cpu_now();
	struct tls_conn *s = tls_conn_new(sctx, true, NULL);
	int sdone = 0, cdone = 0;

	*scpu += cpu_now() - t;
	struct tls_conn *c = tls_conn_new(cctx, false, "localhost");
	if (c == NULL || s == NULL) {
		fprintf(stderr, "tls-bench: out of memory\n");
		exit(1);
	}
	for (int round = 0; !(sdone && cdone); round++) {
		if (!cdone && (cdone = tls_handshake(c)) < 0)
			goto fail;
		carry(c, s);
		t = cpu_now();
		if (!sdone)
			sdone = tls_handshake(s);
		*scpu += cpu_now() - t;
		if (sdone < 0 || round > 20)
			goto fail;
		carry(s, c);
	}
	*cp = c;
	*sp = s;
	return;
fail:
	fprintf(stderr, "tls-bench: handshake failed\n");
	exit(1);
}

/* The server's close: what an inbound session's end costs it. */
static void
pair_close(struct tls_conn *c, struct tls_conn *s, double *scpu)
{
	double t = cpu_now();

	tls_conn_free(s);
	*scpu += cpu_now() - t;
	tls_conn_free(c);
}

static void
bench_handshakes(struct tls_ctx *cctx, struct tls_ctx *sctx, double secs)
{
	double scpu = 0, t0 = cpu_now();
	unsigned n = 0;
	struct tls_conn *c, *s;

	while (cpu_now() - t0 < secs) {
		pair_open(cctx, sctx, &c, &s, &scpu);
		if (n == 0)
			printf("handshake: %s %s\n", tls_version(s), tls_cipher(s));
		pair_close(c, s, &scpu);
		n++;
	}
	printf("handshakes: %u in %.2f s of CPU (both sides): server %.0f us each, "
	       "%.0f server handshakes per CPU-second\n",
	       n, cpu_now() - t0, scpu / n * 1e6, n / scpu);
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
		carry(c, s);
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

int
main(int argc, char **argv)
{
	static const char *suites[] = {
		"TLS13-CHACHA20-POLY1305-SHA256", "TLS13-AES128-GCM-SHA256",
		"TLS13-AES256-GCM-SHA384",
	};
	char err[256];
	double secs = argc > 3 ? atof(argv[3]) : 3;

	if (argc < 3) {
		fprintf(stderr, "usage: tls-bench CERT KEY [SECONDS]\n");
		return 2;
	}
	struct tls_ctx *sctx = tls_server_ctx_new(argv[1], argv[2], err, sizeof err);
	struct tls_ctx *cctx = tls_client_ctx_new(NULL, false, NULL, err, sizeof err);
	if (sctx == NULL || cctx == NULL) {
		fprintf(stderr, "tls-bench: %s\n", err);
		return 1;
	}
	bench_handshakes(cctx, sctx, secs);
	for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++) {
		struct tls_proto p = { .min_version = 13, .suites = suites[i] };
		struct tls_ctx *one = tls_server_ctx_new(argv[1], argv[2], err, sizeof err);
		struct tls_conn *c, *s;
		double ignored = 0;

		if (one == NULL || tls_ctx_proto(one, &p, err, sizeof err) < 0) {
			fprintf(stderr, "tls-bench: %s: %s\n", suites[i], err);
			return 1;
		}
		pair_open(cctx, one, &c, &s, &ignored);
		printf("suite %s (%s):\n", suites[i], tls_cipher(s));
		bench_bulk(c, s, 16384, (size_t)256 << 20);
		bench_bulk(c, s, 1024, (size_t)32 << 20);
		pair_close(c, s, &ignored);
		tls_ctx_free(one);
	}
	tls_ctx_free(cctx);
	tls_ctx_free(sctx);
	tls_cleanup();
	return 0;
}
