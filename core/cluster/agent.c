/*
 * agent — the node's link to its cluster through Redis (core/cluster/
 * agent.h): organisation-wide settings and the cluster view.
 *
 * One thread, blocking hiredis calls bounded by the link's timeout, a
 * 250 ms tick.  Settings in force are kept in `applied` (the last state
 * read from Redis, or from the local file before Redis answered); a
 * change is applied by running its control command on the daemon's socket
 * with the word from-cluster, which the command does not post again.
 */
#include "core/cluster/agent.h"

#include <errno.h>
#include <limits.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/ctl/ctl_client.h"
#include "core/ctl/ctl_cluster.h"
#include "core/file.h"
#include "core/log.h"
#include "core/xalloc.h"

#define TICK_MS 250		/* settings' version polled this often */
#define APPLY_TIMEOUT_MS 10000	/* a control command applying a setting */
#define STATUS_MAX (1u << 20)	/* a node status larger than this is skipped */
#define NODES_MAX 256		/* nodes shown at most */
#define NODE_TTL 3600		/* s a status key lives without renewal */
#define NODE_FORGET 86400	/* s of silence before a node is dropped */
#define SETTINGS_MAX 4096	/* settings in force at most */
#define BACKOFF_MAX_MS 5000	/* reconnect backoff cap */
#define ANY_REPLY (-2)		/* call(): errors are replies too */

static struct {
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;		/* guards stop, with cv */
	pthread_cond_t cv;
	bool stop;
	/* the configuration, copied */
	struct redis_target rt;
	char **sentinels;
	char *node, *prefix, *state_file, *ctl_path;
	unsigned publish_s, stale_s;
	/* the thread's own */
	redisContext *rc;		/* NULL: not connected */
	char addr[128];			/* where rc is */
	char why[256];			/* why not connected */
	unsigned backoff_ms;		/* next reconnect delay */
	int64_t next_connect_ms;	/* monotonic ms of the next try */
	int64_t next_publish;		/* monotonic s of the next publication */
	long long ver;			/* org:ver applied, -1 none */
	long long synced;		/* the last org:ver synced to, kept in the
					   state file across reconnects and restarts;
					   -1 none */
	struct ctl_cl_setting *applied;	/* settings in force */
	size_t napplied;
} A;

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A name that can travel as one word of a control command, which takes
 * printable ASCII only, and shorter than max. */
static bool
name_ok(const char *s, size_t max)
{
	size_t n = strlen(s);

	if (n == 0 || n >= max)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f)
			return false;
	return true;
}

/* ---- settings in force ------------------------------------------------ */

static ssize_t
applied_find(unsigned kind, const char *name)
{
	for (size_t i = 0; i < A.napplied; i++)
		if (A.applied[i].kind == kind && strcmp(A.applied[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

/* Record s (on: in force; else no longer) in applied. */
static void
applied_note(const struct ctl_cl_setting *s)
{
	ssize_t i = applied_find(s->kind, s->name);

	if (!s->on) {
		if (i >= 0)
			A.applied[i] = A.applied[--A.napplied];
		return;
	}
	if (i >= 0) {
		A.applied[i] = *s;
		return;
	}
	if (A.napplied == SETTINGS_MAX)
		return;
	A.applied = xrealloc(A.applied, (A.napplied + 1) * sizeof(*A.applied));
	A.applied[A.napplied++] = *s;
}

/* The settings as JSON: the state file's and Redis's value shapes. */
static json_t *
setting_json(const struct ctl_cl_setting *s)
{
	return json_pack("{s:s, s:I}", "node", s->node, "at", (json_int_t)s->at);
}

static void
state_save(void)
{
	json_t *arr = json_array(), *o;
	char *text;
	int rc;

	for (size_t i = 0; i < A.napplied; i++) {
		o = setting_json(&A.applied[i]);
		log_json_set(&o, "setting", log_json_s(ctl_cl_kind_name(A.applied[i].kind)));
		log_json_set(&o, "name", log_json_s(A.applied[i].name));
		log_json_append(&arr, o);
	}
	text = ctl_cluster_text(json_pack("{s:I, s:o}", "version", (json_int_t)A.synced, "settings",
				       arr));
	if (text == NULL) {
		log_err("cluster: cannot encode the settings for %s", A.state_file);
		return;
	}
	rc = file_replace(A.state_file, text, strlen(text));
	if (rc < 0)
		log_err("cluster: cannot write %s: %s (the settings in force are kept in "
			"memory only)", A.state_file, strerror(-rc));
	free(text);
}

/* One setting from its Redis field ("fix-now:example.com") or the state
 * file (setting and name apart) and its {"node","at"} value. */
static bool
setting_parse(const char *kind, const char *name, const json_t *v, struct ctl_cl_setting *s)
{
	int k = ctl_cl_kind_find(kind);
	const char *node = json_string_value(json_object_get(v, "node"));
	const json_t *at = json_object_get(v, "at");

	if (k < 0 || !name_ok(name, CTL_CL_NAME))
		return false;
	memset(s, 0, sizeof(*s));
	s->kind = (uint8_t)k;
	s->on = true;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->node, sizeof(s->node), "%s", node ? node : "?");
	s->at = json_is_integer(at) ? (int64_t)json_integer_value(at) : 0;
	return true;
}

static void
state_load(void)
{
	json_error_t je;
	json_t *root = json_load_file(A.state_file, 0, &je), *o;
	size_t i;

	if (root == NULL) {
		if (access(A.state_file, F_OK) == 0)
			log_warn("cluster: %s: %s (line %d): ignored", A.state_file, je.text,
				 je.line);
		return;
	}
	if (json_is_integer(json_object_get(root, "version")))
		A.synced = json_integer_value(json_object_get(root, "version"));
	json_array_foreach(json_object_get(root, "settings"), i, o) {
		struct ctl_cl_setting s;
		const char *kind = json_string_value(json_object_get(o, "setting"));
		const char *name = json_string_value(json_object_get(o, "name"));

		if (kind && name && setting_parse(kind, name, o, &s))
			applied_note(&s);
	}
	json_decref(root);
}

/* ---- applying --------------------------------------------------------- */

/* The control command that makes s (on or off) true on this node, into
 * line; false when there is none (fix-now has no way back). */
static bool
command_for(const struct ctl_cl_setting *s, bool on, char *line, size_t n)
{
	const char *verb;

	switch (s->kind) {
	case CTL_CL_FIXNOW:
		verb = on ? "fix-now" : NULL;
		break;
	case CTL_CL_DISABLE:
		verb = on ? "connector disable" : "connector enable";
		break;
	case CTL_CL_HOLD:
		verb = on ? "hold connector" : "release connector";
		break;
	default:
		verb = NULL;
	}
	if (verb == NULL)
		return false;
	snprintf(line, n, "%s %s from-cluster", verb, s->name);
	return true;
}

/* Run the command that makes s (on or off) true on this node. */
static void
apply(const struct ctl_cl_setting *s, bool on)
{
	char line[CTL_CL_NAME + 64], err[256], *e;
	struct buf out = { 0 };
	int rc;

	if (!command_for(s, on, line, sizeof(line)))
		return;
	rc = ctl_client_call(A.ctl_path, line, APPLY_TIMEOUT_MS, 1u << 20, &out, err,
			     sizeof(err));
	if (rc < 0) {
		log_warn("cluster: %s %s %s (set on %s): %s", on ? "applying" : "ending",
			 ctl_cl_kind_name(s->kind), s->name, s->node, err);
	} else if ((e = ctl_client_error(out.p, out.len)) != NULL) {
		if (strstr(e, "already") == NULL)
			log_warn("cluster: %s %s %s (set on %s): %s", on ? "applying" : "ending",
				 ctl_cl_kind_name(s->kind), s->name, s->node, e);
		free(e);
	} else {
		log_info("cluster: %s %s %s, set on %s", on ? "applied" : "ended",
			 ctl_cl_kind_name(s->kind), s->name, s->node);
	}
	buf_free(&out);
}

/* Make the settings in force `next` (n entries): apply what is new, end
 * what went away; next becomes applied (taken over). */
static void
apply_diff(struct ctl_cl_setting *next, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (applied_find(next[i].kind, next[i].name) < 0)
			apply(&next[i], true);
	for (size_t i = 0; i < A.napplied; i++) {
		bool kept = false;
		for (size_t k = 0; k < n && !kept; k++)
			kept = next[k].kind == A.applied[i].kind &&
			       strcmp(next[k].name, A.applied[i].name) == 0;
		if (!kept)
			apply(&A.applied[i], false);
	}
	free(A.applied);
	A.applied = next;
	A.napplied = n;
	ctl_cluster_set_settings(A.applied, A.napplied);
}

/* ---- Redis ------------------------------------------------------------ */

/* Drop the connection.  detail may point into A.rc (its errstr): it is
 * copied before A.rc is freed. */
static void
disconnect(const char *what, const char *detail)
{
	snprintf(A.why, sizeof(A.why), "redis %s: %s%s%s", A.addr, what, detail ? ": " : "",
		 detail ? detail : "");
	if (A.rc != NULL) {
		log_warn("cluster: %s; settings and view as last known", A.why);
		redisFree(A.rc);
		A.rc = NULL;
	}
	A.next_connect_ms = mono_ms() + A.backoff_ms;
	ctl_cluster_set_view(NULL, false, A.why);
}

/* A command's reply, or NULL after dropping the connection (error reply,
 * I/O error).  want: the reply type expected, -1 any non-error, ANY_REPLY
 * any reply, an error too (a key of another writer's type). */
static redisReply *
call(int want, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(A.rc, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		disconnect("lost", A.rc->errstr[0] ? A.rc->errstr : "no reply");
		return NULL;
	}
	if (want != ANY_REPLY &&
	    (r->type == REDIS_REPLY_ERROR || (want >= 0 && r->type != want))) {
		char msg[200];
		bool stale = r->type == REDIS_REPLY_ERROR && redis_link_reply_stale(r);

		snprintf(msg, sizeof(msg), "%s", r->type == REDIS_REPLY_ERROR && r->str
							 ? r->str : "unexpected reply");
		freeReplyObject(r);
		disconnect(stale ? "not the master any more" : "command refused", msg);
		return NULL;
	}
	return r;
}

static void
connect_redis(void)
{
	char why[256];
	unsigned max;

	if (mono_ms() < A.next_connect_ms)
		return;
	A.rc = redis_link_connect(&A.rt, A.addr, sizeof(A.addr), why, sizeof(why));
	if (A.rc == NULL) {
		snprintf(A.why, sizeof(A.why), "%s", why);
		A.next_connect_ms = mono_ms() + A.backoff_ms;
		/* with sentinels a new master is named within seconds: look soon */
		max = A.rt.nsentinels > 0 ? 1000 : BACKOFF_MAX_MS;
		A.backoff_ms = A.backoff_ms * 2 > max ? max : A.backoff_ms * 2;
		ctl_cluster_set_view(NULL, false, A.why);
		return;
	}
	A.backoff_ms = TICK_MS;
	A.ver = -1;		/* read the whole state again */
	A.next_publish = 0;
	log_info("cluster: connected to redis %s as node %s", A.addr, A.node);
}

/* Store this node's posted settings.  0, or -1 (connection dropped). */
static int
write_posts(void)
{
	struct ctl_cl_setting p[32];
	size_t n = ctl_cluster_take_posts(p, 32);

	for (size_t i = 0; i < n; i++) {
		char field[CTL_CL_NAME + 32];
		redisReply *r;

		snprintf(field, sizeof(field), "%s:%s", ctl_cl_kind_name(p[i].kind), p[i].name);
		if (p[i].on) {
			char *v = ctl_cluster_text(setting_json(&p[i]));
			r = v ? call(-1, "HSET %sorg %s %s", A.prefix, field, v) : NULL;
			free(v);
		} else {
			r = call(-1, "HDEL %sorg %s", A.prefix, field);
		}
		if (r == NULL) {
			ctl_cluster_unpost(p + i, n - i);
			return -1;
		}
		freeReplyObject(r);
		applied_note(&p[i]);
		log_info("cluster: %s %s %s stored for every node", ctl_cl_kind_name(p[i].kind),
			 p[i].name, p[i].on ? "set" : "cleared");
	}
	if (n > 0) {
		redisReply *r = call(REDIS_REPLY_INTEGER, "INCR %sorg:ver", A.prefix);
		if (r == NULL)
			return -1;
		freeReplyObject(r);
		ctl_cluster_set_settings(A.applied, A.napplied);
		state_save();
	}
	return 0;
}

/* Redis has the settings at version ver, older than the one this node
 * synced to: a change only ever raises it, so Redis lost them (restarted
 * without persistence, flushed, a replica that lagged promoted).  Rather
 * than end every setting on every node, the settings in force here are
 * stored again and the version raised past both, so that every node reads
 * them.  0, or -1 (connection dropped). */
static int
restore(long long ver)
{
	redisReply *r;
	long long up;

	log_warn("cluster: redis %s has the settings at version %lld, older than the %lld this "
		 "node had: it lost them; the %zu in force here are stored again (\"connector "
		 "enable\", \"release\" end them)", A.addr, ver, A.synced, A.napplied);
	for (size_t i = 0; i < A.napplied; i++) {
		char field[CTL_CL_NAME + 32], *v = ctl_cluster_text(setting_json(&A.applied[i]));

		snprintf(field, sizeof(field), "%s:%s", ctl_cl_kind_name(A.applied[i].kind),
			 A.applied[i].name);
		r = v ? call(-1, "HSET %sorg %s %s", A.prefix, field, v) : NULL;
		free(v);
		if (r == NULL)
			return -1;
		freeReplyObject(r);
	}
	if (__builtin_sub_overflow(A.synced, ver, &up) || up == LLONG_MAX)
		up = 0;		/* another writer's numbers: one step */
	r = call(REDIS_REPLY_INTEGER, "INCRBY %sorg:ver %lld", A.prefix, up + 1);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}

/* Read the settings when their version moved, and apply the change. */
static int
sync_settings(void)
{
	redisReply *r = call(-1, "GET %sorg:ver", A.prefix), *h;
	struct ctl_cl_setting *next;
	long long ver = 0;
	size_t n = 0;

	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING)
		ver = strtoll(r->str, NULL, 10);
	freeReplyObject(r);
	if (ver == A.ver)
		return 0;
	if (ver < A.synced && A.napplied > 0)
		return restore(ver);
	if ((h = call(REDIS_REPLY_ARRAY, "HGETALL %sorg", A.prefix)) == NULL)
		return -1;
	next = xcalloc(h->elements / 2 + 1, sizeof(*next));
	for (size_t i = 0; i + 1 < h->elements && n < SETTINGS_MAX; i += 2) {
		const redisReply *f = h->element[i], *v = h->element[i + 1];
		char kind[32];
		const char *colon;
		json_t *jv;

		if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
		    (colon = memchr(f->str, ':', f->len)) == NULL ||
		    (size_t)(colon - f->str) >= sizeof(kind))
			continue;
		snprintf(kind, sizeof(kind), "%.*s", (int)(colon - f->str), f->str);
		jv = json_loadb(v->str, v->len, 0, NULL);
		if (setting_parse(kind, colon + 1, jv, &next[n]))
			n++;
		else
			log_warn("cluster: %sorg field '%.*s' is not a setting: ignored", A.prefix,
				 (int)(f->len > 80 ? 80 : f->len), f->str);
		json_decref(jv);
	}
	freeReplyObject(h);
	apply_diff(next, n);
	A.ver = ver;
	A.synced = ver;
	state_save();
	return 0;
}

static int
by_name(const void *a, const void *b)
{
	const char *x = json_string_value(json_object_get(*(json_t *const *)a, "node"));
	const char *y = json_string_value(json_object_get(*(json_t *const *)b, "node"));

	return strcmp(x ? x : "", y ? y : "");
}

/* The nodes in name order, for a stable view. */
static void
sort_by_name(json_t *view)
{
	size_t n = json_array_size(view);
	json_t **v = xcalloc(n + 1, sizeof(*v));

	for (size_t i = 0; i < n; i++)
		v[i] = json_incref(json_array_get(view, i));
	qsort(v, n, sizeof(*v), by_name);
	json_array_clear(view);
	for (size_t i = 0; i < n; i++)
		log_json_append(&view, v[i]);
	free(v);
}

/* Publish this node's status, then read every node's into the view. */
static int
publish_and_read(void)
{
	char *st = ctl_cluster_status();
	int64_t now = time(NULL);
	redisReply *r, *m;
	json_t *view;

	if (st != NULL) {
		r = call(-1, "SET %snode:%s %s EX %d", A.prefix, A.node, st, NODE_TTL);
		free(st);
		if (r == NULL)
			return -1;
		freeReplyObject(r);
		if ((r = call(-1, "ZADD %snodes %lld %s", A.prefix, (long long)now, A.node)) == NULL)
			return -1;
		freeReplyObject(r);
	}
	if ((r = call(-1, "ZREMRANGEBYSCORE %snodes -inf %lld", A.prefix,
		      (long long)(now - NODE_FORGET))) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = call(REDIS_REPLY_ARRAY, "ZRANGE %snodes 0 %d WITHSCORES", A.prefix,
		      NODES_MAX * 2 - 1)) == NULL)
		return -1;
	view = json_array();
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *name = r->element[i], *score = r->element[i + 1];
		json_t *o;

		/* not a node's name (another writer's): skipped, not shown */
		if (name->type != REDIS_REPLY_STRING || score->type != REDIS_REPLY_STRING ||
		    strlen(name->str) != name->len || !name_ok(name->str, CTL_CL_NAME))
			continue;
		o = json_pack("{s:s, s:I}", "node", name->str, "last_seen",
			      (json_int_t)strtoll(score->str, NULL, 10));
		/* at most STATUS_MAX + 1 bytes travel: a larger one is skipped */
		m = o ? call(ANY_REPLY, "GETRANGE %snode:%s 0 %d", A.prefix, name->str, STATUS_MAX)
		      : NULL;
		if (m == NULL) {
			json_decref(o);
			json_decref(view);
			freeReplyObject(r);
			return -1;
		}
		if (m->type == REDIS_REPLY_STRING && m->len <= STATUS_MAX) {
			json_t *s = json_loadb(m->str, m->len, 0, NULL);
			if (json_is_object(s))
				log_json_set(&o, "status", s);
			else
				json_decref(s);
		}
		freeReplyObject(m);
		log_json_append(&view, o);
	}
	freeReplyObject(r);
	sort_by_name(view);
	ctl_cluster_set_view(view, true, NULL);
	return 0;
}

static void
tick(void)
{
	int64_t now = mono_ms() / 1000;

	if (A.rc == NULL)
		connect_redis();
	if (A.rc == NULL)
		return;
	if (write_posts() < 0 || sync_settings() < 0)
		return;
	if (now >= A.next_publish) {
		A.next_publish = now + A.publish_s;
		if (publish_and_read() < 0)
			return;
	}
}

static void *
agent_main(void *arg)
{
	struct timespec ts;
	bool stop = false;

	(void)arg;
	/* what was in force when this node stopped, before Redis answers */
	if (A.napplied > 0) {
		log_info("cluster: applying %zu setting(s) kept in %s", A.napplied, A.state_file);
		for (size_t i = 0; i < A.napplied; i++)
			apply(&A.applied[i], true);
	}
	while (!stop) {
		tick();
		pthread_mutex_lock(&A.mu);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += TICK_MS * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!A.stop && pthread_cond_timedwait(&A.cv, &A.mu, &ts) == 0)
			;
		stop = A.stop;
		pthread_mutex_unlock(&A.mu);
	}
	if (A.rc != NULL)
		write_posts();	/* a last try for what was just given */
	return NULL;
}

/* ---- start and stop --------------------------------------------------- */

static void
free_config(void)
{
	for (size_t i = 0; i < A.rt.nsentinels; i++)
		free(A.sentinels[i]);
	free(A.sentinels);
	free((char *)A.rt.host);
	free((char *)A.rt.master);
	free((char *)A.rt.password);
	free((char *)A.rt.sentinel_password);
	free(A.node);
	free(A.prefix);
	free(A.state_file);
	free(A.ctl_path);
}

static char *
dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

int
agent_start(const struct agent_config *cfg, char *err, size_t errlen)
{
	pthread_condattr_t ca;
	int rc;

	A.rt = cfg->redis;
	A.rt.host = dup_or_null(cfg->redis.host);
	A.rt.master = dup_or_null(cfg->redis.master);
	A.rt.password = dup_or_null(cfg->redis.password);
	A.rt.sentinel_password = dup_or_null(cfg->redis.sentinel_password);
	A.sentinels = xcalloc(cfg->redis.nsentinels + 1, sizeof(*A.sentinels));
	for (size_t i = 0; i < cfg->redis.nsentinels; i++)
		A.sentinels[i] = xstrdup(cfg->redis.sentinels[i]);
	A.rt.sentinels = (const char *const *)A.sentinels;
	if (A.rt.timeout_ms == 0)
		A.rt.timeout_ms = 500;
	A.node = xstrdup(cfg->node);
	A.prefix = xstrdup(cfg->prefix);
	A.state_file = xstrdup(cfg->state_file);
	A.ctl_path = xstrdup(cfg->ctl_path);
	A.publish_s = cfg->publish_s ? cfg->publish_s : 5;
	A.stale_s = cfg->stale_s ? cfg->stale_s : 20;
	A.backoff_ms = TICK_MS;
	A.ver = -1;
	A.synced = -1;
	A.stop = false;
	snprintf(A.addr, sizeof(A.addr), "%s", "(not connected)");
	state_load();
	ctl_cluster_enable(A.node, cfg->number, A.stale_s, cfg->alerts_cluster);
	ctl_cluster_set_settings(A.applied, A.napplied);
	pthread_mutex_init(&A.mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&A.cv, &ca);
	pthread_condattr_destroy(&ca);
	rc = pthread_create(&A.thread, NULL, agent_main, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cluster: cannot start its thread: %s", strerror(rc));
		free_config();
		return -rc;
	}
	A.started = true;
	return 0;
}

void
agent_stop(void)
{
	if (!A.started)
		return;
	pthread_mutex_lock(&A.mu);
	A.stop = true;
	pthread_cond_signal(&A.cv);
	pthread_mutex_unlock(&A.mu);
	pthread_join(A.thread, NULL);
	if (A.rc != NULL)
		redisFree(A.rc);
	A.rc = NULL;
	free(A.applied);
	A.applied = NULL;
	A.napplied = 0;
	free_config();
	A.started = false;
}
