/*
 * trace_sql — the SQL of a trace query, built from its filters: which
 * messages (by id, sender, recipient, status and time), newest first.
 *
 * Nothing the operator typed is ever part of the SQL text: every value is
 * a bound parameter.  A PATTERN follows core/ctl/ctl_select.h's rules
 * ('*' any run of bytes, '?' one byte, ASCII case ignored, <> the null
 * sender); it becomes
 *   - a plain one (no wildcard): `col = ? COLLATE NOCASE`, which the
 *     NOCASE indexes answer;
 *   - a glob: `col LIKE 'prefix%' ESCAPE '\'` over its literal prefix,
 *     with '%', '_' and '\' of the prefix escaped (so the index narrows
 *     the rows and LIKE's own wildcards never come from the operator),
 *     and `trace_glob(pattern, col)`, the exact matcher the caller
 *     registers (ctl_glob), for the rest.  Without a prefix ("*@x"), only
 *     the matcher: a scan, bounded by the query's time budget.
 * A time is a range of queue ids: an id's high 32 bits are the second it
 * was made (queue/spool.c), so since/until need no index of their own.
 * A status is an EXISTS over the message's events (one key range).
 *
 * Pure: no I/O, no allocation.  Unit-tested in
 * tests/unit/core/trace/trace_sql_test.c.
 */
#ifndef SLUICE_CORE_TRACE_TRACE_SQL_H
#define SLUICE_CORE_TRACE_TRACE_SQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TRACE_PAT_MAX	256	/* a pattern, NUL included */
#define TRACE_LIMIT_MAX	1000	/* messages one query returns at most */
#define TRACE_SQL_MAX	1024	/* the query text */
#define TRACE_SQL_PARAMS 12	/* its parameters at most */

/* A query's "status": the message had such an event at some point. */
#define TRACE_SEEN_DELIVERED	0x01	/* an attempt delivered */
#define TRACE_SEEN_DEFERRED	0x02	/* an attempt deferred */
#define TRACE_SEEN_BOUNCED	0x04	/* refused for good, or returned by the
					   operator or fix-now */
#define TRACE_SEEN_EXPIRED	0x08	/* expired */
#define TRACE_SEEN_RETURNED	0x10	/* an NDR went back to the sender */

/* A query's filters; zeroed: every message (up to the limit). */
struct trace_filter {
	uint64_t id;			/* this queue id only; 0 any */
	bool has_sender;		/* sender given */
	char sender[TRACE_PAT_MAX];	/* its pattern; "" the null sender */
	bool has_rcpt;			/* rcpt given */
	char rcpt[TRACE_PAT_MAX];	/* its pattern (not "") */
	unsigned seen;			/* one TRACE_SEEN_* bit, 0 any */
	int64_t since;			/* made at or after (unix s), 0 none */
	int64_t until;			/* made at or before (unix s), 0 none */
	uint32_t limit;			/* messages at most, 0: the default */
};

/* One parameter of the query, bound at position index + 1. */
struct trace_param {
	bool text;			/* text, else an integer */
	int64_t i;			/* the integer */
	char s[TRACE_PAT_MAX + 1];	/* the text */
};

/* A query ready to prepare. */
struct trace_sql {
	char text[TRACE_SQL_MAX];	/* the SQL */
	struct trace_param p[TRACE_SQL_PARAMS];	/* its parameters */
	unsigned np;			/* their number */
};

/* True when glob p has a wildcard ('*' or '?'). */
bool trace_sql_is_glob(const char *p);

/* The LIKE pattern of glob p's literal prefix, escaped, with '%' after
 * it, into out[0..cap); false (out "") when p starts with a wildcard. */
bool trace_sql_like_prefix(const char *p, char *out, size_t cap);

/* The query of f into q.  0, or -EINVAL (a limit above TRACE_LIMIT_MAX). */
int trace_sql_build(const struct trace_filter *f, struct trace_sql *q);

/* The query id of a unix second: the first id made in it. */
int64_t trace_sql_id_of(int64_t unix_s);

#endif
