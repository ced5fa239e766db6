/*
 * sink_state.c - sluice-sink's program state: the one struct sink
 * (bench/sink_state.h), and the reply batch of a session (out[]), which
 * the greeting, the fault modes, STARTTLS and the dialogue all write into
 * and sink_io.c sends.
 *
 * The bottom of the program: it calls nothing of the sink, and every
 * other file may use it, so that no file has to call the main file
 * (sluice_sink.c, on top) for the state, nor the dialogue (sink_smtp.c)
 * to say something. No I/O. Main thread only.
 * May call: libc only.
 */
#include "bench/sink_state.h"

#include <stdio.h>
#include <string.h>

struct sink sink;

void sink_reply(struct sink_session *s, const char *text, size_t len)
{
	/* The parser stops while less than SINK_OUT_LOW is free, and no
	 * single reply is longer than that; this is a last guard. */
	if (len > SINK_OUT_CAP - s->out_len)
		len = SINK_OUT_CAP - s->out_len;
	memcpy(s->out + s->out_len, text, len);
	s->out_len += len;
}

void sink_reply_code(struct sink_session *s, int code, const char *rest)
{
	char buf[160];
	int n;

	n = snprintf(buf, sizeof(buf), "%d %d.%s\r\n", code, code / 100, rest);
	if (n > 0)
		sink_reply(s, buf, (size_t)n < sizeof(buf) ? (size_t)n :
			   sizeof(buf) - 1);
}
