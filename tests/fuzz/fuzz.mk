# tests/fuzz/fuzz.mk — `make fuzz`: the snapshot reader's libFuzzer target, built
# by clang from the reader's own sources; never part of `all`.

FUZZ_CC := clang
# -Wno-format-truncation is gcc's own: clang refuses it under -Werror.
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-std=gnu11 -D_GNU_SOURCE $(filter-out -Wno-format-truncation,$(WARN)) -Iinclude -Iuserspace/lib
# The reader and what it calls: no zstd, no io, nothing from the gcc-built libsnap.a.
FUZZ_LIB_SRC := userspace/lib/image.c userspace/lib/checksum.c userspace/lib/ctx.c
FUZZ_DEPS := $(FUZZ_LIB_SRC) $(wildcard userspace/lib/*.h) include/snap/snap.h tests/fuzz/meta_reseal.h

$(B)/fuzz_image: tests/fuzz/fuzz_image.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) tests/fuzz/fuzz_image.c $(FUZZ_LIB_SRC) -o $@

# Writes the committed seeds and known-bad files; plain cc, not instrumented.
$(B)/fuzz/gen_corpus: tests/fuzz/gen_corpus.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(CC) -O1 -g -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude -Iuserspace/lib tests/fuzz/gen_corpus.c $(FUZZ_LIB_SRC) -o $@

fuzz: $(B)/fuzz_image

.PHONY: fuzz
