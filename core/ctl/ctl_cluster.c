/*
 * ctl_cluster — organisation-wide settings, this node's status, and the
 * merged cluster view with the `cluster` command (core/ctl/ctl_cluster.h).
 *
 * The status is rebuilt at each alert round (once a second) from what the
 * round merged anyway, so publishing it costs the workers nothing.  The
 * view is what the agent last read from Redis; whether a node is stale is
 * decided when the view is read, from its last_seen, so an old view ages
 * by itself while Redis is away.
 */
#include "core/ctl/ctl_cluster.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_alert.h"	/* struct ctl_alert */
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_snap.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"	/* struct ctl_tenant_use */
#include "core/log.h"
#include "core/strb.h"
#include "core/mfi/mfi.h"
#include "core/xalloc.h"

static const char *const kind_names[CTL_CL_NKINDS] = {
	[CTL_CL_FIXNOW] = "fix-now",
	[CTL_CL_DISABLE] = "connector-disable",
	[CTL_CL_HOLD] = "hold",
};

/* Everything the agent and the control thread share, under mu. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
	bool on;			/* ctl_cluster_enable was called */
	char node[CTL_CL_NODE];		/* this node */
	unsigned number;		/* its number */
	unsigned stale;			/* s of silence: stale */
	bool alerts_cluster;		/* alerts count the cluster */
	struct ctl_cl_setting posts[CTL_CL_POSTS];	/* the outbox, a ring */
	size_t post_head, nposts;	/* its oldest entry, entries */
	struct ctl_cl_setting *set;	/* in force through the cluster */
	size_t nset;			/* their number */
	char *status;			/* this node's, JSON text */
	json_t *view;			/* the nodes, as last read */
	bool up;			/* Redis answered the last time */
	char why[256];			/* else why not */
} C;

const char *
ctl_cl_kind_name(unsigned kind)
{
	return kind < CTL_CL_NKINDS ? kind_names[kind] : NULL;
}

int
ctl_cl_kind_find(const char *name)
{
	for (int k = 0; k < CTL_CL_NKINDS; k++)
		if (strcmp(kind_names[k], name) == 0)
			return k;
	return -1;
}

/* ---- the agent's side ------------------------------------------------- */

char *
ctl_cluster_text(json_t *j)
{
	return ctl_json_text(j);
}

void
ctl_cluster_enable(const char *node, unsigned number, unsigned stale_s, bool alerts_cluster)
{
	pthread_mutex_lock(&mu);
	C.on = true;
	snprintf(C.node, sizeof(C.node), "%s", node);
	C.number = number;
	C.stale = stale_s;
	C.alerts_cluster = alerts_cluster;
	snprintf(C.why, sizeof(C.why), "not connected yet");
	pthread_mutex_unlock(&mu);
}

size_t
ctl_cluster_take_posts(struct ctl_cl_setting *out, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&mu);
	while (n < max && C.nposts > 0) {
		out[n++] = C.posts[C.post_head];
		C.post_head = (C.post_head + 1) % CTL_CL_POSTS;
		C.nposts--;
	}
	pthread_mutex_unlock(&mu);
	return n;
}

void
ctl_cluster_unpost(const struct ctl_cl_setting *s, size_t n)
{
	pthread_mutex_lock(&mu);
	/* back in front, newest given back first, while there is room */
	for (size_t i = n; i > 0 && C.nposts < CTL_CL_POSTS; i--) {
		C.post_head = (C.post_head + CTL_CL_POSTS - 1) % CTL_CL_POSTS;
		C.posts[C.post_head] = s[i - 1];
		C.nposts++;
	}
	pthread_mutex_unlock(&mu);
}

void
ctl_cluster_set_settings(const struct ctl_cl_setting *s, size_t n)
{
	struct ctl_cl_setting *copy = n ? xmalloc(n * sizeof(*copy)) : NULL;

	if (n)
		memcpy(copy, s, n * sizeof(*copy));
	pthread_mutex_lock(&mu);
	free(C.set);
	C.set = copy;
	C.nset = n;
	pthread_mutex_unlock(&mu);
}

char *
ctl_cluster_status(void)
{
	char *s;

	pthread_mutex_lock(&mu);
	s = C.status ? xstrdup(C.status) : NULL;
	pthread_mutex_unlock(&mu);
	return s;
}

/* ---- a status read from Redis, kept to what the view reads ---------- */

#define VIEW_ENTRIES_MAX 16384	/* connectors, alerts, tenants kept over all nodes */
#define VIEW_STR_MAX 1024	/* a longer string member is dropped */
#define VIEW_INT_MAX ((json_int_t)1 << 53)	/* integers clamped to +-this */

static const char *const status_keys[] = { "number", "version", "started", "at", "queued",
					   NULL };
static const char *const conn_keys[] = { "name", "state", "queued", "old", "oldest", "code",
					 "last_error", "last_time", NULL };
static const char *const alert_keys[] = { "connector", "since", "code", "queued", "old",
					  NULL };
static const char *const tenant_keys[] = { "name", "invalid", "quota", NULL };

static json_t *
clamped(json_int_t v)
{
	return json_integer(v > VIEW_INT_MAX ? VIEW_INT_MAX : v < -VIEW_INT_MAX ? -VIEW_INT_MAX
										 : v);
}

/* The members keys of o that are integers (clamped) or short strings. */
static json_t *
clean_members(const json_t *o, const char *const *keys)
{
	json_t *out = json_object(), *v;

	for (; *keys != NULL; keys++) {
		v = json_object_get(o, *keys);
		if (json_is_integer(v))
			log_json_set(&out, *keys, clamped(json_integer_value(v)));
		else if (json_is_string(v) && json_string_length(v) <= VIEW_STR_MAX)
			log_json_set(&out, *keys, json_copy(v));
	}
	return out;
}

/* The objects of list a whose member named is a string, cleaned, while
 * *budget lasts. */
static json_t *
clean_list(const json_t *a, const char *named, const char *const *keys, size_t *budget)
{
	json_t *out = json_array(), *e;
	size_t i;

	json_array_foreach(a, i, e) {
		if (*budget == 0)
			break;
		if (!json_is_string(json_object_get(e, named)))
			continue;
		(*budget)--;
		log_json_append(&out, clean_members(e, keys));
	}
	return out;
}

/* Node o as the view keeps it: whatever another writer put into Redis,
 * only the members the view reads, of the types it reads, and no more
 * entries than *budget allows (merging them stays cheap, memory bounded). */
static json_t *
clean_node(const json_t *o, size_t *budget)
{
	const json_t *st = json_object_get(o, "status"), *seen = json_object_get(o, "last_seen");
	const char *name = json_string_value(json_object_get(o, "node"));
	json_t *out = json_pack("{s:s, s:o}", "node", name ? name : "", "last_seen",
				clamped(json_is_integer(seen) ? json_integer_value(seen) : 0));
	json_t *c;

	if (!json_is_object(st))
		return out;
	c = clean_members(st, status_keys);
	log_json_set(&c, "connectors", clean_list(json_object_get(st, "connectors"), "name",
						  conn_keys, budget));
	log_json_set(&c, "alerts", clean_list(json_object_get(st, "alerts"), "connector",
					      alert_keys, budget));
	log_json_set(&c, "tenants", clean_list(json_object_get(st, "tenants"), "name",
					       tenant_keys, budget));
	log_json_set(&out, "status", c);
	return out;
}

void
ctl_cluster_set_view(json_t *nodes, bool up, const char *why)
{
	size_t budget = VIEW_ENTRIES_MAX, i;
	json_t *clean = NULL, *o;

	if (nodes != NULL) {
		clean = json_array();
		json_array_foreach(nodes, i, o)
			log_json_append(&clean, clean_node(o, &budget));
		json_decref(nodes);
		nodes = clean;
	}
	pthread_mutex_lock(&mu);
	if (nodes != NULL) {
		json_decref(C.view);
		C.view = nodes;
	}
	C.up = up;
	snprintf(C.why, sizeof(C.why), "%s", up || why == NULL ? "" : why);
	pthread_mutex_unlock(&mu);
}

/* ---- the control thread's side ---------------------------------------- */

bool
ctl_cluster_on(void)
{
	bool on;

	pthread_mutex_lock(&mu);
	on = C.on;
	pthread_mutex_unlock(&mu);
	return on;
}

enum ctl_cl_scope
ctl_cluster_scope(struct ctl_run *r)
{
	const char *last = r->argc > 0 ? r->argv[r->argc - 1] : "";

	if (strcmp(last, "local") == 0) {
		r->argc--;
		return CTL_CL_LOCAL;
	}
	if (strcmp(last, "from-cluster") == 0) {
		r->argc--;
		return CTL_CL_FROM_CLUSTER;
	}
	return CTL_CL_ORG;
}

bool
ctl_cluster_post(enum ctl_cl_scope sc, unsigned kind, const char *name, bool on)
{
	struct ctl_cl_setting *p;

	if (sc != CTL_CL_ORG || kind >= CTL_CL_NKINDS)
		return false;
	pthread_mutex_lock(&mu);
	if (!C.on) {
		pthread_mutex_unlock(&mu);
		return false;
	}
	if (C.nposts == CTL_CL_POSTS) {		/* drop the oldest */
		log_warn("cluster: %u settings wait for Redis; the oldest (%s %s) is dropped",
			 CTL_CL_POSTS, kind_names[C.posts[C.post_head].kind],
			 C.posts[C.post_head].name);
		C.post_head = (C.post_head + 1) % CTL_CL_POSTS;
		C.nposts--;
	}
	p = &C.posts[(C.post_head + C.nposts++) % CTL_CL_POSTS];
	memset(p, 0, sizeof(*p));
	p->kind = (uint8_t)kind;
	p->on = on;
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->node, sizeof(p->node), "%s", C.node);
	p->at = time(NULL);
	pthread_mutex_unlock(&mu);
	return true;
}

void
ctl_cluster_said(struct ctl_run *r)
{
	bool up;
	char why[256];

	if (r->json)
		return;
	pthread_mutex_lock(&mu);
	up = C.up;
	snprintf(why, sizeof(why), "%s", C.why);
	pthread_mutex_unlock(&mu);
	if (up)
		ctl_printf(r, "sent to the cluster: every node applies it within a second "
			      "(add \"local\" to act on this node only)\n");
	else
		ctl_printf(r, "kept for the cluster: Redis is not reachable (%s); the other "
			      "nodes get it once it is\n", why);
}

bool
ctl_cluster_source(unsigned kind, const char *name, char *node, size_t n)
{
	bool found = false;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < C.nset && !found; i++)
		if (C.set[i].kind == kind && strcmp(C.set[i].name, name) == 0) {
			snprintf(node, n, "%s", C.set[i].node);
			found = true;
		}
	pthread_mutex_unlock(&mu);
	return found;
}

/* One connector of the round, as the other nodes see it. */
static json_t *
status_connector(const struct ctl_conn_agg *g)
{
	char code[32] = "";

	if (g->last_time != 0)
		ctl_code_text(g->last_code, g->last_error, code, sizeof(code));
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:s, s:o, s:I}", "name", g->cfg.name,
			 "state", ctl_agg_state(g), "queued", (json_int_t)ctl_agg_queued(g),
			 "old", (json_int_t)g->old, "oldest", (json_int_t)g->oldest,
			 "code", code, "last_error", log_json_s(g->last_error),
			 "last_time", (json_int_t)g->last_time);
}

void
ctl_cluster_note_round(const struct ctl_conn_agg *a, size_t n, const struct ctl_alert *alerts,
		       size_t na, const struct ctl_tenant_use *u, size_t nt)
{
	json_t *st, *conns, *al, *tn;
	uint64_t queued = 0;
	char node[CTL_CL_NODE], *text;
	unsigned number;
	bool on;

	pthread_mutex_lock(&mu);
	on = C.on;
	number = C.number;
	snprintf(node, sizeof(node), "%s", C.node);
	pthread_mutex_unlock(&mu);
	if (!on)
		return;
	conns = json_array();
	al = json_array();
	tn = json_array();
	for (size_t i = 0; i < n; i++) {
		queued += ctl_agg_queued(&a[i]);
		log_json_append(&conns, status_connector(&a[i]));
	}
	for (size_t i = 0; i < na; i++)
		if (alerts[i].open)
			log_json_append(&al, json_pack("{s:s, s:I, s:s, s:I, s:I}", "connector",
						       alerts[i].connector,
						       "since", (json_int_t)alerts[i].since,
						       "code", alerts[i].code_text,
						       "queued", (json_int_t)alerts[i].queued,
						       "old", (json_int_t)alerts[i].old));
	for (size_t i = 0; i < nt; i++)
		log_json_append(&tn, json_pack("{s:s, s:I, s:I}", "name", u[i].name, "invalid",
					       (json_int_t)u[i].invalid, "quota",
					       (json_int_t)u[i].quota));
	st = json_pack("{s:s, s:i, s:s, s:I, s:I, s:I, s:o, s:o, s:o}", "node", node, "number",
		       (int)number, "version", ctl.version, "started", (json_int_t)ctl.started, "at",
		       (json_int_t)time(NULL), "queued", (json_int_t)queued, "connectors", conns,
		       "alerts", al, "tenants", tn);
	text = ctl_json_text(st);
	if (text == NULL)
		return;
	pthread_mutex_lock(&mu);
	free(C.status);
	C.status = text;
	pthread_mutex_unlock(&mu);
}

/* Integer member key of o, 0 when missing or not one. */
static int64_t
jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* String member key of o, "" when missing or not one. */
static const char *
jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* True when node object o reported within the stale window. */
static bool
fresh(const json_t *o, int64_t now)
{
	return json_is_object(json_object_get(o, "status")) &&
	       now - jint(o, "last_seen") <= (int64_t)C.stale;
}

uint64_t
ctl_cluster_others_old(const char *connector)
{
	int64_t now = time(NULL);
	uint64_t sum = 0;
	size_t i, k;
	json_t *o, *c;

	pthread_mutex_lock(&mu);
	if (C.on && C.alerts_cluster)
		json_array_foreach(C.view, i, o) {
			if (strcmp(jstr(o, "node"), C.node) == 0 || !fresh(o, now))
				continue;
			json_array_foreach(json_object_get(json_object_get(o, "status"),
							   "connectors"), k, c)
				if (strcmp(jstr(c, "name"), connector) == 0)
					sum += (uint64_t)jint(c, "old");
		}
	pthread_mutex_unlock(&mu);
	return sum;
}

/* ---- the merged view -------------------------------------------------- */

/* The entry of arr whose key member is name, or a new one (appended);
 * idx maps names to arr's entries, so that a merge is linear. */
static json_t *
entry(json_t *arr, json_t *idx, const char *key, const char *name)
{
	json_t *e = json_object_get(idx, name);

	if (e != NULL)
		return e;
	e = json_pack("{s:s}", key, name);
	if (e == NULL || json_array_append_new(arr, e) < 0 || json_object_set(idx, name, e) < 0)
		return NULL;
	return e;
}

/* Add v to integer member key of o (saturating). */
static void
add_int(json_t *o, const char *key, int64_t v)
{
	int64_t sum;

	if (__builtin_add_overflow(jint(o, key), v, &sum))
		sum = v > 0 ? INT64_MAX : INT64_MIN;
	log_json_set(&o, key, json_integer(sum));
}

/* Fold one fresh node's connectors into the merged ones. */
static void
merge_connectors(json_t *merged, json_t *idx, const char *node, const json_t *conns)
{
	size_t i;
	json_t *c, *m;

	json_array_foreach(conns, i, c) {
		int64_t oldest = jint(c, "oldest");

		if ((m = entry(merged, idx, "name", jstr(c, "name"))) == NULL)
			continue;
		add_int(m, "nodes", 1);
		add_int(m, "queued", jint(c, "queued"));
		add_int(m, "old", jint(c, "old"));
		if (oldest != 0 && (jint(m, "oldest") == 0 || oldest < jint(m, "oldest")))
			log_json_set(&m, "oldest", json_integer(oldest));
		if (strcmp(jstr(c, "state"), "enabled") != 0) {
			json_t *on = json_object_get(m, "not_enabled");
			if (on == NULL)
				log_json_set(&m, "not_enabled", (on = json_array()));
			log_json_append(&on, json_pack("{s:s, s:s}", "node", node, "state",
						       jstr(c, "state")));
		}
		if (jint(c, "last_time") > jint(m, "last_time")) {
			log_json_set(&m, "last_time", json_integer(jint(c, "last_time")));
			log_json_set(&m, "code", log_json_s(jstr(c, "code")));
			log_json_set(&m, "last_error", log_json_s(jstr(c, "last_error")));
			log_json_set(&m, "last_node", log_json_s(node));
		}
	}
}

/* Fold one fresh node's tenants in: the largest count wins (each node's
 * count already is the cluster's when Redis knows it). */
static void
merge_tenants(json_t *merged, json_t *idx, const json_t *tenants)
{
	size_t i;
	json_t *t, *m;

	json_array_foreach(tenants, i, t) {
		if ((m = entry(merged, idx, "name", jstr(t, "name"))) == NULL)
			continue;
		if (jint(t, "invalid") >= jint(m, "invalid"))
			log_json_set(&m, "invalid", json_integer(jint(t, "invalid")));
		log_json_set(&m, "quota", json_integer(jint(t, "quota")));
	}
}

/* The settings in force, with where they came from. */
static json_t *
settings_json(void)
{
	json_t *a = json_array();

	for (size_t i = 0; i < C.nset; i++)
		log_json_append(&a, json_pack("{s:s, s:s, s:s, s:I}", "setting",
					      kind_names[C.set[i].kind], "name", C.set[i].name,
					      "node", C.set[i].node, "at", (json_int_t)C.set[i].at));
	for (size_t i = 0; i < C.nposts; i++) {
		const struct ctl_cl_setting *p = &C.posts[(C.post_head + i) % CTL_CL_POSTS];
		log_json_append(&a, json_pack("{s:s, s:s, s:s, s:I, s:s}", "setting",
					      kind_names[p->kind], "name", p->name, "node",
					      p->node, "at", (json_int_t)p->at, "pending",
					      p->on ? "set" : "clear"));
	}
	return a;
}

/* Node numbers that more than one reporting node uses: their queue ids
 * can collide. */
static json_t *
number_conflicts(const json_t *nodes)
{
	json_t *out = json_array(), *a, *b;
	size_t i, k;

	json_array_foreach(nodes, i, a) {
		bool seen = false;
		if (!json_is_true(json_object_get(a, "reporting")) || jint(a, "number") < 0)
			continue;
		json_array_foreach(nodes, k, b)
			if (k < i && json_is_true(json_object_get(b, "reporting")) &&
			    jint(b, "number") == jint(a, "number"))
				seen = true;
		json_array_foreach(out, k, b)
			if (jint(b, "number") == jint(a, "number"))
				seen = false;	/* listed already */
		if (seen)
			log_json_append(&out, json_pack("{s:I}", "number",
							(json_int_t)jint(a, "number")));
	}
	return out;
}

json_t *
ctl_cluster_view_json(void)
{
	int64_t now = time(NULL);
	json_t *nodes = json_array(), *conns = json_array(), *alerts = json_array();
	json_t *tenants = json_array(), *o, *v;
	json_t *conn_idx = json_object(), *tenant_idx = json_object();
	unsigned nfresh = 0;
	size_t i, k;

	pthread_mutex_lock(&mu);
	json_array_foreach(C.view, i, o) {
		const json_t *st = json_object_get(o, "status");
		bool ok = fresh(o, now);
		const char *name = jstr(o, "node");

		nfresh += ok;
		log_json_append(&nodes, json_pack("{s:s, s:I, s:b, s:b, s:I, s:I, s:s, s:I, s:I, s:I}",
						  "node", name, "number",
						  (json_int_t)(json_object_get(st, "number")
								       ? jint(st, "number") : -1),
						  "self",
						  strcmp(name, C.node) == 0, "reporting", ok,
						  "last_seen", (json_int_t)jint(o, "last_seen"),
						  "age", (json_int_t)(now - jint(o, "last_seen")),
						  "version", jstr(st, "version"),
						  "started", (json_int_t)jint(st, "started"),
						  "queued", (json_int_t)jint(st, "queued"),
						  "alerts", (json_int_t)json_array_size(
							  json_object_get(st, "alerts"))));
		if (!ok)
			continue;
		merge_connectors(conns, conn_idx, name, json_object_get(st, "connectors"));
		merge_tenants(tenants, tenant_idx, json_object_get(st, "tenants"));
		json_array_foreach(json_object_get(st, "alerts"), k, v) {
			json_t *a = json_deep_copy(v);
			log_json_set(&a, "node", log_json_s(name));
			log_json_append(&alerts, a);
		}
	}
	o = json_pack("{s:b, s:s, s:s, s:I, s:i, s:i, s:o, s:o, s:o, s:o, s:o, s:o}", "on", C.on,
		      "node", C.node, "redis", C.up ? "up" : "down", "stale_after",
		      (json_int_t)C.stale, "nodes_total", (int)json_array_size(nodes),
		      "nodes_reporting", (int)nfresh, "nodes", nodes, "connectors", conns,
		      "alerts", alerts, "tenants", tenants, "settings", settings_json(),
		      "number_conflicts", number_conflicts(nodes));
	if (!C.up)
		log_json_set(&o, "redis_error", log_json_s(C.why));
	pthread_mutex_unlock(&mu);
	json_decref(conn_idx);
	json_decref(tenant_idx);
	return o;
}

/* ---- the command ------------------------------------------------------ */

static void
print_nodes(struct ctl_run *r, const json_t *nodes, int64_t now)
{
	struct ctl_table *t = ctl_table_new((const char *[]){
		"NODE", "STATE", ">LAST-SEEN", "VERSION", ">UPTIME", ">QUEUED", ">ALERTS",
		NULL });
	size_t i;
	json_t *o;

	json_array_foreach(nodes, i, o) {
		char seen[32], up[32] = "-", q[24], a[24], name[CTL_CL_NODE + 8];
		bool ok = json_is_true(json_object_get(o, "reporting"));

		ctl_fmt_age(jint(o, "age"), seen, sizeof(seen));
		if (jint(o, "started") > 0)
			ctl_fmt_age(now - jint(o, "started"), up, sizeof(up));
		snprintf(q, sizeof(q), "%lld", (long long)jint(o, "queued"));
		snprintf(a, sizeof(a), "%lld", (long long)jint(o, "alerts"));
		snprintf(name, sizeof(name), "%s%s", jstr(o, "node"),
			 json_is_true(json_object_get(o, "self")) ? " *" : "");
		ctl_table_row(t, name, ok ? "reporting" : "NOT REPORTING", seen,
			      jstr(o, "version")[0] ? jstr(o, "version") : "-", up, q, a);
	}
	ctl_table_print(t, r);
}

static void
print_connectors(struct ctl_run *r, const json_t *conns, int64_t now)
{
	struct ctl_table *t = ctl_table_new((const char *[]){
		"CONNECTOR", ">NODES", "STATE", ">QUEUED", ">OLDEST", "LAST-CODE", "LAST-ERROR",
		NULL });
	size_t i, k;
	json_t *c, *e;

	json_array_foreach(conns, i, c) {
		char n[24], q[24], old[32] = "-", err[96];
		STRB_LOCAL(state, 160);

		snprintf(n, sizeof(n), "%lld", (long long)jint(c, "nodes"));
		snprintf(q, sizeof(q), "%lld", (long long)jint(c, "queued"));
		if (jint(c, "oldest") > 0)
			ctl_fmt_age(now - jint(c, "oldest"), old, sizeof(old));
		json_array_foreach(json_object_get(c, "not_enabled"), k, e)
			strb_printf(&state, "%s%s on %s", state.len ? ", " : "", jstr(e, "state"),
				    jstr(e, "node"));
		strb_mark_cut(&state, "...");
		snprintf(err, sizeof(err), "%s", jstr(c, "last_error"));
		ctl_table_row(t, jstr(c, "name"), n, state.len ? state.p : "enabled", q, old,
			      jstr(c, "code")[0] ? jstr(c, "code") : "-", err[0] ? err : "-");
	}
	ctl_table_print(t, r);
}

static void
print_rest(struct ctl_run *r, const json_t *v, int64_t now)
{
	size_t i;
	json_t *o;

	if (json_array_size(json_object_get(v, "alerts")) > 0) {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"ALERT", "NODE", "CODE", ">QUEUED", ">OLD", ">FOR", NULL });
		json_array_foreach(json_object_get(v, "alerts"), i, o) {
			char q[24], old[24], age[32];
			snprintf(q, sizeof(q), "%lld", (long long)jint(o, "queued"));
			snprintf(old, sizeof(old), "%lld", (long long)jint(o, "old"));
			ctl_fmt_age(now - jint(o, "since"), age, sizeof(age));
			ctl_table_row(t, jstr(o, "connector"), jstr(o, "node"), jstr(o, "code"), q,
				      old, age);
		}
		ctl_printf(r, "\n");
		ctl_table_print(t, r);
	}
	if (json_array_size(json_object_get(v, "tenants")) > 0) {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"TENANT", ">INVALID", ">QUOTA", "THROTTLED", NULL });
		json_array_foreach(json_object_get(v, "tenants"), i, o) {
			char inv[24], q[24];
			int64_t quota = jint(o, "quota");
			snprintf(inv, sizeof(inv), "%lld", (long long)jint(o, "invalid"));
			snprintf(q, sizeof(q), quota ? "%lld" : "-", (long long)quota);
			ctl_table_row(t, jstr(o, "name"), inv, q,
				      quota && jint(o, "invalid") >= quota ? "yes" : "no");
		}
		ctl_printf(r, "\n");
		ctl_table_print(t, r);
	}
	if (json_array_size(json_object_get(v, "settings")) > 0) {
		struct ctl_table *t = ctl_table_new((const char *[]){
			"SETTING", "NAME", "SET-ON", ">AGE", "STATE", NULL });
		json_array_foreach(json_object_get(v, "settings"), i, o) {
			char age[32];
			const char *p = jstr(o, "pending");
			ctl_fmt_age(now - jint(o, "at"), age, sizeof(age));
			ctl_table_row(t, jstr(o, "setting"), jstr(o, "name"), jstr(o, "node"), age,
				      p[0] == '\0' ? "in force"
				      : strcmp(p, "set") == 0 ? "waiting for Redis (set)"
							      : "waiting for Redis (clear)");
		}
		ctl_printf(r, "\n");
		ctl_table_print(t, r);
	}
}

static void
cmd_cluster(struct ctl_run *r)
{
	json_t *v;
	int64_t now = time(NULL);

	if (r->argc != 0) {
		ctl_fail(r, "usage: cluster [json]");
		return;
	}
	v = ctl_cluster_view_json();
	if (v == NULL) {
		ctl_fail(r, "cannot build the cluster view (out of memory)");
		return;
	}
	if (!json_is_true(json_object_get(v, "on"))) {
		json_decref(v);
		ctl_fail(r, "this node is not in a cluster (no redis: in its configuration)");
		return;
	}
	if (r->json) {
		ctl_json(r, v);
		ctl_end(r);
		return;
	}
	ctl_printf(r, "cluster seen from %s: %lld node(s), %lld reporting; redis %s%s%s\n\n",
		   jstr(v, "node"), (long long)jint(v, "nodes_total"),
		   (long long)jint(v, "nodes_reporting"), jstr(v, "redis"),
		   json_object_get(v, "redis_error") ? ": " : "", jstr(v, "redis_error"));
	{
		size_t i;
		json_t *c;
		json_array_foreach(json_object_get(v, "number_conflicts"), i, c)
			ctl_printf(r, "WARNING: more than one node has number %lld: their queue ids "
				      "can collide (give each its own cluster: number)\n\n",
				   (long long)jint(c, "number"));
	}
	print_nodes(r, json_object_get(v, "nodes"), now);
	ctl_printf(r, "\n");
	print_connectors(r, json_object_get(v, "connectors"), now);
	print_rest(r, v, now);
	json_decref(v);
	ctl_end(r);
}

const struct ctl_cmd ctl_cmd_cluster = {
	.words = "cluster",
	.args = "",
	.help = "every node of the cluster: which report, their connectors, queues, "
		"alerts and tenants merged, and the organisation-wide settings",
	.changes = false,
	.run = cmd_cluster,
};
