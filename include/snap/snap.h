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
	uint64_t freeze_ns;      /* target stopped, start to end */
	uint64_t total_ns;
};

int snap_capture(struct snap_ctx *ctx, pid_t pid, const char *dir, const struct snap_capture_opts *opts,
		 struct snap_capture_result *ret_result);

/* ---- restore ---------------------------------------------------------- */
struct snap_restore_opts {
	bool detach;             /* return once the process runs */
	const char *pidfile;     /* written with the restored pid, or NULL */
};

struct snap_restore_result {
	pid_t pid;               /* the restored process */
	pid_t saved_pid;         /* its pid at capture */
	bool same_pid;
	int exit_status;         /* foreground only: exit code, or 128+signal */
	uint64_t validate_ns, create_ns, total_ns;
	uint64_t bytes_loaded;
};

/* Validates DIR completely, then creates the process. In the foreground
 * (opts->detach false) waits for it and fills exit_status. */
int snap_restore(struct snap_ctx *ctx, const char *dir, const struct snap_restore_opts *opts,
		 struct snap_restore_result *ret_result);

#ifdef __cplusplus
}
#endif
#endif
