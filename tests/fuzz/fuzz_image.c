/* fuzz_image.c — libFuzzer target for the snapshot reader: any input is refused,
 * or every index in the image is safe to follow and it writes back and reads again. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <snap/snap.h>

#include "ctx.h"
#include "image.h"
#include "meta_reseal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                         \
		}                                                                        \
	} while (0)

static volatile size_t sink;

static void use_string(const struct snap_image *img, snap_str_t s)
{
	sink += strlen(snap_image_string(img, s));
}

/* Touches everything a restore would follow: an index or offset the reader
 * let through but should not have is an out-of-bounds read here. */
static void use_image(const struct snap_image *img)
{
	const struct snap_rec_process *p = &img->process;

	use_string(img, p->cwd);
	use_string(img, p->kernel_release);
	use_string(img, p->comm);
	if (p->exe_file >= 0)
		use_string(img, img->files[p->exe_file].path);
	for (uint32_t i = 0; i < p->auxv_count * 2; i++)
		sink += p->auxv[i];
	CHECK(img->nr_threads == p->nr_threads && img->nr_threads > 0);
	for (uint32_t i = 0; i < img->nr_threads; i++) {
		const struct snap_rec_thread *t = &img->threads[i];
		sink += strlen(t->comm); /* as inspect prints it */
		for (uint32_t k = 0; k < t->xstate_len; k++)
			sink += img->blobs[t->xstate_off + k];
	}
	for (uint32_t i = 0; i < img->nr_files; i++)
		CHECK(snap_image_string(img, img->files[i].path)[0] == '/');
	for (uint32_t i = 0; i < img->nr_vmas; i++) {
		const struct snap_rec_vma *v = &img->vmas[i];
		CHECK(v->start < v->end);
		use_string(img, v->name);
		if (v->file >= 0)
			use_string(img, img->files[v->file].path);
	}
	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct snap_rec_fd *f = &img->fds[i];
		if (f->file >= 0)
			use_string(img, img->files[f->file].path);
		if (f->same_as >= 0)
			sink += (size_t)img->fds[f->same_as].pos;
	}
	for (uint32_t i = 0; i < img->nr_chunks; i++) {
		const struct snap_rec_chunk *c = &img->chunks[i];
		CHECK(c->offset >= sizeof(struct snap_pages_header));
		CHECK(c->stored_len <= p->pages_size && c->offset <= p->pages_size - c->stored_len);
	}
}

#define SAME_ARRAY(a, b, arr, nr) \
	CHECK((a)->nr == (b)->nr && (!(a)->nr || !memcmp((a)->arr, (b)->arr, sizeof(*(a)->arr) * (a)->nr)))

/* What was read, written again, reads again as the same image. */
static void write_back(struct snap_ctx *ctx, struct snap_image *img)
{
	struct snap_image again;
	void *buf = NULL;
	size_t len = 0;

	CHECK(snap_image_encode(img, &buf, &len) == 0);
	if (snap_image_decode(ctx, buf, len, &again) < 0) {
		fprintf(stderr, "re-encoded image refused: %s\n", snap_ctx_error(ctx));
		abort();
	}
	CHECK(!memcmp(&img->process, &again.process, sizeof(again.process)));
	CHECK(!memcmp(img->uuid, again.uuid, 16));
	SAME_ARRAY(img, &again, threads, nr_threads);
	SAME_ARRAY(img, &again, vmas, nr_vmas);
	SAME_ARRAY(img, &again, files, nr_files);
	SAME_ARRAY(img, &again, fds, nr_fds);
	SAME_ARRAY(img, &again, chunks, nr_chunks);
	SAME_ARRAY(img, &again, strings, strings_len);
	CHECK(img->blobs_len == again.blobs_len &&
	      (!img->blobs_len || !memcmp(img->blobs, again.blobs, img->blobs_len)));
	snap_image_release(&again);
	free(buf);
}

static void decode_one(struct snap_ctx *ctx, const uint8_t *buf, size_t len)
{
	struct snap_image img;

	ctx->error[0] = '\0'; /* a message left from the last input does not count */
	if (snap_image_decode(ctx, buf, len, &img) < 0) {
		CHECK(snap_ctx_error(ctx)[0] != '\0');
		return;
	}
	use_image(&img);
	write_back(ctx, &img);
	snap_image_release(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snap_ctx *ctx;
	uint8_t *copy;

	if (!ctx && snap_ctx_new(&ctx) < 0)
		abort();
	/* As given: mostly exercises the header, table and CRC checks. */
	decode_one(ctx, data, size);

	/* With the CRCs made right: what lies behind them, the section
	 * layout and every semantic check, is what the fuzzer mutates then.
	 * An exactly sized copy, so a read past the end is caught. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	if (meta_reseal(copy, size) >= 0)
		decode_one(ctx, copy, size);
	free(copy);
	return 0;
}
