/*
 * sink_tls.c - the TLS side of a sluice-sink session (RFC 3207): its TLS
 * session, the handshake, and decrypting into the parser's in[].
 *
 * tls/ works over memory buffers, so the ring still does all socket I/O.
 * Once STARTTLS is accepted (sink_smtp.c answers the command), unparsed
 * plaintext is thrown away and every byte received after it is
 * ciphertext: recv lands in the session's tin[] buffer and goes to
 * tls_feed; sink_tls_in fills in[] with plaintext for the same parser.
 * Replies are still batched in out[], then encrypted as a whole with
 * tls_write and sent from tls_out_ptr (pinned until the send completes:
 * see tls/tls.h) by sink_io.c. The SMTP state was reset when STARTTLS was
 * accepted, and nothing is parsed until the handshake is done, so the
 * client starts afresh with EHLO (RFC 3207 s. 4.2).
 *
 * Below the I/O layer: sink_io.c calls it, and it calls nothing of the
 * sink above the state; a failure it cannot answer is returned to the
 * caller to act on.
 * May call: sink_state.c, tls/.
 */
#include "bench/sink_tls.h"

#include "bench/sink_state.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

/* STARTTLS accepted: the ciphertext buffer (kept for the session's later
 * connections) and the server TLS session. */
int sink_tls_start(struct sink_session *s)
{
	if (s->tin == NULL)
		s->tin = malloc(SINK_TLS_IN);
	if (s->tin != NULL && s->tls == NULL)
		s->tls = tls_conn_new(sink.tls_ctx, true, NULL);
	return s->tin != NULL && s->tls != NULL ? 0 : -ENOMEM;
}

/* Ciphertext output not yet sent (0 before TLS output starts). */
size_t sink_tls_pending(const struct sink_session *s)
{
	return s->tls_tx ? tls_out_pending(s->tls) : 0;
}

/* Run the handshake; once it is done, decrypt into in[] while there is
 * room. Returns plaintext bytes added to in[], -EPROTO (quitting after
 * a failed handshake) or -ECONNRESET (reset it). */
long sink_tls_in(struct sink_session *s)
{
	char detail[TLS_DETAIL_MAX];
	long n, got = 0;
	int rc;

	if (s->tls_dead)
		return -EPROTO;
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
			return -EPROTO;
		}
		/* A fresh session (RFC 3207 s. 4.2): its SMTP state was reset
		 * when STARTTLS was accepted, and nothing was parsed since. */
		s->tls_up = 1;
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
		return -ECONNRESET;
	}
	return got;
}
