/*
 * ctl_run — what the files of the control plane share: a command being
 * run (struct ctl_run) and its answer, the requests it sends to the
 * workers (struct ctl_wreq) with the snapshots they answer, and the
 * control thread's state (struct ctl).  Implemented by core/ctl/ctl_run.c.
 * Not an API for anyone outside core/ctl/ (that is core/ctl/ctl.h).
 *
 * Layering inside core/ctl/, bottom up (the whole map: core/ctl/ctl.h):
 * ctl_parse (pure) and this plumbing; ctl_table and ctl_snap; the command
 * files, each defining its commands (struct ctl_cmd) next to their
 * handlers; ctl.c, the socket and the dispatcher, which lists them.
 * Nothing here knows a command or the dispatcher, so no file calls up.
 * ctl_worker.c, on the workers' side, uses only this.
 *
 * A command runs as a struct ctl_run owned by the control thread.  When it
 * needs worker state it sends one struct ctl_wreq per worker (a "round")
 * through the worker's MPSC queue; the worker fills in the reply, marks it
 * done and writes the control thread's eventfd.  A request belongs to the
 * worker from the push until `done` is set, then to the control thread.
 */
#ifndef SLUICE_CORE_CTL_CTL_RUN_H
#define SLUICE_CORE_CTL_CTL_RUN_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/ctl/ctl_parse.h"
#include "core/ctl/ctl_select.h"
#include "core/log.h"
#include "core/mpsc.h"
#include "core/worker.h"
#include "net/smtp_client.h"
#include "net/smtp_hops.h"
#include "queue/queue.h"

#define CTL_NAME_MAX 128	/* connector name in a request */
#define CTL_NBUCKETS 11		/* qshape: 5 10 20 ... 1280 1280+ minutes */
#define CTL_CHUNK 1000		/* show queue rows per worker request */
#define CTL_ACT_BUDGET 5000	/* messages walked per action request */
#define CTL_TIMEOUT 10		/* s a worker has to answer */
#define CTL_HEAD_MAX (64u << 10)	/* show message: header bytes read */
#define CTL_MATCH_BUDGET (4u << 20)	/* bytes a request's patterns may
					   compare (ctl_glob), then it stops
					   and is resumed from its cursor */

/* What a worker is asked to do. */
enum ctl_wkind {
	CTL_W_SNAP,		/* counters and queue state: struct ctl_snap */
	CTL_W_QUEUE,		/* a chunk of show queue rows */
	CTL_W_ACT,		/* queue_ctl_apply */
	CTL_W_CONNECTOR,	/* queue_ctl_connector */
	CTL_W_VALIDATE,		/* smtp_client_validate: answered later */
	CTL_W_FIXNOW,		/* queue_fixnow(connector = the domain) */
	CTL_W_MESSAGE,		/* one message, all of it: struct ctl_minfo */
	CTL_W_CONFIG,		/* the config the worker runs, held */
	CTL_W_NOTICE,		/* queue_notice_send: spool an alert notice */
};

/* CTL_W_SNAP flags. */
#define CTL_SNAP_DESTS	0x1	/* per-destination counters, O(destinations) */
#define CTL_SNAP_SCAN	0x2	/* walk every message: states, ages, qshape */
#define CTL_SNAP_ALERT	0x4	/* walk the oldest messages only: oldest per
				   destination, messages older than alert_age
				   (stops once every destination is decided) */

/* One destination of one worker, as a snapshot. */
struct ctl_dest_snap {
	char name[256];			/* "connector" or "connector/domain" */
	char connector[CTL_NAME_MAX];	/* its connector */
	bool down;			/* marked down */
	bool disabled;			/* connector disabled at run time */
	uint32_t nready;		/* jobs waiting for a connection */
	uint32_t ndeferred;		/* jobs waiting for a timer (incl. held) */
	uint32_t nactive;		/* jobs on connections */
	uint32_t nheld;			/* held jobs (SCAN) */
	uint32_t nconns;		/* connections */
	uint32_t failures;		/* consecutive connection failures */
	int64_t oldest;			/* arrival (unix s) of its oldest job,
					   0 if unknown (SCAN or ALERT) */
	int64_t oldest_expiry;		/* when that job expires (unix s) */
	uint32_t old;			/* jobs older than alert_age (ALERT:
					   exact below the threshold) */
	uint32_t old_codes[QUEUE_NCODES]; /* their last failure codes */
	uint32_t buckets[CTL_NBUCKETS];	/* jobs by age (SCAN) */
	struct dest_stats st;		/* counters */
};

/* A connector of the worker's config. */
struct ctl_conn_cfg {
	char name[CTL_NAME_MAX];	/* its name */
	bool enabled;			/* config says enabled */
	bool mx;			/* routes by MX */
	uint32_t expiry;		/* s after arrival */
	char hosts[256];		/* smart hosts, "h:p h:p", or "MX" */
	bool disabled;			/* disabled at run time */
	uint32_t cert_warning;		/* certificate warning window, s (0 off) */
	uint8_t tls;			/* enum cfg_tls_policy */
};

/* A certificate one of a worker's destinations saw (DESTS). */
struct ctl_cert_snap {
	char connector[CTL_NAME_MAX];	/* the destination's connector */
	struct dest_cert c;		/* the host, its certificate, when */
};

/* A worker's answer to CTL_W_SNAP.  Arrays are malloc()ed by the worker
 * and freed by the control thread. */
struct ctl_snap {
	struct worker_stats st;		/* the worker's counters */
	unsigned nsessions;		/* SMTP sessions now */
	unsigned nconns;		/* outbound connections now */
	uint64_t spool_bytes;		/* live spool segments and body files */
	uint32_t spool_segments;	/* segment files */
	uint64_t spool_age;		/* s since the oldest segment other than
					   the current one was started, 0 none */
	uint64_t qmem;			/* message data held in memory */
	uint64_t data_mem;		/* DATA buffered by SMTP sessions */
	uint32_t nmsgs;			/* messages queued */
	char cfg_path[512];		/* config in use */
	char hostname[256];		/* its hostname */
	char spool_dir[512];		/* spool root */
	struct ctl_conn_cfg *conns;	/* the config's connectors */
	size_t nconn;			/* their number */
	struct ctl_dest_snap *dests;	/* destinations (DESTS) */
	size_t ndests;			/* their number */
	uint32_t hops_limit;		/* limits.hops of its config */
	struct smtp_loop *loops;	/* domains refused as loops (ALERT) */
	size_t nloops;			/* their number */
	struct ctl_cert_snap *certs;	/* their hosts' certificates (DESTS) */
	size_t ncerts;			/* their number */
};

/* One show queue row; strings are offsets into the request's arena. */
struct ctl_qrow {
	uint64_t id;			/* queue id */
	int64_t arrival;		/* unix s */
	int64_t last_attempt;		/* unix s, 0 none */
	uint32_t attempts;		/* failed attempts (most of its jobs) */
	uint32_t nrcpt;			/* recipients listed */
	uint8_t state;			/* worst enum qjob_state of its jobs */
	uint8_t code;			/* enum mfi_code of the last failure */
	uint32_t sender;		/* sender */
	uint32_t rcpts;			/* nrcpt NUL-terminated addresses */
	uint32_t connectors;		/* destinations, "a b" */
	uint32_t error;			/* last error text ("" none) */
};

/* One job of a message, as show message shows it. */
struct ctl_mjob {
	uint32_t dest;			/* arena: its destination */
	uint8_t state;			/* enum qjob_state */
	uint8_t ctl;			/* enum queue_ctl_op waiting for the attempt */
	uint8_t code;			/* enum mfi_code of the last failure */
	int reply;			/* its reply code, 0 none */
	uint32_t attempts;		/* failed attempts */
	uint32_t nrcpt;			/* recipients */
	int64_t last_attempt;		/* unix s, 0 none */
	int64_t next_try;		/* unix s of its timer, 0 none (ready, held,
					   on a connection) */
	int64_t expires;		/* unix s it is returned at */
	uint32_t error, detail;		/* arena: last reply line, and what
					   happened ("" none) */
	uint32_t host, ip;		/* arena: where the last attempt went */
	uint32_t nhist;			/* attempts its history saw in all */
	struct qjob_attempt hist[QJOB_HIST];	/* the last of them, oldest first */
};

/* A message, all of it (CTL_W_MESSAGE); the worker that has it fills it. */
struct ctl_minfo {
	struct buf env;			/* its envelope (envelope_encode) */
	struct buf head;		/* its header section, as spooled */
	uint64_t size;			/* bytes of its data */
	int head_rc;			/* 0, or -errno: its data was not readable */
	bool head_cut;			/* no end of the headers within
					   CTL_HEAD_MAX bytes */
	struct spool_loc loc;		/* where its record is */
	bool in_memory;			/* the queue holds its data */
	bool held;			/* on hold as a whole */
	bool finishing;			/* its DONE record is being written */
	uint32_t ndr_inflight;		/* its reports being spooled */
	struct ctl_mjob *jobs;		/* its jobs */
	uint32_t njobs;			/* their number */
	uint32_t *rcpt_job;		/* per recipient: index in jobs, or
					   UINT32_MAX (delivered, failed, or
					   pending its report) */
	struct buf arena;		/* the jobs' strings */
};

struct ctl_run;
struct config;

/* One request to one worker, and its answer. */
struct ctl_wreq {
	struct mpsc_node node;		/* on the worker's ctlq */
	atomic_int done;		/* set (release) by the worker */
	struct ctl_wreq *next;		/* control thread: in-flight list */
	struct ctl_run *run;		/* whom it answers; NULL if orphaned */
	unsigned worker;		/* index of the worker */
	enum ctl_wkind kind;		/* what to do */
	/* arguments */
	unsigned flags;			/* CTL_SNAP_* */
	uint32_t alert_threshold;	/* ALERT: messages */
	uint32_t alert_age;		/* ALERT, SCAN: s */
	char connector[CTL_NAME_MAX];	/* filter, or the connector; "" all */
	struct ctl_sel sel;		/* QUEUE, ACT: which mail */
	uint64_t id;			/* message id, 0 none */
	uint64_t cursor;		/* QUEUE, ACT: resume after this id */
	uint32_t limit;			/* QUEUE: rows at most */
	enum queue_ctl_op op;		/* ACT */
	bool disable;			/* CONNECTOR */
	uint8_t scope;			/* CONNECTOR: enum ctl_cl_scope, for the
					   round's end (the worker ignores it) */
	/* answers */
	int rc;				/* 0 or -errno */
	bool known;			/* the connector exists in its config */
	struct ctl_snap snap;		/* SNAP */
	struct ctl_qrow *rows;		/* QUEUE */
	uint32_t nrows;			/* their number */
	struct buf arena;		/* their strings */
	bool end;			/* QUEUE: nothing after these */
	struct queue_ctl_result act;	/* ACT */
	uint32_t ndests;		/* CONNECTOR: destinations changed */
	struct ctl_minfo *msg;		/* MESSAGE: the message, NULL not here */
	const struct config *cfg;	/* CONFIG: the worker's, held
					   (config_hold) until the request is
					   freed */
	char rcpt[256];			/* VALIDATE: recipient to try, "" none */
	bool send;			/* VALIDATE: send it the test message */
	struct smtp_validate val;	/* VALIDATE: the report */
	struct buf mail;		/* NOTICE: the message, CRLF */
	struct buf mail_to;		/* NOTICE: its recipients, each
					   NUL-terminated */
	uint32_t nmail_to;		/* NOTICE: their number */
	bool mail_8bit;			/* NOTICE: BODY=8BITMIME */
	char mail_what[192];		/* NOTICE: what it is about, for the log */
};

/*
 * The output side of a control connection: where a run's answer goes.
 * core/ctl/ctl.c owns the connection (socket, input, peer) and embeds
 * this in it; the plumbing only appends to out and clears run.
 */
struct ctl_client {
	struct buf out;			/* answers not yet sent */
	size_t out_off;			/* bytes of out already sent */
	bool quit;			/* close once the output is sent */
	struct ctl_run *run;		/* command running, or NULL */
};

/* A command being run for a client (or for the control thread itself). */
struct ctl_run {
	struct ctl_client *cl;		/* where the answer goes; NULL: internal,
					   or the client left */
	const struct ctl_cmd *cmd;	/* what runs */
	int argc;			/* words after the command's own */
	char *argv[CTL_MAXARGS];	/* into line */
	char line[CTL_LINE_MAX + 1];	/* the request, split in place */
	bool json;			/* trailing "json" */
	unsigned outstanding;		/* requests not yet answered */
	struct ctl_wreq **reqs;		/* round: one per worker */
	int64_t deadline;		/* monotonic s: give up waiting */
	/* called on the control thread: */
	void (*on_reply)(struct ctl_run *r, struct ctl_wreq *q); /* each answer
					   (default: collect for the round) */
	void (*on_round)(struct ctl_run *r);	/* all answers are in */
	void (*on_drain)(struct ctl_run *r);	/* client output drained:
						   produce more (streaming) */
	void (*on_free)(struct ctl_run *r);	/* free state */
	void *state;			/* the command's own */
	uint64_t jitems;		/* items of a streamed JSON answer sent */
	bool jbroken;			/* its opening could not be built */
};

/* The control thread's shared state (set up by ctl_start, core/ctl/ctl.c). */
struct ctl {
	struct worker *ws;		/* the workers */
	unsigned nw;			/* their number */
	int efd;			/* answers and stop wake us here */
	char path[108];			/* socket path */
	char version[32];		/* for show info */
	int64_t started;		/* unix s */
	uint32_t alert_threshold;	/* queue alert: messages (200) */
	uint32_t alert_age;		/* queue alert: s (3600) */
};

extern struct ctl ctl;

/* ---- ctl_run.c: output and plumbing (control thread) ---- */

/* Append to the answer of r (dropped if the client left). */
void ctl_printf(struct ctl_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void ctl_write(struct ctl_run *r, const char *p, size_t n);
/* Print table t (core/ctl/ctl_table.h) into r's answer and free it. */
struct ctl_table;
void ctl_table_print(struct ctl_table *t, struct ctl_run *r);
/* Bytes of r's client output not yet sent (0 when no client). */
size_t ctl_pending(const struct ctl_run *r);
/* Append j (consumed) as one compact JSON line; if j is NULL (a jansson
 * call failed) or cannot be dumped, the line is {"error": ...} instead:
 * an answer is valid JSON or an error, never half. */
void ctl_json(struct ctl_run *r, json_t *j);
/* Append the one-line {"error": ...} that says the answer failed. */
void ctl_json_error(struct ctl_run *r);
/*
 * A JSON answer streamed as it is produced, one array element per line:
 * {"KEY":[ then items (each consumed; -ENOMEM if NULL or not dumpable,
 * nothing written then) then _end with the members of tail (an object,
 * consumed; {} for none; NULL, a failed build, becomes an "error"
 * member) and the closing brace.  Every byte comes from
 * jansson's output, so the whole is valid JSON whatever the items hold.
 */
void ctl_json_stream_begin(struct ctl_run *r, const char *key);
int ctl_json_stream_item(struct ctl_run *r, json_t *item);
void ctl_json_stream_end(struct ctl_run *r, json_t *tail);
/* j (consumed) as one compact line of JSON text (malloc()ed, the caller
 * frees it), or NULL when j is NULL or cannot be dumped: for JSON that
 * leaves the daemon other than as an answer or a log line (a webhook). */
char *ctl_json_text(json_t *j);
/* Answer "error: ..." (or JSON) and end r. */
void ctl_fail(struct ctl_run *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* End r's answer (the empty line) and free it. */
void ctl_end(struct ctl_run *r);
/* A new run answering cl, which then runs it (NULL: a run with no
 * client, such as the periodic alert checks). */
struct ctl_run *ctl_run_new(struct ctl_client *cl);
/* Free r without answering: requests still out lose their run (they are
 * freed when their worker answers). */
void ctl_run_free(struct ctl_run *r);
/* A new request of kind for worker i, owned by r until sent. */
struct ctl_wreq *ctl_req_new(struct ctl_run *r, unsigned i, enum ctl_wkind kind);
/* Push q to its worker and wake it. */
void ctl_req_send(struct ctl_wreq *q);
/* Free an answered request and what its answer holds. */
void ctl_req_free(struct ctl_wreq *q);
/* Send a copy of tmpl to every worker; r->on_round runs when all are in,
 * with r->reqs[i] the answer of worker i. */
void ctl_round(struct ctl_run *r, const struct ctl_wreq *tmpl);
/* Worker answers arrived (the eventfd fired): hand each finished request
 * to its run, free the orphans. */
void ctl_answers(void);
/* Fail the runs whose requests are past their deadline (once a second). */
void ctl_timeouts(void);
/* True while a worker holds a request. */
bool ctl_inflight(void);
/* Monotonic seconds. */
int64_t ctl_mono(void);

#endif
