/*
 * sink_io.h - a sluice-sink session's life on the ring (sink_io.c): start
 * it on an accepted socket, move it on, close it.
 *
 * Main thread only. A session is owned by sink_io.c from start to free;
 * other files act on it only through these calls and the fields of
 * struct sink_session (bench/sink_state.h). The I/O layer calls the
 * dialogue above it only through the struct sink_proto_ops it is handed
 * when a session starts.
 */
#ifndef BENCH_SINK_IO_H
#define BENCH_SINK_IO_H

struct sink_session;

/* What a session's I/O calls up into: the dialogue over its bytes. */
struct sink_proto_ops {
	/* Read s->in[] (and DATA payload) while out[] has room for a reply,
	 * answering each command into out[], and compact in[]. Called only
	 * while no reply batch is out. May close s or mark it quitting. */
	void (*parse)(struct sink_session *s);
};

/* Start a session on accepted socket fd with proto for its dialogue
 * (static storage): greet (or not, by --mode) and post the first recv.
 * Takes fd; closes it if no session can be had. */
void sink_session_start(int fd, const struct sink_proto_ops *proto);

/* Move s on: parse if no reply batch is out, then send or delay the
 * replies, and keep a recv posted while in[] has room. Safe to call at
 * any time; does nothing once s is closing. */
void sink_pump(struct sink_session *s);

/* Start closing s: cancel its ops, free it when the last has completed
 * (at once if none is in flight). abort_conn: RST instead of FIN. s may
 * be gone when this returns unless called from one of s's callbacks. */
void sink_close(struct sink_session *s, int abort_conn);

#endif
