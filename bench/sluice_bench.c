/*
 * sluice_bench.c - sluice-bench, an io_uring SMTP load generator: options,
 * start-up and the result.
 *
 * Opens -c sessions to one server and pushes -n messages through them,
 * -m per connection, pipelining MAIL/RCPT/DATA when the server offers
 * PIPELINING, and reports msg/s and end-to-end latency percentiles (MAIL
 * FROM sent to end-of-data 250 received). With --ids it appends the queue
 * id of every acknowledged message to a file as soon as the 250 arrives,
 * so a test can kill -9 the server and then check that nothing
 * acknowledged was lost. It is not a mail client: one envelope, one
 * prebuilt message, no AUTH.
 *
 * With --tls every connection does STARTTLS after the first EHLO (the run
 * stops at once, exit 2, if the server does not offer it), then EHLO again
 * inside TLS, then its -m messages: -m 1 is a full handshake per message,
 * -m 10 one per ten. The certificate is not verified at all.
 *
 * The files, a stack in which each calls only those below it: this one
 * on top (options, main: it hands the dialogue to the engine), bs_smtp.c
 * (the dialogue), bs_tls.c (--tls), bs_engine.c (the sessions on the
 * ring, which calls the dialogue back only through struct bs_proto_ops),
 * bs_msg.c (what is sent), bs_stats.c (latency, errors, the result), and
 * bs_state.c (the state they share, bs_state.h) at the bottom. One
 * thread, one ring; every command block and the message are built once
 * at start and sent from shared read-only buffers, and a session owns
 * only its reply buffer.
 * May call: every bs_*.c, bench/bench_*.c, tls/.
 *
 * Exit status: 0 when every message was acknowledged, 1 when some were
 * not, 2 for bad options or a run stopped by something no retry fixes.
 */
#include "bench/bs_state.h"
#include "bench/bs_engine.h"
#include "bench/bs_msg.h"
#include "bench/bs_smtp.h"
#include "bench/bs_stats.h"
#include "bench/bs_tls.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void bs_usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-bench [-c N] [-n N] [-m N] [-s BYTES] [-r N] [--rate R]\n"
		"                    [-f sender] [-t rcpt] [-H host:port] [--ids FILE]\n"
		"                    [--timeout S] [--tls] [--tls-resume] [-q] [--json]\n"
		"  -c N          concurrent sessions (10)\n"
		"  -n N          messages in total (1000)\n"
		"  -m N          messages per connection before QUIT, 0: no limit (10)\n"
		"  -s BYTES      message size (1024)\n"
		"  -r N          recipients per message (1); rcpt+K@domain when > 1\n"
		"  --rate R      open-loop message starts per second (unlimited)\n"
		"  -f sender     envelope sender (bench@client.test)\n"
		"  -t rcpt       envelope recipient (rcpt@example.test)\n"
		"  -H host:port  server (127.0.0.1:2525; [::1]:2525)\n"
		"  --ids FILE    append each acknowledged message's queue id to FILE\n"
		"  --timeout S   seconds to wait for each reply (30)\n"
		"  --tls         STARTTLS on every connection, then EHLO again;\n"
		"                exit 2 at once if the server does not offer it.\n"
		"                The certificate is NOT verified (any will do).\n"
		"                -m 1: a full handshake per message\n"
		"  --tls-resume  --tls, and offer the session (ticket) of an\n"
		"                earlier connection: resumed handshakes\n"
		"  -q            no error messages on stderr\n"
		"  --json        print the result as one JSON object\n");
}

static int bs_opt_ull(const char *name, const char *arg, unsigned long long min,
		      unsigned long long max, unsigned long long *out)
{
	if (bench_parse_ull(arg, min, max, out) == 0)
		return 0;
	fprintf(stderr, "sluice-bench: %s wants a number in %llu..%llu, not '%s'\n",
		name, min, max, arg);
	return -EINVAL;
}

static int bs_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'R' },
		{ "ids", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'J' },
		{ "tls", no_argument, NULL, 'S' },
		{ "tls-resume", no_argument, NULL, 'E' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target = "127.0.0.1:2525", *ids = NULL;
	unsigned long long v;
	char *end;
	int c;

	bench.conc = 10;
	bench.total = 1000;
	bench.per_conn = 10;
	bench.size = 1024;
	bench.rcpts = 1;
	bench.from = "bench@client.test";
	bench.to = "rcpt@example.test";
	bench.timeout_ns = 30 * 1000000000ull;
	while ((c = getopt_long(argc, argv, "c:n:m:s:r:f:t:H:qh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			if (bs_opt_ull("-c", optarg, 1, 1000000, &v) < 0)
				return -EINVAL;
			bench.conc = (unsigned)v;
			break;
		case 'n':
			if (bs_opt_ull("-n", optarg, 1, ~0ull >> 1, &bench.total) < 0)
				return -EINVAL;
			break;
		case 'm':
			if (bs_opt_ull("-m", optarg, 0, ~0u, &v) < 0)
				return -EINVAL;
			bench.per_conn = (unsigned)v;
			break;
		case 's':
			if (bs_opt_ull("-s", optarg, 0, 1ull << 30, &bench.size) < 0)
				return -EINVAL;
			break;
		case 'r':
			if (bs_opt_ull("-r", optarg, 1, 100000, &v) < 0)
				return -EINVAL;
			bench.rcpts = (unsigned)v;
			break;
		case 'f':
			bench.from = optarg;
			break;
		case 't':
			bench.to = optarg;
			break;
		case 'H':
			target = optarg;
			break;
		case 'q':
			bench.quiet = 1;
			break;
		case 'R':
			errno = 0;
			bench.rate = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(bench.rate > 0) ||
			    isinf(bench.rate)) {
				fprintf(stderr, "sluice-bench: bad --rate '%s'\n",
					optarg);
				return -EINVAL;
			}
			break;
		case 'I':
			ids = optarg;
			break;
		case 'T':
			if (bs_opt_ull("--timeout", optarg, 1, 86400, &v) < 0)
				return -EINVAL;
			bench.timeout_ns = v * 1000000000ull;
			break;
		case 'J':
			bench.json = 1;
			break;
		case 'S':
			bench.tls = 1;
			break;
		case 'E':
			bench.tls = bench.tls_resume = 1;
			break;
		case 'h':
			bs_usage(stdout);
			exit(0);
		default:
			bs_usage(stderr);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		bs_usage(stderr);
		return -EINVAL;
	}
	if (strpbrk(bench.from, "<>\r\n") != NULL ||
	    strpbrk(bench.to, "<>\r\n") != NULL) {
		fprintf(stderr, "sluice-bench: -f/-t must be bare addresses\n");
		return -EINVAL;
	}
	if (bench_parse_addr(target, 2525, &bench.addr, &bench.addrlen) < 0) {
		fprintf(stderr, "sluice-bench: bad -H '%s'\n", target);
		return -EINVAL;
	}
	if (bench.tls && bs_tls_setup(target) < 0)
		return -EINVAL;
	if (ids != NULL) {
		bench.ids_fd = open(ids, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				0644);
		if (bench.ids_fd < 0) {
			fprintf(stderr, "sluice-bench: --ids %s: %s\n", ids,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	double secs;
	int rc;

	if (bs_options(argc, argv) < 0)
		return 2;
	if (bs_build_cmds() < 0 || bs_build_body() < 0) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 2;
	}
	bench.sess = calloc(bench.conc, sizeof(struct bs_session));
	if (bs_hist_init() < 0 || bench.sess == NULL) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 2;
	}
	if (bench_raise_nofile() < 0 && !bench.quiet)
		fprintf(stderr, "sluice-bench: cannot raise RLIMIT_NOFILE\n");
	bench.signal_fd = bench_signalfd();	/* without it, no early stop */
	rc = bench_ring_init(&bench.ring, 4096, 65536);
	if (rc < 0) {
		fprintf(stderr, "sluice-bench: io_uring: %s\n", strerror(-rc));
		return 2;
	}

	(void)bs_run(&bs_smtp_ops);
	secs = (double)(bench_now_ns() - bench.t0) / 1e9;
	bs_print_result(secs);
	if (bench.tls_ctx != NULL) {
		tls_ctx_free(bench.tls_ctx);
		tls_cleanup();
	}
	if (bench.fatal)
		return 2;
	return bench.ok == bench.total ? 0 : 1;
}
