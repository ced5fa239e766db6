/*
 * spool unit tests: append through the ring, group commit, recovery,
 * DONE records, a torn tail, a damaged record in the middle, segment
 * rotation and deletion; sealed records (nothing in a payload is taken
 * for a record, a record is valid only where it was written, the key and
 * the old format); body files; reading data back in pieces (a damaged body
 * file found on the last read).  Each test has its own ring and directory.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue/crc32c.h"
#include "queue/envelope.h"
#include "queue/siphash.h"
#include "queue/spool.h"

struct rec {
	struct spool_write sw;	/* in the group commit */
	struct buf b;		/* the record bytes */
	int res;		/* callback result, 1 = not called yet */
	uint64_t id;		/* its id */
};

static struct io_uring ring;
static char root[64];
static struct buf *made[128];	/* record buffers to free at teardown */
static size_t nmade;

static void
setup(void)
{
	snprintf(root, sizeof(root), "%s", "/tmp/sluice-spool-test.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(io_uring_queue_init(64, &ring, 0), 0);
}

static void
teardown(void)
{
	char cmd[128];

	io_uring_queue_exit(&ring);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

/* Free the record buffers a test made (they live on its stack). */
static void
free_made(void)
{
	for (size_t i = 0; i < nmade; i++)
		buf_free(made[i]);
	nmade = 0;
}

/* Recovered messages are collected here. */
struct found {
	uint64_t ids[64];	/* recovered ids */
	uint8_t state0[64];	/* state of their first recipient */
	size_t n;		/* how many */
};

static void
collect(void *arg, struct envelope *env, const struct spool_loc *loc)
{
	struct found *f = arg;

	if (f->n < 64) {
		f->state0[f->n] = env->rcpt[0].state;
		f->ids[f->n++] = env->id;
	}
	free(env);
}

static void
done_cb(struct spool_write *w, int res)
{
	((struct rec *)w)->res = res;
}

static void make_msg_n(struct spool *sp, struct rec *r, const void *body, size_t n);

static void
make_msg(struct spool *sp, struct rec *r, const char *body)
{
	make_msg_n(sp, r, body, strlen(body));
}

/* A MSG record whose data is n bytes at body (any bytes). */
static void
make_msg_n(struct spool *sp, struct rec *r, const void *body, size_t n)
{
	struct env_rcpt rc = { .addr = "to@example.test" };
	struct envelope env = { .sender = "from@client.test", .helo = "client.test",
				.client = "127.0.0.1", .nrcpt = 1, .rcpt = &rc };
	size_t start, envlen;

	memset(r, 0, sizeof(*r));
	made[nmade++] = &r->b;
	r->id = env.id = spool_new_id(sp);
	start = spool_rec_begin(&r->b, SPOOL_REC_MSG, r->id);
	envelope_encode(&env, &r->b);
	envlen = r->b.len - start - SPOOL_HDR_SIZE;
	buf_append(&r->b, body, n);
	spool_rec_end(&r->b, start, envlen);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = done_cb;
	r->res = 1;
}

static void
make_rec(struct rec *r, enum spool_rec_type type, uint64_t id, uint64_t aux)
{
	size_t start;

	memset(r, 0, sizeof(*r));
	made[nmade++] = &r->b;
	r->id = id;
	start = spool_rec_begin(&r->b, type, id);
	spool_rec_end(&r->b, start, aux);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = done_cb;
	r->res = 1;
}

/* Flush and run the ring until the spool is idle; returns batches issued. */
static int
run(struct spool *sp)
{
	int batches = 0;

	while (spool_busy(sp)) {
		struct io_uring_cqe *cqe;
		spool_flush(sp, &ring);
		batches++;
		cr_assert_geq(io_uring_submit_and_wait(&ring, 2), 0);
		for (int k = 0; k < 2; k++) {
			cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
			op_dispatch(cqe);
			io_uring_cqe_seen(&ring, cqe);
		}
	}
	return batches;
}

static struct spool *
open_sp(struct found *f, struct spool_recovery *st, uint64_t segsize)
{
	struct spool *sp = NULL;
	char err[256];

	memset(f, 0, sizeof(*f));
	cr_assert_eq(spool_open(&sp, root, 0, segsize, collect, f, st, err, sizeof(err)),
		     0, "%s", err);
	return sp;
}

static bool
has(const struct found *f, uint64_t id)
{
	for (size_t i = 0; i < f->n; i++)
		if (f->ids[i] == id)
			return true;
	return false;
}

TestSuite(spool, .init = setup, .fini = teardown);

Test(spool, group_commit_and_recover)
{
	struct spool_recovery st;
	struct found f;
	struct rec r[20];
	struct spool *sp = open_sp(&f, &st, 0);

	cr_expect_eq(st.messages, 0);
	for (int i = 0; i < 20; i++) {
		make_msg(sp, &r[i], "Subject: hi\r\n\r\nbody\r\n");
		spool_append(sp, &r[i].sw);
	}
	/* one turn's records: one writev + one fdatasync */
	cr_expect_eq(run(sp), 1);
	for (int i = 0; i < 20; i++) {
		cr_expect_eq(r[i].res, 0);
		if (i > 0)
			cr_expect_eq(r[i].sw.loc.off, r[i - 1].sw.loc.off + r[i - 1].b.len);
	}
	struct buf data = { 0 };
	cr_expect_eq(spool_read_data(sp, &r[3].sw.loc, &data), 0);
	cr_expect(data.len == 21 && memcmp(data.p, "Subject: hi\r\n\r\nbody\r\n", 21) == 0);
	buf_free(&data);
	spool_close(sp);

	sp = open_sp(&f, &st, 0);
	cr_expect_eq(st.messages, 20);
	cr_expect_eq(f.n, 20);
	for (int i = 0; i < 20; i++)
		cr_expect(has(&f, r[i].id));
	/* new ids stay unique after a restart */
	cr_expect_gt(spool_new_id(sp), r[19].id);
	spool_close(sp);
	free_made();
}

/* Ids carry the node's number: two nodes (same worker index, same second)
 * never hand out the same id, and a node that recovered another node's
 * records (an adopted spool) goes on in its own id space. */
Test(spool, ids_are_unique_across_nodes)
{
	struct spool_recovery st;
	struct found f;
	struct spool *sp = open_sp(&f, &st, 0);
	uint64_t a[1000], b, first;

	spool_id_node(1);
	for (int i = 0; i < 1000; i++) {
		a[i] = spool_new_id(sp);
		cr_assert_eq((a[i] >> 24) & 0xff, 1);
		cr_assert_eq((a[i] >> 16) & 0xff, 0);
		if (i > 0)
			cr_assert_gt(a[i], a[i - 1]);
	}
	spool_id_node(2);
	first = spool_new_id(sp);	/* after a[], in node 2's space */
	cr_assert_eq((first >> 24) & 0xff, 2);
	cr_assert_gt(first, a[999]);
	for (int i = 0; i < 1000; i++) {
		b = i ? spool_new_id(sp) : first;
		for (int k = 0; k < 1000; k++)
			cr_assert_neq(b, a[k]);
	}
	/* node 1 again after node 2's ids in the same second: its next id is
	   in the next second, in its own space */
	spool_id_node(1);
	b = spool_new_id(sp);
	cr_assert_eq((b >> 24) & 0xff, 1);
	cr_assert_gt(b, first);
	spool_id_node(0);
	spool_close(sp);
}

Test(spool, done_and_rcpt_records)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[3], d, rc;
	struct spool *sp = open_sp(&f, &st, 0);

	for (int i = 0; i < 3; i++) {
		make_msg(sp, &m[i], "x\r\n");
		spool_append(sp, &m[i].sw);
	}
	run(sp);
	make_rec(&d, SPOOL_REC_DONE, m[1].id, 0);
	make_rec(&rc, SPOOL_REC_RCPT, m[2].id, (0 << 8) | ENV_RCPT_DELIVERED);
	spool_append(sp, &d.sw);
	spool_append(sp, &rc.sw);
	run(sp);
	spool_close(sp);

	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 2);
	cr_expect(has(&f, m[0].id));
	cr_expect(!has(&f, m[1].id));
	for (size_t i = 0; i < f.n; i++)
		if (f.ids[i] == m[2].id)
			cr_expect_eq(f.state0[i], ENV_RCPT_DELIVERED);
	spool_close(sp);
	free_made();
}

/* What the callback saw: the order, and the count it was told first. */
struct seen {
	const struct spool_recovery *st;	/* the stats being filled */
	uint64_t told;				/* st->messages at the first call */
	uint64_t ids[64];			/* ids in the order handed over */
	size_t n;				/* how many */
};

static void
note(void *arg, struct envelope *env, const struct spool_loc *loc)
{
	struct seen *s = arg;

	if (s->n == 0)
		s->told = s->st->messages;
	if (s->n < 64)
		s->ids[s->n++] = env->id;
	free(env);
}

/* The queue sizes its tables from the count it is told before the first
 * message, and takes the messages in the order their records were
 * written (not in id order, not in any table's order); a second MSG
 * record with a live message's id is refused even when it is not the
 * highest id. */
Test(spool, recovery_hands_over_in_spool_order_counted_first)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[40], d[2], dup;
	struct spool_rec_hdr h;
	struct spool *sp = open_sp(&f, &st, 0);
	char err[256];

	for (int i = 0; i < 40; i++)
		make_msg(sp, &m[i], "x\r\n");
	for (int i = 39; i >= 0; i--)	/* spool order: highest id first */
		spool_append(sp, &m[i].sw);
	run(sp);
	make_rec(&d[0], SPOOL_REC_DONE, m[7].id, 0);
	make_rec(&d[1], SPOOL_REC_DONE, m[30].id, 0);
	make_msg(sp, &dup, "forged twin\r\n");
	memcpy(&h, dup.b.p, sizeof(h));
	h.id = m[20].id;		/* below the highest id seen */
	memcpy(dup.b.p, &h, sizeof(h));
	spool_append(sp, &d[0].sw);
	spool_append(sp, &dup.sw);
	spool_append(sp, &d[1].sw);
	run(sp);
	spool_close(sp);

	struct seen s = { .st = &st };
	cr_assert_eq(spool_open(&sp, root, 0, 0, note, &s, &st, err, sizeof(err)), 0, "%s",
		     err);
	cr_expect_eq(st.messages, 38);
	cr_expect_eq(s.told, 38);
	cr_expect_eq(s.n, 38);
	cr_expect_eq(st.bad_records, 1);	/* the twin */
	size_t k = 0;
	for (int i = 39; i >= 0; i--) {
		if (i == 7 || i == 30)
			continue;
		cr_expect_eq(s.ids[k], m[i].id, "message %zu handed over out of order", k);
		k++;
	}
	spool_close(sp);
	free_made();
}

static void
seg_path(char *out, size_t n, unsigned seq)
{
	snprintf(out, n, "%s/w0/%08x.seg", root, seq);
}

Test(spool, torn_tail)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[5];
	struct spool *sp = open_sp(&f, &st, 0);
	char path[256];
	struct stat sb;
	int fd;

	for (int i = 0; i < 5; i++) {
		make_msg(sp, &m[i], "torn tail test\r\n");
		spool_append(sp, &m[i].sw);
	}
	run(sp);
	spool_close(sp);
	/* a crash in the middle of the next record: half a record written
	 * over the zero-filled tail, right after the last whole record */
	size_t end = 0;
	for (int i = 0; i < 5; i++)
		end += m[i].b.len;
	seg_path(path, sizeof(path), 1);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, m[4].b.p, m[4].b.len / 2, (off_t)end),
		     (ssize_t)(m[4].b.len / 2));
	close(fd);
	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 5);
	cr_expect_eq(st.torn_bytes, m[4].b.len / 2);	/* the zeros are not torn */
	cr_expect_eq(st.bad_records, 0);
	spool_close(sp);
	/* the tail was cut: the newest segment holds exactly the five */
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq((size_t)sb.st_size, end);
	free_made();
}

Test(spool, zero_tail_is_a_clean_end)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[3];
	struct spool *sp = open_sp(&f, &st, 0);
	char path[256];
	struct stat sb;

	for (int i = 0; i < 3; i++) {
		make_msg(sp, &m[i], "zero tail\r\n");
		spool_append(sp, &m[i].sw);
	}
	run(sp);
	spool_close(sp);
	seg_path(path, sizeof(path), 1);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_gt((size_t)sb.st_size, m[0].b.len * 3, "zeros follow the records");
	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 3);
	cr_expect_eq(st.torn_bytes, 0);
	cr_expect_eq(st.bad_records, 0);
	spool_close(sp);
	free_made();
}

Test(spool, crc_mismatch_in_the_middle)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[5];
	struct spool *sp = open_sp(&f, &st, 0);
	char path[256], c;
	int fd;

	for (int i = 0; i < 5; i++) {
		make_msg(sp, &m[i], "crc test body\r\n");
		spool_append(sp, &m[i].sw);
	}
	run(sp);
	spool_close(sp);
	/* flip one body byte of the third record */
	seg_path(path, sizeof(path), 1);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	off_t off = (off_t)(m[2].sw.loc.off + m[2].b.len - 3);
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x20;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 4);
	cr_expect_eq(st.bad_records, 1);
	cr_expect(!has(&f, m[2].id));
	cr_expect(has(&f, m[3].id) && has(&f, m[4].id));
	spool_close(sp);
	free_made();
}

Test(spool, rotation_and_deletion)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[4], d[4];
	struct spool *sp = open_sp(&f, &st, 200);	/* tiny segments */
	char path[256];

	/* one message per batch: each batch goes to a new segment */
	for (int i = 0; i < 4; i++) {
		make_msg(sp, &m[i], "rotation rotation rotation rotation rotation\r\n");
		spool_append(sp, &m[i].sw);
		run(sp);
		cr_expect_eq(m[i].sw.loc.seg, (uint32_t)(i + 1));
	}
	/* finish them all: DONE records, then release the segments */
	for (int i = 0; i < 4; i++) {
		make_rec(&d[i], SPOOL_REC_DONE, m[i].id, 0);
		spool_append(sp, &d[i].sw);
	}
	run(sp);
	for (int i = 0; i < 4; i++)
		spool_release(sp, &m[i].sw.loc, m[i].id);
	/* old segments are gone; the current one (holding the DONEs) stays */
	seg_path(path, sizeof(path), 1);
	cr_expect_neq(access(path, F_OK), 0);
	seg_path(path, sizeof(path), 3);
	cr_expect_neq(access(path, F_OK), 0);
	spool_close(sp);
	sp = open_sp(&f, &st, 200);
	cr_expect_eq(f.n, 0);
	spool_close(sp);
	free_made();
}

Test(spool, envelope_roundtrip)
{
	struct env_rcpt rc[2] = { { .addr = "a@b.test", .orcpt = "rfc822;a@b.test",
				    .notify = 6, .state = 0 },
				  { .addr = "c@d.test", .orcpt = NULL, .notify = 0, .state = 2 } };
	struct envelope env = { .id = 42, .arrival = 1700000000, .sender = "",
				.envid = "E1", .helo = "h", .client = "::1", .ret = 2,
				.body = 2, .smtputf8 = 1, .nrcpt = 2, .rcpt = rc };
	struct buf b = { 0 };
	struct envelope *e;

	envelope_encode(&env, &b);
	e = envelope_decode(b.p, b.len);
	cr_assert_not_null(e);
	cr_expect_eq(e->id, 42);
	cr_expect_str_eq(e->sender, "");
	cr_expect_str_eq(e->envid, "E1");
	cr_expect_str_eq(e->rcpt[0].orcpt, "rfc822;a@b.test");
	cr_expect_null(e->rcpt[1].orcpt);
	cr_expect_eq(e->rcpt[1].state, 2);
	cr_expect_eq(e->rcpt[0].notify, 6);
	free(e);
	/* every truncation is refused, never read past the end */
	for (size_t n = 0; n < b.len; n++)
		cr_expect_null(envelope_decode(b.p, n), "truncated at %zu", n);
	buf_free(&b);
}

/* An envelope with a route (an alert notice's connector) is version 2:
 * the same bytes with the route after the recipients, so a reader of
 * version 1 that stops there reads it; without one it stays version 1. */
Test(spool, envelope_route)
{
	struct env_rcpt rc = { .addr = "ops@example.net", .notify = 1 };
	struct envelope env = { .id = 7, .sender = "", .helo = "h", .client = "local",
				.nrcpt = 1, .rcpt = &rc };
	struct buf v1 = { 0 }, v2 = { 0 };
	struct envelope *e;

	envelope_encode(&env, &v1);
	env.route = "alerts";
	envelope_encode(&env, &v2);
	cr_assert_eq(v1.p[0], 1);
	cr_assert_eq(v2.p[0], 2);
	cr_assert_eq(v2.len, v1.len + 2 + 6);
	cr_expect_eq(memcmp(v1.p + 1, v2.p + 1, v1.len - 1), 0);
	e = envelope_decode(v2.p, v2.len);
	cr_assert_not_null(e);
	cr_expect_str_eq(e->route, "alerts");
	cr_expect_str_eq(e->rcpt[0].addr, "ops@example.net");
	free(e);
	e = envelope_decode(v1.p, v1.len);
	cr_assert_not_null(e);
	cr_expect_null(e->route);
	free(e);
	/* version 2 without its route, or with a NULL one, is refused */
	v1.p[0] = 2;
	cr_expect_null(envelope_decode(v1.p, v1.len));
	v2.p[v1.len] = (char)0xff;
	v2.p[v1.len + 1] = (char)0xff;
	cr_expect_null(envelope_decode(v2.p, v1.len + 2));
	buf_free(&v1);
	buf_free(&v2);
}

/* ---- sealed records ----------------------------------------------------- */

/* SipHash-2-4: the paper's vector (key 00..0f, message 00..0e) and the
 * empty and 63-byte messages of the reference vectors. */
Test(spool, siphash24_vectors)
{
	uint8_t key[16], msg[64];

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	cr_expect_eq(siphash24(key, msg, 15), 0xa129ca6149be45e5ull);
	cr_expect_eq(siphash24(key, msg, 0), 0x726fdb47dd0e0e31ull);
	cr_expect_eq(siphash24(key, msg, 63), 0x958a324ceb064572ull);
}

/* A record in the old unsealed format (SCL1: 32-byte header, CRC32C). */
static void
old_record(struct buf *b, uint8_t type, uint64_t id, uint64_t aux, const void *payload,
	   size_t n)
{
	struct {
		uint32_t magic;
		uint8_t type, pad[3];
		uint32_t len, crc;
		uint64_t id, aux;
	} h = { SPOOL_MAGIC_V1, type, { 0 }, (uint32_t)n, 0, id, aux };
	uint32_t crc = crc32c(0, &h, sizeof(h));

	h.crc = crc32c(crc, payload, n);
	buf_append(b, &h, sizeof(h));
	buf_append(b, payload, n);
}

/* A MSG record for id with recipient rcpt and data, unsealed. */
static void
plain_msg(struct buf *b, uint64_t id, const char *rcpt, const char *data)
{
	struct env_rcpt rc = { .addr = (char *)rcpt };
	struct envelope env = { .id = id, .sender = "evil@client.test", .helo = "x",
				.client = "127.0.0.1", .nrcpt = 1, .rcpt = &rc };
	size_t start = spool_rec_begin(b, SPOOL_REC_MSG, id), envlen;

	envelope_encode(&env, b);
	envlen = b->len - start - SPOOL_HDR_SIZE;
	buf_puts(b, data);
	spool_rec_end(b, start, envlen);
}

static void
flip_byte(unsigned seq, uint64_t off)
{
	char path[256], c;
	int fd;

	seg_path(path, sizeof(path), seq);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pread(fd, &c, 1, (off_t)off), 1);
	c ^= 0x01;
	cr_assert_eq(pwrite(fd, &c, 1, (off_t)off), 1);
	close(fd);
}

/*
 * Defect 5: a client embeds records in a message body; the message's own
 * record is damaged (a crash mid-write); recovery resynchronises through
 * the body.  Neither a record in the old format with a valid CRC, nor one
 * sealed with another key, nor a genuine record of this spool replayed at
 * another offset (after its message's DONE) may be taken: the forged message is not recovered and the
 * forged DONE does not retire the victim.
 */
Test(spool, forged_records_in_a_body_are_never_taken)
{
	struct spool_recovery st;
	struct found f;
	struct rec victim, ghost, ghost_done, carrier, after;
	struct spool *sp = open_sp(&f, &st, 0);
	struct buf body = { 0 }, forged = { 0 };
	uint8_t other_key[SPOOL_KEY_SIZE];
	const uint64_t forged_id = 0x5eed000000000001ull;

	make_msg(sp, &victim, "Subject: victim\r\n\r\nplease deliver\r\n");
	make_msg(sp, &ghost, "Subject: delivered long ago\r\n\r\n\r\n");
	spool_append(sp, &victim.sw);
	spool_append(sp, &ghost.sw);
	run(sp);
	make_rec(&ghost_done, SPOOL_REC_DONE, ghost.id, 0);
	spool_append(sp, &ghost_done.sw);
	run(sp);
	/* what the attacker puts in the body */
	for (size_t i = 0; i < sizeof(other_key); i++)
		other_key[i] = (uint8_t)(0xa5 ^ i);
	plain_msg(&forged, forged_id, "anyone@elsewhere.test", "forged\r\n");
	old_record(&body, SPOOL_REC_MSG, forged_id, forged.len - SPOOL_HDR_SIZE - 9,
		   forged.p + SPOOL_HDR_SIZE, forged.len - SPOOL_HDR_SIZE);
	old_record(&body, SPOOL_REC_DONE, victim.id, 0, "", 0);
	buf_puts(&body, "\r\n");
	spool_rec_seal(other_key, forged.p, 1, 0);	/* another spool's key */
	buf_append(&body, forged.p, forged.len);
	/* a genuine record of this spool (sealed in place when it was
	 * written), replayed after its DONE: it would bring ghost back */
	buf_append(&body, ghost.b.p, ghost.b.len);
	{
		struct buf done = { 0 };
		size_t start = spool_rec_begin(&done, SPOOL_REC_DONE, victim.id);
		spool_rec_end(&done, start, 0);
		spool_rec_seal(other_key, done.p, 1, 0);
		buf_append(&body, done.p, done.len);
		buf_free(&done);
	}
	make_msg_n(sp, &carrier, body.p, body.len);
	make_msg(sp, &after, "Subject: after\r\n\r\nstill here\r\n");
	spool_append(sp, &carrier.sw);
	spool_append(sp, &after.sw);
	run(sp);
	spool_close(sp);
	/* the crash: the carrier's header is torn */
	flip_byte(1, carrier.sw.loc.off + 9);
	sp = open_sp(&f, &st, 0);
	cr_expect(has(&f, victim.id), "the forged DONE retired the victim");
	cr_expect(!has(&f, forged_id), "the forged message was recovered");
	cr_expect(!has(&f, ghost.id), "a genuine record was taken at another offset");
	cr_expect(!has(&f, carrier.id));
	cr_expect(has(&f, after.id), "resync did not find the next genuine record");
	cr_expect_eq(f.n, 2);
	cr_expect_eq(st.bad_records, 1);
	spool_close(sp);
	buf_free(&body);
	buf_free(&forged);
	free_made();
}

/* The same with the carrier's tail torn off: cut, nothing forged applied. */
Test(spool, forged_records_before_a_torn_tail)
{
	struct spool_recovery st;
	struct found f;
	struct rec victim, carrier;
	struct spool *sp = open_sp(&f, &st, 0);
	struct buf body = { 0 };
	char path[256];

	make_msg(sp, &victim, "victim\r\n");
	spool_append(sp, &victim.sw);
	run(sp);
	old_record(&body, SPOOL_REC_DONE, victim.id, 0, "", 0);
	buf_append(&body, victim.b.p, victim.b.len);
	for (int i = 0; i < 200; i++)
		buf_puts(&body, "padding padding padding padding\r\n");
	make_msg_n(sp, &carrier, body.p, body.len);
	spool_append(sp, &carrier.sw);
	run(sp);
	spool_close(sp);
	seg_path(path, sizeof(path), 1);
	cr_assert_eq(truncate(path, (off_t)(carrier.sw.loc.off + carrier.b.len - 100)), 0);
	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 1);
	cr_expect(has(&f, victim.id));
	cr_expect_gt(st.torn_bytes, 0);
	spool_close(sp);
	buf_free(&body);
	free_made();
}

static void
write_key(const uint8_t *key, mode_t mode)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", root, SPOOL_KEY_FILE);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, key, SPOOL_KEY_SIZE), SPOOL_KEY_SIZE);
	fchmod(fd, mode);
	close(fd);
}

Test(spool, key_is_made_once_private_and_kept)
{
	uint8_t k1[SPOOL_KEY_SIZE], k2[SPOOL_KEY_SIZE];
	char err[512], path[256];
	struct stat sb;

	cr_assert_eq(spool_key_load(root, k1, err, sizeof(err)), 0, "%s", err);
	snprintf(path, sizeof(path), "%s/%s", root, SPOOL_KEY_FILE);
	cr_assert_eq(stat(path, &sb), 0);
	cr_expect_eq(sb.st_mode & 0777, 0600);
	cr_expect_eq(sb.st_size, SPOOL_KEY_SIZE);
	cr_assert_eq(spool_key_load(root, k2, err, sizeof(err)), 0, "%s", err);
	cr_expect(memcmp(k1, k2, sizeof(k1)) == 0);
	/* readable by others: refused, with the fix in the message */
	chmod(path, 0644);
	cr_expect_eq(spool_key_load(root, k2, err, sizeof(err)), -EPERM);
	cr_expect(strstr(err, "chmod 600") != NULL, "%s", err);
}

Test(spool, another_key_is_refused_not_cut)
{
	struct spool_recovery st;
	struct found f;
	struct rec m;
	struct spool *sp = open_sp(&f, &st, 0), *sp2 = NULL;
	uint8_t other[SPOOL_KEY_SIZE] = { 1, 2, 3 };
	char path[256], err[512];
	struct stat before, after;

	make_msg(sp, &m, "keep me\r\n");
	spool_append(sp, &m.sw);
	run(sp);
	spool_close(sp);
	seg_path(path, sizeof(path), 1);
	cr_assert_eq(stat(path, &before), 0);
	write_key(other, 0600);
	cr_expect_eq(spool_open(&sp2, root, 0, 0, collect, &f, &st, err, sizeof(err)),
		     -EKEYREJECTED);
	cr_expect(strstr(err, "another key") != NULL, "%s", err);
	cr_assert_eq(stat(path, &after), 0);
	cr_expect_eq(after.st_size, before.st_size, "the segment was cut");
	free_made();
}

Test(spool, old_format_spool_is_refused)
{
	struct spool_recovery st;
	struct found f;
	struct spool *sp = NULL;
	struct buf seg = { 0 }, msg = { 0 };
	char path[256], err[512];
	int fd;

	/* a spool written by the previous version: no key, SCL1 segments */
	snprintf(path, sizeof(path), "%s/w0", root);
	cr_assert_eq(mkdir(path, 0700), 0);
	plain_msg(&msg, 0x1234, "to@example.test", "old\r\n");
	old_record(&seg, SPOOL_REC_MSG, 0x1234, msg.len - SPOOL_HDR_SIZE - 5,
		   msg.p + SPOOL_HDR_SIZE, msg.len - SPOOL_HDR_SIZE);
	seg_path(path, sizeof(path), 1);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, seg.p, seg.len), (ssize_t)seg.len);
	close(fd);
	cr_expect_eq(spool_open(&sp, root, 0, 0, collect, &f, &st, err, sizeof(err)), -ENOKEY);
	cr_expect(strstr(err, "SCL1") != NULL, "%s", err);
	/* and with a key beside it (made for an empty spool, say) */
	uint8_t key[SPOOL_KEY_SIZE] = { 9 };
	write_key(key, 0600);
	cr_expect_eq(spool_open(&sp, root, 0, 0, collect, &f, &st, err, sizeof(err)), -EPROTO);
	cr_expect(strstr(err, "SCL1") != NULL, "%s", err);
	cr_assert_eq(access(path, F_OK), 0, "the old segment is left alone");
	buf_free(&seg);
	buf_free(&msg);
}

/* ---- segment accounting (defect 11) -------------------------------------- */

/* A DONE record whose callback releases its message, as the queue does. */
struct done_rel {
	struct rec r;			/* the record */
	struct spool *sp;		/* released in */
	struct spool_loc loc;		/* the message's MSG record */
};

static void
done_release_cb(struct spool_write *w, int res)
{
	struct done_rel *d = (struct done_rel *)w;

	d->r.res = res;
	if (res == 0)
		spool_release(d->sp, &d->loc, d->r.id);
}

static void
make_done_rel(struct done_rel *d, struct spool *sp, const struct rec *m)
{
	make_rec(&d->r, SPOOL_REC_DONE, m->id, 0);
	d->r.sw.cb = done_release_cb;
	d->sp = sp;
	d->loc = m->sw.loc;
}

/* Issue whatever is queued as up to two flights, then run them all. */
static void
run_two(struct spool *sp, int flights)
{
	struct io_uring_cqe *cqe;

	cr_assert_geq(io_uring_submit_and_wait(&ring, (unsigned)(2 * flights)), 0);
	for (int k = 0; k < 2 * flights; k++) {
		cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		op_dispatch(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
	cr_assert(!spool_busy(sp));
}

static unsigned
seg_files(void)
{
	char path[256];
	unsigned n = 0;

	for (unsigned seq = 1; seq < 64; seq++) {
		seg_path(path, sizeof(path), seq);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/*
 * A flight whose first record is a DONE that frees an old segment, and
 * whose next record is a new message: the message must be counted in its
 * own segment.  Before the fix it was counted in a moved array slot, its
 * segment went at the next rotation, and the acknowledged message with it.
 */
Test(spool, a_collect_during_a_flight_keeps_the_counts)
{
	struct spool_recovery st;
	struct found f;
	struct rec m[4];
	struct done_rel d0, d1;
	struct spool *sp = open_sp(&f, &st, 200);	/* tiny segments */
	char path[256];

	for (int i = 0; i < 2; i++) {			/* segments 1 and 2 */
		make_msg(sp, &m[i], "rotation rotation rotation rotation rotation\r\n");
		spool_append(sp, &m[i].sw);
		run(sp);
	}
	make_done_rel(&d0, sp, &m[0]);
	make_msg(sp, &m[2], "counted in segment 3, please\r\n");
	spool_append(sp, &d0.r.sw);
	spool_append(sp, &m[2].sw);
	run(sp);
	cr_assert_eq(m[2].sw.loc.seg, 3);
	make_done_rel(&d1, sp, &m[1]);			/* segment 2 goes */
	spool_append(sp, &d1.r.sw);
	run(sp);
	make_msg(sp, &m[3], "and one more to rotate\r\n");
	spool_append(sp, &m[3].sw);
	run(sp);
	cr_expect_gt(m[3].sw.loc.seg, 3);	/* segment 3 is no longer current */
	seg_path(path, sizeof(path), 3);
	cr_expect_eq(access(path, F_OK), 0, "segment 3 deleted with a live message in it");
	spool_close(sp);
	sp = open_sp(&f, &st, 200);
	cr_expect(has(&f, m[2].id), "an acknowledged message was lost");
	cr_expect(has(&f, m[3].id));
	spool_close(sp);
	free_made();
}

/*
 * Two flights out at once, the second one rotating: when the first one's
 * DONE frees the oldest segment, its new message must still be counted in
 * its own segment, not in the second flight's.  Before the fix it was
 * counted one slot on: its own segment went while it was live, and the
 * newer one could never be freed, nor anything after it, until a restart.
 */
Test(spool, segments_go_when_their_messages_are_done)
{
	struct spool_recovery st;
	struct found f;
	struct rec m0, ma, m1, m2, m3[3];
	struct done_rel d0, da, d1, d2, d3[3];
	struct spool_stats ss;
	struct spool *sp = open_sp(&f, &st, 1000);
	char big[600], path[256];

	memset(big, 'x', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	make_msg(sp, &m0, big);				/* segment 1 */
	spool_append(sp, &m0.sw);
	run(sp);
	make_msg(sp, &ma, big);				/* segment 2 */
	spool_append(sp, &ma.sw);
	run(sp);
	/* flight X: DONE(m0) + m1 into segment 2; flight Y: m2 rotates to 3 */
	make_done_rel(&d0, sp, &m0);
	make_msg(sp, &m1, "small\r\n");
	spool_append(sp, &d0.r.sw);
	spool_append(sp, &m1.sw);
	spool_flush(sp, &ring);
	make_msg(sp, &m2, big);
	spool_append(sp, &m2.sw);
	spool_flush(sp, &ring);
	run_two(sp, 2);
	cr_assert_eq(m1.sw.loc.seg, 2);
	cr_assert_eq(m2.sw.loc.seg, 3);
	/* ma is delivered: segment 2 still holds m1 */
	make_done_rel(&da, sp, &ma);
	spool_append(sp, &da.r.sw);
	run(sp);
	seg_path(path, sizeof(path), 2);
	cr_expect_eq(access(path, F_OK), 0, "segment 2 deleted with a live message in it");
	/* everything delivered; one more message moves the current segment on */
	make_done_rel(&d1, sp, &m1);
	make_done_rel(&d2, sp, &m2);
	spool_append(sp, &d1.r.sw);
	spool_append(sp, &d2.r.sw);
	run(sp);
	for (int i = 0; i < 3; i++) {
		make_msg(sp, &m3[i], big);
		spool_append(sp, &m3[i].sw);
		run(sp);
		make_done_rel(&d3[i], sp, &m3[i]);
		spool_append(sp, &d3[i].r.sw);
		run(sp);
	}
	spool_stats(sp, &ss);
	cr_expect_eq(ss.live, 0);
	cr_expect_leq(ss.segments, 2, "%u segments kept with nothing live", ss.segments);
	cr_expect_leq(seg_files(), 2, "%u segment files kept with nothing live", seg_files());
	spool_close(sp);
	free_made();
}

/* ---- body files ------------------------------------------------------------ */

struct bodyw {
	struct spool_body b;	/* the file */
	int events;		/* callbacks seen */
};

static void
body_cb(struct spool_body *b)
{
	((struct bodyw *)b)->events++;
}

/* Run the ring until b has nothing in flight. */
static void
body_wait(struct spool_body *b)
{
	struct io_uring_cqe *cqe;

	while (spool_body_busy(b)) {
		cr_assert_geq(io_uring_submit_and_wait(&ring, 1), 0);
		cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		op_dispatch(cqe);
		io_uring_cqe_seen(&ring, cqe);
	}
}

static void
body_path(char *out, size_t n, uint64_t id)
{
	char name[17];

	envelope_id_str(id, name);
	snprintf(out, n, "%s/w0/body/%s", root, name);
}

/* Spill a message of n bytes through the ring; its MSG record goes in r. */
static void
spill_msg(struct spool *sp, struct rec *r, struct bodyw *bw, const char *data, size_t n)
{
	struct env_rcpt rc = { .addr = "to@example.test" };
	struct envelope env = { .sender = "from@client.test", .helo = "client.test",
				.client = "127.0.0.1", .nrcpt = 1, .rcpt = &rc };
	size_t start, envlen;

	memset(r, 0, sizeof(*r));
	made[nmade++] = &r->b;
	r->id = env.id = spool_new_id(sp);
	memset(bw, 0, sizeof(*bw));
	bw->b.cb = body_cb;
	cr_assert_eq(spool_body_open(sp, &bw->b, r->id, &ring), 0);
	for (size_t off = 0; off < n; off += 1000) {
		spool_body_write(&bw->b, &ring, data + off, n - off < 1000 ? n - off : 1000);
		while (bw->b.writing)
			body_wait(&bw->b);
	}
	spool_body_commit(&bw->b, &ring);
	body_wait(&bw->b);
	cr_assert(bw->b.synced);
	start = spool_rec_begin(&r->b, SPOOL_REC_MSG, r->id);
	envelope_encode(&env, &r->b);
	envlen = r->b.len - start - SPOOL_HDR_SIZE;
	spool_body_ref(&bw->b, &r->b, start);
	spool_rec_end(&r->b, start, envlen);
	r->sw.iov.iov_base = r->b.p;
	r->sw.iov.iov_len = r->b.len;
	r->sw.cb = done_cb;
	r->res = 1;
}

Test(spool, body_file_written_recovered_read_and_released)
{
	struct spool_recovery st;
	struct found f;
	struct rec m;
	struct bodyw bw;
	struct spool_stats ss;
	struct spool *sp = open_sp(&f, &st, 0);
	struct buf data = { 0 }, got = { 0 };
	char path[256];

	for (int i = 0; i < 3000; i++)
		buf_printf(&data, "line %05d of a message spilled to its own file\r\n", i);
	spill_msg(sp, &m, &bw, data.p, data.len);
	cr_expect_geq(bw.events, 3);	/* writes, the data sync, the directory sync */
	spool_append(sp, &m.sw);
	run(sp);
	cr_assert_eq(m.res, 0);
	spool_body_close(&bw.b, true);
	cr_expect(m.sw.loc.body);
	cr_expect_eq(m.sw.loc.size, data.len);
	spool_stats(sp, &ss);
	cr_expect_eq(ss.bodies, 1);
	cr_expect_eq(ss.body_bytes, data.len);
	cr_assert_eq(spool_read_data(sp, &m.sw.loc, &got), 0);
	cr_expect(got.len == data.len && memcmp(got.p, data.p, data.len) == 0);
	spool_close(sp);

	sp = open_sp(&f, &st, 0);
	cr_expect_eq(f.n, 1);
	cr_expect(has(&f, m.id));
	cr_expect_eq(st.orphans, 0);
	/* a flipped byte in the body file is caught when it is read */
	body_path(path, sizeof(path), m.id);
	{
		int fd = open(path, O_RDWR);
		cr_assert_geq(fd, 0);
		cr_assert_eq(pwrite(fd, "X", 1, 100), 1);
		close(fd);
	}
	got.len = 0;
	cr_expect_eq(spool_read_data(sp, &m.sw.loc, &got), -EIO);
	/* its DONE is synced: the file goes */
	struct done_rel d;
	make_done_rel(&d, sp, &m);
	spool_append(sp, &d.r.sw);
	run(sp);
	cr_expect_neq(access(path, F_OK), 0, "body file kept after its DONE");
	spool_stats(sp, &ss);
	cr_expect_eq(ss.bodies, 0);
	cr_expect_eq(ss.body_bytes, 0);
	spool_close(sp);
	buf_free(&data);
	buf_free(&got);
	free_made();
}

Test(spool, recovery_removes_orphan_bodies_and_drops_lost_ones)
{
	struct spool_recovery st;
	struct found f;
	struct rec m, lost, cut;
	struct bodyw bw, bw2, bw3, half;
	struct spool *sp = open_sp(&f, &st, 0);
	char path[256], kept[300];

	spill_msg(sp, &m, &bw, "kept body\r\n", 11);
	spill_msg(sp, &lost, &bw2, "lost body\r\n", 11);
	spill_msg(sp, &cut, &bw3, "long body\r\n", 11);
	spool_append(sp, &m.sw);
	spool_append(sp, &lost.sw);
	spool_append(sp, &cut.sw);
	run(sp);
	spool_body_close(&bw.b, true);
	spool_body_close(&bw2.b, true);
	spool_body_close(&bw3.b, true);
	/* a crash mid-spill: a body file whose record was never written */
	memset(&half, 0, sizeof(half));
	half.b.cb = body_cb;
	cr_assert_eq(spool_body_open(sp, &half.b, spool_new_id(sp), &ring), 0);
	spool_body_write(&half.b, &ring, "half", 4);
	body_wait(&half.b);
	close(half.b.fd);
	spool_close(sp);
	/* and a body file lost although its record is there */
	body_path(path, sizeof(path), lost.id);
	cr_assert_eq(unlink(path), 0);
	/* and one cut short: kept for the operator, not swept as an orphan */
	body_path(path, sizeof(path), cut.id);
	cr_assert_eq(truncate(path, 5), 0);

	sp = open_sp(&f, &st, 0);
	cr_expect_eq(st.orphans, 1);
	cr_expect_eq(st.lost_bodies, 2);
	cr_expect_eq(f.n, 1);
	snprintf(kept, sizeof(kept), "%s.damaged", path);
	cr_expect_eq(access(kept, F_OK), 0, "the damaged body file was not kept");
	cr_expect_neq(access(path, F_OK), 0);
	cr_expect(has(&f, m.id));
	body_path(path, sizeof(path), half.b.id);
	cr_expect_neq(access(path, F_OK), 0, "orphan body file kept");
	body_path(path, sizeof(path), m.id);
	cr_expect_eq(access(path, F_OK), 0);
	spool_close(sp);
	free_made();
}

/* Read loc's data through a spool_reader in pieces of piece bytes into
 * out; returns the last read's result (0 at a good end). */
static long
read_pieces(struct spool *sp, const struct spool_loc *loc, size_t piece, struct buf *out,
	    int *reads)
{
	struct spool_reader r;
	long n;

	cr_assert_eq(spool_reader_open(sp, loc, &r), 0);
	cr_expect_eq(r.size, loc->size);
	*reads = 0;
	do {
		buf_reserve(out, piece);
		n = spool_reader_read(sp, &r, out->p + out->len, piece);
		if (n > 0) {
			cr_expect_leq((size_t)n, piece);
			out->len += (size_t)n;
			(*reads)++;
		}
	} while (n > 0);
	spool_reader_close(&r);
	spool_reader_close(&r);	/* twice is harmless */
	return n;
}

Test(spool, reader_reads_inline_and_body_data_in_pieces)
{
	struct spool_recovery st;
	struct found f;
	struct rec small, big;
	struct bodyw bw;
	struct spool *sp = open_sp(&f, &st, 0);
	struct buf data = { 0 }, got = { 0 };
	char path[256];
	int reads;

	for (int i = 0; i < 3000; i++)
		buf_printf(&data, "line %05d of a message read back in pieces\r\n", i);
	make_msg(sp, &small, "Subject: small\r\n\r\n.dot\r\n");
	spill_msg(sp, &big, &bw, data.p, data.len);
	spool_append(sp, &small.sw);
	spool_append(sp, &big.sw);
	run(sp);
	cr_assert_eq(small.res, 0);
	cr_assert_eq(big.res, 0);
	spool_body_close(&bw.b, true);

	/* inline data from its segment, in 5-byte pieces */
	cr_expect_eq(read_pieces(sp, &small.sw.loc, 5, &got, &reads), 0);
	cr_expect(got.len == 24 && memcmp(got.p, "Subject: small\r\n\r\n.dot\r\n", 24) == 0);
	cr_expect_eq(reads, 5);
	/* the body file in 64 KiB pieces, and in odd ones */
	got.len = 0;
	cr_expect_eq(read_pieces(sp, &big.sw.loc, 65536, &got, &reads), 0);
	cr_expect(got.len == data.len && memcmp(got.p, data.p, data.len) == 0);
	cr_expect_eq(reads, (int)((data.len + 65535) / 65536));
	got.len = 0;
	cr_expect_eq(read_pieces(sp, &big.sw.loc, 4999, &got, &reads), 0);
	cr_expect(got.len == data.len && memcmp(got.p, data.p, data.len) == 0);

	/* an open reader keeps reading after the file is unlinked (its DONE) */
	{
		struct spool_reader r;
		char b[100];
		body_path(path, sizeof(path), big.id);
		cr_assert_eq(spool_reader_open(sp, &big.sw.loc, &r), 0);
		cr_assert_eq(unlink(path), 0);
		cr_expect_eq(spool_reader_read(sp, &r, b, sizeof(b)), 100);
		cr_expect(memcmp(b, data.p, 100) == 0);
		spool_reader_close(&r);
		/* gone for a new reader */
		cr_expect_eq(spool_reader_open(sp, &big.sw.loc, &r), -ENOENT);
	}
	spool_close(sp);
	buf_free(&data);
	buf_free(&got);
	free_made();
}

Test(spool, reader_finds_a_damaged_body_file_on_its_last_read)
{
	struct spool_recovery st;
	struct found f;
	struct rec m;
	struct bodyw bw;
	struct spool *sp = open_sp(&f, &st, 0);
	struct buf data = { 0 }, got = { 0 };
	struct spool_reader r;
	char path[256], b[65536];
	int fd, reads;

	for (int i = 0; i < 5000; i++)
		buf_printf(&data, "line %05d of a message whose file goes bad\r\n", i);
	spill_msg(sp, &m, &bw, data.p, data.len);
	spool_append(sp, &m.sw);
	run(sp);
	cr_assert_eq(m.res, 0);
	spool_body_close(&bw.b, true);
	body_path(path, sizeof(path), m.id);
	fd = open(path, O_RDWR);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, 100), 1);	/* early in the file */

	/* every read but the one that reaches the end succeeds: the damage
	   is known only then (a streaming sender must not end its message) */
	cr_expect_eq(read_pieces(sp, &m.sw.loc, 65536, &got, &reads), -EIO);
	cr_expect_eq(reads, (int)(data.len / 65536));
	cr_expect_eq(got.len, (size_t)reads * 65536);

	/* a reader that stops early checks nothing (an NDR's headers) */
	cr_assert_eq(spool_reader_open(sp, &m.sw.loc, &r), 0);
	cr_expect_eq(spool_reader_read(sp, &r, b, 1000), 1000);
	spool_reader_close(&r);

	/* a file shorter than its record: -EIO, not a short message */
	cr_assert_eq(pwrite(fd, "l", 1, 100), 1);	/* repaired ... */
	cr_assert_eq(ftruncate(fd, (off_t)data.len - 10), 0);	/* ... and cut */
	close(fd);
	got.len = 0;
	cr_expect_eq(read_pieces(sp, &m.sw.loc, 65536, &got, &reads), -EIO);
	spool_close(sp);
	buf_free(&data);
	buf_free(&got);
	free_made();
}
