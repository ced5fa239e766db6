/*
 * config_service — how sluiced runs as a system service: the user and
 * group it becomes once its listeners and control socket are open (user,
 * group), the group that may reach the control socket (control_group),
 * where and how it logs (log: to, path, format, level, facility), and
 * where it keeps the message trace (trace: enabled, path, retention,
 * max_size; the database is opened by core/trace/trace.h).
 *
 * Only the text is checked here (a name's characters, a word from a list,
 * which log keys go together).  Whether the user and groups exist is asked
 * of the system by core/daemon/privs.c, at start and by `sluiced -t`; the
 * log is opened by core/log.h.  Loading: main thread.
 */
#include "core/config_int.h"

#include <string.h>

#include "core/log.h"

/* user, group, control_group: an account name into a char * */
int
cfg_f_account(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
	struct cfg_qbuf q;
	char **out = CFG_AT(base, f, char *);

	if (!is_scalar(v) || !cfg_valid_account(sval(v), slen(v)))
		return cfg_fail(ld, v, "%s: expected %s name of 1 to 32 letters, digits, "
				"'_', '.' or '-', got %s", ld->ctx, f->what,
				cfg_describe(&q, v));
	*out = cfg_strndup(ld->ix, sval(v), slen(v));
	return *out ? 0 : cfg_nomem(ld);
}

/* ------------------------------------------------------------------------ */
/* log.                                                                     */

static int
f_log_to(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	 void *base)
{
	/* Order matches enum cfg_log_to. */
	static const char *const words[] = { "stderr", "syslog", "file", NULL };
	int i = 0, rc = cfg_word(ld, v, words, "stderr, syslog or file", &i);

	if (rc == 0)
		((struct cfg_log *)base)->to = (enum cfg_log_to)i;
	return rc;
}

static int
f_log_format(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
	static const char *const words[] = { "text", "json", NULL };
	int i = 0, rc = cfg_word(ld, v, words, "text or json", &i);

	if (rc == 0)
		((struct cfg_log *)base)->json = i == 1;
	return rc;
}

static int
f_log_level(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	    void *base)
{
	/* Order matches enum log_level. */
	static const char *const words[] = { "debug", "info", "warn", "error", NULL };
	int i = 0, rc = cfg_word(ld, v, words, "debug, info, warn or error", &i);

	if (rc == 0)
		((struct cfg_log *)base)->level = (unsigned)i;
	return rc;
}

/*
 * The facilities a mail relay may log under, with their codes (RFC 5424
 * table 1, the same numbers as <syslog.h>'s LOG_MAIL >> 3 and so on).
 */
static const struct {
	const char *name;
	unsigned code;
} facilities[] = {
	{ "mail", 2 }, { "daemon", 3 }, { "user", 1 },
	{ "local0", 16 }, { "local1", 17 }, { "local2", 18 }, { "local3", 19 },
	{ "local4", 20 }, { "local5", 21 }, { "local6", 22 }, { "local7", 23 },
};

static int
f_log_facility(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	       void *base)
{
	const char *words[sizeof(facilities) / sizeof(facilities[0]) + 1];
	size_t n = sizeof(facilities) / sizeof(facilities[0]);
	int i = 0, rc;

	for (size_t k = 0; k < n; k++)
		words[k] = facilities[k].name;
	words[n] = NULL;
	rc = cfg_word(ld, v, (const char *const *)words,
		      "mail, daemon, user or local0 to local7", &i);
	if (rc == 0)
		((struct cfg_log *)base)->facility = facilities[i].code;
	return rc;
}

/* log: {to, path, format, level, facility} */
int
cfg_f_log(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	  void *base)
{
	static const struct cfg_field fields[] = {
		{ "to", f_log_to, 0, 0, 0, NULL },
		{ "path", cfg_f_path, offsetof(struct cfg_log, path), 0, 0, NULL },
		{ "format", f_log_format, 0, 0, 0, NULL },
		{ "level", f_log_level, 0, 0, 0, NULL },
		{ "facility", f_log_facility, 0, 0, 0, NULL },
	};
	struct cfg_log *l = &ld->cfg->log;
	yaml_node_t *k;
	int rc;

	rc = cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), l, "log", "in log");
	if (rc < 0)
		return rc;
	if (l->to == CFG_LOG_FILE && l->path == NULL)
		return cfg_fail(ld, v, "log: to: file needs a path");
	if (l->to != CFG_LOG_FILE && (k = cfg_map_key(ld, v, "path", NULL)) != NULL)
		return cfg_fail(ld, k, "log: path is only for to: file");
	if (l->to != CFG_LOG_SYSLOG && (k = cfg_map_key(ld, v, "facility", NULL)) != NULL)
		return cfg_fail(ld, k, "log: facility is only for to: syslog");
	return 0;
}

void
cfg_log_defaults(struct cfg_log *l)
{
	*l = (struct cfg_log){
		.to = CFG_LOG_STDERR,
		.path = NULL,
		.json = false,
		.level = LOG_INFO,
		.facility = 2,		/* mail */
	};
}

/* ------------------------------------------------------------------------ */
/* trace.                                                                   */

/* trace: {enabled, path, retention, max_size}: the section turns it on */
int
cfg_f_trace(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	    void *base)
{
	static const struct cfg_field fields[] = {
		{ "enabled", cfg_f_bool, offsetof(struct cfg_trace, enabled), 0, 0, NULL },
		{ "path", cfg_f_path, offsetof(struct cfg_trace, path), 0, 0, NULL },
		{ "retention", cfg_f_duration, offsetof(struct cfg_trace, retention), 1,
		  3650 * DAY, NULL },
		{ "max_size", cfg_f_size, offsetof(struct cfg_trace, max_size), 0, 1024 * GIB,
		  NULL },
	};
	struct cfg_trace *t = &ld->cfg->trace;

	t->enabled = true;
	return cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), t, "trace", "in trace");
}

void
cfg_trace_defaults(struct cfg_trace *t)
{
	*t = (struct cfg_trace){
		.enabled = false,
		.path = NULL,
		.retention = 10 * DAY,
		.max_size = GIB,
	};
}
