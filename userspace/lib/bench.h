/* bench.h — snapctl bench's engine side: the interleaved schedule and the
 * statistics over runs. Pure functions here; no process is touched. */
#ifndef SNAP_BENCH_H
#define SNAP_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include <snap/snap.h>

/* The value at percentile pct (0..100) of n sorted values, interpolated
 * linearly between the two nearest ranks and rounded down; n > 0. */
uint64_t snap_bench_percentile(const uint64_t *sorted, size_t n, uint32_t pct);

/* Statistics of the values that are not SNAP_BENCH_NA (values is left as
 * it was). Returns -ENOMEM, else 0. */
int snap_bench_stat_compute(const uint64_t *values, size_t n, struct snap_bench_stat *ret_stat);

/* Step `step` of the schedule that runs every mode in `modes` `runs`
 * times, interleaved: round r runs each mode once, in enum order.
 * Returns -ERANGE past the last step. */
int snap_bench_schedule(uint32_t modes, uint32_t runs, uint32_t step, enum snap_bench_mode *ret_mode,
			uint32_t *ret_index);

#endif
