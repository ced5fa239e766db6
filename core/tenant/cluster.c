/*
 * cluster — cluster-wide tenant counts through Redis (see cluster.h for the
 * storage scheme, the outage rules and the threading).
 *
 * Job: the thread's cycle, every flush_ms or when kicked:
 *   1. drain: read every worker's accumulators and add what is new to this
 *      node's count for (tenant, bucket), marking it dirty;
 *   2. connect if not connected and the backoff has passed; on a new
 *      connection mark every count of the window dirty (resync);
 *   3. sync: one pipeline of HSET (dirty counts), EXPIREAT (the buckets
 *      written) and HGETALL (every bucket of the window), then the replies;
 *   4. publish: per active tenant and bucket, other nodes' last known sum
 *      plus this node's own count, into the words the workers read.
 *
 * Not for: enforcing anything, or being called from the thread's own
 * functions by anyone else: everything below "thread only" is private to
 * the cluster thread.
 *
 * Worker accumulators.  Each (worker, tenant) has one 64-bit word: the
 * bucket of the worker's last event (high half) and the worker's running
 * total of events for that tenant (low half, wrapping).  The worker does a
 * relaxed load and store (it alone writes the word); the thread keeps the
 * last total it saw and takes the difference, so neither side ever needs a
 * read-modify-write and no event is lost however late the thread drains.
 * The price: events a worker counted in two buckets between two drains all
 * land in the later bucket (they count up to flush_ms longer).  Each
 * worker's words are contiguous and start on their own cache line.
 *
 * Published totals.  One word per (tenant, bucket slot): bucket number and
 * total, like core/tenant/tenant.c's buckets, so readers skip words whose
 * bucket left their window and the published view ages correctly even when
 * the thread is stuck in a timeout.
 */
#include "core/tenant/cluster.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/strb.h"
#include "core/tenant/redis_link.h"

#define CACHE_LINE	64
#define WORDS_PER_LINE	(CACHE_LINE / sizeof(uint64_t))
#define WHY_LEN		256
#define ADDR_LEN	272		/* "host:port", "[v6]:port" */
#define SENTINEL_BACKOFF_MS 1000	/* backoff cap with sentinels */

/* What a command in the pipeline was, to handle its reply. */
enum op_kind { OP_WRITE, OP_EXPIRE, OP_READ };

struct op {
	enum op_kind kind;	/* which command */
	uint32_t bucket;	/* bucket number it is about */
	size_t cell;		/* OP_WRITE: tenant * buckets + slot */
};

struct cluster {
	/* Set by cluster_start(), read-only afterwards. */
	const struct tenant_table *tenants;	/* names, borrowed */
	size_t n;			/* tenants */
	unsigned workers;		/* accumulator shards */
	uint32_t width;			/* bucket_secs */
	uint32_t nb;			/* buckets in the window */
	char *host;			/* Redis host (direct) */
	int port;			/* Redis port (direct) */
	char *password;			/* AUTH password or NULL */
	char **sentinels;		/* "host:port" of each sentinel */
	size_t nsentinels;		/* 0: direct */
	char *master;			/* master name at the sentinels */
	char *sentinel_password;	/* AUTH for the sentinels or NULL */
	unsigned flush_ms;		/* cycle period */
	unsigned timeout_ms;		/* connect/command timeout */
	unsigned backoff_max_ms;	/* reconnect backoff cap */
	char *prefix;			/* key prefix */
	char *node;			/* node id, no '/' */

	/* Workers write, the thread reads. */
	_Atomic uint64_t *acc;		/* workers x stride words */
	size_t stride;			/* words per worker, multiple of 8 */

	/* The thread writes, anyone reads. */
	_Atomic uint64_t *pub;		/* n x nb published totals */
	atomic_bool up;			/* last sync succeeded */
	_Atomic uint64_t since;		/* UNIX time `up` last changed */
	_Atomic uint64_t flushes, connects, failures, writes, dropped,
			 unsent;	/* struct cluster_stats */
	pthread_mutex_t why_lock;	/* guards why and addr */
	char why[WHY_LEN];		/* reason for being down, "" if up */
	char addr[ADDR_LEN];		/* server of the current (or last)
					   connection, "" before the first */

	/* Thread control. */
	pthread_t thread;		/* the cluster thread */
	int efd;			/* eventfd: kick and stop */
	atomic_bool stopping;		/* cluster_stop() was called */

	/* Thread only. */
	uint32_t *seen;			/* workers x n: last running total
					   drained from each accumulator */
	uint64_t *mine;			/* n x nb: this node's count per
					   bucket slot (bucket << 32 | n) */
	uint64_t *others;		/* n x nb: other nodes' sum per slot,
					   as last read */
	uint8_t *dirty;			/* n x nb: mine not yet in Redis */
	uint32_t *active;		/* tenants with something in
					   mine/others/pub, nactive of them */
	size_t nactive;
	uint8_t *is_active;		/* n flags: in active[] */
	struct op *ops;			/* pipeline being answered */
	size_t nops, opscap;
	uint32_t *exp_bucket;		/* nb: bucket whose EXPIREAT is in
					   this pipeline, per slot */
	uint8_t *exp_set;		/* nb flags for exp_bucket */
	redisReply **reads;		/* nb HGETALL replies of one sync */
	redisContext *rc;		/* NULL when not connected */
	uint64_t next_connect_ms;	/* monotonic ms of the next attempt */
	unsigned backoff_ms;		/* delay after the next failure */
};

/* ---- small helpers ---------------------------------------------------- */

static uint64_t
clock_ms(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
unix_now(void)
{
	return clock_ms(CLOCK_REALTIME) / 1000;
}

/* Is bucket b inside the window ending with bucket cur? */
static inline bool
in_window(uint32_t cur, uint32_t b, uint32_t nb)
{
	return (uint32_t)(cur - b) < nb;
}

static inline uint64_t
word(uint32_t b, uint64_t count)
{
	return (uint64_t)b << 32 | (count > UINT32_MAX ? UINT32_MAX : count);
}

static inline uint32_t
word_bucket(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

static inline uint32_t
word_count(uint64_t w)
{
	return (uint32_t)w;
}

/* ---- worker and reader side ------------------------------------------- */

void
cluster_add_idx(struct cluster *c, size_t idx, unsigned worker, uint64_t now,
		uint32_t n)
{
	_Atomic uint64_t *a;
	uint64_t v;

	if (idx >= c->n || worker >= c->workers)
		return;
	a = &c->acc[(size_t)worker * c->stride + idx];
	v = atomic_load_explicit(a, memory_order_relaxed);
	atomic_store_explicit(a, (uint64_t)(uint32_t)(now / c->width) << 32 |
			      (uint32_t)((uint32_t)v + n),
			      memory_order_relaxed);
}

void
cluster_add(struct cluster *c, const char *tenant, unsigned worker,
	    uint64_t now, uint32_t n)
{
	int idx = tenant_table_find(c->tenants, tenant, strlen(tenant));

	if (idx >= 0)
		cluster_add_idx(c, (size_t)idx, worker, now, n);
}

uint64_t
cluster_tenant_total_idx(const struct cluster *c, size_t idx, uint64_t now)
{
	uint32_t cur = (uint32_t)(now / c->width);
	const _Atomic uint64_t *p;
	uint64_t sum = 0;

	if (idx >= c->n)
		return 0;
	p = &c->pub[idx * c->nb];
	for (uint32_t s = 0; s < c->nb; s++) {
		uint64_t v = atomic_load_explicit(&p[s], memory_order_relaxed);

		if (in_window(cur, word_bucket(v), c->nb))
			sum += word_count(v);
	}
	return sum;
}

uint64_t
cluster_tenant_total(const struct cluster *c, const char *tenant,
		     uint64_t now)
{
	int idx = tenant_table_find(c->tenants, tenant, strlen(tenant));

	return idx < 0 ? 0 : cluster_tenant_total_idx(c, (size_t)idx, now);
}

bool
cluster_up(const struct cluster *c, char *why, size_t len)
{
	/* Reading the text takes the lock, which is why the cast: the
	   instance itself is not modified. */
	struct cluster *m = (struct cluster *)c;
	bool up = atomic_load(&c->up);

	if (why != NULL && len > 0) {
		struct strb sb;

		strb_init(&sb, why, len);
		pthread_mutex_lock(&m->why_lock);
		strb_puts(&sb, up ? "" : c->why);
		pthread_mutex_unlock(&m->why_lock);
	}
	return up;
}

void
cluster_stats(const struct cluster *c, struct cluster_stats *st)
{
	st->up = atomic_load(&c->up);
	st->since = atomic_load(&c->since);
	st->flushes = atomic_load(&c->flushes);
	st->connects = atomic_load(&c->connects);
	st->failures = atomic_load(&c->failures);
	st->writes = atomic_load(&c->writes);
	st->dropped = atomic_load(&c->dropped);
	st->unsent = atomic_load(&c->unsent);
}

void
cluster_addr(const struct cluster *c, char *buf, size_t len)
{
	struct cluster *m = (struct cluster *)c;	/* the lock only */
	struct strb sb;

	if (len == 0)
		return;
	strb_init(&sb, buf, len);
	pthread_mutex_lock(&m->why_lock);
	strb_puts(&sb, c->addr);
	pthread_mutex_unlock(&m->why_lock);
}

const char *
cluster_node_id(const struct cluster *c)
{
	return c->node;
}

void
cluster_kick(struct cluster *c)
{
	uint64_t one = 1;

	if (write(c->efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, a wake-up is pending anyway */
	}
}

/* ---- thread only: state ----------------------------------------------- */

/* Record that Redis works (why NULL) or does not (why: the reason), and
 * log the transitions. */
static void
set_state(struct cluster *c, const char *why)
{
	bool was = atomic_load(&c->up), up = why == NULL;
	char addr[ADDR_LEN];

	pthread_mutex_lock(&c->why_lock);
	snprintf(c->why, sizeof(c->why), "%s", up ? "" : why);
	memcpy(addr, c->addr, sizeof(addr));
	pthread_mutex_unlock(&c->why_lock);
	/* The first failure is news too: the instance starts down. */
	if (was != up || (!up && atomic_load(&c->failures) == 0)) {
		if (was != up)
			atomic_store(&c->since, unix_now());
		atomic_store(&c->up, up);
		if (up && c->nsentinels > 0)
			log_info("cluster: redis %s up (master %s, from the "
				 "sentinels), node %s", addr, c->master, c->node);
		else if (up)
			log_info("cluster: redis %s up, node %s", addr, c->node);
		else
			log_warn("cluster: %s; enforcing tenant quotas on "
				 "local counts until it returns", why);
	}
}

/* Redis is unreachable for reason why: drop the connection, plan the
 * retry. */
static void
down(struct cluster *c, const char *why)
{
	set_state(c, why);
	atomic_fetch_add(&c->failures, 1);
	if (c->rc != NULL) {
		redisFree(c->rc);
		c->rc = NULL;
	}
	c->next_connect_ms = clock_ms(CLOCK_MONOTONIC) + c->backoff_ms;
	c->backoff_ms = c->backoff_ms * 2 > c->backoff_max_ms ?
			c->backoff_max_ms : c->backoff_ms * 2;
}

/* A command failed on the connection to c->addr (what: the reason). */
static void
fail(struct cluster *c, const char *what)
{
	char why[WHY_LEN];
	struct strb sb;

	strb_init(&sb, why, sizeof(why));
	pthread_mutex_lock(&c->why_lock);
	strb_printf(&sb, "redis %s: %s", c->addr, what);
	pthread_mutex_unlock(&c->why_lock);
	strb_mark_cut(&sb, "...");
	down(c, why);
}

static void
activate(struct cluster *c, size_t t)
{
	if (!c->is_active[t]) {
		c->is_active[t] = 1;
		c->active[c->nactive++] = (uint32_t)t;
	}
}

/* ---- thread only: the cycle ------------------------------------------- */

/* Step 1: move what the workers counted since the last drain into mine. */
static void
drain(struct cluster *c, uint32_t cur)
{
	for (unsigned w = 0; w < c->workers; w++) {
		const _Atomic uint64_t *a = &c->acc[(size_t)w * c->stride];
		uint32_t *seen = &c->seen[(size_t)w * c->n];

		for (size_t t = 0; t < c->n; t++) {
			uint64_t v = atomic_load_explicit(&a[t],
							  memory_order_relaxed);
			uint32_t d = word_count(v) - seen[t], b;
			size_t cell;
			uint64_t m;

			if (d == 0)
				continue;
			seen[t] = word_count(v);
			b = word_bucket(v);
			/* Older than the window (a worker's clock behind
			   ours by a window): nobody reads that bucket. */
			if ((int32_t)(cur - b) >= (int32_t)c->nb) {
				atomic_fetch_add(&c->dropped, d);
				continue;
			}
			cell = t * c->nb + b % c->nb;
			m = c->mine[cell];
			if (word_bucket(m) != b) {
				/* The slot holds an older bucket (out of
				   the window now) or, if a worker's clock is
				   a window ahead, a newer one: keep the
				   newer. */
				if (word_count(m) > 0 &&
				    (int32_t)(word_bucket(m) - b) > 0) {
					atomic_fetch_add(&c->dropped, d);
					continue;
				}
				m = word(b, 0);
			}
			c->mine[cell] = word(b, (uint64_t)word_count(m) + d);
			c->dirty[cell] = 1;
			activate(c, t);
		}
	}
}

/* Step 2: connect; on success every count of the window is to be written
 * again (Redis may have lost it). */
static void
connect_redis(struct cluster *c)
{
	const struct redis_target where = {
		.host = c->host, .port = c->port,
		.sentinels = (const char *const *)c->sentinels,
		.nsentinels = c->nsentinels, .master = c->master,
		.password = c->password,
		.sentinel_password = c->sentinel_password,
		.timeout_ms = c->timeout_ms,
	};
	char addr[ADDR_LEN], why[WHY_LEN];

	c->rc = redis_link_connect(&where, addr, sizeof(addr), why, sizeof(why));
	if (c->rc == NULL) {
		down(c, why);
		return;
	}
	pthread_mutex_lock(&c->why_lock);
	memcpy(c->addr, addr, sizeof(c->addr));
	pthread_mutex_unlock(&c->why_lock);
	atomic_fetch_add(&c->connects, 1);
	for (size_t i = 0; i < c->nactive; i++) {
		size_t t = c->active[i];

		for (uint32_t s = 0; s < c->nb; s++) {
			size_t cell = t * c->nb + s;

			if (word_count(c->mine[cell]) > 0)
				c->dirty[cell] = 1;
		}
	}
}

static int
push_op(struct cluster *c, enum op_kind kind, uint32_t bucket, size_t cell)
{
	if (c->nops == c->opscap) {
		size_t cap = c->opscap ? c->opscap * 2 : 256;
		struct op *o = realloc(c->ops, cap * sizeof(*o));

		if (o == NULL)
			return -ENOMEM;
		c->ops = o;
		c->opscap = cap;
	}
	c->ops[c->nops++] = (struct op){ kind, bucket, cell };
	return 0;
}

/* Key of bucket b into buf; returns its length. */
static int
bucket_key(const struct cluster *c, uint32_t b, char *buf, size_t len)
{
	return snprintf(buf, len, "%s%u:%llu", c->prefix, c->width,
			(unsigned long long)b * c->width);
}

/* Queue the commands of one sync.  Returns 0 or -ENOMEM. */
static int
queue_commands(struct cluster *c, uint32_t cur)
{
	char key[256], field[512];
	int klen, flen;

	c->nops = 0;
	memset(c->exp_set, 0, c->nb);
	for (size_t i = 0; i < c->nactive; i++) {
		size_t t = c->active[i];
		const char *name = tenant_table_name(c->tenants, t);

		for (uint32_t s = 0; s < c->nb; s++) {
			size_t cell = t * c->nb + s;
			uint64_t m = c->mine[cell];
			uint32_t b = word_bucket(m);

			if (!c->dirty[cell])
				continue;
			if ((int32_t)(cur - b) >= (int32_t)c->nb) {
				c->dirty[cell] = 0;	/* left the window */
				continue;
			}
			klen = bucket_key(c, b, key, sizeof(key));
			flen = snprintf(field, sizeof(field), "%s/%s", name,
					c->node);
			if (flen >= (int)sizeof(field))
				continue;	/* absurd name: stays local */
			if (push_op(c, OP_WRITE, b, cell) < 0 ||
			    redisAppendCommand(c->rc, "HSET %b %b %u", key,
					       (size_t)klen, field,
					       (size_t)flen,
					       word_count(m)) != REDIS_OK)
				return -ENOMEM;
			/* One EXPIREAT per bucket written; a second bucket
			   on the same slot (a clock ahead) gets its own. */
			if (c->exp_set[s] && c->exp_bucket[s] == b)
				continue;
			if (push_op(c, OP_EXPIRE, b, 0) < 0 ||
			    redisAppendCommand(c->rc, "EXPIREAT %b %llu", key,
					       (size_t)klen,
					       ((unsigned long long)b +
						c->nb + 1) * c->width) !=
			    REDIS_OK)
				return -ENOMEM;
			c->exp_set[s] = 1;
			c->exp_bucket[s] = b;
		}
	}
	for (uint32_t i = 0; i < c->nb; i++) {
		uint32_t b = cur - c->nb + 1 + i;

		klen = bucket_key(c, b, key, sizeof(key));
		if (push_op(c, OP_READ, b, 0) < 0 ||
		    redisAppendCommand(c->rc, "HGETALL %b", key,
				       (size_t)klen) != REDIS_OK)
			return -ENOMEM;
	}
	return 0;
}

/* Fold the HGETALL replies into others[] (and make tenants that other
 * nodes count active). */
static void
apply_reads(struct cluster *c, uint32_t cur)
{
	size_t nodelen = strlen(c->node);

	/* What is not in Redis any more counts zero. */
	for (size_t i = 0; i < c->nactive; i++)
		memset(&c->others[(size_t)c->active[i] * c->nb], 0,
		       c->nb * sizeof(*c->others));
	for (uint32_t i = 0; i < c->nb; i++) {
		const redisReply *r = c->reads[i];
		uint32_t b = cur - c->nb + 1 + i;

		for (size_t k = 0; k + 1 < r->elements; k += 2) {
			const redisReply *f = r->element[k];
			const redisReply *v = r->element[k + 1];
			const char *slash;
			unsigned long long val;
			size_t cell;
			char num[32];
			int t;

			if (f->type != REDIS_REPLY_STRING ||
			    v->type != REDIS_REPLY_STRING ||
			    v->len >= sizeof(num))
				continue;
			slash = memrchr(f->str, '/', f->len);
			if (slash == NULL)
				continue;
			if ((size_t)(f->str + f->len - slash - 1) == nodelen &&
			    memcmp(slash + 1, c->node, nodelen) == 0)
				continue;	/* our own: mine[] is newer */
			t = tenant_table_find(c->tenants, f->str,
					      (size_t)(slash - f->str));
			if (t < 0)
				continue;	/* not a tenant of ours */
			memcpy(num, v->str, v->len);
			num[v->len] = '\0';
			val = strtoull(num, NULL, 10);
			activate(c, (size_t)t);
			cell = (size_t)t * c->nb + b % c->nb;
			if (word_bucket(c->others[cell]) != b)
				c->others[cell] = word(b, 0);
			c->others[cell] = word(b, word_count(c->others[cell]) +
					       (uint64_t)val);
		}
	}
}

/* Step 3: write the dirty counts, read the window.  Returns 0, or -1 after
 * fail() (connection dropped). */
static int
sync_redis(struct cluster *c, uint32_t cur)
{
	char what[WHY_LEN];
	uint64_t written = 0;
	size_t nread = 0;
	int rc = 0;

	if (queue_commands(c, cur) < 0) {
		fail(c, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < c->nops; i++) {
		const struct op *o = &c->ops[i];
		redisReply *r = NULL;

		if (redisGetReply(c->rc, (void **)&r) != REDIS_OK || r == NULL) {
			snprintf(what, sizeof(what), "%s", c->rc->errstr[0] ?
				 c->rc->errstr : "connection lost");
			rc = -1;
			break;
		}
		if (r->type == REDIS_REPLY_ERROR) {
			/* A demoted master (READONLY) or one still loading:
			   fail() drops it and the next connect asks the
			   sentinels again. */
			snprintf(what, sizeof(what), "%s: %s%s",
				 o->kind == OP_WRITE ? "HSET" :
				 o->kind == OP_EXPIRE ? "EXPIREAT" : "HGETALL",
				 r->str, redis_link_reply_stale(r) ?
				 " (not the master: looking for it again)" :
				 "");
			freeReplyObject(r);
			rc = -1;
			break;
		}
		switch (o->kind) {
		case OP_WRITE:
			/* Still the count we sent: drain() runs on this
			   thread, never during a sync. */
			c->dirty[o->cell] = 0;
			written++;
			freeReplyObject(r);
			break;
		case OP_EXPIRE:
			freeReplyObject(r);
			break;
		case OP_READ:
			if (r->type != REDIS_REPLY_ARRAY) {
				snprintf(what, sizeof(what), "HGETALL: "
					 "unexpected reply type %d", r->type);
				freeReplyObject(r);
				rc = -1;
				break;
			}
			c->reads[nread++] = r;
			break;
		}
		if (rc < 0)
			break;
	}
	atomic_fetch_add(&c->writes, written);
	if (rc == 0)
		apply_reads(c, cur);
	for (size_t i = 0; i < nread; i++)
		freeReplyObject(c->reads[i]);
	if (rc < 0) {
		fail(c, what);
		return -1;
	}
	c->backoff_ms = c->flush_ms;
	set_state(c, NULL);
	return 0;
}

/* Step 4: publish other nodes' sums plus our own counts for the window
 * ending with bucket cur; forget tenants with nothing left. */
static void
publish(struct cluster *c, uint32_t cur)
{
	uint64_t unsent = 0;

	for (size_t i = 0; i < c->nactive;) {
		size_t t = c->active[i];
		bool keep = false;

		for (uint32_t s = 0; s < c->nb; s++) {
			size_t cell = t * c->nb + s;
			/* The window's bucket that lives in slot s. */
			uint32_t b = cur - (cur % c->nb + c->nb - s) % c->nb;
			uint64_t m = c->mine[cell], o = c->others[cell];
			uint64_t sum = 0;

			if (word_bucket(m) == b)
				sum += word_count(m);
			if (word_bucket(o) == b)
				sum += word_count(o);
			atomic_store_explicit(&c->pub[cell], word(b, sum),
					      memory_order_relaxed);
			/* Anything still in (or ahead of) the window? */
			if ((word_count(m) > 0 &&
			     (int32_t)(cur - word_bucket(m)) < (int32_t)c->nb) ||
			    (word_count(o) > 0 &&
			     (int32_t)(cur - word_bucket(o)) < (int32_t)c->nb))
				keep = true;
			if (c->dirty[cell])
				unsent++;
		}
		if (keep) {
			i++;
			continue;
		}
		/* Published zeros above; drop it from the active list. */
		c->is_active[t] = 0;
		c->active[i] = c->active[--c->nactive];
	}
	atomic_store(&c->unsent, unsent);
}

/* One cycle.  The last one (final) does not try to connect: stopping must
 * not wait for a connect timeout. */
static void
cycle(struct cluster *c, bool final)
{
	uint32_t cur = (uint32_t)(unix_now() / c->width);

	drain(c, cur);
	if (c->rc == NULL && !final &&
	    clock_ms(CLOCK_MONOTONIC) >= c->next_connect_ms)
		connect_redis(c);
	if (c->rc != NULL)
		sync_redis(c, cur);
	publish(c, cur);
	atomic_fetch_add(&c->flushes, 1);
}

static void *
cluster_main(void *arg)
{
	struct cluster *c = arg;
	struct pollfd pfd = { .fd = c->efd, .events = POLLIN };
	uint64_t next = clock_ms(CLOCK_MONOTONIC), now, junk;

	while (!atomic_load(&c->stopping)) {
		now = clock_ms(CLOCK_MONOTONIC);
		if (now >= next) {
			cycle(c, false);
			next = now + c->flush_ms;
			continue;
		}
		if (poll(&pfd, 1, (int)(next - now)) > 0 &&
		    read(c->efd, &junk, sizeof(junk)) == sizeof(junk))
			next = 0;	/* kicked: cycle at once */
	}
	/* Last drain, and a last write when Redis is there. */
	cycle(c, true);
	return NULL;
}

/* ---- start and stop --------------------------------------------------- */

static void
cluster_free(struct cluster *c)
{
	if (c->rc != NULL)
		redisFree(c->rc);
	if (c->efd >= 0)
		close(c->efd);
	pthread_mutex_destroy(&c->why_lock);
	free(c->host);
	free(c->password);
	for (size_t i = 0; i < c->nsentinels; i++)
		free(c->sentinels[i]);
	free(c->sentinels);
	free(c->master);
	free(c->sentinel_password);
	free(c->prefix);
	free(c->node);
	free(c->acc);
	free(c->pub);
	free(c->seen);
	free(c->mine);
	free(c->others);
	free(c->dirty);
	free(c->active);
	free(c->is_active);
	free(c->ops);
	free(c->exp_bucket);
	free(c->exp_set);
	free(c->reads);
	free(c);
}

/* "<node>:<pid>:<random>" with '/' made '_'. */
static char *
make_node_id(const char *node)
{
	char host[256], buf[512];
	uint32_t r = 0;

	if (node == NULL || node[0] == '\0') {
		if (gethostname(host, sizeof(host)) != 0)
			snprintf(host, sizeof(host), "node");
		host[sizeof(host) - 1] = '\0';
		node = host;
	}
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = (uint32_t)clock_ms(CLOCK_MONOTONIC) ^ (uint32_t)getpid();
	snprintf(buf, sizeof(buf), "%s:%ld:%08x", node, (long)getpid(), r);
	for (char *p = buf; *p != '\0'; p++)
		if (*p == '/')
			*p = '_';
	return strdup(buf);
}

/* strdup, NULL for NULL or "". */
static int
dup_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL || s[0] == '\0')
		return 0;
	*out = strdup(s);
	return *out == NULL ? -ENOMEM : 0;
}

/* Copy where Redis is (the passwords, the sentinels, the master name). */
static int
copy_target(struct cluster *c, const struct cluster_config *cfg)
{
	if (dup_opt(cfg->password, &c->password) < 0 ||
	    dup_opt(cfg->sentinel_password, &c->sentinel_password) < 0 ||
	    dup_opt(cfg->master, &c->master) < 0)
		return -ENOMEM;
	if (cfg->nsentinels == 0)
		return 0;
	c->sentinels = calloc(cfg->nsentinels, sizeof(*c->sentinels));
	if (c->sentinels == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < cfg->nsentinels; i++) {
		if (dup_opt(cfg->sentinels[i], &c->sentinels[c->nsentinels]) < 0)
			return -ENOMEM;
		if (c->sentinels[c->nsentinels] != NULL)
			c->nsentinels++;
	}
	return c->nsentinels > 0 ? 0 : -EINVAL;
}

int
cluster_start(const struct cluster_config *cfg, const struct tenant_table *t,
	      struct cluster **out)
{
	const struct tenant_window *win;
	struct cluster *c;
	size_t cells;
	int rc;

	if (cfg == NULL || t == NULL || cfg->port < 0 || cfg->port > 65535 ||
	    (cfg->nsentinels > 0 && (cfg->master == NULL || cfg->master[0] == '\0')))
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->efd = -1;
	pthread_mutex_init(&c->why_lock, NULL);
	win = tenant_table_window(t);
	c->tenants = t;
	c->n = tenant_table_count(t);
	c->workers = tenant_table_workers(t);
	c->width = win->bucket_secs;
	c->nb = win->buckets;
	c->port = cfg->port ? cfg->port : 6379;
	c->flush_ms = cfg->flush_ms ? cfg->flush_ms : 250;
	c->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : 500;
	c->backoff_max_ms = cfg->backoff_max_ms ? cfg->backoff_max_ms : 5000;
	/* Asking the sentinels costs a few commands, and a failover ends
	   within seconds: look for the new master at least every second. */
	if (cfg->nsentinels > 0 && c->backoff_max_ms > SENTINEL_BACKOFF_MS)
		c->backoff_max_ms = SENTINEL_BACKOFF_MS;
	if (c->backoff_max_ms < c->flush_ms)
		c->backoff_max_ms = c->flush_ms;
	c->backoff_ms = c->flush_ms;
	c->host = strdup(cfg->host != NULL && cfg->host[0] != '\0' ?
			 cfg->host : "127.0.0.1");
	c->prefix = strdup(cfg->prefix != NULL ? cfg->prefix : "sluice:tq:");
	if ((rc = copy_target(c, cfg)) < 0) {
		cluster_free(c);
		return rc;
	}
	c->node = make_node_id(cfg->node);
	snprintf(c->why, sizeof(c->why), "not connected yet");
	atomic_init(&c->since, unix_now());	/* down since start */

	cells = c->n * c->nb;
	c->stride = (c->n + WORDS_PER_LINE - 1) & ~(WORDS_PER_LINE - 1);
	if (c->stride == 0)
		c->stride = WORDS_PER_LINE;
	c->acc = aligned_alloc(CACHE_LINE,
			       c->workers * c->stride * sizeof(*c->acc));
	c->pub = calloc(cells + 1, sizeof(*c->pub));
	c->seen = calloc((size_t)c->workers * c->n + 1, sizeof(*c->seen));
	c->mine = calloc(cells + 1, sizeof(*c->mine));
	c->others = calloc(cells + 1, sizeof(*c->others));
	c->dirty = calloc(cells + 1, 1);
	c->active = calloc(c->n + 1, sizeof(*c->active));
	c->is_active = calloc(c->n + 1, 1);
	c->exp_bucket = calloc(c->nb, sizeof(*c->exp_bucket));
	c->exp_set = calloc(c->nb, 1);
	c->reads = calloc(c->nb, sizeof(*c->reads));
	if (c->host == NULL || c->prefix == NULL || c->node == NULL ||
	    c->acc == NULL || c->pub == NULL || c->seen == NULL ||
	    c->mine == NULL || c->others == NULL || c->dirty == NULL ||
	    c->active == NULL || c->is_active == NULL ||
	    c->exp_bucket == NULL || c->exp_set == NULL || c->reads == NULL) {
		cluster_free(c);
		return -ENOMEM;
	}
	memset(c->acc, 0, c->workers * c->stride * sizeof(*c->acc));
	c->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->efd < 0) {
		rc = -errno;
		cluster_free(c);
		return rc;
	}
	rc = pthread_create(&c->thread, NULL, cluster_main, c);
	if (rc != 0) {
		cluster_free(c);
		return -rc;
	}
	*out = c;
	return 0;
}

void
cluster_stop(struct cluster *c)
{
	if (c == NULL)
		return;
	atomic_store(&c->stopping, true);
	cluster_kick(c);
	pthread_join(c->thread, NULL);
	cluster_free(c);
}
