/*
 * libFuzzer target: what recovery reads from disk.  The input is written
 * as a segment file and recovered; separately it is decoded as an
 * envelope.  Damaged input must be skipped or cut, never crash or leak.
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
		if (de->d_name[0] == '.')
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char root[64];
	char path[128], err[256];
	struct spool_recovery st;
	struct spool *sp;
	size_t found = 0;
	int fd;

	free(envelope_decode(data, size));
	if (root[0] == '\0') {
		snprintf(root, sizeof(root), "%s", "/tmp/sluice-fuzz.XXXXXX");
		if (mkdtemp(root) == NULL)
			abort();
		log_set_level(LOG_ERR + 1);
	}
	snprintf(path, sizeof(path), "%s/w0", root);
	mkdir(path, 0700);
	empty_dir(path);
	snprintf(path, sizeof(path), "%s/w0/00000001.seg", root);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (spool_open(&sp, root, 0, 0, drop, &found, &st, err, sizeof(err)) == 0)
		spool_close(sp);
	return 0;
}
