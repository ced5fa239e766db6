/*
 * ctl — the stats and control socket of sluiced: a unix socket served by
 * one control thread, with a line protocol in the spirit of HAProxy's
 * stats socket.  sluicectl is its client.
 *
 * Framing (what a client may rely on):
 *  - A request is one line of at most CTL_LINE_MAX bytes ending in LF
 *    (a CR before it is ignored): words separated by blanks, a trailing
 *    word "json" asks for JSON instead of a table.  Blank lines are
 *    ignored.  Bytes outside printable ASCII make the line malformed.
 *  - Every other line gets exactly one answer: lines of text ending in
 *    LF, then one empty line.  An answer never contains an empty line
 *    before its end, so "\n\n" ends it.  JSON answers are one line
 *    (show queue json: one array element per line) built with jansson.
 *  - A failed command answers one line "error: TEXT" (or, in JSON,
 *    {"error": "TEXT"}), then the empty line.
 *  - "quit" is the one command without an answer: the server closes.
 *  - Commands on one connection run one at a time, in order.  After the
 *    client shuts down its write side (or closes), the commands already
 *    sent are answered and the server closes the connection: so
 *    "send one line, shutdown(SHUT_WR), read to EOF" is a complete
 *    exchange.
 *
 * Permissions, by the peer's uid (SO_PEERCRED): root and the daemon's own
 * uid may run every command; any other peer, which could only connect
 * because the socket file's group and mode let it (control_group:, mode
 * 0660; else the file is 0600), may run the read-only commands (struct
 * ctl_cmd.changes false: show *, qshape, help, quit) and is answered
 * "permission denied: ..." for the others, each refusal logged.
 *
 * Threading: ctl_start/ctl_stop run on the main thread, and so does
 * ctl_reload_done (core/ctl/ctl_reload.h); ctl_worker_run
 * (core/ctl/ctl_worker.h) on a worker thread at the start of each loop
 * turn.  The control thread talks to workers only through each worker's
 * MPSC queue (w->ctlq) and eventfd, and gets answers back through an
 * eventfd of its own: no lock is taken on a worker's path.
 *
 * The folder, bottom up (no file calls one above it):
 *  - ctl_parse.c: a request line to a command (pure, fuzzed);
 *    ctl_select.c: the words that select queued mail, and the glob
 *    matcher (pure);
 *  - ctl_run.c: the plumbing of every command: answers, JSON, worker
 *    requests and rounds (ctl_run.h, the folder's internal types);
 *    ctl_table.c: aligned tables and time formats, on top of it;
 *  - ctl_worker.c: what runs on a worker for those requests;
 *  - ctl_snap.c: the snapshot round of the read-only commands and the
 *    merge of its answers (the counters, the connectors);
 *  - the commands, each file defining its own (struct ctl_cmd):
 *    ctl_tenant.c (show tenants, fix-now), ctl_show.c (show info, stats,
 *    connectors, qshape), ctl_loop.c (the mail-loop insight), ctl_cert.c
 *    (the certificate-expiry warnings, no command of its own),
 *    ctl_alert.c (the queue alerts, show insights, set alert; uses
 *    ctl_loop, ctl_cert and ctl_tenant), ctl_metrics.c (show metrics; uses
 *    ctl_alert and ctl_cert), ctl_queue.c (show queue, connector, validate),
 *    ctl_act.c (the actions on queued mail: flush, hold, release,
 *    delete, bounce, requeue), ctl_message.c (show message),
 *    ctl_reload.c (reload);
 *  - ctl.c: this API, the socket, its connections, dispatch, help, quit;
 *  - sluicectl.c: the client, its own program.
 *  - ctl_client.c: the client side, one request and its answer
 *    (sluicectl, and the HTTP listener of core/http/).
 * Only core/daemon/ uses this folder (ctl.h, ctl_reload.h, ctl_worker.h),
 * and core/http/ its client (ctl_client.h).
 */
#ifndef SLUICE_CORE_CTL_H
#define SLUICE_CORE_CTL_H

#include <stddef.h>

#include "core/ctl/ctl_parse.h"	/* CTL_LINE_MAX */

struct config;
struct worker;

/*
 * Open cfg->control_socket (creating its directory if missing, replacing a
 * stale socket, refusing one a live process answers on) and start the
 * control thread for workers ws[0..n).  version is shown by show info.
 * Call after workers_start, with the signals the main thread waits for
 * blocked.  Returns 0, or -errno with the reason in err.
 */
int ctl_start(const struct config *cfg, struct worker *ws, unsigned n,
	      const char *version, char *err, size_t errlen);

/* Stop the control thread, close and unlink the socket.  Before
 * workers_stop.  No-op if ctl_start did not succeed. */
void ctl_stop(void);

#endif
