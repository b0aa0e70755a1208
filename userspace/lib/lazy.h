/* lazy.h — lazy restore: the userfaultfd page server, its supervisor, and
 * the working-set record. The server answers faults from the snapshot and
 * prefetches the rest; it never hands a process a byte that failed its
 * checksum. */
#ifndef SNAP_LAZY_H
#define SNAP_LAZY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <snap/snap.h>

struct snap_image;

#define SNAP_WORKINGSET_FILE "workingset"
#define SNAP_WORKINGSET_MAGIC "SNAPWSET"

/* What the restored process's userfaultfd is opened with. */
#define SNAP_LAZY_UFFD_FEATURES \
	(UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP | UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP)

struct snap_lazy_opts {
	bool record;           /* write DIR/workingset from the faults served */
	uint32_t early_ms;     /* faults within this many ms make the "early" set */
	const char *log_path;  /* server log (NULL: the caller's stderr) */
	bool no_prefetch;      /* serve faults only (tests, benchmarks) */
	bool verbose;          /* log a summary when done */
	int stats_fd;          /* > 0: one struct snap_lazy_stats is written here at the end */
};

struct snap_workingset {
	uint32_t *order;       /* chunk indices in first-touch order */
	uint32_t count;
	uint32_t early;        /* the first `early` entries were touched early */
};

/* Starts the page server for process pid, whose anonymous memory is
 * registered with uffd (an fd of the caller's, closed here). A supervisor
 * process in its own session outlives the caller: if the server dies
 * before every page is in, the supervisor sends the process SIGBUS (then
 * SIGKILL), so it never reads memory that is not the snapshot's. */
int snap_lazy_start(struct snap_ctx *ctx, const char *dir, const struct snap_image *img, pid_t pid, int uffd,
		    const struct snap_lazy_opts *opts, pid_t *ret_supervisor);

/* Reads the record the server writes on opts->stats_fd when it ends,
 * waiting up to timeout_ms; false on end of file (it failed) or timeout. */
bool snap_lazy_read_stats(int fd, int timeout_ms, struct snap_lazy_stats *ret);

/* Reads DIR/workingset if there is one (ret->count 0 when not);
 * validates every index against img. */
int snap_workingset_load(struct snap_ctx *ctx, const char *dir, const struct snap_image *img,
			 struct snap_workingset *ret);
void snap_workingset_release(struct snap_workingset *ws);

#endif
