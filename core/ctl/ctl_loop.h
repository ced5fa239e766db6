/*
 * ctl_loop — the mail-loop insight ("Fix possible mail loop"): the
 * recipient domains whose mail the workers refused for carrying more than
 * limits.hops Received: fields, merged across workers, with the connector
 * each routes to and the fix.  Implemented by core/ctl/ctl_loop.c on the
 * control thread; the queue alerts (core/ctl/ctl_alert.c) feed it each
 * round and show insights prints it.
 */
#ifndef SLUICE_CORE_CTL_CTL_LOOP_H
#define SLUICE_CORE_CTL_CTL_LOOP_H

#include <jansson.h>
#include <stddef.h>

struct ctl_run;

/* Merge the loop tables of r's round (asked with CTL_SNAP_ALERT): a
 * domain that appears is logged once as raised, one that is gone (no
 * loop for SMTP_LOOP_WINDOW) once as cleared. */
void ctl_loops_update(struct ctl_run *r);

/* The open loop insights, as of the last update: printed into r's answer,
 * or appended to *arr when arr is not NULL; returns how many. */
size_t ctl_loops_insights(struct ctl_run *r, json_t **arr);

/* Forget them (thread exit). */
void ctl_loops_fini(void);

#endif
