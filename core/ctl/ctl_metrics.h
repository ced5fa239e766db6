/*
 * ctl_metrics — show metrics, the Prometheus text exposition of the
 * counters, the connectors and the open queue alerts.  Implemented by
 * core/ctl/ctl_metrics.c on the control thread; ctl.c lists the command.
 */
#ifndef SLUICE_CORE_CTL_CTL_METRICS_H
#define SLUICE_CORE_CTL_CTL_METRICS_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_metrics;

#endif
