/* memory.c — reads a frozen process's pages (pagemap says which exist)
 * and writes them as chunks through an io backend. Reads the target only;
 * a failure here never touches it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "checksum.h"
#include "codec.h"
#include "ctx.h"
#include "image.h"
#include "io.h"
#include "memory.h"
#include "precopy.h"
#include "sys.h"

#define PM_PRESENT (1ull << 63)
#define PM_SWAPPED (1ull << 62)
#define PM_FILE (1ull << 61)

#define STAGING_BYTES (4u << 20)
#define PAGEMAP_BATCH 65536 /* entries read at once */
#define MAX_IOV 1024

struct out {
	const struct snap_io_ops *ops;
	struct snap_io *io;
	uint8_t *buf;
	size_t fill;
	uint64_t base;      /* file offset of buf[0] */
};

struct dumper {
	struct snap_ctx *ctx;
	pid_t pid;
	int pagemap_fd, mem_fd;
	struct snap_image *img;
	struct out out;
	struct snap_memory_stats stats;
	/* pages waiting to be read: runs of neighbouring pages */
	uint8_t *staging;
	struct iovec remote[MAX_IOV];
	int nremote;
	size_t staged;      /* bytes */
	const struct snap_rec_vma *vma;
	uint32_t object;            /* 0: process memory; k: object k - 1 */
	const struct snap_precopy *precopy;
	int object_fd;
	/* chunks of the staged batch, compressed by every worker in parallel */
	struct job *jobs;
	uint32_t nr_jobs;
	uint8_t *compressed;        /* job output at the same offset as its input */
	struct workers *workers;
};

struct job {
	const uint8_t *src;
	uint64_t vaddr;
	uint32_t npages;
	int encoding;               /* SNAP_CHUNK_* or -errno */
	size_t stored;
};

/* Compression runs on every CPU (the capture is CPU-bound: zstd is the
 * slowest stage); jobs are taken from a shared counter. */
#define MAX_WORKERS 8

struct workers {
	pthread_mutex_t lock;
	pthread_cond_t wake, done;
	pthread_t threads[MAX_WORKERS];
	struct snap_codec *codecs[MAX_WORKERS + 1];
	int nthreads;
	uint64_t generation;        /* bumped per batch */
	int busy;                   /* threads still working on this batch */
	bool stop;
	struct dumper *d;
	uint32_t next;              /* next job index, taken atomically */
	struct worker_arg {
		struct workers *w;
		int index;
	} args[MAX_WORKERS];
};

static int io_error(struct dumper *d, int r)
{
	if (r == -ENOSPC || r == -EDQUOT)
		return snap_err(d->ctx, r, "writing the pages file: %s (free some space or choose another --out)",
				strerror(-r));
	return snap_err(d->ctx, r, "writing the pages file: %s", strerror(-r));
}

static int out_flush(struct dumper *d)
{
	struct out *o = &d->out;
	int r;

	if (o->fill == 0)
		return 0;
	r = o->ops->submit(o->io, o->buf, o->fill, o->base);
	o->base += o->fill;
	o->fill = 0;
	o->buf = NULL;
	if (r == 0)
		r = o->ops->get_buffer(o->io, (void **)&o->buf);
	if (r < 0)
		return io_error(d, r);
	return 0;
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;

	for (size_t i = 0; i < SNAP_PAGE_SIZE / 8; i += 8)
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
	return acc == 0;
}

static void compress_jobs(struct dumper *d, struct snap_codec *codec)
{
	struct workers *w = d->workers;

	for (;;) {
		uint32_t i = __atomic_fetch_add(&w->next, 1, __ATOMIC_RELAXED);
		if (i >= d->nr_jobs)
			break;
		struct job *j = &d->jobs[i];
		size_t len = (size_t)j->npages * SNAP_PAGE_SIZE;
		uint8_t *out = d->compressed + (j->src - d->staging);
		j->encoding = snap_codec_compress(codec, j->src, len, out, len, &j->stored);
	}
}

static void *worker_main(void *arg)
{
	struct worker_arg *a = arg;
	struct workers *w = a->w;
	int self = a->index;
	uint64_t seen = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && w->generation == seen)
			pthread_cond_wait(&w->wake, &w->lock);
		if (w->stop)
			break;
		seen = w->generation;
		pthread_mutex_unlock(&w->lock);
		compress_jobs(w->d, w->codecs[self]);
		pthread_mutex_lock(&w->lock);
		if (--w->busy == 0)
			pthread_cond_signal(&w->done);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static void workers_stop(struct workers *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (int i = 0; i <= MAX_WORKERS; i++)
		snap_codec_free(w->codecs[i]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->wake);
	pthread_cond_destroy(&w->done);
	free(w);
}

/* One worker per CPU besides the calling thread, which works too. */
static int workers_start(struct dumper *d)
{
	struct workers *w = calloc(1, sizeof(*w));
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int want = cpus > 1 ? (int)(cpus - 1) : 0, r;

	if (!w)
		return -ENOMEM;
	if (want > MAX_WORKERS)
		want = MAX_WORKERS;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->wake, NULL);
	pthread_cond_init(&w->done, NULL);
	w->d = d;
	d->workers = w;
	r = snap_codec_new(&w->codecs[MAX_WORKERS]);
	for (int i = 0; i < want && r == 0; i++)
		r = snap_codec_new(&w->codecs[i]);
	if (r < 0)
		return r;
	for (int i = 0; i < want; i++) {
		w->args[i] = (struct worker_arg){ w, i };
		if (pthread_create(&w->threads[i], NULL, worker_main, &w->args[i]) != 0)
			break; /* fewer workers: still correct */
		w->nthreads = i + 1;
	}
	return 0;
}

static int emit_job(struct dumper *d, const struct job *j)
{
	struct out *o = &d->out;
	struct snap_rec_chunk *c;
	size_t len = (size_t)j->npages * SNAP_PAGE_SIZE, stored = j->stored, pad = 0;
	int r;

	if (j->encoding < 0)
		return snap_err(d->ctx, j->encoding, "zstd failed to compress memory at %#llx",
				(unsigned long long)j->vaddr);
	if (SNAP_IO_BUFFER_SIZE - o->fill < len + SNAP_PAGE_SIZE) {
		r = out_flush(d);
		if (r < 0)
			return r;
	}
	uint8_t *start = o->buf + o->fill;
	if (j->encoding == SNAP_CHUNK_RAW) {
		/* Raw chunks sit page-aligned in the file so they can be mapped. */
		pad = (size_t)(-(o->base + o->fill) & (SNAP_PAGE_SIZE - 1));
		memset(start, 0, pad);
		memcpy(start + pad, j->src, len);
		stored = len;
	} else {
		memcpy(start, d->compressed + (j->src - d->staging), stored);
	}
	r = snap_image_add_chunk(d->img, &c);
	if (r < 0)
		return snap_err(d->ctx, r, "out of memory for the chunk index");
	c->vaddr = j->vaddr;
	c->npages = j->npages;
	c->encoding = (uint32_t)j->encoding;
	c->offset = o->base + o->fill + pad;
	c->stored_len = stored;
	c->crc = snap_crc32c(0, start, pad + stored);
	c->object = d->object;
	o->fill += pad + stored;
	d->stats.chunks++;
	d->stats.bytes_memory += len;
	d->stats.bytes_stored += stored;
	return 0;
}

static void add_job(struct dumper *d, uint64_t vaddr, const uint8_t *src, uint32_t npages)
{
	d->jobs[d->nr_jobs++] = (struct job){ .src = src, .vaddr = vaddr, .npages = npages };
}

/* Compresses the batch's jobs on every worker and this thread, then writes
 * them out in address order. */
static int run_jobs(struct dumper *d)
{
	struct workers *w = d->workers;
	int r = 0;

	if (d->nr_jobs == 0)
		return 0;
	pthread_mutex_lock(&w->lock);
	w->next = 0;
	w->busy = w->nthreads;
	w->generation++;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	compress_jobs(d, w->codecs[MAX_WORKERS]);
	pthread_mutex_lock(&w->lock);
	while (w->busy > 0)
		pthread_cond_wait(&w->done, &w->lock);
	pthread_mutex_unlock(&w->lock);
	for (uint32_t i = 0; i < d->nr_jobs && r == 0; i++)
		r = emit_job(d, &d->jobs[i]);
	d->nr_jobs = 0;
	return r;
}

/* Cuts the staged runs into chunks: neighbouring non-zero pages, at most
 * SNAP_CHUNK_MAX_PAGES each. Zero pages of anonymous memory are skipped
 * (they read back as zero); in file mappings they differ from the file and
 * are kept. */
static int process_staged(struct dumper *d)
{
	const uint8_t *p = d->staging;
	bool skip_zero = d->object || d->vma->kind == SNAP_VMA_ANON;
	int r;

	for (int i = 0; i < d->nremote; i++) {
		uint64_t addr = (uint64_t)(uintptr_t)d->remote[i].iov_base;
		uint32_t pages = (uint32_t)(d->remote[i].iov_len / SNAP_PAGE_SIZE), run = 0;
		uint64_t run_addr = addr;
		const uint8_t *run_src = p;

		for (uint32_t k = 0; k <= pages; k++) {
			bool keep = k < pages && !(skip_zero && page_is_zero(p + (size_t)k * SNAP_PAGE_SIZE));
			if (k < pages && !keep)
				d->stats.zero_pages++;
			if (keep && run < SNAP_CHUNK_MAX_PAGES) {
				if (run == 0) {
					run_addr = addr + (uint64_t)k * SNAP_PAGE_SIZE;
					run_src = p + (size_t)k * SNAP_PAGE_SIZE;
				}
				run++;
				continue;
			}
			if (run) {
				add_job(d, run_addr, run_src, run);
				run = 0;
			}
			if (keep) {
				run_addr = addr + (uint64_t)k * SNAP_PAGE_SIZE;
				run_src = p + (size_t)k * SNAP_PAGE_SIZE;
				run = 1;
			}
		}
		p += d->remote[i].iov_len;
	}
	r = run_jobs(d);
	d->nremote = 0;
	d->staged = 0;
	return r;
}

static int read_staged(struct dumper *d)
{
	struct iovec local = { d->staging, d->staged };
	ssize_t n = -1;

	if (d->nremote == 0)
		return 0;
	if (d->object) {
		/* a shared memory object: offsets in its file */
		uint8_t *p = d->staging;
		for (int i = 0; i < d->nremote; i++) {
			size_t done = 0;
			while (done < d->remote[i].iov_len) {
				ssize_t m = pread(d->object_fd, p + done, d->remote[i].iov_len - done,
						  (off_t)(uintptr_t)d->remote[i].iov_base + (off_t)done);
				if (m < 0 && errno == EINTR)
					continue;
				if (m < 0)
					return snap_err(d->ctx, -errno, "cannot read shared memory object %u of process %d: %s",
							d->object - 1, (int)d->pid, strerror(errno));
				if (m == 0) { /* past the end: the object shrank; zeros */
					memset(p + done, 0, d->remote[i].iov_len - done);
					break;
				}
				done += (size_t)m;
			}
			p += d->remote[i].iov_len;
		}
		return process_staged(d);
	}
	if (d->precopy) {
		/* pre-copied: the shadow holds each page as it was at the freeze */
		uint8_t *p = d->staging;
		for (int i = 0; i < d->nremote; i++) {
			const uint8_t *src = snap_precopy_page(d->precopy, (uint64_t)(uintptr_t)d->remote[i].iov_base);
			if (!src)
				return snap_err(d->ctx, -EIO, "the pre-copy lacks memory at %p", d->remote[i].iov_base);
			memcpy(p, src, d->remote[i].iov_len);
			p += d->remote[i].iov_len;
		}
		return process_staged(d);
	}
	if (d->vma->prot & PROT_READ)
		n = sys_process_vm_readv(d->pid, &local, 1, d->remote, (unsigned long)d->nremote);
	if (n != (ssize_t)d->staged) {
		/* Unreadable mappings (PROT_NONE with content) or a partial read:
		 * /proc/PID/mem reads through protections. */
		uint8_t *p = d->staging;
		for (int i = 0; i < d->nremote; i++) {
			size_t done = 0;
			while (done < d->remote[i].iov_len) {
				ssize_t m = pread(d->mem_fd, p + done, d->remote[i].iov_len - done,
						  (off_t)(uintptr_t)d->remote[i].iov_base + (off_t)done);
				if (m < 0 && errno == EINTR)
					continue;
				if (m <= 0)
					return snap_err(d->ctx, m < 0 ? -errno : -EIO,
							"cannot read memory at %p of process %d: %s",
							(char *)d->remote[i].iov_base + done, (int)d->pid,
							m < 0 ? strerror(errno) : "short read");
				done += (size_t)m;
			}
			p += d->remote[i].iov_len;
		}
	}
	return process_staged(d);
}

static int stage_run(struct dumper *d, uint64_t addr, uint64_t pages)
{
	int r;

	while (pages) {
		uint64_t room = (STAGING_BYTES - d->staged) / SNAP_PAGE_SIZE, take = pages < room ? pages : room;
		if (take == 0 || d->nremote == MAX_IOV) {
			r = read_staged(d);
			if (r < 0)
				return r;
			continue;
		}
		struct iovec *last = d->nremote ? &d->remote[d->nremote - 1] : NULL;
		if (last && (uint64_t)(uintptr_t)last->iov_base + last->iov_len == addr)
			last->iov_len += take * SNAP_PAGE_SIZE;
		else
			d->remote[d->nremote++] = (struct iovec){ (void *)(uintptr_t)addr, take * SNAP_PAGE_SIZE };
		d->staged += take * SNAP_PAGE_SIZE;
		addr += take * SNAP_PAGE_SIZE;
		pages -= take;
	}
	return 0;
}

static int dump_vma(struct dumper *d, const struct snap_rec_vma *v)
{
	uint64_t *pm;
	uint64_t addr = v->start;
	int r = 0;

	d->vma = v;
	if (d->precopy) {
		uint64_t run_start = 0, run_len = 0;
		for (uint64_t a = v->start; a <= v->end && r == 0; a += SNAP_PAGE_SIZE) {
			if (a < v->end && snap_precopy_page(d->precopy, a)) {
				if (!run_len)
					run_start = a;
				run_len++;
			} else if (run_len) {
				r = stage_run(d, run_start, run_len);
				run_len = 0;
			}
		}
		return r ? r : read_staged(d);
	}
	pm = malloc(PAGEMAP_BATCH * sizeof(uint64_t));
	if (!pm)
		return snap_err(d->ctx, -ENOMEM, "out of memory");
	while (addr < v->end && r == 0) {
		uint64_t n = (v->end - addr) / SNAP_PAGE_SIZE;
		if (n > PAGEMAP_BATCH)
			n = PAGEMAP_BATCH;
		ssize_t got = pread(d->pagemap_fd, pm, n * 8, (off_t)(addr / SNAP_PAGE_SIZE * 8));
		if (got != (ssize_t)(n * 8)) {
			r = snap_err(d->ctx, got < 0 ? -errno : -EIO, "cannot read /proc/%d/pagemap", (int)d->pid);
			break;
		}
		uint64_t run_start = 0, run_len = 0;
		for (uint64_t i = 0; i <= n && r == 0; i++) {
			bool want = false;
			if (i < n) {
				uint64_t e = pm[i];
				if (v->flags & SNAP_VMA_WHOLE)
					want = true; /* its file is gone: read every page */
				else if (v->kind == SNAP_VMA_ANON)
					want = e & (PM_PRESENT | PM_SWAPPED);
				else /* private file page: only copies that differ from the file */
					want = (e & PM_SWAPPED) || ((e & PM_PRESENT) && !(e & PM_FILE));
			}
			if (want) {
				if (!run_len)
					run_start = addr + i * SNAP_PAGE_SIZE;
				run_len++;
			} else if (run_len) {
				r = stage_run(d, run_start, run_len);
				run_len = 0;
			}
		}
		addr += n * SNAP_PAGE_SIZE;
	}
	if (r == 0)
		r = read_staged(d);
	free(pm);
	return r;
}

/* A shared memory object: the pages it has (SEEK_DATA), whoever maps them. */
static int dump_object(struct dumper *d, uint32_t index)
{
	const struct snap_rec_object *o = &d->img->objects[index];
	const char *source = d->img->object_sources[index];
	off_t pos = 0, end;
	int r = 0;

	d->object = index + 1;
	d->vma = NULL;
	d->object_fd = open(source, O_RDONLY | O_CLOEXEC);
	if (d->object_fd < 0)
		return snap_err(d->ctx, -errno, "cannot open shared memory object %u of process %d (%s): %s", index,
				(int)d->pid, source, strerror(errno));
	while (r == 0 && (uint64_t)pos < o->size) {
		pos = lseek(d->object_fd, pos, SEEK_DATA);
		if (pos < 0)
			break; /* ENXIO: no data past pos */
		end = lseek(d->object_fd, pos, SEEK_HOLE);
		if (end < 0 || (uint64_t)end > o->size)
			end = (off_t)o->size;
		pos &= ~(off_t)(SNAP_PAGE_SIZE - 1);
		end = (end + SNAP_PAGE_SIZE - 1) & ~(off_t)(SNAP_PAGE_SIZE - 1);
		if ((uint64_t)end > o->size)
			end = (off_t)o->size;
		if (end > pos)
			r = stage_run(d, (uint64_t)pos, (uint64_t)(end - pos) / SNAP_PAGE_SIZE);
		pos = end;
	}
	if (r == 0)
		r = read_staged(d);
	close(d->object_fd);
	d->object_fd = -1;
	d->object = 0;
	return r;
}

int snap_memory_dump(struct snap_ctx *ctx, pid_t pid, struct snap_image *img, const struct snap_io_ops *io_ops,
		     int fd, const struct snap_precopy *precopy, struct snap_memory_stats *ret_stats)
{
	struct dumper d = { .ctx = ctx, .pid = pid, .img = img, .pagemap_fd = -1, .mem_fd = -1, .precopy = precopy };
	struct snap_pages_header h;
	char path[64];
	int r;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)pid);
	d.pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	d.mem_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (d.pagemap_fd < 0 || d.mem_fd < 0) {
		r = snap_err(ctx, -errno, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	d.staging = mmap(NULL, STAGING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d.staging == MAP_FAILED) {
		d.staging = NULL;
		r = snap_err(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	d.jobs = malloc((STAGING_BYTES / SNAP_PAGE_SIZE) * sizeof(*d.jobs));
	d.compressed = mmap(NULL, STAGING_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!d.jobs || d.compressed == MAP_FAILED) {
		d.compressed = NULL;
		r = snap_err(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	r = workers_start(&d);
	if (r < 0) {
		snap_err(ctx, r, "cannot set up zstd workers");
		goto out;
	}
	d.out.ops = io_ops;
	r = io_ops->open(fd, &d.out.io);
	if (r < 0) {
		snap_err(ctx, r, "cannot set up %s writes: %s", io_ops->name, strerror(-r));
		goto out;
	}
	r = io_ops->get_buffer(d.out.io, (void **)&d.out.buf);
	if (r < 0) {
		io_error(&d, r);
		goto close_io;
	}
	snap_pages_header_init(&h, img->uuid);
	memcpy(d.out.buf, &h, sizeof(h));
	d.out.fill = sizeof(h);

	for (uint32_t i = 0; i < img->nr_vmas && r == 0; i++) {
		const struct snap_rec_vma *v = &img->vmas[i];
		d.stats.bytes_virtual += v->end - v->start;
		if (v->kind == SNAP_VMA_ANON || v->kind == SNAP_VMA_FILE)
			r = dump_vma(&d, v);
	}
	for (uint32_t i = 0; i < img->nr_objects && r == 0; i++)
		r = dump_object(&d, i);
	if (r == 0)
		r = out_flush(&d);
	if (r == 0) {
		r = io_ops->drain(d.out.io);
		if (r < 0)
			io_error(&d, r);
	}
close_io:
	io_ops->close(d.out.io);
	if (r == 0) {
		img->process.pages_size = d.out.base;
		img->process.pages_header_crc = h.crc;
		*ret_stats = d.stats;
	}
out:
	workers_stop(d.workers);
	free(d.jobs);
	if (d.compressed)
		munmap(d.compressed, STAGING_BYTES);
	if (d.staging)
		munmap(d.staging, STAGING_BYTES);
	if (d.pagemap_fd >= 0)
		close(d.pagemap_fd);
	if (d.mem_fd >= 0)
		close(d.mem_fd);
	return r;
}
