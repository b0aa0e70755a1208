/* bench.c — snapctl bench: a workload's cold start against its restores,
 * interleaved, timed to the workload's own "ready". Never prints; never
 * leaves a workload process running, whatever fails. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ctx.h"
#include "freeze.h" /* snap_now_ns */
#include "lazy.h"
#include "sys.h"

extern char **environ;

#define BENCH_READY_FD 3          /* the workload's SNAPCTL_READY_FD */
#define BENCH_TIMEOUT_MS 300000u  /* per run, until ready */

static const char *const mode_names[SNAP_BENCH_MODE_COUNT] = {
	[SNAP_BENCH_COLD] = "cold",
	[SNAP_BENCH_EAGER] = "eager",
	[SNAP_BENCH_LAZY] = "lazy",
	[SNAP_BENCH_LAZY_PREFETCH] = "lazy-prefetch",
};

const char *snap_bench_mode_name(enum snap_bench_mode mode)
{
	return (unsigned)mode < SNAP_BENCH_MODE_COUNT ? mode_names[mode] : "?";
}

int snap_bench_modes_parse(const char *list, uint32_t *ret_modes)
{
	uint32_t modes = 0;
	const char *p = list;

	while (p && *p) {
		size_t len = strcspn(p, ",");
		int found = -1;

		for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++)
			if (strlen(mode_names[m]) == len && !strncmp(p, mode_names[m], len))
				found = m;
		if (found < 0)
			return -EINVAL;
		modes |= 1u << found;
		p += len;
		if (*p == ',')
			p++;
	}
	if (!modes)
		return -EINVAL;
	*ret_modes = modes;
	return 0;
}

/* ---- statistics and schedule ---------------------------------------------- */

uint64_t snap_bench_percentile(const uint64_t *sorted, size_t n, uint32_t pct)
{
	uint64_t pos = (uint64_t)pct * (n - 1), lo = pos / 100, rem = pos % 100;

	if (rem == 0 || lo + 1 >= n)
		return sorted[lo];
	/* sorted[lo] <= sorted[lo + 1]: the step is never negative. */
	return sorted[lo] + (uint64_t)(((unsigned __int128)(sorted[lo + 1] - sorted[lo]) * rem) / 100);
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int snap_bench_stat_compute(const uint64_t *values, size_t n, struct snap_bench_stat *ret_stat)
{
	struct snap_bench_stat st = { 0, SNAP_BENCH_NA, SNAP_BENCH_NA, SNAP_BENCH_NA, SNAP_BENCH_NA, SNAP_BENCH_NA };
	uint64_t *v = malloc((n ? n : 1) * sizeof(*v));
	size_t k = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (values[i] != SNAP_BENCH_NA)
			v[k++] = values[i];
	if (k) {
		qsort(v, k, sizeof(*v), compare_u64);
		st.count = (uint32_t)k;
		st.min = v[0];
		st.max = v[k - 1];
		st.p5 = snap_bench_percentile(v, k, 5);
		st.median = snap_bench_percentile(v, k, 50);
		st.p95 = snap_bench_percentile(v, k, 95);
	}
	free(v);
	*ret_stat = st;
	return 0;
}

int snap_bench_schedule(uint32_t modes, uint32_t runs, uint32_t step, enum snap_bench_mode *ret_mode,
			uint32_t *ret_index)
{
	uint32_t nmodes = (uint32_t)__builtin_popcount(modes & SNAP_BENCH_ALL_MODES), k;

	if (!nmodes || step / nmodes >= runs)
		return -ERANGE;
	k = step % nmodes;
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		if (!(modes & (1u << m)))
			continue;
		if (k-- == 0) {
			*ret_mode = (enum snap_bench_mode)m;
			*ret_index = step / nmodes;
			return 0;
		}
	}
	return -ERANGE;
}

/* ---- what this build's engine can do ------------------------------------- */

/* Every mode is built in; whether this kernel has userfaultfd for the
 * lazy ones shows when they run (the restore's own error says so). */
bool snap_bench_mode_available(enum snap_bench_mode mode)
{
	return (unsigned)mode < SNAP_BENCH_MODE_COUNT;
}

/* The restore options of a restore mode; record: the working-set
 * recording restore that lazy-prefetch needs once. The page server logs
 * to the run's stderr pipe, so its complaints reach error messages. */
static int restore_opts_for(enum snap_bench_mode mode, bool record, struct snap_restore_opts *ret_opts)
{
	struct snap_restore_opts o = { .detach = true };

	switch (mode) {
	case SNAP_BENCH_EAGER:
		break;
	case SNAP_BENCH_LAZY:
		o.lazy = true;
		break;
	case SNAP_BENCH_LAZY_PREFETCH:
		o.lazy = true;
		o.record = record;
		o.prefault_ws = !record;
		break;
	default:
		return -EINVAL;
	}
	*ret_opts = o;
	return 0;
}

/* The page server's supervisor, which exits once every page is in; -1
 * when there is none. */
static pid_t page_server_of(const struct snap_restore_result *res)
{
	return res->lazy && res->page_server_pid > 0 ? res->page_server_pid : -1;
}

/* ---- talking to a workload ------------------------------------------------- */

/* One run's view of the workload: its output, its readiness signals, and
 * what tells the bench it is gone. */
struct run_io {
	int out_fd;               /* its stdout (read end) */
	int err_fd;               /* its stderr (read end) */
	int ready_sock;           /* cold: the bench's end of SNAPCTL_READY_FD, else -1 */
	int inotify_fd;           /* with a ready file: a watch on its directory, else -1 */
	int death_fd;             /* cold: a pidfd; restore: the launcher's report pipe */
	const char *ready_file;
	uint64_t timeout_ns;
	char line[256], sock_buf[64];
	size_t line_len, sock_len;
	bool line_overflow, said_ready_on_stdout;
	char tail[512];           /* the last of its stderr, for messages */
	size_t tail_len;
	/* restores: the launcher's report */
	bool have_report, gone;
	int gone_status;
};

/* What the launcher tells the bench; one write, below PIPE_BUF. */
struct launch_report {
	int32_t err;
	uint32_t reserved;
	uint64_t start_ns;        /* just before snap_restore() */
	uint64_t return_ns;       /* just after it */
	struct snap_restore_result res;
	char error[1024];
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void run_io_init(struct run_io *io, const char *ready_file, uint64_t timeout_ns)
{
	memset(io, 0, sizeof(*io));
	io->out_fd = io->err_fd = io->ready_sock = io->inotify_fd = io->death_fd = -1;
	io->ready_file = ready_file;
	io->timeout_ns = timeout_ns;
}

static void run_io_close(struct run_io *io)
{
	close_fd(&io->out_fd);
	close_fd(&io->err_fd);
	close_fd(&io->ready_sock);
	close_fd(&io->inotify_fd);
	close_fd(&io->death_fd);
}

/* Removes the ready file and watches its directory, before the run
 * starts, so that no creation can be missed. */
static int watch_ready_file(struct snap_ctx *ctx, struct run_io *io)
{
	char dir[PATH_MAX];
	const char *slash;
	int fd;

	if (!io->ready_file)
		return 0;
	if (unlink(io->ready_file) < 0 && errno != ENOENT)
		return snap_err(ctx, -errno, "cannot remove the ready file %s: %s", io->ready_file, strerror(errno));
	slash = strrchr(io->ready_file, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == io->ready_file)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - io->ready_file), io->ready_file);
	fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (fd < 0)
		return snap_err(ctx, -errno, "inotify: %s", strerror(errno));
	if (inotify_add_watch(fd, dir, IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB) < 0) {
		int e = errno;
		close(fd);
		return snap_err(ctx, -e, "cannot watch %s for the ready file: %s", dir, strerror(e));
	}
	io->inotify_fd = fd;
	return 0;
}

static void keep_tail(struct run_io *io, const char *buf, size_t n)
{
	size_t room = sizeof(io->tail) - 1;

	if (n >= room) {
		memcpy(io->tail, buf + n - room, room);
		io->tail_len = room;
	} else {
		if (io->tail_len + n > room) {
			size_t drop = io->tail_len + n - room;
			memmove(io->tail, io->tail + drop, io->tail_len - drop);
			io->tail_len -= drop;
		}
		memcpy(io->tail + io->tail_len, buf, n);
		io->tail_len += n;
	}
	io->tail[io->tail_len] = '\0';
}

/* The workload's last stderr line, for an error message. */
static const char *last_words(struct run_io *io)
{
	char *end, *start;

	while (io->tail_len && (io->tail[io->tail_len - 1] == '\n' || io->tail[io->tail_len - 1] == '\r'))
		io->tail[--io->tail_len] = '\0';
	if (!io->tail_len)
		return "nothing on stderr";
	end = io->tail + io->tail_len;
	start = end;
	while (start > io->tail && start[-1] != '\n')
		start--;
	return start;
}

/* Reads what is there on stdout; true when a line "ready" came. */
static bool read_stdout(struct run_io *io)
{
	char buf[4096];
	bool ready = false;
	ssize_t n = read(io->out_fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			close_fd(&io->out_fd);
		return false;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] != '\n') {
			if (io->line_len < sizeof(io->line) - 1)
				io->line[io->line_len++] = buf[i];
			else
				io->line_overflow = true;
			continue;
		}
		while (io->line_len && io->line[io->line_len - 1] == '\r')
			io->line_len--;
		if (!io->line_overflow && io->line_len == 5 && !memcmp(io->line, "ready", 5))
			ready = true;
		io->line_len = 0;
		io->line_overflow = false;
	}
	return ready;
}

static void read_stderr(struct run_io *io)
{
	char buf[4096];
	ssize_t n = read(io->err_fd, buf, sizeof(buf));

	if (n > 0)
		keep_tail(io, buf, (size_t)n);
	else if (n == 0 || (errno != EINTR && errno != EAGAIN))
		close_fd(&io->err_fd);
}

/* Reads the readiness socket; true when "ready\n" came. */
static bool read_ready_sock(struct run_io *io)
{
	ssize_t n = read(io->ready_sock, io->sock_buf + io->sock_len, sizeof(io->sock_buf) - 1 - io->sock_len);

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			close_fd(&io->ready_sock);
		return false;
	}
	io->sock_len += (size_t)n;
	io->sock_buf[io->sock_len] = '\0';
	if (strstr(io->sock_buf, SNAP_READY_LINE)) {
		io->sock_len = 0;
		return true;
	}
	if (io->sock_len == sizeof(io->sock_buf) - 1)
		io->sock_len = 0; /* not the protocol: forget it */
	return false;
}

static bool ready_file_there(struct run_io *io)
{
	char buf[4096];

	while (read(io->inotify_fd, buf, sizeof(buf)) > 0)
		;
	return access(io->ready_file, F_OK) == 0;
}

/* The launcher's report pipe: its report, then the restored process's
 * wait status once that ends. */
static void read_launcher(struct run_io *io, struct launch_report *rep)
{
	if (!io->have_report) {
		ssize_t n = read(io->death_fd, rep, sizeof(*rep));
		if (n == (ssize_t)sizeof(*rep)) {
			io->have_report = true;
			return;
		}
		if (n < 0 && errno == EINTR)
			return;
		rep->err = -EIO;
		snprintf(rep->error, sizeof(rep->error), "the restoring process ended without a report");
		io->have_report = true;
		io->gone = true;
		return;
	}
	int32_t status;
	ssize_t n = read(io->death_fd, &status, sizeof(status));
	if (n < 0 && errno == EINTR)
		return;
	io->gone = true;
	io->gone_status = n == (ssize_t)sizeof(status) ? status : -1;
	close_fd(&io->death_fd);
}

enum wait_goal {
	GOAL_SNAPSHOT_POINT, /* "ready\n" on the readiness fd, or the ready file */
	GOAL_READY,          /* a line "ready" on stdout, or the ready file */
};

static int describe_end(struct snap_ctx *ctx, struct run_io *io, int status, const char *what)
{
	if (status >= 0 && WIFEXITED(status))
		return snap_err(ctx, -ECHILD, "the workload exited with status %d before %s (%s)", WEXITSTATUS(status),
				what, last_words(io));
	if (status >= 0 && WIFSIGNALED(status))
		return snap_err(ctx, -ECHILD, "the workload was killed by signal %d before %s (%s)", WTERMSIG(status),
				what, last_words(io));
	return snap_err(ctx, -ECHILD, "the workload ended before %s (%s)", what, last_words(io));
}

/* Waits for goal. A cold workload that reaches its snapshot point on the
 * way to GOAL_READY is answered "continued". pid: the cold workload (to
 * collect its status when it ends early), else 0 with rep the launcher's
 * report. Times are snap_now_ns() values; the point's stays 0 when it did
 * not come. */
static int wait_workload(struct snap_ctx *ctx, struct run_io *io, enum wait_goal goal, pid_t pid,
			 struct launch_report *rep, uint64_t deadline_ns, uint64_t *ret_point_ns, uint64_t *ret_ready_ns)
{
	const char *what = goal == GOAL_SNAPSHOT_POINT ? "its snapshot point" : "it said ready";

	if (io->ready_file && io->inotify_fd >= 0 && ready_file_there(io)) {
		uint64_t now = snap_now_ns();
		if (goal == GOAL_SNAPSHOT_POINT)
			*ret_point_ns = now;
		*ret_ready_ns = now;
		return 0;
	}
	for (;;) {
		struct pollfd pfd[5];
		int n = 0, r;
		uint64_t now = snap_now_ns();

		if (now >= deadline_ns)
			return snap_err(ctx, -ETIMEDOUT, "the workload did not reach %s within %llu s (%s)",
					goal == GOAL_SNAPSHOT_POINT ? "its snapshot point" : "ready",
					(unsigned long long)(io->timeout_ns / 1000000000ull), last_words(io));
		/* Without a ready file, the snapshot point must come first. A
		 * closed readiness fd is most often an exit on its way: give the
		 * exit a moment to be seen, to report that instead. */
		if (goal == GOAL_SNAPSHOT_POINT && !io->ready_file && (io->said_ready_on_stdout || io->ready_sock < 0)) {
			struct pollfd p = { io->death_fd, POLLIN, 0 };
			bool ending = io->ready_sock < 0 && poll(&p, 1, 200) > 0;
			if (!ending)
				return snap_err(ctx, -EPROTO,
						"the workload %s without saying \"ready\" on %s: snapctl bench captures it at its snapshot point (see snapctl bench --help), or with --ready-file when that file appears",
						io->said_ready_on_stdout ? "said ready on stdout" : "closed its readiness fd",
						SNAP_READY_ENV);
		}
		pfd[n++] = (struct pollfd){ io->ready_sock, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ io->out_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ io->inotify_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ io->err_fd, POLLIN, 0 };
		pfd[n++] = (struct pollfd){ io->death_fd, POLLIN, 0 };
		uint64_t left_ms = (deadline_ns - now) / 1000000ull + 1;
		r = poll(pfd, (nfds_t)n, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
		if (r < 0 && errno != EINTR)
			return snap_err(ctx, -errno, "poll: %s", strerror(errno));
		if (r <= 0)
			continue;
		now = snap_now_ns();
		if (pfd[0].revents && read_ready_sock(io)) {
			if (!*ret_point_ns)
				*ret_point_ns = now;
			if (goal == GOAL_SNAPSHOT_POINT)
				return 0;
			/* A cold run: the original goes on. */
			if (send(io->ready_sock, SNAP_CONTINUED_LINE, strlen(SNAP_CONTINUED_LINE), MSG_NOSIGNAL) < 0)
				close_fd(&io->ready_sock);
		}
		if (pfd[1].revents && read_stdout(io)) {
			io->said_ready_on_stdout = true;
			if (goal == GOAL_READY && !io->ready_file) {
				*ret_ready_ns = now;
				return 0;
			}
		}
		if (pfd[2].revents && ready_file_there(io)) {
			if (goal == GOAL_SNAPSHOT_POINT)
				*ret_point_ns = now;
			*ret_ready_ns = now;
			return 0;
		}
		if (pfd[3].revents)
			read_stderr(io);
		if (pfd[4].revents) {
			if (pid > 0) {
				int status = -1;
				while (io->err_fd >= 0 && poll(&(struct pollfd){ io->err_fd, POLLIN, 0 }, 1, 0) > 0 &&
				       io->err_fd >= 0)
					read_stderr(io);
				if (waitpid(pid, &status, WNOHANG) <= 0)
					status = -1;
				return describe_end(ctx, io, status, what);
			}
			read_launcher(io, rep);
			if (io->have_report && rep->err < 0)
				return snap_err(ctx, rep->err, "%s", rep->error);
			if (io->gone) {
				while (io->err_fd >= 0 && poll(&(struct pollfd){ io->err_fd, POLLIN, 0 }, 1, 0) > 0 &&
				       io->err_fd >= 0)
					read_stderr(io);
				return describe_end(ctx, io, io->gone_status, what);
			}
		}
	}
}

/* ---- starting a workload ----------------------------------------------------- */

/* The environment with SNAPCTL_READY_FD=3 in it (one allocation). */
static char **workload_env(void)
{
	static const char ready[] = SNAP_READY_ENV "=3";
	size_t n = 0, k = 0;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], SNAP_READY_ENV "=", strlen(SNAP_READY_ENV) + 1))
			env[k++] = environ[i];
	env[k++] = (char *)ready;
	env[k] = NULL;
	return env;
}

/* In a forked child: fds src[0..n) become 0..n-1, every other fd is
 * closed at exec. Async-signal-safe. */
static int place_fds(const int *src, int n)
{
	int tmp[8];

	for (int i = 0; i < n; i++) {
		tmp[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 64);
		if (tmp[i] < 0)
			return -1;
	}
	for (int i = 0; i < n; i++)
		if (dup2(tmp[i], i) < 0)
			return -1;
	return close_range((unsigned int)n, ~0u, CLOSE_RANGE_CLOEXEC);
}

/* Pipes for the workload's stdout and stderr: the bench's read ends go
 * into io, the write ends to ret_w (both O_CLOEXEC). */
static int make_output_pipes(struct snap_ctx *ctx, struct run_io *io, int ret_w[2])
{
	int out[2], err[2];

	if (pipe2(out, O_CLOEXEC) < 0)
		return snap_err(ctx, -errno, "pipe: %s", strerror(errno));
	if (pipe2(err, O_CLOEXEC) < 0) {
		int e = errno;
		close(out[0]);
		close(out[1]);
		return snap_err(ctx, -e, "pipe: %s", strerror(e));
	}
	io->out_fd = out[0];
	io->err_fd = err[0];
	ret_w[0] = out[1];
	ret_w[1] = err[1];
	return 0;
}

/* Forks and execs the workload with fds 0 /dev/null, 1-2 pipes to io,
 * 3 a socket to io->ready_sock. *ret_start_ns is taken just before fork. */
static int spawn_workload(struct snap_ctx *ctx, char *const *argv, char **env, struct run_io *io, pid_t *ret_pid,
			  uint64_t *ret_start_ns)
{
	int w[2] = { -1, -1 }, sv[2] = { -1, -1 }, exec_err[2] = { -1, -1 }, null_fd = -1, r, e = 0;
	pid_t pid;

	r = make_output_pipes(ctx, io, w);
	if (r < 0)
		return r;
	null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null_fd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
	    pipe2(exec_err, O_CLOEXEC) < 0) {
		r = snap_err(ctx, -errno, "cannot prepare the workload's fds: %s", strerror(errno));
		goto out;
	}
	fflush(NULL);
	*ret_start_ns = snap_now_ns();
	pid = fork();
	if (pid < 0) {
		r = snap_err(ctx, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (pid == 0) {
		int fds[4] = { null_fd, w[0], w[1], sv[1] };
		if (place_fds(fds, 4) == 0)
			execvpe(argv[0], argv, env);
		e = errno;
		if (write(exec_err[1], &e, sizeof(e)) < 0) {
			/* the parent then sees a failed start without a reason */
		}
		_exit(127);
	}
	close_fd(&exec_err[1]);
	/* Nothing comes before a successful exec closes the pipe. */
	while ((r = (int)read(exec_err[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	if (r > 0) {
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		r = snap_err(ctx, -(e ? e : EIO), "cannot run %s: %s", argv[0], strerror(e ? e : EIO));
		goto out;
	}
	io->death_fd = sys_pidfd_open(pid, 0);
	if (io->death_fd < 0) {
		r = snap_err(ctx, io->death_fd, "cannot watch the workload: %s", strerror(-io->death_fd));
		kill(pid, SIGKILL);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		goto out;
	}
	io->ready_sock = sv[0];
	sv[0] = -1;
	*ret_pid = pid;
	r = 0;
out:
	close_fd(&w[0]);
	close_fd(&w[1]);
	close_fd(&sv[0]);
	close_fd(&sv[1]);
	close_fd(&exec_err[0]);
	close_fd(&exec_err[1]);
	close_fd(&null_fd);
	return r;
}

static void kill_and_reap(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

/* ---- the runs -------------------------------------------------------------------- */

struct bench {
	struct snap_ctx *ctx;
	const struct snap_bench_opts *opts;
	char **env;
	char snap_dir[PATH_MAX];      /* the snapshot */
	char snap_ws_dir[PATH_MAX];   /* its copy with a working-set record (lazy-prefetch) */
	uint64_t timeout_ns;
};

static void run_init(struct snap_bench_run *run, enum snap_bench_mode mode)
{
	*run = (struct snap_bench_run){
		.mode = mode,
		.ready_ns = SNAP_BENCH_NA,
		.snapshot_point_ns = SNAP_BENCH_NA,
		.validate_ns = SNAP_BENCH_NA,
		.create_ns = SNAP_BENCH_NA,
		.first_instruction_ns = SNAP_BENCH_NA,
		.pages_in_ns = SNAP_BENCH_NA,
		.faults = SNAP_BENCH_NA,
		.bytes_prefetched = SNAP_BENCH_NA,
		.bytes_loaded = SNAP_BENCH_NA,
	};
}

static int run_cold(struct bench *b, struct snap_bench_run *run)
{
	struct run_io io;
	uint64_t start = 0, point = 0, ready = 0;
	pid_t pid = -1;
	int r;

	run_io_init(&io, b->opts->ready_file, b->timeout_ns);
	r = watch_ready_file(b->ctx, &io);
	if (r >= 0)
		r = spawn_workload(b->ctx, b->opts->argv, b->env, &io, &pid, &start);
	if (r >= 0)
		r = wait_workload(b->ctx, &io, GOAL_READY, pid, NULL, start + b->timeout_ns, &point, &ready);
	if (r >= 0) {
		run->ready_ns = ready - start;
		if (point)
			run->snapshot_point_ns = point - start;
	}
	kill_and_reap(pid);
	run_io_close(&io);
	return r;
}

/* The captured start: runs the workload to its snapshot point and
 * captures it there; the capture ends it. */
static int capture_start(struct bench *b, struct snap_bench_result *res)
{
	struct snap_capture_opts copts = { .ready_fd = BENCH_READY_FD };
	struct run_io io;
	uint64_t start = 0, point = 0, ready = 0;
	pid_t pid = -1;
	int r;

	run_io_init(&io, b->opts->ready_file, b->timeout_ns);
	r = watch_ready_file(b->ctx, &io);
	if (r >= 0)
		r = spawn_workload(b->ctx, b->opts->argv, b->env, &io, &pid, &start);
	if (r >= 0)
		r = wait_workload(b->ctx, &io, GOAL_SNAPSHOT_POINT, pid, NULL, start + b->timeout_ns, &point, &ready);
	if (r >= 0) {
		res->snapshot_point_ns = point - start;
		r = snap_capture(b->ctx, pid, b->snap_dir, &copts, &res->capture);
		if (r < 0)
			snap_err_prefix(b->ctx, r, "capturing the workload at its snapshot point");
	}
	kill_and_reap(pid);
	run_io_close(&io);
	return r;
}

/* The launcher: a child of the bench that gives the restored process its
 * stdio (the run's pipes), restores detached, reports, and waits for the
 * restored process (its child) so that its pid is free once the launcher
 * is reaped. */
static __attribute__((noreturn)) void launcher_main(struct snap_ctx *ctx, const char *dir,
						     const struct snap_restore_opts *ropts, const int w[2],
						     int report_fd)
{
	struct launch_report rep;
	int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC), status = 0;

	memset(&rep, 0, sizeof(rep));
	if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(w[0], 1) < 0 || dup2(w[1], 2) < 0) {
		rep.err = -errno;
		snprintf(rep.error, sizeof(rep.error), "cannot give the restored process its stdio: %s",
			 strerror(errno));
	} else {
		rep.start_ns = snap_now_ns();
		rep.err = snap_restore(ctx, dir, ropts, &rep.res);
		rep.return_ns = snap_now_ns();
		if (ropts->stats_fd > 0)
			close(ropts->stats_fd); /* the page server's alone */
		if (rep.err < 0)
			snprintf(rep.error, sizeof(rep.error), "%s", snap_ctx_error(ctx));
	}
	/* The pipes are the restored process's alone from here. */
	if (null_fd >= 0) {
		dup2(null_fd, 1);
		dup2(null_fd, 2);
	}
	close(w[0]);
	close(w[1]);
	if (write(report_fd, &rep, sizeof(rep)) != (ssize_t)sizeof(rep) || rep.err < 0)
		_exit(1);
	while (waitpid(rep.res.pid, &status, 0) < 0 && errno == EINTR)
		;
	int32_t st = status;
	if (write(report_fd, &st, sizeof(st)) < 0)
		_exit(1);
	_exit(0);
}

/* Waits (until deadline) for a process that is not our child to end. */
static int wait_exit(pid_t pid, uint64_t deadline_ns, uint64_t *ret_end_ns)
{
	int fd = sys_pidfd_open(pid, 0), r = 0;

	if (fd < 0)
		return fd;
	for (;;) {
		uint64_t now = snap_now_ns();
		if (now >= deadline_ns) {
			r = -ETIMEDOUT;
			break;
		}
		uint64_t left_ms = (deadline_ns - now) / 1000000ull + 1;
		struct pollfd p = { fd, POLLIN, 0 };
		int n = poll(&p, 1, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
		if (n < 0 && errno != EINTR) {
			r = -errno;
			break;
		}
		if (n > 0) {
			*ret_end_ns = snap_now_ns();
			break;
		}
	}
	close(fd);
	return r;
}

/* One restore of dir in mode; record: the unmeasured run that records the
 * working set for lazy-prefetch. */
static int run_restore(struct bench *b, const char *dir, enum snap_bench_mode mode, bool record,
		       struct snap_bench_run *run)
{
	struct snap_restore_opts ropts;
	struct launch_report rep;
	struct run_io io;
	uint64_t point = 0, ready = 0, deadline;
	int w[2] = { -1, -1 }, report[2] = { -1, -1 }, stats[2] = { -1, -1 }, r;
	pid_t launcher = -1;

	memset(&rep, 0, sizeof(rep));
	run_io_init(&io, b->opts->ready_file, b->timeout_ns);
	r = restore_opts_for(mode, record, &ropts);
	if (r < 0)
		return snap_err(b->ctx, r, "%s restore is not available in this build", snap_bench_mode_name(mode));
	r = watch_ready_file(b->ctx, &io);
	if (r >= 0)
		r = make_output_pipes(b->ctx, &io, w);
	if (r >= 0 && pipe2(report, O_CLOEXEC) < 0)
		r = snap_err(b->ctx, -errno, "pipe: %s", strerror(errno));
	/* lazy: the page server's counters, sent when it ends */
	if (r >= 0 && ropts.lazy) {
		if (pipe2(stats, O_CLOEXEC) < 0)
			r = snap_err(b->ctx, -errno, "pipe: %s", strerror(errno));
		ropts.stats_fd = stats[1];
	}
	if (r < 0)
		goto out;
	fflush(NULL);
	launcher = fork();
	if (launcher < 0) {
		r = snap_err(b->ctx, -errno, "fork: %s", strerror(errno));
		goto out;
	}
	if (launcher == 0) {
		close(report[0]);
		if (stats[0] >= 0)
			close(stats[0]);
		close(io.out_fd);
		close(io.err_fd);
		if (io.inotify_fd >= 0)
			close(io.inotify_fd);
		launcher_main(b->ctx, dir, &ropts, w, report[1]);
	}
	close_fd(&w[0]);
	close_fd(&w[1]);
	close_fd(&report[1]);
	close_fd(&stats[1]);
	io.death_fd = report[0];
	report[0] = -1;

	deadline = snap_now_ns() + b->timeout_ns;
	r = wait_workload(b->ctx, &io, GOAL_READY, 0, &rep, deadline, &point, &ready);
	/* The report may still be on its way when ready came first. */
	while (r >= 0 && !io.have_report) {
		struct pollfd p = { io.death_fd, POLLIN, 0 };
		if (poll(&p, 1, 10000) <= 0) {
			r = snap_err(b->ctx, -ETIMEDOUT, "the restoring process did not report");
			break;
		}
		read_launcher(&io, &rep);
		if (rep.err < 0)
			r = snap_err(b->ctx, rep.err, "%s", rep.error);
	}
	if (r >= 0) {
		const struct snap_restore_result *res = &rep.res;
		pid_t server = page_server_of(res);
		uint64_t end = 0;

		run->ready_ns = ready - rep.start_ns;
		run->validate_ns = res->validate_ns;
		run->create_ns = res->create_ns;
		run->first_instruction_ns = res->validate_ns + res->create_ns;
		run->bytes_loaded = res->bytes_loaded;
		if (mode == SNAP_BENCH_EAGER) {
			run->pages_in_ns = run->first_instruction_ns;
		} else if (server > 0) {
			/* The server may outlive ready by a lot: that is the measure.
			 * One still at work after the run's timeout stays n/a. */
			int e = wait_exit(server, snap_now_ns() + b->timeout_ns, &end);
			struct snap_lazy_stats st;
			if (e == 0)
				run->pages_in_ns = end - rep.start_ns;
			if (e == 0 && snap_lazy_read_stats(stats[0], 1000, &st)) {
				run->faults = st.faults;
				run->bytes_prefetched = st.bytes_prefetched;
			}
		}
	}
	if (io.have_report && rep.err >= 0 && rep.res.pid > 0 && !io.gone)
		kill(rep.res.pid, SIGKILL);
out:
	/* The launcher ends once it has reaped the restored process; one
	 * still restoring (a timeout) is killed, and the half-made process
	 * with it (the restore traces it with PTRACE_O_EXITKILL). */
	if (launcher > 0 && !io.have_report)
		kill(launcher, SIGKILL);
	if (launcher > 0)
		while (waitpid(launcher, NULL, 0) < 0 && errno == EINTR)
			;
	close_fd(&w[0]);
	close_fd(&w[1]);
	close_fd(&report[0]);
	close_fd(&report[1]);
	close_fd(&stats[0]);
	close_fd(&stats[1]);
	run_io_close(&io);
	return r;
}

/* ---- the snapshot's directories ---------------------------------------------------- */

/* dst: a directory with a hard link to every file of src, so that a
 * working-set record written into it leaves src as it was. */
static int link_snapshot(struct snap_ctx *ctx, const char *src, const char *dst)
{
	static const char *const files[] = { "meta", "pages" };
	char a[PATH_MAX], c[PATH_MAX];

	if (mkdir(dst, 0700) < 0)
		return snap_err(ctx, -errno, "%s: %s", dst, strerror(errno));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(a, sizeof(a), "%s/%s", src, files[i]);
		snprintf(c, sizeof(c), "%s/%s", dst, files[i]);
		if (link(a, c) < 0)
			return snap_err(ctx, -errno, "cannot link %s to %s: %s", a, c, strerror(errno));
	}
	return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static int make_work_dir(struct snap_ctx *ctx, const char *keep, char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR");

	if (keep) {
		if (mkdir(keep, 0700) < 0 && errno != EEXIST)
			return snap_err(ctx, -errno, "%s: %s", keep, strerror(errno));
		snprintf(dir, size, "%s", keep);
		return 0;
	}
	snprintf(dir, size, "%s/snapctl-bench.XXXXXX", tmp && *tmp ? tmp : "/var/tmp");
	if (!mkdtemp(dir))
		return snap_err(ctx, -errno, "cannot create a directory for the snapshot (%s): %s", dir,
				strerror(errno));
	return 0;
}

/* ---- putting it together ---------------------------------------------------------------- */

static int summarize(struct snap_bench_result *res)
{
	uint64_t *v = calloc(res->nr_runs + 1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		struct snap_bench_summary *s = &res->summary[m];
		const struct {
			struct snap_bench_stat *stat;
			size_t offset;
		} metrics[] = {
			{ &s->ready, offsetof(struct snap_bench_run, ready_ns) },
			{ &s->snapshot_point, offsetof(struct snap_bench_run, snapshot_point_ns) },
			{ &s->validate, offsetof(struct snap_bench_run, validate_ns) },
			{ &s->create, offsetof(struct snap_bench_run, create_ns) },
			{ &s->first_instruction, offsetof(struct snap_bench_run, first_instruction_ns) },
			{ &s->pages_in, offsetof(struct snap_bench_run, pages_in_ns) },
			{ &s->faults, offsetof(struct snap_bench_run, faults) },
			{ &s->bytes_prefetched, offsetof(struct snap_bench_run, bytes_prefetched) },
			{ &s->bytes_loaded, offsetof(struct snap_bench_run, bytes_loaded) },
		};

		s->runs = 0;
		for (uint32_t i = 0; i < res->nr_runs; i++)
			if (res->runs[i].mode == (enum snap_bench_mode)m)
				s->runs++;
		for (size_t k = 0; k < sizeof(metrics) / sizeof(metrics[0]); k++) {
			size_t n = 0;
			for (uint32_t i = 0; i < res->nr_runs; i++)
				if (res->runs[i].mode == (enum snap_bench_mode)m)
					memcpy(&v[n++], (const char *)&res->runs[i] + metrics[k].offset, sizeof(uint64_t));
			if (snap_bench_stat_compute(v, n, metrics[k].stat) < 0) {
				free(v);
				return -ENOMEM;
			}
		}
		/* The run whose ready time is the lower median: a real run to draw. */
		s->median_run = -1;
		size_t n = 0;
		for (uint32_t i = 0; i < res->nr_runs; i++)
			if (res->runs[i].mode == (enum snap_bench_mode)m && res->runs[i].ready_ns != SNAP_BENCH_NA)
				v[n++] = res->runs[i].ready_ns;
		if (n) {
			qsort(v, n, sizeof(*v), compare_u64);
			uint64_t want = v[(n - 1) / 2];
			for (uint32_t i = 0; i < res->nr_runs && s->median_run < 0; i++)
				if (res->runs[i].mode == (enum snap_bench_mode)m && res->runs[i].ready_ns == want)
					s->median_run = (int32_t)i;
		}
	}
	free(v);
	return 0;
}

/* The unmeasured restore that records the working set lazy-prefetch
 * populates first; then waits (briefly) for the record to be written. */
static int record_working_set(struct bench *b)
{
	struct snap_bench_run scratch;
	char path[PATH_MAX];
	int r;

	r = link_snapshot(b->ctx, b->snap_dir, b->snap_ws_dir);
	if (r < 0)
		return r;
	run_init(&scratch, SNAP_BENCH_LAZY_PREFETCH);
	r = run_restore(b, b->snap_ws_dir, SNAP_BENCH_LAZY_PREFETCH, true, &scratch);
	if (r < 0)
		return snap_err_prefix(b->ctx, r, "the restore recording the working set");
	snprintf(path, sizeof(path), "%s/workingset", b->snap_ws_dir);
	for (int i = 0; i < 1000 && access(path, F_OK) < 0; i++)
		usleep(10000);
	if (access(path, F_OK) < 0)
		return snap_err(b->ctx, -ENOENT, "the recording restore wrote no working set (%s)", path);
	return 0;
}

int snap_bench(struct snap_ctx *ctx, const struct snap_bench_opts *opts, struct snap_bench_result *ret_result)
{
	struct snap_bench_result res = { 0 };
	struct bench b = { .ctx = ctx, .opts = opts };
	char work[PATH_MAX];
	uint32_t modes, runs, available = 0, total;
	bool made_work = false;
	int r;

	ctx->error[0] = '\0';
	if (!opts || !opts->argv || !opts->argv[0])
		return snap_err(ctx, -EINVAL, "no workload to run");
	modes = opts->modes ? opts->modes & SNAP_BENCH_ALL_MODES : SNAP_BENCH_ALL_MODES;
	runs = opts->runs ? opts->runs : 5;
	if (!modes)
		return snap_err(ctx, -EINVAL, "no mode to run");
	if (runs > 10000)
		return snap_err(ctx, -EINVAL, "%u runs per mode is more than 10000", runs);
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++)
		if ((modes & (1u << m)) && snap_bench_mode_available((enum snap_bench_mode)m))
			available |= 1u << m;
	res.runs_per_mode = runs;
	res.modes = modes;
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		res.summary[m].available = available & (1u << m);
		res.summary[m].median_run = -1;
	}
	b.timeout_ns = (uint64_t)(opts->timeout_ms ? opts->timeout_ms : BENCH_TIMEOUT_MS) * 1000000ull;
	total = runs * (uint32_t)__builtin_popcount(available);
	res.runs = calloc(total + 1, sizeof(*res.runs));
	b.env = workload_env();
	if (!res.runs || !b.env) {
		r = snap_err(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	r = make_work_dir(ctx, opts->keep_dir, work, sizeof(work));
	if (r < 0)
		goto out;
	made_work = !opts->keep_dir;
	snprintf(b.snap_dir, sizeof(b.snap_dir), "%s/snapshot", work);
	snprintf(b.snap_ws_dir, sizeof(b.snap_ws_dir), "%s/snapshot-ws", work);
	if (opts->keep_dir && (access(b.snap_dir, F_OK) == 0 || access(b.snap_ws_dir, F_OK) == 0)) {
		r = snap_err(ctx, -EEXIST, "%s already holds a snapshot; remove it or choose another directory", work);
		goto out;
	}

	/* Restore modes need the snapshot; cold alone does not. */
	if (available & ~(1u << SNAP_BENCH_COLD)) {
		r = capture_start(&b, &res);
		if (r < 0)
			goto out;
	}
	if (available & (1u << SNAP_BENCH_LAZY_PREFETCH)) {
		r = record_working_set(&b);
		if (r < 0)
			goto out;
	}
	for (uint32_t step = 0; step < total; step++) {
		struct snap_bench_run *run = &res.runs[step];
		enum snap_bench_mode mode = SNAP_BENCH_COLD;
		uint32_t index = 0;

		snap_bench_schedule(available, runs, step, &mode, &index);
		run_init(run, mode);
		run->index = index;
		run->order = step;
		if (mode == SNAP_BENCH_COLD)
			r = run_cold(&b, run);
		else
			r = run_restore(&b, mode == SNAP_BENCH_LAZY_PREFETCH ? b.snap_ws_dir : b.snap_dir, mode, false,
					run);
		if (r < 0) {
			snap_err_prefix(ctx, r, "%s run %u of %u", snap_bench_mode_name(mode), index + 1, runs);
			goto out;
		}
		res.nr_runs = step + 1;
		if (opts->progress)
			opts->progress(run, step + 1, total, opts->user);
	}
	r = summarize(&res);
	if (r < 0) {
		snap_err(ctx, r, "out of memory");
		goto out;
	}
	if (ret_result) {
		*ret_result = res;
		res.runs = NULL;
	}
	r = 0;
out:
	if (made_work)
		nftw(work, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(b.env);
	free(res.runs);
	return r;
}

void snap_bench_result_release(struct snap_bench_result *result)
{
	if (!result)
		return;
	free(result->runs);
	result->runs = NULL;
	result->nr_runs = 0;
}
