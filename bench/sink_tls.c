/*
 * sink_tls.c - STARTTLS in sluice-sink (RFC 3207): the command, the
 * handshake, and decrypting into the parser's in[].
 *
 * tls/ works over memory buffers, so the ring still does all socket I/O.
 * Once STARTTLS is accepted, unparsed plaintext is thrown away and every
 * byte received after it is ciphertext: recv lands in the session's tin[]
 * buffer and goes to tls_feed; sink_tls_in fills in[] with plaintext for
 * the same parser. Replies are still batched in out[], then encrypted as a
 * whole with tls_write and sent from tls_out_ptr (pinned until the send
 * completes: see tls/tls.h) by sink_io.c. The SMTP state resets when the
 * handshake completes, and a new EHLO is required. Fault options: a
 * refused STARTTLS (--starttls-reply), none offered (--mode no-starttls),
 * a held 220 (--starttls-delay, timed in sink_fault.c).
 */
#include "bench/sink_tls.h"

#include "bench/sink_state.h"
#include "bench/sink_io.h"
#include "bench/sink_smtp.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* STARTTLS is listed in EHLO replies (and answered) at all. */
int sink_starttls_offered(void)
{
	return !sink.no_starttls && (sink.tls_ctx != NULL || sink.starttls_reply != 0);
}

/* STARTTLS (RFC 3207): answer 220, then everything after is TLS. */
void sink_cmd_starttls(struct sink_session *s, int has_args)
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
	if (s->tin == NULL)
		s->tin = malloc(SINK_TLS_IN);
	if (s->tin != NULL && s->tls == NULL)
		s->tls = tls_conn_new(sink.tls_ctx, true, NULL);
	if (s->tin == NULL || s->tls == NULL) {
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

/* Ciphertext output not yet sent (0 before TLS output starts). */
size_t sink_tls_pending(const struct sink_session *s)
{
	return s->tls_tx ? tls_out_pending(s->tls) : 0;
}

/* Run the handshake; once it is done, decrypt into in[] while there is
 * room. Returns plaintext bytes added to in[], or -1 if the session is
 * closing or quitting because of it. */
long sink_tls_in(struct sink_session *s)
{
	char detail[TLS_DETAIL_MAX];
	long n, got = 0;
	int rc;

	if (s->tls_dead)
		return -1;
	if (!s->tls_up) {
		rc = tls_handshake(s->tls);
		if (rc == 0) {
			s->tls_want = 1;
			return 0;
		}
		if (rc < 0) {
			tls_failure(s->tls, detail, sizeof(detail));
			fprintf(stderr, "sluice-sink: STARTTLS: %s\n",
				detail);
			/* Send the alert wolfSSL queued, then close. */
			s->tls_dead = 1;
			s->quit = 1;
			return -1;
		}
		/* A fresh session (RFC 3207 s. 4.2): forget what came before. */
		s->tls_up = 1;
		s->helo_ok = 0;
		s->ehlo = 0;
		sink_txn_reset(s);
	}
	/* Input wanted only once wolfSSL has used up what it was fed; while
	 * in[] is full, records wait there and recv pauses. */
	s->tls_want = 0;
	while (s->in_len < SINK_IN_CAP) {
		n = tls_read(s->tls, s->in + s->in_len, SINK_IN_CAP - s->in_len);
		if (n > 0) {
			s->in_len += (size_t)n;
			got += n;
			continue;
		}
		if (n == 0) {
			s->tls_want = 1;
			break;
		}
		if (n == -ESHUTDOWN || n == -ECONNRESET) {
			/* close_notify (answer it) or a bare EOF: no more input;
			 * answer what was sent, then close. */
			s->eof = 1;
			s->tls_want = 1;	/* nothing more will come */
			if (n == -ESHUTDOWN && !s->tls_bye) {
				s->tls_bye = 1;
				tls_shutdown(s->tls);
			}
			break;
		}
		tls_failure(s->tls, detail, sizeof(detail));
		fprintf(stderr, "sluice-sink: TLS: %s\n", detail);
		sink_close(s, 1);
		return -1;
	}
	return got;
}
