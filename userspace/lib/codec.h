/* codec.h — zstd framing of page chunks: each chunk one frame, or raw when
 * zstd does not shrink it enough (model weights barely compress). */
#ifndef SNAP_CODEC_H
#define SNAP_CODEC_H

#include <stddef.h>

struct snap_codec;

/* A chunk is stored compressed only when that saves at least 1/8. */
#define SNAP_CODEC_MIN_SAVING_SHIFT 3
#define SNAP_CODEC_LEVEL 1

int snap_codec_new(struct snap_codec **ret_codec);
void snap_codec_free(struct snap_codec *codec);
/* Compresses src[0..len) into dst (dst_cap >= len). Returns
 * SNAP_CHUNK_ZSTD with *ret_len set, or SNAP_CHUNK_RAW when the caller
 * should store src as it is. Negative errno only for a codec failure. */
int snap_codec_compress(struct snap_codec *codec, const void *src, size_t len, void *dst, size_t dst_cap,
			size_t *ret_len);
/* Decompresses one frame that must yield exactly dst_len bytes; -EBADMSG
 * for anything else (corrupt frame, wrong size, trailing bytes). */
int snap_codec_decompress(struct snap_codec *codec, const void *src, size_t src_len, void *dst, size_t dst_len);

#endif
