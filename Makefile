# snapctl — top-level build.
#   make            libsnap, snapctl, test programs (build/)
#   make SANITIZE=1 the same with ASan+UBSan (build-san/)
#   make check      every test suite, plain then sanitized; last line is the summary
#   make bench      benchmarks (figures only, nothing asserted)
#   make lint       shellcheck and the project's own grep rules

SANITIZE ?= 0
ifeq ($(SANITIZE),1)
B ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
B ?= build
SANFLAGS :=
endif

CC      ?= cc
OPT     ?= -O2
WARN    := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-format-truncation
CFLAGS  := $(OPT) -g -std=gnu11 -D_GNU_SOURCE $(WARN) -MMD -MP -Iinclude -Iuserspace/lib $(SANFLAGS)
LDFLAGS := $(SANFLAGS) -Wl,-z,noexecstack
LIBS    := -luring -lzstd -lbpf -lpthread

all: engine

# ---- libsnap ---------------------------------------------------------------
LIB_SRC := $(wildcard userspace/lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o) $(B)/restorer_blob.o

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

# The restorer runs after the restoring process has unmapped everything it
# came with: freestanding, position independent, never instrumented.
RESTORER_CFLAGS := -O2 -g0 -std=gnu11 -D_GNU_SOURCE $(WARN) -Iuserspace/lib \
	-ffreestanding -fno-builtin -nostdlib -fpie -fno-plt -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-unwind-tables -fno-jump-tables \
	-fno-exceptions -mno-red-zone -fcf-protection=none -fvisibility=hidden
$(B)/restorer/restorer.o: userspace/lib/restorer/restorer.c userspace/lib/restorer/restorer.h
	@mkdir -p $(dir $@)
	$(CC) $(RESTORER_CFLAGS) -c $< -o $@
$(B)/restorer/restorer.elf: $(B)/restorer/restorer.o userspace/lib/restorer/restorer.lds
	$(CC) -nostdlib -static -Wl,--build-id=none -Wl,-T,userspace/lib/restorer/restorer.lds -Wl,--no-undefined $< -o $@
	@if readelf -r $@ | grep -q 'R_X86_64'; then echo "restorer blob needs relocations" >&2; exit 1; fi
$(B)/restorer/restorer.bin: $(B)/restorer/restorer.elf
	objcopy -O binary $< $@
$(B)/restorer_blob.o: $(B)/restorer/restorer.bin
	cd $(B)/restorer && objcopy -I binary -O elf64-x86-64 -B i386:x86-64 \
		--rename-section .data=.rodata,alloc,load,readonly,data,contents \
		restorer.bin ../restorer_blob.o

$(B)/libsnap.a: $(LIB_OBJ)
	ar rcs $@ $^

# ---- snapctl ---------------------------------------------------------------
CLI_SRC := $(wildcard userspace/cli/*.c)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
$(B)/snapctl: $(CLI_OBJ) $(B)/libsnap.a
	$(CC) $(LDFLAGS) $^ $(LIBS) -o $@

# ---- tests -------------------------------------------------------------------
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
$(B)/tests/unit/%: tests/unit/%.c $(B)/libsnap.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(B)/libsnap.a $(LDFLAGS) $(LIBS) -lcmocka -o $@
# The JSON writer belongs to snapctl, not libsnap: its test links it directly.
$(B)/tests/unit/test_json: tests/unit/test_json.c userspace/cli/json.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Iuserspace/cli $^ $(LDFLAGS) -lcmocka -o $@

# Integration test programs: each built dynamic and -static, never
# sanitized (they are the processes being captured, not the code under test).
PROG_SRC := $(wildcard tests/integration/progs/*.c)
PROG_CFLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE $(WARN) -Itests/integration/progs
PROG_BIN := $(PROG_SRC:tests/integration/progs/%.c=$(B)/tests/progs/%) \
	$(PROG_SRC:tests/integration/progs/%.c=$(B)/tests/progs/%-static)
$(B)/tests/progs/%: tests/integration/progs/%.c tests/integration/progs/prog.h
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) $< -o $@ -lpthread
$(B)/tests/progs/%-static: tests/integration/progs/%.c tests/integration/progs/prog.h
	@mkdir -p $(dir $@)
	$(CC) $(PROG_CFLAGS) -static $< -o $@ -lpthread

engine: $(B)/snapctl $(UNIT_BIN) $(PROG_BIN)

-include bpf/bpf.mk
-include tools/bake/bake.mk
-include tests/fuzz/fuzz.mk
-include tests/bench/bench.mk

check:
	./scripts/check

# Tests that need another kernel (soft-dirty, the bpf LSM), in a qemu guest.
check-kernel: all
	./scripts/check-kernel

bench: all
	./scripts/bench

lint:
	./scripts/lint

clean:
	rm -rf build build-san

.PHONY: all engine check check-kernel bench lint clean
-include $(shell find $(B) -name '*.d' 2>/dev/null)
