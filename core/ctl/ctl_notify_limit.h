/*
 * ctl_notify_limit — the daily limit of alert notices, as Exchange Online's
 * alert policies have it: at most N notices per alert per UTC day; once
 * they are spent, one last notice says that the rest of the day's are
 * suppressed, and nothing more goes out until midnight UTC.  An alert is a
 * key ("queue:partner", "quota:acme"): its kind and what it is about.
 * Implemented by core/ctl/ctl_notify_limit.c; used by core/ctl/ctl_notify.c.
 *
 * Pure: no clock (now is an argument), no I/O.  The counts are in memory
 * only: a restart starts the day's counts again.  Not thread-safe: one
 * owner (the control thread).
 */
#ifndef SLUICE_CORE_CTL_CTL_NOTIFY_LIMIT_H
#define SLUICE_CORE_CTL_CTL_NOTIFY_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_NLIM_KEY_MAX 320	/* bytes of a key, NUL included (longer: cut) */
#define CTL_NLIM_MAX	4096	/* keys counted in one day, at most */

/* What may go out. */
enum ctl_nlim_verdict {
	CTL_NLIM_SEND,		/* within the limit: the notice (counted) */
	CTL_NLIM_LAST,		/* the limit is spent: instead, the one notice
				   saying the rest are suppressed until
				   midnight UTC */
	CTL_NLIM_DROP,		/* suppressed, and that was said already */
};

/* One key's day. */
struct ctl_nlim_entry {
	char key[CTL_NLIM_KEY_MAX];	/* the alert */
	uint32_t sent;			/* notices sent today */
	bool told;			/* the suppression notice went out */
};

/* The counts of one UTC day.  Zero it to start. */
struct ctl_nlim {
	int64_t day;			/* the day counted: unix s / 86400 */
	struct ctl_nlim_entry *v;	/* its keys */
	size_t n, cap;			/* used, allocated */
};

/*
 * May a notice about key go out at now (unix s), with limit notices per
 * UTC day (0: no limit)?  Counts it.  A new UTC day forgets the last one's
 * counts.  Beyond CTL_NLIM_MAX keys in one day, a new key is dropped.
 */
enum ctl_nlim_verdict ctl_nlim_take(struct ctl_nlim *l, const char *key, int64_t now,
				    uint32_t limit);

/* Notices about key that went out on now's UTC day. */
uint32_t ctl_nlim_sent(const struct ctl_nlim *l, const char *key, int64_t now);

/* When the UTC day of now ends: the next midnight, unix s. */
int64_t ctl_nlim_day_end(int64_t now);

/* Free the counts (l is zeroed). */
void ctl_nlim_fini(struct ctl_nlim *l);

#endif
