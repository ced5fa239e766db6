/*
 * ctl_loop — the mail-loop insight, on the control thread.
 *
 * A worker refuses a message that arrives with more than limits.hops
 * Received: fields (554 5.4.6) and notes each of its recipient domains
 * with the connector that domain routes to (net/smtp_hops.h).  Every
 * round of the queue alerts (once a second, and show insights) brings the
 * workers' tables here; they are merged by domain and connector: messages
 * summed, the first and the last loop, the hop count of the latest.  A
 * pair that appears is logged once as raised, and once as cleared when no
 * worker has had a loop for it in SMTP_LOOP_WINDOW, the same way as the
 * queue alerts, and handed to the alert notices (core/ctl/ctl_notify.h).
 * The table belongs to this thread; its strings are copies.
 */
#include "core/ctl/ctl_loop.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctl/ctl_notify.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"

/* The insight's name, as Exchange Online shows it, and what it says. */
#define LOOP_TITLE	"Fix possible mail loop"
#define LOOP_MEANING	"Mail to this domain arrived with more Received: headers than " \
			"limits.hops allows: it is going round between relays that route " \
			"it to each other, and each pass was refused with 554 5.4.6 " \
			"without being queued (the sender's own server returns it)."

/* One domain and connector, merged across workers. */
struct loop_row {
	struct smtp_loop l;	/* messages summed; first and last loop over
				   every worker; hops of the latest */
	char route[256];	/* where the connector sends: "MX" or its smart
				   hosts, "" when it is not configured */
	uint32_t limit;		/* limits.hops */
	char relay[256];	/* this relay's hostname */
};

static struct loop_row *rows;	/* open insights, as of the last update */
static size_t nrows;

static struct loop_row *
row_find(struct loop_row *v, size_t n, const struct smtp_loop *l)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(v[i].l.domain, l->domain) == 0 &&
		    strcmp(v[i].l.connector, l->connector) == 0)
			return &v[i];
	return NULL;
}

/* The fix for row, naming its connector, route and domain, into out. */
static const char *
row_fix(const struct loop_row *r, char *out, size_t n)
{
	struct strb sb;

	strb_init(&sb, out, n);
	if (strcmp(r->route, "MX") == 0)
		strb_printf(&sb, "check that the MX records of %s (connector %s routes it by "
			    "MX) do not", r->l.domain, r->l.connector);
	else if (r->route[0] != '\0')
		strb_printf(&sb, "check that the smart hosts of connector %s (%s) and the MX "
			    "records of %s do not", r->l.connector, r->route, r->l.domain);
	else
		strb_printf(&sb, "connector %s is no longer configured; check that the MX "
			    "records of %s and the connector it routes to now do not",
			    r->l.connector[0] ? r->l.connector : "(none)", r->l.domain);
	strb_printf(&sb, " point back at this relay (%s), directly or through a relay that "
		    "sends the mail here again, and route %s to the server that holds its "
		    "mailboxes", r->relay, r->l.domain);
	return out;
}

static void
row_log(const struct loop_row *r, const char *state)
{
	char fix[1024];

	log_json(json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:I, s:i, s:i, s:o, "
			   "s:o, s:o}",
			   "event", "insight", "name", "mail_loop", "title", LOOP_TITLE,
			   "state", state, "domain", log_json_s(r->l.domain),
			   "connector", r->l.connector, "route", r->route, "code", "5.4.6",
			   "messages", (json_int_t)r->l.messages, "hops", (int)r->l.hops,
			   "limit", (int)r->limit, "first", ctl_json_time(r->l.first),
			   "last", ctl_json_time(r->l.last),
			   "fix", log_json_s(row_fix(r, fix, sizeof(fix)))),
		 "insight");
	ctl_notify_loop(&r->l, r->route, r->limit, state, LOOP_MEANING, fix);
}

/* Where row's connector sends, as the first worker's config has it. */
static void
row_route(struct ctl_run *r, struct loop_row *row)
{
	const struct ctl_snap *s = &r->reqs[0]->snap;

	snprintf(row->relay, sizeof(row->relay), "%s", s->hostname);
	for (size_t i = 0; i < s->nconn; i++)
		if (strcmp(s->conns[i].name, row->l.connector) == 0) {
			snprintf(row->route, sizeof(row->route), "%s", s->conns[i].hosts);
			return;
		}
}

void
ctl_loops_update(struct ctl_run *r)
{
	struct loop_row *cur = NULL;
	size_t n = 0;

	for (unsigned w = 0; w < ctl.nw; w++) {
		const struct ctl_snap *s = &r->reqs[w]->snap;
		for (size_t i = 0; i < s->nloops; i++) {
			const struct smtp_loop *l = &s->loops[i];
			struct loop_row *row = row_find(cur, n, l);
			if (row == NULL) {
				cur = xrealloc(cur, (n + 1) * sizeof(*cur));
				row = &cur[n++];
				memset(row, 0, sizeof(*row));
				row->l = *l;
				row->limit = s->hops_limit;
				row_route(r, row);
				continue;
			}
			row->l.messages += l->messages;
			if (l->first < row->l.first)
				row->l.first = l->first;
			if (l->last > row->l.last) {
				row->l.last = l->last;
				row->l.hops = l->hops;
			}
		}
	}
	for (size_t i = 0; i < n; i++)
		if (row_find(rows, nrows, &cur[i].l) == NULL)
			row_log(&cur[i], "raised");
	for (size_t i = 0; i < nrows; i++)
		if (row_find(cur, n, &rows[i].l) == NULL)
			row_log(&rows[i], "cleared");
	free(rows);
	rows = cur;
	nrows = n;
}

size_t
ctl_loops_insights(struct ctl_run *r, json_t **arr)
{
	for (size_t i = 0; i < nrows; i++) {
		const struct loop_row *row = &rows[i];
		char last[32], fix[1024];

		row_fix(row, fix, sizeof(fix));
		if (arr != NULL) {
			log_json_append(arr, json_pack(
				"{s:s, s:o, s:s, s:s, s:s, s:I, s:i, s:i, s:o, s:o, s:s, s:o}",
				"insight", LOOP_TITLE, "domain", log_json_s(row->l.domain),
				"connector", row->l.connector, "route", row->route,
				"code", "5.4.6", "messages", (json_int_t)row->l.messages,
				"hops", (int)row->l.hops, "limit", (int)row->limit,
				"first", ctl_json_time(row->l.first),
				"last", ctl_json_time(row->l.last),
				"meaning", LOOP_MEANING, "fix", log_json_s(fix)));
			continue;
		}
		ctl_fmt_time(row->l.last, last, sizeof(last));
		ctl_printf(r, "%s: %s: %llu message%s refused with 554 5.4.6, the last at %s "
			      "with %u Received: headers (limits.hops %u); it routes to "
			      "connector %s (%s)\n", LOOP_TITLE, LOG_TEXT(row->l.domain),
			   (unsigned long long)row->l.messages, row->l.messages == 1 ? "" : "s",
			   last, row->l.hops, row->limit,
			   row->l.connector[0] ? row->l.connector : "(none)",
			   row->route[0] ? row->route : "not configured");
		ctl_printf(r, "%s: how to fix: %s\n", LOG_TEXT(row->l.domain), LOG_TEXT(fix));
	}
	return nrows;
}

void
ctl_loops_fini(void)
{
	free(rows);
	rows = NULL;
	nrows = 0;
}
