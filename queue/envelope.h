/*
 * envelope — what the SMTP transaction said about a message (sender,
 * recipients, DSN parameters, where it came from) and its compact binary
 * form inside spool records.
 *
 * Pure: encode into a struct buf, decode into one heap block.  Any thread.
 */
#ifndef SLUICE_QUEUE_ENVELOPE_H
#define SLUICE_QUEUE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/*
 * The DSN parameters of the transaction (RFC 3461, 6152), as the SMTP
 * parser (net/smtp_proto.c) produces them and the spool stores them: these
 * values are part of the record format.
 */
#define ENV_NOTIFY_NEVER	0x01	/* NOTIFY=NEVER */
#define ENV_NOTIFY_SUCCESS	0x02	/* NOTIFY=SUCCESS */
#define ENV_NOTIFY_FAILURE	0x04	/* NOTIFY=FAILURE */
#define ENV_NOTIFY_DELAY	0x08	/* NOTIFY=DELAY */

/* BODY= of MAIL FROM. */
enum env_body { ENV_BODY_NONE, ENV_BODY_7BIT, ENV_BODY_8BITMIME };
/* RET= of MAIL FROM: what an NDR returns of the original. */
enum env_ret { ENV_RET_NONE, ENV_RET_FULL, ENV_RET_HDRS };

/* Per-recipient delivery state, as recorded in the spool. */
enum env_rcpt_state {
	ENV_RCPT_PENDING,	/* still to deliver */
	ENV_RCPT_DELIVERED,	/* accepted by the destination */
	ENV_RCPT_FAILED,	/* permanently failed, NDR owed or sent */
};

struct env_rcpt {
	char *addr;		/* "local@domain", NUL-terminated */
	char *orcpt;		/* ORCPT value "type;xtext" or NULL */
	uint8_t notify;		/* ENV_NOTIFY_* bits */
	uint8_t state;		/* enum env_rcpt_state */
	uint16_t tries;		/* failed attempts so far: not encoded, kept
				   by the spool's TRIED records */
};

struct envelope {
	uint64_t id;		/* queue id */
	int64_t arrival;	/* unix seconds when the 250 was given */
	char *sender;		/* reverse path, "" for <> */
	char *envid;		/* ENVID or NULL */
	char *helo;		/* client's EHLO/HELO name */
	char *client;		/* client IP address as text */
	uint8_t ret;		/* enum env_ret */
	uint8_t body;		/* enum env_body */
	uint8_t smtputf8;	/* SMTPUTF8 given */
	uint32_t nrcpt;		/* number of recipients */
	struct env_rcpt *rcpt;	/* the recipients */
	char *route;		/* connector every recipient goes through
				   (an alert notice's alerts.connector), or
				   NULL: each by its domain's route */
};

/* Append the binary form of env to out. */
void envelope_encode(const struct envelope *env, struct buf *out);

/*
 * Decode n bytes into a new envelope allocated as one block (free() it).
 * Returns NULL if the bytes are malformed or memory ran out.
 */
struct envelope *envelope_decode(const void *p, size_t n);

/* Format a queue id as 16 upper-case hex digits plus NUL. */
void envelope_id_str(uint64_t id, char out[17]);

#endif
