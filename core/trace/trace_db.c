/*
 * trace_db — the writer's side of the trace database (core/trace/trace_db.h).
 *
 * Every statement is prepared once at open and reset after each use; a
 * record costs one INSERT into ev and one UPDATE of its msg row (an
 * INSERT of the row and of each recipient for "received").  An event of
 * a message that has no row (received before the trace was on, or pruned
 * while still queued) makes a bare row with the recipients the event
 * names, so a query by id or recipient still finds it.
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

#include "core/xalloc.h"

#define SCHEMA_VERSION	1

static const char SCHEMA[] =
	"CREATE TABLE IF NOT EXISTS msg ("
	" id INTEGER PRIMARY KEY, t INTEGER NOT NULL, client TEXT, sender TEXT,"
	" tenant TEXT, size INTEGER, nrcpt INTEGER, ref INTEGER,"
	" seen INTEGER NOT NULL DEFAULT 0, status TEXT NOT NULL DEFAULT 'received');"
	"CREATE INDEX IF NOT EXISTS msg_sender ON msg(sender COLLATE NOCASE);"
	"CREATE TABLE IF NOT EXISTS rcpt (msg INTEGER NOT NULL, addr TEXT NOT NULL,"
	" PRIMARY KEY (msg, addr)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS rcpt_addr ON rcpt(addr COLLATE NOCASE);"
	"CREATE TABLE IF NOT EXISTS ev ("
	" msg INTEGER NOT NULL, t INTEGER NOT NULL, kind TEXT NOT NULL, result TEXT,"
	" connector TEXT, host TEXT, ip TEXT, code TEXT, mfi TEXT, reply INTEGER,"
	" detail TEXT, ms INTEGER, attempt INTEGER, rcpts TEXT, ref INTEGER);"
	"CREATE INDEX IF NOT EXISTS ev_msg ON ev(msg);";

enum stmt {
	S_BEGIN, S_COMMIT, S_MSG, S_RCPT, S_EV, S_SEEN, S_BARE,
	S_BOUND, S_DEL_MSG, S_DEL_RCPT, S_DEL_EV, S_DEL_ORPHANS, S_NSTMT
};

static const char *const SQL[S_NSTMT] = {
	[S_BEGIN] = "BEGIN",
	[S_COMMIT] = "COMMIT",
	[S_MSG] = "INSERT OR REPLACE INTO msg (id, t, client, sender, tenant, size, nrcpt,"
		  " ref, seen, status) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 'received')",
	[S_RCPT] = "INSERT OR IGNORE INTO rcpt (msg, addr) VALUES (?1, ?2)",
	[S_EV] = "INSERT INTO ev (msg, t, kind, result, connector, host, ip, code, mfi, reply,"
		 " detail, ms, attempt, rcpts, ref) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8,"
		 " ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
	[S_SEEN] = "UPDATE msg SET seen = seen | ?2, status = coalesce(?3, status)"
		   " WHERE id = ?1",
	[S_BARE] = "INSERT OR IGNORE INTO msg (id, t, sender, tenant, seen, status)"
		   " VALUES (?1, ?2, NULL, ?3, ?4, coalesce(?5, 'received'))",
	[S_BOUND] = "SELECT max(id) FROM (SELECT id FROM msg WHERE id < ?1 ORDER BY id"
		    " LIMIT ?2)",
	[S_DEL_MSG] = "DELETE FROM msg WHERE id <= ?1",
	[S_DEL_RCPT] = "DELETE FROM rcpt WHERE msg <= ?1",
	[S_DEL_EV] = "DELETE FROM ev WHERE msg <= ?1",
	[S_DEL_ORPHANS] = "DELETE FROM ev WHERE rowid IN (SELECT rowid FROM ev WHERE"
			  " msg < ?1 LIMIT ?2)",
};

struct trace_db {
	sqlite3 *db;			/* read-write connection */
	sqlite3_stmt *st[S_NSTMT];	/* prepared once */
};

/* "what: sqlite's message" into err; -EIO. */
static int
db_fail(struct trace_db *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what, db->db ? sqlite3_errmsg(db->db) : "out of memory");
	return -EIO;
}

/* Run one statement of st and reset it: SQLITE_DONE or SQLITE_ROW is fine. */
static int
run(struct trace_db *db, enum stmt s, char *err, size_t errlen)
{
	int rc = sqlite3_step(db->st[s]);

	sqlite3_reset(db->st[s]);
	sqlite3_clear_bindings(db->st[s]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return db_fail(db, SQL[s], err, errlen);
	return 0;
}

int
trace_db_open(struct trace_db **out, const char *path, char *err, size_t errlen)
{
	struct trace_db *db = xcalloc(1, sizeof(*db));
	char *msg = NULL;
	int rc;

	*out = NULL;
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
			  "PRAGMA journal_size_limit = 67108864;", NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->db, SCHEMA, NULL, NULL, &msg);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db->db, "PRAGMA user_version = 1", NULL, NULL, &msg);
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

unsigned
trace_seen_bit(enum trace_kind k, enum trace_result r)
{
	switch (k) {
	case TRACE_ATTEMPT:
		return r == TRACE_R_DELIVERED ? TRACE_SEEN_DELIVERED
		       : r == TRACE_R_DEFERRED ? TRACE_SEEN_DEFERRED
		       : r == TRACE_R_BOUNCED ? TRACE_SEEN_BOUNCED : 0;
	case TRACE_EXPIRED:
		return TRACE_SEEN_EXPIRED;
	case TRACE_NDR:
		return r == TRACE_R_SENT ? TRACE_SEEN_RETURNED : 0;
	case TRACE_BOUNCE:
	case TRACE_FIXNOW:
		return TRACE_SEEN_BOUNCED;
	default:
		return 0;
	}
}

const char *
trace_status_word(enum trace_kind k, enum trace_result r)
{
	switch (k) {
	case TRACE_RECEIVED: return "received";
	case TRACE_ATTEMPT: return trace_result_name(r);
	case TRACE_EXPIRED: return "expired";
	case TRACE_NDR: return r == TRACE_R_SENT ? "returned" : NULL;
	case TRACE_HOLD: return "held";
	case TRACE_RELEASE: return "released";
	case TRACE_DELETE: return "deleted";
	case TRACE_BOUNCE: return "bounced";
	case TRACE_REQUEUE: return "requeued";
	case TRACE_FIXNOW: return "bounced";
	default: return NULL;
	}
}

/* Bind string slot of rec to parameter i of st (NULL when absent). */
static void
bind_str(sqlite3_stmt *st, int i, const struct trace_rec *rec, enum trace_str slot)
{
	if (rec->str[slot] != NULL)
		sqlite3_bind_text(st, i, rec->str[slot], rec->len[slot], SQLITE_STATIC);
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
	const char *status = trace_status_word(rec->kind, rec->result);
	unsigned seen = trace_seen_bit(rec->kind, rec->result);
	char rcpts[TRACE_REC_MAX];
	size_t rlen = 0;

	if (rec->kind == TRACE_RECEIVED) {
		st = db->st[S_MSG];
		sqlite3_bind_int64(st, 1, id64(rec->id));
		sqlite3_bind_int64(st, 2, rec->t_ms);
		bind_str(st, 3, rec, TRACE_S_CLIENT);
		bind_str(st, 4, rec, TRACE_S_SENDER);
		bind_str(st, 5, rec, TRACE_S_TENANT);
		sqlite3_bind_int64(st, 6, rec->num[TRACE_N_SIZE]);
		sqlite3_bind_int64(st, 7, rec->num[TRACE_N_NRCPT]);
		if (rec->num[TRACE_N_REF] != 0)
			sqlite3_bind_int64(st, 8, id64((uint64_t)rec->num[TRACE_N_REF]));
		if (run(db, S_MSG, err, errlen) < 0 || put_rcpts(db, rec, err, errlen) < 0)
			return -EIO;
	}
	join_rcpts(rec, rcpts, sizeof(rcpts), &rlen);
	st = db->st[S_EV];
	sqlite3_bind_int64(st, 1, id64(rec->id));
	sqlite3_bind_int64(st, 2, rec->t_ms);
	sqlite3_bind_text(st, 3, trace_kind_name(rec->kind), -1, SQLITE_STATIC);
	if (trace_result_name(rec->result) != NULL)
		sqlite3_bind_text(st, 4, trace_result_name(rec->result), -1, SQLITE_STATIC);
	bind_str(st, 5, rec, TRACE_S_CONNECTOR);
	bind_str(st, 6, rec, TRACE_S_HOST);
	bind_str(st, 7, rec, TRACE_S_IP);
	bind_str(st, 8, rec, TRACE_S_CODE);
	bind_str(st, 9, rec, TRACE_S_MFI);
	if (rec->num[TRACE_N_REPLY] != 0)
		sqlite3_bind_int64(st, 10, rec->num[TRACE_N_REPLY]);
	bind_str(st, 11, rec, TRACE_S_DETAIL);
	if (rec->kind == TRACE_ATTEMPT || rec->kind == TRACE_EXPIRED)
		sqlite3_bind_int64(st, 12, rec->num[TRACE_N_MS]);
	if (rec->num[TRACE_N_ATTEMPT] != 0)
		sqlite3_bind_int64(st, 13, rec->num[TRACE_N_ATTEMPT]);
	sqlite3_bind_text(st, 14, rcpts, (int)rlen, SQLITE_STATIC);
	if (rec->num[TRACE_N_REF] != 0)
		sqlite3_bind_int64(st, 15, id64((uint64_t)rec->num[TRACE_N_REF]));
	if (run(db, S_EV, err, errlen) < 0)
		return -EIO;
	if (rec->kind == TRACE_RECEIVED)
		return 0;
	st = db->st[S_SEEN];
	sqlite3_bind_int64(st, 1, id64(rec->id));
	sqlite3_bind_int(st, 2, (int)seen);
	if (status != NULL)
		sqlite3_bind_text(st, 3, status, -1, SQLITE_STATIC);
	if (run(db, S_SEEN, err, errlen) < 0)
		return -EIO;
	if (sqlite3_changes(db->db) > 0)
		return 0;
	/* no row: a bare one, findable by id and by these recipients */
	st = db->st[S_BARE];
	sqlite3_bind_int64(st, 1, id64(rec->id));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(rec->id >> 32) * 1000);
	bind_str(st, 3, rec, TRACE_S_TENANT);
	sqlite3_bind_int(st, 4, (int)seen);
	if (status != NULL)
		sqlite3_bind_text(st, 5, status, -1, SQLITE_STATIC);
	if (run(db, S_BARE, err, errlen) < 0)
		return -EIO;
	return put_rcpts(db, rec, err, errlen);
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

uint64_t
trace_db_used(struct trace_db *db)
{
	int64_t pages = pragma_int(db, "PRAGMA page_count");
	int64_t free_pages = pragma_int(db, "PRAGMA freelist_count");
	int64_t size = pragma_int(db, "PRAGMA page_size");

	return pages > free_pages && size > 0 ? (uint64_t)(pages - free_pages) * (uint64_t)size
					      : 0;
}

long
trace_db_prune(struct trace_db *db, int64_t before_ms, uint64_t max_size, unsigned chunk,
	       char *err, size_t errlen)
{
	sqlite3_int64 cut = before_ms > 0 ? (sqlite3_int64)(before_ms / 1000) << 32 : 0;
	sqlite3_int64 bound;
	bool over = max_size > 0 && trace_db_used(db) > max_size;
	long n;
	int rc;

	if (over)
		cut = INT64_MAX;	/* the oldest, whatever their age */
	if (cut <= 0)
		return 0;
	sqlite3_bind_int64(db->st[S_BOUND], 1, cut);
	sqlite3_bind_int(db->st[S_BOUND], 2, (int)chunk);
	rc = sqlite3_step(db->st[S_BOUND]);
	if (rc == SQLITE_ROW && sqlite3_column_type(db->st[S_BOUND], 0) != SQLITE_NULL) {
		bound = sqlite3_column_int64(db->st[S_BOUND], 0);
	} else if (rc == SQLITE_ROW || rc == SQLITE_DONE) {
		sqlite3_reset(db->st[S_BOUND]);
		/* no message that old: events whose message row is gone */
		sqlite3_bind_int64(db->st[S_DEL_ORPHANS], 1, over ? 0 : cut);
		sqlite3_bind_int(db->st[S_DEL_ORPHANS], 2, (int)chunk);
		if (run(db, S_DEL_ORPHANS, err, errlen) < 0)
			return -EIO;
		return 0;
	} else {
		sqlite3_reset(db->st[S_BOUND]);
		return db_fail(db, SQL[S_BOUND], err, errlen);
	}
	sqlite3_reset(db->st[S_BOUND]);
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
	if (trace_db_commit(db, err, errlen) < 0)
		return -EIO;
	/* hand the freed pages back, a bounded number per step */
	sqlite3_exec(db->db, "PRAGMA incremental_vacuum(2000)", NULL, NULL, NULL);
	return n;
fail:
	trace_db_rollback(db);
	return -EIO;
}
