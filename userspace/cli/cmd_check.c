/* cmd_check.c — `snapctl check [--json]`: which kernel and CPU features the
 * engine can use on this host. Only prints what libsnap probed; never probes
 * itself, and exits 0 whatever is missing (it is a report, not a gate). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "guard.h"
#include "snap_features.h"

static const char *errno_name(int err)
{
	const char *name = err ? strerrorname_np(err < 0 ? -err : err) : NULL;

	return name ? name : "unknown error";
}

/* ---- the table ---------------------------------------------------------- */

static void row(const char *name, int state, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* state: 1 yes, 0 no, -1 not a yes/no item */
static void row(const char *name, int state, const char *fmt, ...)
{
	char note[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(note, sizeof(note), fmt, ap);
		va_end(ap);
	}
	printf("%-34s %-4s %s\n", name, state > 0 ? "yes" : state == 0 ? "no" : "-", note);
}

/* A row for a probed item: the note says why not, with a hint when the
 * usual cause is known. */
static void feature_row(const char *name, const struct snap_feature *f, const char *hint)
{
	if (f->available)
		row(name, 1, NULL);
	else
		row(name, 0, "%s: %s%s%s", errno_name(f->err), strerror(-f->err), hint ? "; " : "", hint ? hint : "");
}

static const char *hint_for(int err, int eperm_err, const char *eperm, int other_err, const char *other)
{
	if (err == eperm_err)
		return eperm;
	if (err == other_err)
		return other;
	return NULL;
}

static void print_table(const struct snap_features *f, const struct snap_guard_probe *gp)
{
	printf("%-34s %-4s %s\n", "FEATURE", "HERE", "NOTE");
	row("kernel", -1, "%s", f->kernel);

	feature_row("userfaultfd", &f->uffd.syscall,
		    hint_for(f->uffd.syscall.err, -EPERM, "vm.unprivileged_userfaultfd=0: run as root", -ENOSYS,
			     "kernel built without CONFIG_USERFAULTFD"));
	if (f->uffd.dev.available)
		row("  /dev/userfaultfd", 1, NULL);
	else if (f->uffd.dev_present)
		row("  /dev/userfaultfd", 0, "present, but %s: %s", errno_name(f->uffd.dev.err), strerror(-f->uffd.dev.err));
	else
		row("  /dev/userfaultfd", 0, "absent (Linux < 6.1, or not in this mount namespace)");
	if (f->uffd.syscall.available || f->uffd.dev.available) {
		for (size_t i = 0; i < snap_features_uffd_bits_count; i++) {
			char name[64];

			snprintf(name, sizeof(name), "  UFFD_FEATURE_%s", snap_features_uffd_bits[i].name);
			row(name, (f->uffd.features & snap_features_uffd_bits[i].value) != 0, NULL);
		}
	}

	if (f->io_uring.ring.available)
		row("io_uring", 1, "%u opcodes supported (last %u)", f->io_uring.opcodes_supported, f->io_uring.last_op);
	else
		row("io_uring", 0, "%s: %s; kernel.io_uring_disabled=%d, or a seccomp profile forbids it; the pwrite backend is used",
		    errno_name(f->io_uring.ring.err), strerror(-f->io_uring.ring.err), f->io_uring.disabled_sysctl);
	if (f->io_uring.probed) {
		for (size_t i = 0; i < snap_features_io_uring_ops_count; i++) {
			char name[64];

			snprintf(name, sizeof(name), "  IORING_OP_%s", snap_features_io_uring_ops[i].name);
			row(name, snap_features_io_uring_op(f, (unsigned int)snap_features_io_uring_ops[i].value), NULL);
		}
	}

	feature_row("soft-dirty", &f->soft_dirty,
		    hint_for(f->soft_dirty.err, -EOPNOTSUPP, "kernel built without CONFIG_MEM_SOFT_DIRTY", 0, NULL));
	feature_row("PAGEMAP_SCAN", &f->pagemap_scan,
		    hint_for(f->pagemap_scan.err, -ENOTTY, "Linux < 6.7", -EINVAL, "Linux < 6.7"));
	feature_row("clone3 set_tid", &f->clone3_set_tid,
		    hint_for(f->clone3_set_tid.err, -EPERM, "needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN", -ENOSYS,
			     "no clone3 (Linux < 5.3)"));
	feature_row("process_vm_readv", &f->process_vm_readv,
		    hint_for(f->process_vm_readv.err, -ENOSYS, "kernel built without CONFIG_CROSS_MEMORY_ATTACH", 0, NULL));
	feature_row("kcmp", &f->kcmp, hint_for(f->kcmp.err, -ENOSYS, "kernel built without CONFIG_KCMP", 0, NULL));
	feature_row("pidfd_open + pidfd_getfd", &f->pidfd, NULL);
	if (f->mm_map.prctl.available)
		row("PR_SET_MM_MAP", 1, "struct prctl_mm_map is %u bytes", f->mm_map.size);
	else
		feature_row("PR_SET_MM_MAP", &f->mm_map.prctl,
			    hint_for(f->mm_map.prctl.err, -EINVAL, "kernel built without CONFIG_CHECKPOINT_RESTORE", 0, NULL));
	feature_row("rseq", &f->rseq.syscall, NULL);
	if (f->rseq.ptrace_config.available)
		row("  PTRACE_GET_RSEQ_CONFIGURATION", 1, "%s", f->rseq.abi_size ? "libc registers rseq" : "nothing registered");
	else
		feature_row("  PTRACE_GET_RSEQ_CONFIGURATION", &f->rseq.ptrace_config,
			    hint_for(f->rseq.ptrace_config.err, -EIO, "Linux < 5.13", 0, NULL));

	if (f->cgroup2.mounted.available)
		row("cgroup v2", 1, "%s%s%s", f->cgroup2.path, f->cgroup2.controllers[0] ? ", controllers: " : ", no controllers",
		    f->cgroup2.controllers);
	else
		row("cgroup v2", 0, "no cgroup2 mount in /proc/self/mountinfo");

	/* libbpf only says "refused", not why. */
	const char *refused = "a minimal program was refused: not built in, or not permitted (needs root)";
	feature_row("bpf cgroup_sock", &f->bpf.cgroup_sock, hint_for(f->bpf.cgroup_sock.err, -EOPNOTSUPP, refused, 0, NULL));
	feature_row("bpf cgroup_sock_addr", &f->bpf.cgroup_sock_addr,
		    hint_for(f->bpf.cgroup_sock_addr.err, -EOPNOTSUPP, refused, 0, NULL));
	feature_row("bpf cgroup_device", &f->bpf.cgroup_device,
		    hint_for(f->bpf.cgroup_device.err, -EOPNOTSUPP, refused, 0, NULL));
	feature_row("bpf lsm (loads)", &f->bpf.lsm,
		    hint_for(f->bpf.lsm.err, -EPERM, "the kernel refused the load (lockdown, or not root)", -ENOENT,
			     "no vmlinux BTF or no bpf_lsm hooks"));
	if (f->bpf.lsm_active >= 0)
		row("  bpf in the active LSMs", f->bpf.lsm_active, "%s (%s)", f->bpf.lsm_list, f->bpf.lsm_list_from);
	else
		row("  bpf in the active LSMs", -1, "unknown: securityfs not mounted and lsm_list_modules: %s",
		    errno_name(f->bpf.lsm_active));

	/* The guard of snapctl run: the backend it would use, and each one. */
	if (gp->chosen)
		row("guard (snapctl run)", 1, "%s backend", gp->chosen);
	else
		row("guard (snapctl run)", 0, "%s", gp->built ? "no backend works here" : "not built (no clang or bpftool)");
	for (size_t i = 0; i < gp->nr_backends; i++) {
		const struct snap_guard_probe_backend *b = &gp->backends[i];
		char name[40];

		snprintf(name, sizeof(name), "  guard backend %s", b->name);
		if (b->usable.available)
			row(name, 1, "%s", b->note);
		else
			row(name, 0, "%s: %s", errno_name(b->usable.err), b->note);
	}
	row("cpu xcr0", -1, "0x%llx", (unsigned long long)f->cpu.xcr0);
	row("cpu xsave area", -1, "%u bytes", f->cpu.xsave_size);
}

/* ---- JSON: a contract; add keys, never rename or retype them ------------- */

static void json_error(struct json *j, const char *key, const struct snap_feature *f)
{
	if (f->available)
		json_null(j, key);
	else
		json_string(j, key, errno_name(f->err));
}

static void print_json(const struct snap_features *f, const struct snap_guard_probe *gp)
{
	const struct {
		const char *key;
		const struct snap_feature *f;
	} simple[] = {
		{ "soft_dirty", &f->soft_dirty },
		{ "pagemap_scan", &f->pagemap_scan },
		{ "clone3_set_tid", &f->clone3_set_tid },
		{ "process_vm_readv", &f->process_vm_readv },
		{ "kcmp", &f->kcmp },
		{ "pidfd", &f->pidfd },
	};
	const size_t n_simple = sizeof(simple) / sizeof(simple[0]);
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_string(&j, "kernel", f->kernel);

	json_object_begin(&j, "userfaultfd");
	json_bool(&j, "available", f->uffd.syscall.available);
	json_error(&j, "error", &f->uffd.syscall);
	json_object_begin(&j, "dev_userfaultfd");
	json_bool(&j, "present", f->uffd.dev_present);
	json_bool(&j, "available", f->uffd.dev.available);
	json_error(&j, "error", &f->uffd.dev);
	json_object_end(&j);
	json_hex(&j, "features_mask", f->uffd.features);
	json_object_begin(&j, "features");
	for (size_t i = 0; i < snap_features_uffd_bits_count; i++)
		json_bool(&j, snap_features_uffd_bits[i].name, (f->uffd.features & snap_features_uffd_bits[i].value) != 0);
	json_object_end(&j);
	json_object_end(&j);

	json_object_begin(&j, "io_uring");
	json_bool(&j, "available", f->io_uring.ring.available);
	json_error(&j, "error", &f->io_uring.ring);
	if (f->io_uring.disabled_sysctl >= 0)
		json_int(&j, "disabled_sysctl", f->io_uring.disabled_sysctl);
	else
		json_null(&j, "disabled_sysctl");
	json_uint(&j, "opcodes_supported", f->io_uring.opcodes_supported);
	json_uint(&j, "last_op", f->io_uring.last_op);
	json_object_begin(&j, "opcodes");
	for (size_t i = 0; i < snap_features_io_uring_ops_count; i++)
		json_bool(&j, snap_features_io_uring_ops[i].name,
			  snap_features_io_uring_op(f, (unsigned int)snap_features_io_uring_ops[i].value));
	json_object_end(&j);
	json_object_end(&j);

	for (size_t i = 0; i < n_simple; i++)
		json_bool(&j, simple[i].key, simple[i].f->available);

	json_object_begin(&j, "mm_map");
	json_bool(&j, "available", f->mm_map.prctl.available);
	json_uint(&j, "size", f->mm_map.size);
	json_object_end(&j);

	json_object_begin(&j, "rseq");
	json_bool(&j, "available", f->rseq.syscall.available);
	json_bool(&j, "ptrace_configuration", f->rseq.ptrace_config.available);
	json_bool(&j, "registered_by_libc", f->rseq.abi_size != 0);
	json_object_end(&j);

	json_object_begin(&j, "cgroup2");
	json_bool(&j, "available", f->cgroup2.mounted.available);
	if (f->cgroup2.mounted.available) {
		json_string(&j, "path", f->cgroup2.path);
		json_string(&j, "controllers", f->cgroup2.controllers);
	} else {
		json_null(&j, "path");
		json_null(&j, "controllers");
	}
	json_object_end(&j);

	json_object_begin(&j, "bpf");
	json_bool(&j, "cgroup_sock", f->bpf.cgroup_sock.available);
	json_bool(&j, "cgroup_sock_addr", f->bpf.cgroup_sock_addr.available);
	json_bool(&j, "cgroup_device", f->bpf.cgroup_device.available);
	json_object_begin(&j, "lsm");
	json_bool(&j, "loadable", f->bpf.lsm.available);
	json_error(&j, "error", &f->bpf.lsm);
	if (f->bpf.lsm_active >= 0) {
		json_bool(&j, "active", f->bpf.lsm_active == 1);
		json_string(&j, "lsms", f->bpf.lsm_list);
		json_string(&j, "lsms_from", f->bpf.lsm_list_from);
	} else {
		json_null(&j, "active");
		json_null(&j, "lsms");
		json_null(&j, "lsms_from");
	}
	json_object_end(&j);
	json_object_end(&j);

	json_object_begin(&j, "guard");
	json_bool(&j, "built", gp->built);
	if (gp->chosen)
		json_string(&j, "backend", gp->chosen);
	else
		json_null(&j, "backend");
	json_object_begin(&j, "backends");
	for (size_t i = 0; i < gp->nr_backends; i++) {
		json_object_begin(&j, gp->backends[i].name);
		json_bool(&j, "available", gp->backends[i].usable.available);
		json_error(&j, "error", &gp->backends[i].usable);
		json_string(&j, "note", gp->backends[i].note);
		json_object_end(&j);
	}
	json_object_end(&j);
	json_object_end(&j);
	json_object_begin(&j, "cpu");
	json_hex(&j, "xcr0", f->cpu.xcr0);
	json_uint(&j, "xsave_size", f->cpu.xsave_size);
	json_object_end(&j);

	/* Why each yes/no item above is missing: {"soft_dirty": "EOPNOTSUPP"}. */
	json_object_begin(&j, "errors");
	for (size_t i = 0; i < n_simple; i++)
		if (!simple[i].f->available)
			json_string(&j, simple[i].key, errno_name(simple[i].f->err));
	if (!f->mm_map.prctl.available)
		json_string(&j, "mm_map", errno_name(f->mm_map.prctl.err));
	if (!f->rseq.syscall.available)
		json_string(&j, "rseq", errno_name(f->rseq.syscall.err));
	if (!f->rseq.ptrace_config.available)
		json_string(&j, "rseq_ptrace_configuration", errno_name(f->rseq.ptrace_config.err));
	if (!f->bpf.cgroup_sock.available)
		json_string(&j, "bpf_cgroup_sock", errno_name(f->bpf.cgroup_sock.err));
	if (!f->bpf.cgroup_sock_addr.available)
		json_string(&j, "bpf_cgroup_sock_addr", errno_name(f->bpf.cgroup_sock_addr.err));
	if (!f->bpf.cgroup_device.available)
		json_string(&j, "bpf_cgroup_device", errno_name(f->bpf.cgroup_device.err));
	json_object_end(&j);

	json_object_end(&j);
	json_finish(&j);
}

int cmd_check(struct cli *cli, int argc, char **argv)
{
	struct snap_guard_probe gp;
	struct snap_features f;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j") || !strcmp(argv[i], "-v") ||
		    !strcmp(argv[i], "--verbose"))
			continue;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			puts("usage: snapctl check [--json]\n"
			     "  which kernel and CPU features the engine can use here; exits 0 even when some are missing");
			return 0;
		}
		return cli_usage(cli, "unexpected argument '%s'", argv[i]);
	}

	r = snap_features_probe(&f);
	if (r < 0)
		return cli_fail(cli, "probing the kernel's features failed: %s", strerror(-r));
	snap_guard_probe(&f, &gp);
	if (cli->json)
		print_json(&f, &gp);
	else
		print_table(&f, &gp);
	return 0;
}
