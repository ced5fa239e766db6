/*
 * ctl_select — selections of queued mail (core/ctl/ctl_select.h).
 *
 * The rules of a command's words, in order:
 *  1. a keyword (connector, sender, rcpt, older, younger; limit for show
 *     queue) takes the next word as its value, and may be given once;
 *  2. an action's "all" is the whole queue and goes with nothing else;
 *  3. an action's word of 16 hex digits is a queue id (up to 16 of them);
 *  4. show queue's word of digits is the LIMIT of its old form;
 *  5. any other word is the CONNECTOR of the old forms (once).
 * So a connector named like a keyword is given as "connector NAME".
 *
 * The glob matcher keeps one backtrack point, the last '*': a '*'
 * swallows whatever an earlier one would have, so that is enough, and
 * it never recurses; its cost is at most the product of the lengths,
 * which it reports for the worker's budget.
 */
#include "core/ctl/ctl_select.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strb.h"

#define AGE_MAX (10LL * 366 * 86400)	/* ten years */

bool
ctl_sel_parse_id(const char *s, uint64_t *id)
{
	uint64_t v = 0;

	if (strlen(s) != 16)
		return false;
	for (int i = 0; i < 16; i++) {
		int c = (unsigned char)s[i];
		if (!isxdigit(c))
			return false;
		v = v << 4 | (uint64_t)(isdigit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*id = v;
	return v != 0;
}

int
ctl_sel_parse_age(const char *s, int64_t *secs)
{
	int64_t v = 0, unit = 1;
	size_t i = 0;

	if (!isdigit((unsigned char)s[0]))
		return -EINVAL;
	for (; isdigit((unsigned char)s[i]); i++) {
		v = v * 10 + (s[i] - '0');
		if (v > AGE_MAX)
			return -EINVAL;
	}
	switch (s[i]) {
	case '\0': break;
	case 's': unit = 1; break;
	case 'm': unit = 60; break;
	case 'h': unit = 3600; break;
	case 'd': unit = 86400; break;
	case 'w': unit = 7 * 86400; break;
	default: return -EINVAL;
	}
	if (s[i] != '\0' && s[i + 1] != '\0')
		return -EINVAL;
	if (v * unit > AGE_MAX)
		return -EINVAL;
	*secs = v * unit;
	return 0;
}

/* All digits, and not too many for a count. */
static bool
is_count(const char *s, uint64_t *n)
{
	size_t len = strlen(s);

	if (len == 0 || len > 18 || strspn(s, "0123456789") != len)
		return false;
	*n = strtoull(s, NULL, 10);
	return true;
}

/* A pattern into out (CTL_PAT_MAX): "<...>" unwrapped. */
static int
pattern(const char *key, const char *v, bool null_ok, char *out, struct strb *err)
{
	size_t n = strlen(v);

	if (n >= 2 && v[0] == '<' && v[n - 1] == '>') {
		v++;
		n -= 2;
	}
	if (n >= CTL_PAT_MAX) {
		strb_printf(err, "%s: a pattern of at most %d bytes, got %zu", key,
			    CTL_PAT_MAX - 1, n);
		return -EINVAL;
	}
	if (n == 0 && !null_ok) {
		strb_printf(err, "%s: expected an address or a pattern like *@example.com",
			    key);
		return -EINVAL;
	}
	memcpy(out, v, n);
	out[n] = '\0';
	return 0;
}

int
ctl_sel_pattern(const char *key, const char *v, bool null_ok, char *out, char *err,
		size_t errlen)
{
	struct strb sb;

	strb_init(&sb, err, errlen);
	return pattern(key, v, null_ok, out, &sb);
}

static int
connector(const char *v, struct ctl_sel *sel, struct strb *err)
{
	if (sel->connector[0] != '\0') {
		strb_printf(err, "two connectors: '%.40s' and '%.40s'", sel->connector, v);
		return -EINVAL;
	}
	if (strlen(v) >= CTL_SEL_NAME) {
		strb_printf(err, "no connector '%.40s...' (names are at most %d bytes)", v,
			    CTL_SEL_NAME - 1);
		return -EINVAL;
	}
	snprintf(sel->connector, sizeof(sel->connector), "%s", v);
	return 0;
}

/* Keyword k with value v; 1 if k is not a keyword of mode. */
static int
keyword(const char *k, const char *v, enum ctl_sel_mode mode, int64_t now,
	struct ctl_sel *sel, struct strb *err)
{
	int64_t age;
	uint64_t n;

	if (strcmp(k, "connector") == 0)
		return connector(v, sel, err);
	if (strcmp(k, "sender") == 0 || strcmp(k, "rcpt") == 0) {
		bool s = k[0] == 's';
		if (s ? sel->has_sender : sel->has_rcpt)
			goto twice;
		if (pattern(k, v, s, s ? sel->sender : sel->rcpt, err) < 0)
			return -EINVAL;
		*(s ? &sel->has_sender : &sel->has_rcpt) = true;
		return 0;
	}
	if (strcmp(k, "older") == 0 || strcmp(k, "younger") == 0) {
		bool old = k[0] == 'o';
		if (old ? sel->arrived_before : sel->arrived_after)
			goto twice;
		if (ctl_sel_parse_age(v, &age) < 0) {
			strb_printf(err, "%s: expected an age like 90s, 10m, 1h, 2d or 1w, got "
				    "'%.40s'", k, v);
			return -EINVAL;
		}
		/* 0 means unset: a bound of "now" is one second later */
		*(old ? &sel->arrived_before : &sel->arrived_after) = now - age ? now - age : 1;
		return 0;
	}
	if (mode == CTL_SEL_LIST && strcmp(k, "limit") == 0) {
		if (sel->limit)
			goto twice;
		if (!is_count(v, &n) || n == 0) {
			strb_printf(err, "limit: expected a number above 0, got '%.40s'", v);
			return -EINVAL;
		}
		sel->limit = n;
		return 0;
	}
	return 1;
twice:
	strb_printf(err, "%s given twice", k);
	return -EINVAL;
}

static bool
is_keyword(const char *w, enum ctl_sel_mode mode)
{
	static const char *const kw[] = { "connector", "sender", "rcpt", "older",
					  "younger", "limit", NULL };

	for (int i = 0; kw[i] != NULL; i++)
		if (strcmp(w, kw[i]) == 0)
			return mode == CTL_SEL_LIST || strcmp(w, "limit") != 0;
	return false;
}

int
ctl_sel_parse(char *const *argv, int argc, enum ctl_sel_mode mode, int64_t now,
	      struct ctl_sel *sel, char *err, size_t errlen)
{
	struct strb sb;
	bool positional_limit = false;
	uint64_t n;

	memset(sel, 0, sizeof(*sel));
	strb_init(&sb, err, errlen);
	for (int i = 0; i < argc; i++) {
		const char *w = argv[i];
		uint64_t id;

		if (is_keyword(w, mode)) {
			if (i + 1 == argc) {
				strb_printf(&sb, "%s: expected a value after it", w);
				return -EINVAL;
			}
			if (keyword(w, argv[++i], mode, now, sel, &sb) != 0)
				return -EINVAL;
		} else if (mode == CTL_SEL_ACT && strcmp(w, "all") == 0) {
			sel->all = true;
		} else if (mode == CTL_SEL_ACT && ctl_sel_parse_id(w, &id)) {
			if (sel->nids == CTL_SEL_IDS) {
				strb_printf(&sb, "more than %d queue ids; give them on several "
					    "lines (sluicectl ... - reads them from stdin)",
					    CTL_SEL_IDS);
				return -EINVAL;
			}
			sel->ids[sel->nids++] = id;
		} else if (mode == CTL_SEL_LIST && !positional_limit && is_count(w, &n)) {
			if (n == 0 || sel->limit) {
				strb_printf(&sb, "%s", n == 0 ? "the limit must be above 0"
								: "limit given twice");
				return -EINVAL;
			}
			sel->limit = n;
			positional_limit = true;
		} else if (connector(w, sel, &sb) < 0) {
			return -EINVAL;
		}
	}
	if (sel->all && (sel->nids || sel->connector[0] || ctl_sel_filters(sel))) {
		strb_printf(&sb, "'all' is the whole queue: give it alone, or select with "
			    "the filters instead");
		return -EINVAL;
	}
	if (sel->arrived_before && sel->arrived_after &&
	    sel->arrived_before <= sel->arrived_after) {
		strb_printf(&sb, "older and younger leave no age between them");
		return -EINVAL;
	}
	return 0;
}

bool
ctl_sel_filters(const struct ctl_sel *sel)
{
	return sel->has_sender || sel->has_rcpt || sel->arrived_before || sel->arrived_after;
}

bool
ctl_sel_empty(const struct ctl_sel *sel)
{
	return !sel->all && sel->nids == 0 && sel->connector[0] == '\0' &&
	       !ctl_sel_filters(sel);
}

bool
ctl_glob(const char *p, const char *s, uint64_t *steps)
{
	const char *star = NULL, *resume = NULL;
	uint64_t n = 0;

	while (*s != '\0') {
		n++;
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p != '\0' && (*p == '?' || tolower((unsigned char)*p) ==
						       tolower((unsigned char)*s))) {
			p++;
			s++;
		} else if (star != NULL) {
			p = star + 1;	/* the star takes one more byte */
			s = ++resume;
		} else {
			*steps += n;
			return false;
		}
	}
	while (*p == '*')
		p++;
	*steps += n + 1;
	return *p == '\0';
}

bool
ctl_sel_msg(const struct ctl_sel *sel, const char *sender, int64_t arrival,
	    uint64_t *steps)
{
	if (sel->arrived_before && arrival > sel->arrived_before)
		return false;
	if (sel->arrived_after && arrival <= sel->arrived_after)
		return false;
	if (!sel->has_sender)
		return true;
	if (sel->sender[0] == '\0' || sender[0] == '\0')
		return sel->sender[0] == '\0' && sender[0] == '\0';
	return ctl_glob(sel->sender, sender, steps);
}

bool
ctl_sel_rcpt(const struct ctl_sel *sel, const char *addr, uint64_t *steps)
{
	return !sel->has_rcpt || ctl_glob(sel->rcpt, addr, steps);
}
