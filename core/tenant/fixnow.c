/*
 * fixnow — the published set is a NULL-terminated array of strings; the
 * state file holds one domain per line.
 */
#include "core/tenant/fixnow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/file.h"
#include "core/log.h"

static _Atomic(const char **) fixnow_set;	/* NULL-terminated */
static char fixnow_path[4096];			/* the state file */

static size_t
set_len(const char **set)
{
	size_t n = 0;

	while (set != NULL && set[n] != NULL)
		n++;
	return n;
}

/* Publish set + domain (the old array stays valid for readers). */
static int
publish(const char *domain)
{
	const char **old = atomic_load(&fixnow_set);
	size_t n = set_len(old);
	const char **set = calloc(n + 2, sizeof(*set));
	char *d = strdup(domain);

	if (set == NULL || d == NULL) {
		free(set);
		free(d);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		set[i] = old[i];
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	set[n] = d;
	atomic_store(&fixnow_set, set);
	return 0;
}

bool
fixnow_has(const char *domain, size_t len)
{
	const char **set = atomic_load_explicit(&fixnow_set, memory_order_acquire);

	for (size_t i = 0; set != NULL && set[i] != NULL; i++)
		if (strlen(set[i]) == len && strncasecmp(set[i], domain, len) == 0)
			return true;
	return false;
}

size_t
fixnow_list(const char **out, size_t max)
{
	const char **set = atomic_load_explicit(&fixnow_set, memory_order_acquire);
	size_t n = 0;

	for (; set != NULL && set[n] != NULL && n < max; n++)
		out[n] = set[n];
	return n;
}

int
fixnow_load(const char *path, char *err, size_t errlen)
{
	char line[512];
	FILE *f;

	snprintf(fixnow_path, sizeof(fixnow_path), "%s", path);
	f = fopen(path, "r");
	if (f == NULL) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n#")] = '\0';
		if (line[0] != '\0' && !fixnow_has(line, strlen(line)))
			publish(line);
	}
	fclose(f);
	return 0;
}

int
fixnow_add(const char *domain)
{
	const char **set;
	struct buf b = { 0 };
	int rc;

	if (fixnow_has(domain, strlen(domain)))
		return 0;
	if (publish(domain) < 0)
		return -ENOMEM;
	if (fixnow_path[0] == '\0')
		return 1;
	buf_puts(&b, "# domains switched to authoritative by fix-now (sluiced keeps this file)\n");
	set = atomic_load(&fixnow_set);
	for (size_t i = 0; set[i] != NULL; i++)
		buf_printf(&b, "%s\n", set[i]);
	rc = file_replace(fixnow_path, b.p, b.len);
	buf_free(&b);
	if (rc == 0)
		return 1;
	log_err("fix-now: cannot write %s: %s (the switch holds until restart)",
		fixnow_path, strerror(-rc));
	return rc;
}
