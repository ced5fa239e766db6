/*
 * ctl — the control thread: the unix socket, its connections, the line
 * framing (see core/ctl/ctl.h), the command table, and the plumbing that
 * carries requests to the workers and their answers back.  A line becomes
 * a command in core/ctl/ctl_parse.c (pure, fuzzed).
 *
 * Not for: what a command computes (ctl_show.c, ctl_queue.c) or what runs
 * on a worker (ctl_worker.c).
 *
 * One thread runs a plain poll() loop over the listening socket, its
 * answer eventfd and at most CTL_MAX_CLIENTS connections.  It never
 * blocks: sockets are non-blocking, output is buffered per connection
 * (streaming commands stop producing above CTL_HIGH_WATER and resume when
 * it drains), and worker answers arrive through the eventfd.  Requests in
 * flight sit on one list; a request whose command went away (client gone,
 * timeout) is "orphaned" and freed when its worker finally answers, since
 * until then the worker may still write into it.
 */
#include "core/ctl/ctl_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ctl/ctl_table.h"
#include "core/log.h"
#include "core/xalloc.h"

#define CTL_MAX_CLIENTS 64	/* connections served at once */
#define CTL_HIGH_WATER (256u << 10)	/* streaming pauses above this */
#define CTL_LOW_WATER (64u << 10)	/* and resumes below this */

/* One connection to the socket. */
struct ctl_client {
	int fd;				/* the connection */
	uid_t uid;			/* peer's uid (SO_PEERCRED) */
	pid_t pid;			/* peer's pid */
	bool allowed;			/* root or our own uid */
	bool eof;			/* peer shut its write side */
	bool discarding;		/* skipping the rest of a long line */
	bool quit;			/* close once the output is sent */
	char in[CTL_LINE_MAX];		/* received, not yet a whole line */
	size_t inlen;			/* bytes in it */
	struct buf out;			/* answers not yet sent */
	size_t out_off;			/* bytes of out already sent */
	struct ctl_run *run;		/* command running, or NULL */
};

struct ctl ctl;

static int listen_fd = -1;
static pthread_t thread;
static bool running;			/* ctl_start succeeded */
static atomic_bool stopping;		/* ctl_stop asked */
static struct ctl_client *clients[CTL_MAX_CLIENTS];
static struct ctl_wreq *inflight;	/* requests the workers hold */
static ino_t sock_ino;			/* our socket file, to unlink only it */

static void cmd_help(struct ctl_run *r);
static void cmd_quit(struct ctl_run *r);

/* The command table: `help` lists it in this order. */
static const struct ctl_cmd cmds[] = {
	{ "help", "", "list the commands", false, cmd_help },
	{ "show info", "", "version, uptime, workers, config, spool size", false,
	  ctl_show_info },
	{ "show stats", "", "counters: sessions, messages and bytes in/out, deliveries "
	  "by result, retries, bounces; per worker", false, ctl_show_stats },
	{ "show connectors", "[CONNECTOR]", "per connector: state, health, queue, oldest message and "
	  "its expiry, last error and where it came from", false, ctl_show_connectors },
	{ "show insights", "", "open queue alerts with their code, meaning and fix", false,
	  ctl_show_insights },
	{ "show queue", "[CONNECTOR] [LIMIT]", "queued messages, oldest first: id, age, "
	  "sender, recipients, attempts, last error", false, ctl_show_queue },
	{ "qshape", "[CONNECTOR]", "queued messages per destination by age in minutes",
	  false, ctl_qshape },
	{ "show metrics", "", "Prometheus text exposition", false, ctl_show_metrics },
	{ "flush", "[CONNECTOR|ID]", "retry deferred mail now, bypassing the backoff", true,
	  ctl_flush },
	{ "hold", "CONNECTOR|ID", "stop delivery attempts until released", true, ctl_hold },
	{ "release", "CONNECTOR|ID", "end a hold", true, ctl_release },
	{ "delete", "CONNECTOR|ID", "drop queued mail without an NDR", true, ctl_delete },
	{ "bounce", "CONNECTOR|ID", "return queued mail to its sender now, with an NDR",
	  true, ctl_bounce },
	{ "connector", "enable|disable NAME", "let a connector deliver, or only queue",
	  true, ctl_connector },
	{ "validate connector", "NAME [RCPT]", "test connection through a connector: "
	  "DNS, connect, banner, EHLO, STARTTLS, certificate, MAIL/RCPT", true, ctl_validate },
	{ "show tenants", "", "per tenant: domains and their mode, invalid recipients in "
	  "the quota window, quota, throttled", false, ctl_show_tenants },
	{ "fix-now", "DOMAIN", "make an internal-relay domain authoritative: unknown "
	  "recipients rejected, queued mail to them returned", true, ctl_fixnow },
	{ "set alert", "threshold N age SECONDS", "queue alert: N messages older than "
	  "SECONDS at one connector", true, ctl_set_alert },
	{ "reload", "", "reload the configuration (as SIGHUP)", true, ctl_reload },
	{ "quit", "", "close this connection", false, cmd_quit },
};

int64_t
ctl_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* ---- output ----------------------------------------------------------- */

/* Send what we can of cl's output now. */
static void
client_flush(struct ctl_client *cl)
{
	while (cl->out_off < cl->out.len) {
		ssize_t n = send(cl->fd, cl->out.p + cl->out_off, cl->out.len - cl->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				cl->eof = true;		/* peer gone: drop the rest */
				cl->quit = true;
				cl->out.len = cl->out_off = 0;
			}
			return;
		}
		cl->out_off += (size_t)n;
	}
	cl->out.len = cl->out_off = 0;
}

void
ctl_write(struct ctl_run *r, const char *p, size_t n)
{
	if (r->cl == NULL || r->cl->quit)
		return;
	buf_append(&r->cl->out, p, n);
}

void
ctl_printf(struct ctl_run *r, const char *fmt, ...)
{
	char small[512], *p = small;
	va_list ap;
	int n;

	if (r->cl == NULL)
		return;
	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(small)) {
		p = xmalloc((size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf(p, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	ctl_write(r, p, (size_t)n);
	if (p != small)
		free(p);
}

size_t
ctl_pending(const struct ctl_run *r)
{
	return r->cl ? r->cl->out.len - r->cl->out_off : 0;
}

/*
 * Every JSON answer goes out through here: j is whole, or the answer is
 * an error.  j is NULL when a jansson call building it failed (a string
 * that is not UTF-8 makes json_pack fail; log_json_str prevents that,
 * so what is left is running out of memory).
 */
void
ctl_json(struct ctl_run *r, json_t *j)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(j);
	if (s == NULL) {
		ctl_json_error(r);
		return;
	}
	ctl_write(r, s, strlen(s));
	ctl_write(r, "\n", 1);
	free(s);
}

void
ctl_json_error(struct ctl_run *r)
{
	char *s;
	json_t *e = json_pack("{s:s}", "error", "the answer could not be built "
			      "(out of memory)");

	s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
	json_decref(e);
	if (s != NULL) {
		ctl_write(r, s, strlen(s));
		free(s);
	} else {
		ctl_write(r, "null", 4);	/* still valid JSON */
	}
	ctl_write(r, "\n", 1);
}

/*
 * Streamed JSON: the opening is jansson's own text for {"key":[]} with
 * the closing "]}" cut off, so no JSON is written by hand.
 */
void
ctl_json_stream_begin(struct ctl_run *r, const char *key)
{
	json_t *o = json_pack("{s:[]}", key);
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	size_t n = s != NULL ? strlen(s) : 0;

	json_decref(o);
	r->jitems = 0;
	r->jbroken = s == NULL || n < 2;
	if (!r->jbroken) {
		ctl_write(r, s, n - 2);
		ctl_write(r, "\n", 1);
	}
	free(s);
}

int
ctl_json_stream_item(struct ctl_run *r, json_t *item)
{
	char *s = item != NULL ? json_dumps(item, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(item);
	if (s == NULL)
		return -ENOMEM;
	if (r->jitems++ > 0)
		ctl_write(r, ",", 1);
	ctl_write(r, s, strlen(s));
	ctl_write(r, "\n", 1);
	free(s);
	return 0;
}

void
ctl_json_stream_end(struct ctl_run *r, json_t *tail)
{
	char *s = tail != NULL ? json_dumps(tail, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;

	json_decref(tail);
	if (r->jbroken) {		/* the opening was never sent */
		free(s);
		ctl_json_error(r);
		return;
	}
	if (s == NULL) {		/* the tail failed: say so in it */
		json_t *e = json_pack("{s:s}", "error", "the answer could not be "
				      "completed (out of memory)");
		s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
		json_decref(e);
	}
	/* "]" closes the array; the tail object's members (without its own
	 * "{") follow, or its "}" alone if it has none */
	ctl_write(r, "]", 1);
	if (s != NULL && strcmp(s, "{}") != 0) {
		ctl_write(r, ",", 1);
		ctl_write(r, s + 1, strlen(s + 1));
	} else {
		ctl_write(r, "}", 1);
	}
	ctl_write(r, "\n", 1);
	free(s);
}

/* ---- requests ------------------------------------------------------- */

struct ctl_wreq *
ctl_req_new(struct ctl_run *r, unsigned i, enum ctl_wkind kind)
{
	struct ctl_wreq *q = xcalloc(1, sizeof(*q));

	atomic_init(&q->done, 0);
	q->run = r;
	q->worker = i;
	q->kind = kind;
	return q;
}

void
ctl_req_send(struct ctl_wreq *q)
{
	struct worker *w = &ctl.ws[q->worker];
	uint64_t one = 1;

	q->next = inflight;
	inflight = q;
	if (q->run != NULL) {
		q->run->outstanding++;
		if (q->run->deadline == 0)
			q->run->deadline = ctl_mono() + CTL_TIMEOUT;
	}
	mpsc_push(&w->ctlq, &q->node);
	/* after the push, so the wake-up always finds the node (core/mpsc.h) */
	if (write(w->evfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("control: waking worker %u: %s", q->worker, strerror(errno));
}

void
ctl_req_free(struct ctl_wreq *q)
{
	if (q == NULL)
		return;
	free(q->snap.conns);
	free(q->snap.dests);
	buf_free(&q->val.steps);
	free(q->rows);
	buf_free(&q->arena);
	free(q);
}

/* Default answer handler of a round: collect; all in -> on_round. */
static void
round_reply(struct ctl_run *r, struct ctl_wreq *q)
{
	r->reqs[q->worker] = q;
	if (r->outstanding == 0 && r->on_round != NULL)
		r->on_round(r);
}

void
ctl_round(struct ctl_run *r, const struct ctl_wreq *tmpl)
{
	if (r->reqs == NULL) {
		r->reqs = xcalloc(ctl.nw, sizeof(*r->reqs));
	}
	for (unsigned i = 0; i < ctl.nw; i++) {
		ctl_req_free(r->reqs[i]);
		r->reqs[i] = NULL;
	}
	r->on_reply = round_reply;
	r->deadline = 0;
	for (unsigned i = 0; i < ctl.nw; i++) {
		struct ctl_wreq *q = ctl_req_new(r, i, tmpl->kind);
		q->flags = tmpl->flags;
		q->alert_threshold = tmpl->alert_threshold;
		q->alert_age = tmpl->alert_age;
		memcpy(q->connector, tmpl->connector, sizeof(q->connector));
		q->id = tmpl->id;
		q->cursor = tmpl->cursor;
		q->limit = tmpl->limit;
		q->op = tmpl->op;
		q->disable = tmpl->disable;
		ctl_req_send(q);
	}
}

/* Worker answers arrived: hand each finished request to its run. */
static void
answers(void)
{
	struct ctl_wreq **pp = &inflight;

	while (*pp != NULL) {
		struct ctl_wreq *q = *pp;
		struct ctl_run *r;

		if (!atomic_load_explicit(&q->done, memory_order_acquire)) {
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		r = q->run;
		if (r == NULL) {		/* orphan */
			ctl_req_free(q);
			continue;
		}
		r->outstanding--;
		if (r->outstanding == 0)
			r->deadline = 0;
		r->on_reply(r, q);
		/* the handler may have sent requests (pushed at the head) or
		   ended runs (orphaning theirs); *pp is still valid */
	}
}

/* Requests past their deadline fail their command. */
static void
timeouts(void)
{
	int64_t now = ctl_mono();
	struct ctl_wreq *q;

again:
	for (q = inflight; q != NULL; q = q->next) {
		struct ctl_run *r = q->run;
		if (r == NULL || r->deadline == 0 || now < r->deadline)
			continue;
		ctl_fail(r, "worker %u did not answer within %d s", q->worker, CTL_TIMEOUT);
		goto again;	/* ending r changed the list's runs */
	}
}

/* ---- runs ----------------------------------------------------------- */

struct ctl_run *
ctl_run_internal(void)
{
	struct ctl_run *r = xcalloc(1, sizeof(*r));

	return r;
}

static void
run_free(struct ctl_run *r)
{
	/* requests still out lose their run: freed when answered */
	for (struct ctl_wreq *q = inflight; q != NULL; q = q->next)
		if (q->run == r)
			q->run = NULL;
	if (r->on_free != NULL)
		r->on_free(r);
	if (r->reqs != NULL) {
		for (unsigned i = 0; i < ctl.nw; i++)
			ctl_req_free(r->reqs[i]);
		free(r->reqs);
	}
	free(r);
}

void
ctl_end(struct ctl_run *r)
{
	struct ctl_client *cl = r->cl;

	if (cl != NULL) {
		ctl_write(r, "\n", 1);
		cl->run = NULL;
	}
	run_free(r);
}

void
ctl_fail(struct ctl_run *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (r->json)
		ctl_json(r, json_pack("{s:s}", "error", msg));
	else
		ctl_printf(r, "error: %s\n", msg);
	ctl_end(r);
}

/* ---- commands of this file ------------------------------------------ */

static void
cmd_help(struct ctl_run *r)
{
	if (r->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			char usage[256];
			snprintf(usage, sizeof(usage), "%s%s%s [json]", cmds[i].words,
				 cmds[i].args[0] ? " " : "", cmds[i].args);
			log_json_append(&a, json_pack("{s:s, s:s, s:s, s:b}", "command",
						      cmds[i].words, "usage", usage, "help",
						      cmds[i].help, "changes", cmds[i].changes));
		}
		ctl_json(r, json_pack("{s:o}", "commands", a));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){ "COMMAND", "DESCRIPTION",
								      NULL });
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
			char usage[256];
			snprintf(usage, sizeof(usage), "%s%s%s", cmds[i].words,
				 cmds[i].args[0] ? " " : "", cmds[i].args);
			ctl_table_row(t, usage, cmds[i].help);
		}
		ctl_table_print(t, r);
		ctl_printf(r, "Add \"json\" to any command for JSON. One command per line; "
			      "each answer ends with an empty line.\n");
	}
	ctl_end(r);
}

static void
cmd_quit(struct ctl_run *r)
{
	if (r->cl != NULL)
		r->cl->quit = true;
	ctl_end(r);
}

/* ---- parsing and dispatch ------------------------------------------- */

/* Run one request line (NUL-terminated, no LF) for cl. */
static void
client_command(struct ctl_client *cl, const char *line, size_t len)
{
	struct ctl_run *r = xcalloc(1, sizeof(*r));
	struct ctl_req req;
	char err[256];

	r->cl = cl;
	cl->run = r;
	memcpy(r->line, line, len + 1);
	ctl_parse(r->line, len, cmds, sizeof(cmds) / sizeof(cmds[0]), &req, err, sizeof(err));
	r->json = req.json;
	if (req.cmd == NULL) {
		ctl_fail(r, "%s", err);
		return;
	}
	if (!cl->allowed) {
		ctl_fail(r, "permission denied: uid %u may not use the control socket (only "
			 "root and uid %u)", (unsigned)cl->uid, (unsigned)geteuid());
		return;
	}
	r->cmd = req.cmd;
	r->argc = req.argc;
	memcpy(r->argv, req.argv, sizeof(r->argv));
	if (req.cmd->changes)
		log_info("control: uid %u pid %d: %s", (unsigned)cl->uid, (int)cl->pid, line);
	req.cmd->run(r);
}

/* Take whole lines out of cl->in and run them, one command at a time. */
static void
client_process(struct ctl_client *cl)
{
	while (cl->run == NULL && !cl->quit) {
		char *lf = memchr(cl->in, '\n', cl->inlen);
		size_t len;

		if (lf == NULL) {
			if (cl->discarding) {
				cl->inlen = 0;
				break;
			}
			if (cl->inlen >= CTL_LINE_MAX) {
				struct ctl_run r = { .cl = cl };
				ctl_printf(&r, "error: command line too long (at most %d bytes)\n\n",
					   CTL_LINE_MAX);
				cl->discarding = true;
				cl->inlen = 0;
				continue;
			}
			if (!cl->eof || cl->inlen == 0)
				break;
			lf = cl->in + cl->inlen;	/* last line without LF */
			len = cl->inlen;
		} else {
			len = (size_t)(lf - cl->in) + 1;
		}
		if (cl->discarding) {
			cl->discarding = false;
		} else {
			char line[CTL_LINE_MAX + 1];
			size_t n = (size_t)(lf - cl->in);
			memcpy(line, cl->in, n);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			size_t b = 0;
			while (b < n && (line[b] == ' ' || line[b] == '\t'))
				b++;
			if (b < n) {
				memmove(cl->in, cl->in + len, cl->inlen - len);
				cl->inlen -= len;
				client_command(cl, line, n);
				continue;
			}
		}
		memmove(cl->in, cl->in + len, cl->inlen - len);
		cl->inlen -= len;
	}
}

/* ---- connections ---------------------------------------------------- */

static void
client_close(struct ctl_client *cl)
{
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i] == cl)
			clients[i] = NULL;
	if (cl->run != NULL) {
		struct ctl_run *r = cl->run;
		r->cl = NULL;
		/* waiting for answers: it finishes on its own, silently; else
		   (a paused stream, a reload) nothing would ever end it */
		if (r->outstanding == 0)
			run_free(r);
	}
	close(cl->fd);
	buf_free(&cl->out);
	free(cl);
}

static void
client_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		struct ctl_client *cl;
		int slot = -1;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < CTL_MAX_CLIENTS && slot < 0; i++)
			if (clients[i] == NULL)
				slot = i;
		if (slot < 0) {
			static const char busy[] = "error: too many control connections\n\n";
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
				(void)0;
			close(fd);
			continue;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) < 0) {
			log_warn("control: SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		cl = xcalloc(1, sizeof(*cl));
		cl->fd = fd;
		cl->uid = cr.uid;
		cl->pid = cr.pid;
		cl->allowed = cr.uid == 0 || cr.uid == geteuid();
		if (!cl->allowed)
			log_warn("control: connection from uid %u pid %d: not allowed",
				 (unsigned)cr.uid, (int)cr.pid);
		clients[slot] = cl;
	}
}

static void
client_read(struct ctl_client *cl)
{
	while (!cl->eof && cl->inlen < CTL_LINE_MAX) {
		ssize_t n = recv(cl->fd, cl->in + cl->inlen, CTL_LINE_MAX - cl->inlen,
				 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				cl->eof = cl->quit = true;
			return;
		}
		if (n == 0) {
			cl->eof = true;
			return;
		}
		cl->inlen += (size_t)n;
		/* an over-long line is answered as soon as it is known */
		if (cl->run == NULL)
			client_process(cl);
	}
}

/* After events: run lines, send output, let streams continue, close. */
static void
client_step(struct ctl_client *cl)
{
	if (cl->run == NULL)
		client_process(cl);
	client_flush(cl);
	if (cl->run != NULL && cl->run->on_drain != NULL && cl->run->outstanding == 0 &&
	    cl->out.len - cl->out_off < CTL_LOW_WATER) {
		cl->run->on_drain(cl->run);
		if (cl->run == NULL)
			client_process(cl);
		client_flush(cl);
	}
	if (cl->out.len == cl->out_off && cl->run == NULL &&
	    (cl->quit || (cl->eof && cl->inlen == 0)))
		client_close(cl);
}

/* ---- the thread ----------------------------------------------------- */

static void *
ctl_main(void *arg)
{
	struct pollfd pfd[2 + CTL_MAX_CLIENTS];
	struct ctl_client *pcl[2 + CTL_MAX_CLIENTS];
	int64_t last_tick = 0;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load_explicit(&stopping, memory_order_acquire)) {
		int n = 0, rc;
		int64_t now;

		pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl.efd, .events = POLLIN };
		for (int i = 0; i < CTL_MAX_CLIENTS; i++) {
			struct ctl_client *cl = clients[i];
			short ev = 0;
			if (cl == NULL)
				continue;
			if (!cl->eof && cl->inlen < CTL_LINE_MAX)
				ev |= POLLIN;
			if (cl->out.len > cl->out_off)
				ev |= POLLOUT;
			pcl[n] = cl;
			pfd[n++] = (struct pollfd){ .fd = cl->fd, .events = ev };
		}
		rc = poll(pfd, (nfds_t)n, 250);
		if (rc < 0 && errno != EINTR) {
			log_err("control: poll: %s", strerror(errno));
			break;
		}
		if (rc > 0 && (pfd[1].revents & POLLIN)) {
			uint64_t v;
			if (read(ctl.efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				log_warn("control: eventfd: %s", strerror(errno));
			answers();
		}
		if (rc > 0 && (pfd[0].revents & POLLIN))
			client_accept();
		for (int i = 2; rc > 0 && i < n; i++) {
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				client_read(pcl[i]);
		}
		now = ctl_mono();
		if (now != last_tick) {
			last_tick = now;
			timeouts();
			ctl_alerts_tick();
			ctl_reload_tick();
		}
		for (int i = 0; i < CTL_MAX_CLIENTS; i++)
			if (clients[i] != NULL)
				client_step(clients[i]);
	}
	for (int i = 0; i < CTL_MAX_CLIENTS; i++)
		if (clients[i] != NULL)
			client_close(clients[i]);
	/* runs still waiting are finished by their answers (workers are still
	   up); give them a moment so nothing is left behind */
	for (int k = 0; k < 40 && inflight != NULL; k++) {
		struct pollfd p = { .fd = ctl.efd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0) {
			uint64_t v;
			if (read(ctl.efd, &v, sizeof(v)) < 0)
				(void)0;
		}
		answers();
	}
	ctl_alerts_fini();
	return NULL;
}

/* Bind the socket at path, replacing a stale one; mode 0600. */
static int
ctl_listen(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[sizeof(sa.sun_path)];
	struct stat st;
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "control socket %s: path longer than %zu bytes", path,
			 sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	snprintf(dir, sizeof(dir), "%s", path);
	if (strcmp(dirname(dir), ".") != 0 && mkdir(dir, 0750) < 0 && errno != EEXIST) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: cannot create directory %s: %s", path,
			 dir, strerror(errno));
		return rc;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: %s", strerror(errno));
		return rc;
	}
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	if (rc < 0 && errno == EADDRINUSE) {
		/* a file is there: a live socket (refuse) or a stale one (replace) */
		int p = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		bool live = p >= 0 && connect(p, (struct sockaddr *)&sa, sizeof(sa)) == 0;
		if (p >= 0)
			close(p);
		if (live) {
			snprintf(err, errlen, "control socket %s is in use by a running process "
				 "(another sluiced?)", path);
			close(fd);
			return -EADDRINUSE;
		}
		if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "control socket %s: exists and is not a socket", path);
			close(fd);
			return -EEXIST;
		}
		unlink(path);
		rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	if (rc < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: bind: %s", path, strerror(-rc));
		close(fd);
		return rc;
	}
	/* before listen(): nobody can connect yet */
	if (chmod(path, 0600) < 0 || listen(fd, 64) < 0 || stat(path, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket %s: %s", sa.sun_path, strerror(-rc));
		close(fd);
		unlink(path);
		return rc;
	}
	sock_ino = st.st_ino;
	return fd;
}

int
ctl_start(const struct config *cfg, struct worker *ws, unsigned n, const char *version,
	  char *err, size_t errlen)
{
	int rc;

	memset(&ctl, 0, sizeof(ctl));
	ctl.ws = ws;
	ctl.nw = n;
	ctl.started = time(NULL);
	ctl.alert_threshold = 200;
	ctl.alert_age = 3600;
	snprintf(ctl.version, sizeof(ctl.version), "%s", version);
	snprintf(ctl.path, sizeof(ctl.path), "%s", cfg->control_socket);
	rc = ctl_listen(cfg->control_socket, err, errlen);
	if (rc < 0)
		return rc;
	listen_fd = rc;
	ctl.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ctl.efd < 0) {
		rc = -errno;
		snprintf(err, errlen, "control socket: eventfd: %s", strerror(errno));
		close(listen_fd);
		unlink(ctl.path);
		return rc;
	}
	atomic_store(&stopping, false);
	rc = pthread_create(&thread, NULL, ctl_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "control thread: %s", strerror(rc));
		close(listen_fd);
		close(ctl.efd);
		unlink(ctl.path);
		return -rc;
	}
	running = true;
	log_info("control socket %s ready (mode 0600)", ctl.path);
	return 0;
}

void
ctl_stop(void)
{
	struct stat st;
	uint64_t one = 1;

	if (!running)
		return;
	atomic_store_explicit(&stopping, true, memory_order_release);
	if (write(ctl.efd, &one, sizeof(one)) < 0)
		(void)0;
	pthread_join(thread, NULL);
	running = false;
	close(listen_fd);
	if (stat(ctl.path, &st) == 0 && st.st_ino == sock_ino)
		unlink(ctl.path);
	/* an orphan a stuck worker still holds may write the eventfd later:
	   keep it open then rather than let a reused fd number get its bytes */
	if (inflight == NULL)
		close(ctl.efd);
}
