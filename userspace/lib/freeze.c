/* freeze.c — freezes every thread of a target with PTRACE_SEIZE +
 * PTRACE_INTERRUPT. Never leaves the target stopped: every error path
 * detaches the threads it stopped. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

int snap_ptrace_wait(pid_t tid, int *ret_status)
{
	int status;

	for (;;) {
		pid_t r = waitpid(tid, &status, __WALL);
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

/* Lists /proc/PID/task into tids (at most max); returns the count. */
static int list_threads(pid_t pid, pid_t *tids, int max)
{
	char path[64];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (n == max) {
			closedir(d);
			return -E2BIG;
		}
		tids[n++] = atoi(de->d_name);
	}
	closedir(d);
	return n;
}

/* Stops one thread; a signal on its way is delivered first. */
static int stop_thread(pid_t tid)
{
	int r, status;

	r = sys_ptrace(PTRACE_SEIZE, tid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD);
	if (r < 0)
		return r;
	r = sys_ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
	if (r < 0)
		goto detach;
	for (;;) {
		r = snap_ptrace_wait(tid, &status);
		if (r < 0)
			return r; /* the thread is gone: nothing to detach */
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		int sig = WIFSTOPPED(status) ? WSTOPSIG(status) : 0;
		r = sys_ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig);
		if (r == 0)
			r = sys_ptrace(PTRACE_INTERRUPT, tid, NULL, NULL);
		if (r < 0)
			goto detach;
	}
detach:
	sys_ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return r;
}

static int compare_tid(const void *a, const void *b)
{
	return *(const pid_t *)a - *(const pid_t *)b;
}

int snap_freeze(struct snap_ctx *ctx, pid_t pid, struct snap_freeze *ret_freeze)
{
	struct snap_freeze f = { .pid = pid };
	pid_t *seen;
	int n, r = 0;
	bool grew;

	f.tids = calloc(SNAP_MAX_THREADS, sizeof(pid_t));
	seen = calloc(SNAP_MAX_THREADS, sizeof(pid_t));
	if (!f.tids || !seen) {
		free(f.tids);
		free(seen);
		return snap_err(ctx, -ENOMEM, "out of memory");
	}
	/* Stop every listed thread, then list again: a thread not yet stopped
	 * may have made new ones. Done when a listing brings nothing new. */
	do {
		grew = false;
		n = list_threads(pid, seen, SNAP_MAX_THREADS);
		if (n < 0) {
			r = n == -ENOENT ? snap_err(ctx, -ESRCH, "process %d does not exist", (int)pid)
					 : snap_err(ctx, n, "cannot list the threads of process %d: %s", (int)pid,
						    strerror(-n));
			goto fail;
		}
		qsort(seen, (size_t)n, sizeof(pid_t), compare_tid);
		for (int i = 0; i < n; i++) {
			bool known = false;
			for (int k = 0; k < f.nr_threads && !known; k++)
				known = f.tids[k] == seen[i];
			if (known)
				continue;
			r = stop_thread(seen[i]);
			if (r == -ESRCH && seen[i] != pid)
				continue; /* a thread that ended by itself: not part of the process any more */
			if (r == -ESRCH) {
				r = snap_err(ctx, r, "process %d does not exist", (int)pid);
				goto fail;
			}
			if (r == -EPERM) {
				r = snap_err(ctx, r,
					     "cannot attach to process %d: permission denied (run as root, and make sure no debugger is attached to it)",
					     (int)pid);
				goto fail;
			}
			if (r < 0) {
				r = snap_err(ctx, r, "cannot stop thread %d of process %d: %s", (int)seen[i], (int)pid,
					     strerror(-r));
				goto fail;
			}
			f.tids[f.nr_threads++] = seen[i];
			grew = true;
		}
	} while (grew);
	/* the leader first, the others by tid */
	qsort(f.tids, (size_t)f.nr_threads, sizeof(pid_t), compare_tid);
	for (int i = 0; i < f.nr_threads; i++)
		if (f.tids[i] == pid) {
			memmove(f.tids + 1, f.tids, (size_t)i * sizeof(pid_t));
			f.tids[0] = pid;
		}
	if (f.nr_threads == 0 || f.tids[0] != pid) {
		r = snap_err(ctx, -ESRCH, "process %d exited while it was being stopped", (int)pid);
		goto fail;
	}
	f.frozen_at_ns = snap_now_ns();
	free(seen);
	*ret_freeze = f;
	return 0;
fail:
	free(seen);
	snap_thaw(&f);
	free(f.tids);
	return r;
}

void snap_thaw(struct snap_freeze *f)
{
	for (int i = 0; i < f->nr_threads; i++)
		sys_ptrace(PTRACE_DETACH, f->tids[i], NULL, NULL);
	f->nr_threads = 0;
	free(f->tids);
	f->tids = NULL;
}

int snap_freeze_kill(struct snap_freeze *f)
{
	int status, r = 0;

	if (kill(f->pid, SIGKILL) < 0)
		r = -errno;
	/* Every traced thread reports its death to us; the leader's comes
	 * only after all the others have been collected, so it goes last. */
	for (int i = f->nr_threads - 1; i >= 0 && r == 0; i--) {
		int w;
		do
			w = snap_ptrace_wait(f->tids[i], &status);
		while (w >= 0);
	}
	f->nr_threads = 0;
	free(f->tids);
	f->tids = NULL;
	return r;
}
