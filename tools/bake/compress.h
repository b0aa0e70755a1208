/* compress.h — layer compression behind one small ops struct: zstd, gzip, none.
 * A compressor only transforms bytes and hands them to its sink; it never does I/O. */
#ifndef SNAPBAKE_COMPRESS_H
#define SNAPBAKE_COMPRESS_H

#include <stddef.h>

/* Receives compressed bytes; returns 0 or a negative errno (and records why). */
typedef int (*compress_sink_fn)(void *arg, const void *data, size_t len);

struct compressor;

struct compressor_ops {
	const char *name;	/* as given to --compress */
	const char *media_type; /* OCI layer media type */
	int default_level, min_level, max_level;
	int (*open)(struct compressor *c, int level, int threads);
	int (*write)(struct compressor *c, const void *data, size_t len);
	int (*finish)(struct compressor *c); /* ends the stream */
	void (*close)(struct compressor *c);
};

struct compressor {
	const struct compressor_ops *ops;
	compress_sink_fn sink;
	void *sink_arg;
	void *state;
	const char *error; /* the library's own words, when it failed */
};

extern const struct compressor_ops compressor_zstd, compressor_gzip, compressor_none;

/* NULL when name is none of "zstd", "gzip", "none". */
const struct compressor_ops *compressor_find(const char *name);
/* The ops whose media type this is, or NULL. */
const struct compressor_ops *compressor_for_media_type(const char *media_type);

int compressor_open(struct compressor *c, const struct compressor_ops *ops, int level, int threads,
		    compress_sink_fn sink, void *sink_arg);
int compressor_write(struct compressor *c, const void *data, size_t len);
int compressor_finish(struct compressor *c);
void compressor_close(struct compressor *c);

#endif
