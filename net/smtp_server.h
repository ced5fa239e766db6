/*
 * smtp_server — inbound SMTP on a worker's ring: listeners with multishot
 * accept, sessions with multishot recv from the worker's provided buffers,
 * the command state machine, DATA into a spool record, and the 250 after
 * the group commit that holds the message has been synced.
 *
 * Every function runs on the owning worker's thread.  Its files, input,
 * commands and the session's output, are mapped in net/smtp_server_int.h.
 */
#ifndef SLUICE_NET_SMTP_SERVER_H
#define SLUICE_NET_SMTP_SERVER_H

#include <stddef.h>
#include <stdint.h>

struct worker;
struct smtp_loop;

/* Make the worker's server state (w->srv), open its listeners
 * (SO_REUSEPORT) and arm accept.  On failure smtp_server_fini cleans up. */
int smtp_server_listen(struct worker *w, char *err, size_t errlen);

/* End of a loop turn: hand every session's pending replies to the ring. */
void smtp_server_flush(struct worker *w);

/* Once a second: time out idle sessions, re-arm stopped listeners. */
void smtp_server_tick(struct worker *w);

/* Stop accepting; sessions finish their transaction and get a 421. */
void smtp_server_drain(struct worker *w);

/* True when no session is left. */
int smtp_server_idle(const struct worker *w);

/* Close every session at once (drain deadline passed). */
void smtp_server_abort(struct worker *w);

/* Live sessions, and the bytes of DATA they hold in memory (the control
 * socket's snapshot, the worker's idle check). */
unsigned smtp_server_sessions(const struct worker *w);
uint64_t smtp_server_data_mem(const struct worker *w);

/* The recipient domains whose mail this worker refused as a loop in the
 * last SMTP_LOOP_WINDOW seconds before now (net/smtp_hops.h), copied into
 * out (at most max); returns their number.  For the control socket's
 * snapshot. */
size_t smtp_server_loops(struct worker *w, int64_t now, struct smtp_loop *out, size_t max);

/* Release the listeners and the server's state (w->srv, which may be NULL:
 * a start that failed before smtp_server_listen). */
void smtp_server_fini(struct worker *w);

#endif
