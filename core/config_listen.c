/*
 * config_listen — the inbound side of the configuration: the addresses
 * sluiced listens on (listen, each with require_tls and, behind a load
 * balancer, proxy_protocol and the balancers it trusts, proxy_from), who
 * may relay (trusted_networks), the session limits (limits, with
 * client_exempt), and the certificate inbound STARTTLS presents (tls).
 * Also answers, for a loaded config, whether an address is inside a list
 * of networks: trusted, exempt from the per-client limits, a balancer.
 *
 * Not for: binding the sockets (net/smtp_server.c, listener_open) or
 * enforcing the limits (net/smtp_server.c, net/anvil.c).  Loading: main
 * thread; the lookups: any thread that may read the config.
 */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ------------------------------------------------------------------------ */
/* listen.                                                                  */

static int net_list(struct cfg_loader *ld, yaml_node_t *v, struct cfg_net **out,
		    size_t *nout);

int
cfg_sockaddr(struct cfg_loader *ld, yaml_node_t *v, const char *key, const char *ex,
	     struct sockaddr_storage *ss, socklen_t *len)
{
	struct cfg_hostport hp;
	struct cfg_qbuf q;

	if (!is_scalar(v))
		return cfg_fail(ld, v, "%s: expected an IP address and port like "
				"127.0.0.1:%s or [::1]:%s, got %s", key, ex, ex,
				cfg_describe(&q, v));
	switch (cfg_parse_hostport(sval(v), slen(v), 0, false, &hp)) {
	case CFG_HP_OK:
		break;
	case CFG_HP_V6_BARE:
		return cfg_fail(ld, v, "%s: expected an IPv6 address in brackets "
				"like [::1]:%s, got %s", key, ex, cfg_describe(&q, v));
	case CFG_HP_PORT:
		return cfg_fail(ld, v, "%s: expected a port from 1 to 65535, got %s", key,
				cfg_describe(&q, v));
	default:
		return cfg_fail(ld, v, "%s: expected an IP address and port like "
				"127.0.0.1:%s or [::1]:%s, got %s", key, ex, ex,
				cfg_describe(&q, v));
	}
	memset(ss, 0, sizeof(*ss));
	if (hp.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(hp.port);
		memcpy(&sin->sin_addr, hp.addr, 4);
		*len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(hp.port);
		memcpy(&sin6->sin6_addr, hp.addr, 16);
		*len = sizeof(*sin6);
	}
	return 0;
}

static int
listener_address(struct cfg_loader *ld, yaml_node_t *v, struct cfg_listener *l)
{
	int rc = cfg_sockaddr(ld, v, "listen", "2525", &l->addr, &l->addrlen);

	if (rc < 0)
		return rc;
	l->text = cfg_strndup(ld->ix, sval(v), slen(v));
	return l->text ? 0 : cfg_nomem(ld);
}

static int
f_listen_address(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	return listener_address(ld, v, base);
}

/* listen: {proxy_from}: the load balancers that may send a PROXY header */
static int
f_proxy_from(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	struct cfg_listener *l = base;

	ld->ctx = "listen.proxy_from";
	return net_list(ld, v, &l->proxy_from, &l->nproxy_from);
}

/* One listener given as a mapping. */
static int
listener_map(struct cfg_loader *ld, yaml_node_t *e, struct cfg_listener *l)
{
	static const struct cfg_field fields[] = {
		{ "address", f_listen_address, 0, 0, 0, NULL },
		{ "require_tls", cfg_f_bool, offsetof(struct cfg_listener, require_tls),
		  0, 0, NULL },
		{ "proxy_protocol", cfg_f_bool,
		  offsetof(struct cfg_listener, proxy_protocol), 0, 0, NULL },
		{ "proxy_from", f_proxy_from, 0, 0, 0, NULL },
	};
	int rc = cfg_load_map(ld, e, fields, CFG_NFIELDS(fields), l, "listen", "in listen");

	if (rc < 0)
		return rc;
	if (l->text == NULL)
		return cfg_fail(ld, e, "listen: expected an address like 127.0.0.1:2525 "
				"in each item");
	/* without it anyone who reaches the port could name any client */
	if (l->proxy_protocol && l->nproxy_from == 0)
		return cfg_fail(ld, e, "listen %s: proxy_protocol: true needs proxy_from, "
				"the addresses or networks of the load balancers that "
				"may send the PROXY header", l->text);
	return 0;
}

int
cfg_f_listen(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
	struct config *cfg = ld->cfg;
	struct cfg_list list;
	struct cfg_qbuf q;
	size_t *lines;
	int rc;

	ld->listen = v;
	if ((rc = cfg_list_open(ld, v, "a list of addresses", &list)) < 0)
		return rc;
	if (list.n == 0)
		return 0;	/* "at least one" is checked at the end */
	cfg->listeners = calloc(list.n, sizeof(*cfg->listeners));
	lines = calloc(list.n, sizeof(*lines));
	if (cfg->listeners == NULL || lines == NULL) {
		free(lines);
		return cfg_nomem(ld);
	}
	for (size_t i = 0; i < list.n && rc == 0; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);
		struct cfg_listener *l = &cfg->listeners[i];

		if (e == NULL) {
			rc = -EINVAL;
			break;
		}
		cfg->nlisteners = i + 1;	/* config_free frees its proxy_from */
		if (e->type == YAML_MAPPING_NODE)
			rc = listener_map(ld, e, l);
		else
			rc = listener_address(ld, e, l);
		if (rc < 0)
			break;
		lines[i] = cfg_line(e);
		for (size_t j = 0; j < i; j++) {
			if (cfg->listeners[j].addrlen == l->addrlen &&
			    memcmp(&cfg->listeners[j].addr, &l->addr, l->addrlen) == 0) {
				rc = cfg_fail(ld, e, "listen: duplicate address %s (first "
					      "at line %zu)",
					      cfg_quote(&q, l->text, strlen(l->text)), lines[j]);
				break;
			}
		}
	}
	free(lines);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* trusted_networks, limits (with client_exempt), tls.                      */

static void
mask_prefix(uint8_t *addr, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bits = prefix >= 8 * (i + 1) ? 8 :
				prefix <= 8 * i ? 0 : prefix - 8 * (unsigned)i;

		addr[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static int
net_item(struct cfg_loader *ld, yaml_node_t *v, struct cfg_net *net)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const char *slash;
	uint8_t masked[16];
	uint64_t prefix;
	struct cfg_qbuf q;
	size_t bytes;

	if (!is_scalar(v))
		goto bad;
	slash = memchr(sval(v), '/', slen(v));
	net->family = cfg_parse_ip(sval(v), slash ? (size_t)(slash - sval(v)) : slen(v),
				   net->addr);
	if (net->family == 0)
		goto bad;
	bytes = net->family == AF_INET ? 4 : 16;
	prefix = 8 * bytes;
	if (slash) {
		size_t plen = slen(v) - (size_t)(slash + 1 - sval(v));

		if (cfg_parse_u64(slash + 1, plen, &prefix) < 0 || prefix > 8 * bytes)
			return cfg_fail(ld, v, "%s: expected a prefix length from 0 "
					"to %zu, got %s", ld->ctx, 8 * bytes,
					cfg_describe(&q, v));
	}
	net->prefix = (uint8_t)prefix;
	memcpy(masked, net->addr, bytes);
	mask_prefix(masked, bytes, net->prefix);
	if (memcmp(masked, net->addr, bytes) != 0) {
		char txt[INET6_ADDRSTRLEN];

		inet_ntop(net->family, masked, txt, sizeof(txt));
		return cfg_fail(ld, v, "%s: host bits set in %s, expected "
				"'%s/%u'", ld->ctx, cfg_describe(&q, v), txt, net->prefix);
	}
	/* ::ffff:a.b.c.d/96+ is an IPv4 network: keep it as one. */
	if (net->family == AF_INET6 && net->prefix >= 96 &&
	    memcmp(net->addr, mapped, 12) == 0) {
		memmove(net->addr, net->addr + 12, 4);
		memset(net->addr + 4, 0, 12);
		net->family = AF_INET;
		net->prefix -= 96;
	}
	return 0;
bad:
	return cfg_fail(ld, v, "%s: expected an IP address or network "
			"like 10.0.0.0/8 or ::1/128, got %s", ld->ctx, cfg_describe(&q, v));
}

/* A list of networks (a single scalar is a one-item list) into *out. */
static int
net_list(struct cfg_loader *ld, yaml_node_t *v, struct cfg_net **out, size_t *nout)
{
	struct cfg_list list;
	int rc;

	if ((rc = cfg_list_open(ld, v, "a list of networks", &list)) < 0)
		return rc;
	if (list.n == 0)
		return 0;
	*out = calloc(list.n, sizeof(**out));
	if (*out == NULL)
		return cfg_nomem(ld);
	for (size_t i = 0; i < list.n; i++) {
		yaml_node_t *e = cfg_list_item(ld, &list, i);

		if (e == NULL)
			return -EINVAL;
		rc = net_item(ld, e, &(*out)[i]);
		if (rc < 0)
			return rc;
		*nout = i + 1;
	}
	return 0;
}

int
cfg_f_trusted(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	      void *base)
{
	return net_list(ld, v, &ld->cfg->trusted, &ld->cfg->ntrusted);
}

/* limits.client_exempt: [] exempts nobody, so it is "set" even when empty */
static int
f_client_exempt(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		void *base)
{
	ld->cfg->client_exempt_set = true;
	ld->ctx = "limits.client_exempt";
	return net_list(ld, v, &ld->cfg->client_exempt, &ld->cfg->nclient_exempt);
}

int
cfg_f_limits(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	     void *base)
{
#define L(m)	offsetof(struct cfg_limits, m)
	static const struct cfg_field fields[] = {
		{ "message_size", cfg_f_size, L(message_size), 1, 2 * GIB, NULL },
		{ "recipients", cfg_f_u32, L(recipients), 1, 100000, NULL },
		{ "hops", cfg_f_u32, L(hops), 1, 1000, "a number of Received: headers" },
		{ "errors", cfg_f_u32, L(errors), 1, 10000, NULL },
		{ "command_line", cfg_f_u32, L(command_line), 512, 65536, NULL },
		{ "text_line", cfg_f_u32, L(text_line), 1000, 1048576, NULL },
		{ "idle_timeout", cfg_f_duration, L(idle_timeout), 1, DAY, NULL },
		{ "data_timeout", cfg_f_duration, L(data_timeout), 1, DAY, NULL },
		{ "send_timeout", cfg_f_duration, L(send_timeout), 1, DAY, NULL },
		{ "drain_timeout", cfg_f_duration, L(drain_timeout), 0, DAY, NULL },
		{ "proxy_timeout", cfg_f_duration, L(proxy_timeout), 1, 5 * MINUTE, NULL },
		{ "max_sessions", cfg_f_u32, L(max_sessions), 1, 1000000, NULL },
		{ "client_sessions", cfg_f_u32, L(client_sessions), 0, 1000000, NULL },
		{ "client_rate", cfg_f_u32, L(client_rate), 0, 100000000,
		  "connections per minute" },
		{ "client_exempt", f_client_exempt, 0, 0, 0, NULL },
		{ "data_total", cfg_f_duration, L(data_total), 1, DAY, NULL },
		{ "data_min_rate", cfg_f_u32, L(data_min_rate), 0, 1u << 30,
		  "bytes per second" },
		{ "data_memory", cfg_f_size, L(data_memory), 1 * MIB, 64 * GIB, NULL },
		{ "data_spill", cfg_f_size, L(data_spill), 4 * KIB, 1 * GIB, NULL },
	};
#undef L
	return cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), &ld->cfg->limits,
			    "limits", "in limits");
}

void
cfg_limits_defaults(struct cfg_limits *l)
{
	*l = (struct cfg_limits){
		.message_size = 10 * MIB,
		.recipients = 500,
		.hops = 50,
		.errors = 10,
		.command_line = 512,
		.text_line = 1000,
		.idle_timeout = 300,
		.data_timeout = 180,
		.send_timeout = 60,
		.drain_timeout = 10,
		.proxy_timeout = 5,
		.max_sessions = 20000,
		.client_sessions = 50,
		.client_rate = 600,
		.data_total = 3600,
		.data_min_rate = 500,
		.data_memory = 32 * MIB,
		.data_spill = 256 * KIB,
	};
}

/* tls: {cert, key, min_version, ciphers, ciphersuites, ticket_key_file}:
 * what inbound STARTTLS presents and accepts */
int
cfg_f_tls_server(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
#define T(m)	offsetof(struct config, m)
	static const struct cfg_field fields[] = {
		{ "cert", cfg_f_path, T(tls_cert), 0, 0, NULL },
		{ "key", cfg_f_path, T(tls_key), 0, 0, NULL },
		{ "min_version", cfg_f_tls_version, T(tls_proto.min_version), 0, 0, NULL },
		{ "ciphers", cfg_f_tls_ciphers, T(tls_proto.ciphers), 0, 0, NULL },
		{ "ciphersuites", cfg_f_tls_suites, T(tls_proto.ciphersuites), 0, 0, NULL },
		{ "ticket_key_file", cfg_f_path, T(tls_ticket_key), 0, 0, NULL },
	};
#undef T
	int rc = cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), ld->cfg, "tls", "in tls");

	if (rc == 0 && (ld->cfg->tls_cert == NULL || ld->cfg->tls_key == NULL))
		return cfg_fail(ld, v, "tls: expected both cert and key");
	return rc;
}

/* ------------------------------------------------------------------------ */
/* Lookups.                                                                 */

/* addr (bytes of the given family) inside net? */
static bool
net_contains(const struct cfg_net *net, int family, const uint8_t *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != family)
		return false;
	if (memcmp(net->addr, addr, full) != 0)
		return false;
	return rest == 0 ||
	       ((net->addr[full] ^ addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

bool
config_nets_contain(const struct cfg_net *nets, size_t n, const struct sockaddr *addr)
{
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (nets == NULL || addr == NULL)
		return false;
	if (addr->sa_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
	} else if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;

		v6 = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			v4 = v6 + 12;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_net *net = &nets[i];

		if ((v4 && net_contains(net, AF_INET, v4)) ||
		    (v6 && net_contains(net, AF_INET6, v6)))
			return true;
	}
	return false;
}

bool
config_is_trusted(const struct config *cfg, const struct sockaddr *addr)
{
	return cfg != NULL && config_nets_contain(cfg->trusted, cfg->ntrusted, addr);
}

bool
config_client_exempt(const struct config *cfg, const struct sockaddr *addr)
{
	if (cfg == NULL)
		return false;
	if (!cfg->client_exempt_set)
		return config_is_trusted(cfg, addr);
	return config_nets_contain(cfg->client_exempt, cfg->nclient_exempt, addr);
}
