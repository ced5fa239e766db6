/*
 * sink_check.c - the MAIL FROM / RCPT TO grammar sluice-sink enforces.
 *
 * The rules are listed in sink_check.h. A cursor walks the line once; each
 * grammar piece either advances it over what it matched or leaves it and
 * says no. 8-bit bytes are matched as whole UTF-8 characters wherever RFC
 * 6531 lets them appear, and whether they were allowed at all is decided
 * once the parameters are known (SMTPUTF8 comes after the path it covers).
 *
 * Pure: no I/O, no allocation, no global state; any thread.
 * May call: libc only (the dialogue, sink_smtp.c, calls it).
 */
#include "bench/sink_check.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define SINK_PATH_MAX	256	/* octets of a path, brackets included */
#define SINK_ENVID_MAX	100	/* RFC 3461 s. 4.4 */
#define SINK_SIZE_DIGITS 20	/* RFC 1870: 1*20DIGIT */

/* A position in the line and its end. */
struct cur {
	const char *p;		/* next byte */
	const char *end;	/* one past the last */
	bool utf8;		/* 8-bit characters may match */
};

/* Length of the well-formed UTF-8 character at c->p that is not ASCII, or
 * 0 (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
static size_t cur_utf8(const struct cur *c)
{
	const unsigned char *s = (const unsigned char *)c->p;
	size_t left = (size_t)(c->end - c->p), n, i;
	unsigned lo = 0x80, hi = 0xBF;

	if (left == 0 || s[0] < 0xC2 || s[0] > 0xF4)
		return 0;
	n = s[0] < 0xE0 ? 2 : s[0] < 0xF0 ? 3 : 4;
	if (left < n)
		return 0;
	if (s[0] == 0xE0)
		lo = 0xA0;
	else if (s[0] == 0xED)
		hi = 0x9F;
	else if (s[0] == 0xF0)
		lo = 0x90;
	else if (s[0] == 0xF4)
		hi = 0x8F;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return n;
}

/* Step over one UTF-8 character if 8-bit text may match here. */
static bool cur_take_utf8(struct cur *c)
{
	size_t n;

	if (!c->utf8 || c->p >= c->end || (unsigned char)*c->p < 0x80)
		return false;
	n = cur_utf8(c);
	if (n == 0)
		return false;
	c->p += n;
	return true;
}

static bool is_alpha(int ch)
{
	return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z');
}

static bool is_digit(int ch)
{
	return ch >= '0' && ch <= '9';
}

static bool is_hexup(int ch)
{
	return is_digit(ch) || (ch >= 'A' && ch <= 'F');
}

/* RFC 5322 atext. */
static bool is_atext(int ch)
{
	return is_alpha(ch) || is_digit(ch) || (ch != 0 && strchr("!#$%&'*+-/=?^_`{|}~", ch));
}

/* Atom = 1*atext (UTF-8 too with SMTPUTF8). */
static bool take_atom(struct cur *c)
{
	const char *start = c->p;

	while (c->p < c->end) {
		if (is_atext((unsigned char)*c->p))
			c->p++;
		else if (!cur_take_utf8(c))
			break;
	}
	return c->p > start;
}

/* Quoted-string = DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE. */
static bool take_quoted(struct cur *c)
{
	const char *start = c->p;
	int ch;

	if (c->p >= c->end || *c->p != '"')
		return false;
	c->p++;
	while (c->p < c->end) {
		ch = (unsigned char)*c->p;
		if (ch == '"') {
			c->p++;
			return true;
		}
		if (ch == '\\') {
			if (c->end - c->p < 2 || c->p[1] < 32 || c->p[1] > 126)
				break;
			c->p += 2;
		} else if (ch >= 32 && ch <= 126) {
			c->p++;
		} else if (!cur_take_utf8(c)) {
			break;
		}
	}
	c->p = start;
	return false;
}

/* Local-part = Dot-string / Quoted-string. */
static bool take_local(struct cur *c)
{
	if (c->p < c->end && *c->p == '"')
		return take_quoted(c);
	if (!take_atom(c))
		return false;
	while (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!take_atom(c))
			return false;
	}
	return true;
}

/* sub-domain = Let-dig [Ldh-str] (U-labels too with SMTPUTF8). */
static bool take_label(struct cur *c)
{
	bool last_hyphen = false, any = false;

	while (c->p < c->end) {
		int ch = (unsigned char)*c->p;

		if (is_alpha(ch) || is_digit(ch)) {
			c->p++;
			last_hyphen = false;
		} else if (ch == '-' && any) {
			c->p++;
			last_hyphen = true;
		} else if (cur_take_utf8(c)) {
			last_hyphen = false;
		} else {
			break;
		}
		any = true;
	}
	return any && !last_hyphen;
}

/* Domain, or an address literal "[" 1*dcontent "]". */
static bool take_domain(struct cur *c)
{
	if (c->p < c->end && *c->p == '[') {
		const char *q = c->p + 1;

		while (q < c->end && ((*q >= 33 && *q <= 90) || (*q >= 94 && *q <= 126)))
			q++;
		if (q == c->p + 1 || q >= c->end || *q != ']')
			return false;
		c->p = q + 1;
		return true;
	}
	if (!take_label(c))
		return false;
	while (c->p < c->end && *c->p == '.') {
		c->p++;
		if (!take_label(c))
			return false;
	}
	return true;
}

/*
 * "<" [A-d-l ":"] Mailbox ">", or "<>" when null_ok, or "<Postmaster>"
 * when pm_ok. Sets out->addr/alen to what is inside the brackets.
 */
static bool take_path(struct cur *c, bool null_ok, bool pm_ok, struct sink_path *out)
{
	const char *open = c->p;

	if (c->p >= c->end || *c->p != '<')
		return false;
	c->p++;
	out->addr = c->p;
	if (null_ok && c->p < c->end && *c->p == '>') {
		out->alen = 0;
		c->p++;
		return true;
	}
	if (pm_ok && c->end - c->p >= 11 && strncasecmp(c->p, "postmaster>", 11) == 0) {
		out->alen = 10;
		c->p += 11;
		return true;
	}
	if (c->p < c->end && *c->p == '@') {	/* a source route, ignored */
		for (;;) {
			c->p++;		/* the "@" */
			if (!take_domain(c) || c->p >= c->end)
				return false;
			if (*c->p == ':')
				break;
			if (*c->p != ',' || ++c->p >= c->end || *c->p != '@')
				return false;
		}
		c->p++;
		out->addr = c->p;
	}
	if (!take_local(c) || c->p >= c->end || *c->p != '@')
		return false;
	c->p++;
	if (!take_domain(c) || c->p >= c->end || *c->p != '>')
		return false;
	out->alen = (size_t)(c->p - out->addr);
	c->p++;
	return c->p - open <= SINK_PATH_MAX;
}

/* xtext (RFC 3461 s. 4): printable ASCII but "+" and "=", or "+" and two
 * upper-case hex digits. utf8 admits UTF-8 characters (RFC 6533's
 * unitext, in ORCPT under SMTPUTF8). */
static bool xtext_ok(const char *v, size_t n, bool utf8)
{
	struct cur c = { v, v + n, utf8 };

	while (c.p < c.end) {
		int ch = (unsigned char)*c.p;

		if (ch == '+') {
			if (c.end - c.p < 3 || !is_hexup(c.p[1]) || !is_hexup(c.p[2]))
				return false;
			c.p += 3;
		} else if (ch >= 33 && ch <= 126 && ch != '=') {
			c.p++;
		} else if (!cur_take_utf8(&c)) {
			return false;
		}
	}
	return true;
}

/* v[0..n) equals the keyword kw, any case. */
static bool word_is(const char *v, size_t n, const char *kw)
{
	return strlen(kw) == n && strncasecmp(v, kw, n) == 0;
}

/* NOTIFY=NEVER, or SUCCESS, FAILURE and DELAY, each at most once. */
static bool notify_ok(const char *v, size_t n)
{
	const char *end = v + n, *q;
	unsigned seen = 0, bit;

	if (word_is(v, n, "NEVER"))
		return true;
	while (v < end) {
		q = memchr(v, ',', (size_t)(end - v));
		if (q == NULL)
			q = end;
		if (word_is(v, (size_t)(q - v), "SUCCESS"))
			bit = 1;
		else if (word_is(v, (size_t)(q - v), "FAILURE"))
			bit = 2;
		else if (word_is(v, (size_t)(q - v), "DELAY"))
			bit = 4;
		else
			return false;
		if (seen & bit)
			return false;
		seen |= bit;
		if (q == end)
			return true;
		v = q + 1;
		if (v == end)
			return false;	/* a trailing comma */
	}
	return false;
}

/* ORCPT=addr-type ";" xtext, addr-type an atom. */
static bool orcpt_ok(const char *v, size_t n, bool utf8)
{
	const char *semi = memchr(v, ';', n);
	size_t i;

	if (semi == NULL || semi == v || semi + 1 == v + n)
		return false;
	for (i = 0; v + i < semi; i++)
		if (!is_atext((unsigned char)v[i]))
			return false;
	return xtext_ok(semi + 1, (size_t)(v + n - semi - 1), utf8);
}

/* One parameter keyword and the bit it takes in a "seen" mask. */
struct param_def {
	const char *kw;		/* the keyword, upper case */
	bool mail;		/* a MAIL parameter (else RCPT) */
	bool value;		/* takes a value */
};

static const struct param_def param_defs[] = {
	{ "SIZE", true, true },
	{ "BODY", true, true },
	{ "SMTPUTF8", true, false },
	{ "RET", true, true },
	{ "ENVID", true, true },
	{ "NOTIFY", false, true },
	{ "ORCPT", false, true },
};

/* Whether ext advertised the extension parameter d belongs to. */
static bool param_advertised(const struct sink_ext *ext, const struct param_def *d)
{
	switch (d->kw[0]) {
	case 'S':
		return d->kw[1] == 'I' ? ext->size : ext->smtputf8;
	case 'B':
		return ext->eightbit;
	default:	/* RET, ENVID, NOTIFY, ORCPT */
		return ext->dsn;
	}
}

/* A checked value of one parameter; the reply says why not. */
static int param_value(const struct sink_ext *ext, const struct param_def *d,
		       const char *v, size_t n, bool utf8, char *reply)
{
	bool ok;

	if (strcmp(d->kw, "SIZE") == 0) {
		unsigned long long size = 0;
		size_t i;

		ok = n > 0 && n <= SINK_SIZE_DIGITS;
		for (i = 0; ok && i < n; i++) {
			ok = is_digit((unsigned char)v[i]);
			size = size * 10 + (unsigned long long)(v[i] - '0');
		}
		if (ok && n < SINK_SIZE_DIGITS && ext->size_max > 0 && size > ext->size_max) {
			snprintf(reply, SINK_CHECK_REPLY,
				 "552 5.3.4 Message size exceeds fixed limit\r\n");
			return -EFBIG;
		}
	} else if (strcmp(d->kw, "BODY") == 0) {
		ok = word_is(v, n, "7BIT") || word_is(v, n, "8BITMIME");
	} else if (strcmp(d->kw, "RET") == 0) {
		ok = word_is(v, n, "FULL") || word_is(v, n, "HDRS");
	} else if (strcmp(d->kw, "ENVID") == 0) {
		ok = n <= SINK_ENVID_MAX && xtext_ok(v, n, false);
	} else if (strcmp(d->kw, "NOTIFY") == 0) {
		ok = notify_ok(v, n);
	} else {
		ok = orcpt_ok(v, n, utf8);
	}
	if (!ok) {
		snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Bad %s syntax\r\n", d->kw);
		return -EINVAL;
	}
	return 0;
}

/*
 * The parameter list after a path: end of line, or SP param *(SP param).
 * mail says which command's parameters are known. *utf8 is the SMTPUTF8
 * state: MAIL sets it, RCPT reads it.
 */
static int check_params(const struct sink_ext *ext, struct cur *c, bool mail, bool *utf8,
			char *reply)
{
	unsigned seen = 0;
	int rc;

	while (c->p < c->end) {
		const char *kw, *v = NULL;
		size_t kwlen, vlen = 0, i;
		const struct param_def *d = NULL;

		if (*c->p != ' ' || ++c->p >= c->end || !(is_alpha(*c->p) || is_digit(*c->p))) {
			snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Bad parameter syntax\r\n");
			return -EINVAL;
		}
		kw = c->p;
		while (c->p < c->end && (is_alpha(*c->p) || is_digit(*c->p) || *c->p == '-'))
			c->p++;
		kwlen = (size_t)(c->p - kw);
		if (c->p < c->end && *c->p == '=') {
			v = ++c->p;
			/* esmtp-value: no SP, no "=" (control bytes are
			   refused before); 8-bit bytes are judged with the
			   value itself and by the SMTPUTF8 rule */
			while (c->p < c->end && *c->p != ' ' && *c->p != '=')
				c->p++;
			vlen = (size_t)(c->p - v);
		}
		if ((c->p < c->end && *c->p != ' ') || (v != NULL && vlen == 0)) {
			snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Bad parameter syntax\r\n");
			return -EINVAL;
		}
		for (i = 0; i < sizeof(param_defs) / sizeof(param_defs[0]); i++)
			if (param_defs[i].mail == mail && word_is(kw, kwlen, param_defs[i].kw))
				d = &param_defs[i];
		if (d == NULL || !param_advertised(ext, d)) {
			snprintf(reply, SINK_CHECK_REPLY, "555 5.5.4 Unsupported option: %.*s\r\n",
				 (int)(kwlen < 40 ? kwlen : 40), kw);
			return -EINVAL;
		}
		if (seen & (1u << (d - param_defs))) {
			snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Duplicate %s parameter\r\n",
				 d->kw);
			return -EINVAL;
		}
		seen |= 1u << (d - param_defs);
		if (d->value != (v != NULL)) {
			snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Bad %s syntax\r\n", d->kw);
			return -EINVAL;
		}
		if (strcmp(d->kw, "SMTPUTF8") == 0)
			*utf8 = true;
		if (v != NULL && (rc = param_value(ext, d, v, vlen, *utf8, reply)) < 0)
			return rc;
	}
	return 0;
}

int sink_check_ctl(const char *line, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			return -EINVAL;
	return 0;
}

/* True when [p, p+n) holds a byte >= 0x80. */
static bool has_8bit(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)p[i] >= 0x80)
			return true;
	return false;
}

/* MAIL and RCPT share everything but the keyword, the path kinds and who
 * decides SMTPUTF8. */
static int check_cmd(const struct sink_ext *ext, bool mail, bool utf8, const char *arg,
		     size_t len, struct sink_path *out, char *reply)
{
	const char *kw = mail ? "FROM:" : "TO:";
	size_t kwlen = strlen(kw);
	struct cur c = { arg, arg + len, true };
	int rc;

	if (sink_check_ctl(arg, len) < 0) {
		snprintf(reply, SINK_CHECK_REPLY, "501 5.5.2 Syntax error: bad character\r\n");
		return -EINVAL;
	}
	if (len < kwlen + 1 || strncasecmp(arg, kw, kwlen) != 0 || arg[kwlen] != '<') {
		snprintf(reply, SINK_CHECK_REPLY, "501 5.5.4 Syntax: %s<address>\r\n",
			 mail ? "MAIL FROM:" : "RCPT TO:");
		return -EINVAL;
	}
	c.p += kwlen;
	out->utf8 = false;
	/* 8-bit characters match for now; SMTPUTF8 decides below. Malformed
	 * UTF-8 never matches, so it is a syntax error. */
	if (!take_path(&c, mail, !mail, out) || (c.p < c.end && *c.p != ' ')) {
		snprintf(reply, SINK_CHECK_REPLY, "501 %s\r\n", mail ?
			 "5.1.7 Bad sender address syntax" : "5.1.3 Bad recipient address syntax");
		return -EINVAL;
	}
	rc = check_params(ext, &c, mail, mail ? &out->utf8 : &utf8, reply);
	if (rc < 0)
		return rc;
	if (mail)
		utf8 = out->utf8;
	if (!utf8 && has_8bit(arg, len)) {
		snprintf(reply, SINK_CHECK_REPLY,
			 "553 5.6.7 Must declare SMTPUTF8 to send unicode address\r\n");
		return -EINVAL;
	}
	return 0;
}

int sink_check_mail(const struct sink_ext *ext, const char *arg, size_t len,
		    struct sink_path *out, char *reply)
{
	return check_cmd(ext, true, false, arg, len, out, reply);
}

int sink_check_rcpt(const struct sink_ext *ext, bool utf8, const char *arg,
		    size_t len, struct sink_path *out, char *reply)
{
	return check_cmd(ext, false, utf8, arg, len, out, reply);
}
