/*
 * libFuzzer target: what recovery reads from disk.  The input is written
 * as a segment file and recovered; separately it is decoded as an
 * envelope.  Damaged input must be skipped or cut, never crash or leak.
 *
 * Records are sealed with the spool's key (queue/spool.h), which no input
 * can guess, so the harness seals for the fuzzer: every header-shaped
 * place in the input (magic, pad 0, a length that fits) is sealed where it
 * lies before the file is written, and each sealed MSG record that names a
 * body file of at most 64 KiB gets one.  Inputs with pad != 0 or a broken
 * length stay unsealed and drive the damaged-record and resync paths; an
 * input that starts with the old magic drives the refusal of old spools.
 * A stray body file of no message is left each time for the sweep.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "queue/envelope.h"
#include "queue/spool.h"

#define BODY_MAX (64u << 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char root[64];
static uint8_t key[SPOOL_KEY_SIZE];

/* Empty dir (no fork per input: rm -rf would make the fuzzer crawl). */
static void
empty_dir(const char *dir)
{
	char path[512];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "body") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
}

static void
drop(void *arg, struct envelope *env, const struct spool_loc *loc)
{
	(*(size_t *)arg)++;
	free(env);
}

static void
write_file(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || (n > 0 && write(fd, p, n) != (ssize_t)n))
		abort();
	close(fd);
}

/* A body file of n bytes for message id. */
static void
make_body(uint64_t id, uint64_t n)
{
	static char zeros[BODY_MAX];
	char path[128], name[17];

	envelope_id_str(id, name);
	snprintf(path, sizeof(path), "%s/w0/body/%s", root, name);
	write_file(path, zeros, n);
}

/* Seal every header-shaped place of the input where it lies. */
static void
seal_all(uint8_t *p, size_t size)
{
	size_t off = 0;

	while (off + SPOOL_HDR_SIZE <= size) {
		struct spool_rec_hdr h;
		memcpy(&h, p + off, sizeof(h));
		if (h.magic != SPOOL_MAGIC || h.pad != 0 || h.len > size - off - SPOOL_HDR_SIZE) {
			off++;
			continue;
		}
		spool_rec_seal(key, p + off, 1, off);
		if (h.type == SPOOL_REC_MSG && (h.flags & SPOOL_REC_F_BODY) &&
		    h.aux <= h.len && h.len - h.aux == sizeof(struct spool_body_ref)) {
			struct spool_body_ref ref;
			memcpy(&ref, p + off + SPOOL_HDR_SIZE + h.aux, sizeof(ref));
			if (ref.size <= BODY_MAX)
				make_body(h.id, ref.size);
		}
		off += SPOOL_HDR_SIZE + h.len;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[128], err[512];
	struct spool_recovery st;
	struct spool *sp;
	size_t found = 0;
	uint8_t *copy;

	free(envelope_decode(data, size));
	if (root[0] == '\0') {
		snprintf(root, sizeof(root), "%s", "/tmp/sluice-fuzz.XXXXXX");
		if (mkdtemp(root) == NULL || spool_key_load(root, key, err, sizeof(err)) < 0)
			abort();
		log_set_level(LOG_ERR + 1);
	}
	snprintf(path, sizeof(path), "%s/w0", root);
	mkdir(path, 0700);
	empty_dir(path);
	snprintf(path, sizeof(path), "%s/w0/body", root);
	mkdir(path, 0700);
	empty_dir(path);
	make_body(1, 3);	/* belongs to no message: swept */
	copy = malloc(size ? size : 1);
	if (copy == NULL)
		abort();
	memcpy(copy, data, size);
	seal_all(copy, size);
	snprintf(path, sizeof(path), "%s/w0/00000001.seg", root);
	write_file(path, copy, size);
	free(copy);
	if (spool_open(&sp, root, 0, 0, drop, &found, &st, err, sizeof(err)) == 0)
		spool_close(sp);
	return 0;
}
