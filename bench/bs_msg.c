/*
 * bs_msg.c - what sluice-bench sends: the envelope block and the message,
 * built once at start and sent by every session from these read-only
 * buffers (no copy per message unless TLS encrypts it).
 *
 * The envelope is MAIL, -r RCPTs (rcpt+K@domain when there are several)
 * and DATA as one block, with line offsets so lock-step sessions send the
 * lines one by one. The message is a few headers, then ~76-character
 * filler lines up to -s bytes, the first starting with a dot so that every
 * run checks dot-stuffing; it is stored stuffed, with the final ".".
 * May call: bs_state.c, core/strb.h.
 */
#include "bench/bs_msg.h"

#include "bench/bs_state.h"
#include "core/strb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS_LINE_WIDTH	76			/* filler line length, CRLF excluded */

/* The envelope: MAIL, r RCPTs, DATA, as one block with line offsets so
 * lock-step mode can send the lines one by one. */
int bs_build_cmds(void)
{
	const char *at = strchr(bench.to, '@');
	size_t cap, n = 0;
	unsigned k;
	int w;

	cap = strlen(bench.from) + 16 + (strlen(bench.to) + 32) * bench.rcpts + 8;
	bench.cmds = malloc(cap);
	bench.line_off = calloc(bench.rcpts + 3, sizeof(size_t));
	if (bench.cmds == NULL || bench.line_off == NULL)
		return -ENOMEM;
	w = snprintf(bench.cmds, cap, "MAIL FROM:<%s>\r\n", bench.from);
	n = (size_t)w;
	for (k = 1; k <= bench.rcpts; k++) {
		bench.line_off[k] = n;
		if (bench.rcpts == 1)
			w = snprintf(bench.cmds + n, cap - n, "RCPT TO:<%s>\r\n",
				     bench.to);
		else if (at != NULL)
			w = snprintf(bench.cmds + n, cap - n, "RCPT TO:<%.*s+%u%s>\r\n",
				     (int)(at - bench.to), bench.to, k, at);
		else
			w = snprintf(bench.cmds + n, cap - n, "RCPT TO:<%s+%u>\r\n",
				     bench.to, k);
		n += (size_t)w;
	}
	bench.line_off[bench.rcpts + 1] = n;
	memcpy(bench.cmds + n, "DATA\r\n", 6);
	n += 6;
	bench.line_off[bench.rcpts + 2] = n;
	bench.cmds_len = n;
	return 0;
}

/* The message: headers, then ~76-char filler lines up to -s bytes, then
 * dot-stuffed with the terminating ".\r\n". Built once, sent by everyone. */
int bs_build_body(void)
{
	static const char dotline[] =
		".sluice-bench: this line starts with a dot (dot-stuffing check)";
	char date[64], *raw, *p, *out;
	size_t cap, n, remain, take, i, lines = 0;
	unsigned long long line_no = 0;
	time_t now = time(NULL);
	struct tm tm;
	int w;

	localtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	cap = bench.size + strlen(bench.from) + strlen(bench.to) + 512;
	raw = malloc(cap);
	if (raw == NULL)
		return -ENOMEM;
	w = snprintf(raw, cap,
		     "From: <%s>\r\nTo: <%s>\r\nSubject: sluice-bench test message\r\n"
		     "Message-ID: <%lld.%d@bench.test>\r\nDate: %s\r\n\r\n",
		     bench.from, bench.to, (long long)now, (int)getpid(), date);
	n = (size_t)w;
	remain = bench.size > n ? bench.size - n : 0;
	while (remain >= 2) {
		take = remain - 2 > BS_LINE_WIDTH ? BS_LINE_WIDTH : remain - 2;
		if (remain - take - 2 == 1 && take > 0)
			take--;
		if (line_no == 0 && take >= sizeof(dotline) - 1) {
			memcpy(raw + n, dotline, sizeof(dotline) - 1);
			i = sizeof(dotline) - 1;
		} else {
			/* the line number, cut to the line's width */
			struct strb sb;
			strb_init(&sb, raw + n, take + 1);
			strb_printf(&sb, "line %06llu ", line_no);
			i = sb.len;
		}
		for (; i < take; i++)
			raw[n + i] = (char)('A' + (i + line_no) % 26);
		n += take;
		raw[n++] = '\r';
		raw[n++] = '\n';
		remain -= take + 2;
		line_no++;
	}
	/* Stuff: one extra '.' per line starting with '.'. */
	for (i = 0; i < n; i++)
		if (raw[i] == '.' && (i == 0 || raw[i - 1] == '\n'))
			lines++;
	out = malloc(n + lines + 8);
	if (out == NULL) {
		free(raw);
		return -ENOMEM;
	}
	p = out;
	for (i = 0; i < n; i++) {
		if (raw[i] == '.' && (i == 0 || raw[i - 1] == '\n'))
			*p++ = '.';
		*p++ = raw[i];
	}
	if (p == out || p[-1] != '\n') {
		*p++ = '\r';
		*p++ = '\n';
	}
	memcpy(p, ".\r\n", 3);
	p += 3;
	bench.body = out;
	bench.body_len = (size_t)(p - out);
	free(raw);
	return 0;
}
