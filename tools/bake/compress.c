/* compress.c — picks a compression backend by name or media type and forwards
 * to it; the backends live in compress_<name>.c and never know about tar or OCI. */
#include <errno.h>
#include <string.h>

#include "compress.h"

static const struct compressor_ops *const backends[] = {
	&compressor_zstd,
	&compressor_gzip,
	&compressor_none,
};

const struct compressor_ops *compressor_find(const char *name)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

const struct compressor_ops *compressor_for_media_type(const char *media_type)
{
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (!strcmp(backends[i]->media_type, media_type))
			return backends[i];
	return NULL;
}

int compressor_open(struct compressor *c, const struct compressor_ops *ops, int level, int threads,
		    compress_sink_fn sink, void *sink_arg)
{
	memset(c, 0, sizeof(*c));
	c->ops = ops;
	c->sink = sink;
	c->sink_arg = sink_arg;
	if (level < ops->min_level || level > ops->max_level)
		return -ERANGE;
	return ops->open(c, level, threads < 1 ? 1 : threads);
}

int compressor_write(struct compressor *c, const void *data, size_t len)
{
	return c->ops->write(c, data, len);
}

int compressor_finish(struct compressor *c)
{
	return c->ops->finish(c);
}

void compressor_close(struct compressor *c)
{
	if (c->ops)
		c->ops->close(c);
	c->ops = NULL;
}
