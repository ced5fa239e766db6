/*
 * config_alerts — the alerts: section: when a queue alert is raised
 * (threshold messages queued at one connector for more than age), and who
 * is told of every alert, queue, connector down, tenant quota and mail
 * loop: the addresses mailed a notice (notify), the connector the notices
 * go through, the daily limit of notices per alert, whether a cleared
 * alert is mailed too, and an http:// URL that gets each event as JSON.
 *
 * Only the text is checked here, and after the domains that the connector
 * exists and, without one, that a connector routes each address
 * (cfg_alerts_check).  The notices themselves are core/ctl/ctl_notify.c's.
 * Loading: main thread.
 */
#include "core/config_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define URL_PATH_MAX	512		/* bytes of a webhook's path */

/* notify: one address or a list of them */
static int
f_notify(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	struct cfg_alerts *a = base;
	struct cfg_list list;
	struct cfg_qbuf q;
	int rc;

	rc = cfg_list_open(ld, v, "a list of mail addresses like ops@example.net", &list);
	if (rc < 0)
		return rc;
	if (list.n > CFG_ALERTS_NOTIFY_MAX)
		return cfg_fail(ld, v, "alerts: notify: expected at most %d addresses, got %zu",
				CFG_ALERTS_NOTIFY_MAX, list.n);
	a->notify = calloc(list.n ? list.n : 1, sizeof(*a->notify));
	if (a->notify == NULL)
		return cfg_nomem(ld);
	for (size_t i = 0; i < list.n; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);

		if (e == NULL)
			return -EINVAL;
		if (!is_scalar(e) || !cfg_valid_mailbox(sval(e), slen(e)))
			return cfg_fail(ld, e, "alerts: notify: expected a mail address like "
					"ops@example.net, got %s", cfg_describe(&q, e));
		a->notify[i] = cfg_strndup(ld->ix, sval(e), slen(e));
		if (a->notify[i] == NULL)
			return cfg_nomem(ld);
		a->nnotify = i + 1;
	}
	return 0;
}

/* connector: a name, checked against the connectors at the end */
static int
f_connector(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	return cfg_name(ld, v, "alerts: connector", "a connector",
			&((struct cfg_alerts *)base)->connector);
}

/*
 * webhook: "http://host[:port][/path]", host a name, an IPv4 address or a
 * bracketed IPv6 one.  Only http: the POST goes from the relay itself, in
 * clear, so the receiver is expected on the same host or network.
 */
static int
f_webhook(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	static const char scheme[] = "http://";
	struct cfg_alerts *a = base;
	struct cfg_hostport hp;
	struct cfg_qbuf q;
	const char *s, *auth, *path;
	size_t n, alen;

	if (!is_scalar(v))
		goto bad;
	s = sval(v);
	n = slen(v);
	if (n >= 8 && strncasecmp(s, "https://", 8) == 0)
		return cfg_fail(ld, v, "alerts: webhook: only http:// URLs are supported (the "
				"POST is plain HTTP; put a local proxy in front for https), "
				"got %s", cfg_describe(&q, v));
	if (n <= strlen(scheme) || strncasecmp(s, scheme, strlen(scheme)) != 0)
		goto bad;
	auth = s + strlen(scheme);
	path = memchr(auth, '/', n - strlen(scheme));
	alen = path ? (size_t)(path - auth) : n - strlen(scheme);
	if (alen == 0 || memchr(auth, '@', alen) != NULL ||
	    cfg_parse_hostport(auth, alen, 80, true, &hp) != CFG_HP_OK ||
	    (hp.family == 0 && !cfg_valid_domain(hp.host, hp.hostlen)))
		goto bad;
	if (path != NULL) {
		size_t plen = n - (size_t)(path - s);

		if (plen > URL_PATH_MAX)
			goto bad;
		for (size_t i = 0; i < plen; i++)
			if ((unsigned char)path[i] <= 0x20 || (unsigned char)path[i] >= 0x7f ||
			    path[i] == '#')
				goto bad;
	}
	a->webhook = cfg_strndup(ld->ix, s, n);
	a->webhook_host = cfg_strndup_lower(ld->ix, hp.host, hp.hostlen);
	a->webhook_path = path ? cfg_strndup(ld->ix, path, n - (size_t)(path - s))
			       : cfg_strndup(ld->ix, "/", 1);
	a->webhook_port = hp.port;
	if (!a->webhook || !a->webhook_host || !a->webhook_path)
		return cfg_nomem(ld);
	return 0;
bad:
	return cfg_fail(ld, v, "alerts: webhook: expected an http:// URL like "
			"http://127.0.0.1:8080/sluice, got %s", cfg_describe(&q, v));
}

/* alerts: {threshold, age, notify, connector, daily_limit, notify_cleared,
 * webhook} */
int
cfg_f_alerts(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
#define A(m)	offsetof(struct cfg_alerts, m)
	static const struct cfg_field fields[] = {
		{ "threshold", cfg_f_u32, A(threshold), 0, 100000000, "a number of messages" },
		{ "age", cfg_f_duration, A(age), 0, 365 * DAY, NULL },
		{ "notify", f_notify, 0, 0, 0, NULL },
		{ "connector", f_connector, 0, 0, 0, NULL },
		{ "daily_limit", cfg_f_u32, A(daily_limit), 0, 1000, "a number of notices" },
		{ "notify_cleared", cfg_f_bool, A(notify_cleared), 0, 0, NULL },
		{ "webhook", f_webhook, 0, 0, 0, NULL },
	};
#undef A
	ld->alerts = v;
	return cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), &ld->cfg->alerts, "alerts",
			    "in alerts");
}

int
cfg_alerts_check(struct cfg_loader *ld)
{
	const struct cfg_alerts *a = &ld->cfg->alerts;
	yaml_node_t *k;

	if (ld->alerts == NULL)
		return 0;
	if (a->connector != NULL) {
		if (config_connector_find(ld->cfg, a->connector) == NULL) {
			k = cfg_map_key(ld, ld->alerts, "connector", NULL);
			return cfg_fail(ld, k ? k : ld->alerts, "alerts: connector: no "
					"connector is called '%s'", a->connector);
		}
		return 0;
	}
	for (size_t i = 0; i < a->nnotify; i++) {
		const char *at = strchr(a->notify[i], '@');

		if (config_domain_find(ld->cfg, at + 1, strlen(at + 1)) == NULL &&
		    ld->cfg->default_route == NULL) {
			k = cfg_map_key(ld, ld->alerts, "notify", NULL);
			return cfg_fail(ld, k ? k : ld->alerts, "alerts: notify: no connector "
					"routes '%s': add its domain to domains (or a \"*\" "
					"route), or name the connector the notices go through "
					"(alerts: connector)", at + 1);
		}
	}
	return 0;
}

void
cfg_alerts_defaults(struct cfg_alerts *a)
{
	*a = (struct cfg_alerts){
		.threshold = 200,
		.age = 3600,
		.daily_limit = 3,
		.notify_cleared = true,
	};
}
