/*
 * ctl_notify_limit — counting the alert notices of one UTC day, per alert.
 *
 * The table holds only today's keys: the first call of a new day empties
 * it, which is the reset at midnight.  Keys are few (one per connector,
 * tenant or loop domain that had an alert today), so a linear search is
 * the whole index.
 */
#include "core/ctl/ctl_notify_limit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define DAY 86400

static int64_t
day_of(int64_t now)
{
	return now >= 0 ? now / DAY : (now - DAY + 1) / DAY;
}

static struct ctl_nlim_entry *
find(const struct ctl_nlim *l, const char *key)
{
	char k[CTL_NLIM_KEY_MAX];

	snprintf(k, sizeof(k), "%s", key);	/* a long key is kept cut */
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].key, k) == 0)
			return &l->v[i];
	return NULL;
}

enum ctl_nlim_verdict
ctl_nlim_take(struct ctl_nlim *l, const char *key, int64_t now, uint32_t limit)
{
	struct ctl_nlim_entry *e;

	if (day_of(now) != l->day) {
		l->day = day_of(now);
		l->n = 0;
	}
	e = find(l, key);
	if (e == NULL) {
		if (l->n == CTL_NLIM_MAX)
			return CTL_NLIM_DROP;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 16;
			l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
		}
		e = &l->v[l->n++];
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
	}
	if (limit == 0 || e->sent < limit) {
		e->sent++;
		return CTL_NLIM_SEND;
	}
	if (e->told)
		return CTL_NLIM_DROP;
	e->told = true;
	return CTL_NLIM_LAST;
}

uint32_t
ctl_nlim_sent(const struct ctl_nlim *l, const char *key, int64_t now)
{
	const struct ctl_nlim_entry *e;

	if (day_of(now) != l->day || (e = find(l, key)) == NULL)
		return 0;
	return e->sent;
}

int64_t
ctl_nlim_day_end(int64_t now)
{
	return (day_of(now) + 1) * DAY;
}

void
ctl_nlim_fini(struct ctl_nlim *l)
{
	free(l->v);
	memset(l, 0, sizeof(*l));
}
