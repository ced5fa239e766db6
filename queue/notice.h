/*
 * notice — the plain-text message Sluice mails to its operators when an
 * alert is raised, changes or clears (core/ctl/ctl_notify.c says what it
 * says; this writes it).
 *
 * notice_build() writes one complete RFC 5322 message, CRLF throughout,
 * no line over 998 bytes: From "Sluice HOST" <postmaster@HOST>, To the
 * recipients, a Subject tagged "[Sluice HOST]", Auto-Submitted:
 * auto-generated (RFC 3834: no auto-reply comes back), and a text/plain
 * body of an opening paragraph, labelled fields ("  Last error:  ...")
 * and closing notes, each wrapped at 76 columns.
 *
 * Not for: deciding what is sent or to whom, or queueing it
 * (queue_notice_send, queue/queue.h).  Every string is sanitised the way
 * queue/dsn.c sanitises a report's (its pieces are reused): CR, LF and
 * every other control byte can never start a header line or end the
 * header section, whatever a connector name, a tenant, a domain or a
 * remote reply holds.  Pure: any thread; no allocation except into the
 * caller's struct buf.
 */
#ifndef SLUICE_QUEUE_NOTICE_H
#define SLUICE_QUEUE_NOTICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define NOTICE_SUBJECT_MAX	200	/* bytes of the subject after its tag */
#define NOTICE_TEXT_MAX		2000	/* bytes of one paragraph or field */
#define NOTICE_LABEL_W		18	/* the field column: "  What happened:  " */

/* notice_build() result bit: the body holds 8-bit text (UTF-8): send it
 * with BODY=8BITMIME. */
#define NOTICE_8BIT		0x01

/* One labelled line of the body.  Strings are borrowed. */
struct notice_field {
	const char *label;	/* "Last error:", ASCII, at most 15 bytes to
				   stay within the column */
	const char *text;	/* its value, any bytes (sanitised); NULL or
				   "": the line is left out */
};

/* Everything one notice says.  Strings are borrowed; NULL means absent. */
struct notice {
	const char *hostname;	/* this relay: From: postmaster@, the
				   subject's tag, the Message-ID */
	const char *const *to;	/* recipients, "local@domain" */
	size_t nto;		/* their number */
	const char *subject;	/* after "[Sluice HOSTNAME] " */
	const char *tag;	/* X-Sluice-Alert: value ("queue raised
				   partner"), for filters; NULL: none */
	const char *opening;	/* the first paragraph */
	const struct notice_field *fields;	/* then these lines */
	size_t nfields;		/* their number */
	const char *const *notes;	/* then these paragraphs */
	size_t nnotes;		/* their number */
	int64_t now;		/* unix s: Date: */
	uint64_t unique;	/* random per notice: the Message-ID */
};

/*
 * Append notice n to out as a complete message (headers, blank line,
 * body).  Returns NOTICE_8BIT when the body holds UTF-8.
 */
unsigned notice_build(const struct notice *n, struct buf *out);

#endif
