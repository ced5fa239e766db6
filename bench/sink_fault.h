/*
 * sink_fault.h - sluice-sink's fault modes (sink_fault.c): --mode, the
 * greeting, the DATA cut and the reply delays.
 *
 * Main thread only; no I/O.
 */
#ifndef BENCH_SINK_FAULT_H
#define BENCH_SINK_FAULT_H

struct sink_session;

/* Parse a reply code in 400..599 into *code. Returns 0 or -EINVAL. */
int sink_parse_code(const char *s, int *code);

/* Parse one --mode argument into the program state (no-starttls is a
 * flag that keeps the other mode). Returns 0 or -EINVAL. */
int sink_parse_mode(const char *arg);

/* Queue what a new connection hears: the 220, the banner= error (and
 * quit after it), or nothing (blackhole). */
void sink_fault_greet(struct sink_session *s);

/* True (1) when close-after= has had its bytes of DATA payload (or of
 * BDAT chunks): the caller resets the connection. */
int sink_fault_cut(const struct sink_session *s);

/* True (1) when the reply batch in out[] waits first (slow=, or the
 * STARTTLS 220 under --starttls-delay); sets s->delay for the timer. */
int sink_batch_delayed(struct sink_session *s);

#endif
