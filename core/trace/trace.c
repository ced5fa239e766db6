/*
 * trace — the feeds and the writer thread (core/trace/trace.h).
 *
 * The writer's cycle, every TRACE_FLUSH_MS or when a feed kicks it:
 *   1. drain: every ring, oldest record first, into one transaction
 *      (committed and begun again every TRACE_BATCH_MAX records);
 *   2. report drops: a warning at most every DROP_WARN_S seconds with the
 *      count since the last one (the total is the stat trace.dropped);
 *   3. prune: every prune period (a quarter of the retention, between 1 s
 *      and 60 s), or at once while the last step found a full chunk,
 *      PRUNE_STEPS chunks of PRUNE_CHUNK messages past the retention or
 *      over max_size.  Small chunks keep each transaction short.
 *
 * A database error loses the batch it hit (counted in trace.errors and
 * logged, at most once per DROP_WARN_S) and the writer goes on.
 */
#include "core/trace/trace.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/trace/trace_db.h"
#include "core/xalloc.h"

#define TRACE_BATCH_MAX	20000	/* records per transaction */
#define TRACE_NICE	10	/* the writer's nice value */
#define IOPRIO_WHO_PROCESS 1	/* ioprio_set: a thread (linux/ioprio.h) */
#define IOPRIO_IDLE	(3 << 13)	/* class idle, level 0 */
#define DROP_WARN_S	10	/* a warning about drops or errors at most this often */
#define PRUNE_CHUNK	1000	/* messages per pruning transaction */
#define PRUNE_STEPS	8	/* transactions per prune round */

/* A worker's side: its ring and the record it is building. */
struct trace_feed {
	struct trace_ring ring;		/* to the writer */
	int efd;			/* the writer's eventfd, to kick it */
	struct trace_enc enc;		/* the record being built (producer
					   only) */
};

struct trace {
	char *path;			/* the database file */
	struct trace_db *db;		/* writer thread only once started */
	struct trace_feed **feeds;	/* one per worker */
	unsigned nfeeds;
	int efd;			/* kick and stop */
	pthread_t thread;		/* the writer */
	atomic_bool stopping;		/* trace_stop was called */
	_Atomic uint32_t retention;	/* s */
	_Atomic uint64_t max_size;	/* bytes, 0 none */
	/* the writer writes, anyone reads */
	_Atomic uint64_t records, batches, errors, pruned, used;
	/* writer only */
	unsigned char scratch[TRACE_REC_MAX];	/* a record popped */
	uint64_t warned_dropped;	/* drops already reported */
	uint64_t warned_errors;		/* errors already reported */
	int64_t warned_at;		/* monotonic s of the last warning */
	int64_t sized_at;		/* monotonic s used was last read */
	_Atomic int64_t prune_at;	/* monotonic s of the next prune (0:
					   now; a reload sets it) */
};

static _Atomic(struct trace *) running;
static char why_off[256];		/* why trace_start failed (main thread
					   writes before the control thread
					   asks, and never again) */

static int64_t
mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- producers --------------------------------------------------------- */

struct trace_enc *
trace_begin(struct trace_feed *f, enum trace_kind kind, uint64_t id)
{
	if (f == NULL)
		return NULL;
	trace_enc_init(&f->enc, kind, id, now_ms());
	return &f->enc;
}

void
trace_commit(struct trace_feed *f, struct trace_enc *e)
{
	uint32_t len = trace_enc_end(e);
	uint64_t one = 1;

	if (trace_ring_push(&f->ring, e->buf, len) == 1 &&
	    write(f->efd, &one, sizeof(one)) < 0) {
		/* the writer wakes within TRACE_FLUSH_MS anyway */
	}
}

/* ---- the writer -------------------------------------------------------- */

/* Log what went wrong since the last warning, at most every DROP_WARN_S. */
static void
warn_losses(struct trace *t, const char *dberr)
{
	uint64_t dropped = 0, errors = atomic_load(&t->errors);
	int64_t now = mono_s();

	for (unsigned i = 0; i < t->nfeeds; i++)
		dropped += atomic_load_explicit(&t->feeds[i]->ring.dropped, memory_order_relaxed);
	if ((dropped == t->warned_dropped && errors == t->warned_errors) ||
	    now - t->warned_at < DROP_WARN_S)
		return;
	if (dropped > t->warned_dropped)
		log_warn("trace: %llu records dropped since the last warning (%llu in all): "
			 "the writer fell behind the workers",
			 (unsigned long long)(dropped - t->warned_dropped),
			 (unsigned long long)dropped);
	if (errors > t->warned_errors)
		log_warn("trace: %llu records lost to database errors (%llu in all), the last: "
			 "%s", (unsigned long long)(errors - t->warned_errors),
			 (unsigned long long)errors, dberr[0] ? dberr : "?");
	t->warned_dropped = dropped;
	t->warned_errors = errors;
	t->warned_at = now;
}

/* Everything the rings hold into the database. */
static void
drain(struct trace *t, char *dberr, size_t errlen)
{
	uint64_t done = 0, ntx = 0, lost = 0;
	bool open = false;

	for (unsigned i = 0; i < t->nfeeds; i++) {
		struct trace_ring *r = &t->feeds[i]->ring;
		long len;

		atomic_store_explicit(&r->kicked, false, memory_order_relaxed);
		while ((len = trace_ring_pop(r, t->scratch)) != 0) {
			struct trace_rec rec;
			if (len < 0 || trace_rec_decode(t->scratch, (size_t)len, &rec) < 0) {
				lost++;
				snprintf(dberr, errlen, "a damaged record in the ring of "
					 "worker %u", i);
				continue;
			}
			if (!open && trace_db_begin(t->db, dberr, errlen) < 0) {
				lost++;
				continue;
			}
			open = true;
			if (trace_db_put(t->db, &rec, dberr, errlen) < 0) {
				trace_db_rollback(t->db);	/* the batch so far */
				lost += ntx + 1;
				ntx = 0;
				open = false;
				continue;
			}
			if (++ntx == TRACE_BATCH_MAX) {
				if (trace_db_commit(t->db, dberr, errlen) < 0) {
					lost += ntx;
				} else {
					done += ntx;
					atomic_fetch_add(&t->batches, 1);
				}
				ntx = 0;
				open = false;
			}
		}
	}
	if (open) {
		if (trace_db_commit(t->db, dberr, errlen) < 0) {
			lost += ntx;
		} else {
			done += ntx;
			atomic_fetch_add(&t->batches, 1);
		}
	}
	atomic_fetch_add(&t->records, done);
	atomic_fetch_add(&t->errors, lost);
}

/* Retention and size, when it is time. */
static void
prune(struct trace *t, char *dberr, size_t errlen)
{
	uint32_t keep = atomic_load(&t->retention);
	uint64_t max = atomic_load(&t->max_size);
	int64_t now = mono_s(), before = now_ms() - (int64_t)keep * 1000;
	long n = 0;
	int steps;

	if (now < atomic_load(&t->prune_at))
		return;
	for (steps = 0; steps < PRUNE_STEPS; steps++) {
		n = trace_db_prune(t->db, before, max, PRUNE_CHUNK, dberr, errlen);
		if (n < 0)
			atomic_fetch_add(&t->errors, 1);
		if (n <= 0)
			break;
		atomic_fetch_add(&t->pruned, (uint64_t)n);
	}
	atomic_store(&t->used, trace_db_used(t->db));
	/* more to do: go on next cycle; else wait a quarter of the retention */
	if (n == PRUNE_CHUNK)
		atomic_store(&t->prune_at, now);
	else
		atomic_store(&t->prune_at,
			     now + (keep / 4 < 1 ? 1 : keep / 4 > 60 ? 60 : keep / 4));
}

/*
 * The writer yields to the relay: a lower CPU priority (nice 10, this
 * thread only) and the idle I/O class, so its commits and checkpoints wait
 * for the spool's syncs instead of delaying a 250.  When that leaves it
 * behind, the rings fill and records are dropped (counted), as the trace
 * promises, rather than slowing the mail.  Either may be refused (a
 * sandbox): then it runs at the relay's priority.
 */
static void
writer_yield(void)
{
	pid_t tid = (pid_t)syscall(SYS_gettid);

	if (setpriority(PRIO_PROCESS, (id_t)tid, TRACE_NICE) < 0) {
		/* refused: same priority as the workers */
	}
	if (syscall(SYS_ioprio_set, IOPRIO_WHO_PROCESS, tid, IOPRIO_IDLE) < 0) {
		/* refused: the best-effort class, like the workers */
	}
}

static void *
writer_main(void *arg)
{
	struct trace *t = arg;
	struct pollfd pfd = { .fd = t->efd, .events = POLLIN };
	char dberr[512] = "";
	uint64_t v;

	writer_yield();
	for (;;) {
		bool stop;
		if (poll(&pfd, 1, TRACE_FLUSH_MS) > 0 && read(t->efd, &v, sizeof(v)) < 0) {
			/* EAGAIN: someone else's kick was read already */
		}
		stop = atomic_load(&t->stopping);
		drain(t, dberr, sizeof(dberr));
		if (mono_s() != t->sized_at) {	/* the size, once a second */
			t->sized_at = mono_s();
			atomic_store(&t->used, trace_db_used(t->db));
		}
		warn_losses(t, dberr);
		if (stop)
			break;
		prune(t, dberr, sizeof(dberr));
	}
	return NULL;
}

/* ---- life -------------------------------------------------------------- */

static void
trace_free(struct trace *t)
{
	if (t == NULL)
		return;
	trace_db_close(t->db);
	for (unsigned i = 0; i < t->nfeeds; i++) {
		if (t->feeds[i] != NULL)
			free(t->feeds[i]->ring.buf);
		free(t->feeds[i]);
	}
	free(t->feeds);
	if (t->efd >= 0)
		close(t->efd);
	free(t->path);
	free(t);
}

int
trace_start(const struct trace_conf *c, unsigned nfeeds, struct trace **out, char *err,
	    size_t errlen)
{
	struct trace *t = xcalloc(1, sizeof(*t));
	uint64_t ring = c->ring_size ? c->ring_size : TRACE_RING_SIZE;
	int rc;

	*out = NULL;
	t->efd = -1;
	t->path = xstrdup(c->path);
	atomic_init(&t->retention, c->retention);
	atomic_init(&t->max_size, c->max_size);
	if ((rc = trace_db_open(&t->db, c->path, err, errlen)) < 0)
		goto fail;
	t->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->efd < 0) {
		rc = -errno;
		snprintf(err, errlen, "trace: eventfd: %s", strerror(errno));
		goto fail;
	}
	t->nfeeds = nfeeds;
	t->feeds = xcalloc(nfeeds, sizeof(*t->feeds));
	for (unsigned i = 0; i < nfeeds; i++) {
		t->feeds[i] = xcalloc(1, sizeof(*t->feeds[i]));
		trace_ring_init(&t->feeds[i]->ring, xmalloc(ring), ring);
		t->feeds[i]->efd = t->efd;
	}
	atomic_store(&t->used, trace_db_used(t->db));
	rc = -pthread_create(&t->thread, NULL, writer_main, t);
	if (rc < 0) {
		snprintf(err, errlen, "trace: cannot start its thread: %s", strerror(-rc));
		goto fail;
	}
	pthread_setname_np(t->thread, "sluice-trace");	/* top -H, the bench */
	atomic_store(&running, t);
	*out = t;
	return 0;
fail:
	snprintf(why_off, sizeof(why_off), "%s", err);
	trace_free(t);
	return rc;
}

struct trace_feed *
trace_feed(struct trace *t, unsigned i)
{
	return t != NULL && i < t->nfeeds ? t->feeds[i] : NULL;
}

void
trace_set_limits(struct trace *t, uint32_t retention, uint64_t max_size)
{
	if (t == NULL)
		return;
	atomic_store(&t->retention, retention);
	atomic_store(&t->max_size, max_size);
	atomic_store(&t->prune_at, 0);
}

void
trace_stop(struct trace *t)
{
	uint64_t one = 1;

	if (t == NULL)
		return;
	atomic_store(&running, NULL);
	atomic_store(&t->stopping, true);
	if (write(t->efd, &one, sizeof(one)) < 0) {
		/* it wakes within TRACE_FLUSH_MS */
	}
	pthread_join(t->thread, NULL);
	trace_free(t);
}

struct trace *
trace_running(char *why, size_t len)
{
	struct trace *t = atomic_load(&running);

	if (t == NULL && why != NULL)
		snprintf(why, len, "%s", why_off);
	return t;
}

const char *
trace_path(const struct trace *t)
{
	return t->path;
}

void
trace_get_stats(struct trace *t, struct trace_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->records = atomic_load(&t->records);
	st->batches = atomic_load(&t->batches);
	st->errors = atomic_load(&t->errors);
	st->pruned = atomic_load(&t->pruned);
	st->used = atomic_load(&t->used);
	for (unsigned i = 0; i < t->nfeeds; i++) {
		struct trace_ring *r = &t->feeds[i]->ring;
		st->dropped += atomic_load_explicit(&r->dropped, memory_order_relaxed);
		st->pending += atomic_load(&r->head) - atomic_load(&r->tail);
	}
}
