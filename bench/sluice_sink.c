/*
 * sluice_sink.c - sluice-sink, an io_uring SMTP sink with fault modes:
 * options, the listener, signals and the event loop.
 *
 * The downstream server of Sluice's integration tests and benchmarks. It
 * speaks enough ESMTP for a relay's client side (PIPELINING, 8BITMIME,
 * SIZE, ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING as Postfix offers it
 * unless --no-chunking, DSN with --dsn, STARTTLS with --tls-cert; no AUTH,
 * no BINARYMIME) and can misbehave on purpose: stay silent, greet with an
 * error, reset the connection mid-DATA (or mid-chunk), answer slowly,
 * refuse EHLO, fail chosen recipients, hide or refuse STARTTLS, stall the
 * STARTTLS 220. It is not a mail store: --out writes what it accepted so
 * a test can look at it, without fsync; a message that came over TLS
 * carries an X-Sink-TLS: <version> line, and every message the exact MAIL
 * and RCPT command lines it came with. The count file says how many of
 * the messages came in BDAT chunks rather than after DATA.
 *
 * It is as strict as the strictest real servers (sink_smtp.c,
 * sink_check.c), and each refusal goes to stderr. What is advertised can
 * be varied like real servers do it: SIZE with a number, bare SIZE, SIZE 0
 * (Postfix with message_size_limit = 0) or no SIZE (--size), and HELO only
 * (--helo-only: EHLO gets 502).
 *
 * The files, a stack in which each calls only those below it: this one
 * on top (options, listener, main: it hands each accepted socket to the
 * I/O layer with the dialogue, sink_smtp_ops), sink_smtp.c (the dialogue,
 * STARTTLS included), sink_io.c (a session's ops on the ring, which calls
 * the dialogue back only through struct sink_proto_ops), then what both
 * use: sink_tls.c (the TLS side), sink_fault.c (--mode), sink_store.c
 * (--out, --count-file), sink_check.c (MAIL/RCPT strictness), and
 * sink_state.c (the state they share, sink_state.h, and the reply batch)
 * at the bottom.
 *
 * One thread, one ring. The listener is one multishot accept; running out
 * of descriptors backs off 100 ms instead of spinning. SIGINT/SIGTERM
 * arrive through a signalfd read on the ring and end the loop; the
 * counters are written once more on the way out.
 * May call: every sink_*.c, bench/bench_*.c, tls/.
 */
#include "bench/sink_state.h"
#include "bench/sink_fault.h"
#include "bench/sink_io.h"
#include "bench/sink_smtp.h"
#include "bench/sink_store.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- listener and signals ------------------------------------------------ */

static void sink_arm_accept(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&sink.ring, &sink.op_accept);

	if (sqe == NULL) {
		fprintf(stderr, "sluice-sink: ring broken, cannot accept\n");
		sink.stop = 1;
		return;
	}
	io_uring_prep_multishot_accept(sqe, sink.listen_fd, NULL, NULL,
				       SOCK_CLOEXEC);
}

static void sink_accept_cb(struct bench_op *op, int res, unsigned flags)
{
	struct io_uring_sqe *sqe;

	if (res >= 0)
		sink_session_start(res, &sink_smtp_ops);
	if (flags & IORING_CQE_F_MORE)
		return;
	if (res == -EMFILE || res == -ENFILE || res == -ENOMEM ||
	    res == -ENOBUFS) {
		/* Out of descriptors: back off instead of spinning. */
		if (!sink.accept_warned) {
			fprintf(stderr, "sluice-sink: accept: %s (retrying)\n",
				strerror(-res));
			sink.accept_warned = 1;
		}
		sqe = bench_sqe(&sink.ring, &sink.op_accept_retry);
		if (sqe != NULL) {
			io_uring_prep_timeout(sqe, &sink.accept_delay, 0, 0);
			return;
		}
	}
	sink_arm_accept();
}

static void sink_accept_retry_cb(struct bench_op *op, int res, unsigned flags)
{
	sink_arm_accept();
}

static void sink_arm_signal(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&sink.ring, &sink.op_signal);

	if (sqe == NULL) {
		sink.stop = 1;
		return;
	}
	io_uring_prep_read(sqe, sink.signal_fd, &sink.siginfo, sizeof(sink.siginfo), 0);
}

static void sink_signal_cb(struct bench_op *op, int res, unsigned flags)
{
	if (res == (int)sizeof(sink.siginfo)) {
		sink.stop = 1;
		return;
	}
	if (res == -EINTR || res == -EAGAIN)
		sink_arm_signal();
}

/* ---- start-up ------------------------------------------------------------ */

static void sink_usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-sink [-l host:port] [--mode MODE] [--tempfail SUBSTR]...\n"
		"                   [--user-unknown SUBSTR]... [--reject-data SUBSTR]...\n"
		"                   [--out DIR] [--count-file PATH]\n"
		"                   [--tls-cert PEM --tls-key PEM] [--starttls-reply CODE]\n"
		"                   [--starttls-delay MS] [--size N|bare|none] [--helo-only]\n"
		"                   [--dsn] [--no-chunking] [--refuse-bdat]\n"
		"  -l, --listen ADDR     listen address (default 127.0.0.1:2526; [::1]:2526)\n"
		"  --mode MODE           accept | blackhole | banner=CODE | close-after=N |\n"
		"                        slow=MS | ehlo=CODE (default accept); also\n"
		"                        no-starttls: never offer STARTTLS (combines with\n"
		"                        the others)\n"
		"  --tls-cert PEM        offer STARTTLS with this certificate (chain) ...\n"
		"  --tls-key PEM         ... and its private key\n"
		"  --starttls-reply CODE offer STARTTLS but refuse it: CODE x.7.0 TLS not available\n"
		"  --starttls-delay MS   hold the 220 to STARTTLS for MS milliseconds\n"
		"  --size N|bare|none    advertise SIZE N (default 104857600; 0 = no limit,\n"
		"                        as Postfix with message_size_limit = 0), a bare\n"
		"                        SIZE, or no SIZE at all\n"
		"  --helo-only           answer EHLO with 502: HELO, no extensions\n"
		"  --dsn                 advertise DSN (RET, ENVID, NOTIFY, ORCPT)\n"
		"  --no-chunking         do not advertise CHUNKING (BDAT is then refused)\n"
		"  --refuse-bdat         advertise CHUNKING but refuse BDAT (502 and close),\n"
		"                        as a broken server does\n"
		"  --tempfail SUBSTR     RCPT containing SUBSTR: 451 4.2.0\n"
		"  --user-unknown SUBSTR RCPT containing SUBSTR: 550 5.1.1\n"
		"  --reject-data SUBSTR  end-of-data (or BDAT LAST) 554 5.6.0 if an accepted\n"
		"                        RCPT contains SUBSTR\n"
		"  --out DIR             write accepted messages to DIR/<seq>.eml (with\n"
		"                        X-Sink-TLS: <version> when it came over TLS)\n"
		"  --count-file PATH     keep 'messages=N recipients=R sessions=S refused=F\n"
		"                        bdat=B' in PATH (F: commands refused as malformed;\n"
		"                        B: messages that came in BDAT chunks)\n"
		"MAIL and RCPT lines are checked strictly (advertised parameters only,\n"
		"well-formed paths and values, 8-bit text only with SMTPUTF8); every\n"
		"refused line is written to stderr, escaped.\n");
}

static void sink_pattern_add(struct sink_patterns *p, const char *s)
{
	p->v[p->n++] = s;
}

static int sink_listen(const char *spec)
{
	struct sockaddr_storage ss;
	socklen_t len;
	char buf[80];
	int fd;

	if (bench_parse_addr(spec, 2526, &ss, &len) < 0) {
		fprintf(stderr, "sluice-sink: bad listen address '%s'\n", spec);
		return -EINVAL;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	bench_sockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1);
	if (ss.ss_family == AF_INET6)
		bench_sockopt_int(fd, IPPROTO_IPV6, IPV6_V6ONLY, 1);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || listen(fd, 4096) < 0)
		goto fail;
	return fd;
fail:
	fprintf(stderr, "sluice-sink: listen on %s: %s\n",
		bench_addr_str(&ss, buf, sizeof(buf)), strerror(errno));
	if (fd >= 0)
		close(fd);
	return -errno;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "mode", required_argument, NULL, 'M' },
		{ "tempfail", required_argument, NULL, 'T' },
		{ "user-unknown", required_argument, NULL, 'U' },
		{ "reject-data", required_argument, NULL, 'R' },
		{ "out", required_argument, NULL, 'o' },
		{ "count-file", required_argument, NULL, 'C' },
		{ "tls-cert", required_argument, NULL, 'c' },
		{ "tls-key", required_argument, NULL, 'k' },
		{ "starttls-reply", required_argument, NULL, 'S' },
		{ "starttls-delay", required_argument, NULL, 'D' },
		{ "size", required_argument, NULL, 'z' },
		{ "helo-only", no_argument, NULL, 'H' },
		{ "dsn", no_argument, NULL, 'N' },
		{ "no-chunking", no_argument, NULL, 'K' },
		{ "refuse-bdat", no_argument, NULL, 'B' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = "127.0.0.1:2526";
	const char *tls_cert = NULL, *tls_key = NULL;
	unsigned long long ull;
	char err[512];
	int c, rc;

	sink.tempfail.v = calloc((size_t)argc, sizeof(char *));
	sink.unknown.v = calloc((size_t)argc, sizeof(char *));
	sink.reject.v = calloc((size_t)argc, sizeof(char *));
	if (!sink.tempfail.v || !sink.unknown.v || !sink.reject.v) {
		fprintf(stderr, "sluice-sink: out of memory\n");
		return 2;
	}
	sink.out_dirfd = -1;
	sink.size_mode = SINK_SIZE_NUMBER;
	sink.size_max = SINK_MSG_MAX;
	while ((c = getopt_long(argc, argv, "l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'l':
			listen_spec = optarg;
			break;
		case 'M':
			if (sink_parse_mode(optarg) < 0) {
				fprintf(stderr, "sluice-sink: bad --mode '%s'\n",
					optarg);
				return 2;
			}
			break;
		case 'T':
			sink_pattern_add(&sink.tempfail, optarg);
			break;
		case 'U':
			sink_pattern_add(&sink.unknown, optarg);
			break;
		case 'R':
			sink_pattern_add(&sink.reject, optarg);
			break;
		case 'o':
			sink.out_dir = optarg;
			break;
		case 'C':
			sink.count_file = optarg;
			break;
		case 'c':
			tls_cert = optarg;
			break;
		case 'k':
			tls_key = optarg;
			break;
		case 'S':
			if (sink_parse_code(optarg, &sink.starttls_reply) < 0) {
				fprintf(stderr, "sluice-sink: bad --starttls-reply "
					"'%s' (400-599)\n", optarg);
				return 2;
			}
			break;
		case 'D':
			if (bench_parse_ull(optarg, 0, 86400000, &ull) < 0) {
				fprintf(stderr, "sluice-sink: bad --starttls-delay '%s'\n",
					optarg);
				return 2;
			}
			sink.starttls_delay_ms = (unsigned)ull;
			break;
		case 'z':
			if (strcmp(optarg, "bare") == 0) {
				sink.size_mode = SINK_SIZE_BARE;
			} else if (strcmp(optarg, "none") == 0) {
				sink.size_mode = SINK_SIZE_NONE;
			} else if (bench_parse_ull(optarg, 0, ~0ull,
						   &sink.size_max) == 0) {
				sink.size_mode = SINK_SIZE_NUMBER;
			} else {
				fprintf(stderr, "sluice-sink: bad --size '%s' "
					"(a number, bare or none)\n", optarg);
				return 2;
			}
			break;
		case 'H':
			sink.helo_only = 1;
			break;
		case 'N':
			sink.dsn = 1;
			break;
		case 'K':
			sink.no_chunking = 1;
			break;
		case 'B':
			sink.refuse_bdat = 1;
			break;
		case 'h':
			sink_usage(stdout);
			return 0;
		default:
			sink_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		sink_usage(stderr);
		return 2;
	}
	if ((tls_cert == NULL) != (tls_key == NULL)) {
		fprintf(stderr, "sluice-sink: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (tls_cert != NULL) {
		sink.tls_ctx = tls_server_ctx_new(tls_cert, tls_key, err, sizeof(err));
		if (sink.tls_ctx == NULL) {
			fprintf(stderr, "sluice-sink: %s\n", err);
			return 2;
		}
	}
	if (sink.out_dir != NULL) {
		sink.out_dirfd = open(sink.out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sink.out_dirfd < 0) {
			fprintf(stderr, "sluice-sink: --out %s: %s\n", sink.out_dir,
				strerror(errno));
			return 2;
		}
	}

	if (bench_raise_nofile() < 0)
		fprintf(stderr, "sluice-sink: cannot raise RLIMIT_NOFILE\n");
	sink.signal_fd = bench_signalfd();
	if (sink.signal_fd < 0) {
		fprintf(stderr, "sluice-sink: signalfd: %s\n",
			strerror(-sink.signal_fd));
		return 2;
	}
	sink.listen_fd = sink_listen(listen_spec);
	if (sink.listen_fd < 0)
		return 2;
	rc = bench_ring_init(&sink.ring, 4096, 65536);
	if (rc < 0) {
		fprintf(stderr, "sluice-sink: io_uring: %s\n", strerror(-rc));
		return 2;
	}

	sink.op_accept = (struct bench_op){ sink_accept_cb, NULL, SINK_OP_ACCEPT };
	sink.op_accept_retry = (struct bench_op){ sink_accept_retry_cb, NULL,
					       SINK_OP_ACCEPT_RETRY };
	sink.op_signal = (struct bench_op){ sink_signal_cb, NULL, SINK_OP_SIGNAL };
	sink.accept_delay.tv_nsec = 100000000;
	sink_count_init();
	sink_arm_accept();
	sink_arm_signal();

	while (!sink.stop) {
		rc = bench_ring_step(&sink.ring);
		if (rc < 0) {
			fprintf(stderr, "sluice-sink: io_uring: %s\n",
				strerror(-rc));
			break;
		}
	}
	/* The ring's teardown runs asynchronously after exit and would keep
	 * the listener (held by the multishot accept) bound for a while:
	 * stop listening now so the port is free when we are gone. */
	(void)shutdown(sink.listen_fd, SHUT_RDWR);
	close(sink.listen_fd);
	io_uring_queue_exit(&sink.ring);
	sink_count_write();
	printf("messages=%llu recipients=%llu sessions=%llu bdat=%llu\n", sink.messages,
	       sink.recipients, sink.sessions, sink.bdat);
	fflush(stdout);
	return rc < 0 ? 1 : 0;
}
