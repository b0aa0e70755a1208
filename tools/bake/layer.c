/* layer.c — the bake pipeline: read a file, tar it, hash (diffID), compress,
 * hash again (digest), write the blob. Fixed buffers only; it never holds a
 * whole file in memory and never publishes a blob that is not complete. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "blob.h"
#include "layer.h"
#include "tar.h"

#define READ_SIZE (1u << 20)

struct pipeline {
	struct blob_writer blob;
	struct compressor comp;
	struct digest diff_id;
	bool hash_tar; /* false for uncompressed layers: diffID == digest */
	struct tar_writer tar;
	struct bake_error *err;
	bool comp_open;
};

/* Compressed bytes into the blob. */
static int blob_sink(void *arg, const void *data, size_t len)
{
	struct pipeline *p = arg;

	return blob_writer_write(&p->blob, data, len, p->err);
}

/* Tar bytes into the diffID hash and the compressor. */
static int tar_sink(void *arg, const void *data, size_t len)
{
	struct pipeline *p = arg;
	int r;

	if (p->hash_tar && (r = digest_update(&p->diff_id, data, len)) < 0)
		return bake_fail(p->err, r, "sha256");
	r = compressor_write(&p->comp, data, len);
	if (r < 0 && p->comp.error)
		return bake_fail_why(p->err, r, "%s compression: %s", p->comp.ops->name, p->comp.error);
	return r;
}

static int tar_error(struct bake_error *err, int r, const struct input_entry *e)
{
	if (r == -ENAMETOOLONG)
		return bake_fail_why(err, r, "/%s: name too long for a layer", e->path);
	return bake_fail(err, r, "/%s", e->path);
}

static int copy_file(struct pipeline *p, const struct input_entry *e, unsigned char *buf, const struct layer_opts *opts,
		     uint64_t *done, uint64_t total)
{
	struct stat st;
	uint64_t left = e->size;
	int fd, r = 0;

	fd = open(e->source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return bake_fail(p->err, -errno, "%s", e->source);
	if (fstat(fd, &st) < 0) {
		r = bake_fail(p->err, -errno, "%s", e->source);
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != e->size) {
		r = bake_fail_why(p->err, -EAGAIN, "%s: changed while baking; bake again once it is complete", e->source);
		goto out;
	}
	posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (left) {
		size_t want = left < READ_SIZE ? (size_t)left : READ_SIZE;
		ssize_t n;

		if (opts->cancel && *opts->cancel) {
			r = bake_fail_why(p->err, -EINTR, "interrupted; the image was left as it was");
			goto out;
		}
		n = read(fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = bake_fail(p->err, -errno, "%s", e->source);
			goto out;
		}
		if (n == 0) {
			r = bake_fail_why(p->err, -EAGAIN, "%s: shrank while baking; bake again once it is complete",
					  e->source);
			goto out;
		}
		if ((r = tar_write_data(&p->tar, buf, (size_t)n)) < 0) {
			r = tar_error(p->err, r, e);
			goto out;
		}
		left -= (uint64_t)n;
		*done += (uint64_t)n;
		if (opts->progress)
			opts->progress(opts->progress_arg, *done, total);
	}
out:
	close(fd);
	return r;
}

int layer_write(int blobs_fd, const char *blobs_name, const struct input_list *inputs, const struct layer_opts *opts,
		struct layer_result *ret_result, struct bake_error *err)
{
	struct pipeline p = { .err = err };
	unsigned char *buf = NULL;
	uint64_t done = 0;
	int r;

	p.hash_tar = opts->compression != &compressor_none;
	if ((r = blob_writer_open(&p.blob, blobs_fd, blobs_name, err)) < 0)
		return r;
	buf = malloc(READ_SIZE);
	if (!buf) {
		r = bake_fail(err, -ENOMEM, "read buffer");
		goto fail;
	}
	if (p.hash_tar && (r = digest_init(&p.diff_id)) < 0) {
		r = bake_fail(err, r, "sha256");
		goto fail;
	}
	r = compressor_open(&p.comp, opts->compression, opts->level, opts->threads, blob_sink, &p);
	if (r < 0) {
		r = bake_fail_why(err, r, "%s compression: %s", opts->compression->name,
				  p.comp.error ? p.comp.error : strerror(-r));
		goto fail;
	}
	p.comp_open = true;
	tar_writer_init(&p.tar, tar_sink, &p, opts->align, opts->mtime);
	if (opts->progress)
		opts->progress(opts->progress_arg, 0, inputs->bytes);

	for (size_t i = 0; i < inputs->count; i++) {
		const struct input_entry *e = &inputs->entries[i];
		struct tar_entry te = {
			.path = e->path, .type = e->type, .mode = e->mode, .size = e->size, .link = e->link,
		};

		if ((r = tar_write_header(&p.tar, &te)) < 0) {
			r = tar_error(err, r, e);
			goto fail;
		}
		if (e->type == TAR_REGULAR && (r = copy_file(&p, e, buf, opts, &done, inputs->bytes)) < 0)
			goto fail;
		if ((r = tar_end_entry(&p.tar)) < 0) {
			r = tar_error(err, r, e);
			goto fail;
		}
	}
	if ((r = tar_finish(&p.tar)) < 0) {
		r = bake_fail(err, r, "writing the layer");
		goto fail;
	}
	if ((r = compressor_finish(&p.comp)) < 0) {
		r = bake_fail_why(err, r, "%s compression: %s", opts->compression->name,
				  p.comp.error ? p.comp.error : strerror(-r));
		goto fail;
	}
	compressor_close(&p.comp);
	p.comp_open = false;
	if (p.hash_tar && (r = digest_final(&p.diff_id, ret_result->diff_id)) < 0) {
		r = bake_fail(err, r, "sha256");
		goto fail;
	}
	ret_result->tar_size = p.tar.offset;
	ret_result->size = p.blob.size;
	if ((r = blob_writer_commit(&p.blob, ret_result->digest, &ret_result->created, err)) < 0)
		goto fail;
	if (!p.hash_tar)
		memcpy(ret_result->diff_id, ret_result->digest, DIGEST_STRING_LEN);
	free(buf);
	return 0;
fail:
	if (p.comp_open)
		compressor_close(&p.comp);
	if (p.diff_id.ctx)
		digest_free(&p.diff_id);
	blob_writer_abort(&p.blob);
	free(buf);
	return r;
}
