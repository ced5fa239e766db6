/*
 * queue_types — the in-memory queue of one worker: messages, their
 * per-destination jobs, and the destinations (a connector, or a connector
 * and a recipient domain when it routes by MX).
 *
 * Split from queue.h so the SMTP client and the control socket's
 * snapshots can read these without pulling in the queue's functions.
 * Only the queue's own files write them, but for a destination's cache of
 * idle connections (idle, nidle), which the SMTP client keeps; the client
 * changes everything else through queue.h (queue_conn_opened/gone,
 * queue_next_job, queue_job_done, ...), and struct queue is not its to
 * read.  Everything here belongs to one worker thread.
 */
#ifndef SLUICE_QUEUE_QUEUE_TYPES_H
#define SLUICE_QUEUE_QUEUE_TYPES_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/list.h"
#include "queue/envelope.h"
#include "queue/spool.h"
#include "queue/wheel.h"

#define QUEUE_NCODES 8	/* = MFI_NCODES, kept here to avoid the include */

struct gate;

/* A message in the queue. */
struct qmsg {
	uint64_t id;			/* queue id */
	struct envelope *env;		/* sender, recipients and their states */
	struct spool_loc loc;		/* where its MSG record is */
	struct buf rec;			/* the record, when kept in memory */
	size_t data_off;		/* offset of the message data in rec */
	uint32_t pending;		/* recipients not yet delivered or failed */
	uint32_t njobs;			/* jobs still referring to it */
	bool delay_sent;		/* the "delayed" DSN went out */
	bool held;			/* on hold: no delivery attempts */
	bool finishing;			/* its DONE record is being written */
	uint32_t ndr_inflight;		/* NDRs for it not yet spooled */
	struct list jobs;		/* its jobs (qjob.mlink): lets the
					   control socket act on a message */
	struct qmsg *hnext;		/* id hash chain */
	struct list link;		/* all messages of the worker, by age */
};

/*
 * A message's data being read a piece at a time (queue/queue_data.c):
 * straight from the record the queue keeps in memory, or from the spool.
 * Embedded in its reader (an outbound connection); between
 * queue_data_open and queue_data_close.
 */
struct queue_data {
	const char *mem;		/* the data in memory, or NULL: the spool */
	struct spool_reader sr;		/* reading the spool (mem == NULL) */
	uint64_t size;			/* bytes of data */
	uint64_t off;			/* bytes handed out so far */
	bool open;			/* opened and not yet closed */
};

enum qjob_state {
	QJOB_READY,	/* on dest->ready, waiting for a connection */
	QJOB_ACTIVE,	/* on a connection */
	QJOB_DEFERRED,	/* on dest->deferred, waiting for its timer */
	QJOB_HELD,	/* on dest->deferred, no timer (hold) */
};

/* Operator actions on queued jobs (core/ctl, queue_ctl_apply). */
enum queue_ctl_op {
	QUEUE_CTL_NONE,		/* nothing asked */
	QUEUE_CTL_FLUSH,	/* retry now, bypassing the backoff */
	QUEUE_CTL_HOLD,		/* no attempts until released */
	QUEUE_CTL_RELEASE,	/* end a hold */
	QUEUE_CTL_DELETE,	/* drop without an NDR */
	QUEUE_CTL_BOUNCE,	/* return to the sender now, with an NDR */
	QUEUE_CTL_REQUEUE,	/* route again through the current config */
};

#define QJOB_HIST 8	/* attempts a job remembers (sluicectl show message) */

/* What one attempt did to a job's recipients (struct qjob_attempt). */
#define QJOB_ATT_DELIVERED	0x1	/* some were delivered */
#define QJOB_ATT_DEFERRED	0x2	/* some stay, to be tried again */
#define QJOB_ATT_FAILED		0x4	/* some were returned (5xx) */

/* One delivery attempt of a job, in its history. */
struct qjob_attempt {
	uint32_t at;			/* s after the message's arrival */
	uint32_t ms;			/* how long it took (capped) */
	uint16_t reply;			/* the destination's reply code, 0: none
					   (no reply: a connection failure) */
	uint16_t subj, det;		/* enhanced status: 4.<subj>.<det> */
	uint8_t cls;			/* its class (2, 4, 5), 0: none */
	uint8_t code;			/* enum mfi_code of the failure */
	uint8_t result;			/* QJOB_ATT_* */
};

/* The last QJOB_HIST attempts of a job, kept in memory only (lost on a
 * restart, as the attempt count is); made at its first attempt that
 * leaves recipients. */
struct qjob_hist {
	uint32_t n;			/* attempts recorded in all: the ring
					   holds the last QJOB_HIST of them,
					   the next goes to a[n % QJOB_HIST] */
	struct qjob_attempt a[QJOB_HIST];	/* the ring */
};

/* The recipients of one message that go to one destination. */
struct qjob {
	struct qmsg *msg;		/* the message */
	struct dest *dest;		/* where they go */
	struct list link;		/* on dest->ready or dest->deferred */
	struct wheel_timer timer;	/* next retry, or the expiry */
	uint32_t *rcpt;			/* indexes into msg->env->rcpt */
	uint32_t nrcpt;			/* how many */
	uint32_t attempts;		/* failed attempts so far */
	uint8_t state;			/* enum qjob_state */
	uint8_t last_code;		/* enum mfi_code of the last failure */
	int last_reply;			/* last reply code, 0 if none */
	bool last_answered;		/* the destination answered in SMTP in
					   the last failure (mfi_answered): a
					   report may name it as Remote-MTA */
	uint64_t expires;		/* monotonic s: return it after this */
	int64_t last_attempt;		/* unix s of the last attempt, 0 none */
	char *last_error;		/* last reply or MFI reply line */
	char *last_detail;		/* mfi_detail() of the last failure */
	char *last_host;		/* destination host of the last attempt */
	char *last_ip;			/* and its address */
	struct qjob_hist *hist;		/* its last attempts, or NULL */
	struct list mlink;		/* on msg->jobs */
	uint8_t ctl;			/* enum queue_ctl_op the operator asked
					   for while it was active, applied when
					   the attempt ends (core/ctl) */
};

/* Counters of one destination. */
struct dest_stats {
	uint64_t attempts;		/* transactions and failed connections */
	uint64_t delivered;		/* recipients delivered */
	uint64_t deferred;		/* recipient deferrals */
	uint64_t bounced;		/* recipients returned */
	uint64_t codes[QUEUE_NCODES];	/* failures by enum mfi_code */
	uint64_t remote[2];		/* of codes[MFI_REMOTE], the destination's
					   own replies: [0] 4xx, [1] 5xx */
	uint8_t last_code;		/* enum mfi_code of the last failure */
	int64_t last_time;		/* unix s of the last failure */
	char last_error[256];		/* its reply / MFI line */
	char last_host[128];		/* "host [ip]" it came from */
	int64_t last_attempt;		/* unix s of the last attempt, 0 none */
	uint64_t retries;		/* attempts of jobs that failed before */
};

#define DEST_CERTS_MAX	16	/* hosts whose certificate a destination
				   keeps (= the hosts a connection tries) */
#define DEST_CERT_SUBJECT 128	/* bytes of a subject kept, NUL included */

/* The certificate one host of a destination showed at its last TLS
 * handshake (queue_dest_cert): what the expiry insight is made of. */
struct dest_cert {
	char host[256];			/* the host's name (or IP literal) */
	char subject[DEST_CERT_SUBJECT]; /* its subject's CN as the certificate
					   has it: the peer's bytes (subject_len
					   of them, may hold a NUL), then a NUL */
	uint32_t subject_len;		/* bytes of subject */
	int64_t not_after;		/* when it expires, unix s */
	int64_t seen;			/* when that handshake was, unix s */
};

/* A destination: the unit of connection reuse, caps and health. */
struct dest {
	char *name;			/* "connector" or "connector/domain" */
	char *connector;		/* connector name */
	char *domain;			/* MX-routed domain, or NULL */
	struct dest *hnext;		/* name hash chain */
	struct list ready;		/* jobs waiting for a connection */
	struct list deferred;		/* jobs waiting for their timer */
	struct list idle;		/* cached connections (struct smtp_conn),
					   kept by the SMTP client */
	uint32_t nready;		/* jobs on ready */
	uint32_t ndeferred;		/* jobs on deferred */
	uint32_t nactive;		/* jobs on connections */
	uint32_t nconns;		/* connections of this worker
					   (queue_conn_opened/gone) */
	uint32_t nidle;			/* of which cached: the client's; the
					   queue reads it to try reuse first */
	uint32_t failures;		/* consecutive connection-level failures */
	bool down;			/* marked down: only probes connect */
	bool probing;			/* a probe connection is out */
	uint64_t probe_at;		/* monotonic s of the next probe */
	struct wheel_timer probe;	/* fires at probe_at */
	struct gate *gate;		/* connection cap shared by all workers */
	struct dest_stats st;		/* counters */
	bool disabled;			/* connector disabled at run time
					   (sluicectl connector disable) */
	uint32_t ctl_idx;		/* scratch index of a control-socket
					   snapshot, worker thread only */
	struct dest_cert *certs;	/* its hosts' certificates (NULL until
					   the first handshake that notes one) */
	uint32_t ncerts;		/* their number, <= DEST_CERTS_MAX */
	bool no_bdat;			/* a host of it offered CHUNKING but
					   refused BDAT as a command: DATA
					   from now on (until a restart) */
};

struct queue_transport;

/* The queue state of one worker. */
struct queue {
	const struct queue_transport *transport; /* delivers the jobs */
	struct wheel wheel;		/* the worker's timers: retries,
					   expiries, probes, and the SMTP
					   sessions' DATA budgets */
	struct dest **dests;		/* hash table of destinations */
	uint32_t ndestslots;		/* its size (power of two) */
	uint32_t ndests;		/* destinations */
	struct qmsg **msgs;		/* hash table of messages by id */
	uint32_t nmsgslots;		/* its size (power of two) */
	uint32_t nmsgs;			/* messages */
	struct list all;		/* every message, oldest first */
	uint64_t rng;			/* jitter */
	uint64_t mem;			/* bytes of message data kept in memory */
	int64_t spool_drift;		/* spool live count minus nmsgs, as last
					   logged (0: they agree, as they must) */
	uint32_t nconns;		/* client connections (all destinations;
					   queue_conns) */
	char **disabled;		/* connectors disabled at run time, so
					   new destinations start disabled */
	uint32_t ndisabled;		/* their number */
};

#endif
