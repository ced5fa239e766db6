/*
 * smtp_client — one struct smtp_conn per outbound connection: how it is
 * set up, and the callbacks of its ops.  The transactions once it is ready
 * are smtp_client_txn.c's, its plumbing smtp_client_conn.c's (both below
 * this file: net/smtp_client_int.h).
 *
 * A connection has at most one network op in flight (connect, send or
 * recv, each linked to a timeout), so closing it is simple: it is only ever
 * closed from that op's callback, or while idle.  Replies are matched to
 * the commands sent in order through a small expectation list; with
 * PIPELINING a whole transaction (RSET, MAIL, every RCPT, DATA) goes out in
 * one send, without it one command at a time; with CHUNKING too, the first
 * BDAT chunk of the message goes in that send (smtp_client_txn.c).
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
#include "core/worker.h"
#include "core/xalloc.h"
#include "net/dns.h"
#include "net/smtp_client_int.h"
#include "net/smtp_ehlo.h"
#include "net/smtp_proto.h"
#include "queue/gate.h"
#include "queue/queue.h"
#include "tls/tls.h"

#define CONN_IDLE_MAX 5		/* s a cached connection may stay idle */

static void conn_next_target(struct smtp_conn *c);
static enum mfi_stage conn_stage(const struct smtp_conn *c);
static void client_open(struct worker *w, struct dest *d, struct qjob *j);

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

	smtp_conn_end(c, &a);
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
	smtp_conn_link_timeout(c, true);
	c->busy = true;
}

static void
host_resolved(void *arg, enum dns_status st, const struct dns_addr *addrs, size_t n)
{
	struct smtp_conn *c = arg;

	c->dq = NULL;
	if (st != DNS_OK || n == 0) {
		smtp_validate_step(c, "dns", false, "%s: %s", c->host, dns_status_str(st));
		conn_set_fail(c, MFI_STAGE_DNS, 0, dns_to_mfi(st), NULL);
		c->ip[0] = '\0';
		c->hi++;
		conn_next_target(c);
		return;
	}
	c->naddrs = n < CONN_MAX_ADDRS ? (uint32_t)n : CONN_MAX_ADDRS;
	memcpy(c->addrs, addrs, c->naddrs * sizeof(*addrs));
	smtp_validate_step(c, "dns", true, "%s: %zu address(es)", c->host, n);
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
		smtp_conn_fail(c, MFI_STAGE_RCPT, 0, &nullmx);
		return;
	}
	if ((st != DNS_OK && st != DNS_NODATA) || n == 0) {
		smtp_validate_step(c, "mx", false, "%s: %s", c->d->domain, dns_status_str(st));
		conn_set_fail(c, MFI_STAGE_DNS, 0, dns_to_mfi(st), NULL);
		snprintf(c->host, sizeof(c->host), "%s", c->d->domain);
		conn_exhausted(c);
		return;
	}
	smtp_validate_step(c, "mx", true, "%s: %zu exchanger(s), first %s%s", c->d->domain, n,
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
	/* BDAT is worth it only pipelined: MAIL, RCPT and the message in one
	   send, their replies in one receive */
	c->chunking = e.chunking && e.pipelining && conn_cfg(c)->chunking && !c->d->no_bdat;
	c->eightbit = e.eightbit;
	c->smtputf8 = e.smtputf8;
	c->dsn = e.dsn;
	c->size_max = e.size_max;
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

/* The certificate this handshake saw (it succeeded, or failed on that
 * certificate), kept per host by the destination when the connector warns
 * of expiring certificates: once per handshake, no allocation but a
 * destination's first for each host. */
static void
conn_note_cert(struct smtp_conn *c)
{
	struct tls_cert tc;

	if (c->val_conn || conn_cfg(c)->cert_warning == 0 || tls_peer_cert(c->tls, &tc) < 0)
		return;
	queue_dest_cert(c->d, c->host, tc.not_after, tc.subject, tc.subject_len, time(NULL));
}

/*
 * Offer the session cached for this address, port and name (tls/tls.h,
 * tls_conn_resume), and cache the ones this handshake brings.  Not on a
 * test connection: validate connector shows a full handshake and the
 * certificate as it is now.  Returns 0 or -ENOMEM.
 */
static int
conn_tls_resume(struct smtp_conn *c)
{
	char dest[96];

	if (c->val_conn)
		return 0;
	snprintf(dest, sizeof(dest), "[%s]:%u", c->ip, c->port);
	return tls_conn_resume(c->tls, dest) < 0 ? -ENOMEM : 0;
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

	if (c->tls != NULL) {
		tls_failure(c->tls, detail, sizeof(detail));
		conn_note_cert(c);
	}
	if (reason == MFI_TLS_NONE)
		reason = MFI_TLS_HANDSHAKE_FAILED;
	c->w->st.tls_failed[1][reason]++;
	if (c->tls != NULL)
		smtp_validate_step(c, reason == MFI_TLS_HANDSHAKE_FAILED ? "tls" : "certificate",
				   false, "%s", detail[0] ? detail : "handshake failed");
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

/* One reply, matched against what it answers. */
static enum reply_act
conn_reply(struct smtp_conn *c, const struct smtp_reply *r)
{
	enum expect ex = (enum expect)c->expect[c->ex++];
	char text[512];

	smtp_reply_flat(r, text, sizeof(text));
	if (c->val_conn && c->state == CS_TXN)
		return smtp_conn_txn_reply(c, ex, r, text);
	switch (ex) {
	case EX_BANNER:
		smtp_validate_step(c, "banner", r->code == 220, "%s", text);
		if (r->code != 220)
			return greet_failed(c, MFI_STAGE_BANNER, r);
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		smtp_conn_cmd(c, EX_EHLO, "EHLO %s", c->cfg->hostname);
		smtp_conn_flush(c);
		return R_IO;
	case EX_EHLO:
	case EX_HELO:
		smtp_validate_step(c, ex == EX_EHLO ? "ehlo" : "helo", r->code / 100 == 2,
				   "%.200s", text);
		if (r->code / 100 == 2) {
			enum cfg_tls_policy pol = conn_cfg(c)->tls;
			bool offered = ex == EX_EHLO && smtp_reply_has(r, "STARTTLS", NULL, NULL);
			if (ex == EX_EHLO) {
				ehlo_parse(c, r);
			} else {
				c->pipelining = c->chunking = false;
				c->eightbit = c->smtputf8 = c->dsn = false;
				c->size_max = 0;
			}
			c->nexpect = c->ex = c->unsent = 0;
			c->out.len = c->out_off = 0;
			if (c->tls == NULL && pol != CFG_TLS_NONE && !c->no_tls) {
				if (offered) {
					smtp_conn_cmd(c, EX_STARTTLS, "STARTTLS");
					smtp_conn_flush(c);
					return R_IO;
				}
				smtp_validate_step(c, "starttls", pol == CFG_TLS_OPPORTUNISTIC,
						   "not offered by the server");
				if (pol != CFG_TLS_OPPORTUNISTIC)
					return tls_failed(c, MFI_TLS_NOT_OFFERED, NULL);
			}
			smtp_conn_ready(c);
			return R_IO;
		}
		if (ex == EX_EHLO && (r->code == 500 || r->code == 502)) {
			c->nexpect = c->ex = c->unsent = 0;
			c->out.len = c->out_off = 0;
			smtp_conn_cmd(c, EX_HELO, "HELO %s", c->cfg->hostname);
			smtp_conn_flush(c);
			return R_IO;
		}
		return greet_failed(c, MFI_STAGE_EHLO, r);
	case EX_STARTTLS: {
		const struct cfg_connector *cc = conn_cfg(c);
		smtp_validate_step(c, "starttls", r->code == 220, "%s", text);
		if (r->code != 220) {
			if (cc->tls == CFG_TLS_OPPORTUNISTIC) {
				c->nexpect = c->ex = c->unsent = 0;
				c->out.len = c->out_off = 0;
				smtp_conn_ready(c);	/* carry on in clear */
				return R_IO;
			}
			return tls_failed(c, MFI_TLS_REFUSED, r);
		}
		c->tls = tls_conn_new(cc->tls_client, false,
				      cc->tls_domain ? cc->tls_domain : c->host);
		if (c->tls == NULL || conn_tls_resume(c) < 0)
			return tls_failed(c, MFI_TLS_HANDSHAKE_FAILED, NULL);
		c->tls_hs = true;
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		c->in.len = 0;
		tls_handshake(c->tls);	/* the ClientHello */
		smtp_conn_tls_send(c);
		return R_IO;
	}
	default:	/* RSET, MAIL, RCPT, DATA, the end of data */
		return smtp_conn_txn_reply(c, ex, r, text);
	}
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
				smtp_conn_fail(c, conn_stage(c), -EPROTO, NULL);
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
	if (!c->busy && c->body_on) {
		/* BDAT: the replies of enough chunks are in to send more */
		smtp_conn_body_send(c);
		return;
	}
	if (!c->busy && c->ex < c->nexpect) {
		/* Without PIPELINING the next command waits until every one
		   sent has its reply (RFC 2920 s. 3.1): a server that did not
		   offer it may drop, or refuse, what comes early. */
		if (c->unsent > 0 && (c->pipelining || c->ex == c->nexpect - c->unsent))
			smtp_conn_flush(c);
		else
			smtp_conn_recv(c);
	}
}

/* The stage a failure at this point of the dialogue belongs to.  A BDAT
 * transaction went out with its message (its first chunk at least): a
 * connection lost before its replies were read is lost at the body, like
 * one lost before the reply to the final dot. */
static enum mfi_stage
conn_stage(const struct smtp_conn *c)
{
	if (c->body_on)
		return MFI_STAGE_BODY;
	if (c->ex >= c->nexpect)
		return MFI_STAGE_MAIL;
	if (c->bdat && c->state == CS_TXN)
		return MFI_STAGE_BODY;
	switch (c->expect[c->ex]) {
	case EX_BANNER: return MFI_STAGE_BANNER;
	case EX_EHLO:
	case EX_HELO: return MFI_STAGE_EHLO;
	case EX_STARTTLS: return MFI_STAGE_STARTTLS;
	case EX_RCPT: return MFI_STAGE_RCPT;
	case EX_DATA: return MFI_STAGE_DATA;
	case EX_BODY:
	case EX_BDAT: return MFI_STAGE_BODY;
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
	/* keep the gate slot for the new connection: undo what smtp_conn_free gives back */
	gate_enter(d->gate, 0);
	smtp_conn_free(c);
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
				smtp_conn_tls_send(c);
			else
				smtp_conn_recv(c);
			return;
		}
		c->tls_hs = false;
		c->tls_on = true;
		conn_note_cert(c);
		c->w->st.tls_done[1][tls_proto_index(c->tls)]++;
		c->w->st.tls_resumed[1][tls_resumed(c->tls)]++;
		smtp_validate_step(c, "tls", true, "%s %s", tls_version(c->tls),
				   tls_cipher(c->tls));
		if (conn_cfg(c)->tls == CFG_TLS_VERIFY)
			smtp_validate_step(c, "certificate", true, "verified for %s",
					   conn_cfg(c)->tls_domain ? conn_cfg(c)->tls_domain : c->host);
		log_debug("%s [%s]: TLS %s %s", c->host, c->ip, tls_version(c->tls),
			  tls_cipher(c->tls));
		/* RFC 3207: start over with EHLO inside TLS */
		c->nexpect = c->ex = c->unsent = 0;
		c->out.len = c->out_off = 0;
		smtp_conn_cmd(c, EX_EHLO, "EHLO %s", c->cfg->hostname);
		smtp_conn_flush(c);
		return;
	}
	for (;;) {
		long r;
		buf_reserve(&c->in, 16384);
		r = tls_read(c->tls, c->in.p + c->in.len, c->in.cap - c->in.len);
		if (r == 0)
			break;
		if (r < 0) {
			smtp_conn_fail(c, conn_stage(c), r == -ESHUTDOWN ? 0 : (int)r, NULL);
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
	c->io_deadline = 0;
	if (c->state == CS_QUIT) {
		smtp_conn_free(c);
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
		smtp_conn_fail(c, conn_stage(c), res, NULL);
		return;
	}
	if (c->sending && c->tls_send) {
		c->tls_send = false;
		tls_out_consume(c->tls, (size_t)res);
		if (tls_out_len(c->tls) > 0) {
			smtp_conn_tls_send(c);
			return;
		}
		if (c->tls_hs) {
			smtp_conn_recv(c);
			return;
		}
		if (c->body_on) {
			smtp_conn_body_send(c);	/* the next chunk */
			return;
		}
		conn_input(c);
		return;
	}
	if (c->sending) {
		c->out_off += (size_t)res;
		if (c->out_off < c->send_end) {
			smtp_conn_send_to(c, c->send_end);
			return;
		}
		if (c->body_on) {
			smtp_conn_body_send(c);	/* the next chunk */
			return;
		}
		conn_input(c);	/* replies may already be buffered */
		return;
	}
	/* a recv: smtp_conn_recv aimed it at the end of tin (TLS) or in */
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
		smtp_validate_step(c, "connect", false, "%s:%u: %s", c->ip, c->port,
				   strerror(-res));
		conn_set_fail(c, MFI_STAGE_CONNECT, res, MFI_DNS_NONE, NULL);
		c->ai++;
		conn_next_target(c);
		return;
	}
	smtp_validate_step(c, "connect", true, "%s [%s]:%u", c->host, c->ip, c->port);
	c->state = CS_GREET;
	c->in.len = 0;
	c->out.len = c->out_off = 0;
	c->nexpect = c->ex = c->unsent = 0;
	smtp_conn_expect(c, EX_BANNER, 0);
	smtp_conn_recv(c);
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
	wheel_timer_init(&c->io_timer, smtp_conn_deadline_fire);
	list_init(&c->link);
	queue_conn_opened(w, d);
	smtp_conn_job_begin(c, j);
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
	smtp_conn_send(c);
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
	smtp_conn_job_begin(c, j);
	c->msgs++;
	smtp_conn_start_txn(c);
	return true;
}

/* QUIT d's cached connections made under a replaced config, and those
 * idle for CONN_IDLE_MAX (*all: every one).  A queue_dest_foreach callback. */
static void
close_idle(struct worker *w, struct dest *d, void *all)
{
	quit_stale_idle(d);
	while (!list_empty(&d->idle)) {
		struct smtp_conn *c = container_of(d->idle.next, struct smtp_conn, link);
		if (!*(bool *)all && c->idle_since + CONN_IDLE_MAX > w->now)
			break;
		conn_quit_idle(c);
	}
}

static void
client_tick(struct worker *w)
{
	bool all = false;

	queue_dest_foreach(w, close_idle, &all);
}

const struct queue_transport smtp_client_transport = {
	.open = client_open,
	.reuse = client_reuse,
	.tick = client_tick,
};

void
smtp_client_drain(struct worker *w)
{
	bool all = true;

	queue_dest_foreach(w, close_idle, &all);
}

int
smtp_client_validate(struct worker *w, const char *connector, const char *rcpt,
		     bool send, struct smtp_validate *v)
{
	const struct cfg_connector *cc;
	struct smtp_conn *c;
	struct dest *d;
	const char *at;

	if (send && rcpt == NULL)
		return -EINVAL;
	c = xcalloc(1, sizeof(*c));
	c->w = w;
	cc = conn_hold_cfg(c, connector);
	if (cc == NULL) {
		free(c);
		return -ENOENT;
	}
	/* a private destination: not in the queue, no gate, no health */
	at = rcpt ? strrchr(rcpt, '@') : NULL;
	d = queue_dest_detached(cc->name, at ? at + 1 : cc->mx ? "invalid" : cc->hosts[0].name);
	snprintf(c->val_rcpt, sizeof(c->val_rcpt), "%s", rcpt ? rcpt : "");
	if (c->val_rcpt[0] == '\0')
		snprintf(c->val_rcpt, sizeof(c->val_rcpt), "postmaster@%s", d->domain);
	c->val = v;
	c->val_conn = true;
	c->val_send = send;
	v->code = 0;
	v->step[0] = '\0';
	c->w = w;
	c->d = d;
	c->fd = -1;
	c->op.cb = conn_io_done;
	wheel_timer_init(&c->io_timer, smtp_conn_deadline_fire);
	list_init(&c->link);
	conn_start(c, cc);
	return 0;
}

unsigned
smtp_client_count(const struct worker *w)
{
	return queue_conns(w);
}
