/*
 * http — the HTTP admin listener of sluiced (http: in the config): the
 * JSON API under /api/v1/, the Prometheus exposition at /metrics, the
 * last hour's history for the dashboard, and the dashboard's files at /.
 *
 * libmicrohttpd serves it on threads of its own, one per connection, at
 * most http.max_connections; none of them touches a worker.  A request is
 * answered by running the control command it maps to (core/http/
 * http_route.h) as a client of the daemon's own control socket, which the
 * listener may use for everything since it runs as the daemon's user: the
 * answer is the JSON `sluicectl --json` prints.  POST actions need
 * write: true, the bearer token of token_file, and a request that is not
 * cross-site.
 *
 * Start-up: http_open as root (the token file may be readable by root
 * only; the address may be a port below 1024), before the privileges are
 * dropped; http_start once the workers serve; http_stop before the control
 * socket closes.  Main thread.
 */
#ifndef SLUICE_CORE_HTTP_HTTP_H
#define SLUICE_CORE_HTTP_HTTP_H

#include <stddef.h>

struct config;

/* For `sluiced -t`: read cfg's token file as http_open would, without
 * binding.  0 (also when http is off), or -errno with one line in err. */
int http_check(const struct config *cfg, char *err, size_t errlen);

/* Read the token, open static_dir, bind and listen on http.listen; keep
 * what http_start needs (cfg may be freed after).  Nothing when http is
 * off.  0, or -errno with one line in err. */
int http_open(const struct config *cfg, char *err, size_t errlen);

/* Serve: the listener's threads and the history sampler.  0, or -errno
 * with one line in err.  Nothing when http_open opened nothing. */
int http_start(char *err, size_t errlen);

/* Stop serving, close the socket.  Before ctl_stop.  No-op if not started. */
void http_stop(void);

#endif
