/*
 * smtp_testmsg — the message `sluicectl validate connector NAME RCPT --send`
 * sends through a connector to prove that delivery works to the end of
 * the data (a server that drops the connection mid-DATA passes a test that
 * stops at RCPT).  It says plainly what it is: its Subject, an
 * X-Sluice-Validation: field naming the connector, Auto-Submitted (RFC
 * 3834, so that no autoresponder answers it), and a short text.  It is
 * sent with the null reverse path <> by the client (net/smtp_client_txn.c),
 * like the test without --send, so that nothing ever comes back from it.
 *
 * Not for: sending (the SMTP client does that, once, unqueued).  Pure: no
 * I/O, no clock (the caller passes the date); any thread.
 */
#ifndef SLUICE_NET_SMTP_TESTMSG_H
#define SLUICE_NET_SMTP_TESTMSG_H

#include <stdint.h>

#include "core/buf.h"

#define SMTP_TESTMSG_SUBJECT "Sluice connector validation test"
#define SMTP_TESTMSG_FIELD "X-Sluice-Validation"
#define SMTP_TESTMSG_ID_MAX 300	/* a Message-ID with its brackets, NUL */

/* What the test message says.  Strings are borrowed; a byte outside
 * printable ASCII in any of them is written as '?'. */
struct smtp_testmsg {
	const char *hostname;	/* this relay: postmaster@ it is the From:,
				   and it ends the Message-ID */
	const char *connector;	/* the connector under test */
	const char *rcpt;	/* the operator's recipient, the To: */
	const char *date;	/* RFC 5322 date-time of the Date: field */
	uint64_t unique;	/* makes the Message-ID unique */
};

/* The Message-ID of m, "<validate.UNIQUE@hostname>", into out. */
void smtp_testmsg_id(const struct smtp_testmsg *m, char out[SMTP_TESTMSG_ID_MAX]);

/* Append the whole message (header section, empty line, text; CRLF line
 * ends, not dot-stuffed) to out. */
void smtp_testmsg_build(const struct smtp_testmsg *m, struct buf *out);

#endif
