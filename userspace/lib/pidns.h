/* pidns.h — a fresh PID namespace for one restored process: its init (a
 * small reaper in libsnap's own code, never exec'd) and the restore child,
 * created inside with the saved pid. Never runs any of the saved program. */
#ifndef SNAP_PIDNS_H
#define SNAP_PIDNS_H

#include <sys/types.h>

struct snap_ctx;

struct snap_pidns {
	pid_t init_pid; /* the namespace's pid 1, the caller's child; -1 when none */
	int ctl_fd;     /* our end of the control socket to init; -1 once released */
};

#define SNAP_PIDNS_NONE ((struct snap_pidns){ .init_pid = -1, .ctl_fd = -1 })

/* Runs in the child inside the namespace; must not return. */
typedef void (*snap_pidns_child_fn)(void *arg);

/* Creates a PID namespace and its init, which creates a child with pid
 * `want` in the namespace running fn(arg). *ret_child is that child's pid
 * as the caller sees it. Until snap_pidns_release() the namespace, child
 * included, ends when the caller's process does. */
int snap_pidns_spawn(struct snap_ctx *ctx, pid_t want, snap_pidns_child_fn fn, void *arg,
		     struct snap_pidns *ret_ns, pid_t *ret_child);

/* The child runs as it should: from now on the namespace lives as long as
 * the child, whatever happens to the caller. */
int snap_pidns_release(struct snap_ctx *ctx, struct snap_pidns *ns);

/* Waits for init, which ends when the child does; returns the child's exit
 * code, or 128 + the signal that ended it (or ended init). */
int snap_pidns_wait(struct snap_pidns *ns);

/* Ends the namespace with everything in it and reaps init. A child the
 * caller traces must be reaped by the caller first: init cannot finish
 * before its ptrace-held zombie is collected. */
void snap_pidns_kill(struct snap_pidns *ns);

#endif
