/*
 * ctl_config — the daemon's settings on the control socket: show config
 * (postconf) and set log-level.  Implemented by core/ctl/ctl_config.c on
 * the control thread; ctl.c lists the commands.
 */
#ifndef SLUICE_CORE_CTL_CTL_CONFIG_H
#define SLUICE_CORE_CTL_CTL_CONFIG_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_config;
extern const struct ctl_cmd ctl_cmd_set_log_level;

#endif
