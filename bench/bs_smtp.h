/*
 * bs_smtp.h - sluice-bench's side of the SMTP dialogue (bs_smtp.c).
 *
 * Main thread only.
 */
#ifndef BENCH_BS_SMTP_H
#define BENCH_BS_SMTP_H

struct bs_session;

/* Act on every complete reply in s->in[] and keep the rest; a malformed
 * reply is a connection error. May close s. */
void bs_parse(struct bs_session *s);

/* Send the claimed message's envelope (all at once with PIPELINING, else
 * MAIL alone) and start its latency clock. */
void bs_start_msg(struct bs_session *s);

#endif
