/*
 * smtp_hops — mail loops at intake.  Every relay a message passes adds a
 * Received: field (RFC 5321 section 6.3), so a message that arrives with
 * very many of them has been going round between relays that route it to
 * each other.  Two pieces: the counter of a message's Received: fields,
 * fed its data as it arrives, and the table of recipient domains whose
 * mail was refused as a loop, behind the "Fix possible mail loop" insight.
 *
 * Not for: the limit and the refusal (net/smtp_server.c compares the
 * count with limits.hops), nor showing the insight (core/ctl/ctl_loop.c).
 *
 * Pure: no I/O, no clock (callers pass the time), no allocation.  Each
 * struct belongs to one thread: a session's counter and a worker's table
 * to that worker; the control thread sees copies (smtp_server_loops).
 */
#ifndef SLUICE_NET_SMTP_HOPS_H
#define SLUICE_NET_SMTP_HOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The counter of one message.  It reads the header section only: the
 * fields up to the first empty line, where it stops looking.  A field
 * counts when its line starts with "Received" in any case, then optional
 * blanks (the obsolete syntax of RFC 5322 section 4.5), then ':'.
 * Continuation lines (folded fields) start with a blank and never count;
 * "Received-SPF:" is another field.  Only the first bytes of each header
 * line are looked at one by one; the rest of a line is skipped with
 * memchr, and nothing after the header section is read at all.
 */
struct smtp_hops {
	uint32_t count;		/* Received: fields so far */
	uint8_t state;		/* private: where in a line the last piece
				   stopped (lines may be cut anywhere) */
};

/* Start counting a new message. */
void smtp_hops_init(struct smtp_hops *h);

/* The next n bytes of the message (as delivered: dot-stuffing undone). */
void smtp_hops_feed(struct smtp_hops *h, const char *p, size_t n);

/* True once the header section has ended (feeding more does nothing). */
bool smtp_hops_done(const struct smtp_hops *h);

#define SMTP_LOOPS_MAX 16	/* domains a worker remembers */
#define SMTP_LOOP_WINDOW 86400	/* s a domain stays after its last loop */

/* One recipient domain whose mail was refused as a loop. */
struct smtp_loop {
	char domain[256];	/* the recipient domain, lower case */
	char connector[128];	/* the connector it routes to, "" none */
	uint64_t messages;	/* messages refused (once each, however many
				   of its recipients are in the domain) */
	uint32_t hops;		/* Received: fields of the last one */
	int64_t first, last;	/* unix s of the first and the last */
	uint64_t last_msg;	/* queue id of the last one */
};

/* A worker's domains refused as loops: a small table, the entry seen
 * longest ago gives way to a new one. */
struct smtp_loops {
	struct smtp_loop v[SMTP_LOOPS_MAX];	/* entries */
	uint32_t n;				/* in use */
};

/*
 * Message msg (its queue id), refused at now with hops Received: fields,
 * had a recipient in domain (len bytes, any case; longer than 255 bytes
 * is cut) that routes to connector ("" none).  Counted once per message
 * and domain.
 */
void smtp_loops_note(struct smtp_loops *t, const char *domain, size_t len,
		     const char *connector, uint32_t hops, uint64_t msg, int64_t now);

/* Copy the entries whose last loop is at most SMTP_LOOP_WINDOW before now
 * into out (at most max) and forget the older ones.  Returns the number
 * copied. */
size_t smtp_loops_get(struct smtp_loops *t, int64_t now, struct smtp_loop *out,
		      size_t max);

#endif
