/*
 * smtp_spill unit tests: a message's data written to its body file in
 * chunks through a real ring, back-pressure while both buffers are busy,
 * the record naming the file only once it is durable, and a refused spill
 * leaving no file.  Each test has its own ring and spool directory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net/smtp_spill.h"
#include "queue/envelope.h"
#include "queue/spool.h"

static struct io_uring ring;
static char root[64];
static struct spool *sp;
static int events;

static void
nothing(void *arg, struct envelope *env, const struct spool_loc *loc)
{
	free(env);
}

static void
setup(void)
{
	struct spool_recovery st;
	char err[256];

	snprintf(root, sizeof(root), "%s", "/tmp/sluice-spill-test.XXXXXX");
	cr_assert_not_null(mkdtemp(root));
	cr_assert_eq(io_uring_queue_init(64, &ring, 0), 0);
	cr_assert_eq(spool_open(&sp, root, 0, 0, nothing, NULL, &st, err, sizeof(err)), 0,
		     "%s", err);
	events = 0;
}

static void
teardown(void)
{
	char cmd[128];

	spool_close(sp);
	io_uring_queue_exit(&ring);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	cr_expect_eq(system(cmd), 0);
}

static void
on_event(struct smtp_spill *s)
{
	events++;
}

/* Dispatch one completion. */
static void
step(void)
{
	struct io_uring_cqe *cqe;

	cr_assert_geq(io_uring_submit_and_wait(&ring, 1), 0);
	cr_assert_eq(io_uring_wait_cqe(&ring, &cqe), 0);
	op_dispatch(cqe);
	io_uring_cqe_seen(&ring, cqe);
}

static bool
file_is(uint64_t id, const struct buf *want)
{
	char path[128], name[17];
	struct buf got = { 0 };
	char chunk[4096];
	ssize_t n;
	bool same;
	FILE *f;

	envelope_id_str(id, name);
	snprintf(path, sizeof(path), "%s/w0/body/%s", root, name);
	f = fopen(path, "rb");
	if (f == NULL)
		return false;
	while ((n = (ssize_t)fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&got, chunk, (size_t)n);
	fclose(f);
	same = got.len == want->len && memcmp(got.p, want->p, got.len) == 0;
	buf_free(&got);
	return same;
}

TestSuite(smtp_spill, .init = setup, .fini = teardown);

Test(smtp_spill, chunks_back_pressure_and_a_durable_end)
{
	struct smtp_spill s;
	struct buf msg = { 0 }, data = { 0 };
	enum { prefix = 100 };
	char env[prefix - SPOOL_HDR_SIZE];
	uint64_t id = spool_new_id(sp);
	size_t room, blocked = 0;
	enum smtp_spill_end e;
	size_t start;

	smtp_spill_init(&s, on_event);
	/* the record so far: a header and an envelope stand-in, then data */
	start = spool_rec_begin(&msg, SPOOL_REC_MSG, id);
	cr_assert_eq(start, 0);
	memset(env, 'E', sizeof(env));
	buf_append(&msg, env, sizeof(env));
	for (int i = 0; i < 30000; i++)
		buf_printf(&data, "line %06d of the spilled message\r\n", i);
	buf_append(&msg, data.p, 300000);		/* what came before the spill */
	smtp_spill_start(&s, sp, &ring, id, &msg, prefix);
	cr_assert(s.active);
	cr_expect_eq(msg.len, prefix, "the record keeps its prefix only");
	/* the rest, as the DATA reader would write it */
	for (size_t off = 300000; off < data.len;) {
		room = smtp_spill_room(&s);
		if (room == 0) {
			cr_assert(smtp_spill_blocked(&s));
			blocked++;
			step();			/* the disk catches up */
			continue;
		}
		cr_assert_leq(room, SMTP_SPILL_CHUNK);
		size_t n = data.len - off < room ? data.len - off : room;
		buf_append(smtp_spill_out(&s), data.p + off, n);
		off += n;
		smtp_spill_step(&s);
		cr_assert_leq(smtp_spill_mem(&s), 2 * SMTP_SPILL_CHUNK + 512 * 1024);
	}
	cr_expect_gt(blocked, 0, "never waited for the disk");
	cr_expect_leq(smtp_spill_mem(&s), 2 * SMTP_SPILL_CHUNK);
	while ((e = smtp_spill_finish(&s, true, &msg, 0)) == SMTP_SPILL_WAIT)
		step();
	cr_assert_eq(e, SMTP_SPILL_READY);
	cr_expect(s.file.synced);
	cr_expect_eq(msg.len, prefix + sizeof(struct spool_body_ref));
	cr_expect(file_is(id, &data), "the body file is not the data");
	cr_expect_gt(events, 0);
	smtp_spill_done(&s, true);
	cr_expect(!s.active);
	cr_expect(file_is(id, &data), "kept");
	buf_free(&msg);
	buf_free(&data);
}

Test(smtp_spill, refused_leaves_no_file)
{
	struct smtp_spill s;
	struct buf msg = { 0 }, data = { 0 };
	uint64_t id = spool_new_id(sp);
	char path[128], name[17];
	enum smtp_spill_end e;

	smtp_spill_init(&s, on_event);
	spool_rec_begin(&msg, SPOOL_REC_MSG, id);
	for (int i = 0; i < 10000; i++)
		buf_printf(&data, "refused line %06d\r\n", i);
	buf_append(&msg, data.p, data.len);
	smtp_spill_start(&s, sp, &ring, id, &msg, SPOOL_HDR_SIZE);
	while ((e = smtp_spill_finish(&s, false, &msg, 0)) == SMTP_SPILL_WAIT)
		step();
	cr_assert_eq(e, SMTP_SPILL_FAILED);
	cr_expect(!smtp_spill_busy(&s));
	cr_expect_eq(smtp_spill_error(&s), 0, "refused, not failed");
	smtp_spill_done(&s, false);
	envelope_id_str(id, name);
	snprintf(path, sizeof(path), "%s/w0/body/%s", root, name);
	cr_expect_neq(access(path, F_OK), 0, "a refused spill left its file");
	buf_free(&msg);
	buf_free(&data);
}
