/*
 * smtp_server_proxy — a session on a listener with proxy_protocol, before
 * its banner.  Behind an L4 load balancer every connection comes from the
 * balancer; the balancer's PROXY header (v1 or v2, net/proxy_proto.h)
 * names the real client.  This file takes that header and makes the
 * session stand for the client it names: from then on s->peer and
 * s->trusted are the client's, so the relay decision, the per-client
 * limits (the caller admits *client), the EHLO reply, the Received: line,
 * the envelope, the logs and the trace all see it, as they would a
 * direct connection.  s->proxy keeps the balancer's address.
 *
 * The rules, in order: a connection from an address not in the listener's
 * proxy_from is closed at once, before anything is read (anyone else
 * could name any client, trusted ones too).  Then the header must arrive
 * complete within limits.proxy_timeout of the accept, whatever it sends
 * meanwhile; a malformed, oversized or late one closes the connection
 * without a banner.  Each closing is one log line, "proxy ADDR: WHY,
 * closed", and counts in smtp.in.proxy_refused.  A v2 LOCAL header (the
 * balancer's own health check) and a v1 UNKNOWN one keep the balancer's
 * address, and such a session is not counted in the per-client limits: a
 * balancer in proxy_from checks its servers as often as it likes.  Bytes
 * after the header are the client's SMTP input, kept in s->in.
 *
 * Not for: the header's syntax (net/proxy_proto.c), the banner and the
 * limits (net/smtp_server.c, which calls this file).  Listeners without
 * proxy_protocol never come here.  Worker thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"
#include "core/worker.h"
#include "net/proxy_proto.h"
#include "net/smtp_server_int.h"

/* Close s, still waiting for its header, for why. */
static void
proxy_refuse(struct session *s, const char *why)
{
	s->w->st.proxy_refused++;
	log_warn("proxy %s: %s, closed", s->peer, why);
	session_close(s);
}

bool
session_proxy_begin(struct session *s, const struct sockaddr *sa,
		    const struct cfg_net *from, size_t n, const char *listen)
{
	struct worker *w = s->w;

	if (!config_nets_contain(from, n, sa)) {
		w->st.proxy_refused++;
		log_warn("proxy %s: not in proxy_from of listener %s, closed", s->peer,
			 listen);
		return false;
	}
	w->srv->nsessions++;
	s->state = SS_PROXY;
	s->last = w->now;	/* the deadline runs from here, not from each byte */
	list_add_tail(&w->srv->proxy, &s->link);
	return true;
}

/* The header h is complete: s stands for the client it names. */
static void
proxy_client(struct session *s, const struct proxy_hdr *h, struct sockaddr_storage *client)
{
	if (h->local) {
		/* the balancer speaking for itself, a health check: its own
		   address stands, and a check is no client to limit */
		client->ss_family = AF_UNSPEC;
		log_debug("session %s: PROXY v%u %s, the connection's address stands", s->peer,
			  h->version, h->version == 2 ? "LOCAL" : "UNKNOWN");
		return;
	}
	*client = h->src;
	memcpy(s->proxy, s->peer, sizeof(s->proxy));
	session_identify(s, (const struct sockaddr *)client);
	log_debug("session %s: through proxy %s (PROXY v%u)", s->peer, s->proxy, h->version);
}

int
session_proxy_input(struct session *s, const char *p, size_t n,
		    struct sockaddr_storage *client)
{
	struct proxy_hdr h;
	const char *why;
	char line[128];
	long r;

	if (s->in.len > 0) {		/* the header came in pieces */
		buf_append(&s->in, p, n);
		p = s->in.p;
		n = s->in.len;
	}
	r = proxy_parse(p, n, &h, &why);
	if (r == 0) {
		if (p != s->in.p)
			buf_append(&s->in, p, n);
		return 0;
	}
	if (r < 0) {
		snprintf(line, sizeof(line), "bad PROXY header (%s)", why);
		proxy_refuse(s, line);
		return -1;
	}
	if (p == s->in.p)
		buf_consume(&s->in, (size_t)r);
	else
		buf_append(&s->in, p + r, n - (size_t)r);
	proxy_client(s, &h, client);
	return 1;
}

void
session_proxy_expire(struct worker *w)
{
	uint32_t timeout = w->cfg->limits.proxy_timeout;
	char why[128];

	while (!list_empty(&w->srv->proxy)) {
		struct session *s = container_of(w->srv->proxy.next, struct session, link);

		if (s->last + timeout > w->now)
			break;
		snprintf(why, sizeof(why), "no complete PROXY header within %us (%zu bytes "
			 "received)", timeout, s->in.len);
		proxy_refuse(s, why);	/* unlinks it */
		session_release(s);
	}
}
