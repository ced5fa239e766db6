/*
 * spool — the durable store: per-worker append-only segment files of
 * sealed records, written by group commit through the worker's ring, and
 * one body file per message too large to keep in memory.
 *
 * Layout: <root>/spool.key (the spool's secret, mode 0600), and per worker
 * <root>/w<N>/<seq>.seg, seq in 8 hex digits, plus <root>/w<N>/body/<id>,
 * id in 16 hex digits.  A record is a 48-byte header (magic, type, flags,
 * payload length, segment, queue id, aux, payload tag, header tag) and its
 * payload.  A MSG record's payload is the encoded envelope (aux = its
 * length) followed by the message as it will be delivered (Received:
 * header first) or, with SPOOL_REC_F_BODY, by a struct spool_body_ref that
 * names the size and CRC32C of the body file holding it.
 *
 * Sealing: the payload tag is SipHash-2-4 of the payload under one half of
 * the key, the header tag SipHash-2-4 of the header (tags excluded, payload
 * tag included) and of the record's offset under the other half.  Records
 * are sealed by spool_flush when their place is known, so a record is valid
 * only where the spool wrote it.  A client chooses the bytes of a payload
 * but never sees the key: nothing it sends can be taken for a record, even
 * by recovery scanning a damaged segment for the next header.
 *
 * Group commit: records handed to spool_append during one loop turn are
 * written by spool_flush with one writev and one fdatasync linked behind
 * it; every writer's callback runs after the sync completes (res 0) or
 * failed (res < 0; nothing of that batch is kept).  While one batch is in
 * flight the next one collects, so batches grow with load.
 *
 * Crash invariant: a MSG record is synced before its 250, and a body file
 * (data and directory entry) is synced before the MSG record that names it
 * is written.  A segment is unlinked when no live message remains in it and
 * every older segment of the directory is gone, so the DONE records a
 * segment holds never vanish before the messages they retire; a body file
 * is unlinked only after its message's DONE is synced.
 *
 * Thread: a struct spool belongs to one worker and is used only by it
 * (recovery runs in that worker before it serves).  spool_key_load may run
 * in several workers at once.
 */
#ifndef SLUICE_QUEUE_SPOOL_H
#define SLUICE_QUEUE_SPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/buf.h"
#include "core/ring.h"
#include "queue/envelope.h"

#define SPOOL_MAGIC 0x324c4353u		/* "SCL2" on disk: sealed records */
#define SPOOL_MAGIC_V1 0x314c4353u	/* "SCL1": the unsealed format before */
#define SPOOL_HDR_SIZE 48
#define SPOOL_KEY_SIZE 32		/* two SipHash keys: header, payload */
#define SPOOL_KEY_FILE "spool.key"

enum spool_rec_type {
	SPOOL_REC_MSG = 1,	/* a message: envelope + data (or body ref) */
	SPOOL_REC_RCPT = 2,	/* aux = rcpt index << 8 | env_rcpt_state */
	SPOOL_REC_DONE = 3,	/* the message is finished, forget it */
	SPOOL_REC_TRIED = 4,	/* aux = failed attempts so far of the
				   recipients whose uint32_t indices are the
				   payload (so a restart counts on) */
};

#define SPOOL_REC_F_BODY 0x01	/* MSG: the data is in body/<id> */

struct spool_rec_hdr {
	uint32_t magic;		/* SPOOL_MAGIC */
	uint8_t type;		/* enum spool_rec_type */
	uint8_t flags;		/* SPOOL_REC_F_* */
	uint16_t pad;		/* zero */
	uint32_t len;		/* payload bytes after the header */
	uint32_t seg;		/* segment written to (set when sealed) */
	uint64_t id;		/* queue id */
	uint64_t aux;		/* type-specific, see enum spool_rec_type */
	uint64_t sum;		/* payload tag (set when sealed) */
	uint64_t mac;		/* header tag, binds the offset (set when sealed) */
};

/* What a MSG record with SPOOL_REC_F_BODY holds after its envelope. */
struct spool_body_ref {
	uint64_t size;		/* bytes in the body file */
	uint32_t crc;		/* their CRC32C (checked when read) */
	uint32_t pad;		/* zero */
};

/* Where a record landed: its segment and offset. */
struct spool_loc {
	uint32_t seg;		/* segment sequence number */
	uint32_t len;		/* record length incl. header */
	uint64_t off;		/* offset of the header in the segment */
	uint64_t size;		/* MSG: bytes of message data (inline or body) */
	bool body;		/* MSG: the data is in a body file */
};

/* One record waiting for group commit; embedded in its writer. */
struct spool_write {
	struct iovec iov;	/* the whole record; caller keeps it valid
				   (spool_flush seals its header in place) */
	void (*cb)(struct spool_write *w, int res);	/* after sync */
	struct spool_write *next;	/* private: batch list */
	struct spool_loc loc;	/* filled in before cb runs */
};

struct spool;

/* Results of recovery, for the log and for tests. */
struct spool_recovery {
	uint64_t segments;	/* segment files read */
	uint64_t records;	/* valid records seen */
	uint64_t messages;	/* live messages handed to the callback (all
				   counted before the first is handed) */
	uint64_t bad_records;	/* damaged or unauthentic records skipped */
	uint64_t torn_bytes;	/* bytes cut from a torn tail */
	uint64_t deleted;	/* empty segments unlinked */
	uint64_t orphans;	/* body files of no live message unlinked */
	uint64_t lost_bodies;	/* live messages whose body file is missing */
};

/*
 * Called once per live message found by recovery.  env is heap memory the
 * callee now owns (free()); loc says where the MSG record sits.
 */
typedef void (*spool_recover_cb)(void *arg, struct envelope *env,
				 const struct spool_loc *loc);

/*
 * Load the key of the spool at root into key, creating it (random, mode
 * 0600, synced, published atomically so concurrent callers agree) when
 * there is none.  Refuses to create one beside existing segments: they
 * were sealed with a lost key or written in the unsealed format.  Returns
 * 0 or -errno with a message in err.  Any thread.
 */
int spool_key_load(const char *root, uint8_t key[SPOOL_KEY_SIZE], char *err, size_t errlen);

/*
 * Seal the complete record at rec (header and payload) for segment seq at
 * offset off.  spool_flush does this; exported for tools that write
 * segments themselves (bench/spoolgen.c, the fuzz target).
 */
void spool_rec_seal(const uint8_t key[SPOOL_KEY_SIZE], void *rec, uint32_t seq, uint64_t off);

/*
 * Open (creating if needed) <root>/w<worker>, recover what it holds through
 * cb, then start a fresh segment.  Returns 0 or -errno with a message in
 * err.  Runs on the owning worker's thread.
 */
int spool_open(struct spool **out, const char *root, unsigned worker,
	       uint64_t segment_size, spool_recover_cb cb, void *arg,
	       struct spool_recovery *stats, char *err, size_t errlen);

/* Close files and free.  No write may be in flight. */
void spool_close(struct spool *sp);

/*
 * A new queue id, unique across workers and restarts, and across the nodes
 * of a cluster that gave each node its own number (time-ordered): the UNIX
 * second in the high 32 bits, then the node's number (8 bits), the worker
 * (8 bits) and a counter (16 bits); a worker that hands out more than
 * 65,536 ids in a second goes on in the next second's ids.
 */
uint64_t spool_new_id(struct spool *sp);

/* The node's number (0..255, cluster: number) in the ids from now on.
 * Main thread, before the workers start. */
void spool_id_node(unsigned node);

/* Start a record in b: appends a header placeholder, returns its offset. */
size_t spool_rec_begin(struct buf *b, enum spool_rec_type type, uint64_t id);

/* Finish the record that starts at b->p + start: length and aux. */
void spool_rec_end(struct buf *b, size_t start, uint64_t aux);

/* Queue w (record bytes in w->iov) for the next group commit. */
void spool_append(struct spool *sp, struct spool_write *w);

/* Seal and issue the pending batch if a flight is free.  Once per loop turn. */
void spool_flush(struct spool *sp, struct io_uring *ring);

/* True while records are queued or in flight. */
bool spool_busy(const struct spool *sp);

/*
 * The message whose MSG record is at loc (queue id id) is finished: its
 * DONE record is synced.  Its segment may go, and its body file goes now.
 */
void spool_release(struct spool *sp, const struct spool_loc *loc, uint64_t id);

/* What the spool holds now, for show info and metrics. */
struct spool_stats {
	uint64_t bytes;		/* segments and body files */
	uint64_t body_bytes;	/* of which body files */
	uint32_t segments;	/* segment files, the current one included */
	uint32_t bodies;	/* body files */
	uint64_t live;		/* messages the segments still hold */
	int64_t oldest;		/* unix s the oldest segment other than the
				   current one was started, 0 if none */
};
void spool_stats(const struct spool *sp, struct spool_stats *st);

/* Bytes in live segments and body files of this worker. */
uint64_t spool_bytes(const struct spool *sp);

/*
 * A MSG record's data (the part after the envelope, or its body file) read
 * a piece at a time, so that no reader ever holds a whole large message:
 * delivery streams it in chunks, an NDR reads only the head it returns.
 * Reads are synchronous pread of the size asked (a delivery chunk, 64 KiB):
 * the data was usually written moments ago and is in the page cache.  A
 * body file is opened once and held until spool_reader_close, so its
 * unlink (after the DONE) cannot pull it away mid-read; inline data is
 * read from its segment, looked up by sequence number on every read (the
 * message being read is live, which keeps its segment).
 */
struct spool_reader {
	int fd;			/* the body file (owned), or -1: inline data */
	uint32_t seg;		/* segment of inline data */
	uint64_t base;		/* offset of the data in its file */
	uint64_t size;		/* bytes of data */
	uint64_t off;		/* bytes read so far */
	uint32_t crc;		/* body file: CRC32C of the bytes read so far */
	uint32_t want;		/* body file: the CRC32C its record names */
	bool checked;		/* body file: read to the end, CRC good */
};

/*
 * Open the data of the MSG record at loc into r.  Returns 0, or -errno
 * (-EIO: there is no MSG record at loc; -ENOENT: no such segment or body
 * file); r needs no close then.
 */
int spool_reader_open(struct spool *sp, const struct spool_loc *loc, struct spool_reader *r);

/*
 * Read the next bytes, at most n, into p.  Returns the bytes read (n or
 * what is left, whichever is less), 0 once everything was read, or -EIO:
 * the data is shorter than its record says, or, on the read that reaches
 * the end of a body file, the file's CRC32C is not the one recorded (then
 * the bytes of that read are not to be used).  A reader that stops before
 * the end (an NDR returning headers) checks no CRC.
 */
long spool_reader_read(struct spool *sp, struct spool_reader *r, void *p, size_t n);

/* Release r (closes the body file).  Safe to repeat, and after a failed
 * spool_reader_open. */
void spool_reader_close(struct spool_reader *r);

/*
 * Read a MSG record's whole data into out (tests and tools; delivery and
 * NDRs use a spool_reader).  Returns 0, or -errno (-EIO when the bytes are
 * not what was written), and then out is as it was.
 */
int spool_read_data(struct spool *sp, const struct spool_loc *loc, struct buf *out);

/* ---- body files: the data of one large message, written as it arrives ---- */

/*
 * A body file being written through the ring.  Embedded in its writer (the
 * SMTP session); cb runs after every completion (a write, the data sync,
 * the directory sync) and may look at the fields marked public.  At most
 * one write is in flight; its bytes belong to the kernel until cb.
 */
struct spool_body {
	void (*cb)(struct spool_body *b);	/* set by the owner */
	int err;			/* public: first error, 0 none */
	bool synced;			/* public: data and name are durable */
	uint8_t inflight;		/* ops in flight (write/sync, dir sync) */
	bool writing;			/* a write or the data sync is out */
	bool dir_synced;		/* the directory entry is durable */
	bool data_synced;		/* the fdatasync completed */
	int fd;				/* the file, -1 when closed */
	struct spool *sp;		/* its spool */
	uint64_t id;			/* message id, names the file */
	uint64_t size;			/* bytes written so far */
	uint64_t want;			/* bytes of the write in flight */
	uint32_t crc;			/* CRC32C of the bytes handed to writes */
	struct op wop;			/* write / fdatasync completion */
	struct op dop;			/* directory fsync completion */
};

/*
 * Create body/<id> and start syncing its directory entry.  b->cb must be
 * set.  Returns 0 or -errno (then nothing is left behind).
 */
int spool_body_open(struct spool *sp, struct spool_body *b, uint64_t id,
		    struct io_uring *ring);

/* Append n bytes at p (kept valid until cb).  No write may be in flight. */
void spool_body_write(struct spool_body *b, struct io_uring *ring, const void *p, size_t n);

/* All data written: fdatasync it; b->synced is set when cb sees it done. */
void spool_body_commit(struct spool_body *b, struct io_uring *ring);

/* True while any op of b is in flight. */
static inline bool
spool_body_busy(const struct spool_body *b)
{
	return b->inflight > 0;
}

/*
 * Make the MSG record starting at rec->p + start refer to the synced body
 * b: appends its struct spool_body_ref and sets SPOOL_REC_F_BODY.  Before
 * spool_rec_end.
 */
void spool_body_ref(const struct spool_body *b, struct buf *rec, size_t start);

/*
 * Close b (nothing in flight).  keep: its MSG record is durable, the spool
 * now counts the file; else the file is unlinked.
 */
void spool_body_close(struct spool_body *b, bool keep);

#endif
