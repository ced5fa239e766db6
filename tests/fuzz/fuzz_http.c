/*
 * libFuzzer target: the HTTP admin listener's routes (core/http/
 * http_route.c), what any client that reaches the listener controls.
 *
 * The input is split at the first three NUL bytes: the method's index
 * (first byte), the path, the query as key=value pairs between '&' (any
 * bytes, as libmicrohttpd hands them decoded), and the body.
 * Invariants: a control line is printable ASCII, blanks between words,
 * that ends in " json" and fits its buffer; a value never becomes two
 * words or an option; a refusal has a 4xx status and one printable line;
 * a static path has no ".." and does not start with '/'.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/http/http_route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE" };
	char buf[8192], *part[3] = { "/", "", "" };
	struct http_arg args[16];
	struct http_route r;
	struct http_req rq;
	size_t nargs = 0, np = 0, last = 0;

	if (size == 0 || size >= sizeof(buf))
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	part[np++] = buf;
	for (size_t i = 0; i + 1 < size && np < 3; i++)
		if (buf[i] == '\0') {
			part[np++] = buf + i + 1;
			last = i + 1;
		}
	for (char *p = part[1]; *p != '\0' && nargs < 16;) {
		char *amp = strchr(p, '&'), *eq;
		if (amp != NULL)
			*amp = '\0';
		eq = strchr(p, '=');
		if (eq != NULL)
			*eq = '\0';
		args[nargs++] = (struct http_arg){ p, strlen(p), eq ? eq + 1 : NULL,
						   eq ? strlen(eq + 1) : 0 };
		if (amp == NULL)
			break;
		p = amp + 1;
	}
	rq = (struct http_req){ .method = methods[data[0] % 5], .path = part[0],
				.args = args, .nargs = nargs, .body = part[2],
				.bodylen = np == 3 ? size - 1 - last : 0 };
	switch (http_route(&rq, &r)) {
	case HTTP_R_CTL: {
		size_t n = strlen(r.text);
		const char *dash = strstr(r.text, " -");
		printable(r.text);
		if (n < 5 || strcmp(r.text + n - 5, " json") != 0 ||
		    strstr(r.text, "  ") != NULL || strchr(r.text, '\t') != NULL ||
		    (dash != NULL && strcmp(dash, " --send json") != 0))
			abort();
		break;
	}
	case HTTP_R_ERROR:
		if (r.status < 400 || r.status > 499)
			abort();
		printable(r.text);
		break;
	case HTTP_R_STATIC:
		if (r.text[0] == '/' || strstr(r.text, "..") != NULL)
			abort();
		printable(r.text);
		break;
	default:
		break;
	}
	return 0;
}
