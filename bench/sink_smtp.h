/*
 * sink_smtp.h - sluice-sink's SMTP dialogue (sink_smtp.c): the command
 * parser and the reply batch it writes.
 *
 * Main thread only. Replies go into the session's out[] and are sent by
 * sink_io.c as one batch.
 */
#ifndef BENCH_SINK_SMTP_H
#define BENCH_SINK_SMTP_H

#include <stddef.h>

struct sink_session;

/* Parse the commands (and DATA payload) in s->in[] while out[] has room
 * for a reply, answering each into out[]; compacts in[] afterwards. May
 * close s (close-after=) or mark it quitting. */
void sink_parse(struct sink_session *s);

#endif
