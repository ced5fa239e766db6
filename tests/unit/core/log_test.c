/*
 * log: the escaper every untrusted string passes through (table driven:
 * what each kind of hostile byte becomes, and cuts that never split an
 * escape), the JSON strings made from untrusted bytes, and JSON lines that
 * are whole or absent.  The UTF-8 decoder they rely on is tested in
 * utf8_test.c.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

struct esc_case {
	const char *in;		/* bytes */
	size_t n;		/* their number */
	unsigned flags;		/* LOG_ESC_* */
	const char *want;	/* rendering */
};

#define E(lit, flags, want) { lit, sizeof(lit) - 1, flags, want }

Test(log, escape_table)
{
	static const struct esc_case cases[] = {
		E("user@example.test", LOG_ESC_SPACE, "user@example.test"),
		E("a b", 0, "a b"),
		E("a b", LOG_ESC_SPACE, "a\\x20b"),
		/* a forged JSON event after a line break */
		E("x\r\n{\"event\":\"attempt\"}", 0,
		  "x\\x0D\\x0A{\\\"event\\\":\\\"attempt\\\"}"),
		/* a quoted local part faking a field */
		E("\"x> client=1.2.3.4\"@e.test", LOG_ESC_SPACE,
		  "\\\"x>\\x20client=1.2.3.4\\\"@e.test"),
		E("back\\slash", 0, "back\\\\slash"),
		E("%s%n%%", 0, "%s%n%%"),	/* only ever an argument */
		E("tab\there", 0, "tab\\x09here"),
		E("nul\0after", 0, "nul\\x00after"),
		E("del\x7f", 0, "del\\x7F"),
		E("esc\x1b[31m", 0, "esc\\x1B[31m"),
		E("caf\xC3\xA9", 0, "caf\xC3\xA9"),		/* UTF-8 kept */
		E("\xE6\x97\xA5\xE6\x9C\xAC", LOG_ESC_SPACE, "\xE6\x97\xA5\xE6\x9C\xAC"),
		E("bad\xFF", 0, "bad\\xFF"),
		E("\xC3(", 0, "\\xC3("),
		E("\xC0\xAF", 0, "\\xC0\\xAF"),			/* overlong */
		E("\xED\xA0\x80", 0, "\\xED\\xA0\\x80"),		/* surrogate */
		E("\xF4\x90\x80\x80", 0, "\\xF4\\x90\\x80\\x80"),
		E("c1\xC2\x85", 0, "c1\\xC2\\x85"),		/* NEL */
		E("ls\xE2\x80\xA8ps\xE2\x80\xA9", 0,
		  "ls\\xE2\\x80\\xA8ps\\xE2\\x80\\xA9"),
		E("\xE2\x80\xAEtxt.exe", 0, "\\xE2\\x80\\xAEtxt.exe"),	/* RLO */
		/* JSON: jansson quotes; only NUL and non-UTF-8 are ours */
		E("a\"b\\c\nd", LOG_ESC_JSON, "a\"b\\c\nd"),
		E("a b", LOG_ESC_JSON | LOG_ESC_SPACE, "a b"),
		E("x\xFFy\0z", LOG_ESC_JSON, "x\\xFFy\\x00z"),
		E("\xE2\x80\xA8", LOG_ESC_JSON, "\xE2\x80\xA8"),
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		log_esc(out, sizeof(out), cases[i].in, cases[i].n, cases[i].flags);
		cr_expect_str_eq(out, cases[i].want, "case %zu", i);
	}
	cr_expect_str_eq(log_esc(out, sizeof(out), NULL, 5, 0), "");
}

/* A guard after the array catches any write past it. */
struct guarded {
	char a[10];
	char guard;
};

Test(log, escape_cuts_at_a_boundary)
{
	static const struct {
		const char *in;
		size_t cap;
		const char *want;
	} cases[] = {
		{ "abcdefgh", 8, "abcd..." },
		{ "abcdefg", 8, "abcdefg" },		/* fits exactly */
		{ "\n\n\n", 10, "\\x0A..." },		/* never half an escape */
		{ "\n\n", 9, "\\x0A\\x0A" },
		{ "ab\xC3\xA9\xC3\xA9\xC3\xA9", 8, "ab\xC3\xA9..." },	/* nor half a character */
		{ "abcdef", 3, "ab" },			/* no room for "..." */
		{ "abc", 1, "" },
	};
	struct guarded g;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&g, 'G', sizeof(g));
		log_esc(g.a, cases[i].cap, cases[i].in, strlen(cases[i].in), 0);
		cr_expect_str_eq(g.a, cases[i].want, "case %zu", i);
		cr_expect_eq(g.guard, 'G');
		for (size_t k = cases[i].cap; k < sizeof(g.a); k++)
			cr_expect_eq(g.a[k], 'G', "case %zu wrote byte %zu", i, k);
	}
}

/*
 * Any bytes, any room: what log_esc writes with cap bytes is the whole
 * rendering when it fits, else a prefix of it that ends where a
 * character's rendering ends, then "...", never past cap (the run of
 * plain ASCII taken at once must cut where the byte-by-byte path would).
 */
Test(log, escape_cut_is_a_prefix_of_the_whole)
{
	static const char pool[] = "ab \"\\\n\x7F\xC3\xA9\xFF\xE2\x80\xA8\0z=";
	char in[64], whole[64 * 4 + 1], out[300];
	unsigned seed = 7;

	for (int round = 0; round < 3000; round++) {
		size_t n = (seed = seed * 1103515245 + 12345) >> 16 & 31;
		unsigned flags = round % 3 == 0 ? LOG_ESC_SPACE : round % 3 == 1 ? 0 : LOG_ESC_JSON;
		size_t wl, bounds[65], nb = 0;

		for (size_t i = 0; i < n; i++)
			in[i] = pool[((seed = seed * 1103515245 + 12345) >> 16) % (sizeof(pool) - 1)];
		log_esc(whole, sizeof(whole), in, n, flags);
		wl = strlen(whole);
		/* where a character's rendering ends: the renderings of the
		   input's prefixes that are prefixes of the whole */
		for (size_t len = 0; len <= n; len++) {
			log_esc(out, sizeof(out), in, len, flags);
			if (strncmp(whole, out, strlen(out)) == 0)
				bounds[nb++] = strlen(out);
		}
		for (size_t cap = 1; cap <= wl + 2; cap++) {
			size_t ol, keep;
			bool at_bound = false;

			memset(out, 'G', sizeof(out));
			log_esc(out, cap, in, n, flags);
			ol = strlen(out);
			cr_assert_lt(ol, cap, "round %d cap %zu: %zu bytes", round, cap, ol);
			cr_assert_eq(out[cap], 'G', "round %d cap %zu wrote past", round, cap);
			if (wl < cap) {
				cr_assert_str_eq(out, whole, "round %d cap %zu", round, cap);
				continue;
			}
			keep = ol >= 3 && strcmp(out + ol - 3, "...") == 0 ? ol - 3 : ol;
			cr_assert_eq(strncmp(out, whole, keep), 0, "round %d cap %zu: %s / %s",
				     round, cap, out, whole);
			for (size_t b = 0; b < nb; b++)
				at_bound |= bounds[b] == keep;
			cr_assert(at_bound, "round %d cap %zu: cut inside a rendering: %s / %s",
				  round, cap, out, whole);
		}
	}
}

Test(log, field_macros)
{
	char big[3000];

	cr_expect_str_eq(LOG_FIELD("a b\r\n"), "a\\x20b\\x0D\\x0A");
	cr_expect_str_eq(LOG_TEXT("a b\r\n"), "a b\\x0D\\x0A");
	cr_expect_str_eq(LOG_FIELD(NULL), "");
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cr_expect_leq(strlen(LOG_TEXT(big)), LOG_ESC_MAX - 1, "bounded");
}

Test(log, json_strings_are_valid)
{
	json_t *j = log_json_str("u\xFF@e\xC3.test\0x", 12);
	char *s;

	cr_assert_not_null(j);
	cr_expect_str_eq(json_string_value(j), "u\\xFF@e\\xC3.test\\x00x");
	s = json_dumps(j, JSON_ENCODE_ANY);
	cr_assert_not_null(s);
	free(s);
	json_decref(j);

	j = log_json_s("r\xC3\xA9sum\xC3\xA9@e.test");	/* valid: unchanged */
	cr_expect_str_eq(json_string_value(j), "r\xC3\xA9sum\xC3\xA9@e.test");
	json_decref(j);

	j = log_json_s(NULL);
	cr_expect(json_is_null(j));
	json_decref(j);
}

/* What log_json writes, read back through a pipe. */
static size_t
capture(json_t *o, char *out, size_t cap)
{
	int fds[2];
	ssize_t n;

	cr_assert_eq(pipe(fds), 0);
	log_set_fd(fds[1]);
	log_json(o, "test");
	log_set_fd(2);
	close(fds[1]);
	n = read(fds[0], out, cap - 1);
	close(fds[0]);
	cr_assert_geq(n, 0);
	out[n] = '\0';
	return (size_t)n;
}

Test(log, json_lines_whole_or_absent)
{
	struct log_setup js = { .to = LOG_TO_STDERR, .json = true };
	char out[65536], err[256];
	json_t *arr = json_array(), *back;

	cr_assert_eq(log_open(&js, NULL, err, sizeof(err)), 0, "%s", err);

	/* hostile strings: one line, ASCII only, parses back to the same */
	cr_assert_eq(json_array_append_new(arr, log_json_s("a\r\n{\"event\":\"x\"}")), 0);
	cr_assert_eq(json_array_append_new(arr, log_json_s("ls\xE2\x80\xA8")), 0);
	capture(json_pack("{s:s, s:o}", "event", "attempt", "rcpts", arr), out,
		sizeof(out));
	cr_expect_eq(strchr(out, '\n'), out + strlen(out) - 1, "one line: %s", out);
	for (const char *p = out; *p; p++)
		cr_expect((unsigned char)*p < 0x80, "non-ASCII byte in %s", out);
	back = json_loads(out, 0, NULL);
	cr_assert_not_null(back, "%s", out);
	cr_expect_str_eq(json_string_value(json_array_get(json_object_get(back, "rcpts"), 0)),
			 "a\r\n{\"event\":\"x\"}");
	json_decref(back);

	/* a long line is not cut (log_msg's 4 KiB buffer does not apply) */
	arr = json_array();
	for (int i = 0; i < 200; i++)
		cr_assert_eq(json_array_append_new(arr, log_json_s(
			"a-rather-long-recipient-address-for-the-line@example.test")), 0);
	capture(json_pack("{s:o}", "rcpts", arr), out, sizeof(out));
	cr_expect_gt(strlen(out), 10000);
	back = json_loads(out, 0, NULL);
	cr_expect_not_null(back, "a long JSON line was cut");
	json_decref(back);

	/* a failed build (what json_pack gives for a bad string) */
	capture(json_pack("{s:s}", "x", "\xFF"), out, sizeof(out));
	back = json_loads(out, 0, NULL);
	cr_assert_not_null(back, "an error line, itself JSON: %s", out);
	cr_expect_str_eq(json_string_value(json_object_get(back, "level")), "error");
	cr_expect(strstr(json_string_value(json_object_get(back, "msg")),
			 "test: the JSON log line could not be built") != NULL, "%s", out);
	cr_expect_null(json_object_get(back, "x"), "no half object: %s", out);
	json_decref(back);
}

Test(log, append_and_set_never_lose_a_failure)
{
	json_t *arr = json_array(), *obj = json_object();

	cr_expect(log_json_append(&arr, json_integer(1)));
	cr_expect(log_json_set(&obj, "a", json_integer(1)));
	cr_expect_eq(json_array_size(arr), 1);
	/* a failed element (what json_string gives for a bad string) */
	cr_expect(!log_json_append(&arr, json_string("\xFF")));
	cr_expect_null(arr, "the array is dropped, not left short");
	cr_expect(!log_json_append(&arr, json_integer(2)), "and stays dropped");
	cr_expect_null(json_pack("{s:o}", "rcpts", arr), "so what takes it fails");
	cr_expect(!log_json_set(&obj, "b", NULL));
	cr_expect_null(obj);
}
