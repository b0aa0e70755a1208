/* restore.c — snap_restore(): validate everything, then create the
 * process, supervise its rebuilding, and load its registers. A restore
 * that cannot succeed is refused before any of the saved program runs. */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "snap_features.h"
#include "freeze.h"
#include "image.h"
#include "inject.h"
#include "lazy.h"
#include "maps.h"
#include "pidns.h"
#include "restore.h"
#include "restorer/restorer.h"
#include "sys.h"

static const char *const step_names[RESTORER_STEP_COUNT] = {
	[RESTORER_STEP_RSEQ_UNREGISTER] = "dropping the restorer's rseq",
	[RESTORER_STEP_UNMAP] = "unmapping the restorer's memory",
	[RESTORER_STEP_MOVE_SPECIAL] = "moving the vDSO",
	[RESTORER_STEP_MOVE_VMA] = "moving memory into place",
	[RESTORER_STEP_UNMAP_PREMAP] = "unmapping the premap area",
	[RESTORER_STEP_MM_MAP] = "setting mm fields (prctl PR_SET_MM_MAP)",
	[RESTORER_STEP_SIGACTION] = "setting a signal handler",
	[RESTORER_STEP_SIGALTSTACK] = "setting the signal stack",
	[RESTORER_STEP_RSEQ_REGISTER] = "registering rseq",
	[RESTORER_STEP_ROBUST_LIST] = "setting the robust futex list",
	[RESTORER_STEP_CLONE_THREAD] = "creating a thread with its saved id",
	[RESTORER_STEP_SIGQUEUE] = "queueing a pending signal again",
	[RESTORER_STEP_ITIMER] = "setting an interval timer",
};

/* ---- validation ---- */

static int check_files(struct snap_ctx *ctx, const struct snap_image *img)
{
	bool *content = calloc(img->nr_files + 1, sizeof(bool));

	if (!content)
		return snap_err(ctx, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].file >= 0)
			content[img->vmas[i].file] = true;
	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].file >= 0 && (img->fds[i].flags & SNAP_FD_CHECK_CONTENT))
			content[img->fds[i].file] = true;
	if (img->process.exe_file >= 0)
		content[img->process.exe_file] = true;

	for (uint32_t i = 0; i < img->nr_files; i++) {
		const struct snap_rec_file *f = &img->files[i];
		const char *path = snap_image_string(img, f->path);
		struct stat st;
		int64_t mtime;

		if (stat(path, &st) < 0) {
			int e = errno;
			free(content);
			return snap_err(ctx, -e, "%s: %s; the snapshot needs this file as it was at capture", path,
					strerror(e));
		}
		if (S_ISCHR(f->mode))
			continue; /* /dev/null and friends: any instance will do */
		mtime = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
		if (st.st_ino != f->ino || (content[i] && ((uint64_t)st.st_size != f->size || mtime != f->mtime_ns))) {
			free(content);
			return snap_err(ctx, -ESTALE,
					"%s changed since the snapshot was taken (inode %llu, size %llu then; inode %llu, size %llu now); restore needs the same file: capture again",
					path, (unsigned long long)f->ino, (unsigned long long)f->size,
					(unsigned long long)st.st_ino, (unsigned long long)st.st_size);
		}
	}
	free(content);
	return 0;
}

/* Our own vDSO and vvar pages are what the child will carry: they must be
 * the same pages, same sizes and same relative layout as the snapshot's. */
static int check_vdso(struct snap_ctx *ctx, const struct snap_image *img)
{
	struct snap_map *maps;
	size_t n;
	int64_t delta = 0;
	bool have_delta = false;
	unsigned found = 0, saved = 0;
	int r;

	r = snap_maps_read(0, "/proc/self/maps", &maps, &n);
	if (r < 0)
		return snap_err(ctx, r, "cannot read /proc/self/maps");
	for (uint32_t k = 0; k < img->nr_vmas; k++)
		if (img->vmas[k].kind == SNAP_VMA_VDSO || img->vmas[k].kind == SNAP_VMA_VVAR)
			saved++;
	for (size_t i = 0; i < n && r == 0; i++) {
		const struct snap_map *m = &maps[i];
		if (strcmp(m->path, "[vdso]") && strncmp(m->path, "[vvar", 5))
			continue;
		const struct snap_rec_vma *t = NULL;
		for (uint32_t k = 0; k < img->nr_vmas; k++)
			if (!strcmp(snap_image_string(img, img->vmas[k].name), m->path))
				t = &img->vmas[k];
		if (!t || t->end - t->start != m->end - m->start ||
		    (have_delta && (int64_t)(t->start - m->start) != delta))
			r = snap_err(ctx, -EXDEV,
				     "this kernel's %s differs from the snapshot's: it was taken on another kernel (%s), which is not supported",
				     m->path, snap_image_string(img, img->process.kernel_release));
		delta = (int64_t)(t ? t->start - m->start : 0);
		have_delta = true;
		found++;
	}
	free(maps);
	if (r == 0 && found != saved)
		r = snap_err(ctx, -EXDEV, "the snapshot has %u vDSO/vvar mappings, this kernel %u: restore on the kernel it was taken on",
			     saved, found);
	return r;
}

static int validate(struct snap_ctx *ctx, const char *dir, const struct snap_image *img, bool lazy)
{
	struct utsname uts;
	const char *release = snap_image_string(img, img->process.kernel_release);
	uint64_t xcr0 = snap_cpu_xcr0();
	int r;

	uname(&uts);
	if (strcmp(uts.release, release))
		return snap_err(ctx, -EXDEV, "the snapshot was taken on kernel %s, this is %s: restore it on the kernel it was taken on",
				release, uts.release);
	if ((img->process.xfeatures & ~xcr0) != 0)
		return snap_err(ctx, -EXDEV,
				"the snapshot's registers use CPU state features %#llx this CPU lacks (it has %#llx): restore it on the same kind of CPU",
				(unsigned long long)img->process.xfeatures, (unsigned long long)xcr0);
	if ((r = check_vdso(ctx, img)) < 0 || (r = check_files(ctx, img)) < 0)
		return r;
	/* Lazy: each chunk is checked when the page server first reads it. */
	return lazy ? 0 : snap_image_verify_pages(ctx, dir, img);
}

/* ---- creating the process ---- */

/* What a threaded process needs when its ids cannot be had, and what to do. */
static const char ids_advice[] =
	"a process with threads must get its own pid and thread ids back (glibc keeps them in its memory): "
	"end the process using it and restore again, or restore into a new PID namespace with --pid-ns";

/* What the restore child starts with, before and after it is cloned. */
struct child_start {
	const struct snap_image *img;
	const char *dir;
	int report[2], go[2], pages_fd;
	struct restore_child_opts child_opts; /* lazy restore and its eager chunks */
};

/* The restore child: waits until the parent traces it, then rebuilds. */
static void child_main(void *arg)
{
	const struct child_start *s = arg;
	char c;

	close(s->report[0]);
	close(s->go[1]);
	if (read(s->go[0], &c, 1) != 1)
		_exit(127);
	close(s->go[0]);
	snap_restore_child(s->img, s->dir, s->report[1], s->pages_fd, &s->child_opts);
	_exit(127);
}

static pid_t spawn(pid_t want, bool *ret_same)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	pid_t tid = want;
	long r;

	args.set_tid = (uint64_t)(uintptr_t)&tid;
	args.set_tid_size = 1;
	r = sys_clone3(&args, sizeof(args));
	if (r >= 0) {
		*ret_same = true;
		return (pid_t)r;
	}
	*ret_same = false;
	args.set_tid = 0;
	args.set_tid_size = 0;
	return (pid_t)sys_clone3(&args, sizeof(args));
}

/* Reads the child's report pipe to its end. */
static size_t read_report(int fd, char *buf, size_t size)
{
	size_t got = 0;

	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static int child_failed(struct snap_ctx *ctx, int report_fd, int status)
{
	char buf[2048];
	size_t n = read_report(report_fd, buf, sizeof(buf) - 1);

	buf[n] = '\0';
	if (n > 1 && buf[0] == RESTORE_MSG_ERROR)
		return snap_err(ctx, -EIO, "%s; no process was started", buf + 1);
	for (size_t off = 0; off < n; off++) {
		struct restorer_failure f;
		if (buf[off] != RESTORE_MSG_BLOB || n - off < 1 + sizeof(struct restore_msg_blob) + sizeof(f))
			continue;
		memcpy(&f, buf + off + 1 + sizeof(struct restore_msg_blob), sizeof(f));
		if (f.magic == RESTORER_FAILURE_MAGIC && f.step == RESTORER_STEP_CLONE_THREAD && f.err == -EEXIST)
			return snap_err(ctx, -EBUSY, "thread id %llu is taken; %s; no process was started",
					(unsigned long long)f.addr, ids_advice);
		if (f.magic == RESTORER_FAILURE_MAGIC && f.step < RESTORER_STEP_COUNT && step_names[f.step])
			return snap_err(ctx, (int)f.err, "the restorer failed %s (address %#llx): %s; no process was started",
					step_names[f.step], (unsigned long long)f.addr, strerror((int)-f.err));
	}
	if (WIFSIGNALED(status))
		return snap_err(ctx, -EIO, "the restoring process was killed by signal %d before the saved program ran",
				WTERMSIG(status));
	return snap_err(ctx, -EIO, "the restoring process exited with status %d before the saved program ran",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* The child stopped at the blob's final trap: unmap the blob from inside
 * it, load the saved registers, let it go. */
static int load_thread(struct snap_ctx *ctx, pid_t tid, const struct snap_image *img, const struct snap_rec_thread *t)
{
	struct iovec iov = { (void *)t->regs, sizeof(t->regs) };
	uint64_t mask = t->sigmask;
	int r;

	r = sys_ptrace(PTRACE_SETREGSET, tid, (void *)NT_PRSTATUS, &iov);
	if (r < 0)
		return snap_err(ctx, r, "cannot load the saved registers of thread %d: %s", (int)tid, strerror(-r));
	if (t->xstate_len) {
		iov = (struct iovec){ img->blobs + t->xstate_off, t->xstate_len };
		r = sys_ptrace(PTRACE_SETREGSET, tid, (void *)NT_X86_XSTATE, &iov);
		if (r < 0)
			return snap_err(ctx, r, "cannot load the saved FPU/xstate of thread %d: %s", (int)tid,
					strerror(-r));
	}
	r = sys_ptrace(PTRACE_SETSIGMASK, tid, (void *)sizeof(mask), &mask);
	if (r < 0)
		return snap_err(ctx, r, "cannot set the signal mask of thread %d: %s", (int)tid, strerror(-r));
	return 0;
}

/* Every thread stopped at the blob's final trap: unmap the blob from
 * inside the process, load each thread's saved registers. */
static int finish(struct snap_ctx *ctx, const pid_t *tids, const struct snap_image *img,
		  const struct restore_msg_blob *blob, int *ret_uffd)
{
	struct snap_inject inj;
	uint64_t vdso_start = 0, vdso_end = 0;
	pid_t pid = tids[0];
	int ok, r;
	long ret;

	for (uint32_t i = 0; i < img->nr_vmas; i++)
		if (img->vmas[i].kind == SNAP_VMA_VDSO) {
			vdso_start = img->vmas[i].start;
			vdso_end = img->vmas[i].end;
		}
	r = snap_inject_begin(ctx, pid, vdso_start, vdso_end, &inj);
	if (r < 0)
		return r;
	ret = snap_inject_syscall(&inj, SYS_munmap, blob->start, blob->len, 0, 0, &ok);
	if (ok && ret == 0 && blob->uffd >= 0) {
		/* Lazy: the userfaultfd becomes the page server's, not the process's. */
		int pidfd = sys_pidfd_open(pid, 0);
		*ret_uffd = pidfd >= 0 ? sys_pidfd_getfd(pidfd, blob->uffd) : pidfd;
		if (pidfd >= 0)
			close(pidfd);
		if (*ret_uffd >= 0)
			ret = snap_inject_syscall(&inj, SYS_close, (uint64_t)blob->uffd, 0, 0, 0, &ok);
		else
			ret = *ret_uffd;
	}
	snap_inject_close(&inj);
	if (!ok || ret < 0)
		return snap_err(ctx, (int)ret, "cannot finish the new process (restorer unmap, userfaultfd): %s",
				strerror((int)-ret));

	for (uint32_t i = 0; i < img->nr_threads; i++) {
		r = load_thread(ctx, tids[i], img, &img->threads[i]);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < SNAP_NRLIMITS; i++) {
		struct rlimit rl = { img->process.rlimits[i].cur, img->process.rlimits[i].max };
		if (prlimit(pid, (enum __rlimit_resource)i, &rl, NULL) < 0)
			snap_log(ctx, SNAP_LOG_WARN, "resource limit %d (%llu/%llu) could not be restored: %s", i,
				 (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max, strerror(errno));
	}
	return 0;
}

/* Waits until the leader and every thread it creates stop at the blob's
 * trap. New threads are auto-attached (PTRACE_O_TRACECLONE): each is let
 * go from its first stop and caught at the trap. Fills tids[] in the order
 * the snapshot lists them (the blob creates them in that order). */
/* Waits for the leader's next stop. Should a thread it made die (the blob
 * failed: exit_group), the leader's own death is reported only after
 * every traced thread has been collected: collect them, then it. */
static int wait_leader(pid_t pid, const pid_t *tids, uint32_t created, bool *trapped, int *ret_status)
{
	if (created <= 1)
		return snap_ptrace_wait(pid, ret_status);
	for (;;) {
		int st;
		pid_t w = waitpid(pid, &st, WNOHANG | __WALL);
		if (w == pid) {
			*ret_status = st;
			return WIFEXITED(st) || WIFSIGNALED(st) ? -ESRCH : st;
		}
		if (w < 0 && errno != EINTR)
			return -errno;
		for (uint32_t i = 1; i < created; i++) {
			if (trapped[i] || waitpid(tids[i], &st, WNOHANG | __WALL) != tids[i])
				continue;
			if (WIFSTOPPED(st)) {
				/* at its trap: kept for later; anything else goes on */
				if (WSTOPSIG(st) == SIGTRAP && (st >> 16) == 0)
					trapped[i] = true;
				else
					sys_ptrace(PTRACE_CONT, tids[i], NULL,
						   (void *)(long)((st >> 16) == 0 ? WSTOPSIG(st) : 0));
				continue;
			}
			{
				for (uint32_t k = 1; k < created; k++)
					if (k != i)
						while (waitpid(tids[k], NULL, __WALL) < 0 && errno == EINTR)
							;
				return snap_ptrace_wait(pid, ret_status);
			}
		}
		usleep(200);
	}
}

static int wait_for_traps(struct snap_ctx *ctx, pid_t pid, const struct snap_image *img, pid_t *tids, int report_fd,
			  bool *ret_child_gone)
{
	uint32_t created = 1;
	int status, r;
	bool trapped[img->nr_threads + 1];

	memset(trapped, 0, sizeof(trapped));
	tids[0] = pid;
	*ret_child_gone = false;
	for (;;) {
		r = wait_leader(pid, tids, created < img->nr_threads ? created : img->nr_threads, trapped, &status);
		if (r == -ESRCH) {
			*ret_child_gone = true;
			return child_failed(ctx, report_fd, status);
		}
		if (r < 0)
			return snap_err(ctx, r, "waiting for the new process: %s", strerror(-r));
		if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_CLONE) {
			unsigned long tid = 0;
			sys_ptrace(PTRACE_GETEVENTMSG, pid, NULL, &tid);
			if (created < img->nr_threads)
				tids[created] = (pid_t)tid;
			created++;
			/* Let the new thread run its setup now: the leader waits for
			 * every thread to be done before its own last step. */
			int st;
			if (snap_ptrace_wait((pid_t)tid, &st) >= 0 && WIFSTOPPED(st) && (st >> 16) == PTRACE_EVENT_STOP)
				sys_ptrace(PTRACE_CONT, (pid_t)tid, NULL, NULL);
			sys_ptrace(PTRACE_CONT, pid, NULL, NULL);
			continue;
		}
		if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0)
			break;
		int sig = WIFSTOPPED(status) && (status >> 16) == 0 ? WSTOPSIG(status) : 0;
		sys_ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
	if (created != img->nr_threads)
		return snap_err(ctx, -EIO, "the new process has %u threads, the snapshot %u", created, img->nr_threads);
	for (uint32_t i = 1; i < img->nr_threads; i++) {
		while (!trapped[i]) {
			r = snap_ptrace_wait(tids[i], &status);
			if (r < 0)
				return snap_err(ctx, r, "thread %d of the new process ended before it ran", (int)tids[i]);
			if (WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0)
				break;
			int sig = WIFSTOPPED(status) && (status >> 16) == 0 ? WSTOPSIG(status) : 0;
			sys_ptrace(PTRACE_CONT, tids[i], NULL, (void *)(long)sig);
		}
	}
	return 0;
}

static int write_pidfile(struct snap_ctx *ctx, const char *path, pid_t pid)
{
	char tmp[PATH_MAX], buf[32];
	int fd, len;

	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return snap_err(ctx, -errno, "%s: %s", tmp, strerror(errno));
	len = snprintf(buf, sizeof(buf), "%d\n", (int)pid);
	if (write(fd, buf, (size_t)len) != len || fsync(fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		int e = errno;
		unlink(tmp);
		return snap_err(ctx, -e, "writing the pid file %s: %s", path, strerror(e));
	}
	return 0;
}

/* A thread id of the snapshot that some process holds now, or 0. */
static pid_t taken_tid(const struct snap_image *img)
{
	for (uint32_t i = 1; i < img->nr_threads; i++)
		if (kill(img->threads[i].tid, 0) == 0 || errno == EPERM)
			return img->threads[i].tid;
	return 0;
}

/* Kills the half-made process and collects it. As its tracer we must reap
 * each traced thread before the leader can be reaped. */
static void kill_new_process(pid_t pid, const pid_t *tids, uint32_t nr_tids)
{
	kill(pid, SIGKILL);
	for (uint32_t i = 1; tids && i < nr_tids; i++)
		if (tids[i] > 0)
			while (waitpid(tids[i], NULL, __WALL) < 0 && errno == EINTR)
				;
	while (waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

int snap_restore(struct snap_ctx *ctx, const char *dir, const struct snap_restore_opts *opts,
		 struct snap_restore_result *ret_result)
{
	struct snap_restore_opts defaults = { 0 };
	struct snap_restore_result res = { 0 };
	struct restore_msg_blob blob = { 0 };
	struct snap_pidns ns = SNAP_PIDNS_NONE;
	struct child_start start = { .report = { -1, -1 }, .go = { -1, -1 }, .pages_fd = -1 };
	struct snap_image img;
	int status, r;
	uint64_t t0 = snap_now_ns();
	char path[PATH_MAX];
	bool same = false, gone = false, wrote_pidfile = false;
	struct snap_workingset ws = { 0 };
	uint8_t *eager = NULL;
	int uffd = -1, stats[2] = { -1, -1 };
	pid_t pid = -1, *tids = NULL;

	if (!opts)
		opts = &defaults;
	ctx->error[0] = '\0';
	r = snap_image_load(ctx, dir, &img);
	if (r < 0)
		return r;
	start.img = &img;
	start.dir = dir;
	r = validate(ctx, dir, &img, opts->lazy);
	if (r < 0)
		goto out;
	/* A namespace's pid 1 is its init: only an init could get it back. */
	if (opts->pid_ns && img.process.pid == 1) {
		r = snap_err(ctx, -EINVAL,
			     "the snapshot's pid is 1, which a new PID namespace gives its own init: restore it without --pid-ns");
		goto out;
	}
	res.saved_pid = img.process.pid;
	if (opts->lazy) {
		start.child_opts.lazy = true;
		/* --prefault-ws: the working set's early chunks before it runs */
		if (opts->prefault_ws && snap_workingset_load(ctx, dir, &img, &ws) == 0 && ws.early) {
			eager = calloc(img.nr_chunks + 1, 1);
			for (uint32_t k = 0; eager && k < ws.early; k++)
				eager[ws.order[k]] = 1;
			start.child_opts.eager = eager;
		} else if (opts->prefault_ws && ctx->error[0]) {
			snap_log(ctx, SNAP_LOG_WARN, "%s", ctx->error);
			ctx->error[0] = '\0';
		}
	}
	res.validate_ns = snap_now_ns() - t0;

	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_PAGES_FILE);
	start.pages_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (start.pages_fd < 0 || pipe2(start.report, O_CLOEXEC) < 0 || pipe2(start.go, O_CLOEXEC) < 0) {
		r = snap_err(ctx, -errno, "cannot prepare the restore: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	if (opts->pid_ns) {
		r = snap_pidns_spawn(ctx, img.process.pid, child_main, &start, &ns, &pid);
		if (r < 0)
			goto out;
		same = true;
	} else {
		pid = spawn(img.process.pid, &same);
		if (pid < 0) {
			r = snap_err(ctx, pid, "cannot create a process: %s", strerror(-pid));
			goto out;
		}
		if (pid == 0)
			child_main(&start);
	}
	close(start.report[1]);
	start.report[1] = -1;
	close(start.go[0]);
	start.go[0] = -1;
	res.pid = pid;
	res.same_pid = same;
	res.pid_ns = opts->pid_ns;
	res.pid_in_ns = opts->pid_ns ? img.process.pid : 0;
	res.ns_init_pid = opts->pid_ns ? ns.init_pid : 0;

	if (!same && img.nr_threads > 1) {
		r = snap_err(ctx, -EBUSY, "pid %d is taken; %s", (int)img.process.pid, ids_advice);
		goto kill_child;
	}
	if (!opts->pid_ns && img.nr_threads > 1) {
		pid_t tid = taken_tid(&img);
		if (tid) {
			r = snap_err(ctx, -EBUSY, "thread id %d of the snapshot is taken; %s", (int)tid, ids_advice);
			goto kill_child;
		}
	}
	tids = calloc(img.nr_threads, sizeof(pid_t));
	if (!tids) {
		r = snap_err(ctx, -ENOMEM, "out of memory");
		goto kill_child;
	}
	r = sys_ptrace(PTRACE_SEIZE, pid, NULL, (void *)(long)(PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE));
	if (r < 0) {
		snap_err(ctx, r, "cannot supervise the new process: %s", strerror(-r));
		goto kill_child;
	}
	if (write(start.go[1], "g", 1) != 1) {
		r = snap_err(ctx, -errno, "cannot start the new process");
		goto kill_child;
	}
	close(start.go[1]);
	start.go[1] = -1;

	/* Until the blob's trap, the child runs none of the saved program. */
	r = wait_for_traps(ctx, pid, &img, tids, start.report[0], &gone);
	if (r < 0) {
		if (gone)
			pid = -1;
		goto kill_child;
	}
	{
		char buf[1 + sizeof(blob)];
		if (read_report(start.report[0], buf, sizeof(buf)) != sizeof(buf) || buf[0] != RESTORE_MSG_BLOB) {
			r = snap_err(ctx, -EIO, "the new process did not report its restorer");
			goto kill_child;
		}
		memcpy(&blob, buf + 1, sizeof(blob));
	}
	r = finish(ctx, tids, &img, &blob, &uffd);
	if (r < 0)
		goto kill_child;
	if (uffd >= 0) {
		struct snap_lazy_opts lo = { .record = opts->record, .log_path = opts->server_log,
					     .no_prefetch = opts->no_prefetch, .verbose = opts->server_log != NULL,
					     .stats_fd = opts->stats_fd };
		/* In the foreground the result carries the server's record. */
		if (!opts->detach && opts->stats_fd <= 0 && pipe2(stats, O_CLOEXEC) == 0)
			lo.stats_fd = stats[1];
		r = snap_lazy_start(ctx, dir, &img, pid, uffd, &lo, &res.page_server_pid);
		uffd = -1; /* the server's now */
		if (stats[1] >= 0) {
			close(stats[1]);
			stats[1] = -1;
		}
		if (r < 0)
			goto kill_child;
		res.lazy = true;
	}
	res.bytes_loaded = blob.bytes_loaded;
	res.create_ns = snap_now_ns() - t0 - res.validate_ns;
	if (opts->pidfile) {
		r = write_pidfile(ctx, opts->pidfile, pid);
		if (r < 0)
			goto kill_child;
		wrote_pidfile = true;
	}
	for (uint32_t i = 0; i < img.nr_threads && r == 0; i++)
		r = sys_ptrace(PTRACE_DETACH, tids[i], NULL, NULL);
	if (r < 0) {
		snap_err(ctx, r, "cannot let the new process run: %s", strerror(-r));
		goto kill_child;
	}
	/* Running: from here on the namespace lives as long as the process. */
	if (opts->pid_ns) {
		r = snap_pidns_release(ctx, &ns);
		if (r < 0) {
			pid = -1; /* the process is gone with its namespace */
			goto kill_child;
		}
	}
	res.total_ns = snap_now_ns() - t0;
	if (!same)
		snap_log(ctx, SNAP_LOG_WARN, "pid %d is taken; the process was restored as pid %d", (int)img.process.pid,
			 (int)pid);
	if (ret_result)
		*ret_result = res;

	if (!opts->detach) {
		if (opts->pid_ns) {
			/* The process is init's child; init ends with it and mirrors its status. */
			res.exit_status = snap_pidns_wait(&ns);
		} else {
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			res.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		}
		/* sent soon after the process ended, or once its children's pages are in */
		if (stats[0] >= 0)
			res.have_server_stats = snap_lazy_read_stats(stats[0], 5000, &res.server);
		if (ret_result)
			*ret_result = res;
	}
	r = 0;
	goto out;

kill_child:
	if (pid > 0)
		kill_new_process(pid, tids, tids ? img.nr_threads : 0);
	snap_pidns_kill(&ns);
	if (wrote_pidfile)
		unlink(opts->pidfile);
out:
	for (int i = 0; i < 2; i++) {
		if (start.report[i] >= 0)
			close(start.report[i]);
		if (start.go[i] >= 0)
			close(start.go[i]);
	}
	if (start.pages_fd >= 0)
		close(start.pages_fd);
	for (int i = 0; i < 2; i++)
		if (stats[i] >= 0)
			close(stats[i]);
	free(tids);
	free(eager);
	snap_workingset_release(&ws);
	if (uffd >= 0)
		close(uffd);
	snap_image_release(&img);
	return r;
}
