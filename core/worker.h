/*
 * worker — one thread, one io_uring, one spool directory: everything a
 * connection or a message needs lives in exactly one worker and is touched
 * only by its thread.
 *
 * The loop: submit and wait for at least one CQE, dispatch every ready CQE
 * to its op, then end the turn (ops->flush: group-commit the spool, send
 * the replies produced during the turn) and flush the turn's log lines.
 * The main thread talks to a worker through the atomics below and a
 * wake-up eventfd.
 *
 * This is the runtime base: the loop knows the ring, the provided buffers,
 * the config switch, the drain and giving memory back, and nothing of
 * SMTP, the spool or the queue.  Those subsystems sit in higher folders;
 * struct worker holds their state as opaque pointers, and the loop calls
 * them only through struct worker_ops, which the daemon fills
 * (core/daemon/daemon_worker.c).
 */
#ifndef SLUICE_CORE_WORKER_H
#define SLUICE_CORE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/hist.h"
#include "core/mpsc.h"
#include "core/ring.h"

struct worker;

/*
 * What the loop drives.  Every hook runs on the worker's thread; each may
 * read and change what struct worker points to.
 */
struct worker_ops {
	/* Optional first step of the set-up, once the ring, the provided
	 * buffers and the eventfd exist: what needs the privileges the
	 * process started with (binding the listeners), before the main
	 * thread drops them.  Nothing completes before start has run.
	 * Returns 0, or -errno with the reason in w->start_err. */
	int (*bind)(struct worker *w);
	/* Second step, after workers_run: open the subsystems (spool
	 * recovery included) and start them.  Returns 0, or -errno with the
	 * reason in w->start_err. */
	int (*start)(struct worker *w);
	/* Start of each turn, after a new config was taken: work other
	 * threads queued for this one (control requests). */
	void (*turn)(struct worker *w);
	/* End of each turn, after the completions: group commit, replies. */
	void (*flush)(struct worker *w);
	/* Optional: on the worker's own thread as its loop has ended, for
	 * per-thread state of the libraries (wolfSSL's ECC cache). */
	void (*thread_end)(struct worker *w);
	/* Once a second: timeouts and timers. */
	void (*tick)(struct worker *w);
	/* Once, when the main thread asks for a stop: stop accepting, let
	 * what is under way finish. */
	void (*drain)(struct worker *w);
	/* Each turn once the drain deadline has passed: close every session. */
	void (*abort)(struct worker *w);
	/* While draining: true when nothing is left to wait for (the loop
	 * ends).  w->drain_deadline says how long the drain may take. */
	bool (*drained)(struct worker *w);
	/* True while a connection (inbound or outbound) is open: memory is
	 * given back only after a while without any. */
	bool (*busy)(struct worker *w);
	/* Idle for a while: give back what a burst left behind. */
	void (*trim)(struct worker *w);
	/* Teardown, also after a failed start (so with any part of start
	 * undone): first what may still use the ring, while it exists... */
	void (*fini)(struct worker *w);
	/* ...then, once the ring is closed, what the kernel may have used. */
	void (*release)(struct worker *w);
};

/* The TLS counters' sizes: protocols (TLS 1.2, TLS 1.3, other) and
 * reasons (enum mfi_tls of core/mfi/mfi.h, which sits above this folder;
 * tls/tls.c checks that they fit). */
#define WORKER_TLS_NPROTO 3
#define WORKER_TLS_NREASONS 16

/* Counters owned by the worker; others read them as a snapshot. */
struct worker_stats {
	uint64_t sessions;		/* SMTP sessions accepted */
	uint64_t sessions_refused;	/* refused: over max_sessions */
	uint64_t sessions_limited;	/* refused: client over its session or
					   connection-rate limit (net/anvil.h) */
	uint64_t proxy_refused;		/* closed before the banner on a
					   proxy_protocol listener: a peer not in
					   proxy_from, a bad or late PROXY header */
	uint64_t messages_in;		/* messages acknowledged with 250 */
	uint64_t bytes_in;		/* their size */
	uint64_t rcpts_in;		/* their recipients */
	uint64_t rejected;		/* messages refused at end of data */
	uint64_t loops;			/* of which over limits.hops (a loop) */
	uint64_t spool_errors;		/* messages answered 452 4.3.1 */
	uint64_t spilled;		/* messages whose data went to a body file */
	uint64_t invalid_rcpts;		/* recipients counted against a tenant */
	uint64_t queued;		/* messages in this worker's queue */
	/* delivery side (queue/queue_outcome.c), read by the control socket */
	uint64_t attempts;		/* delivery attempts (jobs tried) */
	uint64_t retries;		/* of which jobs that had failed before */
	uint64_t messages_out;		/* attempts that delivered a recipient */
	uint64_t bytes_out;		/* their message size */
	uint64_t rcpts_delivered;	/* recipients delivered */
	uint64_t rcpts_deferred;	/* recipient deferrals */
	uint64_t rcpts_bounced;		/* recipients returned (incl. expired) */
	uint64_t rcpts_expired;		/* of which at expiry */
	uint64_t rcpts_deleted;		/* dropped by the operator, no NDR */
	uint64_t ndrs;			/* NDRs queued */
	/* histograms (core/hist.h): one count per bucket, not cumulative,
	   the last above every bound */
	uint64_t attempt_ms[HIST_ATTEMPT_N + 1];	/* delivery attempts by
					   duration (queue/queue_outcome.c) */
	uint64_t attempt_ms_sum;	/* their durations added up, ms */
	uint64_t queue_s[2][HIST_QUEUE_N + 1];	/* recipients by time from
					   arrival to their final outcome:
					   [0] delivered, [1] returned (failed
					   or expired) */
	uint64_t queue_s_sum[2];	/* those times added up, s */
	/* TLS handshakes, [0] inbound (STARTTLS offered to clients), [1]
	   outbound (to destinations) */
	uint64_t tls_done[2][WORKER_TLS_NPROTO];	/* completed, by protocol
					   (tls_proto_index, tls/tls.h) */
	uint64_t tls_failed[2][WORKER_TLS_NREASONS];	/* failed, by enum
					   mfi_tls (core/mfi/mfi.h): not offered,
					   refused, a certificate verdict, or
					   the handshake itself */
	uint64_t tls_resumed[2][2];	/* completed, [0] full handshakes,
					   [1] resumed sessions (tls_resumed) */
};

struct spool;
struct queue;
struct dns;
struct smtp_server;
struct anvil;
struct trace_feed;

struct worker {
	unsigned id;			/* 0..n-1, names the spool directory */
	unsigned nworkers;		/* how many workers there are */
	pthread_t thread;		/* the thread running worker_main */
	struct io_uring ring;		/* SINGLE_ISSUER | DEFER_TASKRUN */
	const struct config *cfg;	/* config in use this turn */
	_Atomic(const struct config *) next_cfg; /* set by main on reload */
	_Atomic(const struct config *) acked_cfg; /* last config taken */
	const struct worker_ops *ops;	/* the subsystems the loop drives */

	/* the subsystems' state: opaque here, made by ops->start */
	struct spool *spool;		/* this worker's spool (queue/spool.h) */
	struct queue *q;		/* messages, jobs, destinations
					   (queue/queue.h) */
	struct dns *dns;		/* resolver on this ring (net/dns.h) */
	struct smtp_server *srv;	/* listeners and SMTP sessions
					   (net/smtp_server.h) */
	struct trace_feed *trace;	/* this worker's feed of the message
					   trace (core/trace/trace.h), NULL
					   when it is off; set before start */
	struct anvil *anvil;		/* per-client counters, shared by all
					   workers (net/anvil.h) */

	struct io_uring_buf_ring *br;	/* provided buffers for recv */
	char *bufs;			/* their memory, nbufs * bufsize */
	unsigned nbufs;			/* buffer count (power of two) */
	unsigned bufsize;		/* bytes per buffer */

	uint64_t now;			/* CLOCK_MONOTONIC seconds, per turn */
	struct op tick_op;		/* 1 s timeout driving timers */
	struct __kernel_timespec tick_ts;	/* its interval */
	char date[40];			/* RFC 5322 date of date_sec */
	int64_t date_sec;		/* wall-clock second date is for */

	int evfd;			/* main writes here to wake us */
	struct op ev_op;		/* read of evfd */
	uint64_t ev_val;		/* its buffer */
	atomic_bool stop;		/* main asks for a drain and exit */
	bool draining;			/* drain started */
	uint64_t drain_deadline;	/* now + drain_timeout */

	_Atomic uint64_t turned;	/* w->now when its last turn began: the
					   main thread's watchdog reads it */
	uint64_t busy_at;		/* w->now it last had a connection */
	bool trimmed;			/* memory given back since (worker_trim) */

	struct worker_stats st;		/* counters */
	struct mpsc ctlq;		/* control socket requests
					   (core/ctl/ctl.h), drained by
					   ops->turn */
	int start_rc;			/* 0, or -errno when start-up failed */
	bool joined;			/* its thread is gone (a failed
					   workers_run): workers_stop frees it */
	char start_err[512];		/* why start-up failed */
};

/*
 * Start n workers for cfg, driving what ops says (kept, not copied):
 * blocks until each has made its ring and run ops->bind, and leaves them
 * waiting for workers_run (or workers_stop).  Returns 0, or -errno after
 * joining every started thread, with the first failure in err.
 */
int workers_start(struct worker **out, unsigned n, const struct config *cfg,
		  const struct worker_ops *ops, char *err, size_t errlen);

/*
 * Let the workers of workers_start run ops->start (open the spool,
 * recovering it) and serve; blocks until each has.  Returns 0, or -errno
 * with the first failure in err once every worker has stopped; ws is
 * still there, for workers_stop to free after whatever uses it (the
 * control thread) has stopped.  Main thread.
 */
int workers_run(struct worker *ws, unsigned n, char *err, size_t errlen);

/* Hand a new config to every worker (main thread). */
void workers_reload(struct worker *w, unsigned n, const struct config *cfg);

/* True once every worker has taken cfg (the previous one may be freed). */
bool workers_have(struct worker *w, unsigned n, const struct config *cfg);

/*
 * The first worker whose last turn began more than max_age seconds before
 * now (CLOCK_MONOTONIC seconds), or -1 when every one is turning.  A
 * serving worker turns at least once a second (its tick).  Main thread.
 */
int workers_stuck(struct worker *ws, unsigned n, uint64_t now, uint64_t max_age);

/* Ask every worker to drain and exit, wait for them, free them. */
void workers_stop(struct worker *w, unsigned n);

/* Pointer to provided buffer bid; give it back with worker_buf_put. */
char *worker_buf(struct worker *w, unsigned bid);
void worker_buf_put(struct worker *w, unsigned bid);

/* Wall-clock date for headers, cached per second. */
const char *worker_date(struct worker *w);

/* Read the clock into w->now again (after a step that blocked for long,
 * such as spool recovery at start). */
void worker_clock(struct worker *w);

#endif
