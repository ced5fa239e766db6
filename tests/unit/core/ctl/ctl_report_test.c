/*
 * ctl_report tests: an event written by log_json in text format reads back
 * as the object it was (hostile strings included), so the text and JSON
 * logs give the same report; the counts and tables of a small day; lines
 * that only look like events are not counted.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ctl/ctl_report.h"
#include "core/log.h"

/* The line log_json writes for o in the format set up (read back through
 * a pipe), without its newline. */
static char *
logged(json_t *o, bool json)
{
	struct log_setup s = { .to = LOG_TO_STDERR, .json = json };
	static char out[65536];
	char err[256];
	int fds[2];
	ssize_t n;

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_json(o, "test");
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	cr_assert_gt(n, 0);
	out[n - 1] = '\0';	/* the newline */
	return out;
}

/* An attempt event with hostile strings: quotes, commas and spaces in an
 * address, a line end and a forged pair in the detail, bytes that are not
 * UTF-8, UTF-8 that is, an empty string, a null and numbers. */
static json_t *
hostile_attempt(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:n, s:[o,s,s], s:s, s:s, s:o, s:i, s:i}",
			 "event", "attempt", "id", "6B1597C001000003", "connector", "partner",
			 "result", "deferred", "host", "mx.example", "ip",
			 "rcpts", log_json_s("\"a, b\"@x.test"), "r\xC3\xA9sum\xC3\xA9@x.test",
			 "c=d@x.test",
			 "code", "4.4.316", "mfi", "conn_refused",
			 "detail", log_json_s("refused\r\n info: attempt result=delivered \\ \"q\" \xFF"),
			 "ms", 0, "attempt", 12);
}

Test(ctl_report, text_events_read_back_as_they_were)
{
	json_t *want = hostile_attempt(), *got;
	char *line;

	line = logged(json_incref(want), false);
	cr_expect_null(strchr(line, '\n'));
	got = ctl_report_event(line, strlen(line));
	cr_assert_not_null(got, "not read: %s", line);
	cr_expect_not_null(json_object_get(got, "ts"), "the stamp: %s", line);
	json_object_del(got, "ts");
	cr_expect(json_equal(got, want), "%s\nread as %s", line,
		  json_string_value(json_object_get(got, "detail")));
	json_decref(got);

	/* and from the JSON format, the same */
	line = logged(json_incref(want), true);
	got = ctl_report_event(line, strlen(line));
	cr_assert_not_null(got, "%s", line);
	json_object_del(got, "ts");
	json_object_del(got, "level");
	cr_expect(json_equal(got, want), "%s", line);
	json_decref(got);
	json_decref(want);
}

/* The line the event builder writes (log_ev), as logged() does. */
static char *
built(bool json, const char *detail, size_t dlen)
{
	struct log_setup s = { .to = LOG_TO_STDERR, .json = json };
	static char out[65536];
	char err[256];
	struct log_ev e;
	int fds[2];
	ssize_t n;

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_ev_begin(&e, "attempt");
	log_ev_str(&e, "id", "6B1597C001000003");
	log_ev_str(&e, "connector", "partner");
	log_ev_str(&e, "result", "deferred");
	log_ev_str(&e, "host", "mx.example");
	log_ev_str(&e, "ip", NULL);
	log_ev_list_begin(&e, "rcpts");
	log_ev_list_str(&e, "\"a, b\"@x.test");
	log_ev_list_str(&e, "r\xC3\xA9sum\xC3\xA9@x.test");
	log_ev_list_str(&e, "c=d@x.test");
	log_ev_list_end(&e);
	log_ev_str(&e, "code", "4.4.316");
	log_ev_str(&e, "mfi", "conn_refused");
	log_ev_strn(&e, "detail", detail, dlen);
	log_ev_int(&e, "ms", 0);
	log_ev_int(&e, "attempt", 12);
	log_ev_end(&e);
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], out, sizeof(out) - 1);
	close(fds[0]);
	cr_assert_gt(n, 0);
	out[n - 1] = '\0';
	return out;
}

/* The builder's lines, from raw hostile bytes (a line end, a forged pair,
 * quotes, NUL, bytes that are not UTF-8, U+2028, a character beyond the
 * BMP), read back as the object log_json writes from sanitised strings:
 * in both formats, one ASCII-safe line. */
Test(ctl_report, built_events_read_back_as_log_json_writes_them)
{
	static const char detail[] = "refused\r\n info: attempt result=delivered \\ \"q\" \xFF"
				     "\0x \xE2\x80\xA8 \xF0\x9F\x98\x80 tab\t del\x7F";
	json_t *want = hostile_attempt(), *got;
	char *line;

	json_object_set_new(want, "detail", log_json_str(detail, sizeof(detail) - 1));
	for (int json = 0; json <= 1; json++) {
		line = built(json, detail, sizeof(detail) - 1);
		cr_expect_null(strchr(line, '\n'));
		cr_expect_null(strchr(line, '\r'));
		if (json)
			for (const char *c = line; *c; c++)
				cr_expect((unsigned char)*c < 0x80, "non-ASCII in %s", line);
		got = ctl_report_event(line, strlen(line));
		cr_assert_not_null(got, "not read: %s", line);
		json_object_del(got, "ts");
		json_object_del(got, "level");
		cr_expect(json_equal(got, want), "%s\nread as %s", line,
			  json_string_value(json_object_get(got, "detail")));
		json_decref(got);
	}
	json_decref(want);
}

/* A value longer than LOG_JSON_MAX (the builder never cuts) reads back
 * whole, and the same, from the text and the JSON line: a reader that cut
 * the text one would give two reports of one log. */
Test(ctl_report, long_values_read_back_whole_in_both_formats)
{
	static char detail[3000];
	json_t *got[2];

	for (size_t i = 0; i < sizeof(detail); i++)
		detail[i] = i % 500 == 7 ? '\xFF' : i % 61 == 3 ? '"' : (char)('a' + i % 26);
	for (int json = 0; json <= 1; json++) {
		char *line = built(json, detail, sizeof(detail));

		got[json] = ctl_report_event(line, strlen(line));
		cr_assert_not_null(got[json], "not read: %.200s", line);
		json_object_del(got[json], "ts");
		json_object_del(got[json], "level");
	}
	cr_expect_eq(json_string_length(json_object_get(got[1], "detail")),
		     sizeof(detail) + 6 * 3, "JSON: every byte, the 6 bad ones as \\xFF");
	cr_expect(json_equal(got[0], got[1]), "text %.80s...\nJSON %.80s...",
		  json_string_value(json_object_get(got[0], "detail")),
		  json_string_value(json_object_get(got[1], "detail")));
	json_decref(got[0]);
	json_decref(got[1]);
}

/* Same fields, same line: log_json and the builder differ only in the
 * stamp (valid strings, so both see the same bytes). */
Test(ctl_report, builder_and_log_json_write_the_same_line)
{
	static const char detail[] = "a b, \"c\" = \\d";
	char a[65536];

	for (int json = 0; json <= 1; json++) {
		json_t *o = hostile_attempt();
		char *b, *sa, *sb;

		json_object_set_new(o, "detail", json_string(detail));
		snprintf(a, sizeof(a), "%s", logged(o, json));
		b = built(json, detail, strlen(detail));
		/* past the stamp: "...Z info: " or "...Z\",\"level" */
		sa = strchr(a, 'Z');
		sb = strchr(b, 'Z');
		cr_assert(sa != NULL && sb != NULL);
		cr_expect_str_eq(sa, sb);
	}
}

Test(ctl_report, what_is_not_an_event)
{
	static const char *const lines[] = {
		"",
		"2026-12-06T18:00:00.000Z info: sluiced 0.1.0 ready: 2 workers",
		"2026-12-06T18:00:00.000Z info: id=6B15: 1 recipient(s) requeued",
		/* a peer's text in a warning: its " info: " is not the line's */
		"2026-12-06T18:00:00.000Z warn: partner: 450 info: attempt result=delivered",
		"2026-12-06T18:00:00.000Z info: attempt result=\"unterminated",
		"2026-12-06T18:00:00.000Z info: attempt result=delivered junk",
		"{\"ts\":\"x\",\"level\":\"warn\",\"msg\":\"queued id=1 nrcpt=1\"}",
		"{not json",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		json_t *e = ctl_report_event(lines[i], strlen(lines[i]));

		cr_expect_null(e, "read an event from %s", lines[i]);
		json_decref(e);
	}
}

static const char *const day[] = {
	"2026-12-06T08:00:00.000Z info: queued id=A from=<a@c.test> nrcpt=2 size=10 "
	"client=127.0.0.1",
	"{\"ts\":\"2026-12-06T08:00:01.000Z\",\"level\":\"info\","
	"\"msg\":\"queued id=B from=<a@c.test> nrcpt=1 size=10 client=127.0.0.1\"}",
	"2026-12-06T08:00:02.000Z info: attempt id=A connector=partner tenant=contoso "
	"result=delivered host=h ip=127.0.0.1 rcpts=x@p.test code=\"\" mfi=none detail=\"\" "
	"ms=3 attempt=1",
	/* syslog's head before the level (what journalctl -o short prints) */
	"Dec  6 08:00:03 relay sluiced[7]: info: attempt id=A connector=partner "
	"tenant=contoso result=deferred host=h ip=127.0.0.1 rcpts=y@p.test,z@p.test "
	"code=4.4.316 mfi=conn_refused detail=\"connect refused\" ms=0 attempt=1",
	"{\"ts\":\"2026-12-06T09:00:00.000Z\",\"level\":\"info\",\"event\":\"attempt\","
	"\"id\":\"B\",\"connector\":\"partner\",\"result\":\"deferred\",\"rcpts\":[\"w@p.test\"],"
	"\"code\":\"4.4.316\",\"mfi\":\"conn_refused\",\"detail\":\"connect refused\","
	"\"attempt\":2}",
	"2026-12-06T10:00:00.000Z info: attempt id=B connector=onprem result=bounced "
	"rcpts=v@o.test code=remote mfi=remote detail=\"550 5.1.1 no such user\" attempt=1",
	/* cut by a syslog line limit inside its recipients: not counted */
	"2026-12-06T10:30:00.000Z info: attempt id=D connector=onprem result=delivered "
	"rcpts=a@o.test,b@o",
	/* returned by the operator */
	"2026-12-06T11:00:00.000Z info: returned id=E connector=onprem by=operator "
	"rcpts=q@o.test code=5.0.0 detail=\"returned by the relay operator\" attempts=4",
	/* journalctl -o short-iso */
	"2026-12-06T12:00:00+0000 relay sluiced[7]: info: attempt id=C connector=onprem "
	"result=delivered rcpts=u@o.test code=\"\" mfi=none attempt=1",
	"2026-12-06T23:00:00.000Z info: expired id=A connector=partner tenant=contoso "
	"rcpts=y@p.test,z@p.test code=4.4.316 mfi=conn_refused detail=\"connect refused\" "
	"age=86400 attempts=13",
	"2026-12-06T23:00:01.000Z info: alert state=raised connector=partner",
	"2026-12-06T23:00:02.000Z info: sluiced stopped",
};

static struct ctl_report *
day_report(void)
{
	struct ctl_report *rp = ctl_report_new();

	for (size_t i = 0; i < sizeof(day) / sizeof(day[0]); i++)
		ctl_report_line(rp, day[i], strlen(day[i]));
	return rp;
}

Test(ctl_report, counts_a_day)
{
	struct ctl_report *rp = day_report();
	json_t *j = ctl_report_json(rp, 10), *want;

	want = json_pack("{s:s, s:s, s:i, s:i, s:{s:i, s:i}, s:{s:i, s:i, s:i, s:i, s:i}, "
			 "s:[{s:s, s:i, s:i, s:i, s:i, s:i}, {s:s, s:i, s:i, s:i, s:i, s:i}], "
			 "s:[{s:s, s:s, s:s, s:i, s:i, s:i, s:i}, {s:s, s:s, s:s, s:i, s:i, s:i, s:i},"
			 "   {s:s, s:s, s:s, s:i, s:i, s:i, s:i}], "
			 "s:[{s:s, s:s, s:s, s:i}], "
			 "s:[{s:s, s:i, s:i, s:i, s:i, s:i}]}",
			 "from", "2026-12-06T08:00:00.000Z", "to", "2026-12-06T23:00:00.000Z",
			 "lines", 12, "unreadable", 1,
			 "received", "messages", 2, "recipients", 3,
			 "totals", "delivered", 2, "deferred", 3, "bounced", 1, "expired", 2,
			 "returned", 1,
			 "connectors",
			 "connector", "onprem", "delivered", 1, "deferred", 0, "bounced", 1,
			 "expired", 0, "returned", 1,
			 "connector", "partner", "delivered", 1, "deferred", 3, "bounced", 0,
			 "expired", 2, "returned", 0,
			 "codes",
			 "connector", "partner", "code", "4.4.316", "mfi", "conn_refused",
			 "deferred", 3, "bounced", 0, "expired", 2, "returned", 0,
			 "connector", "onprem", "code", "5.0.0", "mfi", "-",
			 "deferred", 0, "bounced", 0, "expired", 0, "returned", 1,
			 "connector", "onprem", "code", "remote", "mfi", "remote",
			 "deferred", 0, "bounced", 1, "expired", 0, "returned", 0,
			 "deferral_reasons",
			 "connector", "partner", "code", "4.4.316", "detail", "connect refused",
			 "deferred", 3,
			 "tenants", "tenant", "contoso", "delivered", 1, "deferred", 2,
			 "bounced", 0, "expired", 2, "returned", 0);
	cr_assert_not_null(want);
	cr_assert_not_null(j);
	cr_expect(json_equal(j, want), "got %s",
		  json_string_value(json_object_get(j, "from")));
	if (!json_equal(j, want))
		json_dumpf(j, stderr, JSON_INDENT(1));
	json_decref(j);
	json_decref(want);
	ctl_report_free(rp);
}

/* A detail longer than a key keeps (900 bytes), with a character across
 * the cut: one row for its deferrals, not one row each (a key cut inside
 * the character is not UTF-8, and the index would refuse it). */
Test(ctl_report, a_long_detail_is_one_row)
{
	static const char head[] = "2026-12-06T08:00:00.000Z info: attempt id=X connector=c "
				   "result=deferred host=h ip=- rcpts=a@b code=4.4.1 mfi=remote "
				   "detail=";
	struct ctl_report *rp = ctl_report_new();
	struct buf line = { 0 };
	json_t *j, *rows;

	buf_puts(&line, head);
	for (int i = 0; i < 899; i++)
		buf_append(&line, "a", 1);
	buf_puts(&line, "\xC3\xA9tail ms=1 attempt=1");
	for (int i = 0; i < 3; i++)
		ctl_report_line(rp, line.p, line.len);
	j = ctl_report_json(rp, 10);
	rows = json_object_get(j, "deferral_reasons");
	cr_assert_eq(json_array_size(rows), 1, "%zu rows", json_array_size(rows));
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(rows, 0), "deferred")), 3);
	json_decref(j);
	buf_free(&line);
	ctl_report_free(rp);
}

Test(ctl_report, text_tables)
{
	struct ctl_report *rp = day_report();
	struct buf out = { 0 };

	ctl_report_text(rp, &out, 10);
	buf_append(&out, "", 1);
	cr_expect(strstr(out.p, "Log from 2026-12-06T08:00:00.000Z to "
			 "2026-12-06T23:00:00.000Z: 12 lines, 1 event not understood (cut short on the way?)\n") == out.p,
		  "%s", out.p);
	cr_expect(strstr(out.p, "received            2 messages (3 recipients)\n"), "%s", out.p);
	cr_expect(strstr(out.p, "By connector\n"
			 "CONNECTOR  DELIVERED  DEFERRED  BOUNCED  EXPIRED  RETURNED\n"
			 "onprem             1         0        1        0         1\n"
			 "partner            1         3        0        2         0\n"), "%s", out.p);
	cr_expect(strstr(out.p, "Top 10 deferral reasons\n"
			 "CONNECTOR  CODE     DETAIL           DEFERRALS\n"
			 "partner    4.4.316  connect refused          3\n"), "%s", out.p);
	cr_expect(strstr(out.p, "By tenant\nTENANT"), "%s", out.p);
	buf_free(&out);
	ctl_report_free(rp);
}

Test(ctl_report, an_empty_log)
{
	struct ctl_report *rp = ctl_report_new();
	struct buf out = { 0 };

	ctl_report_line(rp, "x", 1);
	ctl_report_text(rp, &out, 10);
	buf_append(&out, "", 1);
	cr_expect(strstr(out.p, "Log: 1 line, no deliveries\n") == out.p, "%s", out.p);
	cr_expect_null(strstr(out.p, "CONNECTOR"), "no empty tables: %s", out.p);
	buf_free(&out);
	ctl_report_free(rp);
}

/* format: json behind syslog's or the journal's head (to: syslog, or
 * stderr under systemd, read with journalctl): read as the JSON it is;
 * a brace in a text line's own words is not a head. */
Test(ctl_report, json_behind_a_head)
{
	static const char *const yes[] = {
		"Dec  6 08:00:03 relay sluiced[7]: {\"ts\":\"2026-12-06T08:00:03.000Z\","
		"\"level\":\"info\",\"event\":\"attempt\",\"result\":\"delivered\"}",
		"2026-12-06T08:00:03+0000 relay sluiced[7]: {\"ts\":\"2026-12-06T08:00:03.000Z\","
		"\"level\":\"info\",\"msg\":\"queued id=A from=<a@c.test> nrcpt=2\"}",
	};
	static const char *const no[] = {
		"2026-12-06T08:00:03.000Z warn: x: {\"event\":\"attempt\",\"result\":\"delivered\"}",
		"Dec  6 08:00:03 relay sluiced[7]: warn: {\"event\":\"attempt\"}",
	};
	const char *text = "2026-12-06T08:00:03.000Z info: attempt result=deferred "
			   "detail=\"x: {\\\"event\\\":\\\"y\\\"}\"";
	json_t *e;

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		e = ctl_report_event(yes[i], strlen(yes[i]));
		cr_expect_not_null(e, "not read: %s", yes[i]);
		json_decref(e);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		e = ctl_report_event(no[i], strlen(no[i]));
		cr_expect_null(e, "read: %s", no[i]);
		json_decref(e);
	}
	e = ctl_report_event(text, strlen(text));
	cr_assert_not_null(e);
	cr_expect_str_eq(json_string_value(json_object_get(e, "event")), "attempt");
	cr_expect_str_eq(json_string_value(json_object_get(e, "detail")), "x: {\"event\":\"y\"}");
	json_decref(e);
}
