/*
 * libFuzzer target: the PROXY protocol header (net/proxy_proto.c), the
 * first bytes a load balancer, or anyone who reaches a listener with
 * proxy_protocol, sends.
 *
 * Invariants beyond "no crash, no sanitizer report": the answer is need
 * more (0), refused (-1, with a reason) or a header no longer than the
 * input and than its version's limit; a header is found the same whatever
 * follows it, and none of its prefixes is an answer other than "need
 * more"; a refusal stands whatever follows; "need more" only below the
 * limits; a header with addresses has an IPv4 or IPv6 source and
 * destination of the same family.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/proxy_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr h, h2;
	const char *why, *why2;
	long r = proxy_parse(data, size, &h, &why);

	if (r < -1 || r > (long)size)
		abort();
	if ((r == -1) != (why != NULL))
		abort();			/* a reason exactly with a refusal */
	if (r == 0 && size >= PROXY_V2_MAX)
		abort();			/* waited past every limit */
	if (r == 0 && size >= PROXY_V1_MAX && data[0] == 'P')
		abort();
	if (r > 0) {
		if (r > (h.version == 1 ? PROXY_V1_MAX : PROXY_V2_MAX) ||
		    (h.version != 1 && h.version != 2))
			abort();
		if (!h.local && ((h.src.ss_family != AF_INET && h.src.ss_family != AF_INET6) ||
				 h.src.ss_family != h.dst.ss_family))
			abort();
		if (h.version == 1 && (h.ntlv != 0 || data[r - 2] != '\r' || data[r - 1] != '\n'))
			abort();
		/* the same header from exactly its bytes */
		if (proxy_parse(data, (size_t)r, &h2, &why2) != r || h2.local != h.local ||
		    h2.ntlv != h.ntlv || memcmp(&h2.src, &h.src, sizeof(h.src)) != 0 ||
		    memcmp(&h2.dst, &h.dst, sizeof(h.dst)) != 0)
			abort();
	}
	/* prefixes: a header's are all "need more"; a refusal seen in a
	   prefix stands for the whole */
	for (size_t cut = 0; cut < size && cut <= PROXY_V2_MAX; cut += 1 + cut / 5) {
		long p = proxy_parse(data, cut, &h2, &why2);

		if (r > 0 && cut < (size_t)r && p != 0)
			abort();
		if (p == -1 && r != -1)
			abort();
		if (p > 0 && p != r)
			abort();
	}
	return 0;
}
