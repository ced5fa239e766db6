/*
 * envelope — binary layout (little-endian, no padding):
 *   u8 version(1) u8 ret u8 body u8 smtputf8 u32 nrcpt i64 arrival u64 id
 *   str sender, str envid, str helo, str client
 *   nrcpt x { str addr, str orcpt, u8 notify, u8 state }
 *   version 2 only: str route
 * where str is u16 length + bytes, and length 0xffff means NULL.
 *
 * Version 2 is version 1 and the connector a message must go through
 * (route); it is written only for a message that has one (Sluice's own
 * alert notices), so every other record stays version 1, and a reader of
 * version 1 that stops after the recipients reads either.
 */
#include "queue/envelope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ENV_VERSION 1
#define ENV_VERSION_ROUTE 2	/* with a route after the recipients */
#define ENV_NULL 0xffff

static void
put_str(struct buf *b, const char *s)
{
	uint16_t n = ENV_NULL;
	size_t l;

	if (s != NULL) {
		l = strlen(s);
		n = (uint16_t)(l < ENV_NULL ? l : ENV_NULL - 1);
	}
	buf_append(b, &n, 2);
	if (s != NULL)
		buf_append(b, s, n);
}

void
envelope_encode(const struct envelope *env, struct buf *out)
{
	uint8_t head[4] = { env->route != NULL ? ENV_VERSION_ROUTE : ENV_VERSION, env->ret,
			    env->body, env->smtputf8 };

	buf_append(out, head, 4);
	buf_append(out, &env->nrcpt, 4);
	buf_append(out, &env->arrival, 8);
	buf_append(out, &env->id, 8);
	put_str(out, env->sender);
	put_str(out, env->envid);
	put_str(out, env->helo);
	put_str(out, env->client);
	for (uint32_t i = 0; i < env->nrcpt; i++) {
		uint8_t tail[2] = { env->rcpt[i].notify, env->rcpt[i].state };
		put_str(out, env->rcpt[i].addr);
		put_str(out, env->rcpt[i].orcpt);
		buf_append(out, tail, 2);
	}
	if (env->route != NULL)
		put_str(out, env->route);
}

/* Cursor over the encoded bytes; every read is bounds-checked. */
struct env_rd {
	const uint8_t *p;	/* next byte */
	const uint8_t *end;	/* one past the last byte */
	char *heap;		/* where decoded strings go (NULL: sizing pass) */
	size_t need;		/* bytes of string storage needed */
};

static int
rd_bytes(struct env_rd *r, void *dst, size_t n)
{
	if ((size_t)(r->end - r->p) < n)
		return -1;
	memcpy(dst, r->p, n);
	r->p += n;
	return 0;
}

static int
rd_str(struct env_rd *r, char **dst)
{
	uint16_t n;

	if (rd_bytes(r, &n, 2) < 0)
		return -1;
	if (n == ENV_NULL) {
		*dst = NULL;
		return 0;
	}
	if ((size_t)(r->end - r->p) < n || memchr(r->p, 0, n) != NULL)
		return -1;
	if (r->heap != NULL) {
		memcpy(r->heap, r->p, n);
		r->heap[n] = '\0';
		*dst = r->heap;
		r->heap += n + 1;
	} else {
		*dst = (char *)r->p;	/* sizing pass: non-NULL, never used */
	}
	r->need += n + 1u;
	r->p += n;
	return 0;
}

static int
rd_env(struct env_rd *r, struct envelope *e, struct env_rcpt *rcpt)
{
	uint8_t head[4], tail[2];

	if (rd_bytes(r, head, 4) < 0 ||
	    (head[0] != ENV_VERSION && head[0] != ENV_VERSION_ROUTE) ||
	    rd_bytes(r, &e->nrcpt, 4) < 0 || rd_bytes(r, &e->arrival, 8) < 0 ||
	    rd_bytes(r, &e->id, 8) < 0)
		return -1;
	e->ret = head[1];
	e->body = head[2];
	e->smtputf8 = head[3];
	if (rd_str(r, &e->sender) < 0 || rd_str(r, &e->envid) < 0 ||
	    rd_str(r, &e->helo) < 0 || rd_str(r, &e->client) < 0)
		return -1;
	/* every recipient takes at least 6 bytes: refuse absurd counts early */
	if (e->nrcpt == 0 || e->nrcpt > (size_t)(r->end - r->p) / 6)
		return -1;
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		struct env_rcpt tmp, *rc = rcpt ? &rcpt[i] : &tmp;
		if (rd_str(r, &rc->addr) < 0 || rd_str(r, &rc->orcpt) < 0 ||
		    rc->addr == NULL || rd_bytes(r, tail, 2) < 0)
			return -1;
		rc->notify = tail[0];
		rc->state = tail[1];
		rc->tries = 0;
	}
	e->route = NULL;
	if (head[0] == ENV_VERSION_ROUTE && (rd_str(r, &e->route) < 0 || e->route == NULL))
		return -1;
	return r->p == r->end ? 0 : -1;
}

struct envelope *
envelope_decode(const void *p, size_t n)
{
	struct env_rd r = { p, (const uint8_t *)p + n, NULL, 0 };
	struct envelope tmp, *e;
	size_t head;

	if (rd_env(&r, &tmp, NULL) < 0)
		return NULL;
	head = sizeof(*e) + tmp.nrcpt * sizeof(struct env_rcpt);
	e = malloc(head + r.need);
	if (e == NULL)
		return NULL;
	e->rcpt = (struct env_rcpt *)(e + 1);
	r = (struct env_rd){ p, (const uint8_t *)p + n, (char *)e + head, 0 };
	if (rd_env(&r, e, e->rcpt) < 0) {
		free(e);
		return NULL;
	}
	return e;
}

void
envelope_id_str(uint64_t id, char out[17])
{
	snprintf(out, 17, "%016llX", (unsigned long long)id);
}
