/*
 * gate — connection caps shared by all workers: one atomic counter per
 * destination name, found in a registry that only grows.
 *
 * gate_get takes a mutex (a destination is created rarely, and never on the
 * per-message path); gate_enter/gate_leave are lock-free and may be called
 * by any worker thread at any time.
 */
#ifndef SLUICE_QUEUE_GATE_H
#define SLUICE_QUEUE_GATE_H

#include <stdbool.h>
#include <stdint.h>

struct gate;

/* The gate of name, created on first use; lives until exit. */
struct gate *gate_get(const char *name);

/* Take a slot if fewer than max are taken (max 0: no limit). */
bool gate_enter(struct gate *g, uint32_t max);

/* Give a slot back. */
void gate_leave(struct gate *g);

/* Slots taken now (for stats). */
uint32_t gate_count(const struct gate *g);

#endif
