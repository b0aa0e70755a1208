/* inject.c — executes syscalls inside a ptrace-stopped process by pointing
 * its registers at a vDSO "syscall" instruction and single-stepping it.
 * Never modifies the tracee's code; always puts registers back. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "freeze.h"
#include "inject.h"
#include "sys.h"

long snap_inject_find_gadget(const uint8_t *text, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (text[i] == 0x0f && text[i + 1] == 0x05)
			return (long)i;
	return -1;
}

static int get_regs(pid_t pid, struct user_regs_struct *regs)
{
	struct iovec iov = { regs, sizeof(*regs) };

	return sys_ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov);
}

static int set_regs(pid_t pid, const struct user_regs_struct *regs)
{
	struct iovec iov = { (void *)regs, sizeof(*regs) };

	return sys_ptrace(PTRACE_SETREGSET, pid, (void *)NT_PRSTATUS, &iov);
}

int snap_inject_read(struct snap_inject *inj, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(inj->mem_fd, buf, len, (off_t)addr);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int snap_inject_write(struct snap_inject *inj, uint64_t addr, const void *buf, size_t len)
{
	ssize_t n = pwrite(inj->mem_fd, buf, len, (off_t)addr);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EFAULT;
}

int snap_inject_begin(struct snap_ctx *ctx, pid_t pid, uint64_t vdso_start, uint64_t vdso_end,
		      struct snap_inject *ret_inj)
{
	struct snap_inject inj = { .pid = pid, .mem_fd = -1 };
	char path[64];
	uint8_t *text;
	size_t len = vdso_end - vdso_start;
	long off;
	int r;

	if (!vdso_start || len == 0 || len > (1 << 20))
		return snap_err(ctx, -ENOEXEC, "process %d has no vDSO to run system calls through", (int)pid);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	inj.mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (inj.mem_fd < 0)
		return snap_err(ctx, -errno, "%s: %s", path, strerror(errno));
	text = malloc(len);
	if (!text) {
		close(inj.mem_fd);
		return snap_err(ctx, -ENOMEM, "out of memory");
	}
	r = snap_inject_read(&inj, vdso_start, text, len);
	off = r == 0 ? snap_inject_find_gadget(text, len) : -1;
	free(text);
	if (off < 0) {
		close(inj.mem_fd);
		return snap_err(ctx, -ENOEXEC, "no syscall instruction in the vDSO of process %d", (int)pid);
	}
	inj.gadget = vdso_start + (uint64_t)off;

	r = get_regs(pid, &inj.saved);
	if (r < 0) {
		close(inj.mem_fd);
		return snap_err(ctx, r, "cannot read the registers of process %d: %s", (int)pid, strerror(-r));
	}
	/* Scratch below the red zone of the current stack, 16-byte aligned. */
	inj.scratch = ((inj.saved.rsp - 128 - SNAP_INJECT_SCRATCH) & ~15ull);
	r = snap_inject_read(&inj, inj.scratch, inj.scratch_saved, SNAP_INJECT_SCRATCH);
	if (r < 0) {
		close(inj.mem_fd);
		return snap_err(ctx, r, "cannot use the stack of process %d for system calls: %s", (int)pid,
				strerror(-r));
	}
	*ret_inj = inj;
	return 0;
}

long snap_inject_syscall(struct snap_inject *inj, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			 int *ret_ok)
{
	struct user_regs_struct regs = inj->saved;
	int r, status;

	*ret_ok = 0;
	regs.rax = (uint64_t)nr;
	regs.orig_rax = (uint64_t)-1; /* not in a syscall: no restart logic on resume */
	regs.rdi = a1;
	regs.rsi = a2;
	regs.rdx = a3;
	regs.r10 = a4;
	regs.rip = inj->gadget;
	regs.rsp = inj->scratch; /* a signal-free stack in case the kernel looks */
	r = set_regs(inj->pid, &regs);
	if (r < 0)
		return r;
	r = sys_ptrace(PTRACE_SINGLESTEP, inj->pid, NULL, NULL);
	if (r < 0)
		return r;
	for (;;) {
		r = snap_ptrace_wait(inj->pid, &status);
		if (r < 0)
			return r;
		if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0)
			break;
		/* A signal arriving meanwhile: held back now and sent again by
		 * snap_inject_end, so the tracee still gets it after we leave. */
		if (WIFSTOPPED(status) && (status >> 16) == 0 && WSTOPSIG(status) != SIGTRAP)
			inj->pending_sigs |= 1ull << (WSTOPSIG(status) - 1);
		r = sys_ptrace(PTRACE_SINGLESTEP, inj->pid, NULL, NULL);
		if (r < 0)
			return r;
	}
	r = get_regs(inj->pid, &regs);
	if (r < 0)
		return r;
	if (regs.rip != inj->gadget + 2)
		return -EFAULT;
	*ret_ok = 1;
	return (long)regs.rax;
}

int snap_inject_end(struct snap_inject *inj)
{
	int r, r2;

	r = snap_inject_write(inj, inj->scratch, inj->scratch_saved, SNAP_INJECT_SCRATCH);
	r2 = set_regs(inj->pid, &inj->saved);
	for (int sig = 1; sig <= 64; sig++)
		if (inj->pending_sigs & (1ull << (sig - 1)))
			kill(inj->pid, sig);
	close(inj->mem_fd);
	inj->mem_fd = -1;
	return r < 0 ? r : r2;
}

void snap_inject_close(struct snap_inject *inj)
{
	if (inj->mem_fd >= 0)
		close(inj->mem_fd);
	inj->mem_fd = -1;
}
