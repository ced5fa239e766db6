/*
 * config_test — core/config: the built-in default, a file using every key,
 * a table of bad inputs with their exact one-line errors, hostile input
 * (aliases, cycles, deep nesting, NUL bytes, huge numbers), domain lookup and
 * trusted networks.
 */
#include "core/config.h"
#include "core/strb.h"
#include "tests/unit/core/config_cases.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/alloc.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

static bool
trusted4(const struct config *cfg, const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return config_is_trusted(cfg, (struct sockaddr *)&sin);
}

static bool
trusted6(const struct config *cfg, const char *ip)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

	cr_assert_eq(inet_pton(AF_INET6, ip, &sin6.sin6_addr), 1);
	return config_is_trusted(cfg, (struct sockaddr *)&sin6);
}

static void
assert_limits_default(const struct cfg_limits *l)
{
	cr_expect_eq(l->message_size, 10 * 1024 * 1024);
	cr_expect_eq(l->recipients, 500);
	cr_expect_eq(l->hops, 50);
	cr_expect_eq(l->errors, 10);
	cr_expect_eq(l->command_line, 512);
	cr_expect_eq(l->text_line, 1000);
	cr_expect_eq(l->idle_timeout, 300);
	cr_expect_eq(l->data_timeout, 180);
	cr_expect_eq(l->send_timeout, 60);
	cr_expect_eq(l->drain_timeout, 10);
	cr_expect_eq(l->proxy_timeout, 5);
	cr_expect_eq(l->max_sessions, 20000);
	cr_expect_eq(l->client_sessions, 50);
	cr_expect_eq(l->client_rate, 600);
	cr_expect_eq(l->data_total, 3600);
	cr_expect_eq(l->data_min_rate, 500);
	cr_expect_eq(l->data_memory, 32 * 1024 * 1024);
	cr_expect_eq(l->data_spill, 256 * 1024);
}

static void
assert_connector_default(const struct cfg_connector *c)
{
	cr_expect_eq(c->retry_initial, 60);
	cr_expect_eq(c->retry_max, 900);
	cr_expect_eq(c->retry_jitter, 10);
	cr_expect_eq(c->expiry, 86400);
	cr_expect_eq(c->delay_warning, 0);
	cr_expect_eq(c->cert_warning, 14 * 86400);
	cr_expect_not(c->cert_warning_set);
	cr_expect_eq(c->max_connections, 20);
	cr_expect_eq(c->max_msgs_per_conn, 100);
	cr_expect_eq(c->down_after, 3);
	cr_expect_eq(c->connect_timeout, 30);
	cr_expect_eq(c->command_timeout, 300);
	cr_expect_eq(c->tls, CFG_TLS_NONE);
	cr_expect_null(c->tls_domain);
	cr_expect_null(c->tls_ca);
	cr_expect(c->enabled);
	cr_expect(c->chunking);
}

Test(config, default_parses_with_documented_values)
{
	struct config *cfg;
	const struct sockaddr_in *sin;
	char host[256] = "";

	cfg = load_ok(config_default_yaml);
	gethostname(host, sizeof(host));
	cr_expect_str_eq(cfg->path, NAME);
	cr_expect_eq(cfg->workers, 0);
	cr_expect_str_eq(cfg->hostname, host);
	cr_expect_str_eq(cfg->spool_dir, "./var/spool");
	cr_expect_eq(cfg->segment_size, 64 * 1024 * 1024);
	cr_expect_eq(cfg->ndr_return_max, 128 * 1024);
	cr_expect_str_eq(cfg->control_socket, "./var/sluice.sock");
	cr_expect_null(cfg->resolvers);
	cr_expect_eq(cfg->nresolvers, 0);
	cr_expect_eq(cfg->dns_timeout_ms, 2000);

	cr_assert_eq(cfg->nlisteners, 1);
	cr_expect_str_eq(cfg->listeners[0].text, "127.0.0.1:2525");
	cr_expect_not(cfg->listeners[0].require_tls);
	cr_expect_eq(cfg->listeners[0].addrlen, sizeof(struct sockaddr_in));
	sin = (const struct sockaddr_in *)&cfg->listeners[0].addr;
	cr_expect_eq(sin->sin_family, AF_INET);
	cr_expect_eq(ntohs(sin->sin_port), 2525);
	cr_expect_eq(ntohl(sin->sin_addr.s_addr), INADDR_LOOPBACK);

	cr_assert_eq(cfg->ntrusted, 2);
	cr_expect_eq(cfg->trusted[0].family, AF_INET);
	cr_expect_eq(cfg->trusted[0].prefix, 32);
	cr_expect_eq(cfg->trusted[1].family, AF_INET6);
	cr_expect_eq(cfg->trusted[1].prefix, 128);

	assert_limits_default(&cfg->limits);

	cr_assert_eq(cfg->nconnectors, 1);
	cr_expect_str_eq(cfg->connectors[0].name, "default");
	cr_expect_not(cfg->connectors[0].mx);
	cr_assert_eq(cfg->connectors[0].nhosts, 1);
	cr_expect_str_eq(cfg->connectors[0].hosts[0].name, "127.0.0.1");
	cr_expect_eq(cfg->connectors[0].hosts[0].port, 2526);
	assert_connector_default(&cfg->connectors[0]);

	cr_assert_eq(cfg->ndomains, 1);
	cr_expect_str_eq(cfg->domains[0].name, "example.test");
	cr_expect_eq(cfg->domains[0].connector, &cfg->connectors[0]);
	cr_expect_eq(cfg->domains[0].mode, CFG_DOMAIN_INTERNAL_RELAY);
	cr_expect_null(cfg->domains[0].tenant);
	cr_expect_null(cfg->default_route);
	cr_expect_eq(config_domain_find(cfg, "example.test", 12), &cfg->domains[0]);
	cr_expect_eq(config_connector_find(cfg, "default"), &cfg->connectors[0]);
	config_free(cfg);
}

static const char full_yaml[] =
	"workers: 2\n"
	"hostname: Relay.Example\n"
	"spool: /var/spool/sluice\n"
	"spool_segment_size: 128M\n"
	"ndr_return_max: 50K\n"
	"control_socket: /run/sluice.sock\n"
	"resolvers: [\"127.0.0.1:5353\", \"[::1]\"]\n"
	"dns_timeout_ms: 500\n"
	"listen:\n"
	"  - \"127.0.0.1:2525\"\n"
	"  - \"[::1]:2525\"\n"
	"  - {address: \"0.0.0.0:587\", require_tls: yes}\n"
	"  - {address: \"0.0.0.0:2587\", proxy_protocol: true, require_tls: true,\n"
	"     proxy_from: [\"10.0.0.5\", \"192.168.0.0/16\", \"fd00::/8\"]}\n"
	"trusted_networks: [\"127.0.0.0/8\", \"::1/128\", \"10.1.2.3\", \"::ffff:192.168.0.0/112\"]\n"
	"limits:\n"
	"  message_size: 20M\n"
	"  recipients: 100\n"
	"  hops: 30\n"
	"  errors: 5\n"
	"  command_line: 1024\n"
	"  text_line: 2000\n"
	"  idle_timeout: 5m\n"
	"  data_timeout: 3m\n"
	"  send_timeout: 45\n"
	"  drain_timeout: 0\n"
	"  proxy_timeout: 2s\n"
	"  max_sessions: 1000\n"
	"  data_memory: 8M\n"
	"  data_spill: 64K\n"
	"connectors:\n"
	"  sink:\n"
	"    smarthosts: [\"127.0.0.1:2526\", \"MX.Partner.test\", \"[::1]:25\", \"[2001:db8::1]\"]\n"
	"    mx: false\n"
	"    retry: {initial: 90s, max: 2h, jitter: 50}\n"
	"    expiry: 2d\n"
	"    delay_warning: 4h\n"
	"    max_connections: 7\n"
	"    max_messages_per_connection: 9\n"
	"    down_after: 4\n"
	"    connect_timeout: 15s\n"
	"    command_timeout: 5m\n"
	"    tls: verify\n"
	"    tls_domain: mail.partner.test\n"
	"    tls_ca: /etc/ssl/certs/ca-certificates.crt\n"
	"    enabled: false\n"
	"    chunking: false\n"
	"  by-mx:\n"
	"    mx: true\n"
	"    tls: opportunistic\n"
	"tenants:\n"
	"  acme: {directory: /etc/sluice/acme.txt, invalid_recipient_quota: 50}\n"
	"  default: {}\n"
	"quota_window: 30m\n"
	"quota_bucket: 1m\n"
	"state_file: /var/lib/sluice/fixnow.txt\n"
	"redis: {host: 127.0.0.1, port: 6380}\n"
	"domains:\n"
	"  example.test: sink\n"
	"  Partner.Test: {connector: sink, mode: authoritative, tenant: acme}\n"
	"  other.test: {connector: by-mx}\n"
	"  \"*\": {connector: by-mx, tenant: default}\n";

static void
check_full(struct config *cfg)
{
	const struct cfg_connector *c;
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;

	cr_expect_eq(cfg->workers, 2);
	cr_expect_str_eq(cfg->hostname, "relay.example");
	cr_expect_str_eq(cfg->spool_dir, "/var/spool/sluice");
	cr_expect_eq(cfg->segment_size, 128ULL << 20);
	cr_expect_eq(cfg->ndr_return_max, 50 * 1024);
	cr_expect_str_eq(cfg->control_socket, "/run/sluice.sock");
	cr_assert_eq(cfg->nresolvers, 2);
	cr_expect_str_eq(cfg->resolvers[0], "127.0.0.1:5353");
	cr_expect_str_eq(cfg->resolvers[1], "[::1]");
	cr_expect_eq(cfg->dns_timeout_ms, 500);

	cr_assert_eq(cfg->nlisteners, 4);
	cr_expect_str_eq(cfg->listeners[0].text, "127.0.0.1:2525");
	cr_expect_str_eq(cfg->listeners[1].text, "[::1]:2525");
	cr_expect_str_eq(cfg->listeners[2].text, "0.0.0.0:587");
	cr_expect_not(cfg->listeners[0].require_tls);
	cr_expect_not(cfg->listeners[1].require_tls);
	cr_expect(cfg->listeners[2].require_tls);
	cr_expect_not(cfg->listeners[2].proxy_protocol);
	cr_expect_eq(cfg->listeners[2].nproxy_from, 0);
	cr_expect(cfg->listeners[3].proxy_protocol);
	cr_expect(cfg->listeners[3].require_tls);
	cr_assert_eq(cfg->listeners[3].nproxy_from, 3);
	cr_expect_eq(cfg->listeners[3].proxy_from[0].prefix, 32);
	cr_expect_eq(cfg->listeners[3].proxy_from[1].prefix, 16);
	cr_expect_eq(cfg->listeners[3].proxy_from[2].family, AF_INET6);
	sin6 = (const struct sockaddr_in6 *)&cfg->listeners[1].addr;
	cr_expect_eq(sin6->sin6_family, AF_INET6);
	cr_expect_eq(cfg->listeners[1].addrlen, sizeof(*sin6));
	cr_expect_eq(ntohs(sin6->sin6_port), 2525);
	cr_expect(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	sin = (const struct sockaddr_in *)&cfg->listeners[2].addr;
	cr_expect_eq(ntohs(sin->sin_port), 587);
	cr_expect_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));

	cr_assert_eq(cfg->ntrusted, 4);
	cr_expect_eq(cfg->trusted[0].prefix, 8);
	cr_expect_eq(cfg->trusted[2].family, AF_INET);
	cr_expect_eq(cfg->trusted[2].prefix, 32);
	/* a mapped IPv6 network is kept as the IPv4 network it means */
	cr_expect_eq(cfg->trusted[3].family, AF_INET);
	cr_expect_eq(cfg->trusted[3].prefix, 16);

	cr_expect_eq(cfg->limits.message_size, 20ULL << 20);
	cr_expect_eq(cfg->limits.recipients, 100);
	cr_expect_eq(cfg->limits.hops, 30);
	cr_expect_eq(cfg->limits.errors, 5);
	cr_expect_eq(cfg->limits.command_line, 1024);
	cr_expect_eq(cfg->limits.text_line, 2000);
	cr_expect_eq(cfg->limits.idle_timeout, 300);
	cr_expect_eq(cfg->limits.data_timeout, 180);
	cr_expect_eq(cfg->limits.send_timeout, 45);
	cr_expect_eq(cfg->limits.drain_timeout, 0);
	cr_expect_eq(cfg->limits.proxy_timeout, 2);
	cr_expect_eq(cfg->limits.max_sessions, 1000);
	cr_expect_eq(cfg->limits.data_memory, 8 * 1024 * 1024);
	cr_expect_eq(cfg->limits.data_spill, 64 * 1024);

	cr_assert_eq(cfg->nconnectors, 2);
	c = config_connector_find(cfg, "sink");
	cr_assert_eq(c, &cfg->connectors[0]);
	cr_expect_not(c->mx);
	cr_assert_eq(c->nhosts, 4);
	cr_expect_str_eq(c->hosts[0].name, "127.0.0.1");
	cr_expect_eq(c->hosts[0].port, 2526);
	cr_expect_str_eq(c->hosts[1].name, "mx.partner.test");
	cr_expect_eq(c->hosts[1].port, 25);
	cr_expect_str_eq(c->hosts[2].name, "::1");
	cr_expect_eq(c->hosts[2].port, 25);
	cr_expect_str_eq(c->hosts[3].name, "2001:db8::1");
	cr_expect_eq(c->hosts[3].port, 25);
	cr_expect_eq(c->retry_initial, 90);
	cr_expect_eq(c->retry_max, 7200);
	cr_expect_eq(c->retry_jitter, 50);
	cr_expect_eq(c->expiry, 2 * 86400);
	cr_expect_eq(c->delay_warning, 4 * 3600);
	cr_expect_eq(c->max_connections, 7);
	cr_expect_eq(c->max_msgs_per_conn, 9);
	cr_expect_eq(c->down_after, 4);
	cr_expect_eq(c->connect_timeout, 15);
	cr_expect_eq(c->command_timeout, 300);
	cr_expect_eq(c->tls, CFG_TLS_VERIFY);
	cr_expect_str_eq(c->tls_domain, "mail.partner.test");
	cr_expect_str_eq(c->tls_ca, "/etc/ssl/certs/ca-certificates.crt");
	cr_expect_not(c->enabled);
	cr_expect_not(c->chunking);

	c = config_connector_find(cfg, "by-mx");
	cr_assert_eq(c, &cfg->connectors[1]);
	cr_expect(c->mx);
	cr_expect_eq(c->nhosts, 0);
	cr_expect_null(c->hosts);
	cr_expect_eq(c->tls, CFG_TLS_OPPORTUNISTIC);
	cr_expect_eq(c->retry_initial, 60);
	cr_expect(c->enabled);
	cr_expect(c->chunking);
	cr_expect_null(config_connector_find(cfg, "Sink"));
	cr_expect_null(config_connector_find(cfg, "nope"));

	cr_assert_eq(cfg->ndomains, 3);
	cr_expect_str_eq(cfg->domains[0].name, "example.test");
	cr_expect_eq(cfg->domains[0].connector, &cfg->connectors[0]);
	cr_expect_eq(cfg->domains[0].mode, CFG_DOMAIN_INTERNAL_RELAY);
	cr_expect_str_eq(cfg->domains[1].name, "partner.test");
	cr_expect_eq(cfg->domains[1].mode, CFG_DOMAIN_AUTHORITATIVE);
	cr_expect_str_eq(cfg->domains[1].tenant, "acme");
	cr_assert_not_null(cfg->domains[1].tenant_cfg);
	cr_expect_str_eq(cfg->domains[1].tenant_cfg->directory, "/etc/sluice/acme.txt");
	cr_expect_eq(cfg->domains[1].tenant_cfg->quota, 50);
	cr_expect_eq(cfg->ntenants, 2);
	cr_expect_eq(cfg->quota_window, 1800);
	cr_expect_eq(cfg->quota_bucket, 60);
	cr_expect_str_eq(cfg->state_file, "/var/lib/sluice/fixnow.txt");
	cr_expect_str_eq(cfg->redis_host, "127.0.0.1");
	cr_expect_eq(cfg->redis_port, 6380);
	cr_expect_eq(config_tenant_find(cfg, "default"), &cfg->tenants[1]);
	cr_expect_eq(cfg->domains[2].connector, &cfg->connectors[1]);
	cr_assert_not_null(cfg->default_route);
	cr_expect_str_eq(cfg->default_route->name, "*");
	cr_expect_eq(cfg->default_route->connector, &cfg->connectors[1]);
	cr_expect_str_eq(cfg->default_route->tenant, "default");
	cr_expect_null(config_domain_find(cfg, "*", 1));
}

Test(config, full_string_with_every_key)
{
	struct config *cfg = load_ok(full_yaml);

	check_full(cfg);
	config_free(cfg);
}

Test(config, full_file_with_every_key)
{
	char path[] = "/tmp/sluice-config-test-XXXXXX";
	struct config *cfg = NULL;
	char err[512];
	FILE *f;
	int fd, rc;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	f = fdopen(fd, "w");
	cr_assert_not_null(f);
	fputs(full_yaml, f);
	fclose(f);
	rc = config_load(path, &cfg, err, sizeof(err));
	unlink(path);
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect_str_eq(cfg->path, path);
	check_full(cfg);
	config_free(cfg);
}

/* Valid up to line 4; cases append to the sink connector or the top level. */
#define BASE	"listen: [\"127.0.0.1:2525\"]\n"	\
		"connectors:\n"				\
		"  sink:\n"				\
		"    smarthosts: [\"127.0.0.1:2526\"]\n"
#define LISTEN	"listen: [\"127.0.0.1:2525\"]\n"
#define CONN	"connectors: {sink: {mx: true}}\n"

ParameterizedTestParameters(config, bad_input)
{
	static struct bad_case cases[] = {
	/* values */
	{ BASE "    connect_timeout: soon\n",
	  NAME ":5: connector 'sink': expected a duration like 30s, 15m, 24h, got 'soon'" },
	{ BASE "    connect_timeout: 2h\n",
	  NAME ":5: connector 'sink': expected a duration from 1s to 1h, got '2h'" },
	{ BASE "    connect_timeout: 0\n",
	  NAME ":5: connector 'sink': expected a duration from 1s to 1h, got '0'" },
	{ BASE "    expiry: 15M\n",
	  NAME ":5: connector 'sink': expected a duration like 30s, 15m, 24h, got '15M'" },
	{ BASE "    expiry: 1h30m\n",
	  NAME ":5: connector 'sink': expected a duration like 30s, 15m, 24h, got '1h30m'" },
	{ BASE "    expiry: 99999999999999999999d\n",
	  NAME ":5: connector 'sink': expected a duration from 1s to 30d, got '99999999999999999999d'" },
	{ BASE "limits: {message_size: 10MB}\n",
	  NAME ":5: limits: expected a size like 512K, 10M, 1G or a number of bytes, got '10MB'" },
	{ BASE "limits: {message_size: -1}\n",
	  NAME ":5: limits: expected a size like 512K, 10M, 1G or a number of bytes, got '-1'" },
	{ BASE "limits: {message_size: 3G}\n",
	  NAME ":5: limits: expected a size from 1 to 2G, got '3G'" },
	{ BASE "spool_segment_size: 99999999999999999999G\n",
	  NAME ":5: spool_segment_size: expected a size from 1M to 1G, got '99999999999999999999G'" },
	{ BASE "ndr_return_max: 11M\n",
	  NAME ":5: ndr_return_max: expected a size from 0 to 10M, got '11M'" },
	{ BASE "spool_segment_size: 512K\n",
	  NAME ":5: spool_segment_size: expected a size from 1M to 1G, got '512K'" },
	{ BASE "    enabled: maybe\n",
	  NAME ":5: connector 'sink': expected true or false, got 'maybe'" },
	{ BASE "    enabled: True\n",
	  NAME ":5: connector 'sink': expected true or false, got 'True'" },
	{ BASE "    chunking: off\n",
	  NAME ":5: connector 'sink': expected true or false, got 'off'" },
	{ BASE "    chunking: [false]\n",
	  NAME ":5: connector 'sink': expected true or false, got a list" },
	{ BASE "workers: 99999999999999999999\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got '99999999999999999999'" },
	{ BASE "workers: 18446744073709551616\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got '18446744073709551616'" },
	{ BASE "workers: -1\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got '-1'" },
	{ BASE "workers: 0x10\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got '0x10'" },
	{ BASE "workers: [1]\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got a list" },
	{ BASE "limits:\n  recipients: 0\n",
	  NAME ":6: limits: expected an integer from 1 to 100000, got '0'" },
	{ BASE "limits:\n  hops: 0\n",
	  NAME ":6: limits: expected a number of Received: headers from 1 to 1000, got '0'" },
	{ BASE "limits:\n  hops: 1001\n",
	  NAME ":6: limits: expected a number of Received: headers from 1 to 1000, got '1001'" },
	{ BASE "limits:\n  command_line: 100\n",
	  NAME ":6: limits: expected an integer from 512 to 65536, got '100'" },
	{ BASE "limits: 5\n",
	  NAME ":5: limits: expected a mapping, got '5'" },
	{ BASE "    tls: strict\n",
	  NAME ":5: connector 'sink': expected none, opportunistic, required or verify, got 'strict'" },
	{ BASE "    tls_domain: \"bad domain\"\n",
	  NAME ":5: connector 'sink': expected a host name, got 'bad domain'" },
	{ BASE "hostname: \"relay example\"\n",
	  NAME ":5: hostname: expected a host name, got 'relay example'" },
	{ BASE "spool:\n",
	  NAME ":5: spool: expected a path, got ''" },
	{ BASE "spool: \"/var/\\0spool\"\n",
	  NAME ":5: spool: expected a path, got '/var/?spool'" },
	{ BASE "control_socket: /" "0123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789" "0123456789012345678901234567890\n",
	  NAME ":5: control_socket: expected a path of at most 107 bytes, got 112 bytes" },
	{ BASE "resolvers: [\"dns.example:53\"]\n",
	  NAME ":5: resolvers: expected an IP address with an optional port like 127.0.0.1:53 or [::1]:53, got 'dns.example:53'" },
	{ BASE "resolvers: []\n",
	  NAME ":5: resolvers: expected at least one DNS server" },
	{ BASE "dns_timeout_ms: 5\n",
	  NAME ":5: dns_timeout_ms: expected an integer from 10 to 60000, got '5'" },
	{ BASE "domains:\n  a.test: {connector: sink, tenant: ghost}\n",
	  NAME ":6: domain 'a.test': tenant 'ghost' is not defined under tenants" },
	{ BASE "tenants:\n  t: {}\ndomains:\n  a.test: {connector: sink, mode: authoritative, tenant: t}\n",
	  NAME ":8: domain 'a.test': an authoritative domain needs a tenant with a directory" },
	{ BASE "tenants:\n  t: {quota: 5}\n",
	  NAME ":6: unknown key 'quota' in tenant 't'" },
	{ BASE "redis: {port: 6379}\n",
	  NAME ":5: redis: expected a host (one Redis), or sentinels and master (Redis Sentinel)" },
	/* a value with a newline still gives one line */
	{ BASE "workers: \"1\\n2\"\n",
	  NAME ":5: workers: expected an integer from 0 to 1024, got '1?2'" },
	/* unknown and duplicate keys at each level */
	{ BASE "wokers: 2\n",
	  NAME ":5: unknown key 'wokers' at the top level (did you mean 'workers'?)" },
	{ BASE "foo: 1\n",
	  NAME ":5: unknown key 'foo' at the top level" },
	{ BASE "limits:\n  max_session: 5\n",
	  NAME ":6: unknown key 'max_session' in limits (did you mean 'max_sessions'?)" },
	{ BASE "    colour: blue\n",
	  NAME ":5: unknown key 'colour' in connector 'sink'" },
	{ BASE "    smarthost: [\"a.test\"]\n",
	  NAME ":5: unknown key 'smarthost' in connector 'sink' (did you mean 'smarthosts'?)" },
	{ BASE "    retry: {initial: 1m, maximum: 5m}\n",
	  NAME ":5: unknown key 'maximum' in retry of connector 'sink'" },
	{ BASE "domains:\n  a.test: {connector: sink, tennant: x}\n",
	  NAME ":6: unknown key 'tennant' in domain 'a.test' (did you mean 'tenant'?)" },
	{ "listen: [{address: \"127.0.0.1:25\", tls: true}]\n" CONN,
	  NAME ":1: unknown key 'tls' in listen" },
	{ BASE "workers: 1\nworkers: 2\n",
	  NAME ":6: duplicate key 'workers' at the top level (first at line 5)" },
	{ BASE "    mx: false\n    mx: false\n",
	  NAME ":6: duplicate key 'mx' in connector 'sink' (first at line 5)" },
	{ BASE "[a]: 1\n",
	  NAME ":5: expected a key name at the top level, got a list" },
	/* connectors */
	{ BASE "    mx: true\n",
	  NAME ":3: connector 'sink': expected smarthosts or mx: true, not both" },
	{ LISTEN "connectors:\n  sink:\n    tls: verify\n",
	  NAME ":3: connector 'sink': expected smarthosts or mx: true" },
	{ LISTEN "connectors:\n  sink:\n    mx: false\n",
	  NAME ":3: connector 'sink': expected smarthosts or mx: true" },
	{ LISTEN "connectors:\n  sink:\n",
	  NAME ":3: connector 'sink': expected a mapping with smarthosts or mx: true, got ''" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: []\n",
	  NAME ":4: connector 'sink': expected at least one smart host" },
	{ BASE "  sink:\n    mx: true\n",
	  NAME ":5: duplicate connector 'sink' (first at line 3)" },
	{ LISTEN "connectors:\n  \"bad name\": {mx: true}\n",
	  NAME ":3: connectors: expected a connector name of letters, digits, '_', '.' or '-', got 'bad name'" },
	{ BASE "    retry: {initial: 1h}\n",
	  NAME ":5: connector 'sink': expected retry initial <= max, got initial 1h and max 15m" },
	{ BASE "    retry: {initial: 10m, max: 90s}\n",
	  NAME ":5: connector 'sink': expected retry initial <= max, got initial 10m and max 90s" },
	{ BASE "    retry: {jitter: 60}\n",
	  NAME ":5: connector 'sink': expected a percentage from 0 to 50, got '60'" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: [\"a.test:0\"]\n",
	  NAME ":4: connector 'sink': expected a port from 1 to 65535, got 'a.test:0'" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: [\"a.test:65536\"]\n",
	  NAME ":4: connector 'sink': expected a port from 1 to 65535, got 'a.test:65536'" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: [\"::1:25\"]\n",
	  NAME ":4: connector 'sink': expected an IPv6 address in brackets like [::1]:25, got '::1:25'" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: [\"bad_host\", \"1.2.3.999\"]\n",
	  NAME ":4: connector 'sink': expected a host name or IP address with an optional port like mx.example.net:25 or [::1]:25, got 'bad_host'" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: [a.test, 1.2.3.999]\n",
	  NAME ":4: connector 'sink': expected a host name or IP address with an optional port like mx.example.net:25 or [::1]:25, got '1.2.3.999'" },
	/* listen */
	{ "listen: [\"127.0.0.1:http\"]\n" CONN,
	  NAME ":1: listen: expected a port from 1 to 65535, got '127.0.0.1:http'" },
	{ "listen: [\"127.0.0.1:0\"]\n" CONN,
	  NAME ":1: listen: expected a port from 1 to 65535, got '127.0.0.1:0'" },
	{ "listen: [\"127.0.0.1\"]\n" CONN,
	  NAME ":1: listen: expected a port from 1 to 65535, got '127.0.0.1'" },
	{ "listen: [\"::1:2525\"]\n" CONN,
	  NAME ":1: listen: expected an IPv6 address in brackets like [::1]:2525, got '::1:2525'" },
	{ "listen: [\"localhost:2525\"]\n" CONN,
	  NAME ":1: listen: expected an IP address and port like 127.0.0.1:2525 or [::1]:2525, got 'localhost:2525'" },
	{ "listen: [\"[127.0.0.1]:2525\"]\n" CONN,
	  NAME ":1: listen: expected an IP address and port like 127.0.0.1:2525 or [::1]:2525, got '[127.0.0.1]:2525'" },
	{ "listen:\n  - \"[::1]:25\"\n  - \"[::1]:0025\"\n" CONN,
	  NAME ":3: listen: duplicate address '[::1]:0025' (first at line 2)" },
	{ "listen: [{require_tls: true}]\n" CONN,
	  NAME ":1: listen: expected an address like 127.0.0.1:2525 in each item" },
	{ "listen: [{address: \"127.0.0.1:25\", proxy_protocol: true}]\n" CONN,
	  NAME ":1: listen 127.0.0.1:25: proxy_protocol: true needs proxy_from, the addresses "
	  "or networks of the load balancers that may send the PROXY header" },
	{ "listen:\n  - {address: \"127.0.0.1:25\", proxy_protocol: yes, proxy_from: []}\n" CONN,
	  NAME ":2: listen 127.0.0.1:25: proxy_protocol: true needs proxy_from, the addresses "
	  "or networks of the load balancers that may send the PROXY header" },
	{ "listen:\n  - {address: \"127.0.0.1:25\", proxy_protocol: true,\n"
	  "     proxy_from: [\"10.0.0.0/8\", \"10.0.0.1/8\"]}\n" CONN,
	  NAME ":3: listen.proxy_from: host bits set in '10.0.0.1/8', expected '10.0.0.0/8'" },
	{ "listen: [{address: \"127.0.0.1:25\", proxy_from: [\"lb.example\"]}]\n" CONN,
	  NAME ":1: listen.proxy_from: expected an IP address or network like 10.0.0.0/8 or ::1/128, got 'lb.example'" },
	{ "listen: [{address: \"127.0.0.1:25\", proxy_protocol: 2}]\n" CONN,
	  NAME ":1: listen: expected true or false, got '2'" },
	{ "listen: [{address: \"127.0.0.1:25\", proxy: true}]\n" CONN,
	  NAME ":1: unknown key 'proxy' in listen" },
	{ "listen: [{address: \"127.0.0.1:25\", proxy_protcol: true}]\n" CONN,
	  NAME ":1: unknown key 'proxy_protcol' in listen (did you mean 'proxy_protocol'?)" },
	{ BASE "limits:\n  proxy_timeout: 6m\n",
	  NAME ":6: limits: expected a duration from 1s to 5m, got '6m'" },
	{ "listen: []\n" CONN,
	  NAME ":1: listen: expected at least one address like 127.0.0.1:2525" },
	{ CONN "workers: 1\n",
	  NAME ":1: listen: expected at least one address like 127.0.0.1:2525" },
	/* trusted_networks */
	{ BASE "trusted_networks: [\"10.0.0.0/8\", \"10.0.0/8\"]\n",
	  NAME ":5: trusted_networks: expected an IP address or network like 10.0.0.0/8 or ::1/128, got '10.0.0/8'" },
	{ BASE "trusted_networks: [\"10.0.0.0/33\"]\n",
	  NAME ":5: trusted_networks: expected a prefix length from 0 to 32, got '10.0.0.0/33'" },
	{ BASE "trusted_networks: [\"10.0.0.0/\"]\n",
	  NAME ":5: trusted_networks: expected a prefix length from 0 to 32, got '10.0.0.0/'" },
	{ BASE "trusted_networks: [\"::/129\"]\n",
	  NAME ":5: trusted_networks: expected a prefix length from 0 to 128, got '::/129'" },
	{ BASE "trusted_networks: [\"10.1.2.3/8\"]\n",
	  NAME ":5: trusted_networks: host bits set in '10.1.2.3/8', expected '10.0.0.0/8'" },
	{ BASE "postmaster: nobody\n",
	  NAME ":5: postmaster: expected a mail address like postmaster@example.net, got 'nobody'" },
	{ BASE "postmaster: \"a b@example.net\"\n",
	  NAME ":5: postmaster: expected a mail address like postmaster@example.net, got 'a b@example.net'" },
	{ BASE "postmaster: a..b@example.net\n",
	  NAME ":5: postmaster: expected a mail address like postmaster@example.net, got 'a..b@example.net'" },
	{ BASE "postmaster: pm@bad_domain\n",
	  NAME ":5: postmaster: expected a mail address like postmaster@example.net, got 'pm@bad_domain'" },
	{ BASE "postmaster: pm@elsewhere.test\ndomains:\n  example.test: sink\n",
	  NAME ":5: postmaster: no connector routes 'elsewhere.test': add its domain to domains (or a \"*\" route)" },
	{ BASE "limits:\n  client_exempt: [\"10.0.0.0/33\"]\n",
	  NAME ":6: limits.client_exempt: expected a prefix length from 0 to 32, got '10.0.0.0/33'" },
	{ BASE "limits:\n  client_exempt: {a: b}\n",
	  NAME ":6: limits.client_exempt: expected a list of networks, got a mapping" },
	{ BASE "limits:\n  client_sesions: 5\n",
	  NAME ":6: unknown key 'client_sesions' in limits (did you mean 'client_sessions'?)" },
	{ BASE "limits:\n  data_total: 0\n",
	  NAME ":6: limits: expected a duration from 1s to 1d, got '0'" },
	{ BASE "trusted_networks: [\"2001:db8::1/32\"]\n",
	  NAME ":5: trusted_networks: host bits set in '2001:db8::1/32', expected '2001:db8::/32'" },
	/* domains */
	{ BASE "domains:\n  example.test: snk\n",
	  NAME ":6: domain 'example.test' routes to unknown connector 'snk'" },
	{ BASE "domains:\n  example.test: {mode: authoritative, connector: Sink}\n",
	  NAME ":6: domain 'example.test' routes to unknown connector 'Sink'" },
	{ BASE "domains:\n  a.test: sink\n  b.test: sink\n  A.Test: sink\n",
	  NAME ":8: duplicate domain 'a.test' (first at line 6)" },
	{ BASE "domains:\n  \"*\": sink\n  \"*\": {connector: sink}\n",
	  NAME ":7: duplicate domain '*' (first at line 6)" },
	{ BASE "domains:\n  bad_label.test: sink\n",
	  NAME ":6: domains: expected a domain name (labels of letters, digits and '-', 1 to 63 characters, 253 in all), got 'bad_label.test'" },
	{ BASE "domains:\n  a..test: sink\n",
	  NAME ":6: domains: expected a domain name (labels of letters, digits and '-', 1 to 63 characters, 253 in all), got 'a..test'" },
	{ BASE "domains:\n  a-.test: sink\n",
	  NAME ":6: domains: expected a domain name (labels of letters, digits and '-', 1 to 63 characters, 253 in all), got 'a-.test'" },
	{ BASE "domains:\n  a234567890123456789012345678901234567890123456789012345678901234.test: sink\n",
	  NAME ":6: domains: expected a domain name (labels of letters, digits and '-', 1 to 63 characters, 253 in all), got "
	  "'a234567890123456789012345678901234567890123456789012345678901234.test'" },
	{ BASE "domains:\n  a.test: {connector: sink, mode: strict}\n",
	  NAME ":6: domain 'a.test': expected internal_relay or authoritative, got 'strict'" },
	{ BASE "domains:\n  a.test: {mode: authoritative}\n",
	  NAME ":6: domain 'a.test': expected a connector" },
	{ BASE "domains:\n  a.test: {connector: sink, tenant: \"a b\"}\n",
	  NAME ":6: domain 'a.test': expected a tenant name of letters, digits, '_', '.' or '-', got 'a b'" },
	{ BASE "domains:\n  a.test: [sink]\n",
	  NAME ":6: domain 'a.test': expected a connector name or a mapping, got a list" },
	{ BASE "domains: [a.test]\n",
	  NAME ":5: domains: expected a mapping of domains to connectors, got a list" },
	/* the shape of each section: a list, a single item, names to settings */
	{ "listen: {a: b}\n" CONN,
	  NAME ":1: listen: expected a list of addresses, got a mapping" },
	{ LISTEN "connectors:\n  sink:\n    smarthosts: {a: b}\n",
	  NAME ":4: connector 'sink': expected a list of smart hosts, got a mapping" },
	{ BASE "resolvers: {a: b}\n",
	  NAME ":5: resolvers: expected a list of DNS server addresses like 127.0.0.1:53, got a mapping" },
	{ BASE "trusted_networks: 10.0.0.0/33\n",
	  NAME ":5: trusted_networks: expected a prefix length from 0 to 32, got '10.0.0.0/33'" },
	{ LISTEN "connectors: [a]\n",
	  NAME ":2: connectors: expected a mapping of connector names to settings, got a list" },
	{ LISTEN "connectors:\n  [a]: {mx: true}\n",
	  NAME ":3: connectors: expected a connector name of letters, digits, '_', '.' or '-', got a list" },
	{ BASE "tenants: [a]\n",
	  NAME ":5: tenants: expected a mapping of tenant names to settings, got a list" },
	{ BASE "tenants:\n  \"a b\": {}\n",
	  NAME ":6: tenants: expected a tenant name of letters, digits, '_', '.' or '-', got 'a b'" },
	{ BASE "tenants:\n  t: {}\n  t: {}\n",
	  NAME ":7: duplicate tenant 't'" },
	{ BASE "tenants:\n  t: 5\n",
	  NAME ":6: tenant 't': expected a mapping of settings, got '5'" },
	{ BASE "tenants:\n  t: {invalid_recipient_quota: x}\n",
	  NAME ":6: tenant 't': expected an integer from 0 to 100000000, got 'x'" },
	{ BASE "domains:\n  a.test: {connector: sink, tenant: [t]}\n",
	  NAME ":6: domain 'a.test': expected a tenant name of letters, digits, '_', '.' or '-', got a list" },
	/* YAML and document shape */
	{ "listen: [\"127.0.0.1:2525\"\nworkers: 1\n",
	  NAME ":2: YAML syntax error: did not find expected ',' or ']'" },
	{ "workers: 1\nlisten: a: b\n",
	  NAME ":2: YAML syntax error: mapping values are not allowed in this context" },
	{ "workers: \xff\n",
	  NAME ":1: YAML syntax error: invalid leading UTF-8 octet" },
	{ "workers: *nope\n",
	  NAME ":1: YAML syntax error: found undefined alias" },
	{ BASE "---\nworkers: 1\n",
	  NAME ":5: expected a single YAML document, found another" },
	{ BASE "---\n: : [\n",
	  NAME ":5: expected a single YAML document, found another" },
	{ BASE "...\n: : [\n",
	  NAME ":6: YAML syntax error: did not find expected <document start>" },
	{ BASE "workers: [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]\n",
	  NAME ":5: expected at most 32 levels of nesting" },
	{ "",
	  NAME ":1: expected a mapping at the top level" },
	{ "# only a comment\n",
	  NAME ":1: expected a mapping at the top level" },
	{ "- listen\n- workers\n",
	  NAME ":1: expected a mapping at the top level" },
	{ "\n\nsluice\n",
	  NAME ":3: expected a mapping at the top level" },
	};

	return bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config, bad_input)
{
	load_bad(c->yaml, c->want);
}

Test(config, unreadable_file)
{
	struct config *cfg = (struct config *)1;
	char err[512];
	int rc;

	rc = config_load("/nonexistent/sluice.yaml", &cfg, err, sizeof(err));
	cr_expect_eq(rc, -ENOENT);
	cr_expect_null(cfg);
	cr_expect_str_eq(err, "/nonexistent/sluice.yaml: cannot read: No such file or directory");

	rc = config_load("/", &cfg, err, sizeof(err));
	cr_expect_eq(rc, -EISDIR);
	cr_expect_str_eq(err, "/: cannot read: Is a directory");
}

Test(config, long_file_name_is_kept_whole)
{
	char path[300], want[400], err[512];
	struct config *cfg;

	memset(path, 'a', sizeof(path));
	memcpy(path, "/nonexistent/", 13);
	path[sizeof(path) - 1] = '\0';
	snprintf(want, sizeof(want), "%s: cannot read: No such file or directory", path);
	cr_expect_eq(config_load(path, &cfg, err, sizeof(err)), -ENOENT);
	cr_expect_str_eq(err, want);
}

Test(config, error_buffer_small_or_absent)
{
	struct config *cfg;
	char err[16];

	memset(err, 'x', sizeof(err));
	cr_expect_eq(config_load_string(NAME, "- a\n", &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "sluice.yaml:1: ");
	cr_expect_eq(config_load_string(NAME, "- a\n", &cfg, NULL, 0), -EINVAL);
	cr_expect_eq(config_load_string(NAME, NULL, &cfg, NULL, 0), -EINVAL);
	cr_expect_null(cfg);
}

Test(config, aliases_and_short_forms)
{
	struct config *cfg = load_ok(
		"listen: \"127.0.0.1:2525\"\n"		/* one item without a list */
		"trusted_networks: ::1\n"
		"connectors:\n"
		"  a: &common\n"
		"    smarthosts: &hosts a.test:2526\n"
		"    retry: {initial: 2m}\n"
		"  b: *common\n"
		"  c: {smarthosts: *hosts}\n"
		"domains:\n"
		"  x.test: &route a\n"
		"  y.test: *route\n");

	cr_assert_eq(cfg->nconnectors, 3);
	cr_expect_eq(cfg->connectors[1].retry_initial, 120);
	cr_expect_str_eq(cfg->connectors[2].hosts[0].name, "a.test");
	cr_expect_eq(cfg->connectors[2].hosts[0].port, 2526);
	cr_expect_eq(cfg->domains[1].connector, &cfg->connectors[0]);
	cr_expect(trusted6(cfg, "::1"));
	config_free(cfg);
}

Test(config, domains_may_come_before_connectors)
{
	struct config *cfg = load_ok("domains: {a.test: sink}\n" LISTEN CONN);

	cr_assert_eq(cfg->ndomains, 1);
	cr_expect_eq(cfg->domains[0].connector, &cfg->connectors[0]);
	config_free(cfg);
}

Test(config, boundaries_are_accepted)
{
	char yaml[1024];
	struct config *cfg;

	snprintf(yaml, sizeof(yaml), LISTEN
		 "workers: 1024\n"
		 "control_socket: /%0106d\n"
		 "spool_segment_size: 1G\n"
		 "limits: {message_size: 1, drain_timeout: 0, idle_timeout: 1d,\n"
		 "         command_line: 512, text_line: 1000}\n"
		 "connectors:\n"
		 "  x:\n"
		 "    smarthosts: [\"[::ffff:1.2.3.4]:65535\", \"a-b.c\", \"1.2.3.4\"]\n"
		 "    retry: {initial: 1d, max: 1d, jitter: 0}\n"
		 "    expiry: 30d\n"
		 "domains:\n"
		 "  %s.%s.%s.%.61s: x\n",
		 0,
		 "a12345678901234567890123456789012345678901234567890123456789012",
		 "b12345678901234567890123456789012345678901234567890123456789012",
		 "c12345678901234567890123456789012345678901234567890123456789012",
		 "d12345678901234567890123456789012345678901234567890123456789012");
	cfg = load_ok(yaml);
	cr_expect_eq(cfg->workers, 1024);
	cr_expect_eq(strlen(cfg->control_socket), 107);
	cr_expect_eq(cfg->connectors[0].hosts[0].port, 65535);
	cr_expect_str_eq(cfg->connectors[0].hosts[0].name, "::ffff:1.2.3.4");
	cr_expect_eq(cfg->connectors[0].retry_initial, 86400);
	cr_expect_eq(strlen(cfg->domains[0].name), 253);
	config_free(cfg);
}

Test(config, hostile_input_is_an_error_not_a_crash)
{
	static const char *const inputs[] = {
		"listen: &a [*a]\n",			/* alias cycle */
		"connectors: &a {x: *a}\nlisten: [\"127.0.0.1:1\"]\n",
		"a: &a [*a, *a, *a]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]\n",
		"listen: [\"127.0.0.1:2525\"]\ndomains: {\"\\0\": x}\n",
		"\xef\xbb\xbfworkers: 1\n\x01",
		"%YAML 1.1\n%TAG ! tag:x,2000:\n--- !foo\nworkers: !!int 1\n",
		"? [a, b]\n: c\n",
	};
	struct config *cfg;
	char err[256], *deep;
	size_t n = 200000;

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		cr_expect_lt(config_load_string(NAME, inputs[i], &cfg, err, sizeof(err)), 0,
			     "input %zu", i);
		cr_expect_null(strchr(err, '\n'));
	}

	/* 200,000 levels of flow nesting (libyaml is quadratic in depth) */
	deep = malloc(2 * n + 16);
	cr_assert_not_null(deep);
	memcpy(deep, "listen: ", 8);
	memset(deep + 8, '[', n);
	memset(deep + 8 + n, ']', n);
	deep[8 + 2 * n] = '\0';
	cr_expect_eq(config_load_string(NAME, deep, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, NAME ":1: expected at most 32 levels of nesting");
	free(deep);
}

/* One node reached through aliases from many places: bounded work. */
Test(config, alias_expansion_is_bounded)
{
	size_t cap = 1 << 20;
	char *yaml = malloc(cap), err[256];
	struct config *cfg;
	struct strb sb;

	cr_assert_not_null(yaml);
	strb_init(&sb, yaml, cap);
	strb_puts(&sb, LISTEN "connectors:\n  a: {smarthosts: &h [");
	for (int i = 0; i < 1000; i++)
		strb_printf(&sb, "h%d.test, ", i);
	strb_puts(&sb, "x.test]}\n");
	for (int i = 0; i < 2000; i++)
		strb_printf(&sb, "  c%d: {smarthosts: *h}\n", i);
	cr_assert(!sb.trunc);
	cr_expect_eq(config_load_string(NAME, yaml, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, NAME ":3: expected YAML aliases to expand to fewer nodes");

	/* the same with a few references is fine */
	snprintf(strstr(yaml, "  c3:"), 8, "\n");
	cfg = load_ok(yaml);
	cr_expect_eq(cfg->nconnectors, 4);
	cr_expect_eq(cfg->connectors[3].nhosts, 1001);
	config_free(cfg);

	strb_init(&sb, yaml, cap);
	strb_puts(&sb, LISTEN "x:\n");
	for (int i = 0; i < 1001; i++)
		strb_printf(&sb, "  - &a%d %d\n", i, i);
	cr_assert(!sb.trunc);
	cr_expect_eq(config_load_string(NAME, yaml, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, NAME ":1003: expected at most 1000 YAML anchors");
	free(yaml);
}

Test(config, long_values_are_shortened_in_errors)
{
	char yaml[4096], err[512];
	struct config *cfg;

	memset(yaml, 0, sizeof(yaml));
	memcpy(yaml, "workers: ", 9);
	memset(yaml + 9, 'x', 2000);
	cr_expect_eq(config_load_string(NAME, yaml, &cfg, err, sizeof(err)), -EINVAL);
	cr_expect_lt(strlen(err), 200);
	cr_expect_not_null(strstr(err, "...'"), "%s", err);
}

Test(config, domain_find_is_case_insensitive_and_uses_len)
{
	struct config *cfg = load_ok(
		LISTEN CONN
		"domains:\n"
		"  Example.TEST: sink\n"
		"  b.example.test: sink\n");
	const struct cfg_domain *d;

	d = config_domain_find(cfg, "example.test", 12);
	cr_assert_not_null(d);
	cr_expect_str_eq(d->name, "example.test");
	cr_expect_eq(config_domain_find(cfg, "EXAMPLE.test", 12), d);
	cr_expect_eq(config_domain_find(cfg, "eXaMpLe.TeSt>", 12), d);
	cr_expect_eq(config_domain_find(cfg, "b.example.test", 14), &cfg->domains[1]);
	/* a prefix, a suffix, or the same bytes with a NUL are not the domain */
	cr_expect_null(config_domain_find(cfg, "example.tes", 11));
	cr_expect_null(config_domain_find(cfg, "example.test.", 13));
	cr_expect_null(config_domain_find(cfg, "example.test\0", 13));
	cr_expect_null(config_domain_find(cfg, "x.example.test", 14));
	cr_expect_null(config_domain_find(cfg, "example.test", 0));
	cr_expect_null(config_domain_find(cfg, NULL, 3));
	cr_expect_null(config_domain_find(NULL, "example.test", 12));
	config_free(cfg);
}

Test(config, domain_find_scales)
{
	enum { N = 50000 };
	size_t cap = N * 40 + 256;
	char *yaml = malloc(cap), name[64];
	struct strb sb;
	struct config *cfg;

	cr_assert_not_null(yaml);
	strb_init(&sb, yaml, cap);
	strb_puts(&sb, LISTEN CONN "domains:\n");
	for (int i = 0; i < N; i++)
		strb_printf(&sb, "  d%d.Example.test: sink\n", i);
	cr_assert(!sb.trunc);
	cfg = load_ok(yaml);
	free(yaml);
	cr_assert_eq(cfg->ndomains, N);
	for (int i = 0; i < N; i++) {
		int n = snprintf(name, sizeof(name), "D%d.EXAMPLE.TEST", i);

		cr_assert_eq(config_domain_find(cfg, name, (size_t)n), &cfg->domains[i]);
		name[n - 1] = 'x';
		cr_assert_null(config_domain_find(cfg, name, (size_t)n));
	}
	config_free(cfg);
}

Test(config, is_trusted_v4_v6_and_mapped)
{
	struct config *cfg = load_ok(
		LISTEN CONN
		"trusted_networks: [\"127.0.0.0/8\", \"10.1.2.3\", \"192.168.16.0/20\",\n"
		"                   \"::1/128\", \"2001:db8:ab00::/40\", \"::ffff:172.16.0.0/108\"]\n");
	struct sockaddr_storage un = { .ss_family = AF_UNIX };

	cr_expect(trusted4(cfg, "127.0.0.1"));
	cr_expect(trusted4(cfg, "127.255.255.255"));
	cr_expect_not(trusted4(cfg, "128.0.0.1"));
	cr_expect(trusted4(cfg, "10.1.2.3"));
	cr_expect_not(trusted4(cfg, "10.1.2.4"));
	cr_expect(trusted4(cfg, "192.168.16.0"));
	cr_expect(trusted4(cfg, "192.168.31.255"));
	cr_expect_not(trusted4(cfg, "192.168.32.0"));
	cr_expect_not(trusted4(cfg, "192.168.15.255"));
	cr_expect(trusted4(cfg, "172.16.200.1"));	/* from the mapped network */
	cr_expect_not(trusted4(cfg, "172.32.0.1"));

	cr_expect(trusted6(cfg, "::1"));
	cr_expect_not(trusted6(cfg, "::2"));
	cr_expect(trusted6(cfg, "2001:db8:ab12::5"));
	cr_expect(trusted6(cfg, "2001:db8:abff:ffff::"));
	cr_expect_not(trusted6(cfg, "2001:db8:ac00::1"));

	/* v4-mapped IPv6 clients are judged as IPv4 */
	cr_expect(trusted6(cfg, "::ffff:127.0.0.1"));
	cr_expect(trusted6(cfg, "::ffff:10.1.2.3"));
	cr_expect(trusted6(cfg, "::ffff:192.168.20.1"));
	cr_expect_not(trusted6(cfg, "::ffff:10.1.2.4"));
	cr_expect_not(trusted6(cfg, "::127.0.0.1"));	/* v4-compatible is not mapped */

	cr_expect_not(config_is_trusted(cfg, (struct sockaddr *)&un));
	cr_expect_not(config_is_trusted(cfg, NULL));
	config_free(cfg);
}

/* listen.proxy_from: who may send a PROXY header, by the same rules */
Test(config, proxy_from_matches_the_balancers_only)
{
	struct config *cfg = load_ok(
		"listen:\n  - \"127.0.0.1:2525\"\n"
		"  - {address: \"127.0.0.1:2526\", proxy_protocol: true,\n"
		"     proxy_from: [\"127.0.0.1\", \"10.8.0.0/16\", \"::1\"]}\n" CONN);
	const struct cfg_listener *l = &cfg->listeners[1];
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct { const char *ip; bool in; } cases[] = {
		{ "127.0.0.1", true }, { "127.0.0.2", false }, { "10.8.255.1", true },
		{ "10.9.0.1", false }, { "::1", true }, { "::ffff:127.0.0.1", true },
		{ "::ffff:10.8.0.9", true }, { "::2", false }, { "::ffff:127.0.0.9", false },
	};

	cr_expect_not(cfg->listeners[0].proxy_protocol);
	cr_expect_null(cfg->listeners[0].proxy_from);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct sockaddr *sa;

		if (strchr(cases[i].ip, ':')) {
			cr_assert_eq(inet_pton(AF_INET6, cases[i].ip, &sin6.sin6_addr), 1);
			sa = (const struct sockaddr *)&sin6;
		} else {
			cr_assert_eq(inet_pton(AF_INET, cases[i].ip, &sin.sin_addr), 1);
			sa = (const struct sockaddr *)&sin;
		}
		cr_expect_eq(config_nets_contain(l->proxy_from, l->nproxy_from, sa), cases[i].in,
			     "%s", cases[i].ip);
	}
	/* nothing is inside no networks */
	cr_expect_not(config_nets_contain(NULL, 0, (const struct sockaddr *)&sin));
	config_free(cfg);
}

Test(config, nothing_trusted_by_default_and_everything_with_zero_prefix)
{
	struct config *cfg = load_ok(LISTEN CONN);

	cr_expect_eq(cfg->ntrusted, 0);
	cr_expect_not(trusted4(cfg, "127.0.0.1"));
	cr_expect_not(trusted6(cfg, "::1"));
	cr_expect_str_eq(cfg->spool_dir, "./var/spool");
	cr_expect_str_eq(cfg->control_socket, "./var/sluice.sock");
	cr_expect_eq(cfg->ndomains, 0);
	cr_expect_null(cfg->default_route);
	config_free(cfg);

	cfg = load_ok(LISTEN CONN "trusted_networks: [\"0.0.0.0/0\", \"::/0\"]\n");
	cr_expect(trusted4(cfg, "203.0.113.9"));
	cr_expect(trusted6(cfg, "2001:db8::9"));
	cr_expect(trusted6(cfg, "::ffff:203.0.113.9"));
	config_free(cfg);
}

static bool
exempt4(const struct config *cfg, const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	cr_assert_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return config_client_exempt(cfg, (struct sockaddr *)&sin);
}

Test(config, client_limits_and_exemptions)
{
	struct config *cfg = load_ok(LISTEN CONN "trusted_networks: [\"10.0.0.0/8\"]\n");

	/* by default the trusted networks are exempt */
	cr_expect(exempt4(cfg, "10.1.2.3"));
	cr_expect_not(exempt4(cfg, "192.0.2.1"));
	config_free(cfg);

	cfg = load_ok(LISTEN CONN "trusted_networks: [\"10.0.0.0/8\"]\n"
		      "limits:\n  client_sessions: 5\n  client_rate: 0\n"
		      "  data_total: 10m\n  data_min_rate: 0\n  client_exempt: []\n");
	cr_expect_eq(cfg->limits.client_sessions, 5);
	cr_expect_eq(cfg->limits.client_rate, 0);
	cr_expect_eq(cfg->limits.data_total, 600);
	cr_expect_eq(cfg->limits.data_min_rate, 0);
	/* an empty list exempts nobody, trusted or not */
	cr_expect_not(exempt4(cfg, "10.1.2.3"));
	cr_expect(trusted4(cfg, "10.1.2.3"));
	config_free(cfg);

	cfg = load_ok(LISTEN CONN "trusted_networks: [\"10.0.0.0/8\"]\n"
		      "limits: {client_exempt: [\"192.0.2.0/24\"]}\n");
	cr_expect(exempt4(cfg, "192.0.2.77"));
	cr_expect_not(exempt4(cfg, "10.1.2.3"));
	config_free(cfg);
}

Test(config, postmaster_routed_by_domain_or_default)
{
	struct config *cfg = load_ok(BASE "postmaster: Post.Master@Example.test\n"
				     "domains:\n  example.test: sink\n");

	cr_expect_str_eq(cfg->postmaster, "Post.Master@Example.test");
	config_free(cfg);
	cfg = load_ok(BASE "postmaster: pm@anywhere.test\ndomains:\n  \"*\": sink\n");
	cr_expect_str_eq(cfg->postmaster, "pm@anywhere.test");
	config_free(cfg);
	cfg = load_ok(BASE);
	cr_expect_null(cfg->postmaster);
	config_free(cfg);
}

/* cert_expiry_warning: a smart host takes the top-level value (which may
 * come after the connectors), MX routing none, unless the entry says. */
Test(config, cert_expiry_warning_inherited)
{
	static const struct {
		const char *yaml;		/* top level and connectors */
		uint32_t top, hub, mx;		/* the windows that result */
		bool hub_set, mx_set;		/* given by the entry */
	} t[] = {
		{ "connectors: {hub: {smarthosts: [h]}, inet: {mx: true}}\n",
		  14 * 86400, 14 * 86400, 0, false, false },
		{ "connectors: {hub: {smarthosts: [h]}, inet: {mx: true}}\n"
		  "cert_expiry_warning: 30d\n", 30 * 86400, 30 * 86400, 0, false, false },
		{ "cert_expiry_warning: 0\n"
		  "connectors: {hub: {smarthosts: [h]}, inet: {mx: true}}\n", 0, 0, 0, false,
		  false },
		{ "cert_expiry_warning: 7d\n"
		  "connectors: {hub: {smarthosts: [h], cert_expiry_warning: 0},\n"
		  "  inet: {mx: true, cert_expiry_warning: 36h}}\n",
		  7 * 86400, 0, 36 * 3600, true, true },
		{ "connectors: {hub: {smarthosts: [h], cert_expiry_warning: 365d},"
		  " inet: {mx: true}}\n", 14 * 86400, 365 * 86400, 0, true, false },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		char yaml[512];
		struct config *cfg;

		snprintf(yaml, sizeof(yaml), "%s%s", LISTEN, t[i].yaml);
		cfg = load_ok(yaml);
		cr_assert_eq(cfg->nconnectors, 2);
		cr_expect_eq(cfg->cert_expiry_warning, t[i].top, "row %zu", i);
		cr_expect_eq(cfg->connectors[0].cert_warning, t[i].hub, "row %zu", i);
		cr_expect_eq(cfg->connectors[1].cert_warning, t[i].mx, "row %zu", i);
		cr_expect_eq(cfg->connectors[0].cert_warning_set, t[i].hub_set, "row %zu", i);
		cr_expect_eq(cfg->connectors[1].cert_warning_set, t[i].mx_set, "row %zu", i);
		config_free(cfg);
	}
	load_bad(LISTEN "cert_expiry_warning: 366d\n" CONN,
		 NAME ":2: cert_expiry_warning: expected a duration from 0s to 365d, got '366d'");
	load_bad(BASE "    cert_expiry_warning: soon\n",
		 NAME ":5: connector 'sink': expected a duration like 30s, 15m, 24h, got 'soon'");
}

Test(config, free_null_is_fine)
{
	config_free(NULL);
}
