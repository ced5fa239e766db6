/*
 * config_service_test — the keys of issue 11 in core/config: how the daemon
 * runs (user, group, control_group, log), the TLS versions and cipher lists
 * of both sides, the Redis password and the TLS policy MX routing gets by
 * default; and a table of bad values with their exact one-line errors.
 */
#include "core/config.h"
#include "core/log.h"
#include "tests/unit/core/config_cases.h"

#include <stdio.h>

#define LISTEN	"listen: [\"127.0.0.1:2525\"]\n"
#define CONN	"connectors: {sink: {smarthosts: [\"127.0.0.1:2526\"]}}\n"
#define BASE	LISTEN CONN

Test(config_service, defaults_keep_todays_behaviour)
{
	struct config *cfg = load_ok(config_default_yaml);

	cr_expect_null(cfg->user);
	cr_expect_null(cfg->group);
	cr_expect_null(cfg->control_group);
	cr_expect_eq(cfg->log.to, CFG_LOG_STDERR);
	cr_expect_null(cfg->log.path);
	cr_expect_not(cfg->log.json);
	cr_expect_eq(cfg->log.level, LOG_INFO);
	cr_expect_eq(cfg->log.facility, 2, "mail");
	cr_expect_eq(cfg->tls_proto.min_version, 12);
	cr_expect_null(cfg->tls_proto.ciphers);
	cr_expect_null(cfg->tls_proto.ciphersuites);
	cr_expect_null(cfg->redis_password);
	cr_expect_eq(cfg->connectors[0].tls, CFG_TLS_NONE, "a smart host: none");
	cr_expect_eq(cfg->connectors[0].tls_proto.min_version, 12);
	config_free(cfg);
}

Test(config_service, every_key)
{
	struct config *cfg = load_ok(
		"user: sluice\n"
		"group: mail-relay\n"
		"control_group: sluice.ops\n"
		"log: {to: syslog, format: json, level: warn, facility: local3}\n"
		"tls:\n"
		"  cert: /etc/sluice/relay.pem\n"
		"  key: /etc/sluice/relay.key\n"
		"  min_version: 1.3\n"
		"  ciphers: ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n"
		"  ciphersuites: TLS13-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256\n"
		"redis: {host: 10.0.0.5, password: \"s3cret: with spaces\"}\n"
		LISTEN
		"connectors:\n"
		"  partner:\n"
		"    smarthosts: [mx.partner.test]\n"
		"    tls: required\n"
		"    tls_min_version: \"1.3\"\n"
		"    tls_ciphers: ECDHE-ECDSA-AES256-GCM-SHA384\n"
		"    tls_ciphersuites: TLS_AES_256_GCM_SHA384\n"
		"  internet: {mx: true}\n"
		"  clear: {mx: true, tls: none}\n");

	cr_expect_str_eq(cfg->user, "sluice");
	cr_expect_str_eq(cfg->group, "mail-relay");
	cr_expect_str_eq(cfg->control_group, "sluice.ops");
	cr_expect_eq(cfg->log.to, CFG_LOG_SYSLOG);
	cr_expect(cfg->log.json);
	cr_expect_eq(cfg->log.level, LOG_WARN);
	cr_expect_eq(cfg->log.facility, 19);
	cr_expect_eq(cfg->tls_proto.min_version, 13);
	cr_expect_str_eq(cfg->tls_proto.ciphers,
			 "ECDHE-RSA-AES128-GCM-SHA256:TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256");
	cr_expect_str_eq(cfg->tls_proto.ciphersuites,
			 "TLS13-AES128-GCM-SHA256:TLS_CHACHA20_POLY1305_SHA256");
	cr_expect_str_eq(cfg->redis_password, "s3cret: with spaces");
	cr_expect_eq(cfg->redis_port, 6379);
	cr_expect_eq(cfg->connectors[0].tls, CFG_TLS_REQUIRED);
	cr_expect_eq(cfg->connectors[0].tls_proto.min_version, 13);
	cr_expect_str_eq(cfg->connectors[0].tls_proto.ciphers, "ECDHE-ECDSA-AES256-GCM-SHA384");
	cr_expect_str_eq(cfg->connectors[0].tls_proto.ciphersuites, "TLS_AES_256_GCM_SHA384");
	cr_expect_eq(cfg->connectors[1].tls, CFG_TLS_OPPORTUNISTIC,
		     "MX routing encrypts when it can by default");
	cr_expect_eq(cfg->connectors[1].tls_proto.min_version, 12);
	cr_expect_eq(cfg->connectors[2].tls, CFG_TLS_NONE, "an explicit none stays");
	config_free(cfg);
}

Test(config_service, log_to_file_and_levels)
{
	static const char *const levels[] = { "debug", "info", "warn", "error" };
	char yaml[256];

	for (unsigned i = 0; i < 4; i++) {
		struct config *cfg;

		snprintf(yaml, sizeof(yaml), BASE "log: {to: file, path: /var/log/sluice/"
			 "sluiced.log, format: text, level: %s}\n", levels[i]);
		cfg = load_ok(yaml);
		cr_expect_eq(cfg->log.to, CFG_LOG_FILE);
		cr_expect_str_eq(cfg->log.path, "/var/log/sluice/sluiced.log");
		cr_expect_eq(cfg->log.level, i, "%s", levels[i]);
		config_free(cfg);
	}
}

/* The production file's keys, as packaging writes them. */
Test(config_service, shipped_keys)
{
	struct config *cfg = load_ok(BASE "user: sluice\ngroup: sluice\n"
				     "log: {to: syslog, format: text, level: info}\n"
				     "control_group: adm\n");

	cr_expect_str_eq(cfg->user, "sluice");
	cr_expect_str_eq(cfg->group, "sluice");
	cr_expect_str_eq(cfg->control_group, "adm");
	cr_expect_eq(cfg->log.to, CFG_LOG_SYSLOG);
	cr_expect_eq(cfg->log.facility, 2);
	cr_expect_not(cfg->log.json);
	config_free(cfg);
}

ParameterizedTestParameters(config_service, bad_values)
{
	static struct bad_case cases[] = {
	/* user, group, control_group */
	{ BASE "user: \"-root\"\n",
	  NAME ":3: user: expected a user name of 1 to 32 letters, digits, '_', '.' or "
	  "'-', got '-root'" },
	{ BASE "user: [sluice]\n",
	  NAME ":3: user: expected a user name of 1 to 32 letters, digits, '_', '.' or "
	  "'-', got a list" },
	{ BASE "group: \"mail relay\"\n",
	  NAME ":3: group: expected a group name of 1 to 32 letters, digits, '_', '.' or "
	  "'-', got 'mail relay'" },
	{ BASE "control_group: averyveryveryveryverylonggroupname\n",
	  NAME ":3: control_group: expected a group name of 1 to 32 letters, digits, "
	  "'_', '.' or '-', got 'averyveryveryveryverylonggroupname'" },
	{ BASE "usr: sluice\n",
	  NAME ":3: unknown key 'usr' at the top level (did you mean 'user'?)" },
	/* log */
	{ BASE "log: {to: journal}\n",
	  NAME ":3: log: expected stderr, syslog or file, got 'journal'" },
	{ BASE "log: {to: file}\n",
	  NAME ":3: log: to: file needs a path" },
	{ BASE "log: {to: syslog, path: /tmp/x.log}\n",
	  NAME ":3: log: path is only for to: file" },
	{ BASE "log: {path: /tmp/x.log}\n",
	  NAME ":3: log: path is only for to: file" },
	{ BASE "log: {to: file, path: /tmp/x.log, facility: mail}\n",
	  NAME ":3: log: facility is only for to: syslog" },
	{ BASE "log: {to: syslog, facility: kern}\n",
	  NAME ":3: log: expected mail, daemon, user or local0 to local7, got 'kern'" },
	{ BASE "log: {format: yaml}\n",
	  NAME ":3: log: expected text or json, got 'yaml'" },
	{ BASE "log: {level: warning}\n",
	  NAME ":3: log: expected debug, info, warn or error, got 'warning'" },
	{ BASE "log: {levle: info}\n",
	  NAME ":3: unknown key 'levle' in log (did you mean 'level'?)" },
	{ BASE "log: syslog\n",
	  NAME ":3: log: expected a mapping, got 'syslog'" },
	/* inbound TLS */
	{ BASE "tls: {cert: a.pem, key: a.key, min_version: 1.1}\n",
	  NAME ":3: tls: expected 1.2 or 1.3, got '1.1'" },
	{ BASE "tls: {min_version: 1.3}\n",
	  NAME ":3: tls: expected both cert and key" },
	{ BASE "tls: {cert: a.pem, key: a.key, ciphers: \"HIGH:!aNULL\"}\n",
	  NAME ":3: tls: expected TLS 1.2 cipher names like ECDHE-RSA-AES128-GCM-SHA256 "
	  "separated by ':', got 'HIGH:!aNULL'" },
	{ BASE "tls: {cert: a.pem, key: a.key, ciphers: \"ECDHE-RSA-AES128-GCM-SHA256::\"}\n",
	  NAME ":3: tls: expected TLS 1.2 cipher names like ECDHE-RSA-AES128-GCM-SHA256 "
	  "separated by ':', got 'ECDHE-RSA-AES128-GCM-SHA256::'" },
	{ BASE "tls: {cert: a.pem, key: a.key, ciphers: TLS13-AES128-GCM-SHA256}\n",
	  NAME ":3: tls: 'TLS13-AES128-GCM-SHA256' is a TLS 1.3 suite, not a TLS 1.2 cipher" },
	{ BASE "tls: {cert: a.pem, key: a.key, ciphersuites: "
	  "\"TLS_AES_128_GCM_SHA256:TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\"}\n",
	  NAME ":3: tls: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256' is a TLS 1.2 cipher, not a "
	  "TLS 1.3 suite" },
	{ BASE "tls: {cert: a.pem, key: a.key, ciphersuites: \"\"}\n",
	  NAME ":3: tls: expected TLS 1.3 suite names like TLS_AES_128_GCM_SHA256 separated "
	  "by ':', got ''" },
	/* outbound TLS */
	{ LISTEN "connectors:\n  sink:\n    mx: true\n    tls_min_version: 1.0\n",
	  NAME ":5: connector 'sink': expected 1.2 or 1.3, got '1.0'" },
	{ LISTEN "connectors:\n  sink:\n    mx: true\n    tls_ciphersuites: "
	  "ECDHE-RSA-AES128-GCM-SHA256\n",
	  NAME ":5: connector 'sink': 'ECDHE-RSA-AES128-GCM-SHA256' is a TLS 1.2 cipher, "
	  "not a TLS 1.3 suite" },
	{ LISTEN "connectors:\n  sink:\n    mx: true\n    tls_cipher: x\n",
	  NAME ":5: unknown key 'tls_cipher' in connector 'sink' (did you mean "
	  "'tls_ciphers'?)" },
	/* redis */
	{ BASE "redis: {host: 127.0.0.1, password: \"\"}\n",
	  NAME ":3: redis: expected a password, got ''" },
	{ BASE "redis: {host: 127.0.0.1, password: [a]}\n",
	  NAME ":3: redis: expected a password, got a list" },
	};
	return bad_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *c, config_service, bad_values)
{
	load_bad(c->yaml, c->want);
}

/* trace: off by default; the section turns it on; its limits and errors. */
Test(config_service, trace)
{
	struct config *cfg = load_ok(config_default_yaml);

	cr_expect_not(cfg->trace.enabled);
	cr_expect_null(cfg->trace.path);
	cr_expect_eq(cfg->trace.retention, 10 * 86400);
	cr_expect_eq(cfg->trace.max_size, 1ull << 30);
	config_free(cfg);
	cfg = load_ok(BASE "domains: {d.test: sink}\ntrace: {}\n");
	cr_expect(cfg->trace.enabled, "the section alone turns it on");
	config_free(cfg);
	cfg = load_ok(BASE "domains: {d.test: sink}\n"
		      "trace: {path: /var/lib/sluice/trace.db, retention: 2d, max_size: 0}\n");
	cr_expect(cfg->trace.enabled);
	cr_expect_str_eq(cfg->trace.path, "/var/lib/sluice/trace.db");
	cr_expect_eq(cfg->trace.retention, 2 * 86400);
	cr_expect_eq(cfg->trace.max_size, 0, "0: no size limit");
	config_free(cfg);
	cfg = load_ok(BASE "domains: {d.test: sink}\ntrace: {enabled: false}\n");
	cr_expect_not(cfg->trace.enabled);
	config_free(cfg);
	load_bad(BASE "domains: {d.test: sink}\ntrace: {retention: 0}\n",
		 "sluice.yaml:4: trace: expected a duration from 1s to 3650d, got '0'");
	load_bad(BASE "domains: {d.test: sink}\ntrace: {retension: 1d}\n",
		 "sluice.yaml:4: unknown key 'retension' in trace (did you mean 'retention'?)");
	load_bad(BASE "domains: {d.test: sink}\ntrace: {max_size: lots}\n",
		 "sluice.yaml:4: trace: expected a size like 512K, 10M, 1G or a number of bytes, "
		 "got 'lots'");
	load_bad(BASE "domains: {d.test: sink}\ntrace: yes\n",
		 "sluice.yaml:4: trace: expected a mapping, got 'yes'");
}
