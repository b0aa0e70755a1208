# Benchmark helpers, included by the top-level Makefile (make bench runs them).
# limits: this machine's ceilings, measured beside every capture/restore run.

$(B)/tests/bench/limits: tests/bench/limits.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -lzstd -lpthread -o $@

engine: $(B)/tests/bench/limits
