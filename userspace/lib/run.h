/* run.h — the snapshot phase's cgroup: made for one workload under the caller's own
 * cgroup, emptied and removed when the phase ends; never touches a cgroup it did not make. */
#ifndef SNAP_RUN_H
#define SNAP_RUN_H

#include <limits.h>
#include <stdint.h>

struct snap_ctx;

#define SNAP_CGROUP_PREFIX "snapctl-run."

struct snap_cgroup {
	char path[PATH_MAX];   /* <mount>/<caller's cgroup>/snapctl-run.<pid>.<n> */
	char parent[PATH_MAX]; /* the caller's own cgroup, where processes go back */
	int fd;                /* the directory, O_RDONLY | O_DIRECTORY */
	int root_fd;           /* the hierarchy's root, for hooks that must see it all */
	uint64_t id;           /* what bpf_get_current_cgroup_id() says inside */
	uint32_t level;        /* depth below the hierarchy's root */
};

/* Makes the cgroup under the caller's own cgroup in the v2 hierarchy
 * mounted at mount, first removing empty ones left by a snapctl that died
 * (SIGKILL leaves the directory; its bpf links went with its fds). */
int snap_cgroup_create(struct snap_ctx *ctx, const char *mount, struct snap_cgroup *ret_cg);
/* Kills every process in it (cgroup.kill, or one by one before Linux 5.14)
 * and waits until none is left. */
int snap_cgroup_kill(struct snap_cgroup *cg);
/* Moves every process in it back to the parent cgroup. */
int snap_cgroup_evacuate(struct snap_cgroup *cg);
/* Removes the (empty) directory and closes the fds. */
int snap_cgroup_remove(struct snap_ctx *ctx, struct snap_cgroup *cg);
/* The number of processes in it (cgroup.procs), or -errno. */
int snap_cgroup_count(const struct snap_cgroup *cg);

#endif
