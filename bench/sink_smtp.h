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

/* Queue len bytes of reply text (CRLF included) in s->out[]. */
void sink_reply(struct sink_session *s, const char *text, size_t len);

/* Queue a string literal reply. */
#define SINK_REPLY(s, lit) sink_reply((s), lit, sizeof(lit) - 1)

/* Queue "CODE C.rest" CRLF, C being CODE's first digit (e.g. 451 and
 * "3.0 text" give "451 4.3.0 text"). */
void sink_reply_code(struct sink_session *s, int code, const char *rest);

/* Forget the open transaction (MAIL, recipients, --out copies). */
void sink_txn_reset(struct sink_session *s);

#endif
