/* freeze.h — stop every thread of a target and let them go again.
 * A frozen target is always thawed or killed, never left stopped. */
#ifndef SNAP_FREEZE_H
#define SNAP_FREEZE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct snap_ctx;

#define SNAP_MAX_THREADS 4096

struct snap_freeze {
	pid_t pid;
	int nr_threads;
	pid_t *tids;           /* tids[0] == pid, the leader, when it lives */
	uint64_t frozen_at_ns; /* CLOCK_MONOTONIC, when the last thread stopped */
};

/* Seizes and interrupts every thread of PID (PTRACE_SEIZE +
 * PTRACE_INTERRUPT), catching threads created meanwhile, and waits until
 * all are stopped. */
int snap_freeze(struct snap_ctx *ctx, pid_t pid, struct snap_freeze *ret_freeze);
/* Detaches every thread: the target runs on exactly where it was. */
void snap_thaw(struct snap_freeze *f);
/* Kills the frozen target and waits until it is gone. */
int snap_freeze_kill(struct snap_freeze *f);
/* Waits for the next ptrace stop of tid; returns the wait status, or
 * -ESRCH when it died (status in *ret_status). */
int snap_ptrace_wait(pid_t tid, int *ret_status);

uint64_t snap_now_ns(void);

#endif
