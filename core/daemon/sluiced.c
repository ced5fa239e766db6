/*
 * sluiced — the relay daemon: load the config, start one worker per core,
 * then wait for signals.  SIGHUP reloads the config (a bad file is reported
 * and the running config stays); SIGUSR1 reopens the log file (after
 * logrotate moved it); SIGTERM or SIGINT drain and exit.
 *
 * The main thread never touches a worker's ring or sessions; it hands a new
 * config over through the worker's atomics and frees the old one only after
 * every worker has switched.
 *
 * core/daemon/ is the top of the house: the daemon's main and the pieces
 * that compose the subsystems below it (what a config builds,
 * daemon_config.c; what a worker runs, daemon_worker.c; who the daemon
 * runs as, privs.c; what it tells the service manager, notify.c).  Nothing
 * includes a header of this folder except its own files.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/cluster/agent.h"
#include "core/config.h"
#include "core/ctl/ctl.h"
#include "core/ctl/ctl_reload.h"
#include "core/daemon/daemon_config.h"
#include "core/daemon/daemon_trace.h"
#include "core/daemon/daemon_worker.h"
#include "core/daemon/notify.h"
#include "core/daemon/privs.h"
#include "core/http/http.h"
#include "core/log.h"
#include "core/tenant/fixnow.h"
#include "core/worker.h"
#include "net/listen_probe.h"
#include "queue/spool.h"
#include "queue/spool_lock.h"

#define SLUICE_VERSION "0.1.0"

/*
 * jemalloc's built-in options (MALLOC_CONF in the environment still wins).
 * Freed pages are handed back to the kernel by background threads within
 * about dirty_decay_ms, whether or not the process allocates again: with
 * the defaults, purging ran only as a side effect of later allocations, so
 * after a burst an idle relay kept its peak (100+ MiB) for good.  Muzzy
 * pages (MADV_FREE) still count in RSS until the kernel needs them, so that
 * stage is skipped.  Ignored by sanitizer builds, which have no jemalloc.
 */
const char *malloc_conf = "background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0";

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: sluiced [-c FILE] [-w WORKERS] [-t] [-d] [-v]\n"
		"  -c FILE     configuration (YAML); default: the built-in config\n"
		"  -w N        worker threads (overrides the config; 0 = one per core)\n"
		"  -t          check the configuration and exit\n"
		"  -d          print the built-in configuration and exit\n"
		"  -v          verbose (debug) logging\n");
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* The fix-now state file: state_file, or fixnow.txt in the spool. */
static void
state_path(const struct config *cfg, char *out, size_t len)
{
	if (cfg->state_file != NULL)
		snprintf(out, len, "%s", cfg->state_file);
	else
		snprintf(out, len, "%s/fixnow.txt", cfg->spool_dir);
}

/* The cluster agent (core/cluster/agent.h) when redis: is set: it
 * applies settings through the control socket, so it starts once the
 * workers serve.  Settings of the config it started with; a reload does
 * not move a node to another cluster. */
static int
cluster_agent(const struct config *cfg, char *err, size_t errlen)
{
	const struct cfg_cluster *cc = &cfg->cluster_cfg;
	char state[PATH_MAX];
	struct agent_config ac = {
		.redis = { .host = cfg->redis_host, .port = (int)cfg->redis_port,
			   .sentinels = (const char *const *)cfg->redis_sentinels,
			   .nsentinels = cfg->nredis_sentinels, .master = cfg->redis_master,
			   .password = cfg->redis_password,
			   .sentinel_password = cfg->redis_sentinel_password,
			   .timeout_ms = 500 },
		.node = cc->node ? cc->node : cfg->hostname,
		.number = cc->number,
		.prefix = cc->prefix,
		.state_file = state,
		.ctl_path = cfg->control_socket,
		.publish_s = cc->publish,
		.stale_s = cc->stale,
		.alerts_cluster = cc->alerts_cluster,
	};

	if (cfg->redis_host == NULL && cfg->nredis_sentinels == 0)
		return 0;
	if (cc->state_file != NULL)
		snprintf(state, sizeof(state), "%s", cc->state_file);
	else
		snprintf(state, sizeof(state), "%s/cluster-state.json", cfg->spool_dir);
	return agent_start(&ac, err, errlen);
}

/* -v: debug lines whatever the config's log level says */
static bool verbose;

/* The log settings the daemon started with: a reload changes only the
 * level (the destination is open, and may be out of reach once the
 * privileges are dropped). */
static struct {
	enum cfg_log_to to;		/* destination */
	bool json;			/* format */
	unsigned facility;		/* syslog facility */
	char path[4096];		/* the file, or "" */
} log_start;

/* Send the log where cfg says; *created: a file this made. */
static void
log_setup(const struct config *cfg, bool *created)
{
	static const enum log_dest dest[] = {
		[CFG_LOG_STDERR] = LOG_TO_STDERR,
		[CFG_LOG_SYSLOG] = LOG_TO_SYSLOG,
		[CFG_LOG_FILE] = LOG_TO_FILE,
	};
	struct log_setup s = {
		.to = dest[cfg->log.to],
		.path = cfg->log.path,
		.json = cfg->log.json,
		.facility = cfg->log.facility,
	};
	char err[4200];

	if (log_open(&s, created, err, sizeof(err)) < 0)
		fatal("%s", err);
	log_set_level(verbose ? LOG_DEBUG : (enum log_level)cfg->log.level);
	log_start.to = cfg->log.to;
	log_start.json = cfg->log.json;
	log_start.facility = cfg->log.facility;
	snprintf(log_start.path, sizeof(log_start.path), "%s", cfg->log.path ? cfg->log.path : "");
}

/* A reload takes the new level; the rest waits for a restart. */
static void
log_reload(const struct config *cfg)
{
	if (!verbose)
		log_set_level((enum log_level)cfg->log.level);
	if (cfg->log.to != log_start.to || cfg->log.json != log_start.json ||
	    cfg->log.facility != log_start.facility ||
	    strcmp(cfg->log.path ? cfg->log.path : "", log_start.path) != 0)
		log_warn("log: a new destination, format or facility takes effect at the "
			 "next start; the level changed now");
}

static int
load(const char *path, struct config **cfg, char *err, size_t errlen)
{
	int rc;

	if (path != NULL)
		rc = config_load(path, cfg, err, errlen);
	else
		rc = config_load_string("(built-in)", config_default_yaml, cfg, err, errlen);
	if (rc == 0 && (rc = daemon_config_build(*cfg, err, errlen)) < 0)
		config_free(*cfg);
	return rc;
}

/* Configs replaced by a reload, freed once every worker has moved on and
 * nothing holds them any more (an outbound connection started before the
 * reload keeps its config until it closes: config_hold).  Not a fixed
 * array: a long transaction must not make later reloads fail. */
struct retired {
	struct config **cfg;		/* waiting to be freed (malloc) */
	unsigned n;			/* how many */
	unsigned cap;			/* entries allocated */
};

/* Keep cfg until retire_sweep frees it.  Returns 0 or -ENOMEM. */
static int
retire_add(struct retired *r, struct config *cfg)
{
	if (r->n == r->cap) {
		unsigned cap = r->cap ? r->cap * 2 : 8;
		struct config **v = realloc(r->cfg, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		r->cfg = v;
		r->cap = cap;
	}
	r->cfg[r->n++] = cfg;
	return 0;
}

static void
retire_sweep(struct retired *r, struct worker *ws, unsigned n, const struct config *cur)
{
	unsigned kept = 0;

	if (r->n == 0 || !workers_have(ws, n, cur))
		return;
	for (unsigned i = 0; i < r->n; i++) {
		if (config_held(r->cfg[i]))
			r->cfg[kept++] = r->cfg[i];
		else
			config_free(r->cfg[i]);
	}
	r->n = kept;
}

/* What the main thread keeps while it serves. */
struct daemon {
	const char *path;		/* -c FILE, or NULL: the built-in config */
	struct config *cfg;		/* the running config */
	struct worker *ws;		/* the workers */
	unsigned n;			/* their number */
	struct retired ret;		/* replaced configs not freed yet */
	char ready[256];		/* the service manager's STATUS= line */
	char accounts[128];		/* user:group:control_group at start */
	char http[1024];		/* http: at start (http_settings) */
};

/* cfg's http: section as one string, to compare. */
static const char *
http_settings(const struct config *cfg, char *out, size_t len)
{
	const struct cfg_http *h = &cfg->http;

	snprintf(out, len, "%d %s %s %d %d %u %s", h->enabled, h->listen ? h->listen : "",
		 h->token_file ? h->token_file : "", h->write, h->read_token,
		 h->max_connections, h->static_dir ? h->static_dir : "");
	return out;
}

/* user, group and control_group of cfg as one string, to compare. */
static const char *
accounts(const struct config *cfg, char *out, size_t len)
{
	snprintf(out, len, "%s:%s:%s", cfg->user ? cfg->user : "",
		 cfg->group ? cfg->group : "", cfg->control_group ? cfg->control_group : "");
	return out;
}

/* A worker that has not begun a turn for this long (s) starves the
 * service manager's watchdog, which then restarts sluiced. */
#define WORKER_STUCK 10

/* Log a failed notification once: the manager is gone or misconfigured. */
static void
notified(int rc)
{
	static bool said;

	if (rc < 0 && !said) {
		said = true;
		log_warn("NOTIFY_SOCKET: cannot notify the service manager: %s",
			 strerror(-rc));
	}
}

/* SIGHUP (or "reload" on the control socket, which raises it). */
static void
reload(struct daemon *d)
{
	struct config *ncfg;
	char err[1024];

	notified(notify_reloading("reloading the configuration"));
	if (load(d->path, &ncfg, err, sizeof(err)) < 0 ||
	    (daemon_config_tenants(ncfg, d->n, d->cfg, err, sizeof(err)) < 0 &&
	     (config_free(ncfg), 1))) {
		log_err("reload failed, keeping the running configuration: %s", err);
		notified(notify_send("READY=1\nSTATUS=%s; the last reload failed (see the "
				     "log)", d->ready));
		ctl_reload_done(-EINVAL, err);
		return;
	}
	if (retire_add(&d->ret, d->cfg) < 0) {
		log_err("reload refused: out of memory");
		config_free(ncfg);
		notified(notify_send("READY=1\nSTATUS=%s; the last reload failed (out of "
				     "memory)", d->ready));
		ctl_reload_done(-ENOMEM, "out of memory");
		return;
	}
	d->cfg = ncfg;
	workers_reload(d->ws, d->n, d->cfg);
	log_reload(d->cfg);
	daemon_trace_reload(d->cfg);
	if (strcmp(accounts(d->cfg, err, sizeof(err)), d->accounts) != 0)
		log_warn("user, group and control_group take effect at the next start");
	if (strcmp(http_settings(d->cfg, err, sizeof(err)), d->http) != 0)
		log_warn("http: a new listener, token or setting takes effect at the next "
			 "start");
	log_info("configuration %s reloaded (listeners and spool keep "
		 "their start-up values)", d->cfg->path);
	notified(notify_send("READY=1\nSTATUS=%s", d->ready));
	ctl_reload_done(0, NULL);
}

static uint64_t
mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* WATCHDOG=1, but only while every worker turns: a stuck worker is worth
 * a restart by the manager, a live main thread alone is not. */
static void
watchdog(struct daemon *d)
{
	static int stuck = -1;
	int w = workers_stuck(d->ws, d->n, mono_usec() / 1000000, WORKER_STUCK);

	if (w >= 0 && w != stuck)
		log_err("worker %d has not turned its loop for %ds: the watchdog is not fed, "
			"the service manager will restart sluiced", w, WORKER_STUCK);
	stuck = w;
	if (w < 0)
		notified(notify_send("WATCHDOG=1"));
}

/* Wait for signals until one says stop; the watchdog in between. */
static void
serve(struct daemon *d, sigset_t *set)
{
	uint64_t wd = notify_watchdog_usec() / 2, next = 0;	/* twice per period */

	if (wd > 0)
		log_info("watchdog: every %llu ms", (unsigned long long)wd / 1000);
	for (;;) {
		uint64_t wait = wd > 0 && wd < 1000000 ? wd : 1000000, now;
		struct timespec ts = { (time_t)(wait / 1000000), (long)(wait % 1000000) * 1000 };
		int sig = sigtimedwait(set, NULL, &ts);

		retire_sweep(&d->ret, d->ws, d->n, d->cfg);
		if (wd > 0 && (now = mono_usec()) >= next) {
			watchdog(d);
			next = now + wd;
		}
		if (sig < 0)
			continue;
		if (sig == SIGUSR1) {
			char err[4200];

			if (log_reopen(err, sizeof(err)) < 0)
				log_err("log: cannot reopen %s; still writing to the file "
					"that was open", err);
			else
				log_info("log reopened (SIGUSR1)");
			continue;
		}
		if (sig == SIGHUP) {
			reload(d);
			continue;
		}
		log_info("signal %d: draining (at most %us)", sig,
			 d->cfg->limits.drain_timeout);
		notified(notify_send("STOPPING=1\nSTATUS=draining (at most %us)",
				     d->cfg->limits.drain_timeout));
		return;
	}
}

int
main(int argc, char **argv)
{
	const char *path = NULL;
	struct config *cfg;
	struct worker *ws;
	struct retired ret;
	struct daemon d = { .ret = { .cfg = NULL, .n = 0, .cap = 0 } };
	char err[1024], state[4200];
	int opt, workers = -1, check = 0, lock, rc;
	struct privs pv;
	bool created;
	unsigned n, used;
	sigset_t set;

	while ((opt = getopt(argc, argv, "c:w:tdvh")) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'w':
			workers = atoi(optarg);
			break;
		case 't':
			check = 1;
			break;
		case 'd':
			fputs(config_default_yaml, stdout);
			return 0;
		case 'v':
			verbose = true;
			log_set_level(LOG_DEBUG);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (load(path, &cfg, err, sizeof(err)) < 0 ||
	    ((privs_lookup(cfg, &pv, err, sizeof(err)) < 0 ||
	      http_check(cfg, err, sizeof(err)) < 0) && (config_free(cfg), 1))) {
		fprintf(stderr, "sluiced: %s\n", err);
		return 1;
	}
	if (check) {
		printf("sluiced: configuration %s is valid\n", cfg->path);
		config_free(cfg);
		return 0;
	}
	/*
	 * Start-up order.  As root (when started so): what needs it, the TLS
	 * keys (read by load, above), the log file, the spool's lock, the
	 * listeners, the control socket; then the drop to user:; then, as
	 * that user, the spool itself, so everything in it is the user's.
	 */
	log_setup(cfg, &created);
	if (notify_open(err, sizeof(err)) < 0)
		log_warn("%s: the service manager will not hear from sluiced", err);
	notified(notify_send("STATUS=starting"));
	if (privs_decide(&pv, err, sizeof(err)) < 0)
		fatal("%s", err);
	if (pv.drop && created && chown(cfg->log.path, pv.uid, pv.gid) < 0)
		fatal("log: %s: cannot give it to %s: %s", cfg->log.path, pv.name,
		      strerror(errno));
	if (privs_spool(cfg->spool_dir, &pv, err, sizeof(err)) < 0)
		fatal("%s", err);
	/*
	 * Before anything reads or writes the spool (fix-now state, recovery,
	 * the control socket): one instance per spool.  The descriptor stays
	 * open, and the lock held, until the process exits.
	 */
	if ((lock = spool_lock(cfg->spool_dir, err, sizeof(err))) < 0)
		fatal("%s", err);
	if (pv.drop && fchown(lock, pv.uid, pv.gid) < 0)
		fatal("spool %s/lock: cannot give it to %s: %s", cfg->spool_dir, pv.name,
		      strerror(errno));
	/* SO_REUSEPORT would let the workers join someone else's listener */
	if (listen_probe(cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	n = workers >= 0 ? (unsigned)workers : cfg->workers;
	if (n == 0)
		n = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (n == 0 || n > 256)
		fatal("worker count %u out of range 1..256", n);
	used = spool_workers_used(cfg->spool_dir);
	if (used > n) {
		if (used > 256)
			fatal("spool %s holds mail of %u workers, more than 256", cfg->spool_dir,
			      used);
		log_warn("spool %s holds mail of %u workers and this start has %u: running %u "
			 "workers so that all of it is recovered and delivered (to run fewer, "
			 "drain the queue, stop, and remove the w%u..w%u directories)",
			 cfg->spool_dir, used, n, used, n, used - 1);
		n = used;
	}

	if (daemon_config_tenants(cfg, n, NULL, err, sizeof(err)) < 0)
		fatal("%s", err);
	spool_id_node(cfg->cluster_cfg.number);	/* in every queue id, from the start */
	state_path(cfg, state, sizeof(state));
	if (fixnow_load(state, err, sizeof(err)) < 0)
		fatal("fix-now state: %s", err);
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);	/* a file size limit is an EFBIG, not a death */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);	/* workers inherit the mask */

	if (privs_control_dir(cfg->control_socket, &pv, err, sizeof(err)) < 0)
		fatal("%s", err);
	notified(notify_send("STATUS=starting: binding the listeners"));
	if (daemon_workers_start(&ws, n, cfg, err, sizeof(err)) < 0)
		fatal("%s", err);
	/* control socket (core/ctl/ctl.h): its thread inherits the signal mask;
	   its requests wait in the workers' queues until they serve */
	rc = ctl_start(cfg, ws, n, SLUICE_VERSION, err, sizeof(err));
	/* the HTTP listener (core/http/http.h): its token file may be root's */
	if (rc == 0 && ((rc = http_open(cfg, err, sizeof(err))) < 0 ||
			(rc = privs_control_socket(cfg->control_socket, &pv, err,
						   sizeof(err))) < 0 ||
			(rc = privs_drop(&pv, err, sizeof(err))) < 0 ||
			(rc = privs_check_later(cfg, &pv, state, err, sizeof(err))) < 0)) {
		http_stop();
		ctl_stop();
	}
	if (rc < 0) {
		daemon_workers_stop(ws, n);
		fatal("%s", err);
	}
	if (pv.control_group)
		log_info("control socket %s: group %s, mode 0660", cfg->control_socket,
			 cfg->control_group);
	if (pv.drop)
		log_info("running as %s:%s (uid %u, gid %u), no capabilities left", pv.name,
			 pv.group, (unsigned)pv.uid, (unsigned)pv.gid);
	/* the trace's database is the user's too; its feeds before serving */
	daemon_trace_start(cfg, ws, n);
	notified(notify_send("STATUS=starting: recovering the spool"));
	if (daemon_workers_run(ws, n, cfg, err, sizeof(err)) < 0 ||
	    http_start(err, sizeof(err)) < 0 || cluster_agent(cfg, err, sizeof(err)) < 0) {
		http_stop();
		ctl_stop();
		daemon_workers_stop(ws, n);
		daemon_trace_stop();
		fatal("%s", err);
	}
	accounts(cfg, d.accounts, sizeof(d.accounts));
	http_settings(cfg, d.http, sizeof(d.http));
	d.path = path;
	d.cfg = cfg;
	d.ws = ws;
	d.n = n;
	snprintf(d.ready, sizeof(d.ready), "ready: %u workers, listening on %s%s", n,
		 cfg->listeners[0].text, cfg->nlisteners > 1 ? " and more" : "");
	log_info("sluiced %s ready: %u workers, config %s, spool %s, listening on %s%s",
		 SLUICE_VERSION, n, cfg->path, cfg->spool_dir, cfg->listeners[0].text,
		 cfg->nlisteners > 1 ? " (and more)" : "");
	notified(notify_send("READY=1\nSTATUS=%s", d.ready));
	serve(&d, &set);
	cfg = d.cfg;
	ret = d.ret;
	agent_stop();		/* before the control socket it applies through */
	http_stop();		/* before the control socket it asks */
	ctl_stop();		/* before the workers it talks to */
	daemon_workers_stop(ws, n);
	daemon_trace_stop();	/* after the workers that feed it */
	for (unsigned i = 0; i < ret.n; i++)
		config_free(ret.cfg[i]);
	free(ret.cfg);
	config_free(cfg);
	log_info("sluiced stopped");
	return 0;
}
