/*
 * config — load sluice.yaml (or the built-in default) into a struct config.
 *
 * The YAML is read with libyaml's document API into a node tree, then walked
 * with small per-section field tables: each key names the function that parses
 * its value, so unknown keys, duplicate keys and wrong value types are caught
 * in one place and every error names the file, the line and what was expected.
 * The walk follows the fixed schema and never recurses over arbitrary YAML, so
 * deep nesting and alias cycles cannot blow the stack or loop.
 *
 * Not for: watching the file, merging configs, or publishing a reload (that is
 * core/sluiced.c).  Main thread only while loading; a loaded config is
 * immutable and may be read by any thread.
 *
 * Ownership: every string of a config lives in one string pool and every array
 * is one malloc, all owned by the config and released by config_free.  The
 * pool and the hash tables sit behind cfg->domain_index (struct cfg_index).
 */
#include "core/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <yaml.h>

#include "core/strb.h"

const char config_default_yaml[] =
	"# Sluice built-in default: relay example.test to a local sink.\n"
	"workers: 0                      # 0 = one per core\n"
	"listen: [\"127.0.0.1:2525\"]\n"
	"spool: ./var/spool\n"
	"control_socket: ./var/sluice.sock\n"
	"trusted_networks: [\"127.0.0.1/32\", \"::1/128\"]\n"
	"connectors:\n"
	"  default:\n"
	"    smarthosts: [\"127.0.0.1:2526\"]\n"
	"domains:\n"
	"  example.test: default\n";

/* Used when a file leaves them out: the built-in default's values. */
#define CFG_DEFAULT_SPOOL	"./var/spool"
#define CFG_DEFAULT_CONTROL	"./var/sluice.sock"

#define KIB		1024ULL
#define MIB		(1024ULL * KIB)
#define GIB		(1024ULL * MIB)
#define MINUTE		60ULL
#define HOUR		(60ULL * MINUTE)
#define DAY		(24ULL * HOUR)

#define DOMAIN_MAX	253		/* RFC 1035 text form, no final dot */
#define LABEL_MAX	63
#define NAME_MAX_LEN	64		/* connector and tenant names */
#define FILE_MAX	(1ULL << 30)	/* refuse config files above 1 GiB */
#define POOL_CHUNK	(64 * 1024)
/*
 * libyaml's scanner is quadratic in flow nesting depth and its loader in
 * anchors x aliases, so both are capped before the document is built.  The
 * schema itself nests 4 deep.
 */
#define YAML_DEPTH_MAX	32
#define YAML_ANCHORS_MAX 1000

/* ------------------------------------------------------------------------ */
/* String pool: all strings of one config, freed at once.                   */

struct pool_chunk {
	struct pool_chunk *next;	/* older chunk */
	size_t used;			/* bytes handed out */
	size_t size;			/* bytes in data */
	char data[];
};

/*
 * Open-addressing name table with linear probing.  A slot holds the name's
 * hash and its index + 1 into the owner's array (0 = empty); the name itself is
 * read from the array, so a slot is 8 bytes (16 MiB for a million domains at
 * load factor <= 0.5).  Contents come only from the config file, so lookups
 * from the network cannot build collision chains.
 */
struct name_slot {
	uint32_t hash;			/* name_hash() of the name */
	uint32_t idx1;			/* index + 1 into the array, 0 = empty */
};

struct name_table {
	struct name_slot *slots;	/* mask + 1 slots, NULL when empty */
	uint32_t mask;			/* capacity - 1 (a power of two) */
};

/* What cfg->domain_index points at. */
struct cfg_index {
	struct name_table domains;	/* over cfg->domains, case-insensitive */
	struct name_table connectors;	/* over cfg->connectors, exact */
	struct name_table tenants;	/* over cfg->tenants, exact */
	struct pool_chunk *pool;	/* newest chunk of the string pool */
};

static char *
pool_alloc(struct cfg_index *ix, size_t n)
{
	struct pool_chunk *c = ix->pool;
	size_t size;

	if (c == NULL || c->size - c->used < n) {
		size = n > POOL_CHUNK ? n : POOL_CHUNK;
		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		c->next = ix->pool;
		ix->pool = c;
	}
	c->used += n;
	return c->data + c->used - n;
}

static char *
pool_strndup(struct cfg_index *ix, const char *s, size_t len)
{
	char *p = pool_alloc(ix, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

/* ------------------------------------------------------------------------ */
/* Name tables.                                                             */

static inline unsigned char
lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* FNV-1a over the (folded) bytes, then a 64-bit finaliser for the low bits. */
static inline uint32_t
name_hash(const char *s, size_t len, bool icase)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		h ^= icase ? lower(c) : c;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h;
}

/* stored is NUL-terminated (and lower-case when icase); key is (ptr, len). */
static inline bool
name_eq(const char *stored, const char *key, size_t len, bool icase)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (stored[i] == '\0')
			return false;
		if ((unsigned char)stored[i] != (icase ? lower(c) : c))
			return false;
	}
	return stored[len] == '\0';
}

static int
ntab_init(struct name_table *t, size_t n)
{
	size_t cap = 16;

	if (n > (1U << 30))
		return -ENOMEM;
	while (cap < 2 * n)
		cap *= 2;
	t->slots = calloc(cap, sizeof(*t->slots));
	if (t->slots == NULL)
		return -ENOMEM;
	t->mask = (uint32_t)(cap - 1);
	return 0;
}

/* Name of element i of an array whose elements start with a char *name. */
static inline const char *
name_at(const void *base, size_t stride, uint32_t i)
{
	return *(char *const *)(const void *)((const char *)base + (size_t)i * stride);
}

/*
 * Slot for the name: the one holding it, or the empty one where it would go.
 * The table is never more than half full, so the probe ends.
 */
static inline struct name_slot *
ntab_probe(const struct name_table *t, const void *base, size_t stride,
	   const char *key, size_t len, uint32_t hash, bool icase)
{
	uint32_t i = hash & t->mask;

	for (;; i = (i + 1) & t->mask) {
		struct name_slot *s = &t->slots[i];

		if (s->idx1 == 0)
			return s;
		if (s->hash == hash &&
		    name_eq(name_at(base, stride, s->idx1 - 1), key, len, icase))
			return s;
	}
}

/* Index of the name in the array, or -1. */
static inline long
ntab_find(const struct name_table *t, const void *base, size_t stride,
	  const char *key, size_t len, bool icase)
{
	const struct name_slot *s;

	if (t->slots == NULL)
		return -1;
	s = ntab_probe(t, base, stride, key, len, name_hash(key, len, icase), icase);
	return s->idx1 ? (long)s->idx1 - 1 : -1;
}

/*
 * Add element idx (its name already stored) to the table.  Returns -1 when
 * added, else the index of the element that already has the name.
 */
static long
ntab_add(struct name_table *t, const void *base, size_t stride, uint32_t idx,
	 bool icase)
{
	const char *name = name_at(base, stride, idx);
	size_t len = strlen(name);
	uint32_t hash = name_hash(name, len, icase);
	struct name_slot *s = ntab_probe(t, base, stride, name, len, hash, icase);

	if (s->idx1)
		return (long)s->idx1 - 1;
	s->hash = hash;
	s->idx1 = idx + 1;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Loader state and error reporting.                                        */

struct loader {
	const char *name;		/* file name used in messages */
	const char *text;		/* the YAML text */
	size_t textlen;			/* its length */
	yaml_document_t doc;		/* the parsed document */
	struct config *cfg;		/* config being built */
	struct cfg_index *ix;		/* its pool and tables */
	char *err;			/* caller's error buffer (may be NULL) */
	size_t errlen;			/* its size */
	const char *ctx;		/* context of the value being parsed */
	yaml_node_t *root;		/* top-level mapping */
	yaml_node_t *listen;		/* the listen value, if any */
	yaml_node_t *domains;		/* parsed after the connectors */
	yaml_node_t *postmaster;	/* checked against the domains */
	uint32_t *conn_line;		/* line of each connector's name */
	size_t budget;			/* list items and pairs left to visit */
	char ctx_buf[160];		/* "connector 'x'" / "domain 'x'" */
	char where_buf[192];		/* "in connector 'x'" / ... */
};

/* Quoted, shortened and printable copy of a value for an error message. */
struct qbuf {
	char s[112];
};

static const char *
quote(struct qbuf *q, const char *s, size_t len)
{
	size_t n = 0, max = sizeof(q->s) - 8;

	q->s[n++] = '\'';
	for (size_t i = 0; i < len && n < max; i++) {
		unsigned char c = (unsigned char)s[i];

		q->s[n++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
	}
	if (n >= max && len > n - 1) {
		memcpy(q->s + n, "...", 3);
		n += 3;
	}
	q->s[n++] = '\'';
	q->s[n] = '\0';
	return q->s;
}

/* "'value'" for a scalar, "a list" / "a mapping" otherwise. */
static const char *
describe(struct qbuf *q, const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return quote(q, (const char *)n->data.scalar.value,
			     n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static size_t
node_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

/* Write "NAME:LINE: message" (line 0: "NAME: message") as one line. */
static void
vreport(struct loader *ld, size_t line, const char *fmt, va_list ap)
{
	struct strb sb;

	if (ld->err == NULL || ld->errlen == 0)
		return;
	strb_init(&sb, ld->err, ld->errlen);
	if (line)
		strb_printf(&sb, "%s:%zu: ", ld->name, line);
	else
		strb_printf(&sb, "%s: ", ld->name);
	strb_vprintf(&sb, fmt, ap);
	/* One line, printable, whatever the file name or libyaml said. */
	for (char *p = ld->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
}

__attribute__((format(printf, 3, 4)))
static int
fail_line(struct loader *ld, size_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

__attribute__((format(printf, 3, 4)))
static int
fail(struct loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, node_line(n), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int
fail_nomem(struct loader *ld)
{
	fail_line(ld, 0, "out of memory");
	return -ENOMEM;
}

/*
 * Charge n list items or mapping pairs to the visit budget.  Without aliases
 * the walk visits each node at most once; with them one node can be visited
 * from many places, and the budget keeps that (and the memory it allocates)
 * linear in the size of the document.
 */
static int
charge(struct loader *ld, const yaml_node_t *at, size_t n)
{
	if (n > ld->budget)
		return fail(ld, at, "expected YAML aliases to expand to fewer nodes");
	ld->budget -= n;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Scalars: numbers, sizes, durations, names, addresses.                    */

static inline bool
is_scalar(const yaml_node_t *n)
{
	return n->type == YAML_SCALAR_NODE;
}

static inline const char *
sval(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static inline size_t
slen(const yaml_node_t *n)
{
	return n->data.scalar.length;
}

/* Decimal digits only; 0 ok, -1 not a number, -2 too large. */
static int
parse_u64(const char *s, size_t len, uint64_t *out)
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
	rc = parse_u64(s, len, &v);
	if (rc < 0)
		return rc;
	if (v > UINT64_MAX / m)
		return -2;
	*out = v * m;
	return 0;
}

static int
parse_size(const char *s, size_t len, uint64_t *out)
{
	static const uint64_t mult[] = { KIB, MIB, GIB, KIB, MIB, GIB };

	return parse_unit(s, len, "KMGkmg", mult, out);
}

static int
parse_duration(const char *s, size_t len, uint64_t *out)
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

static const char *
fmt_size(char *buf, size_t size, uint64_t v)
{
	static const uint64_t mult[] = { KIB, MIB, GIB };

	return fmt_unit(buf, size, v, "KMG", mult, 3);
}

static const char *
fmt_duration(char *buf, size_t size, uint64_t v)
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
static bool
valid_domain(const char *s, size_t len)
{
	size_t label = 0;

	if (len == 0 || len > DOMAIN_MAX)
		return false;
	for (size_t i = 0; i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : '.';

		if (c == '.') {
			if (label == 0 || label > LABEL_MAX || s[i - 1] == '-')
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

static bool
all_digits_dots(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			return false;
	return true;
}

/* Connector and tenant names: [A-Za-z0-9_.-]{1,64}. */
static bool
valid_name(const char *s, size_t len)
{
	if (len == 0 || len > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

/* IP literal (no brackets) into 16 bytes; returns family or 0. */
static int
parse_ip(const char *s, size_t len, uint8_t addr[16])
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

enum hp_error {
	HP_OK,
	HP_BAD,			/* not an address (or host name) */
	HP_V6_BARE,		/* IPv6 without brackets */
	HP_PORT,		/* port missing, not a number or out of range */
};

/* Result of parse_hostport. */
struct hostport {
	const char *host;	/* host inside s, without brackets */
	size_t hostlen;		/* its length */
	int family;		/* AF_INET/AF_INET6 for literals, 0 for a name */
	uint8_t addr[16];	/* the literal's address */
	uint16_t port;		/* port, or the default */
};

/*
 * "host", "host:port", "[v6]", "[v6]:port".  port_default 0 means the port is
 * required; names false means IP literals only.
 */
static enum hp_error
parse_hostport(const char *s, size_t len, uint16_t port_default, bool names,
	       struct hostport *hp)
{
	const char *colon = NULL, *end = s + len;
	uint64_t port;

	memset(hp, 0, sizeof(*hp));
	if (len > 0 && s[0] == '[') {
		const char *rb = memchr(s, ']', len);

		if (rb == NULL)
			return HP_BAD;
		hp->host = s + 1;
		hp->hostlen = (size_t)(rb - s - 1);
		if (rb + 1 < end) {
			if (rb[1] != ':')
				return HP_BAD;
			colon = rb + 1;
		}
		if (!memchr(hp->host, ':', hp->hostlen) ||
		    parse_ip(hp->host, hp->hostlen, hp->addr) != AF_INET6)
			return HP_BAD;
		hp->family = AF_INET6;
	} else {
		/* Names have no colon: two of them mean an unbracketed IPv6. */
		colon = memchr(s, ':', len);
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return HP_V6_BARE;
		hp->host = s;
		hp->hostlen = colon ? (size_t)(colon - s) : len;
		if (all_digits_dots(hp->host, hp->hostlen)) {
			if (parse_ip(hp->host, hp->hostlen, hp->addr) != AF_INET)
				return HP_BAD;
			hp->family = AF_INET;
		} else if (!names || !valid_domain(hp->host, hp->hostlen)) {
			return HP_BAD;
		}
	}
	if (colon == NULL) {
		if (port_default == 0)
			return HP_PORT;
		hp->port = port_default;
		return HP_OK;
	}
	if (parse_u64(colon + 1, (size_t)(end - colon - 1), &port) < 0 ||
	    port < 1 || port > 65535)
		return HP_PORT;
	hp->port = (uint16_t)port;
	return HP_OK;
}

/* ------------------------------------------------------------------------ */
/* Field tables.                                                            */

struct field;
typedef int field_fn(struct loader *ld, const struct field *f, yaml_node_t *v,
		     void *base);

struct field {
	const char *key;	/* YAML key */
	field_fn *parse;	/* parses the value into base */
	size_t off;		/* destination offset in base */
	uint64_t min, max;	/* accepted range of numbers */
	const char *what;	/* description when not the parser's own */
};

#define AT(base, f, type)	((type *)(void *)((char *)(base) + (f)->off))

/* Levenshtein distance, for "did you mean"; short strings only. */
static size_t
edit_distance(const char *a, size_t la, const char *b, size_t lb)
{
	size_t row[33];

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (lower((unsigned char)a[i - 1]) !=
					      lower((unsigned char)b[j - 1]));

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/*
 * Walk a mapping against a field table.  ctx is the context put in front of
 * value errors (NULL: the key itself); where completes "unknown key 'x' ...".
 */
static int
load_map(struct loader *ld, yaml_node_t *map, const struct field *fields,
	 size_t nfields, void *base, const char *ctx, const char *where)
{
	size_t seen[32] = { 0 };
	struct qbuf q;
	int rc;

	if (map->type != YAML_MAPPING_NODE)
		return fail(ld, map, "%s: expected a mapping, got %s",
			    ctx ? ctx : where, describe(&q, map));
	rc = charge(ld, map, (size_t)(map->data.mapping.pairs.top -
				      map->data.mapping.pairs.start));
	if (rc < 0)
		return rc;
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&ld->doc, p->value);
		const struct field *f = NULL;
		size_t i;

		if (k == NULL || v == NULL)
			return fail(ld, map, "YAML syntax error: broken mapping");
		if (!is_scalar(k))
			return fail(ld, k, "expected a key name %s, got %s",
				    where, describe(&q, k));
		for (i = 0; i < nfields; i++) {
			if (strlen(fields[i].key) == slen(k) &&
			    memcmp(fields[i].key, sval(k), slen(k)) == 0) {
				f = &fields[i];
				break;
			}
		}
		if (f == NULL) {
			const char *best = NULL;
			size_t bestd = 3;

			for (i = 0; i < nfields; i++) {
				size_t d = edit_distance(sval(k), slen(k), fields[i].key,
							 strlen(fields[i].key));

				if (d < bestd) {
					bestd = d;
					best = fields[i].key;
				}
			}
			if (best && slen(k) > 2)
				return fail(ld, k, "unknown key %s %s (did you mean '%s'?)",
					    quote(&q, sval(k), slen(k)), where, best);
			return fail(ld, k, "unknown key %s %s",
				    quote(&q, sval(k), slen(k)), where);
		}
		if (i < 32 && seen[i])
			return fail(ld, k, "duplicate key '%s' %s (first at line %zu)",
				    f->key, where, seen[i]);
		if (i < 32)
			seen[i] = node_line(k);
		ld->ctx = ctx ? ctx : f->key;
		rc = f->parse(ld, f, v, base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

static int
f_u32(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct qbuf q;
	uint64_t n;

	if (!is_scalar(v) || parse_u64(sval(v), slen(v), &n) < 0 ||
	    n < f->min || n > f->max)
		return fail(ld, v, "%s: expected %s from %llu to %llu, got %s",
			    ld->ctx, f->what ? f->what : "an integer",
			    (unsigned long long)f->min, (unsigned long long)f->max,
			    describe(&q, v));
	*AT(base, f, uint32_t) = (uint32_t)n;
	return 0;
}

static int
f_size(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	char lo[32], hi[32];
	struct qbuf q;
	uint64_t n;
	int rc = -1;

	if (is_scalar(v))
		rc = parse_size(sval(v), slen(v), &n);
	if (rc == -1)
		return fail(ld, v, "%s: expected a size like 512K, 10M, 1G or a "
			    "number of bytes, got %s", ld->ctx, describe(&q, v));
	if (rc < 0 || n < f->min || n > f->max)
		return fail(ld, v, "%s: expected a size from %s to %s, got %s",
			    ld->ctx, fmt_size(lo, sizeof(lo), f->min),
			    fmt_size(hi, sizeof(hi), f->max), describe(&q, v));
	*AT(base, f, uint64_t) = n;
	return 0;
}

static int
f_duration(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	char lo[32], hi[32];
	struct qbuf q;
	uint64_t n;
	int rc = -1;

	if (is_scalar(v))
		rc = parse_duration(sval(v), slen(v), &n);
	if (rc == -1)
		return fail(ld, v, "%s: expected a duration like 30s, 15m, 24h, got %s",
			    ld->ctx, describe(&q, v));
	if (rc < 0 || n < f->min || n > f->max)
		return fail(ld, v, "%s: expected a duration from %s to %s, got %s",
			    ld->ctx, fmt_duration(lo, sizeof(lo), f->min),
			    fmt_duration(hi, sizeof(hi), f->max), describe(&q, v));
	*AT(base, f, uint32_t) = (uint32_t)n;
	return 0;
}

static int
f_bool(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	static const char *const yes[] = { "true", "yes" }, *const no[] = { "false", "no" };
	struct qbuf q;

	for (size_t i = 0; is_scalar(v) && i < 2; i++) {
		if (slen(v) == strlen(yes[i]) && memcmp(sval(v), yes[i], slen(v)) == 0) {
			*AT(base, f, bool) = true;
			return 0;
		}
		if (slen(v) == strlen(no[i]) && memcmp(sval(v), no[i], slen(v)) == 0) {
			*AT(base, f, bool) = false;
			return 0;
		}
	}
	return fail(ld, v, "%s: expected true or false, got %s", ld->ctx,
		    describe(&q, v));
}

/* Non-empty text without NUL bytes, copied into the pool. */
static int
scalar_text(struct loader *ld, yaml_node_t *v, const char *what, char **out)
{
	struct qbuf q;

	if (!is_scalar(v) || slen(v) == 0 || memchr(sval(v), '\0', slen(v)))
		return fail(ld, v, "%s: expected %s, got %s", ld->ctx, what,
			    describe(&q, v));
	*out = pool_strndup(ld->ix, sval(v), slen(v));
	return *out ? 0 : fail_nomem(ld);
}

static int
f_path(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	return scalar_text(ld, v, "a path", AT(base, f, char *));
}

static int
f_socket_path(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct sockaddr_un sun;

	if (is_scalar(v) && slen(v) >= sizeof(sun.sun_path))
		return fail(ld, v, "%s: expected a path of at most %zu bytes, got "
			    "%zu bytes", ld->ctx, sizeof(sun.sun_path) - 1, slen(v));
	return f_path(ld, f, v, base);
}

/* A host name, stored lower-case. */
static int
f_hostname(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct qbuf q;
	char *s;

	if (!is_scalar(v) || !valid_domain(sval(v), slen(v)) ||
	    all_digits_dots(sval(v), slen(v)))
		return fail(ld, v, "%s: expected a host name, got %s", ld->ctx,
			    describe(&q, v));
	s = pool_strndup(ld->ix, sval(v), slen(v));
	if (s == NULL)
		return fail_nomem(ld);
	for (char *p = s; *p; p++)
		*p = (char)lower((unsigned char)*p);
	*AT(base, f, char *) = s;
	return 0;
}

/*
 * A plain mailbox local@domain (postmaster): a dot-atom local part of at
 * most 64 characters and a host name, as the NDR's envelope recipient.
 */
static int
f_mailbox(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	static const char atext[] = "!#$%&'*+-/=?^_`{|}~.";
	const char *at;
	size_t local;
	struct qbuf q;

	if (!is_scalar(v) || (at = memchr(sval(v), '@', slen(v))) == NULL)
		goto bad;
	local = (size_t)(at - sval(v));
	if (local == 0 || local > 64 || sval(v)[0] == '.' || sval(v)[local - 1] == '.' ||
	    !valid_domain(at + 1, slen(v) - local - 1))
		goto bad;
	for (size_t i = 0; i < local; i++) {
		unsigned char c = (unsigned char)sval(v)[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || (c != '\0' && strchr(atext, c))) ||
		    (c == '.' && sval(v)[i + 1] == '.'))
			goto bad;
	}
	ld->postmaster = v;
	*AT(base, f, char *) = pool_strndup(ld->ix, sval(v), slen(v));
	return *AT(base, f, char *) ? 0 : fail_nomem(ld);
bad:
	return fail(ld, v, "%s: expected a mail address like postmaster@example.net, "
		    "got %s", ld->ctx, describe(&q, v));
}

/* One of the NULL-terminated words; stores its index as an int (enum). */
static int
match_word(struct loader *ld, yaml_node_t *v, const char *const *words,
	   const char *expected, int *out)
{
	struct qbuf q;

	for (int i = 0; is_scalar(v) && words[i]; i++) {
		if (slen(v) == strlen(words[i]) &&
		    memcmp(sval(v), words[i], slen(v)) == 0) {
			*out = i;
			return 0;
		}
	}
	return fail(ld, v, "%s: expected %s, got %s", ld->ctx, expected,
		    describe(&q, v));
}

static int
f_tls(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	/* Order matches enum cfg_tls_policy. */
	static const char *const words[] = {
		"none", "opportunistic", "required", "verify", NULL
	};
	int i = 0, rc;

	rc = match_word(ld, v, words,
			"none, opportunistic, required or verify", &i);
	if (rc == 0)
		*AT(base, f, enum cfg_tls_policy) = (enum cfg_tls_policy)i;
	return rc;
}

/* Items of a list; a single scalar counts as a one-item list. */
static yaml_node_item_t *
items(yaml_node_t *v, yaml_node_item_t *one, size_t *n)
{
	if (v->type == YAML_SEQUENCE_NODE) {
		*n = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
		return v->data.sequence.items.start;
	}
	*n = 1;
	return one;
}

/* ------------------------------------------------------------------------ */
/* listen, trusted_networks, limits.                                        */

static int
listener_address(struct loader *ld, yaml_node_t *v, struct cfg_listener *l)
{
	struct hostport hp;
	struct qbuf q;

	if (!is_scalar(v))
		return fail(ld, v, "listen: expected an IP address and port like "
			    "127.0.0.1:2525 or [::1]:2525, got %s", describe(&q, v));
	switch (parse_hostport(sval(v), slen(v), 0, false, &hp)) {
	case HP_OK:
		break;
	case HP_V6_BARE:
		return fail(ld, v, "listen: expected an IPv6 address in brackets "
			    "like [::1]:2525, got %s", describe(&q, v));
	case HP_PORT:
		return fail(ld, v, "listen: expected a port from 1 to 65535, got %s",
			    describe(&q, v));
	default:
		return fail(ld, v, "listen: expected an IP address and port like "
			    "127.0.0.1:2525 or [::1]:2525, got %s", describe(&q, v));
	}
	memset(&l->addr, 0, sizeof(l->addr));
	if (hp.family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&l->addr;

		sin->sin_family = AF_INET;
		sin->sin_port = htons(hp.port);
		memcpy(&sin->sin_addr, hp.addr, 4);
		l->addrlen = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&l->addr;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(hp.port);
		memcpy(&sin6->sin6_addr, hp.addr, 16);
		l->addrlen = sizeof(*sin6);
	}
	l->text = pool_strndup(ld->ix, sval(v), slen(v));
	return l->text ? 0 : fail_nomem(ld);
}

static int
f_listen_address(struct loader *ld, const struct field *f, yaml_node_t *v,
		 void *base)
{
	return listener_address(ld, v, base);
}

static int
f_listen(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	static const struct field fields[] = {
		{ "address", f_listen_address, 0, 0, 0, NULL },
		{ "require_tls", f_bool, offsetof(struct cfg_listener, require_tls),
		  0, 0, NULL },
	};
	struct config *cfg = ld->cfg;
	yaml_node_item_t one = 0, *it;
	size_t n, *lines;
	struct qbuf q;
	int rc = 0;

	ld->listen = v;
	if (v->type == YAML_MAPPING_NODE)
		return fail(ld, v, "listen: expected a list of addresses, got %s",
			    describe(&q, v));
	it = items(v, &one, &n);
	if (n == 0)
		return 0;	/* "at least one" is checked at the end */
	if ((rc = charge(ld, v, n)) < 0)
		return rc;
	cfg->listeners = calloc(n, sizeof(*cfg->listeners));
	lines = calloc(n, sizeof(*lines));
	if (cfg->listeners == NULL || lines == NULL) {
		free(lines);
		return fail_nomem(ld);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		yaml_node_t *e = it == &one ? v : yaml_document_get_node(&ld->doc, it[i]);
		struct cfg_listener *l = &cfg->listeners[i];

		if (e == NULL) {
			rc = fail(ld, v, "YAML syntax error: broken list");
			break;
		}
		if (e->type == YAML_MAPPING_NODE) {
			rc = load_map(ld, e, fields, 2, l, "listen", "in listen");
			if (rc == 0 && l->text == NULL)
				rc = fail(ld, e, "listen: expected an address like "
					  "127.0.0.1:2525 in each item");
		} else {
			rc = listener_address(ld, e, l);
		}
		if (rc < 0)
			break;
		lines[i] = node_line(e);
		cfg->nlisteners = i + 1;
		for (size_t j = 0; j < i; j++) {
			if (cfg->listeners[j].addrlen == l->addrlen &&
			    memcmp(&cfg->listeners[j].addr, &l->addr, l->addrlen) == 0) {
				rc = fail(ld, e, "listen: duplicate address %s (first at "
					  "line %zu)", quote(&q, l->text, strlen(l->text)),
					  lines[j]);
				break;
			}
		}
	}
	free(lines);
	return rc;
}

static void
mask_prefix(uint8_t *addr, size_t bytes, unsigned prefix)
{
	for (size_t i = 0; i < bytes; i++) {
		unsigned bits = prefix >= 8 * (i + 1) ? 8 :
				prefix <= 8 * i ? 0 : prefix - 8 * (unsigned)i;

		addr[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static int
net_item(struct loader *ld, yaml_node_t *v, struct cfg_net *net)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const char *slash;
	uint8_t masked[16];
	uint64_t prefix;
	struct qbuf q;
	size_t bytes;

	if (!is_scalar(v))
		goto bad;
	slash = memchr(sval(v), '/', slen(v));
	net->family = parse_ip(sval(v), slash ? (size_t)(slash - sval(v)) : slen(v),
			       net->addr);
	if (net->family == 0)
		goto bad;
	bytes = net->family == AF_INET ? 4 : 16;
	prefix = 8 * bytes;
	if (slash) {
		size_t plen = slen(v) - (size_t)(slash + 1 - sval(v));

		if (parse_u64(slash + 1, plen, &prefix) < 0 || prefix > 8 * bytes)
			return fail(ld, v, "%s: expected a prefix length "
				    "from 0 to %zu, got %s", ld->ctx, 8 * bytes, describe(&q, v));
	}
	net->prefix = (uint8_t)prefix;
	memcpy(masked, net->addr, bytes);
	mask_prefix(masked, bytes, net->prefix);
	if (memcmp(masked, net->addr, bytes) != 0) {
		char txt[INET6_ADDRSTRLEN];

		inet_ntop(net->family, masked, txt, sizeof(txt));
		return fail(ld, v, "%s: host bits set in %s, expected "
			    "'%s/%u'", ld->ctx, describe(&q, v), txt, net->prefix);
	}
	/* ::ffff:a.b.c.d/96+ is an IPv4 network: keep it as one. */
	if (net->family == AF_INET6 && net->prefix >= 96 &&
	    memcmp(net->addr, mapped, 12) == 0) {
		memmove(net->addr, net->addr + 12, 4);
		memset(net->addr + 4, 0, 12);
		net->family = AF_INET;
		net->prefix -= 96;
	}
	return 0;
bad:
	return fail(ld, v, "%s: expected an IP address or network "
		    "like 10.0.0.0/8 or ::1/128, got %s", ld->ctx, describe(&q, v));
}

/* A list of networks (a single scalar is a one-item list) into *out. */
static int
net_list(struct loader *ld, yaml_node_t *v, struct cfg_net **out, size_t *nout)
{
	yaml_node_item_t one = 0, *it;
	struct qbuf q;
	size_t n;
	int rc;

	if (v->type == YAML_MAPPING_NODE)
		return fail(ld, v, "%s: expected a list of networks, got %s", ld->ctx,
			    describe(&q, v));
	it = items(v, &one, &n);
	if (n == 0)
		return 0;
	if ((rc = charge(ld, v, n)) < 0)
		return rc;
	*out = calloc(n, sizeof(**out));
	if (*out == NULL)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *e = it == &one ? v : yaml_document_get_node(&ld->doc, it[i]);

		if (e == NULL)
			return fail(ld, v, "YAML syntax error: broken list");
		rc = net_item(ld, e, &(*out)[i]);
		if (rc < 0)
			return rc;
		*nout = i + 1;
	}
	return 0;
}

static int
f_trusted(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	return net_list(ld, v, &ld->cfg->trusted, &ld->cfg->ntrusted);
}

/* limits.client_exempt: [] exempts nobody, so it is "set" even when empty */
static int
f_client_exempt(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	ld->cfg->client_exempt_set = true;
	ld->ctx = "limits.client_exempt";
	return net_list(ld, v, &ld->cfg->client_exempt, &ld->cfg->nclient_exempt);
}

static int
f_limits(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
#define L(m)	offsetof(struct cfg_limits, m)
	static const struct field fields[] = {
		{ "message_size", f_size, L(message_size), 1, 2 * GIB, NULL },
		{ "recipients", f_u32, L(recipients), 1, 100000, NULL },
		{ "errors", f_u32, L(errors), 1, 10000, NULL },
		{ "command_line", f_u32, L(command_line), 512, 65536, NULL },
		{ "text_line", f_u32, L(text_line), 1000, 1048576, NULL },
		{ "idle_timeout", f_duration, L(idle_timeout), 1, DAY, NULL },
		{ "data_timeout", f_duration, L(data_timeout), 1, DAY, NULL },
		{ "send_timeout", f_duration, L(send_timeout), 1, DAY, NULL },
		{ "drain_timeout", f_duration, L(drain_timeout), 0, DAY, NULL },
		{ "max_sessions", f_u32, L(max_sessions), 1, 1000000, NULL },
		{ "client_sessions", f_u32, L(client_sessions), 0, 1000000, NULL },
		{ "client_rate", f_u32, L(client_rate), 0, 100000000,
		  "connections per minute" },
		{ "client_exempt", f_client_exempt, 0, 0, 0, NULL },
		{ "data_total", f_duration, L(data_total), 1, DAY, NULL },
		{ "data_min_rate", f_u32, L(data_min_rate), 0, 1u << 30,
		  "bytes per second" },
		{ "data_memory", f_size, L(data_memory), 1 * MIB, 64 * GIB, NULL },
		{ "data_spill", f_size, L(data_spill), 4 * KIB, 1 * GIB, NULL },
	};
#undef L
	return load_map(ld, v, fields, sizeof(fields) / sizeof(fields[0]),
			&ld->cfg->limits, "limits", "in limits");
}

/* tls: {cert, key}: the certificate inbound STARTTLS presents */
static int
f_tls_server(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
#define T(m)	offsetof(struct config, m)
	static const struct field fields[] = {
		{ "cert", f_path, T(tls_cert), 0, 0, NULL },
		{ "key", f_path, T(tls_key), 0, 0, NULL },
	};
#undef T
	int rc = load_map(ld, v, fields, 2, ld->cfg, "tls", "in tls");

	if (rc == 0 && (ld->cfg->tls_cert == NULL) != (ld->cfg->tls_key == NULL))
		return fail(ld, v, "tls: expected both cert and key");
	return rc;
}

/* ------------------------------------------------------------------------ */
/* connectors.                                                              */

static int
f_smarthosts(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct cfg_connector *c = base;
	yaml_node_item_t one = 0, *it;
	struct hostport hp;
	struct qbuf q;
	size_t n;

	if (v->type == YAML_MAPPING_NODE)
		return fail(ld, v, "%s: expected a list of smart hosts, got %s",
			    ld->ctx, describe(&q, v));
	it = items(v, &one, &n);
	if (n == 0)
		return fail(ld, v, "%s: expected at least one smart host", ld->ctx);
	if (charge(ld, v, n) < 0)
		return -EINVAL;
	c->hosts = calloc(n, sizeof(*c->hosts));
	if (c->hosts == NULL)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *e = it == &one ? v : yaml_document_get_node(&ld->doc, it[i]);
		struct cfg_host *h = &c->hosts[i];

		if (e == NULL)
			return fail(ld, v, "YAML syntax error: broken list");
		if (!is_scalar(e))
			goto bad;
		switch (parse_hostport(sval(e), slen(e), 25, true, &hp)) {
		case HP_OK:
			break;
		case HP_V6_BARE:
			return fail(ld, e, "%s: expected an IPv6 address in brackets "
				    "like [::1]:25, got %s", ld->ctx, describe(&q, e));
		case HP_PORT:
			return fail(ld, e, "%s: expected a port from 1 to 65535, got %s",
				    ld->ctx, describe(&q, e));
		default:
			goto bad;
		}
		h->name = pool_strndup(ld->ix, hp.host, hp.hostlen);
		if (h->name == NULL)
			return fail_nomem(ld);
		for (char *p = h->name; *p; p++)
			*p = (char)lower((unsigned char)*p);
		h->port = hp.port;
		c->nhosts = i + 1;
		continue;
bad:
		return fail(ld, e, "%s: expected a host name or IP address with an "
			    "optional port like mx.example.net:25 or [::1]:25, got %s",
			    ld->ctx, describe(&q, e));
	}
	return 0;
}

/* resolvers: ["127.0.0.1:5353", "[::1]"]: IP literals, optional port */
static int
f_resolvers(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct config *cfg = base;
	yaml_node_item_t one = 0, *it;
	struct hostport hp;
	struct qbuf q;
	uint8_t addr[16];
	size_t n;

	if (v->type == YAML_MAPPING_NODE)
		return fail(ld, v, "resolvers: expected a list of DNS server addresses "
			    "like 127.0.0.1:53, got %s", describe(&q, v));
	it = items(v, &one, &n);
	if (n == 0)
		return fail(ld, v, "resolvers: expected at least one DNS server");
	cfg->resolvers = calloc(n, sizeof(*cfg->resolvers));
	if (cfg->resolvers == NULL)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_t *e = it == &one ? v : yaml_document_get_node(&ld->doc, it[i]);

		if (e == NULL)
			return fail(ld, v, "YAML syntax error: broken list");
		if (!is_scalar(e) ||
		    parse_hostport(sval(e), slen(e), 53, false, &hp) != HP_OK ||
		    parse_ip(hp.host, hp.hostlen, addr) == 0)
			return fail(ld, e, "resolvers: expected an IP address with an "
				    "optional port like 127.0.0.1:53 or [::1]:53, got %s",
				    describe(&q, e));
		cfg->resolvers[i] = pool_strndup(ld->ix, sval(e), slen(e));
		if (cfg->resolvers[i] == NULL)
			return fail_nomem(ld);
		cfg->nresolvers = i + 1;
	}
	return 0;
}

/* retry: {initial, max, jitter} */
static int
f_retry(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
#define C(m)	offsetof(struct cfg_connector, m)
	static const struct field fields[] = {
		{ "initial", f_duration, C(retry_initial), 1, DAY, NULL },
		{ "max", f_duration, C(retry_max), 1, 7 * DAY, NULL },
		{ "jitter", f_u32, C(retry_jitter), 0, 50, "a percentage" },
	};
#undef C
	char where[sizeof(ld->where_buf) + 16];

	snprintf(where, sizeof(where), "in retry of %s", ld->ctx);
	return load_map(ld, v, fields, 3, base, ld->ctx, where);
}

static const struct field connector_fields[] = {
#define C(m)	offsetof(struct cfg_connector, m)
	{ "smarthosts", f_smarthosts, 0, 0, 0, NULL },
	{ "mx", f_bool, C(mx), 0, 0, NULL },
	{ "retry", f_retry, 0, 0, 0, NULL },
	{ "expiry", f_duration, C(expiry), 1, 30 * DAY, NULL },
	{ "delay_warning", f_duration, C(delay_warning), 0, 30 * DAY, NULL },
	{ "max_connections", f_u32, C(max_connections), 1, 100000, NULL },
	{ "max_messages_per_connection", f_u32, C(max_msgs_per_conn), 1, 1000000,
	  NULL },
	{ "down_after", f_u32, C(down_after), 1, 1000, NULL },
	{ "mx_port", f_u32, C(mx_port), 1, 65535, "a port from 1 to 65535" },
	{ "connect_timeout", f_duration, C(connect_timeout), 1, HOUR, NULL },
	{ "command_timeout", f_duration, C(command_timeout), 1, DAY, NULL },
	{ "tls", f_tls, C(tls), 0, 0, NULL },
	{ "tls_domain", f_hostname, C(tls_domain), 0, 0, NULL },
	{ "tls_ca", f_path, C(tls_ca), 0, 0, NULL },
	{ "enabled", f_bool, C(enabled), 0, 0, NULL },
#undef C
};

static void
connector_defaults(struct cfg_connector *c)
{
	c->retry_initial = 60;
	c->retry_max = 900;
	c->retry_jitter = 10;
	c->expiry = 86400;
	c->delay_warning = 0;
	c->max_connections = 20;
	c->max_msgs_per_conn = 100;
	c->down_after = 3;
	c->mx_port = 25;
	c->connect_timeout = 30;
	c->command_timeout = 300;
	c->tls = CFG_TLS_NONE;
	c->enabled = true;
}

/* The retry node of a connector mapping, for the line of a retry error. */
static yaml_node_t *
map_get(struct loader *ld, yaml_node_t *map, const char *key)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);

		if (k && is_scalar(k) && slen(k) == strlen(key) &&
		    memcmp(sval(k), key, slen(k)) == 0)
			return yaml_document_get_node(&ld->doc, p->value);
	}
	return NULL;
}

static int
connector(struct loader *ld, yaml_node_t *k, yaml_node_t *v,
	  struct cfg_connector *c)
{
	char where[sizeof(ld->where_buf)];
	char a[32], b[32];
	struct qbuf q;
	int rc;

	snprintf(ld->ctx_buf, sizeof(ld->ctx_buf), "connector %s",
		 quote(&q, c->name, strlen(c->name)));
	snprintf(where, sizeof(where), "in %s", ld->ctx_buf);
	connector_defaults(c);
	if (v->type != YAML_MAPPING_NODE)
		return fail(ld, v, "%s: expected a mapping with smarthosts or mx: "
			    "true, got %s", ld->ctx_buf, describe(&q, v));
	rc = load_map(ld, v, connector_fields,
		      sizeof(connector_fields) / sizeof(connector_fields[0]), c,
		      ld->ctx_buf, where);
	if (rc < 0)
		return rc;
	if (c->mx && c->hosts)
		return fail(ld, k, "%s: expected smarthosts or mx: true, not both",
			    ld->ctx_buf);
	if (!c->mx && !c->hosts)
		return fail(ld, k, "%s: expected smarthosts or mx: true", ld->ctx_buf);
	if (c->retry_initial > c->retry_max) {
		yaml_node_t *r = map_get(ld, v, "retry");

		return fail(ld, r ? r : k, "%s: expected retry initial <= max, got "
			    "initial %s and max %s", ld->ctx_buf,
			    fmt_duration(a, sizeof(a), c->retry_initial),
			    fmt_duration(b, sizeof(b), c->retry_max));
	}
	return 0;
}

static int
f_connectors(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct config *cfg = ld->cfg;
	struct qbuf q;
	size_t n;
	long dup;
	int rc;

	if (v->type != YAML_MAPPING_NODE)
		return fail(ld, v, "connectors: expected a mapping of connector names "
			    "to settings, got %s", describe(&q, v));
	n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (n == 0)
		return 0;
	if ((rc = charge(ld, v, n)) < 0)
		return rc;
	cfg->connectors = calloc(n, sizeof(*cfg->connectors));
	ld->conn_line = calloc(n, sizeof(*ld->conn_line));
	if (cfg->connectors == NULL || ld->conn_line == NULL ||
	    ntab_init(&ld->ix->connectors, n) < 0)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&ld->doc, p->value);
		struct cfg_connector *c = &cfg->connectors[i];

		if (k == NULL || val == NULL)
			return fail(ld, v, "YAML syntax error: broken mapping");
		if (!is_scalar(k) || !valid_name(sval(k), slen(k)))
			return fail(ld, k, "connectors: expected a connector name of "
				    "letters, digits, '_', '.' or '-', got %s",
				    describe(&q, k));
		c->name = pool_strndup(ld->ix, sval(k), slen(k));
		if (c->name == NULL)
			return fail_nomem(ld);
		dup = ntab_add(&ld->ix->connectors, cfg->connectors, sizeof(*c),
			       (uint32_t)i, false);
		if (dup >= 0)
			return fail(ld, k, "duplicate connector %s (first at line %u)",
				    quote(&q, c->name, strlen(c->name)),
				    ld->conn_line[dup]);
		ld->conn_line[i] = (uint32_t)node_line(k);
		cfg->nconnectors = i + 1;
		rc = connector(ld, k, val, c);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* tenants.                                                                 */

static const struct field tenant_fields[] = {
#define TN(m)	offsetof(struct cfg_tenant, m)
	{ "directory", f_path, TN(directory), 0, 0, NULL },
	{ "invalid_recipient_quota", f_u32, TN(quota), 0, 100000000, NULL },
#undef TN
};

static int
f_tenants(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct config *cfg = ld->cfg;
	struct qbuf q;
	size_t n;
	long dup;
	int rc;

	if (v->type != YAML_MAPPING_NODE)
		return fail(ld, v, "tenants: expected a mapping of tenant names to "
			    "settings, got %s", describe(&q, v));
	n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (n == 0)
		return 0;
	if ((rc = charge(ld, v, n)) < 0)
		return rc;
	cfg->tenants = calloc(n, sizeof(*cfg->tenants));
	if (cfg->tenants == NULL || ntab_init(&ld->ix->tenants, n) < 0)
		return fail_nomem(ld);
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&ld->doc, p->value);
		struct cfg_tenant *t = &cfg->tenants[i];
		char where[sizeof(ld->where_buf)];

		if (k == NULL || val == NULL)
			return fail(ld, v, "YAML syntax error: broken mapping");
		if (!is_scalar(k) || !valid_name(sval(k), slen(k)))
			return fail(ld, k, "tenants: expected a tenant name of letters, "
				    "digits, '_', '.' or '-', got %s", describe(&q, k));
		t->name = pool_strndup(ld->ix, sval(k), slen(k));
		if (t->name == NULL)
			return fail_nomem(ld);
		dup = ntab_add(&ld->ix->tenants, cfg->tenants, sizeof(*t), (uint32_t)i, false);
		if (dup >= 0)
			return fail(ld, k, "duplicate tenant %s", quote(&q, t->name,
									strlen(t->name)));
		cfg->ntenants = i + 1;
		snprintf(ld->ctx_buf, sizeof(ld->ctx_buf), "tenant %s",
			 quote(&q, t->name, strlen(t->name)));
		snprintf(where, sizeof(where), "in %s", ld->ctx_buf);
		if (val->type != YAML_MAPPING_NODE)
			return fail(ld, val, "%s: expected a mapping of settings, got %s",
				    ld->ctx_buf, describe(&q, val));
		rc = load_map(ld, val, tenant_fields,
			      sizeof(tenant_fields) / sizeof(tenant_fields[0]), t,
			      ld->ctx_buf, where);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* redis host: a host name or an IP literal */
static int
f_redis_host(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct qbuf q;

	if (!is_scalar(v) || slen(v) == 0 || slen(v) > 253 ||
	    memchr(sval(v), ' ', slen(v)) != NULL)
		return fail(ld, v, "redis: expected a host name or IP address, got %s",
			    describe(&q, v));
	return scalar_text(ld, v, "a host", &ld->cfg->redis_host);
}

/* redis: {host, port}: cluster-wide tenant counters */
static int
f_redis(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
#define T(m)	offsetof(struct config, m)
	static const struct field fields[] = {
		{ "host", f_redis_host, 0, 0, 0, NULL },
		{ "port", f_u32, T(redis_port), 1, 65535, "a port from 1 to 65535" },
	};
#undef T
	int rc = load_map(ld, v, fields, 2, ld->cfg, "redis", "in redis");

	if (rc == 0 && ld->cfg->redis_host == NULL)
		return fail(ld, v, "redis: expected a host");
	if (rc == 0 && ld->cfg->redis_port == 0)
		ld->cfg->redis_port = 6379;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* domains.                                                                 */

/* Long form of a domain entry while it is parsed. */
struct domain_spec {
	yaml_node_t *connector;		/* value node of connector: */
	int mode;			/* enum cfg_domain_mode */
	char *tenant;			/* pool string or NULL */
};

static int
f_domain_connector(struct loader *ld, const struct field *f, yaml_node_t *v,
		   void *base)
{
	((struct domain_spec *)base)->connector = v;
	return 0;
}

static int
f_domain_mode(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	static const char *const words[] = { "internal_relay", "authoritative", NULL };

	return match_word(ld, v, words, "internal_relay or authoritative",
			  &((struct domain_spec *)base)->mode);
}

static int
f_tenant(struct loader *ld, const struct field *f, yaml_node_t *v, void *base)
{
	struct qbuf q;

	if (!is_scalar(v) || !valid_name(sval(v), slen(v)))
		return fail(ld, v, "%s: expected a tenant name of letters, digits, "
			    "'_', '.' or '-', got %s", ld->ctx, describe(&q, v));
	return scalar_text(ld, v, "a tenant name",
			   &((struct domain_spec *)base)->tenant);
}

static int
domain_entry(struct loader *ld, yaml_node_t *v, const char *name,
	     struct cfg_domain *d)
{
	static const struct field fields[] = {
		{ "connector", f_domain_connector, 0, 0, 0, NULL },
		{ "mode", f_domain_mode, 0, 0, 0, NULL },
		{ "tenant", f_tenant, 0, 0, 0, NULL },
	};
	struct domain_spec spec = { .mode = CFG_DOMAIN_INTERNAL_RELAY };
	char where[sizeof(ld->where_buf)];
	struct qbuf q, q2;
	long ci;
	int rc;

	snprintf(ld->ctx_buf, sizeof(ld->ctx_buf), "domain %s",
		 quote(&q, name, strlen(name)));
	snprintf(where, sizeof(where), "in %s", ld->ctx_buf);
	if (v->type == YAML_MAPPING_NODE) {
		rc = load_map(ld, v, fields, 3, &spec, ld->ctx_buf, where);
		if (rc < 0)
			return rc;
		if (spec.connector == NULL)
			return fail(ld, v, "%s: expected a connector", ld->ctx_buf);
	} else if (is_scalar(v)) {
		spec.connector = v;
	} else {
		return fail(ld, v, "%s: expected a connector name or a mapping, got %s",
			    ld->ctx_buf, describe(&q, v));
	}
	if (!is_scalar(spec.connector))
		return fail(ld, spec.connector, "%s: expected a connector name, got %s",
			    ld->ctx_buf, describe(&q, spec.connector));
	ci = ntab_find(&ld->ix->connectors, ld->cfg->connectors,
		       sizeof(struct cfg_connector), sval(spec.connector),
		       slen(spec.connector), false);
	if (ci < 0 || memchr(sval(spec.connector), '\0', slen(spec.connector)))
		return fail(ld, spec.connector, "domain %s routes to unknown "
			    "connector %s", quote(&q, name, strlen(name)),
			    describe(&q2, spec.connector));
	d->connector = &ld->cfg->connectors[ci];
	d->mode = (enum cfg_domain_mode)spec.mode;
	d->tenant = spec.tenant;
	if (spec.tenant != NULL) {
		long ti = ld->cfg->ntenants == 0 ? -1 :
			ntab_find(&ld->ix->tenants, ld->cfg->tenants,
				  sizeof(struct cfg_tenant), spec.tenant,
				  strlen(spec.tenant), false);
		if (ti < 0)
			return fail(ld, v, "%s: tenant %s is not defined under tenants",
				    ld->ctx_buf, quote(&q, spec.tenant, strlen(spec.tenant)));
		d->tenant_cfg = &ld->cfg->tenants[ti];
	}
	if (d->mode == CFG_DOMAIN_AUTHORITATIVE &&
	    (d->tenant_cfg == NULL || d->tenant_cfg->directory == NULL))
		return fail(ld, v, "%s: an authoritative domain needs a tenant with a "
			    "directory", ld->ctx_buf);
	return 0;
}

static int
load_domains(struct loader *ld, yaml_node_t *v)
{
	struct config *cfg = ld->cfg;
	struct cfg_index *ix = ld->ix;
	uint32_t *lines = NULL, star_line = 0;
	struct qbuf q;
	size_t n;
	int rc = 0;

	if (v->type != YAML_MAPPING_NODE)
		return fail(ld, v, "domains: expected a mapping of domains to "
			    "connectors, got %s", describe(&q, v));
	n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	if (n == 0)
		return 0;
	if ((rc = charge(ld, v, n)) < 0)
		return rc;
	cfg->domains = calloc(n, sizeof(*cfg->domains));
	lines = calloc(n, sizeof(*lines));
	if (cfg->domains == NULL || lines == NULL || ntab_init(&ix->domains, n) < 0) {
		free(lines);
		return fail_nomem(ld);
	}
	for (size_t i = 0; i < n; i++) {
		yaml_node_pair_t *p = &v->data.mapping.pairs.start[i];
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);
		yaml_node_t *val = yaml_document_get_node(&ld->doc, p->value);
		struct cfg_domain *d;
		long dup;

		if (k == NULL || val == NULL) {
			rc = fail(ld, v, "YAML syntax error: broken mapping");
			break;
		}
		if (is_scalar(k) && slen(k) == 1 && sval(k)[0] == '*') {
			if (cfg->default_route) {
				rc = fail(ld, k, "duplicate domain '*' (first at line %u)",
					  star_line);
				break;
			}
			cfg->default_route = calloc(1, sizeof(*cfg->default_route));
			if (cfg->default_route == NULL ||
			    (cfg->default_route->name = pool_strndup(ix, "*", 1)) == NULL) {
				rc = fail_nomem(ld);
				break;
			}
			star_line = (uint32_t)node_line(k);
			rc = domain_entry(ld, val, "*", cfg->default_route);
			if (rc < 0)
				break;
			continue;
		}
		if (!is_scalar(k) || !valid_domain(sval(k), slen(k))) {
			rc = fail(ld, k, "domains: expected a domain name (labels of "
				  "letters, digits and '-', 1 to 63 characters, 253 in "
				  "all), got %s", describe(&q, k));
			break;
		}
		d = &cfg->domains[cfg->ndomains];
		d->name = pool_strndup(ix, sval(k), slen(k));
		if (d->name == NULL) {
			rc = fail_nomem(ld);
			break;
		}
		for (char *s = d->name; *s; s++)
			*s = (char)lower((unsigned char)*s);
		dup = ntab_add(&ix->domains, cfg->domains, sizeof(*d),
			       (uint32_t)cfg->ndomains, true);
		if (dup >= 0) {
			rc = fail(ld, k, "duplicate domain %s (first at line %u)",
				  quote(&q, d->name, strlen(d->name)), lines[dup]);
			break;
		}
		lines[cfg->ndomains] = (uint32_t)node_line(k);
		cfg->ndomains++;
		rc = domain_entry(ld, val, d->name, d);
		if (rc < 0)
			break;
	}
	free(lines);
	return rc;
}

static int
f_defer_domains(struct loader *ld, const struct field *f, yaml_node_t *v,
		void *base)
{
	ld->domains = v;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Top level.                                                               */

static const struct field top_fields[] = {
#define T(m)	offsetof(struct config, m)
	{ "workers", f_u32, T(workers), 0, 1024, NULL },
	{ "hostname", f_hostname, T(hostname), 0, 0, NULL },
	{ "spool", f_path, T(spool_dir), 0, 0, NULL },
	{ "spool_segment_size", f_size, T(segment_size), MIB, GIB, NULL },
	{ "control_socket", f_socket_path, T(control_socket), 0, 0, NULL },
	{ "resolvers", f_resolvers, 0, 0, 0, NULL },
	{ "dns_timeout_ms", f_u32, T(dns_timeout_ms), 10, 60000, NULL },
	{ "listen", f_listen, 0, 0, 0, NULL },
	{ "trusted_networks", f_trusted, 0, 0, 0, NULL },
	{ "limits", f_limits, 0, 0, 0, NULL },
	{ "tls", f_tls_server, 0, 0, 0, NULL },
	{ "tenants", f_tenants, 0, 0, 0, NULL },
	{ "postmaster", f_mailbox, T(postmaster), 0, 0, NULL },
	{ "ndr_return_max", f_size, T(ndr_return_max), 0, 10 * MIB, NULL },	/* DSN_ORIG_MAX */
	{ "state_file", f_path, T(state_file), 0, 0, NULL },
	{ "quota_window", f_duration, T(quota_window), 1, 7 * DAY, NULL },
	{ "quota_bucket", f_duration, T(quota_bucket), 1, DAY, NULL },
	{ "redis", f_redis, 0, 0, 0, NULL },
	{ "connectors", f_connectors, 0, 0, 0, NULL },
	{ "domains", f_defer_domains, 0, 0, 0, NULL },
#undef T
};

static void
config_defaults(struct config *cfg)
{
	cfg->workers = 0;
	cfg->dns_timeout_ms = 2000;
	cfg->quota_window = 3600;
	cfg->quota_bucket = 60;
	cfg->segment_size = 64 * MIB;
	cfg->ndr_return_max = 128 * KIB;
	cfg->limits = (struct cfg_limits){
		.message_size = 10 * MIB,
		.recipients = 500,
		.errors = 10,
		.command_line = 512,
		.text_line = 1000,
		.idle_timeout = 300,
		.data_timeout = 180,
		.send_timeout = 60,
		.drain_timeout = 10,
		.max_sessions = 20000,
		.client_sessions = 50,
		.client_rate = 600,
		.data_total = 3600,
		.data_min_rate = 500,
		.data_memory = 32 * MIB,
		.data_spill = 256 * KIB,
	};
}

static int
fill_defaults(struct loader *ld)
{
	struct config *cfg = ld->cfg;
	char host[256];

	if (cfg->hostname == NULL) {
		if (gethostname(host, sizeof(host)) < 0 || host[0] == '\0')
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		cfg->hostname = pool_strndup(ld->ix, host, strlen(host));
	}
	if (cfg->spool_dir == NULL)
		cfg->spool_dir = pool_strndup(ld->ix, CFG_DEFAULT_SPOOL,
					      strlen(CFG_DEFAULT_SPOOL));
	if (cfg->control_socket == NULL)
		cfg->control_socket = pool_strndup(ld->ix, CFG_DEFAULT_CONTROL,
						   strlen(CFG_DEFAULT_CONTROL));
	if (!cfg->hostname || !cfg->spool_dir || !cfg->control_socket)
		return fail_nomem(ld);
	return 0;
}

/* Line of a libyaml error; reader errors only know their byte offset. */
static size_t
yaml_error_line(struct loader *ld, const yaml_parser_t *p)
{
	size_t line = 1;

	if (p->error != YAML_READER_ERROR)
		return p->problem_mark.line + 1;
	for (size_t i = 0; i < p->problem_offset && i < ld->textlen; i++)
		line += ld->text[i] == '\n';
	return line;
}

static int
yaml_failure(struct loader *ld, const yaml_parser_t *p)
{
	if (p->error == YAML_MEMORY_ERROR)
		return fail_nomem(ld);
	return fail_line(ld, yaml_error_line(ld, p), "YAML syntax error: %s",
			 p->problem ? p->problem : "unknown problem");
}

/*
 * Event pass over the text before the document is built: syntax errors,
 * nesting depth, anchor count, and a stray second document.
 */
static int
prescan(struct loader *ld)
{
	yaml_parser_t parser;
	const yaml_char_t *anchor;
	yaml_event_t ev;
	size_t depth = 0, anchors = 0, docs = 0;
	bool end;
	int rc = 0;

	if (!yaml_parser_initialize(&parser))
		return fail_nomem(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text,
				     ld->textlen);
	while (rc == 0) {
		if (!yaml_parser_parse(&parser, &ev)) {
			rc = yaml_failure(ld, &parser);
			break;
		}
		anchor = NULL;
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				rc = fail_line(ld, ev.start_mark.line + 1, "expected a "
					       "single YAML document, found another");
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			anchor = ev.type == YAML_SEQUENCE_START_EVENT ?
				 ev.data.sequence_start.anchor :
				 ev.data.mapping_start.anchor;
			if (++depth > YAML_DEPTH_MAX)
				rc = fail_line(ld, ev.start_mark.line + 1, "expected at "
					       "most %d levels of nesting",
					       YAML_DEPTH_MAX);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			break;
		default:
			break;
		}
		if (rc == 0 && anchor && ++anchors > YAML_ANCHORS_MAX)
			rc = fail_line(ld, ev.start_mark.line + 1, "expected at most "
				       "%d YAML anchors", YAML_ANCHORS_MAX);
		end = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (end)
			break;
	}
	yaml_parser_delete(&parser);
	return rc;
}

static int
load(struct loader *ld)
{
	yaml_parser_t parser;
	int rc;

	rc = prescan(ld);
	if (rc < 0)
		return rc;
	if (!yaml_parser_initialize(&parser))
		return fail_nomem(ld);
	yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text,
				     ld->textlen);
	if (!yaml_parser_load(&parser, &ld->doc)) {
		rc = yaml_failure(ld, &parser);
		memset(&ld->doc, 0, sizeof(ld->doc));
	}
	yaml_parser_delete(&parser);
	if (rc < 0)
		return rc;

	ld->root = yaml_document_get_root_node(&ld->doc);
	if (ld->root == NULL || ld->root->type != YAML_MAPPING_NODE)
		return fail(ld, ld->root, "expected a mapping at the top level");
	ld->budget = 4 * (size_t)(ld->doc.nodes.top - ld->doc.nodes.start) + 65536;
	rc = load_map(ld, ld->root, top_fields,
		      sizeof(top_fields) / sizeof(top_fields[0]), ld->cfg, NULL,
		      "at the top level");
	if (rc < 0)
		return rc;
	if (ld->cfg->nlisteners == 0)
		return fail(ld, ld->listen ? ld->listen : ld->root,
			    "listen: expected at least one address like "
			    "127.0.0.1:2525");
	if (ld->domains && (rc = load_domains(ld, ld->domains)) < 0)
		return rc;
	if (ld->postmaster != NULL) {
		const char *pm = ld->cfg->postmaster, *at = strchr(pm, '@');

		if (config_domain_find(ld->cfg, at + 1, strlen(at + 1)) == NULL &&
		    ld->cfg->default_route == NULL)
			return fail(ld, ld->postmaster, "postmaster: no connector routes "
				    "'%s': add its domain to domains (or a \"*\" route)", at + 1);
	}
	return fill_defaults(ld);
}

static int
load_buffer(const char *name, const char *text, size_t len, struct config **out,
	    char *err, size_t errlen)
{
	struct loader ld = {
		.name = name ? name : "(string)",
		.text = text,
		.textlen = len,
		.err = err,
		.errlen = errlen,
	};
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	ld.cfg = calloc(1, sizeof(*ld.cfg));
	ld.ix = calloc(1, sizeof(*ld.ix));
	if (ld.cfg == NULL || ld.ix == NULL) {
		free(ld.cfg);
		free(ld.ix);
		return fail_nomem(&ld);
	}
	ld.cfg->domain_index = ld.ix;
	config_defaults(ld.cfg);
	ld.cfg->path = pool_strndup(ld.ix, ld.name, strlen(ld.name));
	if (ld.cfg->path == NULL)
		rc = fail_nomem(&ld);
	else if (text == NULL)
		rc = fail_line(&ld, 0, "no YAML text given");
	else
		rc = load(&ld);
	yaml_document_delete(&ld.doc);
	free(ld.conn_line);
	if (rc < 0) {
		config_free(ld.cfg);
		return rc;
	}
	*out = ld.cfg;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* API.                                                                     */

int
config_load_string(const char *name, const char *yaml, struct config **out,
		   char *err, size_t errlen)
{
	return load_buffer(name, yaml, yaml ? strlen(yaml) : 0, out, err, errlen);
}

/* Whole file into a malloc'd buffer; 0 or -errno. */
static int
read_file(const char *path, char **bufp, size_t *lenp)
{
	size_t len = 0, cap;
	struct stat st;
	char *buf = NULL, *nb;
	ssize_t r;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = -EISDIR;
		goto out;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > FILE_MAX) {
		rc = -EFBIG;
		goto out;
	}
	cap = S_ISREG(st.st_mode) && st.st_size > 0 ? (size_t)st.st_size + 1 : 4096;
	for (;;) {
		if (len == cap || buf == NULL) {
			if (buf && cap > FILE_MAX) {
				rc = -EFBIG;
				goto out;
			}
			cap = buf ? cap * 2 : cap;
			nb = realloc(buf, cap);
			if (nb == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		r = read(fd, buf + len, cap - len);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
out:
	close(fd);
	if (rc < 0) {
		free(buf);
		return rc;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	if (path == NULL)
		return -EINVAL;
	rc = read_file(path, &buf, &len);
	if (rc < 0) {
		struct loader ld = { .name = path, .err = err, .errlen = errlen };

		fail_line(&ld, 0, "cannot read: %s", strerror(-rc));
		return rc;
	}
	rc = load_buffer(path, buf, len, out, err, errlen);
	free(buf);
	return rc;
}

void
config_free(struct config *cfg)
{
	struct cfg_index *ix;
	struct pool_chunk *c, *next;

	if (cfg == NULL)
		return;
	ix = cfg->domain_index;
	config_tls_free(cfg);
	free(cfg->listeners);
	free(cfg->trusted);
	free(cfg->client_exempt);
	free(cfg->resolvers);
	free(cfg->tenants);
	for (size_t i = 0; i < cfg->nconnectors; i++)
		free(cfg->connectors[i].hosts);
	free(cfg->connectors);
	free(cfg->domains);
	free(cfg->default_route);
	if (ix) {
		free(ix->domains.slots);
		free(ix->connectors.slots);
		free(ix->tenants.slots);
		for (c = ix->pool; c; c = next) {
			next = c->next;
			free(c);
		}
		free(ix);
	}
	free(cfg);
}

/*
 * holds is the one field written after load, and only through these atomics:
 * a config is otherwise shared read-only, hence the casts.  A worker takes a
 * hold on the config it reads before it acknowledges a newer one, so the
 * main thread, seeing every acknowledgement, also sees the hold.
 */
const struct config *
config_hold(const struct config *cfg)
{
	__atomic_fetch_add(&((struct config *)cfg)->holds, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
config_release(const struct config *cfg)
{
	/* release: the holder's last reads happen before the free */
	__atomic_fetch_sub(&((struct config *)cfg)->holds, 1, __ATOMIC_RELEASE);
}

bool
config_held(const struct config *cfg)
{
	return __atomic_load_n(&cfg->holds, __ATOMIC_ACQUIRE) != 0;
}

const struct cfg_domain *
config_domain_find(const struct config *cfg, const char *domain, size_t len)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || domain == NULL || len == 0 || len > DOMAIN_MAX)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		/* A config not made by config_load*: no table, scan. */
		for (size_t j = 0; j < cfg->ndomains; j++)
			if (name_eq(cfg->domains[j].name, domain, len, true))
				return &cfg->domains[j];
		return NULL;
	}
	i = ntab_find(&ix->domains, cfg->domains, sizeof(*cfg->domains), domain,
		      len, true);
	return i < 0 ? NULL : &cfg->domains[i];
}

const struct cfg_connector *
config_connector_find(const struct config *cfg, const char *name)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || name == NULL)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		for (size_t j = 0; j < cfg->nconnectors; j++)
			if (strcmp(cfg->connectors[j].name, name) == 0)
				return &cfg->connectors[j];
		return NULL;
	}
	i = ntab_find(&ix->connectors, cfg->connectors, sizeof(*cfg->connectors),
		      name, strlen(name), false);
	return i < 0 ? NULL : &cfg->connectors[i];
}

const struct cfg_tenant *
config_addr_tenant(const struct config *cfg, const char *addr)
{
	const char *at = strrchr(addr, '@');
	const struct cfg_domain *d;

	if (at == NULL || cfg->ntenants == 0)
		return NULL;
	d = config_domain_find(cfg, at + 1, strlen(at + 1));
	if (d == NULL || d->tenant_cfg == NULL || d->tenant_cfg->counter < 0)
		return NULL;
	return d->tenant_cfg;
}

const struct cfg_tenant *
config_tenant_find(const struct config *cfg, const char *name)
{
	const struct cfg_index *ix;
	long i;

	if (cfg == NULL || name == NULL || cfg->ntenants == 0)
		return NULL;
	ix = cfg->domain_index;
	if (ix == NULL) {
		for (size_t j = 0; j < cfg->ntenants; j++)
			if (strcmp(cfg->tenants[j].name, name) == 0)
				return &cfg->tenants[j];
		return NULL;
	}
	i = ntab_find(&ix->tenants, cfg->tenants, sizeof(*cfg->tenants), name,
		      strlen(name), false);
	return i < 0 ? NULL : &cfg->tenants[i];
}

/* addr (bytes of the given family) inside net? */
static bool
net_contains(const struct cfg_net *net, int family, const uint8_t *addr)
{
	unsigned full = net->prefix / 8, rest = net->prefix % 8;

	if (net->family != family)
		return false;
	if (memcmp(net->addr, addr, full) != 0)
		return false;
	return rest == 0 ||
	       ((net->addr[full] ^ addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

static bool
nets_contain(const struct cfg_net *nets, size_t n, const struct sockaddr *addr)
{
	const uint8_t *v4 = NULL, *v6 = NULL;

	if (nets == NULL || addr == NULL)
		return false;
	if (addr->sa_family == AF_INET) {
		v4 = (const uint8_t *)&((const struct sockaddr_in *)(const void *)addr)->sin_addr;
	} else if (addr->sa_family == AF_INET6) {
		const struct in6_addr *a6 =
			&((const struct sockaddr_in6 *)(const void *)addr)->sin6_addr;

		v6 = a6->s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a6))
			v4 = v6 + 12;
	} else {
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const struct cfg_net *net = &nets[i];

		if ((v4 && net_contains(net, AF_INET, v4)) ||
		    (v6 && net_contains(net, AF_INET6, v6)))
			return true;
	}
	return false;
}

bool
config_is_trusted(const struct config *cfg, const struct sockaddr *addr)
{
	return cfg != NULL && nets_contain(cfg->trusted, cfg->ntrusted, addr);
}

bool
config_client_exempt(const struct config *cfg, const struct sockaddr *addr)
{
	if (cfg == NULL)
		return false;
	if (!cfg->client_exempt_set)
		return config_is_trusted(cfg, addr);
	return nets_contain(cfg->client_exempt, cfg->nclient_exempt, addr);
}
