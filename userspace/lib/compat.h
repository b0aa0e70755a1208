/* compat.h — kernel UAPI newer than Debian 12's headers (Linux 6.1).
 * Each definition is guarded and names the kernel that brought it; nothing
 * else belongs here. */
#ifndef SNAP_COMPAT_H
#define SNAP_COMPAT_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>
#include <linux/fs.h>

/* userfaultfd features (Linux 6.4 – 6.8). */
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13) /* 6.4 */
#endif
#ifndef UFFD_FEATURE_POISON
#define UFFD_FEATURE_POISON (1 << 14) /* 6.6 */
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15) /* 6.7 */
#endif
#ifndef UFFD_FEATURE_MOVE
#define UFFD_FEATURE_MOVE (1 << 16) /* 6.8 */
#endif
#ifndef _UFFDIO_MOVE
#define _UFFDIO_MOVE (0x05) /* 6.8 */
#endif
#ifndef _UFFDIO_POISON
#define _UFFDIO_POISON (0x08) /* 6.6 */
#endif
#ifndef UFFDIO_MOVE
/* UFFDIO_MOVE (Linux 6.8): moves pages from src to dst without copying. */
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move; /* bytes moved, or -errno */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* PAGEMAP_SCAN ioctl on /proc/PID/pagemap (Linux 6.7). */
#ifndef PAGEMAP_SCAN
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

struct page_region {
	__u64 start;
	__u64 end;
	__u64 categories;
};

#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)

struct pm_scan_arg {
	__u64 size;
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end;
	__u64 vec;
	__u64 vec_len;
	__u64 max_pages;
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif

/* clone3 (5.3) with set_tid (5.5): Debian's glibc has no wrapper. */
#ifndef CLONE_ARGS_SIZE_VER2
#define CLONE_ARGS_SIZE_VER2 88
#endif

/* ptrace (5.13): the request is in Debian's <sys/ptrace.h> (an enum, so it
 * cannot be #ifndef-guarded here); its result struct is not everywhere. */
struct snap_ptrace_rseq_configuration {
	__u64 rseq_abi_pointer;
	__u32 rseq_abi_size;
	__u32 signature;
	__u32 flags;
	__u32 pad;
};

/* lsm_list_modules (Linux 6.8) and the LSM ids of <linux/lsm.h> (6.8). */
#ifndef __NR_lsm_list_modules
#define __NR_lsm_list_modules 461 /* x86_64 */
#endif
#ifndef LSM_ID_UNDEF
#define LSM_ID_UNDEF 0
#define LSM_ID_CAPABILITY 100
#define LSM_ID_SELINUX 101
#define LSM_ID_SMACK 102
#define LSM_ID_TOMOYO 103
#define LSM_ID_APPARMOR 104
#define LSM_ID_YAMA 105
#define LSM_ID_LOADPIN 106
#define LSM_ID_SAFESETID 107
#define LSM_ID_LOCKDOWN 108
#define LSM_ID_BPF 109
#define LSM_ID_LANDLOCK 110
#define LSM_ID_IMA 111 /* 6.9 */
#define LSM_ID_EVM 112 /* 6.9 */
#define LSM_ID_IPE 113 /* 6.12 */
#endif

/* prctl PR_SET_MM_MAP (3.18) is in Debian's headers; MAP_FIXED_NOREPLACE (4.17) too. */

#endif
