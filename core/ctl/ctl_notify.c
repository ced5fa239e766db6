/*
 * ctl_notify — mailing and posting the alerts, on the control thread.
 *
 * An alert is a key, its kind and what it is about: "queue:partner"
 * (a queue alert, core/ctl/ctl_alert.c), "down:partner" (a connector
 * with a destination marked down), "quota:acme" (a tenant over its
 * invalid-recipient quota), "loop:corp.example/onprem" (the mail-loop
 * insight, core/ctl/ctl_loop.c), "cert:partner/mx1.partner.example" (a
 * destination certificate about to expire, core/ctl/ctl_cert.c).  Each
 * change of one is an event, raised, updated (a queue alert's code, a
 * certificate that expired or was replaced by another in the window) or
 * cleared.  The alert files note their
 * events as they log them; the connectors down and the tenants over quota
 * are found here, from the round's merged connectors and the tenant
 * counters, by comparing each round with the last.  At the end of the
 * round (ctl_notify_update) every event noted is:
 *
 *  1. posted to alerts.webhook, always (a machine wants them all);
 *  2. mailed to alerts.notify, by these rules:
 *     - a raise or an update is a notice, within alerts.daily_limit per
 *       key and UTC day (core/ctl/ctl_notify_limit.h); the first one past
 *       the limit is replaced by one notice that says the rest of the day's
 *       are suppressed, and the log says so; after it nothing goes out;
 *     - a clear is mailed only when the raise it ends was (so every
 *       notice of a problem gets its all-clear, and a suppressed one does
 *       not), only with alerts.notify_cleared, and is not counted;
 *     - a queue alert raised before any attempt at its connector ended
 *       has no code yet: its notice waits (CODE_WAIT at most) for the
 *       first code, so it says what failed; an update meanwhile is folded
 *       into it, and a clear meanwhile cancels it.
 *
 * A notice is built by queue/notice.h and handed to worker 0 as a
 * CTL_W_NOTICE request, which spools it from <> and delivers it like an
 * NDR, through alerts.connector or the recipients' own routes.
 *
 * State: the settings (copied from the config each round held), the keys
 * with their open/mailed state, and the day's counts, all in memory: a
 * restart forgets them, so an alert still open is raised (and mailed)
 * again, and the daily counts start again.  Control thread only.
 */
#include "core/ctl/ctl_notify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/config.h"
#include "core/ctl/ctl_notify_limit.h"
#include "core/ctl/ctl_run.h"
#include "core/ctl/ctl_table.h"
#include "core/ctl/ctl_tenant.h"
#include "core/ctl/ctl_webhook.h"
#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/mfi/mfi_cert.h"
#include "core/strb.h"
#include "core/xalloc.h"
#include "queue/notice.h"

#define CODE_WAIT	60	/* s a queue alert's notice waits for its code */
#define NEV_FIELDS	14	/* labelled lines of a notice, at most */
#define TENANTS_MAX	256	/* tenants over quota looked at per round */
#define REASON_MAX	60	/* bytes of a remote reply in a subject */

/* ---- settings ---------------------------------------------------------- */

/* What the notices need of the config, copied each round. */
static struct {
	bool have;			/* a config was seen */
	char host[256];			/* hostname */
	char to[CFG_ALERTS_NOTIFY_MAX][256];	/* alerts.notify */
	size_t nto;			/* their number */
	char route[CTL_NAME_MAX];	/* alerts.connector, "" none */
	uint32_t daily_limit;		/* alerts.daily_limit */
	bool notify_cleared;		/* alerts.notify_cleared */
	bool webhook;			/* alerts.webhook is set */
	char wh_host[256];		/* its host */
	uint16_t wh_port;		/* its port */
	char wh_path[520];		/* its path */
	uint32_t threshold, age;	/* the config's alert settings, as last
					   applied to ctl.alert_* */
	uint32_t quota_window;		/* the tenants' window, s */
} set;

/* Copy the settings of cfg; apply its threshold and age when they differ
 * from the last config's (at start ctl_start applied them), so `set
 * alert` holds until a reload changes them. */
static void
settings_take(const struct config *cfg)
{
	const struct cfg_alerts *a = &cfg->alerts;

	if (set.have && (a->threshold != set.threshold || a->age != set.age)) {
		ctl.alert_threshold = a->threshold;
		ctl.alert_age = a->age;
		log_info("queue alert: %u messages queued for more than %u s (alerts: in "
			 "the configuration)", a->threshold, a->age);
	}
	set.threshold = a->threshold;
	set.age = a->age;
	set.have = true;
	snprintf(set.host, sizeof(set.host), "%s", cfg->hostname);
	set.nto = 0;
	for (size_t i = 0; i < a->nnotify && i < CFG_ALERTS_NOTIFY_MAX; i++)
		snprintf(set.to[set.nto++], sizeof(set.to[0]), "%s", a->notify[i]);
	snprintf(set.route, sizeof(set.route), "%s", a->connector ? a->connector : "");
	set.daily_limit = a->daily_limit;
	set.notify_cleared = a->notify_cleared;
	set.webhook = a->webhook != NULL;
	if (set.webhook) {
		snprintf(set.wh_host, sizeof(set.wh_host), "%s", a->webhook_host);
		snprintf(set.wh_path, sizeof(set.wh_path), "%s", a->webhook_path);
		set.wh_port = a->webhook_port;
	}
	set.quota_window = cfg->quota_window;
}

/* ---- text helpers ------------------------------------------------------ */

static char *
xvasprintf(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

static char *
xvasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	int n;
	char *p;

	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		n = 0;
	p = xmalloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

/* printf into a new string. */
__attribute__((format(printf, 1, 2)))
static char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = xvasprintf(fmt, ap);
	va_end(ap);
	return p;
}

/* "45 seconds", "1 minute", "2 hours 5 minutes", "3 days 4 hours". */
static const char *
span(int64_t s, char *out, size_t n)
{
	static const struct { int64_t len; const char *unit; } u[] = {
		{ 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" },
	};
	struct strb sb;

	strb_init(&sb, out, n);
	if (s < 0)
		s = 0;
	for (size_t i = 0; i < 4; i++) {
		int64_t k = s / u[i].len, rest = s % u[i].len;
		if (k == 0 && !(i == 3 && sb.len == 0))
			continue;
		strb_printf(&sb, "%s%lld %s%s", sb.len ? " " : "", (long long)k, u[i].unit,
			    k == 1 ? "" : "s");
		if (i + 1 < 4 && rest > 0 && rest >= u[i + 1].len) {	/* one more unit */
			int64_t j = rest / u[i + 1].len;
			strb_printf(&sb, " %lld %s%s", (long long)j, u[i + 1].unit,
				    j == 1 ? "" : "s");
		}
		break;
	}
	return out;
}

static const char *
when(int64_t t, char *out, size_t n)
{
	ctl_fmt_time(t, out, n);
	return out;
}

/* "1 message", "3 messages". */
static const char *
plural(uint64_t k, const char *word, char *out, size_t n)
{
	snprintf(out, n, "%llu %s%s", (unsigned long long)k, word, k == 1 ? "" : "s");
	return out;
}

/* The failure in a few words, for a subject: "Connection refused" for
 * Sluice's own codes, the start of the reply for a destination's. */
static void
code_reason(uint8_t code, const char *last_error, char *out, size_t n)
{
	const char *s = code == MFI_REMOTE ? last_error : mfi_reply((enum mfi_code)code);
	struct strb sb;

	strb_init(&sb, out, n < REASON_MAX + 4 ? n : REASON_MAX + 4);
	if (code == MFI_NONE || s == NULL || s[0] == '\0')
		return;
	/* "450 4.4.316 Connection refused", "451-4.7.1 try later / ...":
	   what follows the two codes */
	if (strspn(s, "0123456789") == 3 && (s[3] == ' ' || s[3] == '-')) {
		s += 4;
		if (strspn(s, "0123456789.") == strcspn(s, " ") && strchr(s, ' ') != NULL)
			s = strchr(s, ' ') + 1;
	}
	strb_puts(&sb, s);
	if (sb.len > REASON_MAX) {
		sb.trunc = true;
		sb.len = REASON_MAX;
		sb.p[sb.len] = '\0';
	}
	strb_mark_cut(&sb, "...");
}

/* "4.4.316 (conn_refused)", "550 5.1.1 (remote)". */
static void
code_line(uint8_t code, const char *text, char *out, size_t n)
{
	snprintf(out, n, "%s (%s)", text, mfi_name((enum mfi_code)code));
}

/* ---- events ------------------------------------------------------------ */

enum nev_kind { NK_QUEUE, NK_DOWN, NK_QUOTA, NK_LOOP, NK_CERT };
static const char *const kind_word[] = { "queue", "down", "quota", "loop", "cert" };
enum nev_state { NS_RAISED, NS_UPDATED, NS_CLEARED };
static const char *const state_word[] = { "raised", "updated", "cleared" };

/* One change of one alert, noted for the end of the round. */
struct nev {
	enum nev_kind kind;		/* what alert */
	enum nev_state state;		/* what happened to it */
	char key[CTL_NLIM_KEY_MAX];	/* "queue:partner" */
	char name[CTL_NLIM_KEY_MAX];	/* "partner": the connector, tenant or
					   "domain/connector" */
	char what[CTL_NLIM_KEY_MAX + 64];	/* for people: "the queue alert of
					   connector partner" */
	bool hold;			/* a queue alert raised before its code:
					   its notice waits for it */
	const char *meaning, *fix;	/* hold: the alert's texts (static) */
	char *subject;			/* the notice's, after the relay's tag */
	char *opening;			/* its first paragraph */
	struct {
		const char *label;	/* static */
		char *text;		/* malloc()ed */
	} f[NEV_FIELDS];		/* its lines */
	size_t nf;			/* their number */
	json_t *json;			/* the webhook's document (the details) */
};

static struct nev **pending;		/* noted this round */
static size_t npending;

static struct nev *
nev_new(enum nev_kind kind, enum nev_state st, const char *name, const char *what)
{
	struct nev *e = xcalloc(1, sizeof(*e));

	e->kind = kind;
	e->state = st;
	snprintf(e->key, sizeof(e->key), "%s:%s", kind_word[kind], name);
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->what, sizeof(e->what), "%s", what);
	e->json = json_object();
	return e;
}

static void
nev_free(struct nev *e)
{
	free(e->subject);
	free(e->opening);
	for (size_t i = 0; i < e->nf; i++)
		free(e->f[i].text);
	json_decref(e->json);
	free(e);
}

/* A labelled line; "" leaves it out. */
__attribute__((format(printf, 3, 4)))
static void
nev_field(struct nev *e, const char *label, const char *fmt, ...)
{
	va_list ap;

	if (e->nf == NEV_FIELDS)
		return;
	va_start(ap, fmt);
	e->f[e->nf].text = xvasprintf(fmt, ap);
	va_end(ap);
	e->f[e->nf++].label = label;
}

/* A member of the webhook's document. */
static void
nev_json(struct nev *e, const char *key, json_t *v)
{
	log_json_set(&e->json, key, v);
}

static void
nev_note(struct nev *e)
{
	pending = xrealloc(pending, (npending + 1) * sizeof(*pending));
	pending[npending++] = e;
}

/* The code's advice: what happened, the fix, who acts. */
static void
nev_advice(struct nev *e, uint8_t code, const char *meaning, const char *fix)
{
	const char *who = mfi_who((enum mfi_code)code);

	nev_field(e, "What happened:", "%s", meaning ? meaning : "");
	nev_field(e, "How to fix:", "%s", fix ? fix : "");
	nev_field(e, "Who should act:", "%s", who);
	nev_json(e, "meaning", log_json_s(meaning));
	nev_json(e, "fix", log_json_s(fix));
	nev_json(e, "who", log_json_s(who));
}

/* ---- the kinds --------------------------------------------------------- */

/* A queue alert's event; raised_code: the code its last event said. */
static struct nev *
queue_event(const struct ctl_alert *al, enum nev_state st, const char *meaning,
	    const char *fix, const char *was_code)
{
	char what[256], reason[REASON_MAX + 4], code[64], q[48], age[64], t[32], t2[32], d[64];
	int64_t now = time(NULL);
	struct nev *e;

	snprintf(what, sizeof(what), "the queue alert of connector %s", al->connector);
	e = nev_new(NK_QUEUE, st, al->connector, what);
	code_reason(al->code, al->last_error, reason, sizeof(reason));
	code_line(al->code, al->code_text, code, sizeof(code));
	plural(al->queued, "message", q, sizeof(q));
	span(ctl.alert_age, age, sizeof(age));
	if (st == NS_CLEARED) {
		e->subject = xasprintf("Queue alert cleared: %s (after %s)", al->connector,
				       span(now - al->since, d, sizeof(d)));
		e->opening = xasprintf("The queue alert of connector %s has cleared: fewer "
				       "than %u messages are queued there for more than %s. It "
				       "was raised at %s and lasted %s.", al->connector,
				       ctl.alert_threshold, age, when(al->since, t, sizeof(t)), d);
		nev_field(e, "Connector:", "%s", al->connector);
		nev_field(e, "Queued now:", "%s", q);
		nev_field(e, "Lasted:", "%s (since %s)", d, t);
		nev_field(e, "Last error:", "%s", al->last_error);
	} else {
		if (al->code == MFI_NONE)
			e->subject = xasprintf("Queue alert %s: %s, code not known yet (%s)",
					       state_word[st], al->connector, q);
		else
			e->subject = xasprintf("Queue alert %s: %s %s%s%s (%s)",
					       state_word[st], al->connector, al->code_text,
					       reason[0] ? " " : "", reason, q);
		if (st == NS_RAISED)
			e->opening = xasprintf("A queue alert was raised for connector %s: %s "
					       "queued there, at least %llu of them for more "
					       "than %s (the alert's threshold is %u). Its mail "
					       "waits and is retried until it expires; what "
					       "happened and how to fix it are below.",
					       al->connector, q, (unsigned long long)al->old, age,
					       ctl.alert_threshold);
		else
			e->opening = xasprintf("The queue alert of connector %s, raised at %s, "
					       "has a new failure code: %s (it was %s).",
					       al->connector, when(al->since, t, sizeof(t)),
					       al->code_text,
					       was_code && strcmp(was_code, "-") != 0 ? was_code
					       : "not known yet");
		nev_field(e, "Connector:", "%s", al->connector);
		nev_field(e, "Code:", "%s", al->code == MFI_NONE ? "not known yet: no attempt "
			  "at this connector has finished" : code);
		nev_field(e, "Queued:", "%s, at least %llu older than %s", q,
			  (unsigned long long)al->old, age);
		if (al->oldest != 0)
			nev_field(e, "Oldest:", "%s ago (%s)",
				  span(now - al->oldest, d, sizeof(d)),
				  when(al->oldest, t2, sizeof(t2)));
		nev_field(e, "Raised:", "%s", when(al->since, t, sizeof(t)));
		nev_field(e, "Destination:", "%s", al->last_host);
		nev_field(e, "Last error:", "%s", al->last_error);
		nev_advice(e, al->code, meaning, fix);
		if (al->code == MFI_CONN_REFUSED) {
			const char *cand[4];
			size_t nc = ctl_fixnow_candidates(al->connector, cand, 4);
			for (size_t c = 0; c < nc; c++)
				nev_field(e, "Fix now:", "%s is internal relay; if its server "
					  "was retired, `sluicectl fix-now %s` rejects unknown "
					  "recipients and returns their queued mail at once",
					  cand[c], cand[c]);
		}
	}
	nev_json(e, "connector", log_json_s(al->connector));
	nev_json(e, "code", log_json_s(al->code_text));
	nev_json(e, "mfi", log_json_s(mfi_name((enum mfi_code)al->code)));
	nev_json(e, "queued", json_integer((json_int_t)al->queued));
	nev_json(e, "messages_over_age", json_integer((json_int_t)al->old));
	nev_json(e, "threshold", json_integer(ctl.alert_threshold));
	nev_json(e, "age", json_integer(ctl.alert_age));
	nev_json(e, "since", ctl_json_time(al->since));
	nev_json(e, "last_error", log_json_s(al->last_error));
	nev_json(e, "destination", log_json_s(al->last_host));
	return e;
}

/* A connector that has (or no longer has) a destination marked down;
 * g NULL: it is gone from the config and the queue. */
static struct nev *
down_event(const char *name, const struct ctl_conn_agg *g, enum nev_state st, int64_t since)
{
	char what[256], reason[REASON_MAX + 4], code[64], text[32], q[48], health[32];
	char t[32], d[64];
	int64_t now = time(NULL);
	struct nev *e;

	snprintf(what, sizeof(what), "connector %s marked down", name);
	e = nev_new(NK_DOWN, st, name, what);
	plural(g ? ctl_agg_queued(g) : 0, "message", q, sizeof(q));
	if (g != NULL)
		ctl_agg_health(g, health, sizeof(health));
	else
		snprintf(health, sizeof(health), "-");
	nev_json(e, "connector", log_json_s(name));
	nev_json(e, "health", log_json_s(health));
	nev_json(e, "queued", json_integer(g ? (json_int_t)ctl_agg_queued(g) : 0));
	nev_json(e, "since", ctl_json_time(since));
	if (st == NS_CLEARED) {
		e->subject = xasprintf("Connector up again: %s (down for %s)", name,
				       span(now - since, d, sizeof(d)));
		e->opening = xasprintf("Connector %s is up again%s. It was marked down at "
				       "%s, for %s.", name,
				       g ? ": a connection succeeded, and its waiting mail is "
				       "being delivered" : " as far as Sluice knows: it is no "
				       "longer configured and has no mail queued",
				       when(since, t, sizeof(t)), d);
		nev_field(e, "Connector:", "%s", name);
		nev_field(e, "Queued now:", "%s", q);
		nev_field(e, "Was down:", "%s (since %s)", d, t);
		return e;
	}
	ctl_code_text(g->last_code, g->last_error, text, sizeof(text));
	code_reason(g->last_code, g->last_error, reason, sizeof(reason));
	code_line(g->last_code, text, code, sizeof(code));
	if (g->last_code == MFI_NONE || g->last_code >= MFI_NCODES)
		e->subject = xasprintf("Connector down: %s (%s)", name, health);
	else
		e->subject = xasprintf("Connector down: %s %s%s%s", name, text,
				       reason[0] ? " " : "", reason);
	e->opening = xasprintf("Connector %s is marked down (%s): its connections failed "
			       "too many times in a row (down_after). Its mail waits, %s now: "
			       "Sluice tries one probe per backoff step, and the whole backlog "
			       "goes as soon as one succeeds; what is not delivered by its "
			       "expiry is returned to its senders.", name, health, q);
	nev_field(e, "Connector:", "%s", name);
	nev_field(e, "Health:", "%s (destinations marked down, counted per worker)", health);
	nev_field(e, "Queued:", "%s", q);
	if (g->last_code != MFI_NONE && g->last_code < MFI_NCODES)
		nev_field(e, "Code:", "%s", code);
	nev_field(e, "Destination:", "%s", g->last_host);
	nev_field(e, "Last error:", "%s", g->last_error);
	if (g->last_code != MFI_NONE && g->last_code < MFI_NCODES)
		nev_advice(e, g->last_code, mfi_meaning((enum mfi_code)g->last_code),
			   mfi_fix((enum mfi_code)g->last_code));
	nev_json(e, "code", log_json_s(text));
	nev_json(e, "mfi", log_json_s(mfi_name((enum mfi_code)g->last_code)));
	nev_json(e, "last_error", log_json_s(g->last_error));
	nev_json(e, "destination", log_json_s(g->last_host));
	return e;
}

#define QUOTA_MEANING	"Senders of this tenant addressed many recipients that do not " \
			"exist: rejected at RCPT by its directory, or answered 5.1.x by " \
			"their destination.  Its new recipients are deferred with 451 " \
			"4.7.500 until the count over the window falls below the quota."
#define QUOTA_FIX	"Clean the senders' address lists (a stale list, a dictionary " \
			"attack or a compromised account), or make the tenant's domains " \
			"authoritative with an up-to-date directory so unknown recipients " \
			"are refused before they are relayed."
#define QUOTA_WHO	"sender, or operator"

/* A tenant over its quota (t), or back under it (t NULL). */
static struct nev *
quota_event(const char *name, const struct ctl_tenant_over *t, enum nev_state st,
	    int64_t since)
{
	char what[256], win[64], tm[32], d[64];
	int64_t now = time(NULL);
	struct nev *e;

	snprintf(what, sizeof(what), "the quota of tenant %s", name);
	e = nev_new(NK_QUOTA, st, name, what);
	span(set.quota_window, win, sizeof(win));
	nev_json(e, "tenant", log_json_s(name));
	nev_json(e, "code", log_json_s("4.7.500"));
	nev_json(e, "window_seconds", json_integer(set.quota_window));
	nev_json(e, "since", ctl_json_time(since));
	if (st == NS_CLEARED) {
		e->subject = xasprintf("Tenant back under quota: %s (after %s)", name,
				       span(now - since, d, sizeof(d)));
		e->opening = xasprintf("Tenant %s is back under its invalid-recipient quota: "
				       "its new recipients are accepted again. It went over at "
				       "%s, for %s.", name, when(since, tm, sizeof(tm)), d);
		nev_field(e, "Tenant:", "%s", name);
		nev_field(e, "Was over:", "%s (since %s)", d, tm);
		return e;
	}
	e->subject = xasprintf("Tenant over quota: %s 4.7.500 (%llu invalid recipients, "
			       "quota %u)", name, (unsigned long long)t->invalid, t->quota);
	e->opening = xasprintf("Tenant %s has more invalid recipients in the last %s than "
			       "its quota allows (%llu, quota %u). Until the count falls below "
			       "the quota, new recipients of its domains get 451 4.7.500: they "
			       "are deferred, not refused.", name, win,
			       (unsigned long long)t->invalid, t->quota);
	nev_field(e, "Tenant:", "%s", name);
	nev_field(e, "Code:", "4.7.500");
	nev_field(e, "Invalid:", "%llu recipients in the last %s (quota %u)",
		  (unsigned long long)t->invalid, win, t->quota);
	nev_field(e, "What happened:", "%s", QUOTA_MEANING);
	nev_field(e, "How to fix:", "%s", QUOTA_FIX);
	nev_field(e, "Who should act:", "%s", QUOTA_WHO);
	nev_json(e, "invalid_recipients", json_integer((json_int_t)t->invalid));
	nev_json(e, "quota", json_integer(t->quota));
	nev_json(e, "meaning", log_json_s(QUOTA_MEANING));
	nev_json(e, "fix", log_json_s(QUOTA_FIX));
	return e;
}

/* ---- the alert files' side --------------------------------------------- */

static enum nev_state
state_of(const char *state)
{
	return strcmp(state, "raised") == 0 ? NS_RAISED
	       : strcmp(state, "updated") == 0 ? NS_UPDATED : NS_CLEARED;
}

/* The code each queue alert's last event said, for an update's text. */
struct qcode {
	char connector[CTL_NAME_MAX];	/* the alert */
	char code[32];			/* its code_text then */
};
static struct qcode *qcodes;
static size_t nqcodes;

static struct qcode *
qcode_get(const char *connector)
{
	for (size_t i = 0; i < nqcodes; i++)
		if (strcmp(qcodes[i].connector, connector) == 0)
			return &qcodes[i];
	qcodes = xrealloc(qcodes, (nqcodes + 1) * sizeof(*qcodes));
	memset(&qcodes[nqcodes], 0, sizeof(*qcodes));
	snprintf(qcodes[nqcodes].connector, sizeof(qcodes[0].connector), "%s", connector);
	return &qcodes[nqcodes++];
}

void
ctl_notify_queue(const struct ctl_alert *al, const char *state, const char *meaning,
		 const char *fix)
{
	struct qcode *qc = qcode_get(al->connector);
	enum nev_state st = state_of(state);
	struct nev *e = queue_event(al, st, meaning, fix, qc->code);

	e->hold = st != NS_CLEARED && al->code == MFI_NONE;
	e->meaning = meaning;
	e->fix = fix;
	snprintf(qc->code, sizeof(qc->code), "%s", al->code_text);
	nev_note(e);
}

void
ctl_notify_loop(const struct smtp_loop *l, const char *route, uint32_t limit,
		const char *state, const char *meaning, const char *fix)
{
	char name[CTL_NLIM_KEY_MAX], what[CTL_NLIM_KEY_MAX + 64], t1[32], t2[32], d[64];
	const char *conn = l->connector[0] ? l->connector : "(none)";
	enum nev_state st = state_of(state);
	struct strb sb;
	struct nev *e;

	strb_init(&sb, name, sizeof(name));	/* a long domain is cut */
	strb_printf(&sb, "%s/%s", l->domain, conn);
	snprintf(what, sizeof(what), "the possible mail loop of %s", l->domain);
	e = nev_new(NK_LOOP, st, name, what);
	when(l->first, t1, sizeof(t1));
	when(l->last, t2, sizeof(t2));
	if (st == NS_CLEARED) {
		e->subject = xasprintf("Mail loop cleared: %s (none for %s)", l->domain,
				       span(time(NULL) - l->last, d, sizeof(d)));
		e->opening = xasprintf("No message to %s has been refused as a loop since %s: "
				       "the possible mail loop is cleared.", l->domain, t2);
	} else {
		e->subject = xasprintf("Possible mail loop: %s via connector %s 5.4.6 (%llu "
				       "refused)", l->domain, conn,
				       (unsigned long long)l->messages);
		e->opening = xasprintf("Fix possible mail loop: mail to %s arrives with more "
				       "Received: headers than limits.hops allows and is "
				       "refused with 554 5.4.6.", l->domain);
	}
	nev_field(e, "Domain:", "%s", l->domain);
	nev_field(e, "Connector:", "%s (%s)", conn, route[0] ? route : "not configured");
	nev_field(e, "Code:", "5.4.6");
	nev_field(e, "Refused:", "%llu message%s, the first at %s, the last at %s",
		  (unsigned long long)l->messages, l->messages == 1 ? "" : "s", t1, t2);
	nev_field(e, "Received:", "%u headers on the last one (limits.hops %u)", l->hops,
		  limit);
	if (st != NS_CLEARED) {
		nev_field(e, "What happened:", "%s", meaning);
		nev_field(e, "How to fix:", "%s", fix);
	}
	nev_json(e, "domain", log_json_s(l->domain));
	nev_json(e, "connector", log_json_s(conn));
	nev_json(e, "route", log_json_s(route));
	nev_json(e, "code", log_json_s("5.4.6"));
	nev_json(e, "messages", json_integer((json_int_t)l->messages));
	nev_json(e, "hops", json_integer(l->hops));
	nev_json(e, "limit", json_integer(limit));
	nev_json(e, "first", ctl_json_time(l->first));
	nev_json(e, "last", ctl_json_time(l->last));
	nev_json(e, "meaning", log_json_s(meaning));
	nev_json(e, "fix", log_json_s(fix));
	nev_note(e);
}

void
ctl_notify_cert(const struct ctl_notify_cert *c, const char *state)
{
	char name[CTL_NLIM_KEY_MAX], what[CTL_NLIM_KEY_MAX + 64], left[64], d[64];
	bool expired = strcmp(c->cert_state, "expired") == 0;
	enum nev_state st = strcmp(state, "raised") == 0 ? NS_RAISED
			    : strcmp(state, "cleared") == 0 ? NS_CLEARED : NS_UPDATED;
	struct strb sb;
	struct nev *e;

	strb_init(&sb, name, sizeof(name));
	strb_printf(&sb, "%s/%s", c->connector, c->host);
	snprintf(what, sizeof(what), "the certificate of %s", name);
	e = nev_new(NK_CERT, st, name, what);
	if (c->days_left >= 0)
		snprintf(left, sizeof(left), "%lld day%s left", (long long)c->days_left,
			 c->days_left == 1 ? "" : "s");
	else
		snprintf(left, sizeof(left), "expired");
	if (st == NS_CLEARED) {
		e->subject = xasprintf("Certificate warning cleared: %s %s (%s)", c->connector,
				       c->host, c->why ? c->why : "cleared");
		e->opening = xasprintf("The certificate warning of connector %s for %s has "
				       "cleared: %s.%s%s", c->connector, c->host,
				       c->why ? c->why : "cleared", c->since ? " It was raised "
				       "at " : "", c->since ? when(c->since, d, sizeof(d)) : "");
	} else {
		e->subject = xasprintf("Certificate %s: %s %s, not after %s (%s)",
				       expired ? "expired" : "expiring", c->connector, c->host,
				       c->not_after, left);
		e->opening = xasprintf("%s", c->meaning ? c->meaning : "");
	}
	nev_field(e, "Connector:", "%s (tls: %s)", c->connector, c->tls);
	nev_field(e, "Host:", "%s", c->host);
	nev_field(e, "Subject:", "%s", c->subject);
	nev_field(e, "Not after:", "%s (%s)", c->not_after, left);
	if (st != NS_CLEARED) {
		nev_field(e, "How to fix:", "%s", c->fix ? c->fix : "");
		nev_field(e, "Who should act:", "%s", mfi_cert_who());
	}
	nev_json(e, "connector", log_json_s(c->connector));
	nev_json(e, "host", log_json_s(c->host));
	nev_json(e, "subject", log_json_s(c->subject));
	nev_json(e, "not_after", log_json_s(c->not_after));
	nev_json(e, "days_left", json_integer((json_int_t)c->days_left));
	nev_json(e, "cert_state", log_json_s(c->cert_state));
	nev_json(e, "tls", log_json_s(c->tls));
	nev_json(e, "meaning", log_json_s(c->meaning));
	nev_json(e, "fix", log_json_s(c->fix));
	nev_json(e, "reason", log_json_s(c->why));
	nev_note(e);
}

/* ---- alert state ------------------------------------------------------- */

/* One alert's state, as the notices see it. */
struct nkey {
	char key[CTL_NLIM_KEY_MAX];	/* "down:partner" */
	bool open;			/* raised, not cleared */
	bool mailed;			/* its raise was mailed: its clear is */
	bool held;			/* its raise's notice waits for the code */
	int64_t since;			/* raised at (unix s) */
	int64_t held_since;		/* held from */
	const char *meaning, *fix;	/* held: the texts it was raised with */
};

static struct nkey *keys;
static size_t nkeys;
static struct ctl_nlim limits;		/* the day's notices per key */

static struct nkey *
key_find(const char *key)
{
	for (size_t i = 0; i < nkeys; i++)
		if (strcmp(keys[i].key, key) == 0)
			return &keys[i];
	return NULL;
}

static struct nkey *
key_get(const char *key)
{
	struct nkey *k = key_find(key);

	if (k != NULL)
		return k;
	keys = xrealloc(keys, (nkeys + 1) * sizeof(*keys));
	k = &keys[nkeys++];
	memset(k, 0, sizeof(*k));
	snprintf(k->key, sizeof(k->key), "%s", key);
	return k;
}

/* A key that is closed and holds nothing is forgotten, so the table holds
 * what is open (plus this round's). */
static void
keys_trim(void)
{
	size_t j = 0;

	for (size_t i = 0; i < nkeys; i++)
		if (keys[i].open || keys[i].held)
			keys[j++] = keys[i];
	nkeys = j;
}

/* ---- sending ----------------------------------------------------------- */

static uint64_t
unique(void)
{
	static uint64_t seq;
	uint64_t u = 0;

	if (getrandom(&u, sizeof(u), GRND_NONBLOCK) != (ssize_t)sizeof(u))
		u = ((uint64_t)time(NULL) << 24) ^ (++seq * 0x9E3779B97F4A7C15ULL);
	return u;
}

/* Hand n to worker 0, which spools and delivers it. */
static void
mail_send(const struct notice *n, const char *what)
{
	struct ctl_wreq *q;

	if (ctl.nw == 0 || set.nto == 0)
		return;
	q = ctl_req_new(NULL, 0, CTL_W_NOTICE);
	q->mail_8bit = (notice_build(n, &q->mail) & NOTICE_8BIT) != 0;
	for (size_t i = 0; i < set.nto; i++)
		buf_append(&q->mail_to, set.to[i], strlen(set.to[i]) + 1);
	q->nmail_to = (uint32_t)set.nto;
	snprintf(q->connector, sizeof(q->connector), "%s", set.route);
	snprintf(q->mail_what, sizeof(q->mail_what), "%s", what);
	ctl_req_send(q);		/* no run: freed when answered */
}

/* The notice of event e; counted says it counts against the limit. */
static void
mail_event(const struct nev *e, bool counted, int64_t now)
{
	const char *to[CFG_ALERTS_NOTIFY_MAX];
	struct notice_field f[NEV_FIELDS];
	char *notes[2] = { NULL, NULL }, tag[CTL_NLIM_KEY_MAX + 32], what[CTL_NLIM_KEY_MAX + 96];
	size_t nn = 0;

	for (size_t i = 0; i < set.nto; i++)
		to[i] = set.to[i];
	for (size_t i = 0; i < e->nf; i++)
		f[i] = (struct notice_field){ e->f[i].label, e->f[i].text };
	if (counted && set.daily_limit > 0) {
		struct buf b = { 0 };
		buf_printf(&b, "This is notice %u of at most %u a day about this alert "
			   "(alerts: daily_limit, counted per UTC day).",
			   ctl_nlim_sent(&limits, e->key, now), set.daily_limit);
		buf_append(&b, "", 1);
		notes[nn++] = b.p;
	}
	{
		struct buf b = { 0 };
		buf_printf(&b, "`sluicectl show insights` on %s shows the alerts open now.",
			   set.host);
		buf_append(&b, "", 1);
		notes[nn++] = b.p;
	}
	snprintf(tag, sizeof(tag), "%s; %s; %s", kind_word[e->kind], state_word[e->state],
		 e->name);
	snprintf(what, sizeof(what), "%s: %s", e->what, state_word[e->state]);
	mail_send(&(struct notice){
		.hostname = set.host, .to = to, .nto = set.nto, .subject = e->subject,
		.tag = tag, .opening = e->opening, .fields = f, .nfields = e->nf,
		.notes = (const char *const *)notes, .nnotes = nn, .now = now,
		.unique = unique() }, what);
	for (size_t i = 0; i < nn; i++)
		free(notes[i]);
}

/* The one notice that says the rest of the day's about e are suppressed. */
static void
mail_suppressed(const struct nev *e, int64_t now)
{
	const char *to[CFG_ALERTS_NOTIFY_MAX];
	int64_t end = ctl_nlim_day_end(now);
	char t[32], subj[CTL_NLIM_KEY_MAX + 96], tag[CTL_NLIM_KEY_MAX + 32];
	char what[CTL_NLIM_KEY_MAX + 96], *open, *note;
	struct notice_field f[2] = {
		{ "Not sent:", e->subject },
		{ "Resumes:", when(end, t, sizeof(t)) },
	};
	struct buf b = { 0 };

	for (size_t i = 0; i < set.nto; i++)
		to[i] = set.to[i];
	snprintf(subj, sizeof(subj), "Notices suppressed until tomorrow: %s", e->what);
	buf_printf(&b, "Sluice has sent the %u notice%s a day allowed about %s "
		   "(alerts: daily_limit). Further notices about it are suppressed until "
		   "midnight UTC (%s); this is the last one today. It is about:",
		   set.daily_limit, set.daily_limit == 1 ? "" : "s", e->what, t);
	buf_append(&b, "", 1);
	open = b.p;
	b = (struct buf){ 0 };
	buf_printf(&b, "The alert is still logged, and `sluicectl show insights` on %s "
		   "shows the alerts open now.", set.host);
	buf_append(&b, "", 1);
	note = b.p;
	snprintf(tag, sizeof(tag), "%s; suppressed; %s", kind_word[e->kind], e->name);
	snprintf(what, sizeof(what), "%s: suppressed until tomorrow", e->what);
	mail_send(&(struct notice){
		.hostname = set.host, .to = to, .nto = set.nto, .subject = subj, .tag = tag,
		.opening = open, .fields = f, .nfields = 2,
		.notes = (const char *const *)&note, .nnotes = 1, .now = now,
		.unique = unique() }, what);
	free(open);
	free(note);
}

/* A raise or an update of e: a notice within the day's limit. */
static void
mail_counted(const struct nev *e, struct nkey *k, int64_t now)
{
	char t[32];

	if (set.nto == 0)
		return;
	switch (ctl_nlim_take(&limits, e->key, now, set.daily_limit)) {
	case CTL_NLIM_SEND:
		mail_event(e, true, now);
		k->mailed = true;
		break;
	case CTL_NLIM_LAST:
		log_warn("alert notices: %u sent today about %s (alerts: daily_limit): further "
			 "notices about it are suppressed until %s", set.daily_limit,
			 LOG_TEXT(e->what), when(ctl_nlim_day_end(now), t, sizeof(t)));
		mail_suppressed(e, now);
		break;
	case CTL_NLIM_DROP:
		log_debug("alert notice about %s (%s) suppressed: daily limit reached",
			  LOG_TEXT(e->what), state_word[e->state]);
		break;
	}
}

/* Post e to the webhook. */
static void
post_event(const struct nev *e, int64_t now)
{
	json_t *j;
	char *text;

	if (!set.webhook)
		return;
	j = json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:O}", "source", "sluice",
		      "relay", log_json_s(set.host), "kind", kind_word[e->kind],
		      "state", state_word[e->state], "key", log_json_s(e->key),
		      "subject", log_json_s(e->subject), "time", ctl_json_time(now),
		      "details", e->json);
	text = ctl_json_text(j);
	if (text == NULL) {
		log_warn("alerts webhook: the event about %s could not be built",
			 LOG_TEXT(e->what));
		return;
	}
	ctl_webhook_post(set.wh_host, set.wh_port, set.wh_path, text);
}

/* What event e does to its key, and its notice. */
static void
event_run(const struct nev *e, int64_t now)
{
	struct nkey *k = key_get(e->key);

	post_event(e, now);
	switch (e->state) {
	case NS_RAISED:
		k->open = true;
		k->since = now;
		k->mailed = false;
		k->held = e->hold;
		if (e->hold) {
			k->held_since = now;
			k->meaning = e->meaning;
			k->fix = e->fix;
		} else
			mail_counted(e, k, now);
		break;
	case NS_UPDATED:
		if (!k->held)		/* else its raise will say it */
			mail_counted(e, k, now);
		break;
	case NS_CLEARED:
		if (!k->held && k->mailed && set.notify_cleared && set.nto > 0)
			mail_event(e, false, now);
		k->open = k->held = k->mailed = false;
		break;
	}
}

/* ---- the round ----------------------------------------------------------- */

/* Connectors marked down: one event when it starts, one when it ends. */
static void
down_update(const struct ctl_conn_agg *a, size_t n, int64_t now)
{
	char key[CTL_NLIM_KEY_MAX];

	for (size_t i = 0; i < n; i++) {
		const struct ctl_conn_agg *g = &a[i];
		struct nkey *k;
		snprintf(key, sizeof(key), "down:%s", g->cfg.name);
		k = key_find(key);
		if (g->ndown > 0 && (k == NULL || !k->open))
			nev_note(down_event(g->cfg.name, g, NS_RAISED, now));
		else if (g->ndown == 0 && k != NULL && k->open)
			nev_note(down_event(g->cfg.name, g, NS_CLEARED, k->since));
	}
	for (size_t i = 0; i < nkeys; i++) {		/* gone altogether */
		bool seen = false;
		if (strncmp(keys[i].key, "down:", 5) != 0 || !keys[i].open)
			continue;
		for (size_t j = 0; j < n && !seen; j++)
			seen = strcmp(a[j].cfg.name, keys[i].key + 5) == 0;
		if (!seen)
			nev_note(down_event(keys[i].key + 5, NULL, NS_CLEARED, keys[i].since));
	}
}

/* Tenants over their quota, the same way. */
static void
quota_update(const struct config *cfg, int64_t now)
{
	struct ctl_tenant_over *over = xcalloc(TENANTS_MAX, sizeof(*over));
	size_t n = cfg->ntenants ? ctl_tenants_over(cfg, over, TENANTS_MAX) : 0;
	char key[CTL_NLIM_KEY_MAX];

	for (size_t i = 0; i < n; i++) {
		struct nkey *k;
		snprintf(key, sizeof(key), "quota:%s", over[i].name);
		k = key_find(key);
		if (k == NULL || !k->open)
			nev_note(quota_event(over[i].name, &over[i], NS_RAISED, now));
	}
	for (size_t i = 0; i < nkeys; i++) {
		bool still = false;
		if (strncmp(keys[i].key, "quota:", 6) != 0 || !keys[i].open)
			continue;
		for (size_t j = 0; j < n && !still; j++)
			still = strcmp(over[j].name, keys[i].key + 6) == 0;
		if (!still)
			nev_note(quota_event(keys[i].key + 6, NULL, NS_CLEARED, keys[i].since));
	}
	free(over);
}

/* Queue alerts whose raise waits for a code: out when the code is known,
 * or after CODE_WAIT with what is known. */
static void
held_update(const struct ctl_alert *alerts, size_t nalerts, int64_t now)
{
	for (size_t i = 0; i < nkeys; i++) {
		struct nkey *k = &keys[i];
		const struct ctl_alert *al = NULL;
		if (!k->held || strncmp(k->key, "queue:", 6) != 0)
			continue;
		for (size_t j = 0; j < nalerts && al == NULL; j++)
			if (alerts[j].open && strcmp(alerts[j].connector, k->key + 6) == 0)
				al = &alerts[j];
		if (al == NULL) {
			k->held = false;	/* its clear comes with this round */
			continue;
		}
		if (al->code == MFI_NONE && now - k->held_since < CODE_WAIT)
			continue;
		k->held = false;
		enum mfi_code c = (enum mfi_code)al->code;
		struct nev *e = queue_event(al, NS_RAISED,
					    c != MFI_NONE ? mfi_meaning(c) : k->meaning,
					    c != MFI_NONE ? mfi_fix(c) : k->fix, NULL);
		mail_counted(e, k, now);
		nev_free(e);
	}
}

void
ctl_notify_update(struct ctl_run *r, const struct ctl_conn_agg *a, size_t n,
		  const struct ctl_alert *alerts, size_t nalerts)
{
	const struct config *cfg = r->reqs != NULL && r->reqs[0] != NULL ? r->reqs[0]->cfg
				   : NULL;
	int64_t now = time(NULL);

	if (cfg != NULL)
		settings_take(cfg);
	if (!set.have)		/* nothing to go by yet: keep what was noted */
		return;
	down_update(a, n, now);
	if (cfg != NULL)
		quota_update(cfg, now);
	for (size_t i = 0; i < npending; i++) {
		struct nev *e = pending[i];
		if (e->kind != NK_QUEUE && e->kind != NK_LOOP)	/* the others: our own */
			log_json(json_pack("{s:s, s:s, s:s, s:o, s:o}", "event", "insight",
					   "name", e->kind == NK_DOWN ? "connector_down"
					   : "tenant_quota", "state", state_word[e->state],
					   e->kind == NK_DOWN ? "connector" : "tenant",
					   log_json_s(e->name), "subject", log_json_s(e->subject)),
				 "insight");
		event_run(e, now);
		nev_free(e);
	}
	npending = 0;
	held_update(alerts, nalerts, now);
	keys_trim();
}

void
ctl_notify_fini(void)
{
	for (size_t i = 0; i < npending; i++)
		nev_free(pending[i]);
	free(pending);
	pending = NULL;
	npending = 0;
	free(keys);
	keys = NULL;
	nkeys = 0;
	free(qcodes);
	qcodes = NULL;
	nqcodes = 0;
	ctl_nlim_fini(&limits);
	ctl_webhook_stop();
	memset(&set, 0, sizeof(set));
}
