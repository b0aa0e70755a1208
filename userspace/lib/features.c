/* features.c — probes what this kernel and CPU offer the engine by trying
 * each thing for real; never infers a feature from a version number. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/kcmp.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <liburing.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "snap_features.h"
#include "io.h"
#include "sys.h"

#define PAGEMAP_SOFT_DIRTY (1ull << 55)

const struct snap_features_name snap_features_uffd_bits[] = {
	{ "PAGEFAULT_FLAG_WP", UFFD_FEATURE_PAGEFAULT_FLAG_WP },
	{ "EVENT_FORK", UFFD_FEATURE_EVENT_FORK },
	{ "EVENT_REMAP", UFFD_FEATURE_EVENT_REMAP },
	{ "EVENT_REMOVE", UFFD_FEATURE_EVENT_REMOVE },
	{ "EVENT_UNMAP", UFFD_FEATURE_EVENT_UNMAP },
	{ "MISSING_HUGETLBFS", UFFD_FEATURE_MISSING_HUGETLBFS },
	{ "MISSING_SHMEM", UFFD_FEATURE_MISSING_SHMEM },
	{ "SIGBUS", UFFD_FEATURE_SIGBUS },
	{ "THREAD_ID", UFFD_FEATURE_THREAD_ID },
	{ "MINOR_HUGETLBFS", UFFD_FEATURE_MINOR_HUGETLBFS },
	{ "MINOR_SHMEM", UFFD_FEATURE_MINOR_SHMEM },
	{ "EXACT_ADDRESS", UFFD_FEATURE_EXACT_ADDRESS },
	{ "WP_HUGETLBFS_SHMEM", UFFD_FEATURE_WP_HUGETLBFS_SHMEM },
	{ "WP_UNPOPULATED", UFFD_FEATURE_WP_UNPOPULATED },
	{ "POISON", UFFD_FEATURE_POISON },
	{ "WP_ASYNC", UFFD_FEATURE_WP_ASYNC },
	{ "MOVE", UFFD_FEATURE_MOVE },
};
const size_t snap_features_uffd_bits_count = sizeof(snap_features_uffd_bits) / sizeof(snap_features_uffd_bits[0]);

const struct snap_features_name snap_features_io_uring_ops[] = {
	{ "NOP", IORING_OP_NOP },
	{ "READV", IORING_OP_READV },
	{ "WRITEV", IORING_OP_WRITEV },
	{ "READ_FIXED", IORING_OP_READ_FIXED },
	{ "WRITE_FIXED", IORING_OP_WRITE_FIXED },
	{ "READ", IORING_OP_READ },
	{ "WRITE", IORING_OP_WRITE },
	{ "FSYNC", IORING_OP_FSYNC },
	{ "OPENAT", IORING_OP_OPENAT },
	{ "CLOSE", IORING_OP_CLOSE },
	{ "SOCKET", IORING_OP_SOCKET },
};
const size_t snap_features_io_uring_ops_count =
	sizeof(snap_features_io_uring_ops) / sizeof(snap_features_io_uring_ops[0]);

static void set(struct snap_feature *f, int r)
{
	f->available = r >= 0;
	f->err = r >= 0 ? 0 : r;
}

/* Reads a small text file into buf, without the trailing newline. */
static int read_text(const char *path, char *buf, size_t size)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = 0;
	return (int)n;
}

static int read_long(const char *path, long *ret)
{
	char buf[32], *end;
	long v;
	int r;

	r = read_text(path, buf, sizeof(buf));
	if (r < 0)
		return r;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int wait_child(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, __WALL) < 0)
		if (errno != EINTR)
			return errno == ECHILD ? 0 : -errno; /* SIGCHLD ignored: reaped already */
	return 0;
}

/* ---- userfaultfd ---------------------------------------------------------- */

static int uffd_api(int fd, struct snap_features *f)
{
	struct uffdio_api api = { .api = UFFD_API, .features = 0 };
	int r;

	/* features=0 asks for nothing and gets told everything on offer. */
	r = sys_uffd_api(fd, &api);
	close(fd);
	if (r < 0)
		return r;
	f->uffd.features = api.features;
	f->uffd.ioctls = api.ioctls;
	return 0;
}

static void probe_uffd(struct snap_features *f)
{
	struct stat st;
	int fd;

	fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	set(&f->uffd.syscall, fd < 0 ? fd : uffd_api(fd, f));

	f->uffd.dev_present = stat("/dev/userfaultfd", &st) == 0 && S_ISCHR(st.st_mode);
	fd = sys_userfaultfd_dev(O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0 && f->uffd.syscall.available)
		close(fd);
	else if (fd >= 0)
		fd = uffd_api(fd, f); /* the only way in: read the features through it */
	set(&f->uffd.dev, fd);
}

/* ---- io_uring --------------------------------------------------------------- */

static void probe_io_uring(struct snap_features *f)
{
	struct io_uring_probe *probe;
	long disabled;

	f->io_uring.disabled_sysctl = read_long("/proc/sys/kernel/io_uring_disabled", &disabled) == 0 ? (int)disabled : -1;
	/* The same probe the io backend trusts: a ring and a NOP through it. */
	set(&f->io_uring.ring, snap_io_uring_ops.probe());
	if (!f->io_uring.ring.available)
		return;
	probe = io_uring_get_probe();
	if (!probe)
		return;
	f->io_uring.probed = true;
	f->io_uring.last_op = probe->last_op;
	for (unsigned int op = 0; op <= probe->last_op && op < 256; op++) {
		if (!io_uring_opcode_supported(probe, (int)op))
			continue;
		f->io_uring.opcodes[op / 64] |= 1ull << (op % 64);
		f->io_uring.opcodes_supported++;
	}
	io_uring_free_probe(probe);
}

/* ---- memory tracking ---------------------------------------------------------- */

static int pagemap_entry(int pagemap, const void *addr, uint64_t *ret)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t entry;
	ssize_t n;

	n = pread(pagemap, &entry, sizeof(entry), (off_t)((uintptr_t)addr / page * sizeof(entry)));
	if (n != sizeof(entry))
		return n < 0 ? -errno : -EIO;
	*ret = entry;
	return 0;
}

/* A page written after clear_refs "4" must show bit 55 in pagemap. Kernels
 * without CONFIG_MEM_SOFT_DIRTY accept the write and never set the bit. The
 * write clears the soft-dirty bits of this whole process, which costs it a
 * few write faults and nothing else. */
static int soft_dirty_test(volatile char *page)
{
	uint64_t before, after;
	int pagemap, clear, r;

	page[0] = 1;
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return -errno;
	clear = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	if (clear < 0) {
		r = -errno;
		goto out;
	}
	r = write(clear, "4", 1) == 1 ? 0 : -errno;
	close(clear);
	if (r < 0)
		goto out;
	r = pagemap_entry(pagemap, (const void *)page, &before);
	if (r < 0)
		goto out;
	page[0] = 2;
	r = pagemap_entry(pagemap, (const void *)page, &after);
	if (r < 0)
		goto out;
	if ((before & PAGEMAP_SOFT_DIRTY) || !(after & PAGEMAP_SOFT_DIRTY))
		r = -EOPNOTSUPP;
out:
	close(pagemap);
	return r;
}

/* PAGEMAP_SCAN must report a page just touched as present, at its address. */
static int pagemap_scan_test(volatile char *page, size_t size)
{
	struct page_region region = { 0 };
	struct pm_scan_arg arg = {
		.start = (uintptr_t)page,
		.end = (uintptr_t)page + size,
		.vec = (uintptr_t)&region,
		.vec_len = 1,
		.category_mask = PAGE_IS_PRESENT,
		.return_mask = PAGE_IS_PRESENT,
	};
	int pagemap, r;

	page[0] = 3;
	pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pagemap < 0)
		return -errno;
	r = sys_pagemap_scan(pagemap, &arg);
	close(pagemap);
	if (r < 0)
		return r;
	if (r != 1 || region.start != (uintptr_t)page || !(region.categories & PAGE_IS_PRESENT))
		return -EIO; /* answered, but not what a working scan says */
	return 0;
}

static void probe_memory(struct snap_features *f)
{
	size_t size = (size_t)sysconf(_SC_PAGESIZE);
	void *page;

	page = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		set(&f->soft_dirty, -errno);
		set(&f->pagemap_scan, -errno);
		return;
	}
	set(&f->soft_dirty, soft_dirty_test(page));
	set(&f->pagemap_scan, pagemap_scan_test(page, size));
	munmap(page, size);
}

/* ---- processes ------------------------------------------------------------------ */

/* Clones a child at a pid nobody holds: a little past the last one handed
 * out, retrying when that pid gets taken meanwhile. The child exits at once. */
static int probe_clone3_set_tid(void)
{
	long last = 300, max = 32768;

	read_long("/proc/sys/kernel/ns_last_pid", &last);
	read_long("/proc/sys/kernel/pid_max", &max);
	for (int attempt = 0; attempt < 16; attempt++) {
		pid_t want = (pid_t)(last + 64 + attempt * 97);
		struct clone_args args = {
			.exit_signal = SIGCHLD,
			.set_tid = (uintptr_t)&want,
			.set_tid_size = 1,
		};
		long pid;

		if (want >= max)
			want = (pid_t)(300 + attempt * 97 % (max - 300));
		pid = sys_clone3(&args, sizeof(args));
		if (pid == 0)
			_exit(0);
		if (pid == -EEXIST)
			continue;
		if (pid < 0)
			return (int)pid;
		wait_child((pid_t)pid);
		return pid == want ? 0 : -EIO;
	}
	return -EEXIST;
}

static int probe_process_vm_readv(void)
{
	uint64_t src = 0x5eed5eed5eed5eedull, dst = 0;
	struct iovec local = { &dst, sizeof(dst) }, remote = { &src, sizeof(src) };
	ssize_t n;

	n = sys_process_vm_readv(getpid(), &local, 1, &remote, 1);
	if (n < 0)
		return (int)n;
	return n == sizeof(dst) && dst == src ? 0 : -EIO;
}

/* Two ends of a pipe are two files; one fd is the same file as itself. */
static int probe_kcmp(void)
{
	int p[2], same, different;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	same = sys_kcmp(getpid(), getpid(), KCMP_FILE, (unsigned long)p[0], (unsigned long)p[0]);
	different = sys_kcmp(getpid(), getpid(), KCMP_FILE, (unsigned long)p[0], (unsigned long)p[1]);
	close(p[0]);
	close(p[1]);
	if (same < 0)
		return same;
	return same == 0 && different > 0 ? 0 : -EIO;
}

static int probe_pidfd(void)
{
	int pidfd, fd;

	pidfd = sys_pidfd_open(getpid(), 0);
	if (pidfd < 0)
		return pidfd;
	fd = sys_pidfd_getfd(pidfd, pidfd);
	close(pidfd);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static void probe_mm_map(struct snap_features *f)
{
	unsigned int size = 0;
	int r;

	/* Answers with the struct size only under CONFIG_CHECKPOINT_RESTORE. */
	r = sys_prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, (unsigned long)&size, 0, 0);
	set(&f->mm_map.prctl, r < 0 ? r : size ? 0 : -EIO);
	f->mm_map.size = r < 0 ? 0 : size;
}

/* A forked child waiting on a pipe is seized, interrupted and asked for its
 * rseq registration, then killed. */
static int rseq_ptrace_test(struct snap_features *f)
{
	struct snap_ptrace_rseq_configuration conf = { 0 };
	int p[2], r, status;
	pid_t pid;
	char c;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		close(p[0]);
		close(p[1]);
		return r;
	}
	if (pid == 0) {
		close(p[1]);
		while (read(p[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[0]);
	r = sys_ptrace(PTRACE_SEIZE, pid, NULL, NULL);
	if (r == 0)
		r = sys_ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
	if (r == 0) {
		while ((r = waitpid(pid, &status, __WALL)) < 0 && errno == EINTR)
			;
		r = r < 0 ? -errno : WIFSTOPPED(status) ? 0 : -ECHILD;
	}
	if (r == 0)
		r = sys_ptrace(PTRACE_GET_RSEQ_CONFIGURATION, pid, (void *)sizeof(conf), &conf);
	kill(pid, SIGKILL);
	close(p[1]);
	wait_child(pid);
	if (r < 0)
		return r;
	f->rseq.abi_pointer = conf.rseq_abi_pointer;
	f->rseq.abi_size = conf.rseq_abi_size;
	f->rseq.signature = conf.signature;
	return 0;
}

static void probe_rseq(struct snap_features *f)
{
	int r;

	/* With glibc's registration in place this is EINVAL; without rseq,
	 * ENOSYS. Either way nothing changes. */
	r = sys_rseq(NULL, 0, 0, 0);
	set(&f->rseq.syscall, r == -ENOSYS ? r : 0);
	set(&f->rseq.ptrace_config, rseq_ptrace_test(f));
}

/* ---- cgroup v2 ---------------------------------------------------------------------- */

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static void unescape(char *s)
{
	char *w = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
		    s[3] <= '7') {
			*w++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*w++ = *s;
		}
	}
	*w = 0;
}

static void probe_cgroup2(struct snap_features *f)
{
	char *line = NULL, path[PATH_MAX + 32];
	size_t cap = 0;
	FILE *mi;
	int r = -ENOENT;

	mi = fopen("/proc/self/mountinfo", "re");
	if (!mi) {
		set(&f->cgroup2.mounted, -errno);
		return;
	}
	while (getline(&line, &cap, mi) > 0) {
		char *sep = strstr(line, " - "), *mnt, *save;

		if (!sep || strncmp(sep + 3, "cgroup2 ", 8))
			continue;
		*sep = 0;
		/* id parent major:minor root mount-point ... */
		mnt = strtok_r(line, " ", &save);
		for (int i = 0; mnt && i < 4; i++)
			mnt = strtok_r(NULL, " ", &save);
		if (!mnt)
			continue;
		unescape(mnt);
		if (strlen(mnt) >= sizeof(f->cgroup2.path))
			continue;
		strcpy(f->cgroup2.path, mnt);
		r = 0;
		break;
	}
	free(line);
	fclose(mi);
	set(&f->cgroup2.mounted, r);
	if (r == 0) {
		snprintf(path, sizeof(path), "%s/cgroup.controllers", f->cgroup2.path);
		if (read_text(path, f->cgroup2.controllers, sizeof(f->cgroup2.controllers)) < 0)
			f->cgroup2.controllers[0] = 0;
	}
}

/* ---- bpf ------------------------------------------------------------------------------ */

static void probe_prog_type(struct snap_feature *f, enum bpf_prog_type type)
{
	int r = libbpf_probe_bpf_prog_type(type, NULL);

	/* 0 is libbpf's "the kernel refused it", whatever the errno was. */
	set(f, r == 1 ? 0 : r < 0 ? r : -EOPNOTSUPP);
}

/* The smallest LSM program, "return 0" on socket_create, loaded for real:
 * libbpf's own probe calls a known verifier error success, but lockdown or
 * a kernel without BTF refuse the actual load. Never attached. */
static int lsm_load_test(void)
{
	const char *vmlinux = "/sys/kernel/btf/vmlinux";
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct btf *btf;
	int id, fd;

	if (access(vmlinux, R_OK) < 0)
		return -errno;
	btf = btf__parse(vmlinux, NULL);
	if (!btf)
		return errno ? -errno : -EINVAL;
	id = btf__find_by_name_kind(btf, "bpf_lsm_socket_create", BTF_KIND_FUNC);
	btf__free(btf);
	if (id < 0)
		return -ENOENT;
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_LSM_MAC, .attach_btf_id = (__u32)id);
	fd = bpf_prog_load(BPF_PROG_TYPE_LSM, "snap_probe", "GPL", insns, sizeof(insns) / sizeof(insns[0]), &opts);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

static const struct {
	unsigned int id;
	const char *name;
} lsm_names[] = {
	{ LSM_ID_CAPABILITY, "capability" }, { LSM_ID_SELINUX, "selinux" },	  { LSM_ID_SMACK, "smack" },
	{ LSM_ID_TOMOYO, "tomoyo" },	     { LSM_ID_APPARMOR, "apparmor" },	  { LSM_ID_YAMA, "yama" },
	{ LSM_ID_LOADPIN, "loadpin" },	     { LSM_ID_SAFESETID, "safesetid" }, { LSM_ID_LOCKDOWN, "lockdown" },
	{ LSM_ID_BPF, "bpf" },		     { LSM_ID_LANDLOCK, "landlock" },	  { LSM_ID_IMA, "ima" },
	{ LSM_ID_EVM, "evm" },		     { LSM_ID_IPE, "ipe" },
};

/* The active LSMs from securityfs when it is mounted, else from
 * lsm_list_modules(2) (Linux 6.8), which needs no mount. */
static int read_lsm_list(struct snap_features *f)
{
	char *list = f->bpf.lsm_list;
	size_t cap = sizeof(f->bpf.lsm_list), len = 0;
	uint64_t ids[64];
	uint32_t size = sizeof(ids);
	int n;

	if (read_text("/sys/kernel/security/lsm", list, cap) >= 0) {
		f->bpf.lsm_list_from = "securityfs";
		return 0;
	}
	n = sys_lsm_list_modules(ids, &size, 0);
	if (n < 0)
		return n;
	list[0] = 0;
	for (int i = 0; i < n && len + 1 < cap; i++) {
		const char *name = NULL;
		char unknown[32];

		for (size_t k = 0; k < sizeof(lsm_names) / sizeof(lsm_names[0]); k++)
			if (lsm_names[k].id == ids[i])
				name = lsm_names[k].name;
		if (!name) {
			snprintf(unknown, sizeof(unknown), "id%llu", (unsigned long long)ids[i]);
			name = unknown;
		}
		len += (size_t)snprintf(list + len, cap - len, "%s%s", i ? "," : "", name);
	}
	f->bpf.lsm_list_from = "lsm_list_modules";
	return 0;
}

static void probe_bpf(struct snap_features *f)
{
	char list[sizeof(f->bpf.lsm_list) + 2];
	int r;

	probe_prog_type(&f->bpf.cgroup_sock, BPF_PROG_TYPE_CGROUP_SOCK);
	probe_prog_type(&f->bpf.cgroup_sock_addr, BPF_PROG_TYPE_CGROUP_SOCK_ADDR);
	probe_prog_type(&f->bpf.cgroup_device, BPF_PROG_TYPE_CGROUP_DEVICE);
	set(&f->bpf.lsm, lsm_load_test());

	r = read_lsm_list(f);
	if (r < 0) {
		f->bpf.lsm_active = r;
		return;
	}
	snprintf(list, sizeof(list), ",%s,", f->bpf.lsm_list);
	f->bpf.lsm_active = strstr(list, ",bpf,") != NULL;
}

/* ---- cpu ------------------------------------------------------------------------------- */

uint64_t snap_cpu_xcr0(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE))
		return 0;
	__asm__ volatile("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
	return (uint64_t)d << 32 | a;
#else
	return 0;
#endif
}

uint32_t snap_cpu_xsave_size(void)
{
#if defined(__x86_64__) || defined(__i386__)
	unsigned int a, b, c, d;

	if (__get_cpuid_max(0, NULL) < 0xd || !__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_XSAVE))
		return 0;
	__cpuid_count(0xd, 0, a, b, c, d);
	return b;
#else
	return 0;
#endif
}

int snap_features_probe(struct snap_features *ret)
{
	struct snap_features *f;
	struct utsname u;

	if (!ret)
		return -EINVAL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (uname(&u) == 0)
		snprintf(f->kernel, sizeof(f->kernel), "%s", u.release);
	probe_uffd(f);
	probe_io_uring(f);
	probe_memory(f);
	set(&f->clone3_set_tid, probe_clone3_set_tid());
	set(&f->process_vm_readv, probe_process_vm_readv());
	set(&f->kcmp, probe_kcmp());
	set(&f->pidfd, probe_pidfd());
	probe_mm_map(f);
	probe_rseq(f);
	probe_cgroup2(f);
	probe_bpf(f);
	f->cpu.xcr0 = snap_cpu_xcr0();
	f->cpu.xsave_size = snap_cpu_xsave_size();
	*ret = *f;
	free(f);
	return 0;
}
