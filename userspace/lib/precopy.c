/* precopy.c — pre-copy capture: a shadow of the target's private memory
 * filled while it runs, refreshed from dirty tracking, completed under
 * the freeze. Reads the target only; never changes its memory. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ctx.h"
#include "dirty.h"
#include "freeze.h"
#include "image.h"
#include "maps.h"
#include "precopy.h"
#include "sys.h"

#define PAGE 4096ull
#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)
#define PM_FRAME ((1ull << 55) - 1) /* swap type and offset, for a swapped page */
#define BATCH 65536
/* A running round that finds less than this written ends the pre-copy. */
#define SETTLED_BYTES (16ull << 20)

struct shadow {
	uint64_t start, end;
	uint8_t *buf;       /* page i of the range at buf + i * PAGE */
	uint8_t *have;      /* bit per page: copied */
	uint8_t *store;     /* after finish: bit per page to store */
	bool file;          /* private file mapping: store only anonymous copies */
	bool whole;         /* store every page */
};

struct snap_precopy {
	pid_t pid;
	const struct snap_dirty_ops *ops;
	struct snap_dirty *dirty;
	int pagemap_fd, mem_fd;
	struct shadow *sh;
	uint32_t nr_sh, cap_sh;
	struct snap_precopy_stats stats;
	uint8_t *bits;          /* scratch bitmap */
	uint64_t *pm;           /* scratch pagemap entries */
};

static bool test_bit(const uint8_t *b, uint64_t i)
{
	return b[i / 8] & (1u << (i % 8));
}

static void put_bit(uint8_t *b, uint64_t i)
{
	b[i / 8] |= (uint8_t)(1u << (i % 8));
}

static struct shadow *add_shadow(struct snap_precopy *pc, uint64_t start, uint64_t end)
{
	uint64_t pages = (end - start) / PAGE;
	struct shadow *s;

	if (pc->nr_sh == pc->cap_sh) {
		uint32_t cap = pc->cap_sh ? pc->cap_sh * 2 : 64;
		struct shadow *p = realloc(pc->sh, cap * sizeof(*p));
		if (!p)
			return NULL;
		pc->sh = p;
		pc->cap_sh = cap;
	}
	s = &pc->sh[pc->nr_sh];
	memset(s, 0, sizeof(*s));
	s->start = start;
	s->end = end;
	s->buf = mmap(NULL, end - start, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	s->have = calloc(pages / 8 + 1, 1);
	s->store = calloc(pages / 8 + 1, 1);
	if (s->buf == MAP_FAILED || !s->have || !s->store) {
		if (s->buf != MAP_FAILED)
			munmap(s->buf, end - start);
		free(s->have);
		free(s->store);
		return NULL;
	}
	pc->nr_sh++;
	return s;
}

/* Copies pages [first, first + count) of shadow s from the process, in
 * pieces (the kernel caps one read near 2 GiB and may return less). */
static int copy_pages(struct snap_precopy *pc, struct shadow *s, uint64_t first, uint64_t count, bool frozen)
{
	const uint64_t piece = 64ull << 20;
	uint64_t addr = s->start + first * PAGE, len = count * PAGE;

	for (uint64_t done = 0; done < len;) {
		uint64_t want = len - done < piece ? len - done : piece;
		struct iovec local = { s->buf + first * PAGE + done, want };
		struct iovec remote = { (void *)(uintptr_t)(addr + done), want };
		ssize_t n = sys_process_vm_readv(pc->pid, &local, 1, &remote, 1);

		if (n <= 0) {
			/* unreadable (PROT_NONE) or changing: through /proc/PID/mem */
			n = pread(pc->mem_fd, s->buf + first * PAGE + done, want, (off_t)(addr + done));
			if (n <= 0)
				return n < 0 ? -errno : -EIO;
		}
		done += (uint64_t)n;
	}
	for (uint64_t i = first; i < first + count; i++)
		put_bit(s->have, i);
	if (frozen)
		pc->stats.bytes_frozen += len;
	else
		pc->stats.bytes_running += len;
	return 0;
}

/* Pages of s that exist and are to be stored: pagemap, like a plain dump,
 * less the marks dirty tracking left on never-touched pages. */
static int present(struct snap_precopy *pc, const struct shadow *s, uint8_t *out)
{
	uint64_t pages = (s->end - s->start) / PAGE, hole = pc->dirty->hole_entry & PM_FRAME;

	memset(out, 0, pages / 8 + 1);
	for (uint64_t done = 0; done < pages;) {
		uint64_t n = pages - done > BATCH ? BATCH : pages - done;
		if (pread(pc->pagemap_fd, pc->pm, n * 8, (off_t)((s->start / PAGE + done) * 8)) != (ssize_t)(n * 8))
			return -EIO;
		for (uint64_t i = 0; i < n; i++) {
			uint64_t e = pc->pm[i];
			if (hole && (e & PM_SWAPPED) && (e & PM_FRAME) == hole)
				e = 0;
			bool want = s->whole || (s->file ? ((e & PM_SWAPPED) || ((e & PM_PRESENT) && !(e & PM_FILE)))
							 : (e & (PM_PRESENT | PM_SWAPPED)));
			if (want)
				put_bit(out, done + i);
		}
		done += n;
	}
	return 0;
}

/* Copies the pages of s set in mask, in runs. */
static int copy_mask(struct snap_precopy *pc, struct shadow *s, const uint8_t *mask, bool frozen, uint64_t *bytes)
{
	uint64_t pages = (s->end - s->start) / PAGE;
	int r;

	for (uint64_t i = 0; i < pages;) {
		if (!test_bit(mask, i)) {
			i++;
			continue;
		}
		uint64_t j = i;
		while (j < pages && test_bit(mask, j))
			j++;
		r = copy_pages(pc, s, i, j - i, frozen);
		if (r < 0)
			return r;
		if (bytes)
			*bytes += (j - i) * PAGE;
		i = j;
	}
	return 0;
}

static int round_dirty(struct snap_precopy *pc, uint64_t *ret_bytes)
{
	uint64_t bytes = 0;
	uint8_t *pres = NULL;
	int r = 0;
	struct snap_freeze fr = { 0 };

	if (pc->ops->needs_freeze) {
		struct snap_ctx quiet = { 0 };
		r = snap_freeze(&quiet, pc->pid, &fr);
		if (r < 0)
			return r;
	}
	/* Collect every shadow's written pages first, then re-arm. */
	uint8_t **dirty = calloc(pc->nr_sh, sizeof(uint8_t *));
	for (uint32_t k = 0; dirty && k < pc->nr_sh && r == 0; k++) {
		struct shadow *s = &pc->sh[k];
		dirty[k] = calloc((s->end - s->start) / PAGE / 8 + 1, 1);
		r = dirty[k] ? pc->ops->collect(pc->dirty, s->start, s->end, dirty[k]) : -ENOMEM;
	}
	if (r == 0 && dirty)
		r = pc->ops->rearm(pc->dirty);
	if (pc->ops->needs_freeze)
		snap_thaw(&fr);
	for (uint32_t k = 0; dirty && k < pc->nr_sh && r == 0; k++) {
		struct shadow *s = &pc->sh[k];
		uint64_t pages = (s->end - s->start) / PAGE;
		pres = realloc(pres, pages / 8 + 1);
		if (!pres || present(pc, s, pres) < 0) {
			r = -EIO;
			break;
		}
		for (uint64_t i = 0; i < pages / 8 + 1; i++)
			dirty[k][i] &= pres[i];
		r = copy_mask(pc, s, dirty[k], false, &bytes);
	}
	for (uint32_t k = 0; dirty && k < pc->nr_sh; k++)
		free(dirty[k]);
	free(dirty);
	free(pres);
	*ret_bytes = bytes;
	return dirty ? r : -ENOMEM;
}

int snap_precopy_run(struct snap_ctx *ctx, pid_t pid, unsigned int rounds, const struct snap_dirty_ops *ops,
		     struct snap_precopy **ret_pc)
{
	struct snap_precopy *pc = calloc(1, sizeof(*pc));
	struct snap_map *maps = NULL;
	uint8_t *pres = NULL;
	char path[64];
	size_t n = 0;
	int r;

	if (!pc)
		return snap_err(ctx, -ENOMEM, "out of memory");
	pc->pid = pid;
	pc->ops = ops;
	snprintf(pc->stats.backend, sizeof(pc->stats.backend), "%s", ops->name);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	pc->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	pc->mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	pc->pm = malloc(BATCH * 8);
	if (pc->pagemap_fd < 0 || pc->mem_fd < 0 || !pc->pm) {
		r = errno == ENOENT ? snap_err(ctx, -ESRCH, "process %d does not exist", (int)pid)
				    : snap_err(ctx, -errno, "process %d: %s", (int)pid, strerror(errno));
		goto fail;
	}
	r = ops->start(ctx, pid, &pc->dirty);
	if (r < 0)
		goto fail;
	r = snap_maps_read(pid, NULL, &maps, &n);
	if (r < 0) {
		snap_err(ctx, r, "cannot read the memory map of process %d", (int)pid);
		goto fail;
	}
	/* The private anonymous memory: where a service's state lives. */
	for (size_t i = 0; i < n; i++) {
		const struct snap_map *m = &maps[i];
		if (m->shared || m->path[0] == '/' || m->end > 0x800000000000ull || !strcmp(m->path, "[vdso]") ||
		    !strncmp(m->path, "[vvar", 5) || (m->vmflags & (SNAP_VMF_IO | SNAP_VMF_PFNMAP)))
			continue;
		if (!add_shadow(pc, m->start, m->end)) {
			r = snap_err(ctx, -ENOMEM, "out of memory for the pre-copy of %#llx-%#llx",
				     (unsigned long long)m->start, (unsigned long long)m->end);
			goto fail;
		}
	}
	/* Round 1: everything there is (tracking already armed). */
	for (uint32_t k = 0; k < pc->nr_sh; k++) {
		struct shadow *s = &pc->sh[k];
		pres = realloc(pres, (s->end - s->start) / PAGE / 8 + 1);
		if (!pres || present(pc, s, pres) < 0 || copy_mask(pc, s, pres, false, NULL) < 0) {
			r = snap_err(ctx, -EIO, "pre-copy of process %d failed at %#llx", (int)pid,
				     (unsigned long long)s->start);
			goto fail;
		}
	}
	pc->stats.rounds = 1;
	/* Then what was written meanwhile, until it settles. */
	while (pc->stats.rounds < rounds) {
		uint64_t bytes;
		r = round_dirty(pc, &bytes);
		if (r < 0) {
			snap_err(ctx, r, "pre-copy round %u of process %d failed: %s", pc->stats.rounds + 1, (int)pid,
				 strerror(-r));
			goto fail;
		}
		pc->stats.rounds++;
		pc->stats.last_round_bytes = bytes;
		if (bytes < SETTLED_BYTES)
			break;
	}
	free(pres);
	free(maps);
	*ret_pc = pc;
	return 0;
fail:
	free(pres);
	free(maps);
	snap_precopy_free(pc);
	return r;
}

static struct shadow *find_shadow(const struct snap_precopy *pc, uint64_t start, uint64_t end)
{
	for (uint32_t k = 0; k < pc->nr_sh; k++)
		if (pc->sh[k].start <= start && end <= pc->sh[k].end)
			return &pc->sh[k];
	return NULL;
}

int snap_precopy_finish(struct snap_ctx *ctx, struct snap_precopy *pc, const struct snap_image *img)
{
	uint8_t *dirty = NULL, *pres = NULL;
	int r = 0;

	for (uint32_t v = 0; v < img->nr_vmas && r == 0; v++) {
		const struct snap_rec_vma *vma = &img->vmas[v];
		if (vma->kind != SNAP_VMA_ANON && vma->kind != SNAP_VMA_FILE)
			continue;
		struct shadow *s = find_shadow(pc, vma->start, vma->end);
		if (!s || vma->kind == SNAP_VMA_FILE || (vma->flags & SNAP_VMA_WHOLE)) {
			/* new since the pre-copy, or not tracked: all of it now */
			s = add_shadow(pc, vma->start, vma->end);
			if (!s)
				return snap_err(ctx, -ENOMEM, "out of memory");
			s->file = vma->kind == SNAP_VMA_FILE;
			s->whole = vma->flags & SNAP_VMA_WHOLE;
		}
		uint64_t first = (vma->start - s->start) / PAGE, pages = (vma->end - vma->start) / PAGE;
		uint64_t spages = (s->end - s->start) / PAGE;
		dirty = realloc(dirty, spages / 8 + 1);
		pres = realloc(pres, spages / 8 + 1);
		if (!dirty || !pres)
			return snap_err(ctx, -ENOMEM, "out of memory");
		r = pc->ops->collect(pc->dirty, s->start, s->end, dirty);
		if (r == 0)
			r = present(pc, s, pres);
		if (r < 0) {
			r = snap_err(ctx, r, "cannot read which pages of %#llx-%#llx changed", (unsigned long long)s->start,
				     (unsigned long long)s->end);
			break;
		}
		/* To read now: present, and written since the last pass or never
		 * copied. To store: present. Both only within this mapping. */
		for (uint64_t i = 0; i < spages; i++) {
			bool in = i >= first && i < first + pages && test_bit(pres, i);
			bool need = in && (test_bit(dirty, i) || !test_bit(s->have, i));
			if (need)
				dirty[i / 8] |= (uint8_t)(1u << (i % 8));
			else
				dirty[i / 8] &= (uint8_t)~(1u << (i % 8));
			if (in)
				put_bit(s->store, i);
		}
		r = copy_mask(pc, s, dirty, true, NULL);
		if (r < 0)
			r = snap_err(ctx, r, "cannot read memory at %#llx of process %d", (unsigned long long)vma->start,
				     (int)pc->pid);
	}
	free(dirty);
	free(pres);
	return r;
}

const uint8_t *snap_precopy_page(const struct snap_precopy *pc, uint64_t addr)
{
	/* the newest shadow covering addr is the one finish() filled */
	for (uint32_t k = pc->nr_sh; k-- > 0;) {
		const struct shadow *s = &pc->sh[k];
		if (addr >= s->start && addr < s->end) {
			uint64_t i = (addr - s->start) / PAGE;
			return test_bit(s->store, i) ? s->buf + i * PAGE : NULL;
		}
	}
	return NULL;
}

void snap_precopy_stats(const struct snap_precopy *pc, struct snap_precopy_stats *ret)
{
	*ret = pc->stats;
}

void snap_precopy_free(struct snap_precopy *pc)
{
	if (!pc)
		return;
	if (pc->dirty)
		pc->ops->stop(pc->dirty);
	for (uint32_t k = 0; k < pc->nr_sh; k++) {
		munmap(pc->sh[k].buf, pc->sh[k].end - pc->sh[k].start);
		free(pc->sh[k].have);
		free(pc->sh[k].store);
	}
	free(pc->sh);
	free(pc->pm);
	if (pc->pagemap_fd >= 0)
		close(pc->pagemap_fd);
	if (pc->mem_fd >= 0)
		close(pc->mem_fd);
	free(pc);
}
