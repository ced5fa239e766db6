/*
 * config_http — the HTTP admin listener's section:
 *
 *   http:
 *     listen: "127.0.0.1:8025"     # default when the section is there
 *     token_file: /etc/sluice/http.token
 *     write: false                 # POST actions (need token_file)
 *     read_token: false            # GETs need the token too (need token_file)
 *     max_connections: 32
 *     static_dir: /usr/share/sluice/www
 *
 * Without the section there is no listener.  Only the text is checked
 * here; the token file is read (as root, before the privileges are
 * dropped) by core/http/http.c, which `sluiced -t` also asks to check it.
 * Loading: main thread.
 */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <string.h>

#define HTTP_DEFAULT_LISTEN "127.0.0.1:8025"

static int
f_http_listen(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
	struct cfg_http *h = base;
	int rc = cfg_sockaddr(ld, v, "http: listen", "8025", &h->addr, &h->addrlen);

	if (rc < 0)
		return rc;
	h->listen = cfg_strndup(ld->ix, sval(v), slen(v));
	return h->listen ? 0 : cfg_nomem(ld);
}

/* http: {listen, token_file, write, read_token, max_connections, static_dir} */
int
cfg_f_http(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v, void *base)
{
#define H(m)	offsetof(struct cfg_http, m)
	static const struct cfg_field fields[] = {
		{ "listen", f_http_listen, 0, 0, 0, NULL },
		{ "token_file", cfg_f_path, H(token_file), 0, 0, NULL },
		{ "write", cfg_f_bool, H(write), 0, 0, NULL },
		{ "read_token", cfg_f_bool, H(read_token), 0, 0, NULL },
		{ "max_connections", cfg_f_u32, H(max_connections), 1, 1024, NULL },
		{ "static_dir", cfg_f_path, H(static_dir), 0, 0, NULL },
	};
#undef H
	struct cfg_http *h = &ld->cfg->http;
	yaml_node_t *k;
	int rc;

	if (is_scalar(v) && slen(v) == 0)
		return cfg_fail(ld, v, "http: expected a mapping like {listen: "
				"\"" HTTP_DEFAULT_LISTEN "\"}, got nothing");
	rc = cfg_load_map(ld, v, fields, CFG_NFIELDS(fields), h, NULL, "in http");
	if (rc < 0)
		return rc;
	h->enabled = true;
	if (h->listen == NULL) {
		struct cfg_hostport hp;
		struct sockaddr_in *sin = (struct sockaddr_in *)&h->addr;

		cfg_parse_hostport(HTTP_DEFAULT_LISTEN, strlen(HTTP_DEFAULT_LISTEN), 0, false,
				   &hp);
		memset(&h->addr, 0, sizeof(h->addr));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(hp.port);
		memcpy(&sin->sin_addr, hp.addr, 4);
		h->addrlen = sizeof(*sin);
		h->listen = cfg_strndup(ld->ix, HTTP_DEFAULT_LISTEN, strlen(HTTP_DEFAULT_LISTEN));
		if (h->listen == NULL)
			return cfg_nomem(ld);
	}
	if (h->token_file == NULL) {
		if (h->write && (k = cfg_map_key(ld, v, "write", NULL)) != NULL)
			return cfg_fail(ld, k, "http: write: true needs a token_file (a POST "
					"must carry Authorization: Bearer with its token)");
		if (h->read_token && (k = cfg_map_key(ld, v, "read_token", NULL)) != NULL)
			return cfg_fail(ld, k, "http: read_token: true needs a token_file");
	}
	return 0;
}

void
cfg_http_defaults(struct cfg_http *h)
{
	memset(h, 0, sizeof(*h));
	h->max_connections = 32;
	h->static_dir = (char *)HTTP_STATIC_DIR;
}
