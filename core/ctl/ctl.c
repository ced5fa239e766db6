/*
 * ctl — the control thread: the unix socket, its connections, the line
 * framing (see core/ctl/ctl.h), the command list and dispatch, and the
 * commands of the connection itself (help, quit).  A line becomes a
 * command in core/ctl/ctl_parse.c (pure, fuzzed); the plumbing a command
 * answers through and sends worker requests with is core/ctl/ctl_run.c.
 *
 * Not for: what a command computes (the command files, listed in
 * core/ctl/ctl.h) or what runs on a worker (ctl_worker.c).
 *
 * One thread runs a plain poll() loop over the listening socket, its
 * answer eventfd and at most CTL_MAX_CONNS connections.  It never
 * blocks: sockets are non-blocking, output is buffered per connection
 * (streaming commands stop producing above CTL_HIGH_WATER and resume when
 * it drains), and worker answers arrive through the eventfd (ctl_answers
 * hands them to their runs).
 */
#include "core/ctl/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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
#include "core/ctl/ctl_act.h"
#include "core/ctl/ctl_alert.h"
#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_config.h"
#include "core/ctl/ctl_message.h"
#include "core/ctl/ctl_metrics.h"
#include "core/ctl/ctl_queue.h"
#include "core/ctl/ctl_reload.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_show.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"
#include "core/ctl/ctl_trace.h"
#include "core/log.h"
#include "core/xalloc.h"

#define CTL_MAX_CONNS 64	/* connections served at once */
#define CTL_HIGH_WATER (256u << 10)	/* streaming pauses above this */
#define CTL_LOW_WATER (64u << 10)	/* and resumes below this */

/* One connection to the socket. */
struct ctl_conn {
	struct ctl_client cl;		/* its output and the command running
					   (core/ctl/ctl_run.h) */
	int fd;				/* the connection */
	uid_t uid;			/* peer's uid (SO_PEERCRED) */
	pid_t pid;			/* peer's pid */
	bool owner;			/* root or our own uid: may run every
					   command; anyone else (who could
					   connect through the socket's group)
					   only those with changes = false */
	bool eof;			/* peer shut its write side */
	bool discarding;		/* skipping the rest of a long line */
	char in[CTL_LINE_MAX];		/* received, not yet a whole line */
	size_t inlen;			/* bytes in it */
};

static int listen_fd = -1;
static pthread_t thread;
static bool running;			/* ctl_start succeeded */
static atomic_bool stopping;		/* ctl_stop asked */
static struct ctl_conn *conns[CTL_MAX_CONNS];
static ino_t sock_ino;			/* our socket file, to unlink only it */

static void cmd_help(struct ctl_run *r);
static void cmd_quit(struct ctl_run *r);

static const struct ctl_cmd help_cmd = {
	.words = "help",
	.args = "",
	.help = "list the commands",
	.changes = false,
	.run = cmd_help,
};

static const struct ctl_cmd quit_cmd = {
	.words = "quit",
	.args = "",
	.help = "close this connection",
	.changes = false,
	.run = cmd_quit,
};

/* The commands, each defined next to its handler: `help` lists them in
 * this order. */
static const struct ctl_cmd *const cmds[] = {
	&help_cmd,
	&ctl_cmd_show_info,
	&ctl_cmd_show_stats,
	&ctl_cmd_show_connectors,
	&ctl_cmd_show_insights,
	&ctl_cmd_show_queue,
	&ctl_cmd_show_message,
	&ctl_cmd_trace,
	&ctl_cmd_qshape,
	&ctl_cmd_show_metrics,
	&ctl_cmd_flush,
	&ctl_cmd_hold,
	&ctl_cmd_release,
	&ctl_cmd_delete,
	&ctl_cmd_bounce,
	&ctl_cmd_requeue,
	&ctl_cmd_connector,
	&ctl_cmd_validate,
	&ctl_cmd_show_tenants,
	&ctl_cmd_fixnow,
	&ctl_cmd_set_alert,
	&ctl_cmd_cluster,
	&ctl_cmd_show_config,
	&ctl_cmd_set_log_level,
	&ctl_cmd_reload,
	&quit_cmd,
};

#define NCMDS (sizeof(cmds) / sizeof(cmds[0]))

/* ---- output ----------------------------------------------------------- */

/* Send what we can of c's output now. */
static void
conn_flush(struct ctl_conn *c)
{
	while (c->cl.out_off < c->cl.out.len) {
		ssize_t n = send(c->fd, c->cl.out.p + c->cl.out_off,
				 c->cl.out.len - c->cl.out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->eof = true;		/* peer gone: drop the rest */
				c->cl.quit = true;
				c->cl.out.len = c->cl.out_off = 0;
			}
			return;
		}
		c->cl.out_off += (size_t)n;
	}
	c->cl.out.len = c->cl.out_off = 0;
}

/* ---- commands of this file ------------------------------------------ */

static void
cmd_help(struct ctl_run *r)
{
	if (r->json) {
		json_t *a = json_array();
		for (size_t i = 0; i < NCMDS; i++) {
			char usage[256];
			snprintf(usage, sizeof(usage), "%s%s%s [json]", cmds[i]->words,
				 cmds[i]->args[0] ? " " : "", cmds[i]->args);
			log_json_append(&a, json_pack("{s:s, s:s, s:s, s:b}", "command",
						      cmds[i]->words, "usage", usage, "help",
						      cmds[i]->help, "changes", cmds[i]->changes));
		}
		ctl_json(r, json_pack("{s:o}", "commands", a));
	} else {
		struct ctl_table *t = ctl_table_new((const char *[]){ "COMMAND", "DESCRIPTION",
								      NULL });
		for (size_t i = 0; i < NCMDS; i++) {
			char usage[256];
			snprintf(usage, sizeof(usage), "%s%s%s", cmds[i]->words,
				 cmds[i]->args[0] ? " " : "", cmds[i]->args);
			ctl_table_row(t, usage, cmds[i]->help);
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

/* Run one request line (NUL-terminated, no LF) for c. */
static void
conn_command(struct ctl_conn *c, const char *line, size_t len)
{
	struct ctl_run *r = ctl_run_new(&c->cl);
	struct ctl_req req;
	char err[256];

	memcpy(r->line, line, len + 1);
	ctl_parse(r->line, len, cmds, NCMDS, &req, err, sizeof(err));
	r->json = req.json;
	if (req.cmd == NULL) {
		ctl_fail(r, "%s", err);
		return;
	}
	if (req.cmd->changes && !c->owner) {
		log_warn("control: uid %u pid %d refused (changes need root or uid %u): %s",
			 (unsigned)c->uid, (int)c->pid, (unsigned)geteuid(), line);
		ctl_fail(r, "permission denied: uid %u may not run '%s': changes need root "
			 "or the daemon's user (uid %u); show commands, qshape and help are "
			 "open to it", (unsigned)c->uid, req.cmd->words, (unsigned)geteuid());
		return;
	}
	r->cmd = req.cmd;
	r->argc = req.argc;
	memcpy(r->argv, req.argv, sizeof(r->argv));
	if (req.cmd->changes)
		log_info("control: uid %u pid %d: %s", (unsigned)c->uid, (int)c->pid, line);
	req.cmd->run(r);
}

/* Take whole lines out of c->in and run them, one command at a time. */
static void
conn_process(struct ctl_conn *c)
{
	while (c->cl.run == NULL && !c->cl.quit) {
		char *lf = memchr(c->in, '\n', c->inlen);
		size_t len;

		if (lf == NULL) {
			if (c->discarding) {
				c->inlen = 0;
				break;
			}
			if (c->inlen >= CTL_LINE_MAX) {
				struct ctl_run r = { .cl = &c->cl };
				ctl_printf(&r, "error: command line too long (at most %d bytes)\n\n",
					   CTL_LINE_MAX);
				c->discarding = true;
				c->inlen = 0;
				continue;
			}
			if (!c->eof || c->inlen == 0)
				break;
			lf = c->in + c->inlen;	/* last line without LF */
			len = c->inlen;
		} else {
			len = (size_t)(lf - c->in) + 1;
		}
		if (c->discarding) {
			c->discarding = false;
		} else {
			char line[CTL_LINE_MAX + 1];
			size_t n = (size_t)(lf - c->in);
			memcpy(line, c->in, n);
			if (n > 0 && line[n - 1] == '\r')
				n--;
			line[n] = '\0';
			size_t b = 0;
			while (b < n && (line[b] == ' ' || line[b] == '\t'))
				b++;
			if (b < n) {
				memmove(c->in, c->in + len, c->inlen - len);
				c->inlen -= len;
				conn_command(c, line, n);
				continue;
			}
		}
		memmove(c->in, c->in + len, c->inlen - len);
		c->inlen -= len;
	}
}

/* ---- connections ---------------------------------------------------- */

static void
conn_close(struct ctl_conn *c)
{
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		if (conns[i] == c)
			conns[i] = NULL;
	if (c->cl.run != NULL) {
		struct ctl_run *r = c->cl.run;
		r->cl = NULL;
		/* waiting for answers: it finishes on its own, silently; else
		   (a paused stream, a reload) nothing would ever end it */
		if (r->outstanding == 0)
			ctl_run_free(r);
	}
	close(c->fd);
	buf_free(&c->cl.out);
	free(c);
}

static void
conn_accept(void)
{
	for (;;) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct ucred cr;
		socklen_t crl = sizeof(cr);
		struct ctl_conn *c;
		int slot = -1;

		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < CTL_MAX_CONNS && slot < 0; i++)
			if (conns[i] == NULL)
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
		c = xcalloc(1, sizeof(*c));
		c->fd = fd;
		c->uid = cr.uid;
		c->pid = cr.pid;
		c->owner = cr.uid == 0 || cr.uid == geteuid();
		conns[slot] = c;
	}
}

static void
conn_read(struct ctl_conn *c)
{
	while (!c->eof && c->inlen < CTL_LINE_MAX) {
		ssize_t n = recv(c->fd, c->in + c->inlen, CTL_LINE_MAX - c->inlen,
				 MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->eof = c->cl.quit = true;
			return;
		}
		if (n == 0) {
			c->eof = true;
			return;
		}
		c->inlen += (size_t)n;
		/* an over-long line is answered as soon as it is known */
		if (c->cl.run == NULL)
			conn_process(c);
	}
}

/* After events: run lines, send output, let streams continue, close. */
static void
conn_step(struct ctl_conn *c)
{
	if (c->cl.run == NULL)
		conn_process(c);
	conn_flush(c);
	if (c->cl.run != NULL && c->cl.run->on_drain != NULL &&
	    c->cl.run->outstanding == 0 && c->cl.out.len - c->cl.out_off < CTL_LOW_WATER) {
		c->cl.run->on_drain(c->cl.run);
		if (c->cl.run == NULL)
			conn_process(c);
		conn_flush(c);
	}
	if (c->cl.out.len == c->cl.out_off && c->cl.run == NULL &&
	    (c->cl.quit || (c->eof && c->inlen == 0)))
		conn_close(c);
}

/* ---- the thread ----------------------------------------------------- */

static void *
ctl_main(void *arg)
{
	struct pollfd pfd[2 + CTL_MAX_CONNS];
	struct ctl_conn *pcl[2 + CTL_MAX_CONNS];
	int64_t last_tick = 0;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	while (!atomic_load_explicit(&stopping, memory_order_acquire)) {
		int n = 0, rc;
		int64_t now;

		pfd[n++] = (struct pollfd){ .fd = listen_fd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = ctl.efd, .events = POLLIN };
		for (int i = 0; i < CTL_MAX_CONNS; i++) {
			struct ctl_conn *c = conns[i];
			short ev = 0;
			if (c == NULL)
				continue;
			if (!c->eof && c->inlen < CTL_LINE_MAX)
				ev |= POLLIN;
			if (c->cl.out.len > c->cl.out_off)
				ev |= POLLOUT;
			pcl[n] = c;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
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
			ctl_answers();
		}
		if (rc > 0 && (pfd[0].revents & POLLIN))
			conn_accept();
		for (int i = 2; rc > 0 && i < n; i++) {
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				conn_read(pcl[i]);
		}
		now = ctl_mono();
		if (now != last_tick) {
			last_tick = now;
			ctl_timeouts();
			ctl_alerts_tick();
			ctl_reload_tick();
		}
		for (int i = 0; i < CTL_MAX_CONNS; i++)
			if (conns[i] != NULL)
				conn_step(conns[i]);
	}
	for (int i = 0; i < CTL_MAX_CONNS; i++)
		if (conns[i] != NULL)
			conn_close(conns[i]);
	/* runs still waiting are finished by their answers (workers are still
	   up); give them a moment so nothing is left behind */
	for (int k = 0; k < 40 && ctl_inflight(); k++) {
		struct pollfd p = { .fd = ctl.efd, .events = POLLIN };
		if (poll(&p, 1, 50) > 0) {
			uint64_t v;
			if (read(ctl.efd, &v, sizeof(v)) < 0)
				(void)0;
		}
		ctl_answers();
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
	ctl.alert_threshold = cfg->alerts.threshold;
	ctl.alert_age = cfg->alerts.age;
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
	if (!ctl_inflight())
		close(ctl.efd);
}
