/*
 * config_scalar — the text of a configuration value: decimal numbers,
 * sizes ("10M") and durations ("15m") with their units, and the way the
 * loader prints them back in ranges; domain, connector and tenant names;
 * IP literals and "host:port" in its bracketed IPv6 forms.
 *
 * Pure functions over (pointer, length), with no loader, no YAML and no
 * I/O, so every rule can be unit-tested and fuzzed on its own.  Any thread.
 */
#include "core/config_int.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Decimal digits only; 0 ok, -1 not a number, -2 too large. */
int
cfg_parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9)
			return -1;
		if (v > (UINT64_MAX - d) / 10)
			return -2;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Number with an optional one-letter unit from units[] scaled by mult[]. */
static int
parse_unit(const char *s, size_t len, const char *units, const uint64_t *mult,
	   uint64_t *out)
{
	uint64_t v, m = 1;
	const char *u;
	int rc;

	if (len > 1 && (u = strchr(units, s[len - 1])) != NULL && *u) {
		m = mult[u - units];
		len--;
	}
	rc = cfg_parse_u64(s, len, &v);
	if (rc < 0)
		return rc;
	if (v > UINT64_MAX / m)
		return -2;
	*out = v * m;
	return 0;
}

int
cfg_parse_size(const char *s, size_t len, uint64_t *out)
{
	static const uint64_t mult[] = { KIB, MIB, GIB, KIB, MIB, GIB };

	return parse_unit(s, len, "KMGkmg", mult, out);
}

int
cfg_parse_duration(const char *s, size_t len, uint64_t *out)
{
	static const uint64_t mult[] = { 1, MINUTE, HOUR, DAY };

	return parse_unit(s, len, "smhd", mult, out);
}

/* Largest exact unit: 1024 -> "1K", 90 -> "90s", 86400 -> "1d". */
static const char *
fmt_unit(char *buf, size_t size, uint64_t v, const char *units,
	 const uint64_t *mult, size_t nunits)
{
	for (size_t i = nunits; i-- > 0;) {
		if (mult[i] > 1 && v >= mult[i] && v % mult[i] == 0) {
			snprintf(buf, size, "%llu%c",
				 (unsigned long long)(v / mult[i]), units[i]);
			return buf;
		}
	}
	snprintf(buf, size, "%llu%s", (unsigned long long)v,
		 mult[0] == 1 ? units : "");
	return buf;
}

const char *
cfg_fmt_size(char *buf, size_t size, uint64_t v)
{
	static const uint64_t mult[] = { KIB, MIB, GIB };

	return fmt_unit(buf, size, v, "KMG", mult, 3);
}

const char *
cfg_fmt_duration(char *buf, size_t size, uint64_t v)
{
	static const uint64_t mult[] = { 1, MINUTE, HOUR, DAY };

	if (v < MINUTE || v % MINUTE) {
		snprintf(buf, size, "%llus", (unsigned long long)v);
		return buf;
	}
	return fmt_unit(buf, size, v, "smhd", mult, 4);
}

/*
 * Domain name in text form: labels of letters, digits and '-' (not first or
 * last, RFC 5321 sub-domain), 1..63 bytes, 253 in all.  An all-numeric name
 * must be a valid IPv4 address instead (checked by the caller).
 */
bool
cfg_valid_domain(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > CFG_DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > CFG_LABEL_MAX || s[i - 1] == '-')
				return false;
			label = 0;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			   (c >= '0' && c <= '9') || (c == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return true;
}

bool
cfg_all_digits_dots(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* 1 to max bytes, each an ASCII letter or digit or one of punct. */
static bool
name_of(const char *s, size_t len, size_t max, const char *punct)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c != '\0' && strchr(punct, c))))
			return false;
	}
	return true;
}

/* Connector and tenant names: [A-Za-z0-9_.-]{1,64}. */
bool
cfg_valid_name(const char *s, size_t len)
{
	return name_of(s, len, CFG_NAME_MAX, "_.-");
}

/* local@domain: a dot-atom local part of at most 64 characters (no dot
 * first, last or twice) and a host name. */
bool
cfg_valid_mailbox(const char *s, size_t len)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";
	const char *at = memchr(s, '@', len);
	size_t local;

	if (at == NULL)
		return false;
	local = (size_t)(at - s);
	if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.' ||
	    !cfg_valid_domain(at + 1, len - local - 1))
		return false;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c != '\0' && strchr(atext, c))) ||
		    (c == '.' && s[i + 1] == '.'))
			return false;
	}
	return true;
}

/* IP literal (no brackets) into 16 bytes; returns family or 0. */
int
cfg_parse_ip(const char *s, size_t len, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 1];

	if (len == 0 || len >= sizeof(buf))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (memchr(buf, ':', len))
		return inet_pton(AF_INET6, buf, addr) == 1 ? AF_INET6 : 0;
	return inet_pton(AF_INET, buf, addr) == 1 ? AF_INET : 0;
}

/*
 * "host", "host:port", "[v6]", "[v6]:port".  port_default 0 means the port is
 * required; names false means IP literals only.
 */
enum cfg_hp
cfg_parse_hostport(const char *s, size_t len, uint16_t port_default, bool names,
		   struct cfg_hostport *hp)
{
	const char *colon = NULL, *end = s + len;
	uint64_t port;

	memset(hp, 0, sizeof(*hp));
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL)
			return CFG_HP_BAD;
		hp->host = s + 1;
		hp->hostlen = (size_t)(rb - s - 1);
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return CFG_HP_BAD;
			colon = rb + 1;
		}
		if (!memchr(hp->host, ':', hp->hostlen) ||
		    cfg_parse_ip(hp->host, hp->hostlen, hp->addr) != AF_INET6)
			return CFG_HP_BAD;
		hp->family = AF_INET6;
	} else {
		/* Names have no colon: two of them mean an unbracketed IPv6. */
		colon = memchr(s, ':', len);
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return CFG_HP_V6_BARE;
		hp->host = s;
		hp->hostlen = colon ? (size_t)(colon - s) : len;
		if (cfg_all_digits_dots(hp->host, hp->hostlen)) {
			if (cfg_parse_ip(hp->host, hp->hostlen, hp->addr) != AF_INET)
				return CFG_HP_BAD;
			hp->family = AF_INET;
		} else if (!names || !cfg_valid_domain(hp->host, hp->hostlen)) {
			return CFG_HP_BAD;
		}
	}
	if (colon == NULL) {
		if (port_default == 0)
			return CFG_HP_PORT;
		hp->port = port_default;
		return CFG_HP_OK;
	}
	if (cfg_parse_u64(colon + 1, (size_t)(end - colon - 1), &port) < 0 ||
	    port < 1 || port > 65535)
		return CFG_HP_PORT;
	hp->port = (uint16_t)port;
	return CFG_HP_OK;
}


/*
 * User and group names: 1 to 32 of letters, digits, '_', '.' and '-', not
 * starting with '-' (what useradd and groupadd take, less the trailing '$'
 * of machine accounts, which a mail relay has no use for).
 */
bool
cfg_valid_account(const char *s, size_t len)
{
	return len > 0 && s[0] != '-' && name_of(s, len, 32, "_.-");
}

/*
 * One name of a cipher list: letters, digits, '-' and '_' (the OpenSSL
 * names wolfSSL knows, "ECDHE-RSA-AES128-GCM-SHA256", "TLS13-AES128-GCM-
 * SHA256", and the IANA ones, "TLS_AES_128_GCM_SHA256").  No keywords with
 * '!', '+' or '@': what a list means is the names in it, in order.
 */
bool
cfg_valid_cipher(const char *s, size_t len)
{
	return name_of(s, len, 64, "_-");
}

/*
 * A TLS 1.3 suite name: wolfSSL's "TLS13-..." or an IANA "TLS_..." without
 * "_WITH_" (every TLS 1.2 IANA name has one: TLS_ECDHE_RSA_WITH_...; the
 * five TLS 1.3 suites, TLS_AES_128_GCM_SHA256 and so on, have none).
 */
bool
cfg_tls13_suite(const char *s, size_t len)
{
	if (len > 6 && memcmp(s, "TLS13-", 6) == 0)
		return true;
	if (len <= 4 || memcmp(s, "TLS_", 4) != 0)
		return false;
	for (size_t i = 4; i + 6 <= len; i++)
		if (memcmp(s + i, "_WITH_", 6) == 0)
			return false;
	return true;
}
