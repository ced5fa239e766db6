/*
 * redis_link — find and connect to the Redis master (see redis_link.h).
 *
 * Discovery through Sentinel, first success wins:
 *   1. ask sentinel i (in the configured order) SENTINEL
 *      get-master-addr-by-name <master>, after AUTH when a sentinel password
 *      is set; no answer, an error or a nil reply (unknown name) is that
 *      sentinel's reason, and the next sentinel is asked;
 *   2. connect to the address it names, AUTH, and ask ROLE: "master" is the
 *      answer; anything else (a replica: the sentinels have not finished a
 *      failover, or a demoted master came back before they noticed) is the
 *      reason, and the next sentinel is asked;
 *   3. an address that already failed in this call is not tried again (a
 *      dead master named by every sentinel costs one connect, not n).
 * When every sentinel failed, the reason groups the sentinels by what went
 * wrong: "sentinels A, B: master mymaster at 127.0.0.1:6379: Connection
 * refused; sentinel C: Connection refused".
 *
 * Not for: retry pacing or keeping the connection (the caller's).
 * Stateless; any thread; blocking, each step bounded by timeout_ms.
 */
#include "core/tenant/redis_link.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strb.h"

#define REASON_LEN	192		/* one sentinel's reason */
#define HOST_LEN	256		/* host part of "host:port" */
#define SENTINEL_PORT	26379		/* when a sentinel has no port */
#define REDIS_PORT	6379		/* when the direct port is 0 */

/* What one sentinel led to, while the others are asked. */
struct tried {
	char reason[REASON_LEN];	/* why it did not give a master */
	char master[HOST_LEN + 8];	/* "host:port" it named, "" if none */
};

static struct timeval
ms_tv(unsigned ms)
{
	return (struct timeval){ .tv_sec = ms / 1000,
				 .tv_usec = (suseconds_t)(ms % 1000) * 1000 };
}

static bool
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* "host:port", "[v6]:port", "host" or "[v6]" into host and *port (dflt
 * when absent).  0, or -1 when it is not of that form. */
static int
split_hostport(const char *s, int dflt, char *host, size_t hostlen, int *port)
{
	const char *end, *colon;
	size_t n;
	char *e;
	long p;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL)
			return -1;
		s++;
		colon = end[1] == ':' ? end + 1 : NULL;
		if (end[1] != '\0' && colon == NULL)
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			return -1;	/* a bare IPv6 address */
		end = colon != NULL ? colon : s + strlen(s);
	}
	n = (size_t)(end - s);
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	*port = dflt;
	if (colon == NULL)
		return 0;
	p = strtol(colon + 1, &e, 10);
	if (colon[1] == '\0' || *e != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* "host:port", bracketing an IPv6 address. */
static void
fmt_addr(char *buf, size_t len, const char *host, int port)
{
	snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
}

/* Send one command; the reply, or NULL with the reason in why (an error
 * reply is freed and becomes "WHAT: its text"). */
static redisReply *
ask(redisContext *rc, const char *what, char *why, size_t whylen, const char *fmt, ...)
{
	redisReply *r;
	va_list ap;

	va_start(ap, fmt);
	r = redisvCommand(rc, fmt, ap);
	va_end(ap);
	if (r == NULL) {
		snprintf(why, whylen, "%s: %s", what, rc->errstr[0] ? rc->errstr :
			 "connection lost");
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(why, whylen, "%s: %s", what, r->str);
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

/* Connect to host:port with the timeouts, AUTH when password is set.  The
 * context, or NULL with the reason (no address in it) in why. */
static redisContext *
open_server(const char *host, int port, const char *password, unsigned timeout_ms,
	    char *why, size_t whylen)
{
	struct timeval tv = ms_tv(timeout_ms);
	redisContext *rc = redisConnectWithTimeout(host, port, tv);
	redisReply *r;

	if (rc == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if (rc->err) {
		snprintf(why, whylen, "%s", rc->errstr);
		redisFree(rc);
		return NULL;
	}
	if (redisSetTimeout(rc, tv) != REDIS_OK) {
		snprintf(why, whylen, "cannot set the command timeout");
		redisFree(rc);
		return NULL;
	}
	if (set(password)) {
		/* %s is one bulk argument: any byte but NUL is fine */
		r = ask(rc, "AUTH", why, whylen, "AUTH %s", password);
		if (r == NULL) {
			redisFree(rc);
			return NULL;
		}
		freeReplyObject(r);
	}
	return rc;
}

/* ROLE's first element is "master"?  0, or -1 with the reason in why. */
static int
check_master(redisContext *rc, char *why, size_t whylen)
{
	redisReply *r = ask(rc, "ROLE", why, whylen, "ROLE");
	int ok;

	if (r == NULL)
		return -1;
	ok = r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
	     r->element[0]->type == REDIS_REPLY_STRING;
	if (!ok)
		snprintf(why, whylen, "ROLE: unexpected reply type %d", r->type);
	else if (strcmp(r->element[0]->str, "master") != 0) {
		snprintf(why, whylen, "is a %s, not the master (failover under way?)",
			 strcmp(r->element[0]->str, "slave") == 0 ? "replica" :
			 r->element[0]->str);
		ok = 0;
	}
	freeReplyObject(r);
	return ok ? 0 : -1;
}

/* The direct case: one server, no ROLE check. */
static redisContext *
connect_direct(const struct redis_target *t, char *addr, size_t addrlen, char *why,
	       size_t whylen)
{
	const char *host = set(t->host) ? t->host : "127.0.0.1";
	int port = t->port ? t->port : REDIS_PORT;
	char a[HOST_LEN + 8], w[REASON_LEN];
	redisContext *rc;

	fmt_addr(a, sizeof(a), host, port);
	rc = open_server(host, port, t->password, t->timeout_ms, w, sizeof(w));
	if (rc == NULL) {
		snprintf(why, whylen, "redis %s: %s", a, w);
		return NULL;
	}
	snprintf(addr, addrlen, "%s", a);
	return rc;
}

/* Ask sentinel s for the master's address into master ("host:port") and
 * host/port.  0, or -1 with the reason in why. */
static int
ask_sentinel(const struct redis_target *t, const char *s, char *master, size_t mlen,
	     char *host, int *port, char *why, size_t whylen)
{
	char shost[HOST_LEN];
	redisContext *rc;
	redisReply *r;
	int sport, rcode = -1;

	if (split_hostport(s, SENTINEL_PORT, shost, sizeof(shost), &sport) < 0) {
		snprintf(why, whylen, "not a host:port");
		return -1;
	}
	rc = open_server(shost, sport, t->sentinel_password, t->timeout_ms, why, whylen);
	if (rc == NULL)
		return -1;
	r = ask(rc, "SENTINEL", why, whylen, "SENTINEL get-master-addr-by-name %s",
		t->master);
	if (r == NULL)
		goto out;
	if (r->type == REDIS_REPLY_NIL || (r->type == REDIS_REPLY_ARRAY && r->elements == 0))
		snprintf(why, whylen, "no master named %s", t->master);
	else if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		 r->element[0]->type != REDIS_REPLY_STRING ||
		 r->element[1]->type != REDIS_REPLY_STRING ||
		 r->element[0]->len == 0 || r->element[0]->len >= HOST_LEN ||
		 (*port = atoi(r->element[1]->str)) < 1 || *port > 65535)
		snprintf(why, whylen, "SENTINEL: unexpected reply for %s", t->master);
	else {
		memcpy(host, r->element[0]->str, r->element[0]->len + 1);
		fmt_addr(master, mlen, host, *port);
		rcode = 0;
	}
	freeReplyObject(r);
out:
	redisFree(rc);
	return rcode;
}

/* "sentinels A, B: reason; sentinel C: other reason" from what each
 * sentinel led to (same reasons grouped, in the order first seen). */
static void
group_reasons(const struct redis_target *t, const struct tried *tr, char *why,
	      size_t whylen)
{
	struct strb sb;

	strb_init(&sb, why, whylen);
	for (size_t i = 0; i < t->nsentinels; i++) {
		size_t same = 0;
		bool first = true, seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(tr[j].reason, tr[i].reason) == 0;
		if (seen)
			continue;	/* listed with its first sentinel */
		for (size_t j = i; j < t->nsentinels; j++)
			same += strcmp(tr[j].reason, tr[i].reason) == 0;
		strb_printf(&sb, "%s%s ", sb.len ? "; " : "", same > 1 ? "sentinels" :
			    "sentinel");
		for (size_t j = i; j < t->nsentinels; j++) {
			if (strcmp(tr[j].reason, tr[i].reason) != 0)
				continue;
			strb_printf(&sb, "%s%s", first ? "" : ", ", t->sentinels[j]);
			first = false;
		}
		strb_printf(&sb, ": %s", tr[i].reason);
	}
	strb_mark_cut(&sb, "...");
}

/* The Sentinel case: steps 1 to 3 of the header comment. */
static redisContext *
connect_sentinels(const struct redis_target *t, char *addr, size_t addrlen, char *why,
		  size_t whylen)
{
	struct tried *tr = calloc(t->nsentinels, sizeof(*tr));
	redisContext *rc = NULL;

	if (tr == NULL) {
		snprintf(why, whylen, "sentinels: out of memory");
		return NULL;
	}
	for (size_t i = 0; i < t->nsentinels && rc == NULL; i++) {
		char host[HOST_LEN], w[REASON_LEN];
		bool again = false;
		int port;

		if (ask_sentinel(t, t->sentinels[i], tr[i].master, sizeof(tr[i].master),
				 host, &port, tr[i].reason, sizeof(tr[i].reason)) < 0)
			continue;
		for (size_t j = 0; j < i && !again; j++) {
			if (strcmp(tr[j].master, tr[i].master) != 0)
				continue;
			memcpy(tr[i].reason, tr[j].reason, sizeof(tr[i].reason));
			again = true;
		}
		if (again)
			continue;	/* this address failed already */
		rc = open_server(host, port, t->password, t->timeout_ms, w, sizeof(w));
		if (rc != NULL && check_master(rc, w, sizeof(w)) < 0) {
			redisFree(rc);
			rc = NULL;
		}
		if (rc == NULL) {
			struct strb sb;

			strb_init(&sb, tr[i].reason, sizeof(tr[i].reason));
			strb_printf(&sb, "master %s at %s: %s", t->master, tr[i].master, w);
			strb_mark_cut(&sb, "...");
		} else
			snprintf(addr, addrlen, "%s", tr[i].master);
	}
	if (rc == NULL)
		group_reasons(t, tr, why, whylen);
	free(tr);
	return rc;
}

redisContext *
redis_link_connect(const struct redis_target *t, char *addr, size_t addrlen, char *why,
		   size_t whylen)
{
	if (addrlen > 0)
		addr[0] = '\0';
	if (whylen > 0)
		why[0] = '\0';
	if (t->nsentinels == 0)
		return connect_direct(t, addr, addrlen, why, whylen);
	if (!set(t->master)) {
		snprintf(why, whylen, "sentinels: no master name given");
		return NULL;
	}
	return connect_sentinels(t, addr, addrlen, why, whylen);
}

bool
redis_link_reply_stale(const redisReply *r)
{
	/* Error prefixes of a server that is not (or not yet) a usable
	   master: a replica (READONLY), one loading its data set (LOADING),
	   a replica whose master is gone with replica-serve-stale-data off
	   (MASTERDOWN), a blocked client released by a role change
	   (UNBLOCKED). */
	static const char *const stale[] = { "READONLY", "LOADING", "MASTERDOWN",
					     "UNBLOCKED" };

	if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
		return false;
	for (size_t i = 0; i < sizeof(stale) / sizeof(stale[0]); i++) {
		size_t n = strlen(stale[i]);

		if (strncmp(r->str, stale[i], n) == 0 &&
		    (r->str[n] == ' ' || r->str[n] == '\0'))
			return true;
	}
	return false;
}
