/*
 * trace_query — the reading side of the message trace: the messages a
 * filter selects (core/trace/trace_sql.h), each with its recipients and
 * its events in the order they happened.
 *
 * Each query opens its own read-only connection to the database (WAL:
 * it reads the last committed state and never waits for the writer, nor
 * the writer for it), runs for at most a time budget (SQLite's progress
 * handler interrupts it past the deadline: the caller says so, and how to
 * narrow the query), and closes it.  Any thread; the control thread runs
 * it (core/ctl/ctl_trace.c), within TRACE_QUERY_MS.
 */
#ifndef SLUICE_CORE_TRACE_TRACE_QUERY_H
#define SLUICE_CORE_TRACE_TRACE_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/trace/trace_sql.h"

#define TRACE_QUERY_MS	2000	/* the control thread's budget for one query */
#define TRACE_EV_MAX	200	/* events shown per message */
#define TRACE_RCPT_MAX	100	/* recipients listed per message */

/* One event, as stored (NULL: not recorded). */
struct trace_event {
	int64_t t_ms;			/* when, unix ms */
	char *kind, *result;		/* "attempt", "delivered" ... */
	char *connector, *host, *ip;	/* where */
	char *code, *mfi, *detail;	/* what the failure was */
	char *rcpts;			/* recipients concerned, one a line */
	int64_t reply;			/* reply code, 0 none */
	int64_t ms;			/* attempt: its duration; expired: age, s */
	int64_t attempt;		/* attempt number; expired: attempts */
	uint64_t ref;			/* NDR: its id; 0 none */
	bool has_ms;			/* ms is set */
};

/* One message. */
struct trace_msg {
	uint64_t id;			/* queue id */
	int64_t t_ms;			/* received, unix ms */
	char *client, *sender, *tenant;	/* NULL: not known (received before
					   the trace saw it) */
	char *status;			/* its latest event's word */
	int64_t size, nrcpt;		/* bytes, recipients */
	uint64_t ref;			/* an NDR: the message it reports on */
	char **rcpts;			/* its recipients (TRACE_RCPT_MAX) */
	size_t nrcpts;
	struct trace_event *ev;		/* its events, oldest first */
	size_t nev;
};

/* What a query found (owned by the caller: trace_found_free). */
struct trace_found {
	struct trace_msg *msgs;		/* newest first */
	size_t n;			/* their number */
	bool more;			/* the limit cut the list */
};

/* The exact matcher of a pattern (ctl_glob's rules) that SQL calls as
 * trace_glob(pattern, value). */
typedef bool trace_glob_fn(const char *pattern, const char *value);

/*
 * Run the query of f on the database at path, for at most budget_ms.
 * Returns 0 with res filled, -ETIMEDOUT past the budget, -ENOENT when
 * there is no database yet, -EIO (err: why) otherwise.
 */
int trace_query(const char *path, const struct trace_filter *f, trace_glob_fn *glob,
		unsigned budget_ms, struct trace_found *res, char *err, size_t errlen);

/* Free what res holds (not res). */
void trace_found_free(struct trace_found *res);

#endif
