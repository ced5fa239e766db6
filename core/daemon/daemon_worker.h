/*
 * daemon_worker — the relay's workers: the worker loop (core/worker.h)
 * driving the spool, the queue, the resolver, the SMTP server and client
 * and the control requests.  Main thread only.
 */
#ifndef SLUICE_CORE_DAEMON_DAEMON_WORKER_H
#define SLUICE_CORE_DAEMON_DAEMON_WORKER_H

#include <stddef.h>

struct config;
struct worker;

/*
 * Start n relay workers for cfg (workers_start with the relay's hooks):
 * each binds its listeners and waits for daemon_workers_run.  Returns 0,
 * or -errno with the first failure in err (nothing is left running then).
 */
int daemon_workers_start(struct worker **out, unsigned n, const struct config *cfg,
			 char *err, size_t errlen);

/*
 * Let them open and recover their spools and serve (workers_run); once
 * all are up, log what each recovery found.  Returns 0, or -errno with
 * the first failure in err once the workers have stopped (free them with
 * daemon_workers_stop, after ctl_stop).
 */
int daemon_workers_run(struct worker *ws, unsigned n, const struct config *cfg,
		       char *err, size_t errlen);

/* Drain and stop the workers (workers_stop), then free what they shared. */
void daemon_workers_stop(struct worker *ws, unsigned n);

#endif
