/*
 * agent — a node's link to the rest of its edge cluster, through Redis:
 * the organisation-wide settings (fix-now, connectors disabled, connector
 * holds) and the cluster view (every node's status).
 *
 * Job: one thread that
 *   - stores the settings this node's operators give (core/ctl/ctl_cluster.h
 *     posts them) in one Redis hash and bumps its version;
 *   - polls that version every 250 ms and, when it moved, reads the hash
 *     and applies what changed by running the ordinary control command on
 *     the daemon's own socket, marked from-cluster (so every node applies
 *     a setting within about a second, exactly as an operator's command);
 *   - keeps the settings in force in a local file, and applies that file
 *     at start before Redis answers, so a node that starts while Redis is
 *     down still applies them;
 *   - publishes this node's status every publish_interval and reads every
 *     node's, for `sluicectl cluster`, the HTTP API and the cluster-wide
 *     queue alerts.
 *
 * Why a polled version and not pub/sub: a message published while a node
 * is disconnected is lost to it, so a node must read the whole state on
 * every reconnect anyway; reading it whenever one small counter moved is
 * that same path, taken every time, and costs one GET per 250 ms.
 *
 * Redis keys (prefix "sluice:" by default):
 *   <prefix>org          hash, field "<setting>:<name>" -> {"node","at"}
 *                        (setting: fix-now, connector-disable, hold)
 *   <prefix>org:ver      integer, INCR on every change of the hash
 *   <prefix>node:<node>  this node's status (JSON), expires after 1 h
 *   <prefix>nodes        sorted set, node -> last publication (UNIX s);
 *                        entries silent for a day are removed
 *
 * Not for: the quota counters (core/tenant/cluster.c has its own
 * connection), deciding what a setting does (the control commands do).
 *
 * Start after the control socket serves and the workers run (it applies
 * settings through them); stop before the control socket closes.  Main
 * thread.
 */
#ifndef SLUICE_CORE_CLUSTER_AGENT_H
#define SLUICE_CORE_CLUSTER_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/tenant/redis_link.h"

struct agent_config {
	struct redis_target redis;	/* where Redis is (copied) */
	const char *node;		/* this node's name (copied) */
	unsigned number;		/* its number in queue ids */
	const char *prefix;		/* Redis key prefix ("sluice:") */
	const char *state_file;		/* the settings' local copy */
	const char *ctl_path;		/* the daemon's control socket */
	unsigned publish_s;		/* status every this many s (5) */
	unsigned stale_s;		/* silence before a node is flagged (20) */
	bool alerts_cluster;		/* queue alerts count the cluster */
};

/* Start the agent's thread (it connects in the background).  0, or
 * -errno with one line in err. */
int agent_start(const struct agent_config *cfg, char *err, size_t errlen);

/* Stop the thread and free what it holds.  No-op if not started. */
void agent_stop(void);

#endif
