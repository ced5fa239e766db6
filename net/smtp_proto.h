/*
 * smtp_proto — the pure part of SMTP (RFC 5321, 1869, 1870, 2920, 3030,
 * 3461, 6152, 6531): command lines, paths and ESMTP parameters, the DATA
 * reader that un-stuffs dots and finds the end of the message, and what
 * delivery sends a message as: dot-stuffed after DATA, or BDAT chunks.
 *
 * No I/O and no allocation except into a caller's struct buf, so every
 * function here is unit-tested and fuzzed directly.  Parsers return NULL on
 * success or the complete reply line (code, enhanced code, text, no CRLF)
 * that the server should send, so a rejection is always specific.
 *
 * What MAIL and RCPT accept is relayed, so it is clean: no control byte or
 * DEL anywhere (path, ENVID, ORCPT, any parameter), and 8-bit bytes only
 * in an address, as well-formed UTF-8, with SMTPUTF8.
 */
#ifndef SLUICE_NET_SMTP_PROTO_H
#define SLUICE_NET_SMTP_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "queue/envelope.h"	/* the DSN parameters MAIL and RCPT carry */

enum smtp_verb {
	SMTP_UNKNOWN,
	SMTP_HELO,
	SMTP_EHLO,
	SMTP_MAIL,
	SMTP_RCPT,
	SMTP_DATA,
	SMTP_RSET,
	SMTP_NOOP,
	SMTP_QUIT,
	SMTP_VRFY,
	SMTP_EXPN,
	SMTP_HELP,
	SMTP_STARTTLS,
	SMTP_BDAT,
	SMTP_AUTH,
};

/* One command line, split into verb and argument (pointers into the line). */
struct smtp_cmd {
	enum smtp_verb verb;	/* SMTP_UNKNOWN if not recognised */
	const char *arg;	/* text after the verb and its spaces */
	size_t arglen;		/* length of arg (trailing spaces removed) */
};

/* A path's address: pointers into the parsed line. */
struct smtp_path {
	const char *addr;	/* "local@domain" without <>; "" for <> */
	size_t len;		/* length of addr */
	const char *domain;	/* points after the '@' inside addr, or NULL */
	size_t domainlen;	/* length of domain */
};

/* MAIL FROM parameters. */
struct smtp_mail_params {
	uint64_t size;		/* SIZE=, 0 if absent */
	enum env_body body;	/* BODY= */
	enum env_ret ret;	/* RET= */
	bool smtputf8;		/* SMTPUTF8 */
	const char *envid;	/* ENVID= xtext, pointer into the line */
	size_t envidlen;	/* its length, 0 if absent */
};

/* RCPT TO parameters. */
struct smtp_rcpt_params {
	uint8_t notify;		/* ENV_NOTIFY_* bits, 0 if absent */
	const char *orcpt;	/* ORCPT= value "type;xtext", pointer into line */
	size_t orcptlen;	/* its length, 0 if absent */
};

/* Split a command line (without CRLF) into verb and argument. */
void smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd);

/*
 * Parse the argument of MAIL ("FROM:<a@b> SIZE=10 ...").  Returns NULL and
 * fills path/params, or a reply line such as "501 5.1.7 Bad sender address
 * syntax".  smtputf8 allows UTF-8 in the address (after SMTPUTF8 is seen
 * the caller need not re-parse: the parser looks for it first).
 */
const char *smtp_parse_mail(const char *arg, size_t len, struct smtp_path *path,
			    struct smtp_mail_params *params);

/* Same for RCPT ("TO:<a@b> NOTIFY=FAILURE ORCPT=rfc822;a@b"). */
const char *smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8,
			    struct smtp_path *path, struct smtp_rcpt_params *params);

/* True if s (len bytes) is an acceptable EHLO/HELO argument. */
bool smtp_valid_helo(const char *s, size_t len);

/* Flags the DATA reader raises; the message is rejected when any is set. */
#define SMTP_DATA_BARE_LF	0x01	/* LF not preceded by CR */
#define SMTP_DATA_BARE_CR	0x02	/* CR not followed by LF */
#define SMTP_DATA_LONG_LINE	0x04	/* a line over the text-line limit */
#define SMTP_DATA_TOO_BIG	0x08	/* body over the size limit */

/*
 * The DATA reader: a byte-at-a-time state machine (with a fast path inside
 * lines) that removes dot-stuffing and stops after "CRLF.CRLF".  Only that
 * exact sequence ends the message: "LF.LF", "CR.CRLF", "LF.CRLF" and
 * "CRLF.CR" are data (and raise BARE_LF/BARE_CR), so nothing after them can
 * be taken for a new command (SMTP smuggling).
 */
struct smtp_data {
	uint8_t state;		/* private: position relative to line start */
	uint8_t flags;		/* SMTP_DATA_* seen so far */
	bool done;		/* end of data seen */
	uint32_t linelen;	/* bytes of the current line so far */
	uint32_t max_line;	/* text-line limit incl. CRLF, 0 = none */
	uint64_t max_size;	/* body limit in bytes, 0 = none */
	uint64_t size;		/* body bytes seen (after un-stuffing) */
};

/* Start reading a body with the given limits. */
void smtp_data_init(struct smtp_data *d, uint32_t max_line, uint64_t max_size);

/*
 * Consume up to n bytes of DATA input, appending the un-stuffed body to out
 * (nothing is appended once TOO_BIG is set).  Returns the number of bytes
 * consumed: n, or fewer when the end of data was reached (d->done is then
 * set and the rest of the input belongs to the next command).
 */
size_t smtp_data_feed(struct smtp_data *d, const char *p, size_t n, struct buf *out);

/* The reply to an ended DATA whose flags are set (NULL if flags == 0). */
const char *smtp_data_reject(const struct smtp_data *d);

/* One server reply, possibly multi-line ("250-a CRLF 250 b CRLF"). */
struct smtp_reply {
	int code;		/* 3-digit code, e.g. 250 */
	const char *text;	/* the whole reply, first line's code included */
	size_t len;		/* its length without the final CRLF */
};

/*
 * Parse one complete reply at p.  Returns the bytes it spans (including the
 * final CRLF), 0 when more input is needed, or -1 when the input is not an
 * SMTP reply (bad code, mixed codes, a line over 4 KiB, or a reply over
 * 64 KiB): the caller treats that as a protocol failure.
 */
long smtp_reply_parse(const char *p, size_t n, struct smtp_reply *r);

/*
 * True if an EHLO reply advertises keyword (case-insensitive, whole word,
 * e.g. "PIPELINING"); *param gets the rest of that line (e.g. SIZE's
 * number) when param is not NULL.
 */
bool smtp_reply_has(const struct smtp_reply *r, const char *keyword,
		    const char **param, size_t *paramlen);

/*
 * Copy a reply into out as one line for logs and DSNs: continuation lines
 * joined with " / ", control bytes replaced by '?', at most max bytes.
 */
void smtp_reply_flat(const struct smtp_reply *r, char *out, size_t max);

/*
 * Append data to out with SMTP dot-stuffing (RFC 5321 4.5.2): a '.' that
 * starts a line gets a second '.'; then the end marker.  data is the
 * un-stuffed message; a missing final CRLF is added.  A line starts at
 * the beginning of data and after every LF.
 */
void smtp_stuff(const char *data, size_t n, struct buf *out);

/*
 * The same, for a message that comes in pieces (delivery streams it from
 * the spool): the state a piece leaves for the next one.  Zero it (or
 * smtp_stuff_init) before the first piece.  Feeding the pieces to
 * smtp_stuff_chunk and then calling smtp_stuff_end gives exactly what
 * smtp_stuff gives for the whole message, wherever the pieces are cut.
 */
struct smtp_stuffer {
	bool mid;		/* inside a line: the next byte starts none */
	char tail[2];		/* the last two bytes seen (the final CRLF) */
	uint64_t n;		/* bytes seen */
};

/* Start a message. */
void smtp_stuff_init(struct smtp_stuffer *st);

/* Append the next n bytes of the message to out, stuffed.  out grows by
 * at most n + n / 2 + 1 bytes (a '.' added per line start). */
void smtp_stuff_chunk(struct smtp_stuffer *st, const char *data, size_t n,
		      struct buf *out);

/* The message is complete: a CRLF if it did not end with one, then the
 * end marker ".\r\n" (5 bytes at most). */
void smtp_stuff_end(struct smtp_stuffer *st, struct buf *out);

/*
 * BDAT (RFC 3030): append the next n bytes of the message to out as one
 * chunk, "BDAT <size>\r\n" and the bytes as they are (no stuffing), or
 * for the last piece "BDAT <size> LAST\r\n".  The last chunk carries a
 * CRLF more (counted in its size) when the message did not end with one,
 * so the next hop gets the same message as smtp_stuff_chunk and
 * smtp_stuff_end would deliver through DATA.  st (smtp_stuff_init before
 * the first piece) keeps the message's tail across pieces; n may be 0.
 * out grows by at most n + 32 bytes.
 */
void smtp_bdat_chunk(struct smtp_stuffer *st, const char *data, size_t n, bool last,
		     struct buf *out);

#endif
