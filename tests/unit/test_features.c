/* test_features.c — the feature probe agrees with what this host really does:
 * each result is checked against an independent observation (a syscall made
 * here, the kernel's own config, statfs, libc's rseq area), never against a
 * hard-coded list, so the test stays right on another kernel. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/magic.h>
#include <linux/prctl.h>

#include <liburing.h>

#include "io.h"
#include "snap_features.h"
#include "sys.h"

static struct snap_features features; /* probed once, in group setup */

static int probe_once(void **state)
{
	return snap_features_probe(&features) == 0 ? 0 : -1;
}

/* ---- independent observations ---------------------------------------- */

/* The running kernel's config: 'y', 'm', 'n' (is not set), or 0 when this
 * host does not publish its config (then tests that need it skip). */
static char kernel_config(const char *option)
{
	static char *config;
	static bool loaded;
	char needle[128], *p;

	if (!loaded) {
		struct utsname u;
		char cmd[256], line[512];
		size_t len = 0, cap = 0;
		FILE *in = NULL;

		loaded = true;
		if (access("/proc/config.gz", R_OK) == 0) {
			in = popen("gzip -dc /proc/config.gz 2>/dev/null", "r");
		} else if (uname(&u) == 0) {
			snprintf(cmd, sizeof(cmd), "/boot/config-%s", u.release);
			in = fopen(cmd, "r");
		}
		if (!in)
			return 0;
		while (fgets(line, sizeof(line), in)) {
			size_t n = strlen(line);

			if (len + n + 1 > cap) {
				cap = (len + n + 1) * 2;
				config = realloc(config, cap);
				assert_non_null(config);
			}
			memcpy(config + len, line, n + 1);
			len += n;
		}
		if (access("/proc/config.gz", R_OK) == 0)
			pclose(in);
		else
			fclose(in);
	}
	if (!config)
		return 0;
	snprintf(needle, sizeof(needle), "\n%s=", option);
	p = strstr(config, needle);
	if (p)
		return p[strlen(needle)];
	snprintf(needle, sizeof(needle), "\n# %s is not set", option);
	return strstr(config, needle) ? 'n' : 0;
}

static bool has_cap(int cap)
{
	char line[256];
	unsigned long long eff = 0;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return (eff >> cap) & 1;
}

/* Root with the capability, in the initial user namespace, with no seccomp
 * filter: nothing but the kernel itself can refuse. */
static bool unconfined(int cap)
{
	char line[256];
	bool no_seccomp = false, init_userns = false;
	FILE *f;

	f = fopen("/proc/self/status", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strcmp(line, "Seccomp:\t0\n"))
			no_seccomp = true;
	fclose(f);
	f = fopen("/proc/self/uid_map", "r");
	assert_non_null(f);
	if (fgets(line, sizeof(line), f)) {
		unsigned long inside, outside, count;

		init_userns = sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && inside == 0 &&
			      outside == 0 && count == 4294967295ul;
	}
	fclose(f);
	return geteuid() == 0 && no_seccomp && init_userns && has_cap(cap);
}

static void assert_consistent(const char *name, const struct snap_feature *f)
{
	if (f->available != (f->err == 0) || f->err > 0)
		fail_msg("%s: available=%d err=%d", name, f->available, f->err);
}

/* ---- the tests -------------------------------------------------------- */

static void test_probe_contract(void **state)
{
	struct utsname u;

	assert_int_equal(snap_features_probe(NULL), -EINVAL);
	assert_int_equal(uname(&u), 0);
	assert_string_equal(features.kernel, u.release);

	assert_consistent("uffd.syscall", &features.uffd.syscall);
	assert_consistent("uffd.dev", &features.uffd.dev);
	assert_consistent("io_uring.ring", &features.io_uring.ring);
	assert_consistent("soft_dirty", &features.soft_dirty);
	assert_consistent("pagemap_scan", &features.pagemap_scan);
	assert_consistent("clone3_set_tid", &features.clone3_set_tid);
	assert_consistent("process_vm_readv", &features.process_vm_readv);
	assert_consistent("kcmp", &features.kcmp);
	assert_consistent("pidfd", &features.pidfd);
	assert_consistent("mm_map", &features.mm_map.prctl);
	assert_consistent("rseq.syscall", &features.rseq.syscall);
	assert_consistent("rseq.ptrace_config", &features.rseq.ptrace_config);
	assert_consistent("cgroup2", &features.cgroup2.mounted);
	assert_consistent("bpf.cgroup_sock", &features.bpf.cgroup_sock);
	assert_consistent("bpf.cgroup_sock_addr", &features.bpf.cgroup_sock_addr);
	assert_consistent("bpf.cgroup_device", &features.bpf.cgroup_device);
	assert_consistent("bpf.lsm", &features.bpf.lsm);
}

/* A second probe on the same host says the same. */
static void test_probe_is_repeatable(void **state)
{
	struct snap_features again;

	assert_int_equal(snap_features_probe(&again), 0);
	assert_int_equal(again.uffd.features, features.uffd.features);
	assert_int_equal(again.io_uring.opcodes_supported, features.io_uring.opcodes_supported);
	assert_int_equal(again.soft_dirty.available, features.soft_dirty.available);
	assert_int_equal(again.pagemap_scan.available, features.pagemap_scan.available);
	assert_int_equal(again.clone3_set_tid.available, features.clone3_set_tid.available);
	assert_string_equal(again.cgroup2.path, features.cgroup2.path);
	assert_int_equal(again.bpf.lsm_active, features.bpf.lsm_active);
}

static void test_name_tables(void **state)
{
	uint64_t all = 0;

	assert_int_equal(snap_features_uffd_bits_count, 17);
	for (size_t i = 0; i < snap_features_uffd_bits_count; i++) {
		uint64_t m = snap_features_uffd_bits[i].value;

		assert_true(m && !(m & (m - 1))); /* one bit each */
		assert_false(all & m);            /* and never the same one twice */
		all |= m;
	}
	assert_int_equal(all, (1u << 17) - 1); /* bits 0..16, PAGEFAULT_FLAG_WP to MOVE */
	for (size_t i = 0; i < snap_features_io_uring_ops_count; i++) {
		assert_true(snap_features_io_uring_ops[i].value < IORING_OP_LAST);
		for (size_t k = 0; k < i; k++)
			assert_true(snap_features_io_uring_ops[k].value != snap_features_io_uring_ops[i].value);
	}
}

/* The feature bits equal what UFFDIO_API tells this test directly. */
static void test_userfaultfd(void **state)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct stat st;
	int fd;

	assert_int_equal(features.uffd.dev_present, stat("/dev/userfaultfd", &st) == 0 && S_ISCHR(st.st_mode));
	if (features.uffd.dev.available)
		assert_true(features.uffd.dev_present);
	if (kernel_config("CONFIG_USERFAULTFD") == 'n')
		assert_false(features.uffd.syscall.available);
	if (kernel_config("CONFIG_USERFAULTFD") == 'y' && unconfined(CAP_SYS_PTRACE))
		assert_true(features.uffd.syscall.available);

	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	assert_int_equal(fd >= 0, features.uffd.syscall.available);
	if (fd < 0) {
		assert_int_equal(fd, features.uffd.syscall.err);
		return;
	}
	assert_int_equal(sys_uffd_api(fd, &api), 0);
	close(fd);
	assert_int_equal(api.features, features.uffd.features);
	assert_int_equal(api.ioctls, features.uffd.ioctls);
	assert_true(api.ioctls & (1ull << _UFFDIO_REGISTER));
	/* Async write-protect came with PAGEMAP_SCAN (Linux 6.7): one implies the other. */
	if (features.uffd.features & UFFD_FEATURE_WP_ASYNC)
		assert_true(features.pagemap_scan.available);
}

static void test_io_uring(void **state)
{
	unsigned int count = 0, highest = 0;

	assert_int_equal(features.io_uring.ring.err, snap_io_uring_ops.probe());
	if (!features.io_uring.ring.available) {
		assert_false(features.io_uring.probed);
		return;
	}
	assert_true(features.io_uring.probed);
	for (unsigned int op = 0; op < 256; op++) {
		if (!snap_features_io_uring_op(&features, op))
			continue;
		count++;
		highest = op;
	}
	assert_int_equal(count, features.io_uring.opcodes_supported);
	assert_true(highest <= features.io_uring.last_op);
	/* The probe itself went through a NOP, so NOP is there. */
	assert_true(snap_features_io_uring_op(&features, IORING_OP_NOP));
	assert_true(snap_features_io_uring_op(&features, IORING_OP_WRITE));
}

/* Soft-dirty is a build option: the probe must agree with the config. */
static void test_soft_dirty_matches_config(void **state)
{
	char c = kernel_config("CONFIG_MEM_SOFT_DIRTY");

	if (!features.soft_dirty.available)
		assert_int_equal(features.soft_dirty.err, -EOPNOTSUPP);
	if (!c) {
		print_message("# kernel config not published: CONFIG_MEM_SOFT_DIRTY unknown\n");
		skip();
	}
	assert_int_equal(features.soft_dirty.available, c == 'y');
}

/* When the probe says PAGEMAP_SCAN works, it finds exactly the pages this
 * test touches; when it says no, the ioctl fails here too. */
static void test_pagemap_scan(void **state)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct page_region regions[4];
	struct pm_scan_arg arg;
	char *area;
	int pagemap, r;

	area = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(area != MAP_FAILED);
	area[0] = 1;
	area[2 * ps] = 1;
	arg = (struct pm_scan_arg){
		.start = (uintptr_t)area,
		.end = (uintptr_t)area + 4 * ps,
		.vec = (uintptr_t)regions,
		.vec_len = 4,
		.category_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT,
	};
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	assert_true(pagemap >= 0);
	r = sys_pagemap_scan(pagemap, &arg);
	close(pagemap);
	munmap(area, 4 * ps);

	if (!features.pagemap_scan.available) {
		assert_true(r < 0);
		return;
	}
	assert_int_equal(r, 2);
	assert_int_equal(regions[0].start, (uintptr_t)area);
	assert_int_equal(regions[0].end, (uintptr_t)area + ps);
	assert_int_equal(regions[1].start, (uintptr_t)area + 2 * ps);
	assert_int_equal(regions[1].end, (uintptr_t)area + 3 * ps);
	assert_int_equal(regions[0].categories, PAGE_IS_PRESENT);
}

static void test_process_features_match_config(void **state)
{
	const struct {
		const char *option;
		const struct snap_feature *f;
	} items[] = {
		{ "CONFIG_CROSS_MEMORY_ATTACH", &features.process_vm_readv },
		{ "CONFIG_KCMP", &features.kcmp },
		{ "CONFIG_CHECKPOINT_RESTORE", &features.mm_map.prctl },
		{ "CONFIG_RSEQ", &features.rseq.syscall },
	};
	int known = 0;

	/* Whatever the config, a working PR_SET_MM_MAP speaks this ABI. */
	if (features.mm_map.prctl.available)
		assert_int_equal(features.mm_map.size, sizeof(struct prctl_mm_map));
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		char c = kernel_config(items[i].option);

		if (!c)
			continue;
		known++;
		if (items[i].f->available != (c == 'y'))
			fail_msg("%s=%c but the probe says %s", items[i].option, c,
				 items[i].f->available ? "available" : "missing");
	}
	if (!known)
		skip();
}

static void test_clone3_set_tid(void **state)
{
	if (features.clone3_set_tid.available)
		return;
	/* Only privilege or a kernel without clone3 may refuse it. */
	if (unconfined(CAP_SYS_ADMIN))
		fail_msg("clone3 set_tid refused to unconfined root: %d", features.clone3_set_tid.err);
	assert_true(features.clone3_set_tid.err == -EPERM || features.clone3_set_tid.err == -ENOSYS ||
		    features.clone3_set_tid.err == -EINVAL);
}

/* The probe's child was forked from this thread, so it had the same rseq
 * area registered as libc registered here. */
static void test_rseq_matches_libc(void **state)
{
	if (!features.rseq.ptrace_config.available)
		skip();
	assert_true(features.rseq.syscall.available);
	if (__rseq_size == 0) { /* libc did not register (glibc.pthread.rseq=0) */
		assert_int_equal(features.rseq.abi_size, 0);
		return;
	}
	assert_int_equal(features.rseq.abi_pointer, (uintptr_t)__builtin_thread_pointer() + __rseq_offset);
	assert_true(features.rseq.abi_size >= 32);
	assert_int_equal(features.rseq.signature, RSEQ_SIG);
}

/* The reported path is a cgroup2 filesystem; and where the usual places hold
 * one, the probe found it. */
static void test_cgroup2(void **state)
{
	const char *usual[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	struct statfs sfs;

	if (features.cgroup2.mounted.available) {
		assert_int_equal(statfs(features.cgroup2.path, &sfs), 0);
		assert_int_equal(sfs.f_type, CGROUP2_SUPER_MAGIC);
	}
	for (size_t i = 0; i < 2; i++)
		if (statfs(usual[i], &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC)
			assert_true(features.cgroup2.mounted.available);
}

static void test_bpf(void **state)
{
	char list[sizeof(features.bpf.lsm_list) + 2];
	int fd;
	ssize_t n;

	if (kernel_config("CONFIG_BPF_LSM") == 'n')
		assert_false(features.bpf.lsm.available);
	if (kernel_config("CONFIG_CGROUP_BPF") == 'y' && unconfined(CAP_SYS_ADMIN)) {
		assert_true(features.bpf.cgroup_sock.available);
		assert_true(features.bpf.cgroup_sock_addr.available);
		assert_true(features.bpf.cgroup_device.available);
	}

	/* The LSM list: securityfs when mounted, and the reported state matches it. */
	if (features.bpf.lsm_active < 0)
		return;
	assert_non_null(features.bpf.lsm_list_from);
	assert_true(features.bpf.lsm_list[0]);
	fd = open("/sys/kernel/security/lsm", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, list, sizeof(list) - 1);
		close(fd);
		assert_true(n > 0);
		list[n] = 0;
		assert_string_equal(features.bpf.lsm_list_from, "securityfs");
		assert_string_equal(features.bpf.lsm_list, list);
	}
	snprintf(list, sizeof(list), ",%s,", features.bpf.lsm_list);
	assert_int_equal(features.bpf.lsm_active, strstr(list, ",bpf,") != NULL);
	/* capability is always first and always there */
	assert_true(strstr(list, ",capability,") != NULL);
}

static void test_cpu(void **state)
{
	char line[4096];
	bool avx = false;
	FILE *f;

	assert_int_equal(snap_cpu_xcr0(), features.cpu.xcr0);
	assert_int_equal(snap_cpu_xsave_size(), features.cpu.xsave_size);
#if defined(__x86_64__)
	f = fopen("/proc/cpuinfo", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5)) {
			strcat(line, " ");
			avx = strstr(line, " avx ") != NULL;
			break;
		}
	fclose(f);
	/* x86-64 always has x87 and SSE state; the kernel enables AVX state
	 * wherever it reports the avx flag. */
	assert_int_equal(features.cpu.xcr0 & 3, 3);
	assert_int_equal((features.cpu.xcr0 >> 2) & 1, avx);
	assert_true(features.cpu.xsave_size >= 576); /* legacy area + header */
	assert_true(features.cpu.xsave_size <= 64 * 1024);
	if (avx)
		assert_true(features.cpu.xsave_size >= 832); /* + YMM upper halves */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_probe_contract),
		cmocka_unit_test(test_probe_is_repeatable),
		cmocka_unit_test(test_name_tables),
		cmocka_unit_test(test_userfaultfd),
		cmocka_unit_test(test_io_uring),
		cmocka_unit_test(test_soft_dirty_matches_config),
		cmocka_unit_test(test_pagemap_scan),
		cmocka_unit_test(test_process_features_match_config),
		cmocka_unit_test(test_clone3_set_tid),
		cmocka_unit_test(test_rseq_matches_libc),
		cmocka_unit_test(test_cgroup2),
		cmocka_unit_test(test_bpf),
		cmocka_unit_test(test_cpu),
	};

	return cmocka_run_group_tests_name("features", tests, probe_once, NULL);
}
