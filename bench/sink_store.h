/*
 * sink_store.h - sluice-sink's --out copies and --count-file (sink_store.c).
 *
 * Main thread only. Every function is a no-op for its part when the
 * option is off (sink_env_line and sink_data_emit without --out, the
 * count functions without --count-file).
 */
#ifndef BENCH_SINK_STORE_H
#define BENCH_SINK_STORE_H

#include <stddef.h>

struct sink_session;

/* --out: add the envelope line "name" v CRLF (name ends in ": ") to the
 * message's copy; a failed allocation marks the message store_failed. */
void sink_env_line(struct sink_session *s, const char *name, const char *v,
		   size_t n);

/* --out: add X-Sink-TLS, X-Sink-TLS-Cipher and (when the client sent one)
 * X-Sink-TLS-SNI lines. Returns 0, or -1 when they could not be added. */
int sink_tls_headers(struct sink_session *s);

/* --out: keep n bytes of unstuffed payload; past the size limit the
 * message is marked too_big, a failed allocation store_failed. */
void sink_data_emit(struct sink_session *s, const char *p, size_t n);

/* --out: write the message as DIR/<seq>.eml (temp name, then rename).
 * Returns 0 or a negative errno (written to stderr). */
int sink_store(struct sink_session *s, unsigned long long seq);

/* Set up the --count-file timer and write the file once (zeros). */
void sink_count_init(void);

/* The counters changed: rewrite the count file within SINK_COUNT_NS. */
void sink_count_changed(void);

/* Rewrite the count file now (at start-up and exit). */
void sink_count_write(void);

#endif
