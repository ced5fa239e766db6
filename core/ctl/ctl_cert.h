/*
 * ctl_cert — the certificate-expiry insight on the control thread: the
 * latest certificate each (connector, host) showed, whether it expires
 * within its connector's cert_expiry_warning or has expired, the
 * cert_expiry events, and what show insights and show metrics say of it.
 * Implemented by core/ctl/ctl_cert.c; ctl_alert.c drives it from the queue
 * alerts' round, ctl_metrics.c exports it.  Control thread only.
 */
#ifndef SLUICE_CORE_CTL_CTL_CERT_H
#define SLUICE_CORE_CTL_CTL_CERT_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_run.h"

/* One (connector, host) and the latest certificate it showed. */
struct ctl_cert {
	char connector[CTL_NAME_MAX];	/* the connector */
	struct dest_cert c;		/* host, subject, notAfter, seen */
	uint8_t state;			/* enum mfi_cert_state, as last logged */
	int64_t logged_not_after;	/* the notAfter it was logged with */
	int64_t since;			/* unix s the warning was raised, 0 none */
	uint32_t warn;			/* its connector's window, s */
	uint8_t tls;			/* its connector's enum cfg_tls_policy */
};

/* Take the certificates of r's round (which asked for CTL_SNAP_DESTS):
 * the latest per (connector, host) wins; then raise, update or clear each
 * warning against its connector's settings, logging every change as a
 * cert_expiry event.  Called once a second and by the commands that show
 * it. */
void ctl_certs_update(struct ctl_run *r);

/* Every (connector, host) known, warned of or not, and their number in
 * *n; valid until the next update. */
const struct ctl_cert *ctl_certs_get(size_t *n);

/* The open warnings for show insights: appended to *arr (JSON) when arr
 * is not NULL, else written as text into r's answer.  Returns how many. */
size_t ctl_cert_insights(struct ctl_run *r, json_t **arr);

/* Free the table (thread exit). */
void ctl_certs_fini(void);

#endif
