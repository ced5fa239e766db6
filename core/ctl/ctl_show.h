/*
 * ctl_show — the read-only commands that show the workers' merged state:
 * show info, show stats, show connectors, qshape.  Implemented by
 * core/ctl/ctl_show.c on the control thread; ctl.c lists the commands.
 */
#ifndef SLUICE_CORE_CTL_CTL_SHOW_H
#define SLUICE_CORE_CTL_CTL_SHOW_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_info;
extern const struct ctl_cmd ctl_cmd_show_stats;
extern const struct ctl_cmd ctl_cmd_show_connectors;
extern const struct ctl_cmd ctl_cmd_qshape;

#endif
