/* digest.h — SHA-256 content digests in OCI form ("sha256:<64 hex>"), computed
 * incrementally through libcrypto's EVP interface; never a hand-written hash. */
#ifndef SNAPBAKE_DIGEST_H
#define SNAPBAKE_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

/* "sha256:" + 64 hex digits + NUL */
#define DIGEST_STRING_LEN 72
#define DIGEST_PREFIX "sha256:"

struct digest {
	void *ctx; /* EVP_MD_CTX */
};

int digest_init(struct digest *d);
int digest_update(struct digest *d, const void *data, size_t len);
/* Writes "sha256:<hex>" and releases the context. */
int digest_final(struct digest *d, char ret_text[DIGEST_STRING_LEN]);
void digest_free(struct digest *d);

int digest_buffer(const void *data, size_t len, char ret_text[DIGEST_STRING_LEN]);

/* True for "sha256:" followed by exactly 64 lowercase hex digits, so the
 * hex part is safe to use as a file name. */
bool digest_is_valid(const char *text);

#endif
