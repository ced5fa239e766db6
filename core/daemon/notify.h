/*
 * notify — tell the service manager how sluiced is doing: the datagram
 * protocol of sd_notify(3), spoken here without libsystemd.
 *
 * Under systemd with Type=notify (or notify-reload, systemd 253+) the
 * environment names a unix datagram socket in NOTIFY_SOCKET: a path, or an
 * abstract name written with a leading '@'.  Each message is one datagram
 * of newline-separated VAR=VALUE lines: READY=1 when the service serves,
 * RELOADING=1 with MONOTONIC_USEC=<CLOCK_MONOTONIC in us> when a reload
 * starts (READY=1 again when it is over), STOPPING=1 when it shuts down,
 * STATUS=<one line> for `systemctl status`, WATCHDOG=1 as the keep-alive
 * when WATCHDOG_USEC asks for one.  Without NOTIFY_SOCKET every call is a
 * no-op, so a sluiced started by hand or by another supervisor is not
 * affected.  "vsock:" addresses (systemd 254+, for virtual machines) are
 * not supported: notify_open says so.
 *
 * Threads: notify_open on the main thread at start-up; notify_send from
 * any thread afterwards (one sendto on a socket that never changes).
 */
#ifndef SLUICE_CORE_DAEMON_NOTIFY_H
#define SLUICE_CORE_DAEMON_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/*
 * Parse a NOTIFY_SOCKET value into *sa and its length *len: "/path" or
 * "@abstract" (the '@' becomes the leading NUL).  Returns 0, or -EINVAL
 * (empty, relative, or another scheme such as "vsock:") or -ENAMETOOLONG.
 * Pure.
 */
int notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len);

/*
 * Read NOTIFY_SOCKET and make the socket to send on.  Returns 1 when
 * there is a service manager to tell, 0 when NOTIFY_SOCKET is unset, or
 * -errno with "NOTIFY_SOCKET=...: why" in err (notifications are then
 * off).
 */
int notify_open(char *err, size_t errlen);

/*
 * Send one message: fmt with printf arguments, the VAR=VALUE lines
 * separated by '\n'; a STATUS text must be one line.  Returns 0 (also
 * when there is no service manager), or -errno of the send.
 */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* RELOADING=1 and MONOTONIC_USEC=now, with status as STATUS. */
int notify_reloading(const char *status);

/*
 * The keep-alive period the manager asked for, in microseconds: WATCHDOG_USEC
 * when WATCHDOG_PID is unset or names this process, else 0.  Send
 * WATCHDOG=1 at least twice per period.
 */
uint64_t notify_watchdog_usec(void);

#endif
