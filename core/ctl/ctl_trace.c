/*
 * ctl_trace — the control socket's "trace": the life of the messages a
 * query selects (core/ctl/ctl_trace_parse.h), from the message trace's
 * database (core/trace/), one row per message with its events in the
 * order they happened, newest message first.  The HTTP API's
 * /api/v1/trace is this command's JSON.
 *
 * Where it runs: on the control thread, synchronously, on a read-only
 * connection of its own (WAL: it never waits for the writer nor the
 * writer for it), bounded by TRACE_QUERY_MS of SQLite work and
 * TRACE_LIMIT_MAX messages.  The indexes answer a query by id, by an
 * exact address or an address prefix, and any time range (queue ids are
 * time-ordered); a pattern with a leading '*' scans the messages of the
 * range, and past the budget the answer is an error that says how to
 * narrow the query.  Other commands wait at most that long.
 *
 * Everything a client or a next hop chose (addresses, HELO, replies) is
 * escaped for the terminal (LOG_FIELD, LOG_TEXT) or made valid UTF-8 for
 * JSON (log_json_s).
 */
#include "core/ctl/ctl_trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_trace_parse.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/trace/trace.h"
#include "core/trace/trace_query.h"
#include "queue/envelope.h"

/* "2024-06-04T10:00:01.123Z" of unix ms t. */
static void
fmt_ms(int64_t t, char *out, size_t n)
{
	char s[32];

	ctl_fmt_time(t / 1000, s, sizeof(s));
	if (strlen(s) == 20)		/* ...:SSZ */
		snprintf(out, n, "%.19s.%03dZ", s, (int)(t % 1000));
	else
		snprintf(out, n, "%s", s);
}

/* What an event is called in the text: its result for an attempt. */
static const char *
event_word(const struct trace_event *e)
{
	if (strcmp(e->kind, "attempt") == 0 && e->result != NULL)
		return e->result;
	if (strcmp(e->kind, "ndr") == 0)
		return e->result == NULL ? "ndr"
		       : strcmp(e->result, "sent") == 0 ? "returned"
		       : strcmp(e->result, "delay notice") == 0 ? "delay-notice" : "not-returned";
	return e->kind;
}

/* The recipients of an event (one a line) as "a, b" into sb, escaped. */
static void
rcpts_text(const char *s, struct strb *sb)
{
	const char *p = s;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		char e[LOG_ESC_MAX];
		log_esc(e, sizeof(e), p, n, LOG_ESC_SPACE);
		strb_printf(sb, "%s%s", p == s ? "" : ", ", e);
		p = nl ? nl + 1 : NULL;
	}
}

/* One event as a text line. */
static void
event_text(struct ctl_run *r, const struct trace_event *e)
{
	STRB_LOCAL(sb, 4096);
	char t[40], id[17];

	fmt_ms(e->t_ms, t, sizeof(t));
	if (e->connector != NULL)
		strb_printf(&sb, " %s", LOG_FIELD(e->connector));
	if (e->host != NULL || e->ip != NULL)
		strb_printf(&sb, " %s [%s]", LOG_FIELD(e->host ? e->host : "?"),
			    LOG_FIELD(e->ip ? e->ip : "?"));
	if (e->code != NULL && e->code[0] != '\0')
		strb_printf(&sb, " %s%s%s", LOG_FIELD(e->code), e->mfi ? "/" : "",
			    e->mfi ? LOG_FIELD(e->mfi) : "");
	if (e->has_ms && strcmp(e->kind, "attempt") == 0)
		strb_printf(&sb, " in %lld ms (attempt %lld)", (long long)e->ms,
			    (long long)e->attempt);
	if (e->has_ms && strcmp(e->kind, "expired") == 0)
		strb_printf(&sb, " after %lld attempts, age %llds", (long long)e->attempt,
			    (long long)e->ms);
	if (e->ref != 0) {	/* an NDR's id; on the NDR, the message it reports on */
		envelope_id_str(e->ref, id);
		strb_printf(&sb, " %s %s", strcmp(e->kind, "received") == 0 ? "report on" : "as",
			    id);
	}
	if (e->detail != NULL && e->detail[0] != '\0')
		strb_printf(&sb, ": %s", LOG_TEXT(e->detail));
	if (e->rcpts != NULL && e->rcpts[0] != '\0' && strcmp(e->kind, "received") != 0) {
		strb_puts(&sb, " -> ");
		rcpts_text(e->rcpts, &sb);
	}
	ctl_printf(r, "  %s  %-12s%s\n", t, event_word(e), sb.p);
}

/* One message as its line and its events. */
static void
msg_text(struct ctl_run *r, const struct trace_msg *m)
{
	char id[17], t[40], ref[17];
	STRB_LOCAL(to, 2048);

	envelope_id_str(m->id, id);
	fmt_ms(m->t_ms, t, sizeof(t));
	for (size_t i = 0; i < m->nrcpts; i++)
		strb_printf(&to, "%s%s", i ? ", " : "", LOG_FIELD(m->rcpts[i]));
	if ((int64_t)m->nrcpts < m->nrcpt)
		strb_printf(&to, " (+%lld)", (long long)(m->nrcpt - (int64_t)m->nrcpts));
	ctl_printf(r, "%s  %s  %s  from <%s> to %s", id, t, LOG_FIELD(m->status),
		   m->sender ? LOG_FIELD(m->sender) : "?", to.p);
	if (m->client != NULL)
		ctl_printf(r, "  client %s", LOG_FIELD(m->client));
	if (m->size > 0)
		ctl_printf(r, "  %lld bytes", (long long)m->size);
	if (m->tenant != NULL)
		ctl_printf(r, "  tenant %s", LOG_FIELD(m->tenant));
	if (m->ref != 0) {
		envelope_id_str(m->ref, ref);
		ctl_printf(r, "  (report on %s)", ref);
	}
	ctl_printf(r, "\n");
	for (size_t i = 0; i < m->nev; i++)
		event_text(r, &m->ev[i]);
}

/* The recipients of an event (one a line) as a JSON array. */
static json_t *
rcpts_json(const char *s)
{
	json_t *a = json_array();
	const char *p = s;

	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		log_json_append(&a, log_json_str(p, n));
		p = nl ? nl + 1 : NULL;
	}
	return a;
}

static json_t *
ms_json(int64_t t)
{
	char s[40];

	fmt_ms(t, s, sizeof(s));
	return log_json_s(s);
}

static json_t *
id_json(uint64_t id)
{
	char s[17];

	if (id == 0)
		return json_null();
	envelope_id_str(id, s);
	return log_json_s(s);
}

static json_t *
event_json(const struct trace_event *e)
{
	return json_pack("{s:o, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, "
			 "s:o, s:o}",
			 "time", ms_json(e->t_ms), "t_ms", (json_int_t)e->t_ms,
			 "event", log_json_s(e->kind), "result", log_json_s(e->result),
			 "connector", log_json_s(e->connector), "host", log_json_s(e->host),
			 "ip", log_json_s(e->ip), "code", log_json_s(e->code),
			 "mfi", log_json_s(e->mfi),
			 "reply", e->reply ? json_integer(e->reply) : json_null(),
			 "detail", log_json_s(e->detail),
			 "ms", e->has_ms ? json_integer(e->ms) : json_null(),
			 "attempt", e->attempt ? json_integer(e->attempt) : json_null(),
			 "rcpts", rcpts_json(e->rcpts), "ref", id_json(e->ref));
}

static json_t *
msg_json(const struct trace_msg *m)
{
	json_t *rc = json_array(), *ev = json_array();

	for (size_t i = 0; i < m->nrcpts; i++)
		log_json_append(&rc, log_json_s(m->rcpts[i]));
	for (size_t i = 0; i < m->nev; i++)
		log_json_append(&ev, event_json(&m->ev[i]));
	return json_pack("{s:o, s:o, s:I, s:o, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}",
			 "id", id_json(m->id), "received", ms_json(m->t_ms),
			 "t_ms", (json_int_t)m->t_ms, "client", log_json_s(m->client),
			 "sender", log_json_s(m->sender), "tenant", log_json_s(m->tenant),
			 "size", (json_int_t)m->size, "nrcpt", (json_int_t)m->nrcpt,
			 "recipients", rc, "status", log_json_s(m->status),
			 "report_on", id_json(m->ref), "events", ev);
}

static void
cmd_trace(struct ctl_run *r)
{
	struct trace_filter f;
	struct trace_found res;
	struct trace *t;
	char err[512], why[256];
	int rc;

	if (ctl_trace_parse(r->argv, r->argc, (int64_t)time(NULL), &f, err, sizeof(err)) < 0) {
		ctl_fail(r, "trace: %s", err);
		return;
	}
	if ((t = trace_running(why, sizeof(why))) == NULL) {
		if (why[0] != '\0')
			ctl_fail(r, "the message trace is not running: %s", why);
		else
			ctl_fail(r, "the message trace is off: turn it on with a trace: section "
				 "in the configuration (sluice.yaml(5)) and restart");
		return;
	}
	rc = trace_query(trace_path(t), &f, ctl_trace_glob, TRACE_QUERY_MS, &res, err,
			 sizeof(err));
	if (rc == -ENOENT) {
		memset(&res, 0, sizeof(res));
	} else if (rc == -ETIMEDOUT) {
		ctl_fail(r, "trace: %s: narrow it with id, since/until, or a pattern that does "
			 "not start with '*'", err);
		return;
	} else if (rc < 0) {
		ctl_fail(r, "trace: %s", err);
		return;
	}
	if (r->json) {
		ctl_json_stream_begin(r, "messages");
		for (size_t i = 0; i < res.n; i++)
			ctl_json_stream_item(r, msg_json(&res.msgs[i]));
		ctl_json_stream_end(r, json_pack("{s:b, s:i}", "more", res.more,
						 "count", (int)res.n));
	} else {
		for (size_t i = 0; i < res.n; i++)
			msg_text(r, &res.msgs[i]);
		ctl_printf(r, "%zu message%s%s\n", res.n, res.n == 1 ? "" : "s",
			   res.more ? " (more: narrow the query or raise the limit)" : "");
	}
	trace_found_free(&res);
	ctl_end(r);
}

const struct ctl_cmd ctl_cmd_trace = {
	.words = "trace",
	.args = "[id ID] [sender PATTERN] [rcpt PATTERN] [status delivered|deferred|bounced|"
		"expired|returned] [since AGE|TIME] [until AGE|TIME] [limit N]",
	.help = "message trace: the life of each message the query selects, newest first",
	.changes = false,
	.run = cmd_trace,
};
