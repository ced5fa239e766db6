/*
 * bench_reply.c - the queue id of an accepted message, out of its reply.
 *
 * Words are separated by spaces only: an id is whatever a server puts
 * there (Postfix "4QxY2z1Jmwz9sT", sluiced's hex, sluice-sink's "S12"),
 * and the caller records it as it came. Pure, see bench/bench_reply.h.
 * May call: libc only (net/smtp_proto.h for the reply's type).
 */
#include "bench/bench_reply.h"

#include <string.h>
#include <strings.h>

void bench_reply_queue_id(const struct smtp_reply *r, const char **id,
			  size_t *len)
{
	const char *line = r->text, *end = r->text + r->len, *p = NULL, *q;

	q = memrchr(r->text, '\n', r->len);
	if (q != NULL)
		line = q + 1;
	for (q = line; q + 10 <= end; q++) {
		if (strncasecmp(q, "queued as ", 10) == 0) {
			p = q + 10;
			break;
		}
	}
	if (p != NULL) {
		while (p < end && *p == ' ')
			p++;
		for (q = p; q < end && *q != ' '; q++)
			;
	} else {
		/* No "queued as": the last word, after trailing spaces. */
		q = end;
		while (q > line && q[-1] == ' ')
			q--;
		for (p = q; p > line && p[-1] != ' '; p--)
			;
	}
	*id = p;
	*len = (size_t)(q - p);
}
