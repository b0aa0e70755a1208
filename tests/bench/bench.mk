# Benchmark helpers, included by the top-level Makefile (make bench runs them).
# limits: this machine's ceilings, measured beside every capture/restore run.

$(B)/tests/bench/limits: tests/bench/limits.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -lzstd -lpthread -o $@

engine: $(B)/tests/bench/limits

# bench_workload: the stand-in service snapctl bench measures (the suite and
# make bench); built like the integration programs, never sanitized.
$(B)/tests/bench/bench_workload: tests/bench/bench_workload.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 -D_GNU_SOURCE $(WARN) $< -o $@

engine: $(B)/tests/bench/bench_workload

# dirtier: the pre-copy benchmark's workload (writes 1% of its pages per 100 ms).
$(B)/tests/bench/dirtier: tests/bench/dirtier.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=gnu11 $(WARN) $< -o $@

engine: $(B)/tests/bench/dirtier

# uffd_raw: a bare UFFDIO_COPY fault loop, the page server's ceiling
# (scripts/bench-lazy runs it beside lazy restores).
$(B)/tests/bench/uffd_raw: tests/bench/uffd_raw.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -lpthread -o $@

engine: $(B)/tests/bench/uffd_raw
