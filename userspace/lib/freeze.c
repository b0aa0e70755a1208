/* freeze.c — freezes a target with PTRACE_SEIZE + PTRACE_INTERRUPT.
 * Never leaves the target stopped: every error path detaches first. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>

#include "ctx.h"
#include "freeze.h"
#include "sys.h"

uint64_t snap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int snap_ptrace_wait(pid_t pid, int *ret_status)
{
	int status;

	for (;;) {
		pid_t r = waitpid(pid, &status, __WALL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		break;
	}
	if (ret_status)
		*ret_status = status;
	if (WIFEXITED(status) || WIFSIGNALED(status))
		return -ESRCH;
	return status;
}

static int count_threads(pid_t pid)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int snap_freeze(struct snap_ctx *ctx, pid_t pid, struct snap_freeze *ret_freeze)
{
	struct snap_freeze f = { .pid = pid };
	int r, status, threads;

	r = sys_ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD);
	if (r == -ESRCH)
		return snap_err(ctx, r, "process %d does not exist", (int)pid);
	if (r == -EPERM)
		return snap_err(ctx, r,
				"cannot attach to process %d: permission denied (run as root, and make sure no debugger is attached to it)",
				(int)pid);
	if (r < 0)
		return snap_err(ctx, r, "cannot attach to process %d: %s", (int)pid, strerror(-r));
	f.seized = true;

	r = sys_ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
	if (r < 0) {
		snap_thaw(&f);
		return snap_err(ctx, r, "cannot stop process %d: %s", (int)pid, strerror(-r));
	}
	/* A signal may be on its way: let it be delivered, then the interrupt
	 * (or a group stop) takes us to a PTRACE_EVENT_STOP. */
	for (;;) {
		r = snap_ptrace_wait(pid, &status);
		if (r == -ESRCH)
			return snap_err(ctx, r, "process %d exited while it was being stopped", (int)pid);
		if (r < 0) {
			snap_thaw(&f);
			return snap_err(ctx, r, "waiting for process %d to stop: %s", (int)pid, strerror(-r));
		}
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP)
			break;
		int sig = WIFSTOPPED(status) ? WSTOPSIG(status) : 0;
		r = sys_ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
		if (r == 0)
			r = sys_ptrace(PTRACE_INTERRUPT, pid, NULL, NULL);
		if (r < 0) {
			snap_thaw(&f);
			return snap_err(ctx, r, "cannot stop process %d: %s", (int)pid, strerror(-r));
		}
	}
	f.frozen_at_ns = snap_now_ns();

	/* Only the stopped leader can create threads, so this count is final. */
	threads = count_threads(pid);
	if (threads != 1) {
		snap_thaw(&f);
		if (threads < 0)
			return snap_err(ctx, threads, "cannot list the threads of process %d: %s", (int)pid,
					strerror(-threads));
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d has %d threads; this snapctl captures single-threaded processes only (the process was left running)",
				(int)pid, threads);
	}
	*ret_freeze = f;
	return 0;
}

void snap_thaw(struct snap_freeze *f)
{
	if (!f->seized)
		return;
	sys_ptrace(PTRACE_DETACH, f->pid, NULL, NULL);
	f->seized = false;
}

int snap_freeze_kill(struct snap_freeze *f)
{
	int status, r;

	if (kill(f->pid, SIGKILL) < 0)
		return -errno;
	do
		r = snap_ptrace_wait(f->pid, &status);
	while (r >= 0);
	f->seized = false;
	return r == -ESRCH || r == -ECHILD ? 0 : r;
}
