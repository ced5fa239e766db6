/*
 * bs_smtp.c - sluice-bench's side of the SMTP dialogue: read the server's
 * replies out of in[] and decide what each one sends next.
 *
 * Per connection: the 220, EHLO (HELO when EHLO gets a 5xx), STARTTLS with
 * --tls, then -m messages and QUIT. A message is MAIL, RCPTs and DATA in
 * one write when the server offers PIPELINING (r + 2 replies collected),
 * else one command per reply; then the message and its end-of-data reply.
 * A refused transaction is counted as failed and RSET. With --rate, message
 * starts follow a token bucket. The acknowledged message's queue id goes
 * to --ids as soon as its 250 arrives.
 *
 * Replies are read with the relay's own pure reply parser: smtp_reply_parse
 * (net/smtp_proto.h) frames a whole reply, multi-line or not, and refuses
 * what is not one (a bad code, codes that differ between lines, a line
 * over 4 KiB); smtp_ehlo_parse (net/smtp_ehlo.h) reads what EHLO offers.
 * So sluice-bench holds a server to what the relay's client accepts, and
 * there is one reply reader in the tree, unit-tested and fuzzed.
 *
 * No socket I/O here: the engine (bs_engine.c) hands in what arrived
 * through bs_smtp_ops, bs_tls.c turns ciphertext into replies, and what is
 * to be sent goes back to the engine through bs_send().
 * May call: bs_tls.c, bs_engine.c, bs_stats.c, bs_state.c, bench/bench_*.c,
 * net/ (the reply parsers).
 */
#include "bench/bs_smtp.h"

#include "bench/bench_reply.h"
#include "bench/bs_engine.h"
#include "bench/bs_state.h"
#include "bench/bs_stats.h"
#include "bench/bs_tls.h"
#include "net/smtp_ehlo.h"
#include "net/smtp_proto.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define BS_ID_MAX	200			/* longest queue id written to --ids */

/* EHLO: after the 220, and again inside TLS (RFC 3207 s. 4.2). */
static void bs_ehlo(struct bs_session *s)
{
	bs_send(s, "EHLO bench.test\r\n", 17, BS_EHLO);
}

/* Send the claimed message's envelope (all at once with PIPELINING,
 * else MAIL alone) and start its latency clock. */
static void bs_start_msg(struct bs_session *s)
{
	s->txn_failed = 0;
	s->replies = 0;
	s->msg_start = bench_now_ns();
	if (s->pipelining)
		bs_send(s, bench.cmds, bench.cmds_len, BS_PIPE);
	else
		bs_send(s, bench.cmds, bench.line_off[1], BS_MAIL);
}

/* Claim the next message, or QUIT when done here. With --rate, message
 * starts follow a token bucket as deep as the session count: a fixed
 * schedule that catches up after a stall by at most one start per session. */
static void bs_next(struct bs_session *s)
{
	double now, oldest;
	uint64_t slot;

	if (bench.stop || bench.started >= bench.total ||
	    (bench.per_conn != 0 && s->conn_msgs >= bench.per_conn)) {
		bs_send(s, "QUIT\r\n", 6, BS_QUIT);
		return;
	}
	bench.started++;
	s->in_msg = 1;
	if (s->unclaimed) {
		s->unclaimed = 0;
		bench.unclaimed--;
	}
	if (bench.rate > 0) {
		now = (double)bench_now_ns();
		oldest = now - (double)bench.conc * 1e9 / bench.rate;
		if (bench.rate_next < oldest)
			bench.rate_next = oldest;
		slot = (uint64_t)bench.rate_next;
		bench.rate_next += 1e9 / bench.rate;
		if ((double)slot > now + 20000.0) {
			s->state = BS_RATE_WAIT;
			s->deadline = 0;
			bs_arm_timer(s, slot - (uint64_t)now);
			return;
		}
	}
	bs_start_msg(s);
}

/* Record the acknowledged message's queue id (bench_reply_queue_id).
 * One write(2), so the line is on disk (in the page cache) before the
 * next reply is read. */
static void bs_write_id(const struct smtp_reply *r)
{
	char buf[BS_ID_MAX + 1];
	const char *p;
	size_t n;

	bench_reply_queue_id(r, &p, &n);
	if (n > BS_ID_MAX)
		n = BS_ID_MAX;
	memcpy(buf, p, n);
	buf[n++] = '\n';
	if (write(bench.ids_fd, buf, n) != (ssize_t)n && !bench.quiet)
		fprintf(stderr, "sluice-bench: --ids write: %s\n",
			strerror(errno));
}

/* The transaction got its last reply, r. */
static void bs_msg_done(struct bs_session *s, int ok,
			const struct smtp_reply *r)
{
	s->in_msg = 0;
	s->fail_since = 0;
	s->progress = bench_now_ns();
	s->conn_msgs++;
	if (ok) {
		bench.ok++;
		bs_hist_add(bench_now_ns() - s->msg_start);
		if (bench.ids_fd >= 0)
			bs_write_id(r);
		bs_next(s);
	} else {
		bench.failed++;
		bs_send(s, "RSET\r\n", 6, BS_RSET);
	}
}

/* The reply to DATA: 354 sends the message, anything else ends the
 * transaction as failed. */
static void bs_data_reply(struct bs_session *s, const struct smtp_reply *r)
{
	if (r->code != 354) {
		s->txn_failed = 1;
		bs_msg_done(s, 0, r);
		return;
	}
	bs_send(s, bench.body, bench.body_len, BS_BODY);
}

/* A complete reply arrived. */
static void bs_reply(struct bs_session *s, const struct smtp_reply *r)
{
	char detail[256];
	int code = r->code, ok = code >= 200 && code < 300;

	switch (s->state) {
	case BS_BANNER:
		if (code != 220) {
			bs_error(s, "greeting refused", 0);
			return;
		}
		bs_ehlo(s);
		return;
	case BS_EHLO:
		if (code >= 500 && bench.tls) {
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
		if (bench.tls && !s->tls_on) {
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
			smtp_reply_flat(r, detail, sizeof(detail));
			bs_error_detail(s, "STARTTLS refused", detail);
			return;
		}
		bs_start_tls(s);
		return;
	case BS_PIPE:
		if (s->replies++ <= bench.rcpts) {
			if (!ok)
				s->txn_failed = 1;
			return;
		}
		bs_data_reply(s, r);
		return;
	case BS_MAIL:
		if (!ok) {
			s->txn_failed = 1;
			bs_msg_done(s, 0, r);
			return;
		}
		s->replies = 0;
		bs_send(s, bench.cmds + bench.line_off[1],
			bench.line_off[2] - bench.line_off[1], BS_RCPT);
		return;
	case BS_RCPT:
		if (!ok)
			s->txn_failed = 1;
		s->replies++;
		if (s->replies < bench.rcpts)
			bs_send(s, bench.cmds + bench.line_off[s->replies + 1],
				bench.line_off[s->replies + 2] -
					bench.line_off[s->replies + 1],
				BS_RCPT);
		else
			bs_send(s, bench.cmds + bench.line_off[bench.rcpts + 1],
				bench.cmds_len - bench.line_off[bench.rcpts + 1],
				BS_DATA);
		return;
	case BS_DATA:
		bs_data_reply(s, r);
		return;
	case BS_BODY:
		bs_msg_done(s, ok && !s->txn_failed, r);
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

/* Act on every complete reply in in[] and keep the rest; a malformed
 * reply is a connection error. May close s. */
static void bs_parse(struct bs_session *s)
{
	const char *p = s->in, *end = s->in + s->in_len;
	struct smtp_reply r;
	struct smtp_ehlo ehlo;
	size_t len;
	long n;

	while (!s->conn.closing) {
		n = smtp_reply_parse(p, (size_t)(end - p), &r);
		if (n == 0)
			break;
		if (n < 0) {
			bs_error(s, "malformed reply", 0);
			return;
		}
		p += n;
		if (s->state == BS_EHLO) {
			/* Only what changes what we send. */
			smtp_ehlo_parse(&r, &ehlo);
			s->pipelining = ehlo.pipelining;
			s->starttls = ehlo.starttls;
		}
		bs_reply(s, &r);
	}
	if (s->conn.closing)
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

/* Ciphertext arrived: once the handshake is done, EHLO again (it follows
 * the Finished out), then act on every reply TLS yields. */
static void bs_tls_input(struct bs_session *s, size_t n)
{
	int rc = bs_tls_feed(s, n);

	if (rc < 0)
		return;
	if (rc == 1) {
		bs_ehlo(s);
		if (s->conn.closing)
			return;
	}
	while (bs_tls_read(s) > 0) {
		bs_parse(s);
		if (s->conn.closing)
			return;
	}
}

/* n bytes arrived from the engine: replies, or TLS records of them. */
static void bs_input(struct bs_session *s, size_t n)
{
	if (s->tls != NULL) {
		bs_tls_input(s, n);
		return;
	}
	s->in_len += n;
	bs_parse(s);
}

const struct bs_proto_ops bs_smtp_ops = {
	.input = bs_input,
	.rate_slot = bs_start_msg,
};
