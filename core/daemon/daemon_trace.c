/*
 * daemon_trace — the message trace's life in sluiced
 * (core/daemon/daemon_trace.h; the trace itself is core/trace/).
 */
#include "core/daemon/daemon_trace.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/trace/trace.h"
#include "core/worker.h"

static struct trace *trace;		/* the running trace, or NULL */
static bool started_on;			/* trace.enabled at start */
static char started_path[4200];		/* its database at start */

/* The database of cfg: trace.path, or trace.db in the spool. */
static void
db_path(const struct config *cfg, char *out, size_t len)
{
	if (cfg->trace.path != NULL)
		snprintf(out, len, "%s", cfg->trace.path);
	else
		snprintf(out, len, "%s/trace.db", cfg->spool_dir);
}

void
daemon_trace_start(const struct config *cfg, struct worker *ws, unsigned n)
{
	struct trace_conf tc = { .path = started_path, .retention = cfg->trace.retention,
				 .max_size = cfg->trace.max_size };
	char err[1024];

	started_on = cfg->trace.enabled;
	db_path(cfg, started_path, sizeof(started_path));
	if (!started_on)
		return;
	if (trace_start(&tc, n, &trace, err, sizeof(err)) < 0) {
		log_warn("%s: the relay runs without a message trace (sluicectl trace says "
			 "so too)", err);
		return;
	}
	for (unsigned i = 0; i < n; i++)
		ws[i].trace = trace_feed(trace, i);
	log_info("trace: %s, messages kept %us, at most %llu bytes", started_path,
		 cfg->trace.retention, (unsigned long long)cfg->trace.max_size);
}

void
daemon_trace_reload(const struct config *cfg)
{
	char path[sizeof(started_path)];

	db_path(cfg, path, sizeof(path));
	if (cfg->trace.enabled != started_on || (started_on && strcmp(path, started_path) != 0))
		log_warn("trace: enabled and path take effect at the next start; retention "
			 "and max_size now");
	trace_set_limits(trace, cfg->trace.retention, cfg->trace.max_size);
}

void
daemon_trace_stop(void)
{
	trace_stop(trace);
	trace = NULL;
}
