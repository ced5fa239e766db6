/*
 * sluice-spoolgen — write a spool of N queued messages straight into
 * segment files, in exactly the format sluiced writes (queue/spool.h), so
 * the recovery benchmark can start from a million messages without
 * injecting them over SMTP first.  Records are sealed with the spool's key
 * (DIR/spool.key, made here when DIR is new) for the place they land.
 *
 * usage: sluice-spoolgen DIR WORKERS MESSAGES SIZE
 * Messages are spread round-robin over DIR/w0..w<WORKERS-1>, 64 MiB
 * segments, one recipient each.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "queue/envelope.h"
#include "queue/spool.h"

#define SEG_MAX (64u << 20)

struct gen_dir {
	int fd;			/* current segment */
	unsigned seq;		/* its number */
	size_t size;		/* bytes in it */
	struct buf out;		/* pending bytes */
};

static void
flush_dir(struct gen_dir *d)
{
	if (d->out.len > 0 && write(d->fd, d->out.p, d->out.len) != (ssize_t)d->out.len) {
		perror("write");
		exit(1);
	}
	d->size += d->out.len;
	d->out.len = 0;
}

static void
open_seg(const char *root, unsigned w, struct gen_dir *d)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/w%u/%08x.seg", root, w, ++d->seq);
	d->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (d->fd < 0) {
		perror(path);
		exit(1);
	}
	d->size = 0;
}

int
main(int argc, char **argv)
{
	struct env_rcpt rc = { .addr = "rcpt@example.test" };
	struct envelope env = { .sender = "gen@client.test", .helo = "client.test",
				.client = "127.0.0.1", .nrcpt = 1, .rcpt = &rc };
	struct gen_dir *dirs;
	unsigned workers;
	unsigned long n, size;
	uint8_t key[SPOOL_KEY_SIZE];
	char *body, path[4096], err[512];

	if (argc != 5) {
		fprintf(stderr, "usage: sluice-spoolgen DIR WORKERS MESSAGES SIZE\n");
		return 2;
	}
	workers = (unsigned)atoi(argv[2]);
	n = strtoul(argv[3], NULL, 10);
	size = strtoul(argv[4], NULL, 10);
	if (workers == 0 || workers > 256 || size < 2) {
		fprintf(stderr, "sluice-spoolgen: bad arguments\n");
		return 2;
	}
	body = malloc(size);
	for (unsigned long i = 0; i < size; i++)
		body[i] = (i % 78 == 76) ? '\r' : (i % 78 == 77) ? '\n' : (char)('a' + i % 26);
	snprintf(path, sizeof(path), "mkdir -p %s", argv[1]);
	if (system(path) != 0)
		return 1;
	if (spool_key_load(argv[1], key, err, sizeof(err)) < 0) {
		fprintf(stderr, "sluice-spoolgen: %s\n", err);
		return 1;
	}
	dirs = calloc(workers, sizeof(*dirs));
	for (unsigned w = 0; w < workers; w++) {
		snprintf(path, sizeof(path), "%s/w%u", argv[1], w);
		mkdir(path, 0700);
		open_seg(argv[1], w, &dirs[w]);
	}
	env.arrival = time(NULL);
	for (unsigned long i = 0; i < n; i++) {
		struct gen_dir *d = &dirs[i % workers];
		size_t start, envlen;

		env.id = ((uint64_t)env.arrival << 32) | ((uint64_t)(i % workers) << 24) |
			 (i / workers);
		start = spool_rec_begin(&d->out, SPOOL_REC_MSG, env.id);
		envelope_encode(&env, &d->out);
		envlen = d->out.len - start - SPOOL_HDR_SIZE;
		buf_append(&d->out, body, size);
		spool_rec_end(&d->out, start, envlen);
		spool_rec_seal(key, d->out.p + start, d->seq, d->size + start);
		if (d->out.len >= (1u << 20))
			flush_dir(d);
		if (d->size >= SEG_MAX) {
			close(d->fd);
			open_seg(argv[1], (unsigned)(i % workers), d);
		}
	}
	for (unsigned w = 0; w < workers; w++) {
		flush_dir(&dirs[w]);
		fsync(dirs[w].fd);
		close(dirs[w].fd);
	}
	printf("sluice-spoolgen: %lu messages of %lu bytes in %s (%u workers)\n", n, size,
	       argv[1], workers);
	return 0;
}
