/* compress_gzip.c — gzip layers through zlib, single-threaded. The gzip header
 * carries no name and mtime 0, so the output depends on the input bytes only. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "compress.h"

#define GZIP_OUT_SIZE (256u << 10)

struct gzip_state {
	z_stream zs;
	unsigned char out[GZIP_OUT_SIZE];
};

static int gzip_open(struct compressor *c, int level, int threads)
{
	struct gzip_state *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	/* windowBits 15 + 16: a gzip wrapper instead of zlib's. */
	if (deflateInit2(&s->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		c->error = "zlib: deflateInit2 failed";
		free(s);
		return -ENOMEM;
	}
	c->state = s;
	return 0;
}

static int gzip_run(struct compressor *c, const void *data, size_t len, int flush)
{
	struct gzip_state *s = c->state;
	int zr, r;

	s->zs.next_in = (Bytef *)(uintptr_t)data;
	s->zs.avail_in = 0;
	do {
		/* avail_in is 32 bits wide: feed at most 1 GiB a time. */
		if (!s->zs.avail_in && len) {
			uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;

			s->zs.avail_in = n;
			len -= n;
		}
		s->zs.next_out = s->out;
		s->zs.avail_out = GZIP_OUT_SIZE;
		zr = deflate(&s->zs, len ? Z_NO_FLUSH : flush);
		if (zr == Z_STREAM_ERROR) {
			c->error = "zlib: deflate failed";
			return -EIO;
		}
		if (GZIP_OUT_SIZE - s->zs.avail_out &&
		    (r = c->sink(c->sink_arg, s->out, GZIP_OUT_SIZE - s->zs.avail_out)) < 0)
			return r;
	} while (s->zs.avail_in || len || (flush == Z_FINISH && zr != Z_STREAM_END) || !s->zs.avail_out);
	return 0;
}

static int gzip_write(struct compressor *c, const void *data, size_t len)
{
	return gzip_run(c, data, len, Z_NO_FLUSH);
}

static int gzip_finish(struct compressor *c)
{
	return gzip_run(c, NULL, 0, Z_FINISH);
}

static void gzip_close(struct compressor *c)
{
	struct gzip_state *s = c->state;

	if (!s)
		return;
	deflateEnd(&s->zs);
	free(s);
	c->state = NULL;
}

const struct compressor_ops compressor_gzip = {
	.name = "gzip",
	.media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
	.default_level = 1,
	.min_level = 1,
	.max_level = 9,
	.open = gzip_open,
	.write = gzip_write,
	.finish = gzip_finish,
	.close = gzip_close,
};
