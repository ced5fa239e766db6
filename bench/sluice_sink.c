/*
 * sluice_sink.c - sluice-sink, an io_uring SMTP sink with fault modes.
 *
 * The downstream server of Sluice's integration tests and benchmarks. It
 * speaks enough ESMTP for a relay's client side (PIPELINING, 8BITMIME,
 * SIZE, ENHANCEDSTATUSCODES, SMTPUTF8, DSN with --dsn, STARTTLS with
 * --tls-cert; no AUTH, no CHUNKING) and can misbehave on purpose: stay
 * silent, greet with an error, reset the connection mid-DATA, answer
 * slowly, refuse EHLO, fail chosen recipients, hide or refuse STARTTLS,
 * stall the STARTTLS 220. It is not a mail store: --out writes what it
 * accepted so a test can look at it, without fsync; a message that came
 * over TLS carries an X-Sink-TLS: <version> line, and every message the
 * exact MAIL and RCPT command lines it came with.
 *
 * It is as strict as the strictest real servers, because it is what the
 * relay's client is tested against: MAIL and RCPT lines are checked by
 * sink_check.c (advertised parameters only, well-formed values and paths,
 * no control or 8-bit bytes where they are not allowed: 501/553/555), a
 * command line with a control byte or a bare LF ending is refused, and a
 * client that pipelines without PIPELINING (or puts a command after one
 * that must end a group, RFC 2920 s. 3.1) is told 554 5.5.0 and dropped,
 * as Postfix does. Each refusal is written to stderr with the offending
 * line escaped, so a test can show what the client sent. What is
 * advertised can be varied like real servers do it: SIZE with a number,
 * bare SIZE, SIZE 0 (Postfix with message_size_limit = 0) or no SIZE
 * (--size), and HELO only (--helo-only: EHLO gets 502).
 *
 * One thread, one ring. A session owns a fixed input buffer and a reply
 * buffer; at most one recv, one send and one timeout are in flight per
 * session, and each points its user_data at an op record inside the
 * session. A session is freed only when all three have completed (closing
 * cancels them first), so no CQE can reach freed memory. Input is parsed
 * only while no reply batch is being sent or delayed: that keeps pipelined
 * replies in order, one write per batch, and gives back-pressure for free.
 *
 * STARTTLS (RFC 3207) uses tls/ over memory buffers, so the ring still does
 * all socket I/O. Once STARTTLS is accepted, unparsed plaintext is thrown
 * away and every byte received after it is ciphertext: recv lands in the
 * session's tin[] buffer and goes to tls_feed; tls_read fills in[] with
 * plaintext for the same parser. Replies are still batched in out[], then
 * encrypted as a whole with tls_write and sent from tls_out_ptr (pinned
 * until the send completes: see tls/tls.h). The SMTP state resets when the
 * handshake completes, and a new EHLO is required.
 */
#include "bench/bench_common.h"
#include "bench/sink_check.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#define SINK_IN_CAP	16384		/* per-session input buffer */
#define SINK_OUT_CAP	4096		/* per-session reply buffer */
#define SINK_OUT_LOW	640		/* parse on only while this much room is left */
#define SINK_LINE_MAX	4096		/* longest command line, CRLF excluded */
#define SINK_ADDR_SHOW	256		/* longest address echoed in a reply */
#define SINK_MSG_MAX	104857600ull	/* default SIZE; the --out limit without one */
#define SINK_RCPT_MAX	100000u		/* recipients per transaction */
#define SINK_COUNT_NS	50000000ull	/* --count-file rewrite interval */
#define SINK_HOSTNAME	"sink.test"
#define SINK_TLS_IN	16384		/* ciphertext recv buffer (after STARTTLS) */

enum sink_mode {
	SINK_MODE_ACCEPT,	/* a well-behaved server */
	SINK_MODE_BLACKHOLE,	/* accept TCP, never say anything */
	SINK_MODE_BANNER,	/* greet with an error code, then close */
	SINK_MODE_CLOSE_AFTER,	/* RST after N bytes of DATA payload */
	SINK_MODE_SLOW,		/* delay every reply batch */
	SINK_MODE_EHLO,		/* answer EHLO/HELO with an error code */
};

enum sink_op_kind {
	SINK_OP_RECV,
	SINK_OP_SEND,
	SINK_OP_TIMER,
	SINK_OP_ACCEPT,
	SINK_OP_ACCEPT_RETRY,
	SINK_OP_COUNT_TIMER,
	SINK_OP_SIGNAL,
};

/* How SIZE is advertised (--size). */
enum sink_size {
	SINK_SIZE_NUMBER,	/* "SIZE <n>" (n may be 0: no limit) */
	SINK_SIZE_BARE,		/* "SIZE", no number */
	SINK_SIZE_NONE,		/* not at all */
};

/* A list of --tempfail / --user-unknown / --reject-data substrings; the
 * strings point into argv. */
struct sink_patterns {
	const char **v;		/* the substrings */
	size_t n;		/* how many */
};

/* Growable byte buffer, used only in --out mode (the one place a message
 * may be copied to the heap). Kept across messages of a session and across
 * sessions (with the session object) so steady state does not allocate. */
struct sink_buf {
	char *p;		/* heap storage, NULL until first use */
	size_t len;		/* bytes used */
	size_t cap;		/* bytes allocated */
};

/* One SMTP connection. Pooled on a free list: allocated once, reused for
 * later connections, never freed while an op still points into it. */
struct sink_session {
	struct bench_op op_recv;	/* recv into in[] (TLS: into tin) */
	struct bench_op op_send;	/* send of out[out_sent..out_len), or of
					   tls_out_ptr() once TLS is on */
	struct bench_op op_timer;	/* slow= delay before the next send */
	struct __kernel_timespec delay;	/* slow= delay; read by the kernel at submit */
	struct sink_session *next_free;	/* free-list link while unused */
	int fd;				/* the connection */
	unsigned inflight;		/* ops submitted and not yet completed */
	unsigned recv_armed : 1;	/* op_recv in flight */
	unsigned send_armed : 1;	/* op_send in flight */
	unsigned timer_armed : 1;	/* op_timer in flight */
	unsigned slow_done : 1;		/* current batch has served its delay */
	unsigned closing : 1;		/* cancelling ops; free when inflight == 0 */
	unsigned quit : 1;		/* close once out[] is sent; parse no more */
	unsigned eof : 1;		/* the client closed its side */
	unsigned discard : 1;		/* skipping the rest of an over-long line */
	unsigned helo_ok : 1;		/* a HELO/EHLO was accepted */
	unsigned ehlo : 1;		/* it was EHLO: extensions apply */
	unsigned utf8_txn : 1;		/* this transaction's MAIL had SMTPUTF8 */
	unsigned has_mail : 1;		/* MAIL accepted, transaction open */
	unsigned in_data : 1;		/* reading DATA payload */
	unsigned data_bol : 1;		/* payload scanner is at a line start */
	unsigned reject_hit : 1;	/* an accepted RCPT matches --reject-data */
	unsigned too_big : 1;		/* --out copy exceeded SINK_MSG_MAX */
	unsigned store_failed : 1;	/* --out copy could not be allocated */
	unsigned recv_tls : 1;		/* op_recv targets tin, not in[] */
	unsigned send_tls : 1;		/* op_send sends tls output */
	unsigned tls_rx : 1;		/* STARTTLS accepted: input is TLS */
	unsigned tls_tx : 1;		/* its 220 is sent: output is TLS */
	unsigned tls_up : 1;		/* handshake done */
	unsigned tls_bye : 1;		/* close_notify queued */
	unsigned tls_dead : 1;		/* handshake failed: flush the alert, close */
	unsigned tls_want : 1;		/* TLS input used up: recv may add more
					   (keeps tls_feed under TLS_IN_MAX) */
	unsigned nrcpt;			/* accepted recipients in this transaction */
	size_t recv_off;		/* where in in[] op_recv writes */
	struct tls_conn *tls;		/* the TLS session, NULL before STARTTLS */
	unsigned long long data_bytes;	/* raw DATA payload bytes this session */
	size_t in_off;			/* parsed prefix of in[] */
	size_t in_len;			/* bytes received into in[] */
	size_t out_len;			/* reply bytes queued in out[] */
	size_t out_sent;		/* of those, bytes the kernel accepted */
	struct sink_buf env;		/* --out: X-Sink-From/To header lines */
	struct sink_buf msg;		/* --out: unstuffed payload */
	char *tin;			/* SINK_TLS_IN bytes of ciphertext recv
					   space, allocated at the first STARTTLS
					   and kept with the pooled session */
	char in[SINK_IN_CAP];		/* received, unparsed input (plaintext) */
	char out[SINK_OUT_CAP];		/* pending replies, sent as one batch */
};

/* Program state: configuration, the ring and the counters. One instance,
 * touched only by the main thread. */
struct sink {
	struct io_uring ring;			/* the only ring */
	enum sink_mode mode;			/* --mode */
	int mode_code;				/* banner= / ehlo= reply code */
	unsigned long long close_after;		/* close-after= byte count */
	unsigned slow_ms;			/* slow= delay */
	struct sink_patterns tempfail;		/* --tempfail */
	struct sink_patterns unknown;		/* --user-unknown */
	struct sink_patterns reject;		/* --reject-data */
	const char *out_dir;			/* --out, or NULL */
	int out_dirfd;				/* open --out directory */
	const char *count_file;			/* --count-file, or NULL */
	struct tls_ctx *tls_ctx;		/* --tls-cert/--tls-key, or NULL */
	int no_starttls;			/* --mode no-starttls */
	int starttls_reply;			/* --starttls-reply CODE, or 0 */
	unsigned starttls_delay_ms;		/* --starttls-delay: hold the 220 */
	enum sink_size size_mode;		/* --size */
	unsigned long long size_max;		/* its number (0: no limit) */
	int helo_only;				/* --helo-only: EHLO gets 502 */
	int dsn;				/* --dsn: advertise DSN */
	unsigned long long refused;		/* commands refused as malformed */
	int listen_fd;				/* listening socket */
	struct bench_op op_accept;		/* multishot accept */
	struct bench_op op_accept_retry;	/* back-off after EMFILE & co. */
	struct __kernel_timespec accept_delay;	/* that back-off */
	struct bench_op op_count;		/* --count-file rewrite timer */
	struct __kernel_timespec count_delay;	/* SINK_COUNT_NS */
	int count_timer_armed;			/* op_count in flight */
	int count_dirty;			/* counters changed since last write */
	struct bench_op op_signal;		/* read on signal_fd */
	int signal_fd;				/* SIGINT/SIGTERM */
	struct signalfd_siginfo siginfo;	/* signal read target */
	int stop;				/* a signal asked us to exit */
	struct sink_session *free_list;		/* sessions ready for reuse */
	unsigned long long msg_seq;		/* last queue id handed out */
	unsigned long long messages;		/* accepted messages */
	unsigned long long recipients;		/* recipients of those */
	unsigned long long sessions;		/* connections accepted */
	unsigned long long active;		/* connections open now */
	int accept_warned;			/* EMFILE logged once */
};

static struct sink g;

static void sink_pump(struct sink_session *s);
static void sink_close(struct sink_session *s, int abort_conn);
static void sink_count_changed(void);

/* ---- small string helpers ---------------------------------------------- */

static char *sink_u64(char *p, unsigned long long v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static int sink_match(const struct sink_patterns *pat, const char *addr,
		      size_t len)
{
	size_t i;

	for (i = 0; i < pat->n; i++)
		if (memmem(addr, len, pat->v[i], strlen(pat->v[i])) != NULL)
			return 1;
	return 0;
}

static int sink_buf_add(struct sink_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- replies ------------------------------------------------------------ */

static void sink_reply(struct sink_session *s, const char *text, size_t len)
{
	/* The parser stops while less than SINK_OUT_LOW is free, and no
	 * single reply is longer than that; this is a last guard. */
	if (len > SINK_OUT_CAP - s->out_len)
		len = SINK_OUT_CAP - s->out_len;
	memcpy(s->out + s->out_len, text, len);
	s->out_len += len;
}

#define SINK_REPLY(s, lit) sink_reply((s), lit, sizeof(lit) - 1)

static void sink_reply_code(struct sink_session *s, int code,
			    const char *rest)
{
	char buf[160];
	int n;

	n = snprintf(buf, sizeof(buf), "%d %d.%s\r\n", code, code / 100, rest);
	if (n > 0)
		sink_reply(s, buf, (size_t)n < sizeof(buf) ? (size_t)n :
			   sizeof(buf) - 1);
}

/* ---- --out and --count-file -------------------------------------------- */

static int sink_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write the finished message as <seq>.eml (temp name, then rename). */
static int sink_store(struct sink_session *s, unsigned long long seq)
{
	char tmp[64], name[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%llu.eml.tmp", seq);
	snprintf(name, sizeof(name), "%llu.eml", seq);
	fd = openat(g.out_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "sluice-sink: %s/%s: %s\n", g.out_dir, tmp,
			strerror(-rc));
		return rc;
	}
	rc = sink_write_all(fd, s->env.p, s->env.len);
	if (rc == 0)
		rc = sink_write_all(fd, s->msg.p, s->msg.len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(g.out_dirfd, tmp, g.out_dirfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		fprintf(stderr, "sluice-sink: %s/%s: %s\n", g.out_dir, name,
			strerror(-rc));
		unlinkat(g.out_dirfd, tmp, 0);
	}
	return rc;
}

static void sink_count_write(void)
{
	char tmp[4096 + 8], buf[128];
	int fd, n;

	g.count_dirty = 0;
	if (g.count_file == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "messages=%llu recipients=%llu sessions=%llu "
		     "refused=%llu\n", g.messages, g.recipients, g.sessions, g.refused);
	snprintf(tmp, sizeof(tmp), "%s.tmp", g.count_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, g.count_file) < 0)
		goto fail;
	return;
fail:
	fprintf(stderr, "sluice-sink: %s: %s\n", g.count_file, strerror(errno));
}

static void sink_count_cb(struct bench_op *op, int res, unsigned flags)
{
	g.count_timer_armed = 0;
	if (g.count_dirty)
		sink_count_write();
}

/* Counters changed: rewrite the count file within SINK_COUNT_NS. */
static void sink_count_changed(void)
{
	struct io_uring_sqe *sqe;

	g.count_dirty = 1;
	if (g.count_file == NULL || g.count_timer_armed)
		return;
	sqe = bench_sqe(&g.ring, &g.op_count);
	if (sqe == NULL) {
		sink_count_write();
		return;
	}
	io_uring_prep_timeout(sqe, &g.count_delay, 0, 0);
	g.count_timer_armed = 1;
}

/* ---- SMTP commands ------------------------------------------------------- */

static void sink_txn_reset(struct sink_session *s)
{
	s->has_mail = 0;
	s->utf8_txn = 0;
	s->in_data = 0;
	s->reject_hit = 0;
	s->too_big = 0;
	s->store_failed = 0;
	s->nrcpt = 0;
	s->env.len = 0;
	s->msg.len = 0;
}

/* What this session's greeting advertised: nothing after HELO. */
static void sink_ext_of(const struct sink_session *s, struct sink_ext *ext)
{
	memset(ext, 0, sizeof(*ext));
	if (!s->ehlo)
		return;
	ext->size = g.size_mode != SINK_SIZE_NONE;
	ext->size_max = g.size_mode == SINK_SIZE_NUMBER ? g.size_max : 0;
	ext->eightbit = true;
	ext->smtputf8 = true;
	ext->dsn = g.dsn != 0;
}

/* Tell stderr which line was refused with what, bytes outside printable
 * ASCII escaped (the point is to show garbage a client sent). */
static void sink_log_refused(const char *line, size_t len, const char *reply)
{
	static const char hex[] = "0123456789abcdef";
	char esc[SINK_LINE_MAX * 4 + 1];
	size_t i, n = 0, rl = strcspn(reply, "\r\n");

	for (i = 0; i < len && n + 4 < sizeof(esc); i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			esc[n++] = (char)ch;
		} else {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[ch >> 4];
			esc[n++] = hex[ch & 15];
		}
	}
	esc[n] = '\0';
	g.refused++;
	sink_count_changed();
	fprintf(stderr, "sluice-sink: refused \"%s\": %.*s\n", esc, (int)rl, reply);
}

/* Refuse line with reply (a whole reply line, CRLF included). */
static void sink_refuse(struct sink_session *s, const char *line, size_t len,
			const char *reply)
{
	sink_log_refused(line, len, reply);
	sink_reply(s, reply, strlen(reply));
}

/* --out: "name: value" CRLF into the envelope header lines. */
static void sink_env_line(struct sink_session *s, const char *name,
			  const char *v, size_t n)
{
	if (g.out_dir != NULL &&
	    (sink_buf_add(&s->env, name, strlen(name)) < 0 ||
	     sink_buf_add(&s->env, v, n) < 0 ||
	     sink_buf_add(&s->env, "\r\n", 2) < 0))
		s->store_failed = 1;
}

static int sink_starttls_offered(void);

static void sink_cmd_helo(struct sink_session *s, int ehlo, const char *line,
			  size_t len)
{
	char size[48];

	sink_txn_reset(s);
	if (g.mode == SINK_MODE_EHLO) {
		s->helo_ok = 0;
		sink_reply_code(s, g.mode_code, "7.1 EHLO/HELO rejected for test");
		return;
	}
	if (ehlo && g.helo_only) {
		/* A server that only knows RFC 821: the client falls back
		 * to HELO, and this session advertises nothing. */
		s->helo_ok = 0;
		s->ehlo = 0;
		SINK_REPLY(s, "502 5.5.2 Error: command not recognized\r\n");
		return;
	}
	if (len <= 5) {		/* RFC 5321: the client names itself */
		sink_refuse(s, line, len, "501 5.5.4 Syntax: EHLO/HELO hostname\r\n");
		return;
	}
	s->helo_ok = 1;
	s->ehlo = ehlo != 0;
	if (!ehlo) {
		SINK_REPLY(s, "250 " SINK_HOSTNAME "\r\n");
		return;
	}
	SINK_REPLY(s, "250-" SINK_HOSTNAME "\r\n");
	if (!g.helo_only)
		SINK_REPLY(s, "250-PIPELINING\r\n");
	if (g.size_mode == SINK_SIZE_NUMBER) {
		snprintf(size, sizeof(size), "250-SIZE %llu\r\n", g.size_max);
		sink_reply(s, size, strlen(size));
	} else if (g.size_mode == SINK_SIZE_BARE) {
		SINK_REPLY(s, "250-SIZE\r\n");
	}
	SINK_REPLY(s, "250-8BITMIME\r\n"
		   "250-ENHANCEDSTATUSCODES\r\n");
	if (g.dsn)
		SINK_REPLY(s, "250-DSN\r\n");
	if (sink_starttls_offered() && !s->tls_rx)
		SINK_REPLY(s, "250-STARTTLS\r\n");
	SINK_REPLY(s, "250 SMTPUTF8\r\n");
}

/* STARTTLS is listed in EHLO replies (and answered) at all. */
static int sink_starttls_offered(void)
{
	return !g.no_starttls && (g.tls_ctx != NULL || g.starttls_reply != 0);
}

/* STARTTLS (RFC 3207): answer 220, then everything after is TLS. */
static void sink_cmd_starttls(struct sink_session *s, int has_args)
{
	if (!sink_starttls_offered()) {
		SINK_REPLY(s, "502 5.5.1 Error: command not implemented\r\n");
		return;
	}
	if (s->tls_rx) {
		SINK_REPLY(s, "554 5.5.1 Error: TLS already active\r\n");
		return;
	}
	if (has_args) {
		SINK_REPLY(s, "501 5.5.4 Syntax: STARTTLS\r\n");
		return;
	}
	if (g.starttls_reply != 0) {
		sink_reply_code(s, g.starttls_reply, "7.0 TLS not available");
		return;
	}
	if (s->tin == NULL)
		s->tin = malloc(SINK_TLS_IN);
	if (s->tin != NULL && s->tls == NULL)
		s->tls = tls_conn_new(g.tls_ctx, true, NULL);
	if (s->tin == NULL || s->tls == NULL) {
		SINK_REPLY(s, "454 4.7.0 TLS not available due to local problem\r\n");
		return;
	}
	SINK_REPLY(s, "220 2.0.0 Ready to start TLS\r\n");
	/* Pipelined plaintext after STARTTLS is discarded (RFC 3207 s. 5);
	 * whatever arrives from now on is the TLS handshake. */
	s->in_off = s->in_len;
	s->tls_rx = 1;
	sink_txn_reset(s);
	s->helo_ok = 0;
	s->ehlo = 0;
	if (g.starttls_delay_ms > 0)
		fprintf(stderr, "sluice-sink: STARTTLS accepted, 220 held for %u ms\n",
			g.starttls_delay_ms);
}

/* --out: X-Sink-TLS: <version>, plus the cipher and SNI the session had. */
static int sink_tls_headers(struct sink_session *s)
{
	char line[512];
	const char *sni = tls_sni(s->tls);
	int n;

	n = snprintf(line, sizeof(line), "X-Sink-TLS: %s\r\nX-Sink-TLS-Cipher: %s\r\n",
		     tls_version(s->tls), tls_cipher(s->tls));
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    sink_buf_add(&s->env, line, (size_t)n) < 0)
		return -1;
	if (sni == NULL)
		return 0;
	n = snprintf(line, sizeof(line), "X-Sink-TLS-SNI: %s\r\n", sni);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return sink_buf_add(&s->env, line, (size_t)n);
}

static void sink_cmd_mail(struct sink_session *s, const char *line,
			  size_t len)
{
	char reply[SINK_CHECK_REPLY];
	struct sink_ext ext;
	struct sink_path path;
	int rc;

	/* After STARTTLS the client must say EHLO again (RFC 3207 s. 4.2). */
	if ((g.mode == SINK_MODE_EHLO || s->tls_up || g.helo_only) && !s->helo_ok) {
		SINK_REPLY(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		return;
	}
	if (s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: nested MAIL command\r\n");
		return;
	}
	sink_ext_of(s, &ext);
	rc = len < 5 ? -EINVAL : sink_check_mail(&ext, line + 5, len - 5, &path, reply);
	if (rc == -EFBIG) {	/* well-formed, only too big */
		sink_reply(s, reply, strlen(reply));
		return;
	}
	if (rc < 0) {
		if (len < 5)
			snprintf(reply, sizeof(reply), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		sink_refuse(s, line, len, reply);
		return;
	}
	sink_txn_reset(s);
	s->utf8_txn = path.utf8;
	sink_env_line(s, "X-Sink-Mail: ", line, len);
	if (path.alen)
		sink_env_line(s, "X-Sink-From: ", path.addr, path.alen);
	else
		sink_env_line(s, "X-Sink-From: ", "<>", 2);
	if (g.out_dir != NULL && s->tls_up && sink_tls_headers(s) < 0)
		s->store_failed = 1;
	s->has_mail = 1;
	SINK_REPLY(s, "250 2.1.0 Ok\r\n");
}

static void sink_cmd_rcpt(struct sink_session *s, const char *line,
			  size_t len)
{
	char reply[SINK_CHECK_REPLY];
	struct sink_ext ext;
	struct sink_path path;
	const char *addr;
	size_t alen;

	if (!s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	sink_ext_of(s, &ext);
	if (len < 5 || sink_check_rcpt(&ext, s->utf8_txn, line + 5, len - 5, &path,
				       reply) < 0) {
		if (len < 5)
			snprintf(reply, sizeof(reply), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		sink_refuse(s, line, len, reply);
		return;
	}
	addr = path.addr;
	alen = path.alen;
	if (s->nrcpt >= SINK_RCPT_MAX) {
		SINK_REPLY(s, "452 4.5.3 Error: too many recipients\r\n");
		return;
	}
	if (sink_match(&g.tempfail, addr, alen)) {
		SINK_REPLY(s, "451 4.2.0 tempfail for test\r\n");
		return;
	}
	if (sink_match(&g.unknown, addr, alen)) {
		SINK_REPLY(s, "550 5.1.1 <");
		sink_reply(s, addr, alen < SINK_ADDR_SHOW ? alen : SINK_ADDR_SHOW);
		SINK_REPLY(s, ">: user unknown\r\n");
		return;
	}
	if (sink_match(&g.reject, addr, alen))
		s->reject_hit = 1;
	sink_env_line(s, "X-Sink-Rcpt: ", line, len);
	sink_env_line(s, "X-Sink-To: ", addr, alen);
	s->nrcpt++;
	SINK_REPLY(s, "250 2.1.5 Ok\r\n");
}

static void sink_cmd_data(struct sink_session *s)
{
	if (!s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	if (s->nrcpt == 0) {
		SINK_REPLY(s, "554 5.5.1 Error: no valid recipients\r\n");
		return;
	}
	s->in_data = 1;
	s->data_bol = 1;
	s->msg.len = 0;
	SINK_REPLY(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* The terminating dot arrived: answer the transaction. */
static void sink_data_end(struct sink_session *s)
{
	char buf[64], *p;
	unsigned long long seq;

	if (s->reject_hit) {
		SINK_REPLY(s, "554 5.6.0 rejected\r\n");
	} else if (s->too_big) {
		SINK_REPLY(s, "552 5.3.4 Error: message too big\r\n");
	} else if (s->store_failed) {
		SINK_REPLY(s, "451 4.3.0 Error: cannot store message\r\n");
	} else {
		seq = ++g.msg_seq;
		if (g.out_dir != NULL && sink_store(s, seq) < 0) {
			SINK_REPLY(s, "451 4.3.0 Error: cannot store message\r\n");
		} else {
			p = buf;
			memcpy(p, "250 2.0.0 Ok: queued as S", 25);
			p = sink_u64(p + 25, seq);
			*p++ = '\r';
			*p++ = '\n';
			sink_reply(s, buf, (size_t)(p - buf));
			g.messages++;
			g.recipients += s->nrcpt;
			sink_count_changed();
		}
	}
	sink_txn_reset(s);
}

/*
 * A command that may not be followed by another before its reply: every
 * one when PIPELINING was not advertised, and with it those RFC 2920
 * s. 3.1 and RFC 3207 s. 4.2 put last in a group.
 */
static int sink_group_ends(const struct sink_session *s, const char *line,
			   size_t len)
{
	static const char *const last[] = { "EHLO", "HELO", "DATA", "QUIT", "NOOP",
					    "STARTTLS", "VRFY", "EXPN" };
	size_t i, n;

	if (!s->ehlo || g.helo_only)
		return 1;
	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		n = strlen(last[i]);
		if (len >= n && strncasecmp(line, last[i], n) == 0 &&
		    (len == n || line[n] == ' '))
			return 1;
	}
	return 0;
}

/* One command line, CRLF stripped. */
static void sink_command(struct sink_session *s, const char *line,
			 size_t len)
{
	if (len >= 8 && strncasecmp(line, "STARTTLS", 8) == 0 &&
	    (len == 8 || line[8] == ' ')) {
		sink_cmd_starttls(s, len > 8);
		return;
	}
	if (len < 4 || (len > 4 && line[4] != ' ')) {
		SINK_REPLY(s, "500 5.5.2 Error: command not recognized\r\n");
		return;
	}
	if (strncasecmp(line, "MAIL", 4) == 0)
		sink_cmd_mail(s, line, len);
	else if (strncasecmp(line, "RCPT", 4) == 0)
		sink_cmd_rcpt(s, line, len);
	else if (strncasecmp(line, "DATA", 4) == 0)
		sink_cmd_data(s);
	else if (strncasecmp(line, "EHLO", 4) == 0)
		sink_cmd_helo(s, 1, line, len);
	else if (strncasecmp(line, "HELO", 4) == 0)
		sink_cmd_helo(s, 0, line, len);
	else if (strncasecmp(line, "RSET", 4) == 0) {
		sink_txn_reset(s);
		SINK_REPLY(s, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "NOOP", 4) == 0) {
		SINK_REPLY(s, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		SINK_REPLY(s, "221 2.0.0 Bye\r\n");
		s->quit = 1;
	} else {
		SINK_REPLY(s, "500 5.5.2 Error: command not recognized\r\n");
	}
}

/* Payload bytes, already unstuffed: keep them only in --out mode. */
static void sink_data_emit(struct sink_session *s, const char *p, size_t n)
{
	unsigned long long max = g.size_mode == SINK_SIZE_NUMBER && g.size_max > 0 ?
		g.size_max : SINK_MSG_MAX;

	if (g.out_dir == NULL || n == 0 || s->too_big || s->store_failed)
		return;
	if (s->msg.len + n > max) {
		s->too_big = 1;
		return;
	}
	if (sink_buf_add(&s->msg, p, n) < 0)
		s->store_failed = 1;
}

/* Scan DATA payload in p[0..n): unstuff dots and find the terminating
 * line. Returns bytes consumed; *done is set when the end was consumed.
 * Leaves at most two bytes unconsumed when a line starting with '.' is
 * split across reads. Bare LF line ends are accepted. */
static size_t sink_data_scan(struct sink_session *s, const char *p, size_t n,
			     int *done)
{
	const char *start = p, *end = p + n, *nl, *seg;

	*done = 0;
	while (p < end) {
		if (s->data_bol && *p == '.') {
			if (end - p < 2)
				break;
			if (p[1] == '\n') {
				p += 2;
				*done = 1;
				break;
			}
			if (p[1] == '\r') {
				if (end - p < 3)
					break;
				if (p[2] == '\n') {
					p += 3;
					*done = 1;
					break;
				}
			}
			p++;	/* a stuffed dot */
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl ? nl + 1 : end;
		sink_data_emit(s, p, (size_t)(seg - p));
		s->data_bol = nl != NULL;
		p = seg;
	}
	return (size_t)(p - start);
}

/* Parse as much input as the reply buffer allows. */
static void sink_parse(struct sink_session *s)
{
	char *p, *end, *nl;
	size_t len, used;
	int done, bare_lf;

	if (g.mode == SINK_MODE_BLACKHOLE) {
		s->in_off = s->in_len = 0;
		return;
	}
	while (!s->quit && !s->closing && s->in_off < s->in_len &&
	       !(s->tls_rx && !s->tls_up) &&
	       SINK_OUT_CAP - s->out_len >= SINK_OUT_LOW) {
		p = s->in + s->in_off;
		end = s->in + s->in_len;
		if (s->in_data) {
			used = sink_data_scan(s, p, (size_t)(end - p), &done);
			s->in_off += used;
			s->data_bytes += used;
			if (g.mode == SINK_MODE_CLOSE_AFTER && used > 0 &&
			    s->data_bytes >= g.close_after) {
				sink_close(s, 1);
				return;
			}
			if (!done)
				break;
			sink_data_end(s);
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if ((size_t)(end - p) > SINK_LINE_MAX + 1) {
				/* Too long already: drop it, answer at its end. */
				s->discard = 1;
				s->in_off = s->in_len;
			}
			break;
		}
		s->in_off += (size_t)(nl + 1 - p);
		if (s->discard) {
			s->discard = 0;
			SINK_REPLY(s, "500 5.5.2 Error: line too long\r\n");
			continue;
		}
		len = (size_t)(nl - p);
		bare_lf = len == 0 || p[len - 1] != '\r';
		if (!bare_lf)
			len--;
		if (len > SINK_LINE_MAX) {
			SINK_REPLY(s, "500 5.5.2 Error: line too long\r\n");
			continue;
		}
		/* Strict like real servers: a line must end in CRLF and hold
		 * no control byte (a CR inside ends the line for some). */
		if (bare_lf) {
			sink_refuse(s, p, len, "500 5.5.2 Error: bare <LF> received\r\n");
			continue;
		}
		if (sink_check_ctl(p, len) < 0) {
			sink_refuse(s, p, len, "500 5.5.2 Error: bad character in command\r\n");
			continue;
		}
		/* Input already behind a command that must wait for its
		 * reply: the client did not wait (Postfix's
		 * smtpd_forbid_unauth_pipelining answer). */
		if (s->in_off < s->in_len && sink_group_ends(s, p, len)) {
			sink_refuse(s, p, len,
				    "554 5.5.0 Error: SMTP protocol synchronization\r\n");
			s->quit = 1;
			continue;
		}
		sink_command(s, p, len);
	}
	if (s->in_off == s->in_len) {
		s->in_off = s->in_len = 0;
	} else if (s->in_off > 0) {
		memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
		s->in_len -= s->in_off;
		s->in_off = 0;
	}
}

/* ---- session I/O --------------------------------------------------------- */

static void sink_free(struct sink_session *s)
{
	close(s->fd);
	s->fd = -1;
	/* No op is in flight any more, so no send still points into the
	 * TLS output buffers. */
	tls_conn_free(s->tls);
	s->tls = NULL;
	s->next_free = g.free_list;
	g.free_list = s;
	g.active--;
}

/* Ends every completion callback: the op stops counting only after the
 * callback has acted, so a close started inside it completes here and the
 * session is never freed under the callback's feet. */
static void sink_op_end(struct sink_session *s)
{
	s->inflight--;
	if (s->closing && s->inflight == 0)
		sink_free(s);
}

/* Ciphertext output not yet sent (0 before TLS output starts). */
static size_t sink_tls_pending(const struct sink_session *s)
{
	return s->tls_tx ? tls_out_pending(s->tls) : 0;
}

/* Run the handshake; once it is done, decrypt into in[] while there is
 * room. Returns plaintext bytes added to in[], or -1 if the session is
 * closing or quitting because of it. */
static long sink_tls_in(struct sink_session *s)
{
	char detail[TLS_DETAIL_MAX];
	long n, got = 0;
	int rc;

	if (s->tls_dead)
		return -1;
	if (!s->tls_up) {
		rc = tls_handshake(s->tls);
		if (rc == 0) {
			s->tls_want = 1;
			return 0;
		}
		if (rc < 0) {
			tls_failure(s->tls, detail, sizeof(detail));
			fprintf(stderr, "sluice-sink: STARTTLS: %s\n",
				detail);
			/* Send the alert wolfSSL queued, then close. */
			s->tls_dead = 1;
			s->quit = 1;
			return -1;
		}
		/* A fresh session (RFC 3207 s. 4.2): forget what came before. */
		s->tls_up = 1;
		s->helo_ok = 0;
		s->ehlo = 0;
		sink_txn_reset(s);
	}
	/* Input wanted only once wolfSSL has used up what it was fed; while
	 * in[] is full, records wait there and recv pauses. */
	s->tls_want = 0;
	while (s->in_len < SINK_IN_CAP) {
		n = tls_read(s->tls, s->in + s->in_len, SINK_IN_CAP - s->in_len);
		if (n > 0) {
			s->in_len += (size_t)n;
			got += n;
			continue;
		}
		if (n == 0) {
			s->tls_want = 1;
			break;
		}
		if (n == -ESHUTDOWN || n == -ECONNRESET) {
			/* close_notify (answer it) or a bare EOF: no more input;
			 * answer what was sent, then close. */
			s->eof = 1;
			s->tls_want = 1;	/* nothing more will come */
			if (n == -ESHUTDOWN && !s->tls_bye) {
				s->tls_bye = 1;
				tls_shutdown(s->tls);
			}
			break;
		}
		tls_failure(s->tls, detail, sizeof(detail));
		fprintf(stderr, "sluice-sink: TLS: %s\n", detail);
		sink_close(s, 1);
		return -1;
	}
	return got;
}

/* Parse what there is. With TLS, go on decrypting as parsing makes room
 * in in[], until a reply is waiting or wolfSSL has used up its input
 * (records left behind would otherwise wait for a recv that the client,
 * waiting for our reply, never feeds). */
static void sink_feed_parse(struct sink_session *s)
{
	for (;;) {
		if (s->tls_rx && sink_tls_in(s) < 0)
			return;
		if (s->closing)
			return;
		sink_parse(s);
		if (!s->tls_rx || !s->tls_up || s->tls_want || s->closing ||
		    s->quit || s->out_len > 0)
			return;
	}
}

static void sink_recv_done(struct sink_session *s, int res)
{
	const char *data;

	if (res > 0) {
		if (s->tls_rx) {
			/* Ciphertext, normally in tin; but a recv into in[]
			 * posted before STARTTLS was accepted carries the
			 * first handshake bytes. */
			data = s->recv_tls ? s->tin : s->in + s->recv_off;
			if (tls_feed(s->tls, data, (size_t)res) < 0) {
				sink_close(s, 1);
				return;
			}
			s->tls_want = 0;
		} else {
			/* The parser may have compacted in[] while the recv
			 * was in flight: move the bytes to the end of it. */
			if (s->recv_off != s->in_len)
				memmove(s->in + s->in_len, s->in + s->recv_off,
					(size_t)res);
			s->in_len += (size_t)res;
		}
	} else if (res == 0) {
		/* The client half-closed: answer what it sent, then close. */
		s->eof = 1;
		if (s->tls != NULL)
			tls_eof(s->tls);
	} else if (res != -EINTR && res != -EAGAIN && res != -ENOBUFS) {
		sink_close(s, 1);
		return;
	}
	sink_pump(s);
}

static void sink_recv_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->recv_armed = 0;
	if (!s->closing)
		sink_recv_done(s, res);
	sink_op_end(s);
}

/* Everything queued went out: the batch is over. */
static void sink_batch_done(struct sink_session *s)
{
	s->slow_done = 0;
	if (!s->quit)
		return;
	if (s->tls_up && !s->tls_bye && !s->tls_dead) {
		/* Say goodbye in TLS too; the pump sends it, then we close. */
		s->tls_bye = 1;
		tls_shutdown(s->tls);
		return;
	}
	sink_close(s, 0);
}

static void sink_send_done(struct sink_session *s, int res)
{
	if (res == 0 ||
	    (res < 0 && res != -EINTR && res != -EAGAIN && res != -ENOBUFS)) {
		sink_close(s, 1);
		return;
	}
	if (s->send_tls) {
		if (res > 0)
			tls_out_consume(s->tls, (size_t)res);
		if (tls_out_pending(s->tls) == 0 && s->out_len == 0)
			sink_batch_done(s);
	} else {
		if (res > 0)
			s->out_sent += (size_t)res;
		if (s->out_sent >= s->out_len) {
			s->out_len = s->out_sent = 0;
			/* The STARTTLS 220 (and what preceded it) is out:
			 * from now on we speak TLS. */
			if (s->tls_rx)
				s->tls_tx = 1;
			if (sink_tls_pending(s) == 0)
				sink_batch_done(s);
		}
	}
	if (!s->closing)
		sink_pump(s);
}

static void sink_send_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->send_armed = 0;
	if (!s->closing)
		sink_send_done(s, res);
	sink_op_end(s);
}

static void sink_timer_done(struct sink_session *s, int res)
{
	s->slow_done = 1;
	sink_pump(s);
}

static void sink_timer_cb(struct bench_op *op, int res, unsigned flags)
{
	struct sink_session *s = op->owner;

	s->timer_armed = 0;
	if (!s->closing)
		sink_timer_done(s, res);
	sink_op_end(s);
}

static int sink_arm(struct sink_session *s, struct bench_op *op,
		    struct io_uring_sqe **sqep)
{
	*sqep = bench_sqe(&g.ring, op);
	if (*sqep == NULL) {
		sink_close(s, 1);
		return -ENOMEM;
	}
	s->inflight++;
	return 0;
}

/* Send what is due: plaintext out[] until TLS output starts, then the
 * ciphertext (out[] encrypted as one batch first). */
static void sink_send(struct sink_session *s)
{
	struct io_uring_sqe *sqe;
	size_t len;

	if (s->tls_tx && s->out_len > 0) {
		if (tls_write(s->tls, s->out, s->out_len) < 0) {
			sink_close(s, 1);
			return;
		}
		s->out_len = s->out_sent = 0;
	}
	if (s->tls_tx) {
		len = tls_out_len(s->tls);
		if (len == 0)
			return;
		if (sink_arm(s, &s->op_send, &sqe) < 0)
			return;
		/* Pinned by tls_out_ptr until tls_out_consume in send_done. */
		io_uring_prep_send(sqe, s->fd, tls_out_ptr(s->tls), len,
				   MSG_NOSIGNAL);
		s->send_tls = 1;
	} else {
		if (s->out_len <= s->out_sent)
			return;
		if (sink_arm(s, &s->op_send, &sqe) < 0)
			return;
		io_uring_prep_send(sqe, s->fd, s->out + s->out_sent,
				   s->out_len - s->out_sent, MSG_NOSIGNAL);
		s->send_tls = 0;
	}
	s->send_armed = 1;
}

/* Whether the reply batch in out[] waits first (slow=, or the STARTTLS
 * 220 under --starttls-delay); sets the delay the timer will read. */
static int sink_batch_delayed(struct sink_session *s)
{
	unsigned ms;

	if (s->tls_rx && !s->tls_tx && g.starttls_delay_ms > 0)
		ms = g.starttls_delay_ms;
	else if (g.mode == SINK_MODE_SLOW)
		ms = g.slow_ms;
	else
		return 0;
	s->delay.tv_sec = ms / 1000;
	s->delay.tv_nsec = (long long)(ms % 1000) * 1000000;
	return 1;
}

/* Advance the session: parse if idle, then send (or delay) replies and
 * keep a recv posted while there is room. */
static void sink_pump(struct sink_session *s)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	if (!s->send_armed && !s->timer_armed) {
		if (s->out_len == 0 && sink_tls_pending(s) == 0)
			sink_feed_parse(s);
		else if (s->tls_rx && !s->tls_up)
			(void)sink_tls_in(s);	/* handshake output waits too */
		if (s->closing)
			return;
		if (!s->slow_done && s->out_len > s->out_sent &&
		    sink_batch_delayed(s)) {
			if (sink_arm(s, &s->op_timer, &sqe) < 0)
				return;
			io_uring_prep_timeout(sqe, &s->delay, 0, 0);
			s->timer_armed = 1;
		} else {
			sink_send(s);
			if (s->closing)
				return;
		}
		/* A batch that needed no bytes (e.g. QUIT's goodbye after a
		 * failed handshake) is over at once. */
		if (!s->send_armed && !s->timer_armed && s->out_len == 0 &&
		    sink_tls_pending(s) == 0 && s->quit) {
			sink_batch_done(s);
			if (s->closing)
				return;
			if (s->tls_bye && sink_tls_pending(s) > 0)
				sink_send(s);
			if (s->closing)
				return;
		}
	} else if (s->tls_rx && !s->tls_up && !s->tls_dead) {
		/* Keep the handshake moving while the 220 is on its way. */
		(void)sink_tls_in(s);
		if (s->closing)
			return;
	}
	if (s->eof) {
		if (!s->send_armed && !s->timer_armed && s->out_len == 0 &&
		    sink_tls_pending(s) == 0)
			sink_close(s, 0);
		return;
	}
	if (s->recv_armed || s->quit || s->in_len >= SINK_IN_CAP)
		return;
	if (s->tls_rx) {
		if (s->tls_dead || !s->tls_want)
			return;
		if (sink_arm(s, &s->op_recv, &sqe) < 0)
			return;
		io_uring_prep_recv(sqe, s->fd, s->tin, SINK_TLS_IN, 0);
		s->recv_tls = 1;
	} else {
		if (sink_arm(s, &s->op_recv, &sqe) < 0)
			return;
		io_uring_prep_recv(sqe, s->fd, s->in + s->in_len,
				   SINK_IN_CAP - s->in_len, 0);
		s->recv_off = s->in_len;
		s->recv_tls = 0;
	}
	/* The client waits for our reply, so its next bytes are not
	 * there yet: skip the first, failing, attempt. */
	sqe->ioprio |= IORING_RECVSEND_POLL_FIRST;
	s->recv_armed = 1;
}

/* Start closing: cancel what is in flight, free when it has drained.
 * abort_conn sends a RST instead of a FIN. */
static void sink_close(struct sink_session *s, int abort_conn)
{
	struct io_uring_sqe *sqe;

	if (s->closing)
		return;
	s->closing = 1;
	if (abort_conn) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };

		(void)setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	}
	if (s->recv_armed || s->send_armed) {
		sqe = bench_sqe(&g.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel_fd(sqe, s->fd, IORING_ASYNC_CANCEL_ALL);
		else
			(void)shutdown(s->fd, SHUT_RD);
	}
	if (s->timer_armed) {
		sqe = bench_sqe(&g.ring, NULL);
		if (sqe != NULL)
			io_uring_prep_cancel(sqe, &s->op_timer, 0);
	}
	if (s->inflight == 0)
		sink_free(s);
}

static struct sink_session *sink_session_get(void)
{
	struct sink_session *s = g.free_list;

	if (s != NULL) {
		g.free_list = s->next_free;
	} else {
		s = malloc(sizeof(*s));
		if (s == NULL)
			return NULL;
		s->env.p = s->msg.p = NULL;
		s->env.cap = s->msg.cap = 0;
		s->tin = NULL;
	}
	/* Reset everything before the buffers; keep --out buffers. */
	memset(s, 0, offsetof(struct sink_session, env));
	s->env.len = s->msg.len = 0;
	s->op_recv = (struct bench_op){ sink_recv_cb, s, SINK_OP_RECV };
	s->op_send = (struct bench_op){ sink_send_cb, s, SINK_OP_SEND };
	s->op_timer = (struct bench_op){ sink_timer_cb, s, SINK_OP_TIMER };
	return s;
}

static void sink_session_start(int fd)
{
	struct sink_session *s = sink_session_get();

	if (s == NULL) {
		close(fd);
		return;
	}
	s->fd = fd;
	g.sessions++;
	g.active++;
	sink_count_changed();
	bench_sockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1);
	switch (g.mode) {
	case SINK_MODE_BLACKHOLE:
		break;
	case SINK_MODE_BANNER:
		sink_reply_code(s, g.mode_code, "3.2 sink busy");
		s->quit = 1;
		break;
	default:
		SINK_REPLY(s, "220 " SINK_HOSTNAME " ESMTP sluice-sink\r\n");
		break;
	}
	sink_pump(s);
}

/* ---- listener and signals ------------------------------------------------ */

static void sink_arm_accept(void)
{
	struct io_uring_sqe *sqe = bench_sqe(&g.ring, &g.op_accept);

	if (sqe == NULL) {
		fprintf(stderr, "sluice-sink: ring broken, cannot accept\n");
		g.stop = 1;
		return;
	}
	io_uring_prep_multishot_accept(sqe, g.listen_fd, NULL, NULL,
				       SOCK_CLOEXEC);
}

static void sink_accept_cb(struct bench_op *op, int res, unsigned flags)
{
	struct io_uring_sqe *sqe;

	if (res >= 0)
		sink_session_start(res);
	if (flags & IORING_CQE_F_MORE)
		return;
	if (res == -EMFILE || res == -ENFILE || res == -ENOMEM ||
	    res == -ENOBUFS) {
		/* Out of descriptors: back off instead of spinning. */
		if (!g.accept_warned) {
			fprintf(stderr, "sluice-sink: accept: %s (retrying)\n",
				strerror(-res));
			g.accept_warned = 1;
		}
		sqe = bench_sqe(&g.ring, &g.op_accept_retry);
		if (sqe != NULL) {
			io_uring_prep_timeout(sqe, &g.accept_delay, 0, 0);
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
	struct io_uring_sqe *sqe = bench_sqe(&g.ring, &g.op_signal);

	if (sqe == NULL) {
		g.stop = 1;
		return;
	}
	io_uring_prep_read(sqe, g.signal_fd, &g.siginfo, sizeof(g.siginfo), 0);
}

static void sink_signal_cb(struct bench_op *op, int res, unsigned flags)
{
	if (res == (int)sizeof(g.siginfo)) {
		g.stop = 1;
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
		"                   [--dsn]\n"
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
		"  --tempfail SUBSTR     RCPT containing SUBSTR: 451 4.2.0\n"
		"  --user-unknown SUBSTR RCPT containing SUBSTR: 550 5.1.1\n"
		"  --reject-data SUBSTR  end-of-data 554 5.6.0 if an accepted RCPT contains SUBSTR\n"
		"  --out DIR             write accepted messages to DIR/<seq>.eml (with\n"
		"                        X-Sink-TLS: <version> when it came over TLS)\n"
		"  --count-file PATH     keep 'messages=N recipients=R sessions=S refused=F'\n"
		"                        in PATH (F: commands refused as malformed)\n"
		"MAIL and RCPT lines are checked strictly (advertised parameters only,\n"
		"well-formed paths and values, 8-bit text only with SMTPUTF8); every\n"
		"refused line is written to stderr, escaped.\n");
}

static int sink_parse_code(const char *s, int *code)
{
	unsigned long long v;

	if (bench_parse_ull(s, 400, 599, &v) < 0)
		return -EINVAL;
	*code = (int)v;
	return 0;
}

static int sink_parse_mode(const char *arg)
{
	unsigned long long v;

	if (strcmp(arg, "no-starttls") == 0) {
		g.no_starttls = 1;	/* a flag: keeps the other mode */
	} else if (strcmp(arg, "accept") == 0) {
		g.mode = SINK_MODE_ACCEPT;
	} else if (strcmp(arg, "blackhole") == 0) {
		g.mode = SINK_MODE_BLACKHOLE;
	} else if (strncmp(arg, "banner=", 7) == 0) {
		g.mode = SINK_MODE_BANNER;
		return sink_parse_code(arg + 7, &g.mode_code);
	} else if (strncmp(arg, "ehlo=", 5) == 0) {
		g.mode = SINK_MODE_EHLO;
		return sink_parse_code(arg + 5, &g.mode_code);
	} else if (strncmp(arg, "close-after=", 12) == 0) {
		g.mode = SINK_MODE_CLOSE_AFTER;
		return bench_parse_ull(arg + 12, 0, ~0ull, &g.close_after);
	} else if (strncmp(arg, "slow=", 5) == 0) {
		g.mode = SINK_MODE_SLOW;
		if (bench_parse_ull(arg + 5, 0, 86400000, &v) < 0)
			return -EINVAL;
		g.slow_ms = (unsigned)v;
	} else {
		return -EINVAL;
	}
	return 0;
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
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *listen_spec = "127.0.0.1:2526";
	const char *tls_cert = NULL, *tls_key = NULL;
	unsigned long long ull;
	char err[512];
	sigset_t sigs;
	int c, rc;

	g.tempfail.v = calloc((size_t)argc, sizeof(char *));
	g.unknown.v = calloc((size_t)argc, sizeof(char *));
	g.reject.v = calloc((size_t)argc, sizeof(char *));
	if (!g.tempfail.v || !g.unknown.v || !g.reject.v) {
		fprintf(stderr, "sluice-sink: out of memory\n");
		return 2;
	}
	g.out_dirfd = -1;
	g.size_mode = SINK_SIZE_NUMBER;
	g.size_max = SINK_MSG_MAX;
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
			sink_pattern_add(&g.tempfail, optarg);
			break;
		case 'U':
			sink_pattern_add(&g.unknown, optarg);
			break;
		case 'R':
			sink_pattern_add(&g.reject, optarg);
			break;
		case 'o':
			g.out_dir = optarg;
			break;
		case 'C':
			g.count_file = optarg;
			break;
		case 'c':
			tls_cert = optarg;
			break;
		case 'k':
			tls_key = optarg;
			break;
		case 'S':
			if (sink_parse_code(optarg, &g.starttls_reply) < 0) {
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
			g.starttls_delay_ms = (unsigned)ull;
			break;
		case 'z':
			if (strcmp(optarg, "bare") == 0) {
				g.size_mode = SINK_SIZE_BARE;
			} else if (strcmp(optarg, "none") == 0) {
				g.size_mode = SINK_SIZE_NONE;
			} else if (bench_parse_ull(optarg, 0, ~0ull, &g.size_max) == 0) {
				g.size_mode = SINK_SIZE_NUMBER;
			} else {
				fprintf(stderr, "sluice-sink: bad --size '%s' "
					"(a number, bare or none)\n", optarg);
				return 2;
			}
			break;
		case 'H':
			g.helo_only = 1;
			break;
		case 'N':
			g.dsn = 1;
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
		g.tls_ctx = tls_server_ctx_new(tls_cert, tls_key, err, sizeof(err));
		if (g.tls_ctx == NULL) {
			fprintf(stderr, "sluice-sink: %s\n", err);
			return 2;
		}
	}
	if (g.out_dir != NULL) {
		g.out_dirfd = open(g.out_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (g.out_dirfd < 0) {
			fprintf(stderr, "sluice-sink: --out %s: %s\n", g.out_dir,
				strerror(errno));
			return 2;
		}
	}

	if (bench_raise_nofile() < 0)
		fprintf(stderr, "sluice-sink: cannot raise RLIMIT_NOFILE\n");
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	g.signal_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	if (g.signal_fd < 0) {
		fprintf(stderr, "sluice-sink: signalfd: %s\n", strerror(errno));
		return 2;
	}
	g.listen_fd = sink_listen(listen_spec);
	if (g.listen_fd < 0)
		return 2;
	rc = bench_ring_init(&g.ring, 4096, 65536);
	if (rc < 0) {
		fprintf(stderr, "sluice-sink: io_uring: %s\n", strerror(-rc));
		return 2;
	}

	g.op_accept = (struct bench_op){ sink_accept_cb, NULL, SINK_OP_ACCEPT };
	g.op_accept_retry = (struct bench_op){ sink_accept_retry_cb, NULL,
					       SINK_OP_ACCEPT_RETRY };
	g.op_count = (struct bench_op){ sink_count_cb, NULL, SINK_OP_COUNT_TIMER };
	g.op_signal = (struct bench_op){ sink_signal_cb, NULL, SINK_OP_SIGNAL };
	g.accept_delay.tv_nsec = 100000000;
	g.count_delay.tv_nsec = (long long)SINK_COUNT_NS;
	sink_count_write();
	sink_arm_accept();
	sink_arm_signal();

	while (!g.stop) {
		rc = bench_ring_step(&g.ring);
		if (rc < 0) {
			fprintf(stderr, "sluice-sink: io_uring: %s\n",
				strerror(-rc));
			break;
		}
	}
	/* The ring's teardown runs asynchronously after exit and would keep
	 * the listener (held by the multishot accept) bound for a while:
	 * stop listening now so the port is free when we are gone. */
	(void)shutdown(g.listen_fd, SHUT_RDWR);
	close(g.listen_fd);
	io_uring_queue_exit(&g.ring);
	sink_count_write();
	printf("messages=%llu recipients=%llu sessions=%llu\n", g.messages,
	       g.recipients, g.sessions);
	fflush(stdout);
	return rc < 0 ? 1 : 0;
}
