/*
 * queue_int — what the queue's own files share.  Not for other modules:
 * they use queue/queue.h.
 *
 * The files are layers, bottom first: each calls only files earlier in
 * this list (lower layers), never a later one.  This is the intended
 * order; scripts/layers.py checks only that the objects' symbol graph has
 * no cycle, which this order implies:
 *
 *   queue.c          tables, routing, jobs' lists and timers, destinations
 *                    (health, probes) and the admission of jobs to
 *                    connections: the bottom, writes nothing
 *   queue_data.c     a message's data read back (queue.h)
 *   queue_msg.c      a message's life: intake and its split into jobs, the
 *                    RCPT and DONE records, NDRs and delay notices, alert
 *                    notices
 *   queue_ctl.c      operator actions (core/ctl) on queued jobs
 *   queue_outcome.c  what an attempt's outcome does to its job
 *
 * Everything runs on the owning worker's thread.
 */
#ifndef SLUICE_QUEUE_QUEUE_INT_H
#define SLUICE_QUEUE_QUEUE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/dsn.h"
#include "queue/queue.h"

struct cfg_connector;

/* ---- queue.c ---- */

/* d's connector in the worker's current config, or NULL (removed). */
const struct cfg_connector *queue_dest_cfg(struct worker *w, const struct dest *d);


/* Put a message in the tables (env is taken over, pending counted).  Not
 * routed: that is queue_msg.c's. */
struct qmsg *queue_msg_new(struct worker *w, struct envelope *env,
			   const struct spool_loc *loc);

/* Size the id table for n more messages at once (one rehash, not one per
 * doubling). */
void queue_msgs_reserve(struct queue *q, size_t n);

/* Take m out of the id table (not out of q->all). */
void queue_msgs_del(struct queue *q, struct qmsg *m);

/* The destination of address addr (made on first use), or NULL when
 * nothing routes it. */
struct dest *queue_route(struct worker *w, const char *addr);

/* The same for a recipient of the message with envelope env: through
 * env->route when it names a connector of the config (an alert notice's
 * alerts.connector), else as queue_route (the connector was removed). */
struct dest *queue_route_env(struct worker *w, const struct envelope *env,
			     const char *addr);

/* A job for recipients idx[0..n) of m, all routed to d: ready, or held
 * when m is.  Returns it (m counts it in njobs). */
struct qjob *queue_job_new(struct worker *w, struct qmsg *m, struct dest *d,
			   const uint32_t *idx, uint32_t n);

/* Free j and its strings: no list, timer or message bookkeeping. */
void queue_job_release(struct qjob *j);

/* Add attempt a to j's history (made on first use). */
void queue_job_hist_add(struct qjob *j, const struct qjob_attempt *a);

/* Make j ready (off the deferred list, timer cancelled, on d->ready). */
void queue_job_ready(struct worker *w, struct qjob *j);

/* Put j on its destination's deferred list with a timer at when (mono s). */
void queue_job_defer(struct worker *w, struct qjob *j, uint64_t when);

/* Give d's ready jobs to connections, as far as its health, the per-worker
 * share and the gate allow. */
void queue_dest_kick(struct worker *w, struct dest *d);

/* ---- queue_msg.c ---- */

/* j's recipients have failed j->attempts times: a TRIED record keeps the
 * count across a restart (queue_job_new starts a job from it). */
void queue_job_tried(struct worker *w, const struct qjob *j);

/*
 * Log event with fields f[0..nf) for recipients idx[0..n) of m: once per
 * group that shares a tenant and holds at most QUEUE_LOG_RCPT_BYTES of
 * addresses, so a line stays within what syslog keeps whole and each
 * tenant's recipients count as their own (`sluicectl report`).  The slots
 * "tenant" (left out when they have none) and "rcpts" are filled in here.
 */
#define QUEUE_LOG_RCPT_BYTES 1500
struct log_kv;
void queue_log_rcpts(struct worker *w, const struct qmsg *m, const uint32_t *idx, uint32_t n,
		     const char *event, const struct log_kv *f, size_t nf);
/* Record recipient i of m delivered or failed (a RCPT record, unless it was
 * the last pending one: DONE says it then). */
void queue_rcpt_final(struct worker *w, struct qmsg *m, uint32_t i,
		      enum env_rcpt_state st);

/* If nothing of m is left (recipients, jobs, NDRs), write its DONE and free
 * it once that is synced. */
void queue_msg_finish(struct worker *w, struct qmsg *m);

/* Free a job that is on no list any more (timer cancelled, the message's
 * count dropped, maybe finished). */
void queue_job_free(struct worker *w, struct qjob *j);

/*
 * What a report says of recipients idx[0..n) of j (envelope indices; all
 * of them: j->rcpt, j->nrcpt), from j's last failure (last_code,
 * last_reply, last_error, and last_host or last_ip when the destination
 * answered) and its attempts: a new array of n entries, which the caller
 * frees, borrowing j's and its message's strings (good while j is).
 * action, status (NULL: dsn.c derives it), detail and last_attempt are
 * the same in every entry; the caller marks expired ones.
 */
struct dsn_rcpt *queue_job_dsn(const struct qjob *j, const uint32_t *idx, uint32_t n,
			       enum dsn_action action, const char *status,
			       const char *detail, int64_t last_attempt);

/*
 * Return recipients idx[0..n) of m to the sender: spool an NDR (delayed:
 * a delay notice, until retry_until), or, when none is wanted or possible,
 * record them failed.  info[k] says why recipient idx[k] failed.  The
 * recipients are recorded failed only once the NDR is synced.
 */
void queue_ndr_send(struct worker *w, struct qmsg *m, const uint32_t *idx,
		    const struct dsn_rcpt *info, size_t n, bool delayed,
		    int64_t retry_until);

/* ---- queue_ctl.c ---- */

/* The attempt of job j ended with recipients left and the operator asked
 * for something meanwhile (j->ctl): true if j was dealt with (held, or
 * gone), false to defer it as usual. */
bool queue_ctl_after_attempt(struct worker *w, struct qjob *j);

#endif
