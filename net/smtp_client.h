/*
 * smtp_client — outbound SMTP on a worker's ring: resolve the destination
 * (smart hosts or MX, then A/AAAA), connect with a linked timeout, banner,
 * EHLO (HELO fallback), then transactions with PIPELINING, SIZE, 8BITMIME,
 * SMTPUTF8 and DSN parameters, per-recipient results, connection reuse
 * (an idle cache per destination, RSET before reuse) and QUIT.
 *
 * Every network op carries a linked timeout.  A connection reports each
 * job's outcome to the queue (queue_job_done) and asks it for the next one.
 * Everything runs on the owning worker's thread.  Its files, set-up,
 * transactions and plumbing, are mapped in net/smtp_client_int.h.
 */
#ifndef SLUICE_NET_SMTP_CLIENT_H
#define SLUICE_NET_SMTP_CLIENT_H

#include <stdbool.h>

#include "core/buf.h"

struct worker;
struct queue_transport;

/*
 * The queue's transport (queue/queue.h, queue_init): opens a connection
 * for a job, hands a job to an idle cached connection of its destination,
 * and once a second closes cached connections idle for too long.
 */
extern const struct queue_transport smtp_client_transport;

/* Draining: close idle connections now; busy ones after their job. */
void smtp_client_drain(struct worker *w);

/*
 * A test connection through a connector's real client path ("validate
 * connector"): DNS, connect, banner, EHLO, STARTTLS and certificate as the
 * policy says, MAIL FROM:<> and RCPT TO:<rcpt>, then RSET and QUIT:
 * nothing is sent.  With send, DATA and a test message
 * (net/smtp_testmsg.h) instead of the RSET: the steps "data" (DATA, the
 * message, until the reply to its final dot; a connection lost on the way
 * fails here) and "end-of-data" (that reply).  The message is not queued
 * and never retried.  Each step is recorded; done runs once on the worker
 * thread.
 */
struct smtp_validate {
	void (*done)(struct smtp_validate *v);	/* called when finished */
	struct buf steps;	/* lines "STEP\tok|fail\tDETAIL\n" */
	int code;		/* enum mfi_code of the failure, 0 if none */
	char step[16];		/* the step that failed ("dns", "connect",
				   "data"...: its line in steps), "" if none */
	char verdict[600];	/* "ok", or the code's reply line and detail */
};

/*
 * Start a validation of connector (by name) for rcpt (its domain routes an
 * MX connector; NULL: postmaster@ the first smart host), sending the test
 * message when send (rcpt must not be NULL then).  v must stay valid until
 * v->done has run.  Returns 0, -ENOENT if there is no such connector, or
 * -EINVAL for send without rcpt (done does not run then).
 */
int smtp_client_validate(struct worker *w, const char *connector, const char *rcpt,
			 bool send, struct smtp_validate *v);

/* Connections still open on this worker. */
unsigned smtp_client_count(const struct worker *w);

#endif
