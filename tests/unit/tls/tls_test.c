/*
 * tls unit tests: a client and a server tls_conn driven against each other
 * purely in memory (the output of one fed to the other), with throwaway
 * certificates from tests/tls/make-certs.sh (made once per run, before the
 * first test, into a temporary directory named by SLUICE_TLS_CERTS).
 * Covers the handshake, data both ways, each certificate verdict, the
 * verify-off policy, truncation, garbage, the output buffer rule, and
 * session resumption (tickets and their keys, the client cache).
 */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tls/tls.h"
#include "tls/tls_cache.h"

#define CERTS_ENV	"SLUICE_TLS_CERTS"

static char certs_made[128];	/* directory PRE_ALL made, "" if none */

/* Before any test: make the certificates once, for every test process. */
ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
	const char *script = "tests/tls/make-certs.sh";
	char cmd[512];
	struct stat st;

	if (getenv(CERTS_ENV) != NULL)
		return;		/* the caller made them */
	if (stat(script, &st) < 0)
		script = "../tls/make-certs.sh";	/* run from tests/unit */
	snprintf(certs_made, sizeof(certs_made), "/tmp/sluice-tls-test.XXXXXX");
	if (mkdtemp(certs_made) == NULL) {
		certs_made[0] = '\0';
		return;
	}
	snprintf(cmd, sizeof(cmd), "sh %s %s/certs", script, certs_made);
	if (system(cmd) != 0) {
		fprintf(stderr, "tls_test: %s failed\n", cmd);
		return;
	}
	snprintf(cmd, sizeof(cmd), "%s/certs", certs_made);
	setenv(CERTS_ENV, cmd, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
	char cmd[192];

	if (certs_made[0] == '\0')
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", certs_made);
	if (system(cmd) != 0)
		fprintf(stderr, "tls_test: cannot remove %s\n", certs_made);
}

/* Path of a file in the certificate directory (8 rotating buffers). */
static const char *
cert(const char *name)
{
	static char paths[8][256];
	static int next;
	const char *dir = getenv(CERTS_ENV);
	char *p = paths[next++ % 8];

	cr_assert_not_null(dir, "certificates were not made");
	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

/* ---- harness ------------------------------------------------------------- */

struct side {
	struct tls_ctx *ctx;	/* its context */
	struct tls_conn *c;	/* its session */
	int hs;			/* last tls_handshake result */
};

static struct side cli, srv;

/* Free both sides (tests with several rounds call it between rounds). */
static void
reset(void)
{
	tls_conn_free(cli.c);
	tls_conn_free(srv.c);
	tls_ctx_free(cli.ctx);
	tls_ctx_free(srv.ctx);
	memset(&cli, 0, sizeof(cli));
	memset(&srv, 0, sizeof(srv));
}

static void
fini(void)
{
	reset();
	tls_cleanup();
}

TestSuite(tls, .fini = fini, .timeout = 60);

/* A server on leaf NAME (NAME.pem + NAME.key). */
static void
server_on(const char *name)
{
	char err[256], pem[64], key[64];

	snprintf(pem, sizeof(pem), "%s.pem", name);
	snprintf(key, sizeof(key), "%s.key", name);
	srv.ctx = tls_server_ctx_new(cert(pem), cert(key), err, sizeof(err));
	cr_assert_not_null(srv.ctx, "server ctx: %s", err);
	srv.c = tls_conn_new(srv.ctx, true, NULL);
	cr_assert_not_null(srv.c);
}

/* A client trusting ca.pem (or not verifying), expecting peer. */
static void
client_to(const char *peer, bool verify, const char *crl)
{
	char err[256];

	cli.ctx = tls_client_ctx_new(cert("ca.pem"), verify,
				     crl ? cert(crl) : NULL, err, sizeof(err));
	cr_assert_not_null(cli.ctx, "client ctx: %s", err);
	cli.c = tls_conn_new(cli.ctx, false, peer);
	cr_assert_not_null(cli.c);
}

/*
 * Move what from has to send into to, at most chunk bytes per tls_feed,
 * the way a worker would: pin, "send", consume.  Stops early when to's
 * input is full.  Returns bytes moved.
 */
static size_t
move(struct tls_conn *from, struct tls_conn *to, size_t chunk)
{
	size_t moved = 0, len, n;
	const char *p;

	while ((len = tls_out_len(from)) > 0) {
		p = tls_out_ptr(from);
		n = len < chunk ? len : chunk;
		if (tls_feed(to, p, n) < 0)
			break;
		tls_out_consume(from, n);
		moved += n;
	}
	return moved;
}

/* Run both handshakes until both are done or nothing moves any more. */
static void
pump_chunked(size_t chunk)
{
	size_t moved;
	int rounds = 0;

	cli.hs = srv.hs = 0;
	do {
		if (cli.hs == 0)
			cli.hs = tls_handshake(cli.c);
		if (srv.hs == 0)
			srv.hs = tls_handshake(srv.c);
		moved = move(cli.c, srv.c, chunk) + move(srv.c, cli.c, chunk);
		cr_assert_lt(++rounds, 10000, "handshake does not converge");
	} while (moved > 0 || (cli.hs == 0 && srv.hs == 0 && rounds < 3));
	/* One more turn so each side sees the other's last flight. */
	if (cli.hs == 0)
		cli.hs = tls_handshake(cli.c);
	if (srv.hs == 0)
		srv.hs = tls_handshake(srv.c);
}

static void
pump(void)
{
	pump_chunked(1 << 20);
}

static void
expect_ok(void)
{
	char d[TLS_DETAIL_MAX];

	cr_assert_eq(cli.hs, 1, "client: %d %s", cli.hs,
		     (tls_failure(cli.c, d, sizeof(d)), d));
	cr_assert_eq(srv.hs, 1, "server: %d %s", srv.hs,
		     (tls_failure(srv.c, d, sizeof(d)), d));
	cr_expect_eq(tls_failure(cli.c, NULL, 0), MFI_TLS_NONE);
	cr_expect_eq(tls_failure(srv.c, NULL, 0), MFI_TLS_NONE);
}

/* Send n bytes of p from a to b (both done), reading in buf as it goes;
 * returns bytes b decrypted into out. */
static size_t
transfer(struct tls_conn *a, struct tls_conn *b, const char *p, size_t n,
	 size_t piece, char *out, size_t cap)
{
	size_t sent = 0, got = 0, k;
	long r;

	while (sent < n || tls_out_len(a) > 0) {
		if (sent < n) {
			k = n - sent < piece ? n - sent : piece;
			cr_assert_eq(tls_write(a, p + sent, k), (long)k);
			sent += k;
		}
		while (tls_out_len(a) > 0) {
			move(a, b, 16384);
			while ((r = tls_read(b, out + got, cap - got)) > 0)
				got += (size_t)r;
			cr_assert_geq(r, 0, "tls_read: %ld", r);
		}
	}
	return got;
}

/* ---- a good handshake ----------------------------------------------------- */

Test(tls, handshake_tls13_sni)
{
	char d[TLS_DETAIL_MAX];

	server_on("valid");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();
	cr_expect_str_eq(tls_version(cli.c), "TLSv1.3");
	cr_expect_str_eq(tls_version(srv.c), "TLSv1.3");
	cr_expect_str_eq(tls_cipher(cli.c), tls_cipher(srv.c));
	cr_expect_gt(strlen(tls_cipher(cli.c)), 0);
	cr_assert_not_null(tls_sni(srv.c));
	cr_expect_str_eq(tls_sni(srv.c), "mx.test.example");
	cr_expect_str_eq(tls_sni(cli.c), "mx.test.example");
	cr_expect_eq(tls_failure(cli.c, d, sizeof(d)), MFI_TLS_NONE);
	cr_expect_str_eq(d, "");
	cr_expect_eq(tls_failure_code(cli.c), 0);
	/* Later calls keep saying done. */
	cr_expect_eq(tls_handshake(cli.c), 1);
}

Test(tls, handshake_byte_by_byte)
{
	server_on("valid");
	client_to("localhost", true, NULL);
	pump_chunked(1);
	expect_ok();
}

Test(tls, data_both_ways_large)
{
	size_t n = 300 * 1024, got;
	char *a = malloc(n), *b = malloc(n);

	cr_assert(a && b);
	for (size_t i = 0; i < n; i++)
		a[i] = (char)(i * 7 + i / 251);
	server_on("valid");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();

	got = transfer(cli.c, srv.c, a, n, 10000, b, n);
	cr_assert_eq(got, n);
	cr_assert(memcmp(a, b, n) == 0);

	memset(b, 0, n);
	got = transfer(srv.c, cli.c, a, 100 * 1024, 70000, b, n);
	cr_assert_eq(got, 100 * 1024);
	cr_assert(memcmp(a, b, got) == 0);

	/* One 300 KiB write, then delivered in 1000-byte feeds. */
	memset(b, 0, n);
	got = transfer(cli.c, srv.c, a, n, n, b, n);
	cr_assert_eq(got, n);
	cr_assert(memcmp(a, b, n) == 0);
	free(a);
	free(b);
}

Test(tls, chain_with_intermediate)
{
	server_on("chain");
	client_to("localhost", true, NULL);
	pump();
	expect_ok();
}

Test(tls, ip_literal_peer)
{
	server_on("valid");
	client_to("127.0.0.1", true, NULL);
	pump();
	expect_ok();
	cr_expect_null(tls_sni(srv.c), "an IP literal is never sent as SNI");
	cr_expect_null(tls_sni(cli.c));
}

Test(tls, no_peer_name_no_name_check)
{
	server_on("wrongname");
	client_to(NULL, true, NULL);
	pump();
	expect_ok();
	cr_expect_null(tls_sni(srv.c));
}

Test(tls, system_bundle_loads)
{
	char err[256];
	struct tls_ctx *t = tls_client_ctx_new(NULL, true, NULL, err,
					       sizeof(err));

	cr_assert_not_null(t, "%s", err);
	tls_ctx_free(t);
}

/* ---- certificate verdicts ------------------------------------------------ */

struct bad_case {
	const char *leaf;	/* server certificate */
	const char *peer;	/* name the client wants */
	const char *crl;	/* CRL file, or NULL */
	enum mfi_tls want;	/* client verdict */
	const char *detail;	/* substring of the client's detail */
};

static void
expect_bad(const struct bad_case *t)
{
	char d[TLS_DETAIL_MAX], sd[TLS_DETAIL_MAX];
	enum mfi_tls r;

	server_on(t->leaf);
	client_to(t->peer, true, t->crl);
	pump();
	r = tls_failure(cli.c, d, sizeof(d));
	cr_assert_lt(cli.hs, 0, "%s: client handshake did not fail", t->leaf);
	cr_expect_eq(r, t->want, "%s: verdict %d, want %d (%s, code %d)",
		     t->leaf, r, t->want, d, tls_failure_code(cli.c));
	cr_expect(strstr(d, t->detail) != NULL, "%s: detail '%s' lacks '%s'",
		  t->leaf, d, t->detail);
	/* The server learns of it through the client's alert. */
	cr_expect_lt(srv.hs, 0, "%s: server handshake did not fail", t->leaf);
	cr_expect_eq(tls_failure(srv.c, sd, sizeof(sd)),
		     MFI_TLS_HANDSHAKE_FAILED, "%s: server: %s", t->leaf, sd);
	/* Reads and writes refuse after a failure. */
	cr_expect_lt(tls_write(cli.c, "x", 1), 0);
	cr_expect_lt(tls_read(cli.c, d, sizeof(d)), 0);
}

Test(tls, expired)
{
	expect_bad(&(struct bad_case){ "expired", "mx.test.example", NULL,
		MFI_TLS_EXPIRED,
		"certificate has expired (notAfter 2020-02-01 00:00:00 UTC)" });
}

Test(tls, not_yet_valid)
{
	expect_bad(&(struct bad_case){ "notyet", "mx.test.example", NULL,
		MFI_TLS_NOT_YET_VALID,
		"certificate is not yet valid (notBefore 2099-01-01" });
}

Test(tls, wrong_name)
{
	expect_bad(&(struct bad_case){ "wrongname", "mx.test.example", NULL,
		MFI_TLS_NAME_MISMATCH,
		"certificate name mismatch: wanted mx.test.example" });
}

Test(tls, wrong_ip)
{
	expect_bad(&(struct bad_case){ "wrongname", "127.0.0.1", NULL,
		MFI_TLS_NAME_MISMATCH,
		"certificate name mismatch: wanted 127.0.0.1" });
}

Test(tls, self_signed)
{
	expect_bad(&(struct bad_case){ "selfsigned", "mx.test.example", NULL,
		MFI_TLS_SELF_SIGNED, "self-signed certificate" });
}

Test(tls, unknown_ca)
{
	expect_bad(&(struct bad_case){ "unknownca", "mx.test.example", NULL,
		MFI_TLS_UNTRUSTED, "issuer not trusted (issuer \"Sluice Test ca2\")" });
}

Test(tls, revoked)
{
	expect_bad(&(struct bad_case){ "revoked", "mx.test.example",
		"crl.pem", MFI_TLS_REVOKED, "certificate revoked" });
}

Test(tls, crl_missing_for_issuer)
{
	/* chain.pem's leaf comes from the intermediate: no CRL for it. */
	expect_bad(&(struct bad_case){ "chain", "localhost", "crl.pem",
		MFI_TLS_UNTRUSTED, "no CRL for the issuer" });
}

Test(tls, revoked_without_crl_passes)
{
	server_on("revoked");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();
}

Test(tls, valid_with_crl_passes)
{
	server_on("valid");
	client_to("mx.test.example", true, "crl.pem");
	pump();
	expect_ok();
}

Test(tls, system_bundle_does_not_trust_test_ca)
{
	char err[256], d[TLS_DETAIL_MAX];

	server_on("valid");
	cli.ctx = tls_client_ctx_new(NULL, true, NULL, err, sizeof(err));
	cr_assert_not_null(cli.ctx, "%s", err);
	cli.c = tls_conn_new(cli.ctx, false, "mx.test.example");
	pump();
	cr_expect_lt(cli.hs, 0);
	cr_expect_eq(tls_failure(cli.c, d, sizeof(d)), MFI_TLS_UNTRUSTED,
		     "%s", d);
}

/* Names per RFC 6125 s. 6.4 (rules in tls.c's opening comment). */
struct wild_case {
	const char *leaf;	/* wild: *.wild.test; laxwild: f*.part.test,
				   *.*.deep.test, *.test and *; cnonly: CN
				   mx.cn.test, no SAN; cnsan: CN cn.name.test,
				   SAN san.name.test */
	const char *peer;	/* name asked for */
	bool ok;		/* expected to match */
};

Test(tls, name_rules)
{
	static const struct wild_case cases[] = {
		{ "wild", "mx.wild.test", true },
		{ "wild", "MX.Wild.Test", true },
		{ "wild", "mx.wild.test.", true },
		{ "wild", "wild.test", false },
		{ "wild", "a.mx.wild.test", false },
		{ "wild", "mx.wild.test.evil", false },
		{ "wild", ".wild.test", false },
		/* What wolfSSL 5.5.4's own matching would accept: */
		{ "laxwild", "foo.part.test", false },
		{ "laxwild", "a.b.deep.test", false },
		{ "laxwild", "mx.test", false },
		{ "laxwild", "anything", false },
		{ "laxwild", "localhost", false },
		/* The CN counts only without a DNS subjectAltName. */
		{ "cnonly", "mx.cn.test", true },
		{ "cnonly", "other.cn.test", false },
		{ "cnsan", "san.name.test", true },
		{ "cnsan", "cn.name.test", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		server_on(cases[i].leaf);
		client_to(cases[i].peer, true, NULL);
		pump();
		if (cases[i].ok)
			cr_expect_eq(cli.hs, 1, "%s should match", cases[i].peer);
		else
			cr_expect_eq(tls_failure(cli.c, NULL, 0),
				     MFI_TLS_NAME_MISMATCH, "%s should not match",
				     cases[i].peer);
		reset();
	}
}

/*
 * A name with an embedded NUL ("victim.example\0.attacker.example", which
 * a CA may sign for the owner of attacker.example) matches nothing, as CN
 * (no SAN) or as DNS SAN; the detail shows the NUL escaped, not cut there.
 */
Test(tls, nul_in_certificate_name)
{
	static const struct { const char *leaf, *peer; } cases[] = {
		{ "nulcn", "victim.example" },
		{ "nulcn", "victim.example." },
		{ "nulcn", "attacker.example" },
		{ "nulsan", "victim.example" },
		{ "nulsan", "nulsan.test" },	/* the CN does not count */
	};
	char d[TLS_DETAIL_MAX];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		server_on(cases[i].leaf);
		client_to(cases[i].peer, true, NULL);
		pump();
		cr_expect_lt(cli.hs, 0, "%s: %s accepted", cases[i].leaf,
			     cases[i].peer);
		cr_expect_eq(tls_failure(cli.c, d, sizeof(d)),
			     MFI_TLS_NAME_MISMATCH, "%s: %s: %s", cases[i].leaf,
			     cases[i].peer, d);
		cr_expect(strstr(d, "victim.example\\x00.attacker.example") != NULL,
			  "%s: detail '%s'", cases[i].leaf, d);
		reset();
	}
}

/* Policy "required": encryption, any certificate. */
Test(tls, verify_off_accepts_everything)
{
	static const char *leaves[] = { "valid", "expired", "notyet",
		"wrongname", "selfsigned", "unknownca", "revoked", "wild",
		"laxwild", "cnonly", "cnsan", "chain" };

	for (size_t i = 0; i < sizeof(leaves) / sizeof(leaves[0]); i++) {
		server_on(leaves[i]);
		client_to("mx.test.example", false, "crl.pem");
		pump();
		cr_expect_eq(cli.hs, 1, "%s refused without verification",
			     leaves[i]);
		cr_expect_eq(srv.hs, 1, "%s: server", leaves[i]);
		reset();
	}
}

/* The peer's certificate for the expiry insight: noted whether the
 * context verifies or not, and when verification fails on it. */
Test(tls, peer_cert)
{
	static const char nul[] = "victim.example\0.attacker.example";
	static const struct {
		const char *leaf;	/* server certificate */
		bool verify;		/* client verifies */
		bool ok;		/* handshake succeeds */
		int64_t not_after;	/* exact, or 0: ten years from now */
		const char *subject;	/* CN, NULL: nul above */
	} t[] = {
		{ "valid", true, true, 0, "localhost" },
		{ "valid", false, true, 0, "localhost" },
		{ "chain", true, true, 0, "localhost" },	/* the leaf, not int */
		{ "cnonly", false, true, 0, "mx.cn.test" },
		{ "expired", false, true, 1580515200, "localhost" },	/* 2020-02-01 */
		{ "expired", true, false, 1580515200, "localhost" },
		{ "nulcn", false, true, 0, NULL },
	};
	struct tls_cert tc;
	int64_t now = time(NULL);

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const char *want = t[i].subject ? t[i].subject : nul;
		size_t wlen = t[i].subject ? strlen(want) : sizeof(nul) - 1;

		server_on(t[i].leaf);
		client_to("mx.test.example", t[i].verify, NULL);
		cr_expect_eq(tls_peer_cert(cli.c, &tc), -ENOENT, "%s: before", t[i].leaf);
		pump();
		cr_expect_eq(cli.hs == 1, t[i].ok, "%s: handshake %d", t[i].leaf, cli.hs);
		cr_assert_eq(tls_peer_cert(cli.c, &tc), 0, "%s: not seen", t[i].leaf);
		if (t[i].not_after != 0)
			cr_expect_eq(tc.not_after, t[i].not_after, "%s: %lld", t[i].leaf,
				     (long long)tc.not_after);
		else
			cr_expect(tc.not_after > now + 3600LL * 24 * 3000, "%s: %lld",
				  t[i].leaf, (long long)tc.not_after);
		cr_expect_eq(tc.subject_len, wlen, "%s: %zu", t[i].leaf, tc.subject_len);
		cr_expect(memcmp(tc.subject, want, wlen) == 0, "%s: %s", t[i].leaf, tc.subject);
		cr_expect_eq(tc.subject[tc.subject_len], '\0');
		cr_expect_eq(tls_peer_cert(srv.c, &tc), -ENOENT, "no client certificate");
		reset();
	}
}

/* ---- broken peers ---------------------------------------------------------- */

Test(tls, truncated_client_hello)
{
	char d[TLS_DETAIL_MAX];
	size_t len;

	server_on("valid");
	client_to("mx.test.example", true, NULL);
	cr_assert_eq(tls_handshake(cli.c), 0);
	len = tls_out_len(cli.c);
	cr_assert_gt(len, 10);
	cr_assert_eq(tls_feed(srv.c, tls_out_ptr(cli.c), len / 2), 0);
	cr_expect_eq(tls_handshake(srv.c), 0, "half a hello: wait for more");
	tls_eof(srv.c);
	cr_expect_lt(tls_handshake(srv.c), 0);
	cr_expect_eq(tls_failure(srv.c, d, sizeof(d)),
		     MFI_TLS_HANDSHAKE_FAILED);
	cr_expect(strstr(d, "closed") != NULL, "%s", d);
}

Test(tls, truncated_server_flight)
{
	char d[TLS_DETAIL_MAX];
	size_t len;

	server_on("valid");
	client_to("mx.test.example", true, NULL);
	cr_assert_eq(tls_handshake(cli.c), 0);
	move(cli.c, srv.c, 1 << 20);
	cr_assert_eq(tls_handshake(srv.c), 0);
	len = tls_out_len(srv.c);
	cr_assert_gt(len, 100);
	cr_assert_eq(tls_feed(cli.c, tls_out_ptr(srv.c), len - 30), 0);
	cr_expect_eq(tls_handshake(cli.c), 0);
	tls_eof(cli.c);
	cr_expect_lt(tls_handshake(cli.c), 0);
	cr_expect_eq(tls_failure(cli.c, d, sizeof(d)),
		     MFI_TLS_HANDSHAKE_FAILED, "%s", d);
}

Test(tls, eof_before_anything)
{
	server_on("valid");
	tls_eof(srv.c);
	cr_expect_lt(tls_handshake(srv.c), 0);
	cr_expect_eq(tls_failure(srv.c, NULL, 0), MFI_TLS_HANDSHAKE_FAILED);
}

Test(tls, plaintext_smtp_to_server)
{
	static const char smtp[] = "EHLO client.test\r\nMAIL FROM:<a@b>\r\n";
	char d[TLS_DETAIL_MAX];

	server_on("valid");
	cr_assert_eq(tls_feed(srv.c, smtp, sizeof(smtp) - 1), 0);
	cr_expect_lt(tls_handshake(srv.c), 0);
	cr_expect_eq(tls_failure(srv.c, d, sizeof(d)),
		     MFI_TLS_HANDSHAKE_FAILED);
	cr_expect_gt(strlen(d), 0);
}

Test(tls, garbage_both_directions)
{
	unsigned seed = 12345;
	char junk[4096];

	for (int round = 0; round < 60; round++) {
		size_t n = 1 + (size_t)(rand_r(&seed) % sizeof(junk));

		for (size_t i = 0; i < n; i++)
			junk[i] = (char)rand_r(&seed);
		if (round % 3 == 0)	/* a plausible record header */
			memcpy(junk, "\x16\x03\x03\x00\x40", n < 5 ? n : 5);
		server_on("valid");
		client_to("mx.test.example", true, NULL);
		cr_assert_eq(tls_handshake(cli.c), 0);
		/* Garbage at the server instead of a hello... */
		cr_assert_eq(tls_feed(srv.c, junk, n), 0);
		tls_eof(srv.c);
		cr_expect_lt(tls_handshake(srv.c), 0, "round %d", round);
		/* ...and at the client instead of the server's flight. */
		cr_assert_eq(tls_feed(cli.c, junk, n), 0);
		tls_eof(cli.c);
		cr_expect_lt(tls_handshake(cli.c), 0, "round %d", round);
		cr_expect_eq(tls_failure(cli.c, NULL, 0),
			     MFI_TLS_HANDSHAKE_FAILED);
		reset();
	}
}

Test(tls, garbage_after_handshake)
{
	char buf[256];

	server_on("valid");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();
	cr_assert_eq(tls_feed(srv.c, "\x17\x03\x03\x00\x20"
			      "0123456789abcdef0123456789abcdef", 37), 0);
	cr_expect_eq(tls_read(srv.c, buf, sizeof(buf)), -EPROTO);
	cr_expect_eq(tls_failure(srv.c, NULL, 0), MFI_TLS_HANDSHAKE_FAILED);
}

/* ---- API rules ------------------------------------------------------------- */

Test(tls, feed_is_bounded)
{
	static char junk[TLS_IN_MAX];

	server_on("valid");
	cr_expect_eq(tls_feed(srv.c, junk, TLS_IN_MAX - 10), 0);
	cr_expect_eq(tls_feed(srv.c, junk, 11), -ENOBUFS);
	cr_expect_eq(tls_feed(srv.c, junk, 10), 0);
	cr_expect_eq(tls_feed(srv.c, junk, 1), -ENOBUFS);
	cr_expect_lt(tls_handshake(srv.c), 0, "zeros are no ClientHello");
}

Test(tls, io_before_handshake_refused)
{
	char buf[16];

	server_on("valid");
	cr_expect_eq(tls_read(srv.c, buf, sizeof(buf)), -ENOTCONN);
	cr_expect_eq(tls_write(srv.c, "x", 1), -ENOTCONN);
	cr_expect_str_eq(tls_version(srv.c), "");
	cr_expect_str_eq(tls_cipher(srv.c), "");
	cr_expect_eq(tls_out_len(srv.c), 0);
	cr_expect_null(tls_out_ptr(srv.c), "nothing to send, nothing pinned");
	tls_out_consume(srv.c, 0);
	cr_expect_eq(tls_feed(srv.c, NULL, 0), 0);
}

Test(tls, output_buffer_stable_while_pinned)
{
	size_t n = 1000, big = 2 * 1024 * 1024, cap = big + n + 64, len;
	size_t got = 0, half;
	char *msg = malloc(big), *out = malloc(cap), *copy;
	const char *p, *p2;
	long r;

	cr_assert(msg && out);
	for (size_t i = 0; i < big; i++)
		msg[i] = (char)(i % 253);
	server_on("valid");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();
	/* Drain the server's post-handshake output (session ticket). */
	move(srv.c, cli.c, 1 << 20);
	cr_assert_eq(tls_read(cli.c, out, 1), 0);

	/* Unpinned: writes gather in the front buffer. */
	cr_assert_eq(tls_write(cli.c, msg, n), (long)n);
	len = tls_out_len(cli.c);
	cr_assert_gt(len, n);
	cr_assert_eq(tls_write(cli.c, msg, 10), 10);
	cr_assert_gt(tls_out_len(cli.c), len, "unpinned front grows");
	len = tls_out_len(cli.c);

	/* Pinned: "in flight"; a big write must not move or touch it. */
	p = tls_out_ptr(cli.c);
	copy = malloc(len);
	cr_assert_not_null(copy);
	memcpy(copy, p, len);
	cr_assert_eq(tls_write(cli.c, msg, big), (long)big);
	cr_expect_eq(tls_out_len(cli.c), len, "front length unchanged");
	cr_expect_eq(tls_out_ptr(cli.c), p, "front not moved");
	cr_expect(memcmp(p, copy, len) == 0, "front bytes unchanged");
	cr_expect_gt(tls_out_pending(cli.c), len + big);

	/* A short send: the rest stays put, right after what went. */
	half = len / 2;
	cr_assert_eq(tls_feed(srv.c, p, half), 0);
	tls_out_consume(cli.c, half);
	p2 = tls_out_ptr(cli.c);
	cr_expect_eq(p2, p + half);
	cr_expect_eq(tls_out_len(cli.c), len - half);
	cr_expect_eq(tls_write(cli.c, msg, 5), 5);	/* still pinned */
	cr_expect_eq(tls_out_ptr(cli.c), p + half);
	cr_expect(memcmp(p2, copy + half, len - half) == 0);
	cr_assert_eq(tls_feed(srv.c, p2, len - half), 0);
	tls_out_consume(cli.c, len - half);

	/* Swapped: the back buffer is the front now; deliver it all. */
	cr_expect_gt(tls_out_len(cli.c), big);
	while ((r = tls_read(srv.c, out + got, cap - got)) > 0)
		got += (size_t)r;
	while (tls_out_len(cli.c) > 0) {
		move(cli.c, srv.c, 16384);
		while ((r = tls_read(srv.c, out + got, cap - got)) > 0)
			got += (size_t)r;
		cr_assert_geq(r, 0);
	}
	cr_expect_eq(got, n + 10 + big + 5);
	cr_expect(memcmp(out, msg, n) == 0);
	cr_expect(memcmp(out + n, msg, 10) == 0);
	cr_expect(memcmp(out + n + 10, msg, big) == 0);
	cr_expect(memcmp(out + n + 10 + big, msg, 5) == 0);
	cr_expect_eq(tls_out_pending(cli.c), 0);
	free(copy);
	free(msg);
	free(out);
}

Test(tls, close_notify_and_eof)
{
	char buf[64];

	server_on("valid");
	client_to("mx.test.example", true, NULL);
	pump();
	expect_ok();
	cr_assert_eq(tls_write(cli.c, "bye", 3), 3);
	tls_shutdown(cli.c);
	cr_expect_eq(tls_write(cli.c, "x", 1), -ENOTCONN);
	move(cli.c, srv.c, 1 << 20);
	cr_expect_eq(tls_read(srv.c, buf, sizeof(buf)), 3);
	cr_expect_eq(tls_read(srv.c, buf, sizeof(buf)), -ESHUTDOWN);

	/* The other way: no close_notify, just EOF. */
	tls_eof(cli.c);
	move(srv.c, cli.c, 1 << 20);	/* the session ticket, if any */
	cr_expect_eq(tls_read(cli.c, buf, sizeof(buf)), -ECONNRESET);
}

Test(tls, ctx_errors)
{
	char err[256];

	cr_expect_null(tls_server_ctx_new("/nonexistent.pem", cert("valid.key"),
					  err, sizeof(err)));
	cr_expect(strstr(err, "/nonexistent.pem") != NULL, "%s", err);
	cr_expect_null(tls_server_ctx_new(cert("valid.pem"),
					  cert("expired.key"), err,
					  sizeof(err)));
	cr_expect(strstr(err, "does not match") != NULL, "%s", err);
	cr_expect_null(tls_client_ctx_new("/nonexistent-ca.pem", true, NULL,
					  err, sizeof(err)));
	cr_expect(strstr(err, "/nonexistent-ca.pem") != NULL, "%s", err);
	cr_expect_null(tls_client_ctx_new(cert("ca.pem"), true,
					  "/nonexistent-crl.pem", err,
					  sizeof(err)));
	cr_expect(strstr(err, "CRL") != NULL, "%s", err);
}

/* ---- protocol settings (tls_ctx_proto) ----------------------------------- */

/* A server on valid.pem and a non-verifying client, each with its settings
 * (NULL: the built-in ones), and their handshake. */
static void
pair_with(const struct tls_proto *sp, const struct tls_proto *cp)
{
	char err[256];

	srv.ctx = tls_server_ctx_new(cert("valid.pem"), cert("valid.key"), err, sizeof(err));
	cr_assert_not_null(srv.ctx, "server ctx: %s", err);
	if (sp != NULL)
		cr_assert_eq(tls_ctx_proto(srv.ctx, sp, err, sizeof(err)), 0, "%s", err);
	cli.ctx = tls_client_ctx_new(NULL, false, NULL, err, sizeof(err));
	cr_assert_not_null(cli.ctx, "client ctx: %s", err);
	if (cp != NULL)
		cr_assert_eq(tls_ctx_proto(cli.ctx, cp, err, sizeof(err)), 0, "%s", err);
	srv.c = tls_conn_new(srv.ctx, true, NULL);
	cli.c = tls_conn_new(cli.ctx, false, "localhost");
	cr_assert(srv.c != NULL && cli.c != NULL);
	pump();
}

/*
 * Both sides here speak TLS 1.3, so a minimum of 1.3 and the TLS 1.2
 * ciphers are seen only against a peer capped at 1.2: the integration
 * tests have one (tests/integration/test_tls_settings.py, Python's ssl).
 */
Test(tls, proto_suites)
{
	struct tls_proto aes128 = { 13, NULL, "TLS13-AES128-GCM-SHA256" };
	struct tls_proto aes256 = { 13, "ECDHE-ECDSA-AES256-GCM-SHA384",
				    "TLS_AES_256_GCM_SHA384" };

	pair_with(NULL, NULL);
	expect_ok();
	cr_expect_str_eq(tls_version(srv.c), "TLSv1.3", "1.3 by default");
	cr_expect_str_eq(tls_cipher(srv.c), tls_aes_first() ? "TLS_AES_128_GCM_SHA256" :
			 "TLS_CHACHA20_POLY1305_SHA256", "the measured order");
	reset();

	pair_with(&aes256, NULL);
	expect_ok();
	cr_expect_str_eq(tls_cipher(srv.c), "TLS_AES_256_GCM_SHA384", "the server's suite");
	reset();

	pair_with(NULL, &aes128);
	expect_ok();
	cr_expect_str_eq(tls_cipher(cli.c), "TLS_AES_128_GCM_SHA256", "the client's only suite");
	reset();

	/* no TLS 1.3 suite in common: the version is chosen first, so no
	   handshake (not a quiet step down to 1.2) */
	pair_with(&aes256, &aes128);
	cr_expect_lt(srv.hs, 0);
	cr_expect_lt(cli.hs, 0);
}

Test(tls, proto_unknown_names_refused)
{
	struct tls_proto p = { 12, "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-FOO-SHA256", NULL };
	struct tls_ctx *t;
	char err[256];

	t = tls_client_ctx_new(NULL, false, NULL, err, sizeof(err));
	cr_assert_not_null(t, "%s", err);
	cr_expect_eq(tls_ctx_proto(t, &p, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "unknown cipher 'ECDHE-RSA-FOO-SHA256': not a name this "
			 "wolfSSL knows");
	p.ciphers = NULL;
	p.suites = "TLS13-AES128-GCM-SHA256:TLS_AES_999_GCM_SHA256";
	cr_expect_eq(tls_ctx_proto(t, &p, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "unknown cipher 'TLS_AES_999_GCM_SHA256': not a name this "
			 "wolfSSL knows");
	p.suites = NULL;
	p.min_version = 13;
	cr_expect_eq(tls_ctx_proto(t, &p, err, sizeof(err)), 0, "%s", err);
	tls_ctx_free(t);
}

/* ---- resumption ------------------------------------------------------------ */

/*
 * A new connection between the contexts already in cli and srv: the
 * client to peer, offering what this thread cached for dest; then the
 * data that follows the handshake, which carries a TLS 1.3 ticket to the
 * client.  Returns what tls_conn_resume said (1: a session was offered).
 */
static int
connect_again(const char *peer, const char *dest)
{
	char buf[16];
	int offered;

	tls_conn_free(cli.c);
	tls_conn_free(srv.c);
	srv.c = tls_conn_new(srv.ctx, true, NULL);
	cli.c = tls_conn_new(cli.ctx, false, peer);
	cr_assert(srv.c != NULL && cli.c != NULL);
	offered = tls_conn_resume(cli.c, dest);
	cr_assert_geq(offered, 0);
	pump();
	expect_ok();
	cr_assert_eq(transfer(srv.c, cli.c, "250 ok\r\n", 8, 8, buf, sizeof(buf)), 8);
	return offered;
}

/* A verifying client and a server on "valid", no connection yet. */
static void
contexts(void)
{
	char err[256];

	srv.ctx = tls_server_ctx_new(cert("valid.pem"), cert("valid.key"), err, sizeof(err));
	cr_assert_not_null(srv.ctx, "server ctx: %s", err);
	cli.ctx = tls_client_ctx_new(cert("ca.pem"), true, NULL, err, sizeof(err));
	cr_assert_not_null(cli.ctx, "client ctx: %s", err);
}

Test(tls, resume_on_second_connection)
{
	contexts();
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 0, "nothing cached yet");
	cr_expect_not(tls_resumed(cli.c));
	cr_expect_not(tls_resumed(srv.c));
	cr_expect_str_eq(tls_version(cli.c), "TLSv1.3");

	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 1, "the ticket is cached");
	cr_expect(tls_resumed(cli.c), "client resumed");
	cr_expect(tls_resumed(srv.c), "server resumed");
	/* and again, with the ticket the resumed connection brought */
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 1);
	cr_expect(tls_resumed(srv.c));
}

Test(tls, resume_rotated_keys)
{
	contexts();
	connect_again("localhost", "127.0.0.1:25");
	/* the previous key still opens its tickets (and a new one comes) */
	tls_ticket_rotate();
	connect_again("localhost", "127.0.0.1:25");
	cr_expect(tls_resumed(srv.c), "ticket of the previous key refused");
	/* two periods on, that ticket's key is gone: a full handshake */
	tls_ticket_rotate();
	tls_ticket_rotate();
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 1, "offered all the same");
	cr_expect_not(tls_resumed(srv.c), "ticket of a rotated-out key accepted");
	cr_expect_not(tls_resumed(cli.c));
	/* which brought a ticket of the current key */
	connect_again("localhost", "127.0.0.1:25");
	cr_expect(tls_resumed(srv.c));
}

Test(tls, resume_keyed_by_destination)
{
	contexts();
	connect_again("localhost", "127.0.0.1:25");
	cr_expect_eq(connect_again("localhost", "127.0.0.1:587"), 0, "another port");
	cr_expect_not(tls_resumed(srv.c));
	cr_expect_eq(connect_again("localhost", "127.0.0.2:25"), 0, "another address");
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 1, "the first again");
	cr_expect(tls_resumed(srv.c));
}

Test(tls, resume_never_across_names_or_policies)
{
	struct tls_ctx *verifying;
	char err[256];

	contexts();
	connect_again("localhost", "127.0.0.1:25");
	cr_expect_eq(connect_again("mx.test.example", "127.0.0.1:25"), 0, "another name");
	cr_expect_not(tls_resumed(cli.c));
	cr_expect_eq(connect_again(NULL, "127.0.0.1:25"), 0, "no name checked");
	/* the same name and destination under another context (here: one
	   that does not verify) is another policy */
	verifying = cli.ctx;
	cli.ctx = tls_client_ctx_new(NULL, false, NULL, err, sizeof(err));
	cr_assert_not_null(cli.ctx, "%s", err);
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 0, "another context");
	cr_expect_not(tls_resumed(cli.c));
	tls_conn_free(cli.c);
	cli.c = NULL;
	tls_ctx_free(cli.ctx);
	cli.ctx = verifying;
	cr_expect_eq(connect_again("localhost", "127.0.0.1:25"), 1);
	cr_expect(tls_resumed(cli.c));
}

/* Replace the server's context by a new one on "valid", its tickets
 * sealed with keys from key_file (NULL: the process's own). */
static void
new_server(const char *key_file)
{
	char err[256];

	tls_conn_free(srv.c);
	srv.c = NULL;
	tls_ctx_free(srv.ctx);
	srv.ctx = tls_server_ctx_new(cert("valid.pem"), cert("valid.key"), err, sizeof(err));
	cr_assert_not_null(srv.ctx, "%s", err);
	if (key_file != NULL)
		cr_assert_eq(tls_ctx_ticket_keys(srv.ctx, key_file, err, sizeof(err)), 0,
			     "%s", err);
}

Test(tls, resume_across_contexts_sharing_a_key_file)
{
	char path[256], err[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ticket.key", getenv(CERTS_ENV));
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("0123456789abcdef0123456789abcdef-a node's shared secret", f);
	fclose(f);
	contexts();
	cr_assert_eq(tls_ctx_ticket_keys(srv.ctx, path, err, sizeof(err)), 0, "%s", err);
	connect_again("localhost", "127.0.0.1:25");
	/* another node (here: another context) with the same file */
	new_server(path);
	connect_again("localhost", "127.0.0.1:25");
	cr_expect(tls_resumed(srv.c), "the same key file does not open the ticket");
	/* a context with the process's own keys does not open it */
	new_server(NULL);
	connect_again("localhost", "127.0.0.1:25");
	cr_expect_not(tls_resumed(srv.c), "another secret opened the ticket");

	/* a file too short to be a secret */
	f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("short", f);
	fclose(f);
	cr_expect_eq(tls_ctx_ticket_keys(srv.ctx, path, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "has 5 bytes, expected at least 32") != NULL, "%s", err);
	cr_expect_eq(tls_ctx_ticket_keys(cli.ctx, path, err, sizeof(err)), -EINVAL);
	unlink(path);
}

/* ---- the client session cache itself (tls/tls_cache.h) -------------------- */

/* A session for the cache: empty, and valid for as long as wolfSSL's
 * clock can say (wolfSSL 5.5 has no way to set its time). */
static WOLFSSL_SESSION *
cache_session(void)
{
	WOLFSSL_SESSION *s = wolfSSL_SESSION_new();

	cr_assert_not_null(s);
	wolfSSL_SSL_SESSION_set_timeout(s, 0x7fffffff);
	return s;
}

Test(tls, cache_bounded_lru_and_reverified)
{
	int64_t now = (int64_t)time(NULL), v = 0;
	char key[32];

	contexts();	/* wolfSSL initialised */
	for (int i = 0; i <= TLS_CACHE_MAX; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		tls_cache_put(key, cache_session(), now);
		if (i == TLS_CACHE_MAX - 1)	/* full: k0 used last, k1 is the LRU */
			cr_assert_not_null(tls_cache_get("k0", &v));
	}
	cr_expect_null(tls_cache_get("k1", &v), "the least recently used one stayed");
	cr_expect_not_null(tls_cache_get("k0", &v), "a recently used one went");
	cr_expect_not_null(tls_cache_get("k2", &v));
	cr_expect_eq(v, now);
	snprintf(key, sizeof(key), "k%d", TLS_CACHE_MAX);
	cr_expect_not_null(tls_cache_get(key, &v));
	/* replaced under the same key, with its own time */
	tls_cache_put("k0", cache_session(), now - 10);
	cr_expect_not_null(tls_cache_get("k0", &v));
	cr_expect_eq(v, now - 10);
	/* a full handshake over an hour ago, or in the future: see the
	   certificate again */
	tls_cache_put("k0", cache_session(), now - TLS_CACHE_REVERIFY);
	cr_expect_null(tls_cache_get("k0", &v));
	tls_cache_put("k2", cache_session(), now + 100);
	cr_expect_null(tls_cache_get("k2", &v));
	tls_cache_drop("k3");
	cr_expect_null(tls_cache_get("k3", &v));
	tls_cache_clear();
	cr_expect_null(tls_cache_get("k4", &v));
}
