/* gen_corpus.c — writes the fuzz seeds and the known-bad meta files, each wrong
 * in the one way its name says; deterministic. usage: gen_corpus SEEDS BAD */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <snap/snap.h>

#include "image.h"
#include "meta_reseal.h"

#define PAGE SNAP_PAGE_SIZE

enum { VMA_EXE, VMA_HEAP, VMA_GUARD, VMA_STACK, VMA_VVAR, VMA_VDSO, NR_VMAS };
enum { CHUNK_HEAP, CHUNK_STACK, NR_CHUNKS };

static void die(const char *what)
{
	fprintf(stderr, "gen_corpus: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void ok(int r, const char *what)
{
	if (r < 0) {
		errno = -r;
		die(what);
	}
}

static snap_str_t str(struct snap_image *img, const char *s)
{
	snap_str_t r;

	ok(snap_image_add_string(img, s, &r), "add string");
	return r;
}

static void add_vma(struct snap_image *img, uint64_t start, uint64_t end, uint32_t kind, uint32_t prot,
		    uint32_t flags, int32_t file, const char *name)
{
	snap_str_t n = str(img, name);
	struct snap_rec_vma *v;

	ok(snap_image_add_vma(img, &v), "add vma");
	v->start = start;
	v->end = end;
	v->kind = kind;
	v->prot = prot;
	v->flags = flags;
	v->file = file;
	v->name = n;
}

static void add_fd(struct snap_image *img, int32_t fd, uint32_t kind, int32_t file, int32_t same_as)
{
	struct snap_rec_fd *f;

	ok(snap_image_add_fd(img, &f), "add fd");
	f->fd = fd;
	f->kind = kind;
	f->file = file;
	f->same_as = same_as;
	f->open_flags = fd == 0 ? O_RDONLY : O_WRONLY;
}

static void add_chunk(struct snap_image *img, uint64_t vaddr, uint32_t npages, uint32_t encoding, uint64_t offset,
		      uint64_t stored_len)
{
	struct snap_rec_chunk *c;

	ok(snap_image_add_chunk(img, &c), "add chunk");
	c->vaddr = vaddr;
	c->npages = npages;
	c->encoding = encoding;
	c->offset = offset;
	c->stored_len = stored_len;
	c->crc = 0x1234567u * (uint32_t)(img->nr_chunks);
}

/* A small single-threaded process: every record kind, every vma kind, a
 * shared fd, a raw and a compressed chunk laid out as the writer lays them
 * (raw at 4096 after the 64-byte header, compressed right after it). */
static void build_base(struct snap_image *img, bool with_chunks)
{
	struct snap_rec_process *p = &img->process;
	struct snap_rec_thread *t;
	struct snap_rec_file *f;
	struct snap_pages_header h;
	uint8_t xstate[576];
	int32_t exe, out;

	snap_image_init(img);
	for (int i = 0; i < 16; i++)
		img->uuid[i] = (uint8_t)(0xa0 + i);
	ok(snap_image_add_file(img, &f, &exe), "add file");
	f->path = str(img, "/usr/bin/prog");
	f->mode = 0100755;
	f->ino = 1001;
	f->size = 16384;
	ok(snap_image_add_file(img, &f, &out), "add file");
	f->path = str(img, "/tmp/out file.txt");
	f->mode = 0100644;
	f->ino = 1002;

	p->pid = 100;
	p->umask = 022;
	p->cwd = str(img, "/tmp");
	p->comm = str(img, "prog");
	p->kernel_release = str(img, "6.18.0");
	p->exe_file = exe;
	p->start_brk = 0x600000;
	p->brk = 0x610000;
	p->auxv_count = 2;
	p->auxv[0] = 6;
	p->auxv[1] = PAGE;
	p->xfeatures = 0x7;
	p->xsave_size = sizeof(xstate);
	p->sigactions[14].handler = 0x401000;

	ok(snap_image_add_thread(img, &t), "add thread");
	t->tid = 100;
	t->regs[16] = 0x401000; /* rip */
	strcpy(t->comm, "prog");
	for (size_t i = 0; i < sizeof(xstate); i++)
		xstate[i] = (uint8_t)(i * 7);
	ok(snap_image_add_blob(img, xstate, sizeof(xstate), &img->threads[0].xstate_off), "add blob");
	img->threads[0].xstate_len = sizeof(xstate);

	add_vma(img, 0x400000, 0x402000, SNAP_VMA_FILE, PROT_READ | PROT_EXEC, 0, exe, "/usr/bin/prog");
	add_vma(img, 0x600000, 0x610000, SNAP_VMA_ANON, PROT_READ | PROT_WRITE, SNAP_VMA_HEAP, -1, "[heap]");
	add_vma(img, 0x7f0000000000, 0x7f0000010000, SNAP_VMA_ANON, PROT_NONE, 0, -1, "");
	add_vma(img, 0x7ffe00000000, 0x7ffe00021000, SNAP_VMA_ANON, PROT_READ | PROT_WRITE,
		SNAP_VMA_GROWSDOWN | SNAP_VMA_STACK, -1, "[stack]");
	add_vma(img, 0x7ffe00100000, 0x7ffe00104000, SNAP_VMA_VVAR, PROT_READ, 0, -1, "[vvar]");
	add_vma(img, 0x7ffe00104000, 0x7ffe00106000, SNAP_VMA_VDSO, PROT_READ | PROT_EXEC, 0, -1, "[vdso]");

	add_fd(img, 0, SNAP_FD_STDIO, -1, -1);
	add_fd(img, 1, SNAP_FD_STDIO, -1, -1);
	add_fd(img, 3, SNAP_FD_FILE, out, -1);
	add_fd(img, 7, SNAP_FD_FILE, out, 2);

	snap_pages_header_init(&h, img->uuid);
	p->pages_header_crc = h.crc;
	p->pages_size = sizeof(h);
	if (with_chunks) {
		add_chunk(img, 0x600000, 2, SNAP_CHUNK_RAW, PAGE, 2 * PAGE);
		add_chunk(img, 0x7ffe00020000, 1, SNAP_CHUNK_ZSTD, 3 * PAGE, 300);
		p->pages_size = 3 * PAGE + 300;
	}
}

static void write_bytes(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die(path);
	if (len && write(fd, buf, len) != (ssize_t)len)
		die(path);
	if (close(fd) < 0)
		die(path);
}

static void encode(struct snap_image *img, uint8_t **ret_buf, size_t *ret_len)
{
	void *buf;

	ok(snap_image_encode(img, &buf, ret_len), "encode");
	*ret_buf = buf;
}

/* Encodes img as it is (the writer checks nothing, so the CRCs are valid
 * around whatever was set wrong) and releases it. */
static void write_image(const char *dir, const char *name, struct snap_image *img)
{
	uint8_t *buf;
	size_t len;

	encode(img, &buf, &len);
	write_bytes(dir, name, buf, len);
	free(buf);
	snap_image_release(img);
}

static void write_base_image(const char *dir, const char *name, void (*spoil)(struct snap_image *img))
{
	struct snap_image img;

	build_base(&img, true);
	spoil(&img);
	write_image(dir, name, &img);
}

/* ---- wrong inside, with valid CRCs ---- */
static void overlapping_mappings(struct snap_image *img)
{
	img->vmas[VMA_GUARD].end = img->vmas[VMA_STACK].start + PAGE;
}
static void unaligned_mapping(struct snap_image *img) { img->vmas[VMA_HEAP].end += 0x10; }
static void chunk_outside_mappings(struct snap_image *img) { img->chunks[CHUNK_STACK].vaddr = 0x7ffd00000000; }
static void chunk_in_vdso(struct snap_image *img) { img->chunks[CHUNK_STACK].vaddr = img->vmas[VMA_VDSO].start; }
static void chunk_in_guard_region_past_end(struct snap_image *img)
{
	img->chunks[CHUNK_HEAP].vaddr = img->vmas[VMA_HEAP].end - PAGE; /* 2 pages: one past the end */
}
static void raw_chunk_unaligned(struct snap_image *img) { img->chunks[CHUNK_HEAP].offset = PAGE + 8; }
static void chunk_gap_4096(struct snap_image *img)
{
	img->chunks[CHUNK_STACK].offset += PAGE;
	img->process.pages_size += PAGE;
}
static void chunk_overlaps_header(struct snap_image *img) { img->chunks[CHUNK_HEAP].offset = 0; }
static void fd_file_out_of_range(struct snap_image *img) { img->fds[2].file = 2; }
static void fd_same_as_later_record(struct snap_image *img)
{
	img->fds[2].same_as = 3;
	img->fds[3].same_as = -1;
}
static void string_offset_out_of_range(struct snap_image *img) { img->vmas[VMA_HEAP].name = img->strings_len; }
static void strings_unterminated(struct snap_image *img) { img->strings[img->strings_len - 1] = 'x'; }
static void file_path_relative(struct snap_image *img) { img->files[0].path += 1; }
static void xstate_outside_blobs(struct snap_image *img) { img->threads[0].xstate_off = 64; }
static void xstate_offset_wraps(struct snap_image *img) { img->threads[0].xstate_off = UINT64_MAX - 8; }
static void pages_size_past_last_chunk(struct snap_image *img) { img->process.pages_size += 1; }
static void pages_size_before_last_chunk_end(struct snap_image *img) { img->process.pages_size -= 1; }
static void exe_file_out_of_range(struct snap_image *img) { img->process.exe_file = 5; }
static void pid_zero(struct snap_image *img) { img->process.pid = 0; }
static void too_many_auxv(struct snap_image *img) { img->process.auxv_count = SNAP_MAX_AUXV + 1; }
static void mapping_kind_unknown(struct snap_image *img) { img->vmas[VMA_GUARD].kind = 7; }
static void anon_mapping_with_file(struct snap_image *img) { img->vmas[VMA_HEAP].file = 0; }
static void chunk_too_many_pages(struct snap_image *img) { img->chunks[CHUNK_STACK].npages = SNAP_CHUNK_MAX_PAGES + 1; }
static void thread_name_unterminated(struct snap_image *img) { memset(img->threads[0].comm, 'x', 16); }

/* nr_threads is filled by the writer: patch it after encoding. */
static void thread_count_mismatch(const char *dir, const uint8_t *good, size_t len)
{
	uint8_t *buf = malloc(len);
	struct snap_meta_header h;
	struct snap_section sec;

	if (!buf)
		die("malloc");
	memcpy(buf, good, len);
	memcpy(&h, buf, sizeof(h));
	for (uint32_t i = 0; i < h.section_count; i++) {
		memcpy(&sec, buf + sizeof(h) + i * sizeof(sec), sizeof(sec));
		if (sec.type == SNAP_SEC_PROCESS) {
			struct snap_rec_process p;
			memcpy(&p, buf + sec.offset, sizeof(p));
			p.nr_threads = 2;
			memcpy(buf + sec.offset, &p, sizeof(p));
		}
	}
	meta_reseal(buf, len);
	write_bytes(dir, "thread-count-mismatch", buf, len);
	free(buf);
}

static void no_threads(const char *dir)
{
	struct snap_image img;

	build_base(&img, true);
	img.nr_threads = 0;
	write_image(dir, "no-threads", &img);
}

/* ---- wrong in the framing ---- */
static void write_framing(const char *dir, const uint8_t *good, size_t len)
{
	uint8_t *buf = malloc(len + 16);
	struct snap_meta_header h;
	struct snap_section sec;

	if (!buf)
		die("malloc");
	write_bytes(dir, "empty", good, 0);
	write_bytes(dir, "truncated-in-header", good, 40);
	write_bytes(dir, "truncated-in-section-table", good, sizeof(h) + sizeof(sec) + 7);
	write_bytes(dir, "truncated-last-byte", good, len - 1);
	write_bytes(dir, "truncated-half", good, len / 2);

	memcpy(buf, good, len);
	memset(buf + len, 0, 16);
	write_bytes(dir, "appended-byte", buf, len + 1);
	/* The header claims the extra bytes, CRCs valid: still not a section. */
	memcpy(&h, buf, sizeof(h));
	h.file_size = len + 16;
	memcpy(buf, &h, sizeof(h));
	meta_reseal(buf, len + 16);
	write_bytes(dir, "appended-bytes-counted-in-header", buf, len + 16);

	memcpy(buf, good, len);
	memcpy(buf, "SNAPPAGE", 8);
	meta_reseal(buf, len);
	write_bytes(dir, "bad-magic", buf, len);

	memcpy(buf, good, len);
	memcpy(&h, buf, sizeof(h));
	h.version = SNAP_FORMAT_VERSION + 1;
	memcpy(buf, &h, sizeof(h));
	meta_reseal(buf, len);
	write_bytes(dir, "wrong-version-2", buf, len);

	memcpy(buf, good, len);
	buf[offsetof(struct snap_meta_header, crc)] ^= 0x01;
	write_bytes(dir, "bad-header-crc", buf, len);

	memcpy(buf, good, len);
	buf[offsetof(struct snap_meta_header, uuid)] ^= 0x80;
	write_bytes(dir, "bad-header-crc-uuid-changed", buf, len);

	/* A byte inside the mappings section: its CRC no longer matches. */
	memcpy(buf, good, len);
	memcpy(&h, buf, sizeof(h));
	for (uint32_t i = 0; i < h.section_count; i++) {
		memcpy(&sec, buf + sizeof(h) + i * sizeof(sec), sizeof(sec));
		if (sec.type == SNAP_SEC_VMAS)
			buf[sec.offset + 9] ^= 0x10;
	}
	write_bytes(dir, "bad-section-crc", buf, len);

	/* The section table itself, resealed so only the table is wrong. */
	memcpy(buf, good, len);
	memcpy(&sec, buf + sizeof(h) + sizeof(sec), sizeof(sec));
	sec.type = SNAP_SEC_PROCESS;
	memcpy(buf + sizeof(h) + sizeof(sec), &sec, sizeof(sec));
	meta_reseal(buf, len);
	write_bytes(dir, "section-type-repeated", buf, len);

	memcpy(buf, good, len);
	memcpy(&sec, buf + sizeof(h) + sizeof(sec), sizeof(sec));
	sec.type = SNAP_SEC_MAX + 1;
	memcpy(buf + sizeof(h) + sizeof(sec), &sec, sizeof(sec));
	meta_reseal(buf, len);
	write_bytes(dir, "section-type-unknown", buf, len);

	memcpy(buf, good, len);
	memcpy(&sec, buf + sizeof(h) + 2 * sizeof(sec), sizeof(sec));
	sec.offset += 8;
	memcpy(buf + sizeof(h) + 2 * sizeof(sec), &sec, sizeof(sec));
	meta_reseal(buf, len);
	write_bytes(dir, "section-misplaced", buf, len);

	memcpy(buf, good, len);
	memcpy(&sec, buf + sizeof(h) + 2 * sizeof(sec), sizeof(sec));
	sec.count += 1;
	memcpy(buf + sizeof(h) + 2 * sizeof(sec), &sec, sizeof(sec));
	meta_reseal(buf, len);
	write_bytes(dir, "section-count-disagrees-with-size", buf, len);

	memcpy(buf, good, len);
	memcpy(&h, buf, sizeof(h));
	h.section_count = SNAP_SEC_MAX + 1;
	memcpy(buf, &h, sizeof(h));
	write_bytes(dir, "too-many-sections", buf, len);
	free(buf);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		void (*spoil)(struct snap_image *img);
	} spoiled[] = {
		{ "overlapping-mappings", overlapping_mappings },
		{ "unaligned-mapping", unaligned_mapping },
		{ "chunk-outside-mappings", chunk_outside_mappings },
		{ "chunk-in-vdso", chunk_in_vdso },
		{ "chunk-past-mapping-end", chunk_in_guard_region_past_end },
		{ "raw-chunk-unaligned", raw_chunk_unaligned },
		{ "chunk-gap-4096", chunk_gap_4096 },
		{ "chunk-overlaps-pages-header", chunk_overlaps_header },
		{ "chunk-too-many-pages", chunk_too_many_pages },
		{ "fd-file-out-of-range", fd_file_out_of_range },
		{ "fd-same-as-later-record", fd_same_as_later_record },
		{ "string-offset-out-of-range", string_offset_out_of_range },
		{ "strings-unterminated", strings_unterminated },
		{ "file-path-relative", file_path_relative },
		{ "xstate-outside-blobs", xstate_outside_blobs },
		{ "xstate-offset-wraps", xstate_offset_wraps },
		{ "pages-size-past-last-chunk", pages_size_past_last_chunk },
		{ "pages-size-before-last-chunk-end", pages_size_before_last_chunk_end },
		{ "exe-file-out-of-range", exe_file_out_of_range },
		{ "pid-zero", pid_zero },
		{ "too-many-auxv", too_many_auxv },
		{ "mapping-kind-unknown", mapping_kind_unknown },
		{ "anon-mapping-with-file", anon_mapping_with_file },
		{ "thread-name-unterminated", thread_name_unterminated },
	};
	struct snap_image img;
	uint8_t *good;
	size_t len;

	if (argc != 3) {
		fprintf(stderr, "usage: gen_corpus SEED_DIR KNOWN_BAD_DIR\n");
		return 2;
	}

	/* Seeds: valid images the fuzzer starts from. */
	build_base(&img, false);
	write_image(argv[1], "seed-no-chunks", &img);
	build_base(&img, true);
	encode(&img, &good, &len);
	snap_image_release(&img);
	write_bytes(argv[1], "seed-base", good, len);
	{
		struct snap_ctx *ctx;
		struct snap_image check;

		/* A seed the reader refuses would only teach the fuzzer refusals. */
		ok(snap_ctx_new(&ctx), "ctx");
		if (snap_image_decode(ctx, good, len, &check) < 0) {
			fprintf(stderr, "gen_corpus: the base image is refused: %s\n", snap_ctx_error(ctx));
			return 1;
		}
		snap_image_release(&check);
		snap_ctx_free(ctx);
	}

	/* Known-bad: each one thing wrong. */
	write_framing(argv[2], good, len);
	for (size_t i = 0; i < sizeof(spoiled) / sizeof(spoiled[0]); i++)
		write_base_image(argv[2], spoiled[i].name, spoiled[i].spoil);
	thread_count_mismatch(argv[2], good, len);
	no_threads(argv[2]);
	free(good);
	return 0;
}
