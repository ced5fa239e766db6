/*
 * directory_test — unit tests of core/tenant/directory: the file format
 * (comments, blanks, CRLF, duplicates), case-insensitive matching of both
 * parts, the canonical form of quoted local parts, UTF-8, length limits, a
 * table of errors that must name the file and the line, and 100,000
 * random addresses found while near misses are not.
 */
#include "core/strb.h"
#include "core/tenant/directory.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Fail the test unless cond holds; cheap when it does (hot loops). */
#define CHECK(cond, ...) do { if (!(cond)) cr_assert_fail(__VA_ARGS__); } while (0)

/* Write text (len bytes) to a new temporary file; its path goes to path. */
static void
write_tmp(char *path, size_t cap, const char *text, size_t len)
{
	int fd;

	snprintf(path, cap, "/tmp/sluice-dir-XXXXXX");
	fd = mkstemp(path);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

/* Load text as a directory file; returns directory_load()'s result. */
static int
load_text(const char *text, size_t len, struct directory **d, char *err,
	  size_t errlen, char *path, size_t pathcap)
{
	int rc;

	write_tmp(path, pathcap, text, len);
	rc = directory_load(path, d, err, errlen);
	unlink(path);
	return rc;
}

/* Load text that must be valid. */
static struct directory *
load_ok(const char *text)
{
	char err[512], path[64];
	struct directory *d = NULL;
	int rc = load_text(text, strlen(text), &d, err, sizeof(err), path,
			   sizeof(path));

	cr_assert_eq(rc, 0, "load failed: %s", err);
	cr_assert_not_null(d);
	return d;
}

static bool
has(const struct directory *d, const char *addr)
{
	return directory_has(d, addr, strlen(addr));
}

Test(directory, format_and_case)
{
	struct directory *d = load_ok(
		"# tenant contoso\n"
		"\n"
		"alice@contoso.com\n"
		"  Bob.Smith@Contoso.COM  \t\n"
		"carol@sales.contoso.com   # sales team\r\n"
		"\t# indented comment\n"
		"   \n"
		"dave+tag@contoso.com\r\n"
		"ALICE@contoso.com\n"		/* duplicate, other case */
		"eve@[192.0.2.1]\n"
		"last@contoso.com");		/* no final newline */

	cr_assert_eq(directory_count(d), 6);
	cr_assert(has(d, "alice@contoso.com"));
	cr_assert(has(d, "Alice@Contoso.Com"));
	cr_assert(has(d, "ALICE@CONTOSO.COM"));
	cr_assert(has(d, "bob.smith@contoso.com"));
	cr_assert(has(d, "BOB.SMITH@CONTOSO.COM"));
	cr_assert(has(d, "carol@sales.contoso.com"));
	cr_assert(has(d, "dave+tag@contoso.com"));
	cr_assert(has(d, "eve@[192.0.2.1]"));
	cr_assert(has(d, "last@contoso.com"));
	cr_assert_not(has(d, "alice@contoso.co"));
	cr_assert_not(has(d, "alice@contoso.com.au"));
	cr_assert_not(has(d, "alic@contoso.com"));
	cr_assert_not(has(d, "dave@contoso.com"));
	cr_assert_not(has(d, "bobsmith@contoso.com"));
	cr_assert_not(has(d, "# tenant contoso"));
	cr_assert_not(has(d, "carol@sales.contoso.com   # sales team"));
	cr_assert_not(has(d, ""));
	/* The length is honoured: no terminator needed. */
	cr_assert(directory_has(d, "alice@contoso.comXYZ", 17));
	cr_assert_not(directory_has(d, "alice@contoso.comXYZ", 18));
	directory_free(d);
}

Test(directory, empty_and_null)
{
	struct directory *d = load_ok("# nothing here\n\n   \n");

	cr_assert_eq(directory_count(d), 0);
	cr_assert_not(has(d, "alice@contoso.com"));
	directory_free(d);
	d = load_ok("");
	cr_assert_eq(directory_count(d), 0);
	directory_free(d);
	cr_assert_not(has(NULL, "alice@contoso.com"));
	cr_assert_eq(directory_count(NULL), 0);
	directory_free(NULL);
}

Test(directory, quoted_local_parts)
{
	struct directory *d = load_ok(
		"\"john.doe\"@example.com\n"	/* plain: stored unquoted */
		"jane@example.com\n"
		"\"Jane Q\"@example.com\n"	/* needs its quotes */
		"\"a\\\"b\"@example.com\n"	/* escaped quote stays */
		"\"x\\yz\"@example.com\n"	/* needless escape dropped */
		"\"\"@example.com\n"		/* empty quoted string */
		"\"with # hash\"@example.com # and a comment\n");

	cr_assert_eq(directory_count(d), 7);
	cr_assert(has(d, "john.doe@example.com"));
	cr_assert(has(d, "\"john.doe\"@example.com"));
	cr_assert(has(d, "\"JOHN.DOE\"@EXAMPLE.COM"));
	cr_assert(has(d, "\"jane\"@example.com"));
	cr_assert(has(d, "\"j\\ane\"@example.com"));
	cr_assert(has(d, "\"jane q\"@example.com"));
	cr_assert(has(d, "\"JANE Q\"@example.com"));
	cr_assert(has(d, "\"jane\\ q\"@example.com"));
	cr_assert_not(has(d, "jane q@example.com"));
	cr_assert(has(d, "\"a\\\"b\"@example.com"));
	cr_assert(has(d, "\"xyz\"@example.com"));
	cr_assert(has(d, "xyz@example.com"));
	cr_assert(has(d, "\"\"@example.com"));
	cr_assert(has(d, "\"with # hash\"@example.com"));
	/* Malformed quoted lookups are simply absent. */
	cr_assert_not(has(d, "\"jane@example.com"));
	cr_assert_not(has(d, "\"jane\"@example.com "));
	cr_assert_not(has(d, "\"jane\"x@example.com"));
	directory_free(d);
}

Test(directory, utf8)
{
	struct directory *d = load_ok("josé@exämple.com\nüser@example.com\n");

	cr_assert_eq(directory_count(d), 2);
	cr_assert(has(d, "josé@exämple.com"));
	/* ASCII folds, UTF-8 bytes compare exactly. */
	cr_assert(has(d, "JOSé@EXäMPLE.COM"));
	cr_assert_not(has(d, "JOSÉ@exämple.com"));
	cr_assert_not(has(d, "josé@exÄmple.com"));
	cr_assert(has(d, "üSER@example.com"));
	cr_assert_not(has(d, "ÜSER@example.com"));
	directory_free(d);
}

/* An address of exactly len octets (local part of local octets). */
static void
make_long(char *out, size_t local, size_t len)
{
	size_t k = 0;

	for (; k < local; k++)
		out[k] = 'a';
	out[k++] = '@';
	/* labels of at most 63 octets */
	for (size_t label = 0; k < len; label++) {
		if (label == 60 && k + 2 < len) {
			out[k++] = '.';
			label = 0;
		}
		out[k++] = 'b';
	}
	out[k] = '\0';
}

Test(directory, length_limits)
{
	char addr[512], text[600], err[512], path[64], upper[512];
	struct directory *d = NULL;

	make_long(addr, 64, DIRECTORY_MAX_ADDR);
	cr_assert_eq(strlen(addr), 254);
	snprintf(text, sizeof(text), "%s\n", addr);
	d = load_ok(text);
	cr_assert_eq(directory_count(d), 1);
	cr_assert(has(d, addr));
	for (size_t i = 0; addr[i] != '\0'; i++)
		upper[i] = (char)(addr[i] >= 'a' && addr[i] <= 'z' ?
				  addr[i] - 32 : addr[i]);
	upper[strlen(addr)] = '\0';
	cr_assert(has(d, upper));
	directory_free(d);

	make_long(addr, 64, DIRECTORY_MAX_ADDR + 1);
	snprintf(text, sizeof(text), "ok@example.com\n%s\n", addr);
	d = NULL;
	cr_assert_eq(load_text(text, strlen(text), &d, err, sizeof(err), path,
			       sizeof(path)), -EINVAL);
	cr_assert_null(d);
	cr_assert(strstr(err, ":2: address longer than 254 characters") !=
		  NULL, "%s", err);

	make_long(addr, 65, 80);
	snprintf(text, sizeof(text), "%s\n", addr);
	cr_assert_eq(load_text(text, strlen(text), &d, err, sizeof(err), path,
			       sizeof(path)), -EINVAL);
	cr_assert(strstr(err, ":1: local part longer than 64 characters") !=
		  NULL, "%s", err);
}

/* A file that must fail: its text and the message after "path:line: ". */
struct bad_case {
	const char *text;	/* file content */
	size_t line;		/* line the error names */
	const char *msg;	/* expected message after "path:line: " */
};

static const struct bad_case bad_cases[] = {
	{ "alice\n", 1, "invalid address syntax (expected local@domain)" },
	{ "ok@x.com\nalice at contoso.com\n", 2,
	  "invalid address syntax (expected local@domain)" },
	{ "@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ ".alice@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ "alice.@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ "al..ice@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ "al(ice@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ "\"alice@contoso.com\n", 1, "invalid address syntax (bad local part)" },
	{ "\"al\x01ice\"@contoso.com\n", 1,
	  "invalid address syntax (bad local part)" },
	/* quoted-pairSMTP is "\\" and printable ASCII, as at RCPT (core/addr.c):
	   such a line could never match a recipient */
	{ "\"a\\\x7f\"@contoso.com\n", 1,
	  "invalid address syntax (bad local part)" },
	{ "\"a\\\xc3\xa9\"@contoso.com\n", 1,
	  "invalid address syntax (bad local part)" },
	{ "alice@\n", 1, "invalid address syntax (bad domain)" },
	{ "alice@-contoso.com\n", 1, "invalid address syntax (bad domain)" },
	{ "alice@contoso-.com\n", 1, "invalid address syntax (bad domain)" },
	{ "alice@contoso..com\n", 1, "invalid address syntax (bad domain)" },
	{ "alice@.contoso.com\n", 1, "invalid address syntax (bad domain)" },
	{ "alice@[1.2\n", 1, "invalid address syntax (bad domain)" },
	{ "# a\n\n\nalice@contoso.com bob@contoso.com\n", 4,
	  "invalid address syntax (unexpected text after the address; "
	  "comments start with a blank and '#')" },
	{ "alice@contoso.com#note\n", 1,
	  "invalid address syntax (unexpected text after the address; "
	  "comments start with a blank and '#')" },
	{ "alice@contoso.com>\n", 1,
	  "invalid address syntax (unexpected text after the address; "
	  "comments start with a blank and '#')" },
	{ "<alice@contoso.com>\n", 1,
	  "invalid address syntax (bad local part)" },
	{ "a@b.c\r\nx@y.z\r\nbad\r\n", 3,
	  "invalid address syntax (expected local@domain)" },
};

Test(directory, errors_name_file_and_line)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		char err[512], path[64], want[512];
		struct directory *d = NULL;
		int rc = load_text(c->text, strlen(c->text), &d, err,
				   sizeof(err), path, sizeof(path));

		cr_assert_eq(rc, -EINVAL, "case %zu: rc %d", i, rc);
		cr_assert_null(d, "case %zu", i);
		snprintf(want, sizeof(want), "%s:%zu: %s: \"", path, c->line,
			 c->msg);
		cr_assert(strncmp(err, want, strlen(want)) == 0,
			  "case %zu:\n got  %s\n want %s...", i, err, want);
	}
}

Test(directory, nul_byte_and_missing_file)
{
	static const char text[] = "ok@x.com\nal\0ice@x.com\n";
	char err[512], path[64];
	struct directory *d = NULL;

	cr_assert_eq(load_text(text, sizeof(text) - 1, &d, err, sizeof(err),
			       path, sizeof(path)), -EINVAL);
	cr_assert(strstr(err, ":2: invalid address syntax") != NULL, "%s", err);

	cr_assert_eq(directory_load("/nonexistent/sluice/dir.txt", &d, err,
				    sizeof(err)), -ENOENT);
	cr_assert_str_eq(err, "/nonexistent/sluice/dir.txt: "
			 "No such file or directory");
	cr_assert_null(d);
	/* errlen 0: no message, same result. */
	cr_assert_eq(directory_load("/nonexistent/sluice/dir.txt", &d, NULL,
				    0), -ENOENT);
	cr_assert_eq(directory_load("/", &d, err, sizeof(err)), -EISDIR);
	cr_assert(strstr(err, "/: ") == err, "%s", err);
}

static uint64_t rng = 88172645463325252ULL;	/* xorshift64 state */

static uint64_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

Test(directory, many_random)
{
	enum { N = 100000 };
	static const char chars[] = "abcdefghijklmnopqrstuvwxyz0123456789_-+";
	char *text = malloc((size_t)N * 48), *addr[N], err[512], path[64];
	struct directory *d = NULL;
	size_t len = 0;

	cr_assert_not_null(text);
	for (size_t i = 0; i < N; i++) {
		size_t n = 6 + rnd() % 16;

		addr[i] = text + len;
		for (size_t k = 0; k < n; k++)
			text[len++] = chars[rnd() % (sizeof(chars) - 1)];
		struct strb sb = { .p = text + len, .cap = 16 };
		strb_printf(&sb, "@d%u.example", (unsigned)(rnd() % 500));
		len += sb.len;
		text[len++] = '\n';
	}
	cr_assert_eq(load_text(text, len, &d, err, sizeof(err), path,
			       sizeof(path)), 0, "%s", err);
	cr_assert_leq(directory_count(d), N);
	cr_assert_geq(directory_count(d), N - 100);	/* few duplicates */
	for (size_t i = 0; i < N; i++) {
		char q[64];
		size_t n = (size_t)(strchr(addr[i], '\n') - addr[i]);

		CHECK(directory_has(d, addr[i], n), "address %zu missing", i);
		/* Upper case: still there. */
		for (size_t k = 0; k < n; k++)
			q[k] = (char)(addr[i][k] >= 'a' && addr[i][k] <= 'z' ?
				      addr[i][k] - 32 : addr[i][k]);
		CHECK(directory_has(d, q, n), "upper-case %zu missing", i);
		/* Two characters more in the local part: absent (no
		   generated address has a dot). */
		memcpy(q, "x.", 2);
		memcpy(q + 2, addr[i], n);
		CHECK(!directory_has(d, q, n + 2), "bogus %zu found", i);
		/* Same local part, unknown domain. */
		memcpy(q, addr[i], n);
		q[n - 1] = 'Z';
		CHECK(!directory_has(d, q, n), "wrong domain %zu found", i);
	}
	directory_free(d);
	free(text);
}
