/*
 * ctl_reload — the control socket's "reload": signal the main thread
 * (SIGHUP, exactly what an operator's kill -HUP does) and answer once the
 * main thread reports the result through ctl_reload_done.
 *
 * Threads: ctl_reload_done runs on the main thread and only records the
 * result under reload_mu; the control thread reads it once a second
 * (ctl_reload_tick) and answers each waiting "reload" that asked before
 * that result.  At most RELOAD_MAXWAIT wait at once, each for 30 s at
 * most.  A waiting run whose client leaves is freed by ctl.c, which drops
 * it from the waiting list through its on_free.
 */
#include "core/ctl/ctl_reload.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/ctl/ctl_run.h"
#include "core/xalloc.h"

static pthread_mutex_t reload_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned reload_gen;		/* reloads finished */
static int reload_rc;			/* result of the last one */
static char reload_err[512];		/* its error */

/* A reload command waiting for main to finish the reload. */
struct reload_wait {
	unsigned gen;			/* reload_gen when it asked */
	int64_t deadline;		/* monotonic s */
};

#define RELOAD_MAXWAIT 8
static struct ctl_run *reload_waiting[RELOAD_MAXWAIT];

void
ctl_reload_done(int rc, const char *err)
{
	pthread_mutex_lock(&reload_mu);
	reload_gen++;
	reload_rc = rc;
	snprintf(reload_err, sizeof(reload_err), "%s", err ? err : "");
	pthread_mutex_unlock(&reload_mu);
}

static void
reload_free(struct ctl_run *r)
{
	for (int i = 0; i < RELOAD_MAXWAIT; i++)
		if (reload_waiting[i] == r)
			reload_waiting[i] = NULL;
	free(r->state);
}

void
ctl_reload_tick(void)
{
	unsigned gen;
	int rc;
	char err[512];

	pthread_mutex_lock(&reload_mu);
	gen = reload_gen;
	rc = reload_rc;
	snprintf(err, sizeof(err), "%s", reload_err);
	pthread_mutex_unlock(&reload_mu);
	for (int i = 0; i < RELOAD_MAXWAIT; i++) {
		struct ctl_run *r = reload_waiting[i];
		struct reload_wait *rw;
		if (r == NULL)
			continue;
		rw = r->state;
		if (gen != rw->gen) {
			if (rc < 0) {
				ctl_fail(r, "reload failed, the running configuration stays: %s", err);
				continue;
			}
			if (r->json)
				ctl_json(r, json_pack("{s:s}", "result", "reloaded"));
			else
				ctl_printf(r, "configuration reloaded\n");
			ctl_end(r);
		} else if (ctl_mono() > rw->deadline) {
			ctl_fail(r, "reload signalled but no result after 30 s; see the log");
		}
	}
}

static void
cmd_reload(struct ctl_run *r)
{
	struct reload_wait *rw;
	int slot = -1;

	if (r->argc > 0) {
		ctl_fail(r, "usage: reload [json]");
		return;
	}
	for (int i = 0; i < RELOAD_MAXWAIT && slot < 0; i++)
		if (reload_waiting[i] == NULL)
			slot = i;
	if (slot < 0) {
		ctl_fail(r, "too many reloads waiting; try again");
		return;
	}
	rw = xcalloc(1, sizeof(*rw));
	pthread_mutex_lock(&reload_mu);
	rw->gen = reload_gen;
	pthread_mutex_unlock(&reload_mu);
	rw->deadline = ctl_mono() + 30;
	r->state = rw;
	r->on_free = reload_free;
	/* the main thread waits for SIGHUP (blocked everywhere, so it stays
	   pending for the process until sigtimedwait takes it) */
	if (kill(getpid(), SIGHUP) < 0) {
		ctl_fail(r, "reload: cannot signal the main thread: %s", strerror(errno));
		return;
	}
	reload_waiting[slot] = r;
}

const struct ctl_cmd ctl_cmd_reload = {
	.words = "reload",
	.args = "",
	.help = "reload the configuration (as SIGHUP)",
	.changes = true,
	.run = cmd_reload,
};
