/* blob.h — writes one content-addressed blob into an OCI blobs/sha256 folder:
 * hashed while written, invisible until committed under its digest. */
#ifndef SNAPBAKE_BLOB_H
#define SNAPBAKE_BLOB_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"

struct blob_writer {
	int dirfd;	     /* blobs/sha256, borrowed */
	const char *dir_name; /* its path, for messages */
	int fd;
	bool anonymous;	     /* O_TMPFILE: a killed bake leaves nothing behind */
	char tmp_name[48];
	struct digest digest;
	uint64_t size;
	unsigned char *buf;
	size_t buf_len;
};

int blob_writer_open(struct blob_writer *w, int dirfd, const char *dir_name, struct bake_error *err);
int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct bake_error *err);
/* Flushes, syncs and names the blob by its digest. ret_created is false when
 * a blob with that digest was already there (same content, kept as it was). */
int blob_writer_commit(struct blob_writer *w, char ret_digest[DIGEST_STRING_LEN], bool *ret_created,
		       struct bake_error *err);
/* Drops an uncommitted blob; safe after a failed commit and on a closed writer. */
void blob_writer_abort(struct blob_writer *w);

/* Convenience for small documents (config, manifest). */
int blob_write_buffer(int dirfd, const char *dir_name, const void *data, size_t len,
		      char ret_digest[DIGEST_STRING_LEN], bool *ret_created, struct bake_error *err);

#endif
