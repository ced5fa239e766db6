/*
 * queue — the tables and the scheduling of one worker's queue: messages by
 * id, destinations by name, each destination's ready and deferred jobs, the
 * wheel timers that make a deferred job ready again, destination health
 * (down after down_after connection failures, one probe per backoff step,
 * the whole backlog released on the first success) and the admission of
 * jobs to connections (the per-worker share and the gate's cap over all
 * workers, an idle cached connection first).
 *
 * Not for: what a message is made of and what is written about it
 * (queue_msg.c), what an attempt's outcome does (queue_outcome.c), operator
 * actions (queue_ctl.c).  This is the bottom of the queue: it calls none of
 * them, only the transport table (struct queue_transport) its owner filled.
 * Nothing here writes to the spool.  Worker thread only.
 */
#include "queue/queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/hash.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "queue/gate.h"
#include "queue/queue_int.h"
#include "queue/retry.h"

/* The tables' hashes: a message by its id, a destination by its name. */
static inline uint64_t
msg_hash(const struct qmsg *m)
{
	return hash_mix64(m->id);
}

static inline uint64_t
dest_hash(const struct dest *d)
{
	return hash_fnv1a(d->name, strlen(d->name));
}

const struct cfg_connector *
queue_dest_cfg(struct worker *w, const struct dest *d)
{
	return config_connector_find(w->cfg, d->connector);
}

const struct cfg_connector *
queue_dest_policy(struct worker *w, const struct dest *d)
{
	const struct cfg_connector *c = queue_dest_cfg(w, d);

	return c != NULL ? c : &config_connector_default;
}

/* ---- tables --------------------------------------------------------- */

/* Make room for want messages in the id table, at most half full. */
static void
msgs_grow(struct queue *q, size_t want)
{
	uint32_t n = q->nmsgslots ? q->nmsgslots : 1024;

	while ((size_t)n < 2 * want)
		n *= 2;
	if (n == q->nmsgslots)
		return;
	HASH_CHAIN_REHASH(q->msgs, q->nmsgslots, n, hnext, msg_hash);
	q->nmsgslots = n;
}

/* A message in the tables (env is taken over). */
struct qmsg *
queue_msg_new(struct worker *w, struct envelope *env, const struct spool_loc *loc)
{
	struct queue *q = w->q;
	struct qmsg *m = xcalloc(1, sizeof(*m));
	uint32_t h;

	m->id = env->id;
	m->env = env;
	m->loc = *loc;
	list_init(&m->jobs);
	for (uint32_t i = 0; i < env->nrcpt; i++)
		if (env->rcpt[i].state == ENV_RCPT_PENDING)
			m->pending++;
	if ((q->nmsgs + 1) * 2 > q->nmsgslots)
		msgs_grow(q, q->nmsgs + 1);
	h = (uint32_t)(msg_hash(m) & (q->nmsgslots - 1));
	m->hnext = q->msgs[h];
	q->msgs[h] = m;
	q->nmsgs++;
	list_add_tail(&q->all, &m->link);
	return m;
}

void
queue_msgs_reserve(struct queue *q, size_t n)
{
	msgs_grow(q, q->nmsgs + n);
}

void
queue_msgs_del(struct queue *q, struct qmsg *m)
{
	struct qmsg **pp = &q->msgs[msg_hash(m) & (q->nmsgslots - 1)];

	while (*pp != m)
		pp = &(*pp)->hnext;
	*pp = m->hnext;
	q->nmsgs--;
}

struct qmsg *
queue_msg_find(struct worker *w, uint64_t id)
{
	struct queue *q = w->q;
	struct qmsg *m;

	for (m = q->msgs[hash_mix64(id) & (q->nmsgslots - 1)]; m != NULL; m = m->hnext)
		if (m->id == id)
			return m;
	return NULL;
}

/* A destination on no table: no jobs, no gate, not disabled. */
static struct dest *
dest_new(const char *name, const char *connector, const char *domain)
{
	struct dest *d = xcalloc(1, sizeof(*d));

	d->name = xstrdup(name);
	d->connector = xstrdup(connector);
	d->domain = domain ? xstrdup(domain) : NULL;
	list_init(&d->ready);
	list_init(&d->deferred);
	list_init(&d->idle);
	wheel_timer_init(&d->probe, NULL);
	return d;
}

static void
dest_free(struct dest *d)
{
	free(d->certs);
	free(d->name);
	free(d->connector);
	free(d->domain);
	free(d);
}

struct dest *
queue_dest_detached(const char *connector, const char *domain)
{
	return dest_new(connector, connector, domain);
}

void
queue_dest_detached_free(struct dest *d)
{
	dest_free(d);
}

static struct dest *
dest_get(struct worker *w, const char *connector, const char *domain)
{
	struct queue *q = w->q;
	char name[512];
	struct dest *d;
	uint64_t h;

	snprintf(name, sizeof(name), "%s%s%s", connector, domain ? "/" : "",
		 domain ? domain : "");
	h = hash_fnv1a(name, strlen(name));
	if (q->ndestslots > 0)
		for (d = q->dests[h & (q->ndestslots - 1)]; d != NULL; d = d->hnext)
			if (strcmp(d->name, name) == 0)
				return d;
	if (q->ndests + 1 > q->ndestslots) {
		uint32_t n = q->ndestslots ? q->ndestslots * 2 : 64;

		HASH_CHAIN_REHASH(q->dests, q->ndestslots, n, hnext, dest_hash);
		q->ndestslots = n;
	}
	d = dest_new(name, connector, domain);
	d->gate = gate_get(name);
	for (uint32_t i = 0; i < q->ndisabled; i++)	/* core/ctl: disabled at run time */
		if (strcmp(q->disabled[i], connector) == 0)
			d->disabled = true;
	d->hnext = q->dests[h & (q->ndestslots - 1)];
	q->dests[h & (q->ndestslots - 1)] = d;
	q->ndests++;
	return d;
}

/* ---- jobs ------------------------------------------------------------- */

/* The memory of j and its strings (no list, timer or message bookkeeping). */
void
queue_job_release(struct qjob *j)
{
	free(j->rcpt);
	free(j->last_error);
	free(j->last_detail);
	free(j->last_host);
	free(j->last_ip);
	free(j->hist);
	free(j);
}

void
queue_job_hist_add(struct qjob *j, const struct qjob_attempt *a)
{
	if (j->hist == NULL)
		j->hist = xcalloc(1, sizeof(*j->hist));
	j->hist->a[j->hist->n++ % QJOB_HIST] = *a;
}

void
queue_job_ready(struct worker *w, struct qjob *j)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_DEFERRED || j->state == QJOB_HELD) {
		list_del(&j->link);
		d->ndeferred--;
	}
	wheel_cancel(&w->q->wheel, &j->timer);
	j->state = QJOB_READY;
	list_add_tail(&d->ready, &j->link);
	d->nready++;
}

/* Put j on its destination's deferred list with a timer at when (mono s). */
void
queue_job_defer(struct worker *w, struct qjob *j, uint64_t when)
{
	struct dest *d = j->dest;

	if (j->state == QJOB_READY) {
		list_del(&j->link);
		d->nready--;
	}
	if (j->state != QJOB_DEFERRED && j->state != QJOB_HELD) {
		list_add_tail(&d->deferred, &j->link);
		d->ndeferred++;
	}
	j->state = QJOB_DEFERRED;
	wheel_insert(&w->q->wheel, &j->timer, when);
}

static uint64_t
job_expires(struct worker *w, const struct qmsg *m, const struct cfg_connector *c)
{
	int64_t left = m->env->arrival + (int64_t)c->expiry - (int64_t)time(NULL);

	return w->now + (uint64_t)(left > 0 ? left : 0);
}

/* A deferred job's timer: try again, or (destination down) keep waiting. */
static void
job_timer(struct wheel_timer *t, void *arg)
{
	struct worker *w = arg;
	struct qjob *j = container_of(t, struct qjob, timer);
	struct dest *d = j->dest;

	if (j->state != QJOB_DEFERRED)
		return;
	if (d->down && w->now < j->expires) {
		wheel_insert(&w->q->wheel, &j->timer, j->expires);
		return;
	}
	queue_job_ready(w, j);
	queue_dest_kick(w, d);
}

/*
 * A job for recipients idx[0..n) of m, all routed to d, made ready (or held).
 * Returns it.
 */
struct qjob *
queue_job_new(struct worker *w, struct qmsg *m, struct dest *d, const uint32_t *idx,
	      uint32_t n)
{
	struct qjob *j = xcalloc(1, sizeof(*j));

	j->rcpt = xmalloc(n * sizeof(*j->rcpt));
	memcpy(j->rcpt, idx, n * sizeof(*idx));
	j->nrcpt = n;
	j->msg = m;
	j->dest = d;
	for (uint32_t i = 0; i < n; i++)	/* failures before a restart count */
		if (m->env->rcpt[idx[i]].tries > j->attempts)
			j->attempts = m->env->rcpt[idx[i]].tries;
	wheel_timer_init(&j->timer, job_timer);
	j->expires = job_expires(w, m, queue_dest_policy(w, d));
	j->state = QJOB_HELD;	/* so that queue_job_ready/queue_job_defer link it */
	list_add_tail(&d->deferred, &j->link);
	d->ndeferred++;
	m->njobs++;
	list_add_tail(&m->jobs, &j->mlink);
	if (m->held)
		j->ctl = QUEUE_CTL_HOLD;
	else
		queue_job_ready(w, j);
	return j;
}

/* ---- routing ----------------------------------------------------------- */

/* The destination of address addr at connector c. */
static struct dest *
route_via(struct worker *w, const struct cfg_connector *c, const char *addr)
{
	const char *at = strrchr(addr, '@');
	char lower[256];
	size_t n;

	if (!c->mx)
		return dest_get(w, c->name, NULL);
	n = at ? strlen(at + 1) : 0;
	if (n == 0 || n >= sizeof(lower))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		lower[i] = (char)((at[1 + i] >= 'A' && at[1 + i] <= 'Z') ? at[1 + i] + 32 : at[1 + i]);
	return dest_get(w, c->name, lower);
}

/* The destination of address addr, or NULL when nothing routes it. */
struct dest *
queue_route(struct worker *w, const char *addr)
{
	const struct cfg_domain *dom = config_route(w->cfg, addr);

	return dom != NULL ? route_via(w, dom->connector, addr) : NULL;
}

struct dest *
queue_route_env(struct worker *w, const struct envelope *env, const char *addr)
{
	const struct cfg_connector *c;

	if (env->route != NULL && (c = config_connector_find(w->cfg, env->route)) != NULL)
		return route_via(w, c, addr);
	return queue_route(w, addr);
}

/* ---- destinations ----------------------------------------------------- */

/* Jobs waiting at a down destination wait for the probe or their expiry. */
static void
dest_park(struct worker *w, struct dest *d)
{
	while (!list_empty(&d->ready)) {
		struct qjob *j = container_of(d->ready.next, struct qjob, link);
		queue_job_defer(w, j, j->expires);
	}
}

static void
dest_probe_timer(struct wheel_timer *t, void *arg)
{
	struct worker *w = arg;
	struct dest *d = container_of(t, struct dest, probe);

	/* the probe needs a job: the oldest deferred one goes first */
	if (d->down && list_empty(&d->ready) && !list_empty(&d->deferred)) {
		struct qjob *j = container_of(d->deferred.next, struct qjob, link);
		if (j->state == QJOB_DEFERRED)
			queue_job_ready(w, j);
	}
	queue_dest_kick(w, d);
}

static void
dest_down(struct worker *w, struct dest *d, const struct cfg_connector *c)
{
	uint32_t step = d->failures - c->down_after + 1;
	uint32_t delay = retry_delay(step, c->retry_initial, c->retry_max, c->retry_jitter,
				     &w->q->rng);

	if (!d->down)
		log_warn("destination %s marked down after %u consecutive connection "
			 "failures (%s); probing every backoff step", LOG_FIELD(d->name),
			 d->failures, LOG_TEXT(d->st.last_error));
	d->down = true;
	d->probe_at = w->now + delay;
	d->probe.cb = dest_probe_timer;
	wheel_insert(&w->q->wheel, &d->probe, d->probe_at);
	dest_park(w, d);
}

void
queue_dest_result(struct worker *w, struct dest *d, bool ok)
{
	const struct cfg_connector *c = queue_dest_policy(w, d);

	if (!ok) {
		d->failures++;
		if (d->down || d->failures >= c->down_after)
			dest_down(w, d, c);
		return;
	}
	d->failures = 0;
	if (!d->down)
		return;
	/* the first success releases the whole backlog at once */
	d->down = false;
	wheel_cancel(&w->q->wheel, &d->probe);
	log_info("destination %s is up again: releasing %u deferred jobs",
		 LOG_FIELD(d->name), d->ndeferred);
	struct list *l = d->deferred.next;
	while (l != &d->deferred) {
		struct qjob *j = container_of(l, struct qjob, link);
		l = l->next;
		if (j->state == QJOB_DEFERRED)
			queue_job_ready(w, j);
	}
	queue_dest_kick(w, d);
}

void
queue_dest_cert(struct dest *d, const char *host, int64_t not_after, const char *subject,
		size_t n, int64_t now)
{
	struct dest_cert *c = NULL;

	for (uint32_t i = 0; i < d->ncerts && c == NULL; i++)
		if (strcmp(d->certs[i].host, host) == 0)
			c = &d->certs[i];
	if (c == NULL && d->ncerts < DEST_CERTS_MAX) {
		d->certs = xrealloc(d->certs, (d->ncerts + 1) * sizeof(*d->certs));
		c = &d->certs[d->ncerts++];
	} else if (c == NULL) {
		c = &d->certs[0];
		for (uint32_t i = 1; i < d->ncerts; i++)
			if (d->certs[i].seen < c->seen)
				c = &d->certs[i];
	}
	snprintf(c->host, sizeof(c->host), "%s", host);
	if (n >= sizeof(c->subject))
		n = sizeof(c->subject) - 1;
	memcpy(c->subject, subject, n);
	c->subject[n] = '\0';
	c->subject_len = (uint32_t)n;
	c->not_after = not_after;
	c->seen = now;
}

static void
job_take(struct dest *d, struct qjob *j)
{
	list_del(&j->link);
	d->nready--;
	d->nactive++;
	j->state = QJOB_ACTIVE;
}

void
queue_dest_kick(struct worker *w, struct dest *d)
{
	const struct cfg_connector *c;

	if (w->draining || list_empty(&d->ready))
		return;
	c = queue_dest_cfg(w, d);
	if (c == NULL || !c->enabled || d->disabled)
		return;		/* removed or disabled connector: mail waits */
	while (!list_empty(&d->ready)) {
		struct qjob *j = container_of(d->ready.next, struct qjob, link);
		if (d->down) {
			if (d->probing || w->now < d->probe_at) {
				dest_park(w, d);
				break;
			}
			if (!gate_enter(d->gate, c->max_connections))
				break;
			d->probing = true;
			job_take(d, j);
			w->q->transport->open(w, d, j);
			continue;
		}
		if (d->nidle > 0) {
			job_take(d, j);
			if (w->q->transport->reuse(w, d, j))
				continue;
			/* no usable cached connection after all: back in front */
			d->nactive--;
			j->state = QJOB_READY;
			list_add_tail(d->ready.next, &j->link);
			d->nready++;
		}
		/* a fair share per worker, so no worker takes every slot; the
		 * gate enforces the cap over all of them */
		if (w->nworkers > 1 && c->max_connections > 0 &&
		    d->nconns >= (c->max_connections + w->nworkers - 1) / w->nworkers)
			break;
		if (!gate_enter(d->gate, c->max_connections))
			break;	/* other workers hold the slots: queue_tick retries */
		job_take(d, j);
		w->q->transport->open(w, d, j);
	}
}

struct qjob *
queue_next_job(struct worker *w, struct dest *d)
{
	struct qjob *j;

	if (w->draining || list_empty(&d->ready) || d->down || d->disabled)
		return NULL;
	j = container_of(d->ready.next, struct qjob, link);
	job_take(d, j);
	return j;
}

void
queue_conn_opened(struct worker *w, struct dest *d)
{
	d->nconns++;
	w->q->nconns++;
}

void
queue_conn_gone(struct worker *w, struct dest *d)
{
	d->nconns--;
	w->q->nconns--;
	gate_leave(d->gate);
	queue_dest_kick(w, d);
}

uint32_t
queue_conns(const struct worker *w)
{
	return w->q->nconns;
}

void
queue_dest_foreach(struct worker *w, void (*fn)(struct worker *w, struct dest *d, void *arg),
		   void *arg)
{
	struct queue *q = w->q;

	for (uint32_t i = 0; i < q->ndestslots; i++)
		for (struct dest *d = q->dests[i]; d != NULL; d = d->hnext)
			fn(w, d, arg);
}

struct wheel *
queue_wheel(struct worker *w)
{
	return &w->q->wheel;
}

/* ---- set-up ----------------------------------------------------------- */

void
queue_init(struct worker *w, const struct queue_transport *t)
{
	struct queue *q = xcalloc(1, sizeof(*q));

	w->q = q;
	q->transport = t;
	wheel_init(&q->wheel, w->now, w);
	list_init(&q->all);
	q->rng = (uint64_t)time(NULL) ^ ((uint64_t)w->id << 32) ^ (uint64_t)(uintptr_t)q;
	msgs_grow(q, 0);
}

/*
 * Every message the queue holds has its MSG record counted live in a
 * segment, and nothing else is (queue/spool.c): a difference means a
 * segment can never be freed, and every newer one with it.  Say so.
 */
static void
spool_check(struct worker *w)
{
	struct spool_stats ss;
	int64_t drift;

	spool_stats(w->spool, &ss);
	drift = (int64_t)ss.live - (int64_t)w->q->nmsgs;
	if (drift == w->q->spool_drift)
		return;
	if (drift != 0)
		log_err("spool accounting: segments hold %llu live messages, the queue %u; "
			"%u segments kept (%llu bytes) until a restart",
			(unsigned long long)ss.live, w->q->nmsgs, ss.segments,
			(unsigned long long)ss.bytes);
	else
		log_info("spool accounting agrees with the queue again");
	w->q->spool_drift = drift;
}

void
queue_tick(struct worker *w)
{
	struct queue *q = w->q;

	wheel_advance(&q->wheel, w->now);
	spool_check(w);
	q->transport->tick(w);
	/* slots freed by other workers wake nobody here: look again */
	for (uint32_t i = 0; i < q->ndestslots; i++)
		for (struct dest *d = q->dests[i]; d != NULL; d = d->hnext)
			if (d->nready > 0 && d->nconns == 0)
				queue_dest_kick(w, d);
}

void
queue_trim(struct worker *w)
{
	struct queue *q = w->q;

	/* the table doubled with the backlog (8 MiB for a million messages) */
	if (q->nmsgs == 0 && q->nmsgslots > 1024) {
		free(q->msgs);
		q->msgs = NULL;
		q->nmsgslots = 0;
		msgs_grow(q, 0);
	}
}

void
queue_fini(struct worker *w)
{
	struct queue *q = w->q;

	/* first, while the timers' memory (jobs, dest probes) is still ours */
	wheel_fini(&q->wheel);
	while (!list_empty(&q->all)) {
		struct qmsg *m = container_of(q->all.next, struct qmsg, link);
		list_del(&m->link);
		buf_free(&m->rec);
		free(m->env);
		free(m);
	}
	for (uint32_t i = 0; i < q->ndestslots; i++) {
		struct dest *d = q->dests[i], *next;
		for (; d != NULL; d = next) {
			struct list *heads[] = { &d->ready, &d->deferred };
			next = d->hnext;
			for (int k = 0; k < 2; k++)
				while (!list_empty(heads[k])) {
					struct qjob *j = container_of(heads[k]->next, struct qjob, link);
					list_del(&j->link);
					queue_job_release(j);
				}
			dest_free(d);
		}
	}
	free(q->dests);
	free(q->msgs);
	for (uint32_t i = 0; i < q->ndisabled; i++)
		free(q->disabled[i]);
	free(q->disabled);
	free(q);
	w->q = NULL;
}
