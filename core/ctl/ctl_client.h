/*
 * ctl_client — the client side of the control socket (framing in
 * core/ctl/ctl.h): connect, send a request, recognise an error answer,
 * and one whole exchange with a deadline.  sluicectl uses it, and so does
 * the HTTP listener (core/http/), which answers its API by asking the
 * daemon's own control socket.
 *
 * Blocking I/O on descriptors the caller owns; no global state, so any
 * thread may call it.
 */
#ifndef SLUICE_CORE_CTL_CTL_CLIENT_H
#define SLUICE_CORE_CTL_CTL_CLIENT_H

#include <stddef.h>

struct buf;

/* Connect to the socket at path.  Returns the descriptor (blocking,
 * close-on-exec; the caller closes it), or -errno with one line in err. */
int ctl_client_connect(const char *path, char *err, size_t errlen);

/* Send all of p[0..n) on fd, without SIGPIPE.  0, or -errno. */
int ctl_client_send(int fd, const char *p, size_t n);

/* The text of an error answer's line ("error: TEXT", or a JSON object
 * {"error": TEXT} with nothing else), malloc()ed; NULL when line[0..n)
 * is not one. */
char *ctl_client_error(const char *line, size_t n);

/*
 * One command on a connection of its own: send line (no LF), shut the
 * write side, read the answer to EOF, at most max bytes, within timeout_ms
 * in all.  out (appended to) gets the answer without the empty line that
 * ends it.  Returns 0, or -errno with one line in err: the socket cannot
 * be reached, -ETIMEDOUT, -EMSGSIZE (over max), -EPROTO (the answer
 * ended early).
 */
int ctl_client_call(const char *path, const char *line, int timeout_ms, size_t max,
		    struct buf *out, char *err, size_t errlen);

#endif
