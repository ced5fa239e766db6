/*
 * http_static — the built-in files.  The page links only to this
 * listener: nothing is fetched from anywhere else.
 */
#include "core/http/http_static.h"

#include <string.h>

static const char index_html[] =
	"<!doctype html>\n"
	"<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
	"<title>Sluice</title>\n"
	"<link rel=\"stylesheet\" href=\"/builtin.css\">\n"
	"</head><body>\n"
	"<h1>Sluice</h1>\n"
	"<p>This is the admin listener of sluiced. The dashboard is not installed here "
	"(its files go in <code>http.static_dir</code>); the API and the metrics are:</p>\n"
	"<ul>\n"
	"<li><a href=\"/api/v1/info\">/api/v1/info</a>, "
	"<a href=\"/api/v1/stats\">stats</a>, "
	"<a href=\"/api/v1/connectors\">connectors</a>, "
	"<a href=\"/api/v1/insights\">insights</a>, "
	"<a href=\"/api/v1/tenants\">tenants</a>, "
	"<a href=\"/api/v1/queue\">queue</a>, "
	"<a href=\"/api/v1/history\">history</a></li>\n"
	"<li><a href=\"/metrics\">/metrics</a> (Prometheus)</li>\n"
	"</ul>\n"
	"<p>They answer with the JSON that <code>sluicectl --json</code> prints; "
	"<code>man sluiced</code> lists every path.</p>\n"
	"</body></html>\n";

/* A file of its own, not a <style>: the listener's Content-Security-Policy
 * (default-src 'self') refuses inline styles. */
static const char builtin_css[] =
	"body{font:16px/1.5 system-ui,sans-serif;max-width:44em;margin:3em auto;"
	"padding:0 1em;color:#222}code{background:#f2f2f2;padding:0 .2em}"
	"li{margin:.2em 0}\n";

static const struct http_file files[] = {
	{ "index.html", "text/html; charset=utf-8", index_html, sizeof(index_html) - 1 },
	{ "builtin.css", "text/css; charset=utf-8", builtin_css, sizeof(builtin_css) - 1 },
};

const struct http_file *
http_builtin(const char *path)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		if (strcmp(files[i].path, path) == 0)
			return &files[i];
	return NULL;
}
