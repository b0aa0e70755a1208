/* image.c — the snapshot format: builders, encoder, and a decoder that
 * checks every checksum, count, offset, index and address before use.
 * Must never trust a byte it reads nor accept a snapshot it cannot restore. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "ctx.h"
#include "image.h"

_Static_assert(sizeof(struct snap_meta_header) == 64, "header layout");
_Static_assert(sizeof(struct snap_section) == 32, "section layout");
_Static_assert(sizeof(struct snap_pages_header) == 64, "pages header layout");
_Static_assert(sizeof(struct snap_rec_chunk) == 40, "chunk layout");

#define USER_ADDR_END 0x800000000000ull /* x86-64, 4-level paging */

void snap_image_init(struct snap_image *img)
{
	memset(img, 0, sizeof(*img));
	img->process.exe_file = -1;
}

void snap_image_release(struct snap_image *img)
{
	free(img->threads);
	free(img->vmas);
	free(img->files);
	free(img->fds);
	free(img->chunks);
	free(img->objects);
	free(img->object_sources);
	free(img->strings);
	free(img->blobs);
	snap_image_init(img);
}

/* Grows an array to hold one more element of size sz. */
static int grow(void **arr, uint32_t *cap, uint32_t count, size_t sz)
{
	void *p;
	uint32_t ncap;

	if (count < *cap)
		return 0;
	if (count >= SNAP_MAX_RECORDS)
		return -E2BIG;
	ncap = *cap ? *cap * 2 : 16;
	p = realloc(*arr, (size_t)ncap * sz);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

#define ADD_RECORD(img, arr, nr, cap, ret)                                                  \
	({                                                                                  \
		int r_ = grow((void **)&(img)->arr, &(img)->cap, (img)->nr, sizeof(*(img)->arr)); \
		if (r_ == 0) {                                                              \
			*(ret) = &(img)->arr[(img)->nr++];                                  \
			memset(*(ret), 0, sizeof(**(ret)));                                 \
		}                                                                           \
		r_;                                                                         \
	})

int snap_image_add_vma(struct snap_image *img, struct snap_rec_vma **ret)
{
	int r = ADD_RECORD(img, vmas, nr_vmas, cap_vmas, ret);
	if (r == 0) {
		(*ret)->file = -1;
		(*ret)->object = -1;
	}
	return r;
}

int snap_image_add_object(struct snap_image *img, struct snap_rec_object **ret, int32_t *ret_index)
{
	uint32_t cap = img->cap_objects;
	int r;

	if (img->nr_objects >= SNAP_MAX_OBJECTS)
		return -E2BIG;
	r = ADD_RECORD(img, objects, nr_objects, cap_objects, ret);
	if (r == 0 && img->cap_objects != cap) {
		void *p = realloc(img->object_sources, img->cap_objects * sizeof(*img->object_sources));
		if (!p) {
			img->nr_objects--;
			return -ENOMEM;
		}
		img->object_sources = p;
	}
	if (r == 0) {
		*ret_index = (int32_t)img->nr_objects - 1;
		img->object_sources[*ret_index][0] = '\0';
	}
	return r;
}

int snap_image_add_file(struct snap_image *img, struct snap_rec_file **ret, int32_t *ret_index)
{
	int r = ADD_RECORD(img, files, nr_files, cap_files, ret);
	if (r == 0)
		*ret_index = (int32_t)img->nr_files - 1;
	return r;
}

int snap_image_add_fd(struct snap_image *img, struct snap_rec_fd **ret)
{
	int r = ADD_RECORD(img, fds, nr_fds, cap_fds, ret);
	if (r == 0) {
		(*ret)->file = -1;
		(*ret)->same_as = -1;
		(*ret)->object = -1;
	}
	return r;
}

int snap_image_add_thread(struct snap_image *img, struct snap_rec_thread **ret)
{
	return ADD_RECORD(img, threads, nr_threads, cap_threads, ret);
}

int snap_image_add_chunk(struct snap_image *img, struct snap_rec_chunk **ret)
{
	return ADD_RECORD(img, chunks, nr_chunks, cap_chunks, ret);
}

int snap_image_add_string(struct snap_image *img, const char *s, snap_str_t *ret)
{
	size_t len = strlen(s) + 1;

	if (len == 1) {
		*ret = 0;
		return 0;
	}
	if (!img->strings) {
		img->strings = calloc(1, 256);
		if (!img->strings)
			return -ENOMEM;
		img->cap_strings = 256;
		img->strings_len = 1;
	}
	if ((uint64_t)img->strings_len + len > UINT32_MAX / 2)
		return -E2BIG;
	while (img->strings_len + len > img->cap_strings) {
		char *p = realloc(img->strings, img->cap_strings * 2);
		if (!p)
			return -ENOMEM;
		img->strings = p;
		img->cap_strings *= 2;
	}
	memcpy(img->strings + img->strings_len, s, len);
	*ret = img->strings_len;
	img->strings_len += (uint32_t)len;
	return 0;
}

const char *snap_image_string(const struct snap_image *img, snap_str_t s)
{
	if (!img->strings || s >= img->strings_len)
		return "";
	return img->strings + s;
}

int snap_image_add_blob(struct snap_image *img, const void *data, uint32_t len, uint64_t *ret_off)
{
	if (img->blobs_len + len > img->cap_blobs) {
		uint64_t ncap = img->cap_blobs ? img->cap_blobs : 4096;
		while (ncap < img->blobs_len + len)
			ncap *= 2;
		uint8_t *p = realloc(img->blobs, ncap);
		if (!p)
			return -ENOMEM;
		img->blobs = p;
		img->cap_blobs = ncap;
	}
	memcpy(img->blobs + img->blobs_len, data, len);
	*ret_off = img->blobs_len;
	img->blobs_len += len;
	return 0;
}

void snap_pages_header_init(struct snap_pages_header *h, const uint8_t uuid[16])
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, SNAP_PAGES_MAGIC, 8);
	h->version = SNAP_FORMAT_VERSION;
	h->header_size = sizeof(*h);
	memcpy(h->uuid, uuid, 16);
	h->crc = snap_crc32c(0, h, sizeof(*h));
}

/* ---- encoding ---- */

struct section_src {
	uint32_t type, record_size, count;
	const void *data;
	uint64_t size;
};

int snap_image_encode(struct snap_image *img, void **ret_buf, size_t *ret_len)
{
	static const char empty_strings[1] = { 0 };
	struct section_src src[SNAP_SEC_MAX];
	unsigned n = 0;
	uint64_t off, total;
	uint8_t *buf;

	img->process.nr_threads = img->nr_threads;
#define SRC(t, arr, cnt) \
	src[n++] = (struct section_src){ t, sizeof(*(arr)), cnt, arr, (uint64_t)sizeof(*(arr)) * (cnt) }
	SRC(SNAP_SEC_PROCESS, &img->process, 1);
	SRC(SNAP_SEC_THREADS, img->threads, img->nr_threads);
	SRC(SNAP_SEC_VMAS, img->vmas, img->nr_vmas);
	SRC(SNAP_SEC_FILES, img->files, img->nr_files);
	SRC(SNAP_SEC_FDS, img->fds, img->nr_fds);
	SRC(SNAP_SEC_CHUNKS, img->chunks, img->nr_chunks);
	SRC(SNAP_SEC_OBJECTS, img->objects, img->nr_objects);
#undef SRC
	if (img->strings)
		src[n++] = (struct section_src){ SNAP_SEC_STRINGS, 1, img->strings_len, img->strings, img->strings_len };
	else
		src[n++] = (struct section_src){ SNAP_SEC_STRINGS, 1, 1, empty_strings, 1 };
	src[n++] = (struct section_src){ SNAP_SEC_BLOBS, 1, (uint32_t)img->blobs_len, img->blobs, img->blobs_len };

	off = sizeof(struct snap_meta_header) + n * sizeof(struct snap_section);
	total = off;
	for (unsigned i = 0; i < n; i++)
		total += src[i].size;
	if (total > SNAP_MAX_META_SIZE)
		return -E2BIG;
	buf = calloc(1, total);
	if (!buf)
		return -ENOMEM;

	struct snap_meta_header *h = (struct snap_meta_header *)buf;
	struct snap_section *sec = (struct snap_section *)(buf + sizeof(*h));
	memcpy(h->magic, SNAP_META_MAGIC, 8);
	h->version = SNAP_FORMAT_VERSION;
	h->header_size = sizeof(*h);
	h->file_size = total;
	h->section_count = n;
	memcpy(h->uuid, img->uuid, 16);
	for (unsigned i = 0; i < n; i++) {
		sec[i].type = src[i].type;
		sec[i].record_size = src[i].record_size;
		sec[i].count = src[i].count;
		sec[i].offset = off;
		sec[i].size = src[i].size;
		if (src[i].size)
			memcpy(buf + off, src[i].data, src[i].size);
		sec[i].crc = snap_crc32c(0, buf + off, src[i].size);
		off += src[i].size;
	}
	h->crc = snap_crc32c(0, buf, sizeof(*h) + n * sizeof(struct snap_section));
	*ret_buf = buf;
	*ret_len = total;
	return 0;
}

/* ---- decoding ---- */

static const struct {
	uint32_t record_size;
	const char *name;
} section_info[SNAP_SEC_MAX + 1] = {
	[SNAP_SEC_PROCESS] = { sizeof(struct snap_rec_process), "process" },
	[SNAP_SEC_THREADS] = { sizeof(struct snap_rec_thread), "threads" },
	[SNAP_SEC_VMAS] = { sizeof(struct snap_rec_vma), "mappings" },
	[SNAP_SEC_FILES] = { sizeof(struct snap_rec_file), "files" },
	[SNAP_SEC_FDS] = { sizeof(struct snap_rec_fd), "fds" },
	[SNAP_SEC_CHUNKS] = { sizeof(struct snap_rec_chunk), "chunks" },
	[SNAP_SEC_STRINGS] = { 1, "strings" },
	[SNAP_SEC_BLOBS] = { 1, "blobs" },
	[SNAP_SEC_OBJECTS] = { sizeof(struct snap_rec_object), "shared memory objects" },
};

#define BAD(...) snap_err(ctx, -EUCLEAN, "snapshot metadata is corrupt: " __VA_ARGS__)

static bool str_ok(const struct snap_image *img, snap_str_t s)
{
	return s < img->strings_len;
}

static int copy_section(const uint8_t *buf, const struct snap_section *s, void **dst)
{
	if (s->size == 0) {
		*dst = NULL;
		return 0;
	}
	*dst = malloc(s->size);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, buf + s->offset, s->size);
	return 0;
}

static bool blob_ok(const struct snap_image *img, uint64_t off, uint64_t len)
{
	return off <= img->blobs_len && len <= img->blobs_len - off;
}

static int check_process(struct snap_ctx *ctx, const struct snap_image *img)
{
	const struct snap_rec_process *p = &img->process;

	if (p->pid <= 0)
		return BAD("pid %d is not a pid", p->pid);
	if (!str_ok(img, p->cwd) || !str_ok(img, p->kernel_release) || !str_ok(img, p->comm))
		return BAD("process strings point outside the string table");
	if (p->exe_file < -1 || p->exe_file >= (int32_t)img->nr_files)
		return BAD("executable refers to file %d of %u", p->exe_file, img->nr_files);
	if (p->auxv_count > SNAP_MAX_AUXV)
		return BAD("%u auxv entries (at most %u)", p->auxv_count, SNAP_MAX_AUXV);
	if (p->nr_threads != img->nr_threads || img->nr_threads == 0)
		return BAD("process has %u threads but %u are recorded", p->nr_threads, img->nr_threads);
	if (p->xsave_size > SNAP_XSTATE_MAX)
		return BAD("xsave size %u", p->xsave_size);
	if (p->pages_size < sizeof(struct snap_pages_header))
		return BAD("pages file size %llu", (unsigned long long)p->pages_size);
	if (p->shared_pending_count > SNAP_MAX_PENDING ||
	    !blob_ok(img, p->shared_pending_off, (uint64_t)p->shared_pending_count * SNAP_SIGINFO_SIZE))
		return BAD("pending signals lie outside the blob section");
	return 0;
}

static int check_threads(struct snap_ctx *ctx, const struct snap_image *img)
{
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct snap_rec_thread *t = &img->threads[i];
		if (t->tid <= 0)
			return BAD("thread %u has tid %d", i, t->tid);
		if (!memchr(t->comm, '\0', sizeof(t->comm)))
			return BAD("thread %u's name is not terminated", i);
		if (t->xstate_len > SNAP_XSTATE_MAX || t->xstate_off > img->blobs_len ||
		    t->xstate_len > img->blobs_len - t->xstate_off)
			return BAD("thread %u's FPU state lies outside the blob section", i);
		if (t->pending_count > SNAP_MAX_PENDING ||
		    !blob_ok(img, t->pending_off, (uint64_t)t->pending_count * SNAP_SIGINFO_SIZE))
			return BAD("thread %u's pending signals lie outside the blob section", i);
		for (uint32_t k = 0; k < i; k++)
			if (img->threads[k].tid == t->tid)
				return BAD("thread id %d appears twice", t->tid);
	}
	return 0;
}

static int check_files(struct snap_ctx *ctx, const struct snap_image *img)
{
	for (uint32_t i = 0; i < img->nr_files; i++) {
		const struct snap_rec_file *f = &img->files[i];
		if (!str_ok(img, f->path) || snap_image_string(img, f->path)[0] != '/')
			return BAD("file %u has no absolute path", i);
	}
	return 0;
}

static int check_vmas(struct snap_ctx *ctx, const struct snap_image *img)
{
	uint64_t prev_end = 0;

	for (uint32_t i = 0; i < img->nr_vmas; i++) {
		const struct snap_rec_vma *v = &img->vmas[i];
		if (v->start >= v->end || v->start % SNAP_PAGE_SIZE || v->end % SNAP_PAGE_SIZE ||
		    v->end > USER_ADDR_END || v->start < prev_end)
			return BAD("mapping %u (%#llx-%#llx) is not page aligned, empty, out of order or overlapping",
				   i, (unsigned long long)v->start, (unsigned long long)v->end);
		if (v->prot & ~7u)
			return BAD("mapping %u has protection bits %#x", i, v->prot);
		if (v->kind < SNAP_VMA_ANON || v->kind > SNAP_VMA_SHMEM)
			return BAD("mapping %u has kind %u", i, v->kind);
		if (v->kind == SNAP_VMA_SHMEM ? (v->object < 0 || (uint32_t)v->object >= img->nr_objects ||
						 v->pgoff > img->objects[v->object].size ||
						 v->end - v->start > img->objects[v->object].size - v->pgoff)
					      : v->object != -1)
			return BAD("mapping %u refers to shared memory object %d (of %u) or lies outside it", i,
				   v->object, img->nr_objects);
		if ((v->kind == SNAP_VMA_FILE || v->kind == SNAP_VMA_SHARED_FILE) != (v->file >= 0) ||
		    v->file >= (int32_t)img->nr_files || v->file < -1)
			return BAD("mapping %u refers to file %d of %u", i, v->file, img->nr_files);
		if (v->pgoff % SNAP_PAGE_SIZE)
			return BAD("mapping %u has file offset %#llx", i, (unsigned long long)v->pgoff);
		if (!str_ok(img, v->name))
			return BAD("mapping %u's name lies outside the string table", i);
		prev_end = v->end;
	}
	return 0;
}

static int check_fds(struct snap_ctx *ctx, const struct snap_image *img)
{
	int32_t prev = -1;

	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct snap_rec_fd *f = &img->fds[i];
		if (f->fd <= prev || f->fd >= (1 << 20))
			return BAD("fd record %u (fd %d) is out of order or too large", i, f->fd);
		if (f->kind < SNAP_FD_FILE || f->kind > SNAP_FD_KIND_MAX)
			return BAD("fd %d has kind %u", f->fd, f->kind);
		bool has_file = f->kind == SNAP_FD_FILE || f->kind == SNAP_FD_DEVICE;
		if (has_file != (f->file >= 0) || f->file >= (int32_t)img->nr_files || f->file < -1)
			return BAD("fd %d refers to file %d of %u", f->fd, f->file, img->nr_files);
		if ((f->kind == SNAP_FD_MEMFD) != (f->object >= 0) || f->object >= (int32_t)img->nr_objects ||
		    f->object < -1)
			return BAD("fd %d refers to shared memory object %d of %u", f->fd, f->object, img->nr_objects);
		if (!blob_ok(img, f->data_off, f->data_len))
			return BAD("fd %d's data lies outside the blob section", f->fd);
		if (f->kind == SNAP_FD_STDIO && f->fd > 2)
			return BAD("fd %d is recorded as stdio", f->fd);
		if (f->same_as != -1 && (f->same_as < 0 || (uint32_t)f->same_as >= i ||
					 img->fds[f->same_as].file != f->file || img->fds[f->same_as].same_as != -1))
			return BAD("fd %d shares its file with a bad record %d", f->fd, f->same_as);
		prev = f->fd;
	}
	return 0;
}

static int check_chunks(struct snap_ctx *ctx, const struct snap_image *img)
{
	uint64_t file_end = sizeof(struct snap_pages_header), prev_vaddr_end = 0;
	uint32_t v = 0, prev_object = 0;

	for (uint32_t i = 0; i < img->nr_chunks; i++) {
		const struct snap_rec_chunk *c = &img->chunks[i];
		uint64_t len;

		if (c->object < prev_object || c->object > img->nr_objects)
			return BAD("chunk %u belongs to object %u (of %u) out of order", i, c->object, img->nr_objects);
		if (c->object != prev_object)
			prev_vaddr_end = 0;
		prev_object = c->object;
		if (c->npages == 0 || c->npages > SNAP_CHUNK_MAX_PAGES || c->vaddr % SNAP_PAGE_SIZE ||
		    c->vaddr < prev_vaddr_end)
			return BAD("chunk %u (%#llx, %u pages) is empty, unaligned or out of order", i,
				   (unsigned long long)c->vaddr, c->npages);
		len = (uint64_t)c->npages * SNAP_PAGE_SIZE;
		if (c->object) {
			const struct snap_rec_object *o = &img->objects[c->object - 1];
			if (c->vaddr > o->size || len > o->size - c->vaddr)
				return BAD("chunk %u lies outside shared memory object %u", i, c->object - 1);
		} else {
			while (v < img->nr_vmas && img->vmas[v].end <= c->vaddr)
				v++;
			if (v == img->nr_vmas || c->vaddr < img->vmas[v].start || c->vaddr + len > img->vmas[v].end ||
			    (img->vmas[v].kind != SNAP_VMA_ANON && img->vmas[v].kind != SNAP_VMA_FILE))
				return BAD("chunk %u (%#llx) is not inside one memory mapping", i,
					   (unsigned long long)c->vaddr);
		}
		switch (c->encoding) {
		case SNAP_CHUNK_RAW:
			if (c->offset % SNAP_PAGE_SIZE || c->stored_len != len)
				return BAD("raw chunk %u is unaligned or has the wrong length", i);
			break;
		case SNAP_CHUNK_ZSTD:
			if (c->stored_len == 0 || c->stored_len > len)
				return BAD("compressed chunk %u has length %llu", i, (unsigned long long)c->stored_len);
			break;
		default:
			return BAD("chunk %u has encoding %u", i, c->encoding);
		}
		if (c->offset < file_end || c->offset - file_end >= SNAP_PAGE_SIZE ||
		    c->stored_len > img->process.pages_size || c->offset > img->process.pages_size - c->stored_len)
			return BAD("chunk %u lies outside the pages file or leaves a gap", i);
		file_end = c->offset + c->stored_len;
		prev_vaddr_end = c->vaddr + len;
	}
	if (file_end != img->process.pages_size)
		return BAD("the pages file should end at %llu, the chunks end at %llu",
			   (unsigned long long)img->process.pages_size, (unsigned long long)file_end);
	return 0;
}

static int check_objects(struct snap_ctx *ctx, const struct snap_image *img)
{
	if (img->nr_objects > SNAP_MAX_OBJECTS)
		return BAD("%u shared memory objects (at most %u)", img->nr_objects, SNAP_MAX_OBJECTS);
	for (uint32_t i = 0; i < img->nr_objects; i++) {
		const struct snap_rec_object *o = &img->objects[i];
		if (o->kind < SNAP_OBJECT_SHARED_ANON || o->kind > SNAP_OBJECT_MEMFD || o->size % SNAP_PAGE_SIZE ||
		    o->size > (1ull << 46) || !str_ok(img, o->name))
			return BAD("shared memory object %u (kind %u, %llu bytes) is malformed", i, o->kind,
				   (unsigned long long)o->size);
	}
	return 0;
}

int snap_image_decode(struct snap_ctx *ctx, const void *data, size_t len, struct snap_image *ret_img)
{
	const uint8_t *buf = data;
	struct snap_meta_header h;
	const struct snap_section *secs[SNAP_SEC_MAX + 1] = { 0 };
	struct snap_section table[SNAP_SEC_MAX];
	struct snap_image img;
	uint64_t expect;
	int r;

	if (len < sizeof(h))
		return BAD("%zu bytes is shorter than the header (the file was truncated)", len);
	memcpy(&h, buf, sizeof(h));
	if (memcmp(h.magic, SNAP_META_MAGIC, 8))
		return snap_err(ctx, -EUCLEAN, "not a snapctl snapshot (bad magic)");
	if (h.version != SNAP_FORMAT_VERSION)
		return snap_err(ctx, -EPROTONOSUPPORT,
				"snapshot format version %u is not supported by this snapctl (it reads version %u)",
				h.version, SNAP_FORMAT_VERSION);
	if (h.header_size != sizeof(h) || h.section_count == 0 || h.section_count > SNAP_SEC_MAX)
		return BAD("header size %u, %u sections", h.header_size, h.section_count);
	if (h.file_size != len)
		return BAD("the file has %zu bytes, its header says %llu (truncated or appended to)", len,
			   (unsigned long long)h.file_size);
	expect = sizeof(h) + (uint64_t)h.section_count * sizeof(struct snap_section);
	if (expect > len)
		return BAD("the section table runs past the end of the file");
	{
		uint32_t stored = h.crc, crc;
		struct snap_meta_header tmp = h;
		tmp.crc = 0;
		crc = snap_crc32c(0, &tmp, sizeof(tmp));
		crc = snap_crc32c(crc, buf + sizeof(h), h.section_count * sizeof(struct snap_section));
		if (crc != stored)
			return BAD("header checksum mismatch");
	}
	memcpy(table, buf + sizeof(h), h.section_count * sizeof(struct snap_section));
	for (uint32_t i = 0; i < h.section_count; i++) {
		const struct snap_section *s = &table[i];
		if (s->type == 0 || s->type > SNAP_SEC_MAX || secs[s->type])
			return BAD("section %u has unknown or repeated type %u", i, s->type);
		if (s->record_size != section_info[s->type].record_size ||
		    s->size != (uint64_t)s->record_size * s->count || (s->record_size > 1 && s->count > SNAP_MAX_RECORDS))
			return BAD("%s section has %u records of %u bytes in %llu bytes", section_info[s->type].name,
				   s->count, s->record_size, (unsigned long long)s->size);
		if (s->offset != expect || s->size > len - expect)
			return BAD("%s section is misplaced", section_info[s->type].name);
		if (snap_crc32c(0, buf + s->offset, s->size) != s->crc)
			return BAD("%s section checksum mismatch", section_info[s->type].name);
		expect += s->size;
		secs[s->type] = s;
	}
	if (expect != len)
		return BAD("%llu bytes after the last section", (unsigned long long)(len - expect));
	if (!secs[SNAP_SEC_PROCESS] || secs[SNAP_SEC_PROCESS]->count != 1 || !secs[SNAP_SEC_STRINGS] ||
	    secs[SNAP_SEC_STRINGS]->size == 0)
		return BAD("process or string section missing");

	snap_image_init(&img);
	memcpy(img.uuid, h.uuid, 16);
	memcpy(&img.process, buf + secs[SNAP_SEC_PROCESS]->offset, sizeof(img.process));
	r = 0;
#define TAKE(type, field, nr)                                                 \
	if (r == 0 && secs[type]) {                                           \
		r = copy_section(buf, secs[type], (void **)&img.field);       \
		img.nr = secs[type]->count;                                   \
	}
	TAKE(SNAP_SEC_THREADS, threads, nr_threads);
	TAKE(SNAP_SEC_VMAS, vmas, nr_vmas);
	TAKE(SNAP_SEC_FILES, files, nr_files);
	TAKE(SNAP_SEC_FDS, fds, nr_fds);
	TAKE(SNAP_SEC_CHUNKS, chunks, nr_chunks);
	TAKE(SNAP_SEC_OBJECTS, objects, nr_objects);
	TAKE(SNAP_SEC_STRINGS, strings, strings_len);
#undef TAKE
	if (r == 0 && secs[SNAP_SEC_BLOBS]) {
		r = copy_section(buf, secs[SNAP_SEC_BLOBS], (void **)&img.blobs);
		img.blobs_len = secs[SNAP_SEC_BLOBS]->size;
	}
	if (r < 0) {
		snap_image_release(&img);
		return snap_err(ctx, r, "out of memory reading the snapshot metadata");
	}
	if (img.strings[0] != 0 || img.strings[img.strings_len - 1] != 0) {
		snap_image_release(&img);
		return BAD("string table is not terminated");
	}
	if ((r = check_process(ctx, &img)) < 0 || (r = check_threads(ctx, &img)) < 0 ||
	    (r = check_files(ctx, &img)) < 0 || (r = check_objects(ctx, &img)) < 0 || (r = check_vmas(ctx, &img)) < 0 ||
	    (r = check_fds(ctx, &img)) < 0 ||
	    (r = check_chunks(ctx, &img)) < 0) {
		snap_image_release(&img);
		return r;
	}
	*ret_img = img;
	return 0;
}

static int read_whole(int dirfd, const char *name, size_t max, void **ret_buf, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd, r = 0;

	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
		r = errno ? -errno : -EFBIG;
		close(fd);
		return r ? r : -EFBIG;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		got += n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret_buf = buf;
	*ret_len = got;
	return 0;
}

int snap_image_load(struct snap_ctx *ctx, const char *dir, struct snap_image *ret_img)
{
	struct snap_pages_header ph, tmp;
	struct stat st;
	void *buf = NULL;
	size_t len = 0;
	int dirfd, fd, r;

	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return snap_err(ctx, -errno, "%s: %s", dir,
				errno == ENOENT ? "no such snapshot directory" : strerror(errno));
	r = read_whole(dirfd, SNAP_META_FILE, SNAP_MAX_META_SIZE, &buf, &len);
	if (r < 0) {
		close(dirfd);
		return snap_err(ctx, r, "%s/%s: %s (not a complete snapshot directory)", dir, SNAP_META_FILE,
				strerror(-r));
	}
	r = snap_image_decode(ctx, buf, len, ret_img);
	free(buf);
	if (r < 0) {
		close(dirfd);
		return snap_err_prefix(ctx, r, "%s/%s", dir, SNAP_META_FILE);
	}

	fd = openat(dirfd, SNAP_PAGES_FILE, O_RDONLY | O_CLOEXEC);
	close(dirfd);
	if (fd < 0) {
		r = snap_err(ctx, -errno, "%s/%s: %s (not a complete snapshot directory)", dir, SNAP_PAGES_FILE,
			     strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != ret_img->process.pages_size) {
		r = snap_err(ctx, -EUCLEAN, "%s/%s: the file has %lld bytes, the snapshot says %llu (truncated?)", dir,
			     SNAP_PAGES_FILE, (long long)st.st_size, (unsigned long long)ret_img->process.pages_size);
		close(fd);
		goto fail;
	}
	if (pread(fd, &ph, sizeof(ph), 0) != (ssize_t)sizeof(ph)) {
		r = snap_err(ctx, -EIO, "%s/%s: cannot read its header", dir, SNAP_PAGES_FILE);
		close(fd);
		goto fail;
	}
	close(fd);
	tmp = ph;
	tmp.crc = 0;
	if (memcmp(ph.magic, SNAP_PAGES_MAGIC, 8) || ph.version != SNAP_FORMAT_VERSION ||
	    ph.header_size != sizeof(ph) || snap_crc32c(0, &tmp, sizeof(tmp)) != ph.crc ||
	    ph.crc != ret_img->process.pages_header_crc || memcmp(ph.uuid, ret_img->uuid, 16)) {
		r = snap_err(ctx, -EUCLEAN, "%s/%s: header is corrupt or belongs to another snapshot", dir,
			     SNAP_PAGES_FILE);
		goto fail;
	}
	return 0;
fail:
	snap_image_release(ret_img);
	return r;
}

int snap_image_verify_pages(struct snap_ctx *ctx, const char *dir, const struct snap_image *img)
{
	uint64_t size = img->process.pages_size, pos;
	uint8_t *map;
	char path[PATH_MAX];
	int fd, r = 0;

	if (img->nr_chunks == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", dir, SNAP_PAGES_FILE);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return snap_err(ctx, -errno, "%s: %s", path, strerror(errno));
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return snap_err(ctx, -errno, "%s: cannot map it: %s", path, strerror(errno));
	pos = sizeof(struct snap_pages_header);
	for (uint32_t i = 0; i < img->nr_chunks; i++) {
		const struct snap_rec_chunk *c = &img->chunks[i];
		uint64_t end = c->offset + c->stored_len;
		if (snap_crc32c(0, map + pos, end - pos) != c->crc) {
			r = snap_err(ctx, -EUCLEAN,
				     "%s: chunk %u (memory at %#llx, file bytes %llu-%llu) fails its checksum: the snapshot is corrupt; capture it again",
				     path, i, (unsigned long long)c->vaddr, (unsigned long long)pos,
				     (unsigned long long)end);
			break;
		}
		pos = end;
	}
	munmap(map, size);
	return r;
}
