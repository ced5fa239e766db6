/*
 * http_route — the admin listener's routes.  The API under /api/v1/ is a
 * map onto control commands, each answered with the JSON that
 * `sluicectl --json` prints for it:
 *
 *   GET  /api/v1/info | stats | connectors | insights | tenants
 *                                        show info|stats|... json
 *   GET  /api/v1/connectors/NAME         show connectors NAME json
 *   GET  /api/v1/queue?connector=&sender=&rcpt=&older=&younger=&limit=
 *                                        show queue FILTER... limit N json
 *   GET  /api/v1/messages/ID             show message ID json
 *   GET  /api/v1/trace?id=&sender=&rcpt=&status=&since=&until=&limit=
 *                                        trace FILTER... json (404 while the
 *                                        trace is off)
 *   GET  /api/v1/history                 the listener's own per-minute ring
 *   GET  /api/v1/cluster                 cluster json (an error without redis)
 *   POST /api/v1/connectors/NAME/validate  {"rcpt": R, "send": true}
 *                                        validate connector NAME [R [--send]] json
 *   POST /api/v1/connectors/NAME/enable|disable
 *                                        connector enable|disable NAME json
 *   POST /api/v1/fix-now/DOMAIN          fix-now DOMAIN json
 *   POST /api/v1/flush|hold|release      {"connector": C} | {"ids": [...]} |
 *                                        {"all": true} | filters (sender,
 *                                        rcpt, older, younger)
 *                                        flush|hold|release WORDS... json
 *
 * plus GET /metrics (show metrics) and every other GET path a file of
 * static_dir ("/" is index.html).  A known path with another method is a
 * 405 that names the allowed ones; an unknown /api/ path a 404.
 */
#include "core/http/http_route.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/strb.h"

#define CTL_MS 30000		/* a command's answer: the workers have 10 s */
#define VALIDATE_MS 300000	/* validate waits for a whole SMTP dialogue */

/* ---- answers -------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static enum http_kind
fail(struct http_route *o, int status, const char *fmt, ...)
{
	struct strb sb;
	va_list ap;

	o->kind = HTTP_R_ERROR;
	o->status = status;
	strb_init(&sb, o->text, sizeof(o->text));
	va_start(ap, fmt);
	strb_vprintf(&sb, fmt, ap);
	va_end(ap);
	return o->kind;
}

static enum http_kind
not_allowed(struct http_route *o, const char *allow)
{
	o->allow = allow;
	return fail(o, 405, "method not allowed here; use %s", allow);
}

/* ---- words ---------------------------------------------------------- */

/* A value that may become one control word. */
static bool
word_ok(const char *s, size_t n)
{
	if (s == NULL || n == 0 || n > HTTP_WORD_MAX || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* The control line being built, in o->text. */
struct line {
	struct strb sb;			/* over o->text */
	struct http_route *o;		/* the answer */
};

static void
line_init(struct line *l, struct http_route *o, const char *cmd)
{
	l->o = o;
	strb_init(&l->sb, o->text, sizeof(o->text));
	strb_puts(&l->sb, cmd);
}

/* Append " KEY VALUE" (key NULL: the value alone); false after a 400. */
static bool
line_add(struct line *l, const char *what, const char *key, const char *v, size_t n)
{
	if (!word_ok(v, n)) {
		fail(l->o, 400, "%s: expected printable ASCII without spaces, 1 to %d bytes, "
		     "not starting with '-'", what, HTTP_WORD_MAX);
		return false;
	}
	if (key != NULL)
		strb_printf(&l->sb, " %s", key);
	strb_puts(&l->sb, " ");
	strb_putn(&l->sb, v, n);
	return true;
}

/* End the line with " json": HTTP_R_CTL, or 413 when it did not fit. */
static enum http_kind
line_end(struct line *l, int timeout_ms)
{
	strb_puts(&l->sb, " json");
	if (l->sb.trunc)
		return fail(l->o, 413, "request too large: its command would be longer than "
			    "%d bytes", HTTP_LINE_MAX - 1);
	l->o->kind = HTTP_R_CTL;
	l->o->timeout_ms = timeout_ms;
	return l->o->kind;
}

/* ---- the query ------------------------------------------------------ */

/* The parameters of a GET filled into the line as "KEY VALUE", each at
 * most once, only those of keys[] (NULL-terminated). */
static bool
query_words(struct line *l, const struct http_req *rq, const char *const *keys,
	    const char *expected)
{
	for (size_t i = 0; i < rq->nargs; i++) {
		const struct http_arg *a = &rq->args[i];
		size_t k;

		for (k = 0; keys[k] != NULL; k++)
			if (strlen(keys[k]) == a->klen && memcmp(keys[k], a->key, a->klen) == 0)
				break;
		if (keys[k] == NULL) {
			STRB_LOCAL(name, 40);
			if (word_ok(a->key, a->klen))
				strb_putn(&name, a->key, a->klen);
			else
				strb_puts(&name, "?");
			strb_mark_cut(&name, "...");
			fail(l->o, 400, "unknown parameter '%s'; expected %s", name.p, expected);
			return false;
		}
		for (size_t j = 0; j < i; j++)
			if (rq->args[j].klen == a->klen && memcmp(rq->args[j].key, a->key,
								  a->klen) == 0) {
				fail(l->o, 400, "%s: given twice", keys[k]);
				return false;
			}
		if (!line_add(l, keys[k], keys[k], a->val, a->val ? a->vlen : 0))
			return false;
	}
	return true;
}

/* The value of query parameter key, or NULL. */
static const struct http_arg *
query_get(const struct http_req *rq, const char *key)
{
	for (size_t i = 0; i < rq->nargs; i++)
		if (strlen(key) == rq->args[i].klen &&
		    memcmp(key, rq->args[i].key, rq->args[i].klen) == 0)
			return &rq->args[i];
	return NULL;
}

static enum http_kind
route_queue(const struct http_req *rq, struct http_route *o)
{
	static const char *const keys[] = { "connector", "sender", "rcpt", "older",
					    "younger", "limit", NULL };
	const struct http_arg *lim = query_get(rq, "limit");
	struct line l;

	if (lim != NULL) {
		unsigned long long v = 0;
		size_t i;
		for (i = 0; lim->val != NULL && i < lim->vlen && i < 7 &&
			    lim->val[i] >= '0' && lim->val[i] <= '9'; i++)
			v = v * 10 + (unsigned)(lim->val[i] - '0');
		if (lim->val == NULL || i == 0 || i != lim->vlen || v < 1 ||
		    v > HTTP_QUEUE_LIMIT_MAX)
			return fail(o, 400, "limit: expected a number from 1 to %d",
				    HTTP_QUEUE_LIMIT_MAX);
	}
	line_init(&l, o, "show queue");
	if (!query_words(&l, rq, keys, "connector, sender, rcpt, older, younger or limit"))
		return o->kind;
	if (lim == NULL)
		strb_printf(&l.sb, " limit %d", HTTP_QUEUE_LIMIT);
	return line_end(&l, CTL_MS);
}

static enum http_kind
route_trace(const struct http_req *rq, struct http_route *o)
{
	static const char *const keys[] = { "id", "sender", "rcpt", "status", "since",
					    "until", "limit", NULL };
	struct line l;

	line_init(&l, o, "trace");
	if (!query_words(&l, rq, keys, "id, sender, rcpt, status, since, until or limit"))
		return o->kind;
	return line_end(&l, CTL_MS);
}

/* ---- the body of a POST --------------------------------------------- */

/* The body as a JSON object (an empty body is {}), or NULL after a 400. */
static json_t *
body_object(const struct http_req *rq, struct http_route *o)
{
	json_error_t e;
	json_t *j;

	if (rq->bodylen == 0)
		return json_object();
	j = json_loadb(rq->body, rq->bodylen, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL || !json_is_object(j)) {
		json_decref(j);
		fail(o, 400, "the body must be one JSON object%s", j ? "" : " (not valid JSON)");
		return NULL;
	}
	return j;
}

/* Every key of j is one of keys[] (NULL-terminated); else a 400. */
static bool
body_keys(json_t *j, const char *const *keys, const char *expected, struct http_route *o)
{
	const char *k;
	json_t *v;

	json_object_foreach(j, k, v) {
		size_t i;
		for (i = 0; keys[i] != NULL && strcmp(keys[i], k) != 0; i++)
			;
		if (keys[i] == NULL) {
			STRB_LOCAL(name, 40);
			if (word_ok(k, strlen(k)))
				strb_puts(&name, k);
			else
				strb_puts(&name, "?");
			strb_mark_cut(&name, "...");
			fail(o, 400, "unknown member '%s' in the body; expected %s", name.p, expected);
			return false;
		}
	}
	return true;
}

/* Member key of j as a word of the line ("KEY VALUE", or the value alone
 * when bare); absent is fine. */
static bool
body_word(struct line *l, json_t *j, const char *key, bool bare)
{
	json_t *v = json_object_get(j, key);

	if (v == NULL)
		return true;
	if (!json_is_string(v)) {
		fail(l->o, 400, "%s: expected a string", key);
		return false;
	}
	return line_add(l, key, bare ? NULL : key, json_string_value(v), json_string_length(v));
}

/* flush, hold, release with the selection of the body. */
static enum http_kind
route_action(const struct http_req *rq, struct http_route *o, const char *verb)
{
	static const char *const keys[] = { "connector", "ids", "all", "sender", "rcpt",
					    "older", "younger", NULL };
	json_t *j = body_object(rq, o), *ids, *all;
	struct line l;

	if (j == NULL)
		return o->kind;
	if (!body_keys(j, keys, "connector, ids, all, sender, rcpt, older or younger", o))
		goto out;
	line_init(&l, o, verb);
	all = json_object_get(j, "all");
	if (all != NULL) {
		if (!json_is_true(all)) {
			fail(o, 400, "all: expected true (the whole queue), or leave it out");
			goto out;
		}
		strb_puts(&l.sb, " all");
	}
	ids = json_object_get(j, "ids");
	if (ids != NULL) {
		size_t i;
		json_t *id;
		if (!json_is_array(ids) || json_array_size(ids) == 0 ||
		    json_array_size(ids) > 15) {
			fail(o, 400, "ids: expected a list of 1 to 15 queue ids");
			goto out;
		}
		json_array_foreach(ids, i, id) {
			const char *s = json_string_value(id);
			if (s == NULL || json_string_length(id) != 16 ||
			    strspn(s, "0123456789ABCDEFabcdef") != 16) {
				fail(o, 400, "ids: expected queue ids of 16 hex digits");
				goto out;
			}
			strb_printf(&l.sb, " %s", s);
		}
	}
	if (!body_word(&l, j, "connector", false) || !body_word(&l, j, "sender", false) ||
	    !body_word(&l, j, "rcpt", false) || !body_word(&l, j, "older", false) ||
	    !body_word(&l, j, "younger", false))
		goto out;
	line_end(&l, CTL_MS);
out:
	json_decref(j);
	return o->kind;
}

static enum http_kind
route_validate(const struct http_req *rq, struct http_route *o, const char *name, size_t n)
{
	static const char *const keys[] = { "rcpt", "send", NULL };
	json_t *j = body_object(rq, o), *send;
	struct line l;

	if (j == NULL)
		return o->kind;
	if (!body_keys(j, keys, "rcpt or send", o))
		goto out;
	send = json_object_get(j, "send");
	if (send != NULL && !json_is_boolean(send)) {
		fail(o, 400, "send: expected true or false");
		goto out;
	}
	if (json_is_true(send) && json_object_get(j, "rcpt") == NULL) {
		fail(o, 400, "send: true needs a rcpt to send the test message to");
		goto out;
	}
	line_init(&l, o, "validate connector");
	if (!line_add(&l, "connector", NULL, name, n) || !body_word(&l, j, "rcpt", true))
		goto out;
	if (json_is_true(send))
		strb_puts(&l.sb, " --send");
	line_end(&l, VALIDATE_MS);
out:
	json_decref(j);
	return o->kind;
}

/* ---- the table ------------------------------------------------------ */

/* Segment i of the path (after /api/v1/), or NULL. */
struct segs {
	const char *s[5];		/* starts */
	size_t n[5];			/* lengths */
	size_t count;			/* segments */
};

static bool
split(const char *p, struct segs *sg)
{
	sg->count = 0;
	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		if (sg->count == 5)
			return false;
		sg->s[sg->count] = p;
		sg->n[sg->count++] = n;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

static bool
seg_is(const struct segs *sg, size_t i, const char *w)
{
	return i < sg->count && sg->n[i] == strlen(w) && memcmp(sg->s[i], w, sg->n[i]) == 0;
}

static bool
is_get(const struct http_req *rq)
{
	return strcmp(rq->method, "GET") == 0 || strcmp(rq->method, "HEAD") == 0;
}

static bool
is_post(const struct http_req *rq)
{
	return strcmp(rq->method, "POST") == 0;
}

/* GET /api/v1/... */
static enum http_kind
route_get(const struct http_req *rq, struct http_route *o, const struct segs *sg)
{
	static const char *const shows[] = { "info", "stats", "connectors", "insights",
					     "tenants" };
	struct line l;

	if (sg->count == 1) {
		for (size_t i = 0; i < sizeof(shows) / sizeof(shows[0]); i++)
			if (seg_is(sg, 0, shows[i])) {
				if (rq->nargs > 0)
					return fail(o, 400, "%s takes no parameters", shows[i]);
				line_init(&l, o, "show ");
				strb_puts(&l.sb, shows[i]);
				return line_end(&l, CTL_MS);
			}
		if (seg_is(sg, 0, "queue"))
			return route_queue(rq, o);
		if (seg_is(sg, 0, "trace"))
			return route_trace(rq, o);
		if (seg_is(sg, 0, "cluster")) {
			if (rq->nargs > 0)
				return fail(o, 400, "cluster takes no parameters");
			line_init(&l, o, "cluster");
			return line_end(&l, CTL_MS);
		}
		if (seg_is(sg, 0, "history")) {
			o->kind = HTTP_R_HISTORY;
			return o->kind;
		}
	}
	if (sg->count == 2 && seg_is(sg, 0, "connectors")) {
		line_init(&l, o, "show connectors");
		if (!line_add(&l, "connector", NULL, sg->s[1], sg->n[1]))
			return o->kind;
		return line_end(&l, CTL_MS);
	}
	if (sg->count == 2 && seg_is(sg, 0, "messages")) {
		if (sg->n[1] != 16 || strspn(sg->s[1], "0123456789ABCDEFabcdef") < 16)
			return fail(o, 400, "message id: expected the 16 hex digits of a queue id");
		line_init(&l, o, "show message");
		line_add(&l, "id", NULL, sg->s[1], sg->n[1]);
		return line_end(&l, CTL_MS);
	}
	return fail(o, 404, "no such API path; see the README's HTTP API");
}

/* POST /api/v1/... */
static enum http_kind
route_post(const struct http_req *rq, struct http_route *o, const struct segs *sg)
{
	static const char *const acts[] = { "flush", "hold", "release" };
	struct line l;

	o->changes = true;
	for (size_t i = 0; i < sizeof(acts) / sizeof(acts[0]); i++)
		if (sg->count == 1 && seg_is(sg, 0, acts[i]))
			return route_action(rq, o, acts[i]);
	if (sg->count == 3 && seg_is(sg, 0, "connectors")) {
		if (seg_is(sg, 2, "validate"))
			return route_validate(rq, o, sg->s[1], sg->n[1]);
		if (seg_is(sg, 2, "enable") || seg_is(sg, 2, "disable")) {
			line_init(&l, o, seg_is(sg, 2, "enable") ? "connector enable"
								 : "connector disable");
			if (!line_add(&l, "connector", NULL, sg->s[1], sg->n[1]))
				return o->kind;
			return line_end(&l, CTL_MS);
		}
	}
	if (sg->count == 2 && seg_is(sg, 0, "fix-now")) {
		line_init(&l, o, "fix-now");
		if (!line_add(&l, "domain", NULL, sg->s[1], sg->n[1]))
			return o->kind;
		return line_end(&l, CTL_MS);
	}
	o->changes = false;
	return fail(o, 404, "no such API path; see the README's HTTP API");
}

/* Is sg a path that POST takes (for a 405 to a GET)? */
static bool
post_path(const struct segs *sg)
{
	return (sg->count == 1 && (seg_is(sg, 0, "flush") || seg_is(sg, 0, "hold") ||
				   seg_is(sg, 0, "release"))) ||
	       (sg->count == 3 && seg_is(sg, 0, "connectors") &&
		(seg_is(sg, 2, "validate") || seg_is(sg, 2, "enable") ||
		 seg_is(sg, 2, "disable"))) ||
	       (sg->count == 2 && seg_is(sg, 0, "fix-now"));
}

/* A static file's path: letters, digits, '.', '_', '-' and '/' between
 * names that do not start with a dot, and no two dots in a row. */
static enum http_kind
route_static(const struct http_req *rq, struct http_route *o)
{
	const char *p = rq->path + 1;
	struct strb sb;

	if (!is_get(rq))
		return not_allowed(o, "GET, HEAD");
	if (rq->path[1] == '\0')
		p = "index.html";
	for (const char *c = p; *c != '\0'; c++) {
		bool start = c == p || c[-1] == '/';
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_' || *c == '-' ||
		      (*c == '.' && !start && c[-1] != '.') || (*c == '/' && !start)))
			return fail(o, 404, "not found");
	}
	if (p[strlen(p) - 1] == '/')
		return fail(o, 404, "not found");
	strb_init(&sb, o->text, sizeof(o->text));
	strb_puts(&sb, p);
	if (sb.trunc)
		return fail(o, 404, "not found");
	o->kind = HTTP_R_STATIC;
	return o->kind;
}

enum http_kind
http_route(const struct http_req *rq, struct http_route *o)
{
	struct segs sg;

	memset(o, 0, sizeof(*o));
	if (rq->path == NULL || rq->path[0] != '/')
		return fail(o, 400, "the path must begin with /");
	for (const char *c = rq->path; *c != '\0'; c++)
		if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
			return fail(o, 400, "the path must be printable ASCII");
	if (strcmp(rq->path, "/metrics") == 0) {
		o->api = true;
		if (!is_get(rq))
			return not_allowed(o, "GET, HEAD");
		o->kind = HTTP_R_METRICS;
		return o->kind;
	}
	if (strncmp(rq->path, "/api/", 5) != 0 && strcmp(rq->path, "/api") != 0)
		return route_static(rq, o);
	o->api = true;
	if (strncmp(rq->path, "/api/v1/", 8) != 0 || !split(rq->path + 8, &sg) ||
	    sg.count == 0)
		return fail(o, 404, "no such API path; see the README's HTTP API");
	if (is_post(rq))
		return route_post(rq, o, &sg);
	if (!is_get(rq))
		return not_allowed(o, post_path(&sg) ? "POST" : "GET, HEAD");
	if (post_path(&sg))
		return not_allowed(o, "POST");
	return route_get(rq, o, &sg);
}

/* ---- checks --------------------------------------------------------- */

bool
http_token_eq(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned char d = alen != blen;
	size_t n = alen < blen ? alen : blen;

	/* every byte of the shorter is compared whatever differs; a length
	   that differs is a difference too */
	for (size_t i = 0; i < n; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

bool
http_bearer_ok(const char *auth, const char *token, size_t toklen)
{
	const char *t;

	if (auth == NULL || toklen == 0 || strncasecmp(auth, "Bearer ", 7) != 0)
		return false;
	for (t = auth + 7; *t == ' '; t++)
		;
	return http_token_eq(t, strlen(t), token, toklen);
}

const char *
http_cross_site(const char *origin, const char *fetch_site, const char *host)
{
	if (fetch_site != NULL && (strcasecmp(fetch_site, "cross-site") == 0 ||
				   strcasecmp(fetch_site, "same-site") == 0))
		return "Sec-Fetch-Site says the request comes from another site";
	if (origin == NULL)
		return NULL;
	if (host != NULL && host[0] != '\0') {
		const char *rest = strncasecmp(origin, "http://", 7) == 0 ? origin + 7
				 : strncasecmp(origin, "https://", 8) == 0 ? origin + 8 : NULL;
		if (rest != NULL && strcasecmp(rest, host) == 0)
			return NULL;
	}
	return "its Origin is not this listener";
}

int
http_ctl_status(const char *e)
{
	static const struct {
		const char *text;
		bool prefix;		/* at the start, else anywhere */
		int status;
	} map[] = {
		{ "unknown command", true, 404 },
		{ "no connector '", true, 404 },
		{ "no message ", true, 404 },
		{ "the message trace is off", true, 404 },
		{ "is not an accepted domain", false, 404 },
		{ "is already authoritative", false, 409 },
		{ "has no tenant with a directory", false, 409 },
		{ "did not answer within", false, 504 },
		{ "permission denied", true, 500 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (map[i].prefix ? strncmp(e, map[i].text, strlen(map[i].text)) == 0
				  : strstr(e, map[i].text) != NULL)
			return map[i].status;
	return 400;
}

const char *
http_mime(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".json", "application/json" }, { ".svg", "image/svg+xml" },
		{ ".png", "image/png" }, { ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" }, { ".woff2", "font/woff2" },
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && strcasecmp(path + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return "application/octet-stream";
}
