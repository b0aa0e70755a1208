/* test_codec.c — the chunk codec: round trips, the raw/zstd choice, and a
 * decoder that refuses bad frames without writing outside dst (guard page). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zstd.h>

#include "codec.h"
#include "image.h"

#define CHUNK_LEN (SNAP_CHUNK_MAX_PAGES * SNAP_PAGE_SIZE)

static uint64_t rng_state = 0x853c49e6748fea9bull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Text-like pages: compress well but are not trivially repetitive. */
static void fill_compressible(uint8_t *p, size_t len)
{
	static const char words[][8] = { "tensor", "weight", "grad", "layer", "bias", "adam", "step", "norm" };

	for (size_t i = 0; i < len;) {
		const char *w = words[rng() % 8];
		for (size_t k = 0; w[k] && i < len; k++)
			p[i++] = (uint8_t)w[k];
		if (i < len)
			p[i++] = ' ';
	}
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

/* A buffer of len bytes whose last byte is followed by an inaccessible
 * page: a write one byte too far faults instead of passing unnoticed. */
struct guarded {
	void *map;
	size_t map_len;
	uint8_t *p;
};

static void guarded_alloc(struct guarded *g, size_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t data = (len + page - 1) / page * page;

	g->map_len = data + page;
	g->map = mmap(NULL, g->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect((uint8_t *)g->map + data, page, PROT_NONE), 0);
	g->p = (uint8_t *)g->map + data - len;
	/* The slack before p is a canary too: nothing may write below dst. */
	memset(g->map, 0x5a, data);
}

static void guarded_free(struct guarded *g)
{
	size_t slack = (size_t)(g->p - (uint8_t *)g->map);

	for (size_t i = 0; i < slack; i++)
		assert_int_equal(((uint8_t *)g->map)[i], 0x5a);
	munmap(g->map, g->map_len);
}

/* The every-byte loops run on a 4-page chunk: small enough to try each
 * corruption quickly, large enough for several zstd blocks' worth of work. */
#define SMALL_LEN (4 * SNAP_PAGE_SIZE)

struct fixture {
	struct snap_codec *codec;
	uint8_t *src, *frame;
	size_t frame_len;        /* frame of src[0..CHUNK_LEN) */
	uint8_t *small_frame;
	size_t small_frame_len;  /* frame of src[0..SMALL_LEN) */
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || snap_codec_new(&f->codec) < 0)
		return -1;
	f->src = malloc(CHUNK_LEN);
	f->frame = malloc(CHUNK_LEN);
	f->small_frame = malloc(SMALL_LEN);
	if (!f->src || !f->frame || !f->small_frame)
		return -1;
	/* Most tests start from one good frame of compressible data. */
	fill_compressible(f->src, CHUNK_LEN);
	if (snap_codec_compress(f->codec, f->src, CHUNK_LEN, f->frame, CHUNK_LEN, &f->frame_len) != SNAP_CHUNK_ZSTD ||
	    snap_codec_compress(f->codec, f->src, SMALL_LEN, f->small_frame, SMALL_LEN, &f->small_frame_len) !=
		    SNAP_CHUNK_ZSTD)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	snap_codec_free(f->codec);
	free(f->src);
	free(f->frame);
	free(f->small_frame);
	free(f);
	return 0;
}

/* Compresses src, and when zstd was chosen decompresses it into a guarded
 * buffer and compares. Returns the encoding chosen. */
static int round_trip(struct snap_codec *codec, const uint8_t *src, size_t len, size_t *ret_stored)
{
	uint8_t *frame = malloc(len);
	struct guarded out;
	size_t n = 0;
	int enc;

	assert_non_null(frame);
	enc = snap_codec_compress(codec, src, len, frame, len, &n);
	assert_true(enc == SNAP_CHUNK_ZSTD || enc == SNAP_CHUNK_RAW);
	if (enc == SNAP_CHUNK_ZSTD) {
		/* Stored compressed only when it saves at least 1/8. */
		assert_true(n > 0 && n <= len - (len >> SNAP_CODEC_MIN_SAVING_SHIFT));
		guarded_alloc(&out, len);
		memset(out.p, 0xa5, len);
		assert_int_equal(snap_codec_decompress(codec, frame, n, out.p, len), 0);
		assert_memory_equal(out.p, src, len);
		guarded_free(&out);
	}
	free(frame);
	*ret_stored = enc == SNAP_CHUNK_ZSTD ? n : len;
	return enc;
}

static void test_compressible_round_trip(void **state)
{
	struct fixture *f = *state;
	size_t stored;

	assert_int_equal(round_trip(f->codec, f->src, CHUNK_LEN, &stored), SNAP_CHUNK_ZSTD);
	assert_true(stored < CHUNK_LEN / 2);
	/* A single page too: the smallest chunk the writer makes. */
	assert_int_equal(round_trip(f->codec, f->src, SNAP_PAGE_SIZE, &stored), SNAP_CHUNK_ZSTD);
}

static void test_random_is_raw(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = malloc(CHUNK_LEN);
	size_t stored;

	assert_non_null(buf);
	fill_random(buf, CHUNK_LEN);
	assert_int_equal(round_trip(f->codec, buf, CHUNK_LEN, &stored), SNAP_CHUNK_RAW);
	assert_int_equal(round_trip(f->codec, buf, SNAP_PAGE_SIZE, &stored), SNAP_CHUNK_RAW);
	/* Half zero, half random saves far more than 1/8: compressed. */
	memset(buf, 0, CHUNK_LEN / 2);
	assert_int_equal(round_trip(f->codec, buf, CHUNK_LEN, &stored), SNAP_CHUNK_ZSTD);
	assert_true(stored < CHUNK_LEN / 2 + CHUNK_LEN / 16);
	/* 1/16 zero, 15/16 random saves less than 1/8: raw, though zstd
	 * would shrink it a little (and the leading sample compresses). */
	fill_random(buf, CHUNK_LEN);
	memset(buf, 0, CHUNK_LEN / 16);
	assert_int_equal(round_trip(f->codec, buf, CHUNK_LEN, &stored), SNAP_CHUNK_RAW);
	/* The codec judges a large chunk by its first 16 KiB: dense data
	 * there sends the whole chunk raw, whatever follows. */
	fill_random(buf, 16384);
	memset(buf + 16384, 0, CHUNK_LEN - 16384);
	assert_int_equal(round_trip(f->codec, buf, CHUNK_LEN, &stored), SNAP_CHUNK_RAW);
	free(buf);
}

static void test_zero_round_trip(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = calloc(1, CHUNK_LEN);
	size_t stored;

	assert_non_null(buf);
	assert_int_equal(round_trip(f->codec, buf, CHUNK_LEN, &stored), SNAP_CHUNK_ZSTD);
	assert_true(stored < 128);
	free(buf);
}

/* Decompresses frame[0..len) into a guarded dst of dst_len bytes and
 * returns the result; dst must not be touched below or past its end. */
static int decompress_guarded(struct snap_codec *codec, const void *frame, size_t len, size_t dst_len)
{
	struct guarded out;
	int r;

	guarded_alloc(&out, dst_len);
	r = snap_codec_decompress(codec, frame, len, out.p, dst_len);
	guarded_free(&out);
	return r;
}

static void test_rejects_corrupt_frame(void **state)
{
	struct fixture *f = *state;
	size_t len = f->small_frame_len;
	uint8_t *bad = malloc(len);
	size_t rejected = 0;

	assert_non_null(bad);
	assert_int_equal(decompress_guarded(f->codec, f->small_frame, len, SMALL_LEN), 0);

	/* The frame magic: not a zstd frame at all. */
	for (size_t i = 0; i < 4; i++) {
		memcpy(bad, f->small_frame, len);
		bad[i] ^= 0xff;
		assert_int_equal(decompress_guarded(f->codec, bad, len, SMALL_LEN), -EBADMSG);
	}
	/* The frame header descriptor's content size width: the size read
	 * changes. */
	memcpy(bad, f->small_frame, len);
	bad[4] ^= 0xc0;
	assert_int_equal(decompress_guarded(f->codec, bad, len, SMALL_LEN), -EBADMSG);

	/* Any other byte: the frame has no checksum of its own (the chunk CRC
	 * in the pages file is the integrity check), so a flipped literal may
	 * decode to other bytes. What must hold for every byte is that the
	 * decoder returns 0 or -EBADMSG and stays inside dst. */
	for (size_t i = 0; i < len; i++) {
		int r;

		memcpy(bad, f->small_frame, len);
		bad[i] ^= 0xff;
		r = decompress_guarded(f->codec, bad, len, SMALL_LEN);
		assert_true(r == 0 || r == -EBADMSG);
		rejected += r == -EBADMSG;
	}
	assert_true(rejected >= 5);
	free(bad);
}

static void test_rejects_trailing_bytes(void **state)
{
	struct fixture *f = *state;
	uint8_t *buf = malloc(2 * f->frame_len);

	assert_non_null(buf);
	memcpy(buf, f->frame, f->frame_len);
	buf[f->frame_len] = 0;
	assert_int_equal(decompress_guarded(f->codec, buf, f->frame_len + 1, CHUNK_LEN), -EBADMSG);
	/* A second complete frame after the first is trailing bytes too. */
	memcpy(buf + f->frame_len, f->frame, f->frame_len);
	assert_int_equal(decompress_guarded(f->codec, buf, 2 * f->frame_len, CHUNK_LEN), -EBADMSG);
	assert_int_equal(decompress_guarded(f->codec, buf, 2 * f->frame_len, 2 * CHUNK_LEN), -EBADMSG);
	free(buf);
}

static void test_rejects_wrong_dst_len(void **state)
{
	struct fixture *f = *state;
	static const size_t lens[] = { 0, 1, SNAP_PAGE_SIZE, CHUNK_LEN - 1, CHUNK_LEN + 1, 2 * CHUNK_LEN };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		assert_int_equal(decompress_guarded(f->codec, f->frame, f->frame_len, lens[i]), -EBADMSG);
}

static void test_rejects_truncated(void **state)
{
	struct fixture *f = *state;

	for (size_t len = 0; len < f->small_frame_len; len++)
		assert_int_equal(decompress_guarded(f->codec, f->small_frame, len, SMALL_LEN), -EBADMSG);
	/* And a few cuts of the large frame, the last block included. */
	for (size_t cut = 1; cut <= 64 && cut <= f->frame_len; cut *= 2)
		assert_int_equal(decompress_guarded(f->codec, f->frame, f->frame_len - cut, CHUNK_LEN), -EBADMSG);
}

/* A streamed frame does not record its content size: the decoder cannot
 * know it yields exactly dst_len without trusting it, so it refuses. */
static void test_rejects_frame_without_size(void **state)
{
	struct fixture *f = *state;
	ZSTD_CCtx *cctx = ZSTD_createCCtx();
	uint8_t *frame = malloc(CHUNK_LEN);
	ZSTD_inBuffer in = { f->src, CHUNK_LEN, 0 };
	ZSTD_outBuffer out = { frame, CHUNK_LEN, 0 };
	size_t left;

	assert_non_null(cctx);
	assert_non_null(frame);
	assert_false(ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 0)));
	do {
		left = ZSTD_compressStream2(cctx, &out, &in, ZSTD_e_end);
		assert_false(ZSTD_isError(left));
	} while (left);
	assert_int_equal(ZSTD_getFrameContentSize(frame, out.pos), ZSTD_CONTENTSIZE_UNKNOWN);
	assert_int_equal(decompress_guarded(f->codec, frame, out.pos, CHUNK_LEN), -EBADMSG);
	ZSTD_freeCCtx(cctx);
	free(frame);
}

/* The contract is dst_cap >= len; the codec never needs more than that. */
static void test_compress_fits_len(void **state)
{
	struct fixture *f = *state;
	struct guarded out;
	size_t n = 0;

	guarded_alloc(&out, CHUNK_LEN);
	assert_int_equal(snap_codec_compress(f->codec, f->src, CHUNK_LEN, out.p, CHUNK_LEN, &n), SNAP_CHUNK_ZSTD);
	assert_int_equal(n, f->frame_len);
	assert_memory_equal(out.p, f->frame, n);
	guarded_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_compressible_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_is_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_zero_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_corrupt_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_trailing_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_wrong_dst_len, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects_frame_without_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_compress_fits_len, setup, teardown),
	};

	return cmocka_run_group_tests_name("codec", tests, NULL, NULL);
}
