/*
 * proxy_proto — the PROXY protocol header, v1 and v2 (HAProxy's
 * doc/proxy-protocol.txt).  The rules, in the order they are checked:
 *
 *   v1  "PROXY" SP proto [SP src SP dst SP sport SP dport] CRLF, at most
 *       107 bytes.  proto TCP4 or TCP6: four fields, separated by single
 *       spaces; the addresses in the text form of that family; the ports
 *       decimal 0..65535 without leading zeros.  UNKNOWN: whatever follows
 *       up to the CRLF is ignored, the connection's endpoints stand.
 *   v2  the 12-byte signature; version 2 (high nibble of byte 13) and
 *       command LOCAL (0) or PROXY (1) (low nibble); the family byte; the
 *       length of what follows, big-endian, the whole at most PROXY_V2_MAX.
 *       LOCAL: the block is skipped whatever it holds.  PROXY with
 *       AF_UNSPEC: the same.  AF_INET / AF_INET6 over STREAM: source and
 *       destination address and port (12 / 36 bytes), then TLVs (type,
 *       16-bit length, value), each inside the block; they are counted and
 *       skipped.  AF_UNIX, datagrams and unknown families are refused.
 *
 * A check is made as soon as its byte is there, so a header that cannot be
 * valid is refused before it is complete; what is merely short asks for
 * more.  Pure (net/proxy_proto.h).
 */
#include "net/proxy_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t v2_sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				    0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

#define V1_FIELDS 6		/* proto, src, dst, sport, dport: 5, +1 to see more */

/* ---- v1 --------------------------------------------------------------- */

/* A port: "0" or 1..5 digits without a leading zero, at most 65535. */
static bool
v1_port(const char *p, size_t n, uint16_t *out)
{
	uint32_t v = 0;

	if (n == 0 || n > 5 || (n > 1 && p[0] == '0'))
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	if (v > 65535)
		return false;
	*out = (uint16_t)v;
	return true;
}

/* An address of family af in its text form into ss, with port. */
static bool
v1_addr(int af, const char *p, size_t n, uint16_t port, struct sockaddr_storage *ss)
{
	char text[48];

	if (n == 0 || n >= sizeof(text))
		return false;
	memcpy(text, p, n);
	text[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return inet_pton(AF_INET, text, &sin->sin_addr) == 1;
	}
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(port);
	return inet_pton(AF_INET6, text, &sin6->sin6_addr) == 1;
}

/* The fields of line[0..n) (after "PROXY ", before the CR), split at single
 * spaces: their number (at most max), or -1 for an empty field. */
static int
v1_split(const char *line, size_t n, const char **f, size_t *fl, int max)
{
	int k = 0;
	size_t start = 0;

	for (size_t i = 0; i <= n && k < max; i++) {
		if (i < n && line[i] != ' ')
			continue;
		if (i == start)
			return -1;
		f[k] = line + start;
		fl[k++] = i - start;
		start = i + 1;
	}
	return k;
}

static long
v1_parse(const char *p, size_t len, struct proxy_hdr *h, const char **why)
{
	const char *nl = memchr(p, '\n', len < PROXY_V1_MAX ? len : PROXY_V1_MAX);
	const char *f[V1_FIELDS];
	size_t fl[V1_FIELDS], n;
	uint16_t sport, dport;
	int af, k;

	if (nl == NULL) {
		if (len < PROXY_V1_MAX)
			return 0;
		*why = "v1 header without CRLF within 107 bytes";
		return -1;
	}
	n = (size_t)(nl - p);
	if (p[n - 1] != '\r') {
		*why = "v1 header line not ended by CRLF";
		return -1;
	}
	h->version = 1;
	if (n - 7 >= 7 && memcmp(p + 6, "UNKNOWN", 7) == 0 && (n - 7 == 7 || p[13] == ' ')) {
		h->local = true;	/* the rest is the sender's business */
		return (long)n + 1;
	}
	for (size_t i = 6; i < n - 1; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] > 0x7e) {
			*why = "v1 header with a control or non-ASCII byte";
			return -1;
		}
	}
	k = v1_split(p + 6, n - 7, f, fl, V1_FIELDS);
	if (k < 1) {
		*why = "v1 fields not separated by single spaces";
		return -1;
	}
	if (fl[0] == 4 && memcmp(f[0], "TCP4", 4) == 0) {
		af = AF_INET;
	} else if (fl[0] == 4 && memcmp(f[0], "TCP6", 4) == 0) {
		af = AF_INET6;
	} else {
		*why = "v1 protocol is not TCP4, TCP6 or UNKNOWN";
		return -1;
	}
	if (k != 5) {
		*why = k < 0 ? "v1 fields not separated by single spaces" :
			"v1 header does not have 4 fields after its protocol";
		return -1;
	}
	if (!v1_port(f[3], fl[3], &sport) || !v1_port(f[4], fl[4], &dport)) {
		*why = "v1 port is not a number from 0 to 65535";
		return -1;
	}
	if (!v1_addr(af, f[1], fl[1], sport, &h->src) ||
	    !v1_addr(af, f[2], fl[2], dport, &h->dst)) {
		*why = af == AF_INET ? "v1 TCP4 address is not an IPv4 address" :
			"v1 TCP6 address is not an IPv6 address";
		return -1;
	}
	return (long)n + 1;
}

/* ---- v2 --------------------------------------------------------------- */

/* The addresses of an AF_INET (alen 12) or AF_INET6 (36) block at a. */
static void
v2_addrs(const uint8_t *a, size_t alen, struct proxy_hdr *h)
{
	memset(&h->src, 0, sizeof(h->src));
	memset(&h->dst, 0, sizeof(h->dst));
	if (alen == 12) {
		struct sockaddr_in *s = (struct sockaddr_in *)&h->src;
		struct sockaddr_in *d = (struct sockaddr_in *)&h->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, a, 4);
		memcpy(&d->sin_addr, a + 4, 4);
		memcpy(&s->sin_port, a + 8, 2);		/* both in network order */
		memcpy(&d->sin_port, a + 10, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&h->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, a, 16);
		memcpy(&d->sin6_addr, a + 16, 16);
		memcpy(&s->sin6_port, a + 32, 2);
		memcpy(&d->sin6_port, a + 34, 2);
	}
}

static long
v2_parse(const uint8_t *p, size_t len, struct proxy_hdr *h, const char **why)
{
	size_t total, alen = 0, off;
	unsigned cmd, af, tp;

	if (memcmp(p, v2_sig, len < 12 ? len : 12) != 0) {
		*why = "bad v2 signature";
		return -1;
	}
	if (len < 13)
		return 0;
	if (p[12] >> 4 != 2) {
		*why = "v2 version is not 2";
		return -1;
	}
	cmd = p[12] & 0x0f;
	if (cmd > 1) {
		*why = "v2 command is neither LOCAL nor PROXY";
		return -1;
	}
	if (len < 14)
		return 0;
	af = p[13] >> 4;
	tp = p[13] & 0x0f;
	if (cmd == 1 && af != 0) {
		if (af == 3) {
			*why = "v2 family AF_UNIX is not supported";
			return -1;
		}
		if (af > 3) {
			*why = "v2 address family is unknown";
			return -1;
		}
		if (tp != 1) {
			*why = "v2 transport is not STREAM (TCP)";
			return -1;
		}
		alen = af == 1 ? 12 : 36;
	}
	if (len < 16)
		return 0;
	total = 16 + ((size_t)p[14] << 8 | p[15]);
	if (total > PROXY_V2_MAX) {
		*why = "v2 header longer than 2048 bytes";
		return -1;
	}
	if (total < 16 + alen) {
		*why = "v2 length too short for its addresses";
		return -1;
	}
	if (len < total)
		return 0;
	h->version = 2;
	if (alen == 0) {		/* LOCAL or AF_UNSPEC: skipped whole */
		h->local = true;
		return (long)total;
	}
	v2_addrs(p + 16, alen, h);
	for (off = 16 + alen; off < total; h->ntlv++) {
		if (total - off < 3 || total - off - 3 < ((size_t)p[off + 1] << 8 | p[off + 2])) {
			*why = "v2 TLV runs past the end of the header";
			return -1;
		}
		off += 3 + ((size_t)p[off + 1] << 8 | p[off + 2]);
	}
	return (long)total;
}

long
proxy_parse(const void *buf, size_t len, struct proxy_hdr *h, const char **why)
{
	const char *p = buf;

	memset(h, 0, sizeof(*h));
	*why = NULL;
	if (len == 0)
		return 0;
	if (p[0] == 'P') {
		if (memcmp(p, "PROXY ", len < 6 ? len : 6) != 0) {
			*why = "bad v1 signature";
			return -1;
		}
		return len < 6 ? 0 : v1_parse(p, len, h, why);
	}
	if (p[0] == '\r')
		return v2_parse(buf, len, h, why);
	*why = "not a PROXY protocol header";
	return -1;
}
