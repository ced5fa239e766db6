/*
 * log_sink — the destination half of core/log: standard error, a file or
 * the syslog socket (core/log_sink.c says how each is written).  Only
 * core/log.c includes this; everyone else uses core/log.h (log_open,
 * log_reopen, log_set_fd).
 */
#ifndef SLUICE_CORE_LOG_SINK_H
#define SLUICE_CORE_LOG_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

/* Open the destination s names (log_open's work besides the format). */
int log_sink_open(const struct log_setup *s, bool *created, char *err, size_t errlen);

/* Reopen the file or reconnect to syslog (log_reopen). */
int log_sink_reopen(char *err, size_t errlen);

/* The head a line of level lvl starts with at this destination: syslog's
 * "<PRI>Mmm dd hh:mm:ss sluiced[PID]: " into out (cap bytes with the NUL),
 * or nothing for stderr and files.  Returns its length.  Any thread. */
size_t log_sink_head(char *out, size_t cap, enum log_level lvl);

/* Deliver n bytes of whole lines, each ending in '\n'.  Any thread. */
void log_sink_write(const char *p, size_t n);

/* True when lines go elsewhere than stderr while stderr is a terminal: a
 * fatal error is then shown there too. */
bool log_sink_tty(void);

#endif
