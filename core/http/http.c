/*
 * http — the admin listener: libmicrohttpd's daemon and its request
 * handler, the checks every request goes through, the answers (JSON from
 * the control socket, the metrics, the history, files), and the thread
 * that samples the history.
 *
 * Not for: which request means what (core/http/http_route.c, pure) or
 * how the history adds up (core/http/http_hist.c, pure).
 *
 * Threads: libmicrohttpd's listening thread accepts; each connection has
 * its own thread (MHD_USE_THREAD_PER_CONNECTION), which may block on the
 * control socket, at most HTTP_CTL_CALLS at once so that sluicectl always
 * finds a free control connection.  The sampler is one more thread.  What
 * they share: the settings (written by http_open before any thread runs,
 * read only after), the history (a mutex), the counters (atomics).
 *
 * Limits, so that no client can take the daemon or the listener down:
 * max_connections at once (a connection over it is closed at once by
 * libmicrohttpd), HTTP_IDLE_S of silence and a connection is closed (a
 * slow client holds a thread that long at most), HTTP_HEAD_MAX bytes of
 * request head (libmicrohttpd answers 413/431 beyond), HTTP_BODY_MAX
 * bytes of body (413), HTTP_ANSWER_MAX bytes of a control answer.
 */
#include "core/http/http.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/ctl/ctl_client.h"
#include "core/http/http_hist.h"
#include "core/http/http_route.h"
#include "core/http/http_static.h"
#include "core/log.h"
#include "core/strb.h"
#include "core/xalloc.h"

#define HTTP_IDLE_S 10			/* s a connection may be silent */
#define HTTP_HEAD_MAX (32u << 10)	/* bytes of a request's head */
#define HTTP_BODY_MAX (16u << 10)	/* bytes of a POST's body */
#define HTTP_ANSWER_MAX (64u << 20)	/* bytes of a control answer */
#define HTTP_CTL_CALLS 8		/* control connections at once */
#define HTTP_CTL_WAIT_S 10		/* s a request waits for one */
#define HTTP_ARGS_MAX 16		/* query parameters */
#define HTTP_TOKEN_MIN 16		/* bytes of a token, at least */
#define HTTP_TOKEN_MAX 1024		/* and at most */

/* The listener, set up by http_open (main thread, before any of its
 * threads), read-only afterwards. */
static struct {
	int fd;				/* listening socket, -1 none */
	int dirfd;			/* static_dir, -1 none */
	char listen[64];		/* address as configured */
	char static_dir[1024];		/* for the log */
	char sock[108];			/* the control socket */
	char token[HTTP_TOKEN_MAX + 1];	/* bearer token, "" none */
	size_t toklen;			/* its length */
	bool write;			/* POST actions allowed */
	bool read_token;		/* GETs need the token */
	unsigned max_conns;		/* connections at once */
	struct MHD_Daemon *mhd;		/* the server, once started */
	sem_t calls;			/* free control connections */
	pthread_t sampler;		/* the history's thread */
	bool sampling;			/* it runs */
} H = { .fd = -1, .dirfd = -1 };

/* The history and the sampler's stop. */
static pthread_mutex_t hist_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t hist_cv = PTHREAD_COND_INITIALIZER;
static struct http_hist hist;		/* under hist_mu */
static bool hist_stop;			/* under hist_mu */

/* Answers by status class (2xx, 4xx, 5xx: [2], [4], [5]). */
static atomic_ullong answered[6];

/* ---- the token ------------------------------------------------------ */

/* Read the token: the first line of path, blanks at its end dropped. */
static int
token_read(const char *path, char *out, size_t *outlen, char *err, size_t errlen)
{
	char buf[HTTP_TOKEN_MAX + 64];
	struct stat st;
	ssize_t n;
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY), rc;

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "http: token_file %s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "http: token_file %s: not a regular file", path);
		return -EINVAL;
	}
	if (st.st_mode & S_IROTH) {
		close(fd);
		snprintf(err, errlen, "http: token_file %s is readable by every user (mode "
			 "%04o): chmod o-r %s (root:sluice 0640, or 0600)", path,
			 (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (n < 0) {
		snprintf(err, errlen, "http: token_file %s: %s", path, strerror(-rc));
		return rc;
	}
	buf[n] = '\0';
	len = strcspn(buf, "\r\n");
	while (len > 0 && (buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			snprintf(err, errlen, "http: token_file %s: the token must be printable "
				 "ASCII without blanks", path);
			return -EINVAL;
		}
	if (len < HTTP_TOKEN_MIN || len > HTTP_TOKEN_MAX) {
		snprintf(err, errlen, "http: token_file %s: expected a token of %d to %d "
			 "characters on its first line, found %zu (make one with: openssl rand "
			 "-hex 32)", path, HTTP_TOKEN_MIN, HTTP_TOKEN_MAX, len);
		return -EINVAL;
	}
	memcpy(out, buf, len);
	out[len] = '\0';
	*outlen = len;
	return 0;
}

int
http_check(const struct config *cfg, char *err, size_t errlen)
{
	char tok[HTTP_TOKEN_MAX + 1];
	size_t len;

	if (!cfg->http.enabled || cfg->http.token_file == NULL)
		return 0;
	return token_read(cfg->http.token_file, tok, &len, err, errlen);
}

/* ---- answers -------------------------------------------------------- */

/* j (consumed) as compact JSON and a line end, malloc()ed; if j is NULL
 * (a jansson call failed) or cannot be dumped, an {"error": ...} of its
 * own, so an answer is whole JSON or an error, never half. */
static char *
json_text(json_t *j, size_t *len)
{
	char *s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	json_decref(j);
	if (s == NULL) {
		json_t *e = json_pack("{s:s}", "error", "the answer could not be built "
				      "(out of memory)");
		s = e != NULL ? json_dumps(e, JSON_COMPACT) : NULL;
		json_decref(e);
		if (s == NULL)
			s = xstrdup("");
	}
	*len = strlen(s);
	s = xrealloc(s, *len + 2);
	s[(*len)++] = '\n';
	s[*len] = '\0';
	return s;
}

/* Send status with body (malloc()ed, taken) of type. */
static enum MHD_Result
answer(struct MHD_Connection *c, unsigned status, char *body, size_t len, const char *type,
       const char *allow)
{
	struct MHD_Response *rs =
		MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	enum MHD_Result r;

	if (rs == NULL) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(rs, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(rs, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(rs, "X-Content-Type-Options", "nosniff");
	if (allow != NULL)
		MHD_add_response_header(rs, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == 401)
		MHD_add_response_header(rs, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	r = MHD_queue_response(c, status, rs);
	MHD_destroy_response(rs);
	atomic_fetch_add(&answered[status / 100 % 6], 1);
	return r;
}

/* {"error": msg} with status. */
static enum MHD_Result
answer_error(struct MHD_Connection *c, unsigned status, const char *msg, const char *allow)
{
	size_t len;
	char *s = json_text(json_pack("{s:o}", "error", log_json_s(msg)), &len);

	return answer(c, status, s, len, "application/json", allow);
}

/* ---- the control socket --------------------------------------------- */

/* Run line on the control socket into out (appended), waiting for a free
 * control connection first.  0, or an HTTP status (503, 504) with the
 * reason in err. */
static unsigned
ctl_call(const char *line, int timeout_ms, struct buf *out, char *err, size_t errlen)
{
	struct timespec until;
	int rc;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HTTP_CTL_WAIT_S;
	while ((rc = sem_timedwait(&H.calls, &until)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		snprintf(err, errlen, "busy: %d control requests under way for %d s; try again",
			 HTTP_CTL_CALLS, HTTP_CTL_WAIT_S);
		return 503;
	}
	rc = ctl_client_call(H.sock, line, timeout_ms, HTTP_ANSWER_MAX, out, err, errlen);
	sem_post(&H.calls);
	if (rc == -ETIMEDOUT)
		return 504;
	return rc < 0 ? (rc == -EMSGSIZE ? 500 : 503) : 0;
}

/* The answer of a control command, as JSON: its error, or the answer. */
static enum MHD_Result
answer_ctl(struct MHD_Connection *c, const struct http_route *rt)
{
	struct buf out = { 0 };
	char err[512];
	unsigned st = ctl_call(rt->text, rt->timeout_ms, &out, err, sizeof(err));
	size_t first;
	char *e;

	if (st != 0) {
		buf_free(&out);
		log_warn("http: %s: %s", LOG_TEXT(rt->text), LOG_TEXT(err));
		return answer_error(c, st, err, NULL);
	}
	first = out.len;
	if (out.len > 0 && memchr(out.p, '\n', out.len) != NULL)
		first = (size_t)((char *)memchr(out.p, '\n', out.len) - out.p);
	if ((e = ctl_client_error(out.p, first)) != NULL) {
		int status = http_ctl_status(e);
		enum MHD_Result r;
		if (status == 404 && strncmp(e, "unknown command", 15) == 0)
			r = answer_error(c, 404, "not available: this sluiced has no such "
					 "command (message trace comes with sluicectl trace)", NULL);
		else
			r = answer_error(c, (unsigned)status, e, NULL);
		free(e);
		buf_free(&out);
		return r;
	}
	buf_append(&out, "", 1);
	return answer(c, 200, out.p, out.len - 1, "application/json", NULL);
}

/* show metrics, and the listener's own counters after it. */
static enum MHD_Result
answer_metrics(struct MHD_Connection *c)
{
	static const char *const cls[6] = { "", "", "2xx", "", "4xx", "5xx" };
	struct buf out = { 0 };
	char err[512];
	unsigned st = ctl_call("show metrics", 30000, &out, err, sizeof(err));
	char *e;

	if (st == 0 && (e = ctl_client_error(out.p, out.len)) != NULL) {
		snprintf(err, sizeof(err), "%s", e);
		free(e);
		st = 500;
	}
	if (st != 0) {
		buf_free(&out);
		return answer_error(c, st, err, NULL);
	}
	buf_puts(&out, "# HELP sluice_http_responses_total Answers of the HTTP admin "
		 "listener, by status class.\n# TYPE sluice_http_responses_total counter\n");
	for (int k = 2; k < 6; k++)
		if (cls[k][0] != '\0')
			buf_printf(&out, "sluice_http_responses_total{code=\"%s\"} %llu\n",
				   cls[k], (unsigned long long)atomic_load(&answered[k]));
	buf_append(&out, "", 1);
	return answer(c, 200, out.p, out.len - 1, "text/plain; version=0.0.4; charset=utf-8",
		      NULL);
}

static enum MHD_Result
answer_history(struct MHD_Connection *c)
{
	json_t *j;
	size_t len;
	char *s;

	pthread_mutex_lock(&hist_mu);
	j = http_hist_json(&hist, time(NULL));
	pthread_mutex_unlock(&hist_mu);
	s = json_text(j, &len);
	return answer(c, 200, s, len, "application/json", NULL);
}

/* A file of static_dir, else the built-in one, else 404. */
static enum MHD_Result
answer_static(struct MHD_Connection *c, const char *path)
{
	const struct http_file *bf;
	struct MHD_Response *rs;
	struct stat st;
	enum MHD_Result r;
	int fd = H.dirfd >= 0 ? openat(H.dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY) : -1;

	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if ((bf = http_builtin(path)) == NULL)
			return answer_error(c, 404, "not found", NULL);
		rs = MHD_create_response_from_buffer(bf->len, (void *)bf->data,
						     MHD_RESPMEM_PERSISTENT);
	} else {
		rs = MHD_create_response_from_fd((size_t)st.st_size, fd);	/* takes fd */
		if (rs == NULL)
			close(fd);
	}
	if (rs == NULL)
		return MHD_NO;
	MHD_add_response_header(rs, MHD_HTTP_HEADER_CONTENT_TYPE,
				fd < 0 ? bf->type : http_mime(path));
	MHD_add_response_header(rs, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(rs, "X-Frame-Options", "DENY");
	MHD_add_response_header(rs, "Content-Security-Policy",
				"default-src 'self'; frame-ancestors 'none'");
	MHD_add_response_header(rs, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	r = MHD_queue_response(c, MHD_HTTP_OK, rs);
	MHD_destroy_response(rs);
	atomic_fetch_add(&answered[2], 1);
	return r;
}

/* ---- requests ------------------------------------------------------- */

/* One request's state, from its head to its answer. */
struct hreq {
	struct buf body;		/* a POST's body so far */
	bool too_big;			/* over HTTP_BODY_MAX: 413 */
	struct http_arg args[HTTP_ARGS_MAX];	/* the query */
	size_t nargs;			/* its parameters */
	bool too_many;			/* over HTTP_ARGS_MAX */
};

static enum MHD_Result
on_arg(void *cls, enum MHD_ValueKind kind, const char *key, size_t klen, const char *val,
       size_t vlen)
{
	struct hreq *h = cls;

	if (h->nargs == HTTP_ARGS_MAX) {
		h->too_many = true;
		return MHD_NO;
	}
	h->args[h->nargs++] = (struct http_arg){ key, klen, val, vlen };
	return MHD_YES;
}

/* The client's address for the log. */
static const char *
peer(struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	char a[64] = "?";

	if (ci != NULL && ci->client_addr != NULL) {
		const struct sockaddr *sa = ci->client_addr;
		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
				  a, sizeof(a));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, a,
				  sizeof(a));
	}
	snprintf(out, n, "%s", a);
	return out;
}

/* Is the request allowed as rt says?  0, or the status of the refusal
 * with why in err. */
static unsigned
allowed(struct MHD_Connection *c, const struct http_route *rt, char *err, size_t errlen)
{
	const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_AUTHORIZATION);
	bool token = H.toklen > 0 && http_bearer_ok(auth, H.token, H.toklen);
	const char *why;

	if (rt->changes) {
		if (!H.write) {
			snprintf(err, errlen, "changes are off: this listener has http: write: "
				 "false");
			return 403;
		}
		why = http_cross_site(MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								  MHD_HTTP_HEADER_ORIGIN),
				      MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								  "Sec-Fetch-Site"),
				      MHD_lookup_connection_value(c, MHD_HEADER_KIND,
								  MHD_HTTP_HEADER_HOST));
		if (why != NULL) {
			snprintf(err, errlen, "cross-site request refused: %s", why);
			return 403;
		}
		if (!token) {
			snprintf(err, errlen, "%s: send Authorization: Bearer with the token of "
				 "http.token_file", auth ? "wrong token" : "a token is needed");
			return 401;
		}
	} else if (rt->api && H.read_token && !token) {
		snprintf(err, errlen, "%s: this listener has read_token: true; send "
			 "Authorization: Bearer with the token of http.token_file",
			 auth ? "wrong token" : "a token is needed");
		return 401;
	}
	return 0;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	   const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct hreq *h = *con_cls;
	struct http_route *rt;
	struct http_req rq;
	enum MHD_Result r;
	char err[512], ip[64];
	unsigned st;

	if (h == NULL) {	/* the head: refuse a body announced too large now */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
							     MHD_HTTP_HEADER_CONTENT_LENGTH);
		h = xcalloc(1, sizeof(*h));
		*con_cls = h;
		if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_BODY_MAX) {
			snprintf(err, sizeof(err), "request body over %u bytes", HTTP_BODY_MAX);
			return answer_error(c, 413, err, NULL);
		}
		return MHD_YES;
	}
	if (*upload_size > 0) {
		if (h->body.len + *upload_size > HTTP_BODY_MAX)
			h->too_big = true;
		else
			buf_append(&h->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (h->too_big) {
		snprintf(err, sizeof(err), "request body over %u bytes", HTTP_BODY_MAX);
		return answer_error(c, 413, err, NULL);
	}
	MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, on_arg, h);
	if (h->too_many) {
		snprintf(err, sizeof(err), "more than %d query parameters", HTTP_ARGS_MAX);
		return answer_error(c, 400, err, NULL);
	}
	rq = (struct http_req){ .method = method, .path = url, .args = h->args,
				.nargs = h->nargs, .body = h->body.p, .bodylen = h->body.len };
	rt = xmalloc(sizeof(*rt));
	http_route(&rq, rt);
	if (rt->kind != HTTP_R_ERROR && (st = allowed(c, rt, err, sizeof(err))) != 0) {
		if (rt->changes)
			log_warn("http: %s %s %s refused: %s", peer(c, ip, sizeof(ip)),
				 LOG_TEXT(method), LOG_TEXT(url), err);
		r = answer_error(c, st, err, NULL);
		free(rt);
		return r;
	}
	if (rt->changes && rt->kind == HTTP_R_CTL)
		log_info("http: %s %s %s: %s", peer(c, ip, sizeof(ip)), LOG_TEXT(method),
			 LOG_TEXT(url), LOG_TEXT(rt->text));
	switch (rt->kind) {
	case HTTP_R_CTL:
		r = answer_ctl(c, rt);
		break;
	case HTTP_R_METRICS:
		r = answer_metrics(c);
		break;
	case HTTP_R_HISTORY:
		r = answer_history(c);
		break;
	case HTTP_R_STATIC:
		r = answer_static(c, rt->text);
		break;
	default:
		r = answer_error(c, (unsigned)rt->status, rt->text, rt->allow);
		break;
	}
	free(rt);
	return r;
}

static void
on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
	     enum MHD_RequestTerminationCode toe)
{
	struct hreq *h = *con_cls;

	if (h != NULL) {
		buf_free(&h->body);
		free(h);
		*con_cls = NULL;
	}
}

/* Why libmicrohttpd did not start: its last message while http_start waits
 * for it (its threads may log later; only the start reads this). */
static char start_why[160];
static atomic_bool starting;

/* libmicrohttpd's own messages (a refused connection, a broken request). */
static void __attribute__((format(printf, 2, 0)))
on_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];

	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	if (atomic_load(&starting))
		snprintf(start_why, sizeof(start_why), "%.*s", (int)sizeof(start_why) - 1, line);
	log_debug("http: %s", LOG_TEXT(line));
}

/* ---- the history ---------------------------------------------------- */

static uint64_t
total(json_t *totals, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(totals, key));

	return v > 0 ? (uint64_t)v : 0;
}

/* One sample of show stats json into the history. */
static void
sample(void)
{
	struct buf out = { 0 };
	char err[512];
	json_t *j, *t;

	if (ctl_call("show stats json", 30000, &out, err, sizeof(err)) != 0) {
		log_debug("http: history sample: %s", LOG_TEXT(err));
		buf_free(&out);
		return;
	}
	j = json_loadb(out.p, out.len, 0, NULL);
	t = json_object_get(j, "totals");
	if (t != NULL) {
		struct http_hist_sample s = {
			.time = time(NULL),
			.delivered = total(t, "delivery.delivered"),
			.deferred = total(t, "delivery.deferred"),
			.bounced = total(t, "delivery.bounced"),
			.received = total(t, "smtp.in.messages"),
			.queue = total(t, "queue.messages"),
		};
		pthread_mutex_lock(&hist_mu);
		http_hist_add(&hist, &s);
		pthread_mutex_unlock(&hist_mu);
	}
	json_decref(j);
	buf_free(&out);
}

static void *
sampler_main(void *arg)
{
	pthread_mutex_lock(&hist_mu);
	while (!hist_stop) {
		struct timespec until;

		pthread_mutex_unlock(&hist_mu);
		sample();
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += HTTP_HIST_SAMPLE;
		pthread_mutex_lock(&hist_mu);
		while (!hist_stop &&
		       pthread_cond_timedwait(&hist_cv, &hist_mu, &until) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&hist_mu);
	return NULL;
}

/* ---- start and stop ------------------------------------------------- */

int
http_open(const struct config *cfg, char *err, size_t errlen)
{
	const struct cfg_http *hc = &cfg->http;
	int one = 1, rc, fd;

	if (!hc->enabled)
		return 0;
	if (hc->token_file != NULL &&
	    (rc = token_read(hc->token_file, H.token, &H.toklen, err, errlen)) < 0)
		return rc;
	snprintf(H.listen, sizeof(H.listen), "%s", hc->listen);
	snprintf(H.sock, sizeof(H.sock), "%s", cfg->control_socket);
	snprintf(H.static_dir, sizeof(H.static_dir), "%s", hc->static_dir ? hc->static_dir : "");
	H.write = hc->write;
	H.read_token = hc->read_token;
	H.max_conns = hc->max_connections;
	/* a missing directory is fine: the built-in page stands in */
	H.dirfd = H.static_dir[0] ? open(H.static_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	fd = socket(hc->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    (hc->addr.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)&hc->addr, hc->addrlen) < 0 ||
	    listen(fd, 64) < 0) {
		rc = -errno;
		snprintf(err, errlen, "http: listen %s: %s", hc->listen, strerror(errno));
		if (fd >= 0)
			close(fd);
		if (H.dirfd >= 0)
			close(H.dirfd);
		H.dirfd = -1;
		return rc;
	}
	H.fd = fd;
	return 0;
}

int
http_start(char *err, size_t errlen)
{
	int rc;

	if (H.fd < 0)
		return 0;
	sem_init(&H.calls, 0, HTTP_CTL_CALLS);
	start_why[0] = '\0';
	atomic_store(&starting, true);
	/* the logger first, or messages about the options before it go to stderr */
	H.mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
				 MHD_USE_POLL | MHD_USE_ERROR_LOG,
				 0, NULL, NULL, on_request, NULL,
				 MHD_OPTION_EXTERNAL_LOGGER, on_log, NULL,
				 MHD_OPTION_LISTEN_SOCKET, H.fd,
				 MHD_OPTION_CONNECTION_LIMIT, (unsigned)H.max_conns,
				 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
				 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_HEAD_MAX,
				 MHD_OPTION_THREAD_STACK_SIZE, (size_t)(256u << 10),
				 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				 MHD_OPTION_END);
	atomic_store(&starting, false);
	if (H.mhd == NULL) {
		snprintf(err, errlen, "http: listen %s: libmicrohttpd did not start%s%s", H.listen,
			 start_why[0] ? ": " : "", start_why);
		close(H.fd);
		H.fd = -1;
		return -EINVAL;
	}
	hist_stop = false;
	if ((rc = pthread_create(&H.sampler, NULL, sampler_main, NULL)) != 0)
		log_warn("http: no history sampler: %s", strerror(rc));
	H.sampling = rc == 0;
	log_info("http: listening on %s (write %s, %s, at most %u connections; static files "
		 "%s)", H.listen, H.write ? "on" : "off",
		 H.toklen == 0 ? "no token" : H.read_token ? "token for every API request"
							   : "token for changes",
		 H.max_conns, H.dirfd >= 0 ? H.static_dir : "built in");
	return 0;
}

void
http_stop(void)
{
	if (H.sampling) {
		pthread_mutex_lock(&hist_mu);
		hist_stop = true;
		pthread_cond_signal(&hist_cv);
		pthread_mutex_unlock(&hist_mu);
		pthread_join(H.sampler, NULL);
		H.sampling = false;
	}
	if (H.mhd != NULL) {
		MHD_stop_daemon(H.mhd);		/* closes the listening socket */
		H.mhd = NULL;
		H.fd = -1;
		sem_destroy(&H.calls);
	}
	if (H.fd >= 0)
		close(H.fd);
	H.fd = -1;
	if (H.dirfd >= 0)
		close(H.dirfd);
	H.dirfd = -1;
}
