/*
 * trace_rec — encoding of trace records and the SPSC ring
 * (core/trace/trace_rec.h).
 *
 * Layout of a record, native byte order (it never leaves the process):
 *
 *   u32 len      the whole record, padded to a multiple of 8
 *   u8  kind     enum trace_kind
 *   u8  result   enum trace_result
 *   u16 magic    TRACE_MAGIC: a record of this version
 *   u64 id       queue id
 *   i64 t_ms     unix ms
 *   i64 num[6]   enum trace_num
 *   entries      u8 slot + 1 (enum trace_str), u16 length, the bytes;
 *                zero padding after the last one (slot byte 0: the end)
 */
#include "core/trace/trace_rec.h"

#include <errno.h>
#include <string.h>

#define TRACE_MAGIC	0x5254u
#define ENT_HDR		3	/* slot and length of an entry */

_Static_assert(TRACE_HDR_SIZE == 4 + 1 + 1 + 2 + 8 + 8 + 8 * TRACE_NNUM, "header size");
_Static_assert(TRACE_REC_MAX % 8 == 0, "records are 8-aligned");

static void
put_u16(unsigned char *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint16_t
get_u16(const unsigned char *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

void
trace_enc_init(struct trace_enc *e, enum trace_kind kind, uint64_t id, int64_t t_ms)
{
	uint16_t magic = TRACE_MAGIC;

	e->len = TRACE_HDR_SIZE;
	e->nrcpt = 0;
	e->rcpts_cut = false;
	memset(e->buf, 0, TRACE_HDR_SIZE);
	e->buf[4] = (unsigned char)kind;
	memcpy(e->buf + 6, &magic, sizeof(magic));
	memcpy(e->buf + 8, &id, sizeof(id));
	memcpy(e->buf + 16, &t_ms, sizeof(t_ms));
}

void
trace_enc_result(struct trace_enc *e, enum trace_result r)
{
	e->buf[5] = (unsigned char)r;
}

void
trace_enc_num(struct trace_enc *e, enum trace_num n, int64_t v)
{
	if ((unsigned)n < TRACE_NNUM)
		memcpy(e->buf + 24 + 8 * (size_t)n, &v, sizeof(v));
}

/* Append an entry of n bytes; false when it does not fit. */
static bool
put_entry(struct trace_enc *e, enum trace_str slot, const char *s, size_t n)
{
	if (e->len + ENT_HDR + n > TRACE_REC_MAX)
		return false;
	e->buf[e->len] = (unsigned char)(slot + 1);
	put_u16(e->buf + e->len + 1, (uint16_t)n);
	memcpy(e->buf + e->len + ENT_HDR, s, n);
	e->len += ENT_HDR + (uint32_t)n;
	return true;
}

void
trace_enc_str(struct trace_enc *e, enum trace_str slot, const char *s)
{
	size_t n;

	if (s == NULL || (unsigned)slot >= TRACE_NSTR)
		return;
	n = strnlen(s, TRACE_STR_MAX);
	put_entry(e, slot, s, n);
}

void
trace_enc_rcpt(struct trace_enc *e, const char *addr)
{
	e->nrcpt++;
	if (!e->rcpts_cut && addr != NULL &&
	    !put_entry(e, TRACE_S_RCPT, addr, strnlen(addr, TRACE_STR_MAX)))
		e->rcpts_cut = true;
}

uint32_t
trace_enc_end(struct trace_enc *e)
{
	int64_t n;
	uint32_t len = (e->len + 7) & ~7u;

	memcpy(&n, e->buf + 24 + 8 * TRACE_N_NRCPT, sizeof(n));
	if (n == 0)
		trace_enc_num(e, TRACE_N_NRCPT, e->nrcpt);
	memset(e->buf + e->len, 0, len - e->len);	/* the end mark */
	memcpy(e->buf, &len, sizeof(len));
	return len;
}

int
trace_rec_decode(const void *p, size_t n, struct trace_rec *rec)
{
	const unsigned char *b = p, *q, *end;
	uint32_t len;
	uint16_t magic;

	memset(rec, 0, sizeof(*rec));
	if (n < TRACE_HDR_SIZE)
		return -EINVAL;
	memcpy(&len, b, sizeof(len));
	memcpy(&magic, b + 6, sizeof(magic));
	if (len != n || len % 8 != 0 || len > TRACE_REC_MAX || magic != TRACE_MAGIC ||
	    b[4] == 0 || b[4] >= TRACE_KIND_MAX || b[5] >= TRACE_R_MAX)
		return -EINVAL;
	rec->kind = (enum trace_kind)b[4];
	rec->result = (enum trace_result)b[5];
	memcpy(&rec->id, b + 8, sizeof(rec->id));
	memcpy(&rec->t_ms, b + 16, sizeof(rec->t_ms));
	memcpy(rec->num, b + 24, sizeof(rec->num));
	end = b + len;
	q = b + TRACE_HDR_SIZE;
	rec->ent = q;
	/* entries until the padding (a slot byte of 0) or the end */
	while (q < end && q[0] != 0) {
		unsigned slot = q[0] - 1u;
		uint16_t l;
		if (q + ENT_HDR > end)
			return -EINVAL;
		l = get_u16(q + 1);
		if (slot >= TRACE_NSTR || l > TRACE_STR_MAX || q + ENT_HDR + l > end)
			return -EINVAL;
		if (slot == TRACE_S_RCPT)
			rec->nrcpt_listed++;
		if (rec->str[slot] == NULL) {
			rec->str[slot] = (const char *)q + ENT_HDR;
			rec->len[slot] = l;
		}
		q += ENT_HDR + l;
	}
	rec->end = q;
	return 0;
}

bool
trace_rec_rcpt_next(const struct trace_rec *rec, const unsigned char **it, const char **addr,
		    uint16_t *len)
{
	const unsigned char *q = *it != NULL ? *it : rec->ent;

	while (q != NULL && q + ENT_HDR <= rec->end) {
		uint16_t l = get_u16(q + 1);
		unsigned slot = q[0] - 1u;
		q += ENT_HDR + l;
		if (slot == TRACE_S_RCPT) {
			*addr = (const char *)q - l;
			*len = l;
			*it = q;
			return true;
		}
	}
	*it = rec->end;
	return false;
}

const char *
trace_kind_name(enum trace_kind k)
{
	static const char *const names[TRACE_KIND_MAX] = {
		[TRACE_RECEIVED] = "received", [TRACE_ATTEMPT] = "attempt",
		[TRACE_EXPIRED] = "expired", [TRACE_NDR] = "ndr", [TRACE_HOLD] = "hold",
		[TRACE_RELEASE] = "release", [TRACE_DELETE] = "delete",
		[TRACE_BOUNCE] = "bounce", [TRACE_REQUEUE] = "requeue",
		[TRACE_FIXNOW] = "fixnow",
	};

	return (unsigned)k < TRACE_KIND_MAX ? names[k] : NULL;
}

const char *
trace_result_name(enum trace_result r)
{
	static const char *const names[TRACE_R_MAX] = {
		[TRACE_R_DELIVERED] = "delivered", [TRACE_R_DEFERRED] = "deferred",
		[TRACE_R_BOUNCED] = "bounced", [TRACE_R_SENT] = "sent",
		[TRACE_R_NOT_SENT] = "not sent", [TRACE_R_DELAY] = "delay notice",
	};

	return (unsigned)r < TRACE_R_MAX ? names[r] : NULL;
}

/* ---- the ring ---------------------------------------------------------- */

void
trace_ring_init(struct trace_ring *r, unsigned char *buf, uint64_t size)
{
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	atomic_init(&r->dropped, 0);
	atomic_init(&r->pushed, 0);
	atomic_init(&r->kicked, false);
	r->size = size;
	r->buf = buf;
}

/* Copy n bytes between the ring at position pos and p, across its end. */
static void
ring_copy(const struct trace_ring *r, uint64_t pos, void *p, size_t n, bool in)
{
	size_t off = (size_t)(pos & (r->size - 1));
	size_t first = n < r->size - off ? n : (size_t)(r->size - off);

	if (in) {
		memcpy(r->buf + off, p, first);
		memcpy(r->buf, (unsigned char *)p + first, n - first);
	} else {
		memcpy(p, r->buf + off, first);
		memcpy((unsigned char *)p + first, r->buf, n - first);
	}
}

int
trace_ring_push(struct trace_ring *r, const void *rec, uint32_t len)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t used = head - tail;

	if (len > r->size - used) {
		atomic_store_explicit(&r->dropped,
				      atomic_load_explicit(&r->dropped, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		return -ENOSPC;
	}
	ring_copy(r, head, (void *)rec, len, true);
	atomic_store_explicit(&r->head, head + len, memory_order_release);
	atomic_store_explicit(&r->pushed,
			      atomic_load_explicit(&r->pushed, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	if (used + len > r->size / 2 &&
	    !atomic_load_explicit(&r->kicked, memory_order_relaxed)) {
		atomic_store_explicit(&r->kicked, true, memory_order_relaxed);
		return 1;
	}
	return 0;
}

long
trace_ring_pop(struct trace_ring *r, void *out)
{
	uint64_t tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
	uint32_t len;

	if (head == tail)
		return 0;
	ring_copy(r, tail, &len, sizeof(len), false);
	if (len < TRACE_HDR_SIZE || len > TRACE_REC_MAX || len % 8 != 0 || len > head - tail) {
		atomic_store_explicit(&r->tail, head, memory_order_release);
		return -EINVAL;
	}
	ring_copy(r, tail, out, len, false);
	atomic_store_explicit(&r->tail, tail + len, memory_order_release);
	return (long)len;
}
