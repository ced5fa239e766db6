/*
 * trace_sql tests: a pattern's LIKE prefix with '%', '_' and '\' escaped,
 * and the query of each filter, where nothing the operator typed reaches
 * the SQL text (hostile quotes, %, _, * and ? in patterns stay in bound
 * parameters).  Then the whole path on a real database (trace_db,
 * trace_query): records stored, found by id, sender, recipient (exact,
 * glob, hostile patterns that must match literally), status and time, and
 * pruned by age and by size.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctl/ctl_trace_parse.h"
#include "core/trace/trace_db.h"
#include "core/trace/trace_query.h"
#include "core/trace/trace_rec.h"
#include "core/trace/trace_sql.h"

Test(trace_sql, like_prefix)
{
	static const struct {
		const char *glob, *like;
		bool has;
	} t[] = {
		{ "bob@*", "bob@%", true },
		{ "*@example.com", "", false },
		{ "?ob@x", "", false },
		{ "100%_off@*", "100\\%\\_off@%", true },
		{ "a\\b*", "a\\\\b%", true },
		{ "o'brien@x*", "o'brien@x%", true },	/* a quote is just a byte */
		{ "x_y?z", "x\\_y%", true },
	};
	char out[64];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_assert_eq(trace_sql_like_prefix(t[i].glob, out, sizeof(out)), t[i].has,
			     "%s", t[i].glob);
		cr_assert_str_eq(out, t[i].like, "%s", t[i].glob);
	}
	/* a prefix cut by the room left still ends in '%' */
	cr_assert(trace_sql_like_prefix("abcdefghij*", out, 6));
	cr_assert_str_eq(out, "abcd%");	/* and its NUL: 6 bytes */
}

/* Every byte of p that is not a wildcard or a LIKE special becomes 'a'. */
static void
shape(char *p)
{
	for (; *p != '\0'; p++)
		if (strchr("*?%_\\", *p) == NULL)
			*p = 'a';
}

Test(trace_sql, hostile_patterns_stay_parameters)
{
	static const char *const pats[] = {
		"x' OR '1'='1", "'; DROP TABLE msg; --", "%", "_", "*", "\\", "a\"b", "?*%_",
	};
	struct trace_filter f;
	struct trace_sql q, q2;

	for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++) {
		memset(&f, 0, sizeof(f));
		f.has_sender = f.has_rcpt = true;
		snprintf(f.sender, sizeof(f.sender), "%s", pats[i]);
		snprintf(f.rcpt, sizeof(f.rcpt), "%s", pats[i]);
		cr_assert_eq(trace_sql_build(&f, &q), 0);
		cr_assert_null(strstr(q.text, "DROP"), "%s", q.text);
		cr_assert_null(strstr(q.text, "OR '"), "%s", q.text);
		/* the text is the builder's shape for such a pattern, whatever
		   its other bytes: the same as for a pattern of 'a's */
		shape(f.sender);
		shape(f.rcpt);
		cr_assert_eq(trace_sql_build(&f, &q2), 0);
		cr_assert_str_eq(q.text, q2.text);
		cr_assert_leq(q.np, TRACE_SQL_PARAMS);
	}
	memset(&f, 0, sizeof(f));
	f.limit = TRACE_LIMIT_MAX + 1;
	cr_assert_eq(trace_sql_build(&f, &q), -EINVAL);
}

Test(trace_sql, shapes)
{
	struct trace_filter f = { .id = 0x6B15B70901000000ull, .since = 1000, .until = 2000,
				  .seen = TRACE_SEEN_EXPIRED, .limit = 5 };
	struct trace_sql q;

	f.has_sender = true;			/* the null sender */
	f.has_rcpt = true;
	snprintf(f.rcpt, sizeof(f.rcpt), "Bob@Example.Test");
	cr_assert_eq(trace_sql_build(&f, &q), 0);
	cr_assert_not_null(strstr(q.text, "id = ?"));
	cr_assert_not_null(strstr(q.text, "sender = ''"));
	cr_assert_not_null(strstr(q.text, "addr = ? COLLATE NOCASE"));	/* plain: exact */
	cr_assert_null(strstr(q.text, "trace_glob"));
	cr_assert_eq(q.p[1].i, trace_sql_id_of(1000));
	cr_assert_eq(q.p[2].i, trace_sql_id_of(2001));	/* until takes its second */
	cr_assert_eq(q.p[q.np - 1].i, 6);		/* one more than the limit */
}

/* ---- on a real database ---- */

static char dir[64], path[128];
static struct trace_db *db;
static struct trace_enc enc;

static void
setup(void)
{
	char err[256];

	snprintf(dir, sizeof(dir), "/tmp/trace_test.XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/trace.db", dir);
	cr_assert_eq(trace_db_open(&db, path, err, sizeof(err)), 0, "%s", err);
}

static void
teardown(void)
{
	char cmd[128];

	trace_db_close(db);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	cr_assert_eq(system(cmd), 0);
}

/* Store the record in enc. */
static void
put(void)
{
	struct trace_rec rec;
	char err[256];

	cr_assert_eq(trace_rec_decode(enc.buf, trace_enc_end(&enc), &rec), 0);
	cr_assert_eq(trace_db_put(db, &rec, err, sizeof(err)), 0, "%s", err);
}

/* Message id made at unix second s, received from sender for rcpt. */
static uint64_t
received(int64_t s, unsigned n, const char *sender, const char *rcpt)
{
	uint64_t id = ((uint64_t)s << 32) | n;

	trace_enc_init(&enc, TRACE_RECEIVED, id, s * 1000);
	trace_enc_str(&enc, TRACE_S_SENDER, sender);
	trace_enc_str(&enc, TRACE_S_CLIENT, "127.0.0.1");
	trace_enc_num(&enc, TRACE_N_SIZE, 100);
	trace_enc_rcpt(&enc, rcpt);
	put();
	return id;
}

static void
attempt(uint64_t id, enum trace_result r, const char *rcpt)
{
	trace_enc_init(&enc, TRACE_ATTEMPT, id, (int64_t)(id >> 32) * 1000 + 5);
	trace_enc_result(&enc, r);
	trace_enc_str(&enc, TRACE_S_CONNECTOR, "default");
	trace_enc_num(&enc, TRACE_N_MS, 3);
	trace_enc_rcpt(&enc, rcpt);
	put();
}

/* How many messages f finds. */
static size_t
count(struct trace_filter *f)
{
	struct trace_found res;
	char err[256];
	size_t n;

	cr_assert_eq(trace_query(path, f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0,
		     "%s", err);
	n = res.n;
	trace_found_free(&res);
	return n;
}

static size_t
by_rcpt(const char *pat)
{
	struct trace_filter f = { .has_rcpt = true };

	snprintf(f.rcpt, sizeof(f.rcpt), "%s", pat);
	return count(&f);
}

Test(trace_sql, database, .init = setup, .fini = teardown)
{
	struct trace_filter f;
	struct trace_found res;
	char err[256];
	uint64_t a, b, c;

	cr_assert_eq(trace_db_begin(db, err, sizeof(err)), 0);
	a = received(2000000000, 1, "alice@client.test", "bob@example.test");
	attempt(a, TRACE_R_DEFERRED, "bob@example.test");
	attempt(a, TRACE_R_DELIVERED, "bob@example.test");
	b = received(2000000100, 2, "", "100%_off@example.test");
	attempt(b, TRACE_R_BOUNCED, "100%_off@example.test");
	c = received(2000000200, 3, "o'brien@client.test", "x'y@example.test");
	/* an event of a message the trace never saw received */
	attempt(((uint64_t)2000000300 << 32) | 4, TRACE_R_DELIVERED, "late@example.test");
	cr_assert_eq(trace_db_commit(db, err, sizeof(err)), 0);

	memset(&f, 0, sizeof(f));
	cr_assert_eq(count(&f), 3);
	f.id = ((uint64_t)2000000300 << 32) | 4;	/* found by its id only */
	cr_assert_eq(trace_query(path, &f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0);
	cr_assert_eq(res.n, 1);
	cr_assert_null(res.msgs[0].sender);
	cr_assert_eq(res.msgs[0].nev, 1);
	cr_assert_str_eq(res.msgs[0].status, "delivered");
	trace_found_free(&res);
	f.id = a;
	cr_assert_eq(trace_query(path, &f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0);
	cr_assert_eq(res.n, 1);
	cr_assert_eq(res.msgs[0].nev, 3);			/* in order */
	cr_assert_str_eq(res.msgs[0].ev[0].kind, "received");
	cr_assert_str_eq(res.msgs[0].ev[1].result, "deferred");
	cr_assert_str_eq(res.msgs[0].ev[2].result, "delivered");
	cr_assert_str_eq(res.msgs[0].status, "delivered");
	cr_assert_str_eq(res.msgs[0].sender, "alice@client.test");
	trace_found_free(&res);

	cr_assert_eq(by_rcpt("bob@example.test"), 1);
	cr_assert_eq(by_rcpt("BOB@EXAMPLE.TEST"), 1);		/* case-blind */
	cr_assert_eq(by_rcpt("bob@*"), 1);
	cr_assert_eq(by_rcpt("*@example.test"), 3);
	cr_assert_eq(by_rcpt("b?b@example.test"), 1);
	cr_assert_eq(by_rcpt("%"), 0);				/* literal, not LIKE's */
	cr_assert_eq(by_rcpt("_ob@example.test"), 0);
	cr_assert_eq(by_rcpt("100%_off@*"), 1);
	cr_assert_eq(by_rcpt("100%?off@*"), 1);
	cr_assert_eq(by_rcpt("1000off@*"), 0);
	cr_assert_eq(by_rcpt("x'y@example.test"), 1);		/* quotes */
	cr_assert_eq(by_rcpt("x' OR '1'='1"), 0);
	cr_assert_eq(by_rcpt("late@example.test"), 0);		/* no row: by id only */

	memset(&f, 0, sizeof(f));
	f.has_sender = true;					/* <> */
	cr_assert_eq(count(&f), 1);
	snprintf(f.sender, sizeof(f.sender), "o'brien@*");
	cr_assert_eq(count(&f), 1);
	memset(&f, 0, sizeof(f));
	f.seen = TRACE_SEEN_BOUNCED;
	cr_assert_eq(count(&f), 1);
	f.seen = TRACE_SEEN_DEFERRED;
	cr_assert_eq(count(&f), 1);
	memset(&f, 0, sizeof(f));
	f.since = 2000000100;
	f.until = 2000000200;
	cr_assert_eq(count(&f), 2);
	f.limit = 1;
	cr_assert_eq(trace_query(path, &f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0);
	cr_assert(res.n == 1 && res.more);
	cr_assert_eq(res.msgs[0].id, c);			/* newest first */
	trace_found_free(&res);

	/* retention: everything made before 2000000150 goes, a chunk at a time */
	cr_assert_eq(trace_db_prune(db, 2000000150LL * 1000, 0, 1, err, sizeof(err)), 1);
	cr_assert_eq(trace_db_prune(db, 2000000150LL * 1000, 0, 1, err, sizeof(err)), 1);
	cr_assert_eq(trace_db_prune(db, 2000000150LL * 1000, 0, 1, err, sizeof(err)), 0);
	memset(&f, 0, sizeof(f));
	cr_assert_eq(count(&f), 1);
	cr_assert_eq(by_rcpt("bob@example.test"), 0);		/* recipients too */
	f.id = a;						/* and events */
	cr_assert_eq(trace_query(path, &f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0);
	cr_assert_eq(res.n, 0);
	trace_found_free(&res);
	/* events of a message without a row go by the same rule */
	f.id = ((uint64_t)2000000300 << 32) | 4;
	cr_assert_eq(trace_db_prune(db, 2000000400LL * 1000, 0, 1, err, sizeof(err)), 1);	/* c */
	cr_assert_eq(trace_db_prune(db, 2000000400LL * 1000, 0, 1, err, sizeof(err)), 1);	/* it */
	cr_assert_eq(trace_db_prune(db, 2000000400LL * 1000, 0, 1, err, sizeof(err)), 0);
	cr_assert_eq(trace_query(path, &f, ctl_trace_glob, 2000, &res, err, sizeof(err)), 0);
	cr_assert_eq(res.n, 0);
	trace_found_free(&res);
	memset(&f, 0, sizeof(f));
	cr_assert_eq(count(&f), 0);
	/* size: over max_size, the oldest go whatever their age */
	received(2000000500, 5, "a@b", "c@d");
	received(2000000600, 6, "a@b", "c@d");
	cr_assert_eq(trace_db_prune(db, 0, 1, 1, err, sizeof(err)), 1);
	cr_assert_eq(count(&f), 1);
	cr_assert_gt(trace_db_used(db), 0);
}

Test(trace_sql, no_database)
{
	struct trace_filter f = { 0 };
	struct trace_found res;
	char err[256];

	cr_assert_eq(trace_query("/nonexistent/trace.db", &f, ctl_trace_glob, 100, &res, err,
				 sizeof(err)), -ENOENT);
}
