/* run.c — the snapshot phase: a workload in a cgroup of its own, guarded until its
 * snapshot point, then captured; never returns with the cgroup or a bpf program left. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/sched.h>

#include "ctx.h"
#include "freeze.h"
#include "guard.h"
#include "run.h"
#include "snap_features.h"
#include "sys.h"

extern char **environ;

/* How long the cgroup may take to empty after SIGKILL (a dying process
 * with much memory takes a while to let go of it). */
#define CGROUP_EMPTY_TIMEOUT_NS (10ull * 1000000000ull)

/* ---- the cgroup ------------------------------------------------------------- */

static int write_text(int dirfd, const char *file, const char *text)
{
	ssize_t n;
	int fd, r = 0;

	fd = openat(dirfd, file, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	if (n < 0)
		r = -errno;
	else if ((size_t)n != strlen(text))
		r = -EIO;
	close(fd);
	return r;
}

/* The pids in dirfd's cgroup.procs, up to cap; their number, or -errno. */
static int read_procs(int dirfd, pid_t *pids, int cap)
{
	char buf[4096], *p, *line;
	int fd, n = 0;
	ssize_t len;

	fd = openat(dirfd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0)
		return -errno;
	buf[len] = 0;
	for (line = strtok_r(buf, "\n", &p); line && n < cap; line = strtok_r(NULL, "\n", &p))
		pids[n++] = (pid_t)atoi(line);
	return n;
}

int snap_cgroup_count(const struct snap_cgroup *cg)
{
	pid_t pids[256];

	return read_procs(cg->fd, pids, 256);
}

/* "0::/path" from /proc/self/cgroup: this process's place in the v2 tree. */
static int own_cgroup(char *buf, size_t size)
{
	char line[PATH_MAX + 16];
	FILE *f;
	int r = -ENOENT;

	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3))
			continue;
		line[strcspn(line, "\n")] = 0;
		snprintf(buf, size, "%s", line + 3);
		r = 0;
		break;
	}
	fclose(f);
	return r;
}

static int cgroup_id(const char *path, uint64_t *ret)
{
	union {
		struct file_handle fh;
		char space[sizeof(struct file_handle) + 8];
	} h = { .fh = { .handle_bytes = 8 } };
	int mount_id;

	/* The kernfs node id, which bpf_get_current_cgroup_id() returns. */
	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	memcpy(ret, h.fh.f_handle, sizeof(*ret));
	return 0;
}

/* Empty cgroups named after a snapctl that no longer lives: what a
 * SIGKILLed `snapctl run` leaves. One with processes in it is left alone. */
static void sweep_stale(struct snap_ctx *ctx, const char *parent)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d;

	d = opendir(parent);
	if (!d)
		return;
	while ((de = readdir(d))) {
		long pid;

		if (strncmp(de->d_name, SNAP_CGROUP_PREFIX, strlen(SNAP_CGROUP_PREFIX)))
			continue;
		pid = strtol(de->d_name + strlen(SNAP_CGROUP_PREFIX), NULL, 10);
		if (pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", parent, de->d_name);
		if (rmdir(path) == 0)
			snap_log(ctx, SNAP_LOG_INFO, "removed %s, left by a snapctl run that was killed", path);
		else
			snap_log(ctx, SNAP_LOG_WARN, "%s was left by a snapctl run that was killed, and cannot be removed: %s",
				 path, strerror(errno));
	}
	closedir(d);
}

int snap_cgroup_create(struct snap_ctx *ctx, const char *mount, struct snap_cgroup *ret_cg)
{
	struct snap_cgroup cg = { .fd = -1, .root_fd = -1 };
	char own[PATH_MAX] = "/";
	struct stat st;
	int r;

	/* Under our own cgroup: a delegated subtree stays delegated. When that
	 * path is not visible from this mount (a container's bind mount of a
	 * subtree), under the mount's root. */
	if (own_cgroup(own, sizeof(own)) < 0 || !strcmp(own, "/"))
		own[0] = 0;
	if (snprintf(cg.parent, sizeof(cg.parent), "%s%s", mount, own) >= (int)sizeof(cg.parent))
		return snap_err(ctx, -ENAMETOOLONG, "cgroup path too long");
	if (stat(cg.parent, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(cg.parent, sizeof(cg.parent), "%s", mount);
		own[0] = 0;
	}
	sweep_stale(ctx, cg.parent);

	for (int attempt = 0;; attempt++) {
		snprintf(cg.path, sizeof(cg.path), "%s/" SNAP_CGROUP_PREFIX "%d.%llx", cg.parent, (int)getpid(),
			 (unsigned long long)(snap_now_ns() & 0xffffffff));
		if (mkdir(cg.path, 0755) == 0)
			break;
		if (errno != EEXIST || attempt == 8)
			return snap_err(ctx, -errno, "cannot create the workload's cgroup %s: %s%s", cg.path, strerror(errno),
					errno == EACCES || errno == EPERM ? " (snapctl run needs root)" : "");
	}
	cg.fd = open(cg.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg.fd < 0) {
		r = snap_err(ctx, -errno, "cannot open %s: %s", cg.path, strerror(errno));
		rmdir(cg.path);
		return r;
	}
	cg.root_fd = open(mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	r = cgroup_id(cg.path, &cg.id);
	if (r < 0) {
		snap_err(ctx, r, "cannot read the id of cgroup %s: %s", cg.path, strerror(-r));
		snap_cgroup_remove(ctx, &cg);
		return r;
	}
	/* Depth below the mount's root: "/a/b" + our directory = 3. */
	cg.level = 1;
	for (const char *p = own; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			cg.level++;
	*ret_cg = cg;
	return 0;
}

/* Waits until cgroup.procs is empty, at most timeout_ns. */
static int wait_empty(struct snap_cgroup *cg, uint64_t timeout_ns)
{
	uint64_t deadline = snap_now_ns() + timeout_ns;
	struct timespec ms = { 0, 1000000 };
	int n;

	while ((n = snap_cgroup_count(cg)) > 0 && snap_now_ns() < deadline)
		nanosleep(&ms, NULL);
	return n < 0 ? n : n == 0 ? 0 : -EBUSY;
}

int snap_cgroup_kill(struct snap_cgroup *cg)
{
	pid_t pids[256];
	int r, n;

	if (cg->fd < 0)
		return 0;
	r = write_text(cg->fd, "cgroup.kill", "1");
	if (r == -ENOENT) {
		/* Before Linux 5.14: one by one, until none is left (a process
		 * may fork while we read). */
		for (int round = 0; round < 100; round++) {
			n = read_procs(cg->fd, pids, 256);
			if (n <= 0)
				break;
			for (int i = 0; i < n; i++)
				kill(pids[i], SIGKILL);
		}
	} else if (r < 0) {
		return r;
	}
	return wait_empty(cg, CGROUP_EMPTY_TIMEOUT_NS);
}

int snap_cgroup_evacuate(struct snap_cgroup *cg)
{
	char text[16];
	pid_t pids[256];
	int parent, n, r = 0;

	parent = open(cg->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (parent < 0)
		return -errno;
	/* Again until empty: a process may fork while it is being moved. */
	for (int round = 0; round < 100 && r == 0; round++) {
		n = read_procs(cg->fd, pids, 256);
		if (n <= 0) {
			r = n;
			break;
		}
		for (int i = 0; i < n && r == 0; i++) {
			snprintf(text, sizeof(text), "%d", (int)pids[i]);
			r = write_text(parent, "cgroup.procs", text);
			if (r == -ESRCH)
				r = 0; /* gone meanwhile */
		}
	}
	close(parent);
	return r;
}

int snap_cgroup_remove(struct snap_ctx *ctx, struct snap_cgroup *cg)
{
	struct timespec ms = { 0, 1000000 };
	int r = 0;

	if (cg->fd < 0)
		return 0;
	close(cg->fd);
	cg->fd = -1;
	if (cg->root_fd >= 0)
		close(cg->root_fd);
	cg->root_fd = -1;
	/* The last task's exit and the cgroup noticing it are not one step. */
	for (int attempt = 0; attempt < 1000; attempt++) {
		r = rmdir(cg->path) == 0 ? 0 : -errno;
		if (r != -EBUSY)
			break;
		nanosleep(&ms, NULL);
	}
	if (r < 0 && r != -ENOENT && ctx)
		snap_log(ctx, SNAP_LOG_WARN, "cannot remove the workload's cgroup %s: %s", cg->path, strerror(-r));
	return r == -ENOENT ? 0 : r;
}

/* ---- the workload ---------------------------------------------------------------- */

/* What the child reports through the status pipe when it cannot exec. */
struct child_failure {
	int stage; /* 0: the guard's preparation, 1: the readiness fd, 2: execve */
	int err;
};

struct workload {
	char path[PATH_MAX];
	char **envp;
	int ready_fd;  /* the workload's end, the same number in both processes */
	int status_wr; /* the child's end of the status pipe */
	const struct snap_guard *guard;
	char *const *argv;
};

static __attribute__((noreturn)) void child_exec(const struct workload *w)
{
	struct child_failure fail = { 0 };
	sigset_t none;
	int r;

	/* Only syscalls from here on: this is a raw clone of a process that
	 * may hold locks in other threads. */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	r = snap_guard_prepare_exec(w->guard);
	if (r < 0) {
		fail = (struct child_failure){ 0, -r };
		goto out;
	}
	if (fcntl(w->ready_fd, F_SETFD, 0) < 0) {
		fail = (struct child_failure){ 1, errno };
		goto out;
	}
	execve(w->path, w->argv, w->envp);
	fail = (struct child_failure){ 2, errno };
out:
	if (write(w->status_wr, &fail, sizeof(fail)) < 0)
		_exit(127);
	_exit(fail.err == ENOENT ? 127 : 126);
}

/* argv[0] as execvp(3) would find it; -ENOENT when nowhere, -EACCES when
 * found but not executable. */
static int resolve_command(const char *name, char *ret, size_t size)
{
	const char *path = getenv("PATH"), *p, *end;
	int r = -ENOENT;

	if (strchr(name, '/')) {
		snprintf(ret, size, "%s", name);
		return 0;
	}
	if (!*name)
		return -ENOENT;
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (p = path; p; p = *end ? end + 1 : NULL) {
		struct stat st;
		size_t len;

		end = strchrnul(p, ':');
		len = (size_t)(end - p);
		if (snprintf(ret, size, "%.*s%s%s", (int)len, p, len ? "/" : "", name) >= (int)size)
			continue;
		if (stat(ret, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (access(ret, X_OK) == 0)
			return 0;
		r = -EACCES;
	}
	return r;
}

/* environ with SNAPCTL_READY_FD=fd in place of any it had. */
static char **build_env(int fd)
{
	size_t n = 0, k = 0, len = strlen(SNAP_READY_ENV);
	char **envp;

	while (environ && environ[n])
		n++;
	envp = calloc(n + 2, sizeof(*envp));
	if (!envp)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], SNAP_READY_ENV, len) || environ[i][len] != '=')
			envp[k++] = environ[i];
	if (asprintf(&envp[k], "%s=%d", SNAP_READY_ENV, fd) < 0) {
		free(envp);
		return NULL;
	}
	return envp;
}

static void free_env(char **envp)
{
	size_t n = 0;

	if (!envp)
		return;
	while (envp[n + 1])
		n++;
	free(envp[n]); /* ours is the last one */
	free(envp);
}

static int exit_status(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
}

/* ---- the phase ---------------------------------------------------------------------- */

struct run {
	struct snap_ctx *ctx;
	const struct snap_run_opts *opts;
	struct snap_run_result *res;
	struct snap_features *features;
	struct snap_cgroup cg;
	struct snap_guard *guard;
	pid_t pid;
	int pidfd;
	bool reaped; /* waited for (by us, or by the capture that ended it) */
	int ours;    /* snapctl's end of the readiness socket pair */
	int theirs;  /* the workload's end, by its number */
	bool theirs_open;
};

/* Reaps the workload if it has exited (block: wait until it does). */
static void reap(struct run *run, bool block)
{
	int status;
	pid_t w;

	if (run->pid <= 0 || run->reaped)
		return;
	do
		w = waitpid(run->pid, &status, block ? 0 : WNOHANG);
	while (w < 0 && errno == EINTR);
	if (w == run->pid) {
		run->reaped = true;
		run->res->exited = true;
		run->res->exit_status = exit_status(status);
	} else if (w < 0 && errno == ECHILD) {
		run->reaped = true; /* the capture's ptrace waits took it */
	}
}

enum wait_result { WAIT_READY, WAIT_EXITED, WAIT_TIMEOUT, WAIT_CANCELLED, WAIT_PROTOCOL, WAIT_ERROR };

/* Waits for "ready\n" on the socket pair, reading the guard's reports
 * meanwhile. */
static enum wait_result wait_ready(struct run *run, char *line, size_t size)
{
	uint64_t deadline = run->opts->timeout_ms ? snap_now_ns() + run->opts->timeout_ms * 1000000ull : 0;
	bool ours_open = true;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd[4];
		int n = 0, timeout = -1, r;

		if (ours_open)
			pfd[n++] = (struct pollfd){ .fd = run->ours, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = run->pidfd, .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = snap_guard_fd(run->guard), .events = POLLIN };
		pfd[n++] = (struct pollfd){ .fd = run->opts->cancel_fd, .events = POLLIN };
		if (deadline) {
			uint64_t now = snap_now_ns();

			if (now >= deadline)
				return WAIT_TIMEOUT;
			timeout = (int)((deadline - now + 999999) / 1000000);
		}
		r = poll(pfd, (nfds_t)n, timeout);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snap_err(run->ctx, -errno, "poll: %s", strerror(errno));
			return WAIT_ERROR;
		}
		snap_guard_poll(run->guard);
		for (int i = 0; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			if (pfd[i].fd == run->opts->cancel_fd)
				return WAIT_CANCELLED;
			if (pfd[i].fd == run->pidfd) {
				reap(run, true);
				return WAIT_EXITED;
			}
			if (pfd[i].fd != run->ours)
				continue;
			ssize_t got = read(run->ours, line + len, size - 1 - len);
			if (got < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (got <= 0) {
				/* It closed its end: it can never be ready now, but
				 * may still be running. Wait for its exit. */
				ours_open = false;
				continue;
			}
			len += (size_t)got;
			line[len] = 0;
			if (!strcmp(line, SNAP_READY_LINE))
				return WAIT_READY;
			if (strchr(line, '\n') || len + 1 >= size)
				return WAIT_PROTOCOL;
		}
	}
}

/* After the capture, with leave_running: the guard is off, the workload is
 * out of the cgroup; it is told to go on and waited for. A cancel passes
 * SIGTERM on to it, once. */
static int continue_workload(struct run *run)
{
	bool cancel_open = run->opts->cancel_fd >= 0;
	ssize_t n;

	do
		n = send(run->ours, SNAP_CONTINUED_LINE, strlen(SNAP_CONTINUED_LINE), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		snap_log(run->ctx, SNAP_LOG_WARN, "cannot answer \"continued\" to the workload: %s", strerror(errno));
	else
		run->res->continued = true;
	while (!run->reaped) {
		struct pollfd pfd[2] = {
			{ .fd = run->pidfd, .events = POLLIN },
			{ .fd = cancel_open ? run->opts->cancel_fd : -1, .events = POLLIN },
		};

		if (poll(pfd, 2, -1) < 0 && errno != EINTR)
			return snap_err(run->ctx, -errno, "poll: %s", strerror(errno));
		if (pfd[1].revents) {
			kill(run->pid, SIGTERM);
			cancel_open = false;
		}
		if (pfd[0].revents)
			reap(run, true);
	}
	return 0;
}

static int spawn(struct run *run)
{
	struct workload w = { .argv = run->opts->argv, .guard = run->guard };
	struct child_failure fail;
	int sp[2], st[2], r;
	ssize_t n;

	r = resolve_command(run->opts->argv[0], w.path, sizeof(w.path));
	if (r < 0) {
		run->res->stage = SNAP_RUN_EXEC;
		run->res->exec_errno = -r;
		return snap_err(run->ctx, r, "cannot run '%s': %s", run->opts->argv[0],
				r == -ENOENT ? "command not found" : strerror(-r));
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return snap_err(run->ctx, -errno, "socketpair: %s", strerror(errno));
	run->ours = sp[0];
	run->theirs = sp[1];
	run->theirs_open = true;
	if (pipe2(st, O_CLOEXEC) < 0)
		return snap_err(run->ctx, -errno, "pipe: %s", strerror(errno));
	/* From here the child will hold it: the number is all we keep. */
	w.ready_fd = run->theirs;
	w.status_wr = st[1];
	w.envp = build_env(run->theirs);
	if (!w.envp) {
		close(st[0]);
		close(st[1]);
		return snap_err(run->ctx, -ENOMEM, "out of memory");
	}

	/* Born in the cgroup: no instant of the workload runs outside it. */
	struct clone_args args = {
		.flags = CLONE_INTO_CGROUP | CLONE_PIDFD,
		.pidfd = (uintptr_t)&run->pidfd,
		.exit_signal = SIGCHLD,
		.cgroup = (uint64_t)run->cg.fd,
	};
	long pid = sys_clone3(&args, sizeof(args));
	if (pid == 0)
		child_exec(&w);
	close(st[1]);
	free_env(w.envp);
	if (pid < 0) {
		close(st[0]);
		return snap_err(run->ctx, (int)pid, "cannot start the workload in cgroup %s: %s%s", run->cg.path,
				strerror((int)-pid), pid == -ENOSYS || pid == -E2BIG ? " (needs Linux 5.7)" : "");
	}
	run->pid = (pid_t)pid;
	run->res->pid = run->pid;
	/* The child closes its end at exec (CLOEXEC): nothing means it ran. */
	do
		n = read(st[0], &fail, sizeof(fail));
	while (n < 0 && errno == EINTR);
	close(st[0]);
	close(run->theirs); /* the number stays what the workload holds */
	run->theirs_open = false;
	if (n == (ssize_t)sizeof(fail)) {
		static const char *const what[] = { "cannot take CAP_NET_RAW from it", "cannot pass it the readiness fd",
						    "cannot execute it" };

		reap(run, true);
		run->res->stage = SNAP_RUN_EXEC;
		run->res->exec_errno = fail.err;
		return snap_err(run->ctx, -fail.err, "'%s': %s: %s", w.path, what[fail.stage % 3], strerror(fail.err));
	}
	return 0;
}

static void collect_denials(struct run *run)
{
	const struct snap_guard_denial *d;
	size_t n;

	if (!run->guard)
		return;
	snap_guard_stop(run->guard);
	d = snap_guard_denials(run->guard, &n, &run->res->denials_lost);
	if (!n)
		return;
	run->res->denials = malloc(n * sizeof(*d));
	if (!run->res->denials) {
		run->res->denials_lost += n;
		return;
	}
	memcpy(run->res->denials, d, n * sizeof(*d));
	run->res->nr_denials = n;
}

static size_t device_list(const struct snap_run_opts *opts, struct snap_guard_device *list, size_t cap)
{
	size_t n = (size_t)snap_guard_default_devices(list, cap);

	for (size_t i = 0; i < opts->nr_deny_devices; i++) {
		bool dup = false;

		for (size_t k = 0; k < n; k++)
			dup |= list[k].type == opts->deny_devices[i].type && list[k].major == opts->deny_devices[i].major &&
			       (list[k].minor == -1 || list[k].minor == opts->deny_devices[i].minor);
		if (dup)
			continue;
		if (n == cap)
			return cap + 1; /* too many */
		list[n++] = opts->deny_devices[i];
	}
	return n;
}

static int setup(struct run *run)
{
	struct snap_guard_device devices[SNAP_GUARD_MAX_DEVICES];
	const struct snap_run_opts *opts = run->opts;
	struct snap_run_result *res = run->res;
	uint64_t t;
	int r;

	run->features = calloc(1, sizeof(*run->features));
	if (!run->features)
		return snap_err(run->ctx, -ENOMEM, "out of memory");
	snap_features_probe(run->features);
	if (!run->features->cgroup2.mounted.available)
		return snap_err(run->ctx, -ENOENT,
				"no cgroup v2 hierarchy is mounted: snapctl run puts the workload in a cgroup of its own "
				"(mount -t cgroup2 none /sys/fs/cgroup)");
	r = snap_cgroup_create(run->ctx, run->features->cgroup2.path, &run->cg);
	if (r < 0)
		return r;
	snprintf(res->cgroup, sizeof(res->cgroup), "%s", run->cg.path);
	if (opts->no_guard)
		return 0;

	struct snap_guard_config cfg = {
		.cgroup_fd = run->cg.fd,
		.cgroup_id = run->cg.id,
		.cgroup_level = run->cg.level,
		.root_cgroup_fd = run->cg.root_fd,
		.devices = devices,
		.nr_devices = device_list(opts, devices, SNAP_GUARD_MAX_DEVICES),
		.backend = opts->guard_backend,
	};
	t = snap_now_ns();
	r = snap_guard_start(run->ctx, run->features, &cfg, &run->guard);
	if (r < 0)
		return snap_err_prefix(run->ctx, r, "cannot switch the guard on");
	res->guard_setup_ns = snap_now_ns() - t;
	snprintf(res->guard_backend, sizeof(res->guard_backend), "%s", snap_guard_backend(run->guard));
	res->guard_scope = run->guard->addr_scope ? run->guard->addr_scope : "";
	return 0;
}

/* Whatever happened: the guard off, nothing left in the cgroup, the cgroup
 * gone, the workload reaped. */
static void teardown(struct run *run)
{
	collect_denials(run);
	snap_guard_free(run->guard);
	run->guard = NULL;
	if (run->cg.fd >= 0) {
		int left = snap_cgroup_count(&run->cg);

		if (left > 0 && run->res->stage == SNAP_RUN_DONE)
			snap_log(run->ctx, SNAP_LOG_INFO, "ending %d process%s the workload left in its cgroup", left,
				 left == 1 ? "" : "es");
		if (snap_cgroup_kill(&run->cg) < 0)
			snap_log(run->ctx, SNAP_LOG_WARN, "processes are still in %s after SIGKILL", run->cg.path);
		reap(run, true);
		snap_cgroup_remove(run->ctx, &run->cg);
	}
	reap(run, true);
	if (run->ours >= 0)
		close(run->ours);
	if (run->theirs_open)
		close(run->theirs);
	if (run->pidfd >= 0)
		close(run->pidfd);
	free(run->features);
}

static int fail_stage(struct run *run, enum snap_run_stage stage, int r)
{
	run->res->stage = stage;
	return r;
}

int snap_run(struct snap_ctx *ctx, const char *dir, const struct snap_run_opts *opts, struct snap_run_result *ret_result)
{
	struct snap_run_result res = { .stage = SNAP_RUN_SETUP, .guard_backend = "none", .guard_scope = "" };
	struct run run = { .ctx = ctx, .opts = opts, .res = &res, .cg = { .fd = -1, .root_fd = -1 }, .pidfd = -1,
			   .ours = -1, .theirs = -1 };
	struct snap_capture_opts copts;
	uint64_t t0 = snap_now_ns(), t_start;
	char line[64];
	struct stat st;
	int r;

	ctx->error[0] = 0;
	if (!opts || !opts->argv || !opts->argv[0] || !dir || !*dir) {
		r = snap_err(ctx, -EINVAL, "snap_run needs a command and a directory");
		goto out;
	}
	/* Before the workload runs, not after minutes of loading weights. */
	if (lstat(dir, &st) == 0) {
		r = snap_err(ctx, -EEXIST, "%s already exists; remove it or choose another --out", dir);
		goto out;
	}
	r = setup(&run);
	if (r < 0)
		goto out;
	res.setup_ns = snap_now_ns() - t0;

	t_start = snap_now_ns();
	r = spawn(&run);
	if (r < 0)
		goto out;

	switch (wait_ready(&run, line, sizeof(line))) {
	case WAIT_READY:
		break;
	case WAIT_EXITED:
		r = snap_err(ctx, -ECHILD, "the workload (pid %d) %s %d before its snapshot point", (int)run.pid,
			     res.exit_status > 128 ? "was killed by signal" : "exited with status",
			     res.exit_status > 128 ? res.exit_status - 128 : res.exit_status);
		r = fail_stage(&run, SNAP_RUN_EXITED, r);
		goto out;
	case WAIT_TIMEOUT:
		r = snap_err(ctx, -ETIMEDOUT, "the workload (pid %d) did not reach its snapshot point within %.3g s; it was killed",
			     (int)run.pid, (double)opts->timeout_ms / 1000.0);
		r = fail_stage(&run, SNAP_RUN_TIMEOUT, r);
		goto out;
	case WAIT_CANCELLED:
		r = snap_err(ctx, -ECANCELED, "interrupted before the workload's snapshot point; it was killed");
		r = fail_stage(&run, SNAP_RUN_CANCELLED, r);
		goto out;
	case WAIT_PROTOCOL:
		line[strcspn(line, "\n")] = 0;
		r = snap_err(ctx, -EPROTO, "the workload wrote \"%.32s\" on %s, not \"ready\"; it was killed", line,
			     SNAP_READY_ENV);
		r = fail_stage(&run, SNAP_RUN_PROTOCOL, r);
		goto out;
	case WAIT_ERROR:
		r = fail_stage(&run, SNAP_RUN_SETUP, -EIO);
		goto out;
	}
	res.ready = true;
	res.start_ns = snap_now_ns() - t_start;

	copts = opts->capture;
	copts.ready_fd = run.theirs;
	copts.leave_running = opts->leave_running;
	r = snap_capture(ctx, run.pid, dir, &copts, &res.capture);
	if (r < 0) {
		snap_err_prefix(ctx, r, "capture of the workload (pid %d) failed; it was killed", (int)run.pid);
		r = fail_stage(&run, SNAP_RUN_CAPTURE, r);
		goto out;
	}
	res.captured = true;
	res.stage = SNAP_RUN_DONE;
	if (opts->leave_running) {
		/* The phase is over: guard off and the cgroup gone before the
		 * workload hears "continued". */
		collect_denials(&run);
		snap_guard_free(run.guard);
		run.guard = NULL;
		r = snap_cgroup_evacuate(&run.cg);
		if (r < 0) {
			r = snap_err(ctx, r, "the snapshot is in %s, but the workload could not leave its cgroup (%s) "
					     "and was ended", dir, strerror(-r));
			goto out;
		}
		snap_cgroup_remove(ctx, &run.cg);
		if (opts->phase_end)
			opts->phase_end(&res, opts->user);
		r = continue_workload(&run);
	} else {
		reap(&run, false);
	}
out:
	teardown(&run);
	res.total_ns = snap_now_ns() - t0;
	if (ret_result)
		*ret_result = res;
	else
		snap_run_result_release(&res);
	return r;
}

void snap_run_result_release(struct snap_run_result *res)
{
	if (!res)
		return;
	free(res->denials);
	res->denials = NULL;
	res->nr_denials = 0;
}
