/*
 * ctl_trace — the control socket's "trace" (the message trace's queries).
 * Implemented by core/ctl/ctl_trace.c on the control thread; ctl.c lists
 * the command.
 */
#ifndef SLUICE_CORE_CTL_CTL_TRACE_H
#define SLUICE_CORE_CTL_CTL_TRACE_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_trace;

#endif
