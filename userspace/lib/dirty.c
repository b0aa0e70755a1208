/* dirty.c — picks a dirty-page tracking backend, and the "none" backend
 * for kernels with no tracking: every page is reported written. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dirty.h"

static const struct snap_dirty_ops *const backends[] = {
	&snap_dirty_uffd_ops,
	&snap_dirty_softdirty_ops,
	&snap_dirty_none_ops,
};

int snap_dirty_select(const char *name, const struct snap_dirty_ops **ret_ops)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (name && strcmp(name, backends[i]->name))
			continue;
		int r = backends[i]->probe();
		if (r < 0 && name)
			return r;
		if (r < 0)
			continue;
		*ret_ops = backends[i];
		return 0;
	}
	return -ENOENT;
}

static int none_probe(void)
{
	return 0;
}

static int none_start(struct snap_ctx *ctx, pid_t pid, struct snap_dirty **ret)
{
	*ret = calloc(1, sizeof(**ret));
	if (!*ret)
		return -ENOMEM;
	(*ret)->ops = &snap_dirty_none_ops;
	return 0;
}

static int none_collect(struct snap_dirty *d, uint64_t start, uint64_t end, uint8_t *bitmap)
{
	uint64_t pages = (end - start) / 4096;

	memset(bitmap, 0xff, (size_t)(pages + 7) / 8);
	return 0;
}

static int no_rearm(struct snap_dirty *d)
{
	return 0;
}

static void none_stop(struct snap_dirty *d)
{
	free(d);
}

const struct snap_dirty_ops snap_dirty_none_ops = {
	.name = "none",
	.probe = none_probe,
	.start = none_start,
	.collect = none_collect,
	.rearm = no_rearm,
	.stop = none_stop,
};
