/*
 * bs_state.c - sluice-bench's program state: the one struct bench
 * (bench/bs_state.h), with what it holds before the options are read.
 *
 * The bottom of the program: it calls nothing, and every other file of
 * sluice-bench may use the state, so that no file has to call the main
 * file (sluice_bench.c, on top) to reach it. Main thread only.
 * May call: nothing.
 */
#include "bench/bs_state.h"

struct bench bench = { .ids_fd = -1 };
