/* restore_child.c — the restore child: premaps the saved memory in a hole
 * free in both layouts, fills it, rebuilds fds and process attributes,
 * then hands over to the restorer blob. Runs in a fresh child only; on any
 * failure it reports one line to the parent and exits, having run none of
 * the saved program. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <unistd.h>

#include <snap/snap.h>

#include "codec.h"
#include "fdkind.h"
#include "compat.h"
#include "sys.h"
#include "image.h"
#include "lazy.h"
#include "maps.h"
#include "restore.h"
#include "restorer/restorer.h"

#define PAGE SNAP_PAGE_SIZE
#define ALIGN_UP(x, a) (((x) + (a) - 1) & ~((uint64_t)(a) - 1))
#define TASK_TOP 0x7ffffffff000ull
#define BLOB_STACK (64u << 10)

struct child {
	const struct snap_image *img;
	const struct restore_child_opts *opts;
	int uffd;               /* lazy: registered by the blob, taken by the parent */
	uint8_t *eager;         /* lazy: per chunk, fill it now */
	int report_fd;
	int *object_fds;        /* a memfd per shared memory object */
	struct snap_map *cur;   /* our own layout */
	size_t nr_cur;
};

static __attribute__((noreturn, format(printf, 2, 3))) void die(struct child *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	msg[0] = RESTORE_MSG_ERROR;
	va_start(ap, fmt);
	vsnprintf(msg + 1, sizeof(msg) - 1, fmt, ap);
	va_end(ap);
	if (write(c->report_fd, msg, strlen(msg) + 1) < 0) {
		/* nothing more to say */
	}
	_exit(127);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}


struct interval {
	uint64_t start, end;
};

static int cmp_interval(const void *a, const void *b)
{
	const struct interval *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Highest hole of `size` bytes, 2 MiB clear on each side, that neither
 * our layout nor the saved one uses. 0 when there is none. */
static uint64_t find_hole(struct child *c, uint64_t size)
{
	const uint64_t margin = 1ull << 21, low = 1ull << 32;
	size_t n = c->nr_cur + c->img->nr_vmas, k = 0;
	struct interval *iv = malloc((n + 1) * sizeof(*iv));
	uint64_t found = 0;

	if (!iv)
		return 0;
	for (size_t i = 0; i < c->nr_cur; i++)
		if (c->cur[i].end <= TASK_TOP)
			iv[k++] = (struct interval){ c->cur[i].start, c->cur[i].end };
	for (uint32_t i = 0; i < c->img->nr_vmas; i++)
		iv[k++] = (struct interval){ c->img->vmas[i].start, c->img->vmas[i].end };
	iv[k++] = (struct interval){ TASK_TOP, TASK_TOP };
	qsort(iv, k, sizeof(*iv), cmp_interval);
	/* Gaps lie between the end of everything so far and the next start. */
	uint64_t covered = low;
	for (size_t i = 0; i < k; i++) {
		if (iv[i].start > covered && iv[i].start - covered >= size + 2 * margin) {
			uint64_t cand = (iv[i].start - margin - size) & ~(margin - 1);
			if (cand >= covered + margin)
				found = cand; /* keep going: the highest hole wins */
		}
		if (iv[i].end > covered)
			covered = iv[i].end;
	}
	free(iv);
	return found;
}

static bool is_special(const struct snap_map *m)
{
	return !strcmp(m->path, "[vdso]") || !strncmp(m->path, "[vvar", 5);
}

static void fill_vma(struct child *c, struct snap_codec *codec, const uint8_t *pages, uint64_t pages_size,
		     const struct snap_rec_vma *v, uint8_t *dst, uint32_t *chunk_index, uint64_t *loaded)
{
	const struct snap_image *img = c->img;
	uint32_t i = *chunk_index;
	/* mlock'ed memory is populated at once: it cannot be lazy */
	bool lazy = c->opts->lazy && v->kind == SNAP_VMA_ANON && !(v->flags & SNAP_VMA_LOCKED);

	while (i < img->nr_chunks && img->chunks[i].object == 0 && img->chunks[i].vaddr < v->end) {
		const struct snap_rec_chunk *ch = &img->chunks[i];
		uint64_t len = (uint64_t)ch->npages * PAGE;
		uint8_t *to = dst + (ch->vaddr - v->start);

		if (lazy && !(c->eager && c->eager[i])) {
			i++;
			continue; /* the page server brings it */
		}

		if (ch->offset + ch->stored_len > pages_size)
			die(c, "chunk %u lies outside the pages file", i);
		if (ch->encoding == SNAP_CHUNK_RAW)
			memcpy(to, pages + ch->offset, len);
		else if (snap_codec_decompress(codec, pages + ch->offset, ch->stored_len, to, len) < 0)
			die(c, "chunk %u (memory at %#llx) does not decompress: the snapshot is corrupt", i,
			    (unsigned long long)ch->vaddr);
		*loaded += len;
		i++;
	}
	*chunk_index = i;
}

/* A memfd per shared memory object, filled from its chunks. */
static void make_objects(struct child *c, struct snap_codec *codec, const uint8_t *pages, uint64_t pages_size,
			 uint64_t *loaded)
{
	const struct snap_image *img = c->img;
	uint32_t i = 0;

	c->object_fds = calloc(img->nr_objects + 1, sizeof(int));
	if (!c->object_fds)
		die(c, "out of memory");
	while (i < img->nr_chunks && img->chunks[i].object == 0)
		i++;
	for (uint32_t k = 0; k < img->nr_objects; k++) {
		const struct snap_rec_object *o = &img->objects[k];
		const char *name = snap_image_string(img, o->name);
		unsigned int flags = MFD_CLOEXEC | (o->seals ? MFD_ALLOW_SEALING : 0);
		int fd = memfd_create(name[0] ? name : "snapctl-shared", flags);
		uint8_t *m = NULL;

		if (fd < 0 || ftruncate(fd, (off_t)o->size) < 0)
			die(c, "cannot create shared memory object %u (%llu bytes): %s", k, (unsigned long long)o->size,
			    strerror(errno));
		if (o->size) {
			m = mmap(NULL, o->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (m == MAP_FAILED)
				die(c, "cannot map shared memory object %u: %s", k, strerror(errno));
		}
		for (; i < img->nr_chunks && img->chunks[i].object == k + 1; i++) {
			const struct snap_rec_chunk *ch = &img->chunks[i];
			uint64_t len = (uint64_t)ch->npages * PAGE;
			if (ch->offset + ch->stored_len > pages_size)
				die(c, "chunk %u lies outside the pages file", i);
			if (ch->encoding == SNAP_CHUNK_RAW)
				memcpy(m + ch->vaddr, pages + ch->offset, len);
			else if (snap_codec_decompress(codec, pages + ch->offset, ch->stored_len, m + ch->vaddr, len) < 0)
				die(c, "chunk %u (shared memory object %u) does not decompress: the snapshot is corrupt", i, k);
			*loaded += len;
		}
		if (m)
			munmap(m, o->size);
		c->object_fds[k] = fd;
	}
}

/* madvise and mlock state that changes behaviour moves with the mapping. */
static void apply_advice(struct child *c, const struct snap_rec_vma *v, void *dst)
{
	static const struct {
		uint32_t flag;
		int advice;
		const char *name;
	} advice[] = {
		{ SNAP_VMA_HUGEPAGE, MADV_HUGEPAGE, "MADV_HUGEPAGE" },
		{ SNAP_VMA_NOHUGEPAGE, MADV_NOHUGEPAGE, "MADV_NOHUGEPAGE" },
		{ SNAP_VMA_DONTFORK, MADV_DONTFORK, "MADV_DONTFORK" },
		{ SNAP_VMA_WIPEONFORK, MADV_WIPEONFORK, "MADV_WIPEONFORK" },
		{ SNAP_VMA_DONTDUMP, MADV_DONTDUMP, "MADV_DONTDUMP" },
	};
	size_t len = v->end - v->start;

	for (size_t i = 0; i < sizeof(advice) / sizeof(advice[0]); i++)
		if ((v->flags & advice[i].flag) && madvise(dst, len, advice[i].advice) < 0)
			die(c, "cannot apply %s to %#llx: %s", advice[i].name, (unsigned long long)v->start,
			    strerror(errno));
	int r;
	if ((v->flags & SNAP_VMA_LOCKED) && (r = sys_mlock(dst, len)) < 0)
		die(c, "cannot lock %#llx-%#llx in memory: %s (raise RLIMIT_MEMLOCK)", (unsigned long long)v->start,
		    (unsigned long long)v->end, strerror(-r));
}

static void *premap_vma(struct child *c, const struct snap_rec_vma *v, uint64_t at)
{
	uint64_t len = v->end - v->start;
	void *p;

	if (v->kind == SNAP_VMA_ANON) {
		int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED;
		if (v->flags & SNAP_VMA_NORESERVE)
			flags |= MAP_NORESERVE;
		if (v->flags & SNAP_VMA_GROWSDOWN)
			flags |= MAP_GROWSDOWN;
		p = mmap((void *)at, len, PROT_READ | PROT_WRITE, flags, -1, 0);
	} else if (v->kind == SNAP_VMA_SHMEM) {
		p = mmap((void *)at, len, (int)v->prot, MAP_SHARED | MAP_FIXED, c->object_fds[v->object], (off_t)v->pgoff);
	} else if (v->kind == SNAP_VMA_SHARED_FILE) {
		/* The file is the content: map it shared again, with the saved
		 * protection (writes after restore reach the file). */
		const char *path = snap_image_string(c->img, c->img->files[v->file].path);
		bool rw = (v->prot & PROT_WRITE) || (v->flags & SNAP_VMA_MAYWRITE);
		int fd = open(path, (rw ? O_RDWR : O_RDONLY) | O_CLOEXEC);
		if (fd < 0)
			die(c, "%s: %s (it backs shared memory at %#llx)", path, strerror(errno),
			    (unsigned long long)v->start);
		p = mmap((void *)at, len, (int)v->prot, MAP_SHARED | MAP_FIXED, fd, (off_t)v->pgoff);
		close(fd);
	} else {
		const char *path = snap_image_string(c->img, c->img->files[v->file].path);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			die(c, "%s: %s (it backs memory at %#llx)", path, strerror(errno), (unsigned long long)v->start);
		p = mmap((void *)at, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)v->pgoff);
		close(fd);
	}
	if (p == MAP_FAILED)
		die(c, "cannot map %#llx-%#llx (%s): %s", (unsigned long long)v->start, (unsigned long long)v->end,
		    snap_image_string(c->img, v->name), strerror(errno));
	return p;
}

static int reopen_fd(struct child *c, const struct snap_rec_fd *f)
{
	const char *path = snap_image_string(c->img, c->img->files[f->file].path);
	int flags = (int)(f->open_flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY | O_CLOEXEC));
	int fd = open(path, flags | O_CLOEXEC);

	if (fd < 0)
		die(c, "fd %d: cannot open %s again: %s", f->fd, path, strerror(errno));
	if (f->kind == SNAP_FD_FILE && f->pos && lseek(fd, (off_t)f->pos, SEEK_SET) < 0)
		die(c, "fd %d: cannot seek %s to %llu: %s", f->fd, path, (unsigned long long)f->pos, strerror(errno));
	return fd;
}

static void place_fd(struct child *c, int fd, const struct snap_rec_fd *f)
{
	int flags = (f->flags & SNAP_FD_CLOEXEC) ? O_CLOEXEC : 0;

	if (fd == f->fd) {
		if (fcntl(fd, F_SETFD, flags ? FD_CLOEXEC : 0) < 0)
			die(c, "fd %d: %s", f->fd, strerror(errno));
		return;
	}
	if (dup3(fd, f->fd, flags) < 0)
		die(c, "cannot put fd %d in place: %s", f->fd, strerror(errno));
	close(fd);
}

/* Moves a helper fd above every fd the process will have. */
static int lift_fd(struct child *c, int fd, int min)
{
	int n = fcntl(fd, F_DUPFD_CLOEXEC, min);

	if (n < 0)
		die(c, "cannot move an internal fd above %d: %s (raise the open file limit)", min, strerror(errno));
	close(fd);
	return n;
}

static void rebuild_fds(struct child *c, int *exe_fd)
{
	const struct snap_image *img = c->img;
	int max_fd = 2, keep_stdio[3] = { 0, 0, 0 };
	struct snap_fdkind_state *kinds = NULL;
	char msg[512];

	for (uint32_t i = 0; i < img->nr_fds; i++) {
		if (img->fds[i].fd > max_fd)
			max_fd = img->fds[i].fd;
		if (img->fds[i].kind == SNAP_FD_STDIO)
			keep_stdio[img->fds[i].fd] = 1;
	}
	/* Our own fds go above every saved one; everything else is closed. */
	int keep[3 + SNAP_MAX_OBJECTS], nkeep = 0;
	c->report_fd = lift_fd(c, c->report_fd, max_fd + 1);
	keep[nkeep++] = c->report_fd;
	if (*exe_fd >= 0) {
		*exe_fd = lift_fd(c, *exe_fd, max_fd + 1);
		keep[nkeep++] = *exe_fd;
	}
	for (uint32_t i = 0; i < img->nr_objects; i++) {
		c->object_fds[i] = lift_fd(c, c->object_fds[i], max_fd + 1);
		keep[nkeep++] = c->object_fds[i];
	}
	if (c->uffd >= 0) {
		c->uffd = lift_fd(c, c->uffd, max_fd + 1);
		keep[nkeep++] = c->uffd;
	}
	for (int fd = 0; fd < 3; fd++)
		if (!keep_stdio[fd])
			close(fd);
	qsort(keep, (size_t)nkeep, sizeof(int), cmp_int);
	unsigned int from = 3;
	for (int i = 0; i < nkeep; i++) {
		if ((unsigned int)keep[i] > from)
			close_range(from, (unsigned int)keep[i] - 1, 0);
		from = (unsigned int)keep[i] + 1;
	}
	close_range(from, ~0u, 0);

	msg[0] = '\0';
	if (snap_fdkind_restore_prepare(img, &kinds, msg, sizeof(msg)) < 0)
		die(c, "%s", msg[0] ? msg : "cannot prepare the fds");
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct snap_rec_fd *f = &img->fds[i];
		int fd;

		if (f->kind == SNAP_FD_STDIO) {
			if (fcntl(f->fd, F_SETFD, (f->flags & SNAP_FD_CLOEXEC) ? FD_CLOEXEC : 0) < 0)
				die(c, "fd %d: the restoring command has no fd %d to give it (keep stdin/stdout/stderr open)",
				    f->fd, f->fd);
			continue;
		}
		if (f->same_as >= 0) {
			fd = fcntl(img->fds[f->same_as].fd, F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				die(c, "fd %d: cannot share fd %d: %s", f->fd, img->fds[f->same_as].fd, strerror(errno));
		} else if (f->kind == SNAP_FD_FILE || f->kind == SNAP_FD_DEVICE) {
			fd = reopen_fd(c, f);
		} else if (f->kind == SNAP_FD_READY) {
			/* The process is told it was restored on its readiness fd. */
			int p2[2];
			if (pipe2(p2, O_CLOEXEC) < 0 || write(p2[1], SNAP_RESTORED_LINE, strlen(SNAP_RESTORED_LINE)) < 0)
				die(c, "fd %d: cannot prepare the readiness answer: %s", f->fd, strerror(errno));
			close(p2[1]);
			fd = p2[0];
		} else if (f->kind == SNAP_FD_MEMFD) {
			fd = fcntl(c->object_fds[f->object], F_DUPFD_CLOEXEC, 0);
			if (fd < 0)
				die(c, "fd %d: cannot open its memfd again: %s", f->fd, strerror(errno));
		} else {
			fd = snap_fdkind_restore_open(kinds, f, msg, sizeof(msg));
			if (fd < 0)
				die(c, "fd %d: %s", f->fd, msg[0] ? msg : strerror(-fd));
		}
		place_fd(c, fd, f);
	}
	if (snap_fdkind_restore_finish(kinds, msg, sizeof(msg)) < 0)
		die(c, "%s", msg[0] ? msg : "cannot finish the fds");
	snap_fdkind_restore_free(kinds);
}

void snap_restore_child(const struct snap_image *img, const char *dir, int report_fd, int pages_fd,
			const struct restore_child_opts *opts)
{
	struct child c = { .img = img, .report_fd = report_fd, .opts = opts, .uffd = -1 };
	const struct snap_rec_process *p = &img->process;
	size_t blob_len = (size_t)(_binary_restorer_bin_end - _binary_restorer_bin_start);
	uint64_t premap_size = 0, park_size = 0, args_size, blob_size, thread_stacks, total, base, at, loaded = 0;
	struct restorer_args *args;
	struct restorer_move *moves;
	struct snap_codec *codec;
	uint32_t nr_moves = 0, chunk = 0;
	uint8_t *pages;
	int exe_fd = -1, r;

	(void)dir;
	/* Lazy: no transparent huge pages until the blob has registered the
	 * lazy memory. A write to one page (an eager chunk, a thread's rseq
	 * area) would otherwise fill a whole 2 MiB with zeros, which the page
	 * server then finds present and cannot fill. The blob clears it. */
	if (opts->lazy && prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0) < 0)
		die(&c, "cannot hold transparent huge pages off during a lazy restore: %s (restore with --eager)",
		    strerror(errno));
	r = snap_maps_read(0, "/proc/self/maps", &c.cur, &c.nr_cur);
	if (r < 0)
		die(&c, "cannot read /proc/self/maps: %s", strerror(-r));

	for (uint32_t i = 0; i < img->nr_vmas; i++) {
		const struct snap_rec_vma *v = &img->vmas[i];
		if (v->kind == SNAP_VMA_ANON || v->kind == SNAP_VMA_FILE || v->kind == SNAP_VMA_SHARED_FILE ||
		    v->kind == SNAP_VMA_SHMEM) {
			premap_size += v->end - v->start + PAGE;
			nr_moves++;
		}
	}
	for (size_t i = 0; i < c.nr_cur; i++)
		if (is_special(&c.cur[i]))
			park_size += c.cur[i].end - c.cur[i].start;
	uint64_t nr_queue = img->process.shared_pending_count;
	for (uint32_t i = 0; i < img->nr_threads; i++)
		nr_queue += img->threads[i].pending_count;
	args_size = ALIGN_UP(sizeof(*args) + (uint64_t)nr_moves * sizeof(*moves) +
				     (uint64_t)img->nr_threads * sizeof(struct restorer_thread) +
				     nr_queue * sizeof(struct restorer_sigqueue) +
				     (uint64_t)img->nr_vmas * sizeof(struct restorer_range),
			     PAGE);
	blob_size = ALIGN_UP(blob_len, PAGE);
	thread_stacks = (uint64_t)img->nr_threads * RESTORER_THREAD_STACK;
	total = premap_size + park_size + blob_size + args_size + BLOB_STACK + thread_stacks;

	base = find_hole(&c, total);
	if (!base)
		die(&c, "no room in the address space for %llu bytes of restore area",
		    (unsigned long long)total);
	if (mmap((void *)base, total, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1,
		 0) == MAP_FAILED)
		die(&c, "cannot reserve the restore area at %#llx: %s", (unsigned long long)base, strerror(errno));

	uint8_t *blob = (uint8_t *)(base + premap_size + park_size);
	args = (struct restorer_args *)(blob + blob_size);
	if (mmap(args, args_size + BLOB_STACK + thread_stacks, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die(&c, "cannot map the restorer's arguments: %s", strerror(errno));
	moves = (struct restorer_move *)((char *)args + sizeof(*args));
	args->moves_off = sizeof(*args);
	args->threads_off = sizeof(*args) + (uint64_t)nr_moves * sizeof(*moves);
	args->sigqueue_off = args->threads_off + (uint64_t)img->nr_threads * sizeof(struct restorer_thread);
	args->register_off = args->sigqueue_off + nr_queue * sizeof(struct restorer_sigqueue);
	args->uffd = -1;
	if (opts->lazy) {
		/* Anonymous memory will fault to the page server: a userfaultfd
		 * of this process, registered by the blob once memory is in place. */
		struct uffdio_api api = { .api = UFFD_API, .features = SNAP_LAZY_UFFD_FEATURES };
		c.uffd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
		if (c.uffd < 0)
			die(&c, "cannot create a userfaultfd for lazy restore: %s (restore with --eager)",
			    strerror(-c.uffd));
		r = sys_uffd_api(c.uffd, &api);
		if (r < 0)
			die(&c, "userfaultfd lacks the events lazy restore needs: %s (restore with --eager)", strerror(-r));
		struct restorer_range *reg = (struct restorer_range *)((char *)args + args->register_off);
		for (uint32_t i = 0; i < img->nr_vmas; i++)
			if (img->vmas[i].kind == SNAP_VMA_ANON && !(img->vmas[i].flags & SNAP_VMA_LOCKED))
				reg[args->nr_register++] = (struct restorer_range){
					img->vmas[i].start, img->vmas[i].end - img->vmas[i].start };
	}

	/* Memory: premap every mapping and fill it from the chunks. */
	pages = mmap(NULL, p->pages_size, PROT_READ, MAP_PRIVATE, pages_fd, 0);
	if (pages == MAP_FAILED)
		die(&c, "cannot map the pages file: %s", strerror(errno));
	r = snap_codec_new(&codec);
	if (r < 0)
		die(&c, "cannot set up zstd");
	if (opts->lazy) {
		/* Filled now even when lazy: the working set's early chunks, and
		 * each thread's rseq area, which the kernel writes as the blob
		 * registers it, before the page server runs. */
		c.eager = calloc(img->nr_chunks + 1, 1);
		if (!c.eager)
			die(&c, "out of memory");
		for (uint32_t i = 0; opts->eager && i < img->nr_chunks; i++)
			c.eager[i] = opts->eager[i];
		for (uint32_t t = 0; t < img->nr_threads; t++) {
			const struct snap_rec_thread *th = &img->threads[t];
			if (!th->rseq_len)
				continue;
			for (uint32_t i = 0; i < img->nr_chunks && img->chunks[i].object == 0; i++) {
				uint64_t s0 = img->chunks[i].vaddr, e0 = s0 + (uint64_t)img->chunks[i].npages * PAGE;
				if (th->rseq_ptr < e0 && th->rseq_ptr + th->rseq_len > s0)
					c.eager[i] = 1;
			}
		}
	}
	make_objects(&c, codec, pages, p->pages_size, &loaded);
	at = base;
	for (uint32_t i = 0; i < img->nr_vmas; i++) {
		const struct snap_rec_vma *v = &img->vmas[i];
		if (v->kind != SNAP_VMA_ANON && v->kind != SNAP_VMA_FILE && v->kind != SNAP_VMA_SHARED_FILE &&
		    v->kind != SNAP_VMA_SHMEM)
			continue;
		uint8_t *dst = premap_vma(&c, v, at);
		fill_vma(&c, codec, pages, p->pages_size, v, dst, &chunk, &loaded);
		if (mprotect(dst, v->end - v->start, (int)v->prot) < 0)
			die(&c, "cannot protect %#llx: %s", (unsigned long long)v->start, strerror(errno));
		apply_advice(&c, v, dst);
		moves[args->nr_moves++] = (struct restorer_move){ at, v->start, v->end - v->start };
		at += v->end - v->start + PAGE;
	}
	snap_codec_free(codec);
	munmap(pages, p->pages_size);
	close(pages_fd);
	args->premap = (struct restorer_range){ base, premap_size + park_size };
	args->park = base + premap_size;

	/* vDSO and vvar: same names, same sizes, moved to the saved places. */
	for (size_t i = 0; i < c.nr_cur; i++) {
		const struct snap_map *m = &c.cur[i];
		const struct snap_rec_vma *t = NULL;
		if (!is_special(m))
			continue;
		for (uint32_t k = 0; k < img->nr_vmas; k++)
			if (!strcmp(snap_image_string(img, img->vmas[k].name), m->path))
				t = &img->vmas[k];
		if (!t || t->end - t->start != m->end - m->start || args->nr_special == RESTORER_MAX_SPECIAL)
			die(&c, "this kernel's %s does not match the snapshot's (a different kernel?)", m->path);
		args->special[args->nr_special++] = (struct restorer_move){ m->start, t->start, m->end - m->start };
	}

	/* Everything of ours outside the restore area and vDSO/vvar goes. */
	{
		struct interval keep[RESTORER_MAX_SPECIAL + 1];
		size_t nk = 0;
		uint64_t cursor = 0;
		keep[nk++] = (struct interval){ base, base + total };
		for (uint32_t i = 0; i < args->nr_special; i++)
			keep[nk++] = (struct interval){ args->special[i].from, args->special[i].from + args->special[i].len };
		qsort(keep, nk, sizeof(keep[0]), cmp_interval);
		for (size_t i = 0; i < nk; i++) {
			if (keep[i].start > cursor)
				args->unmap[args->nr_unmap++] = (struct restorer_range){ cursor, keep[i].start - cursor };
			cursor = keep[i].end;
		}
		if (cursor < TASK_TOP)
			args->unmap[args->nr_unmap++] = (struct restorer_range){ cursor, TASK_TOP - cursor };
	}

	/* Process attributes that are safe to set from here. */
	umask((mode_t)p->umask);
	if (chdir(snap_image_string(img, p->cwd)) < 0)
		die(&c, "cannot enter the working directory %s: %s", snap_image_string(img, p->cwd), strerror(errno));
	if (personality(p->personality) < 0)
		die(&c, "cannot set personality %#x: %s", p->personality, strerror(errno));
	prctl(PR_SET_NAME, img->threads[0].comm, 0, 0, 0);

	if (p->exe_file >= 0) {
		const char *exe = snap_image_string(img, img->files[p->exe_file].path);
		exe_fd = open(exe, O_RDONLY | O_CLOEXEC);
		if (exe_fd < 0)
			die(&c, "%s: %s", exe, strerror(errno));
	}
	rebuild_fds(&c, &exe_fd);
	args->uffd = c.uffd;
	for (uint32_t k = 0; k < img->nr_objects; k++) {
		if (img->objects[k].seals && fcntl(c.object_fds[k], F_ADD_SEALS, (int)img->objects[k].seals) < 0)
			die(&c, "cannot seal memfd %s: %s", snap_image_string(img, img->objects[k].name), strerror(errno));
		close(c.object_fds[k]);
	}

	/* The blob's arguments: mm fields, signals, thread registrations. */
	args->mm = (struct prctl_mm_map){
		.start_code = p->start_code, .end_code = p->end_code, .start_data = p->start_data,
		.end_data = p->end_data, .start_brk = p->start_brk, .brk = p->brk, .start_stack = p->start_stack,
		.arg_start = p->arg_start, .arg_end = p->arg_end, .env_start = p->env_start, .env_end = p->env_end,
		.auxv_size = p->auxv_count * 16, .exe_fd = (uint32_t)exe_fd,
	};
	memcpy(args->auxv, p->auxv, (size_t)p->auxv_count * 16);
	for (int sig = 1; sig <= SNAP_NSIG; sig++) {
		if (sig == 9 || sig == 19)
			continue;
		args->sigactions[sig - 1].handler = p->sigactions[sig - 1].handler;
		args->sigactions[sig - 1].flags = p->sigactions[sig - 1].flags;
		args->sigactions[sig - 1].restorer = p->sigactions[sig - 1].restorer;
		args->sigactions[sig - 1].mask = p->sigactions[sig - 1].mask;
		args->sigaction_set |= 1ull << (sig - 1);
	}
	struct restorer_thread *threads = (struct restorer_thread *)((char *)args + args->threads_off);
	uint64_t stacks = (uint64_t)(uintptr_t)args + args_size + BLOB_STACK;
	args->nr_threads = img->nr_threads;
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct snap_rec_thread *t = &img->threads[i];
		struct restorer_thread *rt = &threads[i];
		rt->tid = t->tid;
		if (!(t->altstack_flags & 2 /* SS_DISABLE */)) {
			rt->altstack_set = 1;
			rt->altstack_sp = t->altstack_sp;
			rt->altstack_size = t->altstack_size;
			rt->altstack_flags = (int32_t)t->altstack_flags;
		}
		rt->rseq_ptr = t->rseq_ptr;
		rt->rseq_len = t->rseq_len;
		rt->rseq_sig = t->rseq_sig;
		rt->robust_head = t->robust_head;
		rt->robust_len = t->robust_len;
		rt->clear_child_tid = t->clear_child_tid;
		rt->stack_top = stacks + (uint64_t)(i + 1) * RESTORER_THREAD_STACK;
	}
	/* Pending signals: the process's first, then each thread's. */
	struct restorer_sigqueue *q = (struct restorer_sigqueue *)((char *)args + args->sigqueue_off);
	for (uint32_t i = 0; i <= img->nr_threads; i++) {
		uint64_t off = i == 0 ? p->shared_pending_off : img->threads[i - 1].pending_off;
		uint32_t count = i == 0 ? p->shared_pending_count : img->threads[i - 1].pending_count;
		for (uint32_t k = 0; k < count; k++) {
			struct restorer_sigqueue *e = &q[args->nr_sigqueue++];
			memcpy(e->info, img->blobs + off + (uint64_t)k * SNAP_SIGINFO_SIZE, SNAP_SIGINFO_SIZE);
			memcpy(&e->sig, e->info, sizeof(int32_t)); /* si_signo comes first */
			e->tid = i == 0 ? 0 : img->threads[i - 1].tid;
		}
	}
	for (int w = 0; w < 3; w++) {
		if (!p->itimers[w].value_us)
			continue;
		args->itimers[w][0] = p->itimers[w].interval_us / 1000000;
		args->itimers[w][1] = p->itimers[w].interval_us % 1000000;
		args->itimers[w][2] = p->itimers[w].value_us / 1000000;
		args->itimers[w][3] = p->itimers[w].value_us % 1000000;
		args->itimer_set |= 1u << w;
	}
	if (__rseq_size) {
		args->self_rseq_ptr = (uint64_t)(uintptr_t)((char *)__builtin_thread_pointer() + __rseq_offset);
		args->self_rseq_len = __rseq_size < 32 ? 32 : __rseq_size;
		args->self_rseq_sig = 0x53053053; /* RSEQ_SIG on x86 */
	}
	args->exe_fd = exe_fd;
	args->err_fd = c.report_fd;

	/* The blob itself. */
	if (mmap(blob, blob_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED)
		die(&c, "cannot map the restorer: %s", strerror(errno));
	memcpy(blob, _binary_restorer_bin_start, blob_len);
	if (mprotect(blob, blob_size, PROT_READ | PROT_EXEC) < 0)
		die(&c, "cannot make the restorer executable: %s", strerror(errno));

	struct {
		char type;
		struct restore_msg_blob b;
	} __attribute__((packed)) msg = { RESTORE_MSG_BLOB, { (uint64_t)(uintptr_t)blob,
							     blob_size + args_size + BLOB_STACK + thread_stacks, loaded,
							     c.uffd, 0 } };
	if (write(c.report_fd, &msg, sizeof(msg)) != (ssize_t)sizeof(msg))
		_exit(127);
	free(c.cur);

	uint64_t sp = (uint64_t)(uintptr_t)args + args_size + BLOB_STACK - 8;
	__asm__ volatile("mov %0, %%rsp\n\t"
			 "jmp *%1\n\t"
			 :
			 : "r"(sp), "r"(blob), "D"(args)
			 : "memory");
	__builtin_unreachable();
}
