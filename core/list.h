/*
 * list — intrusive circular doubly-linked list (the node lives inside the
 * object).  O(1) insert, remove and move; no allocation.  Not thread-safe.
 */
#ifndef SLUICE_CORE_LIST_H
#define SLUICE_CORE_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
	struct list *next;	/* next node, or the head itself */
	struct list *prev;	/* previous node, or the head itself */
};

#define container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

/* Make an empty list head (or an unlinked node). */
static inline void
list_init(struct list *l)
{
	l->next = l->prev = l;
}

static inline bool
list_empty(const struct list *l)
{
	return l->next == l;
}

/* Insert n before head, i.e. at the tail. */
static inline void
list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

/* Unlink n and leave it as an empty (self-linked) node; safe to repeat. */
static inline void
list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	list_init(n);
}

/* Move n to the tail of head. */
static inline void
list_move_tail(struct list *head, struct list *n)
{
	list_del(n);
	list_add_tail(head, n);
}

#endif
