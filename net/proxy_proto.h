/*
 * proxy_proto — the PROXY protocol header (HAProxy's proxy-protocol.txt,
 * versions 1 and 2) that a load balancer sends on a connection before the
 * client's first byte, to say who the client really is.  Given the bytes a
 * connection has received so far, proxy_parse says: a prefix of a header
 * (send more), a complete header of so many bytes (and the addresses), or
 * not a header (and why).  The version is told by the first byte: 'P'
 * (v1, a text line) or CR (v2, binary).
 *
 * Not for: who may send a header (listen.proxy_from), the deadline for it
 * or what is done with the addresses (net/smtp_server_proxy.c).
 *
 * Pure: no I/O, no allocation, no state between calls; the caller keeps the
 * bytes and calls again with more.  Any thread.
 */
#ifndef SLUICE_NET_PROXY_PROTO_H
#define SLUICE_NET_PROXY_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107	/* a v1 line, CRLF included, at most (the spec's) */
#define PROXY_V2_MAX 2048	/* a v2 header, its 16 fixed bytes included, at most
				   (ours: addresses and a few TLVs need far less) */

/* A complete header. */
struct proxy_hdr {
	uint8_t version;		/* 1 or 2 */
	bool local;			/* no client address: v2 LOCAL (a
					   balancer's own health check), v2
					   AF_UNSPEC or v1 UNKNOWN: the
					   connection's endpoints stand */
	struct sockaddr_storage src;	/* the client (AF_INET or AF_INET6,
					   port set), unless local */
	struct sockaddr_storage dst;	/* the address it reached at the
					   balancer, unless local */
	uint32_t ntlv;			/* v2: TLVs after the addresses, skipped */
};

/*
 * Parse the header at the start of buf[0..len).  Returns its length (> 0)
 * with *h filled in; 0 when buf is a proper prefix of a header that may
 * still be valid (need more bytes: 0 bytes, a v1 line without its CRLF
 * within PROXY_V1_MAX bytes, a v2 header short of its length); -1 when it
 * is not a valid header, with *why a static sentence naming the fault
 * (bad signature, version, command, family, address, port, length...).
 * Bytes after the header are not looked at.  h and why may not be NULL.
 */
long proxy_parse(const void *buf, size_t len, struct proxy_hdr *h, const char **why);

#endif
