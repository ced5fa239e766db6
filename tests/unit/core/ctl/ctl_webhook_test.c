/*
 * ctl_webhook_test — the webhook's HTTP: the request head it writes
 * (request line, Host with the port and IPv6 brackets, Content-Length)
 * and the status lines it reads.
 */
#include "core/ctl/ctl_webhook.h"

#include <criterion/criterion.h>
#include <string.h>

Test(ctl_webhook, request_head)
{
	char out[512];
	size_t n = ctl_webhook_request(out, sizeof(out), "127.0.0.1", 8080, "/sluice?x=1", 42);

	cr_assert_eq(n, strlen(out));
	cr_expect_str_eq(out, "POST /sluice?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
			 "User-Agent: sluice\r\nContent-Type: application/json\r\n"
			 "Content-Length: 42\r\nConnection: close\r\n\r\n");
	ctl_webhook_request(out, sizeof(out), "::1", 80, "/", 0);
	cr_expect(strncmp(out, "POST / HTTP/1.1\r\nHost: [::1]\r\n", 30) == 0, "%s", out);
	ctl_webhook_request(out, sizeof(out), "hooks.example.net", 80, "/a", 7);
	cr_expect_not_null(strstr(out, "\r\nHost: hooks.example.net\r\n"));
	cr_expect_eq(ctl_webhook_request(out, 40, "127.0.0.1", 8080, "/", 1), 0);
}

Test(ctl_webhook, status_line)
{
	static const struct { const char *line; int code; } t[] = {
		{ "HTTP/1.1 200 OK", 200 }, { "HTTP/1.0 204 No Content", 204 },
		{ "HTTP/1.1 500", 500 }, { "HTTP/1.1 404 Not Found", 404 },
		{ "HTTP/2 200", -1 }, { "HTTP/1.1 20 OK", -1 }, { "HTTP/1.1 2000 OK", -1 },
		{ "http/1.1 200 OK", -1 }, { "", -1 }, { "HTTP/1.1 099 x", -1 },
		{ "SSH-2.0-OpenSSH", -1 },
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(ctl_webhook_status(t[i].line, strlen(t[i].line)), t[i].code, "%s",
			     t[i].line);
}
