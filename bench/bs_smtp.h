/*
 * bs_smtp.h - sluice-bench's side of the SMTP dialogue (bs_smtp.c).
 *
 * Main thread only. The engine (bs_engine.c) is below it and calls it
 * only through this table, which sluice_bench.c hands to bs_run.
 */
#ifndef BENCH_BS_SMTP_H
#define BENCH_BS_SMTP_H

#include "bench/bs_engine.h"

/* The dialogue: input reads the server's replies (through TLS once
 * STARTTLS is done) and sends what each asks for; rate_slot starts the
 * message that waited for its --rate slot. */
extern const struct bs_proto_ops bs_smtp_ops;

#endif
