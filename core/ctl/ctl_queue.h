/*
 * ctl_queue — the control socket's queue commands: show queue (streamed),
 * flush / hold / release / delete / bounce, connector enable|disable and
 * validate connector.  Implemented by core/ctl/ctl_queue.c on
 * the control thread; ctl.c lists the commands.
 */
#ifndef SLUICE_CORE_CTL_CTL_QUEUE_H
#define SLUICE_CORE_CTL_CTL_QUEUE_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_queue;
extern const struct ctl_cmd ctl_cmd_flush;
extern const struct ctl_cmd ctl_cmd_hold;
extern const struct ctl_cmd ctl_cmd_release;
extern const struct ctl_cmd ctl_cmd_delete;
extern const struct ctl_cmd ctl_cmd_bounce;
extern const struct ctl_cmd ctl_cmd_connector;
extern const struct ctl_cmd ctl_cmd_validate;

#endif
