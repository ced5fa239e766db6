/*
 * libFuzzer target: the envelope decoder (queue/envelope.c), which reads
 * spool records at recovery and every time a message is loaded.  Any
 * input must be refused or decoded into one block whose strings lie
 * inside it; and since the encoding is canonical, what decodes must encode
 * back to exactly the input bytes (nothing read is lost, misplaced or
 * invented, and a decoded envelope is one the encoder could have made).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "queue/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decoded string: NUL-terminated within the block, or NULL. */
static void
check_str(const char *s, const char *lo, const char *hi)
{
	if (s == NULL)
		return;
	if (s < lo || s >= hi || memchr(s, '\0', (size_t)(hi - s)) == NULL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope *e = envelope_decode(data, size);
	struct buf out = { 0 };
	const char *lo, *hi;
	char id[17];

	if (e == NULL)
		return 0;
	/* the block: header, recipients, then the strings; size is not
	   known here, so bound by what the strings can need at most */
	lo = (const char *)e;
	hi = lo + sizeof(*e) + (size_t)e->nrcpt * sizeof(struct env_rcpt) + size;
	if (e->nrcpt == 0 || (const char *)e->rcpt != lo + sizeof(*e))
		abort();
	check_str(e->sender, lo, hi);
	check_str(e->envid, lo, hi);
	check_str(e->helo, lo, hi);
	check_str(e->client, lo, hi);
	check_str(e->route, lo, hi);
	for (uint32_t i = 0; i < e->nrcpt; i++) {
		if (e->rcpt[i].addr == NULL)
			abort();
		check_str(e->rcpt[i].addr, lo, hi);
		check_str(e->rcpt[i].orcpt, lo, hi);
	}
	envelope_encode(e, &out);
	if (out.len != size || memcmp(out.p, data, size) != 0)
		abort();
	envelope_id_str(e->id, id);
	if (strlen(id) != 16)
		abort();
	buf_free(&out);
	free(e);
	return 0;
}
