/*
 * dns — c-ares on the worker's ring.  c-ares owns the protocol (query ids,
 * retries, server rotation, TCP fallback on truncation); this file owns the
 * waiting: c-ares tells dns_sock_state() which sockets it wants watched and
 * we keep one POLL_ADD armed per socket, and after every call into
 * c-ares we keep one absolute IORING_OP_TIMEOUT at ares_timeout().  Then we
 * turn raw answers into the few outcomes an MTA acts on.
 *
 * Ownership: a dns_poll record belongs to the kernel while its poll is in
 * flight and is freed on its final CQE once c-ares no longer wants the
 * socket (c-ares may close the fd and reuse the number meanwhile: a
 * cancelling record ignores its events and a new record watches the new
 * socket).  A dns_query lives until every c-ares query it started has
 * called back; dns_cancel() only detaches the caller.
 *
 * ARES_FLAG_NOCHECKRESP is set so that SERVFAIL and REFUSED answers reach
 * us instead of being folded into ECONNREFUSED; the price is that c-ares
 * does not try the next server after such an answer.  EDNS (1232 bytes)
 * keeps most MX answers off TCP; c-ares turns it off for the channel for
 * good if a server answers FORMERR without an OPT record.  c-ares closes
 * its sockets whenever no query is left, so each burst of lookups gets a
 * fresh UDP source port and poll records come and go.
 *
 * BUGS: a poll that keeps failing (never seen: it would take an fd closed
 * behind c-ares' back) is given up after a few tries and logged; the
 * queries on that socket then end by timeout.
 */
#include "net/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "core/log.h"

#define NS_PER_SEC	UINT64_C(1000000000)
#define DNS_EDNS_SIZE	1232	/* the DNS flag day 2020 UDP payload size */
#define DNS_POLL_RETRIES 3	/* failed polls re-armed before giving up */
#define DNS_TIMER_SLACK	UINT64_C(1000000)	/* ns added to each deadline */

/* One socket c-ares wants watched. */
struct dns_poll {
	struct op op;		/* the POLL_ADD's CQEs */
	struct dns *d;		/* owner */
	struct list node;	/* in d->polls */
	int fd;			/* c-ares' socket (the number may be reused) */
	unsigned events;	/* POLLIN and/or POLLOUT, as c-ares asked */
	unsigned errors;	/* failed polls in a row */
	bool wanted;		/* c-ares still wants fd watched for events */
	bool armed;		/* the poll is in flight: final CQE pending */
	bool busy;		/* inside dns_poll_cb: it frees, not stop */
};

enum dns_kind { DNS_Q_HOST, DNS_Q_MX };

struct dns_query;

/* One address family of a host lookup. */
struct dns_fam {
	struct dns_query *q;	/* back pointer: the ares_query argument */
	int family;		/* AF_INET (A) or AF_INET6 (AAAA) */
	enum dns_status st;	/* outcome; DNS_OK only with n > 0 */
	size_t n;		/* addresses in addrs */
	struct dns_addr *addrs;	/* malloc'd, or NULL */
};

/* A lookup: one (MX) or two (A + AAAA) c-ares queries. */
struct dns_query {
	struct dns *d;		/* owner */
	enum dns_kind kind;	/* which callback and results apply */
	dns_host_cb *host_cb;	/* DNS_Q_HOST: NULL once cancelled */
	dns_mx_cb *mx_cb;	/* DNS_Q_MX: NULL once cancelled */
	void *arg;		/* the callback's argument */
	unsigned pending;	/* c-ares queries still out, +1 while starting */
	struct dns_fam fam[2];	/* DNS_Q_HOST: A, AAAA */
	enum dns_status st;	/* DNS_Q_MX: outcome */
	struct dns_mx *mx;	/* DNS_Q_MX: sorted exchangers (malloc'd) */
	size_t nmx;		/* their number */
	struct ares_mx_reply *mx_head; /* c-ares' list the hosts point into */
	char name[];		/* queried name, without trailing dot */
};

static pthread_once_t dns_lib_once = PTHREAD_ONCE_INIT;
static int dns_lib_rc;

static const char *const dns_status_names[] = {
	[DNS_OK] = "ok",
	[DNS_NXDOMAIN] = "nxdomain",
	[DNS_NODATA] = "nodata",
	[DNS_SERVFAIL] = "servfail",
	[DNS_REFUSED] = "refused",
	[DNS_TIMEOUT] = "timeout",
	[DNS_NULL_MX] = "null-mx",
	[DNS_BADNAME] = "badname",
	[DNS_ERROR] = "error",
};

const char *
dns_status_str(enum dns_status st)
{
	if ((unsigned)st >= sizeof(dns_status_names) / sizeof(dns_status_names[0]))
		return "unknown";
	return dns_status_names[st];
}

unsigned
dns_pending(const struct dns *d)
{
	return d->queries;
}

/* ares_library_init is not thread-safe and workers start in parallel. */
static void
dns_lib_init(void)
{
	dns_lib_rc = ares_library_init(ARES_LIB_INIT_ALL);
}

static uint64_t
dns_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: cheap, per worker, good enough to shuffle MX ties. */
static uint64_t
dns_random(struct dns *d)
{
	d->rng ^= d->rng >> 12;
	d->rng ^= d->rng << 25;
	d->rng ^= d->rng >> 27;
	return d->rng * UINT64_C(2685821657736338717);
}

/*
 * Timer
 */

static void dns_timer_cb(struct op *op, int res, uint32_t flags);

/*
 * Keep one TIMEOUT at the channel's earliest deadline.  An armed timeout
 * that is later than needed is moved earlier in place; one that is earlier
 * than needed, or no longer needed, is left to fire: dns_timer_cb then
 * finds nothing due and re-arms.  If an update misses (the timeout already
 * completed), its CQE is still to be dispatched and re-arms.  Absolute
 * deadlines make the timespec's value right whenever the kernel reads it.
 */
static void
dns_timer_arm(struct dns *d)
{
	struct io_uring_sqe *sqe;
	struct timeval tv, *tvp;
	uint64_t want;

	if (d->closing)
		return;
	tvp = ares_timeout(d->channel, NULL, &tv);
	if (tvp == NULL)
		return;
	/* ares_timeout() truncates to the millisecond: add one so the timer
	 * does not fire just before the query is due and spin.  For the same
	 * reason an armed deadline up to 2 ms late is kept, not updated. */
	want = dns_now_ns() + (uint64_t)tvp->tv_sec * NS_PER_SEC +
	    (uint64_t)tvp->tv_usec * 1000 + DNS_TIMER_SLACK;
	if (d->timer_armed && want + 2 * DNS_TIMER_SLACK >= d->timer_deadline)
		return;
	d->ts.tv_sec = (long long)(want / NS_PER_SEC);
	d->ts.tv_nsec = (long long)(want % NS_PER_SEC);
	sqe = ring_sqe(d->ring);
	if (d->timer_armed) {
		io_uring_prep_timeout_update(sqe, &d->ts,
		    (uint64_t)(uintptr_t)&d->timer_op, IORING_TIMEOUT_ABS);
		io_uring_sqe_set_data(sqe, NULL);
	} else {
		io_uring_prep_timeout(sqe, &d->ts, 0, IORING_TIMEOUT_ABS);
		op_set(sqe, &d->timer_op);
		d->timer_armed = true;
	}
	d->timer_deadline = want;
}

/* The timeout's only CQE (-ETIME when it fired): let c-ares expire queries. */
static void
dns_timer_cb(struct op *op, int res, uint32_t flags)
{
	struct dns *d = container_of(op, struct dns, timer_op);

	d->timer_armed = false;
	if (d->closing)
		return;		/* dispatched after dns_fini: misuse, harmless */
	ares_process_fd(d->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_arm(d);
}

/*
 * Sockets
 */

static void dns_poll_cb(struct op *op, int res, uint32_t flags);

/*
 * One-shot, not multishot: c-ares 1.18 reads a TCP socket once per call
 * (the length prefix, then the body on the next call), so it needs
 * level-triggered readiness.  A multishot poll only reports new wake-ups
 * and would leave a fully arrived answer unread; a poll re-armed after
 * each event checks readiness when it is armed.
 */
static void
dns_poll_arm(struct dns *d, struct dns_poll *p)
{
	struct io_uring_sqe *sqe = ring_sqe(d->ring);

	io_uring_prep_poll_add(sqe, p->fd, p->events);
	op_set(sqe, &p->op);
	p->armed = true;
}

static void
dns_poll_free(struct dns *d, struct dns_poll *p)
{
	list_del(&p->node);
	d->npolls--;
	free(p);
}

/* c-ares is done with p's socket: cancel the poll; free once it is over. */
static void
dns_poll_stop(struct dns *d, struct dns_poll *p)
{
	struct io_uring_sqe *sqe;

	p->wanted = false;
	if (p->armed) {
		sqe = ring_sqe(d->ring);
		io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&p->op);
		io_uring_sqe_set_data(sqe, NULL);
	} else if (!p->busy) {
		dns_poll_free(d, p);
	}
}

/* The record currently watching fd for c-ares, or NULL. */
static struct dns_poll *
dns_poll_find(struct dns *d, int fd)
{
	struct list *l;

	for (l = d->polls.next; l != &d->polls; l = l->next) {
		struct dns_poll *p = container_of(l, struct dns_poll, node);

		if (p->fd == fd && p->wanted)
			return p;
	}
	return NULL;
}

/*
 * ARES_OPT_SOCK_STATE_CB: c-ares wants fd watched for reading and/or
 * writing, or (both false) not at all, just before it closes fd.  A change
 * of events replaces the poll rather than updating it, which keeps one
 * record per poll and the cancel path the only path.
 */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns *d = data;
	unsigned events = (readable ? POLLIN : 0) | (writable ? POLLOUT : 0);
	struct dns_poll *p;

	if (d->closing)
		return;
	p = dns_poll_find(d, fd);
	if (p != NULL && p->events == events)
		return;
	if (p != NULL)
		dns_poll_stop(d, p);
	if (events == 0)
		return;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		/* The queries on fd will time out. */
		log_err("dns: out of memory watching socket %d", fd);
		return;
	}
	p->op.cb = dns_poll_cb;
	p->d = d;
	p->fd = fd;
	p->events = events;
	p->wanted = true;
	list_add_tail(&d->polls, &p->node);
	d->npolls++;
	dns_poll_arm(d, p);
}

/*
 * A CQE of a socket's poll.  res > 0 is the ready mask; errors and hang-ups
 * are handed to c-ares as readiness so that its read or write sees them.
 * Written for multishot too: the record is done with the kernel only on a
 * CQE without IORING_CQE_F_MORE.
 */
static void
dns_poll_cb(struct op *op, int res, uint32_t flags)
{
	struct dns_poll *p = container_of(op, struct dns_poll, op);
	struct dns *d = p->d;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;
	const int ready = POLLERR | POLLHUP;

	if (!(flags & IORING_CQE_F_MORE))
		p->armed = false;
	if (p->wanted && res > 0) {
		p->errors = 0;
		if ((p->events & POLLIN) && (res & (POLLIN | ready)))
			rfd = p->fd;
		if ((p->events & POLLOUT) && (res & (POLLOUT | ready)))
			wfd = p->fd;
		p->busy = true;
		ares_process_fd(d->channel, rfd, wfd);
		p->busy = false;
	} else if (p->wanted && res < 0) {
		p->errors++;
		log_warn("dns: poll on socket %d failed: %s%s", p->fd,
		    strerror(-res), p->errors > DNS_POLL_RETRIES ?
		    "; giving up on it" : "");
	}
	if (!p->armed) {
		if (!p->wanted)
			dns_poll_free(d, p);
		else if (p->errors <= DNS_POLL_RETRIES)
			dns_poll_arm(d, p);
	}
	dns_timer_arm(d);
}

/*
 * Answers
 */

/*
 * What an answer (or its absence) means.  The header's RCODE comes first:
 * with ARES_FLAG_NOCHECKRESP c-ares hands over SERVFAIL and REFUSED answers.
 */
static enum dns_status
dns_answer_status(int status, const unsigned char *abuf, int alen)
{
	if (abuf != NULL && alen >= HFIXEDSZ) {
		switch (abuf[3] & 0x0f) {
		case ns_r_noerror:
			break;		/* records or not: c-ares counted */
		case ns_r_servfail:
			return DNS_SERVFAIL;
		case ns_r_nxdomain:
			return DNS_NXDOMAIN;
		case ns_r_refused:
			return DNS_REFUSED;
		default:
			return DNS_ERROR;	/* FORMERR, NOTIMP, ... */
		}
	}
	switch (status) {
	case ARES_SUCCESS:
		return DNS_OK;
	case ARES_ENODATA:
		return DNS_NODATA;
	case ARES_ENOTFOUND:
		return DNS_NXDOMAIN;
	case ARES_ESERVFAIL:
		return DNS_SERVFAIL;
	case ARES_EREFUSED:
		return DNS_REFUSED;
	case ARES_ETIMEOUT:
	case ARES_ECONNREFUSED:	/* every try got ICMP unreachable */
		return DNS_TIMEOUT;
	case ARES_EBADNAME:
		return DNS_BADNAME;
	default:
		return DNS_ERROR;	/* ENOMEM, EBADRESP, EDESTRUCTION, ... */
	}
}

/*
 * One status for a host from its A and AAAA outcomes (neither has
 * addresses).  A definite "no such name" wins over a failure of the other
 * family, but "no records of this type" does not: the other family might
 * have had addresses, so its failure is what the caller must retry.
 */
static enum dns_status
dns_host_merge(enum dns_status s4, enum dns_status s6)
{
	if (s4 == s6)
		return s4;
	if (s4 == DNS_NXDOMAIN || s6 == DNS_NXDOMAIN) {
		enum dns_status other = s4 == DNS_NXDOMAIN ? s6 : s4;

		return other == DNS_NODATA ? DNS_NODATA : DNS_NXDOMAIN;
	}
	if (s4 == DNS_NODATA)
		return s6;
	return s4;	/* IPv4's failure, or IPv6's if IPv4 had NODATA */
}

static void
dns_query_finish(struct dns_query *q)
{
	struct dns *d = q->d;

	d->queries--;
	if (q->kind == DNS_Q_HOST) {
		struct dns_addr all[2 * DNS_MAX_ADDRS];
		enum dns_status st;
		size_t n = 0;

		for (int i = 0; i < 2; i++) {
			if (q->fam[i].n == 0)
				continue;
			memcpy(all + n, q->fam[i].addrs,
			    q->fam[i].n * sizeof(all[0]));
			n += q->fam[i].n;
		}
		st = n > 0 ? DNS_OK :
		    dns_host_merge(q->fam[0].st, q->fam[1].st);
		if (q->host_cb != NULL)
			q->host_cb(q->arg, st, n > 0 ? all : NULL, n);
		free(q->fam[0].addrs);
		free(q->fam[1].addrs);
	} else {
		struct dns_mx implicit = { 0, q->name };
		const struct dns_mx *mx = q->mx;
		size_t n = q->nmx;

		if (q->st == DNS_NODATA) {
			mx = &implicit;
			n = 1;
		} else if (q->st != DNS_OK) {
			mx = NULL;
			n = 0;
		}
		if (q->mx_cb != NULL)
			q->mx_cb(q->arg, q->st, mx, n);
		free(q->mx);
		if (q->mx_head != NULL)
			ares_free_data(q->mx_head);
	}
	free(q);
}

/* One c-ares query of q is over; the last one delivers.  NULL if freed. */
static struct dns_query *
dns_query_put(struct dns_query *q)
{
	if (--q->pending > 0)
		return q;
	dns_query_finish(q);
	return NULL;
}

/* ares_query callback of one family of a host lookup. */
static void
dns_host_done(void *arg, int status, int timeouts, unsigned char *abuf,
	      int alen)
{
	struct dns_fam *f = arg;
	int n = DNS_MAX_ADDRS, rc = ARES_SUCCESS;

	f->st = dns_answer_status(status, abuf, alen);
	if (f->st == DNS_OK && f->family == AF_INET) {
		struct ares_addrttl a[DNS_MAX_ADDRS];

		rc = ares_parse_a_reply(abuf, alen, NULL, a, &n);
		if (rc == ARES_SUCCESS && n > 0 &&
		    (f->addrs = calloc((size_t)n, sizeof(*f->addrs))) != NULL) {
			for (int i = 0; i < n; i++) {
				f->addrs[i].family = AF_INET;
				memcpy(f->addrs[i].addr, &a[i].ipaddr, 4);
			}
			f->n = (size_t)n;
		}
	} else if (f->st == DNS_OK) {
		struct ares_addr6ttl a[DNS_MAX_ADDRS];

		rc = ares_parse_aaaa_reply(abuf, alen, NULL, a, &n);
		if (rc == ARES_SUCCESS && n > 0 &&
		    (f->addrs = calloc((size_t)n, sizeof(*f->addrs))) != NULL) {
			for (int i = 0; i < n; i++) {
				f->addrs[i].family = AF_INET6;
				memcpy(f->addrs[i].addr, &a[i].ip6addr, 16);
			}
			f->n = (size_t)n;
		}
	}
	if (f->st == DNS_OK && f->n == 0) {
		/* An answer without records of the type (e.g. a CNAME to
		 * nothing) is NODATA; a malformed one, or no memory, fails. */
		f->st = (rc == ARES_ENODATA || (rc == ARES_SUCCESS && n == 0)) ?
		    DNS_NODATA : DNS_ERROR;
	}
	dns_query_put(f->q);
}

/* RFC 7505: the exchange of a null MX is the root, "." or "" once expanded. */
static bool
dns_mx_is_null(const char *host)
{
	return host[0] == '\0' || strcmp(host, ".") == 0;
}

/* Shuffle, then stable-sort by preference: random order among equals. */
static void
dns_mx_sort(struct dns *d, struct dns_mx *mx, size_t n)
{
	struct dns_mx t;
	size_t i, j;

	for (i = n; i > 1; i--) {
		j = (size_t)(dns_random(d) % i);
		t = mx[i - 1];
		mx[i - 1] = mx[j];
		mx[j] = t;
	}
	for (i = 1; i < n; i++) {
		t = mx[i];
		for (j = i; j > 0 && mx[j - 1].pref > t.pref; j--)
			mx[j] = mx[j - 1];
		mx[j] = t;
	}
}

/*
 * ares_query callback of an MX lookup.  A null MX next to real ones is a
 * misconfiguration (RFC 7505 §3): the real ones are used.
 */
static void
dns_mx_done(void *arg, int status, int timeouts, unsigned char *abuf,
	    int alen)
{
	struct dns_query *q = arg;
	struct ares_mx_reply *r;
	size_t total = 0, nnull = 0;
	int rc;

	q->st = dns_answer_status(status, abuf, alen);
	if (q->st == DNS_OK) {
		rc = ares_parse_mx_reply(abuf, alen, &q->mx_head);
		if (rc != ARES_SUCCESS)
			q->st = rc == ARES_ENODATA ? DNS_NODATA : DNS_ERROR;
	}
	if (q->st == DNS_OK) {
		for (r = q->mx_head; r != NULL; r = r->next)
			total++;
		q->mx = total > 0 ? calloc(total, sizeof(*q->mx)) : NULL;
		if (total > 0 && q->mx == NULL)
			q->st = DNS_ERROR;
	}
	if (q->st == DNS_OK) {
		for (r = q->mx_head; r != NULL; r = r->next) {
			if (dns_mx_is_null(r->host)) {
				nnull++;
				continue;
			}
			q->mx[q->nmx].pref = r->priority;
			q->mx[q->nmx].host = r->host;
			q->nmx++;
		}
		if (q->nmx == 0)
			q->st = nnull > 0 ? DNS_NULL_MX : DNS_NODATA;
		else
			dns_mx_sort(q->d, q->mx, q->nmx);
	}
	dns_query_put(q);
}

/*
 * Names
 */

/*
 * Length of name without one trailing dot if it is a host name c-ares may
 * send as is (LDH labels, '_' allowed, of 1..63 octets, 253 in all); 0 if
 * not.  No escapes, spaces or 8-bit octets: IDNs come as A-labels.
 */
static size_t
dns_name_len(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > 253)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (c == '.') {
			if (label == 0)
				return 0;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
		if (++label > 63)
			return 0;
	}
	return len;
}

/*
 * An RFC 5321 address literal ("[192.0.2.1]", "[IPv6:2001:db8::1]") into
 * a, or when bare is set also a plain "192.0.2.1" or "2001:db8::1".
 */
static bool
dns_literal(const char *name, bool bare, struct dns_addr *a)
{
	char buf[INET6_ADDRSTRLEN + 8];
	size_t len = strlen(name);

	memset(a, 0, sizeof(*a));
	if (len >= 2 && name[0] == '[' && name[len - 1] == ']' &&
	    len - 2 < sizeof(buf)) {
		memcpy(buf, name + 1, len - 2);
		buf[len - 2] = '\0';
		if (strncasecmp(buf, "IPv6:", 5) == 0) {
			a->family = AF_INET6;
			return inet_pton(AF_INET6, buf + 5, a->addr) == 1;
		}
		a->family = AF_INET;
		return inet_pton(AF_INET, buf, a->addr) == 1;
	}
	if (!bare)
		return false;
	a->family = AF_INET;
	if (inet_pton(AF_INET, name, a->addr) == 1)
		return true;
	a->family = AF_INET6;
	return inet_pton(AF_INET6, name, a->addr) == 1;
}

/* A query record for name (len octets), counted in d. */
static struct dns_query *
dns_query_new(struct dns *d, enum dns_kind kind, const char *name,
	      size_t len, void *arg)
{
	struct dns_query *q = calloc(1, sizeof(*q) + len + 1);

	if (q == NULL) {
		char esc[LOG_ESC_MAX];	/* a recipient's domain: the client's text */
		log_err("dns: out of memory looking up %s",
			log_esc(esc, sizeof(esc), name, len, LOG_ESC_SPACE));
		return NULL;
	}
	q->d = d;
	q->kind = kind;
	q->arg = arg;
	memcpy(q->name, name, len);
	q->name[len] = '\0';
	for (int i = 0; i < 2; i++) {
		q->fam[i].q = q;
		q->fam[i].family = i == 0 ? AF_INET : AF_INET6;
		q->fam[i].st = DNS_ERROR;
	}
	d->queries++;
	return q;
}

struct dns_query *
dns_resolve_host(struct dns *d, const char *name, dns_host_cb *cb, void *arg)
{
	struct dns_query *q;
	struct dns_addr a;
	size_t len;

	if (dns_literal(name, true, &a)) {
		cb(arg, DNS_OK, &a, 1);
		return NULL;
	}
	len = dns_name_len(name);
	if (len == 0) {
		cb(arg, DNS_BADNAME, NULL, 0);
		return NULL;
	}
	q = d->closing ? NULL : dns_query_new(d, DNS_Q_HOST, name, len, arg);
	if (q == NULL) {
		cb(arg, DNS_ERROR, NULL, 0);
		return NULL;
	}
	q->host_cb = cb;
	q->pending = 3;		/* A, AAAA, and this function */
	ares_query(d->channel, q->name, ns_c_in, ns_t_a, dns_host_done,
	    &q->fam[0]);
	ares_query(d->channel, q->name, ns_c_in, ns_t_aaaa, dns_host_done,
	    &q->fam[1]);
	dns_timer_arm(d);
	return dns_query_put(q);
}

struct dns_query *
dns_resolve_mx(struct dns *d, const char *domain, dns_mx_cb *cb, void *arg)
{
	struct dns_query *q;
	struct dns_addr a;
	size_t len;

	if (dns_literal(domain, false, &a)) {
		struct dns_mx implicit = { 0, domain };

		cb(arg, DNS_NODATA, &implicit, 1);
		return NULL;
	}
	len = dns_name_len(domain);
	if (len == 0) {
		cb(arg, DNS_BADNAME, NULL, 0);
		return NULL;
	}
	q = d->closing ? NULL : dns_query_new(d, DNS_Q_MX, domain, len, arg);
	if (q == NULL) {
		cb(arg, DNS_ERROR, NULL, 0);
		return NULL;
	}
	q->mx_cb = cb;
	q->st = DNS_ERROR;
	q->pending = 2;		/* MX, and this function */
	ares_query(d->channel, q->name, ns_c_in, ns_t_mx, dns_mx_done, q);
	dns_timer_arm(d);
	return dns_query_put(q);
}

void
dns_cancel(struct dns *d, struct dns_query *q)
{
	if (q == NULL)
		return;
	q->host_cb = NULL;
	q->mx_cb = NULL;
}

/*
 * Set up
 */

/*
 * "a.b.c.d", "a.b.c.d:port", "v6", "[v6]", "[v6]:port" into n; port 0 is
 * c-ares' default (53).
 */
static int
dns_parse_server(const char *s, struct ares_addr_port_node *n)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port = NULL, *end;
	size_t hlen;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return -EINVAL;
		hlen = (size_t)(end - s - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -EINVAL;
		s++;
	} else if ((end = strchr(s, ':')) != NULL && strchr(end + 1, ':') == NULL) {
		hlen = (size_t)(end - s);	/* one colon: IPv4:port */
		port = end + 1;
	} else {
		hlen = strlen(s);		/* IPv4, or bare IPv6 */
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(n, 0, sizeof(*n));
	if (inet_pton(AF_INET, host, &n->addr.addr4) == 1)
		n->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &n->addr.addr6) == 1)
		n->family = AF_INET6;
	else
		return -EINVAL;
	if (port != NULL) {
		char *e;
		unsigned long p = strtoul(port, &e, 10);

		if (port[0] < '0' || port[0] > '9' || *e != '\0' || p == 0 ||
		    p > 65535)
			return -EINVAL;
		n->udp_port = n->tcp_port = (int)p;
	}
	return 0;
}

static int
dns_ares_errno(int rc)
{
	return rc == ARES_ENOMEM ? -ENOMEM : -EIO;
}

int
dns_init(struct dns *d, struct io_uring *ring, const char *const *servers,
	 size_t nservers, unsigned timeout_ms, unsigned tries)
{
	struct ares_addr_port_node *nodes = NULL;
	struct ares_options o;
	int mask, rc;

	memset(d, 0, sizeof(*d));
	d->ring = ring;
	list_init(&d->polls);
	d->timer_op.cb = dns_timer_cb;
	if (getrandom(&d->rng, sizeof(d->rng), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(d->rng))
		d->rng = dns_now_ns() ^ (uint64_t)(uintptr_t)d;
	d->rng |= 1;

	if (servers != NULL && nservers > 0) {
		nodes = calloc(nservers, sizeof(*nodes));
		if (nodes == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < nservers; i++) {
			if (dns_parse_server(servers[i], &nodes[i]) < 0) {
				log_err("dns: server \"%s\": expected an IP "
				    "address, IPv4:port or [IPv6]:port",
				    servers[i]);
				free(nodes);
				return -EINVAL;
			}
			nodes[i].next = i + 1 < nservers ? &nodes[i + 1] : NULL;
		}
	}

	pthread_once(&dns_lib_once, dns_lib_init);
	if (dns_lib_rc != ARES_SUCCESS) {
		log_err("dns: c-ares: %s", ares_strerror(dns_lib_rc));
		free(nodes);
		return dns_ares_errno(dns_lib_rc);
	}

	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
	o.ednspsz = DNS_EDNS_SIZE;
	o.sock_state_cb = dns_sock_state;
	o.sock_state_cb_data = d;
	mask = ARES_OPT_FLAGS | ARES_OPT_EDNSPSZ | ARES_OPT_SOCK_STATE_CB;
	if (timeout_ms > 0) {
		o.timeout = (int)timeout_ms;
		mask |= ARES_OPT_TIMEOUTMS;
	}
	if (tries > 0) {
		o.tries = (int)tries;
		mask |= ARES_OPT_TRIES;
	}
	rc = ares_init_options(&d->channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		log_err("dns: c-ares channel: %s", ares_strerror(rc));
		d->channel = NULL;
		free(nodes);
		return dns_ares_errno(rc);
	}
	if (nodes != NULL) {
		rc = ares_set_servers_ports(d->channel, nodes);
		free(nodes);
		if (rc != ARES_SUCCESS) {
			log_err("dns: c-ares servers: %s", ares_strerror(rc));
			ares_destroy(d->channel);
			d->channel = NULL;
			return dns_ares_errno(rc);
		}
	}
	return 0;
}

void
dns_fini(struct dns *d)
{
	d->closing = true;
	/* Runs every pending c-ares callback with ARES_EDESTRUCTION. */
	if (d->channel != NULL)
		ares_destroy(d->channel);
	d->channel = NULL;
	while (!list_empty(&d->polls))
		dns_poll_free(d, container_of(d->polls.next, struct dns_poll,
		    node));
	d->timer_armed = false;
}
