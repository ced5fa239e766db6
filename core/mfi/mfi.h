/*
 * mfi — mail flow intelligence: why a delivery attempt failed, in the
 * standard codes an operator of Exchange Online recognises (450 4.4.312 to
 * 450 4.7.320), with the sentence that explains it and the fix that ends it.
 *
 * The SMTP client describes a failed attempt in a struct mfi_attempt (stage
 * reached, socket error, DNS result, reply, TLS verdict, destination) and
 * mfi_classify() turns it into one enum mfi_code.  The code drives the
 * per-connector counters, the queue alerts and the text of NDRs; the
 * destination's own 4xx/5xx replies are MFI_REMOTE and kept verbatim.
 *
 * Not for: deciding the retry schedule (queue/retry.h) or talking to the
 * network.  Everything here is pure: no I/O, no clock, no allocation except
 * into a caller's struct buf, no state but const tables, so any thread may
 * call any function at any time, and the strings returned are static.
 */
#ifndef SLUICE_CORE_MFI_MFI_H
#define SLUICE_CORE_MFI_MFI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Classification of one failed attempt.  Values are stable (spooled). */
enum mfi_code {
	MFI_NONE,		/* not a failure (or nothing known) */
	MFI_DNS_FAILED,		/* 450 4.4.312 DNS query failed */
	MFI_CONN_TIMEOUT,	/* 450 4.4.315 connection timed out */
	MFI_CONN_REFUSED,	/* 450 4.4.316 connection refused */
	MFI_CANNOT_CONNECT,	/* 450 4.4.317 error reply or unmet requirement */
	MFI_CONN_DROPPED,	/* 450 4.4.318 connection closed mid-session */
	MFI_CERT_INVALID,	/* 450 4.7.320 certificate validation failed */
	MFI_REMOTE,		/* the destination's own 4xx/5xx reply */
	MFI_NCODES		/* number of codes, for per-code counter arrays */
};

/* How far the attempt got when it failed. */
enum mfi_stage {
	MFI_STAGE_DNS,		/* resolving the MX / smart host / address */
	MFI_STAGE_CONNECT,	/* TCP connect */
	MFI_STAGE_BANNER,	/* waiting for the 220 greeting */
	MFI_STAGE_EHLO,		/* EHLO (or HELO) */
	MFI_STAGE_STARTTLS,	/* the STARTTLS command and its reply */
	MFI_STAGE_TLS_HANDSHAKE, /* the TLS handshake after STARTTLS's 220 */
	MFI_STAGE_MAIL,		/* MAIL FROM */
	MFI_STAGE_RCPT,		/* RCPT TO */
	MFI_STAGE_DATA,		/* DATA (waiting for 354) or sending the body */
	MFI_STAGE_BODY,		/* the reply to the end of data */
};

/* What the resolver said (only meaningful at MFI_STAGE_DNS). */
enum mfi_dns {
	MFI_DNS_NONE,		/* no DNS problem recorded */
	MFI_DNS_NXDOMAIN,	/* the name does not exist */
	MFI_DNS_SERVFAIL,	/* the zone's servers failed to answer */
	MFI_DNS_TIMEOUT,	/* no answer in time */
	MFI_DNS_REFUSED,	/* the resolver refused the query */
	MFI_DNS_NODATA,		/* the name exists but has no MX/A/AAAA */
	MFI_DNS_NULL_MX,	/* "MX 0 ." (RFC 7505): the domain takes no mail */
	MFI_DNS_BADRESP,	/* malformed or unusable answer */
	MFI_DNS_OTHER,		/* anything else (resolver error, no memory) */
};

/* The TLS verdict (tls/ maps its verification result to this). */
enum mfi_tls {
	MFI_TLS_NONE,		/* no TLS problem */
	MFI_TLS_NOT_OFFERED,	/* TLS required, EHLO did not list STARTTLS */
	MFI_TLS_REFUSED,	/* TLS required, STARTTLS answered with an error */
	MFI_TLS_EXPIRED,	/* certificate past its notAfter */
	MFI_TLS_NOT_YET_VALID,	/* certificate before its notBefore */
	MFI_TLS_NAME_MISMATCH,	/* certificate does not name the host */
	MFI_TLS_UNTRUSTED,	/* chain does not lead to a trusted CA */
	MFI_TLS_SELF_SIGNED,	/* self-signed certificate */
	MFI_TLS_REVOKED,	/* certificate revoked */
	MFI_TLS_HANDSHAKE_FAILED, /* handshake died (alert, bad record, EOF) */
};

/*
 * One failed attempt, as the SMTP client saw it.  Conventions:
 *  - err is the negative errno of the failed socket operation (cqe->res),
 *    0 when the failure is an SMTP reply.  A timeout is -ETIMEDOUT, or
 *    -ECANCELED / -ETIME from a linked timeout; a malformed reply -EPROTO.
 *  - At BANNER and later, err == 0 with reply_code == 0 means the peer
 *    closed the connection (EOF).
 *  - tls_reason NOT_OFFERED / REFUSED is set only when the connector
 *    requires TLS: with opportunistic TLS those are not failures.
 * Strings are borrowed for the duration of the call; all may be NULL.
 */
struct mfi_attempt {
	enum mfi_stage stage;	/* where it failed */
	int err;		/* negative errno, 0 if a reply (or EOF) */
	enum mfi_dns dns_status; /* resolver verdict, for MFI_STAGE_DNS */
	int reply_code;		/* SMTP reply code (421, 550...), 0 if none */
	const char *reply_text;	/* whole reply as received, with or without
				   the code; lines may be CRLF-separated */
	enum mfi_tls tls_reason; /* TLS verdict, MFI_TLS_NONE if none */
	const char *host;	/* destination host name (or the name queried) */
	const char *ip;		/* destination address as text */
	uint16_t port;		/* destination port, 0 if not worth showing */
};

/* Longest enhanced status code text ("5.123.456") plus NUL. */
#define MFI_STATUS_MAX	12

/*
 * Classify a failed attempt (rules in mfi.c's opening comment).  Returns
 * MFI_NONE when a says nothing failed (e.g. a 2xx reply, no error).
 */
enum mfi_code mfi_classify(const struct mfi_attempt *a);

/*
 * True if the failure is permanent for the recipient (return it now): only
 * a 5xx reply at MAIL, RCPT, DATA or end of data.  Everything else is
 * retried until expiry, including a 5xx banner or EHLO (that is the server,
 * not the recipient) and every DNS answer.
 */
bool mfi_permanent(const struct mfi_attempt *a);

/*
 * True if reply (text, possibly starting with its code) with code is a 5xx
 * whose enhanced status is 5.1.x (bad destination address): the events
 * counted against a tenant's invalid-recipient quota.  text may be NULL.
 */
bool mfi_user_unknown(const char *reply_text, int code);

/*
 * The enhanced status code of a reply: the one in text (after an optional
 * leading reply code) if its class matches code's first digit, else "4.0.0"
 * or "5.0.0" from code, else "" for codes outside 400-599.  Written into
 * out (NUL-terminated); returns out.
 */
const char *mfi_reply_status(const char *reply_text, int code,
			     char out[MFI_STATUS_MAX]);

/* Enhanced status of a code: "4.4.316"; "" for MFI_NONE and MFI_REMOTE. */
const char *mfi_status(enum mfi_code c);

/*
 * The reply line Sluice records for a code: "450 4.4.316 Connection
 * refused"; "" for MFI_NONE and MFI_REMOTE (the destination's reply is kept
 * instead).
 */
const char *mfi_reply(enum mfi_code c);

/* One sentence saying what happened. */
const char *mfi_meaning(enum mfi_code c);

/* The fix, in the operator's terms, naming who acts. */
const char *mfi_fix(enum mfi_code c);

/*
 * Who should act: one party, "sender", "operator" (of this relay) or
 * "partner or destination administrator", or several joined with ", or "
 * when the cause is commonly on either side (the fix text says which part
 * is whose, and names exactly these parties).  "" for MFI_NONE.
 */
const char *mfi_who(enum mfi_code c);

/* What a report tells a person about one failure.  Static strings. */
struct mfi_advice {
	const char *meaning;	/* what happened */
	const char *fix;	/* what to do, naming each party that acts */
	const char *who;	/* those parties, as mfi_who() writes them */
};

/*
 * The advice for a failure classified c, whose enhanced status is status
 * ("5.1.1"; NULL or "" if none): Sluice's own codes have their texts;
 * for MFI_REMOTE and MFI_NONE the status's texts (RFC 3463: the exact
 * code, else its subject) when mfi_status.c has them, else MFI_REMOTE's
 * general texts for MFI_REMOTE.  Returns false, out all NULL, when there
 * is nothing to say (MFI_NONE and a status without texts).
 */
bool mfi_advice(enum mfi_code c, const char *status, struct mfi_advice *out);

/*
 * True if the destination answered a in SMTP (its banner, or a reply to a
 * command) before it failed: only then did a remote MTA take part, and a
 * report may name it (RFC 3464 Remote-MTA).  A DNS failure, a refused or
 * timed-out connect, a server that accepted TCP and closed or said nothing
 * never answered.
 */
bool mfi_answered(const struct mfi_attempt *a);

/*
 * Stable lowercase key for stats and JSON: "dns_failed", "conn_timeout",
 * "conn_refused", "cannot_connect", "conn_dropped", "cert_invalid",
 * "remote", and "none" for MFI_NONE or an out-of-range value.
 */
const char *mfi_name(enum mfi_code c);

/* Stable lowercase key of a stage ("connect", "rcpt"...), for logs/JSON. */
const char *mfi_stage_name(enum mfi_stage s);

/*
 * Append one human line describing attempt a, classified as c, to out: e.g.
 * "connect to 192.0.2.1:2526 timed out", "mx.partner.test [192.0.2.1] said:
 * 550 5.1.1 <x@y>: user unknown".  Reply lines are joined with a space;
 * other control characters and non-ASCII bytes in the reply, host and ip
 * become '?'; the reply is capped at about 400 bytes and the whole line
 * has no CR or LF.  Appends bytes only (struct buf adds no NUL).
 */
void mfi_detail(const struct mfi_attempt *a, enum mfi_code c, struct buf *out);

#endif
