/*
 * ctl_show — the read-only commands of the control socket that merge a
 * snapshot of every worker (show info, show stats, show connectors,
 * show insights, qshape, show metrics, set alert) and the queue alerts.
 * Implemented by core/ctl/ctl_show.c on the control thread; ctl.c lists
 * the commands and calls the alert tick from its loop.
 */
#ifndef SLUICE_CORE_CTL_CTL_SHOW_H
#define SLUICE_CORE_CTL_CTL_SHOW_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_info;
extern const struct ctl_cmd ctl_cmd_show_stats;
extern const struct ctl_cmd ctl_cmd_show_connectors;
extern const struct ctl_cmd ctl_cmd_show_insights;
extern const struct ctl_cmd ctl_cmd_qshape;
extern const struct ctl_cmd ctl_cmd_show_metrics;
extern const struct ctl_cmd ctl_cmd_set_alert;

/* Once a second from the control loop: refresh the queue alerts. */
void ctl_alerts_tick(void);
/* Free the alert table (thread exit). */
void ctl_alerts_fini(void);

#endif
