/*
 * dsn — delivery status notifications (RFC 3464, 3461, 3462, 3834): the
 * non-delivery report sent to the sender when recipients fail or expire,
 * and the "delayed" warning sent while they are still being retried.
 *
 * dsn_build() writes one complete RFC 5322 message, CRLF throughout, lines
 * <= 998 bytes: a multipart/report with a human-readable part (which, for a
 * mail-flow-intelligence code, says what happened, the fix and who should
 * act), the machine-readable message/delivery-status part, and the original
 * message or its headers as RET asked.  The caller queues it with a null
 * reverse path (MAIL FROM:<>) to the original sender, which is what keeps
 * reports from ever bouncing in a loop.
 *
 * Not for: deciding which recipients are reported (dsn_wanted() answers
 * the NOTIFY part of that), sending, or reading a clock: "now" is a field.
 * Every string from the envelope, the original message or a remote server
 * is sanitised here, so no header can be injected through them.  Pure:
 * any thread; no allocation except into the caller's struct buf.
 */
#ifndef SLUICE_QUEUE_DSN_H
#define SLUICE_QUEUE_DSN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/mfi/mfi.h"

/* Most of the original message ever returned (the ceiling of orig_max). */
#define DSN_ORIG_MAX	(10u * 1024 * 1024)

/* What a report of the original's headers needs of it: its first bytes, up
 * to this many (a header section longer than that is cut there). */
#define DSN_HEAD_MAX	(64u * 1024)

/* Longest original Subject carried into the report's Subject. */
#define DSN_SUBJECT_MAX	200

/* What happened to one recipient (RFC 3464 2.3.3 Action). */
enum dsn_action {
	DSN_ACTION_FAILED,	/* returned: rejected, expired or bounced
				   by the operator */
	DSN_ACTION_DELAYED,	/* still queued and being retried */
};

/* The Status of a recipient returned because its time ran out.  See the
 * comment at rcpt_status() in dsn.c for why 5.4.7 and not 4.4.7. */
#define DSN_STATUS_EXPIRED	"5.4.7"

/* One recipient in a report.  Strings are borrowed; NULL means absent. */
struct dsn_rcpt {
	const char *addr;	/* final recipient "local@domain" (UTF-8 ok) */
	const char *orcpt;	/* ORCPT as received ("rfc822;a+2Bb@c", xtext) */
	enum dsn_action action;	/* failed or delayed */
	const char *status;	/* RFC 3463 "5.1.1"; NULL (or malformed):
				   DSN_STATUS_EXPIRED if expired, else from
				   the reply, the MFI code, else 5.0.0
				   (failed) or 4.0.0 (delayed) */
	bool expired;		/* failed because it ran out of time: the
				   queue's expiry ended its retries */
	uint32_t attempts;	/* attempts made (told when expired) */
	enum mfi_code code;	/* classification of the last attempt */
	int reply_code;		/* the reply code, 0 if none */
	const char *reply_text;	/* the reply text (with or without code):
				   the destination's for MFI_REMOTE, else
				   one Sluice made itself (fix-now, no
				   route: code MFI_NONE) */
	const char *remote_mta;	/* the destination that answered in SMTP
				   (host name, or its IP), NULL when none did
				   (DNS, connect failures: mfi_answered) */
	const char *detail;	/* one-line mfi_detail() of the last attempt */
	int64_t last_attempt;	/* unix seconds of the last attempt, 0 none */
};

/* Everything one report says.  Strings are borrowed; NULL means absent. */
struct dsn_report {
	const char *reporting_mta;	/* our host name (From:, Reporting-MTA) */
	const char *envid;	/* ENVID as received (xtext), or NULL */
	const char *queue_id;	/* our queue id, shown to humans, or NULL */
	int64_t arrival;	/* unix seconds the message was accepted */
	int64_t now;		/* unix seconds: the report's Date */
	int64_t retry_until;	/* for delayed recipients: when we give up */
	const char *orig_sender; /* the original reverse path: the report's To */
	uint8_t ret;		/* enum env_ret: FULL returns the whole
				   message (up to orig_max), HDRS or NONE
				   only its headers */
	const struct dsn_rcpt *rcpts;	/* recipients reported */
	size_t nrcpt;		/* how many */
	const char *orig;	/* original message, headers + body, CRLF;
				   or only its head (origsize says) */
	size_t origlen;		/* bytes at orig */
	uint64_t origsize;	/* the whole original's size, 0: origlen.
				   Larger than origlen when the caller read
				   only the head (DSN_HEAD_MAX): then only
				   headers can go back */
	uint64_t orig_max;	/* RET=FULL returns the original whole only
				   up to this size (ndr_return_max), else its
				   headers; at most DSN_ORIG_MAX counts */
	const char *message_id_host;	/* right side of Message-ID; NULL:
					   reporting_mta */
	uint64_t unique;	/* random per report: Message-ID, boundary */
};

/* dsn_build() result bits: what the transmission of the report needs. */
#define DSN_8BIT	0x01	/* 8-bit body data (incl. message/global parts):
				   send with BODY=8BITMIME */
#define DSN_SMTPUTF8	0x02	/* the recipient (original sender) is a UTF-8
				   address, so is To:: needs SMTPUTF8 */

/*
 * Append the report r to out as a complete message (headers, blank line,
 * MIME body), CRLF line endings, no line over 998 bytes.  A report with at
 * least one failed recipient is a non-delivery report ("Undeliverable:");
 * one with only delayed recipients is a delay warning ("Delayed:").  With
 * RET=FULL the whole original is returned if it is at most DSN_ORIG_MAX
 * bytes, else (and for RET=HDRS or no RET) only its header section.
 * Returns DSN_8BIT / DSN_SMTPUTF8 bits.
 */
unsigned dsn_build(const struct dsn_report *r, struct buf *out);

/*
 * Whether a recipient's NOTIFY (ENV_NOTIFY_* bits, 0 if absent) asks for
 * a report of this kind (delayed: a delay warning; else a failure).
 * Absent: failures and delays both; NEVER: nothing; an explicit list: only
 * what it lists.
 */
bool dsn_wanted(uint8_t notify, bool delayed);

/*
 * True for the null reverse path ("" or "<>", or NULL): its messages get
 * no report (they are reports themselves, RFC 5321 4.5.5).
 */
bool dsn_is_null_sender(const char *sender);

/*
 * The Subject of the original message (len bytes, header section read up
 * to the first empty line): unfolded, control characters as '?', tabs as
 * spaces, invalid UTF-8 as '?', surrounding blanks trimmed, truncated to
 * buflen - 1 bytes on a character boundary.  Writes "" if there is none.
 * Returns buf.
 */
const char *dsn_subject(const char *orig, size_t len, char *buf, size_t buflen);

/*
 * The pieces a report is written with, for the other messages Sluice
 * writes itself (queue/notice.h, the alert notices), so every such
 * message is sanitised the same way.  Each appends to out.
 */

/* s, sanitised as the report's text (printable ASCII and valid UTF-8; a
 * run of CR/LF becomes one space, every other control byte '?'), at most
 * max bytes, a cut marked "...".  Returns true if non-ASCII went out. */
bool dsn_put_text(struct buf *out, const char *s, size_t max);

/* A host name for a header: letters, digits and ".-_[]:", anything else
 * '-'; "localhost" for NULL or "". */
void dsn_put_host(struct buf *out, const char *host);

/* t (unix s) as an RFC 5322 date-time in UTC. */
void dsn_put_date(struct buf *out, int64_t t);

/* "Subject: s" and CRLF; s is sanitised text (dsn_put_text): non-ASCII
 * goes out as RFC 2047 encoded words on folded lines. */
void dsn_put_subject(struct buf *out, const char *s);

/* text (n bytes, sanitised, no CR/LF) after lead, wrapped at 76 columns,
 * continuation lines indented by ind spaces; ends with CRLF. */
void dsn_put_wrapped(struct buf *out, const char *lead, size_t ind, const char *text,
		     size_t n);

#endif
