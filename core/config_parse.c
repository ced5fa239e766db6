/*
 * config_parse — the small core every section of the configuration loader
 * is written in (core/config_int.h): the string pool and the name tables a
 * loaded config keeps, error reports that name the file and line, the walk
 * of a mapping against a field table with its "did you mean" for unknown
 * keys, the field parsers shared by the sections, lists and mappings.
 *
 * Not for: any one section's rules (core/config_<section>.c), or the text
 * of numbers and addresses (core/config_scalar.c).  Main thread only while
 * loading; the pool and the tables are read-only once the config is loaded.
 *
 * Ownership: pool strings and table slots belong to the config and are
 * released by config_free (cfg_index_free); a parser never frees what it
 * stored, even when a later field fails.
 */
#include "core/config_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/hash.h"
#include "core/strb.h"

#define POOL_CHUNK	(64 * 1024)

/* ------------------------------------------------------------------------ */
/* String pool: all strings of one config, freed at once.                   */

struct cfg_pool_chunk {
	struct cfg_pool_chunk *next;	/* older chunk */
	size_t used;			/* bytes handed out */
	size_t size;			/* bytes in data */
	char data[];			/* the strings */
};

static char *
pool_alloc(struct cfg_index *ix, size_t n)
{
	struct cfg_pool_chunk *c = ix->pool;
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

char *
cfg_strndup(struct cfg_index *ix, const char *s, size_t len)
{
	char *p = pool_alloc(ix, len + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, s, len);
	p[len] = '\0';
	return p;
}

char *
cfg_strndup_lower(struct cfg_index *ix, const char *s, size_t len)
{
	char *p = cfg_strndup(ix, s, len);

	for (size_t i = 0; p != NULL && i < len; i++)
		p[i] = (char)cfg_lower((unsigned char)p[i]);
	return p;
}

void
cfg_index_free(struct cfg_index *ix)
{
	struct cfg_pool_chunk *c, *next;

	if (ix == NULL)
		return;
	free(ix->domains.slots);
	free(ix->connectors.slots);
	free(ix->tenants.slots);
	for (c = ix->pool; c; c = next) {
		next = c->next;
		free(c);
	}
	free(ix);
}

/* ------------------------------------------------------------------------ */
/* Name tables.                                                             */

/* FNV-1a over the (folded) bytes, then a 64-bit finaliser for the low bits. */
static inline uint32_t
name_hash(const char *s, size_t len, bool icase)
{
	uint64_t h = HASH_FNV1A_INIT;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		h = hash_fnv1a_add(h, icase ? cfg_lower(c) : c);
	}
	return (uint32_t)hash_mix64(h);
}

/* stored is NUL-terminated (and lower-case when icase); key is (ptr, len). */
bool
cfg_name_eq(const char *stored, const char *key, size_t len, bool icase)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)key[i];

		if (stored[i] == '\0')
			return false;
		if ((unsigned char)stored[i] != (icase ? cfg_lower(c) : c))
			return false;
	}
	return stored[len] == '\0';
}

int
cfg_ntab_init(struct cfg_name_table *t, size_t n)
{
	size_t cap;

	if (n > (1U << 30))
		return -ENOMEM;
	cap = hash_slots(n, 16);
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
static inline struct cfg_name_slot *
ntab_probe(const struct cfg_name_table *t, const void *base, size_t stride,
	   const char *key, size_t len, uint32_t hash, bool icase)
{
	uint32_t i = hash & t->mask;

	for (;; i = (i + 1) & t->mask) {
		struct cfg_name_slot *s = &t->slots[i];

		if (s->idx1 == 0)
			return s;
		if (s->hash == hash &&
		    cfg_name_eq(name_at(base, stride, s->idx1 - 1), key, len, icase))
			return s;
	}
}

/* Index of the name in the array, or -1. */
long
cfg_ntab_find(const struct cfg_name_table *t, const void *base, size_t stride,
	      const char *key, size_t len, bool icase)
{
	const struct cfg_name_slot *s;

	if (t->slots == NULL)
		return -1;
	s = ntab_probe(t, base, stride, key, len, name_hash(key, len, icase), icase);
	return s->idx1 ? (long)s->idx1 - 1 : -1;
}

/*
 * Add element idx (its name already stored) to the table.  Returns -1 when
 * added, else the index of the element that already has the name.
 */
long
cfg_ntab_add(struct cfg_name_table *t, const void *base, size_t stride,
	     uint32_t idx, bool icase)
{
	const char *name = name_at(base, stride, idx);
	size_t len = strlen(name);
	uint32_t hash = name_hash(name, len, icase);
	struct cfg_name_slot *s = ntab_probe(t, base, stride, name, len, hash, icase);

	if (s->idx1)
		return (long)s->idx1 - 1;
	s->hash = hash;
	s->idx1 = idx + 1;
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Loader state and error reporting.                                        */

const char *
cfg_quote(struct cfg_qbuf *q, const char *s, size_t len)
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
const char *
cfg_describe(struct cfg_qbuf *q, const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return cfg_quote(q, (const char *)n->data.scalar.value,
				 n->data.scalar.length);
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

size_t
cfg_line(const yaml_node_t *n)
{
	return n ? n->start_mark.line + 1 : 1;
}

/* Write "NAME:LINE: message" (line 0: "NAME: message") as one line. */
static void __attribute__((format(printf, 3, 0)))
vreport(struct cfg_loader *ld, size_t line, const char *fmt, va_list ap)
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

int
cfg_fail_line(struct cfg_loader *ld, size_t line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, line, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
cfg_fail(struct cfg_loader *ld, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(ld, cfg_line(n), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int
cfg_nomem(struct cfg_loader *ld)
{
	cfg_fail_line(ld, 0, "out of memory");
	return -ENOMEM;
}

/*
 * Charge n list items or mapping pairs to the visit budget.  Without aliases
 * the walk visits each node at most once; with them one node can be visited
 * from many places, and the budget keeps that (and the memory it allocates)
 * linear in the size of the document.
 */
int
cfg_charge(struct cfg_loader *ld, const yaml_node_t *at, size_t n)
{
	if (n > ld->budget)
		return cfg_fail(ld, at, "expected YAML aliases to expand to fewer nodes");
	ld->budget -= n;
	return 0;
}

void
cfg_entry(struct cfg_loader *ld, const char *kind, const char *name)
{
	struct cfg_qbuf q;

	snprintf(ld->ctx_buf, sizeof(ld->ctx_buf), "%s %s", kind,
		 cfg_quote(&q, name, strlen(name)));
	snprintf(ld->where_buf, sizeof(ld->where_buf), "in %s", ld->ctx_buf);
}

/* ------------------------------------------------------------------------ */
/* Field tables.                                                            */

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
			size_t best = diag + (cfg_lower((unsigned char)a[i - 1]) !=
					      cfg_lower((unsigned char)b[j - 1]));

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
int
cfg_load_map(struct cfg_loader *ld, yaml_node_t *map,
	     const struct cfg_field *fields, size_t nfields, void *base,
	     const char *ctx, const char *where)
{
	size_t seen[32] = { 0 };
	struct cfg_qbuf q;
	long n;
	int rc;

	n = cfg_map_open(ld, map, ctx ? ctx : where, "a mapping");
	if (n < 0)
		return (int)n;
	for (size_t pair = 0; pair < (size_t)n; pair++) {
		const struct cfg_field *f = NULL;
		yaml_node_t *k, *v;
		size_t i;

		if ((rc = cfg_map_pair(ld, map, pair, &k, &v)) < 0)
			return rc;
		if (!is_scalar(k))
			return cfg_fail(ld, k, "expected a key name %s, got %s",
					where, cfg_describe(&q, k));
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
			/* a near miss, not a different short word ('foo' is
			   two edits from 'log' but no typo of it) */
			if (best && slen(k) > 2 && 2 * bestd < slen(k))
				return cfg_fail(ld, k, "unknown key %s %s (did you mean '%s'?)",
						cfg_quote(&q, sval(k), slen(k)), where, best);
			return cfg_fail(ld, k, "unknown key %s %s",
					cfg_quote(&q, sval(k), slen(k)), where);
		}
		if (i < 32 && seen[i])
			return cfg_fail(ld, k, "duplicate key '%s' %s (first at line %zu)",
					f->key, where, seen[i]);
		if (i < 32)
			seen[i] = cfg_line(k);
		ld->ctx = ctx ? ctx : f->key;
		rc = f->parse(ld, f, v, base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int
cfg_f_u32(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	  void *base)
{
	struct cfg_qbuf q;
	uint64_t n;

	if (!is_scalar(v) || cfg_parse_u64(sval(v), slen(v), &n) < 0 ||
	    n < f->min || n > f->max)
		return cfg_fail(ld, v, "%s: expected %s from %llu to %llu, got %s",
				ld->ctx, f->what ? f->what : "an integer",
				(unsigned long long)f->min, (unsigned long long)f->max,
				cfg_describe(&q, v));
	*CFG_AT(base, f, uint32_t) = (uint32_t)n;
	return 0;
}

/* A quantity written with units: sizes and durations. */
struct unit_kind {
	int (*parse)(const char *s, size_t len, uint64_t *out);
	const char *(*fmt)(char *buf, size_t size, uint64_t v);
	const char *noun;	/* "a size" */
	const char *like;	/* what a bad value is told it should look like */
};

static const struct unit_kind sizes = {
	cfg_parse_size, cfg_fmt_size, "a size",
	"a size like 512K, 10M, 1G or a number of bytes",
}, durations = {
	cfg_parse_duration, cfg_fmt_duration, "a duration",
	"a duration like 30s, 15m, 24h",
};

/* The value of v in f->min..f->max; the range is shown in units. */
static int
units(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
      const struct unit_kind *u, uint64_t *n)
{
	char lo[32], hi[32];
	struct cfg_qbuf q;
	int rc = -1;

	if (is_scalar(v))
		rc = u->parse(sval(v), slen(v), n);
	if (rc == -1)
		return cfg_fail(ld, v, "%s: expected %s, got %s", ld->ctx, u->like,
				cfg_describe(&q, v));
	if (rc < 0 || *n < f->min || *n > f->max)
		return cfg_fail(ld, v, "%s: expected %s from %s to %s, got %s",
				ld->ctx, u->noun, u->fmt(lo, sizeof(lo), f->min),
				u->fmt(hi, sizeof(hi), f->max), cfg_describe(&q, v));
	return 0;
}

int
cfg_f_size(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	   void *base)
{
	uint64_t n;
	int rc = units(ld, f, v, &sizes, &n);

	if (rc == 0)
		*CFG_AT(base, f, uint64_t) = n;
	return rc;
}

int
cfg_f_duration(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	       void *base)
{
	uint64_t n;
	int rc = units(ld, f, v, &durations, &n);

	if (rc == 0)
		*CFG_AT(base, f, uint32_t) = (uint32_t)n;
	return rc;
}

int
cfg_f_bool(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	   void *base)
{
	static const char *const yes[] = { "true", "yes" }, *const no[] = { "false", "no" };
	struct cfg_qbuf q;

	for (size_t i = 0; is_scalar(v) && i < 2; i++) {
		if (slen(v) == strlen(yes[i]) && memcmp(sval(v), yes[i], slen(v)) == 0) {
			*CFG_AT(base, f, bool) = true;
			return 0;
		}
		if (slen(v) == strlen(no[i]) && memcmp(sval(v), no[i], slen(v)) == 0) {
			*CFG_AT(base, f, bool) = false;
			return 0;
		}
	}
	return cfg_fail(ld, v, "%s: expected true or false, got %s", ld->ctx,
			cfg_describe(&q, v));
}

/* Non-empty text without NUL bytes, copied into the pool. */
int
cfg_text(struct cfg_loader *ld, yaml_node_t *v, const char *what, char **out)
{
	struct cfg_qbuf q;

	if (!is_scalar(v) || slen(v) == 0 || memchr(sval(v), '\0', slen(v)))
		return cfg_fail(ld, v, "%s: expected %s, got %s", ld->ctx, what,
				cfg_describe(&q, v));
	*out = cfg_strndup(ld->ix, sval(v), slen(v));
	return *out ? 0 : cfg_nomem(ld);
}

int
cfg_name(struct cfg_loader *ld, yaml_node_t *v, const char *ctx, const char *kind,
	 char **out)
{
	struct cfg_qbuf q;

	if (!is_scalar(v) || !cfg_valid_name(sval(v), slen(v)))
		return cfg_fail(ld, v, "%s: expected %s name of letters, digits, "
				"'_', '.' or '-', got %s", ctx, kind, cfg_describe(&q, v));
	*out = cfg_strndup(ld->ix, sval(v), slen(v));
	return *out ? 0 : cfg_nomem(ld);
}

int
cfg_f_path(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	   void *base)
{
	return cfg_text(ld, v, "a path", CFG_AT(base, f, char *));
}

/* A host name, stored lower-case. */
int
cfg_f_hostname(struct cfg_loader *ld, const struct cfg_field *f, yaml_node_t *v,
	       void *base)
{
	struct cfg_qbuf q;
	char *s;

	if (!is_scalar(v) || !cfg_valid_domain(sval(v), slen(v)) ||
	    cfg_all_digits_dots(sval(v), slen(v)))
		return cfg_fail(ld, v, "%s: expected a host name, got %s", ld->ctx,
				cfg_describe(&q, v));
	s = cfg_strndup_lower(ld->ix, sval(v), slen(v));
	if (s == NULL)
		return cfg_nomem(ld);
	*CFG_AT(base, f, char *) = s;
	return 0;
}

/* One of the NULL-terminated words; stores its index as an int (enum). */
int
cfg_word(struct cfg_loader *ld, yaml_node_t *v, const char *const *words,
	 const char *expected, int *out)
{
	struct cfg_qbuf q;

	for (int i = 0; is_scalar(v) && words[i]; i++) {
		if (slen(v) == strlen(words[i]) &&
		    memcmp(sval(v), words[i], slen(v)) == 0) {
			*out = i;
			return 0;
		}
	}
	return cfg_fail(ld, v, "%s: expected %s, got %s", ld->ctx, expected,
			cfg_describe(&q, v));
}

/* ------------------------------------------------------------------------ */
/* Lists and mappings.                                                      */

int
cfg_list_open(struct cfg_loader *ld, yaml_node_t *v, const char *what,
	      struct cfg_list *l)
{
	struct cfg_qbuf q;

	if (v->type == YAML_MAPPING_NODE)
		return cfg_fail(ld, v, "%s: expected %s, got %s", ld->ctx, what,
				cfg_describe(&q, v));
	l->v = v;
	if (v->type == YAML_SEQUENCE_NODE) {
		l->it = v->data.sequence.items.start;
		l->n = (size_t)(v->data.sequence.items.top - l->it);
	} else {
		l->it = NULL;
		l->n = 1;
	}
	return cfg_charge(ld, v, l->n);
}

yaml_node_t *
cfg_list_item(struct cfg_loader *ld, const struct cfg_list *l, size_t i)
{
	yaml_node_t *e;

	if (l->it == NULL)
		return l->v;
	e = yaml_document_get_node(&ld->doc, l->it[i]);
	if (e == NULL)
		cfg_fail(ld, l->v, "YAML syntax error: broken list");
	return e;
}

long
cfg_map_open(struct cfg_loader *ld, yaml_node_t *v, const char *ctx,
	     const char *what)
{
	struct cfg_qbuf q;
	size_t n;
	int rc;

	if (v->type != YAML_MAPPING_NODE)
		return cfg_fail(ld, v, "%s: expected %s, got %s", ctx, what,
				cfg_describe(&q, v));
	n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
	rc = cfg_charge(ld, v, n);
	return rc < 0 ? rc : (long)n;
}

int
cfg_map_pair(struct cfg_loader *ld, yaml_node_t *map, size_t i, yaml_node_t **k,
	     yaml_node_t **v)
{
	const yaml_node_pair_t *p = &map->data.mapping.pairs.start[i];

	*k = yaml_document_get_node(&ld->doc, p->key);
	*v = yaml_document_get_node(&ld->doc, p->value);
	if (*k == NULL || *v == NULL)
		return cfg_fail(ld, map, "YAML syntax error: broken mapping");
	return 0;
}

yaml_node_t *
cfg_map_key(struct cfg_loader *ld, yaml_node_t *map, const char *key,
	    yaml_node_t **value)
{
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start;
	     p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&ld->doc, p->key);

		if (k && is_scalar(k) && slen(k) == strlen(key) &&
		    memcmp(sval(k), key, slen(k)) == 0) {
			if (value != NULL)
				*value = yaml_document_get_node(&ld->doc, p->value);
			return k;
		}
	}
	return NULL;
}
