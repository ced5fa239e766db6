/*
 * sink_smtp.h - sluice-sink's SMTP dialogue (sink_smtp.c): the command
 * parser and the reply batch it writes.
 *
 * Main thread only. Replies go into the session's out[] and are sent by
 * sink_io.c as one batch; sink_io.c, below, calls the parser only through
 * this table, which sluice_sink.c hands to every session it starts.
 */
#ifndef BENCH_SINK_SMTP_H
#define BENCH_SINK_SMTP_H

#include "bench/sink_io.h"

/* The dialogue: parse answers the commands (and reads DATA payload) in
 * s->in[] while out[] has room for a reply. */
extern const struct sink_proto_ops sink_smtp_ops;

#endif
