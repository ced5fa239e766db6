/*
 * worker — one thread, one io_uring, one spool directory: everything a
 * connection or a message needs lives in exactly one worker and is touched
 * only by its thread.
 *
 * The loop: submit and wait for at least one CQE, dispatch every ready CQE
 * to its op, then end the turn: group-commit the spool, send the replies
 * produced during the turn, flush the turn's log lines.  The main thread
 * talks to a worker through the atomics below and a wake-up eventfd.
 */
#ifndef SLUICE_CORE_WORKER_H
#define SLUICE_CORE_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/list.h"
#include "core/mpsc.h"
#include "core/ring.h"
#include "net/dns.h"
#include "queue/queue_types.h"
#include "queue/spool.h"

/* Counters owned by the worker; others read them as a snapshot. */
struct worker_stats {
	uint64_t sessions;		/* SMTP sessions accepted */
	uint64_t sessions_refused;	/* refused: over max_sessions */
	uint64_t sessions_limited;	/* refused: client over its session or
					   connection-rate limit (net/anvil.h) */
	uint64_t messages_in;		/* messages acknowledged with 250 */
	uint64_t bytes_in;		/* their size */
	uint64_t rcpts_in;		/* their recipients */
	uint64_t rejected;		/* messages refused at end of data */
	uint64_t spool_errors;		/* messages answered 452 4.3.1 */
	uint64_t spilled;		/* messages whose data went to a body file */
	uint64_t invalid_rcpts;		/* recipients counted against a tenant */
	uint64_t queued;		/* messages in this worker's queue */
	/* delivery side (queue/queue.c), read by the control socket */
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
};

struct smtp_listener;

struct worker {
	unsigned id;			/* 0..n-1, names the spool directory */
	unsigned nworkers;		/* how many workers there are */
	pthread_t thread;		/* the thread running worker_main */
	struct io_uring ring;		/* SINGLE_ISSUER | DEFER_TASKRUN */
	const struct config *cfg;	/* config in use this turn */
	_Atomic(const struct config *) next_cfg; /* set by main on reload */
	_Atomic(const struct config *) acked_cfg; /* last config taken */
	struct spool *spool;		/* this worker's spool */
	struct spool_recovery recovery;	/* what start-up recovered */

	struct io_uring_buf_ring *br;	/* provided buffers for recv */
	char *bufs;			/* their memory, nbufs * bufsize */
	unsigned nbufs;			/* buffer count (power of two) */
	unsigned bufsize;		/* bytes per buffer */

	struct anvil *anvil;		/* per-client counters, shared by all
					   workers (net/anvil.h) */
	struct smtp_listener *listeners;/* one per configured listener */
	size_t nlisteners;		/* their number */
	struct list idle;		/* sessions awaiting a command, LRU */
	struct list data;		/* sessions inside DATA, LRU */
	struct list dirty;		/* sessions with replies to send */
	unsigned nsessions;		/* live sessions */
	uint64_t data_mem;		/* bytes of DATA buffers of sessions in a
					   transaction (limits.data_memory) */

	uint64_t now;			/* CLOCK_MONOTONIC seconds, per turn */
	struct op tick_op;		/* 1 s timeout driving timers */
	struct __kernel_timespec tick_ts;	/* its interval */
	struct __kernel_timespec send_ts;	/* send_timeout for replies */
	char date[40];			/* RFC 5322 date of date_sec */
	int64_t date_sec;		/* wall-clock second date is for */

	int evfd;			/* main writes here to wake us */
	struct op ev_op;		/* read of evfd */
	uint64_t ev_val;		/* its buffer */
	atomic_bool stop;		/* main asks for a drain and exit */
	bool draining;			/* drain started */
	uint64_t drain_deadline;	/* now + drain_timeout */

	struct queue q;			/* messages, jobs, destinations */
	struct dns dns;			/* resolver on this ring */
	bool dns_ok;			/* dns was set up */
	uint64_t busy_at;		/* w->now it last had a connection */
	bool trimmed;			/* memory given back since (worker_trim) */

	struct worker_stats st;		/* counters */
	struct mpsc ctlq;		/* control socket requests (core/ctl/ctl.h),
					   drained at the start of each turn */
	int start_rc;			/* 0, or -errno when start-up failed */
	char start_err[512];		/* why start-up failed */
};

/*
 * Start n workers for cfg.  Blocks until each has opened its spool
 * (recovering it) and its listeners; returns 0, or -errno after joining
 * any started thread, with the first failure in err.
 */
int workers_start(struct worker **out, unsigned n, const struct config *cfg,
		  char *err, size_t errlen);

/* Hand a new config to every worker (main thread). */
void workers_reload(struct worker *w, unsigned n, const struct config *cfg);

/* True once every worker has taken cfg (the previous one may be freed). */
bool workers_have(struct worker *w, unsigned n, const struct config *cfg);

/* Ask every worker to drain and exit, wait for them, free them. */
void workers_stop(struct worker *w, unsigned n);

/* Pointer to provided buffer bid; give it back with worker_buf_put. */
char *worker_buf(struct worker *w, unsigned bid);
void worker_buf_put(struct worker *w, unsigned bid);

/* Wall-clock date for headers, cached per second. */
const char *worker_date(struct worker *w);

#endif
