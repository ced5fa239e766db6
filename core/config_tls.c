/*
 * config_tls — the TLS protocol settings both sides share: the lowest
 * version a handshake may settle on (1.2 or 1.3) and the cipher lists, TLS
 * 1.2 ciphers apart from TLS 1.3 suites (as OpenSSL keeps them, so a list
 * meant for one cannot quietly change the other).  Inbound they sit in the
 * top-level tls: mapping (min_version, ciphers, ciphersuites); outbound in
 * a connector (tls_min_version, tls_ciphers, tls_ciphersuites).
 *
 * Checked here: the version word, each name's characters and which list it
 * belongs in.  Whether wolfSSL knows a name is asked when the context is
 * built (tls_ctx_proto in tls/tls.h, from core/daemon/daemon_config.c),
 * which `sluiced -t` does too.  Loading: main thread.
 */
#include "core/config_int.h"

#include <string.h>

int
cfg_f_tls_version(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		  void *base)
{
	static const char *const words[] = { "1.2", "1.3", NULL };
	int i = 0, rc = cfg_word(ld, v, words, "1.2 or 1.3", &i);

	if (rc == 0)
		*CFG_AT(base, f, uint32_t) = i == 0 ? 12 : 13;
	return rc;
}

/* A ':'-separated list of names, each in the list tls13 says. */
static int
cipher_list(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	    void *base, bool tls13)
{
	const char *what = tls13 ? "TLS 1.3 suite names like TLS_AES_128_GCM_SHA256" :
				   "TLS 1.2 cipher names like ECDHE-RSA-AES128-GCM-SHA256";
	const char *p, *end, *colon;
	struct cfg_qbuf q;

	if (!is_scalar(v) || slen(v) == 0)
		return cfg_fail(ld, v, "%s: expected %s separated by ':', got %s", ld->ctx,
				what, cfg_describe(&q, v));
	for (p = sval(v), end = p + slen(v); p <= end; p = colon + 1) {
		size_t n;

		colon = memchr(p, ':', (size_t)(end - p));
		if (colon == NULL)
			colon = end;
		n = (size_t)(colon - p);
		if (!cfg_valid_cipher(p, n))
			return cfg_fail(ld, v, "%s: expected %s separated by ':', got %s",
					ld->ctx, what, cfg_describe(&q, v));
		if (cfg_tls13_suite(p, n) != tls13)
			return cfg_fail(ld, v, "%s: %s is %s", ld->ctx, cfg_quote(&q, p, n),
					tls13 ? "a TLS 1.2 cipher, not a TLS 1.3 suite" :
						"a TLS 1.3 suite, not a TLS 1.2 cipher");
	}
	*CFG_AT(base, f, char *) = cfg_strndup(ld->ix, sval(v), slen(v));
	return *CFG_AT(base, f, char *) ? 0 : cfg_nomem(ld);
}

int
cfg_f_tls_ciphers(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		  void *base)
{
	return cipher_list(ld, f, v, base, false);
}

int
cfg_f_tls_suites(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
		 void *base)
{
	return cipher_list(ld, f, v, base, true);
}
