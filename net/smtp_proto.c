/*
 * smtp_proto — command, path and parameter parsing and the DATA reader.
 *
 * Parsers are strict where strictness protects the queue (address syntax,
 * lengths, parameter values) and lenient where real clients differ without
 * harm (case of verbs and keywords, a space after "FROM:").
 *
 * What is accepted is relayed: an address, ENVID or ORCPT stored here is
 * later written into a command line to the next hop, a DSN, a log and a
 * JSON answer.  So no accepted byte may be a control byte (a bare CR ends
 * a line at many servers: command injection), and 8-bit bytes appear only
 * in an address, only with SMTPUTF8, and only as well-formed UTF-8.
 * Replies: syntax errors in a path are 501 with X.1.7 (sender) or X.1.3
 * (recipient), RFC 3463; a well-formed non-ASCII address without
 * SMTPUTF8 is 553 5.6.7 (RFC 6531 3.5); a bad parameter is 501 5.5.4
 * (RFC 3461 and 1869: "invalid command arguments").
 */
#include "net/smtp_proto.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/addr.h"
#include "core/utf8.h"

/* RFC 5321 4.5.3.1 size limits. */
#define SMTP_MAX_LOCAL	64
#define SMTP_MAX_DOMAIN	255
#define SMTP_MAX_PATH	256
#define SMTP_MAX_ENVID	100
#define SMTP_MAX_ORCPT	500

static const struct {
	const char *name;
	enum smtp_verb verb;
} smtp_verbs[] = {
	{ "HELO", SMTP_HELO }, { "EHLO", SMTP_EHLO }, { "MAIL", SMTP_MAIL },
	{ "RCPT", SMTP_RCPT }, { "DATA", SMTP_DATA }, { "RSET", SMTP_RSET },
	{ "NOOP", SMTP_NOOP }, { "QUIT", SMTP_QUIT }, { "VRFY", SMTP_VRFY },
	{ "EXPN", SMTP_EXPN }, { "HELP", SMTP_HELP }, { "STARTTLS", SMTP_STARTTLS },
	{ "BDAT", SMTP_BDAT }, { "AUTH", SMTP_AUTH },
};

void
smtp_cmd_parse(const char *line, size_t len, struct smtp_cmd *cmd)
{
	size_t v = 0, a;

	while (v < len && line[v] != ' ')
		v++;
	cmd->verb = SMTP_UNKNOWN;
	for (size_t i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
		if (strlen(smtp_verbs[i].name) == v &&
		    strncasecmp(line, smtp_verbs[i].name, v) == 0) {
			cmd->verb = smtp_verbs[i].verb;
			break;
		}
	}
	a = v;
	while (a < len && line[a] == ' ')
		a++;
	while (len > a && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	cmd->arg = line + a;
	cmd->arglen = len - a;
}

/*
 * "<...>" at p.  Skips a source route ("@a,@b:"), accepts "<>" when
 * null_ok and "<postmaster>" when pm_ok.  The local part and the domain
 * are scanned by core/addr.c, as the tenant directory's are.  Returns
 * bytes consumed or 0.
 */
static size_t
scan_path(const char *p, size_t n, bool null_ok, bool pm_ok,
	  struct smtp_path *path, bool *eight)
{
	size_t i = 1, l, d, start;

	if (n < 2 || p[0] != '<')
		return 0;
	if (p[1] == '>') {
		if (!null_ok)
			return 0;
		path->addr = "";
		path->len = 0;
		path->domain = NULL;
		path->domainlen = 0;
		return 2;
	}
	if (p[1] == '@') {		/* obsolete source route: ignore it */
		while (i < n && p[i] != ':' && p[i] != '>') {
			if ((unsigned char)p[i] <= ' ' || (unsigned char)p[i] >= 127)
				return 0;
			i++;
		}
		if (i >= n || p[i] != ':')
			return 0;
		i++;
	}
	start = i;
	if (pm_ok && n - i >= 11 && strncasecmp(p + i, "postmaster>", 11) == 0) {
		path->addr = p + i;
		path->len = 10;
		path->domain = NULL;
		path->domainlen = 0;
		return i + 11;
	}
	l = addr_scan_local(p + i, n - i, eight);
	if (l == 0 || l > SMTP_MAX_LOCAL || i + l >= n || p[i + l] != '@')
		return 0;
	i += l + 1;
	d = addr_scan_domain(p + i, n - i, eight);
	if (d == 0 || d > SMTP_MAX_DOMAIN || i + d >= n || p[i + d] != '>')
		return 0;
	path->addr = p + start;
	path->len = i + d - start;
	path->domain = p + i;
	path->domainlen = d;
	if (path->len > SMTP_MAX_PATH)
		return 0;
	return i + d + 1;
}

/* xtext (RFC 3461 4): printable ASCII except '=', '+' only as "+HH". */
static bool
valid_xtext(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '+') {
			if (i + 2 >= n)
				return false;
			for (int k = 1; k <= 2; k++) {
				unsigned char h = (unsigned char)p[i + (size_t)k];
				if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F')))
					return false;
			}
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

/* atom (RFC 5322 3.2.3, what RFC 3461's addr-type is): 1*atext. */
static bool
valid_atom(const char *p, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!addr_is_atext((unsigned char)p[i]))
			return false;
	return true;
}

/* ORCPT value (RFC 3461 4.2): addr-type ";" xtext, both non-empty. */
static bool
valid_orcpt(const char *v, size_t n)
{
	const char *semi = memchr(v, ';', n);

	if (semi == NULL || semi + 1 == v + n)
		return false;
	return valid_atom(v, (size_t)(semi - v)) &&
	       valid_xtext(semi + 1, n - (size_t)(semi + 1 - v));
}

/*
 * Next "KEYWORD[=value]" parameter: 1 found, 0 none left, -1 malformed.
 * RFC 5321 4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
 * esmtp-value = 1*(%d33-60 / %d62-126).  Checking that here, for every
 * parameter, means no control or 8-bit byte survives in any value, even
 * of a parameter that is only skipped.  (RFC 6531 allows UTF-8 in values;
 * none of the parameters known here takes any.)
 */
static int
next_param(const char **pp, const char *end, const char **key, size_t *klen,
	   const char **val, size_t *vlen)
{
	const char *p = *pp, *e;

	while (p < end && p[0] == ' ')
		p++;
	if (p >= end)
		return 0;
	e = p;
	while (e < end && *e != ' ')
		e++;
	*key = p;
	*val = memchr(p, '=', (size_t)(e - p));
	if (*val != NULL) {
		*klen = (size_t)(*val - p);
		(*val)++;
		*vlen = (size_t)(e - *val);
	} else {
		*klen = (size_t)(e - p);
		*vlen = 0;
	}
	*pp = e;
	if (*klen == 0 || !addr_is_let_dig((unsigned char)(*key)[0]))
		return -1;
	for (size_t i = 1; i < *klen; i++)
		if (!addr_is_let_dig((unsigned char)(*key)[i]) && (*key)[i] != '-')
			return -1;
	for (size_t i = 0; *val != NULL && i < *vlen; i++) {
		unsigned char c = (unsigned char)(*val)[i];
		if (c < 33 || c > 126 || c == '=')
			return -1;
	}
	return 1;
}

/*
 * The address bytes that a path scan let through as 8-bit must be
 * well-formed UTF-8 (RFC 6531 UTF8-non-ascii, by RFC 3629): no overlong
 * form, surrogate or code point past U+10FFFF.  NULL or the reply.
 */
static const char *
check_addr_utf8(const struct smtp_path *path, bool eight, bool smtputf8,
		const char *bad_syntax)
{
	if (!eight)
		return NULL;
	if (!utf8_valid(path->addr, path->len))
		return bad_syntax;
	if (!smtputf8)
		return "553 5.6.7 Non-ASCII address requires SMTPUTF8";
	return NULL;
}

static bool
kw(const char *key, size_t klen, const char *name)
{
	return strlen(name) == klen && strncasecmp(key, name, klen) == 0;
}

static bool
val_is(const char *v, size_t vlen, const char *name)
{
	return v != NULL && strlen(name) == vlen && strncasecmp(v, name, vlen) == 0;
}

/* Skip "FROM:" / "TO:" and optional spaces; returns offset or 0. */
static size_t
skip_keyword(const char *arg, size_t len, const char *word)
{
	size_t w = strlen(word), i;

	if (len < w || strncasecmp(arg, word, w) != 0)
		return 0;
	for (i = w; i < len && arg[i] == ' '; i++)
		;
	return i;
}

const char *
smtp_parse_mail(const char *arg, size_t len, struct smtp_path *path,
		struct smtp_mail_params *mp)
{
	const char *p, *end = arg + len, *key, *val;
	size_t off, n, klen, vlen;
	bool eight = false;
	int more;

	memset(mp, 0, sizeof(*mp));
	off = skip_keyword(arg, len, "FROM:");
	if (off == 0)
		return "501 5.5.4 Syntax: MAIL FROM:<address>";
	n = scan_path(arg + off, len - off, true, false, path, &eight);
	if (n == 0)
		return "501 5.1.7 Bad sender address syntax";
	p = arg + off + n;
	if (p < end && *p != ' ')
		return "501 5.1.7 Bad sender address syntax";
	while ((more = next_param(&p, end, &key, &klen, &val, &vlen)) != 0) {
		if (more < 0)
			return "501 5.5.4 Malformed MAIL parameter (RFC 5321 4.1.2)";
		if (kw(key, klen, "SIZE")) {
			uint64_t s = 0;
			if (val == NULL || vlen == 0 || vlen > 19)
				return "501 5.5.4 Bad SIZE parameter";
			for (size_t i = 0; i < vlen; i++) {
				if (val[i] < '0' || val[i] > '9')
					return "501 5.5.4 Bad SIZE parameter";
				s = s * 10 + (uint64_t)(val[i] - '0');
			}
			mp->size = s;
		} else if (kw(key, klen, "BODY")) {
			if (val_is(val, vlen, "7BIT"))
				mp->body = ENV_BODY_7BIT;
			else if (val_is(val, vlen, "8BITMIME"))
				mp->body = ENV_BODY_8BITMIME;
			else
				return "501 5.5.4 Bad BODY parameter (7BIT or 8BITMIME)";
		} else if (kw(key, klen, "SMTPUTF8")) {
			if (val != NULL)
				return "501 5.5.4 SMTPUTF8 takes no value";
			mp->smtputf8 = true;
		} else if (kw(key, klen, "RET")) {
			if (val_is(val, vlen, "FULL"))
				mp->ret = ENV_RET_FULL;
			else if (val_is(val, vlen, "HDRS"))
				mp->ret = ENV_RET_HDRS;
			else
				return "501 5.5.4 Bad RET parameter (FULL or HDRS)";
		} else if (kw(key, klen, "ENVID")) {
			if (val == NULL || vlen == 0 || vlen > SMTP_MAX_ENVID ||
			    !valid_xtext(val, vlen))
				return "501 5.5.4 Bad ENVID parameter";
			mp->envid = val;
			mp->envidlen = vlen;
		} else if (kw(key, klen, "AUTH")) {
			/* RFC 4954 5: accepted and ignored without AUTH. */
		} else {
			return "555 5.5.4 Unsupported MAIL parameter";
		}
	}
	return check_addr_utf8(path, eight, mp->smtputf8,
			       "501 5.1.7 Bad sender address syntax (not UTF-8)");
}

const char *
smtp_parse_rcpt(const char *arg, size_t len, bool smtputf8,
		struct smtp_path *path, struct smtp_rcpt_params *rp)
{
	const char *p, *end = arg + len, *key, *val, *err;
	size_t off, n, klen, vlen;
	bool eight = false;
	int more;

	memset(rp, 0, sizeof(*rp));
	off = skip_keyword(arg, len, "TO:");
	if (off == 0)
		return "501 5.5.4 Syntax: RCPT TO:<address>";
	n = scan_path(arg + off, len - off, false, true, path, &eight);
	if (n == 0)
		return "501 5.1.3 Bad recipient address syntax";
	err = check_addr_utf8(path, eight, smtputf8,
			      "501 5.1.3 Bad recipient address syntax (not UTF-8)");
	if (err != NULL)
		return err;
	p = arg + off + n;
	if (p < end && *p != ' ')
		return "501 5.1.3 Bad recipient address syntax";
	while ((more = next_param(&p, end, &key, &klen, &val, &vlen)) != 0) {
		if (more < 0)
			return "501 5.5.4 Malformed RCPT parameter (RFC 5321 4.1.2)";
		if (kw(key, klen, "NOTIFY")) {
			const char *v = val, *ve;
			if (val == NULL || vlen == 0)
				return "501 5.5.4 Bad NOTIFY parameter";
			ve = val + vlen;
			while (v < ve) {
				const char *c = memchr(v, ',', (size_t)(ve - v));
				size_t l = (size_t)((c ? c : ve) - v);
				if (val_is(v, l, "NEVER"))
					rp->notify |= ENV_NOTIFY_NEVER;
				else if (val_is(v, l, "SUCCESS"))
					rp->notify |= ENV_NOTIFY_SUCCESS;
				else if (val_is(v, l, "FAILURE"))
					rp->notify |= ENV_NOTIFY_FAILURE;
				else if (val_is(v, l, "DELAY"))
					rp->notify |= ENV_NOTIFY_DELAY;
				else
					return "501 5.5.4 Bad NOTIFY parameter";
				v += l + (c ? 1 : 0);
				if (c && v == ve)
					return "501 5.5.4 Bad NOTIFY parameter";
			}
			if ((rp->notify & ENV_NOTIFY_NEVER) && rp->notify != ENV_NOTIFY_NEVER)
				return "501 5.5.4 NOTIFY=NEVER cannot be combined";
		} else if (kw(key, klen, "ORCPT")) {
			if (val == NULL || vlen > SMTP_MAX_ORCPT || !valid_orcpt(val, vlen))
				return "501 5.5.4 Bad ORCPT parameter";
			rp->orcpt = val;
			rp->orcptlen = vlen;
		} else {
			return "555 5.5.4 Unsupported RCPT parameter";
		}
	}
	return NULL;
}

bool
smtp_valid_helo(const char *s, size_t len)
{
	if (len == 0 || len > 255)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 127)
			return false;
	}
	/* it goes into our Received: line and the EHLO reply */
	return utf8_valid(s, len);
}

enum { D_BOL, D_MID, D_CR, D_DOT, D_DOTCR };

void
smtp_data_init(struct smtp_data *d, uint32_t max_line, uint64_t max_size)
{
	memset(d, 0, sizeof(*d));
	d->state = D_BOL;
	d->max_line = max_line;
	d->max_size = max_size;
}

static inline void
data_emit(struct smtp_data *d, struct buf *out, const char *p, size_t n)
{
	d->size += n;
	if (d->flags & SMTP_DATA_TOO_BIG)
		return;
	if (d->max_size && d->size > d->max_size) {
		d->flags |= SMTP_DATA_TOO_BIG;
		return;
	}
	buf_append(out, p, n);
}

static inline void
data_line(struct smtp_data *d, size_t n)
{
	/* saturate: a line of gigabytes must not wrap the counter */
	d->linelen = n > UINT32_MAX - d->linelen ? UINT32_MAX : d->linelen + (uint32_t)n;
	if (d->max_line && d->linelen > d->max_line)
		d->flags |= SMTP_DATA_LONG_LINE;
}

/*
 * The fast path, from p[i] in the middle of a line (D_MID): the longest run
 * that needs no change, i.e. text with no bare CR or LF, ending in CRLF
 * where the next line does not start with '.', found with memchr (which
 * is vectorised) and emitted in one piece.  Where the run stops (on a bare
 * CR or LF, a dot at the start of a line, a CR at the end of the input),
 * the byte-at-a-time states take over: in D_MID the next byte is then
 * always a CR or an LF.  Returns where it stopped and sets d->state for
 * that place.
 */
static size_t
data_run(struct smtp_data *d, const char *p, size_t i, size_t n, struct buf *out)
{
	size_t j = i;
	bool bol = false;

	for (;;) {
		const char *cr = memchr(p + j, '\r', n - j);
		size_t e = cr != NULL ? (size_t)(cr - p) : n;
		const char *lf = memchr(p + j, '\n', e - j);

		if (lf != NULL) {		/* a bare LF before the CR */
			if ((size_t)(lf - p) > j) {
				data_line(d, (size_t)(lf - p) - j);
				j = (size_t)(lf - p);
				bol = false;
			}
			break;
		}
		if (e + 1 >= n || p[e + 1] != '\n') {
			data_line(d, e - j);	/* text; the CR (if any) is for later */
			j = e;
			bol = false;
			break;
		}
		data_line(d, e + 2 - j);	/* a whole line */
		d->linelen = 0;
		j = e + 2;
		bol = true;
		if (j == n || p[j] == '.')
			break;
	}
	if (j > i)
		data_emit(d, out, p + i, j - i);
	d->state = bol ? D_BOL : D_MID;
	return j;
}

size_t
smtp_data_feed(struct smtp_data *d, const char *p, size_t n, struct buf *out)
{
	size_t i = 0;

	while (i < n) {
		char c = p[i];

		switch (d->state) {
		case D_MID: {
			size_t j = data_run(d, p, i, n, out);
			if (j > i) {
				i = j;
				continue;
			}
			i++;
			data_line(d, 1);
			if (c == '\r') {
				d->state = D_CR;
			} else {
				d->flags |= SMTP_DATA_BARE_LF;
				data_emit(d, out, "\n", 1);
			}
			continue;
		}
		case D_BOL:
			d->linelen = 0;
			if (c != '.' && c != '\r' && c != '\n') {
				d->state = D_MID;	/* the fast path takes it */
				continue;
			}
			i++;
			data_line(d, 1);
			if (c == '.') {
				d->state = D_DOT;
			} else if (c == '\r') {
				d->state = D_CR;
			} else {
				if (c == '\n')
					d->flags |= SMTP_DATA_BARE_LF;
				data_emit(d, out, &c, 1);
				d->state = D_MID;
			}
			continue;
		case D_CR:
			i++;
			data_line(d, 1);
			if (c == '\n') {
				data_emit(d, out, "\r\n", 2);
				d->state = D_BOL;
			} else {
				d->flags |= SMTP_DATA_BARE_CR;
				data_emit(d, out, "\r", 1);
				if (c != '\r') {
					data_emit(d, out, &c, 1);
					d->state = D_MID;
				}
			}
			continue;
		case D_DOT:
			i++;
			data_line(d, 1);
			if (c == '\r') {
				d->state = D_DOTCR;
			} else {
				if (c == '\n')
					d->flags |= SMTP_DATA_BARE_LF;
				data_emit(d, out, &c, 1);
				d->state = D_MID;
			}
			continue;
		case D_DOTCR:
			i++;
			if (c == '\n') {
				d->done = true;
				return i;
			}
			data_line(d, 1);
			d->flags |= SMTP_DATA_BARE_CR;
			data_emit(d, out, "\r", 1);
			if (c == '\r') {
				d->state = D_CR;
			} else {
				data_emit(d, out, &c, 1);
				d->state = D_MID;
			}
			continue;
		}
	}
	return i;
}

const char *
smtp_data_reject(const struct smtp_data *d)
{
	if (d->flags & SMTP_DATA_TOO_BIG)
		return "552 5.3.4 Message size exceeds fixed maximum message size";
	if (d->flags & (SMTP_DATA_BARE_LF | SMTP_DATA_BARE_CR))
		return "550 5.6.0 Message contains a bare CR or LF; lines must end "
		       "with CRLF (RFC 5321 2.3.8)";
	if (d->flags & SMTP_DATA_LONG_LINE)
		return "550 5.6.0 Message has a line over the text-line limit "
		       "(RFC 5321 4.5.3.1.6)";
	return NULL;
}

/* ---- replies (client side) ------------------------------------------ */

#define REPLY_MAX_LINE 4096
#define REPLY_MAX (64u << 10)

static int
reply_code(const char *p)
{
	if (p[0] < '2' || p[0] > '5' || p[1] < '0' || p[1] > '9' || p[2] < '0' || p[2] > '9')
		return -1;
	return (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
}

long
smtp_reply_parse(const char *p, size_t n, struct smtp_reply *r)
{
	size_t off = 0;
	int code = -1;

	for (;;) {
		const char *nl = memchr(p + off, '\n', n - off);
		size_t len;
		int c;

		if (nl == NULL)
			return (n - off > REPLY_MAX_LINE || n > REPLY_MAX) ? -1 : 0;
		len = (size_t)(nl - (p + off));
		if (len < 3 || len > REPLY_MAX_LINE)
			return -1;
		c = reply_code(p + off);
		if (c < 0 || (code >= 0 && c != code))
			return -1;
		code = c;
		if (len > 3 && p[off + 3] != ' ' && p[off + 3] != '-' && p[off + 3] != '\r')
			return -1;
		if (len == 3 || p[off + 3] != '-') {	/* last line */
			r->code = code;
			r->text = p;
			r->len = off + len;
			if (r->len > 0 && p[r->len - 1] == '\r')
				r->len--;
			return (long)(nl - p) + 1;
		}
		off += len + 1;
		if (off > REPLY_MAX)
			return -1;
	}
}

bool
smtp_reply_has(const struct smtp_reply *r, const char *keyword, const char **param,
	       size_t *paramlen)
{
	size_t kl = strlen(keyword), off = 0;

	while (off < r->len) {
		const char *line = r->text + off;
		const char *nl = memchr(line, '\n', r->len - off);
		size_t len = nl ? (size_t)(nl - line) : r->len - off;
		size_t l = len;

		if (l > 0 && line[l - 1] == '\r')
			l--;
		/* skip "250-" and compare the first word */
		if (l >= 4 + kl && strncasecmp(line + 4, keyword, kl) == 0 &&
		    (l == 4 + kl || line[4 + kl] == ' ' || line[4 + kl] == '=')) {
			if (param != NULL) {
				*param = line + 4 + kl + (l > 4 + kl ? 1 : 0);
				*paramlen = l > 4 + kl ? l - 5 - kl : 0;
			}
			return true;
		}
		off += len + 1;
	}
	return false;
}

void
smtp_reply_flat(const struct smtp_reply *r, char *out, size_t max)
{
	size_t o = 0;

	if (max == 0)
		return;
	for (size_t i = 0; i < r->len && o + 1 < max; i++) {
		unsigned char c = (unsigned char)r->text[i];
		if (c == '\r')
			continue;
		if (c == '\n') {
			/* "250-x\n250 y" -> "250-x / y": drop the repeated code */
			if (o + 4 >= max)
				break;
			memcpy(out + o, " / ", 3);
			o += 3;
			i += 4 < r->len - i ? 4 : r->len - i - 1;
			continue;
		}
		out[o++] = (c < 32 || c == 127) ? '?' : (char)c;
	}
	out[o] = '\0';
}

/* Note the last two bytes of the message seen so far (n > 0). */
static void
stuff_tail(struct smtp_stuffer *st, const char *data, size_t n)
{
	if (n >= 2) {
		st->tail[0] = data[n - 2];
		st->tail[1] = data[n - 1];
	} else {		/* a CRLF may be split across pieces */
		st->tail[0] = st->tail[1];
		st->tail[1] = data[0];
	}
	st->n += n;
}

/* True if the message seen so far ends with CRLF. */
static bool
stuff_ends_crlf(const struct smtp_stuffer *st)
{
	return st->n >= 2 && st->tail[0] == '\r' && st->tail[1] == '\n';
}

void
smtp_stuff_init(struct smtp_stuffer *st)
{
	*st = (struct smtp_stuffer){ .mid = false };
}

void
smtp_stuff_chunk(struct smtp_stuffer *st, const char *data, size_t n, struct buf *out)
{
	size_t off = 0;

	if (n == 0)
		return;
	buf_reserve(out, n + n / 64 + 8);
	while (off < n) {
		const char *nl = memchr(data + off, '\n', n - off);
		size_t end = nl ? (size_t)(nl - data) + 1 : n;
		if (!st->mid && data[off] == '.')
			buf_append(out, ".", 1);
		buf_append(out, data + off, end - off);
		st->mid = nl == NULL;	/* a piece may end inside a line */
		off = end;
	}
	stuff_tail(st, data, n);
}

void
smtp_stuff_end(struct smtp_stuffer *st, struct buf *out)
{
	if (!stuff_ends_crlf(st))
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}

void
smtp_bdat_chunk(struct smtp_stuffer *st, const char *data, size_t n, bool last,
		struct buf *out)
{
	char head[40];
	bool crlf;
	int k;

	if (n > 0)
		stuff_tail(st, data, n);
	crlf = last && !stuff_ends_crlf(st);
	k = snprintf(head, sizeof(head), "BDAT %zu%s\r\n", n + (crlf ? 2 : 0),
		     last ? " LAST" : "");
	buf_reserve(out, (size_t)k + n + 2);
	buf_append(out, head, (size_t)k);
	buf_append(out, data, n);
	if (crlf)
		buf_append(out, "\r\n", 2);
}

/* Written apart from the streaming stuffer on purpose: the tests and the
   fuzz target hold one against the other. */
void
smtp_stuff(const char *data, size_t n, struct buf *out)
{
	size_t off = 0;

	buf_reserve(out, n + n / 64 + 8);
	while (off < n) {
		const char *nl = memchr(data + off, '\n', n - off);
		size_t end = nl ? (size_t)(nl - data) + 1 : n;
		if (data[off] == '.')
			buf_append(out, ".", 1);
		buf_append(out, data + off, end - off);
		off = end;
	}
	if (n < 2 || data[n - 2] != '\r' || data[n - 1] != '\n')
		buf_append(out, "\r\n", 2);
	buf_append(out, ".\r\n", 3);
}
