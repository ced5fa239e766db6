/*
 * ctl_alert — the queue alerts and the commands about them (show insights,
 * set alert).  Implemented by core/ctl/ctl_alert.c on the control thread;
 * ctl.c lists the commands and calls the tick from its loop, and show
 * metrics (core/ctl/ctl_metrics.c) refreshes and exports the alerts.
 */
#ifndef SLUICE_CORE_CTL_CTL_ALERT_H
#define SLUICE_CORE_CTL_CTL_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_parse.h"
#include "core/ctl/ctl_run.h"

/* One connector's alert state. */
struct ctl_alert {
	char connector[CTL_NAME_MAX];	/* which */
	bool open;			/* raised, not cleared */
	int64_t since;			/* unix s it was raised */
	uint8_t code;			/* dominant enum mfi_code */
	char code_text[32];		/* its status, for people */
	uint64_t old;			/* messages older than alert_age */
	uint64_t queued;		/* all queued */
	int64_t oldest;			/* arrival of the oldest */
	char last_error[256];		/* connector's last failure */
	char last_host[128];		/* and where from */
};

extern const struct ctl_cmd ctl_cmd_show_insights;
extern const struct ctl_cmd ctl_cmd_set_alert;

/* Raise and clear the alerts from the answers of r's round, which asked
 * for CTL_SNAP_DESTS | CTL_SNAP_ALERT.  Each change is logged. */
void ctl_alerts_update(struct ctl_run *r);
/* The alerts (open or not, one per connector seen) and their number in
 * *n; valid until the next update. */
const struct ctl_alert *ctl_alerts_get(size_t *n);
/* Once a second from the control loop: refresh the queue alerts. */
void ctl_alerts_tick(void);
/* Free the alert table (thread exit). */
void ctl_alerts_fini(void);

#endif
