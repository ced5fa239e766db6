/*
 * dns — a worker's asynchronous resolver: one c-ares channel whose sockets
 * and timeout are driven by the worker's io_uring (a POLL_ADD per socket,
 * one IORING_OP_TIMEOUT for the channel's earliest deadline).
 *
 * It answers two questions an SMTP client asks: the addresses of a host
 * (A and AAAA together) and the mail exchangers of a domain (MX, with the
 * RFC 5321 §5.1 and RFC 7505 rules applied), and it tells the failures
 * apart (NXDOMAIN, NODATA, SERVFAIL, REFUSED, TIMEOUT, null MX) so the
 * caller can decide between bouncing and retrying.  It is not a general
 * DNS library (no other record types, no DNSSEC) and keeps no cache: run a
 * caching resolver (unbound, systemd-resolved, dnsmasq) next to sluiced.
 *
 * Threading: everything here runs on the thread that owns the ring.  The
 * resolver only prepares SQEs; the worker's loop submits them and hands
 * each CQE to op_dispatch().
 *
 * Callbacks run on that thread from inside the CQE dispatch, or
 * synchronously from inside dns_resolve_*() when the answer needs no
 * network (an IP literal, a malformed name, out of memory, a resolver being
 * finished).  Data passed to a callback is valid only during the call.  A
 * callback may start new queries and cancel other pending ones; it must not
 * call dns_fini().
 *
 * struct dns lives in the caller's storage (embedded in the worker); its
 * fields are private to net/dns.c.
 */
#ifndef SLUICE_NET_DNS_H
#define SLUICE_NET_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/list.h"
#include "core/ring.h"

struct ares_channeldata;

/* Outcome of a lookup. */
enum dns_status {
	DNS_OK,		/* records found */
	DNS_NXDOMAIN,	/* the name does not exist (RCODE 3): permanent */
	DNS_NODATA,	/* the name exists, no records of that type */
	DNS_SERVFAIL,	/* the server failed (RCODE 2): temporary */
	DNS_REFUSED,	/* the server refused to answer (RCODE 5) */
	DNS_TIMEOUT,	/* no server answered (timed out or unreachable) */
	DNS_NULL_MX,	/* RFC 7505: the domain accepts no mail: permanent */
	DNS_BADNAME,	/* the name is malformed; nothing was sent */
	DNS_ERROR,	/* anything else: FORMERR/NOTIMP, bad answer, no memory */
};

/* One address; AF_INET uses the first 4 bytes of addr (network order). */
struct dns_addr {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* the address, network byte order */
};

/* One mail exchanger. */
struct dns_mx {
	uint16_t pref;		/* MX preference, lower first */
	const char *host;	/* exchange host name, no trailing dot */
};

/* At most this many addresses per family are returned. */
#define DNS_MAX_ADDRS	32

/*
 * A running lookup, as returned by dns_resolve_*(): valid until its
 * callback has started or dns_cancel() has been called on it.
 */
struct dns_query;

/*
 * The resolver of one worker.  Caller's storage; set up by dns_init(),
 * released by dns_fini(); private fields.
 */
struct dns {
	struct io_uring *ring;		/* the worker's ring; SQEs only */
	struct ares_channeldata *channel; /* the c-ares channel */
	struct list polls;		/* struct dns_poll: live and cancelling */
	struct op timer_op;		/* the channel's one IORING_OP_TIMEOUT */
	struct __kernel_timespec ts;	/* its absolute CLOCK_MONOTONIC
					 * deadline; read by the kernel when a
					 * TIMEOUT or its update is submitted */
	uint64_t timer_deadline;	/* ns deadline of the armed timeout */
	bool timer_armed;		/* a TIMEOUT is in flight (CQE pending) */
	bool closing;			/* in dns_fini: leave the ring alone */
	uint64_t rng;			/* xorshift state: shuffles MX ties */
	unsigned queries;		/* dns_query records alive */
	unsigned npolls;		/* dns_poll records alive (incl. cancelling) */
};

/*
 * The host's addresses: IPv4 first, then IPv6; n is 0 unless st is DNS_OK.
 */
typedef void dns_host_cb(void *arg, enum dns_status st,
			 const struct dns_addr *addrs, size_t n);

/*
 * The domain's mail exchangers, sorted by preference (equal preferences in
 * random order, RFC 5321 §5.1).  DNS_OK: n >= 1.  DNS_NODATA: the domain
 * exists without MX records, and mx[0] is the implicit MX {0, domain}
 * (n == 1), so the caller may go on with mx exactly as for DNS_OK.
 * DNS_NULL_MX: the domain publishes "MX 0 ." and accepts no mail (n == 0).
 * Any other status: n == 0.
 */
typedef void dns_mx_cb(void *arg, enum dns_status st,
		       const struct dns_mx *mx, size_t n);

/*
 * Set up d on ring.  servers: "127.0.0.1", "127.0.0.1:5353", "::1",
 * "[::1]:53"; NULL or nservers == 0 reads /etc/resolv.conf.  timeout_ms:
 * the first try's timeout per server (c-ares doubles it on each later
 * round); tries: rounds over the server list.  0 keeps resolv.conf's
 * options or c-ares' defaults (5 s, 4 tries).  Returns 0, -EINVAL (bad
 * server string), -ENOMEM or -EIO (c-ares failed), each failure logged;
 * after a failure d needs no dns_fini().  Owning thread; nothing is
 * submitted yet.
 */
int dns_init(struct dns *d, struct io_uring *ring,
	     const char *const *servers, size_t nservers,
	     unsigned timeout_ms, unsigned tries);

/*
 * Release d.  Queries still pending get their callback with DNS_ERROR (a
 * resolve started from it fails at once with DNS_ERROR).  Call only when
 * no more CQEs will be dispatched for this ring (worker teardown, before or
 * after io_uring_queue_exit): the ops still in flight are freed without
 * waiting for their CQEs, and nothing is submitted.
 */
void dns_fini(struct dns *d);

/*
 * Look up name's A and AAAA records (both, in parallel); cb(arg, ...) gets
 * them merged, IPv4 first:
 *   DNS_OK        either family has addresses; the other family's failure,
 *                 even a timeout, is then ignored;
 *   DNS_NXDOMAIN  an answer says the name does not exist and none says
 *                 it exists;
 *   DNS_NODATA    both answered without records;
 *   otherwise     the failure (SERVFAIL, REFUSED, TIMEOUT, ERROR) of a
 *                 family that did not answer, IPv4's first: retry later.
 * An IP literal ("192.0.2.1", "2001:db8::1", or the SMTP forms
 * "[192.0.2.1]" and "[IPv6:2001:db8::1]") is answered synchronously without
 * DNS, and so is a malformed name (DNS_BADNAME: letters, digits, '-', '_'
 * in labels of 1..63 octets, 253 in all, one trailing dot allowed).
 * Returns the query, or NULL when cb has already run: be ready for cb to
 * run before this returns.  Owning thread.
 */
struct dns_query *dns_resolve_host(struct dns *d, const char *name,
				   dns_host_cb *cb, void *arg);

/*
 * Look up domain's MX records; see dns_mx_cb for the answers.  A null MX
 * published next to real MX records is ignored (RFC 7505 §3 forbids the
 * mix).  Exchange names are passed as published: resolving them with
 * dns_resolve_host() validates them.  An SMTP address literal
 * ("[192.0.2.1]") is answered synchronously with DNS_NODATA and the
 * implicit MX {0, literal}: no MX lookup is made for a literal (RFC 5321
 * §5.1).  Returns the query, or NULL when cb has already run.  Owning
 * thread.
 */
struct dns_query *dns_resolve_mx(struct dns *d, const char *domain,
				 dns_mx_cb *cb, void *arg);

/*
 * Detach the caller from a pending query: its callback will never run and
 * q must not be used again.  The lookup itself finishes (or times out)
 * inside c-ares and its memory is released then.  q must be pending (its
 * callback not yet started) or NULL (a no-op, so the NULL returned for an
 * answer delivered synchronously can be passed as is).  A caller keeping
 * the handle forgets it when its callback runs.  Owning thread.
 */
void dns_cancel(struct dns *d, struct dns_query *q);

/* Lookups started and not yet finished inside c-ares (incl. cancelled). */
unsigned dns_pending(const struct dns *d);

/* "ok", "nxdomain", "nodata", "servfail", "refused", "timeout", "null-mx",
 * "badname", "error"; stable strings for logs and stats keys. */
const char *dns_status_str(enum dns_status st);

#endif
