/*
 * smtp_hops — the Received: counter of a message and the worker's table
 * of domains refused as loops (net/smtp_hops.h).  Pure.
 *
 * The counter is a small state machine over the start of each header
 * line: a line is decided within its first few bytes (it is, or is not, a
 * Received: field, or it is the empty line that ends the header section),
 * and an undecided start may be cut between two pieces of input, which is
 * why the state lives in the struct and not on the stack.  Once a line is
 * decided, its remaining bytes are skipped with memchr.
 */
#include "net/smtp_hops.h"

#include <stdio.h>
#include <string.h>

/* Where the counter is.  HOPS_NAME + k: k bytes of "received" matched. */
enum {
	HOPS_BOL,		/* at the start of a line */
	HOPS_CR,		/* the line started with CR: LF ends the section */
	HOPS_SKIP,		/* the line is decided: skip to its LF */
	HOPS_BLANKS,		/* "received" and blanks: ':' makes a field */
	HOPS_DONE,		/* past the header section */
	HOPS_NAME,		/* ... up to HOPS_NAME + 8 */
};

static const char received[] = "received";
#define RECEIVED_LEN (sizeof(received) - 1)

static unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

void
smtp_hops_init(struct smtp_hops *h)
{
	h->count = 0;
	h->state = HOPS_BOL;
}

bool
smtp_hops_done(const struct smtp_hops *h)
{
	return h->state == HOPS_DONE;
}

/* The state after byte c at a line's undecided start (never HOPS_SKIP's). */
static uint8_t
hops_step(struct smtp_hops *h, unsigned char c)
{
	switch (h->state) {
	case HOPS_BOL:
		if (c == '\n')
			return HOPS_DONE;
		if (c == '\r')
			return HOPS_CR;
		return lower(c) == received[0] ? HOPS_NAME + 1 : HOPS_SKIP;
	case HOPS_CR:
		return c == '\n' ? HOPS_DONE : HOPS_SKIP;
	case HOPS_BLANKS:
		break;
	default:	/* HOPS_NAME + k */
		if (h->state < HOPS_NAME + RECEIVED_LEN) {
			if (c == '\n')
				return HOPS_BOL;
			return lower(c) == received[h->state - HOPS_NAME] ? h->state + 1
									   : HOPS_SKIP;
		}
		break;
	}
	/* the whole name: blanks may come before the colon */
	if (c == ':') {
		h->count++;
		return HOPS_SKIP;
	}
	if (c == ' ' || c == '\t')
		return HOPS_BLANKS;
	return c == '\n' ? HOPS_BOL : HOPS_SKIP;
}

void
smtp_hops_feed(struct smtp_hops *h, const char *p, size_t n)
{
	const char *end;

	if (n == 0)
		return;
	end = p + n;
	while (p < end && h->state != HOPS_DONE) {
		if (h->state == HOPS_SKIP) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			if (nl == NULL)
				return;
			p = nl + 1;
			h->state = HOPS_BOL;
			continue;
		}
		h->state = hops_step(h, (unsigned char)*p++);
	}
}

/* ---- the table of loops ---------------------------------------------- */

/* The entry for domain (lower case) and connector, or NULL. */
static struct smtp_loop *
loop_find(struct smtp_loops *t, const char *domain, const char *connector)
{
	for (uint32_t i = 0; i < t->n; i++)
		if (strcmp(t->v[i].domain, domain) == 0 &&
		    strcmp(t->v[i].connector, connector) == 0)
			return &t->v[i];
	return NULL;
}

void
smtp_loops_note(struct smtp_loops *t, const char *domain, size_t len,
		const char *connector, uint32_t hops, uint64_t msg, int64_t now)
{
	char key[sizeof(t->v[0].domain)];
	struct smtp_loop *e;

	if (len >= sizeof(key))
		len = sizeof(key) - 1;
	for (size_t i = 0; i < len; i++)
		key[i] = (char)lower((unsigned char)domain[i]);
	key[len] = '\0';
	e = loop_find(t, key, connector);
	if (e == NULL) {
		if (t->n < SMTP_LOOPS_MAX) {
			e = &t->v[t->n++];
		} else {	/* the one seen longest ago goes */
			e = &t->v[0];
			for (uint32_t i = 1; i < t->n; i++)
				if (t->v[i].last < e->last)
					e = &t->v[i];
		}
		memset(e, 0, sizeof(*e));
		memcpy(e->domain, key, len + 1);
		snprintf(e->connector, sizeof(e->connector), "%s", connector);
		e->first = now;
	} else if (e->last_msg == msg) {
		return;		/* another recipient of the same message */
	}
	e->messages++;
	e->hops = hops;
	e->last = now;
	e->last_msg = msg;
}

size_t
smtp_loops_get(struct smtp_loops *t, int64_t now, struct smtp_loop *out, size_t max)
{
	uint32_t kept = 0;
	size_t n = 0;

	for (uint32_t i = 0; i < t->n; i++) {
		if (now - t->v[i].last > SMTP_LOOP_WINDOW)
			continue;	/* forgotten */
		if (kept != i)
			t->v[kept] = t->v[i];
		if (n < max)
			out[n++] = t->v[kept];
		kept++;
	}
	t->n = kept;
	return n;
}
