/*
 * gate — the registry is a linked list under a mutex; each gate's counter
 * is a C11 atomic updated with a compare-and-swap loop, so the cap is never
 * exceeded even when workers race for the last slot.
 */
#include "queue/gate.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

struct gate {
	_Atomic uint32_t n;	/* slots taken */
	struct gate *next;	/* registry chain */
	char name[];		/* destination name */
};

static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static struct gate *gate_list;

struct gate *
gate_get(const char *name)
{
	struct gate *g;

	pthread_mutex_lock(&gate_mu);
	for (g = gate_list; g != NULL; g = g->next)
		if (strcmp(g->name, name) == 0)
			break;
	if (g == NULL) {
		size_t n = strlen(name) + 1;
		g = xcalloc(1, sizeof(*g) + n);
		memcpy(g->name, name, n);
		atomic_init(&g->n, 0);
		g->next = gate_list;
		gate_list = g;
	}
	pthread_mutex_unlock(&gate_mu);
	return g;
}

bool
gate_enter(struct gate *g, uint32_t max)
{
	uint32_t n = atomic_load_explicit(&g->n, memory_order_relaxed);

	do {
		if (max != 0 && n >= max)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(&g->n, &n, n + 1,
							memory_order_acq_rel,
							memory_order_relaxed));
	return true;
}

void
gate_leave(struct gate *g)
{
	atomic_fetch_sub_explicit(&g->n, 1, memory_order_acq_rel);
}

uint32_t
gate_count(const struct gate *g)
{
	return atomic_load_explicit(&g->n, memory_order_relaxed);
}
