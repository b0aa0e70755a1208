/* snap.h — libsnap, the snapctl engine: capture a running process into a
 * snapshot directory and restore it. Every function returns >= 0 on success
 * and a negative errno on failure; snap_ctx_error() then says what happened
 * and what to do, in one line. The library never exits and never prints an
 * error itself. */
#ifndef SNAP_SNAP_H
#define SNAP_SNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

struct snap_ctx;

enum snap_log_level { SNAP_LOG_WARN, SNAP_LOG_INFO, SNAP_LOG_DEBUG };
typedef void (*snap_print_fn)(enum snap_log_level level, const char *msg, void *user);

int snap_ctx_new(struct snap_ctx **ret_ctx);
void snap_ctx_free(struct snap_ctx *ctx);
/* Warnings and progress go through this hook; NULL silences them. */
void snap_ctx_set_print(struct snap_ctx *ctx, snap_print_fn fn, void *user);
/* The last error as one line ("what failed: why; what to do"), or "". */
const char *snap_ctx_error(const struct snap_ctx *ctx);

/* ---- capture ---------------------------------------------------------- */
struct snap_capture_opts {
	bool leave_running;     /* resume the target after the snapshot is published */
	const char *io_backend; /* "uring", "sync" or NULL to probe */
	/* The target's SNAPCTL_READY_FD (a pipe or socket to whoever runs it),
	 * or -1 / 0 for none. It is recorded, whatever it is, as the readiness
	 * fd: a restored process reads "restored\n" from it. */
	int ready_fd;
	/* Pre-copy: copy memory while the process runs, then what it wrote
	 * meanwhile (at most this many passes in all, fewer once little
	 * changes), so it is frozen only for the last changes. 0: copy
	 * everything while frozen. */
	unsigned int precopy_rounds;
	const char *dirty_backend; /* "uffd-wp", "soft-dirty", "none" or NULL to probe */
};

/* The readiness protocol (see include/snap/ready.h). */
#define SNAP_READY_ENV "SNAPCTL_READY_FD"
#define SNAP_READY_LINE "ready\n"
#define SNAP_CONTINUED_LINE "continued\n"
#define SNAP_RESTORED_LINE "restored\n"

struct snap_capture_result {
	pid_t pid;
	char io_backend[16];
	uint64_t vmas, chunks;
	uint64_t bytes_virtual;  /* sum of mapping sizes */
	uint64_t bytes_memory;   /* bytes of page content captured */
	uint64_t bytes_stored;   /* bytes written for page content */
	uint64_t freeze_ns;      /* target stopped until its state was complete */
	uint64_t total_ns;
	/* pre-copy */
	uint32_t precopy_rounds;     /* passes made while it ran (0: none) */
	uint64_t precopy_bytes;      /* copied while it ran */
	uint64_t frozen_bytes;       /* copied while it was frozen */
	char dirty_backend[16];
};

int snap_capture(struct snap_ctx *ctx, pid_t pid, const char *dir, const struct snap_capture_opts *opts,
		 struct snap_capture_result *ret_result);

/* ---- restore ---------------------------------------------------------- */
struct snap_restore_opts {
	bool detach;             /* return once the process runs */
	const char *pidfile;     /* written with the restored pid, or NULL */
	/* Restore into a new PID namespace, where the saved pid and thread ids
	 * are free whoever holds them outside (needs CAP_SYS_ADMIN). The
	 * namespace's init, a small reaper in libsnap, is the caller's child
	 * and the process is init's: init ends with it, exits with its status,
	 * and passes SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1/2 on to it.
	 * /proc stays the caller's (no mount namespace). A saved pid of 1 is
	 * refused: the namespace's init has it. */
	bool pid_ns;
	/* Lazy restore: anonymous memory is brought in on first touch by a
	 * page server (userfaultfd), which prefetches the rest in the order of
	 * the recorded working set, then exits. */
	bool lazy;
	bool prefault_ws;        /* lazy: load the working set's early pages first */
	bool record;             /* lazy: record DIR/workingset from the faults served */
	bool no_prefetch;        /* lazy: serve faults only (tests, benchmarks) */
	const char *server_log;  /* lazy: the page server's log (NULL: stderr) */
	/* lazy: when > 0, a pipe's write end (the caller's; not closed here):
	 * the page server writes one struct snap_lazy_stats on it when it
	 * ends. End of file without one: it failed (its log says why). A
	 * foreground restore reads its own into the result instead. */
	int stats_fd;
};

/* What a lazy restore's page server did, sent once when it ends. */
struct snap_lazy_stats {
	uint64_t faults;           /* faults answered */
	uint64_t zero_faults;      /* of them, with a zero page (memory the snapshot does not hold) */
	uint64_t bytes_on_demand;  /* copied to answer faults */
	uint64_t bytes_prefetched; /* copied before they were touched */
	uint64_t serve_ns;         /* from the server's start to its end */
	uint32_t complete;         /* 1: every page was in; 0: the processes ended first */
	uint32_t reserved;
};

struct snap_restore_result {
	pid_t pid;               /* the restored process */
	pid_t saved_pid;         /* its pid at capture */
	bool same_pid;
	int exit_status;         /* foreground only: exit code, or 128+signal */
	uint64_t validate_ns, create_ns, total_ns;
	uint64_t bytes_loaded;
	bool pid_ns;             /* restored into a new PID namespace */
	pid_t pid_in_ns;         /* there, its pid: the saved pid (pid is the caller's view) */
	pid_t ns_init_pid;       /* the namespace's init: with detach, the child to reap */
	bool lazy;
	pid_t page_server_pid;   /* lazy: the server's supervisor (exits when every page is in) */
	bool have_server_stats;  /* lazy in the foreground: server holds the page server's record */
	struct snap_lazy_stats server;
};

/* Whether this kernel's userfaultfd can serve a lazy restore (the syscall
 * is allowed here, with the fork, remap, remove and unmap events). */
bool snap_lazy_supported(void);

/* Validates DIR completely, then creates the process. In the foreground
 * (opts->detach false) waits for it and fills exit_status. With pid_ns,
 * pid and pidfile hold the process's pid as the caller sees it. */
int snap_restore(struct snap_ctx *ctx, const char *dir, const struct snap_restore_opts *opts,
		 struct snap_restore_result *ret_result);

/* ---- bench ------------------------------------------------------------ */
/* Cold start against restore, for one workload: the workload is started
 * and captured once at its snapshot point, then every mode runs `runs`
 * times, interleaved (cold, eager, lazy, lazy-prefetch, cold, ...), so
 * that a slow minute of the machine falls on every mode alike.
 *
 * The workload's side (docs: snapctl bench):
 *   - it is started with SNAPCTL_READY_FD set (fd 3, a socket to the bench),
 *     stdin /dev/null, stdout and stderr pipes to the bench;
 *   - at its snapshot point it writes "ready
" on SNAPCTL_READY_FD and
 *     reads one line back: "continued" in a cold run, "restored" after a
 *     restore (the capture happens while it waits for that line);
 *   - when it can serve (its post-snapshot work done, in either case) it
 *     writes a line "ready" on stdout: the end of "time to ready" in every
 *     mode. With ready_file, it creates that file instead: the bench
 *     removes it before every run, so a restored workload creates it again.
 *     A workload without the readiness fd is captured when the file first
 *     appears.
 * Cold runs measure from fork to that line; restore runs from the call of
 * snap_restore() (a detached restore whose stdio are the pipes) to it. */
enum snap_bench_mode {
	SNAP_BENCH_COLD,
	SNAP_BENCH_EAGER,
	SNAP_BENCH_LAZY,          /* pages on demand, the rest in the background */
	SNAP_BENCH_LAZY_PREFETCH, /* lazy, the recorded working set populated first */
	SNAP_BENCH_MODE_COUNT,
};
#define SNAP_BENCH_ALL_MODES ((1u << SNAP_BENCH_MODE_COUNT) - 1)

/* A metric that a mode, or this build's engine, does not have. */
#define SNAP_BENCH_NA UINT64_MAX

struct snap_bench_run {
	enum snap_bench_mode mode;
	uint32_t index;              /* the run's number within its mode, from 0 */
	uint32_t order;              /* its position in the interleaved schedule */
	uint64_t ready_ns;           /* start to the workload's "ready" */
	uint64_t snapshot_point_ns;  /* cold: start to "ready" on the readiness fd */
	uint64_t validate_ns;        /* restores: snap_restore()'s validation */
	uint64_t create_ns;          /* restores: creating the process */
	uint64_t first_instruction_ns; /* restores: validate + create, the saved program runs */
	uint64_t pages_in_ns;        /* every page in: eager at first instruction, lazy at the page server's exit */
	uint64_t faults;             /* lazy: faults the page server answered */
	uint64_t bytes_prefetched;   /* lazy: bytes it filled before they were touched */
	uint64_t bytes_loaded;       /* restores: bytes copied in before the process ran */
};

/* Over a mode's runs; a metric with no value in any run has count 0 and
 * every other field SNAP_BENCH_NA. Percentiles interpolate linearly
 * between the two nearest runs (numpy's default). */
struct snap_bench_stat {
	uint32_t count;
	uint64_t min, p5, median, p95, max;
};

struct snap_bench_summary {
	bool available;              /* false: this build cannot run the mode */
	uint32_t runs;
	struct snap_bench_stat ready, snapshot_point, validate, create, first_instruction, pages_in, faults,
		bytes_prefetched, bytes_loaded;
	int32_t median_run;          /* index into result->runs of the run with the median ready time, or -1 */
};

struct snap_bench_opts {
	char *const *argv;           /* the workload; argv[0] is looked up in PATH */
	uint32_t runs;               /* per mode; 0: 5 */
	uint32_t modes;              /* bits 1u << enum snap_bench_mode; 0: all */
	const char *ready_file;      /* see above; NULL: a line "ready" on stdout */
	/* Where the snapshot goes (DIR/snapshot, DIR/snapshot-ws) and stays;
	 * NULL: a temporary directory, removed at the end. */
	const char *keep_dir;
	uint32_t timeout_ms;         /* per run, until ready; 0: 300 s */
	/* Called after each run (progress); may be NULL. */
	void (*progress)(const struct snap_bench_run *run, uint32_t done, uint32_t total, void *user);
	void *user;
};

struct snap_bench_result {
	uint32_t runs_per_mode;
	uint32_t modes;              /* the modes asked for */
	uint64_t snapshot_point_ns;  /* the captured start: start to its snapshot point */
	struct snap_capture_result capture;
	uint32_t nr_runs;
	struct snap_bench_run *runs; /* in the order they ran */
	struct snap_bench_summary summary[SNAP_BENCH_MODE_COUNT];
};

/* Runs the whole benchmark; nothing is printed. A mode this build lacks
 * is skipped (summary.available false), not an error. On failure no
 * workload process is left behind. */
int snap_bench(struct snap_ctx *ctx, const struct snap_bench_opts *opts, struct snap_bench_result *ret_result);
void snap_bench_result_release(struct snap_bench_result *result);

/* "cold", "eager", "lazy", "lazy-prefetch". */
const char *snap_bench_mode_name(enum snap_bench_mode mode);
/* A comma-separated list of those names into a mode bit set; -EINVAL
 * naming nothing it knows. */
int snap_bench_modes_parse(const char *list, uint32_t *ret_modes);
/* Whether this build's engine can run the mode (lazy restore may be absent). */
bool snap_bench_mode_available(enum snap_bench_mode mode);

/* ---- run: the snapshot phase (snapctl run) ---------------------------- */

/* A device node the guard denies: type 'c' or 'b', minor -1 for any. */
struct snap_guard_device {
	char type;
	uint32_t major;
	int32_t minor;
};

enum snap_guard_kind {
	SNAP_GUARD_SOCKET = 1,  /* socket(family, type) */
	SNAP_GUARD_CONNECT = 2, /* connect() to address:port */
	SNAP_GUARD_SENDMSG = 3, /* sendto()/sendmsg() to address:port */
	SNAP_GUARD_DEVICE = 4,  /* open of a device node */
};

/* The attempts of one kind, by one process, on one target, counted. */
struct snap_guard_denial {
	enum snap_guard_kind kind;
	char what[96];         /* "socket(AF_INET, SOCK_STREAM)", "connect to 10.0.0.1:443",
				* "open of char device 195:0" */
	pid_t pid;             /* the process (thread group) */
	char comm[16];         /* its thread's name at the time */
	int err;               /* the errno it got: EPERM */
	const char *denied_by; /* "cgroup", "lsm", or "capability" (CAP_NET_RAW withheld) */
	int family, type, protocol;
	char address[46];      /* connect, sendmsg: numeric, "" otherwise */
	uint16_t port;
	char device_type;      /* 'c' or 'b' for devices, 0 otherwise */
	uint32_t major, minor;
	uint64_t count;
};

struct snap_run_result;

struct snap_run_opts {
	char *const *argv;          /* CMD ARGS; argv[0] without a '/' is searched in PATH */
	bool leave_running;         /* answer "continued" and wait for the workload */
	bool no_guard;              /* a cgroup, but no bpf programs */
	const char *guard_backend;  /* "cgroup", "lsm", or NULL to probe */
	const struct snap_guard_device *deny_devices; /* denied besides the defaults */
	size_t nr_deny_devices;
	uint64_t timeout_ms;        /* to reach the snapshot point; 0 waits for ever */
	int cancel_fd;              /* polls readable when the run must stop (a signalfd), or -1 */
	/* Passed to snap_capture(); its ready_fd and leave_running are run's. */
	struct snap_capture_opts capture;
	/* With leave_running: called once the phase is over (captured, guard
	 * off, cgroup gone) and before the workload hears "continued", which
	 * may be long before it exits: the moment to report the phase. */
	void (*phase_end)(const struct snap_run_result *res, void *user);
	void *user;
};

/* Where the run ended (SNAP_RUN_DONE when it returned 0). */
enum snap_run_stage {
	SNAP_RUN_DONE = 0,
	SNAP_RUN_SETUP,     /* before the workload started: cgroup, guard, bad options */
	SNAP_RUN_EXEC,      /* CMD could not be executed (see exec_errno) */
	SNAP_RUN_EXITED,    /* the workload ended before its snapshot point */
	SNAP_RUN_TIMEOUT,   /* it did not reach it within timeout_ms (it was killed) */
	SNAP_RUN_CANCELLED, /* cancel_fd polled readable (it was killed) */
	SNAP_RUN_PROTOCOL,  /* it wrote something else than "ready" (it was killed) */
	SNAP_RUN_CAPTURE,   /* the capture failed (it was killed) */
};

struct snap_run_result {
	enum snap_run_stage stage;
	pid_t pid;                 /* the workload, 0 if it never started */
	int exec_errno;            /* SNAP_RUN_EXEC: why execve failed */
	char cgroup[256];          /* its cgroup, removed by the time snap_run returns */
	char guard_backend[16];    /* "cgroup", "lsm" or "none" */
	const char *guard_scope;   /* where connect/sendmsg were hooked: "hierarchy", "cgroup" or "" */
	bool ready;                /* reached its snapshot point */
	bool captured;             /* dir was published */
	bool continued;            /* it was answered "continued" */
	bool exited;               /* exit_status is known */
	int exit_status;           /* exit code, or 128+signal */
	uint64_t setup_ns;         /* features probed, cgroup made, guard on: before the workload starts */
	uint64_t guard_setup_ns;   /* of which the guard's programs loaded and attached */
	uint64_t start_ns;         /* the workload's start: from its clone to "ready" */
	uint64_t total_ns;
	struct snap_capture_result capture; /* when captured */
	struct snap_guard_denial *denials;  /* every denial, counted */
	size_t nr_denials;
	uint64_t denials_lost;     /* not reported one by one: the ring buffer was full */
};

/* Runs argv in a cgroup of its own with the guard on and SNAP_READY_ENV
 * set, waits for its snapshot point, captures it into dir, then ends it or
 * (leave_running) answers "continued" and waits for it to exit. The guard
 * and the cgroup are gone when it returns, whatever happened. Unlike other
 * calls, *ret_result is filled on failure too (stage, denials, exit
 * status): release it either way. */
int snap_run(struct snap_ctx *ctx, const char *dir, const struct snap_run_opts *opts,
	     struct snap_run_result *ret_result);
void snap_run_result_release(struct snap_run_result *res);

#ifdef __cplusplus
}
#endif
#endif
