/* compress_none.c — the uncompressed layer (media type ...layer.v1.tar): bytes
 * pass straight to the sink, so its blob can be memory-mapped by a loader. */
#include "compress.h"

static int none_open(struct compressor *c, int level, int threads)
{
	return 0;
}

static int none_write(struct compressor *c, const void *data, size_t len)
{
	return c->sink(c->sink_arg, data, len);
}

static int none_finish(struct compressor *c)
{
	return 0;
}

static void none_close(struct compressor *c)
{
}

const struct compressor_ops compressor_none = {
	.name = "none",
	.media_type = "application/vnd.oci.image.layer.v1.tar",
	.default_level = 0,
	.min_level = 0,
	.max_level = 0,
	.open = none_open,
	.write = none_write,
	.finish = none_finish,
	.close = none_close,
};
