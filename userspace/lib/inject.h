/* inject.h — runs system calls inside a stopped tracee: what only the
 * process itself can tell (signal handlers, sigaltstack, its tid address,
 * its brk) or do. Works on static binaries: it borrows a syscall
 * instruction from the tracee's vDSO, and leaves no trace behind. */
#ifndef SNAP_INJECT_H
#define SNAP_INJECT_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct snap_ctx;

#define SNAP_INJECT_SCRATCH 512

struct snap_inject {
	pid_t pid;
	uint64_t gadget;                      /* address of "syscall" in the tracee */
	struct user_regs_struct saved;        /* registers to put back */
	uint64_t scratch;                     /* tracee memory we may use */
	uint8_t scratch_saved[SNAP_INJECT_SCRATCH];
	int mem_fd;                           /* /proc/PID/mem */
	uint64_t pending_sigs;                /* signals held back while injecting */
};

/* The tracee must be in a ptrace stop. vdso_start/end: its [vdso]. */
int snap_inject_begin(struct snap_ctx *ctx, pid_t pid, uint64_t vdso_start, uint64_t vdso_end,
		      struct snap_inject *ret_inj);
/* Returns the syscall's result as the tracee saw it (-errno on failure),
 * or a negative errno of our own with *ret_ok = 0 if the injection failed. */
long snap_inject_syscall(struct snap_inject *inj, long nr, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
			 int *ret_ok);
int snap_inject_read(struct snap_inject *inj, uint64_t addr, void *buf, size_t len);
int snap_inject_write(struct snap_inject *inj, uint64_t addr, const void *buf, size_t len);
/* Leaves registers and memory as they are now (the caller sets them). */
void snap_inject_close(struct snap_inject *inj);
/* Puts registers and scratch memory back. */
int snap_inject_end(struct snap_inject *inj);

/* Finds "syscall" (0f 05) in a vDSO image; returns its offset or -1. */
long snap_inject_find_gadget(const uint8_t *text, size_t len);

#endif
