/*
 * mfi_cert — the certificate-expiry insight's arithmetic and texts.
 *
 * The rules, in order:
 *  1. no window (cert_expiry_warning 0)            -> OK, nothing is said
 *  2. now at or past notAfter                      -> EXPIRED
 *  3. notAfter within the window                   -> EXPIRING
 *  4. otherwise                                    -> OK
 * What an EXPIRED certificate means depends on the connector: with tls:
 * verify its deliveries fail with 4.7.320 (the insight then explains the
 * queue alert that follows); with any other policy they still succeed,
 * unverified, and the insight is the only sign that something is wrong.
 *
 * Pure and stateless: any thread.
 */
#include "core/mfi/mfi_cert.h"

#include <stdio.h>
#include <time.h>

#include "core/mfi/mfi.h"

enum mfi_cert_state
mfi_cert_state(int64_t not_after, int64_t now, uint32_t warn)
{
	if (warn == 0)
		return MFI_CERT_OK;
	if (now >= not_after)
		return MFI_CERT_EXPIRED;
	if (not_after - now <= (int64_t)warn)
		return MFI_CERT_EXPIRING;
	return MFI_CERT_OK;
}

int64_t
mfi_cert_days_left(int64_t not_after, int64_t now)
{
	int64_t d = not_after - now;

	/* C division truncates toward zero; days left round toward the past */
	return d >= 0 ? d / MFI_CERT_DAY : -((-d + MFI_CERT_DAY - 1) / MFI_CERT_DAY);
}

const char *
mfi_cert_state_name(enum mfi_cert_state s)
{
	switch (s) {
	case MFI_CERT_EXPIRING: return "expiring";
	case MFI_CERT_EXPIRED: return "expired";
	default: return "ok";
	}
}

void
mfi_cert_date(int64_t t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, n, "?");
}

/* "in 3 days", "in 1 day", "within a day"; "less than a day ago",
 * "1 day ago", "2 days ago": whole days, rounded down. */
static void
cert_when(struct strb *out, int64_t not_after, int64_t now)
{
	int64_t days = not_after > now ? (not_after - now) / MFI_CERT_DAY
				       : (now - not_after) / MFI_CERT_DAY;

	if (not_after > now && days == 0)
		strb_puts(out, "within a day");
	else if (not_after > now)
		strb_printf(out, "in %lld day%s", (long long)days, days == 1 ? "" : "s");
	else if (days == 0)
		strb_puts(out, "less than a day ago");
	else
		strb_printf(out, "%lld day%s ago", (long long)days, days == 1 ? "" : "s");
}

void
mfi_cert_meaning(const struct mfi_cert_note *n, struct strb *out)
{
	char date[32];

	mfi_cert_date(n->not_after, date, sizeof(date));
	strb_printf(out, "The certificate of %s (%s) %s on %s, ", n->host,
		    n->subject[0] ? n->subject : "no subject",
		    n->state == MFI_CERT_EXPIRED ? "expired" : "expires", date);
	cert_when(out, n->not_after, n->now);
	if (n->state == MFI_CERT_EXPIRED && n->verify)
		strb_printf(out, ": %s verifies certificates, so its deliveries there fail "
			    "with %s.", n->connector, mfi_status(MFI_CERT_INVALID));
	else if (n->state == MFI_CERT_EXPIRED)
		strb_printf(out, ": deliveries on %s still succeed only because tls: %s does "
			    "not verify certificates.", n->connector, n->tls);
	else if (n->verify)
		strb_printf(out, "; from then on %s, which verifies certificates, cannot "
			    "deliver there.", n->connector);
	else
		strb_printf(out, "; %s does not verify certificates (tls: %s), so its "
			    "deliveries will go on unverified.", n->connector, n->tls);
}

void
mfi_cert_fix(const struct mfi_cert_note *n, struct strb *out)
{
	const char *code = mfi_status(MFI_CERT_INVALID);
	char date[32];

	mfi_cert_date(n->not_after, date, sizeof(date));
	if (n->state == MFI_CERT_EXPIRED && n->verify)
		strb_printf(out, "Renew the certificate on %s now: until then deliveries on "
			    "%s fail with %s and wait in the queue until they expire.",
			    n->host, n->connector, code);
	else if (n->state == MFI_CERT_EXPIRED)
		strb_printf(out, "Renew the certificate on %s: deliveries on %s go on "
			    "unverified, and with tls: verify they would fail with %s.",
			    n->host, n->connector, code);
	else if (n->verify)
		strb_printf(out, "Renew the certificate on %s before %s, or deliveries on "
			    "%s will fail with %s.", n->host, date, n->connector, code);
	else
		strb_printf(out, "Renew the certificate on %s before %s: deliveries on %s "
			    "will go on unverified after that, but with tls: verify they "
			    "would fail with %s.", n->host, date, n->connector, code);
}

const char *
mfi_cert_who(void)
{
	return "partner or destination administrator";
}
