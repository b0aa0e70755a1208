/* io.c — picks the write backend for snapshot files: by name, or the first
 * that probes well in order of preference. Never writes anything itself. */
#include <errno.h>
#include <string.h>

#include "io.h"

/* In order of preference: io_uring keeps several writes in flight; pwrite
 * works everywhere, including under seccomp profiles that block io_uring. */
static const struct snap_io_ops *const backends[] = {
	&snap_io_uring_ops,
	&snap_io_sync_ops,
};

int snap_io_select(const char *name, const struct snap_io_ops **ret_ops)
{
	int r = -ENOENT;

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const struct snap_io_ops *ops = backends[i];

		if (name && strcmp(name, ops->name))
			continue;
		r = ops->probe();
		if (r < 0) {
			if (name)
				return r;
			continue;
		}
		*ret_ops = ops;
		return 0;
	}
	return r;
}
