/* digest.c — streaming SHA-256 through OpenSSL EVP for layer digests and diffIDs.
 * It never implements a hash itself and never reads or writes files. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "digest.h"

int digest_init(struct digest *d)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return -EIO;
	}
	d->ctx = ctx;
	return 0;
}

int digest_update(struct digest *d, const void *data, size_t len)
{
	return EVP_DigestUpdate(d->ctx, data, len) == 1 ? 0 : -EIO;
}

int digest_final(struct digest *d, char ret_text[DIGEST_STRING_LEN])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	char *p;

	if (EVP_DigestFinal_ex(d->ctx, md, &n) != 1 || n != 32) {
		digest_free(d);
		return -EIO;
	}
	digest_free(d);
	strcpy(ret_text, DIGEST_PREFIX);
	p = ret_text + strlen(DIGEST_PREFIX);
	for (unsigned int i = 0; i < n; i++) {
		*p++ = hex[md[i] >> 4];
		*p++ = hex[md[i] & 15];
	}
	*p = '\0';
	return 0;
}

void digest_free(struct digest *d)
{
	EVP_MD_CTX_free(d->ctx);
	d->ctx = NULL;
}

int digest_buffer(const void *data, size_t len, char ret_text[DIGEST_STRING_LEN])
{
	struct digest d;
	int r = digest_init(&d);

	if (r < 0)
		return r;
	if ((r = digest_update(&d, data, len)) < 0) {
		digest_free(&d);
		return r;
	}
	return digest_final(&d, ret_text);
}

bool digest_is_valid(const char *text)
{
	size_t plen = strlen(DIGEST_PREFIX);

	if (!text || strncmp(text, DIGEST_PREFIX, plen) || strlen(text) != plen + 64)
		return false;
	for (const char *c = text + plen; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
			return false;
	return true;
}
