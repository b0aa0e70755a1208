/* dirty_softdirty.c — dirty tracking with soft-dirty bits: "4" into
 * /proc/PID/clear_refs, then bit 55 of /proc/PID/pagemap. Only on kernels
 * built with CONFIG_MEM_SOFT_DIRTY; a new mapping reads as all written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ctx.h"
#include "dirty.h"

#define PM_SOFT_DIRTY (1ull << 55)
#define BATCH 65536

struct softdirty {
	struct snap_dirty base;
	int pagemap_fd, clear_fd;
};

static int clear(int fd)
{
	return pwrite(fd, "4", 1, 0) == 1 ? 0 : -errno;
}

static int softdirty_probe(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC), pm, r;
	uint64_t e = 0;
	volatile char *page;

	if (fd < 0)
		return -errno;
	page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED) {
		close(fd);
		return -ENOMEM;
	}
	page[0] = 1;
	r = clear(fd);
	close(fd);
	page[0] = 2;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (r == 0 && (pm < 0 || pread(pm, &e, 8, (off_t)((uintptr_t)page / 4096 * 8)) != 8))
		r = -EIO;
	if (pm >= 0)
		close(pm);
	munmap((void *)page, 4096);
	if (r < 0)
		return r;
	return (e & PM_SOFT_DIRTY) ? 0 : -EOPNOTSUPP;
}

static int softdirty_start(struct snap_ctx *ctx, pid_t pid, struct snap_dirty **ret)
{
	struct softdirty *d = calloc(1, sizeof(*d));
	char path[64];

	if (!d)
		return snap_err(ctx, -ENOMEM, "out of memory");
	d->base.ops = &snap_dirty_softdirty_ops;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	d->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	d->clear_fd = open(path, O_WRONLY | O_CLOEXEC);
	if (d->pagemap_fd < 0 || d->clear_fd < 0 || clear(d->clear_fd) < 0) {
		int e = errno;
		if (d->pagemap_fd >= 0)
			close(d->pagemap_fd);
		if (d->clear_fd >= 0)
			close(d->clear_fd);
		free(d);
		return snap_err(ctx, -e, "cannot start soft-dirty tracking of process %d: %s", (int)pid, strerror(e));
	}
	*ret = &d->base;
	return 0;
}

/* Reads the bits; rearm clears them for the whole process at once. */
static int softdirty_collect(struct snap_dirty *base, uint64_t start, uint64_t end, uint8_t *bitmap)
{
	struct softdirty *d = (struct softdirty *)base;
	uint64_t *pm = malloc(BATCH * 8);

	if (!pm)
		return -ENOMEM;
	memset(bitmap, 0, (size_t)((end - start) / 4096 + 7) / 8);
	for (uint64_t a = start; a < end;) {
		uint64_t n = (end - a) / 4096 > BATCH ? BATCH : (end - a) / 4096;
		if (pread(d->pagemap_fd, pm, n * 8, (off_t)(a / 4096 * 8)) != (ssize_t)(n * 8)) {
			memset(bitmap, 0xff, (size_t)((end - start) / 4096 + 7) / 8);
			break;
		}
		for (uint64_t i = 0; i < n; i++)
			if (pm[i] & PM_SOFT_DIRTY) {
				uint64_t bit = (a - start) / 4096 + i;
				bitmap[bit / 8] |= (uint8_t)(1u << (bit % 8));
			}
		a += n * 4096;
	}
	free(pm);
	return 0;
}

static void softdirty_stop(struct snap_dirty *base)
{
	struct softdirty *d = (struct softdirty *)base;

	close(d->pagemap_fd);
	close(d->clear_fd);
	free(d);
}

static int softdirty_rearm(struct snap_dirty *base)
{
	return clear(((struct softdirty *)base)->clear_fd);
}

const struct snap_dirty_ops snap_dirty_softdirty_ops = {
	.name = "soft-dirty",
	.probe = softdirty_probe,
	.start = softdirty_start,
	.collect = softdirty_collect,
	.rearm = softdirty_rearm,
	.stop = softdirty_stop,
	.needs_freeze = true,
};
