/*
 * log_sink_test — the shape of a line in each format and at each
 * destination: a text line, a JSON line (every line one object, with ts
 * and level first), a syslog datagram (head, priority per level and
 * facility, one datagram per line even from a batch, a reconnection after
 * syslogd restarts), a file (created 0640, reopened by name after a
 * rename), and the level filter.  Criterion runs each test in its own
 * process, so each may leave the log set up as it likes.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/log.h"

/* Everything written to the pipe so far (the write end is closed). */
static char *
drain(int fds[2])
{
	static char out[65536];
	size_t len = 0;
	ssize_t n;

	close(fds[1]);
	while ((n = read(fds[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)n;
	close(fds[0]);
	out[len] = '\0';
	return out;
}

static bool
matches(const char *s, const char *re)
{
	regex_t r;
	bool ok;

	cr_assert_eq(regcomp(&r, re, REG_EXTENDED | REG_NOSUB), 0, "%s", re);
	ok = regexec(&r, s, 0, NULL, 0) == 0;
	regfree(&r);
	return ok;
}

#define STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

Test(log_sink, text_lines_and_the_level)
{
	int fds[2];
	char *out;

	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	cr_expect_eq(log_get_level(), LOG_INFO, "info by default");
	log_debug("not shown");
	log_info("hello %s", LOG_FIELD("a b"));
	log_set_level(LOG_WARN);
	cr_expect_eq(log_get_level(), LOG_WARN);
	log_info("dropped");
	log_warn("careful");
	log_err("broken");
	out = drain(fds);
	cr_expect(matches(out, "^" STAMP " info: hello a\\\\x20b\n" STAMP " warn: careful\n"
			  STAMP " error: broken\n$"), "%s", out);
}

Test(log_sink, json_format_makes_every_line_an_object)
{
	struct log_setup s = { .to = LOG_TO_STDERR, .json = true };
	char err[256], *out, *line, *save = NULL;
	const char *keys[3];
	json_t *o;
	int fds[2], n = 0;

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_info("hello \"%s\"", LOG_TEXT("x\n{\"forged\":1}"));
	log_warn("bad byte \xFF kept apart");
	log_json(json_pack("{s:s, s:i}", "event", "attempt", "attempt", 2), "attempt");
	out = drain(fds);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_error_t e;
		void *it;
		size_t k = 0;

		o = json_loads(line, 0, &e);
		cr_assert_not_null(o, "line %d is not JSON (%s): %s", n, e.text, line);
		for (it = json_object_iter(o); it && k < 3; it = json_object_iter_next(o, it))
			keys[k++] = json_object_iter_key(it);
		cr_expect_str_eq(keys[0], "ts", "%s", line);
		cr_expect_str_eq(keys[1], "level", "%s", line);
		cr_expect(matches(json_string_value(json_object_get(o, "ts")), "^" STAMP "$"));
		if (n == 0) {
			cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "info");
			cr_expect_str_eq(json_string_value(json_object_get(o, "msg")),
					 "hello \"x\\x0A{\\\"forged\\\":1}\"");
		} else if (n == 1) {
			cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "warn");
			cr_expect_str_eq(json_string_value(json_object_get(o, "msg")),
					 "bad byte \\xFF kept apart");
		} else {
			cr_expect_str_eq(keys[2], "event");
			cr_expect_str_eq(json_string_value(json_object_get(o, "level")), "info");
			cr_expect_eq(json_integer_value(json_object_get(o, "attempt")), 2);
		}
		json_decref(o);
		n++;
	}
	cr_expect_eq(n, 3);
}

Test(log_sink, text_format_renders_events_as_key_value)
{
	int fds[2];
	char *out;

	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_json(json_pack("{s:s, s:s, s:s, s:[s,s,s], s:[], s:i, s:b, s:n, s:s}",
			   "event", "attempt", "result", "deferred",
			   "detail", "450 4.4.316 refused \"now\"",
			   "rcpts", "a@x.test", "\"b,c\"@x.test", "d e@x.test", "none",
			   "ms", 12, "tls", 1, "ip", "empty", ""),
		 "attempt");
	/* strings that would read back as a number, null, true or the empty
	   list are quoted (or escaped in a list) */
	log_json(json_pack("{s:s, s:s, s:s, s:s, s:[s,s]}", "event", "x", "a", "450", "b", "-",
			   "c", "true", "rcpts", "-", "12"), "x");
	/* a forged event inside a value stays inside it: the quote, the
	 * line end and the space are escaped */
	log_json(json_pack("{s:s, s:s}", "event", "alert",
			   "last_error", "x\"\ninfo: attempt result=delivered"), "alert");
	out = drain(fds);
	cr_expect(matches(out, "^" STAMP " info: attempt result=deferred "
			  "detail=\"450 4\\.4\\.316 refused \\\\\"now\\\\\"\" "
			  "rcpts=a@x\\.test,\\\\\"b\\\\x2Cc\\\\\"@x\\.test,"
			  "d\\\\x20e@x\\.test none=- ms=12 tls=true ip=- empty=\"\"\n"
			  STAMP " info: x a=\"450\" b=\"-\" c=\"true\" rcpts=\\\\x2D,12\n"
			  STAMP " info: alert last_error=\"x\\\\\"\\\\x0Ainfo: attempt "
			  "result=delivered\"\n$"), "%s", out);
}

/* A datagram socket bound at a fresh path, named by SLUICE_SYSLOG_SOCKET. */
static int
syslogd(char *path, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { 2, 0 };
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

	cr_assert_geq(fd, 0);
	snprintf(path, len, "/tmp/sluice-log-test-%d.sock", (int)getpid());
	unlink(path);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setenv("SLUICE_SYSLOG_SOCKET", path, 1);
	return fd;
}

static const char *
datagram(int fd)
{
	static char buf[8192];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	cr_assert_gt(n, 0, "no datagram: %s", strerror(errno));
	buf[n] = '\0';
	return buf;
}

#define HEAD(pri) "^<" pri ">[A-Z][a-z]{2} [ 1-3][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} sluiced\\[[0-9]+\\]: "

Test(log_sink, syslog_datagrams)
{
	struct log_setup s = { .to = LOG_TO_SYSLOG, .facility = 2 };
	char path[108], err[256];
	const char *d;
	int fd = syslogd(path, sizeof(path));

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	log_set_level(LOG_DEBUG);
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_err("e");
	cr_expect(matches(d = datagram(fd), HEAD("23") "debug: d$"), "%s", d);	/* mail.debug */
	cr_expect(matches(d = datagram(fd), HEAD("22") "info: i$"), "%s", d);
	cr_expect(matches(d = datagram(fd), HEAD("20") "warn: w$"), "%s", d);
	cr_expect(matches(d = datagram(fd), HEAD("19") "error: e$"), "%s", d);
	/* a worker's batch: one datagram per line, without the newline */
	log_batch_begin();
	log_info("one");
	log_json(json_pack("{s:s}", "event", "two"), "two");
	log_batch_flush();
	log_batch_end();
	cr_expect(matches(d = datagram(fd), HEAD("22") "info: one$"), "%s", d);
	cr_expect(matches(d = datagram(fd), HEAD("22") "info: two$"), "%s", d);

	/* syslogd restarts: a new socket at the same path; the next line
	   reconnects and arrives */
	close(fd);
	fd = syslogd(path, sizeof(path));
	log_info("after the restart");
	cr_expect(matches(d = datagram(fd), HEAD("22") "info: after the restart$"), "%s", d);
	close(fd);
	unlink(path);
}

Test(log_sink, syslog_facility_and_json)
{
	struct log_setup s = { .to = LOG_TO_SYSLOG, .facility = 17, .json = true };
	char path[108], err[256];
	const char *d;
	int fd = syslogd(path, sizeof(path));

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	log_warn("w");
	d = datagram(fd);		/* local1.warning */
	cr_expect(matches(d, HEAD("140") "\\{\"ts\":\"" STAMP "\",\"level\":\"warn\","
			  "\"msg\":\"w\"\\}$"), "%s", d);
	close(fd);
	unlink(path);
}

Test(log_sink, syslog_socket_missing_is_an_error)
{
	struct log_setup s = { .to = LOG_TO_SYSLOG, .facility = 2 };
	char err[256];

	setenv("SLUICE_SYSLOG_SOCKET", "/nonexistent/log", 1);
	cr_expect_eq(log_open(&s, NULL, err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, "log: syslog socket /nonexistent/log: No such file or directory");
}

static char *
slurp(const char *path)
{
	static char buf[2][4096];
	static int which;
	char *b = buf[which++ & 1];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s", path);
	n = fread(b, 1, 4095, f);
	b[n] = '\0';
	fclose(f);
	return b;
}

Test(log_sink, file_created_appended_and_reopened)
{
	char dir[] = "/tmp/sluice-log-test-XXXXXX", path[64], moved[64], err[256];
	struct log_setup s = { .to = LOG_TO_FILE, .path = path };
	struct stat st;
	bool created = false;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sluiced.log", dir);
	snprintf(moved, sizeof(moved), "%s/sluiced.log.1", dir);
	cr_assert_eq(log_open(&s, &created, err, sizeof(err)), 0, "%s", err);
	cr_expect(created);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 0777, 0640);
	log_info("first");
	/* logrotate moves the file away; lines follow it until SIGUSR1 */
	cr_assert_eq(rename(path, moved), 0);
	log_info("second");
	cr_assert_eq(log_reopen(err, sizeof(err)), 0, "%s", err);
	log_info("third");
	cr_expect(matches(slurp(moved), "^" STAMP " info: first\n" STAMP " info: second\n$"));
	cr_expect(matches(slurp(path), "^" STAMP " info: third\n$"), "%s", slurp(path));

	/* an existing file is appended to, not created */
	cr_assert_eq(log_open(&s, &created, err, sizeof(err)), 0, "%s", err);
	cr_expect_not(created);
	log_info("fourth");
	cr_expect(matches(slurp(path), "info: third\n.*info: fourth\n$"));

	/* a reopen that fails keeps the open file */
	unlink(path);
	unlink(moved);
	cr_assert_eq(rmdir(dir), 0);
	cr_expect_lt(log_reopen(err, sizeof(err)), 0);
	cr_expect(strstr(err, "sluiced.log: No such file or directory") != NULL, "%s", err);
	log_info("into the deleted file, not lost to a closed descriptor");
}
