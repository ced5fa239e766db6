/*
 * ctl_queue — the control socket's queue commands: show queue (streamed),
 * connector enable|disable and validate connector.  Implemented by
 * core/ctl/ctl_queue.c on the control thread; ctl.c lists the commands.
 * The actions on queued mail are core/ctl/ctl_act.h.
 */
#ifndef SLUICE_CORE_CTL_CTL_QUEUE_H
#define SLUICE_CORE_CTL_CTL_QUEUE_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_queue;
extern const struct ctl_cmd ctl_cmd_connector;
extern const struct ctl_cmd ctl_cmd_validate;

#endif
