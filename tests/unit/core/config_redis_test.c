/*
 * config_redis_test — the redis: section of core/config: one Redis
 * (host, port, password) as before, Redis Sentinel (sentinels, master,
 * password, sentinel_password) with the sentinels normalised to
 * "host:port", and a table of bad values and mixed forms with their exact
 * one-line errors.
 */
#include "core/config.h"
#include "tests/unit/core/config_cases.h"

#define BASE	"listen: [\"127.0.0.1:2525\"]\n" \
		"connectors: {sink: {smarthosts: [\"127.0.0.1:2526\"]}}\n"

Test(config_redis, none)
{
	struct config *cfg = load_ok(BASE);

	cr_expect_null(cfg->redis_host);
	cr_expect_eq(cfg->nredis_sentinels, 0);
	cr_expect_null(cfg->redis_sentinels);
	cr_expect_null(cfg->redis_master);
	config_free(cfg);
}

Test(config_redis, direct)
{
	struct config *cfg = load_ok(BASE "redis: {host: redis.example, password: pw}\n");

	cr_expect_str_eq(cfg->redis_host, "redis.example");
	cr_expect_eq(cfg->redis_port, 6379);
	cr_expect_str_eq(cfg->redis_password, "pw");
	cr_expect_eq(cfg->nredis_sentinels, 0);
	config_free(cfg);
}

Test(config_redis, sentinels)
{
	struct config *cfg = load_ok(BASE
		"redis:\n"
		"  sentinels: [\"127.0.0.1:26380\", \"[::1]:26381\", Sentinel-3.Example, "
		"\"[::1]\"]\n"
		"  master: mymaster\n"
		"  password: \"s3cret: x\"\n"
		"  sentinel_password: other\n");

	cr_expect_null(cfg->redis_host);
	cr_expect_eq(cfg->redis_port, 0);
	cr_assert_eq(cfg->nredis_sentinels, 4);
	cr_expect_str_eq(cfg->redis_sentinels[0], "127.0.0.1:26380");
	cr_expect_str_eq(cfg->redis_sentinels[1], "[::1]:26381");
	cr_expect_str_eq(cfg->redis_sentinels[2], "sentinel-3.example:26379");
	cr_expect_str_eq(cfg->redis_sentinels[3], "[::1]:26379");
	cr_expect_str_eq(cfg->redis_master, "mymaster");
	cr_expect_str_eq(cfg->redis_password, "s3cret: x");
	cr_expect_str_eq(cfg->redis_sentinel_password, "other");
	config_free(cfg);
	/* one sentinel as a scalar, no passwords */
	cfg = load_ok(BASE "redis: {sentinels: 10.0.0.5, master: \"prod.quota-1\"}\n");
	cr_assert_eq(cfg->nredis_sentinels, 1);
	cr_expect_str_eq(cfg->redis_sentinels[0], "10.0.0.5:26379");
	cr_expect_str_eq(cfg->redis_master, "prod.quota-1");
	cr_expect_null(cfg->redis_password);
	cr_expect_null(cfg->redis_sentinel_password);
	config_free(cfg);
}

ParameterizedTestParameters(config_redis, bad_values)
{
	static const struct bad_case cases[] = {
	{ BASE "redis: {port: 6379}\n",
	  NAME ":3: redis: expected a host (one Redis), or sentinels and master (Redis "
	  "Sentinel)" },
	{ BASE "redis: {}\n",
	  NAME ":3: redis: expected a host (one Redis), or sentinels and master (Redis "
	  "Sentinel)" },
	{ BASE "redis: {host: 127.0.0.1, sentinels: [\"127.0.0.1:26379\"], master: m}\n",
	  NAME ":3: redis: host and sentinels exclude each other: give host (one Redis) or "
	  "sentinels and master (Redis Sentinel)" },
	{ BASE "redis:\n  sentinels: [\"127.0.0.1:26379\"]\n  master: m\n  port: 6380\n",
	  NAME ":6: redis: port goes with host; with sentinels, the sentinels name the "
	  "master's address" },
	{ BASE "redis:\n  password: x\n  sentinels: [\"127.0.0.1:26379\"]\n",
	  NAME ":5: redis: sentinels need master: the name the sentinels monitor the master "
	  "by (sentinel monitor NAME ...)" },
	{ BASE "redis:\n  host: 127.0.0.1\n  master: m\n",
	  NAME ":5: redis: master goes with sentinels (Redis Sentinel); with host, Redis is "
	  "used directly" },
	{ BASE "redis:\n  host: 127.0.0.1\n  sentinel_password: x\n",
	  NAME ":5: redis: sentinel_password goes with sentinels (Redis Sentinel)" },
	{ BASE "redis: {sentinels: [], master: m}\n",
	  NAME ":3: redis: sentinels: expected 1 to 16 sentinels, got 0" },
	{ BASE "redis: {sentinels: {a: b}, master: m}\n",
	  NAME ":3: redis: expected a list of sentinels like 127.0.0.1:26379, got a mapping" },
	{ BASE "redis: {sentinels: [\"::1:26379\"], master: m}\n",
	  NAME ":3: redis: sentinels: expected an IPv6 address in brackets like "
	  "[::1]:26379, got '::1:26379'" },
	{ BASE "redis: {sentinels: [\"127.0.0.1:0\"], master: m}\n",
	  NAME ":3: redis: sentinels: expected a port from 1 to 65535, got '127.0.0.1:0'" },
	{ BASE "redis: {sentinels: [\"bad_host:1\"], master: m}\n",
	  NAME ":3: redis: sentinels: expected a host name or IP address with an optional "
	  "port like 127.0.0.1:26379 or [::1]:26379, got 'bad_host:1'" },
	{ BASE "redis: {sentinels: [[a]], master: m}\n",
	  NAME ":3: redis: sentinels: expected a host name or IP address with an optional "
	  "port like 127.0.0.1:26379 or [::1]:26379, got a list" },
	{ BASE "redis:\n  sentinels:\n    - 127.0.0.1\n    - \"127.0.0.1:26379\"\n"
	  "  master: m\n",
	  NAME ":6: redis: sentinels: 127.0.0.1:26379 is listed twice" },
	{ BASE "redis: {sentinels: [\"127.0.0.1:26379\"], master: \"my master\"}\n",
	  NAME ":3: redis: master: expected the master's name at the sentinels (sentinel "
	  "monitor NAME ...), got 'my master'" },
	{ BASE "redis: {sentinels: [\"127.0.0.1:26379\"], master: \"\"}\n",
	  NAME ":3: redis: master: expected the master's name at the sentinels (sentinel "
	  "monitor NAME ...), got ''" },
	{ BASE "redis: {sentinels: [\"127.0.0.1:26379\"], master: m, sentinel_password: \"\"}\n",
	  NAME ":3: redis: expected a password, got ''" },
	{ BASE "redis: {sentinel: [\"127.0.0.1:26379\"], master: m}\n",
	  NAME ":3: unknown key 'sentinel' in redis (did you mean 'sentinels'?)" },
	};

	return bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config_redis, bad_values)
{
	load_bad(c->yaml, c->want);
}
