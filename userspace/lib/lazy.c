/* lazy.c — lazy restore's page server: answers userfaultfd faults of the
 * restored process (and of the children it forks) from the snapshot's
 * chunks, prefetches the rest in working-set order, and records first
 * touches. Never copies a chunk that failed its checksum: the process is
 * killed instead, and the log says why. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "checksum.h"
#include "codec.h"
#include "compat.h"
#include "ctx.h"
#include "freeze.h"
#include "image.h"
#include "lazy.h"
#include "sys.h"

#define PAGE SNAP_PAGE_SIZE
#define CACHE_SLOTS 64       /* decompressed chunks kept: 16 MiB */
#define PREFETCH_BATCH 8     /* chunks between two looks at the fault queue */
#define MAX_CLIENTS 64
#define AHEAD_SLOTS 4        /* chunks the decompression thread may hold ready */

struct region {
	uint64_t cur, end;  /* where it is now */
	uint64_t orig;      /* where it was in the snapshot */
};

/* A process whose memory we serve: the restored one, or a child it forked. */
struct client {
	int uffd;
	bool dead;
	struct region *regions;
	uint32_t nr_regions;
	uint8_t *done;            /* bit per stored page: in, or no longer wanted */
	uint64_t pending;         /* stored pages not yet done */
	uint32_t cursor;          /* prefetch position in the server's order */
};

/* The decompression thread: checks and decompresses the chunks the
 * server will want next (the next of a sequential run of faults, the next
 * in prefetch order) while the server copies the current one. It only
 * fills its own buffers; the server adopts one when it reaches that chunk. */
enum { AHEAD_FREE, AHEAD_QUEUED, AHEAD_BUSY, AHEAD_READY, AHEAD_BAD };

struct ahead {
	bool running, stop;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t work, done;
	struct snap_codec *codec;
	struct { int32_t chunk; int state; uint8_t *buf; } slot[AHEAD_SLOTS];
	uint32_t next_victim;
};

struct server {
	const struct snap_image *img;
	const uint8_t *pages;
	uint64_t pages_size;
	uint32_t nr_chunks;       /* memory chunks (object 0) of anonymous mappings */
	uint64_t *first_page;     /* per chunk: index of its first page among stored pages */
	uint64_t total_pages;
	uint8_t *verified;        /* per chunk */
	struct snap_codec *codec;
	struct { int32_t chunk; uint8_t *buf; } cache[CACHE_SLOTS];
	uint32_t cache_next;
	struct ahead ahead;
	int32_t last_fault_chunk;
	struct client clients[MAX_CLIENTS];
	uint32_t nr_clients;
	uint32_t *order;          /* prefetch order: working set, then every chunk */
	uint32_t nr_order;
	FILE *log;
	pid_t pid;
	int pidfd;
	uint64_t start_ns;
	/* recording */
	bool record;
	uint32_t early_ms;
	uint32_t *touched;
	uint32_t nr_touched, nr_early;
	uint8_t *touched_mark;
	const char *dir;
	/* statistics */
	uint64_t faults, zero_faults, bytes_copied, bytes_prefetched;
	uint64_t skipped_present, skipped_gone; /* pages found filled, or no longer registered */
	bool complete, verbose;
};

static void slog(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(struct server *s, const char *fmt, ...)
{
	va_list ap;

	fprintf(s->log, "snapctl page server [pid %d]: ", (int)s->pid);
	va_start(ap, fmt);
	vfprintf(s->log, fmt, ap);
	va_end(ap);
	fputc('\n', s->log);
	fflush(s->log);
}

/* Chunks the restore left to the server: anonymous, not mlock'ed. */
static bool anon_chunk(const struct snap_image *img, const struct snap_rec_chunk *c)
{
	for (uint32_t v = 0; v < img->nr_vmas; v++)
		if (c->vaddr >= img->vmas[v].start && c->vaddr < img->vmas[v].end)
			return img->vmas[v].kind == SNAP_VMA_ANON && !(img->vmas[v].flags & SNAP_VMA_LOCKED);
	return false;
}

/* Chunk whose pages include orig, or -1. Memory chunks are sorted. */
static int32_t find_chunk(const struct server *s, uint64_t orig)
{
	uint32_t lo = 0, hi = s->nr_chunks;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const struct snap_rec_chunk *c = &s->img->chunks[mid];
		if (orig < c->vaddr)
			hi = mid;
		else if (orig >= c->vaddr + (uint64_t)c->npages * PAGE)
			lo = mid + 1;
		else
			return (int32_t)mid;
	}
	return -1;
}

static bool translate_to_orig(const struct client *c, uint64_t cur, uint64_t *orig)
{
	for (uint32_t i = 0; i < c->nr_regions; i++)
		if (cur >= c->regions[i].cur && cur < c->regions[i].end) {
			*orig = c->regions[i].orig + (cur - c->regions[i].cur);
			return true;
		}
	return false;
}

static bool translate_to_cur(const struct client *c, uint64_t orig, uint64_t *cur, uint64_t *room)
{
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		const struct region *r = &c->regions[i];
		if (orig >= r->orig && orig < r->orig + (r->end - r->cur)) {
			*cur = r->cur + (orig - r->orig);
			*room = r->end - *cur;
			return true;
		}
	}
	return false;
}

static bool page_done(const struct client *c, uint64_t idx)
{
	return c->done[idx / 8] & (1u << (idx % 8));
}

static void mark_done(struct client *c, uint64_t idx)
{
	if (!page_done(c, idx)) {
		c->done[idx / 8] |= (uint8_t)(1u << (idx % 8));
		c->pending--;
	}
}

/* Whether chunk i's stored bytes match its checksum (which covers the
 * file from the previous chunk's end). Reads only: safe from any thread. */
static bool chunk_sound(const struct server *s, uint32_t i)
{
	const struct snap_rec_chunk *c = &s->img->chunks[i];
	uint64_t from = i ? s->img->chunks[i - 1].offset + s->img->chunks[i - 1].stored_len
			  : sizeof(struct snap_pages_header);

	return c->offset + c->stored_len <= s->pages_size && from <= c->offset &&
	       snap_crc32c(0, s->pages + from, c->offset + c->stored_len - from) == c->crc;
}

/* Chunk i's decompressed pages in the cache, or NULL. */
static uint8_t *cache_find(const struct server *s, uint32_t i)
{
	for (uint32_t k = 0; k < CACHE_SLOTS; k++)
		if (s->cache[k].buf && s->cache[k].chunk == (int32_t)i)
			return s->cache[k].buf;
	return NULL;
}

static void *ahead_main(void *arg)
{
	struct server *s = arg;
	struct ahead *a = &s->ahead;

	pthread_mutex_lock(&a->lock);
	for (;;) {
		int k = -1;
		for (int j = 0; j < AHEAD_SLOTS && k < 0; j++)
			if (a->slot[j].state == AHEAD_QUEUED)
				k = j;
		if (k < 0) {
			if (a->stop)
				break;
			pthread_cond_wait(&a->work, &a->lock);
			continue;
		}
		uint32_t i = (uint32_t)a->slot[k].chunk;
		const struct snap_rec_chunk *c = &s->img->chunks[i];
		a->slot[k].state = AHEAD_BUSY;
		pthread_mutex_unlock(&a->lock);
		bool ok = chunk_sound(s, i) && snap_codec_decompress(a->codec, s->pages + c->offset, c->stored_len,
								     a->slot[k].buf, (uint64_t)c->npages * PAGE) == 0;
		pthread_mutex_lock(&a->lock);
		a->slot[k].state = ok ? AHEAD_READY : AHEAD_BAD;
		pthread_cond_broadcast(&a->done);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void ahead_start(struct server *s)
{
	struct ahead *a = &s->ahead;

	if (snap_codec_new(&a->codec) < 0)
		return;
	for (int k = 0; k < AHEAD_SLOTS; k++) {
		a->slot[k].chunk = -1;
		a->slot[k].buf = malloc((size_t)SNAP_CHUNK_MAX_PAGES * PAGE);
		if (!a->slot[k].buf)
			return;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->work, NULL);
	pthread_cond_init(&a->done, NULL);
	a->running = pthread_create(&a->thread, NULL, ahead_main, s) == 0;
}

static void ahead_stop(struct server *s)
{
	struct ahead *a = &s->ahead;

	if (!a->running)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_broadcast(&a->work);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	a->running = false;
}

/* Asks the thread for chunk i, unless it is raw, cached, or asked for. */
static void ahead_post(struct server *s, uint32_t i)
{
	struct ahead *a = &s->ahead;
	int k = -1;

	if (!a->running || i >= s->nr_chunks || s->img->chunks[i].encoding == SNAP_CHUNK_RAW || cache_find(s, i))
		return;
	pthread_mutex_lock(&a->lock);
	for (int j = 0; j < AHEAD_SLOTS; j++)
		if (a->slot[j].chunk == (int32_t)i && a->slot[j].state != AHEAD_FREE)
			goto out;
	for (int j = 0; j < AHEAD_SLOTS && k < 0; j++)
		if (a->slot[j].state == AHEAD_FREE)
			k = j;
	/* all taken: the oldest finished one goes (never one at work) */
	for (uint32_t n = 0; n < AHEAD_SLOTS && k < 0; n++) {
		uint32_t j = a->next_victim++ % AHEAD_SLOTS;
		if (a->slot[j].state == AHEAD_READY || a->slot[j].state == AHEAD_BAD || a->slot[j].state == AHEAD_QUEUED)
			k = (int)j;
	}
	if (k >= 0) {
		a->slot[k].chunk = (int32_t)i;
		a->slot[k].state = AHEAD_QUEUED;
		pthread_cond_signal(&a->work);
	}
out:
	pthread_mutex_unlock(&a->lock);
}

/* Chunk i from the thread: 1 when its buffer is now in cache slot `slot`
 * (the slot's old buffer, allocated by the caller, goes to the thread), 0 when the thread does not
 * have it (the server decompresses it itself), -1 when it is corrupt. */
static int ahead_take(struct server *s, uint32_t i, uint32_t slot)
{
	struct ahead *a = &s->ahead;
	int r = 0;

	if (!a->running)
		return 0;
	pthread_mutex_lock(&a->lock);
	for (int k = 0; k < AHEAD_SLOTS; k++) {
		if (a->slot[k].chunk != (int32_t)i || a->slot[k].state == AHEAD_FREE)
			continue;
		if (a->slot[k].state == AHEAD_QUEUED) {
			a->slot[k].state = AHEAD_FREE; /* not begun: quicker here */
			break;
		}
		while (a->slot[k].state == AHEAD_BUSY)
			pthread_cond_wait(&a->done, &a->lock);
		if (a->slot[k].state == AHEAD_READY) {
			uint8_t *b = s->cache[slot].buf;
			s->cache[slot].buf = a->slot[k].buf;
			a->slot[k].buf = b;
			r = 1;
		} else if (a->slot[k].state == AHEAD_BAD) {
			r = -1;
		}
		a->slot[k].state = AHEAD_FREE;
		a->slot[k].chunk = -1;
		break;
	}
	pthread_mutex_unlock(&a->lock);
	return r;
}

/* The chunk's pages, checked and decompressed (cached); NULL when corrupt. */
static const uint8_t *chunk_data(struct server *s, uint32_t i)
{
	const struct snap_rec_chunk *c = &s->img->chunks[i];
	uint64_t len = (uint64_t)c->npages * PAGE;

	if (c->encoding == SNAP_CHUNK_RAW) {
		if (!s->verified[i] && !chunk_sound(s, i))
			return NULL;
		s->verified[i] = 1;
		return s->pages + c->offset;
	}
	uint8_t *cached = cache_find(s, i);
	if (cached)
		return cached;
	uint32_t slot = s->cache_next++ % CACHE_SLOTS;
	if (!s->cache[slot].buf) {
		s->cache[slot].buf = malloc((size_t)SNAP_CHUNK_MAX_PAGES * PAGE);
		if (!s->cache[slot].buf)
			return NULL;
	}
	s->cache[slot].chunk = -1;
	int took = ahead_take(s, i, slot);
	if (took < 0)
		return NULL;
	if (took == 0) {
		if (!s->verified[i] && !chunk_sound(s, i))
			return NULL;
		if (snap_codec_decompress(s->codec, s->pages + c->offset, c->stored_len, s->cache[slot].buf, len) < 0)
			return NULL;
	}
	s->verified[i] = 1;
	s->cache[slot].chunk = (int32_t)i;
	return s->cache[slot].buf;
}

static __attribute__((noreturn)) void corrupt(struct server *s, uint32_t i)
{
	slog(s, "chunk %u (memory at %#llx) fails its checksum or does not decompress: the snapshot is corrupt; killing process %d rather than giving it wrong memory",
	     i, (unsigned long long)s->img->chunks[i].vaddr, (int)s->pid);
	kill(s->pid, SIGKILL);
	_exit(2);
}

static int handle_events(struct server *s, struct client *c);

/* Copies the pages of chunk i that client c still lacks. */
static int copy_chunk(struct server *s, struct client *c, uint32_t i, bool prefetch)
{
	const struct snap_rec_chunk *ch = &s->img->chunks[i];
	const uint8_t *src = NULL;
	uint32_t j = 0;
	bool single = false;

	while (j < ch->npages && !c->dead) {
		uint64_t idx = s->first_page[i] + j, cur, room, orig = ch->vaddr + (uint64_t)j * PAGE;
		if (page_done(c, idx)) {
			j++;
			continue;
		}
		if (!translate_to_cur(c, orig, &cur, &room)) {
			mark_done(c, idx); /* unmapped since: not wanted */
			j++;
			continue;
		}
		uint32_t run = 1;
		while (!single && j + run < ch->npages && (uint64_t)(run + 1) * PAGE <= room && !page_done(c, idx + run))
			run++;
		single = false;
		if (!src) {
			src = chunk_data(s, i);
			if (!src)
				corrupt(s, i);
		}
		struct uffdio_copy cp = { .dst = cur, .src = (uint64_t)(uintptr_t)(src + (uint64_t)j * PAGE),
					  .len = (uint64_t)run * PAGE };
		int r = sys_uffd_copy(c->uffd, &cp);
		uint32_t copied = cp.copy > 0 ? (uint32_t)(cp.copy / PAGE) : 0;
		for (uint32_t k = 0; k < copied; k++)
			mark_done(c, idx + k);
		if (prefetch)
			s->bytes_prefetched += (uint64_t)copied * PAGE;
		else
			s->bytes_copied += (uint64_t)copied * PAGE;
		j += copied;
		if (r == 0)
			continue;
		if (r == -EEXIST) {
			/* present already (the process wrote it after a remove, or a
			 * racing copy): it is not ours to fill */
			mark_done(c, idx + copied);
			s->skipped_present++;
			if (s->verbose && s->skipped_present <= 4)
				slog(s, "page %#llx is present already: left as it is",
				     (unsigned long long)(cur + (uint64_t)copied * PAGE));
			j++;
		} else if ((r == -ENOENT || r == -EINVAL || r == -EFAULT) && run - copied > 1) {
			/* the run may cross into another mapping: page by page */
			single = true;
		} else if (r == -EAGAIN) {
			/* the layout is changing: take the events first */
			if (handle_events(s, c) < 0)
				return -EIO;
		} else if (r == -ESRCH || r == -ENOENT || r == -EINVAL || r == -EFAULT) {
			if (r == -ESRCH) {
				c->dead = true;
				return 0;
			}
			mark_done(c, idx + copied); /* no longer registered there */
			s->skipped_gone++;
			if (s->verbose && s->skipped_gone <= 4)
				slog(s, "page %#llx is no longer ours to fill (%s)",
				     (unsigned long long)(cur + (uint64_t)copied * PAGE), strerror(-r));
			j++;
		} else {
			slog(s, "UFFDIO_COPY at %#llx failed: %s", (unsigned long long)cur, strerror(-r));
			return r;
		}
	}
	return 0;
}

static void record_touch(struct server *s, uint32_t chunk)
{
	if (!s->record || s->touched_mark[chunk])
		return;
	s->touched_mark[chunk] = 1;
	s->touched[s->nr_touched++] = chunk;
	if ((snap_now_ns() - s->start_ns) / 1000000 <= s->early_ms)
		s->nr_early = s->nr_touched;
}

static int handle_fault(struct server *s, struct client *c, uint64_t addr)
{
	uint64_t cur = addr & ~(uint64_t)(PAGE - 1), orig;
	int32_t i;

	s->faults++;
	if (translate_to_orig(c, cur, &orig) && (i = find_chunk(s, orig)) >= 0 &&
	    !page_done(c, s->first_page[i] + (orig - s->img->chunks[i].vaddr) / PAGE)) {
		if (c == &s->clients[0])
			record_touch(s, (uint32_t)i);
		/* a sequential reader: its next chunk decompressed meanwhile */
		if (i == s->last_fault_chunk + 1)
			ahead_post(s, (uint32_t)i + 1);
		s->last_fault_chunk = i;
		return copy_chunk(s, c, (uint32_t)i, false);
	}
	/* Not in the snapshot (zero), or removed since: a zero page. */
	struct uffdio_zeropage z = { .range = { cur, PAGE } };
	int r = sys_uffd_zeropage(c->uffd, &z);
	s->zero_faults++;
	if (r == -EEXIST || r == -EAGAIN) {
		struct uffdio_range w = { cur, PAGE };
		sys_uffd_wake(c->uffd, &w);
	} else if (r == -ESRCH) {
		c->dead = true;
	}
	return 0;
}

/* Pages in [start, end) (current addresses) no longer take snapshot data. */
static void forget_range(struct server *s, struct client *c, uint64_t start, uint64_t end)
{
	for (uint64_t a = start & ~(uint64_t)(PAGE - 1); a < end; a += PAGE) {
		uint64_t orig;
		int32_t i;
		if (translate_to_orig(c, a, &orig) && (i = find_chunk(s, orig)) >= 0)
			mark_done(c, s->first_page[i] + (orig - s->img->chunks[i].vaddr) / PAGE);
	}
}

/* Applies f to the regions: the part of each inside [start, end) is
 * dropped (unmap) or moved by delta (remap). */
static int reshape(struct client *c, uint64_t start, uint64_t end, bool drop, int64_t delta)
{
	struct region *out = calloc((size_t)c->nr_regions * 3 + 1, sizeof(*out));
	uint32_t n = 0;

	if (!out)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_regions; i++) {
		struct region r = c->regions[i];
		uint64_t lo = r.cur > start ? r.cur : start, hi = r.end < end ? r.end : end;
		if (lo >= hi) {
			out[n++] = r;
			continue;
		}
		if (r.cur < lo)
			out[n++] = (struct region){ r.cur, lo, r.orig };
		if (!drop)
			out[n++] = (struct region){ lo + (uint64_t)delta, hi + (uint64_t)delta, r.orig + (lo - r.cur) };
		if (hi < r.end)
			out[n++] = (struct region){ hi, r.end, r.orig + (hi - r.cur) };
	}
	free(c->regions);
	c->regions = out;
	c->nr_regions = n;
	return 0;
}

static int add_client(struct server *s, int uffd, const struct client *from)
{
	struct client *c;
	size_t bytes = (size_t)(s->total_pages + 7) / 8;

	if (s->nr_clients == MAX_CLIENTS) {
		slog(s, "more than %d processes share this restore's memory; a new child is not served", MAX_CLIENTS);
		close(uffd);
		return -ENOSPC;
	}
	c = &s->clients[s->nr_clients];
	memset(c, 0, sizeof(*c));
	c->uffd = uffd;
	c->done = malloc(bytes ? bytes : 1);
	c->regions = malloc(((from ? from->nr_regions : s->img->nr_vmas) + 1) * sizeof(struct region));
	if (!c->done || !c->regions)
		return -ENOMEM;
	if (from) {
		memcpy(c->done, from->done, bytes);
		memcpy(c->regions, from->regions, from->nr_regions * sizeof(struct region));
		c->nr_regions = from->nr_regions;
		c->pending = from->pending;
		c->cursor = 0;
	} else {
		memset(c->done, 0, bytes);
		for (uint32_t v = 0; v < s->img->nr_vmas; v++)
			if (s->img->vmas[v].kind == SNAP_VMA_ANON && !(s->img->vmas[v].flags & SNAP_VMA_LOCKED))
				c->regions[c->nr_regions++] =
					(struct region){ s->img->vmas[v].start, s->img->vmas[v].end, s->img->vmas[v].start };
		c->pending = s->total_pages;
	}
	s->nr_clients++;
	return 0;
}

/* Reads every queued message of client c; faults are answered at once. */
static int handle_events(struct server *s, struct client *c)
{
	struct uffd_msg msgs[32];

	for (;;) {
		ssize_t n = read(c->uffd, msgs, sizeof(msgs));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			c->dead = true;
			return 0;
		}
		for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++) {
			const struct uffd_msg *m = &msgs[k];
			int r = 0;
			switch (m->event) {
			case UFFD_EVENT_PAGEFAULT:
				r = handle_fault(s, c, m->arg.pagefault.address);
				break;
			case UFFD_EVENT_FORK:
				r = add_client(s, (int)m->arg.fork.ufd, c);
				if (r == -ENOSPC)
					r = 0;
				c = &s->clients[c - s->clients]; /* the array does not move */
				break;
			case UFFD_EVENT_REMAP:
				r = reshape(c, m->arg.remap.from, m->arg.remap.from + m->arg.remap.len, false,
					    (int64_t)(m->arg.remap.to - m->arg.remap.from));
				break;
			case UFFD_EVENT_REMOVE:
				forget_range(s, c, m->arg.remove.start, m->arg.remove.end);
				break;
			case UFFD_EVENT_UNMAP:
				forget_range(s, c, m->arg.remove.start, m->arg.remove.end);
				r = reshape(c, m->arg.remove.start, m->arg.remove.end, true, 0);
				break;
			}
			if (r < 0)
				return r;
		}
	}
}

/* Copies up to PREFETCH_BATCH chunks client c still lacks; false when none. */
static bool prefetch_some(struct server *s, struct client *c)
{
	uint32_t did = 0;

	while (c->cursor < s->nr_order && did < PREFETCH_BATCH && !c->dead) {
		uint32_t i = s->order[c->cursor];
		const struct snap_rec_chunk *ch = &s->img->chunks[i];
		bool need = false;
		for (uint32_t j = 0; j < ch->npages && !need; j++)
			need = !page_done(c, s->first_page[i] + j);
		if (need) {
			for (uint32_t n = 1; n <= 2 && c->cursor + n < s->nr_order; n++)
				ahead_post(s, s->order[c->cursor + n]);
			if (copy_chunk(s, c, i, true) < 0)
				return false;
			did++;
		}
		if (!need || c->dead)
			c->cursor++;
		else {
			/* all of it now, or it stays for the next round */
			bool left = false;
			for (uint32_t j = 0; j < ch->npages && !left; j++)
				left = !page_done(c, s->first_page[i] + j);
			if (!left)
				c->cursor++;
		}
	}
	return c->cursor < s->nr_order && !c->dead;
}

static void write_workingset(struct server *s)
{
	char path[PATH_MAX], tmp[PATH_MAX];
	struct {
		char magic[8];
		uint32_t version, count, early, crc;
	} h;
	int fd;

	memcpy(h.magic, SNAP_WORKINGSET_MAGIC, 8);
	h.version = 1;
	h.count = s->nr_touched;
	h.early = s->nr_early;
	h.crc = snap_crc32c(0, s->touched, (size_t)s->nr_touched * sizeof(uint32_t));
	snprintf(path, sizeof(path), "%s/%s", s->dir, SNAP_WORKINGSET_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) ||
	    write(fd, s->touched, (size_t)s->nr_touched * 4) != (ssize_t)((size_t)s->nr_touched * 4) || fsync(fd) < 0 ||
	    rename(tmp, path) < 0) {
		slog(s, "cannot write the working set %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	} else {
		slog(s, "working set recorded: %u chunks first touched, %u of them in the first %u ms", s->nr_touched,
		     s->nr_early, s->early_ms);
	}
	if (fd >= 0)
		close(fd);
}

static bool all_done(const struct server *s)
{
	for (uint32_t i = 0; i < s->nr_clients; i++)
		if (!s->clients[i].dead && s->clients[i].pending)
			return false;
	return true;
}

static int serve(struct server *s, const struct snap_lazy_opts *opts, uint64_t record_until_ns)
{
	struct pollfd pfd[MAX_CLIENTS + 1];
	bool recorded = !s->record, main_gone = false;

	for (;;) {
		uint32_t n = 0;

		for (uint32_t i = 0; i < s->nr_clients; i++) {
			pfd[n].fd = s->clients[i].dead ? -1 : s->clients[i].uffd;
			pfd[n++].events = POLLIN;
		}
		pfd[n].fd = s->pidfd;
		pfd[n++].events = POLLIN;
		/* Faults first: prefetch only between them. */
		bool prefetching = (!opts->no_prefetch || main_gone) && (recorded || snap_now_ns() >= record_until_ns);
		if (!recorded && snap_now_ns() >= record_until_ns) {
			write_workingset(s);
			recorded = true;
		}
		int timeout = prefetching ? 0 : (recorded ? -1 : 50);
		int r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR)
			return -errno;
		for (uint32_t i = 0; i < s->nr_clients; i++)
			if (!s->clients[i].dead && (i >= n - 1 || (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))) &&
			    handle_events(s, &s->clients[i]) < 0)
				return -EIO;
		if (s->pidfd >= 0 && (pfd[n - 1].revents & POLLIN)) {
			/* The restored process ended. Children it forked may live on
			 * (a daemon's): their pages are brought in, prefetch or not,
			 * since without the server their memory would read as zeros.
			 * A dead child shows as ESRCH on the next copy. */
			if (!recorded)
				write_workingset(s);
			recorded = true;
			main_gone = true;
			s->clients[0].dead = true;
			close(s->pidfd);
			s->pidfd = -1;
		}
		if (prefetching)
			for (uint32_t i = 0; i < s->nr_clients; i++)
				if (!s->clients[i].dead)
					prefetch_some(s, &s->clients[i]);
		if (recorded && all_done(s)) {
			s->complete = s->clients[0].pending == 0;
			return 0;
		}
	}
}

static int server_main(const char *dir, const struct snap_image *img, pid_t pid, int uffd, int pidfd,
		       const struct snap_lazy_opts *opts)
{
	struct server s = { .img = img, .pid = pid, .pidfd = pidfd, .log = stderr, .dir = dir };
	struct snap_workingset ws = { 0 };
	char path[PATH_MAX];
	int fd, r;

	s.start_ns = snap_now_ns();
	if (opts->log_path) {
		FILE *f = fopen(opts->log_path, "ae");
		if (f)
			s.log = f;
	}

	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_PAGES_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	s.pages_size = img->process.pages_size;
	s.pages = fd >= 0 ? mmap(NULL, s.pages_size, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
	if (fd >= 0)
		close(fd);
	if (s.pages == MAP_FAILED) {
		slog(&s, "cannot map %s: %s", path, strerror(errno));
		return 1;
	}
	/* Memory chunks come first in the index; those of anonymous mappings
	 * are the lazy ones (the others were filled at restore). */
	while (s.nr_chunks < img->nr_chunks && img->chunks[s.nr_chunks].object == 0)
		s.nr_chunks++;
	s.first_page = calloc(s.nr_chunks + 1, sizeof(uint64_t));
	s.verified = calloc(s.nr_chunks + 1, 1);
	s.order = calloc(s.nr_chunks + 1, sizeof(uint32_t));
	s.touched = calloc(s.nr_chunks + 1, sizeof(uint32_t));
	s.touched_mark = calloc(s.nr_chunks + 1, 1);
	if (!s.first_page || !s.verified || !s.order || !s.touched || !s.touched_mark || snap_codec_new(&s.codec) < 0) {
		slog(&s, "out of memory");
		return 1;
	}
	for (uint32_t i = 0; i < s.nr_chunks; i++) {
		s.first_page[i] = s.total_pages;
		s.total_pages += img->chunks[i].npages;
	}
	if (add_client(&s, uffd, NULL) < 0) {
		slog(&s, "out of memory");
		return 1;
	}
	/* Chunks outside anonymous mappings (file mappings) are in already. */
	for (uint32_t i = 0; i < s.nr_chunks; i++)
		if (!anon_chunk(img, &img->chunks[i]))
			for (uint32_t j = 0; j < img->chunks[i].npages; j++)
				mark_done(&s.clients[0], s.first_page[i] + j);

	/* Prefetch order: the recorded working set first, then the rest. */
	struct snap_ctx quiet = { 0 };
	if (snap_workingset_load(&quiet, dir, img, &ws) == 0) {
		uint8_t *seen = calloc(s.nr_chunks + 1, 1);
		for (uint32_t k = 0; seen && k < ws.count; k++)
			if (ws.order[k] < s.nr_chunks && !seen[ws.order[k]]) {
				seen[ws.order[k]] = 1;
				s.order[s.nr_order++] = ws.order[k];
			}
		for (uint32_t i = 0; seen && i < s.nr_chunks; i++)
			if (!seen[i])
				s.order[s.nr_order++] = i;
		free(seen);
		snap_workingset_release(&ws);
	}
	if (s.nr_order == 0)
		for (uint32_t i = 0; i < s.nr_chunks; i++)
			s.order[s.nr_order++] = i;

	s.verbose = opts->verbose;
	s.record = opts->record;
	s.early_ms = opts->early_ms ? opts->early_ms : 100;
	s.last_fault_chunk = -2;
	ahead_start(&s);
	r = serve(&s, opts, s.start_ns + (uint64_t)(opts->record ? 2000 : 0) * 1000000ull);
	ahead_stop(&s);
	if (r < 0) {
		slog(&s, "stopped serving: %s", strerror(-r));
		return 1;
	}
	if (opts->stats_fd > 0) {
		struct snap_lazy_stats st = { .faults = s.faults, .zero_faults = s.zero_faults,
					      .bytes_on_demand = s.bytes_copied, .bytes_prefetched = s.bytes_prefetched,
					      .serve_ns = snap_now_ns() - s.start_ns, .complete = s.complete };
		if (write(opts->stats_fd, &st, sizeof(st)) != (ssize_t)sizeof(st))
			slog(&s, "cannot report statistics: %s", strerror(errno));
	}
	if (opts->verbose)
		slog(&s, "done after %.1f ms: %llu faults (%llu zero), %llu bytes on demand, %llu prefetched; %llu pages found present, %llu no longer registered",
		     (double)(snap_now_ns() - s.start_ns) / 1e6, (unsigned long long)s.faults,
		     (unsigned long long)s.zero_faults, (unsigned long long)s.bytes_copied,
		     (unsigned long long)s.bytes_prefetched, (unsigned long long)s.skipped_present,
		     (unsigned long long)s.skipped_gone);
	return 0;
}

bool snap_lazy_read_stats(int fd, int timeout_ms, struct snap_lazy_stats *ret)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, timeout_ms) > 0 && read(fd, ret, sizeof(*ret)) == (ssize_t)sizeof(*ret);
}

bool snap_lazy_supported(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = SNAP_LAZY_UFFD_FEATURES };
	int fd = sys_userfaultfd(O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return false;
	ok = sys_uffd_api(fd, &api) == 0;
	close(fd);
	return ok;
}

int snap_lazy_start(struct snap_ctx *ctx, const char *dir, const struct snap_image *img, pid_t pid, int uffd,
		    const struct snap_lazy_opts *opts, pid_t *ret_supervisor)
{
	int pidfd = sys_pidfd_open(pid, 0), report[2], status;
	pid_t mid, sup = -1;

	if (pidfd < 0) {
		close(uffd);
		return snap_err(ctx, pidfd, "cannot watch process %d: %s", (int)pid, strerror(-pidfd));
	}
	if (pipe2(report, O_CLOEXEC) < 0) {
		close(uffd);
		close(pidfd);
		return snap_err(ctx, -errno, "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	mid = fork();
	if (mid < 0) {
		close(uffd);
		close(pidfd);
		return snap_err(ctx, -errno, "cannot start the page server: %s", strerror(errno));
	}
	if (mid == 0) {
		/* The intermediate: a supervisor in its own session, then go. */
		close(report[0]);
		setsid();
		pid_t s = fork();
		if (s != 0) {
			if (write(report[1], &s, sizeof(s)) < 0) {
				/* the caller sees a short read */
			}
			_exit(s < 0);
		}
		close(report[1]);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		pid_t server = fork();
		if (server == 0) {
			_exit(server_main(dir, img, pid, uffd, pidfd, opts));
		}
		/* the statistics' reader sees end of file when the server is gone */
		if (opts->stats_fd > 0)
			close(opts->stats_fd);
		/* The supervisor keeps the uffd open: should the server die, the
		 * process's missing pages must not turn into zero pages. */
		int st = 0;
		while (server > 0 && waitpid(server, &st, 0) < 0 && errno == EINTR)
			;
		if (server < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			struct pollfd p = { pidfd, POLLIN, 0 };
			if (poll(&p, 1, 0) == 0) {
				FILE *log = opts->log_path ? fopen(opts->log_path, "ae") : stderr;
				if (log) {
					fprintf(log,
						"snapctl page server [pid %d]: the page server died before every page was in; sending SIGBUS to process %d\n",
						(int)pid, (int)pid);
					fflush(log);
				}
				sys_pidfd_send_signal(pidfd, SIGBUS, NULL, 0);
				if (poll(&p, 1, 2000) == 0)
					sys_pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
			}
			_exit(1);
		}
		_exit(0);
	}
	close(report[1]);
	close(uffd);
	close(pidfd);
	if (read(report[0], &sup, sizeof(sup)) != (ssize_t)sizeof(sup))
		sup = -1;
	close(report[0]);
	while (waitpid(mid, &status, 0) < 0 && errno == EINTR)
		;
	if (sup <= 0)
		return snap_err(ctx, -ECHILD, "the page server did not start");
	if (ret_supervisor)
		*ret_supervisor = sup;
	return 0;
}

int snap_workingset_load(struct snap_ctx *ctx, const char *dir, const struct snap_image *img,
			 struct snap_workingset *ret)
{
	struct {
		char magic[8];
		uint32_t version, count, early, crc;
	} h;
	char path[PATH_MAX];
	uint32_t *order;
	int fd;

	memset(ret, 0, sizeof(*ret));
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_WORKINGSET_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : snap_err(ctx, -errno, "%s: %s", path, strerror(errno));
	if (read(fd, &h, sizeof(h)) != (ssize_t)sizeof(h) || memcmp(h.magic, SNAP_WORKINGSET_MAGIC, 8) ||
	    h.version != 1 || h.count > img->nr_chunks || h.early > h.count) {
		close(fd);
		return snap_err(ctx, -EUCLEAN, "%s is corrupt (ignored: record it again with restore --record)", path);
	}
	order = malloc((size_t)h.count * 4 + 4);
	if (!order) {
		close(fd);
		return snap_err(ctx, -ENOMEM, "out of memory");
	}
	if (read(fd, order, (size_t)h.count * 4) != (ssize_t)((size_t)h.count * 4) ||
	    snap_crc32c(0, order, (size_t)h.count * 4) != h.crc) {
		close(fd);
		free(order);
		return snap_err(ctx, -EUCLEAN, "%s is corrupt (ignored: record it again with restore --record)", path);
	}
	close(fd);
	for (uint32_t i = 0; i < h.count; i++)
		if (order[i] >= img->nr_chunks || img->chunks[order[i]].object != 0) {
			uint32_t bad = order[i];
			free(order);
			return snap_err(ctx, -EUCLEAN, "%s names chunk %u, which the snapshot lacks", path, bad);
		}
	ret->order = order;
	ret->count = h.count;
	ret->early = h.early;
	return 0;
}

void snap_workingset_release(struct snap_workingset *ws)
{
	free(ws->order);
	memset(ws, 0, sizeof(*ws));
}
