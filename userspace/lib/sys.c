/* sys.c — raw syscalls and kernel ioctls, each wrapped once, -errno on failure.
 * Never decides policy or retries: callers see exactly what the kernel said. */
#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

/* <linux/timerfd.h> has it, but also redefines glibc's struct flock. */
#ifndef TFD_IOC_SET_TICKS
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

/* syscall(2) reports failure as -1/errno; the project wants -errno. */
static long ret_errno(long r)
{
	return r < 0 ? -errno : r;
}

long sys_clone3(struct clone_args *args, size_t size)
{
	return ret_errno(syscall(__NR_clone3, args, size));
}

int sys_pidfd_open(pid_t pid, unsigned int flags)
{
	return ret_errno(syscall(__NR_pidfd_open, pid, flags));
}

int sys_pidfd_getfd(int pidfd, int targetfd)
{
	return ret_errno(syscall(__NR_pidfd_getfd, pidfd, targetfd, 0));
}

int sys_pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags)
{
	return ret_errno(syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags));
}

int sys_tgkill(pid_t tgid, pid_t tid, int sig)
{
	return ret_errno(syscall(__NR_tgkill, tgid, tid, sig));
}

int sys_kcmp(pid_t pid1, pid_t pid2, int type, unsigned long idx1, unsigned long idx2)
{
	return ret_errno(syscall(__NR_kcmp, pid1, pid2, type, idx1, idx2));
}

int sys_get_robust_list(pid_t pid, void **ret_head, size_t *ret_len)
{
	return ret_errno(syscall(__NR_get_robust_list, pid, ret_head, ret_len));
}

int sys_set_robust_list(void *head, size_t len)
{
	return ret_errno(syscall(__NR_set_robust_list, head, len));
}

int sys_rseq(void *rseq, uint32_t len, int flags, uint32_t sig)
{
	return ret_errno(syscall(__NR_rseq, rseq, len, flags, sig));
}

int sys_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)
{
	return ret_errno(prctl(option, arg2, arg3, arg4, arg5));
}

int sys_signalfd4(int fd, uint64_t mask, int flags)
{
	return ret_errno(syscall(__NR_signalfd4, fd, &mask, sizeof(mask), flags));
}

int sys_timerfd_set_ticks(int fd, uint64_t ticks)
{
	return ret_errno(ioctl(fd, TFD_IOC_SET_TICKS, &ticks));
}

int sys_capget(struct __user_cap_header_struct *hdr, struct __user_cap_data_struct *data)
{
	return ret_errno(syscall(__NR_capget, hdr, data));
}

int sys_capset(struct __user_cap_header_struct *hdr, const struct __user_cap_data_struct *data)
{
	return ret_errno(syscall(__NR_capset, hdr, data));
}

ssize_t sys_process_vm_readv(pid_t pid, const struct iovec *local, unsigned long local_count,
			     const struct iovec *remote, unsigned long remote_count)
{
	return ret_errno(process_vm_readv(pid, local, local_count, remote, remote_count, 0));
}

ssize_t sys_process_vm_writev(pid_t pid, const struct iovec *local, unsigned long local_count,
			      const struct iovec *remote, unsigned long remote_count)
{
	return ret_errno(process_vm_writev(pid, local, local_count, remote, remote_count, 0));
}

/* The raw syscall, not glibc's ptrace(): for PEEK requests the kernel stores
 * the word at data and returns 0, which is what sys_ptrace_peek relies on. */
int sys_ptrace(long request, pid_t pid, void *addr, void *data)
{
	return ret_errno(syscall(__NR_ptrace, request, pid, addr, data));
}

int sys_ptrace_peek(long request, pid_t pid, unsigned long addr, unsigned long *ret_word)
{
	unsigned long word;
	long r;

	if (request != PTRACE_PEEKTEXT && request != PTRACE_PEEKDATA && request != PTRACE_PEEKUSER)
		return -EINVAL;
	r = ret_errno(syscall(__NR_ptrace, request, pid, addr, &word));
	if (r < 0)
		return r;
	*ret_word = word;
	return 0;
}

int sys_userfaultfd(int flags)
{
	return ret_errno(syscall(__NR_userfaultfd, flags));
}

int sys_userfaultfd_dev(int flags)
{
	int dev, fd;

	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return -errno;
	fd = ret_errno(ioctl(dev, USERFAULTFD_IOC_NEW, flags));
	close(dev);
	return fd;
}

int sys_uffd_api(int uffd, struct uffdio_api *api)
{
	return ret_errno(ioctl(uffd, UFFDIO_API, api));
}

int sys_uffd_register(int uffd, struct uffdio_register *reg)
{
	return ret_errno(ioctl(uffd, UFFDIO_REGISTER, reg));
}

int sys_uffd_unregister(int uffd, struct uffdio_range *range)
{
	return ret_errno(ioctl(uffd, UFFDIO_UNREGISTER, range));
}

int sys_uffd_wake(int uffd, struct uffdio_range *range)
{
	return ret_errno(ioctl(uffd, UFFDIO_WAKE, range));
}

int sys_uffd_copy(int uffd, struct uffdio_copy *copy)
{
	return ret_errno(ioctl(uffd, UFFDIO_COPY, copy));
}

int sys_uffd_zeropage(int uffd, struct uffdio_zeropage *zero)
{
	return ret_errno(ioctl(uffd, UFFDIO_ZEROPAGE, zero));
}

int sys_uffd_writeprotect(int uffd, struct uffdio_writeprotect *wp)
{
	return ret_errno(ioctl(uffd, UFFDIO_WRITEPROTECT, wp));
}

int sys_uffd_continue(int uffd, struct uffdio_continue *cont)
{
	return ret_errno(ioctl(uffd, UFFDIO_CONTINUE, cont));
}

int sys_uffd_move(int uffd, struct uffdio_move *move)
{
	return ret_errno(ioctl(uffd, UFFDIO_MOVE, move));
}

int sys_pagemap_scan(int pagemap_fd, struct pm_scan_arg *arg)
{
	arg->size = sizeof(*arg);
	return ret_errno(ioctl(pagemap_fd, PAGEMAP_SCAN, arg));
}

int sys_lsm_list_modules(uint64_t *ids, uint32_t *size, uint32_t flags)
{
	return ret_errno(syscall(__NR_lsm_list_modules, ids, size, flags));
}

int sys_mlock(const void *addr, size_t len)
{
	return (int)ret_errno(syscall(__NR_mlock, addr, len));
}
