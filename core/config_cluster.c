/*
 * config_cluster — the cluster section, what a node of an edge cluster
 * tells the others through Redis (core/cluster/agent.h):
 *
 *   cluster:
 *     node: edge1              # its name in the cluster view (hostname)
 *     number: 1                # 0..255, in its queue ids: unique per node
 *     prefix: "sluice:"        # Redis key prefix, to share one Redis
 *     publish_interval: 5s     # how often the node publishes its status
 *     stale_after: 20s         # a node silent this long is flagged
 *     state_file: /var/spool/sluice/cluster-state.json
 *     alerts: node             # queue alerts count this node's queue
 *                              # (node) or the organisation's (cluster)
 *
 * The section needs `redis:`.  Without it but with `redis:`, every
 * setting takes its default: the organisation-wide settings and the
 * cluster view work whenever Redis is configured.  Loading: main thread.
 */
#include "core/config_int.h"

#include <string.h>

static int
f_cluster_alerts(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	static const char *const words[] = { "node", "cluster", NULL };
	int which;
	int rc = cfg_word(ld, v, words, "node or cluster", &which);

	if (rc == 0)
		((struct cfg_cluster *)base)->alerts_cluster = which == 1;
	return rc;
}

static int
f_cluster_node(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	return cfg_name(ld, v, "cluster: node", "a node", CFG_AT(base, f, char *));
}

static int
f_cluster_prefix(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	char **out = CFG_AT(base, f, char *);
	int rc = cfg_text(ld, v, "a key prefix", out);

	if (rc == 0 && strlen(*out) > 64)
		return cfg_fail(ld, v, "cluster: prefix: at most 64 bytes");
	for (const char *p = rc == 0 ? *out : ""; *p; p++)
		if (*p <= ' ' || *p == 0x7f)
			return cfg_fail(ld, v, "cluster: prefix: no spaces or control "
					"characters");
	return rc;
}

/* cluster: {node, number, prefix, publish_interval, stale_after, state_file, alerts} */
int
cfg_f_cluster(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
#define C(m)	offsetof(struct cfg_cluster, m)
	static const struct cfg_field fields[] = {
		{ "node", f_cluster_node, C(node), 0, 0, NULL },
		{ "number", cfg_f_u32, C(number), 0, 255, "a node number from 0 to 255" },
		{ "prefix", f_cluster_prefix, C(prefix), 0, 0, NULL },
		{ "publish_interval", cfg_f_duration, C(publish), 1, 3600, NULL },
		{ "stale_after", cfg_f_duration, C(stale), 2, 86400, NULL },
		{ "state_file", cfg_f_path, C(state_file), 0, 0, NULL },
		{ "alerts", f_cluster_alerts, 0, 0, 0, NULL },
	};
#undef C
	ld->cluster = v;
	return cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), &ld->cfg->cluster_cfg,
			    "cluster", "in cluster");
}

int
cfg_cluster_check(struct cfg_loader *ld)
{
	const struct cfg_cluster *c = &ld->cfg->cluster_cfg;
	yaml_node_t *k;

	if (ld->cluster == NULL)
		return 0;
	if (ld->cfg->redis_host == NULL && ld->cfg->nredis_sentinels == 0)
		return cfg_fail(ld, ld->cluster, "cluster: needs redis: (the nodes share "
				"their settings and status through it)");
	if (c->stale <= c->publish) {
		k = cfg_map_key(ld, ld->cluster, "stale_after", NULL);
		return cfg_fail(ld, k ? k : ld->cluster, "cluster: stale_after (%us) must be "
				"longer than publish_interval (%us)", c->stale, c->publish);
	}
	return 0;
}

void
cfg_cluster_defaults(struct cfg_cluster *c)
{
	memset(c, 0, sizeof(*c));
	c->prefix = (char *)"sluice:";
	c->publish = 5;
	c->stale = 20;
}
