/*
 * trace_db — the writer's side of the trace database (core/trace/trace_db.h).
 *
 * Every statement is prepared once at open and reset after each use, its
 * parameters all bound again (no clear_bindings); a record costs one
 * INSERT (a received one, of the message and of each recipient).  The
 * writer's page cache is 16 MiB, for the indexes' hot pages, and SQLite's
 * allocation statistics (a global mutex per malloc) are off.
 *
 * What a crash may do: the trace is a record of what happened, not the
 * mail; a lost WAL tail loses the last batch's events, nothing else.
 * Writer thread only.
 */
#include "core/trace/trace_db.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/xalloc.h"

#define SCHEMA_VERSION 2

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS msg ("
	" id INTEGER PRIMARY KEY, t INTEGER NOT NULL, client TEXT, helo TEXT, sender TEXT,"
	" tenant TEXT, size INTEGER, nrcpt INTEGER, ref INTEGER, note TEXT);"
	"CREATE INDEX IF NOT EXISTS msg_sender ON msg(sender COLLATE NOCASE);"
	"CREATE TABLE IF NOT EXISTS rcpt (msg INTEGER NOT NULL, addr TEXT NOT NULL,"
	" PRIMARY KEY (msg, addr)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS rcpt_addr ON rcpt(addr COLLATE NOCASE);"
	"CREATE TABLE IF NOT EXISTS ev ("
	" msg INTEGER NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL,"
	" result TEXT, connector TEXT, host TEXT, ip TEXT, code TEXT, mfi TEXT, reply INTEGER,"
	" detail TEXT, ms INTEGER, attempt INTEGER, rcpts TEXT, ref INTEGER,"
	" PRIMARY KEY (msg, seq)) WITHOUT ROWID;"
	"PRAGMA user_version = 2;";

enum stmt {
	S_BEGIN, S_COMMIT, S_MSG, S_RCPT, S_EV,
	S_BOUND, S_BOUND_EV, S_DEL_MSG, S_DEL_RCPT, S_DEL_EV, S_NSTMT
};

static const char *const SQL[S_NSTMT] = {
	[S_BEGIN] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_MSG] = "INSERT OR REPLACE INTO msg (id, t, client, helo, sender, tenant, size, nrcpt,"
		  " ref, note) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	[S_RCPT] = "INSERT OR IGNORE INTO rcpt (msg, addr) VALUES (?1, ?2)",
	[S_EV] = "INSERT INTO ev (msg, seq, t, kind, result, connector, host, ip, code, mfi,"
		 " reply, detail, ms, attempt, rcpts, ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,"
		 " ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
	[S_BOUND] = "SELECT max(id) FROM (SELECT id FROM msg WHERE id < ?1 ORDER BY id"
		    " LIMIT ?2)",
	[S_BOUND_EV] = "SELECT max(msg) FROM (SELECT DISTINCT msg FROM ev WHERE msg < ?1"
		       " ORDER BY msg LIMIT ?2)",
	[S_DEL_MSG] = "DELETE FROM msg WHERE id <= ?1",
	[S_DEL_RCPT] = "DELETE FROM rcpt WHERE msg <= ?1",
	[S_DEL_EV] = "DELETE FROM ev WHERE msg <= ?1",
};

struct trace_db {
	sqlite3 *db;			/* read-write connection */
	sqlite3_stmt *st[S_NSTMT];	/* prepared once */
	int64_t seq;			/* ev.seq of the last event: microseconds
					   at open, then one more per event, so
					   it grows across restarts too */
};

/* "what: sqlite's message" into err; -EIO. */
static int
db_fail(struct trace_db *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, db->db ? sqlite3_errmsg(db->db) : "out of memory");
	return -EIO;
}

/* Run one statement of st and reset it: SQLITE_DONE or SQLITE_ROW is
 * fine.  Its parameters are all bound again before the next run. */
static int
run(struct trace_db *db, enum stmt s, char *err, size_t errlen)
{
	int rc = sqlite3_step(db->st[s]);

	sqlite3_reset(db->st[s]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(db, SQL[s], err, errlen);
	return 0;
}

/* One integer of a PRAGMA. */
static int64_t
pragma_int(struct trace_db *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = 0;

	if (sqlite3_prepare_v2(db->db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

int
trace_db_open(struct trace_db **out, const char *path, char *err, size_t errlen)
{
	struct trace_db *db = xcalloc(1, sizeof(*db));
	struct timespec now;
	char *msg = NULL;
	int64_t version;
	int rc;

	*out = NULL;
	/* no allocation statistics: they take a global mutex on every malloc
	   (refused, harmlessly, once SQLite is initialised) */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	rc = sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "trace: %s: %s", path,
			 db->db ? sqlite3_errmsg(db->db) : "out of memory");
		trace_db_close(db);
		return -EIO;
	}
	sqlite3_busy_timeout(db->db, 1000);
	/* auto_vacuum only takes on an empty file, so it comes first */
	rc = sqlite3_exec(db->db, "PRAGMA auto_vacuum = INCREMENTAL;"
			  "PRAGMA journal_mode = WAL;"
			  "PRAGMA synchronous = NORMAL;"
			  "PRAGMA cache_size = -16384;"	/* KiB: the indexes' hot pages */
			  "PRAGMA wal_autocheckpoint = 8192;"	/* pages: a hot page is
								   copied back once per 32 MiB */
			  "PRAGMA journal_size_limit = 67108864;", NULL, NULL, &msg);
	if (rc == SQLITE_OK && (version = pragma_int(db, "PRAGMA user_version")) != 0 &&
	    version != SCHEMA_VERSION) {
		snprintf(err, errlen, "trace: %s has the tables of another version (%lld, not "
			 "%d): move it away, a new one is made", path, (long long)version,
			 SCHEMA_VERSION);
		trace_db_close(db);
		return -EIO;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->db, SCHEMA, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "trace: %s: %s", path, msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		trace_db_close(db);
		return -EIO;
	}
	for (int i = 0; i < S_NSTMT; i++)
		if (sqlite3_prepare_v3(db->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &db->st[i],
				       NULL) != SQLITE_OK) {
			snprintf(err, errlen, "trace: %s: %s", path, sqlite3_errmsg(db->db));
			trace_db_close(db);
			return -EIO;
		}
	clock_gettime(CLOCK_REALTIME, &now);
	db->seq = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
	*out = db;
	return 0;
}

void
trace_db_close(struct trace_db *db)
{
	if (db == NULL)
		return;
	for (int i = 0; i < S_NSTMT; i++)
		sqlite3_finalize(db->st[i]);
	sqlite3_close(db->db);
	free(db);
}

int
trace_db_begin(struct trace_db *db, char *err, size_t errlen)
{
	return run(db, S_BEGIN, err, errlen);
}

int
trace_db_commit(struct trace_db *db, char *err, size_t errlen)
{
	int rc = run(db, S_COMMIT, err, errlen);

	if (rc < 0)
		trace_db_rollback(db);
	return rc;
}

void
trace_db_rollback(struct trace_db *db)
{
	if (!sqlite3_get_autocommit(db->db))
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Bind string slot of rec to parameter i of st (NULL when absent). */
static void
bind_str(sqlite3_stmt *st, int i, const struct trace_rec *rec, enum trace_str slot)
{
	if (rec->str[slot] != NULL)
		sqlite3_bind_text(st, i, rec->str[slot], rec->len[slot], SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Bind v to parameter i, or NULL when it is 0. */
static void
bind_int(sqlite3_stmt *st, int i, int64_t v)
{
	if (v != 0)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* A queue id as SQLite's signed 64-bit integer (the bits kept). */
static sqlite3_int64
id64(uint64_t id)
{
	sqlite3_int64 v;

	memcpy(&v, &id, sizeof(v));
	return v;
}

/* rec's recipients into rcpt. */
static int
put_rcpts(struct trace_db *db, const struct trace_rec *rec, char *err, size_t errlen)
{
	const unsigned char *it = NULL;
	const char *a;
	uint16_t n;

	while (trace_rec_rcpt_next(rec, &it, &a, &n)) {
		sqlite3_bind_int64(db->st[S_RCPT], 1, id64(rec->id));
		sqlite3_bind_text(db->st[S_RCPT], 2, a, n, SQLITE_STATIC);
		if (run(db, S_RCPT, err, errlen) < 0)
			return -EIO;
	}
	return 0;
}

/* The recipients of rec, one a line, into b (ev.rcpts: an address never
 * holds a line feed). */
static void
join_rcpts(const struct trace_rec *rec, char *b, size_t cap, size_t *len)
{
	const unsigned char *it = NULL;
	const char *a;
	uint16_t n;
	size_t k = 0;

	while (trace_rec_rcpt_next(rec, &it, &a, &n)) {
		if (k + n + 1 > cap)
			break;
		if (k > 0)
			b[k++] = '\n';
		memcpy(b + k, a, n);
		k += n;
	}
	*len = k;
}

int
trace_db_put(struct trace_db *db, const struct trace_rec *rec, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char rcpts[TRACE_REC_MAX];
	size_t rlen = 0;

	if (rec->kind == TRACE_RECEIVED) {
		st = db->st[S_MSG];
		sqlite3_bind_int64(st, 1, id64(rec->id));
		sqlite3_bind_int64(st, 2, rec->t_ms);
		bind_str(st, 3, rec, TRACE_S_CLIENT);
		bind_str(st, 4, rec, TRACE_S_HOST);
		bind_str(st, 5, rec, TRACE_S_SENDER);
		bind_str(st, 6, rec, TRACE_S_TENANT);
		sqlite3_bind_int64(st, 7, rec->num[TRACE_N_SIZE]);
		sqlite3_bind_int64(st, 8, rec->num[TRACE_N_NRCPT]);
		bind_int(st, 9, id64((uint64_t)rec->num[TRACE_N_REF]));
		bind_str(st, 10, rec, TRACE_S_DETAIL);
		if (run(db, S_MSG, err, errlen) < 0)
			return -EIO;
		return put_rcpts(db, rec, err, errlen);
	}
	join_rcpts(rec, rcpts, sizeof(rcpts), &rlen);
	st = db->st[S_EV];
	sqlite3_bind_int64(st, 1, id64(rec->id));
	sqlite3_bind_int64(st, 2, ++db->seq);
	sqlite3_bind_int64(st, 3, rec->t_ms);
	sqlite3_bind_text(st, 4, trace_kind_name(rec->kind), -1, SQLITE_STATIC);
	if (trace_result_name(rec->result) != NULL)
		sqlite3_bind_text(st, 5, trace_result_name(rec->result), -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 5);
	bind_str(st, 6, rec, TRACE_S_CONNECTOR);
	bind_str(st, 7, rec, TRACE_S_HOST);
	bind_str(st, 8, rec, TRACE_S_IP);
	bind_str(st, 9, rec, TRACE_S_CODE);
	bind_str(st, 10, rec, TRACE_S_MFI);
	bind_int(st, 11, rec->num[TRACE_N_REPLY]);
	bind_str(st, 12, rec, TRACE_S_DETAIL);
	if (rec->kind == TRACE_ATTEMPT || rec->kind == TRACE_EXPIRED)
		sqlite3_bind_int64(st, 13, rec->num[TRACE_N_MS]);
	else
		sqlite3_bind_null(st, 13);
	bind_int(st, 14, rec->num[TRACE_N_ATTEMPT]);
	sqlite3_bind_text(st, 15, rcpts, (int)rlen, SQLITE_STATIC);
	bind_int(st, 16, id64((uint64_t)rec->num[TRACE_N_REF]));
	return run(db, S_EV, err, errlen);
}

uint64_t
trace_db_used(struct trace_db *db)
{
	int64_t pages = pragma_int(db, "PRAGMA page_count");
	int64_t free_pages = pragma_int(db, "PRAGMA freelist_count");
	int64_t size = pragma_int(db, "PRAGMA page_size");

	return pages > free_pages && size > 0 ? (uint64_t)(pages - free_pages) * (uint64_t)size
					      : 0;
}

/* The largest id of the first chunk of st's ids below cut, or 0. */
static int
first_chunk(struct trace_db *db, enum stmt s, sqlite3_int64 cut, unsigned chunk,
	    sqlite3_int64 *bound, char *err, size_t errlen)
{
	sqlite3_stmt *st = db->st[s];
	int rc;

	*bound = 0;
	sqlite3_bind_int64(st, 1, cut);
	sqlite3_bind_int(st, 2, (int)chunk);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
		*bound = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, SQL[s], err, errlen);
	return 0;
}

long
trace_db_prune(struct trace_db *db, int64_t before_ms, uint64_t max_size, unsigned chunk,
	       char *err, size_t errlen)
{
	sqlite3_int64 cut = before_ms > 0 ? (sqlite3_int64)(before_ms / 1000) << 32 : 0;
	sqlite3_int64 bound;
	long n;

	if (max_size > 0 && trace_db_used(db) > max_size)
		cut = INT64_MAX;	/* the oldest, whatever their age */
	if (cut <= 0)
		return 0;
	/* a chunk of messages; or, with none that old, of events whose
	   message has no row */
	if (first_chunk(db, S_BOUND, cut, chunk, &bound, err, errlen) < 0 ||
	    (bound == 0 && first_chunk(db, S_BOUND_EV, cut, chunk, &bound, err, errlen) < 0))
		return -EIO;
	if (bound == 0)
		return 0;
	if (trace_db_begin(db, err, errlen) < 0)
		return -EIO;
	sqlite3_bind_int64(db->st[S_DEL_MSG], 1, bound);
	if (run(db, S_DEL_MSG, err, errlen) < 0)
		goto fail;
	n = sqlite3_changes(db->db);
	sqlite3_bind_int64(db->st[S_DEL_RCPT], 1, bound);
	if (run(db, S_DEL_RCPT, err, errlen) < 0)
		goto fail;
	sqlite3_bind_int64(db->st[S_DEL_EV], 1, bound);
	if (run(db, S_DEL_EV, err, errlen) < 0)
		goto fail;
	if (n == 0)
		n = sqlite3_changes(db->db) > 0;	/* events only: go on */
	if (trace_db_commit(db, err, errlen) < 0)
		return -EIO;
	/* hand the freed pages back, a bounded number per step */
	sqlite3_exec(db->db, "PRAGMA incremental_vacuum(2000)", NULL, NULL, NULL);
	return n;
fail:
	trace_db_rollback(db);
	return -EIO;
}
