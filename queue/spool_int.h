/*
 * spool_int — what the spool's own files share: struct spool, its segments
 * and flights, and the functions each file offers to the files after it in
 * the list below.  Not for other modules: they use queue/spool.h.
 *
 * The files are layers, bottom first: each calls only files earlier in
 * this list (lower layers), never a later one; the first three do not call
 * each other.  This is the intended order; scripts/layers.py checks only
 * that the objects' symbol graph has no cycle, which this order implies:
 *
 *   spool_seal.c   the key (spool.key) and the seal on every record
 *   spool_body.c   body files of spilled messages: written through the
 *                  ring with their CRC-32C, synced, found and swept at
 *                  recovery, unlinked
 *   spool_index.c  recovery's table of live messages (memory only)
 *   spool.c        segments, the group commit, recovery, the collection
 *                  of finished segments
 *   spool_read.c   a message's data read back, from its segment or its
 *                  body file
 *
 * spool_lock.c (queue/spool_lock.h) stands apart: no spool file calls it,
 * the daemon takes the lock before any spool is opened.
 *
 * Everything runs on the owning worker's thread, but for the key, which
 * the first worker to need it makes for all (spool_seal.c).
 */
#ifndef SLUICE_QUEUE_SPOOL_INT_H
#define SLUICE_QUEUE_SPOOL_INT_H

#include "queue/spool.h"

#define SPOOL_MAX_IOV (1024 - 16)	/* records per writev; 16 left for zeros */
/*
 * Flights in flight at once.  A sync costs the disk's flush latency whatever
 * its size, so while one flight waits the next turn's records go out in
 * another instead of queueing behind it: a message waits about one flush.
 */
#define SPOOL_FLIGHTS 2

struct spool_seg {
	uint32_t seq;		/* file name number */
	uint32_t live;		/* messages not yet finished */
	uint32_t flights;	/* flights writing into it: keep it */
	int fd;			/* open for reading (and writing if current) */
	uint64_t size;		/* bytes of records written (or being written) */
	uint64_t filled;	/* file length: records plus zero-filled tail */
	int64_t born;		/* unix s it was started (recovered: mtime) */
};

/* One writev + fdatasync pair in flight. */
struct spool_flight {
	struct spool *sp;		/* owner */
	struct spool_write *head;	/* its records, in file order */
	uint32_t seq;			/* segment written */
	uint64_t off;			/* offset of the first byte */
	uint64_t len;			/* bytes of records */
	uint64_t wlen;			/* bytes written: records and zeros */
	int write_res;			/* result of the writev CQE */
	bool busy;			/* in flight */
	struct op write_op;		/* writev completion */
	struct op sync_op;		/* fdatasync completion */
	struct iovec iov[SPOOL_MAX_IOV + 16];	/* the writev's vector (+ zeros) */
};

struct spool {
	int dirfd;			/* the worker's spool directory */
	int bodyfd;			/* its body/ directory */
	char *dir;			/* its path, for messages */
	unsigned worker;		/* worker index, part of every id */
	uint64_t segsize;		/* rotate when a batch would pass this */
	uint64_t last_id;		/* last id handed out */
	uint8_t key[SPOOL_KEY_SIZE];	/* seals records (spool_seal.c) */

	struct spool_seg *segs;		/* oldest first; last one is current.
					   Entries move when old ones are
					   collected: hold a seq, never a
					   pointer, across anything that may
					   call spool_release */
	size_t nsegs, capsegs;		/* used / allocated entries */
	bool cur_broken;		/* current segment must not be written */

	uint64_t body_bytes;		/* bytes in body files of live messages */
	uint32_t nbodies;		/* their number */

	struct spool_write *batch;	/* collecting: head of list */
	struct spool_write **batch_tail;/* where the next one is linked */
	unsigned nflight;		/* flights busy */
	bool no_zero;			/* the disk refused zeros: stop zero-filling */
	struct io_uring *ring;		/* the worker's ring, for a retried sync */
	struct spool_flight flight[SPOOL_FLIGHTS]; /* concurrent syncs */
};

/* The segment with sequence number seq, or NULL.  The pointer is good only
 * until the next call that may collect segments (spool_release). */
struct spool_seg *spool_seg_find(struct spool *sp, uint32_t seq);

/*
 * Is p (avail bytes up to the end of segment seq, at offset off) a record
 * this spool sealed there?  Fills h.  Returns 0; -EBADMSG when it is not;
 * -EKEYREJECTED when it is shaped like one of ours for this very place but
 * its header tag does not verify (at offset 0: the key is not the one the
 * segment was written with).
 */
int spool_rec_check(const uint8_t key[SPOOL_KEY_SIZE], const uint8_t *p, uint64_t avail,
		    uint32_t seq, uint64_t off, struct spool_rec_hdr *h);

/* Body files (spool_body.c). */
int spool_body_dir_open(struct spool *sp, char *err, size_t errlen);
bool spool_body_present(struct spool *sp, uint64_t id, uint64_t size);

/* A live message's body file of the wrong size: renamed to "ID.damaged",
 * which the sweep leaves alone, for the operator to look at.  Returns
 * true if there was such a file. */
bool spool_body_keep_damaged(struct spool *sp, uint64_t id);
void spool_body_unlink(struct spool *sp, uint64_t id);
/* Open body/<id> for reading: the fd, or -errno. */
int spool_body_open_read(struct spool *sp, uint64_t id);
/* Unlink body files for which live(arg, id) is false; count the others. */
void spool_body_sweep(struct spool *sp, bool (*live)(void *arg, uint64_t id), void *arg,
		      struct spool_recovery *st);

/*
 * Recovery's live messages (spool_index.c): a dense array in the order
 * their MSG records were found, and an open-addressing table of 16-byte
 * slots over it.  Zero-initialise; spool_index_fini frees (also the
 * envelopes still held).
 */
struct spool_index_msg {
	uint64_t id;			/* queue id */
	struct envelope *env;		/* owned; NULL once dropped */
	struct spool_loc loc;		/* where its MSG record is */
};

struct spool_index_slot {
	uint64_t id;			/* 0 = empty, UINT64_MAX = dropped */
	uint32_t idx;			/* its entry in m */
};

struct spool_index {
	struct spool_index_msg *m;	/* the messages added, in order (dropped
					   ones: env NULL until a rehash) */
	size_t n, cap;			/* entries used / allocated */
	struct spool_index_slot *slot;	/* nslots (a power of two) */
	size_t nslots, used;		/* slots, slots not empty (tombs too) */
	size_t live;			/* entries not dropped */
	uint64_t max_id;		/* highest id ever added */
};

/* The live message id, or NULL.  Good until the next spool_index_add. */
struct spool_index_msg *spool_index_find(struct spool_index *x, uint64_t id);
/* Add message id (env taken over on success).  Returns 0, -EEXIST when id
 * is live already, -EINVAL for the ids 0 and UINT64_MAX, or -ENOMEM. */
int spool_index_add(struct spool_index *x, uint64_t id, struct envelope *env,
		    const struct spool_loc *loc);
/* id's slot is about to be used: start loading it (a hint, any id). */
void spool_index_prefetch(const struct spool_index *x, uint64_t id);
/* Drop a live message found by spool_index_find: frees its envelope. */
void spool_index_drop(struct spool_index *x, struct spool_index_msg *e);
void spool_index_fini(struct spool_index *x);

#endif
