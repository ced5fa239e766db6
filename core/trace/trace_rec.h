/*
 * trace_rec — the message trace's records and the ring that carries them
 * from a worker to the trace writer (core/trace/trace.h is the API that
 * the relay calls; this is what it is built of).
 *
 * A record is one event of a message's life (received, one outcome of a
 * delivery attempt, expired, its NDR, an operator's action), encoded into
 * a few hundred bytes without an allocation: a fixed header (kind, queue
 * id, time, six numbers) and tagged strings, each at most TRACE_STR_MAX
 * bytes; a recipient list is one string entry per address, as many as
 * fit in TRACE_REC_MAX.  Strings are kept as the peer sent them (the
 * reader escapes them for the terminal or makes them valid UTF-8).
 *
 * The ring is single-producer, single-consumer, bounded, lock-free: the
 * worker that owns it pushes whole records (or drops one, counted, when
 * it is full: the worker never waits), the writer thread copies them out
 * and pops them.  Positions are byte counters that only grow; the producer
 * publishes `head` with a release store after the bytes, the consumer
 * `tail` after it copied them, so neither side reads a half-written record
 * and a byte is never overwritten before it is read.
 *
 * Pure: no I/O, no global state (the wake-up is the caller's: trace.c).
 * Unit-tested in tests/unit/core/trace/trace_rec_test.c.
 */
#ifndef SLUICE_CORE_TRACE_TRACE_REC_H
#define SLUICE_CORE_TRACE_TRACE_REC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_REC_MAX	8192	/* bytes of one record, header included */
#define TRACE_STR_MAX	1024	/* bytes of one string; longer ones are cut */
#define TRACE_HDR_SIZE	72	/* the fixed part */

/* What happened (the database's ev.kind is its name, trace_kind_name). */
enum trace_kind {
	TRACE_RECEIVED = 1,	/* spooled and answered 250 (or an NDR made) */
	TRACE_ATTEMPT,		/* one outcome class of a delivery attempt */
	TRACE_EXPIRED,		/* its recipients returned at expiry */
	TRACE_NDR,		/* a report to the sender: queued, or why not */
	TRACE_HOLD,		/* operator: put on hold */
	TRACE_RELEASE,		/* operator: released from hold */
	TRACE_DELETE,		/* operator: deleted, no report */
	TRACE_BOUNCE,		/* operator: returned to the sender */
	TRACE_REQUEUE,		/* operator: moved to another destination */
	TRACE_FIXNOW,		/* fix-now returned unknown recipients */
	TRACE_KIND_MAX
};

/* What an attempt or a report came to (the header's result byte). */
enum trace_result {
	TRACE_R_NONE = 0,
	TRACE_R_DELIVERED,	/* accepted by the next hop */
	TRACE_R_DEFERRED,	/* to be retried */
	TRACE_R_BOUNCED,	/* failed for good */
	TRACE_R_SENT,		/* NDR: queued as a new message (num ref) */
	TRACE_R_NOT_SENT,	/* NDR: none (NOTIFY, <>, nothing routes it) */
	TRACE_R_DELAY,		/* a delay notice was queued (num ref) */
	TRACE_R_MAX
};

/* The strings a record may carry; which ones depends on the kind. */
enum trace_str {
	TRACE_S_CLIENT,		/* received: "name [ip]" of the client */
	TRACE_S_SENDER,		/* received: envelope sender, "" for <> */
	TRACE_S_TENANT,		/* the tenant of its (first) recipient */
	TRACE_S_CONNECTOR,	/* the connector (or destination) */
	TRACE_S_HOST,		/* the next hop's name */
	TRACE_S_IP,		/* and address */
	TRACE_S_CODE,		/* MFI status "4.4.316", "remote", "" */
	TRACE_S_MFI,		/* its name */
	TRACE_S_DETAIL,		/* what happened, in words (a reply line) */
	TRACE_S_RCPT,		/* one recipient (repeated) */
	TRACE_NSTR
};

/* The numbers of a record. */
enum trace_num {
	TRACE_N_SIZE,		/* received: bytes */
	TRACE_N_NRCPT,		/* recipients concerned, listed or not */
	TRACE_N_MS,		/* attempt: its duration; expired: age in s */
	TRACE_N_REPLY,		/* attempt: the reply code, 0 none */
	TRACE_N_ATTEMPT,	/* attempt: its number; expired: attempts */
	TRACE_N_REF,		/* NDR: its queue id; received NDR: the
				   message it reports on; 0 none */
	TRACE_NNUM
};

/* A record being built, in the caller's storage (the stack). */
struct trace_enc {
	uint32_t len;			/* bytes used in buf */
	uint32_t nrcpt;			/* recipients added (listed or not) */
	bool rcpts_cut;			/* one did not fit: the rest are not
					   listed (but counted) */
	_Alignas(8) unsigned char buf[TRACE_REC_MAX];	/* the record */
};

/* A record read back: strings point into the bytes it was decoded from. */
struct trace_rec {
	enum trace_kind kind;		/* what happened */
	enum trace_result result;	/* how it ended, TRACE_R_NONE */
	uint64_t id;			/* queue id of the message */
	int64_t t_ms;			/* when, unix ms */
	int64_t num[TRACE_NNUM];	/* numbers, 0 when not given */
	const char *str[TRACE_NSTR];	/* strings (not NUL-terminated), NULL
					   when not given; TRACE_S_RCPT: the
					   first recipient */
	uint16_t len[TRACE_NSTR];	/* their lengths */
	uint32_t nrcpt_listed;		/* TRACE_S_RCPT entries */
	const unsigned char *ent;	/* first string entry, for the
					   recipient walk */
	const unsigned char *end;	/* end of the record */
};

/* Start a record of kind for queue id at t_ms (unix ms). */
void trace_enc_init(struct trace_enc *e, enum trace_kind kind, uint64_t id, int64_t t_ms);

/* Set its result byte or one of its numbers. */
void trace_enc_result(struct trace_enc *e, enum trace_result r);
void trace_enc_num(struct trace_enc *e, enum trace_num n, int64_t v);

/* Add string s (NULL: nothing) to slot; cut at TRACE_STR_MAX bytes, and
 * dropped when the record is full. */
void trace_enc_str(struct trace_enc *e, enum trace_str slot, const char *s);

/* Add a recipient; counted in TRACE_N_NRCPT (unless the caller sets it)
 * and listed while it fits. */
void trace_enc_rcpt(struct trace_enc *e, const char *addr);

/* Finish: the record's bytes are e->buf[0..return), a multiple of 8. */
uint32_t trace_enc_end(struct trace_enc *e);

/* Decode p[0..n) (one whole record) into rec.  0, or -EINVAL when it is
 * not a record this version writes. */
int trace_rec_decode(const void *p, size_t n, struct trace_rec *rec);

/* The recipients of rec one by one: *it starts at NULL; false at the end. */
bool trace_rec_rcpt_next(const struct trace_rec *rec, const unsigned char **it,
			 const char **addr, uint16_t *len);

/* "received", "attempt", ... and "delivered", "deferred", ...: the words
 * stored in the database.  NULL for a value out of range (result: for
 * TRACE_R_NONE). */
const char *trace_kind_name(enum trace_kind k);
const char *trace_result_name(enum trace_result r);

/* ---- the ring ---------------------------------------------------------- */

/* One worker's ring.  head and tail sit on their own cache lines. */
struct trace_ring {
	_Atomic uint64_t head;		/* bytes ever pushed: the producer's */
	char pad1[56];
	_Atomic uint64_t tail;		/* bytes ever popped: the consumer's */
	char pad2[56];
	_Atomic uint64_t dropped;	/* records refused because the ring was
					   full (producer writes, any reads) */
	_Atomic uint64_t pushed;	/* records accepted */
	atomic_bool kicked;		/* the producer asked for a drain since
					   the consumer last cleared it */
	uint64_t size;			/* bytes, a power of two */
	unsigned char *buf;		/* size bytes */
};

/* Make r empty over buf[0..size) (size a power of two, at least 2 *
 * TRACE_REC_MAX).  Before r is shared. */
void trace_ring_init(struct trace_ring *r, unsigned char *buf, uint64_t size);

/*
 * Producer: copy a whole record (len bytes, a multiple of 8) into r.
 * Returns 1 when pushed and the ring is now over half full and nobody
 * asked for a drain yet (the caller wakes the consumer), 0 when pushed,
 * -ENOSPC when r had no room (counted in r->dropped).  Wait-free.
 */
int trace_ring_push(struct trace_ring *r, const void *rec, uint32_t len);

/*
 * Consumer: copy the oldest record into out (TRACE_REC_MAX bytes) and
 * pop it.  Returns its length, 0 when r is empty, -EINVAL when the ring
 * holds garbage (a bug: the consumer resets the ring, losing its bytes).
 */
long trace_ring_pop(struct trace_ring *r, void *out);

#endif
