/*
 * mfi — classification of failed delivery attempts and the texts that go
 * with each code.
 *
 * Rules of mfi_classify(), first match wins:
 *  1. Stage DNS                                       -> DNS_FAILED (4.4.312)
 *  2. A certificate verdict (expired, not yet valid,
 *     name mismatch, untrusted, self-signed, revoked) -> CERT_INVALID (4.7.320)
 *  3. TLS required but not offered, or STARTTLS
 *     refused                                         -> CANNOT_CONNECT (4.4.317)
 *  4. TLS handshake failed                            -> CONN_DROPPED (4.4.318)
 *  5. Stage CONNECT: -ECONNREFUSED                    -> CONN_REFUSED (4.4.316)
 *     timeouts (-ETIMEDOUT, -ECANCELED and -ETIME from
 *     a linked timeout) and "host unreachable/down",
 *     which is what a dead host on the path looks like -> CONN_TIMEOUT (4.4.315)
 *     any other error (-ENETUNREACH, -EADDRNOTAVAIL,
 *     -EACCES...): our side cannot make the connection -> CANNOT_CONNECT
 *  6. Stage BANNER: an error reply (421, 554)         -> CANNOT_CONNECT
 *     a timeout: TCP accepted but no greeting, the
 *     server is as good as down                       -> CONN_TIMEOUT
 *     EOF or another socket error                     -> CONN_DROPPED
 *  7. Stages EHLO, STARTTLS: an error reply           -> CANNOT_CONNECT
 *  8. Stages MAIL, RCPT, DATA, BODY: an error reply   -> REMOTE
 *  9. From BANNER on, EOF, reset, broken pipe, timeout
 *     or any other socket error                       -> CONN_DROPPED
 * 10. Otherwise (a 2xx/3xx reply, no error)           -> NONE
 *
 * Pure and stateless: any thread.
 */
#include "core/mfi/mfi.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/mfi/mfi_int.h"

/* Reply text kept in a detail line; longer replies end in "...". */
#define MFI_DETAIL_REPLY_MAX	400
/* Host names and addresses are capped too (DNS names are <= 253). */
#define MFI_DETAIL_HOST_MAX	255
#define MFI_DETAIL_IP_MAX	64


/* Everything said about one code. */
struct mfi_text {
	const char *name;	/* stats/JSON key */
	const char *status;	/* enhanced status code */
	const char *reply;	/* reply line recorded for the attempt */
	const char *meaning;	/* what happened */
	const char *fix;	/* what to do, naming who does it */
	const char *who;	/* who should act */
};

static const struct mfi_text mfi_texts[MFI_NCODES] = {
	[MFI_NONE] = {
		"none", "", "",
		"No failure was recorded.",
		"Nothing to fix.",
		"",
	},
	[MFI_DNS_FAILED] = {
		"dns_failed", "4.4.312", "450 4.4.312 DNS query failed",
		"The DNS query for the destination's smart host or MX records "
		"failed, so there is no server to deliver to.",
		"The name of the smart host or the domain's MX does not resolve "
		"(NXDOMAIN, SERVFAIL or a timeout): the partner or destination "
		"administrator fixes the domain's DNS zone (or renews the domain "
		"if it expired); the operator corrects the connector's smart host "
		"name if that is what is wrong.",
		WHO_EITHER,
	},
	[MFI_CONN_TIMEOUT] = {
		"conn_timeout", "4.4.315", "450 4.4.315 Connection timed out",
		"Connecting to the destination server timed out: nothing "
		"answered at its address, or it accepted the connection and "
		"never greeted.",
		"The destination is down or the connector has the wrong address: "
		"the partner or destination administrator checks that the server "
		"is running and reachable on TCP 25 (or the connector's port); the "
		"operator checks the connector's smart host address.",
		WHO_EITHER,
	},
	[MFI_CONN_REFUSED] = {
		"conn_refused", "4.4.316", "450 4.4.316 Connection refused",
		"The destination refused the connection: nothing accepts SMTP "
		"at that address and port, or a firewall rejects the relay.",
		"The partner or destination administrator allows the relay's "
		"addresses on TCP 25 (or the connector's port) in the "
		"destination's firewall and checks that the server listens; if "
		"that server was retired, the operator points the connector at "
		"the new server, or runs fix-now for the domain.",
		WHO_EITHER,
	},
	[MFI_CANNOT_CONNECT] = {
		"cannot_connect", "4.4.317",
		"450 4.4.317 Cannot connect to remote server",
		"The destination server answered with an error straight away "
		"(banner, EHLO or STARTTLS), or does not meet the connector's "
		"requirements (TLS required but not offered), or this relay "
		"could not open a connection to it at all (no route from its "
		"network).",
		"The partner or destination administrator checks why the server "
		"answers with an error (load, limits, its TLS settings: TLS "
		"required but not offered); the operator checks the connector's "
		"TLS policy and that the relay's own network can reach the "
		"destination.",
		WHO_EITHER,
	},
	[MFI_CONN_DROPPED] = {
		"conn_dropped", "4.4.318", "450 4.4.318 Connection dropped",
		"The connection to the destination server was closed abruptly "
		"in the middle of the SMTP session, or its TLS handshake "
		"failed.",
		"An SMTP-inspecting firewall, a crashing server or the network "
		"closed it: the operator and the partner or destination "
		"administrator turn off SMTP inspection on the firewalls on their "
		"sides, and the partner or destination administrator checks the "
		"server's logs.",
		WHO_EITHER,
	},
	[MFI_CERT_INVALID] = {
		"cert_invalid", "4.7.320",
		"450 4.7.320 Certificate validation failed",
		"The destination server's TLS certificate failed validation: "
		"expired, not yet valid, issued for another name, untrusted, "
		"self-signed or revoked.",
		"The partner or destination administrator renews the certificate "
		"or fixes its name or chain; the operator corrects the "
		"connector's TLS domain or CA settings if they are what is "
		"wrong.",
		WHO_EITHER,
	},
	[MFI_REMOTE] = {
		"remote", "", "",
		"The destination server rejected or deferred the message with "
		"its own reply.",
		"The reply says what the destination objected to; the partner or "
		"destination administrator can explain it and fix their side.",
		WHO_DEST,
	},
};

static const char *const mfi_stage_names[] = {
	[MFI_STAGE_DNS] = "dns",
	[MFI_STAGE_CONNECT] = "connect",
	[MFI_STAGE_BANNER] = "banner",
	[MFI_STAGE_EHLO] = "ehlo",
	[MFI_STAGE_STARTTLS] = "starttls",
	[MFI_STAGE_TLS_HANDSHAKE] = "tls_handshake",
	[MFI_STAGE_MAIL] = "mail",
	[MFI_STAGE_RCPT] = "rcpt",
	[MFI_STAGE_DATA] = "data",
	[MFI_STAGE_BODY] = "body",
};

/* How a stage reads inside a sentence ("closed during RCPT TO"). */
static const char *const mfi_stage_words[] = {
	[MFI_STAGE_DNS] = "the DNS lookup",
	[MFI_STAGE_CONNECT] = "connect",
	[MFI_STAGE_BANNER] = "the banner",
	[MFI_STAGE_EHLO] = "EHLO",
	[MFI_STAGE_STARTTLS] = "STARTTLS",
	[MFI_STAGE_TLS_HANDSHAKE] = "the TLS handshake",
	[MFI_STAGE_MAIL] = "MAIL FROM",
	[MFI_STAGE_RCPT] = "RCPT TO",
	[MFI_STAGE_DATA] = "DATA",
	[MFI_STAGE_BODY] = "end of data",
};

#define NSTAGES	(sizeof(mfi_stage_names) / sizeof(mfi_stage_names[0]))

static const struct mfi_text *
text_of(enum mfi_code c)
{
	if ((unsigned)c >= MFI_NCODES)
		c = MFI_NONE;
	return &mfi_texts[c];
}

static bool
is_timeout(int err)
{
	return err == -ETIMEDOUT || err == -ECANCELED || err == -ETIME;
}

static bool
is_cert_problem(enum mfi_tls t)
{
	switch (t) {
	case MFI_TLS_EXPIRED:
	case MFI_TLS_NOT_YET_VALID:
	case MFI_TLS_NAME_MISMATCH:
	case MFI_TLS_UNTRUSTED:
	case MFI_TLS_SELF_SIGNED:
	case MFI_TLS_REVOKED:
		return true;
	default:
		return false;
	}
}

/* An error reply: 4xx or 5xx (anything >= 400 is not a success). */
static bool
is_error_reply(const struct mfi_attempt *a)
{
	return a->err == 0 && a->reply_code >= 400;
}

/* The peer hung up: no socket error and no reply. */
static bool
is_eof(const struct mfi_attempt *a)
{
	return a->err == 0 && a->reply_code == 0;
}

static enum mfi_code
classify_connect(int err)
{
	switch (err) {
	case 0:
		return MFI_NONE;
	case -ECONNREFUSED:
		return MFI_CONN_REFUSED;
	case -ETIMEDOUT:
	case -ECANCELED:
	case -ETIME:
	case -EHOSTUNREACH:
	case -EHOSTDOWN:
		return MFI_CONN_TIMEOUT;
	default:
		return MFI_CANNOT_CONNECT;
	}
}

enum mfi_code
mfi_classify(const struct mfi_attempt *a)
{
	if (a->stage == MFI_STAGE_DNS)
		return MFI_DNS_FAILED;
	if (is_cert_problem(a->tls_reason))
		return MFI_CERT_INVALID;
	if (a->tls_reason == MFI_TLS_NOT_OFFERED ||
	    a->tls_reason == MFI_TLS_REFUSED)
		return MFI_CANNOT_CONNECT;
	if (a->tls_reason == MFI_TLS_HANDSHAKE_FAILED)
		return MFI_CONN_DROPPED;

	switch (a->stage) {
	case MFI_STAGE_CONNECT:
		return classify_connect(a->err);
	case MFI_STAGE_BANNER:
		if (is_error_reply(a))
			return MFI_CANNOT_CONNECT;
		if (is_timeout(a->err))
			return MFI_CONN_TIMEOUT;
		break;
	case MFI_STAGE_EHLO:
	case MFI_STAGE_STARTTLS:
		if (is_error_reply(a))
			return MFI_CANNOT_CONNECT;
		break;
	case MFI_STAGE_TLS_HANDSHAKE:
		break;
	case MFI_STAGE_MAIL:
	case MFI_STAGE_RCPT:
	case MFI_STAGE_DATA:
	case MFI_STAGE_BODY:
		if (is_error_reply(a))
			return MFI_REMOTE;
		break;
	default:
		return MFI_NONE;
	}
	if (a->err != 0 || is_eof(a))
		return MFI_CONN_DROPPED;
	return MFI_NONE;
}

bool
mfi_answered(const struct mfi_attempt *a)
{
	if (a->stage == MFI_STAGE_BANNER)
		return a->err == 0 && a->reply_code > 0;
	return a->stage > MFI_STAGE_BANNER;
}

bool
mfi_permanent(const struct mfi_attempt *a)
{
	switch (a->stage) {
	case MFI_STAGE_MAIL:
	case MFI_STAGE_RCPT:
	case MFI_STAGE_DATA:
	case MFI_STAGE_BODY:
		return a->err == 0 && a->reply_code >= 500 &&
		       a->reply_code <= 599 && mfi_classify(a) == MFI_REMOTE;
	default:
		return false;
	}
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Skip a leading "550 " / "550-" / "550" reply code, if there is one. */
static const char *
skip_code(const char *s)
{
	if (is_digit(s[0]) && is_digit(s[1]) && is_digit(s[2]) &&
	    (s[3] == ' ' || s[3] == '-' || s[3] == '\0'))
		return s[3] == '\0' ? s + 3 : s + 4;
	return s;
}

/* Parse "c.s.d" (RFC 3463: 1 digit, 1-3 digits, 1-3 digits) at s. */
static size_t
parse_enhanced(const char *s)
{
	size_t i = 1, n;

	if (s[0] != '2' && s[0] != '4' && s[0] != '5')
		return 0;
	for (int part = 0; part < 2; part++) {
		if (s[i] != '.')
			return 0;
		i++;
		for (n = 0; n < 3 && is_digit(s[i]); n++)
			i++;
		if (n == 0)
			return 0;
	}
	if (is_digit(s[i]) || s[i] == '.')
		return 0;
	return i;
}

const char *
mfi_reply_status(const char *reply_text, int code, char out[MFI_STATUS_MAX])
{
	size_t n;

	out[0] = '\0';
	if (code < 400 || code > 599)
		return out;
	if (reply_text != NULL) {
		const char *s = skip_code(reply_text);

		while (*s == ' ')
			s++;
		n = parse_enhanced(s);
		if (n > 0 && s[0] - '0' == code / 100) {
			memcpy(out, s, n);
			out[n] = '\0';
			return out;
		}
	}
	memcpy(out, code >= 500 ? "5.0.0" : "4.0.0", 6);
	return out;
}

bool
mfi_user_unknown(const char *reply_text, int code)
{
	char st[MFI_STATUS_MAX];

	if (code < 500 || code > 599 || reply_text == NULL)
		return false;
	mfi_reply_status(reply_text, code, st);
	return strncmp(st, "5.1.", 4) == 0;
}

const char *
mfi_status(enum mfi_code c)
{
	return text_of(c)->status;
}

const char *
mfi_reply(enum mfi_code c)
{
	return text_of(c)->reply;
}

const char *
mfi_meaning(enum mfi_code c)
{
	return text_of(c)->meaning;
}

const char *
mfi_fix(enum mfi_code c)
{
	return text_of(c)->fix;
}

const char *
mfi_who(enum mfi_code c)
{
	return text_of(c)->who;
}

const char *
mfi_name(enum mfi_code c)
{
	return text_of(c)->name;
}

const char *
mfi_stage_name(enum mfi_stage s)
{
	return (unsigned)s < NSTAGES ? mfi_stage_names[s] : "unknown";
}

static const char *
stage_words(enum mfi_stage s)
{
	return (unsigned)s < NSTAGES ? mfi_stage_words[s] : "the session";
}

/*
 * Append s with control bytes and non-ASCII bytes as '?', at most max bytes
 * ("..." marks a cut).  With join, runs of CR/LF (the breaks of a
 * multi-line reply) become one space instead, and trailing ones vanish.
 */
static void
put_clean(struct buf *out, const char *s, size_t max, bool join)
{
	char tmp[MFI_DETAIL_REPLY_MAX + 4];
	size_t n = 0;
	bool brk = false;

	if (max > MFI_DETAIL_REPLY_MAX)
		max = MFI_DETAIL_REPLY_MAX;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (join && (c == '\r' || c == '\n')) {
			brk = true;
			continue;
		}
		if (brk && n > 0) {
			if (n == max)
				goto cut;
			tmp[n++] = ' ';
		}
		brk = false;
		if (n == max)
			goto cut;
		if (c == '\t')
			c = ' ';
		else if (c < 0x20 || c >= 0x7f)
			c = '?';
		tmp[n++] = (char)c;
	}
	if (n > 0)
		buf_append(out, tmp, n);
	return;
cut:
	buf_append(out, tmp, n);
	buf_puts(out, "...");
}

/* "host [ip]:port", "ip:port", "[v6]:port", "host" or "the destination". */
static void
put_peer(struct buf *out, const struct mfi_attempt *a)
{
	bool h = a->host != NULL && a->host[0] != '\0';
	bool i = a->ip != NULL && a->ip[0] != '\0';

	if (h && i && strcmp(a->host, a->ip) != 0) {
		put_clean(out, a->host, MFI_DETAIL_HOST_MAX, false);
		buf_puts(out, " [");
		put_clean(out, a->ip, MFI_DETAIL_IP_MAX, false);
		buf_puts(out, "]");
	} else if (i) {
		bool v6 = strchr(a->ip, ':') != NULL && a->port != 0;

		if (v6)
			buf_puts(out, "[");
		put_clean(out, a->ip, MFI_DETAIL_IP_MAX, false);
		if (v6)
			buf_puts(out, "]");
	} else if (h) {
		put_clean(out, a->host, MFI_DETAIL_HOST_MAX, false);
	} else {
		buf_puts(out, "the destination");
		if (a->port != 0)
			buf_printf(out, " port %u", a->port);
		return;
	}
	if (a->port != 0)
		buf_printf(out, ":%u", a->port);
}

/* The reply, with its code in front if the text does not start with it. */
static void
put_reply(struct buf *out, const struct mfi_attempt *a)
{
	const char *t = a->reply_text;
	char code[12];

	if (a->reply_code > 0 && a->reply_code < 1000) {
		snprintf(code, sizeof(code), "%d", a->reply_code);
		if (t == NULL || strncmp(t, code, strlen(code)) != 0) {
			buf_puts(out, code);
			if (t != NULL && t[0] != '\0')
				buf_puts(out, " ");
		}
	}
	if (t != NULL)
		put_clean(out, t, MFI_DETAIL_REPLY_MAX, true);
	else if (a->reply_code <= 0)
		buf_puts(out, "no reply");
}

/* Untranslated text for a negative errno; timeouts read as timeouts. */
static void
put_err(struct buf *out, int err)
{
	int e = err < 0 ? -err : err;
	const char *s;

	if (is_timeout(-e)) {
		buf_puts(out, "Connection timed out");
		return;
	}
	s = strerrordesc_np(e);
	if (s != NULL)
		buf_puts(out, s);
	else
		buf_printf(out, "error %d", e);
}

static const char *
dns_words(enum mfi_dns d)
{
	switch (d) {
	case MFI_DNS_NXDOMAIN:	return "NXDOMAIN";
	case MFI_DNS_SERVFAIL:	return "SERVFAIL";
	case MFI_DNS_TIMEOUT:	return "timed out";
	case MFI_DNS_REFUSED:	return "REFUSED";
	case MFI_DNS_NODATA:	return "no MX or address records (NODATA)";
	case MFI_DNS_NULL_MX:	return "null MX: the domain accepts no mail";
	case MFI_DNS_BADRESP:	return "malformed answer";
	case MFI_DNS_OTHER:	return "resolver error";
	default:		return NULL;
	}
}

static void
detail_dns(const struct mfi_attempt *a, struct buf *out)
{
	const char *w = dns_words(a->dns_status);

	buf_puts(out, "DNS query ");
	if (a->host != NULL && a->host[0] != '\0') {
		buf_puts(out, "for ");
		put_clean(out, a->host, MFI_DETAIL_HOST_MAX, false);
		buf_puts(out, " ");
	}
	buf_puts(out, "failed: ");
	if (w != NULL)
		buf_puts(out, w);
	else if (a->err != 0)
		put_err(out, a->err);
	else
		buf_puts(out, "unknown error");
	if (w != NULL && a->dns_status == MFI_DNS_OTHER && a->err != 0) {
		buf_puts(out, " (");
		put_err(out, a->err);
		buf_puts(out, ")");
	}
}

static const char *
cert_words(enum mfi_tls t)
{
	switch (t) {
	case MFI_TLS_EXPIRED:		return "has expired";
	case MFI_TLS_NOT_YET_VALID:	return "is not yet valid";
	case MFI_TLS_NAME_MISMATCH:	return "does not match the host name";
	case MFI_TLS_UNTRUSTED:		return "is not issued by a trusted CA";
	case MFI_TLS_SELF_SIGNED:	return "is self-signed";
	case MFI_TLS_REVOKED:		return "has been revoked";
	default:			return "failed validation";
	}
}

static void
detail_cannot(const struct mfi_attempt *a, struct buf *out)
{
	if (a->tls_reason == MFI_TLS_NOT_OFFERED) {
		buf_puts(out, "TLS required but ");
		put_peer(out, a);
		buf_puts(out, " does not offer STARTTLS");
		return;
	}
	if (a->tls_reason == MFI_TLS_REFUSED) {
		buf_puts(out, "TLS required but ");
		put_peer(out, a);
		buf_puts(out, " answered STARTTLS with ");
		put_reply(out, a);
		return;
	}
	if (a->stage == MFI_STAGE_CONNECT) {
		buf_puts(out, "connect to ");
		put_peer(out, a);
		buf_puts(out, " failed: ");
		put_err(out, a->err);
		return;
	}
	put_peer(out, a);
	buf_puts(out, " answered ");
	buf_puts(out, stage_words(a->stage));
	buf_puts(out, " with ");
	put_reply(out, a);
}

static void
detail_dropped(const struct mfi_attempt *a, struct buf *out)
{
	const char *w = stage_words(a->stage);

	if (a->tls_reason == MFI_TLS_HANDSHAKE_FAILED && a->err == 0) {
		buf_puts(out, "TLS handshake with ");
		put_peer(out, a);
		buf_puts(out, " failed");
		return;
	}
	if (a->err == -EPROTO) {
		buf_puts(out, "malformed reply from ");
		put_peer(out, a);
		buf_printf(out, " during %s", w);
		return;
	}
	buf_puts(out, "connection to ");
	put_peer(out, a);
	if (a->err == 0)
		buf_printf(out, " closed by the server during %s", w);
	else if (is_timeout(a->err))
		buf_printf(out, " timed out during %s", w);
	else {
		buf_printf(out, " closed during %s: ", w);
		put_err(out, a->err);
	}
}

void
mfi_detail(const struct mfi_attempt *a, enum mfi_code c, struct buf *out)
{
	switch (c) {
	case MFI_DNS_FAILED:
		detail_dns(a, out);
		break;
	case MFI_CONN_TIMEOUT:
		if (a->stage == MFI_STAGE_BANNER) {
			put_peer(out, a);
			buf_puts(out, " accepted the connection but sent no "
				 "banner in time");
		} else if (a->err == -EHOSTUNREACH || a->err == -EHOSTDOWN) {
			buf_puts(out, "connect to ");
			put_peer(out, a);
			buf_puts(out, " failed: ");
			put_err(out, a->err);
		} else {
			buf_puts(out, "connect to ");
			put_peer(out, a);
			buf_puts(out, " timed out");
		}
		break;
	case MFI_CONN_REFUSED:
		buf_puts(out, "connect to ");
		put_peer(out, a);
		buf_puts(out, " refused");
		break;
	case MFI_CANNOT_CONNECT:
		detail_cannot(a, out);
		break;
	case MFI_CONN_DROPPED:
		detail_dropped(a, out);
		break;
	case MFI_CERT_INVALID:
		buf_puts(out, "certificate of ");
		put_peer(out, a);
		buf_puts(out, " ");
		buf_puts(out, cert_words(a->tls_reason));
		break;
	case MFI_REMOTE:
		put_peer(out, a);
		buf_puts(out, " said: ");
		put_reply(out, a);
		buf_printf(out, " (in reply to %s)", stage_words(a->stage));
		break;
	default:
		buf_puts(out, "no failure");
		break;
	}
}
