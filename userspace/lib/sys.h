/* sys.h — the one place where libsnap enters the kernel directly: raw
 * syscalls without a usable glibc wrapper, and the ioctls of userfaultfd and
 * /proc/PID/pagemap. Each is wrapped exactly once and returns >= 0 on
 * success or -errno on failure; none touches errno's meaning for callers. */
#ifndef SNAP_SYS_H
#define SNAP_SYS_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/ptrace.h> /* before compat.h: glibc's enum names PTRACE_GET_RSEQ_CONFIGURATION */
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/sched.h> /* struct clone_args */

#include "compat.h"

/* ---- processes ----------------------------------------------------------- */

/* clone3(2). Returns the child's pid in the parent and 0 in the child, like
 * fork(2). Without CLONE_VM and with stack 0 the child runs on a copy of the
 * caller's stack. size is sizeof(struct clone_args) or CLONE_ARGS_SIZE_VER*. */
long sys_clone3(struct clone_args *args, size_t size);
int sys_pidfd_open(pid_t pid, unsigned int flags);
/* A duplicate of the target's fd targetfd, O_CLOEXEC set (flags are 0). */
int sys_pidfd_getfd(int pidfd, int targetfd);
int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);
int sys_tgkill(pid_t tgid, pid_t tid, int sig);
/* 0 when the two resources are the same, 1 or 2 for an ordering, 3 when
 * they differ and cannot be ordered (see kcmp(2)). */
int sys_kcmp(pid_t pid1, pid_t pid2, int type, unsigned long idx1, unsigned long idx2);
int sys_get_robust_list(pid_t pid, void **ret_head, size_t *ret_len);
int sys_set_robust_list(void *head, size_t len);
/* rseq(2) for the calling thread; rseq(NULL, 0, 0, 0) tells whether the
 * syscall exists (-ENOSYS) without changing anything. */
int sys_rseq(void *rseq, uint32_t len, int flags, uint32_t sig);
/* prctl(2), with -errno instead of -1. */
int sys_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);

/* ---- fds that are kernel objects --------------------------------------------- */

/* signalfd4(2) with the kernel's 64-bit mask (bit signo - 1), so that every
 * signal can be named, glibc's reserved 32 and 33 included. */
int sys_signalfd4(int fd, uint64_t mask, int flags);
/* TFD_IOC_SET_TICKS: sets a timerfd's count of expirations not yet read
 * (ticks > 0; Linux 3.17, CONFIG_CHECKPOINT_RESTORE). */
int sys_timerfd_set_ticks(int fd, uint64_t ticks);

/* ---- capabilities ---------------------------------------------------------- */

struct __user_cap_header_struct;
struct __user_cap_data_struct;
/* capget(2)/capset(2) (no glibc wrapper); data is two structs for
 * _LINUX_CAPABILITY_VERSION_3. Both async-signal-safe. */
int sys_capget(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data);
int sys_capset(struct __user_cap_header_struct *hdr, const struct __user_cap_data_struct *data);

/* ---- another process's memory -------------------------------------------- */

/* Bytes transferred (may be short at an unmapped page), or -errno. */
ssize_t sys_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
			     const struct iovec *remote, unsigned long remote_count);
ssize_t sys_process_vm_writev(pid_t pid, const struct iovec *local, unsigned long local_count,
			      const struct iovec *remote, unsigned long remote_count);

/* ---- ptrace ---------------------------------------------------------------- */

/* Any request but the PEEK ones: the kernel's return value (0, or a size for
 * PTRACE_GET_RSEQ_CONFIGURATION...) or -errno. */
int sys_ptrace(long request, pid_t pid, void *addr, void *data);
/* PTRACE_PEEKTEXT/PEEKDATA/PEEKUSER: the word goes to *ret_word, so a word
 * that happens to be -1 is never mistaken for an error. */
int sys_ptrace_peek(long request, pid_t pid, unsigned long addr, unsigned long *ret_word);

/* ---- userfaultfd ------------------------------------------------------------ */

/* userfaultfd(2): flags O_CLOEXEC, O_NONBLOCK, UFFD_USER_MODE_ONLY. */
int sys_userfaultfd(int flags);
/* The same through /dev/userfaultfd (USERFAULTFD_IOC_NEW, Linux 6.1), which
 * its file permissions govern instead of vm.unprivileged_userfaultfd. */
int sys_userfaultfd_dev(int flags);
/* UFFDIO_API: on success api->features and api->ioctls say what is there. */
int sys_uffd_api(int uffd, struct uffdio_api *api);
int sys_uffd_register(int uffd, struct uffdio_register *reg);
int sys_uffd_unregister(int uffd, struct uffdio_range *range);
int sys_uffd_wake(int uffd, struct uffdio_range *range);
/* The ioctls below report progress in the struct (copy->copy...): on -EAGAIN
 * part of the range was done and the caller continues from there. */
int sys_uffd_copy(int uffd, struct uffdio_copy *copy);
int sys_uffd_zeropage(int uffd, struct uffdio_zeropage *zero);
int sys_uffd_writeprotect(int uffd, struct uffdio_writeprotect *wp);
int sys_uffd_continue(int uffd, struct uffdio_continue *cont);
int sys_uffd_move(int uffd, struct uffdio_move *move);

/* ---- /proc/PID/pagemap ------------------------------------------------------- */

/* PAGEMAP_SCAN (Linux 6.7): the number of regions written to arg->vec;
 * arg->walk_end says where the walk stopped. arg->size is filled in here. */
int sys_pagemap_scan(int pagemap_fd, struct pm_scan_arg *arg);

/* ---- security modules --------------------------------------------------------- */

/* lsm_list_modules(2) (Linux 6.8): the number of LSM ids written to ids;
 * *size is in bytes on input and output. */
int sys_lsm_list_modules(uint64_t *ids, uint32_t *size, uint32_t flags);

/* mlock(2) as the kernel has it (sanitizer runtimes make the libc call a no-op). */
int sys_mlock(const void *addr, size_t len);

#endif
