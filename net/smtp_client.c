/*
 * smtp_client — one struct smtp_conn per outbound connection.
 *
 * A connection has at most one network op in flight (connect, send or
 * recv, each linked to a timeout), so closing it is simple: it is only ever
 * closed from that op's callback, or while idle.  Replies are matched to
 * the commands sent in order through a small expectation list; with
 * PIPELINING a whole transaction (RSET, MAIL, every RCPT, DATA) goes out in
 * one send, without it one command at a time.
 *
 * Before a connection is ready it works through its targets: the smart
 * hosts in order (or the MX hosts by preference), each host's addresses in
 * order.  A failure there moves on to the next address; when none is left
 * the job gets the last failure, classified by core/mfi/mfi.c.  A cached
 * connection that turns out to be dead when reused is not held against the
 * destination: its job gets a fresh connection.
 *
 * A connection holds the config it started under (config_hold) until it is
 * freed, and reads its connector only from there (c->cc): a SIGHUP reload
 * may swap or remove the connector while a reply is awaited (between
 * STARTTLS and its 220, say), and the TLS context of the handshake in
 * progress belongs to that connector.  What the reload changes applies to
 * the next connection: one started under an older config finishes the
 * transaction it has, then QUITs, and is never reused from the idle cache.
 */
#include "net/smtp_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mfi/mfi.h"
#include "core/strb.h"
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/dns.h"
#include "net/smtp_ehlo.h"
#include "net/smtp_proto.h"
#include "queue/gate.h"
#include "queue/queue.h"
#include "tls/tls.h"

#define CONN_IDLE_MAX 5		/* s a cached connection may stay idle */
#define CONN_MAX_ADDRS 16	/* addresses tried per host */
#define CONN_MAX_HOSTS 16	/* hosts tried per connection */
#define CONN_CHUNK (64u << 10)	/* message bytes read and sent at a time */

enum conn_state {
	CS_RESOLVE,	/* DNS in progress */
	CS_CONNECT,	/* TCP connect in flight */
	CS_GREET,	/* banner, EHLO/HELO */
	CS_IDLE,	/* cached, no job */
	CS_TXN,		/* a transaction is running */
	CS_QUIT,	/* QUIT sent, closing */
};

/* What a reply answers. */
enum expect {
	EX_BANNER, EX_EHLO, EX_HELO, EX_STARTTLS, EX_RSET, EX_MAIL, EX_RCPT, EX_DATA,
	EX_BODY,
};


struct smtp_conn {
	struct op op;			/* the one network op in flight */
	struct worker *w;		/* owner */
	const struct config *cfg;	/* held (config_hold) until conn_free:
					   the config this connection follows */
	const struct cfg_connector *cc;	/* its connector, inside cfg */
	struct dest *d;			/* destination */
	struct list link;		/* on d->idle while cached */
	int fd;				/* socket, -1 before connect */
	uint8_t state;			/* enum conn_state */
	bool busy;			/* op in flight */
	bool sending;			/* that op is a send */
	bool pipelining;		/* server offers PIPELINING */
	bool eightbit;			/* 8BITMIME */
	bool smtputf8;			/* SMTPUTF8 */
	bool dsn;			/* DSN */
	bool reused;			/* taken from the idle cache */
	bool need_rset;			/* last transaction failed: RSET first */
	bool tls_hs;			/* TLS handshake in progress */
	bool tls_on;			/* TLS established: all I/O encrypted */
	bool tls_send;			/* the send in flight is TLS output */
	bool no_tls;			/* opportunistic TLS failed: stay clear */
	struct tls_conn *tls;		/* after STARTTLS, or NULL */
	struct buf tin;			/* ciphertext received, not yet fed */
	struct smtp_validate *val;	/* a test connection: report here (NULL
					   once reported) */
	bool val_conn;			/* a test connection: private dest */
	char val_rcpt[256];		/* the recipient it tries */
	uint64_t size_max;		/* SIZE limit, 0 if none */
	uint32_t msgs;			/* transactions done on it */
	uint64_t idle_since;		/* w->now when it became idle */
	struct dns_query *dq;		/* pending lookup */

	char *hosts[CONN_MAX_HOSTS];	/* target host names */
	uint16_t ports[CONN_MAX_HOSTS];	/* and ports */
	uint32_t nhosts, hi;		/* count, current */
	struct dns_addr addrs[CONN_MAX_ADDRS]; /* current host's addresses */
	uint32_t naddrs, ai;		/* count, current */
	char host[256];			/* current host name */
	char ip[64];			/* current address as text */
	uint16_t port;			/* current port */
	struct mfi_attempt fail;	/* last failure before ready */
	char fail_text[512];		/* its reply text */

	struct buf in;			/* received, not yet parsed */
	struct buf out;			/* to send */
	size_t out_off;			/* bytes of out already sent */
	struct __kernel_timespec ts;	/* the linked timeout of the op */
	size_t send_end;		/* the send in flight ends here in out */
	struct sockaddr_storage sa;	/* address being connected to */

	uint8_t *expect;		/* replies awaited, in order */
	uint32_t nexpect, ex;		/* count, next to match */
	uint32_t unsent;		/* commands built but not yet sent
					   (no PIPELINING: one at a time) */
	uint32_t *cmd_end;		/* end offset in out of each command */
	uint32_t capexpect;		/* entries allocated in both arrays */

	struct qjob *job;		/* current job */
	struct mfi_attempt *res;	/* per recipient outcome */
	char **res_text;		/* their reply texts (owned) */
	uint32_t nres;			/* job recipients */
	uint32_t rcpt_ok;		/* recipients accepted so far */
	uint32_t rcpt_i;		/* next RCPT reply's recipient */
	bool mail_ok;			/* MAIL accepted */
	uint64_t t0;			/* ms when the job started */
	struct queue_data data;		/* the job's message data: open from
					   MAIL until the job is reported */
	struct smtp_stuffer stuff;	/* dot-stuffing state between chunks */
	bool body_on;			/* after the 354, until the chunk with
					   the final dot is built */
	struct buf tmp;			/* a chunk read from the spool (at most
					   CONN_CHUNK; unused for a message the
					   queue holds in memory) */
};

static void conn_next_target(struct smtp_conn *c);
static void conn_recv(struct smtp_conn *c);
static void conn_run_job(struct smtp_conn *c);
static enum mfi_stage conn_stage(const struct smtp_conn *c);
static bool body_send(struct smtp_conn *c);
static void client_open(struct worker *w, struct dest *d, struct qjob *j);

/* What a job gets when its message cannot be read back from the spool. */
#define UNREADABLE "451 4.3.0 Message data unreadable in the local spool"

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The connector, as the config this connection holds has it (never NULL
 * once the connection is started). */
static const struct cfg_connector *
conn_cfg(struct smtp_conn *c)
{
	return c->cc;
}

/* Hold w's current config and find connector in it.  Returns the
 * connector, or NULL (nothing held then) when that config has none. */
static const struct cfg_connector *
conn_hold_cfg(struct smtp_conn *c, const char *connector)
{
	const struct cfg_connector *cc = config_connector_find(c->w->cfg, connector);

	if (cc == NULL)
		return NULL;
	c->cfg = config_hold(c->w->cfg);
	c->cc = cc;
	return cc;
}

/* True once a reload has replaced the config this connection follows. */
static bool
conn_stale(const struct smtp_conn *c)
{
	return c->cfg != c->w->cfg;
}

static uint32_t
conn_timeout(struct smtp_conn *c, bool connecting)
{
	return connecting ? c->cc->connect_timeout : c->cc->command_timeout;
}

/* ---- teardown ------------------------------------------------------- */

static void
job_results_free(struct smtp_conn *c)
{
	for (uint32_t i = 0; i < c->nres; i++)
		free(c->res_text[i]);
	free(c->res);
	free(c->res_text);
	c->res = NULL;
	c->res_text = NULL;
	c->nres = 0;
}

/* Free c; no op may be in flight.  Its gate slot goes back. */
static void
conn_free(struct smtp_conn *c)
{
	struct worker *w = c->w;
	struct dest *d = c->d;

	if (c->dq != NULL)
		dns_cancel(w->dns, c->dq);
	if (c->state == CS_IDLE) {
		list_del(&c->link);
		d->nidle--;
	}
	if (c->fd >= 0)
		close(c->fd);
	for (uint32_t i = 0; i < c->nhosts; i++)
		free(c->hosts[i]);
	job_results_free(c);
	queue_data_close(&c->data);
	buf_free(&c->in);
	buf_free(&c->out);
	buf_free(&c->tmp);
	free(c->expect);
	free(c->cmd_end);
	tls_conn_free(c->tls);	/* before the config that owns its context */
	buf_free(&c->tin);
	if (c->cfg != NULL)
		config_release(c->cfg);
	if (c->val_conn) {	/* its destination is private, not queued */
		free(d->name);
		free(d->connector);
		free(d->domain);
		free(d);
		free(c);
		return;
	}
	d->nconns--;
	w->q->nconns--;
	free(c);
	queue_conn_gone(w, d);
}

/* ---- validation ------------------------------------------------------- */

static void val_step(struct smtp_conn *c, const char *step, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Record one step of a test connection. */
static void
val_step(struct smtp_conn *c, const char *step, bool ok, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (c->val == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *p = line; *p; p++)
		if (*p == '\t' || *p == '\n' || *p == '\r')
			*p = ' ';
	buf_printf(&c->val->steps, "%s\t%s\t%s\n", step, ok ? "ok" : "fail", line);
}

/* The test connection ends: a failure (a) or success (a == NULL). */
static void
val_finish(struct smtp_conn *c, const struct mfi_attempt *a)
{
	struct smtp_validate *v = c->val;
	struct mfi_attempt at;
	struct buf d = { 0 };

	if (a == NULL) {
		v->code = 0;
		snprintf(v->verdict, sizeof(v->verdict), "ok: the connector delivers");
	} else {
		at = *a;
		at.host = c->host[0] ? c->host : NULL;
		at.ip = c->ip[0] ? c->ip : NULL;
		at.port = c->port;
		v->code = (int)mfi_classify(&at);
		mfi_detail(&at, (enum mfi_code)v->code, &d);
		buf_append(&d, "", 1);
		snprintf(v->verdict, sizeof(v->verdict), "%s: %s",
			 v->code == MFI_REMOTE || mfi_reply((enum mfi_code)v->code)[0] == '\0'
				 ? "remote" : mfi_reply((enum mfi_code)v->code), d.p);
		buf_free(&d);
	}
	c->val = NULL;		/* v belongs to the caller again */
	v->done(v);
}

/* ---- job outcome ------------------------------------------------------ */

static void
job_begin(struct smtp_conn *c, struct qjob *j)
{
	c->job = j;
	c->nres = j->nrcpt;
	c->res = xcalloc(j->nrcpt, sizeof(*c->res));
	c->res_text = xcalloc(j->nrcpt, sizeof(*c->res_text));
	c->rcpt_ok = 0;
	c->rcpt_i = 0;
	c->mail_ok = false;
	c->t0 = now_ms();
}

/* True if recipient i has no outcome yet. */
static bool
res_empty(const struct smtp_conn *c, uint32_t i)
{
	const struct mfi_attempt *a = &c->res[i];

	return a->stage == 0 && a->reply_code == 0 && a->err == 0 && a->dns_status == 0;
}

/*
 * Every recipient without a final outcome (none yet, or accepted at RCPT
 * and waiting for the end of data) gets a; its text is copied.
 */
static void
job_fill(struct smtp_conn *c, const struct mfi_attempt *a)
{
	for (uint32_t i = 0; i < c->nres; i++) {
		if (!res_empty(c, i) &&
		    !(c->res[i].stage == MFI_STAGE_RCPT && c->res[i].reply_code / 100 == 2))
			continue;
		free(c->res_text[i]);
		c->res_text[i] = a->reply_text ? strdup(a->reply_text) : NULL;
		c->res[i] = *a;
		c->res[i].reply_text = c->res_text[i];
	}
}

/* Hand the job's outcome to the queue.  Every reply text in c->res came
 * through smtp_reply_flat (or is one of our own lines), as queue_job_done
 * expects. */
static void
job_report(struct smtp_conn *c)
{
	struct qjob *j = c->job;

	if (j == NULL)
		return;
	c->job = NULL;
	queue_data_close(&c->data);
	c->body_on = false;
	for (uint32_t i = 0; i < c->nres; i++) {
		c->res[i].host = c->host[0] ? c->host : NULL;
		c->res[i].ip = c->ip[0] ? c->ip : NULL;
		c->res[i].port = c->port;
	}
	queue_job_done(c->w, j, c->res, now_ms() - c->t0);
	job_results_free(c);
}

/*
 * The connection failed at stage with err (or a reply): the job gets it
 * and the connection goes.  Called from op callbacks only.
 */
static void
conn_fail(struct smtp_conn *c, enum mfi_stage stage, int err, const struct smtp_reply *r)
{
	struct mfi_attempt a = { .stage = stage, .err = err };
	char text[512];

	if (r != NULL) {
		smtp_reply_flat(r, text, sizeof(text));
		a.reply_code = r->code;
		a.reply_text = text;
	}
	if (c->job != NULL) {
		job_fill(c, &a);
		job_report(c);
	}
	if (c->val != NULL)
		val_finish(c, &a);
	conn_free(c);
}

/* ---- I/O ------------------------------------------------------------ */

static void conn_io_done(struct op *op, int res, uint32_t flags);

static void
conn_link_timeout(struct smtp_conn *c, uint32_t secs)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);

	c->ts.tv_sec = secs;
	c->ts.tv_nsec = 0;
	io_uring_prep_link_timeout(sqe, &c->ts, 0);
	op_set(sqe, NULL);
}

/* Send what TLS has to say (records, handshake messages). */
static void
conn_tls_send(struct smtp_conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);

	ring_sending(tls_out_ptr(c->tls), tls_out_len(c->tls));
	io_uring_prep_send(sqe, c->fd, tls_out_ptr(c->tls), tls_out_len(c->tls), MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	op_set(sqe, &c->op);
	conn_link_timeout(c, conn_timeout(c, false));
	c->busy = true;
	c->sending = true;
	c->tls_send = true;
}

/* Send out[out_off, end) (encrypted once TLS is on). */
static void
conn_send_to(struct smtp_conn *c, size_t end)
{
	struct io_uring_sqe *sqe;

	if (c->tls_on) {
		if (end > c->out_off && tls_write(c->tls, c->out.p + c->out_off,
						  end - c->out_off) < 0)
			end = c->out_off;	/* the send below fails the conn */
		c->out_off = c->send_end = end;
		conn_tls_send(c);
		return;
	}
	sqe = ring_sqe(&c->w->ring);
	c->send_end = end;
	ring_sending(c->out.p + c->out_off, end - c->out_off);
	io_uring_prep_send(sqe, c->fd, c->out.p + c->out_off, end - c->out_off,
			   MSG_NOSIGNAL);
	sqe->flags |= IOSQE_IO_LINK;
	op_set(sqe, &c->op);
	conn_link_timeout(c, conn_timeout(c, false));
	c->busy = true;
	c->sending = true;
}

static void
conn_send(struct smtp_conn *c)
{
	conn_send_to(c, c->out.len);
}

static void
conn_recv(struct smtp_conn *c)
{
	struct io_uring_sqe *sqe = ring_sqe(&c->w->ring);
	struct buf *b = c->tls ? &c->tin : &c->in;

	buf_reserve(b, c->tls ? 16384 : 4096);
	io_uring_prep_recv(sqe, c->fd, b->p + b->len, b->cap - b->len, 0);
	sqe->flags |= IOSQE_IO_LINK;
	op_set(sqe, &c->op);
	conn_link_timeout(c, conn_timeout(c, c->state == CS_GREET && c->ex == 0 &&
					  c->expect[0] == EX_BANNER));
	c->busy = true;
	c->sending = false;
}

/* Note that a reply to a command ending at out offset end will come. */
static void
expect_push(struct smtp_conn *c, enum expect ex, size_t end)
{
	if (c->nexpect == c->capexpect) {
		uint32_t cap = c->capexpect ? c->capexpect * 2 : 8;
		c->expect = xrealloc(c->expect, cap);
		c->cmd_end = xrealloc(c->cmd_end, cap * sizeof(*c->cmd_end));
		c->capexpect = cap;
	}
	c->cmd_end[c->nexpect] = (uint32_t)end;
	c->expect[c->nexpect++] = (uint8_t)ex;
}

/* Queue a command line (without CRLF) and what its reply answers. */
static void
conn_cmd(struct smtp_conn *c, enum expect ex, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
conn_cmd(struct smtp_conn *c, enum expect ex, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 2, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > sizeof(line) - 3)
		n = (int)sizeof(line) - 3;
	memcpy(line + n, "\r\n", 2);
	buf_append(&c->out, line, (size_t)n + 2);
	expect_push(c, ex, c->out.len);
	c->unsent++;
}

/* Send what the protocol allows now: everything, or one command. */
static void
conn_flush(struct smtp_conn *c)
{
	size_t end;

	if (c->unsent == 0)
		return;
	if (c->pipelining) {
		end = c->out.len;
		c->unsent = 0;
	} else {
		end = c->cmd_end[c->nexpect - c->unsent];
		c->unsent--;
	}
	conn_send_to(c, end);
}

/* ---- targets and connecting ----------------------------------------- */

static void
conn_set_fail(struct smtp_conn *c, enum mfi_stage stage, int err, enum mfi_dns dns,
	      const struct smtp_reply *r)
{
	c->fail = (struct mfi_attempt){ .stage = stage, .err = err, .dns_status = dns };
	if (r != NULL) {
		smtp_reply_flat(r, c->fail_text, sizeof(c->fail_text));
		c->fail.reply_code = r->code;
		c->fail.reply_text = c->fail_text;
	}
}

/* Nothing left to try: the job gets the last failure. */
static void
conn_exhausted(struct smtp_conn *c)
{
	struct mfi_attempt a = c->fail;

	if (c->job != NULL) {
		job_fill(c, &a);
		job_report(c);
	}
	if (c->val != NULL)
		val_finish(c, &a);
	conn_free(c);
}

static enum mfi_dns
dns_to_mfi(enum dns_status st)
{
	switch (st) {
	case DNS_NXDOMAIN: return MFI_DNS_NXDOMAIN;
	case DNS_NODATA: return MFI_DNS_NODATA;
	case DNS_SERVFAIL: return MFI_DNS_SERVFAIL;
	case DNS_REFUSED: return MFI_DNS_REFUSED;
	case DNS_TIMEOUT: return MFI_DNS_TIMEOUT;
	case DNS_NULL_MX: return MFI_DNS_NULL_MX;
	case DNS_BADNAME: return MFI_DNS_BADRESP;
	default: return MFI_DNS_OTHER;
	}
}

static void
conn_connect_done(struct op *op, int res, uint32_t flags);

/* Connect to the current address. */
static void
conn_connect(struct smtp_conn *c)
{
	const struct dns_addr *a = &c->addrs[c->ai];
	struct io_uring_sqe *sqe;
	socklen_t sl;
	int one = 1;

	struct sockaddr_storage *ss = &c->sa;

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	memset(ss, 0, sizeof(*ss));
	if (a->family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->port);
		memcpy(&sin->sin_addr, a->addr, 4);
		inet_ntop(AF_INET, a->addr, c->ip, sizeof(c->ip));
		sl = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(c->port);
		memcpy(&sin6->sin6_addr, a->addr, 16);
		inet_ntop(AF_INET6, a->addr, c->ip, sizeof(c->ip));
		sl = sizeof(*sin6);
	}
	c->fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		conn_set_fail(c, MFI_STAGE_CONNECT, -errno, MFI_DNS_NONE, NULL);
		c->ai++;
		conn_next_target(c);
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->state = CS_CONNECT;
	sqe = ring_sqe(&c->w->ring);
	io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)ss, sl);
	sqe->flags |= IOSQE_IO_LINK;
	c->op.cb = conn_connect_done;
	op_set(sqe, &c->op);
	conn_link_timeout(c, conn_timeout(c, true));
	c->busy = true;
}

static void
host_resolved(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n)
{
	struct smtp_conn *c = arg;

	c->dq = NULL;
	if (st != DNS_OK || n == 0) {
		val_step(c, "dns", false, "%s: %s", c->host, dns_status_str(st));
		conn_set_fail(c, MFI_STAGE_DNS, 0, dns_to_mfi(st), NULL);
		c->ip[0] = '\0';
		c->hi++;
		conn_next_target(c);
		return;
	}
	c->naddrs = n < CONN_MAX_ADDRS ? (uint32_t)n : CONN_MAX_ADDRS;
	memcpy(c->addrs, addrs, c->naddrs * sizeof(*addrs));
	val_step(c, "dns", true, "%s: %zu address(es)", c->host, n);
	c->ai = 0;
	conn_connect(c);
}

/* Try the next address, or the next host, or give up. */
static void
conn_next_target(struct smtp_conn *c)
{
	if (c->ai < c->naddrs) {
		conn_connect(c);
		return;
	}
	if (c->naddrs > 0) {	/* this host's addresses are used up */
		c->naddrs = 0;
		c->hi++;
	}
	if (c->hi >= c->nhosts) {
		conn_exhausted(c);
		return;
	}
	snprintf(c->host, sizeof(c->host), "%s", c->hosts[c->hi]);
	c->port = c->ports[c->hi];
	c->state = CS_RESOLVE;
	c->dq = dns_resolve_host(c->w->dns, c->host, host_resolved, c);
}

static void
mx_resolved(void *arg, enum dns_status st, const struct dns_mx *mx, size_t n)
{
	struct smtp_conn *c = arg;

	c->dq = NULL;
	if (st == DNS_NULL_MX) {
		/* RFC 7505: the domain takes no mail; return it at once */
		static const struct smtp_reply nullmx = {
			556, "556 5.1.10 Recipient domain publishes a null MX (RFC 7505)", 58
		};
		snprintf(c->host, sizeof(c->host), "%s", c->d->domain);
		conn_fail(c, MFI_STAGE_RCPT, 0, &nullmx);
		return;
	}
	if ((st != DNS_OK && st != DNS_NODATA) || n == 0) {
		val_step(c, "mx", false, "%s: %s", c->d->domain, dns_status_str(st));
		conn_set_fail(c, MFI_STAGE_DNS, 0, dns_to_mfi(st), NULL);
		snprintf(c->host, sizeof(c->host), "%s", c->d->domain);
		conn_exhausted(c);
		return;
	}
	val_step(c, "mx", true, "%s: %zu exchanger(s), first %s%s", c->d->domain, n,
		 mx[0].host, st == DNS_NODATA ? " (implicit MX)" : "");
	for (size_t i = 0; i < n && c->nhosts < CONN_MAX_HOSTS; i++) {
		c->hosts[c->nhosts] = strdup(mx[i].host);
		c->ports[c->nhosts++] = c->cc->mx_port ? c->cc->mx_port : 25;
	}
	c->hi = 0;
	conn_next_target(c);
}

/* ---- the SMTP dialogue ------------------------------------------------ */

/* The capabilities (net/smtp_ehlo.c parses them, I/O-free). */
static void
ehlo_parse(struct smtp_conn *c, const struct smtp_reply *r)
{
	struct smtp_ehlo e;

	smtp_ehlo_parse(r, &e);
	c->pipelining = e.pipelining;
	c->eightbit = e.eightbit;
	c->smtputf8 = e.smtputf8;
	c->dsn = e.dsn;
	c->size_max = e.size_max;
}

/* Ready after EHLO: health is good; run the job or go idle. */
static void
conn_ready(struct smtp_conn *c)
{
	if (c->val_conn) {	/* a test: MAIL and RCPT, then RSET */
		c->state = CS_TXN;
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		conn_cmd(c, EX_MAIL, "MAIL FROM:<>");
		conn_cmd(c, EX_RCPT, "RCPT TO:<%s>", c->val_rcpt);
		conn_cmd(c, EX_RSET, "RSET");
		conn_flush(c);
		return;
	}
	queue_dest_result(c->w, c->d, true);
	conn_run_job(c);
}

/* Build and send the transaction of c->job (RSET first when needed). */
static void
conn_start_txn(struct smtp_conn *c)
{
	struct qjob *j = c->job;
	const struct envelope *env = j->msg->env;
	STRB_LOCAL(params, 512);
	int rc;

	c->state = CS_TXN;
	c->out.len = c->out_off = 0;
	c->nexpect = c->ex = c->unsent = 0;
	queue_data_close(&c->data);
	if ((rc = queue_data_open(c->w, j->msg, &c->data)) < 0) {
		struct mfi_attempt a = { .stage = MFI_STAGE_MAIL, .reply_code = 451,
					 .reply_text = UNREADABLE };
		char qid[17];
		envelope_id_str(j->msg->id, qid);
		log_err("id=%s: cannot open its data in the local spool: %s", qid,
			strerror(-rc));
		job_fill(c, &a);
		job_report(c);
		conn_run_job(c);
		return;
	}
	if (env->smtputf8 && !c->smtputf8) {
		struct mfi_attempt a = { .stage = MFI_STAGE_MAIL, .reply_code = 553,
					 .reply_text = "553 5.6.7 The destination does not support "
						       "SMTPUTF8, which this message needs" };
		job_fill(c, &a);
		job_report(c);
		conn_run_job(c);
		return;
	}
	if (c->need_rset || c->reused)
		conn_cmd(c, EX_RSET, "RSET");
	c->need_rset = false;
	if (c->size_max > 0)
		strb_printf(&params, " SIZE=%llu", (unsigned long long)c->data.size);
	if (env->body == ENV_BODY_8BITMIME && c->eightbit)
		strb_printf(&params, " BODY=8BITMIME");
	if (env->smtputf8)
		strb_printf(&params, " SMTPUTF8");
	if (c->dsn && env->ret != ENV_RET_NONE)
		strb_printf(&params, " RET=%s",
			       env->ret == ENV_RET_FULL ? "FULL" : "HDRS");
	if (c->dsn && env->envid != NULL)
		strb_printf(&params, " ENVID=%.100s",
			       env->envid);
	conn_cmd(c, EX_MAIL, "MAIL FROM:<%s>%s", env->sender, params.p);
	for (uint32_t i = 0; i < j->nrcpt; i++) {
		const struct env_rcpt *r = &env->rcpt[j->rcpt[i]];
		STRB_LOCAL(rp, 600);
		if (c->dsn && r->notify != 0) {
			strb_puts(&rp, " NOTIFY=");
			if (r->notify & ENV_NOTIFY_NEVER)
				strb_puts(&rp, "NEVER");
			else
				strb_printf(&rp, "%s%s%s",
					    (r->notify & ENV_NOTIFY_SUCCESS) ? "SUCCESS," : "",
					    (r->notify & ENV_NOTIFY_FAILURE) ? "FAILURE," : "",
					    (r->notify & ENV_NOTIFY_DELAY) ? "DELAY," : "");
			if (rp.p[rp.len - 1] == ',')
				rp.p[--rp.len] = '\0';
		}
		if (c->dsn && r->orcpt != NULL)
			strb_printf(&rp, " ORCPT=%.500s", r->orcpt);
		conn_cmd(c, EX_RCPT, "RCPT TO:<%s>%s", r->addr, rp.p);
	}
	conn_cmd(c, EX_DATA, "DATA");
	conn_flush(c);	/* the body follows the 354, a chunk at a time */
}

/*
 * The spool could not give the rest of the body: a damaged or short body
 * file, found at the latest on the read of its last chunk, when all the
 * rest may already have gone out.  The final dot must never follow, or the
 * next hop would take a corrupt message for a whole one; so the connection
 * is closed here, mid-data, which makes the next hop drop what it has
 * (RFC 5321 4.1.1.4: no dot, no message).  The recipients get the same 451
 * as a message unreadable before MAIL, and wait for a retry.
 */
static void
body_unreadable(struct smtp_conn *c, int err)
{
	struct mfi_attempt a = { .stage = MFI_STAGE_BODY, .reply_code = 451,
				 .reply_text = UNREADABLE };
	char qid[17];

	envelope_id_str(c->job->msg->id, qid);
	log_err("id=%s: its data in the local spool is unreadable (%s) after %llu of %llu "
		"bytes went to %s [%s]: connection closed without the final dot",
		qid, err == -EIO ? "damaged: not the bytes that were written" : strerror(-err),
		(unsigned long long)c->stuff.n,
		(unsigned long long)c->data.size, c->host, c->ip);
	job_fill(c, &a);
	job_report(c);
	conn_free(c);
}

/*
 * Build the next chunk of the body in out (CONN_CHUNK bytes of the message,
 * dot-stuffed; the last one with the end marker) and send it.  Called after
 * the 354 and then each time a chunk has been sent (through TLS too, which
 * encrypts out as it is sent), so a connection holds one chunk however
 * large the message: out (at most 1.5 times CONN_CHUNK stuffed) and tmp,
 * the bytes read from the spool.  The read is a synchronous pread of
 * CONN_CHUNK, usually from the page cache; the socket's own buffer keeps
 * the wire busy while it runs, so no second chunk is prepared ahead.
 * Returns false when c is gone (body_unreadable).
 */
static bool
body_send(struct smtp_conn *c)
{
	const char *p;
	long n;

	c->out.len = c->out_off = 0;
	n = queue_data_read(c->w, &c->data, CONN_CHUNK, &c->tmp, &p);
	if (n < 0) {
		body_unreadable(c, (int)n);
		return false;
	}
	smtp_stuff_chunk(&c->stuff, p, (size_t)n, &c->out);
	if (c->data.off == c->data.size) {
		smtp_stuff_end(&c->stuff, &c->out);
		c->body_on = false;
		expect_push(c, EX_BODY, c->out.len);
	}
	conn_send(c);
	return true;
}

/* Next job from the destination, or idle, or QUIT. */
static void
conn_run_job(struct smtp_conn *c)
{
	const struct cfg_connector *cc = conn_cfg(c);
	struct worker *w = c->w;

	/* a reload since this connection started: its settings are out of
	   date, so it takes no new job (the one it has goes on) */
	if (c->job == NULL && !conn_stale(c) && c->msgs < cc->max_msgs_per_conn)
		c->job = queue_next_job(w, c->d);
	if (c->job != NULL && c->res == NULL)
		job_begin(c, c->job);
	if (c->job != NULL) {
		c->msgs++;
		conn_start_txn(c);
		return;
	}
	if (w->draining || conn_stale(c) || c->msgs >= cc->max_msgs_per_conn) {
		c->state = CS_QUIT;
		c->out.len = c->out_off = 0;
		c->nexpect = c->ex = c->unsent = 0;
		buf_append(&c->out, "QUIT\r\n", 6);
		conn_send(c);
		return;
	}
	c->nexpect = c->ex = c->unsent = 0;
	c->in.len = 0;
	c->state = CS_IDLE;
	c->idle_since = w->now;
	c->reused = false;
	list_add_tail(&c->d->idle, &c->link);
	c->d->nidle++;
}

/* What conn_reply did with the connection. */
enum reply_act {
	R_NEXT,		/* reply used; more buffered replies may follow */
	R_IO,		/* new I/O started (or idle): stop parsing */
	R_GONE,		/* c was freed or restarted: do not touch it */
};

/* Record reply text r as recipient i's outcome at stage. */
static void
res_set(struct smtp_conn *c, uint32_t i, enum mfi_stage stage, const struct smtp_reply *r,
	const char *flat)
{
	c->res[i].stage = stage;
	c->res[i].reply_code = r->code;
	free(c->res_text[i]);
	c->res_text[i] = strdup(flat);
	c->res[i].reply_text = c->res_text[i];
}

/* True if recipient i was accepted and is still waiting for DATA's fate. */
static bool
res_accepted(const struct smtp_conn *c, uint32_t i)
{
	return c->res[i].stage == MFI_STAGE_RCPT && c->res[i].reply_code / 100 == 2;
}

/* The transaction is over: report, then the next job (or idle, or QUIT). */
static enum reply_act
txn_done(struct smtp_conn *c)
{
	job_report(c);
	conn_run_job(c);
	return R_IO;
}

/* A failure before the connection was ready: try the next address. */
static enum reply_act
greet_failed(struct smtp_conn *c, enum mfi_stage stage, const struct smtp_reply *r)
{
	conn_set_fail(c, stage, 0, MFI_DNS_NONE, r);
	c->ai++;
	conn_next_target(c);
	return R_GONE;
}

/*
 * The connector's TLS policy is not met (reason): this address failed; an
 * opportunistic handshake failure instead retries in clear on the same
 * address (the only policy that ever falls back).
 */
static enum reply_act
tls_failed(struct smtp_conn *c, enum mfi_tls reason, const struct smtp_reply *r)
{
	const struct cfg_connector *cc = conn_cfg(c);
	char detail[256] = "";

	if (c->tls != NULL)
		tls_failure(c->tls, detail, sizeof(detail));
	if (reason == MFI_TLS_NONE)
		reason = MFI_TLS_HANDSHAKE_FAILED;
	if (c->tls != NULL)
		val_step(c, reason == MFI_TLS_HANDSHAKE_FAILED ? "tls" : "certificate", false,
			 "%s", detail[0] ? detail : "handshake failed");
	if (cc->tls == CFG_TLS_OPPORTUNISTIC && c->tls != NULL) {
		log_info("%s [%s]: TLS handshake failed (%s); retrying in clear "
			 "(opportunistic TLS)", c->host, c->ip, detail);
		tls_conn_free(c->tls);
		c->tls = NULL;
		c->tls_hs = c->tls_on = false;
		c->no_tls = true;
		conn_connect(c);
		return R_GONE;
	}
	conn_set_fail(c, c->tls ? MFI_STAGE_TLS_HANDSHAKE : MFI_STAGE_STARTTLS, 0,
		      MFI_DNS_NONE, r);
	c->fail.tls_reason = reason;
	if (r == NULL && detail[0] != '\0') {
		snprintf(c->fail_text, sizeof(c->fail_text), "%s", detail);
		c->fail.reply_text = c->fail_text;
	}
	tls_conn_free(c->tls);
	c->tls = NULL;
	c->tls_hs = c->tls_on = false;
	c->ai++;
	conn_next_target(c);
	return R_GONE;
}

/* A reply inside a test connection's MAIL/RCPT/RSET. */
static enum reply_act
val_reply(struct smtp_conn *c, enum expect ex, const struct smtp_reply *r, const char *text)
{
	struct mfi_attempt a = { .reply_code = r->code, .reply_text = text };

	if (ex == EX_MAIL || ex == EX_RCPT) {
		val_step(c, ex == EX_MAIL ? "mail" : "rcpt", r->code / 100 == 2, "%s", text);
		if (r->code / 100 != 2 && c->val != NULL) {
			a.stage = ex == EX_MAIL ? MFI_STAGE_MAIL : MFI_STAGE_RCPT;
			val_finish(c, &a);
		}
		return R_NEXT;
	}
	/* RSET: done; say goodbye */
	if (c->val != NULL)
		val_finish(c, NULL);
	c->state = CS_QUIT;
	c->out.len = c->out_off = 0;
	buf_append(&c->out, "QUIT\r\n", 6);
	conn_send(c);
	return R_IO;
}

/* One reply, matched against what it answers. */
static enum reply_act
conn_reply(struct smtp_conn *c, const struct smtp_reply *r)
{
	enum expect ex = (enum expect)c->expect[c->ex++];
	char text[512];

	smtp_reply_flat(r, text, sizeof(text));
	if (c->val_conn && c->state == CS_TXN)
		return val_reply(c, ex, r, text);
	switch (ex) {
	case EX_BANNER:
		val_step(c, "banner", r->code == 220, "%s", text);
		if (r->code != 220)
			return greet_failed(c, MFI_STAGE_BANNER, r);
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		conn_cmd(c, EX_EHLO, "EHLO %s", c->cfg->hostname);
		conn_flush(c);
		return R_IO;
	case EX_EHLO:
	case EX_HELO:
		val_step(c, ex == EX_EHLO ? "ehlo" : "helo", r->code / 100 == 2, "%.200s", text);
		if (r->code / 100 == 2) {
			enum cfg_tls_policy pol = conn_cfg(c)->tls;
			bool offered = ex == EX_EHLO && smtp_reply_has(r, "STARTTLS", NULL, NULL);
			if (ex == EX_EHLO) {
				ehlo_parse(c, r);
			} else {
				c->pipelining = c->eightbit = c->smtputf8 = c->dsn = false;
				c->size_max = 0;
			}
			c->nexpect = c->ex = c->unsent = 0;
			c->out.len = c->out_off = 0;
			if (c->tls == NULL && pol != CFG_TLS_NONE && !c->no_tls) {
				if (offered) {
					conn_cmd(c, EX_STARTTLS, "STARTTLS");
					conn_flush(c);
					return R_IO;
				}
				val_step(c, "starttls", pol == CFG_TLS_OPPORTUNISTIC,
					 "not offered by the server");
				if (pol != CFG_TLS_OPPORTUNISTIC)
					return tls_failed(c, MFI_TLS_NOT_OFFERED, NULL);
			}
			conn_ready(c);
			return R_IO;
		}
		if (ex == EX_EHLO && (r->code == 500 || r->code == 502)) {
			c->nexpect = c->ex = c->unsent = 0;
			c->out.len = c->out_off = 0;
			conn_cmd(c, EX_HELO, "HELO %s", c->cfg->hostname);
			conn_flush(c);
			return R_IO;
		}
		return greet_failed(c, MFI_STAGE_EHLO, r);
	case EX_STARTTLS: {
		const struct cfg_connector *cc = conn_cfg(c);
		val_step(c, "starttls", r->code == 220, "%s", text);
		if (r->code != 220) {
			if (cc->tls == CFG_TLS_OPPORTUNISTIC) {
				c->nexpect = c->ex = c->unsent = 0;
				c->out.len = c->out_off = 0;
				conn_ready(c);	/* carry on in clear */
				return R_IO;
			}
			return tls_failed(c, MFI_TLS_REFUSED, r);
		}
		c->tls = tls_conn_new(cc->tls_client, false,
				      cc->tls_domain ? cc->tls_domain : c->host);
		if (c->tls == NULL)
			return tls_failed(c, MFI_TLS_HANDSHAKE_FAILED, NULL);
		c->tls_hs = true;
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		c->in.len = 0;
		tls_handshake(c->tls);	/* the ClientHello */
		conn_tls_send(c);
		return R_IO;
	}
	case EX_RSET:
		if (r->code / 100 != 2) {
			conn_fail(c, MFI_STAGE_MAIL, 0, r);
			return R_GONE;
		}
		c->reused = false;	/* the cached connection is alive */
		return R_NEXT;
	case EX_MAIL:
		if (r->code / 100 == 2) {
			c->mail_ok = true;
		} else {
			for (uint32_t i = 0; i < c->nres; i++)
				res_set(c, i, MFI_STAGE_MAIL, r, text);
			c->need_rset = true;
		}
		return R_NEXT;
	case EX_RCPT: {
		uint32_t i = c->rcpt_i++;
		if (i >= c->nres || !c->mail_ok)
			return R_NEXT;
		res_set(c, i, MFI_STAGE_RCPT, r, text);
		if (r->code / 100 == 2)
			c->rcpt_ok++;
		return R_NEXT;
	}
	case EX_DATA:
		if (r->code == 354) {
			/* send the body (or, with no recipient left, an empty one) */
			c->out.len = c->out_off = 0;
			if (c->mail_ok && c->rcpt_ok > 0) {
				smtp_stuff_init(&c->stuff);
				c->body_on = true;
				return body_send(c) ? R_IO : R_GONE;
			}
			buf_append(&c->out, ".\r\n", 3);
			c->need_rset = true;
			expect_push(c, EX_BODY, c->out.len);
			conn_send(c);
			return R_IO;
		}
		for (uint32_t i = 0; i < c->nres; i++)
			if (res_accepted(c, i))
				res_set(c, i, MFI_STAGE_DATA, r, text);
		c->need_rset = true;
		return txn_done(c);
	case EX_BODY:
		for (uint32_t i = 0; i < c->nres; i++)
			if (res_accepted(c, i))
				res_set(c, i, MFI_STAGE_BODY, r, text);
		if (r->code / 100 != 2)
			c->need_rset = true;
		return txn_done(c);
	}
	return R_NEXT;
}

/* Parse the replies c->in holds; then read or send what comes next. */
static void
conn_input(struct smtp_conn *c)
{
	while (c->ex < c->nexpect) {
		struct smtp_reply r;
		long n = smtp_reply_parse(c->in.p, c->in.len, &r);
		enum reply_act act;

		if (n == 0)
			break;
		if (n < 0) {
			/* the reply being parsed is the one that failed:
			   with PIPELINING, MAIL's may have been taken already */
			if (c->state == CS_GREET) {
				conn_set_fail(c, conn_stage(c), -EPROTO, MFI_DNS_NONE, NULL);
				c->ai++;
				conn_next_target(c);
			} else {
				conn_fail(c, conn_stage(c), -EPROTO, NULL);
			}
			return;
		}
		act = conn_reply(c, &r);
		if (act == R_GONE)
			return;
		buf_consume(&c->in, (size_t)n);
		if (act == R_IO)
			return;
	}
	if (!c->busy && c->ex < c->nexpect) {
		/* Without PIPELINING the next command waits until every one
		   sent has its reply (RFC 2920 s. 3.1): a server that did not
		   offer it may drop, or refuse, what comes early. */
		if (c->unsent > 0 && (c->pipelining || c->ex == c->nexpect - c->unsent))
			conn_flush(c);
		else
			conn_recv(c);
	}
}

/* The stage a failure at this point of the dialogue belongs to. */
static enum mfi_stage
conn_stage(const struct smtp_conn *c)
{
	if (c->body_on)
		return MFI_STAGE_BODY;
	if (c->ex >= c->nexpect)
		return MFI_STAGE_MAIL;
	switch (c->expect[c->ex]) {
	case EX_BANNER: return MFI_STAGE_BANNER;
	case EX_EHLO:
	case EX_HELO: return MFI_STAGE_EHLO;
	case EX_STARTTLS: return MFI_STAGE_STARTTLS;
	case EX_RCPT: return MFI_STAGE_RCPT;
	case EX_DATA: return MFI_STAGE_DATA;
	case EX_BODY: return MFI_STAGE_BODY;
	default: return MFI_STAGE_MAIL;
	}
}

/* A cached connection died while idle: its job gets a fresh connection. */
static void
conn_reopen(struct smtp_conn *c)
{
	struct worker *w = c->w;
	struct dest *d = c->d;
	struct qjob *j = c->job;

	c->job = NULL;
	/* keep the gate slot for the new connection: undo what conn_free gives back */
	gate_enter(d->gate, 0);
	conn_free(c);
	client_open(w, d, j);
}

/* Ciphertext arrived: advance the handshake, or decrypt into c->in. */
static void
conn_tls_input(struct smtp_conn *c, size_t n)
{
	c->tin.len += n;
	if (tls_feed(c->tls, c->tin.p, c->tin.len) < 0) {
		tls_failed(c, MFI_TLS_HANDSHAKE_FAILED, NULL);
		return;
	}
	c->tin.len = 0;
	if (c->tls_hs) {
		int rc = tls_handshake(c->tls);
		if (rc < 0) {
			tls_failed(c, tls_failure(c->tls, NULL, 0), NULL);
			return;
		}
		if (rc == 0) {
			if (tls_out_len(c->tls) > 0)
				conn_tls_send(c);
			else
				conn_recv(c);
			return;
		}
		c->tls_hs = false;
		c->tls_on = true;
		val_step(c, "tls", true, "%s %s", tls_version(c->tls), tls_cipher(c->tls));
		if (conn_cfg(c)->tls == CFG_TLS_VERIFY)
			val_step(c, "certificate", true, "verified for %s",
				 conn_cfg(c)->tls_domain ? conn_cfg(c)->tls_domain : c->host);
		log_debug("%s [%s]: TLS %s %s", c->host, c->ip, tls_version(c->tls),
			  tls_cipher(c->tls));
		/* RFC 3207: start over with EHLO inside TLS */
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		conn_cmd(c, EX_EHLO, "EHLO %s", c->cfg->hostname);
		conn_flush(c);
		return;
	}
	for (;;) {
		long r;
		buf_reserve(&c->in, 16384);
		r = tls_read(c->tls, c->in.p + c->in.len, c->in.cap - c->in.len);
		if (r == 0)
			break;
		if (r < 0) {
			conn_fail(c, conn_stage(c), r == -ESHUTDOWN ? 0 : (int)r, NULL);
			return;
		}
		c->in.len += (size_t)r;
	}
	conn_input(c);
}

static void
conn_io_done(struct op *op, int res, uint32_t flags)
{
	struct smtp_conn *c = container_of(op, struct smtp_conn, op);

	c->busy = false;
	if (c->state == CS_QUIT) {
		conn_free(c);
		return;
	}
	if (res == -ECANCELED)
		res = -ETIMEDOUT;	/* the linked timeout fired */
	if (res <= 0) {
		if (c->reused && c->state == CS_TXN && c->job != NULL && c->ex == 0) {
			conn_reopen(c);
			return;
		}
		if (c->tls_hs) {	/* the peer went away mid-handshake */
			tls_failed(c, MFI_TLS_HANDSHAKE_FAILED, NULL);
			return;
		}
		if (c->state == CS_GREET) {
			conn_set_fail(c, conn_stage(c), res, MFI_DNS_NONE, NULL);
			c->ai++;
			conn_next_target(c);
			return;
		}
		conn_fail(c, conn_stage(c), res, NULL);
		return;
	}
	if (c->sending && c->tls_send) {
		c->tls_send = false;
		tls_out_consume(c->tls, (size_t)res);
		if (tls_out_len(c->tls) > 0) {
			conn_tls_send(c);
			return;
		}
		if (c->tls_hs) {
			conn_recv(c);
			return;
		}
		if (c->body_on) {
			body_send(c);	/* the next chunk */
			return;
		}
		conn_input(c);
		return;
	}
	if (c->sending) {
		c->out_off += (size_t)res;
		if (c->out_off < c->send_end) {
			conn_send_to(c, c->send_end);
			return;
		}
		if (c->body_on) {
			body_send(c);	/* the next chunk */
			return;
		}
		conn_input(c);	/* replies may already be buffered */
		return;
	}
	/* a recv: conn_recv aimed it at the end of tin (TLS) or in */
	if (c->tls != NULL) {
		ring_filled(c->tin.p + c->tin.len, res);
		conn_tls_input(c, (size_t)res);
		return;
	}
	ring_filled(c->in.p + c->in.len, res);
	c->in.len += (size_t)res;
	conn_input(c);
}

static void
conn_connect_done(struct op *op, int res, uint32_t flags)
{
	struct smtp_conn *c = container_of(op, struct smtp_conn, op);

	c->busy = false;
	c->op.cb = conn_io_done;
	if (res == -ECANCELED)
		res = -ETIMEDOUT;
	if (res < 0) {
		val_step(c, "connect", false, "%s:%u: %s", c->ip, c->port, strerror(-res));
		conn_set_fail(c, MFI_STAGE_CONNECT, res, MFI_DNS_NONE, NULL);
		c->ai++;
		conn_next_target(c);
		return;
	}
	val_step(c, "connect", true, "%s [%s]:%u", c->host, c->ip, c->port);
	c->state = CS_GREET;
	c->in.len = 0;
	c->out.len = c->out_off = 0;
	c->nexpect = c->ex = c->unsent = 0;
	expect_push(c, EX_BANNER, 0);
	conn_recv(c);
}

/* ---- API ------------------------------------------------------------ */

/* First step of a new connection: the MX lookup, or the smart hosts. */
static void
conn_start(struct smtp_conn *c, const struct cfg_connector *cc)
{
	if (cc->mx) {
		snprintf(c->host, sizeof(c->host), "%s", c->d->domain);
		c->state = CS_RESOLVE;
		c->dq = dns_resolve_mx(c->w->dns, c->d->domain, mx_resolved, c);
		return;
	}
	for (size_t i = 0; i < cc->nhosts && c->nhosts < CONN_MAX_HOSTS; i++) {
		c->hosts[c->nhosts] = strdup(cc->hosts[i].name);
		c->ports[c->nhosts++] = cc->hosts[i].port;
	}
	conn_next_target(c);
}

static void
client_open(struct worker *w, struct dest *d, struct qjob *j)
{
	const struct cfg_connector *cc;
	struct smtp_conn *c = xcalloc(1, sizeof(*c));

	c->w = w;
	cc = conn_hold_cfg(c, d->connector);
	c->d = d;
	c->fd = -1;
	c->op.cb = conn_io_done;
	list_init(&c->link);
	d->nconns++;
	w->q->nconns++;
	job_begin(c, j);
	if (cc == NULL) {
		conn_set_fail(c, MFI_STAGE_DNS, 0, MFI_DNS_OTHER, NULL);
		conn_exhausted(c);
		return;
	}
	conn_start(c, cc);
}

/* QUIT an idle connection (it is on d->idle). */
static void
conn_quit_idle(struct smtp_conn *c)
{
	list_del(&c->link);
	c->d->nidle--;
	c->state = CS_QUIT;
	c->out.len = c->out_off = 0;
	buf_append(&c->out, "QUIT\r\n", 6);
	conn_send(c);
}

/* QUIT every cached connection of d made under a replaced config (the
 * idle list is in order of going idle, not of connecting: look at all). */
static void
quit_stale_idle(struct dest *d)
{
	struct list *l, *next;

	for (l = d->idle.next; l != &d->idle; l = next) {
		struct smtp_conn *c = container_of(l, struct smtp_conn, link);

		next = l->next;
		if (conn_stale(c))
			conn_quit_idle(c);
	}
}

static bool
client_reuse(struct worker *w, struct dest *d, struct qjob *j)
{
	struct smtp_conn *c;

	/* none made before a reload: the job then gets a new connection,
	   under the new config */
	quit_stale_idle(d);
	if (list_empty(&d->idle))
		return false;
	c = container_of(d->idle.prev, struct smtp_conn, link);	/* most recent */
	list_del(&c->link);
	d->nidle--;
	c->reused = true;
	c->job = j;
	job_begin(c, j);
	c->msgs++;
	conn_start_txn(c);
	return true;
}

static void
close_idle(struct worker *w, bool all)
{
	for (uint32_t i = 0; i < w->q->ndestslots; i++)
		for (struct dest *d = w->q->dests[i]; d != NULL; d = d->hnext) {
			quit_stale_idle(d);
			while (!list_empty(&d->idle)) {
				struct smtp_conn *c = container_of(d->idle.next, struct smtp_conn, link);
				if (!all && c->idle_since + CONN_IDLE_MAX > w->now)
					break;
				conn_quit_idle(c);
			}
		}
}

static void
client_tick(struct worker *w)
{
	close_idle(w, false);
}

const struct queue_transport smtp_client_transport = {
	.open = client_open,
	.reuse = client_reuse,
	.tick = client_tick,
};

void
smtp_client_drain(struct worker *w)
{
	close_idle(w, true);
}

int
smtp_client_validate(struct worker *w, const char *connector, const char *rcpt,
		     struct smtp_validate *v)
{
	const struct cfg_connector *cc;
	struct smtp_conn *c;
	struct dest *d;
	const char *at;

	c = xcalloc(1, sizeof(*c));
	d = xcalloc(1, sizeof(*d));
	c->w = w;
	cc = conn_hold_cfg(c, connector);
	if (cc == NULL) {
		free(c);
		free(d);
		return -ENOENT;
	}
	/* a private destination: not in the queue, no gate, no health */
	d->name = strdup(cc->name);
	d->connector = strdup(cc->name);
	list_init(&d->ready);
	list_init(&d->deferred);
	list_init(&d->idle);
	at = rcpt ? strrchr(rcpt, '@') : NULL;
	d->domain = strdup(at ? at + 1 : cc->mx ? "invalid" : cc->hosts[0].name);
	snprintf(c->val_rcpt, sizeof(c->val_rcpt), "%s", rcpt ? rcpt : "");
	if (c->val_rcpt[0] == '\0')
		snprintf(c->val_rcpt, sizeof(c->val_rcpt), "postmaster@%s", d->domain);
	c->val = v;
	c->val_conn = true;
	c->w = w;
	c->d = d;
	c->fd = -1;
	c->op.cb = conn_io_done;
	list_init(&c->link);
	conn_start(c, cc);
	return 0;
}

unsigned
smtp_client_count(const struct worker *w)
{
	return w->q->nconns;
}
