/*
 * ctl_act — the control socket's actions on queued mail: flush, hold,
 * release, delete, bounce, requeue.  Implemented by core/ctl/ctl_act.c on the
 * control thread; ctl.c lists the commands.
 */
#ifndef SLUICE_CORE_CTL_CTL_ACT_H
#define SLUICE_CORE_CTL_CTL_ACT_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_flush;
extern const struct ctl_cmd ctl_cmd_hold;
extern const struct ctl_cmd ctl_cmd_release;
extern const struct ctl_cmd ctl_cmd_delete;
extern const struct ctl_cmd ctl_cmd_bounce;
extern const struct ctl_cmd ctl_cmd_requeue;

#endif
