/*
 * sink_store.c - what sluice-sink keeps of the mail it accepts: --out
 * writes each accepted message to DIR/<seq>.eml, --count-file keeps the
 * counters in one small file.
 *
 * Not a mail store: no fsync, and a message is written whole only at its
 * end-of-data. The invariant a reader relies on: a <seq>.eml name exists
 * only for a complete file (written as .<seq>.eml.tmp, then renamed), and
 * the count file is replaced by rename, never seen half-written. An
 * accepted message starts with X-Sink-Mail/X-Sink-From, X-Sink-Rcpt/
 * X-Sink-To for each recipient (the exact command lines and their
 * addresses), X-Sink-TLS* when it came over TLS, then the unstuffed
 * payload. The copies live in two per-session heap buffers, kept across
 * messages and sessions so the steady state does not allocate.
 * Below the I/O layer and the dialogue, which both count into it.
 * May call: sink_state.c, bench/bench_common.c, tls/ (the X-Sink-TLS
 * names).
 */
#include "bench/sink_store.h"

#include "bench/sink_state.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int sink_buf_add(struct sink_buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		char *np;

		while (cap < b->len + n)
			cap *= 2;
		np = realloc(b->p, cap);
		if (np == NULL)
			return -ENOMEM;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

static int sink_write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Write the finished message as <seq>.eml (temp name, then rename). */
int sink_store(struct sink_session *s, unsigned long long seq)
{
	char tmp[64], name[64];
	int fd, rc;

	snprintf(tmp, sizeof(tmp), ".%llu.eml.tmp", seq);
	snprintf(name, sizeof(name), "%llu.eml", seq);
	fd = openat(sink.out_dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0644);
	if (fd < 0) {
		rc = -errno;
		fprintf(stderr, "sluice-sink: %s/%s: %s\n", sink.out_dir, tmp,
			strerror(-rc));
		return rc;
	}
	rc = sink_write_all(fd, s->env.p, s->env.len);
	if (rc == 0)
		rc = sink_write_all(fd, s->msg.p, s->msg.len);
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc == 0 && renameat(sink.out_dirfd, tmp, sink.out_dirfd, name) < 0)
		rc = -errno;
	if (rc < 0) {
		fprintf(stderr, "sluice-sink: %s/%s: %s\n", sink.out_dir, name,
			strerror(-rc));
		unlinkat(sink.out_dirfd, tmp, 0);
	}
	return rc;
}

void sink_count_write(void)
{
	char tmp[4096 + 8], buf[160];
	int fd, n;

	sink.count_dirty = 0;
	if (sink.count_file == NULL)
		return;
	n = snprintf(buf, sizeof(buf), "messages=%llu recipients=%llu sessions=%llu "
		     "refused=%llu bdat=%llu\n", sink.messages, sink.recipients,
		     sink.sessions, sink.refused, sink.bdat);
	snprintf(tmp, sizeof(tmp), "%s.tmp", sink.count_file);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || rename(tmp, sink.count_file) < 0)
		goto fail;
	return;
fail:
	fprintf(stderr, "sluice-sink: %s: %s\n", sink.count_file, strerror(errno));
}

static void sink_count_cb(struct bench_op *op, int res, unsigned flags)
{
	sink.count_timer_armed = 0;
	if (sink.count_dirty)
		sink_count_write();
}

/* Counters changed: rewrite the count file within SINK_COUNT_NS. */
void sink_count_changed(void)
{
	struct io_uring_sqe *sqe;

	sink.count_dirty = 1;
	if (sink.count_file == NULL || sink.count_timer_armed)
		return;
	sqe = bench_sqe(&sink.ring, &sink.op_count);
	if (sqe == NULL) {
		sink_count_write();
		return;
	}
	io_uring_prep_timeout(sqe, &sink.count_delay, 0, 0);
	sink.count_timer_armed = 1;
}

/* --out: "name: value" CRLF into the envelope header lines. */
void sink_env_line(struct sink_session *s, const char *name,
			  const char *v, size_t n)
{
	if (sink.out_dir != NULL &&
	    (sink_buf_add(&s->env, name, strlen(name)) < 0 ||
	     sink_buf_add(&s->env, v, n) < 0 ||
	     sink_buf_add(&s->env, "\r\n", 2) < 0))
		s->store_failed = 1;
}

/* --out: X-Sink-TLS: <version>, plus the cipher and SNI the session had. */
int sink_tls_headers(struct sink_session *s)
{
	char line[512];
	const char *sni = tls_sni(s->tls);
	int n;

	n = snprintf(line, sizeof(line), "X-Sink-TLS: %s\r\nX-Sink-TLS-Cipher: %s\r\n",
		     tls_version(s->tls), tls_cipher(s->tls));
	if (n < 0 || (size_t)n >= sizeof(line) ||
	    sink_buf_add(&s->env, line, (size_t)n) < 0)
		return -1;
	if (sni == NULL)
		return 0;
	n = snprintf(line, sizeof(line), "X-Sink-TLS-SNI: %s\r\n", sni);
	if (n < 0 || (size_t)n >= sizeof(line))
		return -1;
	return sink_buf_add(&s->env, line, (size_t)n);
}

/* Payload bytes, already unstuffed: keep them only in --out mode. */
void sink_data_emit(struct sink_session *s, const char *p, size_t n)
{
	unsigned long long max = sink.size_mode == SINK_SIZE_NUMBER && sink.size_max > 0 ?
		sink.size_max : SINK_MSG_MAX;

	if (sink.out_dir == NULL || n == 0 || s->too_big || s->store_failed)
		return;
	if (s->msg.len + n > max) {
		s->too_big = 1;
		return;
	}
	if (sink_buf_add(&s->msg, p, n) < 0)
		s->store_failed = 1;
}

void sink_count_init(void)
{
	sink.op_count = (struct bench_op){ sink_count_cb, NULL, SINK_OP_COUNT_TIMER };
	sink.count_delay.tv_nsec = (long long)SINK_COUNT_NS;
	sink_count_write();
}
