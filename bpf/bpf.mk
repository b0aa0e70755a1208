# bpf.mk — the guard's bpf programs and the snapshot-phase test programs
# (included by the top-level Makefile). Skeletons are generated into $(B)/bpf
# and never committed; without clang or bpftool the guard builds as stubs.
#
#   clang -target bpf   bpf/guard.bpf.c -> $(B)/bpf/guard.bpf.o
#   bpftool gen skeleton                -> $(B)/bpf/guard.skel.h
#   vmlinux.h from /sys/kernel/btf/vmlinux (bpf/vmlinux_min.h when there is none)
#
#   make BPF=0          build without the guard (its functions return -EOPNOTSUPP)
#   make VMLINUX_BTF=/x use another BTF file (or a missing one: the minimal header)

BPF_CLANG   ?= clang
BPF_STRIP   ?= llvm-strip
BPFTOOL     ?= $(or $(shell command -v bpftool 2>/dev/null),$(wildcard /usr/sbin/bpftool))
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
BPF_ARCH    := $(patsubst x86_64,x86,$(patsubst aarch64,arm64,$(shell uname -m)))
BPF         ?= $(if $(and $(shell command -v $(BPF_CLANG) 2>/dev/null),$(BPFTOOL)),1,0)

GUARD_OBJ := $(B)/userspace/lib/guard.o $(B)/userspace/lib/guard_cgroup.o $(B)/userspace/lib/guard_lsm.o

ifeq ($(BPF),1)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Werror -I$(B)/bpf -Ibpf

# The running kernel's types when it has BTF; otherwise the checked-in
# minimal header, whose CO-RE accesses libbpf relocates at load.
$(B)/bpf/vmlinux.h: bpf/vmlinux_min.h
	@mkdir -p $(dir $@)
	@if [ -r "$(VMLINUX_BTF)" ]; then \
		$(BPFTOOL) btf dump file "$(VMLINUX_BTF)" format c >$@.tmp && mv $@.tmp $@; \
	else \
		echo "bpf: no $(VMLINUX_BTF): using bpf/vmlinux_min.h"; cp $< $@; \
	fi

# DWARF is of no use in a skeleton (BTF stays): stripped, as libbpf-bootstrap does.
$(B)/bpf/%.bpf.o: bpf/%.bpf.c bpf/guard_event.h $(B)/bpf/vmlinux.h
	@mkdir -p $(dir $@)
	$(BPF_CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(BPF_STRIP) -g $@
.SECONDARY: $(B)/bpf/guard.bpf.o

$(B)/bpf/%.skel.h: $(B)/bpf/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<))_bpf >$@.tmp && mv $@.tmp $@

$(GUARD_OBJ): $(B)/bpf/guard.skel.h
$(GUARD_OBJ): CFLAGS += -I$(B)/bpf -Ibpf -DSNAP_GUARD_SKELETON
else
$(GUARD_OBJ): CFLAGS += -Ibpf
endif

# ---- test programs of the snapshot phase (tests/run/progs) -------------------
# Never sanitized and linked with nothing but libc: they are the workloads.
RUN_PROG_SRC := $(wildcard tests/run/progs/*.c)
RUN_PROG_BIN := $(RUN_PROG_SRC:tests/run/progs/%.c=$(B)/tests/run/progs/%)
RUN_PROG_CFLAGS := -O1 -g -std=gnu11 -D_GNU_SOURCE $(WARN) -Iinclude

$(B)/tests/run/progs/%: tests/run/progs/%.c include/snap/ready.h include/snap/snap.h
	@mkdir -p $(dir $@)
	$(CC) $(RUN_PROG_CFLAGS) $< -o $@

engine: $(RUN_PROG_BIN)

# The LSM backend, in a qemu guest booted with Debian's 6.1 kernel and the bpf LSM
# on (this host's kernel refuses LSM programs): minutes under TCG, so not in make check.
check-guard-lsm: engine
	./scripts/qemu-guard-lsm

.PHONY: check-guard-lsm
