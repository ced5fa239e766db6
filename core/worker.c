/*
 * worker — thread start-up (ring, provided buffers, then ops->start), the
 * event loop, giving memory back when idle (worker_trim), and the drain on
 * stop.  What happens inside a turn beyond dispatching completions is the
 * subsystems' business, reached through w->ops (core/worker.h).
 *
 * Start-up is the only place a worker blocks on purpose, in two steps: the
 * ring and ops->bind (what needs the privileges the process started with),
 * then a wait until the main thread, having given those privileges up,
 * lets every worker run ops->start (the spool, as the unprivileged user)
 * and its loop.  Each step is reported to the main thread through a mutex
 * and condition variable, which are never touched again once it serves.
 */
#include "core/worker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "core/list.h"
#include "core/log.h"

#define RING_ENTRIES 4096
#define CQ_ENTRIES 65536
#define NBUFS 4096		/* provided recv buffers per worker */
#define BUFSIZE 4096		/* bytes each */
#define TRIM_IDLE 2		/* s without connections before worker_trim */

static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t start_cv = PTHREAD_COND_INITIALIZER;
static unsigned start_pending;	/* workers still in the current step */
/* Between the steps: the workers wait while this is GATE_WAIT. */
static enum { GATE_WAIT, GATE_RUN, GATE_STOP } start_gate;

static uint64_t
mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec;
}

char *
worker_buf(struct worker *w, unsigned bid)
{
	return w->bufs + (size_t)bid * w->bufsize;
}

void
worker_buf_put(struct worker *w, unsigned bid)
{
	io_uring_buf_ring_add(w->br, worker_buf(w, bid), w->bufsize, (unsigned short)bid,
			      io_uring_buf_ring_mask(w->nbufs), 0);
	io_uring_buf_ring_advance(w->br, 1);
}

void
worker_clock(struct worker *w)
{
	w->now = mono_now();
}

const char *
worker_date(struct worker *w)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t != w->date_sec) {
		gmtime_r(&t, &tm);
		strftime(w->date, sizeof(w->date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
		w->date_sec = t;
	}
	return w->date;
}

/*
 * Register the provided-buffer ring by hand: liburing 2.3 has no
 * io_uring_setup_buf_ring.  The ring memory must be page aligned.
 */
static int
bufring_init(struct worker *w)
{
	struct io_uring_buf_reg reg = { 0 };
	size_t ringsz = NBUFS * sizeof(struct io_uring_buf);
	void *mem;
	int rc;

	w->nbufs = NBUFS;
	w->bufsize = BUFSIZE;
	mem = mmap(NULL, ringsz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	w->br = mem;
	/* a mapping of our own, so worker_trim may drop its pages */
	mem = mmap(NULL, (size_t)NBUFS * BUFSIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	w->bufs = mem;
	reg.ring_addr = (uint64_t)(uintptr_t)w->br;
	reg.ring_entries = NBUFS;
	reg.bgid = 0;
	rc = io_uring_register_buf_ring(&w->ring, &reg, 0);
	if (rc < 0)
		return rc;
	io_uring_buf_ring_init(w->br);
	for (unsigned i = 0; i < NBUFS; i++)
		io_uring_buf_ring_add(w->br, worker_buf(w, i), BUFSIZE, (unsigned short)i,
				      io_uring_buf_ring_mask(NBUFS), (int)i);
	io_uring_buf_ring_advance(w->br, NBUFS);
	return 0;
}

/*
 * jemalloc's control interface.  Weak: sanitizer builds and the unit tests
 * are linked without jemalloc, and then it is NULL.
 */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp,
		   size_t newlen) __attribute__((weak));

/*
 * Make the footprint follow the load: once the worker has had no SMTP
 * session and no outbound connection for TRIM_IDLE seconds after being
 * busy, give back what the burst left behind, once:
 *  - the provided recv buffers (16 MiB): the ring hands them out in turn,
 *    so any traffic touches them all.  With no session there is no recv
 *    armed, so every buffer sits unused in the kernel's ring and its bytes
 *    mean nothing; MADV_DONTNEED drops the pages and the next recv faults
 *    in a zero page.
 *  - whatever the subsystems keep for a backlog (ops->trim: the queue's
 *    message table);
 *  - jemalloc: this thread's cache flushed and its arena's dirty pages
 *    purged now, rather than when the decay (core/daemon/sluiced.c malloc_conf)
 *    or the background thread gets to them.
 */
static void
worker_trim(struct worker *w)
{
	if (w->ops->busy(w)) {
		w->busy_at = w->now;
		w->trimmed = false;
		return;
	}
	if (w->trimmed || w->now < w->busy_at + TRIM_IDLE)
		return;
	w->trimmed = true;
	if (madvise(w->bufs, (size_t)w->nbufs * w->bufsize, MADV_DONTNEED) < 0)
		log_warn("worker %u: madvise of the recv buffers: %s", w->id, strerror(errno));
	w->ops->trim(w);
	if (mallctl != NULL) {
		unsigned arena;
		size_t len = sizeof(arena);
		char name[64];

		mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
		if (mallctl("thread.arena", &arena, &len, NULL, 0) == 0) {
			snprintf(name, sizeof(name), "arena.%u.purge", arena);
			mallctl(name, NULL, NULL, NULL, 0);
		}
	}
}

static void
arm_tick(struct worker *w)
{
	struct io_uring_sqe *sqe = ring_sqe(&w->ring);

	io_uring_prep_timeout(sqe, &w->tick_ts, 0, 0);
	op_set(sqe, &w->tick_op);
}

static void
tick_done(struct op *op, int res, uint32_t flags)
{
	struct worker *w = container_of(op, struct worker, tick_op);

	w->ops->tick(w);
	worker_trim(w);
	arm_tick(w);
}

static void
arm_event(struct worker *w)
{
	struct io_uring_sqe *sqe = ring_sqe(&w->ring);

	io_uring_prep_read(sqe, w->evfd, &w->ev_val, sizeof(w->ev_val), 0);
	op_set(sqe, &w->ev_op);
}

static void
event_done(struct op *op, int res, uint32_t flags)
{
	struct worker *w = container_of(op, struct worker, ev_op);

	ring_filled(&w->ev_val, res);
	/* the work itself (config, stop) is picked up at the turn's start */
	arm_event(w);
}

static int
worker_setup(struct worker *w)
{
	struct io_uring_params p = { 0 };
	int rc;

	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN |
		  IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
	p.cq_entries = CQ_ENTRIES;
	rc = io_uring_queue_init_params(RING_ENTRIES, &w->ring, &p);
	if (rc < 0) {
		snprintf(w->start_err, sizeof(w->start_err),
			 "worker %u: io_uring_setup: %s (SINGLE_ISSUER|DEFER_TASKRUN "
			 "needs Linux 6.1)", w->id, strerror(-rc));
		return rc;
	}
	rc = bufring_init(w);
	if (rc < 0) {
		snprintf(w->start_err, sizeof(w->start_err),
			 "worker %u: provided buffer ring: %s", w->id, strerror(-rc));
		return rc;
	}
	w->evfd = eventfd(0, EFD_CLOEXEC);
	if (w->evfd < 0) {
		snprintf(w->start_err, sizeof(w->start_err), "eventfd: %s", strerror(errno));
		return -errno;
	}
	w->now = mono_now();
	w->tick_ts.tv_sec = 1;
	w->tick_op.cb = tick_done;
	w->ev_op.cb = event_done;
	return w->ops->bind != NULL ? w->ops->bind(w) : 0;
}

/* Tell the main thread this worker finished a step with rc. */
static void
worker_report(struct worker *w, int rc)
{
	pthread_mutex_lock(&start_mu);
	w->start_rc = rc;
	start_pending--;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&start_mu);
}

/* Wait between the steps; false when the main thread gave up instead. */
static bool
worker_gate(void)
{
	bool run;

	pthread_mutex_lock(&start_mu);
	while (start_gate == GATE_WAIT)
		pthread_cond_wait(&start_cv, &start_mu);
	run = start_gate == GATE_RUN;
	pthread_mutex_unlock(&start_mu);
	return run;
}

/* The second step: the subsystems, then the loop's own ops. */
static int
worker_open(struct worker *w)
{
	int rc = w->ops->start(w);

	if (rc < 0)
		return rc;
	arm_tick(w);
	arm_event(w);
	return 0;
}

/* Start of a turn: pick up a new config or a stop request. */
static void
worker_control(struct worker *w)
{
	const struct config *cfg = atomic_load_explicit(&w->next_cfg, memory_order_acquire);

	if (cfg != w->cfg) {
		w->cfg = cfg;
		atomic_store_explicit(&w->acked_cfg, cfg, memory_order_release);
	}
	if (!w->draining && atomic_load_explicit(&w->stop, memory_order_acquire)) {
		w->draining = true;
		w->drain_deadline = w->now + w->cfg->limits.drain_timeout;
		w->ops->drain(w);
	}
	if (w->draining && w->now >= w->drain_deadline)
		w->ops->abort(w);
	/* requests of other threads (the control socket) run here */
	w->ops->turn(w);
}

static void
worker_loop(struct worker *w)
{
	struct io_uring_cqe *cqe;
	unsigned head, n;

	for (;;) {
		w->now = mono_now();
		atomic_store_explicit(&w->turned, w->now, memory_order_relaxed);
		worker_control(w);
		if (w->draining && w->ops->drained(w))
			break;
		int rc = ring_submit_and_wait(&w->ring);
		if (rc < 0 && rc != -EINTR && rc != -EBUSY && rc != -EAGAIN) {
			log_err("worker %u: io_uring_submit_and_wait: %s", w->id, strerror(-rc));
			break;
		}
		w->now = mono_now();
		n = 0;
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			op_dispatch(cqe);
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
		/* end of the turn */
		w->ops->flush(w);
		log_batch_flush();
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	int rc = worker_setup(w);

	worker_report(w, rc);
	if (rc < 0 || !worker_gate())
		return NULL;
	rc = worker_open(w);
	worker_report(w, rc);
	if (rc < 0)
		return NULL;
	log_batch_begin();
	worker_loop(w);
	log_batch_end();
	if (w->ops->thread_end != NULL)
		w->ops->thread_end(w);
	return NULL;
}

static void
worker_free(struct worker *w)
{
	w->ops->fini(w);
	if (w->ring.ring_fd > 0)
		io_uring_queue_exit(&w->ring);
	if (w->br != NULL)
		munmap(w->br, NBUFS * sizeof(struct io_uring_buf));
	if (w->bufs != NULL)
		munmap(w->bufs, (size_t)NBUFS * BUFSIZE);
	w->ops->release(w);
	if (w->evfd > 0)
		close(w->evfd);
}

/* Wait until every started worker has finished the current step; the
 * first failure into err.  start_mu held. */
static int
workers_wait(struct worker *ws, unsigned started, char *err, size_t errlen)
{
	int rc = 0;

	while (start_pending > 0)
		pthread_cond_wait(&start_cv, &start_mu);
	for (unsigned i = 0; i < started && rc == 0; i++) {
		if (ws[i].start_rc < 0) {
			rc = ws[i].start_rc;
			snprintf(err, errlen, "%s", ws[i].start_err);
		}
	}
	return rc;
}

/* Stop and join the started workers (a failed start): those past the
 * gate through their eventfd, those still at it through the gate. */
static void
workers_halt(struct worker *ws, unsigned started)
{
	pthread_mutex_lock(&start_mu);
	if (start_gate == GATE_WAIT)
		start_gate = GATE_STOP;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&start_mu);
	for (unsigned i = 0; i < started; i++) {
		atomic_store(&ws[i].stop, true);
		if (ws[i].start_rc == 0 && write(ws[i].evfd, &(uint64_t){ 1 }, 8) < 0)
			log_warn("worker %u: wake-up failed", i);
	}
	for (unsigned i = 0; i < started; i++) {
		pthread_join(ws[i].thread, NULL);
		ws[i].joined = true;
	}
}

static void
workers_free(struct worker *ws, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		worker_free(&ws[i]);
	free(ws);
}

int
workers_start(struct worker **out, unsigned n, const struct config *cfg,
	      const struct worker_ops *ops, char *err, size_t errlen)
{
	struct worker *ws = calloc(n, sizeof(*ws));
	unsigned started = 0;
	int rc = 0;

	if (ws == NULL) {
		snprintf(err, errlen, "workers: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_lock(&start_mu);
	start_pending = n;
	start_gate = GATE_WAIT;
	for (unsigned i = 0; i < n; i++) {
		ws[i].id = i;
		ws[i].nworkers = n;
		ws[i].cfg = cfg;
		ws[i].evfd = -1;
		ws[i].ops = ops;
		atomic_init(&ws[i].next_cfg, cfg);
		atomic_init(&ws[i].acked_cfg, cfg);
		atomic_init(&ws[i].turned, mono_now());
		mpsc_init(&ws[i].ctlq);		/* before anyone can push */
		if ((rc = pthread_create(&ws[i].thread, NULL, worker_main, &ws[i])) != 0) {
			snprintf(err, errlen, "pthread_create: %s", strerror(rc));
			start_pending -= n - i;
			rc = -rc;
			break;
		}
		started++;
	}
	if (rc == 0)
		rc = workers_wait(ws, started, err, errlen);
	else
		workers_wait(ws, started, NULL, 0);
	pthread_mutex_unlock(&start_mu);
	if (rc < 0) {
		workers_halt(ws, started);
		workers_free(ws, started);
		return rc;
	}
	*out = ws;
	return 0;
}

int
workers_run(struct worker *ws, unsigned n, char *err, size_t errlen)
{
	int rc;

	pthread_mutex_lock(&start_mu);
	start_pending = n;
	start_gate = GATE_RUN;
	pthread_cond_broadcast(&start_cv);
	rc = workers_wait(ws, n, err, errlen);
	pthread_mutex_unlock(&start_mu);
	if (rc < 0)
		workers_halt(ws, n);
	return rc;
}

static void
worker_wake(struct worker *w)
{
	uint64_t one = 1;

	if (write(w->evfd, &one, sizeof(one)) < 0)
		log_warn("worker %u: wake-up: %s", w->id, strerror(errno));
}

void
workers_reload(struct worker *ws, unsigned n, const struct config *cfg)
{
	for (unsigned i = 0; i < n; i++) {
		atomic_store_explicit(&ws[i].next_cfg, cfg, memory_order_release);
		worker_wake(&ws[i]);
	}
}

bool
workers_have(struct worker *ws, unsigned n, const struct config *cfg)
{
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&ws[i].acked_cfg, memory_order_acquire) != cfg)
			return false;
	return true;
}

int
workers_stuck(struct worker *ws, unsigned n, uint64_t now, uint64_t max_age)
{
	for (unsigned i = 0; i < n; i++)
		if (atomic_load_explicit(&ws[i].turned, memory_order_relaxed) + max_age < now)
			return (int)i;
	return -1;
}

void
workers_stop(struct worker *ws, unsigned n)
{
	/* workers still at the gate (workers_run never came) leave there */
	pthread_mutex_lock(&start_mu);
	if (start_gate == GATE_WAIT)
		start_gate = GATE_STOP;
	pthread_cond_broadcast(&start_cv);
	pthread_mutex_unlock(&start_mu);
	for (unsigned i = 0; i < n; i++) {
		if (ws[i].joined)
			continue;
		atomic_store_explicit(&ws[i].stop, true, memory_order_release);
		worker_wake(&ws[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if (!ws[i].joined)
			pthread_join(ws[i].thread, NULL);
	workers_free(ws, n);
}
