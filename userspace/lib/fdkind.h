/* fdkind.h — fds that are kernel objects rather than files: pipes,
 * eventfd, signalfd, timerfd, epoll. Capture reads their state; the
 * restore child recreates them. Never consumes a target's data. */
#ifndef SNAP_FDKIND_H
#define SNAP_FDKIND_H

#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

struct snap_ctx;
struct snap_image;
struct snap_rec_fd;

/* Capture: fills rec (kind, aux, data in img's blobs) for fd of the
 * stopped process pid when it is a kind handled here. Returns 1 when
 * handled, 0 when not a kind of this module, negative errno (with ctx's
 * error set, naming the fd) when it is but cannot be captured. */
int snap_fdkind_capture(struct snap_ctx *ctx, pid_t pid, int fd, const char *link, const struct stat *st,
			struct snap_rec_fd *rec, struct snap_image *img);

/* Restore, in the restore child, in three steps:
 * prepare  before any fd is placed (e.g. create every pipe once);
 * open     for one record: returns a new fd (any number, O_CLOEXEC) that the
 *          caller moves to rec->fd, or -errno with msg filled;
 * finish   once every fd is in place (e.g. fill epoll sets).
 * State lives in *state (opaque, from prepare). */
struct snap_fdkind_state;
int snap_fdkind_restore_prepare(const struct snap_image *img, struct snap_fdkind_state **ret_state, char *msg,
				size_t msg_size);
int snap_fdkind_restore_open(struct snap_fdkind_state *state, const struct snap_rec_fd *rec, char *msg,
			     size_t msg_size);
int snap_fdkind_restore_finish(struct snap_fdkind_state *state, char *msg, size_t msg_size);
void snap_fdkind_restore_free(struct snap_fdkind_state *state);

#endif
