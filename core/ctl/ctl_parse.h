/*
 * ctl_parse — a control-socket request line to a command and its
 * arguments (the framing is described in core/ctl/ctl.h).
 *
 * Pure: no I/O, no allocation, no global state; the caller owns the line
 * (split in place) and the list of commands.  Any thread.  Unit-tested
 * (tests/unit/core/ctl/ctl_parse_test.c) and fuzzed (tests/fuzz/fuzz_ctl.c) on
 * its own, apart from the control thread that calls it.
 */
#ifndef SLUICE_CORE_CTL_PARSE_H
#define SLUICE_CORE_CTL_PARSE_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_LINE_MAX 4096	/* longest request line, LF included (the
				   framing: core/ctl/ctl.h) */
#define CTL_MAXARGS 16		/* arguments after a command's own words */
#define CTL_MAXCMDW 3		/* words of the longest command name */

struct ctl_run;

/* A command: defined next to its handler, with its usage line (HAProxy's
 * cli keywords); the dispatcher lists them for ctl_parse and help. */
struct ctl_cmd {
	const char *words;		/* "show connectors": words, one space apart */
	const char *args;		/* usage after the words, "" none */
	const char *help;		/* one line */
	bool changes;			/* changes state (owner/root only) */
	void (*run)(struct ctl_run *r);	/* start it; r->argv are the args */
};

/* A parsed request: pointers into the caller's line. */
struct ctl_req {
	const struct ctl_cmd *cmd;	/* the command, NULL on error */
	int argc;			/* words after the command's own */
	char *argv[CTL_MAXARGS];	/* those words, NUL-terminated */
	bool json;			/* a trailing word "json" (set even when
					   the command is unknown, so the error
					   can be answered in JSON) */
};

/*
 * Parse line (len bytes plus a NUL, without its LF; blanks and tabs
 * separate words; modified in place) against the ntab commands tab points
 * to: the command whose words begin the line, the longest when several do.
 * Returns 0, or -EINVAL with a one-line reason in err (at most errlen
 * bytes): a byte outside printable ASCII, too many words, an unknown
 * command, too many arguments.  A blank line is an unknown command "".
 */
int ctl_parse(char *line, size_t len, const struct ctl_cmd *const *tab,
	      size_t ntab, struct ctl_req *req, char *err, size_t errlen);

#endif
