/*
 * daemon_worker — what a worker of sluiced runs: the hooks of the worker
 * loop (core/worker.h, struct worker_ops), wiring into it the spool and
 * the queue (queue/), the resolver and the SMTP server and client (net/),
 * the per-client limits shared by all workers (net/anvil.h) and the
 * control requests (core/ctl/).  core/worker.c is the loop and knows none
 * of these; each of them knows only what is below it.  This file is where
 * they meet, in the order each step needs them.
 *
 * Not for: the loop itself, or the logic of any subsystem.  The hooks run
 * on each worker's thread; daemon_workers_start/stop on the main thread.
 */
#include "core/daemon/daemon_worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctl/ctl_worker.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/anvil.h"
#include "net/dns.h"
#include "net/smtp_client.h"
#include "net/smtp_server.h"
#include "queue/queue.h"
#include "queue/spool.h"
#include "tls/tls.h"

/* One table of per-client counters for all workers (net/anvil.h), and what
 * each worker's spool recovery found, reported once every worker is up.
 * Written by the main thread before the workers start (and freed after
 * they stopped); recovered[i] by worker i during its start only. */
static struct anvil *anvil;
static struct spool_recovery *recovered;

/* Recovery hands every live message here; delivery starts after set-up. */
static void
recover_msg(void *arg, struct envelope *env, const struct spool_loc *loc)
{
	struct worker *w = arg;

	queue_recovered(w, env, loc, recovered[w->id].messages);
}

/* The listeners, while the process may still bind any port.  Their
 * accepts are armed now and complete once the loop runs. */
static int
relay_bind(struct worker *w)
{
	return smtp_server_listen(w, w->start_err, sizeof(w->start_err));
}

static int
relay_start(struct worker *w)
{
	const struct config *cfg = w->cfg;
	int rc;

	w->anvil = anvil;
	queue_init(w, &smtp_client_transport);
	rc = spool_open(&w->spool, cfg->spool_dir, w->id, cfg->segment_size, recover_msg, w,
			&recovered[w->id], w->start_err, sizeof(w->start_err));
	if (rc < 0)
		return rc;
	worker_clock(w);	/* recovery may have taken a while */
	w->dns = xcalloc(1, sizeof(*w->dns));
	rc = dns_init(w->dns, &w->ring, (const char *const *)cfg->resolvers, cfg->nresolvers,
		      cfg->dns_timeout_ms, 2);
	if (rc < 0) {
		free(w->dns);
		w->dns = NULL;
		snprintf(w->start_err, sizeof(w->start_err), "worker %u: resolver set-up "
			 "failed: %s", w->id, strerror(-rc));
		return rc;
	}
	queue_start(w);		/* what recovery found */
	return 0;
}

/* Start of a turn: the control socket's requests run here, on this thread. */
static void
relay_turn(struct worker *w)
{
	ctl_worker_run(w);
}

/* End of a turn: one group commit for the turn's records, then the replies
 * (a 250 goes out in a later turn, after its record's sync). */
static void
relay_flush(struct worker *w)
{
	spool_flush(w->spool, &w->ring);
	smtp_server_flush(w);
}

static void
relay_tick(struct worker *w)
{
	smtp_server_tick(w);
	queue_tick(w);
}

static void
relay_drain(struct worker *w)
{
	smtp_server_drain(w);
	smtp_client_drain(w);
}

static void
relay_abort(struct worker *w)
{
	smtp_server_abort(w);
}

/* Sessions gone and the spool written; outbound connections get 2 s past
 * the deadline to finish their QUIT. */
static bool
relay_drained(struct worker *w)
{
	return smtp_server_idle(w) && !spool_busy(w->spool) &&
	       (smtp_client_count(w) == 0 || w->now >= w->drain_deadline + 2);
}

static bool
relay_busy(struct worker *w)
{
	return smtp_server_sessions(w) > 0 || smtp_client_count(w) > 0;
}

static void
relay_trim(struct worker *w)
{
	queue_trim(w);
}

static void
relay_fini(struct worker *w)
{
	smtp_server_fini(w);
	if (w->dns != NULL) {
		dns_fini(w->dns);
		free(w->dns);
		w->dns = NULL;
	}
	if (w->q != NULL)
		queue_fini(w);
}

static void
relay_thread_end(struct worker *w)
{
	tls_thread_end();
}

static void
relay_release(struct worker *w)
{
	spool_close(w->spool);
	w->spool = NULL;
}

static const struct worker_ops relay_ops = {
	.bind = relay_bind,
	.start = relay_start,
	.turn = relay_turn,
	.flush = relay_flush,
	.thread_end = relay_thread_end,
	.tick = relay_tick,
	.drain = relay_drain,
	.abort = relay_abort,
	.drained = relay_drained,
	.busy = relay_busy,
	.trim = relay_trim,
	.fini = relay_fini,
	.release = relay_release,
};

int
daemon_workers_start(struct worker **out, unsigned n, const struct config *cfg, char *err,
		     size_t errlen)
{
	int rc;

	anvil = anvil_new();
	recovered = calloc(n, sizeof(*recovered));
	if (anvil == NULL || recovered == NULL) {
		snprintf(err, errlen, "workers: out of memory");
		rc = -ENOMEM;
		goto fail;
	}
	rc = workers_start(out, n, cfg, &relay_ops, err, errlen);
	if (rc < 0)
		goto fail;
	return 0;
fail:
	anvil_free(anvil);
	anvil = NULL;
	free(recovered);
	recovered = NULL;
	return rc;
}

int
daemon_workers_run(struct worker *ws, unsigned n, const struct config *cfg, char *err,
		   size_t errlen)
{
	int rc = workers_run(ws, n, err, errlen);

	if (rc < 0)
		return rc;	/* daemon_workers_stop frees what is left */
	for (unsigned i = 0; i < n; i++)
		log_info("worker %u: spool %s/w%u: %llu segments, %llu records, "
			 "%llu messages recovered, %llu damaged, %llu torn bytes cut, "
			 "%llu segments freed, %llu orphan body files removed", i, cfg->spool_dir, i,
			 (unsigned long long)recovered[i].segments,
			 (unsigned long long)recovered[i].records,
			 (unsigned long long)recovered[i].messages,
			 (unsigned long long)recovered[i].bad_records,
			 (unsigned long long)recovered[i].torn_bytes,
			 (unsigned long long)recovered[i].deleted,
			 (unsigned long long)recovered[i].orphans);
	free(recovered);
	recovered = NULL;
	return 0;
}

void
daemon_workers_stop(struct worker *ws, unsigned n)
{
	workers_stop(ws, n);
	anvil_free(anvil);	/* every worker is gone */
	anvil = NULL;
	free(recovered);	/* stopped before daemon_workers_run */
	recovered = NULL;
}
