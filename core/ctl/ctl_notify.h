/*
 * ctl_notify — the alert notices: every alert Sluice raises (a queue
 * alert, a connector marked down, a tenant over its invalid-recipient
 * quota, a possible mail loop, a destination's certificate about to
 * expire) mailed to alerts.notify when it is raised,
 * when its code changes and when it clears, within alerts.daily_limit
 * notices per alert per UTC day, and posted as JSON to alerts.webhook.
 * Implemented by core/ctl/ctl_notify.c on the control thread.
 *
 * The alert files tell it what happened (ctl_notify_queue from the queue
 * alerts, ctl_notify_loop from the loop insight, ctl_notify_cert from the
 * certificate-expiry insight) and call
 * ctl_notify_update at the end of each alert round, where it finds the
 * connectors down and the tenants over quota itself, takes the settings
 * from the config the round held, and sends: a notice is built here
 * (queue/notice.h) and handed to worker 0 (CTL_W_NOTICE), which spools it
 * and delivers it like an NDR; a webhook post goes to the webhook thread
 * (core/ctl/ctl_webhook.h).  It calls no other alert file, so they may
 * call it.
 */
#ifndef SLUICE_CORE_CTL_CTL_NOTIFY_H
#define SLUICE_CORE_CTL_CTL_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_alert.h"
#include "core/ctl/ctl_snap.h"
#include "net/smtp_hops.h"

struct ctl_run;

/*
 * Queue alert al was "raised", "updated" or "cleared" (state); meaning and
 * fix are its texts, static strings (kept while a raise waits for its
 * code).  Noted for the end of the round.
 */
void ctl_notify_queue(const struct ctl_alert *al, const char *state, const char *meaning,
		      const char *fix);

/*
 * The loop insight of l's domain and connector was "raised" or "cleared"
 * (state): route is where the connector sends, limit limits.hops, meaning
 * and fix its texts.  Noted for the end of the round.
 */
void ctl_notify_loop(const struct smtp_loop *l, const char *route, uint32_t limit,
		     const char *state, const char *meaning, const char *fix);

/* A certificate-expiry warning (core/ctl/ctl_cert.c), as it is logged. */
struct ctl_notify_cert {
	const char *connector;		/* the connector */
	const char *host;		/* the host that showed the certificate */
	const char *subject;		/* its subject, escaped */
	const char *not_after;		/* its notAfter, "2026-12-09T12:00:00Z" */
	int64_t days_left;		/* whole days to it, negative: expired */
	const char *cert_state;		/* "expiring", "expired" or "ok" */
	const char *tls;		/* the connector's TLS policy word */
	const char *meaning, *fix;	/* the insight's texts (not when cleared) */
	const char *why;		/* why it cleared, else NULL */
	int64_t since;			/* unix s it was raised, 0 unknown */
};

/* The warning c was "raised", "expired", "updated" (another certificate
 * in the window) or "cleared" (state).  Noted for the end of the round. */
void ctl_notify_cert(const struct ctl_notify_cert *c, const char *state);

/*
 * The end of an alert round r (asked with CTL_SNAP_DESTS | CTL_SNAP_ALERT,
 * whose answers hold the workers' config): a[0..n) are its connectors,
 * merged, and alerts[0..nalerts) the queue alerts after it.  Finds the
 * connectors down and the tenants over quota, lets out the raises that
 * waited for their code, and mails and posts everything noted.
 */
void ctl_notify_update(struct ctl_run *r, const struct ctl_conn_agg *a, size_t n,
		       const struct ctl_alert *alerts, size_t nalerts);

/* Forget everything and stop the webhook thread (control thread exit). */
void ctl_notify_fini(void);

#endif
