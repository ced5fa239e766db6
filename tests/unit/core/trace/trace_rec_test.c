/*
 * trace_rec tests: a record built and read back (strings, numbers, the
 * recipient list, cuts at TRACE_STR_MAX and TRACE_REC_MAX), damaged
 * records refused, and the ring: wrap-around, a full ring that drops and
 * counts, the one kick past half full, and a producer thread against the
 * consumer (order kept, nothing lost that was not counted).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/trace/trace_rec.h"

static struct trace_enc enc;

Test(trace_rec, round_trip)
{
	struct trace_rec rec;
	const unsigned char *it = NULL;
	const char *a;
	uint16_t n;
	uint32_t len;

	trace_enc_init(&enc, TRACE_ATTEMPT, 0x6B15B70901000001ull, 1796585225907);
	trace_enc_result(&enc, TRACE_R_DEFERRED);
	trace_enc_str(&enc, TRACE_S_CONNECTOR, "default");
	trace_enc_str(&enc, TRACE_S_HOST, "");
	trace_enc_str(&enc, TRACE_S_DETAIL, "connect to 127.0.0.1:2526 refused");
	trace_enc_str(&enc, TRACE_S_IP, NULL);		/* absent */
	trace_enc_num(&enc, TRACE_N_MS, 12);
	trace_enc_num(&enc, TRACE_N_ATTEMPT, 3);
	trace_enc_rcpt(&enc, "bob@example.test");
	trace_enc_rcpt(&enc, "carol@example.test");
	len = trace_enc_end(&enc);
	cr_assert_eq(len % 8, 0);
	cr_assert_eq(trace_rec_decode(enc.buf, len, &rec), 0);
	cr_assert_eq(rec.kind, TRACE_ATTEMPT);
	cr_assert_eq(rec.result, TRACE_R_DEFERRED);
	cr_assert_eq(rec.id, 0x6B15B70901000001ull);
	cr_assert_eq(rec.t_ms, 1796585225907);
	cr_assert_eq(rec.num[TRACE_N_MS], 12);
	cr_assert_eq(rec.num[TRACE_N_ATTEMPT], 3);
	cr_assert_eq(rec.num[TRACE_N_NRCPT], 2);	/* counted by the encoder */
	cr_assert_eq(rec.len[TRACE_S_CONNECTOR], 7);
	cr_assert(memcmp(rec.str[TRACE_S_CONNECTOR], "default", 7) == 0);
	cr_assert_not_null(rec.str[TRACE_S_HOST]);	/* empty, but there */
	cr_assert_eq(rec.len[TRACE_S_HOST], 0);
	cr_assert_null(rec.str[TRACE_S_IP]);
	cr_assert_eq(rec.nrcpt_listed, 2);
	cr_assert(trace_rec_rcpt_next(&rec, &it, &a, &n));
	cr_assert(n == 16 && memcmp(a, "bob@example.test", n) == 0);
	cr_assert(trace_rec_rcpt_next(&rec, &it, &a, &n));
	cr_assert(n == 18 && memcmp(a, "carol@example.test", n) == 0);
	cr_assert_not(trace_rec_rcpt_next(&rec, &it, &a, &n));
	cr_assert_str_eq(trace_kind_name(TRACE_FIXNOW), "fixnow");
	cr_assert_str_eq(trace_result_name(TRACE_R_BOUNCED), "bounced");
	cr_assert_null(trace_kind_name(TRACE_KIND_MAX));
}

Test(trace_rec, cuts)
{
	static char big[3 * TRACE_STR_MAX];
	struct trace_rec rec;
	uint32_t len, listed = 0;

	memset(big, 'x', sizeof(big) - 1);
	trace_enc_init(&enc, TRACE_RECEIVED, 1, 1);
	trace_enc_str(&enc, TRACE_S_DETAIL, big);	/* cut at TRACE_STR_MAX */
	for (int i = 0; i < 20; i++)		/* 20 x 1 KiB: only some fit */
		trace_enc_rcpt(&enc, big);
	len = trace_enc_end(&enc);
	cr_assert_leq(len, TRACE_REC_MAX);
	cr_assert_eq(trace_rec_decode(enc.buf, len, &rec), 0);
	cr_assert_eq(rec.len[TRACE_S_DETAIL], TRACE_STR_MAX);
	cr_assert_eq(rec.num[TRACE_N_NRCPT], 20);	/* all counted */
	listed = rec.nrcpt_listed;
	cr_assert(listed > 0 && listed < 20, "listed %u", listed);
}

Test(trace_rec, damaged)
{
	struct trace_rec rec;
	unsigned char copy[TRACE_REC_MAX];
	uint32_t len, bad;

	trace_enc_init(&enc, TRACE_HOLD, 7, 7);
	trace_enc_str(&enc, TRACE_S_DETAIL, "held");
	len = trace_enc_end(&enc);
	memcpy(copy, enc.buf, len);
	cr_assert_eq(trace_rec_decode(copy, len - 8, &rec), -EINVAL);	/* length */
	copy[6] ^= 1;							/* magic */
	cr_assert_eq(trace_rec_decode(copy, len, &rec), -EINVAL);
	memcpy(copy, enc.buf, len);
	copy[4] = TRACE_KIND_MAX;					/* kind */
	cr_assert_eq(trace_rec_decode(copy, len, &rec), -EINVAL);
	memcpy(copy, enc.buf, len);
	copy[TRACE_HDR_SIZE] = TRACE_NSTR + 1;				/* slot */
	cr_assert_eq(trace_rec_decode(copy, len, &rec), -EINVAL);
	memcpy(copy, enc.buf, len);
	bad = 0xffff;							/* entry
									   past the end */
	memcpy(copy + TRACE_HDR_SIZE + 1, &bad, 2);
	cr_assert_eq(trace_rec_decode(copy, len, &rec), -EINVAL);
	cr_assert_eq(trace_rec_decode(copy, 3, &rec), -EINVAL);
}

/* A record of kind TRACE_RECEIVED for id with a payload of about pad bytes. */
static uint32_t
make(uint64_t id, size_t pad)
{
	static char s[TRACE_STR_MAX + 1];

	memset(s, 'p', pad < TRACE_STR_MAX ? pad : TRACE_STR_MAX);
	s[pad < TRACE_STR_MAX ? pad : TRACE_STR_MAX] = '\0';
	trace_enc_init(&enc, TRACE_RECEIVED, id, 0);
	trace_enc_str(&enc, TRACE_S_DETAIL, s);
	return trace_enc_end(&enc);
}

Test(trace_rec, ring_wrap_full_kick)
{
	uint64_t size = 2 * TRACE_REC_MAX;
	unsigned char *buf = malloc(size), out[TRACE_REC_MAX];
	struct trace_ring r;
	struct trace_rec rec;
	uint64_t next = 1, want = 1;
	int kicks = 0;

	trace_ring_init(&r, buf, size);
	cr_assert_eq(trace_ring_pop(&r, out), 0);
	/* many rounds of push 3, pop 2 or 3: positions wrap many times */
	for (int round = 0; round < 500; round++) {
		for (int k = 0; k < 3; k++) {
			uint32_t len = make(next, (size_t)(round * 7 + k * 131) % 900);
			int rc = trace_ring_push(&r, enc.buf, len);
			if (rc == -ENOSPC)
				continue;
			kicks += rc == 1;
			next++;
		}
		for (int k = 0; k < 2 + round % 2; k++) {
			long n = trace_ring_pop(&r, out);
			if (n == 0)
				break;
			cr_assert_gt(n, 0);
			cr_assert_eq(trace_rec_decode(out, (size_t)n, &rec), 0);
			cr_assert_eq(rec.id, want, "id %llu, want %llu",
				     (unsigned long long)rec.id, (unsigned long long)want);
			want++;
		}
	}
	/* full: nothing pushed beyond the size, each refusal counted */
	while (trace_ring_pop(&r, out) > 0)
		want++;
	cr_assert_eq(want, next);
	{
		uint32_t len = make(0, 1000);
		uint64_t ok = 0, before = atomic_load(&r.dropped);
		for (int i = 0; i < 100; i++)
			ok += trace_ring_push(&r, enc.buf, len) >= 0;
		cr_assert_eq(ok, size / len);
		cr_assert_eq(atomic_load(&r.dropped) - before, 100 - ok);
	}
	cr_assert_geq(kicks, 0);
	free(buf);
}

Test(trace_rec, kick_once)
{
	uint64_t size = 4 * TRACE_REC_MAX;
	unsigned char *buf = malloc(size);
	struct trace_ring r;
	int ones = 0;

	trace_ring_init(&r, buf, size);
	for (int i = 0; i < 30; i++) {
		uint32_t len = make((uint64_t)i + 1, 1000);
		ones += trace_ring_push(&r, enc.buf, len) == 1;
	}
	cr_assert_eq(ones, 1, "the consumer is asked once until it clears kicked");
	atomic_store(&r.kicked, false);
	free(buf);
}

/* ---- one producer thread, the consumer here ---- */

#define STRESS_N 200000

static struct trace_ring sr;

static void *
producer(void *arg)
{
	static struct trace_enc pe;	/* the producer's own */

	for (uint64_t i = 1; i <= STRESS_N; i++) {
		trace_enc_init(&pe, TRACE_ATTEMPT, i, (int64_t)i);
		trace_enc_rcpt(&pe, "someone@example.test");
		trace_ring_push(&sr, pe.buf, trace_enc_end(&pe));
	}
	return NULL;
}

Test(trace_rec, spsc_threads)
{
	uint64_t size = 1 << 16;
	unsigned char *buf = malloc(size), out[TRACE_REC_MAX];
	struct trace_rec rec;
	uint64_t last = 0, got = 0;
	pthread_t t;
	bool done = false;

	trace_ring_init(&sr, buf, size);
	pthread_create(&t, NULL, producer, NULL);
	while (!done || atomic_load(&sr.head) != atomic_load(&sr.tail)) {
		long n = trace_ring_pop(&sr, out);
		if (n == 0) {
			done = atomic_load(&sr.pushed) + atomic_load(&sr.dropped) == STRESS_N;
			continue;
		}
		cr_assert_gt(n, 0);
		cr_assert_eq(trace_rec_decode(out, (size_t)n, &rec), 0);
		cr_assert_gt(rec.id, last, "order kept");
		last = rec.id;
		got++;
	}
	pthread_join(t, NULL);
	cr_assert_eq(got, atomic_load(&sr.pushed));
	cr_assert_eq(got + atomic_load(&sr.dropped), STRESS_N);
	free(buf);
}
