/*
 * smtp_server_int — what the SMTP server's own files share: the server of
 * a worker, the session, and the functions each file offers to the files
 * after it in the list below.  Not for other modules: they use
 * net/smtp_server.h.
 *
 * The files are layers, bottom first: each calls only files earlier in
 * this list (lower layers), never a later one.  This is the intended
 * order; scripts/layers.py checks only that the objects' symbol graph has
 * no cycle, which this order implies:
 *
 *   smtp_server_session.c  replies and their sending, the transaction's
 *                          reset, DATA memory, timers, lifetime; who the
 *                          client is (address text, trusted)
 *   smtp_server_proxy.c    on a proxy_protocol listener, before the
 *                          banner: the balancer's PROXY header, its
 *                          deadline, the client it names
 *   smtp_server_cmd.c      the answer to each command: parameters, relay,
 *                          directory and quota decisions, DATA, STARTTLS
 *   smtp_server.c          listeners and accepting; a session's input (the
 *                          multishot recv, TLS records, command lines, DATA
 *                          into the spool record or its body file, the 250
 *                          after the sync, back-pressure); timeouts, drain
 *
 * Worker thread only.
 */
#ifndef SLUICE_NET_SMTP_SERVER_INT_H
#define SLUICE_NET_SMTP_SERVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/buf.h"
#include "core/list.h"
#include "core/ring.h"
#include "net/anvil.h"
#include "net/smtp_hops.h"
#include "net/smtp_proto.h"
#include "net/smtp_server.h"
#include "net/smtp_spill.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "queue/wheel.h"

struct smtp_listener;
struct cfg_net;

/* The SMTP server of one worker (w->srv): its listeners and sessions. */
struct smtp_server {
	struct smtp_listener *listeners;/* one per configured listener */
	size_t nlisteners;		/* their number */
	struct list idle;		/* sessions awaiting a command, LRU */
	struct list data;		/* sessions inside DATA, LRU */
	struct list dirty;		/* sessions with replies to send */
	struct list sending;		/* sessions with a send in flight,
					   oldest first (limits.send_timeout) */
	struct list proxy;		/* sessions waiting for their PROXY
					   header, oldest first */
	unsigned nsessions;		/* live sessions */
	uint64_t data_mem;		/* bytes of DATA buffers of sessions in a
					   transaction (limits.data_memory) */
	struct smtp_loops loops;	/* recipient domains whose mail was
					   refused as a loop (limits.hops) */
};

enum session_state {
	SS_CMD,		/* reading commands */
	SS_DATA,	/* reading the message */
	SS_SPOOL,	/* message handed to the spool, waiting for the sync */
	SS_PROXY,	/* reading the balancer's PROXY header: no banner yet */
};

struct session {
	struct op recv_op;		/* multishot recv */
	struct op send_op;		/* send of s->flight */
	struct worker *w;		/* owner */
	int fd;				/* the connection */
	uint8_t state;			/* enum session_state */
	bool recv_armed;		/* multishot recv in flight */
	bool send_busy;			/* send in flight */
	bool closing;			/* being torn down */
	bool quit;			/* close once the output is sent */
	bool skip_line;			/* discarding an over-long line */
	bool esmtp;			/* EHLO (not HELO) was used */
	bool trusted;			/* client in trusted_networks */
	bool on_dirty;			/* linked on w->srv->dirty */
	bool require_tls;		/* listener wants STARTTLS before MAIL */
	bool tls_on;			/* handshake done: all I/O is encrypted */
	bool tls_send;			/* the send in flight is TLS output */
	struct tls_conn *tls;		/* after STARTTLS, or NULL */
	const struct config *tls_cfg;	/* held (config_hold) while tls lives:
					   tls borrows that config's context */
	size_t plain_pending;		/* bytes at the head of out still to go
					   in clear (the 220 to STARTTLS) */
	uint16_t errors;		/* bad commands so far */
	struct list link;		/* on w->srv->idle or w->srv->data */
	struct list dirty;		/* on w->srv->dirty */
	struct list sending;		/* on w->srv->sending while a send is
					   in flight */
	uint64_t send_since;		/* w->now when that send was issued */
	uint64_t last;			/* w->now of the last input */
	struct buf in;			/* input not yet processed */
	struct buf out;			/* replies not yet sent */
	struct buf flight;		/* replies being sent */
	size_t flight_off;		/* bytes of flight already taken */
	char *helo;			/* EHLO/HELO argument */
	char peer[48];			/* client IP as text (behind a balancer:
					   the one its PROXY header names) */
	char proxy[48];			/* the balancer's IP as text when a PROXY
					   header named the client, else "" */
	struct anvil_ticket anvil;	/* its count in the per-client limits */

	/* the transaction (MAIL .. end of data) */
	bool in_txn;			/* MAIL accepted */
	char *sender;			/* reverse path */
	char *envid;			/* ENVID or NULL */
	uint8_t ret;			/* RET */
	uint8_t body;			/* BODY */
	bool smtputf8;			/* SMTPUTF8 */
	struct env_rcpt *rcpt;		/* accepted recipients */
	uint32_t nrcpt;			/* their number */
	uint32_t caprcpt;		/* allocated */
	uint64_t id;			/* queue id, from DATA on */
	uint64_t data_start;		/* w->now of the 354 */
	struct wheel_timer data_timer;	/* the DATA phase's time budget */
	struct smtp_data data;		/* DATA reader */
	struct smtp_hops hops;		/* its Received: fields, counted as
					   the data arrives */
	char loop_reply[64];		/* the refusal of a message over
					   limits.hops (data_err points here) */
	struct buf msg;			/* spool record being built */
	size_t rec_start;		/* record header offset in msg */
	size_t env_len;			/* encoded envelope length */
	struct spool_write sw;		/* the record in the group commit */

	/* DATA memory and spilling */
	size_t charged;			/* bytes counted in w->srv->data_mem */
	bool rx_paused;			/* not reading: input waits in the socket */
	bool rx_cancel;			/* our cancel of the recv is outstanding */
	const char *data_err;		/* refusal of a spilled message, sent when
					   its body file's ops are done */
	struct smtp_spill spill;	/* the body file of a large message */
};

/* ---- smtp_server_session.c ---- */

/* Queue one reply line (without CRLF) for the end of the loop turn; the
 * same printf-style. */
void session_reply(struct session *s, const char *line);
void session_replyf(struct session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* s has replies (or TLS output) to send this turn. */
void session_dirty(struct session *s);

/* Forget the transaction (MAIL .. end of data). */
void session_txn_reset(struct session *s);

/* Count in w->srv->data_mem what s holds for DATA (its record, spill and
 * write buffers while in DATA or waiting for the spool), nothing else. */
void session_charge(struct session *s);

/* Input arrived or the state changed: s moves to the end of its state's
 * LRU list (idle, data) for the timeouts, or off it (waiting for the spool). */
void session_timer(struct session *s);

/* The client of s is at sa (AF_INET or AF_INET6; another family, or a
 * NULL sa, gives "unknown"): its address text (s->peer) and whether it is
 * inside trusted_networks (s->trusted). */
void session_identify(struct session *s, const struct sockaddr *sa);

/* Tear s down (unlinked, recv cancelled, socket shut); idempotent. */
void session_close(struct session *s);

/* Free s if nothing refers to it any more; call at a callback's end. */
void session_release(struct session *s);

/* Send what is queued, then close. */
void session_end(struct session *s);

/* Count a bad command; past limits.errors the session ends with a 421. */
void session_error(struct session *s);

/* The completion of a session's send (its send_op.cb). */
void session_send_done(struct op *op, int res, uint32_t flags);

/* Cancel the sends in flight for limits.send_timeout (the tick's). */
void session_send_expire(struct worker *w);

/* The DATA phase's budget (data_total, data_min_rate): armed at the 354;
 * the wheel timer's callback (s->data_timer) ends a session past it. */
void session_data_budget_arm(struct session *s);
void session_data_budget_fire(struct wheel_timer *t, void *arg);

/* ---- smtp_server_proxy.c ---- */

/*
 * A session accepted on a proxy_protocol listener from the balancer at sa,
 * s->peer its address.  True: it waits for the header (SS_PROXY, counted
 * in the server's sessions) for limits.proxy_timeout; the caller arms its
 * recv.  False: sa is not in proxy_from[0..n) of the listener named
 * listen; logged and counted, the caller closes and frees s.
 */
bool session_proxy_begin(struct session *s, const struct sockaddr *sa,
			 const struct cfg_net *from, size_t n, const char *listen);

/*
 * Bytes p[0..n) of a session waiting for its header.  0: more are needed.
 * 1: the header is complete; s->peer and s->trusted are the client it
 * names (s->proxy the balancer), or stay the balancer's for a LOCAL or
 * UNKNOWN header; *client is the client's address for the per-client
 * limits (AF_UNSPEC for LOCAL or UNKNOWN: not counted);
 * s->in holds what followed the header, SMTP input.  -1: not a valid
 * header; logged, counted, s closed.
 */
int session_proxy_input(struct session *s, const char *p, size_t n,
			struct sockaddr_storage *client);

/* Once a second: close the sessions whose header is not complete
 * limits.proxy_timeout after their accept. */
void session_proxy_expire(struct worker *w);

/* ---- smtp_server_cmd.c ---- */

/* One command line of s (without its line end), answered into s->out. */
void session_command(struct session *s, const char *line, size_t len);

#endif
