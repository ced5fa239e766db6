/*
 * ctl_cluster — the control plane's side of an edge cluster: the settings
 * that hold for the whole organisation (fix-now, a connector disabled, a
 * connector's mail held), where each setting in force came from, this
 * node's status for the other nodes, the merged view of every node, and
 * the `cluster` command that shows it.
 *
 * Not for: Redis (core/cluster/agent.c talks to it, on a thread of its own,
 * and meets this file only through the calls below), applying a setting
 * (the agent runs the ordinary command on the control socket, marked
 * from-cluster, so a setting from the cluster takes exactly the path an
 * operator's does).
 *
 * Scope of a command.  With the cluster on, `fix-now DOMAIN`, `connector
 * enable|disable NAME` and `hold|release CONNECTOR` act on this node at
 * once and are posted for the organisation; a trailing word `local` keeps
 * one on this node.  The agent applies what other nodes posted with a
 * trailing `from-cluster`, which is not posted again.
 *
 * Threads: the control thread calls ctl_cluster_scope, _post, _source,
 * _note_round, _others_old and the command; the agent calls _enable,
 * _take_posts, _set_settings, _status and _set_view.  One mutex guards
 * what both touch (a cold path: once a second at most, and per command).
 */
#ifndef SLUICE_CORE_CTL_CTL_CLUSTER_H
#define SLUICE_CORE_CTL_CTL_CLUSTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/ctl/ctl_parse.h"

#define CTL_CL_NAME 256		/* a setting's domain or connector, NUL included */
#define CTL_CL_NODE 64		/* a node's name, NUL included */
#define CTL_CL_POSTS 256	/* settings waiting for Redis at most */

/* What an organisation-wide setting is. */
enum ctl_cl_kind {
	CTL_CL_FIXNOW,		/* fix-now DOMAIN: the domain is authoritative */
	CTL_CL_DISABLE,		/* connector disable NAME */
	CTL_CL_HOLD,		/* hold CONNECTOR: its queued mail held */
	CTL_CL_NKINDS,
};

/* A setting: posted (on: set, !on: cleared), or in force (on). */
struct ctl_cl_setting {
	uint8_t kind;			/* enum ctl_cl_kind */
	bool on;			/* set, or cleared */
	char name[CTL_CL_NAME];		/* the domain or the connector */
	char node[CTL_CL_NODE];		/* the node where it was given */
	int64_t at;			/* when (unix s) */
};

/* Where a command's change goes. */
enum ctl_cl_scope {
	CTL_CL_ORG,		/* this node and, with the cluster on, every node */
	CTL_CL_LOCAL,		/* `local`: this node only */
	CTL_CL_FROM_CLUSTER,	/* `from-cluster`: the agent applying a setting */
};

/* "fix-now", "connector-disable", "hold"; NULL out of range. */
const char *ctl_cl_kind_name(unsigned kind);

/* The kind called name, or -1. */
int ctl_cl_kind_find(const char *name);

/* ---- the agent's side (any thread) ---- */

/* The cluster is on: this node is called node and has number number (in
 * its queue ids), a node that has not published for stale_s seconds is
 * flagged, and alerts_cluster says whether queue alerts count the other
 * nodes' queues. */
void ctl_cluster_enable(const char *node, unsigned number, unsigned stale_s,
			bool alerts_cluster);

/* Move up to max posted settings, oldest first, into out. */
size_t ctl_cluster_take_posts(struct ctl_cl_setting *out, size_t max);

/* Give back n settings take_posts handed out that could not be stored
 * (Redis down): they are stored first next time. */
void ctl_cluster_unpost(const struct ctl_cl_setting *s, size_t n);

/* The organisation's settings now in force on this node (copied). */
void ctl_cluster_set_settings(const struct ctl_cl_setting *s, size_t n);

/* This node's status as compact JSON text (malloc()ed, the caller frees
 * it), or NULL before the first alert round. */
char *ctl_cluster_status(void);

/* The nodes' statuses as read from Redis (an array of objects, each with
 * "node" and "last_seen" at least; consumed; NULL keeps the last view),
 * and whether Redis answered (why: the reason when not). */
void ctl_cluster_set_view(json_t *nodes, bool up, const char *why);

/* j (consumed) as one compact line of JSON text (malloc()ed), or NULL:
 * what the agent stores in Redis and in its state file. */
char *ctl_cluster_text(json_t *j);

/* ---- the control thread's side ---- */

/* True once ctl_cluster_enable was called.  Any thread. */
bool ctl_cluster_on(void);

struct ctl_run;
struct ctl_conn_agg;
struct ctl_alert;
struct ctl_tenant_use;

/* Take a trailing `local` or `from-cluster` off r's words, and say which
 * it was (CTL_CL_ORG when neither). */
enum ctl_cl_scope ctl_cluster_scope(struct ctl_run *r);

/* A change made on this node in scope sc: posted for the other nodes when
 * the cluster is on and sc is CTL_CL_ORG (a full outbox drops the oldest,
 * with a log line).  Returns true when it was posted. */
bool ctl_cluster_post(enum ctl_cl_scope sc, unsigned kind, const char *name, bool on);

/* A line for the command's answer after a post: where it goes and, with
 * Redis away, that it waits. */
void ctl_cluster_said(struct ctl_run *r);

/* The node a setting in force came from through the cluster, copied into
 * node (n bytes); false when it was not set through the cluster. */
bool ctl_cluster_source(unsigned kind, const char *name, char *node, size_t n);

/* The alert round's merged connectors, the alerts and the tenants' quota
 * use: this node's status is built from them (no-op while the cluster is
 * off).  They are passed in, not fetched, so that this file calls none of
 * the files that call it. */
void ctl_cluster_note_round(const struct ctl_conn_agg *a, size_t n,
			    const struct ctl_alert *alerts, size_t na,
			    const struct ctl_tenant_use *u, size_t nt);

/* Messages older than the alert age queued for connector at the other
 * nodes that report, when alerts count the cluster (else 0). */
uint64_t ctl_cluster_others_old(const char *connector);

/* The merged view for an API: the object `cluster json` prints. */
json_t *ctl_cluster_view_json(void);

extern const struct ctl_cmd ctl_cmd_cluster;

#endif
