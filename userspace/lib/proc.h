/* proc.h — reads the state of a frozen process into a snapshot image:
 * registers, mm fields, fds, signal state, and its memory map. Refuses,
 * by name, anything the restorer cannot bring back. */
#ifndef SNAP_PROC_H
#define SNAP_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct snap_ctx;
struct snap_image;
struct snap_inject;
struct snap_map;

/* Process-wide state: mm fields, auxv, rlimits, signal handlers and brk
 * (through inj, set up on any thread), cwd, umask, personality, exe. */
int snap_proc_read_state(struct snap_ctx *ctx, pid_t pid, struct snap_inject *inj, struct snap_image *img);
/* One thread (stopped, inj set up on it): registers, xstate, signal mask,
 * sigaltstack, tid address, rseq, robust list, name. Appends to img. */
int snap_proc_read_thread(struct snap_ctx *ctx, pid_t pid, pid_t tid, struct snap_inject *inj,
			  struct snap_image *img);
/* Every fd (ready_fd: the readiness fd, recorded as such); refuses
 * sockets and kinds neither this module nor fdkind.c can restore. */
int snap_proc_read_fds(struct snap_ctx *ctx, pid_t pid, int ready_fd, struct snap_image *img);
/* Turns the memory map into image mappings (no contents yet); refuses
 * SysV shared memory and device mappings. */
int snap_proc_read_vmas(struct snap_ctx *ctx, pid_t pid, const struct snap_map *maps, size_t n,
			struct snap_image *img);
/* Adds (or finds) the file record for path, checking it is the inode the
 * process uses (ino 0: take whatever is there). */
int snap_proc_add_file(struct snap_ctx *ctx, struct snap_image *img, const char *path, unsigned long long ino,
		       int32_t *ret_index);

#endif
