/*
 * ctl_report — the daily summary of a log (`sluicectl report`), what
 * pflogsumm is to Postfix's log.
 *
 * It reads sluiced's log as written, in either format (core/log.h): JSON
 * lines, or text lines whose events are "TIME info: EVENT key=value ...",
 * also behind a syslog or journal head ("Dec  6 18:00:00 host sluiced[7]:
 * info: attempt ...").  What it counts:
 *  - messages received and their recipients (the "queued" events);
 *  - per connector, and per connector and code: recipients delivered,
 *    deferrals (a recipient left queued by an attempt), recipients bounced
 *    (refused for good by the next hop), expired (returned when the queue
 *    lifetime ran out) and returned (by the operator or fix-now);
 *  - the most frequent deferral reasons (connector, code, detail);
 *  - the same counts per tenant, for events that name one;
 *  - the first and last time stamp seen, lines read and lines that were
 *    events it could not read.
 * Lines that are not events (start-up, sessions) are skipped silently; an
 * event without its last field (a line cut by a syslog limit; sluiced
 * keeps its lines short by splitting long recipient lists) is counted as
 * not understood, not summed.
 *
 * Not thread-safe; one report per reader.
 */
#ifndef SLUICE_CORE_CTL_CTL_REPORT_H
#define SLUICE_CORE_CTL_CTL_REPORT_H

#include <jansson.h>
#include <stddef.h>

struct buf;
struct ctl_report;

struct ctl_report *ctl_report_new(void);
void ctl_report_free(struct ctl_report *rp);

/* Count one log line (len bytes, without the newline). */
void ctl_report_line(struct ctl_report *rp, const char *line, size_t len);

/* Lines read, and events among them that were counted. */
long long ctl_report_lines(const struct ctl_report *rp);
long long ctl_report_events(const struct ctl_report *rp);

/* The summary for people into out, with at most top deferral reasons. */
void ctl_report_text(const struct ctl_report *rp, struct buf *out, unsigned top);

/* The same as one JSON object (new reference), or NULL without memory. */
json_t *ctl_report_json(const struct ctl_report *rp, unsigned top);

/*
 * The event a log line holds, as a JSON object with "event" (new
 * reference), or NULL when the line is not an event.  A text event's
 * values come back as the JSON event had them: numbers, true/false, null
 * for "-", lists for rcpts, strings unescaped.
 */
json_t *ctl_report_event(const char *line, size_t len);

#endif
