/* test_bench.c — snapctl bench's arithmetic: percentiles and summaries on
 * known inputs (numpy's linear interpolation), the interleaved schedule,
 * and the mode names. No process is started here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "bench.h"

static void test_percentile_odd(void **state)
{
	const uint64_t v[] = { 10, 20, 30, 40, 50 };

	assert_int_equal(snap_bench_percentile(v, 5, 0), 10);
	assert_int_equal(snap_bench_percentile(v, 5, 50), 30);
	assert_int_equal(snap_bench_percentile(v, 5, 100), 50);
	/* numpy.percentile([10,20,30,40,50], 95) == 48.0; 5 -> 12.0 */
	assert_int_equal(snap_bench_percentile(v, 5, 95), 48);
	assert_int_equal(snap_bench_percentile(v, 5, 5), 12);
	assert_int_equal(snap_bench_percentile(v, 5, 25), 20);
}

static void test_percentile_even(void **state)
{
	const uint64_t v[] = { 100, 200, 400, 800 };

	/* The median of an even count is the mean of the middle two. */
	assert_int_equal(snap_bench_percentile(v, 4, 50), 300);
	/* numpy: p95 = 800 - 0.15 * 400 = 740; p5 = 100 + 0.15 * 100 = 115 */
	assert_int_equal(snap_bench_percentile(v, 4, 95), 740);
	assert_int_equal(snap_bench_percentile(v, 4, 5), 115);
}

static void test_percentile_one_and_two(void **state)
{
	const uint64_t one[] = { 7 }, two[] = { 1000, 2000 };

	assert_int_equal(snap_bench_percentile(one, 1, 5), 7);
	assert_int_equal(snap_bench_percentile(one, 1, 50), 7);
	assert_int_equal(snap_bench_percentile(one, 1, 95), 7);
	assert_int_equal(snap_bench_percentile(two, 2, 50), 1500);
	assert_int_equal(snap_bench_percentile(two, 2, 95), 1950);
	assert_int_equal(snap_bench_percentile(two, 2, 5), 1050);
}

static void test_percentile_large_values(void **state)
{
	/* Nanoseconds of long runs: no overflow in the interpolation. */
	const uint64_t v[] = { 1ull << 62, (1ull << 62) + 1000 };

	assert_true(snap_bench_percentile(v, 2, 50) == (1ull << 62) + 500);
}

static void test_stat_unsorted(void **state)
{
	const uint64_t v[] = { 50, 10, 40, 20, 30 };
	uint64_t copy[5];
	struct snap_bench_stat st;

	memcpy(copy, v, sizeof(v));
	assert_int_equal(snap_bench_stat_compute(copy, 5, &st), 0);
	assert_int_equal(st.count, 5);
	assert_int_equal(st.min, 10);
	assert_int_equal(st.max, 50);
	assert_int_equal(st.median, 30);
	assert_int_equal(st.p95, 48);
	assert_int_equal(st.p5, 12);
	/* The caller's array is left as it was. */
	assert_memory_equal(copy, v, sizeof(v));
}

static void test_stat_skips_missing(void **state)
{
	const uint64_t v[] = { SNAP_BENCH_NA, 9, SNAP_BENCH_NA, 3, 6 };
	const uint64_t none[] = { SNAP_BENCH_NA, SNAP_BENCH_NA };
	struct snap_bench_stat st;

	assert_int_equal(snap_bench_stat_compute(v, 5, &st), 0);
	assert_int_equal(st.count, 3);
	assert_int_equal(st.min, 3);
	assert_int_equal(st.median, 6);
	assert_int_equal(st.max, 9);

	assert_int_equal(snap_bench_stat_compute(none, 2, &st), 0);
	assert_int_equal(st.count, 0);
	assert_true(st.min == SNAP_BENCH_NA && st.median == SNAP_BENCH_NA && st.p95 == SNAP_BENCH_NA);
	assert_int_equal(snap_bench_stat_compute(NULL, 0, &st), 0);
	assert_int_equal(st.count, 0);
}

static void expect_step(uint32_t modes, uint32_t runs, uint32_t step, enum snap_bench_mode mode, uint32_t index)
{
	enum snap_bench_mode m;
	uint32_t i;

	assert_int_equal(snap_bench_schedule(modes, runs, step, &m, &i), 0);
	assert_int_equal(m, mode);
	assert_int_equal(i, index);
}

static void test_schedule_interleaves(void **state)
{
	const enum snap_bench_mode want[] = { SNAP_BENCH_COLD, SNAP_BENCH_EAGER, SNAP_BENCH_LAZY,
					      SNAP_BENCH_LAZY_PREFETCH };
	enum snap_bench_mode m;
	uint32_t i;

	/* cold, eager, lazy, lazy-prefetch, cold, eager, ... */
	for (uint32_t step = 0; step < 12; step++)
		expect_step(SNAP_BENCH_ALL_MODES, 3, step, want[step % 4], step / 4);
	assert_int_equal(snap_bench_schedule(SNAP_BENCH_ALL_MODES, 3, 12, &m, &i), -ERANGE);
}

static void test_schedule_subset(void **state)
{
	uint32_t modes = (1u << SNAP_BENCH_COLD) | (1u << SNAP_BENCH_LAZY);
	enum snap_bench_mode m;
	uint32_t i;

	expect_step(modes, 2, 0, SNAP_BENCH_COLD, 0);
	expect_step(modes, 2, 1, SNAP_BENCH_LAZY, 0);
	expect_step(modes, 2, 2, SNAP_BENCH_COLD, 1);
	expect_step(modes, 2, 3, SNAP_BENCH_LAZY, 1);
	assert_int_equal(snap_bench_schedule(modes, 2, 4, &m, &i), -ERANGE);
	/* One mode: every step is that mode. */
	expect_step(1u << SNAP_BENCH_EAGER, 5, 4, SNAP_BENCH_EAGER, 4);
	assert_int_equal(snap_bench_schedule(0, 5, 0, &m, &i), -ERANGE);
	assert_int_equal(snap_bench_schedule(SNAP_BENCH_ALL_MODES, 0, 0, &m, &i), -ERANGE);
}

static void test_mode_names(void **state)
{
	uint32_t modes = 0;

	assert_string_equal(snap_bench_mode_name(SNAP_BENCH_COLD), "cold");
	assert_string_equal(snap_bench_mode_name(SNAP_BENCH_LAZY_PREFETCH), "lazy-prefetch");
	assert_int_equal(snap_bench_modes_parse("cold,lazy-prefetch", &modes), 0);
	assert_int_equal(modes, (1u << SNAP_BENCH_COLD) | (1u << SNAP_BENCH_LAZY_PREFETCH));
	assert_int_equal(snap_bench_modes_parse("eager", &modes), 0);
	assert_int_equal(modes, 1u << SNAP_BENCH_EAGER);
	assert_int_equal(snap_bench_modes_parse("cold,eager,lazy,lazy-prefetch", &modes), 0);
	assert_int_equal(modes, SNAP_BENCH_ALL_MODES);
	/* A prefix, a stray comma-only list, or an unknown name is refused. */
	assert_int_equal(snap_bench_modes_parse("laz", &modes), -EINVAL);
	assert_int_equal(snap_bench_modes_parse(",", &modes), -EINVAL);
	assert_int_equal(snap_bench_modes_parse("", &modes), -EINVAL);
	assert_int_equal(snap_bench_modes_parse("cold,warm", &modes), -EINVAL);
	assert_true(snap_bench_mode_available(SNAP_BENCH_COLD));
	assert_true(snap_bench_mode_available(SNAP_BENCH_EAGER));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_percentile_odd),
		cmocka_unit_test(test_percentile_even),
		cmocka_unit_test(test_percentile_one_and_two),
		cmocka_unit_test(test_percentile_large_values),
		cmocka_unit_test(test_stat_unsorted),
		cmocka_unit_test(test_stat_skips_missing),
		cmocka_unit_test(test_schedule_interleaves),
		cmocka_unit_test(test_schedule_subset),
		cmocka_unit_test(test_mode_names),
	};

	return cmocka_run_group_tests_name("bench", tests, NULL, NULL);
}
