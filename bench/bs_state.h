/*
 * bs_state.h - what the files of sluice-bench share: its limits, the
 * session and program state, and the one program-state instance (defined
 * in bs_state.c, the bottom of the program).
 *
 * Not an API for anyone else: sluice-bench is one program split by concern
 * into a stack of layers, each calling only the ones below it (the map is
 * in bench/bench_common.h; the overview of what the program does is at
 * the top of sluice_bench.c). bs_ is its prefix.
 *
 * Threading: one thread, one ring. Everything here is touched only by it.
 */
#ifndef BENCH_BS_STATE_H
#define BENCH_BS_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <liburing.h>

#include "bench/bench_common.h"
#include "bench/bench_conn.h"

struct tls_conn;
struct tls_ctx;

#define BS_IN_CAP	8192			/* per-session reply buffer: a whole reply fits */
#define BS_TIN_CAP	16384			/* per-session ciphertext recv buffer (--tls) */
#define BS_RETRY_NS	100000000ull		/* reconnect delay after an error */
#define BS_GIVE_UP_NS	3000000000ull		/* continuous failure before a session stops */
#define BS_TICK_NS	100000000ull		/* reply deadline check interval */
#define BS_QUIT_EOF_NS	1000000000ull		/* wait for the server's FIN after 221 */

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

/* The program-wide ops (a session's are struct bench_conn's). */
enum bs_op_kind {
	BS_OP_TICK,
	BS_OP_SIGNAL,
};

/* One client session: a connection at a time, reconnected after QUIT or
 * an error. The -c sessions live in one array for the whole run. */
struct bs_session {
	struct bench_conn conn;		/* the socket (fd -1 when none) and its
					   ops: connect, recv into in[] (TLS:
					   tin), send of send_p[0..send_len) or
					   of tls_out_ptr(), the reconnect or
					   --rate timer */
	struct __kernel_timespec delay;	/* the timer's delay, copied at submit */
	unsigned idx;			/* session number, for messages */
	enum bs_state state;		/* protocol position */
	enum bs_after after;		/* what to do when closing completes */
	unsigned pipelining : 1;	/* server advertised PIPELINING */
	unsigned in_msg : 1;		/* a claimed message is not finished */
	unsigned txn_failed : 1;	/* a reply in this transaction was 4xx/5xx */
	unsigned starttls : 1;		/* server advertised STARTTLS (plaintext EHLO) */
	unsigned tls_on : 1;		/* handshake done: every byte is TLS */
	unsigned send_tls : 1;		/* the send sends tls_out_ptr(), pinned */
	unsigned unclaimed : 1;		/* connection open, no message claimed on it
					   yet: counted in bench.unclaimed */
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
					   set, the recv targets tin[] */
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
	unsigned long long resumed;		/* of which resumed a session */
	int tls_resume;				/* --tls-resume */
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

/* The program state, defined in bs_state.c. */
extern struct bench bench;

#endif
