/*
 * ctl_reload — the control socket's "reload" command and the hand-off of
 * a reload's result from the main thread, which does the reload, to the
 * control thread, which answers.  Implemented by core/ctl/ctl_reload.c.
 */
#ifndef SLUICE_CORE_CTL_CTL_RELOAD_H
#define SLUICE_CORE_CTL_CTL_RELOAD_H

#include "core/ctl/ctl_parse.h"

extern const struct ctl_cmd ctl_cmd_reload;

/* Main thread: a reload (SIGHUP, or "reload" on the socket) finished with
 * rc (0 or -errno) and, on failure, err.  Wakes a waiting "reload". */
void ctl_reload_done(int rc, const char *err);

/* Control thread, once a second: answer the "reload"s whose result is in,
 * or that waited too long. */
void ctl_reload_tick(void);

#endif
