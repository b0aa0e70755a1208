/* test_image.c — the snapshot format: a complete image survives the writer
 * and the reader field by field, and the reader refuses every corruption. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checksum.h"
#include "codec.h"
#include "ctx.h"
#include "image.h"

/* ---- a small but complete snapshot ------------------------------------- */

#define PID 4242
#define XSTATE_LEN 832u

/* Indexes into the sample's arrays that the tests below patch. */
enum { VMA_EXE, VMA_WEIGHTS, VMA_HEAP, VMA_RESERVE, VMA_GUARD, VMA_STACK, VMA_VVAR, VMA_VVAR_VCLOCK, VMA_VDSO, NR_VMAS };
enum { FILE_EXE, FILE_WEIGHTS, FILE_LOG, FILE_NULL, NR_FILES };
enum { FD_STDIN, FD_STDOUT, FD_STDERR, FD_LOG, FD_NULL, FD_WEIGHTS, FD_LOG_DUP, NR_FDS };
enum { CHUNK_WEIGHTS, CHUNK_HEAP, CHUNK_HEAP_RANDOM, CHUNK_RESERVE, CHUNK_STACK, NR_CHUNKS };

static const struct {
	uint64_t start, end;
	uint32_t kind, prot, flags;
	int file;
	const char *name;
} sample_vmas[NR_VMAS] = {
	[VMA_EXE] = { 0x400000, 0x404000, SNAP_VMA_FILE, PROT_READ | PROT_EXEC, 0, FILE_EXE, "/usr/bin/python3" },
	[VMA_WEIGHTS] = { 0x600000, 0x610000, SNAP_VMA_FILE, PROT_READ | PROT_WRITE, 0, FILE_WEIGHTS,
			  "/data/my weights.bin" },
	[VMA_HEAP] = { 0x1000000, 0x1100000, SNAP_VMA_ANON, PROT_READ | PROT_WRITE, SNAP_VMA_HEAP, -1, "[heap]" },
	[VMA_RESERVE] = { 0x7f0000000000, 0x7f0000100000, SNAP_VMA_ANON, PROT_READ | PROT_WRITE, SNAP_VMA_NORESERVE,
			  -1, "" },
	[VMA_GUARD] = { 0x7f0000100000, 0x7f0000200000, SNAP_VMA_ANON, PROT_NONE, 0, -1, "" },
	[VMA_STACK] = { 0x7ffc00000000, 0x7ffc00021000, SNAP_VMA_ANON, PROT_READ | PROT_WRITE,
			SNAP_VMA_GROWSDOWN | SNAP_VMA_STACK, -1, "[stack]" },
	[VMA_VVAR] = { 0x7ffc00100000, 0x7ffc00104000, SNAP_VMA_VVAR, PROT_READ, 0, -1, "[vvar]" },
	[VMA_VVAR_VCLOCK] = { 0x7ffc00104000, 0x7ffc00106000, SNAP_VMA_VVAR, PROT_READ, 0, -1, "[vvar_vclock]" },
	[VMA_VDSO] = { 0x7ffc00106000, 0x7ffc00108000, SNAP_VMA_VDSO, PROT_READ | PROT_EXEC, 0, -1, "[vdso]" },
};

static const struct {
	const char *path;
	uint32_t mode;
	uint64_t size;
} sample_files[NR_FILES] = {
	[FILE_EXE] = { "/usr/bin/python3", 0100755, 6890080 },
	[FILE_WEIGHTS] = { "/data/my weights.bin", 0100644, 1 << 20 },
	[FILE_LOG] = { "/tmp/train log.txt", 0100600, 12345 },
	[FILE_NULL] = { "/dev/null", 020666, 0 },
};

static const struct {
	int32_t fd;
	uint32_t kind, open_flags, flags;
	int file, same_as;
	uint64_t pos;
} sample_fds[NR_FDS] = {
	[FD_STDIN] = { 0, SNAP_FD_STDIO, O_RDONLY, 0, -1, -1, 0 },
	[FD_STDOUT] = { 1, SNAP_FD_STDIO, O_WRONLY, 0, -1, -1, 0 },
	[FD_STDERR] = { 2, SNAP_FD_STDIO, O_WRONLY, 0, -1, -1, 0 },
	[FD_LOG] = { 3, SNAP_FD_FILE, O_WRONLY | O_APPEND, SNAP_FD_CLOEXEC, FILE_LOG, -1, 12345 },
	[FD_NULL] = { 4, SNAP_FD_DEVICE, O_RDWR, 0, FILE_NULL, -1, 0 },
	[FD_WEIGHTS] = { 5, SNAP_FD_FILE, O_RDONLY, SNAP_FD_CLOEXEC | SNAP_FD_CHECK_CONTENT, FILE_WEIGHTS, -1, 4096 },
	[FD_LOG_DUP] = { 42, SNAP_FD_FILE, O_WRONLY | O_APPEND, 0, FILE_LOG, FD_LOG, 12345 },
};

enum content { CONTENT_RANDOM, CONTENT_TEXT, CONTENT_ZERO };

static const struct {
	uint64_t vaddr;
	uint32_t npages;
	enum content content;
	uint32_t encoding; /* what the codec must choose for that content */
} sample_chunks[NR_CHUNKS] = {
	[CHUNK_WEIGHTS] = { 0x601000, 1, CONTENT_RANDOM, SNAP_CHUNK_RAW },
	[CHUNK_HEAP] = { 0x1000000, 4, CONTENT_TEXT, SNAP_CHUNK_ZSTD },
	[CHUNK_HEAP_RANDOM] = { 0x1010000, 1, CONTENT_RANDOM, SNAP_CHUNK_RAW },
	[CHUNK_RESERVE] = { 0x7f0000000000, 1, CONTENT_ZERO, SNAP_CHUNK_ZSTD },
	[CHUNK_STACK] = { 0x7ffc0001f000, 2, CONTENT_TEXT, SNAP_CHUNK_ZSTD },
};

static const uint8_t sample_uuid[16] = { 0x6b, 0x1e, 0x3c, 0x55, 0x0f, 0x9a, 0x42, 0x11,
					 0x8d, 0x27, 0xe4, 0x01, 0xb3, 0x7c, 0x90, 0x5e };

struct sample {
	struct snap_image img;
	uint8_t *pages;      /* the pages file, header included */
	size_t pages_len;
	uint8_t *memory[NR_CHUNKS]; /* what each chunk holds, uncompressed */
	uint8_t *meta;       /* snap_image_encode's output */
	size_t meta_len;
	const void *param;   /* the test's own parameter (a semantic case) */
};

static uint64_t rng_state;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void fill(uint8_t *p, size_t len, enum content content)
{
	static const char words[][8] = { "tensor", "weight", "grad", "layer", "bias", "adam", "step", "norm" };

	switch (content) {
	case CONTENT_RANDOM:
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)(rng() >> 56);
		break;
	case CONTENT_TEXT:
		for (size_t i = 0; i < len;) {
			const char *w = words[rng() % 8];
			for (size_t k = 0; w[k] && i < len; k++)
				p[i++] = (uint8_t)w[k];
			if (i < len)
				p[i++] = ' ';
		}
		break;
	case CONTENT_ZERO:
		memset(p, 0, len);
		break;
	}
}

static snap_str_t add_string(struct snap_image *img, const char *s)
{
	snap_str_t r = 0;

	assert_int_equal(snap_image_add_string(img, s, &r), 0);
	return r;
}

static void build_process(struct snap_image *img)
{
	struct snap_rec_process *p = &img->process;

	p->pid = PID;
	p->personality = 0x0040000; /* ADDR_NO_RANDOMIZE */
	p->umask = 022;
	p->flags = 0;
	p->cwd = add_string(img, "/home/user/work dir");
	p->kernel_release = add_string(img, "6.18.0-snap");
	p->comm = add_string(img, "python3");
	p->capture_time_ns = 1767225600123456789ull;
	p->start_code = 0x400000;
	p->end_code = 0x403abc;
	p->start_data = 0x600000;
	p->end_data = 0x6001f0;
	p->start_brk = 0x1000000;
	p->brk = 0x1021000;
	p->start_stack = 0x7ffc00020ff0;
	p->arg_start = 0x7ffc00020a00;
	p->arg_end = 0x7ffc00020a40;
	p->env_start = 0x7ffc00020a40;
	p->env_end = 0x7ffc00020fe0;
	p->auxv_count = 4;
	p->auxv[0] = 33; /* AT_SYSINFO_EHDR */
	p->auxv[1] = sample_vmas[VMA_VDSO].start;
	p->auxv[2] = 6; /* AT_PAGESZ */
	p->auxv[3] = 4096;
	p->auxv[4] = 9; /* AT_ENTRY */
	p->auxv[5] = 0x401020;
	p->auxv[6] = 0; /* AT_NULL */
	p->auxv[7] = 0;
	for (int i = 0; i < SNAP_NRLIMITS; i++) {
		p->rlimits[i].cur = 1000 + (uint64_t)i;
		p->rlimits[i].max = i % 3 ? UINT64_MAX : 2000 + (uint64_t)i;
	}
	p->sigactions[2 - 1].handler = 0x401500; /* SIGINT */
	p->sigactions[2 - 1].flags = 0x04000000;
	p->sigactions[2 - 1].restorer = 0x7f36a0d5a050;
	p->sigactions[2 - 1].mask = 1ull << (15 - 1);
	p->sigactions[13 - 1].handler = 1; /* SIGPIPE: SIG_IGN */
	p->sigactions[64 - 1].handler = 0x401600;
	p->sigactions[64 - 1].mask = UINT64_MAX;
	p->xfeatures = 0x2e7;
	p->xsave_size = 2696;
	p->exe_file = FILE_EXE;
}

static void build_thread(struct snap_image *img)
{
	struct snap_rec_thread *t;
	uint8_t xstate[XSTATE_LEN];
	uint64_t off;

	fill(xstate, sizeof(xstate), CONTENT_RANDOM);
	assert_int_equal(snap_image_add_thread(img, &t), 0);
	t->tid = PID;
	t->flags = 0;
	for (int i = 0; i < SNAP_REGS_WORDS; i++)
		t->regs[i] = 0x1111111111111111ull * (uint64_t)(i % 15 + 1) + (uint64_t)i;
	t->sigmask = 1ull << (10 - 1);
	t->altstack_sp = 0x7f0000010000;
	t->altstack_size = 65536;
	t->altstack_flags = 0;
	t->rseq_len = 32;
	t->rseq_ptr = 0x7f36a0d3f9e0;
	t->rseq_sig = 0x53053053;
	t->robust_head = 0x7f36a0d3f9a0;
	t->robust_len = 24;
	t->clear_child_tid = 0x7f36a0d3f990;
	strcpy(t->comm, "python3");
	/* The builder may move records when it grows: take the pointer again. */
	assert_int_equal(snap_image_add_blob(img, xstate, sizeof(xstate), &off), 0);
	t = &img->threads[0];
	t->xstate_off = off;
	t->xstate_len = sizeof(xstate);
}

static void build_files_vmas_fds(struct snap_image *img)
{
	for (int i = 0; i < NR_FILES; i++) {
		struct snap_rec_file *f;
		int32_t index;
		snap_str_t path = add_string(img, sample_files[i].path);

		assert_int_equal(snap_image_add_file(img, &f, &index), 0);
		assert_int_equal(index, i);
		f->path = path;
		f->mode = sample_files[i].mode;
		f->dev = 0xfe00;
		f->ino = 247134 + (uint64_t)i;
		f->size = sample_files[i].size;
		f->mtime_ns = 1767225000000000000ll + i;
	}
	for (int i = 0; i < NR_VMAS; i++) {
		struct snap_rec_vma *v;
		snap_str_t name = add_string(img, sample_vmas[i].name);

		assert_int_equal(snap_image_add_vma(img, &v), 0);
		assert_int_equal(v->file, -1);
		v->start = sample_vmas[i].start;
		v->end = sample_vmas[i].end;
		v->pgoff = sample_vmas[i].kind == SNAP_VMA_FILE ? 0x2000 * (uint64_t)i : 0;
		v->prot = sample_vmas[i].prot;
		v->kind = sample_vmas[i].kind;
		v->flags = sample_vmas[i].flags;
		v->file = sample_vmas[i].file;
		v->name = name;
	}
	for (int i = 0; i < NR_FDS; i++) {
		struct snap_rec_fd *f;

		assert_int_equal(snap_image_add_fd(img, &f), 0);
		assert_int_equal(f->file, -1);
		assert_int_equal(f->same_as, -1);
		f->fd = sample_fds[i].fd;
		f->kind = sample_fds[i].kind;
		f->file = sample_fds[i].file;
		f->open_flags = sample_fds[i].open_flags;
		f->pos = sample_fds[i].pos;
		f->flags = sample_fds[i].flags;
		f->same_as = sample_fds[i].same_as;
	}
}

/* Lays the chunks out the way the writer must: after the 64-byte header,
 * raw chunks on page boundaries, compressed ones right after the previous
 * chunk, each CRC covering the bytes since the end of the previous one. */
static void build_pages(struct sample *s)
{
	struct snap_image *img = &s->img;
	struct snap_pages_header h;
	struct snap_codec *codec;
	size_t cap = sizeof(h), pos = sizeof(h);

	for (int i = 0; i < NR_CHUNKS; i++)
		cap += SNAP_PAGE_SIZE + (size_t)sample_chunks[i].npages * SNAP_PAGE_SIZE;
	s->pages = calloc(1, cap);
	assert_non_null(s->pages);
	snap_pages_header_init(&h, img->uuid);
	memcpy(s->pages, &h, sizeof(h));
	img->process.pages_header_crc = h.crc;
	assert_int_equal(snap_codec_new(&codec), 0);

	for (int i = 0; i < NR_CHUNKS; i++) {
		size_t len = (size_t)sample_chunks[i].npages * SNAP_PAGE_SIZE, stored = 0;
		struct snap_rec_chunk *c;
		uint8_t *frame = malloc(len);
		int enc;

		s->memory[i] = malloc(len);
		assert_non_null(frame);
		assert_non_null(s->memory[i]);
		fill(s->memory[i], len, sample_chunks[i].content);
		enc = snap_codec_compress(codec, s->memory[i], len, frame, len, &stored);
		assert_int_equal(enc, sample_chunks[i].encoding);
		assert_int_equal(snap_image_add_chunk(img, &c), 0);
		c->vaddr = sample_chunks[i].vaddr;
		c->npages = sample_chunks[i].npages;
		c->encoding = (uint32_t)enc;
		if (enc == SNAP_CHUNK_RAW) {
			c->offset = (pos + SNAP_PAGE_SIZE - 1) / SNAP_PAGE_SIZE * SNAP_PAGE_SIZE;
			c->stored_len = len;
			memcpy(s->pages + c->offset, s->memory[i], len);
		} else {
			c->offset = pos;
			c->stored_len = stored;
			memcpy(s->pages + c->offset, frame, stored);
		}
		c->crc = snap_crc32c(0, s->pages + pos, c->offset + c->stored_len - pos);
		pos = c->offset + c->stored_len;
		assert_true(pos <= cap);
		free(frame);
	}
	snap_codec_free(codec);
	s->pages_len = pos;
	img->process.pages_size = pos;
}

static void sample_build(struct sample *s)
{
	void *meta = NULL;

	memset(s, 0, sizeof(*s));
	rng_state = 0x2545f4914f6cdd1dull;
	snap_image_init(&s->img);
	memcpy(s->img.uuid, sample_uuid, 16);
	build_files_vmas_fds(&s->img);
	build_process(&s->img);
	build_thread(&s->img);
	build_pages(s);
	assert_int_equal(snap_image_encode(&s->img, &meta, &s->meta_len), 0);
	s->meta = meta;
	/* The writer fills nr_threads from the thread records. */
	assert_int_equal(s->img.process.nr_threads, 1);
}

static void sample_free(struct sample *s)
{
	snap_image_release(&s->img);
	free(s->pages);
	free(s->meta);
	for (int i = 0; i < NR_CHUNKS; i++)
		free(s->memory[i]);
}

static int setup(void **state)
{
	struct sample *s = malloc(sizeof(*s));
	const void *param = *state;

	if (!s)
		return -1;
	sample_build(s);
	s->param = param;
	*state = s;
	return 0;
}

static int teardown(void **state)
{
	sample_free(*state);
	free(*state);
	return 0;
}

/* ---- comparing ---------------------------------------------------------- */

#define EQ(a, b, field) assert_int_equal((a)->field, (b)->field)
#define EQ_MEM(a, b, field) assert_memory_equal((a)->field, (b)->field, sizeof((a)->field))

static void compare_process(const struct snap_rec_process *a, const struct snap_rec_process *b)
{
	EQ(a, b, pid);
	EQ(a, b, personality);
	EQ(a, b, umask);
	EQ(a, b, flags);
	EQ(a, b, cwd);
	EQ(a, b, exe_file);
	EQ(a, b, kernel_release);
	EQ(a, b, comm);
	EQ(a, b, capture_time_ns);
	EQ(a, b, start_code);
	EQ(a, b, end_code);
	EQ(a, b, start_data);
	EQ(a, b, end_data);
	EQ(a, b, start_brk);
	EQ(a, b, brk);
	EQ(a, b, start_stack);
	EQ(a, b, arg_start);
	EQ(a, b, arg_end);
	EQ(a, b, env_start);
	EQ(a, b, env_end);
	EQ(a, b, auxv_count);
	EQ(a, b, nr_threads);
	EQ_MEM(a, b, auxv);
	EQ_MEM(a, b, rlimits);
	EQ_MEM(a, b, sigactions);
	EQ(a, b, xfeatures);
	EQ(a, b, xsave_size);
	EQ(a, b, pages_size);
	EQ(a, b, pages_header_crc);
}

static void compare_images(const struct snap_image *a, const struct snap_image *b)
{
	assert_memory_equal(a->uuid, b->uuid, 16);
	compare_process(&a->process, &b->process);

	assert_int_equal(a->nr_threads, b->nr_threads);
	for (uint32_t i = 0; i < a->nr_threads; i++) {
		const struct snap_rec_thread *x = &a->threads[i], *y = &b->threads[i];

		EQ(x, y, tid);
		EQ(x, y, flags);
		EQ_MEM(x, y, regs);
		EQ(x, y, sigmask);
		EQ(x, y, altstack_sp);
		EQ(x, y, altstack_size);
		EQ(x, y, altstack_flags);
		EQ(x, y, rseq_len);
		EQ(x, y, rseq_ptr);
		EQ(x, y, rseq_sig);
		EQ(x, y, robust_head);
		EQ(x, y, robust_len);
		EQ(x, y, clear_child_tid);
		EQ(x, y, xstate_off);
		EQ(x, y, xstate_len);
		assert_string_equal(x->comm, y->comm);
		assert_memory_equal(a->blobs + x->xstate_off, b->blobs + y->xstate_off, x->xstate_len);
	}
	assert_int_equal(a->nr_vmas, b->nr_vmas);
	for (uint32_t i = 0; i < a->nr_vmas; i++) {
		const struct snap_rec_vma *x = &a->vmas[i], *y = &b->vmas[i];

		EQ(x, y, start);
		EQ(x, y, end);
		EQ(x, y, pgoff);
		EQ(x, y, prot);
		EQ(x, y, kind);
		EQ(x, y, flags);
		EQ(x, y, file);
		EQ(x, y, name);
		assert_string_equal(snap_image_string(a, x->name), snap_image_string(b, y->name));
	}
	assert_int_equal(a->nr_files, b->nr_files);
	for (uint32_t i = 0; i < a->nr_files; i++) {
		const struct snap_rec_file *x = &a->files[i], *y = &b->files[i];

		EQ(x, y, path);
		EQ(x, y, mode);
		EQ(x, y, dev);
		EQ(x, y, ino);
		EQ(x, y, size);
		EQ(x, y, mtime_ns);
		assert_string_equal(snap_image_string(a, x->path), snap_image_string(b, y->path));
	}
	assert_int_equal(a->nr_fds, b->nr_fds);
	for (uint32_t i = 0; i < a->nr_fds; i++) {
		const struct snap_rec_fd *x = &a->fds[i], *y = &b->fds[i];

		EQ(x, y, fd);
		EQ(x, y, kind);
		EQ(x, y, file);
		EQ(x, y, open_flags);
		EQ(x, y, pos);
		EQ(x, y, flags);
		EQ(x, y, same_as);
	}
	assert_int_equal(a->nr_chunks, b->nr_chunks);
	for (uint32_t i = 0; i < a->nr_chunks; i++) {
		const struct snap_rec_chunk *x = &a->chunks[i], *y = &b->chunks[i];

		EQ(x, y, vaddr);
		EQ(x, y, npages);
		EQ(x, y, encoding);
		EQ(x, y, offset);
		EQ(x, y, stored_len);
		EQ(x, y, crc);
	}
	assert_int_equal(a->strings_len, b->strings_len);
	assert_memory_equal(a->strings, b->strings, a->strings_len);
	assert_int_equal(a->blobs_len, b->blobs_len);
	assert_memory_equal(a->blobs, b->blobs, a->blobs_len);
}

/* ---- reading back --------------------------------------------------------- */

static struct snap_ctx *ctx_new(void)
{
	struct snap_ctx *ctx = NULL;

	assert_int_equal(snap_ctx_new(&ctx), 0);
	return ctx;
}

/* Decodes buf, which must be refused with an error message; ret_img must
 * not be touched. Returns the error. The ctx error is cleared first so an
 * old message does not count. */
static int decode_refused(struct snap_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct snap_image img, untouched;
	int r;

	memset(&untouched, 0x5c, sizeof(untouched));
	memcpy(&img, &untouched, sizeof(img));
	ctx->error[0] = '\0';
	r = snap_image_decode(ctx, buf, len, &img);
	if (r >= 0) {
		snap_image_release(&img);
		fail_msg("a corrupt image of %zu bytes was accepted", len);
	}
	if (snap_ctx_error(ctx)[0] == '\0')
		fail_msg("refused with %d but no error message", r);
	assert_memory_equal(&img, &untouched, sizeof(img));
	return r;
}

static void expect_error(struct snap_ctx *ctx, const char *needle)
{
	const char *e = snap_ctx_error(ctx);

	if (!strstr(e, needle))
		fail_msg("error \"%s\" does not say \"%s\"", e, needle);
}

static void test_round_trip(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	struct snap_image back;
	uint8_t *exact = malloc(s->meta_len);
	void *again = NULL;
	size_t again_len = 0;

	/* An exactly sized copy: a read past the end is a sanitizer error. */
	assert_non_null(exact);
	memcpy(exact, s->meta, s->meta_len);
	assert_int_equal(snap_image_decode(ctx, exact, s->meta_len, &back), 0);
	compare_images(&s->img, &back);

	/* What the tests below rely on about the sample itself. */
	assert_int_equal(back.nr_vmas, NR_VMAS);
	assert_int_equal(back.nr_chunks, NR_CHUNKS);
	assert_string_equal(snap_image_string(&back, back.process.cwd), "/home/user/work dir");
	assert_string_equal(snap_image_string(&back, back.vmas[VMA_WEIGHTS].name), "/data/my weights.bin");
	assert_string_equal(snap_image_string(&back, back.files[back.vmas[VMA_WEIGHTS].file].path),
			    "/data/my weights.bin");
	assert_int_equal(back.fds[FD_LOG_DUP].same_as, FD_LOG);
	assert_int_equal(back.process.pages_size, s->pages_len);
	assert_int_equal(back.chunks[NR_CHUNKS - 1].offset + back.chunks[NR_CHUNKS - 1].stored_len, s->pages_len);
	assert_string_equal(snap_image_string(&back, 0), "");

	/* Writing what was read gives the same bytes. */
	assert_int_equal(snap_image_encode(&back, &again, &again_len), 0);
	assert_int_equal(again_len, s->meta_len);
	assert_memory_equal(again, s->meta, s->meta_len);

	free(again);
	snap_image_release(&back);
	free(exact);
	snap_ctx_free(ctx);
}

/* An image with nothing optional: no vmas, files, fds, chunks or blobs,
 * an empty pages file (just the header). */
static void test_round_trip_minimal(void **state)
{
	struct snap_ctx *ctx = ctx_new();
	struct snap_image img, back;
	struct snap_rec_thread *t;
	struct snap_pages_header h;
	void *buf = NULL;
	size_t len = 0;

	snap_image_init(&img);
	img.process.pid = 1;
	assert_int_equal(snap_image_add_thread(&img, &t), 0);
	t->tid = 1;
	snap_pages_header_init(&h, img.uuid);
	img.process.pages_size = sizeof(h);
	img.process.pages_header_crc = h.crc;
	assert_int_equal(snap_image_encode(&img, &buf, &len), 0);
	assert_int_equal(snap_image_decode(ctx, buf, len, &back), 0);
	compare_process(&img.process, &back.process);
	assert_int_equal(back.nr_threads, 1);
	assert_int_equal(back.threads[0].tid, 1);
	assert_int_equal(back.nr_vmas + back.nr_files + back.nr_fds + back.nr_chunks, 0);
	assert_int_equal(back.blobs_len, 0);
	assert_int_equal(back.process.exe_file, -1);
	/* No strings were added: the writer still writes the empty string. */
	assert_int_equal(back.strings_len, 1);
	assert_int_equal(back.strings[0], '\0');
	snap_image_release(&back);
	snap_image_release(&img);
	free(buf);
	snap_ctx_free(ctx);
}

/* ---- corruption ----------------------------------------------------------- */

static void test_every_byte_corruption(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);
	size_t n = 0;

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	for (size_t i = 0; i < s->meta_len; i++) {
		uint8_t orig = buf[i];

		/* The whole byte inverted, then each bit alone. */
		buf[i] = orig ^ 0xff;
		decode_refused(ctx, buf, s->meta_len);
		for (int bit = 0; bit < 8; bit++) {
			buf[i] = orig ^ (uint8_t)(1u << bit);
			decode_refused(ctx, buf, s->meta_len);
		}
		buf[i] = orig;
		n++;
	}
	assert_int_equal(n, s->meta_len);
	free(buf);
	snap_ctx_free(ctx);
}

static void test_every_truncation(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();

	for (size_t len = 0; len < s->meta_len; len++) {
		/* Exactly len bytes, so reading one past them is caught. */
		uint8_t *buf = malloc(len ? len : 1);

		assert_non_null(buf);
		memcpy(buf, s->meta, len);
		decode_refused(ctx, buf, len);
		free(buf);
	}
	snap_ctx_free(ctx);
}

/* ---- patching valid images ------------------------------------------------ */

/* Recomputes every section CRC and then the header CRC, the way the
 * writer does: a patched image is then wrong only in what was patched. */
static void reseal(uint8_t *buf, size_t len)
{
	struct snap_meta_header h;
	struct snap_section sec;

	assert_true(len >= sizeof(h));
	memcpy(&h, buf, sizeof(h));
	assert_true(sizeof(h) + (size_t)h.section_count * sizeof(sec) <= len);
	for (uint32_t i = 0; i < h.section_count; i++) {
		uint8_t *at = buf + sizeof(h) + i * sizeof(sec);

		memcpy(&sec, at, sizeof(sec));
		assert_true(sec.offset <= len && sec.size <= len - sec.offset);
		sec.crc = snap_crc32c(0, buf + sec.offset, sec.size);
		memcpy(at, &sec, sizeof(sec));
	}
	h.crc = 0;
	memcpy(buf, &h, sizeof(h));
	h.crc = snap_crc32c(0, buf, sizeof(h) + h.section_count * sizeof(sec));
	memcpy(buf, &h, sizeof(h));
}

/* Where record index of the section of this type lies in buf. */
static uint8_t *record_at(uint8_t *buf, uint32_t type, size_t record_size, uint32_t index)
{
	struct snap_meta_header h;
	struct snap_section sec;

	memcpy(&h, buf, sizeof(h));
	for (uint32_t i = 0; i < h.section_count; i++) {
		memcpy(&sec, buf + sizeof(h) + i * sizeof(sec), sizeof(sec));
		if (sec.type != type)
			continue;
		assert_int_equal(sec.record_size, record_size);
		assert_true(index < sec.count);
		return buf + sec.offset + (size_t)index * record_size;
	}
	fail_msg("no section of type %u", type);
	return NULL;
}

/* PATCH(buf, SNAP_SEC_VMAS, struct snap_rec_vma, 2, start, += 0x800):
 * applies the assignment to one field of one record, in place. */
#define PATCH(buf, type, rectype, index, field, assignment)                      \
	do {                                                                     \
		uint8_t *at_ = record_at(buf, type, sizeof(rectype), index);     \
		rectype rec_;                                                    \
		memcpy(&rec_, at_, sizeof(rec_));                                \
		rec_.field assignment;                                           \
		memcpy(at_, &rec_, sizeof(rec_));                                \
	} while (0)
#define PATCH_PROCESS(buf, field, assignment) PATCH(buf, SNAP_SEC_PROCESS, struct snap_rec_process, 0, field, assignment)
#define PATCH_THREAD(buf, field, assignment) PATCH(buf, SNAP_SEC_THREADS, struct snap_rec_thread, 0, field, assignment)
#define PATCH_VMA(buf, i, field, assignment) PATCH(buf, SNAP_SEC_VMAS, struct snap_rec_vma, i, field, assignment)
#define PATCH_FILE(buf, i, field, assignment) PATCH(buf, SNAP_SEC_FILES, struct snap_rec_file, i, field, assignment)
#define PATCH_FD(buf, i, field, assignment) PATCH(buf, SNAP_SEC_FDS, struct snap_rec_fd, i, field, assignment)
#define PATCH_CHUNK(buf, i, field, assignment) PATCH(buf, SNAP_SEC_CHUNKS, struct snap_rec_chunk, i, field, assignment)

/* Resealing what the writer wrote changes nothing: reseal and record_at
 * compute what the writer computes, so the tests below test the reader. */
static void test_reseal_is_identity(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);
	struct snap_image back;

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	reseal(buf, s->meta_len);
	assert_memory_equal(buf, s->meta, s->meta_len);

	/* A harmless patch, resealed, is accepted and read back. */
	PATCH_VMA(buf, VMA_HEAP, prot, = PROT_READ);
	PATCH_FD(buf, FD_LOG, pos, = 777);
	reseal(buf, s->meta_len);
	assert_int_equal(snap_image_decode(ctx, buf, s->meta_len, &back), 0);
	assert_int_equal(back.vmas[VMA_HEAP].prot, PROT_READ);
	assert_int_equal(back.fds[FD_LOG].pos, 777);
	snap_image_release(&back);
	free(buf);
	snap_ctx_free(ctx);
}

static void test_appended_bytes(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = calloc(1, s->meta_len + 4096);

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	decode_refused(ctx, buf, s->meta_len + 1);
	decode_refused(ctx, buf, s->meta_len + 4096);
	/* Even with a header that claims the extra bytes and valid CRCs. */
	{
		struct snap_meta_header h;

		memcpy(&h, buf, sizeof(h));
		h.file_size = s->meta_len + 8;
		memcpy(buf, &h, sizeof(h));
		reseal(buf, s->meta_len + 8);
		decode_refused(ctx, buf, s->meta_len + 8);
		expect_error(ctx, "after the last section");
	}
	free(buf);
	snap_ctx_free(ctx);
}

static void test_bad_magic(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	memcpy(buf, SNAP_PAGES_MAGIC, 8); /* a pages file given as meta */
	reseal(buf, s->meta_len);
	assert_int_equal(decode_refused(ctx, buf, s->meta_len), -EUCLEAN);
	expect_error(ctx, "magic");
	free(buf);
	snap_ctx_free(ctx);
}

static void test_wrong_version(void **state)
{
	static const uint32_t versions[] = { 0, 2, 3, 0x01000000, UINT32_MAX };
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);

	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		struct snap_meta_header h;
		char want[64];

		memcpy(buf, s->meta, s->meta_len);
		memcpy(&h, buf, sizeof(h));
		h.version = versions[i];
		memcpy(buf, &h, sizeof(h));
		reseal(buf, s->meta_len); /* so only the version is wrong */
		assert_int_equal(decode_refused(ctx, buf, s->meta_len), -EPROTONOSUPPORT);
		snprintf(want, sizeof(want), "version %u", versions[i]);
		expect_error(ctx, want);
	}
	free(buf);
	snap_ctx_free(ctx);
}

/* ---- semantic checks, each with valid CRCs -------------------------------- */

struct semantic_case {
	void (*patch)(uint8_t *buf, const struct sample *s);
	const char *error; /* what the message must say */
};

static void overlapping_vmas(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_GUARD, start, = sample_vmas[VMA_RESERVE].end - SNAP_PAGE_SIZE);
}

static void vmas_out_of_order(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_EXE, start, = 0x7ffe00000000);
	PATCH_VMA(buf, VMA_EXE, end, = 0x7ffe00004000);
}

static void unaligned_vma_start(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_GUARD, start, += 0x800);
}

static void unaligned_vma_end(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_GUARD, end, -= 1);
}

static void empty_vma(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_GUARD, end, = sample_vmas[VMA_GUARD].start);
}

static void vma_beyond_user_space(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_VDSO, end, = 0x800000001000ull);
}

static void vma_bad_kind(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_GUARD, kind, = 9);
}

static void vma_file_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_WEIGHTS, file, = NR_FILES);
}

static void anon_vma_with_file(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_HEAP, file, = FILE_WEIGHTS);
}

static void chunk_outside_vmas(uint8_t *buf, const struct sample *s)
{
	/* Between the guard region and the stack: no mapping there. */
	PATCH_CHUNK(buf, CHUNK_RESERVE, vaddr, = 0x7f0000300000);
}

static void chunk_across_two_vmas(uint8_t *buf, const struct sample *s)
{
	/* The last page of the reserve and the first of the guard region:
	 * both anonymous, but one chunk must lie in one mapping. */
	PATCH_CHUNK(buf, CHUNK_RESERVE, vaddr, = sample_vmas[VMA_RESERVE].end - SNAP_PAGE_SIZE);
	PATCH_CHUNK(buf, CHUNK_RESERVE, npages, = 2);
}

static void chunk_in_vdso(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_STACK, vaddr, = sample_vmas[VMA_VDSO].start);
}

static void chunk_in_vvar(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_STACK, vaddr, = sample_vmas[VMA_VVAR].start);
}

static void chunks_out_of_order(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP_RANDOM, vaddr, = sample_chunks[CHUNK_HEAP].vaddr + SNAP_PAGE_SIZE);
}

static void chunk_unaligned_vaddr(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP, vaddr, += 8);
}

static void chunk_no_pages(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP, npages, = 0);
}

static void chunk_too_many_pages(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP, npages, = SNAP_CHUNK_MAX_PAGES + 1);
}

static void raw_chunk_unaligned(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP_RANDOM, offset, += 1);
}

static void raw_chunk_short(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_WEIGHTS, stored_len, -= 1);
}

static void zstd_chunk_longer_than_pages(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_RESERVE, stored_len, = SNAP_PAGE_SIZE + 1);
}

static void chunk_bad_encoding(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_HEAP, encoding, = 2);
}

static void chunk_gap_4096(uint8_t *buf, const struct sample *s)
{
	/* The last chunk follows the previous one directly: move it a page
	 * on and grow the file with it, so only the gap is wrong. */
	assert_int_equal(s->img.chunks[CHUNK_STACK].offset,
			 s->img.chunks[CHUNK_RESERVE].offset + s->img.chunks[CHUNK_RESERVE].stored_len);
	PATCH_CHUNK(buf, CHUNK_STACK, offset, += SNAP_PAGE_SIZE);
	PATCH_PROCESS(buf, pages_size, += SNAP_PAGE_SIZE);
}

static void chunk_overlaps_previous(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_STACK, offset, -= 1);
	PATCH_PROCESS(buf, pages_size, -= 1);
}

static void chunk_inside_header(uint8_t *buf, const struct sample *s)
{
	PATCH_CHUNK(buf, CHUNK_WEIGHTS, offset, = 0);
}

static void fd_file_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_NULL, file, = NR_FILES);
}

static void fd_file_negative(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_NULL, file, = -2);
}

static void fd_stdio_with_file(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_STDOUT, file, = FILE_LOG);
}

static void fd_stdio_above_2(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_NULL, kind, = SNAP_FD_STDIO);
	PATCH_FD(buf, FD_NULL, file, = -1);
}

static void fds_out_of_order(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_WEIGHTS, fd, = 4);
}

static void fd_shares_later_record(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_LOG, same_as, = FD_LOG_DUP);
}

static void fd_shares_other_file(uint8_t *buf, const struct sample *s)
{
	PATCH_FD(buf, FD_LOG_DUP, same_as, = FD_NULL);
}

static void vma_name_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_VMA(buf, VMA_STACK, name, = s->img.strings_len);
}

static void cwd_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, cwd, = UINT32_MAX);
}

static void file_path_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_FILE(buf, FILE_LOG, path, = s->img.strings_len + 100);
}

static void file_path_relative(uint8_t *buf, const struct sample *s)
{
	/* Points into the middle of "/usr/bin/python3": "usr/bin/python3". */
	PATCH_FILE(buf, FILE_EXE, path, += 1);
}

static void xstate_past_blobs(uint8_t *buf, const struct sample *s)
{
	PATCH_THREAD(buf, xstate_off, = s->img.blobs_len - XSTATE_LEN + 1);
}

static void xstate_offset_wraps(uint8_t *buf, const struct sample *s)
{
	/* off + len wraps around to a small number. */
	PATCH_THREAD(buf, xstate_off, = UINT64_MAX - 16);
}

static void xstate_too_large(uint8_t *buf, const struct sample *s)
{
	PATCH_THREAD(buf, xstate_len, = SNAP_XSTATE_MAX + 1);
}

static void pages_size_past_last_chunk(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, pages_size, += 1);
}

static void pages_size_before_last_chunk_end(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, pages_size, -= 1);
}

static void nr_threads_mismatch(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, nr_threads, = 2);
}

static void exe_file_out_of_range(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, exe_file, = NR_FILES);
}

static void too_many_auxv(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, auxv_count, = SNAP_MAX_AUXV + 1);
}

static void bad_pid(uint8_t *buf, const struct sample *s)
{
	PATCH_PROCESS(buf, pid, = 0);
}

static void bad_tid(uint8_t *buf, const struct sample *s)
{
	PATCH_THREAD(buf, tid, = -1);
}

static void thread_name_unterminated(uint8_t *buf, const struct sample *s)
{
	/* Sixteen letters and no NUL: printing it would read past the record. */
	for (int i = 0; i < 16; i++)
		PATCH_THREAD(buf, comm[i], = 'x');
}

/* One semantic case alone, with CRCs valid: refused, saying why. */
static void test_semantic(void **state)
{
	struct sample *s = *state;
	const struct semantic_case *c = s->param;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	c->patch(buf, s);
	reseal(buf, s->meta_len);
	assert_int_equal(decode_refused(ctx, buf, s->meta_len), -EUCLEAN);
	expect_error(ctx, c->error);
	free(buf);
	snap_ctx_free(ctx);
}

/* The limits are where the format puts them: one byte less than a page of
 * gap, a chunk filling its mapping, a compressed chunk as long as its
 * pages are all accepted. */
static void test_semantic_limits_accepted(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	uint8_t *buf = malloc(s->meta_len);
	struct snap_image back;

	assert_non_null(buf);
	memcpy(buf, s->meta, s->meta_len);
	PATCH_CHUNK(buf, CHUNK_STACK, offset, += SNAP_PAGE_SIZE - 1);
	PATCH_PROCESS(buf, pages_size, += SNAP_PAGE_SIZE - 1);
	reseal(buf, s->meta_len);
	assert_int_equal(snap_image_decode(ctx, buf, s->meta_len, &back), 0);
	snap_image_release(&back);

	memcpy(buf, s->meta, s->meta_len);
	PATCH_CHUNK(buf, CHUNK_STACK, vaddr, = sample_vmas[VMA_STACK].end - 2 * SNAP_PAGE_SIZE);
	PATCH_CHUNK(buf, CHUNK_RESERVE, stored_len, = SNAP_PAGE_SIZE);
	PATCH_CHUNK(buf, CHUNK_STACK, offset, = s->img.chunks[CHUNK_RESERVE].offset + SNAP_PAGE_SIZE);
	PATCH_PROCESS(buf, pages_size, = s->img.chunks[CHUNK_RESERVE].offset + SNAP_PAGE_SIZE +
						 s->img.chunks[CHUNK_STACK].stored_len);
	reseal(buf, s->meta_len);
	assert_int_equal(snap_image_decode(ctx, buf, s->meta_len, &back), 0);
	snap_image_release(&back);
	free(buf);
	snap_ctx_free(ctx);
}

/* ---- a snapshot directory on disk ----------------------------------------- */

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

struct snapdir {
	char dir[64];
	char pages[128], meta[128];
};

static void snapdir_create(struct snapdir *d, const struct sample *s)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(d->dir, sizeof(d->dir), "%s/test_image.XXXXXX", tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->pages, sizeof(d->pages), "%s/%s", d->dir, SNAP_PAGES_FILE);
	snprintf(d->meta, sizeof(d->meta), "%s/%s", d->dir, SNAP_META_FILE);
	write_file(d->dir, SNAP_META_FILE, s->meta, s->meta_len);
	write_file(d->dir, SNAP_PAGES_FILE, s->pages, s->pages_len);
}

static void snapdir_remove(struct snapdir *d)
{
	unlink(d->pages);
	unlink(d->meta);
	assert_int_equal(rmdir(d->dir), 0);
}

/* Loads and verifies; 0 when both succeed, else the first error. */
static int load_and_verify(struct snap_ctx *ctx, const char *dir, bool *ret_load_failed)
{
	struct snap_image img;
	int r;

	ctx->error[0] = '\0';
	r = snap_image_load(ctx, dir, &img);
	*ret_load_failed = r < 0;
	if (r < 0)
		return r;
	r = snap_image_verify_pages(ctx, dir, &img);
	snap_image_release(&img);
	return r;
}

static void test_pages_file(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	struct snap_codec *codec;
	struct snap_image img;
	struct snapdir d;
	bool load_failed;
	int fd;

	snapdir_create(&d, s);
	assert_int_equal(snap_image_load(ctx, d.dir, &img), 0);
	compare_images(&s->img, &img);
	assert_int_equal(snap_image_verify_pages(ctx, d.dir, &img), 0);

	/* Each chunk gives back the memory it was made from. */
	assert_int_equal(snap_codec_new(&codec), 0);
	for (uint32_t i = 0; i < img.nr_chunks; i++) {
		const struct snap_rec_chunk *c = &img.chunks[i];
		size_t len = (size_t)c->npages * SNAP_PAGE_SIZE;
		uint8_t *out = malloc(len);

		assert_non_null(out);
		if (c->encoding == SNAP_CHUNK_RAW) {
			assert_int_equal(c->offset % SNAP_PAGE_SIZE, 0);
			memcpy(out, s->pages + c->offset, len);
		} else {
			assert_int_equal(snap_codec_decompress(codec, s->pages + c->offset, c->stored_len, out, len), 0);
		}
		assert_memory_equal(out, s->memory[i], len);
		free(out);
	}
	snap_codec_free(codec);
	snap_image_release(&img);

	/* Every byte of the pages file is covered: the header by load, the
	 * rest by the CRC of the chunk whose range holds it. */
	fd = open(d.pages, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	for (size_t off = 0; off < s->pages_len; off++) {
		uint8_t flipped = s->pages[off] ^ 0xff;
		char want[32];
		uint32_t chunk = 0;
		int r;

		assert_int_equal(pwrite(fd, &flipped, 1, (off_t)off), 1);
		r = load_and_verify(ctx, d.dir, &load_failed);
		if (r >= 0)
			fail_msg("pages byte %zu flipped but the snapshot was accepted", off);
		if (snap_ctx_error(ctx)[0] == '\0')
			fail_msg("pages byte %zu: refused without a message", off);
		if (off < sizeof(struct snap_pages_header)) {
			assert_true(load_failed);
			expect_error(ctx, "header");
		} else {
			assert_false(load_failed);
			while (s->img.chunks[chunk].offset + s->img.chunks[chunk].stored_len <= off)
				chunk++;
			snprintf(want, sizeof(want), "chunk %u ", chunk);
			expect_error(ctx, want);
		}
		assert_int_equal(pwrite(fd, &s->pages[off], 1, (off_t)off), 1);
	}
	assert_int_equal(load_and_verify(ctx, d.dir, &load_failed), 0);

	/* One byte more, then every shorter length. */
	assert_int_equal(pwrite(fd, "", 1, (off_t)s->pages_len), 1);
	assert_true(load_and_verify(ctx, d.dir, &load_failed) < 0 && load_failed);
	for (size_t len = s->pages_len; len-- > 0;) {
		assert_int_equal(ftruncate(fd, (off_t)len), 0);
		assert_true(load_and_verify(ctx, d.dir, &load_failed) < 0 && load_failed);
		assert_true(snap_ctx_error(ctx)[0] != '\0');
	}
	assert_int_equal(close(fd), 0);

	/* A pages file without its meta, and meta without its pages. */
	assert_int_equal(unlink(d.meta), 0);
	assert_true(load_and_verify(ctx, d.dir, &load_failed) < 0 && load_failed);
	expect_error(ctx, "meta");
	write_file(d.dir, SNAP_META_FILE, s->meta, s->meta_len);
	assert_int_equal(unlink(d.pages), 0);
	assert_true(load_and_verify(ctx, d.dir, &load_failed) < 0 && load_failed);
	expect_error(ctx, "pages");
	snapdir_remove(&d);
	snap_ctx_free(ctx);
}

/* A pages file from another snapshot (valid header, other uuid) is not
 * taken for this one's. */
static void test_pages_of_another_snapshot(void **state)
{
	struct sample *s = *state;
	struct snap_ctx *ctx = ctx_new();
	struct snap_pages_header h;
	uint8_t other[16];
	struct snapdir d;
	bool load_failed;
	int fd;

	snapdir_create(&d, s);
	memcpy(other, s->img.uuid, 16);
	other[15] ^= 1;
	snap_pages_header_init(&h, other);
	fd = open(d.pages, O_WRONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, &h, sizeof(h), 0), (ssize_t)sizeof(h));
	assert_int_equal(close(fd), 0);
	assert_true(load_and_verify(ctx, d.dir, &load_failed) < 0 && load_failed);
	expect_error(ctx, "another snapshot");
	snapdir_remove(&d);

	assert_true(load_and_verify(ctx, "/nonexistent/snapshot", &load_failed) < 0 && load_failed);
	expect_error(ctx, "no such snapshot directory");
	snap_ctx_free(ctx);
}

#define SAMPLE_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define SEMANTIC_TEST(fn, msg) \
	{ "semantic_" #fn, test_semantic, setup, teardown, &(struct semantic_case){ fn, msg } }

int main(void)
{
	const struct CMUnitTest tests[] = {
		SAMPLE_TEST(test_round_trip),
		cmocka_unit_test(test_round_trip_minimal),
		SAMPLE_TEST(test_every_byte_corruption),
		SAMPLE_TEST(test_every_truncation),
		SAMPLE_TEST(test_reseal_is_identity),
		SAMPLE_TEST(test_appended_bytes),
		SAMPLE_TEST(test_bad_magic),
		SAMPLE_TEST(test_wrong_version),
		SEMANTIC_TEST(overlapping_vmas, "overlapping"),
		SEMANTIC_TEST(vmas_out_of_order, "out of order"),
		SEMANTIC_TEST(unaligned_vma_start, "not page aligned"),
		SEMANTIC_TEST(unaligned_vma_end, "not page aligned"),
		SEMANTIC_TEST(empty_vma, "empty"),
		SEMANTIC_TEST(vma_beyond_user_space, "mapping 8"),
		SEMANTIC_TEST(vma_bad_kind, "kind 9"),
		SEMANTIC_TEST(vma_file_out_of_range, "refers to file 4 of 4"),
		SEMANTIC_TEST(anon_vma_with_file, "refers to file 1 of 4"),
		SEMANTIC_TEST(chunk_outside_vmas, "not inside one memory mapping"),
		SEMANTIC_TEST(chunk_across_two_vmas, "not inside one memory mapping"),
		SEMANTIC_TEST(chunk_in_vdso, "not inside one memory mapping"),
		SEMANTIC_TEST(chunk_in_vvar, "not inside one memory mapping"),
		SEMANTIC_TEST(chunks_out_of_order, "out of order"),
		SEMANTIC_TEST(chunk_unaligned_vaddr, "unaligned"),
		SEMANTIC_TEST(chunk_no_pages, "empty"),
		SEMANTIC_TEST(chunk_too_many_pages, "65 pages"),
		SEMANTIC_TEST(raw_chunk_unaligned, "raw chunk 2"),
		SEMANTIC_TEST(raw_chunk_short, "raw chunk 0"),
		SEMANTIC_TEST(zstd_chunk_longer_than_pages, "compressed chunk 3"),
		SEMANTIC_TEST(chunk_bad_encoding, "encoding 2"),
		SEMANTIC_TEST(chunk_gap_4096, "leaves a gap"),
		SEMANTIC_TEST(chunk_overlaps_previous, "chunk 4 lies outside the pages file"),
		SEMANTIC_TEST(chunk_inside_header, "chunk 0 lies outside the pages file"),
		SEMANTIC_TEST(fd_file_out_of_range, "fd 4 refers to file 4 of 4"),
		SEMANTIC_TEST(fd_file_negative, "fd 4 refers to file -2"),
		SEMANTIC_TEST(fd_stdio_with_file, "fd 1 refers to file"),
		SEMANTIC_TEST(fd_stdio_above_2, "fd 4 is recorded as stdio"),
		SEMANTIC_TEST(fds_out_of_order, "out of order"),
		SEMANTIC_TEST(fd_shares_later_record, "fd 3 shares"),
		SEMANTIC_TEST(fd_shares_other_file, "fd 42 shares"),
		SEMANTIC_TEST(vma_name_out_of_range, "string table"),
		SEMANTIC_TEST(cwd_out_of_range, "string table"),
		SEMANTIC_TEST(file_path_out_of_range, "file 2 has no absolute path"),
		SEMANTIC_TEST(file_path_relative, "file 0 has no absolute path"),
		SEMANTIC_TEST(xstate_past_blobs, "outside the blob section"),
		SEMANTIC_TEST(xstate_offset_wraps, "outside the blob section"),
		SEMANTIC_TEST(xstate_too_large, "outside the blob section"),
		SEMANTIC_TEST(pages_size_past_last_chunk, "pages file should end"),
		SEMANTIC_TEST(pages_size_before_last_chunk_end, "outside the pages file"),
		SEMANTIC_TEST(nr_threads_mismatch, "process has 2 threads but 1 are recorded"),
		SEMANTIC_TEST(exe_file_out_of_range, "executable refers to file 4"),
		SEMANTIC_TEST(too_many_auxv, "auxv"),
		SEMANTIC_TEST(bad_pid, "pid 0"),
		SEMANTIC_TEST(bad_tid, "tid -1"),
		SEMANTIC_TEST(thread_name_unterminated, "thread 0's name is not terminated"),
		SAMPLE_TEST(test_semantic_limits_accepted),
		SAMPLE_TEST(test_pages_file),
		SAMPLE_TEST(test_pages_of_another_snapshot),
	};

	return cmocka_run_group_tests_name("image", tests, NULL, NULL);
}
