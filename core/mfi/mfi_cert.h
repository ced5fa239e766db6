/*
 * mfi_cert — the certificate-expiry insight: where a destination's
 * certificate stands against the warning window (cert_expiry_warning), and
 * what the insight says about it, before deliveries fail with 4.7.320.
 *
 * Not for: reading certificates (tls/tls.h, tls_peer_cert), remembering
 * them (queue/queue.h, queue_dest_cert) or deciding when to log (the
 * control thread, core/ctl/ctl_cert.c).  Pure like core/mfi/mfi.h: no I/O,
 * no clock (the caller passes now), no state; any thread.
 */
#ifndef SLUICE_CORE_MFI_MFI_CERT_H
#define SLUICE_CORE_MFI_MFI_CERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strb.h"

#define MFI_CERT_DAY	86400	/* seconds in a day */

/* Where a certificate stands. */
enum mfi_cert_state {
	MFI_CERT_OK,		/* outside the window, or no window */
	MFI_CERT_EXPIRING,	/* expires within the window */
	MFI_CERT_EXPIRED,	/* past its notAfter */
};

/*
 * The state at now of a certificate valid until not_after (unix s), with a
 * window of warn seconds: EXPIRED from not_after on, EXPIRING when it ends
 * within warn seconds, else OK.  warn 0 (the warning is off) is always OK.
 */
enum mfi_cert_state mfi_cert_state(int64_t not_after, int64_t now, uint32_t warn);

/* Whole days from now to not_after, rounded toward the past: 2 for 2d23h
 * left, 0 for less than a day, -1 for expired less than a day ago. */
int64_t mfi_cert_days_left(int64_t not_after, int64_t now);

/* "ok", "expiring", "expired" (stable, for JSON and logs). */
const char *mfi_cert_state_name(enum mfi_cert_state s);

/* A date for people and logs: "2026-12-09T12:00:00Z" into out (n >= 21). */
void mfi_cert_date(int64_t t, char *out, size_t n);

/* What the texts are about.  Strings are the caller's, already escaped
 * where they came from a peer (core/log.h: the host from DNS, the subject
 * from the certificate). */
struct mfi_cert_note {
	enum mfi_cert_state state;	/* EXPIRING or EXPIRED */
	const char *connector;		/* the connector that delivers there */
	const char *host;		/* the host that showed the certificate */
	const char *subject;		/* its subject's CN (or whole subject) */
	int64_t not_after;		/* when it expires, unix s */
	int64_t now;			/* the time of the note, unix s */
	const char *tls;		/* the connector's TLS policy word */
	bool verify;			/* it verifies certificates (tls:
					   verify): an expired one fails its
					   deliveries */
};

/* One sentence saying what happened: which certificate expires (or has
 * expired) when, and what that does to the connector's deliveries.
 * Appended to out. */
void mfi_cert_meaning(const struct mfi_cert_note *n, struct strb *out);

/* The fix: renew the certificate on the host before the date, and what
 * happens otherwise ("... or deliveries on C will fail with 4.7.320").
 * Appended to out. */
void mfi_cert_fix(const struct mfi_cert_note *n, struct strb *out);

/* Who should act: the host's administrator (static text). */
const char *mfi_cert_who(void);

#endif
