/*
 * sink_state.c - sluice-sink's program state: the one struct sink
 * (bench/sink_state.h).
 *
 * The bottom of the program: it calls nothing, and every other file of
 * sluice-sink may use the state, so that no file has to call the main
 * file (sluice_sink.c, on top) to reach it. Main thread only.
 */
#include "bench/sink_state.h"

struct sink sink;
