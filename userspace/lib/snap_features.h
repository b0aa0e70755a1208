/* snap_features.h — what this kernel and CPU offer the engine (features.c),
 * each item probed for real (a syscall made, a page touched, a child
 * cloned), never guessed from version numbers. Probe once, keep the struct:
 * probing forks, clones and loads a bpf program, so it is not for hot paths.
 * Not "features.h": with -Iuserspace/lib that name would shadow glibc's
 * <features.h>, which every libc header includes. */
#ifndef SNAP_FEATURES_H
#define SNAP_FEATURES_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One probed capability: usable here, or the -errno that says why not
 * (-ENOSYS: not built into this kernel; -EPERM: forbidden to this process;
 * -EOPNOTSUPP: the kernel answered but lacks it). */
struct snap_feature {
	bool available;
	int err; /* 0 when available */
};

struct snap_features {
	char kernel[65]; /* uname -r */

	struct {
		struct snap_feature syscall; /* userfaultfd(2) + UFFDIO_API */
		bool dev_present;            /* /dev/userfaultfd exists */
		struct snap_feature dev;     /* ... and USERFAULTFD_IOC_NEW on it works */
		uint64_t features;           /* UFFD_FEATURE_* offered (UFFDIO_API, features=0) */
		uint64_t ioctls;             /* 1 << _UFFDIO_* the API offers */
	} uffd;

	struct {
		struct snap_feature ring; /* a ring set up and a NOP completed through it */
		int disabled_sysctl;      /* kernel.io_uring_disabled, -1 when the file is absent */
		bool probed;              /* the opcode list below is known */
		unsigned int last_op;     /* highest opcode number this kernel knows */
		unsigned int opcodes_supported;
		uint64_t opcodes[4]; /* bit n: IORING_OP n supported */
	} io_uring;

	struct snap_feature soft_dirty;       /* clear_refs "4" then a write sets pagemap bit 55 */
	struct snap_feature pagemap_scan;     /* PAGEMAP_SCAN found a page just touched */
	struct snap_feature clone3_set_tid;   /* a child cloned at a chosen free pid */
	struct snap_feature process_vm_readv; /* CONFIG_CROSS_MEMORY_ATTACH */
	struct snap_feature kcmp;             /* CONFIG_KCMP */
	struct snap_feature pidfd;            /* pidfd_open + pidfd_getfd */

	struct {
		struct snap_feature prctl; /* PR_SET_MM_MAP: CONFIG_CHECKPOINT_RESTORE */
		unsigned int size;         /* sizeof(struct prctl_mm_map) in this kernel */
	} mm_map;

	struct {
		struct snap_feature syscall;       /* rseq(2) exists */
		struct snap_feature ptrace_config; /* PTRACE_GET_RSEQ_CONFIGURATION on a child */
		uint64_t abi_pointer;              /* what a child forked from the caller had registered */
		uint32_t abi_size;                 /* 0 when it had none */
		uint32_t signature;
	} rseq;

	struct {
		struct snap_feature mounted;
		char path[PATH_MAX];   /* where the unified hierarchy is mounted */
		char controllers[256]; /* its cgroup.controllers, "" when none */
	} cgroup2;

	struct {
		/* libbpf_probe_bpf_prog_type(): the type loads (not that it can attach) */
		struct snap_feature cgroup_sock;
		struct snap_feature cgroup_sock_addr;
		struct snap_feature cgroup_device;
		/* A real BPF_LSM_MAC program load; lockdown or missing BTF refuse it. */
		struct snap_feature lsm;
		/* An LSM program only runs when "bpf" is an active LSM: 1 listed,
		 * 0 not listed, -errno when no list could be read. */
		int lsm_active;
		char lsm_list[256];        /* "lockdown,capability,landlock,bpf" */
		const char *lsm_list_from; /* "securityfs", "lsm_list_modules" or NULL */
	} bpf;

	struct {
		uint64_t xcr0;       /* 0 without XSAVE */
		uint32_t xsave_size; /* bytes of XSAVE area for the features xcr0 enables */
	} cpu;
};

/* Fills *ret with everything above. Returns 0 (a missing feature is a
 * result, not an error) or -EINVAL for a NULL ret. Forks two short-lived
 * children, clears this process's soft-dirty bits, and needs no privilege,
 * but unprivileged callers see most items as -EPERM. */
int snap_features_probe(struct snap_features *ret);

/* XCR0 (xgetbv 0): the xstate components the OS enabled; 0 without OSXSAVE. */
uint64_t snap_cpu_xcr0(void);
/* CPUID 0xD.0 EBX: the XSAVE area size for the components XCR0 enables. */
uint32_t snap_cpu_xsave_size(void);

static inline bool snap_features_io_uring_op(const struct snap_features *f, unsigned int op)
{
	return op < 256 && (f->io_uring.opcodes[op / 64] >> (op % 64)) & 1;
}

/* The userfaultfd feature bits and io_uring opcodes the engine cares about,
 * by name, in a fixed order (snapctl check prints them). */
struct snap_features_name {
	const char *name;
	uint64_t value; /* a UFFD_FEATURE_* mask, or an IORING_OP_* number */
};
extern const struct snap_features_name snap_features_uffd_bits[];
extern const size_t snap_features_uffd_bits_count;
extern const struct snap_features_name snap_features_io_uring_ops[];
extern const size_t snap_features_io_uring_ops_count;

#endif
