/*
 * ctl_cert tests: the control thread's certificate table fed by fake
 * snapshot rounds (no workers, no socket): the latest handshake wins
 * across workers, every change of a warning is one cert_expiry event
 * (raised, expired, updated, cleared with its reason), nothing is logged
 * while nothing changes, a peer's subject is escaped, and the table holds
 * many hosts.  The clock is the real one: dates are relative to it.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/config.h"
#include "core/ctl/ctl_cert.h"
#include "core/log.h"
#include "core/mfi/mfi_cert.h"

#define DAY	86400

static int logfds[2];		/* the events, as JSON lines */
static struct ctl_wreq reqs[2];	/* one answer per worker */
static struct ctl_wreq *reqp[2] = { &reqs[0], &reqs[1] };
static struct ctl_run run = { .reqs = reqp };
static struct ctl_conn_cfg conn;	/* the one connector, partner */

static void
setup(void)
{
	struct log_setup s = { .to = LOG_TO_STDERR, .json = true };
	char err[256];

	cr_assert_eq(log_open(&s, NULL, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(pipe2(logfds, O_NONBLOCK), 0);
	log_set_fd(logfds[1]);
	ctl.nw = 2;
	snprintf(conn.name, sizeof(conn.name), "partner");
	conn.cert_warning = 14 * DAY;
	conn.tls = CFG_TLS_VERIFY;
}

static void
teardown(void)
{
	log_set_fd(2);
	close(logfds[0]);
	close(logfds[1]);
	ctl_certs_fini();
	for (int w = 0; w < 2; w++)
		free(reqs[w].snap.certs);
}

TestSuite(ctl_cert, .init = setup, .fini = teardown);

/* The events logged since the last call, as an array of objects. */
static json_t *
logged(void)
{
	static char buf[65536];
	json_t *a = json_array();
	ssize_t n = read(logfds[0], buf, sizeof(buf) - 1);
	char *line, *save = NULL;

	if (n <= 0)
		return a;
	buf[n] = '\0';
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		json_array_append_new(a, json_loads(line, 0, NULL));
	return a;
}

/* One round: worker w saw host's certificate (until now + left, at seen);
 * the other worker saw nothing; with_conn: partner is configured. */
static void
round_of(int w, const char *host, int64_t left, int64_t seen, bool with_conn)
{
	int64_t now = time(NULL);

	for (int k = 0; k < 2; k++) {
		struct ctl_snap *s = &reqs[k].snap;
		free(s->certs);
		s->certs = NULL;
		s->ncerts = 0;
		s->conns = with_conn ? &conn : NULL;
		s->nconn = with_conn ? 1 : 0;
	}
	if (host != NULL) {
		struct ctl_snap *s = &reqs[w].snap;
		s->certs = calloc(1, sizeof(*s->certs));
		s->ncerts = 1;
		snprintf(s->certs[0].connector, sizeof(s->certs[0].connector), "partner");
		snprintf(s->certs[0].c.host, sizeof(s->certs[0].c.host), "%s", host);
		memcpy(s->certs[0].c.subject, "mx\x1b[31m\0x", 9);	/* the peer's bytes */
		s->certs[0].c.subject_len = 9;
		s->certs[0].c.not_after = now + left;
		s->certs[0].c.seen = seen;
	}
	ctl_certs_update(&run);
}

/* The one event logged since the last call: its state and reason. */
static void
expect_event(const char *state, const char *reason)
{
	json_t *a = logged(), *e = json_array_get(a, 0);

	cr_assert_eq(json_array_size(a), 1, "%zu events", json_array_size(a));
	cr_expect_str_eq(json_string_value(json_object_get(e, "event")), "cert_expiry");
	cr_expect_str_eq(json_string_value(json_object_get(e, "state")), state);
	cr_expect_str_eq(json_string_value(json_object_get(e, "connector")), "partner");
	cr_expect_str_eq(json_string_value(json_object_get(e, "host")), "mx.partner.test");
	cr_expect_str_eq(json_string_value(json_object_get(e, "subject")), "mx\x1b[31m\\x00x");
	if (reason != NULL) {
		cr_expect_str_eq(json_string_value(json_object_get(e, "reason")), reason);
		cr_expect_null(json_object_get(e, "fix"));
	} else {
		cr_expect_null(json_object_get(e, "reason"));
		cr_expect(strstr(json_string_value(json_object_get(e, "meaning")),
				 "(mx\\x1B[31m\\x00x)") != NULL, "the subject escaped: %s",
			  json_string_value(json_object_get(e, "meaning")));
		cr_expect(strstr(json_string_value(json_object_get(e, "fix")),
				 "Renew the certificate on mx.partner.test") != NULL);
	}
	json_decref(a);
}

static void
expect_quiet(void)
{
	json_t *a = logged();

	cr_expect_eq(json_array_size(a), 0, "%zu events", json_array_size(a));
	json_decref(a);
}

static enum mfi_cert_state
state(void)
{
	size_t n;
	const struct ctl_cert *c = ctl_certs_get(&n);

	cr_assert_eq(n, 1);
	return (enum mfi_cert_state)c[0].state;
}

Test(ctl_cert, transitions)
{
	const char *h = "mx.partner.test";

	/* worker 1's later handshake saw the renewed one: nothing to say */
	round_of(0, h, 3 * DAY, 100, true);
	expect_event("raised", NULL);
	round_of(1, h, 365 * DAY, 200, true);
	expect_event("cleared", "renewed");
	round_of(0, h, 3 * DAY, 150, true);	/* older than what is known */
	expect_quiet();
	cr_expect_eq(state(), MFI_CERT_OK);

	round_of(0, h, 3 * DAY, 300, true);	/* a server with the old one */
	expect_event("raised", NULL);
	round_of(0, h, 3 * DAY, 300, true);
	round_of(0, NULL, 0, 0, true);		/* no news: it stays */
	expect_quiet();
	cr_expect_eq(state(), MFI_CERT_EXPIRING);
	round_of(0, h, -10, 400, true);
	expect_event("expired", NULL);
	round_of(0, h, 5 * DAY, 500, true);	/* another, in the window too */
	expect_event("updated", NULL);
	round_of(0, h, 6 * DAY, 600, true);
	expect_event("updated", NULL);

	conn.cert_warning = 0;			/* a reload turns it off */
	round_of(0, NULL, 0, 0, true);
	expect_event("cleared", "warning off");
	conn.cert_warning = 14 * DAY;
	round_of(0, NULL, 0, 0, true);
	expect_event("raised", NULL);
	conn.cert_warning = 2 * DAY;		/* a smaller window */
	round_of(0, NULL, 0, 0, true);
	expect_event("cleared", "outside the warning window");
	conn.cert_warning = 14 * DAY;
	round_of(0, NULL, 0, 0, true);
	expect_event("raised", NULL);
	round_of(0, NULL, 0, 0, false);		/* the connector is gone */
	expect_event("cleared", "connector removed");
	cr_expect_eq(state(), MFI_CERT_OK);
}

Test(ctl_cert, insights)
{
	struct ctl_client cl = { 0 };
	json_t *arr = json_array(), *c;

	round_of(1, "mx.partner.test", 3 * DAY + 3600, 100, true);
	logged();
	cr_expect_eq(ctl_cert_insights(&run, &arr), 1);
	cr_assert_eq(json_array_size(arr), 1);
	c = json_array_get(arr, 0);
	cr_expect_str_eq(json_string_value(json_object_get(c, "state")), "expiring");
	cr_expect_eq(json_integer_value(json_object_get(c, "days_left")), 3);
	cr_expect_str_eq(json_string_value(json_object_get(c, "subject")), "mx\x1b[31m\\x00x");
	cr_expect_str_eq(json_string_value(json_object_get(c, "tls")), "verify");
	cr_expect_eq(json_integer_value(json_object_get(c, "warning")), 14 * DAY);
	json_decref(arr);

	run.cl = &cl;
	cr_expect_eq(ctl_cert_insights(&run, NULL), 1);
	run.cl = NULL;
	buf_append(&cl.out, "", 1);
	cr_expect(strstr(cl.out.p, "1 certificate to renew") == cl.out.p, "%s", cl.out.p);
	cr_expect(strstr(cl.out.p, " mx\\x1B[31m\\x00x ") != NULL, "escaped: %s", cl.out.p);
	cr_expect(strstr(cl.out.p, "\npartner mx.partner.test: how to fix: Renew the "
			 "certificate on mx.partner.test before ") != NULL, "%s", cl.out.p);
	buf_free(&cl.out);
}

Test(ctl_cert, many_hosts)
{
	size_t n;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i < 300; i++) {
			char h[32];
			snprintf(h, sizeof(h), "mx%d.partner.test", i);
			round_of(i % 2, h, 365 * DAY, 100 + pass, true);
		}
	ctl_certs_get(&n);
	cr_expect_eq(n, 300, "one entry per host, found again: %zu", n);
	expect_quiet();
}
