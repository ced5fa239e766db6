/*
 * bs_msg.h - what sluice-bench sends (bs_msg.c), built once at start-up
 * into struct bench (cmds, line_off, body) and never changed after.
 */
#ifndef BENCH_BS_MSG_H
#define BENCH_BS_MSG_H

/* The envelope block: MAIL, -r RCPTs, DATA. Returns 0 or -ENOMEM. */
int bs_build_cmds(void);

/* The -s byte message, dot-stuffed, with the final ".". Returns 0 or
 * -ENOMEM. */
int bs_build_body(void);

#endif
