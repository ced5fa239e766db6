/*
 * queue — the delivery scheduler of one worker: routing of recipients to
 * destinations, per-destination ready queues, retries on the timer wheel,
 * destination health (down after repeated connection failures, one probe
 * per backoff step, the whole backlog released on the first success),
 * expiry, NDRs and delay DSNs, and the spool records that make each
 * recipient's fate durable.
 *
 * Not for: speaking SMTP (net/smtp_client.c) or deciding what a failure
 * means (core/mfi/mfi.c).  Every function runs on the owning worker's thread.
 *
 * Made of layered files (queue/queue_int.h): queue.c (tables, scheduling,
 * destinations), queue_data.c (a message's data), queue_msg.c (intake,
 * records, NDRs), queue_ctl.c (operator actions), queue_outcome.c (after an
 * attempt).
 */
#ifndef SLUICE_QUEUE_QUEUE_H
#define SLUICE_QUEUE_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/mfi/mfi.h"
#include "queue/queue_types.h"

struct worker;

/*
 * What the queue needs from the connections that deliver its jobs.  The
 * queue sits below net/ and never includes it: the SMTP client fills this
 * table (smtp_client_transport, net/smtp_client.h) and reports back
 * through queue_conn_opened, queue_job_done, queue_dest_result and
 * queue_conn_gone.  Worker thread only.
 */
struct queue_transport {
	/* Open a new connection to d that starts with job j (already active). */
	void (*open)(struct worker *w, struct dest *d, struct qjob *j);
	/* Give j to an idle cached connection of d; false if there is none. */
	bool (*reuse)(struct worker *w, struct dest *d, struct qjob *j);
	/* Once a second, from queue_tick after the timers: close cached
	 * connections idle for too long. */
	void (*tick)(struct worker *w);
};

/* Make the worker's queue (w->q: wheel, tables) to deliver through t
 * (kept, not copied).  Before spool recovery. */
void queue_init(struct worker *w, const struct queue_transport *t);

/* Free everything, w->q included (worker exit).  Connections must be gone. */
void queue_fini(struct worker *w);

/*
 * A message the SMTP server just spooled.  rec holds its MSG record at
 * offset start; the queue takes the buffer over (rec is left empty).
 */
void queue_accept(struct worker *w, struct buf *rec, size_t start,
		  const struct spool_loc *loc);

/* A message found by spool recovery (env is taken over); total: how many
 * this recovery hands over in all (struct spool_recovery.messages), so the
 * tables are sized once. */
void queue_recovered(struct worker *w, struct envelope *env,
		     const struct spool_loc *loc, uint64_t total);

/*
 * A message Sluice writes itself for its operators (an alert notice, built
 * by queue/notice.h on the control thread), queued and delivered like an
 * NDR.  Strings are borrowed for the call.
 */
struct queue_notice {
	const char *data;		/* the whole message, CRLF lines */
	size_t len;			/* its bytes */
	const char *const *rcpts;	/* envelope recipients */
	size_t nrcpt;			/* their number */
	const char *route;		/* the connector they all go through,
					   NULL: each by its domain's route */
	bool eightbit;			/* 8-bit body: BODY=8BITMIME */
	const char *what;		/* for the log: what it is about */
};

/*
 * Spool n as a new message from <> (a null reverse path, as an NDR: it is
 * never bounced back, and if it fails the postmaster is told) and queue it
 * once it is synced.  A recipient nothing routes is left out with a
 * warning.  Returns 0, -EINVAL when no recipient is left.  Worker thread.
 */
int queue_notice_send(struct worker *w, const struct queue_notice *n);

/* Start delivering what recovery found (after the worker is set up). */
void queue_start(struct worker *w);

/* Once a second: timers (retries, expiry, probes), idle connections. */
void queue_tick(struct worker *w);

/* Give back memory a burst left behind: the message table shrinks to its
 * starting size once the queue is empty.  Worker thread, when idle. */
void queue_trim(struct worker *w);

/* ---- a message's data (queue/queue_data.c) ---- */

/*
 * Start reading the data of m (headers and body, un-stuffed) into d: from
 * the record in memory, or from the spool.  m must stay queued until
 * queue_data_close (an active job keeps it).  Returns 0, or -errno (the
 * spool has no readable record or body file; d needs no close then).
 */
int queue_data_open(struct worker *w, struct qmsg *m, struct queue_data *d);

/*
 * The next piece of d, at most max bytes: *p points into the message in
 * memory (no copy), or into scratch, which it fills (scratch grows to at
 * most max bytes; the caller keeps it between reads).  Returns the bytes
 * (d->off == d->size after the last piece), 0 when everything was read, or
 * -EIO: the spool's data is damaged or short; for a body file that is found
 * on the read of the last piece, whose bytes must not be used then.
 */
long queue_data_read(struct worker *w, struct queue_data *d, size_t max,
		     struct buf *scratch, const char **p);

/* Done with d (closes a body file).  Safe to repeat, and on a zeroed d. */
void queue_data_close(struct queue_data *d);

/*
 * The first bytes of m's data, at most max (the head an NDR returns): *p
 * points into memory or into tmp (filled), *n says how many, *size gets
 * the size of the whole message.  Only a head that is the whole message is
 * checked against the body file's CRC.  Returns 0 or -errno.
 */
int queue_data_head(struct worker *w, struct qmsg *m, size_t max, struct buf *tmp,
		    const char **p, size_t *n, uint64_t *size);

/*
 * For a connection of d that finished a job (or is new and idle): the next
 * ready job, now active on it, or NULL.
 */
struct qjob *queue_next_job(struct worker *w, struct dest *d);

/*
 * The outcome of one attempt at job j.  per_rcpt[i] describes what
 * happened to recipient j->rcpt[i]: a 2xx reply_code at MFI_STAGE_BODY is
 * delivered; anything else is classified by mfi_classify().  A reply_text
 * that is the destination's own reply (MFI_REMOTE) is one line of at most
 * 511 bytes, as smtp_reply_flat makes it: it goes into logs, DSNs and the
 * control socket as it is.  host/ip name the server (may be NULL when DNS
 * failed).  The job is finished,
 * deferred or returned, and must not be used by the caller afterwards.
 */
void queue_job_done(struct worker *w, struct qjob *j,
		    const struct mfi_attempt *per_rcpt, uint64_t elapsed_ms);

/* A connection to d opened (the transport's open made it): counted in
 * d->nconns and in the worker's total until queue_conn_gone. */
void queue_conn_opened(struct worker *w, struct dest *d);

/* A connection of d closed (after it reported its jobs): uncounted, its
 * gate slot given back, and d's ready jobs offered connections again. */
void queue_conn_gone(struct worker *w, struct dest *d);

/* Connections open on this worker, all destinations together. */
uint32_t queue_conns(const struct worker *w);

/* The settings d's mail goes by: its connector, or config_connector_default
 * when a reload removed it (retry schedule, expiry, health).  What the
 * control socket shows of a destination's expiry comes from here too. */
const struct cfg_connector *queue_dest_policy(struct worker *w, const struct dest *d);

/* Call fn(w, d, arg) for every destination of this worker, in no
 * particular order (the transport's sweeps of its idle connections).  fn
 * must not make or free destinations. */
void queue_dest_foreach(struct worker *w,
			void (*fn)(struct worker *w, struct dest *d, void *arg), void *arg);

/*
 * A destination of connector (and domain, or NULL) that is not the
 * queue's: on no table, with no jobs, gate or health, for a one-off
 * connection such as the SMTP client's "validate connector".  The caller
 * owns it: queue_dest_detached_free.
 */
struct dest *queue_dest_detached(const char *connector, const char *domain);
void queue_dest_detached_free(struct dest *d);

/*
 * The worker's timer wheel (queue/wheel.h, its arg is w).  The queue keeps
 * it and advances it in queue_tick; the SMTP server puts its sessions'
 * DATA budgets in it too.  Between queue_init and queue_fini.
 */
struct wheel *queue_wheel(struct worker *w);

/*
 * A TLS handshake with host (one of d's) showed a certificate valid until
 * not_after (unix s) with subject (n bytes, the peer's; cut to fit):
 * remembered as that host's, replacing what an earlier handshake showed,
 * at unix time now.  Memory is taken only for a host d has not noted
 * before; past DEST_CERTS_MAX hosts the one seen longest ago gives way.
 * The control thread reads them in its snapshots (core/ctl/ctl_cert.c).
 */
void queue_dest_cert(struct dest *d, const char *host, int64_t not_after,
		     const char *subject, size_t n, int64_t now);

/* The destination health after a connection reached EHLO (true) or not. */
void queue_dest_result(struct worker *w, struct dest *d, bool ok);

/* ---- control socket hooks (core/ctl); worker thread only ---- */

/* The message with queue id id, or NULL. */
struct qmsg *queue_msg_find(struct worker *w, uint64_t id);

/*
 * Which queued mail an operator action takes; core/ctl fills it.  The
 * filters are the caller's (the queue knows no patterns): msg_match
 * answers 1 (take the message), 0 (pass it by) or -1 (the caller's own
 * budget is spent: stop before this message, as when the walk's budget
 * runs out); rcpt_match says which recipients are meant.
 */
struct queue_ctl_sel {
	const uint64_t *ids;		/* these messages, when nids > 0; else the
					   whole queue from the cursor */
	uint32_t nids;			/* their number, at most 32 */
	const char *connector;		/* only jobs at its destinations; NULL any */
	int (*msg_match)(const struct qmsg *m, void *arg);	/* NULL: all */
	bool (*rcpt_match)(const char *addr, void *arg);	/* NULL: all */
	void *arg;			/* the filters' own */
};

/* What the result of queue_ctl_apply counts. */
struct queue_ctl_result {
	uint32_t msgs;		/* messages acted on */
	uint32_t jobs;		/* jobs acted on now */
	uint32_t rcpts;		/* their recipients (delete, bounce: those
				   selected, which may be part of a job;
				   requeue: those moved) */
	uint32_t later;		/* jobs on a connection: applied when their
				   attempt ends (flush: left alone) */
	uint32_t busy;		/* jobs on a connection of which only some
				   recipients were selected for delete or
				   bounce: left alone, try again after it */
	uint32_t unroutable;	/* requeue: recipients nothing routes now,
				   left where they were */
	uint32_t found;		/* bit i: sel->ids[i] is queued here */
	bool more;		/* budget used up: call again with the cursor */
};

/*
 * Operator action on queued mail: op on the jobs sel selects (those at
 * its connector, holding a recipient rcpt_match takes, of the messages
 * msg_match takes).  Flush makes deferred jobs ready now (and a down
 * destination probe now) and lets ready ones ask for a connection slot
 * again; hold parks jobs with no timer until release; delete drops
 * recipients without an NDR; bounce returns them with one: these two take
 * only the selected recipients of a job, the others whole jobs.  Requeue
 * routes a job's recipients again through the current config (after a
 * reload moved their domain): those that now go elsewhere move to a job
 * there, which keeps the attempts, last error and history, and is ready
 * at once (held if the job was).  Walking
 * the whole queue stops after budget messages with res->more set: call
 * again with the same *cursor (0 to start).  Returns 0.
 */
int queue_ctl_apply(struct worker *w, const struct queue_ctl_sel *sel,
		    enum queue_ctl_op op, uint64_t *cursor, uint32_t budget,
		    struct queue_ctl_result *res);

/*
 * Disable (or enable) delivery through connector at run time: its mail
 * still queues.  Remembered for destinations made later.  Returns how many
 * of this worker's destinations it applied to.
 */
uint32_t queue_ctl_connector(struct worker *w, const char *connector, bool disabled);

/*
 * fix-now for domain (now authoritative): queued recipients of domain that
 * are not in its tenant's directory are returned at once with an NDR
 * (550 5.1.10).  Returns how many.  Worker thread.
 */
uint32_t queue_fixnow(struct worker *w, const char *domain);

#endif
