/* test_checksum.c — CRC-32C against published vectors, and the SSE4.2 path
 * against the portable table path for every length and alignment. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "checksum.h"

/* Exported by checksum.c for this test only: the table path on any CPU. */
uint32_t snap_crc32c_portable(uint32_t crc, const void *buf, size_t len);

typedef uint32_t (*crc_fn)(uint32_t crc, const void *buf, size_t len);

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng() >> 56);
}

/* RFC 3720 (iSCSI) appendix B.4 and the "check" value of the CRC catalogue. */
static void check_vectors(crc_fn crc)
{
	uint8_t buf[32];

	assert_int_equal(crc(0, "123456789", 9), 0xE3069283u);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(crc(0, buf, sizeof(buf)), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	assert_int_equal(crc(0, buf, sizeof(buf)), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)i;
	assert_int_equal(crc(0, buf, sizeof(buf)), 0x46DD794Eu);
	for (int i = 0; i < 32; i++)
		buf[i] = (uint8_t)(31 - i);
	assert_int_equal(crc(0, buf, sizeof(buf)), 0x113FDB5Cu);
	/* Nothing checksummed leaves the running value as it was. */
	assert_int_equal(crc(0, buf, 0), 0);
	assert_int_equal(crc(0x12345678u, buf, 0), 0x12345678u);
}

static void test_vectors(void **state)
{
	check_vectors(snap_crc32c);
}

static void test_vectors_portable(void **state)
{
	check_vectors(snap_crc32c_portable);
}

/* Feeding a buffer in two pieces, split anywhere, gives the one-shot value:
 * the writer checksums chunk padding and chunk bytes in separate calls. */
static void check_incremental(crc_fn crc)
{
	uint8_t buf[600];
	uint32_t whole;

	fill_random(buf, sizeof(buf));
	whole = crc(0, buf, sizeof(buf));
	for (size_t split = 0; split <= sizeof(buf); split++)
		assert_int_equal(crc(crc(0, buf, split), buf + split, sizeof(buf) - split), whole);
	/* Three pieces of odd sizes, crossing the 8-byte stride. */
	for (size_t a = 0; a < 20; a++)
		for (size_t b = a; b < a + 20; b++)
			assert_int_equal(crc(crc(crc(0, buf, a), buf + a, b - a), buf + b, sizeof(buf) - b), whole);
}

static void test_incremental(void **state)
{
	check_incremental(snap_crc32c);
}

static void test_incremental_portable(void **state)
{
	check_incremental(snap_crc32c_portable);
}

/* A single flipped bit anywhere changes the value: what the snapshot
 * reader relies on to find every single-byte corruption. */
static void test_detects_bit_flips(void **state)
{
	uint8_t buf[256];
	uint32_t whole;

	fill_random(buf, sizeof(buf));
	whole = snap_crc32c(0, buf, sizeof(buf));
	for (size_t i = 0; i < sizeof(buf); i++) {
		for (int bit = 0; bit < 8; bit++) {
			buf[i] ^= (uint8_t)(1u << bit);
			assert_int_not_equal(snap_crc32c(0, buf, sizeof(buf)), whole);
			buf[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(snap_crc32c(0, buf, sizeof(buf)), whole);
}

/* The instruction path and the table path agree on every length 0..520 at
 * every alignment 0..15, with zero and non-zero starting values, and on a
 * few large buffers. On a CPU without SSE4.2 both are the table: skipped. */
static void test_hardware_matches_portable(void **state)
{
	static const size_t big[] = { 4096, 4097, 65536 + 3, 262144, 1u << 20 };
	uint8_t *buf;
	size_t cap = (1u << 20) + 64;

	if (!__builtin_cpu_supports("sse4.2"))
		skip();
	buf = malloc(cap);
	assert_non_null(buf);
	fill_random(buf, cap);
	for (size_t align = 0; align < 16; align++) {
		for (size_t len = 0; len <= 520; len++) {
			uint32_t seed = (uint32_t)rng();

			assert_int_equal(snap_crc32c(0, buf + align, len), snap_crc32c_portable(0, buf + align, len));
			assert_int_equal(snap_crc32c(seed, buf + align, len),
					 snap_crc32c_portable(seed, buf + align, len));
		}
	}
	for (size_t i = 0; i < sizeof(big) / sizeof(big[0]); i++) {
		size_t align = (size_t)(rng() % 16);

		assert_true(align + big[i] <= cap);
		assert_int_equal(snap_crc32c(0, buf + align, big[i]), snap_crc32c_portable(0, buf + align, big[i]));
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_vectors_portable),
		cmocka_unit_test(test_incremental),
		cmocka_unit_test(test_incremental_portable),
		cmocka_unit_test(test_detects_bit_flips),
		cmocka_unit_test(test_hardware_matches_portable),
	};

	return cmocka_run_group_tests_name("checksum", tests, NULL, NULL);
}
