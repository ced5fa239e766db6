/*
 * ctl_message — the control socket's "show message ID" (postcat and a
 * delivery trace).  Implemented by core/ctl/ctl_message.c on the control
 * thread; ctl.c lists the command.
 */
#ifndef SLUICE_CORE_CTL_CTL_MESSAGE_H
#define SLUICE_CORE_CTL_CTL_MESSAGE_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_show_message;

#endif
