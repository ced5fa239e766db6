/*
 * sink_smtp.c - sluice-sink's side of the SMTP dialogue: split in[] into
 * command lines, answer each into out[], read DATA payload and BDAT
 * chunks (RFC 3030: exactly the size each announces, raw; a reply per
 * chunk, the message's after BDAT LAST, through the same checks and
 * store as after DATA's final dot).
 *
 * It is as strict as the strictest real servers, because it is what the
 * relay's client is tested against: MAIL and RCPT lines are checked by
 * sink_check.c, a command line with a control byte or a bare LF ending is
 * refused, and a client that pipelines without PIPELINING (or puts a
 * command after one that must end a group, RFC 2920 s. 3.1) is told
 * 554 5.5.0 and dropped, as Postfix does. Each refusal is written to
 * stderr with the offending line escaped. STARTTLS is answered here, its
 * handshake and records are sink_tls.c's; what an accepted message
 * leaves behind is sink_store.c's.
 *
 * No I/O here except that stderr line: the parser consumes in[] and fills
 * out[]; sink_io.c sends the batch. It stops while out[] has less than
 * SINK_OUT_LOW free, so no reply is ever cut.
 *
 * The top of the session's stack: sink_io.c calls it only through
 * sink_smtp_ops, and it calls down for the rest (closing on a cut,
 * the TLS session, the fault modes, the --out copy).
 * May call: sink_io.c, sink_tls.c, sink_fault.c, sink_store.c,
 * sink_check.c, sink_state.c.
 */
#include "bench/sink_smtp.h"

#include "bench/sink_state.h"
#include "bench/sink_check.h"
#include "bench/sink_fault.h"
#include "bench/sink_io.h"
#include "bench/sink_store.h"
#include "bench/sink_tls.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static char *sink_u64(char *p, unsigned long long v)
{
	char tmp[24];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

static int sink_match(const struct sink_patterns *pat, const char *addr,
		      size_t len)
{
	size_t i;

	for (i = 0; i < pat->n; i++)
		if (memmem(addr, len, pat->v[i], strlen(pat->v[i])) != NULL)
			return 1;
	return 0;
}

/* Forget the open transaction (MAIL, recipients, --out copies). */
static void sink_txn_reset(struct sink_session *s)
{
	s->has_mail = 0;
	s->utf8_txn = 0;
	s->in_data = 0;
	s->bdat_txn = 0;
	s->reject_hit = 0;
	s->too_big = 0;
	s->store_failed = 0;
	s->nrcpt = 0;
	s->env.len = 0;
	s->msg.len = 0;
}

/* What this session's greeting advertised: nothing after HELO. */
static void sink_ext_of(const struct sink_session *s, struct sink_ext *ext)
{
	memset(ext, 0, sizeof(*ext));
	if (!s->ehlo)
		return;
	ext->size = sink.size_mode != SINK_SIZE_NONE;
	ext->size_max = sink.size_mode == SINK_SIZE_NUMBER ? sink.size_max : 0;
	ext->eightbit = true;
	ext->smtputf8 = true;
	ext->dsn = sink.dsn != 0;
}

/* Tell stderr which line was refused with what, bytes outside printable
 * ASCII escaped (the point is to show garbage a client sent). */
static void sink_log_refused(const char *line, size_t len, const char *reply)
{
	static const char hex[] = "0123456789abcdef";
	char esc[SINK_LINE_MAX * 4 + 1];
	size_t i, n = 0, rl = strcspn(reply, "\r\n");

	for (i = 0; i < len && n + 4 < sizeof(esc); i++) {
		unsigned char ch = (unsigned char)line[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			esc[n++] = (char)ch;
		} else {
			esc[n++] = '\\';
			esc[n++] = 'x';
			esc[n++] = hex[ch >> 4];
			esc[n++] = hex[ch & 15];
		}
	}
	esc[n] = '\0';
	sink.refused++;
	sink_count_changed();
	fprintf(stderr, "sluice-sink: refused \"%s\": %.*s\n", esc, (int)rl, reply);
}

/* Refuse line with reply (a whole reply line, CRLF included). */
static void sink_refuse(struct sink_session *s, const char *line, size_t len,
			const char *reply)
{
	sink_log_refused(line, len, reply);
	sink_reply(s, reply, strlen(reply));
}

/* STARTTLS is listed in EHLO replies (and answered) at all. */
static int sink_starttls_offered(void)
{
	return !sink.no_starttls && (sink.tls_ctx != NULL || sink.starttls_reply != 0);
}

/* STARTTLS (RFC 3207): answer 220, then everything after is TLS (the
 * handshake and the records are sink_tls.c's). Fault options: a refused
 * STARTTLS (--starttls-reply), none offered (--mode no-starttls), a held
 * 220 (--starttls-delay, timed in sink_fault.c). */
static void sink_cmd_starttls(struct sink_session *s, int has_args)
{
	if (!sink_starttls_offered()) {
		SINK_REPLY(s, "502 5.5.1 Error: command not implemented\r\n");
		return;
	}
	if (s->tls_rx) {
		SINK_REPLY(s, "554 5.5.1 Error: TLS already active\r\n");
		return;
	}
	if (has_args) {
		SINK_REPLY(s, "501 5.5.4 Syntax: STARTTLS\r\n");
		return;
	}
	if (sink.starttls_reply != 0) {
		sink_reply_code(s, sink.starttls_reply, "7.0 TLS not available");
		return;
	}
	if (sink_tls_start(s) < 0) {
		SINK_REPLY(s, "454 4.7.0 TLS not available due to local problem\r\n");
		return;
	}
	SINK_REPLY(s, "220 2.0.0 Ready to start TLS\r\n");
	/* Pipelined plaintext after STARTTLS is discarded (RFC 3207 s. 5);
	 * whatever arrives from now on is the TLS handshake. */
	s->in_off = s->in_len;
	s->tls_rx = 1;
	sink_txn_reset(s);
	s->helo_ok = 0;
	s->ehlo = 0;
	if (sink.starttls_delay_ms > 0)
		fprintf(stderr, "sluice-sink: STARTTLS accepted, 220 held for %u ms\n",
			sink.starttls_delay_ms);
}

static void sink_cmd_helo(struct sink_session *s, int ehlo, const char *line,
			  size_t len)
{
	char size[48];

	sink_txn_reset(s);
	if (sink.mode == SINK_MODE_EHLO) {
		s->helo_ok = 0;
		sink_reply_code(s, sink.mode_code, "7.1 EHLO/HELO rejected for test");
		return;
	}
	if (ehlo && sink.helo_only) {
		/* A server that only knows RFC 821: the client falls back
		 * to HELO, and this session advertises nothing. */
		s->helo_ok = 0;
		s->ehlo = 0;
		SINK_REPLY(s, "502 5.5.2 Error: command not recognized\r\n");
		return;
	}
	if (len <= 5) {		/* RFC 5321: the client names itself */
		sink_refuse(s, line, len, "501 5.5.4 Syntax: EHLO/HELO hostname\r\n");
		return;
	}
	s->helo_ok = 1;
	s->ehlo = ehlo != 0;
	if (!ehlo) {
		SINK_REPLY(s, "250 " SINK_HOSTNAME "\r\n");
		return;
	}
	SINK_REPLY(s, "250-" SINK_HOSTNAME "\r\n");
	if (!sink.helo_only)
		SINK_REPLY(s, "250-PIPELINING\r\n");
	if (sink.size_mode == SINK_SIZE_NUMBER) {
		snprintf(size, sizeof(size), "250-SIZE %llu\r\n", sink.size_max);
		sink_reply(s, size, strlen(size));
	} else if (sink.size_mode == SINK_SIZE_BARE) {
		SINK_REPLY(s, "250-SIZE\r\n");
	}
	SINK_REPLY(s, "250-8BITMIME\r\n"
		   "250-ENHANCEDSTATUSCODES\r\n");
	if (!sink.no_chunking)
		SINK_REPLY(s, "250-CHUNKING\r\n");
	if (sink.dsn)
		SINK_REPLY(s, "250-DSN\r\n");
	if (sink_starttls_offered() && !s->tls_rx)
		SINK_REPLY(s, "250-STARTTLS\r\n");
	SINK_REPLY(s, "250 SMTPUTF8\r\n");
}

static void sink_cmd_mail(struct sink_session *s, const char *line,
			  size_t len)
{
	char reply[SINK_CHECK_REPLY];
	struct sink_ext ext;
	struct sink_path path;
	int rc;

	/* After STARTTLS the client must say EHLO again (RFC 3207 s. 4.2). */
	if ((sink.mode == SINK_MODE_EHLO || s->tls_up || sink.helo_only) && !s->helo_ok) {
		SINK_REPLY(s, "503 5.5.1 Error: send HELO/EHLO first\r\n");
		return;
	}
	if (s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: nested MAIL command\r\n");
		return;
	}
	sink_ext_of(s, &ext);
	rc = len < 5 ? -EINVAL : sink_check_mail(&ext, line + 5, len - 5, &path, reply);
	if (rc == -EFBIG) {	/* well-formed, only too big */
		sink_reply(s, reply, strlen(reply));
		return;
	}
	if (rc < 0) {
		if (len < 5)
			snprintf(reply, sizeof(reply), "501 5.5.4 Syntax: MAIL FROM:<address>\r\n");
		sink_refuse(s, line, len, reply);
		return;
	}
	sink_txn_reset(s);
	s->utf8_txn = path.utf8;
	sink_env_line(s, "X-Sink-Mail: ", line, len);
	if (path.alen)
		sink_env_line(s, "X-Sink-From: ", path.addr, path.alen);
	else
		sink_env_line(s, "X-Sink-From: ", "<>", 2);
	if (sink.out_dir != NULL && s->tls_up && sink_tls_headers(s) < 0)
		s->store_failed = 1;
	s->has_mail = 1;
	SINK_REPLY(s, "250 2.1.0 Ok\r\n");
}

static void sink_cmd_rcpt(struct sink_session *s, const char *line,
			  size_t len)
{
	char reply[SINK_CHECK_REPLY];
	struct sink_ext ext;
	struct sink_path path;
	const char *addr;
	size_t alen;

	if (!s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	sink_ext_of(s, &ext);
	if (len < 5 || sink_check_rcpt(&ext, s->utf8_txn, line + 5, len - 5, &path,
				       reply) < 0) {
		if (len < 5)
			snprintf(reply, sizeof(reply), "501 5.5.4 Syntax: RCPT TO:<address>\r\n");
		sink_refuse(s, line, len, reply);
		return;
	}
	addr = path.addr;
	alen = path.alen;
	if (s->nrcpt >= SINK_RCPT_MAX) {
		SINK_REPLY(s, "452 4.5.3 Error: too many recipients\r\n");
		return;
	}
	if (sink_match(&sink.tempfail, addr, alen)) {
		SINK_REPLY(s, "451 4.2.0 tempfail for test\r\n");
		return;
	}
	if (sink_match(&sink.unknown, addr, alen)) {
		SINK_REPLY(s, "550 5.1.1 <");
		sink_reply(s, addr, alen < SINK_ADDR_SHOW ? alen : SINK_ADDR_SHOW);
		SINK_REPLY(s, ">: user unknown\r\n");
		return;
	}
	if (sink_match(&sink.reject, addr, alen))
		s->reject_hit = 1;
	sink_env_line(s, "X-Sink-Rcpt: ", line, len);
	sink_env_line(s, "X-Sink-To: ", addr, alen);
	s->nrcpt++;
	SINK_REPLY(s, "250 2.1.5 Ok\r\n");
}

static void sink_cmd_data(struct sink_session *s, const char *line, size_t len)
{
	if (s->bdat_txn) {	/* RFC 3030 s. 3: not in one transaction */
		sink_refuse(s, line, len, "503 5.5.1 Error: DATA after BDAT\r\n");
		return;
	}
	if (!s->has_mail) {
		SINK_REPLY(s, "503 5.5.1 Error: need MAIL command\r\n");
		return;
	}
	if (s->nrcpt == 0) {
		SINK_REPLY(s, "554 5.5.1 Error: no valid recipients\r\n");
		return;
	}
	s->in_data = 1;
	s->data_bol = 1;
	s->msg.len = 0;
	SINK_REPLY(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
}

/* The terminating dot (or the last BDAT chunk, chunked) arrived: answer
 * the transaction. */
static void sink_data_end(struct sink_session *s, int chunked)
{
	char buf[64], *p;
	unsigned long long seq;

	if (s->reject_hit) {
		SINK_REPLY(s, "554 5.6.0 rejected\r\n");
	} else if (s->too_big) {
		SINK_REPLY(s, "552 5.3.4 Error: message too big\r\n");
	} else if (s->store_failed) {
		SINK_REPLY(s, "451 4.3.0 Error: cannot store message\r\n");
	} else {
		seq = ++sink.msg_seq;
		if (sink.out_dir != NULL && sink_store(s, seq) < 0) {
			SINK_REPLY(s, "451 4.3.0 Error: cannot store message\r\n");
		} else {
			p = buf;
			memcpy(p, "250 2.0.0 Ok: queued as S", 25);
			p = sink_u64(p + 25, seq);
			*p++ = '\r';
			*p++ = '\n';
			sink_reply(s, buf, (size_t)(p - buf));
			sink.messages++;
			sink.bdat += chunked != 0;
			sink.recipients += s->nrcpt;
			sink_count_changed();
		}
	}
	sink_txn_reset(s);
}

/* A BDAT chunk has been read: its reply; after the last one the
 * message's (or the refusal's: the transaction is over either way). */
static void sink_bdat_end(struct sink_session *s)
{
	char buf[64], *p;

	s->in_bdat = 0;
	if (s->bdat_refuse != NULL) {
		sink_reply(s, s->bdat_refuse, strlen(s->bdat_refuse));
		if (s->bdat_last)
			sink_txn_reset(s);
		return;
	}
	if (s->bdat_last) {
		sink_data_end(s, 1);
		return;
	}
	p = buf;
	memcpy(p, "250 2.0.0 Ok: ", 14);
	p = sink_u64(p + 14, s->bdat_size);
	memcpy(p, " bytes\r\n", 8);
	sink_reply(s, buf, (size_t)(p + 8 - buf));
}

/*
 * BDAT <size> [LAST] (RFC 3030), offered unless --no-chunking. The size
 * bytes after the line are read whatever the answer (sink_parse), raw,
 * and the reply waits until they are in: 503 without MAIL, 554 without
 * an accepted recipient (Postfix's words), else 250 with the chunk's
 * size, or after LAST the message's reply. A line that cannot be read,
 * or BDAT where it was not offered, leaves no way to tell where the
 * chunk ends: 501 (502) and the connection is closed.
 */
static void sink_cmd_bdat(struct sink_session *s, const char *line, size_t len)
{
	unsigned long long size = 0;
	size_t i = 5;
	unsigned d;

	if (!s->ehlo || sink.no_chunking || sink.refuse_bdat) {
		sink_refuse(s, line, len, "502 5.5.1 Error: command not implemented\r\n");
		s->quit = 1;
		return;
	}
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++) {
		d = (unsigned)(line[i] - '0');
		if (size > (~0ull - d) / 10)
			break;		/* too large: refused below */
		size = size * 10 + d;
	}
	if (i == 5 || i > len ||
	    (i < len && (len - i != 5 || strncasecmp(line + i, " LAST", 5) != 0))) {
		sink_refuse(s, line, len, "501 5.5.4 Syntax: BDAT count [LAST]\r\n");
		s->quit = 1;
		return;
	}
	s->in_bdat = 1;
	s->bdat_left = s->bdat_size = size;
	s->bdat_last = i < len;
	s->bdat_refuse = NULL;
	if (!s->has_mail)
		s->bdat_refuse = "503 5.5.1 Error: need MAIL command\r\n";
	else if (s->nrcpt == 0)
		s->bdat_refuse = "554 5.5.1 Error: no valid recipients\r\n";
	if (s->bdat_refuse == NULL)
		s->bdat_txn = 1;
	if (size == 0)		/* nothing to wait for */
		sink_bdat_end(s);
}

/* Take BDAT chunk bytes from p[0..n): the message's (sink_data_emit, which
 * also enforces the size limit as for DATA), or dropped after a refusal.
 * Returns the bytes used. */
static size_t sink_bdat_scan(struct sink_session *s, const char *p, size_t n)
{
	size_t used = n < s->bdat_left ? n : (size_t)s->bdat_left;

	if (s->bdat_refuse == NULL)
		sink_data_emit(s, p, used);
	s->bdat_left -= used;
	return used;
}

/*
 * A command that may not be followed by another before its reply: every
 * one when PIPELINING was not advertised, and with it those RFC 2920
 * s. 3.1 and RFC 3207 s. 4.2 put last in a group.
 */
static int sink_group_ends(const struct sink_session *s, const char *line,
			   size_t len)
{
	static const char *const last[] = { "EHLO", "HELO", "DATA", "QUIT", "NOOP",
					    "STARTTLS", "VRFY", "EXPN" };
	size_t i, n;

	if (!s->ehlo || sink.helo_only)
		return 1;
	for (i = 0; i < sizeof(last) / sizeof(last[0]); i++) {
		n = strlen(last[i]);
		if (len >= n && strncasecmp(line, last[i], n) == 0 &&
		    (len == n || line[n] == ' '))
			return 1;
	}
	return 0;
}

/* One command line, CRLF stripped. */
static void sink_command(struct sink_session *s, const char *line,
			 size_t len)
{
	if (len >= 8 && strncasecmp(line, "STARTTLS", 8) == 0 &&
	    (len == 8 || line[8] == ' ')) {
		sink_cmd_starttls(s, len > 8);
		return;
	}
	if (len < 4 || (len > 4 && line[4] != ' ')) {
		SINK_REPLY(s, "500 5.5.2 Error: command not recognized\r\n");
		return;
	}
	if (strncasecmp(line, "MAIL", 4) == 0)
		sink_cmd_mail(s, line, len);
	else if (strncasecmp(line, "RCPT", 4) == 0)
		sink_cmd_rcpt(s, line, len);
	else if (strncasecmp(line, "BDAT", 4) == 0)
		sink_cmd_bdat(s, line, len);
	else if (strncasecmp(line, "DATA", 4) == 0)
		sink_cmd_data(s, line, len);
	else if (strncasecmp(line, "EHLO", 4) == 0)
		sink_cmd_helo(s, 1, line, len);
	else if (strncasecmp(line, "HELO", 4) == 0)
		sink_cmd_helo(s, 0, line, len);
	else if (strncasecmp(line, "RSET", 4) == 0) {
		sink_txn_reset(s);
		SINK_REPLY(s, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "NOOP", 4) == 0) {
		SINK_REPLY(s, "250 2.0.0 Ok\r\n");
	} else if (strncasecmp(line, "QUIT", 4) == 0) {
		SINK_REPLY(s, "221 2.0.0 Bye\r\n");
		s->quit = 1;
	} else {
		SINK_REPLY(s, "500 5.5.2 Error: command not recognized\r\n");
	}
}

/* Scan DATA payload in p[0..n): unstuff dots and find the terminating
 * line. Returns bytes consumed; *done is set when the end was consumed.
 * Leaves at most two bytes unconsumed when a line starting with '.' is
 * split across reads. Bare LF line ends are accepted. */
static size_t sink_data_scan(struct sink_session *s, const char *p, size_t n,
			     int *done)
{
	const char *start = p, *end = p + n, *nl, *seg;

	*done = 0;
	while (p < end) {
		if (s->data_bol && *p == '.') {
			if (end - p < 2)
				break;
			if (p[1] == '\n') {
				p += 2;
				*done = 1;
				break;
			}
			if (p[1] == '\r') {
				if (end - p < 3)
					break;
				if (p[2] == '\n') {
					p += 3;
					*done = 1;
					break;
				}
			}
			p++;	/* a stuffed dot */
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		seg = nl ? nl + 1 : end;
		sink_data_emit(s, p, (size_t)(seg - p));
		s->data_bol = nl != NULL;
		p = seg;
	}
	return (size_t)(p - start);
}

/* Parse as much input as the reply buffer allows, answering into out[];
 * compacts in[] afterwards. May close s (close-after=) or mark it
 * quitting. */
static void sink_parse(struct sink_session *s)
{
	char *p, *end, *nl;
	size_t len, used;
	int done, bare_lf;

	if (sink.mode == SINK_MODE_BLACKHOLE) {
		s->in_off = s->in_len = 0;
		return;
	}
	while (!s->quit && !s->conn.closing && s->in_off < s->in_len &&
	       !(s->tls_rx && !s->tls_up) &&
	       SINK_OUT_CAP - s->out_len >= SINK_OUT_LOW) {
		p = s->in + s->in_off;
		end = s->in + s->in_len;
		if (s->in_bdat) {
			used = sink_bdat_scan(s, p, (size_t)(end - p));
			s->in_off += used;
			s->data_bytes += used;
			if (used > 0 && sink_fault_cut(s)) {
				sink_close(s, 1);
				return;
			}
			if (s->bdat_left > 0)
				break;
			sink_bdat_end(s);
			continue;
		}
		if (s->in_data) {
			used = sink_data_scan(s, p, (size_t)(end - p), &done);
			s->in_off += used;
			s->data_bytes += used;
			if (used > 0 && sink_fault_cut(s)) {
				sink_close(s, 1);
				return;
			}
			if (!done)
				break;
			sink_data_end(s, 0);
			continue;
		}
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL) {
			if ((size_t)(end - p) > SINK_LINE_MAX + 1) {
				/* Too long already: drop it, answer at its end. */
				s->discard = 1;
				s->in_off = s->in_len;
			}
			break;
		}
		s->in_off += (size_t)(nl + 1 - p);
		if (s->discard) {
			s->discard = 0;
			SINK_REPLY(s, "500 5.5.2 Error: line too long\r\n");
			continue;
		}
		len = (size_t)(nl - p);
		bare_lf = len == 0 || p[len - 1] != '\r';
		if (!bare_lf)
			len--;
		if (len > SINK_LINE_MAX) {
			SINK_REPLY(s, "500 5.5.2 Error: line too long\r\n");
			continue;
		}
		/* Strict like real servers: a line must end in CRLF and hold
		 * no control byte (a CR inside ends the line for some). */
		if (bare_lf) {
			sink_refuse(s, p, len, "500 5.5.2 Error: bare <LF> received\r\n");
			continue;
		}
		if (sink_check_ctl(p, len) < 0) {
			sink_refuse(s, p, len, "500 5.5.2 Error: bad character in command\r\n");
			continue;
		}
		/* Input already behind a command that must wait for its
		 * reply: the client did not wait (Postfix's
		 * smtpd_forbid_unauth_pipelining answer). */
		if (s->in_off < s->in_len && sink_group_ends(s, p, len)) {
			sink_refuse(s, p, len,
				    "554 5.5.0 Error: SMTP protocol synchronization\r\n");
			s->quit = 1;
			continue;
		}
		sink_command(s, p, len);
	}
	if (s->in_off == s->in_len) {
		s->in_off = s->in_len = 0;
	} else if (s->in_off > 0) {
		memmove(s->in, s->in + s->in_off, s->in_len - s->in_off);
		s->in_len -= s->in_off;
		s->in_off = 0;
	}
}

const struct sink_proto_ops sink_smtp_ops = {
	.parse = sink_parse,
};
