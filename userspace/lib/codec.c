/* codec.c — zstd level-1 frames for page chunks, one frame per chunk.
 * Never returns bytes it could not fully decode to the expected length. */
#include <errno.h>
#include <stdlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "codec.h"
#include "image.h"

#define SAMPLE 16384

struct snap_codec {
	ZSTD_CCtx *cctx;
	ZSTD_DCtx *dctx;
};

int snap_codec_new(struct snap_codec **ret_codec)
{
	struct snap_codec *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->cctx = ZSTD_createCCtx();
	c->dctx = ZSTD_createDCtx();
	if (!c->cctx || !c->dctx ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, SNAP_CODEC_LEVEL)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_contentSizeFlag, 1))) {
		snap_codec_free(c);
		return -ENOMEM;
	}
	*ret_codec = c;
	return 0;
}

void snap_codec_free(struct snap_codec *codec)
{
	if (!codec)
		return;
	ZSTD_freeCCtx(codec->cctx);
	ZSTD_freeDCtx(codec->dctx);
	free(codec);
}

int snap_codec_compress(struct snap_codec *codec, const void *src, size_t len, void *dst, size_t dst_cap,
			size_t *ret_len)
{
	size_t limit = len - (len >> SNAP_CODEC_MIN_SAVING_SHIFT);
	size_t n;

	if (dst_cap < limit)
		return -EINVAL;
	/* Model weights and other dense floats barely compress (1.1x at
	 * ~300 MB/s): a 16 KiB sample that saves less than 1/8 sends the
	 * chunk raw, at memory speed, without compressing the rest. */
	if (len >= 4 * SAMPLE) {
		n = ZSTD_compress2(codec->cctx, dst, SAMPLE - (SAMPLE >> SNAP_CODEC_MIN_SAVING_SHIFT), src, SAMPLE);
		if (ZSTD_isError(n) && ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return SNAP_CHUNK_RAW;
	}
	/* A destination of `limit` bytes makes zstd give up early on data that
	 * would not pay for itself: dstSize_tooSmall means "store raw". */
	n = ZSTD_compress2(codec->cctx, dst, limit, src, len);
	if (ZSTD_isError(n)) {
		if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall)
			return SNAP_CHUNK_RAW;
		return -EIO;
	}
	if (n >= limit)
		return SNAP_CHUNK_RAW;
	*ret_len = n;
	return SNAP_CHUNK_ZSTD;
}

int snap_codec_decompress(struct snap_codec *codec, const void *src, size_t src_len, void *dst, size_t dst_len)
{
	unsigned long long content = ZSTD_getFrameContentSize(src, src_len);
	size_t frame, n;

	if (content != dst_len)
		return -EBADMSG;
	frame = ZSTD_findFrameCompressedSize(src, src_len);
	if (ZSTD_isError(frame) || frame != src_len)
		return -EBADMSG;
	n = ZSTD_decompressDCtx(codec->dctx, dst, dst_len, src, src_len);
	if (ZSTD_isError(n) || n != dst_len)
		return -EBADMSG;
	return 0;
}
