/*
 * http_route: each API path to its control line, the query and the body
 * turned into words (and refused when a value would not be one word),
 * methods, static paths, the bearer token, the cross-site checks and the
 * status of a control error.  Table driven.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/http/http_route.h"

/* A request from a method, a path, "k=v&k=v" (no percent-decoding here:
 * the listener hands decoded values) and a body. */
static enum http_kind
route(const char *method, const char *path, const char *query, const char *body,
      struct http_route *out)
{
	static char qbuf[1024];
	struct http_arg args[16];
	size_t n = 0;
	struct http_req rq = { .method = method, .path = path, .body = body,
			       .bodylen = body ? strlen(body) : 0 };

	if (query != NULL) {
		char *p = qbuf;
		snprintf(qbuf, sizeof(qbuf), "%s", query);
		while (p != NULL && *p != '\0' && n < 16) {
			char *amp = strchr(p, '&'), *eq;
			if (amp)
				*amp = '\0';
			eq = strchr(p, '=');
			if (eq)
				*eq = '\0';
			args[n++] = (struct http_arg){ p, strlen(p), eq ? eq + 1 : NULL,
						       eq ? strlen(eq + 1) : 0 };
			p = amp ? amp + 1 : NULL;
		}
	}
	rq.args = args;
	rq.nargs = n;
	return http_route(&rq, out);
}

Test(http_route, commands)
{
	static const struct {
		const char *method, *path, *query, *body, *line;
		bool changes;
	} cases[] = {
		{ "GET", "/api/v1/info", NULL, NULL, "show info json", false },
		{ "GET", "/api/v1/stats", NULL, NULL, "show stats json", false },
		{ "HEAD", "/api/v1/connectors", NULL, NULL, "show connectors json", false },
		{ "GET", "/api/v1/insights", NULL, NULL, "show insights json", false },
		{ "GET", "/api/v1/tenants", NULL, NULL, "show tenants json", false },
		{ "GET", "/api/v1/connectors/onprem", NULL, NULL,
		  "show connectors onprem json", false },
		{ "GET", "/api/v1/queue", NULL, NULL, "show queue limit 1000 json", false },
		{ "GET", "/api/v1/queue", "connector=good&sender=*@x.test&older=1h&limit=5", NULL,
		  "show queue connector good sender *@x.test older 1h limit 5 json", false },
		{ "GET", "/api/v1/queue", "rcpt=<>&younger=2d", NULL,
		  "show queue rcpt <> younger 2d limit 1000 json", false },
		{ "GET", "/api/v1/messages/6B15ACFC01000000", NULL, NULL,
		  "show message 6B15ACFC01000000 json", false },
		{ "GET", "/api/v1/trace", "sender=a@b.test&since=1h", NULL,
		  "trace sender a@b.test since 1h json", false },
		{ "POST", "/api/v1/flush", NULL, NULL, "flush json", true },
		{ "POST", "/api/v1/flush", NULL, "{\"connector\": \"good\"}",
		  "flush connector good json", true },
		{ "POST", "/api/v1/hold", NULL, "{\"ids\": [\"6B15ACFC01000000\", "
		  "\"6B15ACFC01000001\"]}", "hold 6B15ACFC01000000 6B15ACFC01000001 json", true },
		{ "POST", "/api/v1/release", NULL, "{\"all\": true}", "release all json", true },
		{ "POST", "/api/v1/hold", NULL, "{\"sender\": \"*@spam.test\", \"older\": \"1h\"}",
		  "hold sender *@spam.test older 1h json", true },
		{ "POST", "/api/v1/connectors/good/validate", NULL, "",
		  "validate connector good json", true },
		{ "POST", "/api/v1/connectors/good/validate", NULL,
		  "{\"rcpt\": \"a@b.test\", \"send\": true}",
		  "validate connector good a@b.test --send json", true },
		{ "POST", "/api/v1/connectors/good/validate", NULL,
		  "{\"rcpt\": \"a@b.test\", \"send\": false}",
		  "validate connector good a@b.test json", true },
		{ "POST", "/api/v1/connectors/good/disable", NULL, NULL,
		  "connector disable good json", true },
		{ "POST", "/api/v1/connectors/good/enable", NULL, NULL,
		  "connector enable good json", true },
		{ "POST", "/api/v1/fix-now/acme.example", NULL, NULL, "fix-now acme.example json",
		  true },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_route r;
		enum http_kind k = route(cases[i].method, cases[i].path, cases[i].query,
					 cases[i].body, &r);
		cr_expect_eq(k, HTTP_R_CTL, "%s %s: kind %d (%s)", cases[i].method,
			     cases[i].path, k, r.text);
		cr_expect_str_eq(r.text, cases[i].line, "%s %s", cases[i].method, cases[i].path);
		cr_expect_eq(r.changes, cases[i].changes, "%s %s", cases[i].method, cases[i].path);
		cr_expect(r.api);
		cr_expect_gt(r.timeout_ms, 0);
	}
}

Test(http_route, refusals)
{
	static const struct {
		const char *method, *path, *query, *body;
		int status;
		const char *says;	/* in the message */
	} cases[] = {
		{ "GET", "/api/v1/nothing", NULL, NULL, 404, "no such API path" },
		{ "GET", "/api/v2/info", NULL, NULL, 404, "no such API path" },
		{ "GET", "/api", NULL, NULL, 404, "no such API path" },
		{ "GET", "/api/v1/info", "x=1", NULL, 400, "no parameters" },
		{ "GET", "/api/v1/queue", "bogus=1", NULL, 400, "unknown parameter 'bogus'" },
		{ "GET", "/api/v1/queue", "sender=a&sender=b", NULL, 400, "given twice" },
		{ "GET", "/api/v1/queue", "sender=a b", NULL, 400, "sender: expected printable" },
		{ "GET", "/api/v1/queue", "sender=", NULL, 400, "sender: expected" },
		{ "GET", "/api/v1/queue", "sender", NULL, 400, "sender: expected" },
		{ "GET", "/api/v1/queue", "connector=-x", NULL, 400, "connector: expected" },
		{ "GET", "/api/v1/queue", "rcpt=caf\xc3\xa9@x", NULL, 400, "rcpt: expected" },
		{ "GET", "/api/v1/queue", "limit=0", NULL, 400, "limit: expected a number" },
		{ "GET", "/api/v1/queue", "limit=100001", NULL, 400, "limit" },
		{ "GET", "/api/v1/queue", "limit=5x", NULL, 400, "limit" },
		{ "GET", "/api/v1/messages/XYZ", NULL, NULL, 400, "16 hex digits" },
		{ "GET", "/api/v1/messages/6B15ACFC0100000G", NULL, NULL, 400, "16 hex" },
		{ "DELETE", "/api/v1/info", NULL, NULL, 405, "GET, HEAD" },
		{ "POST", "/api/v1/info", NULL, NULL, 404, "no such API path" },
		{ "GET", "/api/v1/flush", NULL, NULL, 405, "POST" },
		{ "PUT", "/api/v1/flush", NULL, NULL, 405, "POST" },
		{ "POST", "/metrics", NULL, NULL, 405, "GET" },
		{ "POST", "/api/v1/flush", NULL, "[1]", 400, "one JSON object" },
		{ "POST", "/api/v1/flush", NULL, "{", 400, "not valid JSON" },
		{ "POST", "/api/v1/flush", NULL, "{\"a\":1,\"a\":2}", 400, "JSON" },
		{ "POST", "/api/v1/flush", NULL, "{\"conector\": \"x\"}", 400,
		  "unknown member 'conector'" },
		{ "POST", "/api/v1/flush", NULL, "{\"connector\": 5}", 400, "expected a string" },
		{ "POST", "/api/v1/flush", NULL, "{\"connector\": \"a b\"}", 400, "connector:" },
		{ "POST", "/api/v1/flush", NULL, "{\"connector\": \"x\\u0000y\"}", 400,
		  "JSON" },	/* jansson refuses a NUL; word_ok would too */
		{ "POST", "/api/v1/hold", NULL, "{\"all\": false}", 400, "all: expected true" },
		{ "POST", "/api/v1/hold", NULL, "{\"ids\": []}", 400, "ids:" },
		{ "POST", "/api/v1/hold", NULL, "{\"ids\": [\"123\"]}", 400, "16 hex" },
		{ "POST", "/api/v1/hold", NULL, "{\"ids\": \"6B15ACFC01000000\"}", 400, "ids:" },
		{ "POST", "/api/v1/connectors/good/validate", NULL, "{\"send\": true}", 400,
		  "needs a rcpt" },
		{ "POST", "/api/v1/connectors/good/validate", NULL, "{\"send\": 1}", 400,
		  "send: expected" },
		{ "POST", "/api/v1/connectors/good/validate", NULL, "{\"rcpt\": \"--send\"}", 400,
		  "rcpt:" },
		{ "POST", "/api/v1/connectors/good/reboot", NULL, NULL, 404, "no such" },
		{ "GET", "/api/v1/info\x01", NULL, NULL, 400, "printable ASCII" },
		{ "GET", "relative", NULL, NULL, 400, "begin with /" },
		{ "GET", "/../etc/passwd", NULL, NULL, 404, "not found" },
		{ "GET", "/.hidden", NULL, NULL, 404, "not found" },
		{ "GET", "/a..b", NULL, NULL, 404, "not found" },
		{ "GET", "/a//b", NULL, NULL, 404, "not found" },
		{ "GET", "/dir/", NULL, NULL, 404, "not found" },
		{ "POST", "/index.html", NULL, NULL, 405, "GET" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_route r;
		enum http_kind k = route(cases[i].method, cases[i].path, cases[i].query,
					 cases[i].body, &r);
		cr_expect_eq(k, HTTP_R_ERROR, "case %zu %s %s: kind %d (%s)", i, cases[i].method,
			     cases[i].path, k, r.text);
		cr_expect_eq(r.status, cases[i].status, "case %zu %s %s: %d %s", i,
			     cases[i].method, cases[i].path, r.status, r.text);
		cr_expect(strstr(r.text, cases[i].says) != NULL, "case %zu: '%s' lacks '%s'", i,
			  r.text, cases[i].says);
		if (r.status == 405)
			cr_expect(r.allow != NULL && strstr(r.allow, cases[i].says) != NULL);
	}
}

Test(http_route, long_values)
{
	char a[251], b[301], body[1024];
	struct http_route r;

	memset(a, 'a', 250);
	a[250] = '\0';
	memset(b, 'b', 300);
	b[300] = '\0';
	snprintf(body, sizeof(body), "{\"sender\": \"%s\", \"rcpt\": \"%s\"}", a, a);
	cr_expect_eq(route("POST", "/api/v1/hold", NULL, body, &r), HTTP_R_CTL);
	/* a value over HTTP_WORD_MAX is refused */
	snprintf(body, sizeof(body), "{\"sender\": \"%s\"}", b);
	cr_expect_eq(route("POST", "/api/v1/hold", NULL, body, &r), HTTP_R_ERROR);
	cr_expect_eq(r.status, 400);
}

Test(http_route, other_kinds)
{
	struct http_route r;

	cr_expect_eq(route("GET", "/metrics", NULL, NULL, &r), HTTP_R_METRICS);
	cr_expect(r.api);
	cr_expect_eq(route("GET", "/api/v1/history", NULL, NULL, &r), HTTP_R_HISTORY);
	cr_expect_eq(route("GET", "/", NULL, NULL, &r), HTTP_R_STATIC);
	cr_expect_str_eq(r.text, "index.html");
	cr_expect(!r.api);
	cr_expect_eq(route("GET", "/js/app-1.2.min.js", NULL, NULL, &r), HTTP_R_STATIC);
	cr_expect_str_eq(r.text, "js/app-1.2.min.js");
}

Test(http_route, token)
{
	cr_expect(http_token_eq("abc", 3, "abc", 3));
	cr_expect(!http_token_eq("abc", 3, "abd", 3));
	cr_expect(!http_token_eq("abc", 3, "abcd", 4));
	cr_expect(!http_token_eq("", 0, "a", 1));
	cr_expect(http_bearer_ok("Bearer 0123456789abcdef", "0123456789abcdef", 16));
	cr_expect(http_bearer_ok("bearer  0123456789abcdef", "0123456789abcdef", 16));
	cr_expect(!http_bearer_ok("Bearer 0123456789abcdeF", "0123456789abcdef", 16));
	cr_expect(!http_bearer_ok("Basic 0123456789abcdef", "0123456789abcdef", 16));
	cr_expect(!http_bearer_ok("Bearer", "0123456789abcdef", 16));
	cr_expect(!http_bearer_ok(NULL, "0123456789abcdef", 16));
	cr_expect(!http_bearer_ok("Bearer ", "", 0));	/* no token: never */
}

Test(http_route, cross_site)
{
	cr_expect_null(http_cross_site(NULL, NULL, "127.0.0.1:8025"));
	cr_expect_null(http_cross_site("http://127.0.0.1:8025", NULL, "127.0.0.1:8025"));
	cr_expect_null(http_cross_site("HTTPS://Relay:8025", "same-origin", "relay:8025"));
	cr_expect_null(http_cross_site(NULL, "none", "x"));
	cr_expect_not_null(http_cross_site("http://evil.test", NULL, "127.0.0.1:8025"));
	cr_expect_not_null(http_cross_site("http://127.0.0.1:8026", NULL, "127.0.0.1:8025"));
	cr_expect_not_null(http_cross_site("null", NULL, "127.0.0.1:8025"));
	cr_expect_not_null(http_cross_site("http://127.0.0.1:8025", NULL, NULL));
	cr_expect_not_null(http_cross_site(NULL, "cross-site", "127.0.0.1:8025"));
	cr_expect_not_null(http_cross_site(NULL, "same-site", "127.0.0.1:8025"));
}

Test(http_route, ctl_status)
{
	cr_expect_eq(http_ctl_status("no connector 'x'"), 404);
	cr_expect_eq(http_ctl_status("no message 6B15ACFC01000000 in the queue"), 404);
	cr_expect_eq(http_ctl_status("'x.test' is not an accepted domain"), 404);
	cr_expect_eq(http_ctl_status("unknown command 'trace'; try help"), 404);
	cr_expect_eq(http_ctl_status("'x.test' is already authoritative"), 409);
	cr_expect_eq(http_ctl_status("worker 1 did not answer within 10 s"), 504);
	cr_expect_eq(http_ctl_status("older: expected an age like 90s"), 400);
}

Test(http_route, mime)
{
	cr_expect_str_eq(http_mime("index.html"), "text/html; charset=utf-8");
	cr_expect_str_eq(http_mime("a/b.JS"), "text/javascript; charset=utf-8");
	cr_expect_str_eq(http_mime("x.bin"), "application/octet-stream");
	cr_expect_str_eq(http_mime("html"), "application/octet-stream");
}
