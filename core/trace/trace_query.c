/*
 * trace_query — queries of the trace database (core/trace/trace_query.h).
 *
 * Three statements: the messages (trace_sql_build), then per message its
 * recipients and its events, each one key range.  The "received" event is
 * made from the message's own row, and its status is its latest event's
 * (what the writer does not keep: core/trace/trace_db.h).  Strings are
 * copied out as the database holds them; the caller escapes them.
 */
#include "core/trace/trace_query.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/xalloc.h"

/* The deadline the progress handler enforces. */
struct budget {
	struct timespec end;		/* CLOCK_MONOTONIC */
	bool hit;			/* it interrupted the query */
};

static int
on_progress(void *arg)
{
	struct budget *b = arg;
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (now.tv_sec > b->end.tv_sec ||
	    (now.tv_sec == b->end.tv_sec && now.tv_nsec >= b->end.tv_nsec)) {
		b->hit = true;
		return 1;
	}
	return 0;
}

/* SQL's trace_glob(pattern, value): the caller's matcher. */
static void
sql_glob(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	trace_glob_fn *glob = (trace_glob_fn *)sqlite3_user_data(ctx);
	const unsigned char *p = sqlite3_value_text(argv[0]);
	const unsigned char *s = sqlite3_value_text(argv[1]);

	sqlite3_result_int(ctx, p != NULL && s != NULL &&
			   glob((const char *)p, (const char *)s));
}

static char *
col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? xstrdup((const char *)s) : NULL;
}

static uint64_t
col_id(sqlite3_stmt *st, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(st, i);
	uint64_t id;

	memcpy(&id, &v, sizeof(id));
	return id;
}

/* Free what m holds. */
static void
trace_found_free_msg(struct trace_msg *m)
{
	free(m->client);
	free(m->sender);
	free(m->tenant);
	free(m->status);
	for (size_t k = 0; k < m->nrcpts; k++)
		free(m->rcpts[k]);
	free(m->rcpts);
	for (size_t k = 0; k < m->nev; k++) {
		struct trace_event *e = &m->ev[k];
		free(e->kind);
		free(e->result);
		free(e->connector);
		free(e->host);
		free(e->ip);
		free(e->code);
		free(e->mfi);
		free(e->detail);
		free(e->rcpts);
	}
	free(m->ev);
	memset(m, 0, sizeof(*m));
}

/* The status an event gives its message ("delivered", "held" ...), or
 * NULL when it leaves it as it was (a delay notice, no NDR). */
static const char *
status_of(const struct trace_event *e)
{
	static const struct { const char *kind, *status; } st[] = {
		{ "received", "received" }, { "expired", "expired" }, { "hold", "held" },
		{ "release", "released" }, { "delete", "deleted" }, { "bounce", "bounced" },
		{ "requeue", "requeued" }, { "fixnow", "bounced" },
	};

	if (strcmp(e->kind, "attempt") == 0)
		return e->result;
	if (strcmp(e->kind, "ndr") == 0)
		return e->result != NULL && strcmp(e->result, "sent") == 0 ? "returned" : NULL;
	for (size_t i = 0; i < sizeof(st) / sizeof(st[0]); i++)
		if (strcmp(e->kind, st[i].kind) == 0)
			return st[i].status;
	return NULL;
}

/* The received event of m (its row: when, who, HELO, NDR note, and the
 * message an NDR reports on), first in m->ev. */
static void
received_event(struct trace_msg *m, const char *helo, const char *note)
{
	struct trace_event *e = &m->ev[m->nev++];
	size_t len = 0;

	e->t_ms = m->t_ms;
	e->kind = xstrdup("received");
	e->host = helo != NULL ? xstrdup(helo) : NULL;
	e->ip = m->client != NULL ? xstrdup(m->client) : NULL;
	e->detail = note != NULL ? xstrdup(note) : NULL;
	e->ref = m->ref;
	for (size_t i = 0; i < m->nrcpts; i++)
		len += strlen(m->rcpts[i]) + 1;
	e->rcpts = xcalloc(1, len + 1);
	for (size_t i = 0, k = 0; i < m->nrcpts; i++) {
		size_t n = strlen(m->rcpts[i]);
		if (k > 0)
			e->rcpts[k++] = '\n';
		memcpy(e->rcpts + k, m->rcpts[i], n);
		k += n;
	}
}

/* m's recipients and events; the received one from its row when it has
 * one (helo, note: from that row), and its status. */
static int
fill_msg(sqlite3_stmt *rs, sqlite3_stmt *es, struct trace_msg *m, bool has_row,
	 const char *helo, const char *note)
{
	sqlite3_int64 id;
	int rc;

	memcpy(&id, &m->id, sizeof(id));
	sqlite3_bind_int64(rs, 1, id);
	m->rcpts = xcalloc(TRACE_RCPT_MAX, sizeof(*m->rcpts));
	while ((rc = sqlite3_step(rs)) == SQLITE_ROW)
		m->rcpts[m->nrcpts++] = col_str(rs, 0);
	sqlite3_reset(rs);
	if (rc != SQLITE_DONE)
		return rc;
	sqlite3_bind_int64(es, 1, id);
	m->ev = xcalloc(TRACE_EV_MAX + 1, sizeof(*m->ev));
	if (has_row)
		received_event(m, helo, note);
	while ((rc = sqlite3_step(es)) == SQLITE_ROW) {
		struct trace_event *e = &m->ev[m->nev++];
		e->t_ms = sqlite3_column_int64(es, 0);
		e->kind = col_str(es, 1);
		e->result = col_str(es, 2);
		e->connector = col_str(es, 3);
		e->host = col_str(es, 4);
		e->ip = col_str(es, 5);
		e->code = col_str(es, 6);
		e->mfi = col_str(es, 7);
		e->reply = sqlite3_column_int64(es, 8);
		e->detail = col_str(es, 9);
		e->has_ms = sqlite3_column_type(es, 10) != SQLITE_NULL;
		e->ms = sqlite3_column_int64(es, 10);
		e->attempt = sqlite3_column_int64(es, 11);
		e->rcpts = col_str(es, 12);
		e->ref = col_id(es, 13);
	}
	sqlite3_reset(es);
	for (size_t i = m->nev; i > 0 && m->status == NULL; i--)
		if (status_of(&m->ev[i - 1]) != NULL)
			m->status = xstrdup(status_of(&m->ev[i - 1]));
	if (m->status == NULL)
		m->status = xstrdup("unknown");
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int
trace_query(const char *path, const struct trace_filter *f, trace_glob_fn *glob,
	    unsigned budget_ms, struct trace_found *res, char *err, size_t errlen)
{
	struct budget b = { .hit = false };
	struct trace_sql q;
	sqlite3 *db = NULL;
	sqlite3_stmt *ms = NULL, *rs = NULL, *es = NULL;
	size_t cap;
	struct stat sbuf;
	int rc;

	memset(res, 0, sizeof(*res));
	if (trace_sql_build(f, &q) < 0) {
		snprintf(err, errlen, "limit: at most %d messages", TRACE_LIMIT_MAX);
		return -EINVAL;
	}
	if (stat(path, &sbuf) < 0 && errno == ENOENT) {
		snprintf(err, errlen, "%s: no trace database yet", path);
		return -ENOENT;
	}
	cap = (size_t)q.p[q.np - 1].i;
	clock_gettime(CLOCK_MONOTONIC, &b.end);
	b.end.tv_sec += budget_ms / 1000;
	b.end.tv_nsec += (long)(budget_ms % 1000) * 1000000;
	if (b.end.tv_nsec >= 1000000000) {
		b.end.tv_sec++;
		b.end.tv_nsec -= 1000000000;
	}
	rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(db, (int)budget_ms);
		sqlite3_progress_handler(db, 1000, on_progress, &b);
		rc = sqlite3_create_function(db, "trace_glob", 2, SQLITE_UTF8 |
					     SQLITE_DETERMINISTIC, (void *)glob, sql_glob,
					     NULL, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, q.text, -1, &ms, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT addr FROM rcpt WHERE msg = ?1 LIMIT 100",
					-1, &rs, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, "SELECT t, kind, result, connector, host, ip, code,"
					" mfi, reply, detail, ms, attempt, rcpts, ref FROM ev"
					" WHERE msg = ?1 ORDER BY seq LIMIT 200", -1, &es,
					NULL);
	for (unsigned i = 0; rc == SQLITE_OK && i < q.np; i++)
		rc = q.p[i].text ? sqlite3_bind_text(ms, (int)i + 1, q.p[i].s, -1, SQLITE_STATIC)
				 : sqlite3_bind_int64(ms, (int)i + 1, q.p[i].i);
	if (rc == SQLITE_OK) {
		res->msgs = xcalloc(cap, sizeof(*res->msgs));
		while ((rc = sqlite3_step(ms)) == SQLITE_ROW) {
			struct trace_msg *m;
			char *helo, *note;
			if (res->n + 1 == cap) {
				res->more = true;
				rc = SQLITE_DONE;
				break;
			}
			m = &res->msgs[res->n++];
			m->id = col_id(ms, 0);
			m->t_ms = sqlite3_column_int64(ms, 1);
			m->client = col_str(ms, 2);
			helo = col_str(ms, 3);
			m->sender = col_str(ms, 4);
			m->tenant = col_str(ms, 5);
			m->size = sqlite3_column_int64(ms, 6);
			m->nrcpt = sqlite3_column_int64(ms, 7);
			m->ref = col_id(ms, 8);
			note = col_str(ms, 9);
			/* its events now: the statement is only stepped again after */
			rc = fill_msg(rs, es, m, true, helo, note);
			free(helo);
			free(note);
			if (rc != SQLITE_OK)
				break;
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
		/* a message received while the trace was off: its events only */
		if (rc == SQLITE_OK && res->n == 0 && f->id != 0) {
			struct trace_msg *m = &res->msgs[0];
			m->id = f->id;
			m->t_ms = (int64_t)(f->id >> 32) * 1000;
			rc = fill_msg(rs, es, m, false, NULL, NULL);
			if (rc == SQLITE_OK && m->nev > 0)
				res->n = 1;
			else if (rc == SQLITE_OK)
				trace_found_free_msg(m);
		}
	}
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(ms);
	sqlite3_finalize(rs);
	sqlite3_finalize(es);
	sqlite3_close(db);
	if (rc == SQLITE_OK)
		return 0;
	trace_found_free(res);
	if (b.hit) {
		snprintf(err, errlen, "the query took more than %u ms", budget_ms);
		return -ETIMEDOUT;
	}
	return -EIO;
}

void
trace_found_free(struct trace_found *res)
{
	for (size_t i = 0; i < res->n; i++)
		trace_found_free_msg(&res->msgs[i]);
	free(res->msgs);
	memset(res, 0, sizeof(*res));
}
