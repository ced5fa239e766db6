/*
 * daemon_trace — the message trace in sluiced: started from the config's
 * trace: section once the daemon runs as user: (so the database is the
 * user's), its feeds handed to the workers before they serve, its limits
 * changed by a reload, stopped after the workers.  Main thread only.
 */
#ifndef SLUICE_CORE_DAEMON_DAEMON_TRACE_H
#define SLUICE_CORE_DAEMON_DAEMON_TRACE_H

struct config;
struct worker;

/*
 * When cfg turns the trace on: open its database (trace.path, or
 * trace.db in the spool) and give worker i feed i.  A trace that cannot
 * start is a warning, and the relay runs without it: the trace records
 * the mail, it is not needed to deliver it.  Before daemon_workers_run.
 */
void daemon_trace_start(const struct config *cfg, struct worker *ws, unsigned n);

/* A reload: new retention and max_size now; a change of enabled or path
 * is a warning (it takes effect at the next start). */
void daemon_trace_reload(const struct config *cfg);

/* After the workers are stopped: store what is left and close. */
void daemon_trace_stop(void);

#endif
