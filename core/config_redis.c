/*
 * config_redis — redis: where the Redis that shares the tenants' counters
 * across a cluster is.  Two forms, never mixed:
 *
 *   redis: {host, port, password}                      one Redis
 *   redis: {sentinels: ["h:p", ...], master, password, Redis Sentinel: the
 *           sentinel_password}                         master is asked of
 *                                                      the sentinels
 *
 * The rules, checked after the mapping is read, each error at the line of
 * the key it is about: host and sentinels exclude each other; port goes
 * with host, master and sentinel_password with sentinels; sentinels need
 * master; one of host or sentinels is required.  A sentinel without a port
 * gets 26379 and is stored as "host:port" ("[v6]:port"), the form
 * core/tenant/redis_link.h takes.
 *
 * Not for: connecting (core/tenant/cluster.c, started by
 * core/daemon/daemon_config.c).  Main thread, while loading.
 */
#include "core/config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define SENTINEL_PORT	26379		/* redis-sentinel's own default */
#define SENTINELS_MAX	16		/* more is a typo, not a cluster */
#define MASTER_MAX	128		/* bytes of a master name */

/* redis host: a host name or an IP literal */
static int
f_redis_host(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
	struct cfg_qbuf q;

	if (!is_scalar(v) || slen(v) == 0 || slen(v) > 253 ||
	    memchr(sval(v), ' ', slen(v)) != NULL)
		return cfg_fail(ld, v, "redis: expected a host name or IP address, got %s",
				cfg_describe(&q, v));
	return cfg_text(ld, v, "a host", &ld->cfg->redis_host);
}

/*
 * redis password, sentinel_password: sent as AUTH's one argument (hiredis
 * passes it as a separate bulk string, so any byte but NUL is fine).
 * Never logged.
 */
static int
f_redis_password(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	return cfg_text(ld, v, "a password", CFG_AT(base, f, char *));
}

/* master: the name of `sentinel monitor NAME ...`: printable, no space */
static int
f_redis_master(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	       void *base)
{
	struct cfg_qbuf q;
	bool ok = is_scalar(v) && slen(v) > 0 && slen(v) <= MASTER_MAX;

	for (size_t i = 0; ok && i < slen(v); i++)
		ok = sval(v)[i] > ' ' && sval(v)[i] < 0x7f;
	if (!ok)
		return cfg_fail(ld, v, "redis: master: expected the master's name at the "
				"sentinels (sentinel monitor NAME ...), got %s",
				cfg_describe(&q, v));
	return cfg_text(ld, v, "a name", &ld->cfg->redis_master);
}

/* One sentinel "host[:port]" into the pool as "host:port"; NULL after
 * reporting. */
static char *
sentinel_entry(struct cfg_loader *ld, yaml_node_t *e)
{
	struct cfg_hostport hp;
	struct cfg_qbuf q;
	char buf[300];
	int n;

	if (!is_scalar(e))
		goto bad;
	switch (cfg_parse_hostport(sval(e), slen(e), SENTINEL_PORT, true, &hp)) {
	case CFG_HP_OK:
		break;
	case CFG_HP_V6_BARE:
		cfg_fail(ld, e, "redis: sentinels: expected an IPv6 address in brackets "
			 "like [::1]:26379, got %s", cfg_describe(&q, e));
		return NULL;
	case CFG_HP_PORT:
		cfg_fail(ld, e, "redis: sentinels: expected a port from 1 to 65535, got %s",
			 cfg_describe(&q, e));
		return NULL;
	default:
		goto bad;
	}
	n = snprintf(buf, sizeof(buf), hp.family == AF_INET6 ? "[%.*s]:%u" : "%.*s:%u",
		     (int)hp.hostlen, hp.host, (unsigned)hp.port);
	if (n < 0 || (size_t)n >= sizeof(buf))
		goto bad;
	return cfg_strndup_lower(ld->ix, buf, (size_t)n);
bad:
	cfg_fail(ld, e, "redis: sentinels: expected a host name or IP address with an "
		 "optional port like 127.0.0.1:26379 or [::1]:26379, got %s",
		 cfg_describe(&q, e));
	return NULL;
}

/* sentinels: ["127.0.0.1:26379", "[::1]:26380", "sentinel-3.example"] */
static int
f_redis_sentinels(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		  void *base)
{
	struct config *cfg = ld->cfg;
	struct cfg_list list;
	int rc;

	rc = cfg_list_open(ld, v, "a list of sentinels like 127.0.0.1:26379", &list);
	if (rc < 0)
		return rc;
	if (list.n == 0 || list.n > SENTINELS_MAX)
		return cfg_fail(ld, v, "redis: sentinels: expected 1 to %d sentinels, got %zu",
				SENTINELS_MAX, list.n);
	cfg->redis_sentinels = calloc(list.n, sizeof(*cfg->redis_sentinels));
	if (cfg->redis_sentinels == NULL)
		return cfg_nomem(ld);
	for (size_t i = 0; i < list.n; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);
		char *s;

		if (e == NULL)
			return -EINVAL;
		if ((s = sentinel_entry(ld, e)) == NULL)
			return -EINVAL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->redis_sentinels[j], s) == 0)
				return cfg_fail(ld, e, "redis: sentinels: %s is listed twice", s);
		cfg->redis_sentinels[i] = s;
		cfg->nredis_sentinels = i + 1;
	}
	return 0;
}

/* The key that may not be there, if it is: fail at its line.  0 or <0. */
static int
refuse(struct cfg_loader *ld, yaml_node_t *map, const char *key, const char *why)
{
	yaml_node_t *k = cfg_map_key(ld, map, key, NULL);

	return k == NULL ? 0 : cfg_fail(ld, k, "redis: %s", why);
}

/* The rules of the header comment, once the mapping is read. */
static int
check_form(struct cfg_loader *ld, yaml_node_t *v)
{
	const struct config *cfg = ld->cfg;
	int rc;

	if (cfg->nredis_sentinels == 0) {
		if (cfg->redis_host == NULL)
			return cfg_fail(ld, v, "redis: expected a host (one Redis), or "
					"sentinels and master (Redis Sentinel)");
		if ((rc = refuse(ld, v, "master", "master goes with sentinels "
				 "(Redis Sentinel); with host, Redis is used directly")) < 0)
			return rc;
		return refuse(ld, v, "sentinel_password", "sentinel_password goes with "
			      "sentinels (Redis Sentinel)");
	}
	if ((rc = refuse(ld, v, "host", "host and sentinels exclude each other: give "
			 "host (one Redis) or sentinels and master (Redis Sentinel)")) < 0 ||
	    (rc = refuse(ld, v, "port", "port goes with host; with sentinels, the "
			 "sentinels name the master's address")) < 0)
		return rc;
	if (cfg->redis_master == NULL)
		return cfg_fail(ld, cfg_map_key(ld, v, "sentinels", NULL),
				"redis: sentinels need master: the name the sentinels "
				"monitor the master by (sentinel monitor NAME ...)");
	return 0;
}

/* redis: cluster-wide tenant counters, in one of the two forms above */
int
cfg_f_redis(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	    void *base)
{
#define T(m)	offsetof(struct config, m)
	static const struct cfg_field fields[] = {
		{ "host", f_redis_host, 0, 0, 0, NULL },
		{ "port", cfg_f_u32, T(redis_port), 1, 65535, "a port from 1 to 65535" },
		{ "password", f_redis_password, T(redis_password), 0, 0, NULL },
		{ "sentinels", f_redis_sentinels, 0, 0, 0, NULL },
		{ "master", f_redis_master, 0, 0, 0, NULL },
		{ "sentinel_password", f_redis_password, T(redis_sentinel_password), 0, 0,
		  NULL },
	};
#undef T
	int rc = cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), ld->cfg, "redis",
			      "in redis");

	if (rc == 0)
		rc = check_form(ld, v);
	if (rc == 0 && ld->cfg->redis_host != NULL && ld->cfg->redis_port == 0)
		ld->cfg->redis_port = 6379;
	return rc;
}
