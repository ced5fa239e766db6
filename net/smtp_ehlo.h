/*
 * smtp_ehlo — what a server's EHLO reply offers (RFC 5321 4.1.1.1 and the
 * extensions the client uses: RFC 1870 SIZE, 2920 PIPELINING, 3030
 * CHUNKING, 3207 STARTTLS, 3461 DSN, 6152 8BITMIME, 6531 SMTPUTF8).
 *
 * Pure: reads a reply parsed by smtp_reply_parse() (net/smtp_proto.h),
 * writes a struct.  No I/O, no allocation, any thread; unit-tested and
 * fuzzed directly (tests/fuzz/fuzz_reply.c).  The reply comes from a
 * remote server and is trusted for nothing: every line may be malformed.
 */
#ifndef SLUICE_NET_SMTP_EHLO_H
#define SLUICE_NET_SMTP_EHLO_H

#include <stdbool.h>
#include <stdint.h>

#include "net/smtp_proto.h"

/* The extensions the client cares about.  All false / 0 after HELO. */
struct smtp_ehlo {
	bool pipelining;	/* PIPELINING */
	bool chunking;		/* CHUNKING (BDAT) */
	bool eightbit;		/* 8BITMIME */
	bool smtputf8;		/* SMTPUTF8 */
	bool dsn;		/* DSN */
	bool starttls;		/* STARTTLS */
	bool size;		/* SIZE, with or without a limit */
	uint64_t size_max;	/* SIZE's limit in bytes; 0 when SIZE is absent,
				   bare, 0 (RFC 1870: no fixed maximum) or not
				   a number; a number past 2^64-1 saturates */
};

/*
 * Read the capabilities from an EHLO reply r (any code; the caller checks
 * it is 2xx).  Keywords are matched case-insensitively as whole words on
 * the lines after the first (the first line is the server's name and
 * greeting, RFC 5321 4.1.1.1).  Always fills every field of e.
 */
void smtp_ehlo_parse(const struct smtp_reply *r, struct smtp_ehlo *e);

#endif
