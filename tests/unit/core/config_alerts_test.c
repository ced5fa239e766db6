/*
 * config_alerts_test — the alerts: section of core/config: its defaults
 * (today's queue alert, nobody mailed), every key, the notice routes it
 * checks against the connectors and the domains, the webhook URLs it
 * takes, and a table of bad values with their exact one-line errors.
 */
#include "core/config.h"
#include "tests/unit/core/config_cases.h"

#define LISTEN	"listen: [\"127.0.0.1:2525\"]\n"
#define CONN	"connectors: {sink: {smarthosts: [\"127.0.0.1:2526\"]}, " \
		"ops: {smarthosts: [\"127.0.0.1:2527\"]}}\n"
#define BASE	LISTEN CONN "domains: {example.test: sink}\n"

Test(config_alerts, defaults)
{
	struct config *cfg = load_ok(config_default_yaml);
	const struct cfg_alerts *a = &cfg->alerts;

	cr_expect_eq(a->threshold, 200);
	cr_expect_eq(a->age, 3600);
	cr_expect_eq(a->nnotify, 0);
	cr_expect_null(a->notify);
	cr_expect_null(a->connector);
	cr_expect_eq(a->daily_limit, 3);
	cr_expect(a->notify_cleared);
	cr_expect_null(a->webhook);
	config_free(cfg);
}

Test(config_alerts, every_key)
{
	struct config *cfg = load_ok(BASE
		"alerts:\n"
		"  threshold: 50\n"
		"  age: 15m\n"
		"  notify: [ops@example.net, \"on-call+sluice@example.org\"]\n"
		"  connector: ops\n"
		"  daily_limit: 0\n"
		"  notify_cleared: false\n"
		"  webhook: HTTP://Hooks.Example.NET:8080/sluice/alerts?token=a%20b\n");
	const struct cfg_alerts *a = &cfg->alerts;

	cr_expect_eq(a->threshold, 50);
	cr_expect_eq(a->age, 900);
	cr_assert_eq(a->nnotify, 2);
	cr_expect_str_eq(a->notify[0], "ops@example.net");
	cr_expect_str_eq(a->notify[1], "on-call+sluice@example.org");
	cr_expect_str_eq(a->connector, "ops");
	cr_expect_eq(a->daily_limit, 0);
	cr_expect_not(a->notify_cleared);
	cr_expect_str_eq(a->webhook, "HTTP://Hooks.Example.NET:8080/sluice/alerts?token=a%20b");
	cr_expect_str_eq(a->webhook_host, "hooks.example.net");
	cr_expect_eq(a->webhook_port, 8080);
	cr_expect_str_eq(a->webhook_path, "/sluice/alerts?token=a%20b");
	config_free(cfg);
}

Test(config_alerts, routes_and_urls)
{
	/* one address (a scalar), routed by its domain; the "*" route; IPv6 */
	struct config *cfg = load_ok(BASE "alerts: {notify: ops@Example.TEST, "
				     "webhook: \"http://[::1]\"}\n");
	cr_expect_str_eq(cfg->alerts.notify[0], "ops@Example.TEST");
	cr_expect_str_eq(cfg->alerts.webhook_host, "::1");
	cr_expect_eq(cfg->alerts.webhook_port, 80);
	cr_expect_str_eq(cfg->alerts.webhook_path, "/");
	config_free(cfg);
	cfg = load_ok(LISTEN CONN "domains: {\"*\": sink}\nalerts: {notify: [a@anywhere.test]}\n");
	cr_expect_eq(cfg->alerts.nnotify, 1);
	config_free(cfg);
	/* alerts before the connectors it names */
	cfg = load_ok("alerts: {notify: [a@elsewhere.test], connector: ops}\n" BASE);
	cr_expect_str_eq(cfg->alerts.connector, "ops");
	config_free(cfg);
	cfg = load_ok(BASE "alerts: {notify: [], threshold: 0, age: 0s}\n");
	cr_expect_eq(cfg->alerts.nnotify, 0);
	cr_expect_eq(cfg->alerts.threshold, 0);
	config_free(cfg);
}

ParameterizedTestParameters(config_alerts, bad_values)
{
	static struct bad_case cases[] = {
	{ BASE "alerts: [a]\n",
	  NAME ":4: alerts: expected a mapping, got a list" },
	{ BASE "alerts: {notfiy: [a@example.test]}\n",
	  NAME ":4: unknown key 'notfiy' in alerts (did you mean 'notify'?)" },
	{ BASE "alerts: {notify: [ops]}\n",
	  NAME ":4: alerts: notify: expected a mail address like ops@example.net, got 'ops'" },
	{ BASE "alerts: {notify: [\"a\\r\\nBcc: b@example.test\"]}\n",
	  NAME ":4: alerts: notify: expected a mail address like ops@example.net, got "
	  "'a??Bcc: b@example.test'" },
	{ BASE "alerts: {notify: {a: b}}\n",
	  NAME ":4: alerts: expected a list of mail addresses like ops@example.net, got a "
	  "mapping" },
	{ BASE "alerts: {notify: [a@elsewhere.test]}\n",
	  NAME ":4: alerts: notify: no connector routes 'elsewhere.test': add its domain to "
	  "domains (or a \"*\" route), or name the connector the notices go through "
	  "(alerts: connector)" },
	{ BASE "alerts: {notify: [a@example.test], connector: nosuch}\n",
	  NAME ":4: alerts: connector: no connector is called 'nosuch'" },
	{ BASE "alerts: {connector: \"bad name\"}\n",
	  NAME ":4: alerts: connector: expected a connector name of letters, digits, '_', "
	  "'.' or '-', got 'bad name'" },
	{ BASE "alerts: {daily_limit: 1001}\n",
	  NAME ":4: alerts: expected a number of notices from 0 to 1000, got '1001'" },
	{ BASE "alerts: {threshold: -1}\n",
	  NAME ":4: alerts: expected a number of messages from 0 to 100000000, got '-1'" },
	{ BASE "alerts: {age: 400d}\n",
	  NAME ":4: alerts: expected a duration from 0s to 365d, got '400d'" },
	{ BASE "alerts: {notify_cleared: maybe}\n",
	  NAME ":4: alerts: expected true or false, got 'maybe'" },
	{ BASE "alerts: {webhook: \"https://hooks.example.net/x\"}\n",
	  NAME ":4: alerts: webhook: only http:// URLs are supported (the POST is plain HTTP; "
	  "put a local proxy in front for https), got 'https://hooks.example.net/x'" },
	{ BASE "alerts: {webhook: \"ftp://x\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'ftp://x'" },
	{ BASE "alerts: {webhook: \"http://user@host/x\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'http://user@host/x'" },
	{ BASE "alerts: {webhook: \"http://host:99999/\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'http://host:99999/'" },
	{ BASE "alerts: {webhook: \"http://host/a b\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'http://host/a b'" },
	{ BASE "alerts: {webhook: \"http://host/a\\r\\nX-Evil: 1\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'http://host/a??X-Evil: 1'" },
	{ BASE "alerts: {webhook: \"http://\"}\n",
	  NAME ":4: alerts: webhook: expected an http:// URL like http://127.0.0.1:8080/sluice, "
	  "got 'http://'" },
	};

	return bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config_alerts, bad_values)
{
	load_bad(c->yaml, c->want);
}
