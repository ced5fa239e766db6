/*
 * libFuzzer target: a tenant's directory file.  The input is written as
 * the file and loaded, then looked up; nothing may crash, read out of
 * bounds or leak on any input.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/tenant/directory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct directory *d = NULL;
	char err[512];
	int fd;

	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "%s", "/tmp/sluice-fuzz-dir.XXXXXX");
		fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
	if (directory_load(path, &d, err, sizeof(err)) == 0) {
		/* look the first line up: exercises hashing and comparison */
		const char *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - (const char *)data) : size;
		if (n > 0 && n < 200 && memchr(data, '@', n) && !memchr(data, '#', n) &&
		    !memchr(data, ' ', n) && !memchr(data, '\t', n) && !memchr(data, '\r', n) &&
		    !memchr(data, '"', n) && !memchr(data, '\0', n))
			directory_has(d, (const char *)data, n);
		directory_free(d);
	}
	return 0;
}
