/*
 * ctl_snap — the snapshot round of the read-only commands, and how its
 * answers add up: every worker answers CTL_W_SNAP (core/ctl/ctl_run.h,
 * struct ctl_snap), counters are summed across workers (the catalogue of
 * counters below names each for show stats and show metrics), and
 * destinations are merged by connector (show connectors, the queue alerts,
 * show metrics).  Implemented by core/ctl/ctl_snap.c.
 *
 * Control thread only; a merged array belongs to the caller (free()).
 */
#ifndef SLUICE_CORE_CTL_CTL_SNAP_H
#define SLUICE_CORE_CTL_CTL_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_run.h"

/* A counter or gauge of struct ctl_snap, with its stats key and metric. */
struct ctl_skey {
	const char *key;		/* dotted stats key */
	const char *metric;		/* Prometheus name */
	const char *help;		/* # HELP text */
	bool counter;			/* counter (else gauge) */
	bool u32;			/* 32-bit field */
	size_t off;			/* offset in struct ctl_snap */
	bool max;			/* the workers' maximum, not their sum */
};

/* The counters and gauges, in the order show stats and show metrics list
 * them. */
extern const struct ctl_skey ctl_skeys[];
extern const size_t ctl_nskeys;

/* k's value in one worker's snapshot. */
uint64_t ctl_skey_value(const struct ctl_snap *s, const struct ctl_skey *k);
/* k over the workers' answers of r's round: summed, or their maximum. */
uint64_t ctl_skey_total(struct ctl_run *r, const struct ctl_skey *k);

/* One connector across workers and destinations. */
struct ctl_conn_agg {
	struct ctl_conn_cfg cfg;	/* from the config (worker 0 first) */
	bool configured;		/* in a worker's config */
	bool disabled;			/* disabled at run time */
	uint32_t ndests, ndown;		/* destinations, of which down */
	/* jobs ready, deferred (held included), active, held; connections */
	uint64_t nready, ndeferred, nactive, nheld, nconns;
	int64_t oldest, oldest_expiry;	/* oldest job, 0 none known */
	uint64_t old;			/* jobs older than alert_age */
	uint64_t old_codes[QUEUE_NCODES]; /* their last failure codes */
	/* the destinations' delivery counters, summed */
	uint64_t attempts, delivered, deferred, bounced, retries;
	uint64_t codes[QUEUE_NCODES];	/* failures by code */
	uint64_t remote[2];		/* of codes[MFI_REMOTE]: 4xx, 5xx */
	int64_t last_attempt;		/* unix s */
	int64_t last_time;		/* last failure, unix s */
	uint8_t last_code;		/* its code */
	char last_error[256];		/* its text */
	char last_host[128];		/* where from */
};

/* Merge the answers of r's round (with CTL_SNAP_DESTS) by connector:
 * every configured connector, and any a destination still names.  Returns
 * a malloc()ed array of *np, in the workers' order. */
struct ctl_conn_agg *ctl_agg_merge(struct ctl_run *r, size_t *np);
/* "enabled", "disabled", "disabled (config)" or "removed". */
const char *ctl_agg_state(const struct ctl_conn_agg *g);
/* "up", "down", "N/M down", or "-" without destinations. */
void ctl_agg_health(const struct ctl_conn_agg *g, char *out, size_t n);
/* Jobs queued at g: ready, deferred (held included) and active. */
uint64_t ctl_agg_queued(const struct ctl_conn_agg *g);
/* A failure code for people: "4.4.316", for MFI_REMOTE the destination's
 * own "550 5.1.1" from reply, "-" for none. */
void ctl_code_text(uint8_t code, const char *reply, char *out, size_t n);

/* Start r's snapshot round with flags (CTL_SNAP_*) and the alert
 * settings; then runs when every worker has answered.  r must have no
 * arguments: else it fails with "usage: USAGE". */
void ctl_snap_round(struct ctl_run *r, const char *usage, void (*then)(struct ctl_run *),
		    unsigned flags);

#endif
