/*
 * smtp_client_int — what the SMTP client's own files share: the connection
 * (struct smtp_conn) and the functions each file offers to the files after
 * it in the list below.  Not for other modules: they use net/smtp_client.h.
 *
 * The files are layers, bottom first: each calls only files earlier in
 * this list (lower layers), never a later one.  This is the intended
 * order; scripts/layers.py checks only that the objects' symbol graph has
 * no cycle, which this order implies:
 *
 *   smtp_client_conn.c  the plumbing: I/O on the ring, commands and the
 *                       replies they expect, the job's results and their
 *                       report to the queue, the validation record, teardown
 *   smtp_client_txn.c   once ready: the transactions (MAIL, RCPT, then DATA
 *                       and the body, or the body in BDAT chunks),
 *                       per-recipient replies, the next job
 *   smtp_client.c       set-up and the op callbacks: DNS (MX, then A/AAAA),
 *                       connect, banner, EHLO/HELO, STARTTLS and the
 *                       certificate, the dispatch of every reply, the
 *                       queue's transport, drain and validate connector
 *
 * A lower file never calls a higher one: an op's completion reaches the top
 * through c->op.cb, which smtp_client.c sets.  Worker thread only.
 */
#ifndef SLUICE_NET_SMTP_CLIENT_INT_H
#define SLUICE_NET_SMTP_CLIENT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/mfi/mfi.h"
#include "core/worker.h"
#include "net/dns.h"
#include "net/smtp_client.h"
#include "net/smtp_proto.h"
#include "queue/queue_types.h"
#include "queue/wheel.h"

#define CONN_MAX_ADDRS 16	/* addresses tried per host */
#define CONN_MAX_HOSTS 16	/* hosts tried per connection */

enum conn_state {
	CS_RESOLVE,	/* DNS in progress */
	CS_CONNECT,	/* TCP connect in flight */
	CS_GREET,	/* banner, EHLO/HELO */
	CS_IDLE,	/* cached, no job */
	CS_TXN,		/* a transaction is running */
	CS_QUIT,	/* QUIT sent, closing */
};

/* What a reply answers.  EX_BODY is the message's outcome: the reply to
 * the final dot, or to BDAT LAST; EX_BDAT a BDAT chunk before the last. */
enum expect {
	EX_BANNER, EX_EHLO, EX_HELO, EX_STARTTLS, EX_RSET, EX_MAIL, EX_RCPT, EX_DATA,
	EX_BODY, EX_BDAT,
};

/* What handling a reply did with the connection. */
enum reply_act {
	R_NEXT,		/* reply used; more buffered replies may follow */
	R_IO,		/* new I/O started (or idle): stop parsing */
	R_GONE,		/* c was freed or restarted: do not touch it */
};

struct smtp_conn {
	struct op op;			/* the one network op in flight */
	struct worker *w;		/* owner */
	const struct config *cfg;	/* held (config_hold) until smtp_conn_free:
					   the config this connection follows */
	const struct cfg_connector *cc;	/* its connector, inside cfg */
	struct dest *d;			/* destination */
	struct list link;		/* on d->idle while cached */
	int fd;				/* socket, -1 before connect */
	uint8_t state;			/* enum conn_state */
	bool busy;			/* op in flight */
	bool sending;			/* that op is a send */
	bool pipelining;		/* server offers PIPELINING */
	bool chunking;			/* it offers CHUNKING and PIPELINING, and
					   the connector allows BDAT (chunking) */
	bool eightbit;			/* 8BITMIME */
	bool smtputf8;			/* SMTPUTF8 */
	bool dsn;			/* DSN */
	bool reused;			/* taken from the idle cache */
	bool need_rset;			/* last transaction failed: RSET first */
	bool tls_hs;			/* TLS handshake in progress */
	bool tls_on;			/* TLS established: all I/O encrypted */
	bool tls_send;			/* the send in flight is TLS output */
	bool no_tls;			/* opportunistic TLS failed: stay clear */
	struct tls_conn *tls;		/* after STARTTLS, or NULL */
	struct buf tin;			/* ciphertext received, not yet fed */
	struct smtp_validate *val;	/* a test connection: report here (NULL
					   once reported) */
	bool val_conn;			/* a test connection: private dest */
	bool val_send;			/* it sends the test message */
	char val_rcpt[256];		/* the recipient it tries */
	char val_data[400];		/* the DATA step's line, written once
					   the end of data is answered */
	uint64_t size_max;		/* SIZE limit, 0 if none */
	uint32_t msgs;			/* transactions done on it */
	uint64_t idle_since;		/* w->now when it became idle */
	struct dns_query *dq;		/* pending lookup */

	char *hosts[CONN_MAX_HOSTS];	/* target host names */
	uint16_t ports[CONN_MAX_HOSTS];	/* and ports */
	uint32_t nhosts, hi;		/* count, current */
	struct dns_addr addrs[CONN_MAX_ADDRS]; /* current host's addresses */
	uint32_t naddrs, ai;		/* count, current */
	char host[256];			/* current host name */
	char ip[64];			/* current address as text */
	uint16_t port;			/* current port */
	struct mfi_attempt fail;	/* last failure before ready */
	char fail_text[512];		/* its reply text */

	struct buf in;			/* received, not yet parsed */
	struct buf out;			/* to send */
	size_t out_off;			/* bytes of out already sent */
	struct __kernel_timespec ts;	/* the linked timeout of a connect */
	struct wheel_timer io_timer;	/* checks io_deadline (lazy: moved
					   only when it fires early) */
	uint64_t io_deadline;		/* w->now past which the send or recv
					   in flight is cancelled; 0: none */
	size_t send_end;		/* the send in flight ends here in out */
	struct sockaddr_storage sa;	/* address being connected to */

	uint8_t *expect;		/* replies awaited, in order */
	uint32_t nexpect, ex;		/* count, next to match */
	uint32_t unsent;		/* commands built but not yet sent
					   (no PIPELINING: one at a time) */
	uint32_t *cmd_end;		/* end offset in out of each command */
	uint32_t capexpect;		/* entries allocated in both arrays */

	struct qjob *job;		/* current job */
	struct mfi_attempt *res;	/* per recipient outcome */
	char **res_text;		/* their reply texts (owned) */
	uint32_t nres;			/* job recipients */
	uint32_t rcpt_ok;		/* recipients accepted so far */
	uint32_t rcpt_i;		/* next RCPT reply's recipient */
	bool mail_ok;			/* MAIL accepted */
	uint64_t t0;			/* ms when the job started */
	struct queue_data data;		/* the job's message data: open from
					   MAIL until the job is reported */
	struct smtp_stuffer stuff;	/* dot-stuffing state between chunks
					   (BDAT: the message's tail) */
	bool bdat;			/* this transaction sends BDAT, not DATA */
	bool body_on;			/* chunks are left to send: after the 354
					   until the chunk with the final dot is
					   built; with BDAT from MAIL until BDAT
					   LAST is built, or a chunk failed */
	uint32_t bdat_wait;		/* BDAT chunks sent whose reply has not
					   been read */
	struct buf tmp;			/* a chunk read from the spool (at most
					   CONN_CHUNK; unused for a message the
					   queue holds in memory) */
};

/* The connector, as the config this connection holds has it (never NULL
 * once the connection is started). */
static inline const struct cfg_connector *
conn_cfg(struct smtp_conn *c)
{
	return c->cc;
}

/* True once a reload has replaced the config this connection follows. */
static inline bool
conn_stale(const struct smtp_conn *c)
{
	return c->cfg != c->w->cfg;
}

/* ---- smtp_client_conn.c ---- */

/* Free c; no op may be in flight.  Its gate slot goes back (a test
 * connection's private destination is freed instead). */
void smtp_conn_free(struct smtp_conn *c);

/* The connection ends with failure a: the job gets it (a test connection
 * its verdict) and c is freed. */
void smtp_conn_end(struct smtp_conn *c, const struct mfi_attempt *a);

/* The connection failed at stage with err (or reply r): the job gets it
 * (a test connection its verdict) and c is freed.  From op callbacks. */
void smtp_conn_fail(struct smtp_conn *c, enum mfi_stage stage, int err,
		    const struct smtp_reply *r);

/* A test connection: record one step (nothing for any other). */
void smtp_validate_step(struct smtp_conn *c, const char *step, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A test connection ends: failure a, or success (a == NULL); v->done runs. */
void smtp_validate_finish(struct smtp_conn *c, const struct mfi_attempt *a);

/* c takes job j: fresh per-recipient results, the clock started. */
void smtp_conn_job_begin(struct smtp_conn *c, struct qjob *j);

/* Every recipient without a final outcome gets a (its text copied). */
void smtp_conn_job_fill(struct smtp_conn *c, const struct mfi_attempt *a);

/* Hand the job's results to the queue (queue_job_done); c has no job after. */
void smtp_conn_job_report(struct smtp_conn *c);

/* Link a timeout to the connect just prepared (connect_timeout). */
void smtp_conn_link_timeout(struct smtp_conn *c, bool connecting);

/* io_timer's callback (wheel_timer_init it with this at allocation). */
void smtp_conn_deadline_fire(struct wheel_timer *t, void *arg);

/* Send what TLS has to say (records, handshake messages). */
void smtp_conn_tls_send(struct smtp_conn *c);

/* Send out[out_off, end), encrypted once TLS is on; all of out. */
void smtp_conn_send_to(struct smtp_conn *c, size_t end);
void smtp_conn_send(struct smtp_conn *c);

/* Receive into in (or tin, under TLS), with the command or banner timeout. */
void smtp_conn_recv(struct smtp_conn *c);

/* A reply answering ex will come for the command ending at out offset end. */
void smtp_conn_expect(struct smtp_conn *c, enum expect ex, size_t end);

/* Queue a command line (without CRLF) and what its reply answers. */
void smtp_conn_cmd(struct smtp_conn *c, enum expect ex, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Send what the protocol allows now: every queued command, or one. */
void smtp_conn_flush(struct smtp_conn *c);

/* ---- smtp_client_txn.c ---- */

/* Ready after EHLO (and STARTTLS): the destination is healthy; run the job,
 * take the next, go idle or QUIT.  A test connection starts its MAIL. */
void smtp_conn_ready(struct smtp_conn *c);

/* Build and send the transaction of c->job (RSET first when needed). */
void smtp_conn_start_txn(struct smtp_conn *c);

/* Send the next chunk of the body (with BDAT, first read the replies of
 * earlier chunks when too many are unread); false when c is gone (the
 * spool could not give it). */
bool smtp_conn_body_send(struct smtp_conn *c);

/* A reply of a transaction (RSET, MAIL, RCPT, DATA, a BDAT chunk, the end
 * of data) or of a test connection once ready; text is r flattened
 * (smtp_reply_flat). */
enum reply_act smtp_conn_txn_reply(struct smtp_conn *c, enum expect ex,
				   const struct smtp_reply *r, const char *text);

#endif
