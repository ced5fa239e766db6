/*
 * addr — the syntax of a mail address (RFC 5321 4.1.2 Mailbox, with the
 * UTF-8 of RFC 6531): its character classes and the scanners of a local
 * part (dot-string or quoted-string) and of a domain (labels or an address
 * literal).  The SMTP parser (net/smtp_proto.c) and the tenant directory's
 * file parser (core/tenant/directory.c) both scan with these, so a
 * directory holds exactly the addresses a client can send.
 *
 * Each scanner reads the piece of its kind at the start of p (n bytes,
 * not NUL-terminated) and returns its length, or 0 when the syntax there
 * is wrong; what must follow it ('@', '>', a blank) is the caller's to
 * check.  Bytes >= 0x80 are taken where RFC 6531 allows UTF-8 (atext,
 * quoted text, domain labels) and reported in *eight (eight may be NULL);
 * whether they are well-formed and allowed at all is the caller's call
 * (core/utf8.h, SMTPUTF8), and so are the length limits, which the parser
 * and the directory count differently.
 *
 * Not for: parsing a path ("<...>", source routes: net/smtp_proto.c),
 * case folding or normal forms (the directory's), checking that an
 * address literal is an IP address.  Pure: no state, any thread.
 */
#ifndef SLUICE_CORE_ADDR_H
#define SLUICE_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#define ADDR_C_ATEXT	0x01	/* RFC 5322 atext (ASCII only) */
#define ADDR_C_LETDIG	0x02	/* ASCII letter or digit */

/* Character classes by byte, ADDR_C_* bits: a table, because the
 * directory's parser looks at every byte of a million-line file. */
extern const unsigned char addr_class[256];

/* True if c is RFC 5322 atext: a letter, a digit or one of
 * !#$%&'*+-/=?^_`{|}~ (ASCII only). */
static inline bool
addr_is_atext(unsigned char c)
{
	return addr_class[c] & ADDR_C_ATEXT;
}

/* True if c is an ASCII letter or digit (RFC 5321 Let-dig). */
static inline bool
addr_is_let_dig(unsigned char c)
{
	return addr_class[c] & ADDR_C_LETDIG;
}

/* A dot-string: atext and bytes >= 0x80, with single dots between them
 * (none first or last).  Stops at the first other byte. */
size_t addr_scan_dot_string(const char *p, size_t n, bool *eight);

/*
 * A quoted-string, p[0] == '"', both quotes included: any byte but a
 * control byte, DEL, '"' and '\' (bytes >= 0x80 too), and quoted-pairs,
 * '\' and one byte of %d32-126 (quoted-pairSMTP; RFC 6531 does not extend
 * it).  "" is one.
 */
size_t addr_scan_quoted(const char *p, size_t n, bool *eight);

/* A local part: a quoted-string when p starts with '"', else a
 * dot-string. */
size_t addr_scan_local(const char *p, size_t n, bool *eight);

/*
 * A domain: dot-separated labels of letters, digits, bytes >= 0x80 and
 * inner hyphens, 1 to 63 octets each, no dot first or last (stops at the
 * first other byte); or an address literal "[...]" holding at least two
 * bytes, printable ASCII other than '[', '\' and ']'.
 */
size_t addr_scan_domain(const char *p, size_t n, bool *eight);

#endif /* SLUICE_CORE_ADDR_H */
