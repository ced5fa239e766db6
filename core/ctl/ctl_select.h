/*
 * ctl_select — which queued mail a control command means.  The words
 * after "show queue" and after the queue actions (flush, hold, release,
 * delete, bounce, requeue) become a struct ctl_sel: a connector, queue
 * ids, "all", and the filters
 *
 *   connector NAME      jobs at that connector's destinations
 *   sender PATTERN      messages whose sender matches ("<>": the null one)
 *   rcpt PATTERN        recipients that match
 *   older AGE           messages that arrived at least AGE ago (90s, 10m, 1h, 2d, 1w)
 *   younger AGE         messages that arrived less than AGE ago
 *   limit N             show queue: at most N rows
 *
 * which all hold at once.  A PATTERN is an address or a glob of one:
 * '*' any run of bytes, '?' one byte, compared without regard to ASCII
 * case (sender *@example.com); angle brackets around it are dropped.
 *
 * Pure: no I/O, no allocation, no global state.  The control thread
 * parses (core/ctl/ctl_queue.c, ctl_act.c); a worker matches
 * (core/ctl/ctl_worker.c), counting the bytes it compares so that a
 * hostile pattern costs a bounded amount of its loop turn.  Unit-tested
 * in tests/unit/core/ctl/ctl_select_test.c.
 */
#ifndef SLUICE_CORE_CTL_CTL_SELECT_H
#define SLUICE_CORE_CTL_CTL_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_parse.h"

#define CTL_SEL_IDS CTL_MAXARGS	/* queue ids in one command */
#define CTL_SEL_NAME 128	/* connector name, NUL included */
#define CTL_PAT_MAX 256		/* pattern, NUL included */

/* A selection.  Zeroed: everything. */
struct ctl_sel {
	char connector[CTL_SEL_NAME];	/* jobs at its destinations; "" any */
	bool has_sender;		/* sender given */
	char sender[CTL_PAT_MAX];	/* its pattern; "" the null sender <> */
	bool has_rcpt;			/* rcpt given */
	char rcpt[CTL_PAT_MAX];		/* its pattern (never "") */
	int64_t arrived_before;		/* older: arrival at or before this
					   (unix s); 0 none */
	int64_t arrived_after;		/* younger: arrival after this; 0 none */
	uint64_t ids[CTL_SEL_IDS];	/* these messages only, when nids > 0 */
	uint32_t nids;			/* their number */
	bool all;			/* "all" was said */
	uint64_t limit;			/* show queue: rows at most, 0 none */
};

/* What a command's words may hold. */
enum ctl_sel_mode {
	CTL_SEL_LIST,	/* show queue: [CONNECTOR] [LIMIT] and the filters, limit */
	CTL_SEL_ACT,	/* an action: CONNECTOR, IDs, all, and the filters */
};

/*
 * Parse argv[0..argc) for mode into sel; ages count back from now (unix
 * s).  Returns 0, or -EINVAL with one line in err (at most errlen bytes)
 * that names the word and what was expected.  The caller checks that
 * something was selected at all (ctl_sel_empty).
 */
int ctl_sel_parse(char *const *argv, int argc, enum ctl_sel_mode mode, int64_t now,
		  struct ctl_sel *sel, char *err, size_t errlen);

/* True when sel names nothing: no connector, id, "all" or filter. */
bool ctl_sel_empty(const struct ctl_sel *sel);

/* True when sel has a filter on the message (sender or age) or on its
 * recipients (rcpt). */
bool ctl_sel_filters(const struct ctl_sel *sel);

/* A PATTERN word v of keyword key into out (CTL_PAT_MAX bytes): "<...>"
 * unwrapped; "" (the null sender) only when null_ok.  0, or -EINVAL with
 * one line in err. */
int ctl_sel_pattern(const char *key, const char *v, bool null_ok, char *out, char *err,
		    size_t errlen);

/* A queue id: 16 hex digits, not zero. */
bool ctl_sel_parse_id(const char *s, uint64_t *id);

/* An age: digits with an optional unit s, m, h, d or w (at most 10
 * years).  0, or -EINVAL. */
int ctl_sel_parse_age(const char *s, int64_t *secs);

/*
 * Does address s match pattern p ('*', '?', ASCII case ignored)?  Adds
 * the bytes compared to *steps: at most (strlen(s) + 1) * (strlen(p) + 1).
 */
bool ctl_glob(const char *p, const char *s, uint64_t *steps);

/* Does a message with this sender ("" for <>) and arrival (unix s) pass
 * sel's sender and age filters?  Adds to *steps as ctl_glob. */
bool ctl_sel_msg(const struct ctl_sel *sel, const char *sender, int64_t arrival,
		 uint64_t *steps);

/* Does recipient addr pass sel's rcpt filter?  Adds to *steps. */
bool ctl_sel_rcpt(const struct ctl_sel *sel, const char *addr, uint64_t *steps);

#endif
