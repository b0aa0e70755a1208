# snapbake — bakes weight files and snapctl snapshots into OCI image layers.
# Included by the top-level Makefile; objects come from its $(B)/%.o rule.

BAKE_SRC := $(wildcard tools/bake/*.c)
BAKE_OBJ := $(BAKE_SRC:%.c=$(B)/%.o)
BAKE_LIBS := -lcrypto -lz -lzstd -lpthread
# snapbake shares no code with the engine: keep the engine's include folder
# off its path, so an engine header can never shadow a system one here.
BAKE_CFLAGS := $(filter-out -Iuserspace/lib,$(CFLAGS))
$(BAKE_OBJ) $(B)/tests/bake/gen-weights $(B)/tests/bake/test_bake: CFLAGS := $(BAKE_CFLAGS)

$(B)/snapbake: $(BAKE_OBJ)
	$(CC) $(LDFLAGS) $^ $(BAKE_LIBS) -o $@

# Writes weight-like data (float32, normally distributed) for tests and the benchmark.
$(B)/tests/bake/gen-weights: tests/bake/gen-weights.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(LDFLAGS) -lm -o $@

# Unit tests of the modules (cmocka), everything but main.o.
$(B)/tests/bake/test_bake: tests/bake/test_bake.c $(filter-out %/main.o,$(BAKE_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ $(LDFLAGS) $(BAKE_LIBS) -lcmocka -o $@

all: $(B)/snapbake $(B)/tests/bake/gen-weights $(B)/tests/bake/test_bake

.PHONY: snapbake
snapbake: $(B)/snapbake
