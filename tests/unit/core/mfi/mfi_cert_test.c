/*
 * mfi_cert tests: the certificate-expiry window and days left at the
 * edges (a second before and after notAfter and the window's end), the
 * dates, and the insight's texts for each state and TLS policy.
 *
 * Pure functions: no ring, no clock (now is a constant).
 */
#include "core/mfi/mfi_cert.h"

#include <criterion/criterion.h>
#include <string.h>

#define NOW	1796817600LL	/* 2026-12-09T12:00:00Z */
#define DAY	86400LL
#define WARN	(14 * 86400u)

Test(mfi_cert, state_and_days_left)
{
	static const struct {
		int64_t not_after;		/* relative to NOW */
		uint32_t warn;			/* the window */
		enum mfi_cert_state want;	/* state */
		int64_t days;			/* days left */
	} t[] = {
		{ 365 * DAY, WARN, MFI_CERT_OK, 365 },
		{ 14 * DAY + 1, WARN, MFI_CERT_OK, 14 },	/* just outside */
		{ 14 * DAY, WARN, MFI_CERT_EXPIRING, 14 },	/* the window's end */
		{ 3 * DAY - 60, WARN, MFI_CERT_EXPIRING, 2 },	/* openssl -days 3, a
								   minute later */
		{ 1, WARN, MFI_CERT_EXPIRING, 0 },
		{ 0, WARN, MFI_CERT_EXPIRED, 0 },		/* notAfter itself */
		{ -1, WARN, MFI_CERT_EXPIRED, -1 },
		{ -DAY, WARN, MFI_CERT_EXPIRED, -1 },
		{ -DAY - 1, WARN, MFI_CERT_EXPIRED, -2 },
		{ -2000 * DAY, WARN, MFI_CERT_EXPIRED, -2000 },
		{ 3 * DAY, 0, MFI_CERT_OK, 3 },			/* warning off */
		{ -3 * DAY, 0, MFI_CERT_OK, -3 },		/* off: says nothing */
		{ 3 * DAY, 3 * DAY, MFI_CERT_EXPIRING, 3 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_expect_eq(mfi_cert_state(NOW + t[i].not_after, NOW, t[i].warn), t[i].want,
			     "row %zu: state %d", i,
			     mfi_cert_state(NOW + t[i].not_after, NOW, t[i].warn));
		cr_expect_eq(mfi_cert_days_left(NOW + t[i].not_after, NOW), t[i].days,
			     "row %zu: days %lld", i,
			     (long long)mfi_cert_days_left(NOW + t[i].not_after, NOW));
	}
	cr_expect_str_eq(mfi_cert_state_name(MFI_CERT_OK), "ok");
	cr_expect_str_eq(mfi_cert_state_name(MFI_CERT_EXPIRING), "expiring");
	cr_expect_str_eq(mfi_cert_state_name(MFI_CERT_EXPIRED), "expired");
}

Test(mfi_cert, dates)
{
	char d[32];

	mfi_cert_date(NOW, d, sizeof(d));
	cr_expect_str_eq(d, "2026-12-09T12:00:00Z");
	mfi_cert_date(1580515200, d, sizeof(d));	/* the test PKI's expired.pem */
	cr_expect_str_eq(d, "2020-02-01T00:00:00Z");
	mfi_cert_date(NOW, d, 5);			/* does not fit: never cut */
	cr_expect_str_eq(d, "?");
}

Test(mfi_cert, texts)
{
	static const struct {
		enum mfi_cert_state state;	/* the note's */
		int64_t not_after;		/* relative to NOW */
		const char *tls;		/* policy word */
		const char *meaning;		/* exact text */
		const char *fix;		/* exact text */
	} t[] = {
		{ MFI_CERT_EXPIRING, 3 * DAY - 60, "verify",
		  "The certificate of mx.partner.test (mx.partner.test) expires on "
		  "2026-12-12T11:59:00Z, in 2 days; from then on partner, which verifies "
		  "certificates, cannot deliver there.",
		  "Renew the certificate on mx.partner.test before 2026-12-12T11:59:00Z, or "
		  "deliveries on partner will fail with 4.7.320." },
		{ MFI_CERT_EXPIRING, 3600, "opportunistic",
		  "The certificate of mx.partner.test (mx.partner.test) expires on "
		  "2026-12-09T13:00:00Z, within a day; partner does not verify certificates "
		  "(tls: opportunistic), so its deliveries will go on unverified.",
		  "Renew the certificate on mx.partner.test before 2026-12-09T13:00:00Z: "
		  "deliveries on partner will go on unverified after that, but with tls: "
		  "verify they would fail with 4.7.320." },
		{ MFI_CERT_EXPIRING, DAY, "verify",
		  "The certificate of mx.partner.test (mx.partner.test) expires on "
		  "2026-12-10T12:00:00Z, in 1 day; from then on partner, which verifies "
		  "certificates, cannot deliver there.",
		  "Renew the certificate on mx.partner.test before 2026-12-10T12:00:00Z, or "
		  "deliveries on partner will fail with 4.7.320." },
		{ MFI_CERT_EXPIRED, -2 * DAY - 5, "verify",
		  "The certificate of mx.partner.test (mx.partner.test) expired on "
		  "2026-12-07T11:59:55Z, 2 days ago: partner verifies certificates, so its "
		  "deliveries there fail with 4.7.320.",
		  "Renew the certificate on mx.partner.test now: until then deliveries on "
		  "partner fail with 4.7.320 and wait in the queue until they expire." },
		{ MFI_CERT_EXPIRED, -60, "required",
		  "The certificate of mx.partner.test (mx.partner.test) expired on "
		  "2026-12-09T11:59:00Z, less than a day ago: deliveries on partner still "
		  "succeed only because tls: required does not verify certificates.",
		  "Renew the certificate on mx.partner.test: deliveries on partner go on "
		  "unverified, and with tls: verify they would fail with 4.7.320." },
		{ MFI_CERT_EXPIRED, -DAY, "opportunistic",
		  "The certificate of mx.partner.test (mx.partner.test) expired on "
		  "2026-12-08T12:00:00Z, 1 day ago: deliveries on partner still succeed "
		  "only because tls: opportunistic does not verify certificates.",
		  "Renew the certificate on mx.partner.test: deliveries on partner go on "
		  "unverified, and with tls: verify they would fail with 4.7.320." },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mfi_cert_note n = {
			.state = t[i].state, .connector = "partner", .host = "mx.partner.test",
			.subject = "mx.partner.test", .not_after = NOW + t[i].not_after,
			.now = NOW, .tls = t[i].tls, .verify = strcmp(t[i].tls, "verify") == 0,
		};
		STRB_LOCAL(m, 512);
		STRB_LOCAL(f, 512);
		mfi_cert_meaning(&n, &m);
		mfi_cert_fix(&n, &f);
		cr_expect_str_eq(m.p, t[i].meaning, "row %zu", i);
		cr_expect_str_eq(f.p, t[i].fix, "row %zu", i);
		cr_expect(!m.trunc && !f.trunc, "row %zu cut", i);
	}
	cr_expect_str_eq(mfi_cert_who(), "partner or destination administrator");
}

Test(mfi_cert, no_subject)
{
	struct mfi_cert_note n = {
		.state = MFI_CERT_EXPIRING, .connector = "c", .host = "h", .subject = "",
		.not_after = NOW + DAY, .now = NOW, .tls = "verify", .verify = true,
	};
	STRB_LOCAL(m, 256);

	mfi_cert_meaning(&n, &m);
	cr_expect(strstr(m.p, "The certificate of h (no subject) expires") == m.p, "%s", m.p);
}
