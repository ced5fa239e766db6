/*
 * bench_reply.h - what the bench tools take out of a server's reply.
 *
 * The replies themselves are framed and checked by the relay's pure reply
 * parser, smtp_reply_parse (net/smtp_proto.h), and EHLO is read by
 * smtp_ehlo_parse (net/smtp_ehlo.h): one reply reader in the tree, not a
 * copy per tool. This file adds only what a load generator needs and the
 * relay does not: the queue id an accepted message was given, which
 * sluice-bench --ids records so that a test can check that nothing
 * acknowledged was lost.
 *
 * Pure: no I/O, no allocation, no state; any thread. Unit-tested in
 * tests/unit/bench/bench_reply_test.c.
 */
#ifndef BENCH_BENCH_REPLY_H
#define BENCH_BENCH_REPLY_H

#include <stddef.h>

#include "net/smtp_proto.h"

/*
 * The queue id in reply r (an end-of-data 250, as smtp_reply_parse gave
 * it): on the reply's last line, the word after "queued as " (any case;
 * Postfix, sluiced and sluice-sink say it so), else that line's last word
 * (the code itself when nothing follows it). *id points into r->text,
 * *len is its length (0 when "queued as " ends the line).
 */
void bench_reply_queue_id(const struct smtp_reply *r, const char **id,
			  size_t *len);

#endif
