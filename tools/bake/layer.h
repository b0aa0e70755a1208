/* layer.h — streams a list of inputs into one layer blob: tar, then the
 * compressor, then the blob file, hashing both sides on the way (diffID and
 * digest). Memory use does not grow with the size of the inputs. */
#ifndef SNAPBAKE_LAYER_H
#define SNAPBAKE_LAYER_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "compress.h"
#include "digest.h"
#include "error.h"
#include "inputs.h"

struct layer_opts {
	const struct compressor_ops *compression;
	int level;
	int threads;
	uint32_t align; /* 0 or a power of two >= 512 */
	int64_t mtime;
	/* Called now and then with file bytes done so far, out of total. */
	void (*progress)(void *arg, uint64_t done, uint64_t total);
	void *progress_arg;
	/* Polled between reads; when it becomes non-zero the bake stops with -EINTR. */
	const volatile sig_atomic_t *cancel;
};

struct layer_result {
	char digest[DIGEST_STRING_LEN];	 /* of the blob as stored */
	char diff_id[DIGEST_STRING_LEN]; /* of the uncompressed tar */
	uint64_t size;			 /* blob bytes */
	uint64_t tar_size;		 /* uncompressed tar bytes */
	bool created;			 /* false when the same blob was already there */
};

int layer_write(int blobs_fd, const char *blobs_name, const struct input_list *inputs, const struct layer_opts *opts,
		struct layer_result *ret_result, struct bake_error *err);

#endif
