/*
 * http_static — files compiled into sluiced that the admin listener
 * serves when static_dir does not have them: for now the page at / that
 * says where the API is until the dashboard is installed.  To compile a
 * file in, add it to the table in core/http/http_static.c.
 *
 * Constant data; any thread.
 */
#ifndef SLUICE_CORE_HTTP_HTTP_STATIC_H
#define SLUICE_CORE_HTTP_HTTP_STATIC_H

#include <stddef.h>

/* A built-in file. */
struct http_file {
	const char *path;		/* under /, without the slash */
	const char *type;		/* its Content-Type */
	const char *data;		/* its bytes */
	size_t len;			/* their number */
};

/* The built-in file at path ("index.html"), or NULL. */
const struct http_file *http_builtin(const char *path);

#endif
