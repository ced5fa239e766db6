/*
 * smtp_server — inbound SMTP on a worker's ring: listeners with multishot
 * accept, sessions with multishot recv from the worker's provided buffers,
 * the command state machine, DATA into a spool record, and the 250 after
 * the group commit that holds the message has been synced.
 *
 * Every function runs on the owning worker's thread.
 */
#ifndef SLUICE_NET_SMTP_SERVER_H
#define SLUICE_NET_SMTP_SERVER_H

#include <stddef.h>

struct worker;

/* Open the worker's listeners (SO_REUSEPORT) and arm accept. */
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

/* Release the listeners (after the ring is done with them). */
void smtp_server_fini(struct worker *w);

#endif
