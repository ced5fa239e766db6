/*
 * sluice_bench.c - sluice-bench, an io_uring SMTP load generator.
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
 * inside TLS (RFC 3207 s. 4.2), then its -m messages: -m 1 is a full
 * handshake per message, -m 10 one per ten. The certificate is not
 * verified at all (any issuer, any name, expired or not): this measures
 * the cost of encryption, it does not check who the server is. TLS uses
 * the relay's tls/ module (wolfSSL over memory buffers) the way the relay
 * does: the ring receives ciphertext into the session's tin[] and hands
 * it to tls_feed(); commands and the message are encrypted with
 * tls_write() and sent from tls_out_ptr(), pinned until the send's CQE
 * releases it with tls_out_consume() (see tls/tls.h), so at most one send
 * is in flight per session here too. There is no session resumption:
 * every connection makes a full handshake. Plaintext runs never touch tls/.
 *
 * One thread, one ring. Every command block and the message itself are
 * built once at start and sent from shared read-only buffers; a session
 * owns only its reply buffer. Per session at most one connect or recv, one
 * send and one timeout are in flight, each with an op record inside the
 * session; closing cancels them and reuses the session only after the last
 * CQE, so no completion can reach a recycled session.
 */
#include "bench/bench_common.h"
#include "core/strb.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#define BS_IN_CAP	8192			/* per-session reply buffer */
#define BS_TIN_CAP	16384			/* per-session ciphertext recv buffer (--tls) */
#define BS_RETRY_NS	100000000ull		/* reconnect delay after an error */
#define BS_GIVE_UP_NS	3000000000ull		/* continuous failure before a session stops */
#define BS_TICK_NS	100000000ull		/* reply deadline check interval */
#define BS_QUIT_EOF_NS	1000000000ull		/* wait for the server's FIN after 221 */
#define BS_ERR_SHOW	10			/* error lines printed before going quiet */
#define BS_LINE_WIDTH	76			/* filler line length, CRLF excluded */
#define BS_ID_MAX	200			/* longest queue id written to --ids */

/* Latency histogram: exact below 1024 us, then 512 sub-buckets per power
 * of two (0.2 % resolution) up to 2^63 us. */
#define BS_HIST_EXACT	1024
#define BS_HIST_SUB	512
#define BS_HIST_SIZE	(BS_HIST_EXACT + 54 * BS_HIST_SUB)

enum bs_state {
	BS_IDLE,	/* waiting for the reconnect timer */
	BS_CONNECT,	/* connect in flight */
	BS_BANNER,	/* waiting for 220 */
	BS_EHLO,	/* waiting for the EHLO reply */
	BS_HELO,	/* EHLO refused with 5xx: waiting for the HELO reply */
	BS_STARTTLS,	/* --tls: waiting for the 220 to STARTTLS */
	BS_HANDSHAKE,	/* --tls: TLS handshake in progress */
	BS_RATE_WAIT,	/* message claimed, waiting for its --rate slot */
	BS_PIPE,	/* MAIL+RCPTs+DATA sent at once, collecting r+2 replies */
	BS_MAIL,	/* lock-step: waiting for the MAIL reply */
	BS_RCPT,	/* lock-step: waiting for a RCPT reply */
	BS_DATA,	/* lock-step: waiting for 354 */
	BS_BODY,	/* message sent, waiting for the end-of-data reply */
	BS_RSET,	/* waiting for the RSET reply after a failed message */
	BS_QUIT,	/* waiting for 221 */
	BS_QUIT_EOF,	/* got 221, waiting for the server to close first */
	BS_DONE,	/* finished for good */
};

/* What a session does once its closing ops have drained. */
enum bs_after {
	BS_AFTER_RETRY,		/* an error: reconnect after BS_RETRY_NS or give up */
	BS_AFTER_NEXT,		/* a clean QUIT: reconnect now if work is left */
};

enum bs_op_kind {
	BS_OP_CONNECT,
	BS_OP_RECV,
	BS_OP_SEND,
	BS_OP_TIMER,
	BS_OP_TICK,
	BS_OP_SIGNAL,
};

/* One client session: a connection at a time, reconnected after QUIT or
 * an error. The -c sessions live in one array for the whole run. */
struct bs_session {
	struct bench_op op_conn;	/* connect */
	struct bench_op op_recv;	/* recv into in[] */
	struct bench_op op_send;	/* send of send_p[0..send_len) */
	struct bench_op op_timer;	/* reconnect delay or --rate slot */
	struct __kernel_timespec delay;	/* op_timer's delay, copied at submit */
	unsigned idx;			/* session number, for messages */
	int fd;				/* the connection, -1 when none */
	enum bs_state state;		/* protocol position */
	enum bs_after after;		/* what to do when closing completes */
	unsigned inflight;		/* ops submitted and not yet completed */
	unsigned recv_armed : 1;	/* op_recv in flight */
	unsigned send_armed : 1;	/* op_send in flight */
	unsigned timer_armed : 1;	/* op_timer in flight */
	unsigned conn_armed : 1;	/* op_conn in flight */
	unsigned closing : 1;		/* cancelling; act on 'after' at inflight 0 */
	unsigned pipelining : 1;	/* server advertised PIPELINING */
	unsigned in_msg : 1;		/* a claimed message is not finished */
	unsigned txn_failed : 1;	/* a reply in this transaction was 4xx/5xx */
	unsigned starttls : 1;		/* server advertised STARTTLS (plaintext EHLO) */
	unsigned tls_on : 1;		/* handshake done: every byte is TLS */
	unsigned send_tls : 1;		/* op_send sends tls_out_ptr(), pinned */
	unsigned unclaimed : 1;		/* connection open, no message claimed on it
					   yet: counted in g.unclaimed */
	unsigned conn_msgs;		/* messages finished on this connection */
	unsigned replies;		/* PIPE: replies seen; RCPT: RCPTs answered */
	uint64_t msg_start;		/* when MAIL FROM was sent */
	uint64_t deadline;		/* reply due by then, 0: not waiting */
	uint64_t fail_since;		/* start of continuous failure, 0: none */
	uint64_t progress;		/* last connect attempt or finished message */
	const char *send_p;		/* rest of the current send (shared buffer) */
	size_t send_len;		/* its length */
	const char *next_p;		/* send queued behind the current one */
	size_t next_len;		/* its length */
	size_t in_len;			/* bytes in in[] */
	struct tls_conn *tls;		/* from the 220 to STARTTLS until the
					   connection's last CQE, else NULL; while
					   set, op_recv targets tin[] */
	char *tin;			/* BS_TIN_CAP bytes of ciphertext recv space,
					   allocated at the first STARTTLS and kept
					   for the session's later connections */
	char in[BS_IN_CAP];		/* unparsed reply bytes (plaintext) */
};

/* Program state: options, prebuilt buffers, sessions, results. One
 * instance, touched only by the main thread. */
struct bench {
	struct io_uring ring;			/* the only ring */
	unsigned conc;				/* -c */
	unsigned long long total;		/* -n */
	unsigned per_conn;			/* -m, 0: unlimited */
	unsigned long long size;		/* -s */
	unsigned rcpts;				/* -r */
	double rate;				/* --rate, 0: unlimited */
	double rate_next;			/* next --rate start time, ns */
	const char *from;			/* -f */
	const char *to;				/* -t */
	struct sockaddr_storage addr;		/* -H */
	socklen_t addrlen;			/* its length */
	int ids_fd;				/* --ids, or -1 */
	uint64_t timeout_ns;			/* --timeout */
	int quiet;				/* -q */
	int json;				/* --json */
	int tls;				/* --tls */
	struct tls_ctx *tls_ctx;		/* --tls: client context, no verification */
	char *sni;				/* -H host name sent as SNI (NULL: none) */
	int fatal;				/* stopped by something no retry fixes */
	unsigned long long handshakes;		/* TLS handshakes completed */
	char tls_desc[96];			/* version and cipher of the first one */
	char *cmds;				/* MAIL + RCPTs + DATA, one block */
	size_t cmds_len;			/* its length */
	size_t *line_off;			/* offset of line k (0: MAIL, r+1: DATA) */
	char *body;				/* stuffed message + ".\r\n" */
	size_t body_len;			/* its length */
	struct bs_session *sess;		/* conc sessions */
	unsigned done;				/* sessions in BS_DONE */
	struct bench_op op_tick;		/* deadline checker */
	struct __kernel_timespec tick;		/* BS_TICK_NS */
	struct bench_op op_signal;		/* read on signal_fd */
	int signal_fd;				/* SIGINT/SIGTERM: stop early */
	char sigbuf[128];			/* signalfd_siginfo target */
	int stop;				/* signal received */
	uint64_t t0;				/* run start */
	unsigned long long started;		/* messages claimed */
	unsigned long long unclaimed;		/* connections that will claim one */
	unsigned long long ok;			/* acknowledged with 2xx */
	unsigned long long failed;		/* refused with 4xx/5xx */
	unsigned long long lost;		/* cut off by a connection error */
	unsigned long long errors;		/* connection-level errors */
	unsigned long long connections;		/* connects attempted */
	unsigned errors_shown;			/* error lines printed */
	uint64_t lat_max_us;			/* largest latency */
	uint64_t *hist;				/* BS_HIST_SIZE latency buckets */
};

static struct bench g = { .ids_fd = -1 };

static void bs_close(struct bs_session *s, enum bs_after after);
static void bs_connect(struct bs_session *s);
static void bs_next(struct bs_session *s);

/* ---- latency histogram ---------------------------------------------------- */

static size_t bs_hist_index(uint64_t us)
{
	unsigned msb, shift;

	if (us < BS_HIST_EXACT)
		return (size_t)us;
	msb = 63u - (unsigned)__builtin_clzll(us);
	shift = msb - 9;
	return BS_HIST_EXACT + (size_t)(shift - 1) * BS_HIST_SUB +
	       (size_t)((us >> shift) - BS_HIST_SUB);
}

/* Middle of bucket i, in microseconds. */
static double bs_hist_value(size_t i)
{
	size_t shift, sub;

	if (i < BS_HIST_EXACT)
		return (double)i;
	shift = (i - BS_HIST_EXACT) / BS_HIST_SUB + 1;
	sub = (i - BS_HIST_EXACT) % BS_HIST_SUB + BS_HIST_SUB;
	return ((double)sub + 0.5) * (double)(1ull << shift);
}

static void bs_hist_add(uint64_t ns)
{
	uint64_t us = ns / 1000;

	g.hist[bs_hist_index(us)]++;
	if (us > g.lat_max_us)
		g.lat_max_us = us;
}

/* Latency at quantile q (0..1) in milliseconds; 0 with no samples. */
static double bs_hist_quantile(double q)
{
	unsigned long long rank, seen = 0;
	double v;
	size_t i;

	if (g.ok == 0)
		return 0.0;
	rank = (unsigned long long)ceil(q * (double)g.ok);
	if (rank == 0)
		rank = 1;
	for (i = 0; i < BS_HIST_SIZE; i++) {
		seen += g.hist[i];
		if (seen >= rank) {
			v = bs_hist_value(i);
			if (v > (double)g.lat_max_us)
				v = (double)g.lat_max_us;
			return v / 1000.0;
		}
	}
	return (double)g.lat_max_us / 1000.0;
}

/* ---- errors ------------------------------------------------------------------ */

/* Print "session N: what[: detail]" unless -q or too many already. */
static void bs_report_detail(struct bs_session *s, const char *what,
			     const char *detail)
{
	if (g.quiet || g.errors_shown > BS_ERR_SHOW)
		return;
	if (g.errors_shown++ == BS_ERR_SHOW) {
		fprintf(stderr, "sluice-bench: further errors not shown\n");
		return;
	}
	if (detail != NULL)
		fprintf(stderr, "sluice-bench: session %u: %s: %s\n", s->idx,
			what, detail);
	else
		fprintf(stderr, "sluice-bench: session %u: %s\n", s->idx, what);
}

static void bs_report(struct bs_session *s, const char *what, int err)
{
	bs_report_detail(s, what, err != 0 ? strerror(err) : NULL);
}

/* A connection-level failure: count it, lose the message in flight, and
 * reconnect after a pause. */
static void bs_error_detail(struct bs_session *s, const char *what,
			    const char *detail)
{
	g.errors++;
	bs_report_detail(s, what, detail);
	bs_close(s, BS_AFTER_RETRY);
}

static void bs_error(struct bs_session *s, const char *what, int err)
{
	bs_error_detail(s, what, err != 0 ? strerror(err) : NULL);
}

/* Something no retry will fix (--tls against a server without STARTTLS):
 * say so even with -q, close every session and end the run (exit 2). */
static void bs_fatal(const char *what)
{
	char addr[INET6_ADDRSTRLEN + 8];
	unsigned i;

	if (!g.fatal)
		fprintf(stderr, "sluice-bench: %s: %s\n",
			bench_addr_str(&g.addr, addr, sizeof(addr)), what);
	g.fatal = 1;
	g.stop = 1;
	for (i = 0; i < g.conc; i++)
		if (g.sess[i].state != BS_DONE && !g.sess[i].closing)
			bs_close(&g.sess[i], BS_AFTER_RETRY);
}

/* ---- session plumbing ------------------------------------------------------- */

static struct io_uring_sqe *bs_sqe(struct bs_session *s, struct bench_op *op)
{
	struct io_uring_sqe *sqe = bench_sqe(&g.ring, op);

	if (sqe != NULL)
		s->inflight++;
	return sqe;
}

static void bs_arm_recv(struct bs_session *s)
{
	struct io_uring_sqe *sqe;

	if (s->recv_armed || s->closing)
		return;
	if (s->tls == NULL && s->in_len == BS_IN_CAP) {
		bs_error(s, "reply line too long", 0);
		return;
	}
	sqe = bs_sqe(s, &s->op_recv);
	if (sqe == NULL) {
		bs_error(s, "ring full", 0);
		return;
	}
	/* s->tls changes only while no recv is in flight (it is made while
	 * a recv's CQE is handled, freed after the last CQE), so the CQE
	 * knows where its bytes went. */
	if (s->tls != NULL)
		io_uring_prep_recv(sqe, s->fd, s->tin, BS_TIN_CAP, 0);
	else
		io_uring_prep_recv(sqe, s->fd, s->in + s->in_len,
				   BS_IN_CAP - s->in_len, 0);
	/* The reply is never there yet when we ask: skip the first try. */
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	s->recv_armed = 1;
}

static void bs_arm_send(struct bs_session *s)
{
	struct io_uring_sqe *sqe = bs_sqe(s, &s->op_send);

	if (sqe == NULL) {
		bs_error(s, "ring full", 0);
		return;
	}
	io_uring_prep_send(sqe, s->fd, s->send_p, s->send_len, MSG_NOSIGNAL);
	s->send_armed = 1;
}

/* Send the TLS output there is, unless a send is in flight (its CQE
 * calls this again). The bytes stay pinned until tls_out_consume. */
static void bs_flush_tls(struct bs_session *s)
{
	struct io_uring_sqe *sqe;
	size_t len;

	if (s->send_armed || s->closing)
		return;
	len = tls_out_len(s->tls);
	if (len == 0)
		return;
	sqe = bs_sqe(s, &s->op_send);
	if (sqe == NULL) {
		bs_error(s, "ring full", 0);
		return;
	}
	io_uring_prep_send(sqe, s->fd, tls_out_ptr(s->tls), len, MSG_NOSIGNAL);
	s->send_armed = 1;
	s->send_tls = 1;
}

/* Send len bytes of a shared buffer (encrypted once TLS is up) and expect
 * a reply in new_state. */
static void bs_send(struct bs_session *s, const char *p, size_t len,
		    enum bs_state new_state)
{
	s->state = new_state;
	s->deadline = bench_now_ns() + g.timeout_ns;
	if (s->tls_on) {
		/* Copied and encrypted now: the shared buffer is free again. */
		if (tls_write(s->tls, p, len) < 0) {
			bs_error(s, "TLS write failed", 0);
			return;
		}
		bs_flush_tls(s);
		return;
	}
	if (s->send_armed) {
		/* A reply outran the previous send's CQE: queue behind it. */
		s->next_p = p;
		s->next_len = len;
		return;
	}
	s->send_p = p;
	s->send_len = len;
	bs_arm_send(s);
}

static void bs_arm_timer(struct bs_session *s, uint64_t ns)
{
	struct io_uring_sqe *sqe = bs_sqe(s, &s->op_timer);

	if (sqe == NULL) {
		bs_error(s, "ring full", 0);
		return;
	}
	s->delay.tv_sec = (long long)(ns / 1000000000ull);
	s->delay.tv_nsec = (long long)(ns % 1000000000ull);
	io_uring_prep_timeout(sqe, &s->delay, 0, 0);
	s->timer_armed = 1;
}

static void bs_finish(struct bs_session *s)
{
	s->state = BS_DONE;
	s->deadline = 0;
	g.done++;
}

/* Every op is closed: close the socket and move on. */
static void bs_closed(struct bs_session *s)
{
	uint64_t now = bench_now_ns();

	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	/* No op is in flight any more: no send points into its buffers. */
	tls_conn_free(s->tls);
	s->tls = NULL;
	s->tls_on = 0;
	s->send_tls = 0;
	s->closing = 0;
	s->in_len = 0;
	s->deadline = 0;
	if (s->in_msg) {
		g.lost++;
		s->in_msg = 0;
	}
	if (s->unclaimed) {
		s->unclaimed = 0;
		g.unclaimed--;
	}
	/* Connections still opening will take what is left: one more would
	 * only connect (with --tls: handshake) to QUIT. */
	if (g.stop || g.started + g.unclaimed >= g.total) {
		bs_finish(s);
		return;
	}
	if (s->after == BS_AFTER_NEXT) {
		bs_connect(s);
		return;
	}
	/* The failure began when the session last got anywhere: a long
	 * --timeout on a silent server counts in full. */
	if (s->fail_since == 0)
		s->fail_since = s->progress;
	if (now - s->fail_since >= BS_GIVE_UP_NS) {
		bs_report(s, "giving up after 3 s of failures", 0);
		bs_finish(s);
		return;
	}
	s->state = BS_IDLE;
	bs_arm_timer(s, BS_RETRY_NS);
}

/* Ends every completion callback: the op stops counting only after the
 * callback has acted, so a close started inside it completes here, and the
 * session is never recycled under the callback's feet. */
static void bs_op_end(struct bs_session *s)
{
	s->inflight--;
	if (s->closing && s->inflight == 0)
		bs_closed(s);
}

static void bs_close(struct bs_session *s, enum bs_after after)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	s->closing = 1;
	s->after = after;
	s->deadline = 0;
	s->next_p = NULL;
	if (s->state == BS_RATE_WAIT && s->in_msg) {
		/* Claimed but never started: give it back. */
		s->in_msg = 0;
		g.started--;
	}
	if (s->recv_armed || s->send_armed || s->conn_armed) {
		sqe = bench_sqe(&g.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
		else
			(void)shutdown(s->fd, SHUT_RDWR);
	}
	if (s->timer_armed) {
		sqe = bench_sqe(&g.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel(sqe, &s->op_timer, 0);
	}
	if (s->inflight == 0)
		bs_closed(s);
}

/* ---- SMTP ------------------------------------------------------------------- */

static void bs_start_msg(struct bs_session *s)
{
	s->txn_failed = 0;
	s->replies = 0;
	s->msg_start = bench_now_ns();
	if (s->pipelining)
		bs_send(s, g.cmds, g.cmds_len, BS_PIPE);
	else
		bs_send(s, g.cmds, g.line_off[1], BS_MAIL);
}

/* Claim the next message, or QUIT when done here. With --rate, message
 * starts follow a token bucket as deep as the session count: a fixed
 * schedule that catches up after a stall by at most one start per session. */
static void bs_next(struct bs_session *s)
{
	double now, oldest;
	uint64_t slot;

	if (g.stop || g.started >= g.total ||
	    (g.per_conn != 0 && s->conn_msgs >= g.per_conn)) {
		bs_send(s, "QUIT\r\n", 6, BS_QUIT);
		return;
	}
	g.started++;
	s->in_msg = 1;
	if (s->unclaimed) {
		s->unclaimed = 0;
		g.unclaimed--;
	}
	if (g.rate > 0) {
		now = (double)bench_now_ns();
		oldest = now - (double)g.conc * 1e9 / g.rate;
		if (g.rate_next < oldest)
			g.rate_next = oldest;
		slot = (uint64_t)g.rate_next;
		g.rate_next += 1e9 / g.rate;
		if ((double)slot > now + 20000.0) {
			s->state = BS_RATE_WAIT;
			s->deadline = 0;
			bs_arm_timer(s, slot - (uint64_t)now);
			return;
		}
	}
	bs_start_msg(s);
}

/* Record the acknowledged message's queue id: the token after "queued
 * as", else the reply's last token. One write(2), so the line is on disk
 * (in the page cache) before the next reply is read. */
static void bs_write_id(const char *line, size_t len)
{
	char buf[BS_ID_MAX + 1];
	const char *p = NULL, *end = line + len, *q;
	size_t n;

	for (q = line; q + 10 <= end; q++) {
		if (strncasecmp(q, "queued as ", 10) == 0) {
			p = q + 10;
			break;
		}
	}
	if (p != NULL) {
		while (p < end && *p == ' ')
			p++;
		for (q = p; q < end && *q != ' '; q++)
			;
	} else {
		q = end;
		while (q > line && q[-1] == ' ')
			q--;
		for (p = q; p > line && p[-1] != ' '; p--)
			;
	}
	n = (size_t)(q - p);
	if (n > BS_ID_MAX)
		n = BS_ID_MAX;
	memcpy(buf, p, n);
	buf[n++] = '\n';
	if (write(g.ids_fd, buf, n) != (ssize_t)n && !g.quiet)
		fprintf(stderr, "sluice-bench: --ids write: %s\n",
			strerror(errno));
}

/* The transaction got its last reply. */
static void bs_msg_done(struct bs_session *s, int ok, const char *line,
			size_t len)
{
	s->in_msg = 0;
	s->fail_since = 0;
	s->progress = bench_now_ns();
	s->conn_msgs++;
	if (ok) {
		g.ok++;
		bs_hist_add(bench_now_ns() - s->msg_start);
		if (g.ids_fd >= 0)
			bs_write_id(line, len);
		bs_next(s);
	} else {
		g.failed++;
		bs_send(s, "RSET\r\n", 6, BS_RSET);
	}
}

/* The 220 to STARTTLS came: start the handshake (the ClientHello goes
 * out now; the recv armed after this reply targets tin[]). */
static void bs_start_tls(struct bs_session *s)
{
	if (s->tin == NULL)
		s->tin = malloc(BS_TIN_CAP);
	if (s->tin != NULL)
		s->tls = tls_conn_new(g.tls_ctx, false, g.sni);
	if (s->tls == NULL) {
		bs_error(s, "STARTTLS", ENOMEM);
		return;
	}
	/* RFC 3207 s. 4.2: what the server said before is forgotten. */
	s->pipelining = 0;
	s->starttls = 0;
	s->state = BS_HANDSHAKE;
	s->deadline = bench_now_ns() + g.timeout_ns;
	if (tls_handshake(s->tls) < 0) {
		bs_error(s, "TLS handshake could not start", 0);
		return;
	}
	bs_flush_tls(s);
}

/* A complete (last line of a) reply arrived. */
static void bs_reply(struct bs_session *s, int code, const char *line,
		     size_t len)
{
	int ok = code >= 200 && code < 300;

	switch (s->state) {
	case BS_BANNER:
		if (code != 220) {
			bs_error(s, "greeting refused", 0);
			return;
		}
		bs_send(s, "EHLO bench.test\r\n", 17, BS_EHLO);
		return;
	case BS_EHLO:
		if (code >= 500 && g.tls) {
			bs_fatal("--tls: EHLO refused, so no STARTTLS");
			return;
		}
		if (code >= 500) {
			/* An old or strict server: fall back to HELO. */
			bs_send(s, "HELO bench.test\r\n", 17, BS_HELO);
			return;
		}
		/* fall through */
	case BS_HELO:
		if (!ok) {
			bs_error(s, s->state == BS_EHLO ? "EHLO refused" :
				 "HELO refused", 0);
			return;
		}
		if (g.tls && !s->tls_on) {
			if (!s->starttls) {
				bs_fatal("--tls: the server does not offer STARTTLS");
				return;
			}
			bs_send(s, "STARTTLS\r\n", 10, BS_STARTTLS);
			return;
		}
		bs_next(s);
		return;
	case BS_STARTTLS:
		if (code != 220) {
			bs_error_detail(s, "STARTTLS refused", line);
			return;
		}
		bs_start_tls(s);
		return;
	case BS_PIPE:
		if (s->replies++ <= g.rcpts) {
			if (!ok)
				s->txn_failed = 1;
			return;
		}
		if (code != 354) {
			s->txn_failed = 1;
			bs_msg_done(s, 0, line, len);
			return;
		}
		bs_send(s, g.body, g.body_len, BS_BODY);
		return;
	case BS_MAIL:
		if (!ok) {
			s->txn_failed = 1;
			bs_msg_done(s, 0, line, len);
			return;
		}
		s->replies = 0;
		bs_send(s, g.cmds + g.line_off[1], g.line_off[2] - g.line_off[1],
			BS_RCPT);
		return;
	case BS_RCPT:
		if (!ok)
			s->txn_failed = 1;
		s->replies++;
		if (s->replies < g.rcpts)
			bs_send(s, g.cmds + g.line_off[s->replies + 1],
				g.line_off[s->replies + 2] -
					g.line_off[s->replies + 1],
				BS_RCPT);
		else
			bs_send(s, g.cmds + g.line_off[g.rcpts + 1],
				g.cmds_len - g.line_off[g.rcpts + 1], BS_DATA);
		return;
	case BS_DATA:
		if (code != 354) {
			s->txn_failed = 1;
			bs_msg_done(s, 0, line, len);
			return;
		}
		bs_send(s, g.body, g.body_len, BS_BODY);
		return;
	case BS_BODY:
		bs_msg_done(s, ok && !s->txn_failed, line, len);
		return;
	case BS_RSET:
		bs_next(s);
		return;
	case BS_QUIT:
		/* Let the server close first: no cancel for our recv, and the
		 * TIME_WAIT stays on its side rather than eating our ports. */
		s->state = BS_QUIT_EOF;
		s->deadline = bench_now_ns() + BS_QUIT_EOF_NS;
		return;
	case BS_QUIT_EOF:
		return;		/* chatter after 221: the session is over */
	default:
		bs_error(s, "unexpected reply", 0);
		return;
	}
}

/* An EHLO reply line: note the extensions that change what we send. */
static void bs_ehlo_line(struct bs_session *s, const char *p, size_t len)
{
	if (len >= 14 && strncasecmp(p + 4, "PIPELINING", 10) == 0 &&
	    (len == 14 || p[14] == ' '))
		s->pipelining = 1;
	else if (len >= 12 && strncasecmp(p + 4, "STARTTLS", 8) == 0 &&
		 (len == 12 || p[12] == ' '))
		s->starttls = 1;
}

/* Split in[] into reply lines and act on each complete reply. */
static void bs_parse(struct bs_session *s)
{
	char *p = s->in, *end = s->in + s->in_len, *nl;
	size_t len;
	int code;

	while (!s->closing && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		len = (size_t)(nl - p);
		if (len > 0 && p[len - 1] == '\r')
			len--;
		if (len < 3 || p[0] < '2' || p[0] > '5' || p[1] < '0' ||
		    p[1] > '9' || p[2] < '0' || p[2] > '9' ||
		    (len > 3 && p[3] != ' ' && p[3] != '-')) {
			bs_error(s, "malformed reply", 0);
			return;
		}
		code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
		if (s->state == BS_EHLO)
			bs_ehlo_line(s, p, len);
		if (len <= 3 || p[3] != '-') {
			if (s->state == BS_STARTTLS)
				p[len] = '\0';	/* for the error line; '\r' or '\n' there */
			bs_reply(s, code, p, len);
		}
		p = nl + 1;
	}
	if (s->closing)
		return;
	len = (size_t)(end - p);
	if (s->state == BS_HANDSHAKE && len > 0) {
		/* Bytes in clear after the 220 would be read as if they came
		 * through TLS (the CVE-2011-0411 class, server side). */
		bs_error(s, "plaintext after the 220 to STARTTLS", 0);
		return;
	}
	if (len > 0 && p != s->in)
		memmove(s->in, p, len);
	s->in_len = len;
}

/* ---- completions ------------------------------------------------------------ */

static void bs_conn_done(struct bs_session *s, int res)
{
	if (res < 0) {
		bs_error(s, "connect", -res);
		return;
	}
	s->state = BS_BANNER;
	s->deadline = bench_now_ns() + g.timeout_ns;
	bs_arm_recv(s);
}

static void bs_conn_cb(struct bench_op *op, int res, unsigned flags)
{
	struct bs_session *s = op->owner;

	s->conn_armed = 0;
	if (!s->closing)
		bs_conn_done(s, res);
	bs_op_end(s);
}

/* n bytes of ciphertext arrived in tin[]: advance the handshake, or
 * decrypt into in[] and parse, then send what TLS has to say. */
static void bs_tls_input(struct bs_session *s, size_t n)
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
		g.handshakes++;
		if (g.tls_desc[0] == '\0')
			snprintf(g.tls_desc, sizeof(g.tls_desc), "%s %s",
				 tls_version(s->tls), tls_cipher(s->tls));
		/* EHLO again, inside TLS: it follows the Finished out. */
		bs_send(s, "EHLO bench.test\r\n", 17, BS_EHLO);
		if (s->closing)
			return;
	}
	for (;;) {
		if (s->in_len == BS_IN_CAP) {
			bs_error(s, "reply line too long", 0);
			return;
		}
		r = tls_read(s->tls, s->in + s->in_len, BS_IN_CAP - s->in_len);
		if (r > 0) {
			s->in_len += (size_t)r;
			bs_parse(s);
			if (s->closing)
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

static void bs_recv_done(struct bs_session *s, int res)
{
	if (res == 0) {
		if (s->state == BS_QUIT_EOF)
			bs_close(s, BS_AFTER_NEXT);
		else
			bs_error(s, "connection closed by server", 0);
		return;
	}
	if (res < 0) {
		if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
			bs_arm_recv(s);
			return;
		}
		if (s->state == BS_QUIT_EOF) {
			bs_close(s, BS_AFTER_NEXT);	/* a RST after 221 */
			return;
		}
		bs_error(s, "recv", -res);
		return;
	}
	if (s->tls != NULL)
		bs_tls_input(s, (size_t)res);
	else {
		s->in_len += (size_t)res;
		bs_parse(s);
	}
	bs_arm_recv(s);
}

static void bs_recv_cb(struct bench_op *op, int res, unsigned flags)
{
	struct bs_session *s = op->owner;

	s->recv_armed = 0;
	if (!s->closing)
		bs_recv_done(s, res);
	bs_op_end(s);
}

static void bs_send_done(struct bs_session *s, int res)
{
	if (res <= 0) {
		if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
			if (s->send_tls)
				bs_flush_tls(s);	/* same pinned bytes */
			else
				bs_arm_send(s);
			return;
		}
		bs_error(s, "send", res < 0 ? -res : EPIPE);
		return;
	}
	if (s->send_tls) {
		s->send_tls = 0;
		tls_out_consume(s->tls, (size_t)res);
		bs_flush_tls(s);	/* the rest, or what was written since */
		return;
	}
	if ((size_t)res < s->send_len) {
		s->send_p += res;
		s->send_len -= (size_t)res;
		bs_arm_send(s);
		return;
	}
	if (s->next_p != NULL) {
		s->send_p = s->next_p;
		s->send_len = s->next_len;
		s->next_p = NULL;
		bs_arm_send(s);
	} else if (s->tls != NULL) {
		/* STARTTLS's CQE came after its 220: the ClientHello waited. */
		bs_flush_tls(s);
	}
}

static void bs_send_cb(struct bench_op *op, int res, unsigned flags)
{
	struct bs_session *s = op->owner;

	s->send_armed = 0;
	if (!s->closing)
		bs_send_done(s, res);
	bs_op_end(s);
}

static void bs_timer_done(struct bs_session *s, int res)
{
	if (s->state == BS_IDLE)
		bs_connect(s);
	else if (s->state == BS_RATE_WAIT)
		bs_start_msg(s);
}

static void bs_timer_cb(struct bench_op *op, int res, unsigned flags)
{
	struct bs_session *s = op->owner;

	s->timer_armed = 0;
	if (!s->closing)
		bs_timer_done(s, res);
	bs_op_end(s);
}

static void bs_connect(struct bs_session *s)
{
	struct io_uring_sqe *sqe;

	s->pipelining = 0;
	s->starttls = 0;
	s->unclaimed = 1;
	g.unclaimed++;
	s->conn_msgs = 0;
	s->in_len = 0;
	s->next_p = NULL;
	if (s->fail_since == 0)
		s->progress = bench_now_ns();
	g.connections++;
	s->fd = socket(g.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		bs_error(s, "socket", errno);
		return;
	}
	bench_sockopt_int(s->fd, IPPROTO_TCP, TCP_NODELAY, 1);
	sqe = bs_sqe(s, &s->op_conn);
	if (sqe == NULL) {
		bs_error(s, "ring full", 0);
		return;
	}
	io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&g.addr, g.addrlen);
	s->conn_armed = 1;
	s->state = BS_CONNECT;
	s->deadline = bench_now_ns() + g.timeout_ns;
}

static void bs_arm_tick(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&g.ring, &g.op_tick);

	if (sqe != NULL)
		io_uring_prep_timeout(sqe, &g.tick, 0, 0);
}

/* Enforce --timeout on every session waiting for a reply. */
static void bs_tick_cb(struct bench_op *op, int res, unsigned flags)
{
	uint64_t now = bench_now_ns();
	unsigned i;

	for (i = 0; i < g.conc; i++) {
		struct bs_session *s = &g.sess[i];

		if (s->deadline == 0 || now <= s->deadline || s->closing)
			continue;
		if (s->state == BS_QUIT_EOF) {
			/* 221 came but the server keeps the line open: fine. */
			bs_close(s, BS_AFTER_NEXT);
		} else {
			g.errors++;
			bs_report(s, "timed out waiting for the server", 0);
			bs_close(s, BS_AFTER_RETRY);
		}
	}
	if (g.done < g.conc)
		bs_arm_tick();
}

static void bs_arm_signal(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&g.ring, &g.op_signal);

	if (sqe != NULL)
		io_uring_prep_read(sqe, g.signal_fd, g.sigbuf, sizeof(g.sigbuf),
				   0);
}

/* SIGINT/SIGTERM: start no new message; sessions finish what they have
 * and QUIT, or are closed. A second signal closes everything. */
static void bs_signal_cb(struct bench_op *op, int res, unsigned flags)
{
	unsigned i;

	int again = g.stop;

	if (res > 0 || res == -EINTR || res == -EAGAIN)
		bs_arm_signal();
	if (res <= 0)
		return;
	g.stop = 1;
	for (i = 0; i < g.conc; i++) {
		struct bs_session *s = &g.sess[i];

		if (s->state == BS_DONE || s->closing)
			continue;
		if (again || s->state == BS_IDLE || s->state == BS_RATE_WAIT ||
		    s->state == BS_CONNECT || s->state == BS_BANNER)
			bs_close(s, BS_AFTER_RETRY);
	}
}

/* ---- message building -------------------------------------------------------- */

/* The envelope: MAIL, r RCPTs, DATA, as one block with line offsets so
 * lock-step mode can send the lines one by one. */
static int bs_build_cmds(void)
{
	const char *at = strchr(g.to, '@');
	size_t cap, n = 0;
	unsigned k;
	int w;

	cap = strlen(g.from) + 16 + (strlen(g.to) + 32) * g.rcpts + 8;
	g.cmds = malloc(cap);
	g.line_off = calloc(g.rcpts + 3, sizeof(size_t));
	if (g.cmds == NULL || g.line_off == NULL)
		return -ENOMEM;
	w = snprintf(g.cmds, cap, "MAIL FROM:<%s>\r\n", g.from);
	n = (size_t)w;
	for (k = 1; k <= g.rcpts; k++) {
		g.line_off[k] = n;
		if (g.rcpts == 1)
			w = snprintf(g.cmds + n, cap - n, "RCPT TO:<%s>\r\n", g.to);
		else if (at != NULL)
			w = snprintf(g.cmds + n, cap - n, "RCPT TO:<%.*s+%u%s>\r\n",
				     (int)(at - g.to), g.to, k, at);
		else
			w = snprintf(g.cmds + n, cap - n, "RCPT TO:<%s+%u>\r\n",
				     g.to, k);
		n += (size_t)w;
	}
	g.line_off[g.rcpts + 1] = n;
	memcpy(g.cmds + n, "DATA\r\n", 6);
	n += 6;
	g.line_off[g.rcpts + 2] = n;
	g.cmds_len = n;
	return 0;
}

/* The message: headers, then ~76-char filler lines up to -s bytes, then
 * dot-stuffed with the terminating ".\r\n". Built once, sent by everyone. */
static int bs_build_body(void)
{
	static const char dotline[] =
		".sluice-bench: this line starts with a dot (dot-stuffing check)";
	char date[64], *raw, *p, *out;
	size_t cap, n, remain, take, i, lines = 0;
	unsigned long long line_no = 0;
	time_t now = time(NULL);
	struct tm tm;
	int w;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	cap = g.size + strlen(g.from) + strlen(g.to) + 512;
	raw = malloc(cap);
	if (raw == NULL)
		return -ENOMEM;
	w = snprintf(raw, cap,
		     "From: <%s>\r\nTo: <%s>\r\nSubject: sluice-bench test message\r\n"
		     "Message-ID: <%lld.%d@bench.test>\r\nDate: %s\r\n\r\n",
		     g.from, g.to, (long long)now, (int)getpid(), date);
	n = (size_t)w;
	remain = g.size > n ? g.size - n : 0;
	while (remain >= 2) {
		take = remain - 2 > BS_LINE_WIDTH ? BS_LINE_WIDTH : remain - 2;
		if (remain - take - 2 == 1 && take > 0)
			take--;
		if (line_no == 0 && take >= sizeof(dotline) - 1) {
			memcpy(raw + n, dotline, sizeof(dotline) - 1);
			i = sizeof(dotline) - 1;
		} else {
			/* the line number, cut to the line's width */
			struct strb sb;
			strb_init(&sb, raw + n, take + 1);
			strb_printf(&sb, "line %06llu ", line_no);
			i = sb.len;
		}
		for (; i < take; i++)
			raw[n + i] = (char)('A' + (i + line_no) % 26);
		n += take;
		raw[n++] = '\r';
		raw[n++] = '\n';
		remain -= take + 2;
		line_no++;
	}
	/* Stuff: one extra '.' per line starting with '.'. */
	for (i = 0; i < n; i++)
		if (raw[i] == '.' && (i == 0 || raw[i - 1] == '\n'))
			lines++;
	out = malloc(n + lines + 8);
	if (out == NULL) {
		free(raw);
		return -ENOMEM;
	}
	p = out;
	for (i = 0; i < n; i++) {
		if (raw[i] == '.' && (i == 0 || raw[i - 1] == '\n'))
			*p++ = '.';
		*p++ = raw[i];
	}
	if (p == out || p[-1] != '\n') {
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	g.body = out;
	g.body_len = (size_t)(p - out);
	free(raw);
	return 0;
}

/* ---- start-up and results ------------------------------------------------------ */

static void bs_usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-bench [-c N] [-n N] [-m N] [-s BYTES] [-r N] [--rate R]\n"
		"                    [-f sender] [-t rcpt] [-H host:port] [--ids FILE]\n"
		"                    [--timeout S] [--tls] [-q] [--json]\n"
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
		"  -q            no error messages on stderr\n"
		"  --json        print the result as one JSON object\n");
}

static void bs_print_result(double secs)
{
	unsigned long long sent = g.started;
	double rate = secs > 0 ? (double)sent / secs : 0.0;
	double p50 = bs_hist_quantile(0.50), p99 = bs_hist_quantile(0.99);
	double p999 = bs_hist_quantile(0.999), pmax = (double)g.lat_max_us / 1000.0;
	double cpu = 0.0;
	struct rusage ru;

	/* Our own CPU time: on a shared machine the load generator's part
	 * (with --tls, its handshakes) comes out of the server's cores. */
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
		      ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;

	if (g.json)
		printf("{\"sent\":%llu,\"ok\":%llu,\"failed\":%llu,\"errors\":%llu,"
		       "\"lost\":%llu,\"connections\":%llu,\"seconds\":%.3f,"
		       "\"msg_per_s\":%.1f,\"latency_ms\":{\"p50\":%.3f,"
		       "\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f},"
		       "\"sessions\":%u,\"size\":%llu,\"rcpts\":%u,"
		       "\"tls\":%s,\"handshakes\":%llu,\"tls_version\":\"%s\","
		       "\"cpu_s\":%.3f}\n",
		       sent, g.ok, g.failed, g.errors, g.lost, g.connections,
		       secs, rate, p50, p99, p999, pmax, g.conc, g.size, g.rcpts,
		       g.tls ? "true" : "false", g.handshakes, g.tls_desc, cpu);
	else
		printf("sent %llu msgs (ok %llu, failed %llu, errors %llu) in %.3f s: "
		       "%.1f msg/s; latency ms p50 %.3f p99 %.3f p999 %.3f max %.3f%s",
		       sent, g.ok, g.failed, g.errors, secs, rate, p50, p99, p999,
		       pmax, g.tls ? "" : "\n");
	if (!g.json && g.tls)
		printf("; TLS handshakes %llu (%.1f/s) %s\n", g.handshakes,
		       secs > 0 ? (double)g.handshakes / secs : 0.0, g.tls_desc);
	fflush(stdout);
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

/* --tls: a client context that verifies nothing, and the -H host as SNI
 * when it is a name ("[v6]:port" and bare v6 literals send none; tls/
 * leaves out IP literals itself). */
static int bs_tls_setup(const char *target)
{
	const char *colon = strrchr(target, ':');
	char err[TLS_DETAIL_MAX];

	g.tls_ctx = tls_client_ctx_new(NULL, false, NULL, err, sizeof(err));
	if (g.tls_ctx == NULL) {
		fprintf(stderr, "sluice-bench: --tls: %s\n", err);
		return -EINVAL;
	}
	if (target[0] == '[' || (colon != NULL && strchr(target, ':') != colon))
		return 0;
	g.sni = colon != NULL ? strndup(target, (size_t)(colon - target)) :
		strdup(target);
	return g.sni != NULL ? 0 : -ENOMEM;
}

static int bs_options(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'R' },
		{ "ids", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "json", no_argument, NULL, 'J' },
		{ "tls", no_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *target = "127.0.0.1:2525", *ids = NULL;
	unsigned long long v;
	char *end;
	int c;

	g.conc = 10;
	g.total = 1000;
	g.per_conn = 10;
	g.size = 1024;
	g.rcpts = 1;
	g.from = "bench@client.test";
	g.to = "rcpt@example.test";
	g.timeout_ns = 30 * 1000000000ull;
	while ((c = getopt_long(argc, argv, "c:n:m:s:r:f:t:H:qh", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'c':
			if (bs_opt_ull("-c", optarg, 1, 1000000, &v) < 0)
				return -EINVAL;
			g.conc = (unsigned)v;
			break;
		case 'n':
			if (bs_opt_ull("-n", optarg, 1, ~0ull >> 1, &g.total) < 0)
				return -EINVAL;
			break;
		case 'm':
			if (bs_opt_ull("-m", optarg, 0, ~0u, &v) < 0)
				return -EINVAL;
			g.per_conn = (unsigned)v;
			break;
		case 's':
			if (bs_opt_ull("-s", optarg, 0, 1ull << 30, &g.size) < 0)
				return -EINVAL;
			break;
		case 'r':
			if (bs_opt_ull("-r", optarg, 1, 100000, &v) < 0)
				return -EINVAL;
			g.rcpts = (unsigned)v;
			break;
		case 'f':
			g.from = optarg;
			break;
		case 't':
			g.to = optarg;
			break;
		case 'H':
			target = optarg;
			break;
		case 'q':
			g.quiet = 1;
			break;
		case 'R':
			errno = 0;
			g.rate = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(g.rate > 0) ||
			    isinf(g.rate)) {
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
			g.timeout_ns = v * 1000000000ull;
			break;
		case 'J':
			g.json = 1;
			break;
		case 'S':
			g.tls = 1;
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
	if (strpbrk(g.from, "<>\r\n") != NULL || strpbrk(g.to, "<>\r\n") != NULL) {
		fprintf(stderr, "sluice-bench: -f/-t must be bare addresses\n");
		return -EINVAL;
	}
	if (bench_parse_addr(target, 2525, &g.addr, &g.addrlen) < 0) {
		fprintf(stderr, "sluice-bench: bad -H '%s'\n", target);
		return -EINVAL;
	}
	if (g.tls && bs_tls_setup(target) < 0)
		return -EINVAL;
	if (ids != NULL) {
		g.ids_fd = open(ids, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
				0644);
		if (g.ids_fd < 0) {
			fprintf(stderr, "sluice-bench: --ids %s: %s\n", ids,
				strerror(errno));
			return -errno;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned i, nstart;
	sigset_t sigs;
	double secs;
	int rc;

	if (bs_options(argc, argv) < 0)
		return 2;
	if (bs_build_cmds() < 0 || bs_build_body() < 0) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 2;
	}
	g.hist = calloc(BS_HIST_SIZE, sizeof(uint64_t));
	g.sess = calloc(g.conc, sizeof(struct bs_session));
	if (g.hist == NULL || g.sess == NULL) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return 2;
	}
	if (bench_raise_nofile() < 0 && !g.quiet)
		fprintf(stderr, "sluice-bench: cannot raise RLIMIT_NOFILE\n");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	g.signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	rc = bench_ring_init(&g.ring, 4096, 65536);
	if (rc < 0) {
		fprintf(stderr, "sluice-bench: io_uring: %s\n", strerror(-rc));
		return 2;
	}

	g.op_tick = (struct bench_op){ bs_tick_cb, NULL, BS_OP_TICK };
	g.tick.tv_nsec = (long long)BS_TICK_NS;
	g.op_signal = (struct bench_op){ bs_signal_cb, NULL, BS_OP_SIGNAL };
	g.t0 = bench_now_ns();
	g.rate_next = (double)g.t0;
	nstart = g.total < g.conc ? (unsigned)g.total : g.conc;
	for (i = 0; i < g.conc; i++) {
		struct bs_session *s = &g.sess[i];

		s->idx = i;
		s->fd = -1;
		s->op_conn = (struct bench_op){ bs_conn_cb, s, BS_OP_CONNECT };
		s->op_recv = (struct bench_op){ bs_recv_cb, s, BS_OP_RECV };
		s->op_send = (struct bench_op){ bs_send_cb, s, BS_OP_SEND };
		s->op_timer = (struct bench_op){ bs_timer_cb, s, BS_OP_TIMER };
		if (i < nstart)
			bs_connect(s);
		else
			bs_finish(s);
	}
	bs_arm_tick();
	if (g.signal_fd >= 0)
		bs_arm_signal();
	while (g.done < g.conc) {
		rc = bench_ring_step(&g.ring);
		if (rc < 0) {
			fprintf(stderr, "sluice-bench: io_uring: %s\n",
				strerror(-rc));
			break;
		}
	}
	secs = (double)(bench_now_ns() - g.t0) / 1e9;
	bs_print_result(secs);
	if (g.tls_ctx != NULL) {
		tls_ctx_free(g.tls_ctx);
		tls_cleanup();
	}
	if (g.fatal)
		return 2;
	return g.ok == g.total ? 0 : 1;
}
