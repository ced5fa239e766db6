/*
 * config_cases — what the config tests share: loading a YAML text that must
 * parse or must fail with one exact error, and tables of such failures
 * handed to Criterion's parameterized tests.  Header only (static inline):
 * each test binary is one file linked with the library.
 */
#ifndef SLUICE_TESTS_CONFIG_CASES_H
#define SLUICE_TESTS_CONFIG_CASES_H

#include <errno.h>
#include <string.h>

#include <criterion/alloc.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "core/config.h"

#define NAME	"sluice.yaml"

/* A YAML text and the one line its loading must fail with. */
struct bad_case {
	const char *yaml;	/* the input */
	const char *want;	/* the exact error */
};

/* Parse yaml; on failure the test fails with the error text. */
static inline struct config *
load_ok(const char *yaml)
{
	struct config *cfg = NULL;
	char err[512];
	int rc;

	rc = config_load_string(NAME, yaml, &cfg, err, sizeof(err));
	cr_assert_eq(rc, 0, "config_load_string failed: %d %s", rc, err);
	cr_assert_not_null(cfg);
	return cfg;
}

/* Parse yaml expecting -EINVAL and exactly the error want. */
static inline void
load_bad(const char *yaml, const char *want)
{
	struct config *cfg = (struct config *)1;
	char err[512];
	int rc;

	rc = config_load_string(NAME, yaml, &cfg, err, sizeof(err));
	cr_assert_eq(rc, -EINVAL, "rc %d for:\n%s\nerr: %s", rc, yaml, err);
	cr_assert_null(cfg);
	cr_assert_str_eq(err, want, "for:\n%s\ngot:  %s\nwant: %s", yaml, err, want);
}

static inline char *
cases_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = cr_malloc(n);

	memcpy(p, s, n);
	return p;
}

static inline void
cases_free(struct criterion_test_params *p)
{
	struct bad_case *c = p->params;

	for (size_t i = 0; i < p->length; i++) {
		cr_free((void *)c[i].yaml);
		cr_free((void *)c[i].want);
	}
	cr_free(c);
}

/*
 * The parameters of a table of n bad cases.  Criterion runs each case in a
 * fresh process where the literals may sit elsewhere: it gets copies in
 * Criterion's shared memory.
 */
static inline struct criterion_test_params
bad_cases(const struct bad_case *cases, size_t n)
{
	struct bad_case *shared = cr_malloc(n * sizeof(*shared));

	for (size_t i = 0; i < n; i++) {
		shared[i].yaml = cases_strdup(cases[i].yaml);
		shared[i].want = cases_strdup(cases[i].want);
	}
	return cr_make_param_array(struct bad_case, shared, n, cases_free);
}

#endif
