/* dirty_uffd.c — dirty tracking with userfaultfd write-protect in async
 * mode and the PAGEMAP_SCAN ioctl (Linux >= 6.7; the backend for kernels
 * built without soft-dirty). The uffd is created inside the target (an
 * injected syscall) and taken with pidfd_getfd; stop() unregisters it all. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "compat.h"
#include "ctx.h"
#include "dirty.h"
#include "freeze.h"
#include "inject.h"
#include "maps.h"
#include "sys.h"

#define MAX_RANGES 4096
#define SCAN_VEC 1024

struct uffd_dirty {
	struct snap_dirty base;
	int uffd, pagemap_fd;
	struct { uint64_t start, end; } ranges[MAX_RANGES]; /* registered */
	uint32_t nr_ranges;
};

static int uffd_probe(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct pm_scan_arg arg = { .size = sizeof(arg) };
	int fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK), r;

	if (fd < 0)
		return fd;
	r = sys_uffd_api(fd, &api);
	close(fd);
	if (r < 0)
		return r;
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = sys_pagemap_scan(fd, &arg); /* an empty range: -ENOTTY without the ioctl */
	close(fd);
	return r < 0 && r != -EINVAL ? r : (r == -EINVAL ? -EOPNOTSUPP : 0);
}

/* The uffd must belong to the target's mm: made by the target itself. */
static int take_uffd(struct snap_ctx *ctx, pid_t pid)
{
	struct snap_freeze fr;
	struct snap_inject inj;
	struct snap_map *maps = NULL;
	uint64_t vs = 0, ve = 0;
	size_t n = 0;
	int ok = 0, fd = -1, pidfd, r;
	long tfd;

	r = snap_maps_read(pid, NULL, &maps, &n);
	if (r < 0)
		return snap_err(ctx, r, "cannot read the memory map of process %d", (int)pid);
	for (size_t i = 0; i < n; i++)
		if (!strcmp(maps[i].path, "[vdso]")) {
			vs = maps[i].start;
			ve = maps[i].end;
		}
	free(maps);
	r = snap_freeze(ctx, pid, &fr);
	if (r < 0)
		return r;
	r = snap_inject_begin(ctx, pid, vs, ve, &inj);
	if (r < 0) {
		snap_thaw(&fr);
		return r;
	}
	tfd = snap_inject_syscall(&inj, SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, &ok);
	if (ok && tfd >= 0) {
		pidfd = sys_pidfd_open(pid, 0);
		fd = pidfd >= 0 ? sys_pidfd_getfd(pidfd, (int)tfd) : pidfd;
		if (pidfd >= 0)
			close(pidfd);
		snap_inject_syscall(&inj, SYS_close, (uint64_t)tfd, 0, 0, 0, &ok);
	}
	snap_inject_end(&inj);
	snap_thaw(&fr);
	if (tfd < 0 || fd < 0)
		return snap_err(ctx, tfd < 0 ? (int)tfd : fd, "cannot create a userfaultfd in process %d for dirty tracking: %s",
				(int)pid, strerror(-(tfd < 0 ? (int)tfd : fd)));
	return fd;
}

/* Write-protecting a never-touched page leaves a marker, which pagemap
 * shows as a swapped page (swap type and offset of the kernel's own).
 * Learnt from a page of ours; 0 when pagemap hides swap entries (no
 * CAP_SYS_ADMIN): then markers read as pages, which costs only copies
 * of zeros. */
static uint64_t learn_marker(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK), fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	uint64_t e = 0;

	if (page != MAP_FAILED && uffd >= 0 && fd >= 0 && sys_uffd_api(uffd, &api) == 0) {
		struct uffdio_register reg = { .range = { (uint64_t)(uintptr_t)page, 4096 },
					       .mode = UFFDIO_REGISTER_MODE_WP };
		struct uffdio_writeprotect wp = { .range = reg.range, .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		if (sys_uffd_register(uffd, &reg) == 0 && sys_uffd_writeprotect(uffd, &wp) == 0 &&
		    pread(fd, &e, 8, (off_t)((uintptr_t)page / 4096 * 8)) == 8 &&
		    (!(e & (1ull << 62)) || (e & ((1ull << 55) - 1)) == 0))
			e = 0; /* not a swap entry, or one without its type and offset */
	}
	if (fd >= 0)
		close(fd);
	if (uffd >= 0)
		close(uffd);
	if (page != MAP_FAILED)
		munmap(page, 4096);
	return e;
}

static int uffd_start(struct snap_ctx *ctx, pid_t pid, struct snap_dirty **ret)
{
	struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffd_dirty *d = calloc(1, sizeof(*d));
	struct snap_map *maps = NULL;
	char path[64];
	size_t n = 0;
	int r;

	if (!d)
		return snap_err(ctx, -ENOMEM, "out of memory");
	d->base.ops = &snap_dirty_uffd_ops;
	d->base.hole_entry = learn_marker();
	d->uffd = take_uffd(ctx, pid);
	if (d->uffd < 0) {
		r = d->uffd;
		free(d);
		return r;
	}
	r = sys_uffd_api(d->uffd, &api);
	if (r < 0) {
		close(d->uffd);
		free(d);
		return snap_err(ctx, r, "userfaultfd write-protect (async) is not available: %s", strerror(-r));
	}
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	d->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	r = d->pagemap_fd < 0 ? -errno : snap_maps_read(pid, NULL, &maps, &n);
	if (r < 0) {
		close(d->uffd);
		if (d->pagemap_fd >= 0)
			close(d->pagemap_fd);
		free(d);
		return snap_err(ctx, r, "cannot read the memory map of process %d", (int)pid);
	}
	/* Private anonymous memory: what a service writes. Anything else is
	 * untracked and so always reported written. */
	for (size_t i = 0; i < n && d->nr_ranges < MAX_RANGES; i++) {
		const struct snap_map *m = &maps[i];
		if (m->shared || m->path[0] == '/' || !strcmp(m->path, "[vdso]") || !strncmp(m->path, "[vvar", 5) ||
		    !strcmp(m->path, "[vsyscall]") || (m->vmflags & (SNAP_VMF_UFFD | SNAP_VMF_IO | SNAP_VMF_PFNMAP)))
			continue;
		struct uffdio_register reg = { .range = { m->start, m->end - m->start }, .mode = UFFDIO_REGISTER_MODE_WP };
		if (sys_uffd_register(d->uffd, &reg) < 0)
			continue;
		/* Armed now: from here a write marks the page written. */
		struct uffdio_writeprotect wp = { .range = { m->start, m->end - m->start },
						  .mode = UFFDIO_WRITEPROTECT_MODE_WP };
		if (sys_uffd_writeprotect(d->uffd, &wp) < 0) {
			sys_uffd_unregister(d->uffd, &reg.range);
			continue;
		}
		d->ranges[d->nr_ranges].start = m->start;
		d->ranges[d->nr_ranges++].end = m->end;
	}
	free(maps);
	*ret = &d->base;
	return 0;
}

static void set_bits(uint8_t *bitmap, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		bitmap[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Written pages of [start, end) inside one registered range, re-protected. */
static int scan(struct uffd_dirty *d, uint64_t start, uint64_t end, uint64_t base, uint8_t *bitmap)
{
	struct page_region vec[SCAN_VEC];

	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = start,
			.end = end,
			.vec = (uint64_t)(uintptr_t)vec,
			.vec_len = SCAN_VEC,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		int n = sys_pagemap_scan(d->pagemap_fd, &arg);
		if (n < 0)
			return n;
		for (int i = 0; i < n; i++)
			set_bits(bitmap, (vec[i].start - base) / 4096, (vec[i].end - base) / 4096);
		if (arg.walk_end <= start || arg.walk_end >= end)
			break;
		start = arg.walk_end;
	}
	return 0;
}

static int uffd_collect(struct snap_dirty *base, uint64_t start, uint64_t end, uint8_t *bitmap)
{
	struct uffd_dirty *d = (struct uffd_dirty *)base;
	uint64_t covered = start;
	int r;

	memset(bitmap, 0, (size_t)((end - start) / 4096 + 7) / 8);
	/* ranges are sorted: walk them; gaps between them are untracked */
	for (uint32_t i = 0; i < d->nr_ranges && covered < end; i++) {
		uint64_t lo = d->ranges[i].start > covered ? d->ranges[i].start : covered;
		uint64_t hi = d->ranges[i].end < end ? d->ranges[i].end : end;
		if (hi <= covered)
			continue;
		if (lo >= end)
			break;
		if (lo > covered)
			set_bits(bitmap, (covered - start) / 4096, (lo - start) / 4096);
		if (lo < hi) {
			r = scan(d, lo, hi, start, bitmap);
			if (r < 0) /* the range changed under us: untracked */
				set_bits(bitmap, (lo - start) / 4096, (hi - start) / 4096);
		}
		covered = hi;
	}
	if (covered < end)
		set_bits(bitmap, (covered - start) / 4096, (end - start) / 4096);
	return 0;
}

static int uffd_rearm(struct snap_dirty *base)
{
	return 0; /* each scan re-protected what it reported */
}

static void uffd_stop(struct snap_dirty *base)
{
	struct uffd_dirty *d = (struct uffd_dirty *)base;

	for (uint32_t i = 0; i < d->nr_ranges; i++) {
		struct uffdio_range r = { d->ranges[i].start, d->ranges[i].end - d->ranges[i].start };
		sys_uffd_unregister(d->uffd, &r);
	}
	close(d->uffd);
	close(d->pagemap_fd);
	free(d);
}

const struct snap_dirty_ops snap_dirty_uffd_ops = {
	.name = "uffd-wp",
	.probe = uffd_probe,
	.start = uffd_start,
	.collect = uffd_collect,
	.rearm = uffd_rearm,
	.stop = uffd_stop,
};
