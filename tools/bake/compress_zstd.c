/* compress_zstd.c — zstd layers with libzstd's worker threads. The output
 * never depends on the number of threads: workers are always >= 1 and the job
 * size is fixed, so every machine bakes the same digest. */
#include <errno.h>
#include <stdlib.h>

#include <zstd.h>

#include "compress.h"

/* Fixed so output is identical everywhere; small enough that memory stays
 * bounded (each worker holds about two jobs' worth of buffers). */
#define ZSTD_JOB_SIZE (1u << 20)
/* More workers than this add memory, not speed, on the disks weights live on. */
#define ZSTD_MAX_WORKERS 8

struct zstd_state {
	ZSTD_CCtx *cctx;
	size_t out_size;
	unsigned char *out;
};

static int set(struct compressor *c, ZSTD_CCtx *cctx, ZSTD_cParameter p, int value)
{
	size_t zr = ZSTD_CCtx_setParameter(cctx, p, value);

	if (ZSTD_isError(zr)) {
		c->error = ZSTD_getErrorName(zr);
		return -EINVAL;
	}
	return 0;
}

static void zstd_close(struct compressor *c)
{
	struct zstd_state *s = c->state;

	if (!s)
		return;
	ZSTD_freeCCtx(s->cctx);
	free(s->out);
	free(s);
	c->state = NULL;
}

static int zstd_open(struct compressor *c, int level, int threads)
{
	struct zstd_state *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	c->state = s;
	s->cctx = ZSTD_createCCtx();
	s->out_size = ZSTD_CStreamOutSize();
	s->out = malloc(s->out_size);
	if (!s->cctx || !s->out) {
		zstd_close(c);
		return -ENOMEM;
	}
	if (threads > ZSTD_MAX_WORKERS)
		threads = ZSTD_MAX_WORKERS;
	if ((r = set(c, s->cctx, ZSTD_c_compressionLevel, level)) < 0 ||
	    (r = set(c, s->cctx, ZSTD_c_checksumFlag, 1)) < 0 ||
	    (r = set(c, s->cctx, ZSTD_c_nbWorkers, threads)) < 0 ||
	    (r = set(c, s->cctx, ZSTD_c_jobSize, ZSTD_JOB_SIZE)) < 0) {
		zstd_close(c);
		return r;
	}
	return 0;
}

static int zstd_run(struct compressor *c, const void *data, size_t len, ZSTD_EndDirective mode)
{
	struct zstd_state *s = c->state;
	ZSTD_inBuffer in = { data, len, 0 };
	size_t remaining;
	int r;

	do {
		ZSTD_outBuffer out = { s->out, s->out_size, 0 };

		remaining = ZSTD_compressStream2(s->cctx, &out, &in, mode);
		if (ZSTD_isError(remaining)) {
			c->error = ZSTD_getErrorName(remaining);
			return -EIO;
		}
		if (out.pos && (r = c->sink(c->sink_arg, s->out, out.pos)) < 0)
			return r;
	} while (mode == ZSTD_e_end ? remaining != 0 : in.pos < in.size);
	return 0;
}

static int zstd_write(struct compressor *c, const void *data, size_t len)
{
	return zstd_run(c, data, len, ZSTD_e_continue);
}

static int zstd_finish(struct compressor *c)
{
	return zstd_run(c, NULL, 0, ZSTD_e_end);
}

const struct compressor_ops compressor_zstd = {
	.name = "zstd",
	.media_type = "application/vnd.oci.image.layer.v1.tar+zstd",
	.default_level = 3,
	.min_level = 1,
	.max_level = 19,
	.open = zstd_open,
	.write = zstd_write,
	.finish = zstd_finish,
	.close = zstd_close,
};
