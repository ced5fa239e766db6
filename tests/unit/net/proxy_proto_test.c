/*
 * proxy_proto tests: the PROXY protocol header, v1 and v2, table driven.
 * Every good header is also cut at every byte (each prefix is "need more",
 * never an answer) and followed by SMTP bytes (which are not part of it);
 * every malformed one is refused with its reason, and none of its prefixes
 * is taken for a header.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "net/proxy_proto.h"

#define NCASES(a) (sizeof(a) / sizeof((a)[0]))

/* A v2 header: signature, ver_cmd, fam, then body[0..blen) with its length. */
static size_t
v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const void *body, size_t blen)
{
	static const uint8_t sig[12] = { 0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
					 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a };

	memcpy(out, sig, 12);
	out[12] = ver_cmd;
	out[13] = fam;
	out[14] = (uint8_t)(blen >> 8);
	out[15] = (uint8_t)blen;
	if (blen > 0)
		memcpy(out + 16, body, blen);
	return 16 + blen;
}

/* The address and port of ss as "addr port". */
static void
addr_text(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
		inet_ntop(AF_INET, &s->sin_addr, a, sizeof(a));
		port = ntohs(s->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
		inet_ntop(AF_INET6, &s->sin6_addr, a, sizeof(a));
		port = ntohs(s->sin6_port);
	}
	snprintf(out, len, "%s %u", a, port);
}

/* Each prefix of buf[0..len) asks for more, or (bad) is refused. */
static void
check_prefixes(const uint8_t *buf, size_t len, bool refusal_ok)
{
	struct proxy_hdr h;
	const char *why;

	for (size_t cut = 0; cut < len; cut++) {
		long r = proxy_parse(buf, cut, &h, &why);

		if (refusal_ok)
			cr_assert(r <= 0, "a prefix of %zu bytes taken for a header of %ld", cut, r);
		else
			cr_assert_eq(r, 0, "prefix of %zu bytes: %ld (%s)", cut, r, why ? why : "");
	}
}

/* A good header: its length, version, whether it is local, the addresses. */
static void
check_good(const uint8_t *buf, size_t len, int version, bool local, const char *src,
	   const char *dst, uint32_t ntlv)
{
	uint8_t more[PROXY_V2_MAX + 64];
	struct proxy_hdr h;
	const char *why;
	char t[80];
	long r = proxy_parse(buf, len, &h, &why);

	cr_assert_eq(r, (long)len, "parsed %ld of %zu (%s)", r, len, why ? why : "");
	cr_expect_eq(h.version, version);
	cr_expect_eq(h.local, local);
	cr_expect_eq(h.ntlv, ntlv);
	if (!local) {
		addr_text(&h.src, t, sizeof(t));
		cr_expect_str_eq(t, src);
		addr_text(&h.dst, t, sizeof(t));
		cr_expect_str_eq(t, dst);
	}
	check_prefixes(buf, len, false);
	/* what follows the header is the client's, not the header's */
	cr_assert(len + 20 <= sizeof(more));
	memcpy(more, buf, len);
	memcpy(more + len, "EHLO client.test\r\n\0\r", 20);
	for (size_t extra = 1; extra <= 20; extra++)
		cr_assert_eq(proxy_parse(more, len + extra, &h, &why), (long)len);
}

/* A bad header: refused with why (a fragment of the reason). */
static void
check_bad(const uint8_t *buf, size_t len, const char *reason)
{
	struct proxy_hdr h;
	const char *why;
	long r = proxy_parse(buf, len, &h, &why);

	cr_assert_eq(r, -1, "%.*s: parsed as %ld", (int)len, (const char *)buf, r);
	cr_assert_not_null(why);
	cr_expect(strstr(why, reason) != NULL, "reason '%s', expected '%s'", why, reason);
	check_prefixes(buf, len, true);
}

/* ---- v1 --------------------------------------------------------------- */

struct v1_good {
	const char *line;
	bool local;
	const char *src, *dst;
};

static const struct v1_good v1_goods[] = {
	{ "PROXY TCP4 192.0.2.10 127.0.0.1 56324 25\r\n", false,
	  "192.0.2.10 56324", "127.0.0.1 25" },
	{ "PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n", false,
	  "0.0.0.0 0", "255.255.255.255 65535" },
	{ "PROXY TCP6 2001:db8::1 ::1 65535 2525\r\n", false,
	  "2001:db8::1 65535", "::1 2525" },
	{ "PROXY TCP6 ::ffff:192.0.2.1 ::ffff:127.0.0.1 1 2\r\n", false,
	  "::ffff:192.0.2.1 1", "::ffff:127.0.0.1 2" },
	{ "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", false,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535",
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535" },
	{ "PROXY UNKNOWN\r\n", true, NULL, NULL },
	{ "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", true, NULL, NULL },
	{ "PROXY UNKNOWN anything  at\tall\r\n", true, NULL, NULL },
	/* 107 bytes exactly, the longest line there is */
	{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n", true, NULL, NULL },
};

Test(proxy_proto, v1_good)
{
	for (size_t i = 0; i < NCASES(v1_goods); i++) {
		const struct v1_good *c = &v1_goods[i];

		cr_assert(strlen(c->line) <= PROXY_V1_MAX);
		check_good((const uint8_t *)c->line, strlen(c->line), 1, c->local, c->src,
			   c->dst, 0);
	}
	cr_expect_eq(strlen(v1_goods[NCASES(v1_goods) - 1].line), 107);
}

struct v1_bad {
	const char *line;
	const char *why;
};

static const struct v1_bad v1_bads[] = {
	{ "EHLO client.test\r\n", "not a PROXY protocol header" },
	{ "proxy TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "not a PROXY protocol header" },
	{ "PROXX TCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 signature" },
	{ "PROXYTCP4 1.2.3.4 5.6.7.8 1 2\r\n", "bad v1 signature" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", "not ended by CRLF" },
	{ "PROXY \r\n", "single spaces" },
	{ "PROXY\r\n", "bad v1 signature" },
	{ "PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", "single spaces" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", "single spaces" },
	{ "PROXY TCP4 1.2.3.4\t5.6.7.8 1 2\r\n", "control" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n", "control" },
	{ "PROXY TCP4 1.2.3.\xff 5.6.7.8 1 2\r\n", "non-ASCII" },
	{ "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", "not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY UNKNOWNX\r\n", "not TCP4, TCP6 or UNKNOWN" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", "4 fields" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n", "4 fields" },
	{ "PROXY TCP4\r\n", "4 fields" },
	/* bad numbers */
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 65536 25\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 25 99999\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 100000 25\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 -1 25\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 025 25\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 2a 25\r\n", "port" },
	{ "PROXY TCP4 1.2.3.4 5.6.7.8 +25 25\r\n", "port" },
	/* addresses not of their family, or not addresses */
	{ "PROXY TCP4 ::1 5.6.7.8 1 2\r\n", "not an IPv4 address" },
	{ "PROXY TCP4 1.2.3.4 ::1 1 2\r\n", "not an IPv4 address" },
	{ "PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n", "not an IPv4 address" },
	{ "PROXY TCP4 256.2.3.4 5.6.7.8 1 2\r\n", "not an IPv4 address" },
	{ "PROXY TCP4 localhost 5.6.7.8 1 2\r\n", "not an IPv4 address" },
	{ "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", "not an IPv6 address" },
	{ "PROXY TCP6 ::1 5.6.7.8 1 2\r\n", "not an IPv6 address" },
	{ "PROXY TCP6 [::1] ::1 1 2\r\n", "not an IPv6 address" },
	{ "PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", "not an IPv6 address" },
	{ "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2\r\n", "not an IPv6 address" },
	/* 108 bytes with the CRLF: one too many */
	{ "PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535x\r\n",
	  "without CRLF within 107 bytes" },
};

Test(proxy_proto, v1_malformed)
{
	for (size_t i = 0; i < NCASES(v1_bads); i++)
		check_bad((const uint8_t *)v1_bads[i].line, strlen(v1_bads[i].line),
			  v1_bads[i].why);
}

/* A line with no CRLF waits for one up to 107 bytes, no further. */
Test(proxy_proto, v1_without_crlf)
{
	char line[200];
	struct proxy_hdr h;
	const char *why;

	memset(line, 'x', sizeof(line));
	memcpy(line, "PROXY TCP4 ", 11);
	for (size_t n = 0; n < PROXY_V1_MAX; n++)
		cr_assert_eq(proxy_parse(line, n, &h, &why), 0, "at %zu", n);
	for (size_t n = PROXY_V1_MAX; n <= sizeof(line); n++) {
		cr_assert_eq(proxy_parse(line, n, &h, &why), -1, "at %zu", n);
		cr_assert_str_eq(why, "v1 header without CRLF within 107 bytes");
	}
	/* a CRLF just past the limit comes too late */
	line[107] = '\r';
	line[108] = '\n';
	cr_assert_eq(proxy_parse(line, 109, &h, &why), -1);
}

/* ---- v2 --------------------------------------------------------------- */

static const uint8_t ip4_block[12] = { 192, 0, 2, 10, 127, 0, 0, 1, 0xdc, 0x04, 0, 25 };
static const uint8_t ip6_block[36] = {
	0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01,
	0xff, 0xff, 0x09, 0xc4 };

Test(proxy_proto, v2_ipv4)
{
	uint8_t b[64];

	check_good(b, v2(b, 0x21, 0x11, ip4_block, 12), 2, false, "192.0.2.10 56324",
		   "127.0.0.1 25", 0);
}

Test(proxy_proto, v2_ipv6)
{
	uint8_t b[64];

	check_good(b, v2(b, 0x21, 0x21, ip6_block, 36), 2, false, "2001:db8::1 65535",
		   "::1 2500", 0);
}

/* LOCAL (HAProxy's health checks): the block is skipped, whatever it is. */
Test(proxy_proto, v2_local)
{
	uint8_t b[64];

	check_good(b, v2(b, 0x20, 0x00, NULL, 0), 2, true, NULL, NULL, 0);
	check_good(b, v2(b, 0x20, 0x11, ip4_block, 12), 2, true, NULL, NULL, 0);
	check_good(b, v2(b, 0x20, 0xff, "\x01\x02\x03", 3), 2, true, NULL, NULL, 0);
}

/* PROXY over AF_UNSPEC: the connection's endpoints stand too. */
Test(proxy_proto, v2_unspec)
{
	uint8_t b[64];

	check_good(b, v2(b, 0x21, 0x00, NULL, 0), 2, true, NULL, NULL, 0);
	check_good(b, v2(b, 0x21, 0x00, "\x04\x00\x01x", 4), 2, true, NULL, NULL, 0);
}

/* TLVs after the addresses: counted, skipped, each inside the header. */
Test(proxy_proto, v2_tlvs)
{
	uint8_t body[600], b[700];
	size_t n = 0;

	memcpy(body, ip4_block, 12);
	n = 12;
	memcpy(body + n, "\x04\x00\x03pad", 6);		/* PP2_TYPE_NOOP */
	n += 6;
	memcpy(body + n, "\x05\x00\x00", 3);		/* PP2_TYPE_UNIQUE_ID, empty */
	n += 3;
	body[n++] = 0x02;				/* PP2_TYPE_AUTHORITY */
	body[n++] = 0x01;
	body[n++] = 0xf4;				/* 500 bytes */
	memset(body + n, 'a', 500);
	n += 500;
	check_good(b, v2(b, 0x21, 0x11, body, n), 2, false, "192.0.2.10 56324",
		   "127.0.0.1 25", 3);
	/* the largest header allowed: one TLV fills it */
	{
		static uint8_t big[PROXY_V2_MAX], bb[PROXY_V2_MAX];
		size_t tl = PROXY_V2_MAX - 16 - 36 - 3;

		memcpy(big, ip6_block, 36);
		big[36] = 0xee;
		big[37] = (uint8_t)(tl >> 8);
		big[38] = (uint8_t)tl;
		cr_assert_eq(v2(bb, 0x21, 0x21, big, PROXY_V2_MAX - 16), PROXY_V2_MAX);
		check_good(bb, PROXY_V2_MAX, 2, false, "2001:db8::1 65535", "::1 2500", 1);
	}
}

struct v2_bad {
	uint8_t ver_cmd, fam;
	const char *body;
	size_t blen;
	const char *why;
};

static const struct v2_bad v2_bads[] = {
	{ 0x11, 0x11, (const char *)ip4_block, 12, "version is not 2" },
	{ 0x31, 0x11, (const char *)ip4_block, 12, "version is not 2" },
	{ 0x01, 0x11, (const char *)ip4_block, 12, "version is not 2" },
	{ 0x22, 0x11, (const char *)ip4_block, 12, "neither LOCAL nor PROXY" },
	{ 0x2f, 0x11, (const char *)ip4_block, 12, "neither LOCAL nor PROXY" },
	{ 0x21, 0x31, (const char *)ip4_block, 12, "AF_UNIX" },
	{ 0x21, 0x41, (const char *)ip4_block, 12, "family is unknown" },
	{ 0x21, 0xf1, (const char *)ip4_block, 12, "family is unknown" },
	{ 0x21, 0x12, (const char *)ip4_block, 12, "not STREAM" },
	{ 0x21, 0x10, (const char *)ip4_block, 12, "not STREAM" },
	{ 0x21, 0x2f, (const char *)ip6_block, 36, "not STREAM" },
	{ 0x21, 0x11, (const char *)ip4_block, 11, "too short for its addresses" },
	{ 0x21, 0x21, (const char *)ip6_block, 35, "too short for its addresses" },
	{ 0x21, 0x21, (const char *)ip4_block, 12, "too short for its addresses" },
	{ 0x21, 0x11, (const char *)ip6_block, 13, "TLV runs past" },
	{ 0x21, 0x11, (const char *)ip6_block, 14, "TLV runs past" },
	{ 0x21, 0x11, (const char *)ip6_block, 36, "TLV runs past" },
};

Test(proxy_proto, v2_malformed)
{
	uint8_t b[128];

	for (size_t i = 0; i < NCASES(v2_bads); i++) {
		const struct v2_bad *c = &v2_bads[i];

		check_bad(b, v2(b, c->ver_cmd, c->fam, c->body, c->blen), c->why);
	}
}

/* Every byte of the signature matters; a wrong one is seen at once. */
Test(proxy_proto, v2_bad_signature)
{
	uint8_t b[64];
	struct proxy_hdr h;
	const char *why;
	size_t n = v2(b, 0x21, 0x11, ip4_block, 12);

	for (size_t i = 1; i < 12; i++) {
		uint8_t c[64];

		memcpy(c, b, n);
		c[i] ^= 0x20;
		check_bad(c, n, "bad v2 signature");
		cr_expect_eq(proxy_parse(c, i + 1, &h, &why), -1, "byte %zu", i);
	}
}

/* A length beyond PROXY_V2_MAX is refused from its 16 bytes, before the
 * body it announces (which may never come). */
Test(proxy_proto, v2_length_beyond_limit)
{
	uint8_t b[64];
	struct proxy_hdr h;
	const char *why;

	for (unsigned len = PROXY_V2_MAX - 15; len <= 0xffff; len += 997) {
		v2(b, 0x21, 0x11, ip4_block, 12);
		b[14] = (uint8_t)(len >> 8);
		b[15] = (uint8_t)len;
		cr_assert_eq(proxy_parse(b, 16, &h, &why), -1, "len %u", len);
		cr_assert_str_eq(why, "v2 header longer than 2048 bytes");
		cr_assert_eq(proxy_parse(b, 15, &h, &why), 0);
	}
	/* LOCAL too */
	v2(b, 0x20, 0x00, NULL, 0);
	b[14] = b[15] = 0xff;
	cr_assert_eq(proxy_parse(b, 16, &h, &why), -1);
	/* one byte under: need more, then done */
	b[14] = (uint8_t)((PROXY_V2_MAX - 16) >> 8);
	b[15] = (uint8_t)(PROXY_V2_MAX - 16);
	cr_assert_eq(proxy_parse(b, 16, &h, &why), 0);
}

/* A v2 header cut anywhere asks for more, with nothing decided early. */
Test(proxy_proto, v2_truncated_everywhere)
{
	uint8_t b[64];
	struct proxy_hdr h;
	const char *why;
	size_t n = v2(b, 0x21, 0x21, ip6_block, 36);

	for (size_t cut = 0; cut < n; cut++) {
		cr_assert_eq(proxy_parse(b, cut, &h, &why), 0, "cut %zu", cut);
		cr_assert_null(why);
	}
	cr_assert_eq(proxy_parse(b, n, &h, &why), (long)n);
}
