/*
 * ctl_cluster tests: the words local and from-cluster taken off a command,
 * the outbox (order, give-back in front, a full one drops the oldest),
 * where a setting in force came from, and the merged view built from
 * node statuses as the agent hands them over: sums over reporting nodes
 * only, a silent node flagged, the other nodes' old messages for the
 * cluster's alerts, and hostile member types ignored.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

#include "core/ctl/ctl_cluster.h"
#include "core/ctl/ctl_run.h"

/* A run whose words are argv. */
static struct ctl_run *
run_of(const char *const *argv, int argc)
{
	static struct ctl_run r;
	static char words[8][64];

	memset(&r, 0, sizeof(r));
	for (int i = 0; i < argc; i++) {
		snprintf(words[i], sizeof(words[i]), "%s", argv[i]);
		r.argv[i] = words[i];
	}
	r.argc = argc;
	return &r;
}

Test(ctl_cluster, scope_words_are_taken_off)
{
	struct ctl_run *r = run_of((const char *[]){ "disable", "sink", "local" }, 3);

	cr_assert_eq(ctl_cluster_scope(r), CTL_CL_LOCAL);
	cr_assert_eq(r->argc, 2);
	r = run_of((const char *[]){ "acme.example", "from-cluster" }, 2);
	cr_assert_eq(ctl_cluster_scope(r), CTL_CL_FROM_CLUSTER);
	cr_assert_eq(r->argc, 1);
	r = run_of((const char *[]){ "acme.example" }, 1);
	cr_assert_eq(ctl_cluster_scope(r), CTL_CL_ORG);
	cr_assert_eq(r->argc, 1);
	r = run_of(NULL, 0);
	cr_assert_eq(ctl_cluster_scope(r), CTL_CL_ORG);
}

Test(ctl_cluster, kinds_have_names)
{
	for (unsigned k = 0; k < CTL_CL_NKINDS; k++)
		cr_assert_eq(ctl_cl_kind_find(ctl_cl_kind_name(k)), (int)k);
	cr_assert_null(ctl_cl_kind_name(CTL_CL_NKINDS));
	cr_assert_eq(ctl_cl_kind_find("rm -rf"), -1);
}

Test(ctl_cluster, outbox_keeps_order_and_bounds)
{
	struct ctl_cl_setting got[CTL_CL_POSTS];
	char name[32];
	size_t n;

	/* off: nothing is posted */
	cr_assert_not(ctl_cluster_post(CTL_CL_ORG, CTL_CL_DISABLE, "sink", true));
	ctl_cluster_enable("n0", 0, 20, false);
	cr_assert_not(ctl_cluster_post(CTL_CL_LOCAL, CTL_CL_DISABLE, "sink", true));
	cr_assert_not(ctl_cluster_post(CTL_CL_FROM_CLUSTER, CTL_CL_DISABLE, "sink", true));
	cr_assert(ctl_cluster_post(CTL_CL_ORG, CTL_CL_DISABLE, "a", true));
	cr_assert(ctl_cluster_post(CTL_CL_ORG, CTL_CL_HOLD, "b", false));
	n = ctl_cluster_take_posts(got, 1);
	cr_assert_eq(n, 1);
	cr_assert_str_eq(got[0].name, "a");
	cr_assert_str_eq(got[0].node, "n0");
	/* given back: first again */
	ctl_cluster_unpost(got, 1);
	n = ctl_cluster_take_posts(got, 8);
	cr_assert_eq(n, 2);
	cr_assert_str_eq(got[0].name, "a");
	cr_assert_str_eq(got[1].name, "b");
	cr_assert_not(got[1].on);
	/* full: the oldest go */
	for (int i = 0; i < CTL_CL_POSTS + 5; i++) {
		snprintf(name, sizeof(name), "c%d", i);
		cr_assert(ctl_cluster_post(CTL_CL_ORG, CTL_CL_DISABLE, name, true));
	}
	n = ctl_cluster_take_posts(got, CTL_CL_POSTS);
	cr_assert_eq(n, CTL_CL_POSTS);
	cr_assert_str_eq(got[0].name, "c5");
	cr_assert_eq(ctl_cluster_take_posts(got, 8), 0);
}

Test(ctl_cluster, source_of_a_setting_in_force)
{
	struct ctl_cl_setting s = { .kind = CTL_CL_FIXNOW, .on = true, .at = 1 };
	char node[CTL_CL_NODE];

	snprintf(s.name, sizeof(s.name), "acme.example");
	snprintf(s.node, sizeof(s.node), "edge2");
	ctl_cluster_set_settings(&s, 1);
	cr_assert(ctl_cluster_source(CTL_CL_FIXNOW, "acme.example", node, sizeof(node)));
	cr_assert_str_eq(node, "edge2");
	cr_assert_not(ctl_cluster_source(CTL_CL_DISABLE, "acme.example", node, sizeof(node)));
	ctl_cluster_set_settings(NULL, 0);
	cr_assert_not(ctl_cluster_source(CTL_CL_FIXNOW, "acme.example", node, sizeof(node)));
}

/* A node as the agent reads it. */
static json_t *
node(const char *name, int64_t seen, int queued, int old, const char *state)
{
	return json_pack("{s:s, s:I, s:{s:s, s:I, s:I, s:[{s:s, s:s, s:I, s:I, s:I, s:s, "
			 "s:s, s:I}], s:[], s:[{s:s, s:I, s:I}]}}",
			 "node", name, "last_seen", (json_int_t)seen, "status", "version", "v",
			 "started", (json_int_t)1, "queued", (json_int_t)queued, "connectors",
			 "name", "sink", "state", state, "queued", (json_int_t)queued, "old",
			 (json_int_t)old, "oldest", (json_int_t)(seen - 60), "code", "4.4.316",
			 "last_error", "refused", "last_time", (json_int_t)seen, "alerts",
			 "tenants", "name", "acme", "invalid", (json_int_t)old, "quota",
			 (json_int_t)10);
}

Test(ctl_cluster, view_merges_reporting_nodes_only)
{
	int64_t now = time(NULL);
	json_t *nodes = json_array(), *v, *c;

	ctl_cluster_enable("n0", 0, 20, true);
	json_array_append_new(nodes, node("n0", now, 3, 2, "enabled"));
	json_array_append_new(nodes, node("n1", now - 5, 4, 5, "disabled"));
	json_array_append_new(nodes, node("n2", now - 600, 100, 100, "enabled"));
	/* hostile shapes: ignored, not trusted */
	json_array_append_new(nodes, json_pack("{s:i, s:s}", "node", 7, "status", "x"));
	json_array_append_new(nodes, json_pack("{s:s, s:I, s:{s:s}}", "node", "n3",
					       "last_seen", (json_int_t)now, "status",
					       "connectors", "oops"));
	ctl_cluster_set_view(nodes, true, NULL);

	v = ctl_cluster_view_json();
	cr_assert_eq(json_integer_value(json_object_get(v, "nodes_total")), 5);
	cr_assert_eq(json_integer_value(json_object_get(v, "nodes_reporting")), 3);
	c = json_array_get(json_object_get(v, "connectors"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "name")), "sink");
	cr_assert_eq(json_integer_value(json_object_get(c, "queued")), 7);
	cr_assert_eq(json_integer_value(json_object_get(c, "nodes")), 2);
	cr_assert_eq(json_array_size(json_object_get(c, "not_enabled")), 1);
	c = json_array_get(json_object_get(v, "tenants"), 0);
	cr_assert_eq(json_integer_value(json_object_get(c, "invalid")), 5);
	json_decref(v);

	/* the cluster's alerts: other reporting nodes only */
	cr_assert_eq(ctl_cluster_others_old("sink"), 5);
	cr_assert_eq(ctl_cluster_others_old("other"), 0);
	ctl_cluster_enable("n0", 0, 20, false);
	cr_assert_eq(ctl_cluster_others_old("sink"), 0);

	/* Redis away: the last view stays, with the reason */
	ctl_cluster_set_view(NULL, false, "redis 127.0.0.1:1: Connection refused");
	v = ctl_cluster_view_json();
	cr_assert_str_eq(json_string_value(json_object_get(v, "redis")), "down");
	cr_assert_str_eq(json_string_value(json_object_get(v, "redis_error")),
			 "redis 127.0.0.1:1: Connection refused");
	cr_assert_eq(json_integer_value(json_object_get(v, "nodes_total")), 5);
	json_decref(v);
}

/* What another writer may put into Redis as a node's status: list items
 * that are not objects, sums past INT64_MAX, and more connectors than any
 * node has.  The view still builds, sums saturate, and it keeps a bounded
 * number of entries (merging them is linear, not quadratic). */
Test(ctl_cluster, view_survives_hostile_statuses, .timeout = 20)
{
	int64_t now = time(NULL);
	json_t *nodes = json_array(), *v, *c, *many;
	char name[32];

	ctl_cluster_enable("n0", 0, 20, false);
	json_array_append_new(nodes, json_pack(
		"{s:s, s:I, s:{s:[i, s, n, {s:s, s:I}], s:[i, {s:[]}, {s:s}], s:[i, [i]]}}",
		"node", "n1", "last_seen", (json_int_t)now, "status", "connectors", 1, "a",
		"name", "sink", "queued", (json_int_t)INT64_MAX, "alerts", 1, "connector",
		"connector", "sink", "tenants", 2, 3));
	json_array_append_new(nodes, json_pack("{s:s, s:I, s:{s:[{s:s, s:I}]}}", "node", "n2",
					       "last_seen", (json_int_t)INT64_MIN, "status",
					       "connectors", "name", "sink", "queued",
					       (json_int_t)INT64_MAX));
	for (int n = 3; n < 7; n++) {
		many = json_array();
		for (int i = 0; i < 30000; i++) {
			snprintf(name, sizeof(name), "c%d-%d", n, i);
			json_array_append_new(many, json_pack("{s:s, s:s}", "name", name,
							      "state", "x"));
		}
		snprintf(name, sizeof(name), "n%d", n);
		json_array_append_new(nodes, json_pack("{s:s, s:I, s:{s:o}}", "node", name,
						       "last_seen", (json_int_t)now, "status",
						       "connectors", many));
	}
	ctl_cluster_set_view(nodes, true, NULL);
	v = ctl_cluster_view_json();
	cr_assert_not_null(v);
	cr_assert(json_is_true(json_object_get(v, "on")));
	cr_assert_eq(json_array_size(json_object_get(v, "alerts")), 1);
	c = json_array_get(json_object_get(v, "connectors"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(c, "name")), "sink");
	cr_assert_gt(json_integer_value(json_object_get(c, "queued")), 0);
	cr_assert_leq(json_array_size(json_object_get(v, "connectors")), 16384);
	json_decref(v);
	ctl_cluster_set_view(json_array(), true, NULL);
}
