/*
 * config — load sluice.yaml (or the built-in default) into a struct config.
 *
 * The YAML is read with libyaml's document API into a node tree, then walked
 * with small per-section field tables: each key names the function that parses
 * its value, so unknown keys, duplicate keys and wrong value types are caught
 * in one place and every error names the file, the line and what was expected.
 * The walk follows the fixed schema and never recurses over arbitrary YAML, so
 * deep nesting and alias cycles cannot blow the stack or loop.
 *
 * This file holds the entry points (load, free, holds), the pass over the
 * text before the document is built, the top-level table and the defaults;
 * core/config_int.h names the parsing core and the file of each section.
 *
 * Not for: watching the file, merging configs, or publishing a reload (that is
 * core/daemon/sluiced.c).  Main thread only while loading; a loaded config is
 * immutable and may be read by any thread.
 *
 * Ownership: every string of a config lives in one string pool and every array
 * is one malloc, all owned by the config and released by config_free.  The
 * pool and the hash tables sit behind cfg->domain_index (struct cfg_index).
 */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include <yaml.h>

#include "core/config_int.h"
#include "core/file.h"

const char config_default_yaml[] =
	"# Sluice built-in default: relay example.test to a local sink.\n"
	"workers: 0                      # 0 = one per core\n"
	"listen: [\"127.0.0.1:2525\"]\n"
	"spool: ./var/spool\n"
	"control_socket: ./var/sluice.sock\n"
	"trusted_networks: [\"127.0.0.1/32\", \"::1/128\"]\n"
	"connectors:\n"
	"  default:\n"
	"    smarthosts: [\"127.0.0.1:2526\"]\n"
	"domains:\n"
	"  example.test: default\n";

/* Used when a file leaves them out: the built-in default's values. */
#define CFG_DEFAULT_SPOOL	"./var/spool"
#define CFG_DEFAULT_CONTROL	"./var/sluice.sock"

#define FILE_MAX	((size_t)1 << 30)	/* refuse config files above 1 GiB */
/*
 * libyaml's scanner is quadratic in flow nesting depth and its loader in
 * anchors x aliases, so both are capped before the document is built.  The
 * schema itself nests 4 deep.
 */
#define YAML_DEPTH_MAX	32
#define YAML_ANCHORS_MAX 1000

/* ------------------------------------------------------------------------ */
/* Top level.                                                               */

static int
f_socket_path(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
	struct sockaddr_un sun;

	if (is_scalar(v) && slen(v) >= sizeof(sun.sun_path))
		return cfg_fail(ld, v, "%s: expected a path of at most %zu bytes, got "
				"%zu bytes", ld->ctx, sizeof(sun.sun_path) - 1, slen(v));
	return cfg_f_path(ld, f, v, base);
}

/* domains: kept for the end, when the connectors and tenants are known */
static int
f_defer_domains(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		void *base)
{
	ld->domains = v;
	return 0;
}

static const struct cfg_field top_fields[] = {
#define T(m)	offsetof(struct config, m)
	{ "workers", cfg_f_u32, T(workers), 0, 1024, NULL },
	{ "hostname", cfg_f_hostname, T(hostname), 0, 0, NULL },
	{ "spool", cfg_f_path, T(spool_dir), 0, 0, NULL },
	{ "spool_segment_size", cfg_f_size, T(segment_size), MIB, GIB, NULL },
	{ "control_socket", f_socket_path, T(control_socket), 0, 0, NULL },
	{ "resolvers", cfg_f_resolvers, 0, 0, 0, NULL },
	{ "dns_timeout_ms", cfg_f_u32, T(dns_timeout_ms), 10, 60000, NULL },
	{ "listen", cfg_f_listen, 0, 0, 0, NULL },
	{ "trusted_networks", cfg_f_trusted, 0, 0, 0, NULL },
	{ "limits", cfg_f_limits, 0, 0, 0, NULL },
	{ "tls", cfg_f_tls_server, 0, 0, 0, NULL },
	{ "tenants", cfg_f_tenants, 0, 0, 0, NULL },
	{ "postmaster", cfg_f_postmaster, T(postmaster), 0, 0, NULL },
	{ "ndr_return_max", cfg_f_size, T(ndr_return_max), 0, 10 * MIB, NULL },	/* DSN_ORIG_MAX */
	{ "state_file", cfg_f_path, T(state_file), 0, 0, NULL },
	{ "quota_window", cfg_f_duration, T(quota_window), 1, 7 * DAY, NULL },
	{ "quota_bucket", cfg_f_duration, T(quota_bucket), 1, DAY, NULL },
	{ "cert_expiry_warning", cfg_f_duration, T(cert_expiry_warning), 0, 365 * DAY, NULL },
	{ "redis", cfg_f_redis, 0, 0, 0, NULL },
	{ "cluster", cfg_f_cluster, 0, 0, 0, NULL },
	{ "alerts", cfg_f_alerts, 0, 0, 0, NULL },
	{ "user", cfg_f_account, T(user), 0, 0, "a user" },
	{ "group", cfg_f_account, T(group), 0, 0, "a group" },
	{ "control_group", cfg_f_account, T(control_group), 0, 0, "a group" },
	{ "log", cfg_f_log, 0, 0, 0, NULL },
	{ "http", cfg_f_http, 0, 0, 0, NULL },
	{ "trace", cfg_f_trace, 0, 0, 0, NULL },
	{ "connectors", cfg_f_connectors, 0, 0, 0, NULL },
	{ "domains", f_defer_domains, 0, 0, 0, NULL },
#undef T
};

static void
config_defaults(struct config *cfg)
{
	cfg->workers = 0;
	cfg->dns_timeout_ms = 2000;
	cfg->quota_window = 3600;
	cfg->quota_bucket = 60;
	cfg->cert_expiry_warning = CFG_CERT_WARNING;
	cfg->segment_size = 64 * MIB;
	cfg->ndr_return_max = 128 * KIB;
	cfg_limits_defaults(&cfg->limits);
	cfg_log_defaults(&cfg->log);
	cfg_http_defaults(&cfg->http);
	cfg_cluster_defaults(&cfg->cluster_cfg);
	cfg_alerts_defaults(&cfg->alerts);
	cfg_trace_defaults(&cfg->trace);
	cfg->tls_proto.min_version = 12;
}

static int
fill_defaults(struct cfg_loader *ld)
{
	struct config *cfg = ld->cfg;
	char host[256];

	if (cfg->hostname == NULL) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		cfg->hostname = cfg_strndup(ld->ix, host, strlen(host));
	}
	if (cfg->spool_dir == NULL)
		cfg->spool_dir = cfg_strndup(ld->ix, CFG_DEFAULT_SPOOL,
					     strlen(CFG_DEFAULT_SPOOL));
	if (cfg->control_socket == NULL)
		cfg->control_socket = cfg_strndup(ld->ix, CFG_DEFAULT_CONTROL,
						  strlen(CFG_DEFAULT_CONTROL));
	if (!cfg->hostname || !cfg->spool_dir || !cfg->control_socket)
		return cfg_nomem(ld);
	return 0;
}

/* Line of a libyaml error; reader errors only know their byte offset. */
static size_t
yaml_error_line(struct cfg_loader *ld, const yaml_parser_t *p)
{
	size_t line = 1;

	if (p->error != YAML_READER_ERROR)
		return p->problem_mark.line + 1;
	for (size_t i = 0; i < p->problem_offset && i < ld->textlen; i++)
		line += ld->text[i] == '\n';
	return line;
}

static int
yaml_failure(struct cfg_loader *ld, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return cfg_nomem(ld);
	return cfg_fail_line(ld, yaml_error_line(ld, p), "YAML syntax error: %s",
			     p->problem ? p->problem : "unknown problem");
}

/*
 * Event pass over the text before the document is built: syntax errors,
 * nesting depth, anchor count, and a stray second document.
 */
static int
prescan(struct cfg_loader *ld)
{
	yaml_parser_t parser;
	const yaml_char_t *anchor;
	yaml_event_t ev;
	size_t depth = 0, anchors = 0, docs = 0;
	bool end;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return cfg_nomem(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text,
				     ld->textlen);
	while (rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_failure(ld, &parser);
			break;
		}
		anchor = NULL;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = cfg_fail_line(ld, ev.start_mark.line + 1, "expected a "
						   "single YAML document, found another");
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			anchor = ev.type == YAML_SEQUENCE_START_EVENT ?
				 ev.data.sequence_start.anchor :
				 ev.data.mapping_start.anchor;
			if (++depth > YAML_DEPTH_MAX)
				rc = cfg_fail_line(ld, ev.start_mark.line + 1, "expected at "
						   "most %d levels of nesting",
						   YAML_DEPTH_MAX);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			break;
		default:
			break;
		}
		if (rc == 0 && anchor && ++anchors > YAML_ANCHORS_MAX)
			rc = cfg_fail_line(ld, ev.start_mark.line + 1, "expected at most "
					   "%d YAML anchors", YAML_ANCHORS_MAX);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int
load(struct cfg_loader *ld)
{
	yaml_parser_t parser;
	int rc;

	rc = prescan(ld);
	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return cfg_nomem(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text,
				     ld->textlen);
	if (!yaml_parser_load(&parser, &ld->doc)) {
		rc = yaml_failure(ld, &parser);
		memset(&ld->doc, 0, sizeof(ld->doc));
	}
	yaml_parser_delete(&parser);
	if (rc < 0)
		return rc;

	ld->root = yaml_document_get_root_node(&ld->doc);
	if (ld->root == NULL || ld->root->type != YAML_MAPPING_NODE)
		return cfg_fail(ld, ld->root, "expected a mapping at the top level");
	ld->budget = 4 * (size_t)(ld->doc.nodes.top - ld->doc.nodes.start) + 65536;
	rc = cfg_load_map(ld, ld->root, top_fields, CFG_NFIELDS(top_fields), ld->cfg,
			  NULL, "at the top level");
	if (rc < 0)
		return rc;
	if (ld->cfg->nlisteners == 0)
		return cfg_fail(ld, ld->listen ? ld->listen : ld->root,
				"listen: expected at least one address like "
				"127.0.0.1:2525");
	if ((rc = cfg_domains_load(ld)) < 0)
		return rc;
	if ((rc = cfg_alerts_check(ld)) < 0)
		return rc;
	if ((rc = cfg_cluster_check(ld)) < 0)
		return rc;
	cfg_connectors_inherit(ld->cfg);
	return fill_defaults(ld);
}

static int
load_buffer(const char *name, const char *text, size_t len, struct config **out,
	    char *err, size_t errlen)
{
	struct cfg_loader ld = {
		.name = name ? name : "(string)",
		.text = text,
		.textlen = len,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	ld.cfg = calloc(1, sizeof(*ld.cfg));
	ld.ix = calloc(1, sizeof(*ld.ix));
	if (ld.cfg == NULL || ld.ix == NULL) {
		free(ld.cfg);
		free(ld.ix);
		return cfg_nomem(&ld);
	}
	ld.cfg->domain_index = ld.ix;
	config_defaults(ld.cfg);
	ld.cfg->path = cfg_strndup(ld.ix, ld.name, strlen(ld.name));
	if (ld.cfg->path == NULL)
		rc = cfg_nomem(&ld);
	else if (text == NULL)
		rc = cfg_fail_line(&ld, 0, "no YAML text given");
	else
		rc = load(&ld);
	yaml_document_delete(&ld.doc);
	free(ld.conn_line);
	if (rc < 0) {
		config_free(ld.cfg);
		return rc;
	}
	*out = ld.cfg;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* API.                                                                     */

int
config_load_string(const char *name, const char *yaml, struct config **out,
		   char *err, size_t errlen)
{
	return load_buffer(name, yaml, yaml ? strlen(yaml) : 0, out, err, errlen);
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (path == NULL)
		return -EINVAL;
	rc = file_read(path, FILE_MAX, &buf, &len);
	if (rc < 0) {
		struct cfg_loader ld = { .name = path, .err = err, .errlen = errlen };

		cfg_fail_line(&ld, 0, "cannot read: %s", strerror(-rc));
		return rc;
	}
	rc = load_buffer(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	if (cfg->built_free != NULL)
		cfg->built_free(cfg);
	for (size_t i = 0; i < cfg->nlisteners; i++)
		free(cfg->listeners[i].proxy_from);
	free(cfg->listeners);
	free(cfg->trusted);
	free(cfg->client_exempt);
	free(cfg->resolvers);
	free(cfg->redis_sentinels);
	free(cfg->alerts.notify);
	free(cfg->tenants);
	for (size_t i = 0; i < cfg->nconnectors; i++)
		free(cfg->connectors[i].hosts);
	free(cfg->connectors);
	free(cfg->domains);
	free(cfg->default_route);
	cfg_index_free(cfg->domain_index);
	free(cfg);
}

/*
 * holds is the one field written after load, and only through these atomics:
 * a config is otherwise shared read-only, hence the casts.  A worker takes a
 * hold on the config it reads before it acknowledges a newer one, so the
 * main thread, seeing every acknowledgement, also sees the hold.
 */
const struct config *
config_hold(const struct config *cfg)
{
	__atomic_fetch_add(&((struct config *)cfg)->holds, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
config_release(const struct config *cfg)
{
	/* release: the holder's last reads happen before the free */
	__atomic_fetch_sub(&((struct config *)cfg)->holds, 1, __ATOMIC_RELEASE);
}

bool
config_held(const struct config *cfg)
{
	return __atomic_load_n(&cfg->holds, __ATOMIC_ACQUIRE) != 0;
}

