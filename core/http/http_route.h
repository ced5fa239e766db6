/*
 * http_route — what an HTTP request to the admin listener asks for, as
 * pure logic: the route table (path and method to a control command, or
 * /metrics, the history, a static file), the query and JSON body checked
 * and turned into control words, the bearer token and the cross-site
 * checks, and the HTTP status of a control command's error.
 *
 * The API answers by running control commands (core/ctl/ctl.h), so a
 * request's values become words of a control line: each must be printable
 * ASCII without blanks (what the control parser accepts, one word each),
 * at most HTTP_WORD_MAX bytes, and must not begin with '-' (no value may
 * pass for an option); anything else is a 400 that names the parameter,
 * never a word the control parser would split or misread.
 *
 * Pure: no I/O, no global state; the caller owns every buffer.  Any
 * thread.  Unit-tested in tests/unit/core/http/http_route_test.c.
 */
#ifndef SLUICE_CORE_HTTP_HTTP_ROUTE_H
#define SLUICE_CORE_HTTP_HTTP_ROUTE_H

#include <stdbool.h>
#include <stddef.h>

#define HTTP_WORD_MAX 255	/* bytes of one value */
#define HTTP_LINE_MAX 4096	/* a control line (CTL_LINE_MAX) */
#define HTTP_QUEUE_LIMIT 1000	/* show queue rows when no limit is given */
#define HTTP_QUEUE_LIMIT_MAX 100000	/* and at most */

/* What a request is answered with. */
enum http_kind {
	HTTP_R_ERROR,		/* status with the message in text */
	HTTP_R_CTL,		/* the control command in text, its JSON */
	HTTP_R_METRICS,		/* show metrics, Prometheus text */
	HTTP_R_HISTORY,		/* the per-minute history (http_hist.h) */
	HTTP_R_STATIC,		/* a file of static_dir: its path in text */
};

/* A query parameter, percent-decoded (it may hold any byte, NUL too). */
struct http_arg {
	const char *key;		/* its name */
	size_t klen;			/* bytes */
	const char *val;		/* its value, NULL for a bare key */
	size_t vlen;			/* bytes */
};

/* A request as the listener received it. */
struct http_req {
	const char *method;		/* "GET", "POST", ... */
	const char *path;		/* decoded, without the query */
	const struct http_arg *args;	/* the query */
	size_t nargs;			/* its parameters */
	const char *body;		/* a POST's body, or NULL */
	size_t bodylen;			/* its bytes */
};

/* The answer to give. */
struct http_route {
	enum http_kind kind;		/* what */
	int status;			/* HTTP_R_ERROR: 400, 404, 405, 413 */
	const char *allow;		/* 405: the methods the path takes */
	bool changes;			/* a POST action: write, token and the
					   cross-site checks apply */
	bool api;			/* /api/ or /metrics: read_token applies */
	int timeout_ms;			/* HTTP_R_CTL: how long it may take */
	char text[HTTP_LINE_MAX];	/* the command, the message, the path */
};

/* Route rq into *out (always filled in).  Returns out->kind. */
enum http_kind http_route(const struct http_req *rq, struct http_route *out);

/*
 * Does the Authorization header value auth (NULL: none) say "Bearer
 * TOKEN" with token[0..toklen)?  The scheme is case-insensitive; the
 * comparison takes the same time whatever bytes differ.
 */
bool http_bearer_ok(const char *auth, const char *token, size_t toklen);

/* a[0..alen) equals b[0..blen), in time that depends on the lengths only. */
bool http_token_eq(const char *a, size_t alen, const char *b, size_t blen);

/*
 * Is a request cross-site?  NULL when not; else why, for the 403.  A
 * Sec-Fetch-Site of cross-site or same-site, an Origin "null", or an
 * Origin other than http(s)://HOST (the request's Host header) is; no
 * Origin and no Sec-Fetch-Site (curl, scripts) is not.
 */
const char *http_cross_site(const char *origin, const char *fetch_site, const char *host);

/* The HTTP status of a control command's error text: 404 for what does
 * not exist (a connector, a message, a domain, a command), 409 for a
 * state that refuses it, 504 for a worker that did not answer, else 400. */
int http_ctl_status(const char *error);

/* The Content-Type of a static file by its name's extension. */
const char *http_mime(const char *path);

#endif
