/*
 * ctl_worker — the control plane's side on a worker thread: the requests
 * the control thread queued for this worker (core/ctl/ctl_run.h) are run
 * and answered here.  Implemented by core/ctl/ctl_worker.c; called by the
 * daemon's worker composition (core/daemon/daemon_worker.c).
 */
#ifndef SLUICE_CORE_CTL_CTL_WORKER_H
#define SLUICE_CORE_CTL_CTL_WORKER_H

struct worker;

/* Worker thread, start of each turn: run the control requests queued for
 * w and answer them.  Cheap when there are none (one atomic load). */
void ctl_worker_run(struct worker *w);

#endif
