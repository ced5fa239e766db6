/*
 * sluicectl — client of sluiced's control socket (framing in core/ctl/ctl.h).
 *
 *   sluicectl [--socket PATH] [--json] COMMAND [ARG...]
 *   sluicectl [--socket PATH] watch [--interval SECONDS] [--count N]
 *
 * A command is sent as one line; the answer is printed as it comes (the
 * empty line that ends it is not).  Exit status: 0 the command succeeded,
 * 1 it failed (the server's message goes to stderr), 2 the socket could not
 * be reached.  The socket is --socket, else $SLUICE_SOCKET, else the
 * built-in default: ./var/sluice.sock, or the installed control_socket
 * (`make install` compiles this file again with SLUICE_CTL_SOCKET set).
 *
 * watch keeps one connection open and redraws a compact view every
 * interval: messages per second in and out (from successive "show stats
 * json"), queue, sessions, connections, and the open alerts, until Ctrl-C.
 *
 * An action (flush, hold, release, delete, bounce, requeue) whose last
 * word is "-" takes its queue ids from stdin, one per line (the first
 * word of each; blank lines skipped), like postsuper -d -: every line is
 * checked before anything is sent, then the ids go in commands of
 * CTL_SEL_IDS on one connection and the answers are added up.  Ids that
 * are not queued are listed on stderr and make the exit status 1.
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ctl/ctl.h"
#include "core/ctl/ctl_client.h"
#include "core/ctl/ctl_report.h"
#include "core/ctl/ctl_select.h"
#include "core/log.h"

#ifdef SLUICE_CTL_SOCKET
#define DEFAULT_SOCKET SLUICE_CTL_SOCKET
#else
#define DEFAULT_SOCKET "./var/sluice.sock"
#endif

static volatile sig_atomic_t interrupted;

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluicectl [--socket PATH] [--json] COMMAND [ARG...]\n"
		"       sluicectl [--socket PATH] watch [--interval SECONDS] [--count N]\n"
		"       sluicectl [--json] report [--top N] [LOGFILE...]\n"
		"  --socket PATH  control socket (default $SLUICE_SOCKET or %s)\n"
		"  --json         ask for JSON\n"
		"  sluicectl help lists the commands.  An action ending in \"-\" (delete -)\n"
		"  reads queue ids from stdin, one per line.  report summarises a log\n"
		"  (text or JSON format; stdin without LOGFILE or for \"-\").\n"
		"exit status: 0 ok, 1 the command failed, 2 cannot connect\n", DEFAULT_SOCKET);
}

static int
ctl_connect(const char *path)
{
	char err[256];
	int fd = ctl_client_connect(path, err, sizeof(err));

	if (fd < 0)
		fprintf(stderr, "sluicectl: %s\n", err);
	return fd < 0 ? -1 : fd;
}

static int
send_all(int fd, const char *p, size_t n)
{
	return ctl_client_send(fd, p, n) < 0 ? -1 : 0;
}

/*
 * One command: send it, shut the write side, print the answer line by
 * line until EOF.  Returns the exit status.
 */
static int
run_command(const char *path, const char *line)
{
	int fd = ctl_connect(path);
	char rbuf[65536];
	struct buf pend = { 0 };
	bool blank = false, failed = false;
	int status = 0;

	if (fd < 0)
		return 2;
	if (send_all(fd, line, strlen(line)) < 0 || send_all(fd, "\n", 1) < 0) {
		fprintf(stderr, "sluicectl: sending to %s: %s\n", path, strerror(errno));
		close(fd);
		return 2;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "sluicectl: reading from %s: %s\n", path, strerror(errno));
			status = 1;
			break;
		}
		if (n == 0)
			break;
		buf_append(&pend, rbuf, (size_t)n);
		/* print whole lines; the empty line ends the answer */
		size_t off = 0;
		for (;;) {
			char *lf = memchr(pend.p + off, '\n', pend.len - off);
			size_t len;
			char *err;
			if (lf == NULL)
				break;
			len = (size_t)(lf - (pend.p + off));
			if (len == 0) {
				blank = true;
			} else {
				if (blank)	/* an empty line inside: print it */
					fputc('\n', stdout);
				blank = false;
				if ((err = ctl_client_error(pend.p + off, len)) != NULL) {
					fflush(stdout);
					fprintf(stderr, "sluicectl: %s\n", err);
					free(err);
					failed = true;
				} else {
					fwrite(pend.p + off, 1, len + 1, stdout);
				}
			}
			off += len + 1;
		}
		buf_consume(&pend, off);
	}
	close(fd);
	if (pend.len > 0 || (!blank && status == 0)) {
		if (pend.len > 0)
			fwrite(pend.p, 1, pend.len, stdout);
		fflush(stdout);
		fprintf(stderr, "sluicectl: the answer was cut short\n");
		status = 1;
	}
	buf_free(&pend);
	fflush(stdout);
	return failed ? 1 : status;
}

/* ---- queue ids from stdin ---------------------------------------------- */

/* The commands that take "-". */
static bool
takes_ids(const char *cmd)
{
	static const char *const acts[] = { "flush", "hold", "release", "delete",
					    "bounce", "requeue", NULL };

	for (int i = 0; acts[i] != NULL; i++)
		if (strcmp(cmd, acts[i]) == 0)
			return true;
	return false;
}

/* The queue ids on stdin: every non-blank line's first word must be one. */
static int
read_ids(uint64_t **ids, size_t *n)
{
	char *line = NULL;
	size_t cap = 0, alloc = 0;
	unsigned long lineno = 0;
	ssize_t len;

	*ids = NULL;
	*n = 0;
	while ((len = getline(&line, &cap, stdin)) >= 0) {
		char *w = line, *end;
		uint64_t id;
		lineno++;
		while (*w == ' ' || *w == '\t')
			w++;
		end = w + strcspn(w, " \t\r\n");
		if (end == w)
			continue;
		*end = '\0';
		if (!ctl_sel_parse_id(w, &id)) {
			fprintf(stderr, "sluicectl: stdin line %lu: '%.40s%s' is not a queue id "
				"(16 hex digits); nothing was sent\n", lineno, w,
				strlen(w) > 40 ? "..." : "");
			free(line);
			free(*ids);
			return -1;
		}
		if (*n == alloc) {
			alloc = alloc ? alloc * 2 : 64;
			*ids = realloc(*ids, alloc * sizeof(**ids));
			if (*ids == NULL) {
				fprintf(stderr, "sluicectl: out of memory\n");
				free(line);
				return -1;
			}
		}
		(*ids)[(*n)++] = id;
	}
	free(line);
	if (*n == 0) {
		fprintf(stderr, "sluicectl: no queue ids on stdin\n");
		return -1;
	}
	return 0;
}

static int ask(int fd, const char *line, struct buf *out);

/*
 * argv[0..argc) is an action whose last word is "-": send it for the ids
 * on stdin, CTL_SEL_IDS at a time, and print the sum (JSON with json).
 */
static int
run_ids(const char *path, char **argv, int argc, bool json)
{
	static const char *const keys[] = { "messages", "jobs", "recipients",
					    "after_attempt", "busy", "unroutable" };
	long long sum[6] = { 0 };
	struct buf tmp = { 0 }, line = { 0 };
	json_t *missing = json_array();
	char result[32] = "done";
	/* the words between the command and "-" are arguments too */
	size_t per = argc - 2 < CTL_SEL_IDS ? CTL_SEL_IDS - (size_t)(argc - 2) : 0;
	uint64_t *ids;
	size_t nids;
	int fd, status = 0;

	if (per == 0) {
		fprintf(stderr, "sluicectl: too many words before \"-\" to add queue ids\n");
		json_decref(missing);
		return 1;
	}
	if (read_ids(&ids, &nids) < 0) {
		json_decref(missing);
		return 1;
	}
	if ((fd = ctl_connect(path)) < 0) {
		json_decref(missing);
		free(ids);
		return 2;
	}
	for (size_t k = 0; k < nids && status == 0; k += per) {
		size_t m = nids - k < per ? nids - k : per;
		json_t *a;
		line.len = 0;
		for (int i = 0; i < argc - 1; i++)
			buf_printf(&line, "%s ", argv[i]);
		for (size_t i = 0; i < m; i++)
			buf_printf(&line, "%016llX ", (unsigned long long)ids[k + i]);
		buf_puts(&line, "json\n");
		buf_append(&line, "", 1);
		if (ask(fd, line.p, &tmp) < 0) {
			fprintf(stderr, "sluicectl: the connection to %s was lost\n", path);
			status = 2;
			break;
		}
		a = json_loadb(tmp.p, tmp.len, JSON_DISABLE_EOF_CHECK, NULL);
		const char *err = json_string_value(json_object_get(a, "error"));
		if (a == NULL || (err != NULL && (m > 1 || strncmp(err, "no message ", 11) != 0))) {
			fprintf(stderr, "sluicectl: %s\n", err ? err : "an answer that is not JSON");
			json_decref(a);
			status = 1;
			break;
		}
		if (err != NULL) {		/* the one id of this command is not queued */
			char id[17];
			snprintf(id, sizeof(id), "%016llX", (unsigned long long)ids[k]);
			log_json_append(&missing, log_json_s(id));
		} else {
			size_t i;
			json_t *v;
			for (i = 0; i < 6; i++)
				sum[i] += json_integer_value(json_object_get(a, keys[i]));
			json_array_foreach(json_object_get(a, "not_found"), i, v)
				log_json_append(&missing, json_incref(v));
			snprintf(result, sizeof(result), "%s",
				 json_string_value(json_object_get(a, "result")) ?: "done");
		}
		json_decref(a);
	}
	close(fd);
	if (status == 0 && json) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:O}",
				      "action", argv[0], "target", "-", "ids", (json_int_t)nids,
				      "result", result, "messages", sum[0], "jobs", sum[1],
				      "recipients", sum[2], "after_attempt", sum[3], "busy",
				      sum[4], "unroutable", sum[5], "not_found", missing);
		if (o == NULL || json_dumpf(o, stdout, JSON_COMPACT) < 0) {
			fprintf(stderr, "sluicectl: the answer could not be built\n");
			status = 1;
		}
		fputc('\n', stdout);
		json_decref(o);
	} else if (status == 0) {
		printf("%s: %zu id%s from stdin: %lld message%s, %lld job%s, %lld recipient%s "
		       "%s now; %lld on a connection: %s\n", argv[0], nids, nids == 1 ? "" : "s",
		       sum[0], sum[0] == 1 ? "" : "s", sum[1], sum[1] == 1 ? "" : "s", sum[2],
		       sum[2] == 1 ? "" : "s", result, sum[3], strcmp(argv[0], "flush") == 0 ?
		       "being tried already" : "applied when the attempt ends");
		if (sum[5] > 0)
			printf("%lld recipients that nothing routes now left where they were\n",
			       sum[5]);
		if (sum[4] > 0)
			printf("%lld jobs on a connection left alone: only some of their "
			       "recipients were selected; try again after the attempt\n", sum[4]);
	}
	if (status == 0 && json_array_size(missing) > 0) {
		size_t i;
		json_t *v;
		fflush(stdout);
		fprintf(stderr, "sluicectl: %zu not in the queue:", json_array_size(missing));
		json_array_foreach(missing, i, v)
			fprintf(stderr, " %s", json_string_value(v));
		fputc('\n', stderr);
		status = 1;
	}
	json_decref(missing);
	buf_free(&tmp);
	buf_free(&line);
	free(ids);
	fflush(stdout);
	return status;
}

/* ---- watch ------------------------------------------------------------ */

/* Send line on fd and read one whole answer (up to "\n\n") into out. */
static int
ask(int fd, const char *line, struct buf *out)
{
	char rbuf[65536];

	out->len = 0;
	if (send_all(fd, line, strlen(line)) < 0)
		return -1;
	for (;;) {
		if (out->len >= 2 && out->p[out->len - 1] == '\n' && out->p[out->len - 2] == '\n')
			return 0;
		ssize_t n = recv(fd, rbuf, sizeof(rbuf), 0);
		if (n < 0 && errno == EINTR) {
			if (interrupted)
				return -1;
			continue;
		}
		if (n <= 0)
			return -1;
		buf_append(out, rbuf, (size_t)n);
	}
}

static json_t *
ask_json(int fd, const char *line, struct buf *tmp)
{
	json_t *j;

	if (ask(fd, line, tmp) < 0)
		return NULL;
	j = json_loadb(tmp->p, tmp->len, JSON_DISABLE_EOF_CHECK, NULL);
	if (j != NULL && json_object_get(j, "error") != NULL) {
		fprintf(stderr, "sluicectl: %s\n",
			json_string_value(json_object_get(j, "error")));
		json_decref(j);
		return NULL;
	}
	return j;
}

static void
on_sigint(int sig)
{
	(void)sig;
	interrupted = 1;
}

static double
mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long long
total(json_t *stats, const char *key)
{
	return json_integer_value(json_object_get(json_object_get(stats, "totals"), key));
}

/*
 * "12.5": d messages over secs seconds, in tenths, or "-" if that does not
 * fit a 64-bit count (a counter reset, a clock step).  out needs 48 bytes.
 */
static void
fmt_rate(char *out, size_t n, long long d, double secs)
{
	double r = (double)d * 10 / secs;
	long long t;

	if (!(r > -9e18 && r < 9e18)) {
		snprintf(out, n, "-");
		return;
	}
	t = llround(r);
	snprintf(out, n, "%s%lld.%lld", t < 0 ? "-" : "", llabs(t / 10), llabs(t % 10));
}

static int
watch(const char *path, double interval, long count)
{
	int fd = ctl_connect(path);
	struct buf tmp = { 0 };
	long long in0 = -1, out0 = 0;
	double t0 = 0;
	bool tty = isatty(1);
	struct sigaction sa = { .sa_handler = on_sigint };

	if (fd < 0)
		return 2;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (long it = 0; !interrupted && (count <= 0 || it < count); it++) {
		json_t *st = ask_json(fd, "show stats json\n", &tmp);
		json_t *ins = st ? ask_json(fd, "show insights json\n", &tmp) : NULL;
		double t = mono();
		long long in, out;
		char rin[48] = "-", rout[48] = "-";
		time_t now = time(NULL);
		char ts[32];

		if (st == NULL || ins == NULL) {
			json_decref(st);
			if (!interrupted)
				fprintf(stderr, "sluicectl: the connection to %s was lost\n", path);
			close(fd);
			buf_free(&tmp);
			return interrupted ? 0 : 1;
		}
		in = total(st, "smtp.in.messages");
		out = total(st, "smtp.out.messages");
		if (in0 >= 0 && t > t0) {
			fmt_rate(rin, sizeof(rin), in - in0, t - t0);
			fmt_rate(rout, sizeof(rout), out - out0, t - t0);
		}
		in0 = in;
		out0 = out;
		t0 = t;
		strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&now));
		if (tty)
			fputs("\033[H\033[2J", stdout);
		printf("sluiced %s  up %llds  workers %lld\n", ts,
		       (long long)json_integer_value(json_object_get(st, "uptime")),
		       (long long)json_integer_value(json_object_get(st, "workers")));
		printf("in %8s msg/s  out %8s msg/s  queued %lld  sessions %lld  "
		       "connections %lld\n", rin, rout, total(st, "queue.messages"),
		       total(st, "smtp.in.sessions_active"), total(st, "smtp.out.connections"));
		printf("delivered %lld  deferred %lld  bounced %lld  retries %lld\n",
		       total(st, "delivery.delivered"), total(st, "delivery.deferred"),
		       total(st, "delivery.bounced"), total(st, "smtp.out.retries"));
		json_t *al = json_object_get(ins, "alerts");
		size_t i;
		json_t *a;
		printf("alerts: %zu\n", json_array_size(al));
		json_array_foreach(al, i, a)
			printf("  %s  %s %s  %lld queued, %lld over age\n",
			       json_string_value(json_object_get(a, "connector")),
			       json_string_value(json_object_get(a, "code")),
			       json_string_value(json_object_get(a, "mfi")),
			       (long long)json_integer_value(json_object_get(a, "queued")),
			       (long long)json_integer_value(json_object_get(a, "messages_over_age")));
		al = json_object_get(ins, "certificates");	/* the host is left out: */
		if (json_array_size(al) > 0)			/* a peer's text */
			printf("certificates to renew: %zu\n", json_array_size(al));
		json_array_foreach(al, i, a)
			printf("  %s  %s, notAfter %s\n",
			       json_string_value(json_object_get(a, "connector")),
			       json_string_value(json_object_get(a, "state")),
			       json_string_value(json_object_get(a, "not_after")));
		if (!tty)
			printf("\n");
		fflush(stdout);
		json_decref(st);
		json_decref(ins);
		if (count > 0 && it + 1 >= count)
			break;
		struct timespec sl = { (time_t)interval,
				       (long)((interval - (double)(time_t)interval) * 1e9) };
		nanosleep(&sl, NULL);
	}
	close(fd);
	buf_free(&tmp);
	return 0;
}

/* Count every line of f into rp.  Returns 0, or -1 after a read error. */
static int
report_file(struct ctl_report *rp, FILE *f, const char *name)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	while ((n = getline(&line, &cap, f)) >= 0) {
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			n--;
		ctl_report_line(rp, line, (size_t)n);
	}
	free(line);
	if (ferror(f)) {
		fprintf(stderr, "sluicectl: report: reading %s: %s\n", name, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * report [--top N] [FILE...]: the summary of the log files (stdin when
 * none, or for "-"), for people or as JSON.  Needs no socket: it reads
 * what sluiced wrote, from any day.
 */
static int
report(char **argv, int argc, bool json)
{
	struct ctl_report *rp = ctl_report_new();
	unsigned long top = 10;
	int rc = 0, files = 0;

	for (int i = 0; i < argc; i++) {
		FILE *f;
		char *end;

		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			ctl_report_free(rp);
			return 0;
		}
		if (strcmp(argv[i], "--top") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "sluicectl: report: --top wants a count\n");
				ctl_report_free(rp);
				return 1;
			}
			top = strtoul(argv[++i], &end, 10);
			if (*end != '\0' || end == argv[i] || top > 100000) {
				fprintf(stderr, "sluicectl: report: --top wants a count, not %s\n",
					argv[i]);
				ctl_report_free(rp);
				return 1;
			}
			continue;
		}
		files++;
		if (strcmp(argv[i], "-") == 0) {
			rc |= report_file(rp, stdin, "stdin") < 0;
			continue;
		}
		if ((f = fopen(argv[i], "r")) == NULL) {
			fprintf(stderr, "sluicectl: report: %s: %s\n", argv[i], strerror(errno));
			rc = 1;
			continue;
		}
		rc |= report_file(rp, f, argv[i]) < 0;
		fclose(f);
	}
	if (files == 0)
		rc |= report_file(rp, stdin, "stdin") < 0;
	if (ctl_report_events(rp) == 0 && ctl_report_lines(rp) > 0)
		fprintf(stderr, "sluicectl: report: no event of sluiced's in %lld lines (not its "
			"log, or compressed?)\n", ctl_report_lines(rp));
	if (json) {
		json_t *o = ctl_report_json(rp, (unsigned)top);

		if (o == NULL || json_dumpf(o, stdout, JSON_COMPACT | JSON_ENSURE_ASCII) < 0) {
			fprintf(stderr, "sluicectl: report: out of memory\n");
			rc = 1;
		}
		putchar('\n');
		json_decref(o);
	} else {
		struct buf out = { 0 };

		ctl_report_text(rp, &out, (unsigned)top);
		fwrite(out.p, 1, out.len, stdout);
		buf_free(&out);
	}
	ctl_report_free(rp);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *path = getenv("SLUICE_SOCKET");
	bool json = false;
	struct buf line = { 0 };
	int opt;
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};

	if (path == NULL || path[0] == '\0')
		path = DEFAULT_SOCKET;
	/* options stop at the command: "+" keeps its arguments as they are */
	while ((opt = getopt_long(argc, argv, "+s:jh", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			path = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[optind], "watch") == 0) {
		double interval = 1.0;
		long count = 0;
		for (int i = optind + 1; i < argc; i++) {
			if (strcmp(argv[i], "--interval") == 0 && i + 1 < argc) {
				interval = atof(argv[++i]);
			} else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
				count = atol(argv[++i]);
			} else {
				usage(stderr);
				return 1;
			}
		}
		if (interval < 0.1)
			interval = 0.1;
		return watch(path, interval, count);
	}
	if (strcmp(argv[optind], "report") == 0)
		return report(argv + optind + 1, argc - optind - 1, json);
	if (argc - optind >= 2 && strcmp(argv[argc - 1], "-") == 0 && takes_ids(argv[optind]))
		return run_ids(path, argv + optind, argc - optind, json);
	for (int i = optind; i < argc; i++) {
		if (i > optind)
			buf_append(&line, " ", 1);
		buf_puts(&line, argv[i]);
	}
	if (json)
		buf_puts(&line, " json");
	buf_append(&line, "", 1);
	if (line.len > CTL_LINE_MAX) {
		fprintf(stderr, "sluicectl: command longer than %d bytes\n", CTL_LINE_MAX);
		return 1;
	}
	int rc = run_command(path, line.p);
	buf_free(&line);
	return rc;
}
