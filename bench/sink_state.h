/*
 * sink_state.h - what the files of sluice-sink share: its limits, the
 * session and program state, the one program-state instance (defined in
 * sink_state.c, the bottom of the program), and the session's reply batch.
 *
 * Not an API for anyone else: sluice-sink is one program split by concern
 * into a stack of layers, each calling only the ones below it (the map is
 * in bench/bench_common.h; the overview of what the sink is and does is
 * at the top of sluice_sink.c). sink_ is its prefix.
 *
 * Threading: one thread, one ring. Everything here is touched only by it.
 */
#ifndef BENCH_SINK_STATE_H
#define BENCH_SINK_STATE_H

#include <stddef.h>
#include <sys/signalfd.h>
#include <liburing.h>

#include "bench/bench_common.h"
#include "bench/bench_conn.h"

struct sink_proto_ops;
struct tls_conn;
struct tls_ctx;

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
	SINK_MODE_CLOSE_AFTER,	/* RST after N bytes of DATA (or BDAT) payload */
	SINK_MODE_SLOW,		/* delay every reply batch */
	SINK_MODE_EHLO,		/* answer EHLO/HELO with an error code */
};

/* The program-wide ops (a session's are struct bench_conn's). */
enum sink_op_kind {
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
	struct bench_conn conn;		/* the socket and its ops: recv into in[]
					   (TLS: into tin), send of
					   out[out_sent..out_len) or of
					   tls_out_ptr() once TLS is on, the
					   slow= timer; closing until reused */
	struct __kernel_timespec delay;	/* slow= delay; read by the kernel at submit */
	const struct sink_proto_ops *proto; /* the dialogue above sink_io.c
					   (sink_io.h), set at start */
	struct sink_session *next_free;	/* free-list link while unused */
	unsigned slow_done : 1;		/* current batch has served its delay */
	unsigned quit : 1;		/* close once out[] is sent; parse no more */
	unsigned eof : 1;		/* the client closed its side */
	unsigned discard : 1;		/* skipping the rest of an over-long line */
	unsigned helo_ok : 1;		/* a HELO/EHLO was accepted */
	unsigned ehlo : 1;		/* it was EHLO: extensions apply */
	unsigned utf8_txn : 1;		/* this transaction's MAIL had SMTPUTF8 */
	unsigned has_mail : 1;		/* MAIL accepted, transaction open */
	unsigned in_data : 1;		/* reading DATA payload */
	unsigned in_bdat : 1;		/* reading a BDAT chunk (bdat_left more) */
	unsigned bdat_last : 1;		/* that chunk is BDAT ... LAST */
	unsigned bdat_txn : 1;		/* this transaction has had a chunk
					   taken: DATA is out of place */
	unsigned data_bol : 1;		/* payload scanner is at a line start */
	unsigned reject_hit : 1;	/* an accepted RCPT matches --reject-data */
	unsigned too_big : 1;		/* --out copy exceeded SINK_MSG_MAX */
	unsigned store_failed : 1;	/* --out copy could not be allocated */
	unsigned recv_tls : 1;		/* the recv targets tin, not in[] */
	unsigned send_tls : 1;		/* the send sends tls output */
	unsigned tls_rx : 1;		/* STARTTLS accepted: input is TLS */
	unsigned tls_tx : 1;		/* its 220 is sent: output is TLS */
	unsigned tls_up : 1;		/* handshake done */
	unsigned tls_bye : 1;		/* close_notify queued */
	unsigned tls_dead : 1;		/* handshake failed: flush the alert, close */
	unsigned tls_want : 1;		/* TLS input used up: recv may add more
					   (keeps tls_feed under TLS_IN_MAX) */
	unsigned nrcpt;			/* accepted recipients in this transaction */
	size_t recv_off;		/* where in in[] the recv writes */
	struct tls_conn *tls;		/* the TLS session, NULL before STARTTLS */
	unsigned long long data_bytes;	/* raw DATA payload and BDAT chunk bytes
					   this session */
	unsigned long long bdat_size;	/* the BDAT chunk's size (its 250 says it) */
	unsigned long long bdat_left;	/* bytes of it still to come */
	const char *bdat_refuse;	/* the reply the chunk gets once read
					   (no MAIL, no recipient), or NULL:
					   its bytes are the message's */
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
	int no_chunking;			/* --no-chunking: no CHUNKING (BDAT) */
	int refuse_bdat;			/* --refuse-bdat: offer CHUNKING, then
						   refuse BDAT (a broken server) */
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
	unsigned long long bdat;		/* of the messages, those that came
						   in BDAT chunks */
	unsigned long long sessions;		/* connections accepted */
	unsigned long long active;		/* connections open now */
	int accept_warned;			/* EMFILE logged once */
};

/* The program state, defined in sink_state.c. */
extern struct sink sink;

/* Queue len bytes of reply text (CRLF included) in s->out[], the batch
 * sink_io.c sends: what every layer that answers (greeting, dialogue,
 * fault modes) writes into. */
void sink_reply(struct sink_session *s, const char *text, size_t len);

/* Queue a string literal reply. */
#define SINK_REPLY(s, lit) sink_reply((s), lit, sizeof(lit) - 1)

/* Queue "CODE C.rest" CRLF, C being CODE's first digit (e.g. 451 and
 * "3.0 text" give "451 4.3.0 text"). */
void sink_reply_code(struct sink_session *s, int code, const char *rest);

#endif
