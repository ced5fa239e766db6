/*
 * sink_check.h - sluice-sink's strict reading of MAIL FROM and RCPT TO.
 *
 * A relay's client side is tested against this sink, so the sink must be
 * at least as strict as the real servers a relay meets: a byte the relay
 * should not have sent (stack residue after a parameter list, a control
 * byte, an unadvertised parameter, 8-bit text without SMTPUTF8) has to
 * come back as the 501/553/555 a strict server would give, not be taken
 * as mail. The rules, from RFC 5321 s. 4.1.2 and the extension RFCs:
 *
 *   1. No byte below 0x20 and no DEL anywhere in the line (a CR inside a
 *      line is a command injection on servers that end lines at CR).
 *   2. "FROM:" / "TO:" is followed at once by "<" (no space), the path in
 *      angle brackets, then either the end of the line or SP param
 *      *(SP param): exactly one space before each, none at the end.
 *   3. The path is "<>" (MAIL only), "<Postmaster>" (RCPT only), or an
 *      optional source route then Local-part "@" Domain: a dot-atom or a
 *      quoted string, then dot-separated labels of letters, digits and
 *      inner hyphens, or an address literal in brackets. 256 octets at
 *      most, brackets included (RFC 5321 s. 4.5.3.1.3).
 *   4. 8-bit bytes may appear only when this MAIL carries SMTPUTF8 (which
 *      needs the extension advertised), and then must be well-formed
 *      UTF-8 (RFC 6531), in the path and in parameter values.
 *   5. A parameter is known and advertised, given once, and well formed:
 *      SIZE=1*20DIGIT (RFC 1870), BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8
 *      without a value (RFC 6531), RET=FULL|HDRS and ENVID=xtext of at
 *      most 100 characters (RFC 3461), NOTIFY=NEVER or a list of SUCCESS,
 *      FAILURE, DELAY, ORCPT=atom ";" xtext (RFC 3461). An unknown or
 *      unadvertised one is 555 5.5.4, a malformed one 501 5.5.4.
 *   6. SIZE above an advertised non-zero limit is 552 5.3.4.
 *
 * Pure functions: no I/O, no allocation, no global state.
 */
#ifndef BENCH_SINK_CHECK_H
#define BENCH_SINK_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* What the session's greeting advertised (all false after HELO). */
struct sink_ext {
	bool size;			/* SIZE, with or without a number */
	unsigned long long size_max;	/* that number, 0 = no limit */
	bool eightbit;			/* 8BITMIME */
	bool smtputf8;			/* SMTPUTF8 */
	bool dsn;			/* DSN */
};

/* A MAIL FROM or RCPT TO that passed, as pointers into the line. */
struct sink_path {
	const char *addr;		/* the path without its brackets */
	size_t alen;			/* its length (0: the null path) */
	bool utf8;			/* MAIL: SMTPUTF8 given */
};

/* Longest reply the checkers write, CRLF and NUL included. */
#define SINK_CHECK_REPLY 160

/*
 * Check the argument of MAIL (arg[0..len): "FROM:<...> params", the
 * command word and its space already skipped) against ext. Returns 0 and
 * fills *out, or -EINVAL (malformed or not allowed) or -EFBIG (a well-formed
 * SIZE over the limit) with the reply line ("501 5.5.4 ...\r\n") in
 * reply[SINK_CHECK_REPLY].
 */
int sink_check_mail(const struct sink_ext *ext, const char *arg, size_t len,
		    struct sink_path *out, char *reply);

/*
 * Same for RCPT ("TO:<...> params"); utf8 says whether the transaction's
 * MAIL carried SMTPUTF8.
 */
int sink_check_rcpt(const struct sink_ext *ext, bool utf8, const char *arg,
		    size_t len, struct sink_path *out, char *reply);

/*
 * Rule 1 for any command line: 0 when line[0..len) holds no control byte
 * and no DEL, -EINVAL otherwise.
 */
int sink_check_ctl(const char *line, size_t len);

#endif
