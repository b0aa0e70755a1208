/* freeze.h — stop every thread of a target and let it go again.
 * A frozen target is always thawed or killed, never left stopped. */
#ifndef SNAP_FREEZE_H
#define SNAP_FREEZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct snap_ctx;

struct snap_freeze {
	pid_t pid;
	bool seized;
	uint64_t frozen_at_ns; /* CLOCK_MONOTONIC */
};

/* Seizes and interrupts PID (PTRACE_SEIZE + PTRACE_INTERRUPT) and waits
 * until it is stopped. Refuses a process with more than one thread. */
int snap_freeze(struct snap_ctx *ctx, pid_t pid, struct snap_freeze *ret_freeze);
/* Detaches: the target runs on exactly where it was. */
void snap_thaw(struct snap_freeze *f);
/* Kills the frozen target and waits until it is gone. */
int snap_freeze_kill(struct snap_freeze *f);
/* Waits for the next ptrace stop of the target; returns the wait status
 * or -errno, -ESRCH when it died (status in *ret_exit when non-NULL). */
int snap_ptrace_wait(pid_t pid, int *ret_status);

uint64_t snap_now_ns(void);

#endif
