/*
 * tenant_event_test — unit tests of core/tenant/tenant_event: an invalid
 * recipient counts in its tenant's window and the worker's stats, and
 * nowhere when there is no tenant, no counter or no table; a recipient
 * accepted or delivered counts for the tenant owning its domain (found
 * whatever the case of the domain) in the table it is given, and nowhere
 * else.  A hand-made config and worker: no ring, no cluster.
 */
#include "core/tenant/tenant_event.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "core/config.h"
#include "core/tenant/tenant.h"
#include "core/worker.h"

#define NOW	UINT64_C(1700000000)

static struct cfg_tenant tenants[2];
static struct cfg_domain domains[2];
static struct config cfg;
static struct worker w;

static struct tenant_table *
table(void)
{
	static const char *const names[] = { "acme" };
	struct tenant_window win = { .bucket_secs = 60, .buckets = 60 };
	struct tenant_table *t = NULL;

	cr_assert_eq(tenant_table_new(names, 1, 2, &win, NULL, &t, NULL), 0);
	return t;
}

/* acme owns acme.test (counter 0); "nocount" owns nocount.test but has no
 * counter; other.test has no tenant.  Worker 1 of 2. */
static void
setup(void)
{
	memset(&cfg, 0, sizeof(cfg));
	memset(&w, 0, sizeof(w));
	tenants[0] = (struct cfg_tenant){ .name = "acme", .counter = 0 };
	tenants[1] = (struct cfg_tenant){ .name = "nocount", .counter = -1 };
	domains[0] = (struct cfg_domain){ .name = "acme.test", .tenant_cfg = &tenants[0] };
	domains[1] = (struct cfg_domain){ .name = "nocount.test", .tenant_cfg = &tenants[1] };
	cfg.tenants = tenants;
	cfg.ntenants = 2;
	cfg.domains = domains;
	cfg.ndomains = 2;
	cfg.tenant_table = table();
	cfg.tenant_in = table();
	cfg.tenant_out = table();
	w.id = 1;
	w.nworkers = 2;
	w.cfg = &cfg;
}

static void
teardown(void)
{
	tenant_table_free(cfg.tenant_table);
	tenant_table_free(cfg.tenant_in);
	tenant_table_free(cfg.tenant_out);
}

static uint64_t
count(struct tenant_table *t)
{
	return tenant_count_sum(tenant_table_counter(t, 0), NOW);
}

TestSuite(tenant_event, .init = setup, .fini = teardown);

Test(tenant_event, invalid_counts_in_window_and_stats)
{
	tenant_event_invalid(&w, &tenants[0], NOW);
	tenant_event_invalid(&w, &tenants[0], NOW);
	cr_expect_eq(count(cfg.tenant_table), 2);
	cr_expect_eq(w.st.invalid_rcpts, 2);
	cr_expect_eq(count(cfg.tenant_in), 0, "not an accepted recipient");
	cr_expect(tenant_over_quota(tenant_table_counter(cfg.tenant_table, 0), 0, NOW, 2),
		  "seen by the quota from another worker's shard");
}

Test(tenant_event, invalid_without_tenant_counter_or_table)
{
	tenant_event_invalid(&w, NULL, NOW);
	tenant_event_invalid(&w, &tenants[1], NOW);
	cr_expect_eq(count(cfg.tenant_table), 0);
	cr_expect_eq(w.st.invalid_rcpts, 0);

	struct tenant_table *t = cfg.tenant_table;
	cfg.tenant_table = NULL;	/* counters not built */
	tenant_event_invalid(&w, &tenants[0], NOW);
	cfg.tenant_table = t;
	cr_expect_eq(count(cfg.tenant_table), 0);
	cr_expect_eq(w.st.invalid_rcpts, 0);
}

Test(tenant_event, rcpt_counts_for_the_domain_owner)
{
	static const struct {
		const char *addr;	/* recipient */
		uint64_t want;		/* events for acme */
	} cases[] = {
		{ "alice@acme.test", 1 },
		{ "bob@ACME.Test", 1 },		/* domain case does not matter */
		{ "\"a@b\"@acme.test", 1 },	/* the last '@' starts the domain */
		{ "carol@other.test", 0 },	/* no tenant */
		{ "dave@nocount.test", 0 },	/* tenant without a counter */
		{ "acme.test", 0 },		/* no domain at all */
		{ "eve@sub.acme.test", 0 },	/* exact domains only */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t before = count(cfg.tenant_out);

		tenant_event_rcpt(&w, cfg.tenant_out, cases[i].addr, NOW);
		cr_expect_eq(count(cfg.tenant_out) - before, cases[i].want, "%s",
			     cases[i].addr);
	}
	cr_expect_eq(count(cfg.tenant_in), 0, "only the table given");
	cr_expect_eq(count(cfg.tenant_table), 0);
	cr_expect_eq(w.st.invalid_rcpts, 0);
	tenant_event_rcpt(&w, NULL, "alice@acme.test", NOW);	/* no table: nothing */
	tenant_event_rcpt(&w, cfg.tenant_in, "alice@acme.test", NOW);
	cr_expect_eq(count(cfg.tenant_in), 1);
}
