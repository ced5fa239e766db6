/*
 * ctl_webhook — the alerts' webhook (alerts: webhook): each alert event
 * as one JSON document POSTed to an http:// URL, from a thread of its own
 * so that a slow or dead receiver never holds up the control thread.
 * Implemented by core/ctl/ctl_webhook.c; fed by core/ctl/ctl_notify.c.
 *
 * Best effort: a bounded queue (CTL_WEBHOOK_QUEUE posts; a post that
 * finds it full is dropped and counted in the log), one attempt per post
 * with a CTL_WEBHOOK_TIMEOUT second budget for the name, the connection,
 * the request and the status line; any answer but 2xx is logged.  HTTP/1.1
 * with Content-Length and "Connection: close"; plain http only.
 */
#ifndef SLUICE_CORE_CTL_CTL_WEBHOOK_H
#define SLUICE_CORE_CTL_CTL_WEBHOOK_H

#include <stddef.h>
#include <stdint.h>

#define CTL_WEBHOOK_QUEUE	64	/* posts waiting, at most */
#define CTL_WEBHOOK_TIMEOUT	5	/* s for one post, start to status line */

/* Queue a POST of body (NUL-terminated JSON text, taken over and freed) to
 * http://host:port path.  Starts the thread on first use.  Never blocks.
 * Control thread. */
void ctl_webhook_post(const char *host, uint16_t port, const char *path, char *body);

/* Stop the thread: a post in flight ends (at most its timeout), the ones
 * waiting are dropped.  Control thread, at its exit. */
void ctl_webhook_stop(void);

/*
 * The start of the request for body_len bytes of JSON to host:port path,
 * into out (n bytes): the request line and headers, up to the empty line.
 * Returns its length, or 0 when it does not fit.  Pure.
 */
size_t ctl_webhook_request(char *out, size_t n, const char *host, uint16_t port,
			   const char *path, size_t body_len);

/* The status code of an HTTP/1.x status line (line, n bytes, without its
 * CRLF), or -1 when it is not one.  Pure. */
int ctl_webhook_status(const char *line, size_t n);

#endif
