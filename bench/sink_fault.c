/*
 * sink_fault.c - the ways sluice-sink misbehaves on purpose (--mode), and
 * the reply delays.
 *
 * A mode is one of: accept (a well-behaved server); blackhole (accept the
 * TCP connection, never say a word); banner=CODE (greet with CODE and
 * close); ehlo=CODE (answer EHLO and HELO with CODE, so MAIL gets 503);
 * close-after=N (reset the connection once N bytes of DATA payload, or of
 * BDAT chunks, have come); slow=MS (hold every reply batch MS milliseconds). no-starttls is
 * a flag beside the mode. This file parses them and owns the greeting,
 * the cut and the delays; the one-line checks for blackhole (sink_smtp.c
 * reads nothing), ehlo= and no-starttls sit where the protocol decides.
 * --starttls-delay (hold the 220 to STARTTLS) is timed here too.
 *
 * No I/O: the functions fill out[] or the session's delay, and the caller
 * acts (sink_io.c arms the timer, sink_smtp.c closes the connection).
 * Below the I/O layer, which calls it, as the dialogue does.
 * May call: sink_state.c, bench/bench_common.c.
 */
#include "bench/sink_fault.h"

#include "bench/sink_state.h"

#include <errno.h>
#include <string.h>

int sink_parse_code(const char *s, int *code)
{
	unsigned long long v;

	if (bench_parse_ull(s, 400, 599, &v) < 0)
		return -EINVAL;
	*code = (int)v;
	return 0;
}

int sink_parse_mode(const char *arg)
{
	unsigned long long v;

	if (strcmp(arg, "no-starttls") == 0) {
		sink.no_starttls = 1;	/* a flag: keeps the other mode */
	} else if (strcmp(arg, "accept") == 0) {
		sink.mode = SINK_MODE_ACCEPT;
	} else if (strcmp(arg, "blackhole") == 0) {
		sink.mode = SINK_MODE_BLACKHOLE;
	} else if (strncmp(arg, "banner=", 7) == 0) {
		sink.mode = SINK_MODE_BANNER;
		return sink_parse_code(arg + 7, &sink.mode_code);
	} else if (strncmp(arg, "ehlo=", 5) == 0) {
		sink.mode = SINK_MODE_EHLO;
		return sink_parse_code(arg + 5, &sink.mode_code);
	} else if (strncmp(arg, "close-after=", 12) == 0) {
		sink.mode = SINK_MODE_CLOSE_AFTER;
		return bench_parse_ull(arg + 12, 0, ~0ull, &sink.close_after);
	} else if (strncmp(arg, "slow=", 5) == 0) {
		sink.mode = SINK_MODE_SLOW;
		if (bench_parse_ull(arg + 5, 0, 86400000, &v) < 0)
			return -EINVAL;
		sink.slow_ms = (unsigned)v;
	} else {
		return -EINVAL;
	}
	return 0;
}

/* Whether the reply batch in out[] waits first (slow=, or the STARTTLS
 * 220 under --starttls-delay); sets the delay the timer will read. */
int sink_batch_delayed(struct sink_session *s)
{
	unsigned ms;

	if (s->tls_rx && !s->tls_tx && sink.starttls_delay_ms > 0)
		ms = sink.starttls_delay_ms;
	else if (sink.mode == SINK_MODE_SLOW)
		ms = sink.slow_ms;
	else
		return 0;
	s->delay.tv_sec = ms / 1000;
	s->delay.tv_nsec = (long long)(ms % 1000) * 1000000;
	return 1;
}

void sink_fault_greet(struct sink_session *s)
{
	switch (sink.mode) {
	case SINK_MODE_BLACKHOLE:
		break;
	case SINK_MODE_BANNER:
		sink_reply_code(s, sink.mode_code, "3.2 sink busy");
		s->quit = 1;
		break;
	default:
		SINK_REPLY(s, "220 " SINK_HOSTNAME " ESMTP sluice-sink\r\n");
		break;
	}
}

int sink_fault_cut(const struct sink_session *s)
{
	return sink.mode == SINK_MODE_CLOSE_AFTER && s->data_bytes >= sink.close_after;
}
