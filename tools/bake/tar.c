/* tar.c — writes ustar headers with pax extended records; pads with a pax
 * "comment" record to align file data. Output depends only on the entries
 * given: no clock, no user names, no host state. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tar.h"

/* ustar's octal size field holds 11 digits: files of 8 GiB and more need pax. */
#define USTAR_MAX_SIZE 077777777777ull
#define USTAR_NAME_LEN 100
#define PAX_MAX_RECORDS (64u << 10)

static const unsigned char zero_block[TAR_BLOCK];

struct pax {
	char *data;
	size_t len, cap;
};

void tar_writer_init(struct tar_writer *tw, compress_sink_fn sink, void *sink_arg, uint32_t align, int64_t mtime)
{
	memset(tw, 0, sizeof(*tw));
	tw->sink = sink;
	tw->sink_arg = sink_arg;
	tw->align = align > TAR_BLOCK ? align : 0; /* 512 is what tar gives anyway */
	tw->mtime = mtime;
}

static int emit(struct tar_writer *tw, const void *data, size_t len)
{
	int r = tw->sink(tw->sink_arg, data, len);

	if (r >= 0)
		tw->offset += len;
	return r;
}

static size_t ndigits(size_t n)
{
	size_t d = 1;

	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* A pax record is "LEN KEY=VALUE\n" where LEN counts the whole record,
 * its own digits included. */
static size_t pax_record_len(const char *key, size_t value_len)
{
	size_t body = 1 + strlen(key) + 1 + value_len + 1;
	size_t d = 1;

	while (ndigits(body + d) != d)
		d++;
	return body + d;
}

static int pax_reserve(struct pax *pax, size_t more)
{
	if (pax->len + more + 1 > pax->cap) {
		size_t cap = pax->len + more + 1 + 256;
		char *grown = realloc(pax->data, cap);

		if (!grown)
			return -ENOMEM;
		pax->data = grown;
		pax->cap = cap;
	}
	return 0;
}

static int pax_add(struct pax *pax, const char *key, const char *value)
{
	size_t vlen = strlen(value);
	size_t n = pax_record_len(key, vlen);

	if (pax->len + n > PAX_MAX_RECORDS)
		return -ENAMETOOLONG;
	if (pax_reserve(pax, n) < 0)
		return -ENOMEM;
	pax->len += (size_t)snprintf(pax->data + pax->len, n + 1, "%zu %s=%s\n", n, key, value);
	return 0;
}

/* Adds one "comment" record of exactly total bytes (total >= 12); POSIX
 * says readers ignore comments, so it only moves what follows. */
static int pax_add_padding(struct pax *pax, size_t total)
{
	size_t d = ndigits(total);
	size_t fill = total - d - 1 - strlen("comment=") - 1;
	int n;

	if (pax_reserve(pax, total) < 0)
		return -ENOMEM;
	n = snprintf(pax->data + pax->len, total + 1, "%zu comment=", total);
	memset(pax->data + pax->len + n, '0', fill);
	pax->data[pax->len + total - 1] = '\n';
	pax->len += total;
	pax->data[pax->len] = '\0';
	return 0;
}

static void octal(char *field, size_t width, uint64_t value)
{
	/* width - 1 digits and a NUL, as ustar readers expect. */
	snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)value);
}

/* Sizes past the octal field use the base-256 form (high bit set), which
 * GNU tar, Go and Python read; the pax size record is authoritative anyway. */
static void size_field(char *field, uint64_t size)
{
	if (size <= USTAR_MAX_SIZE) {
		octal(field, 12, size);
		return;
	}
	memset(field, 0, 12);
	field[0] = (char)0x80;
	for (int i = 11; i >= 4; i--) {
		field[i] = (char)(size & 0xff);
		size >>= 8;
	}
}

static int write_ustar(struct tar_writer *tw, const char *name, char type, unsigned int mode, uint64_t size,
		       const char *link)
{
	unsigned char block[TAR_BLOCK];
	char *h = (char *)block;
	unsigned int sum = 0;

	memset(block, 0, sizeof(block));
	memcpy(h, name, strnlen(name, USTAR_NAME_LEN));
	octal(h + 100, 8, mode & 07777);
	octal(h + 108, 8, 0);
	octal(h + 116, 8, 0);
	size_field(h + 124, size);
	octal(h + 136, 12, (uint64_t)tw->mtime);
	h[156] = type;
	if (link)
		memcpy(h + 157, link, strnlen(link, USTAR_NAME_LEN));
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	octal(h + 329, 8, 0);
	octal(h + 337, 8, 0);
	memset(h + 148, ' ', 8);
	for (size_t i = 0; i < TAR_BLOCK; i++)
		sum += block[i];
	snprintf(h + 148, 8, "%06o", sum);
	h[155] = ' ';
	return emit(tw, block, sizeof(block));
}

static size_t round_block(size_t n)
{
	return (n + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
}

/* How long the pax data must be (a multiple of 512) so that the file data
 * after it and the ustar header starts on tw->align; 0 when no pax entry
 * is needed at all. */
static size_t aligned_pax_size(const struct tar_writer *tw, size_t records_len)
{
	uint64_t base = tw->offset + 2 * TAR_BLOCK;
	size_t want;

	if (!records_len && (tw->offset + TAR_BLOCK) % tw->align == 0)
		return 0;
	want = (size_t)((tw->align - base % tw->align) % tw->align);
	/* Room for the records and, when they fall short, a padding record
	 * of at least 12 bytes ("12 comment=\n"). */
	while (want < records_len || (want > records_len && want - records_len < 12) || !want)
		want += tw->align;
	return want;
}

int tar_write_header(struct tar_writer *tw, const struct tar_entry *e)
{
	struct pax pax = { 0 };
	size_t plen = strlen(e->path);
	char *name = NULL;
	size_t pax_size;
	char type;
	int r = 0;

	if (tw->remaining || !plen || e->path[0] == '/' || e->path[plen - 1] == '/')
		return -EINVAL;
	switch (e->type) {
	case TAR_REGULAR: type = '0'; break;
	case TAR_DIRECTORY: type = '5'; break;
	case TAR_SYMLINK: type = '2'; break;
	default: return -EINVAL;
	}
	/* Directories are named with a trailing slash, as tar does. */
	if (asprintf(&name, "%s%s", e->path, e->type == TAR_DIRECTORY ? "/" : "") < 0)
		return -ENOMEM;
	if (strlen(name) >= USTAR_NAME_LEN)
		r = pax_add(&pax, "path", name);
	if (r >= 0 && e->type == TAR_SYMLINK && strlen(e->link) >= USTAR_NAME_LEN)
		r = pax_add(&pax, "linkpath", e->link);
	if (r >= 0 && e->type == TAR_REGULAR && e->size > USTAR_MAX_SIZE) {
		char num[24];

		snprintf(num, sizeof(num), "%llu", (unsigned long long)e->size);
		r = pax_add(&pax, "size", num);
	}
	if (r < 0)
		goto out;

	if (tw->align && e->type == TAR_REGULAR && e->size) {
		pax_size = aligned_pax_size(tw, pax.len);
		if (pax_size > pax.len && (r = pax_add_padding(&pax, pax_size - pax.len)) < 0)
			goto out;
	}
	if (pax.len) {
		/* The pax entry's own name: fixed, so output never varies. */
		char pax_name[USTAR_NAME_LEN];
		const char *base = strrchr(e->path, '/');

		base = base ? base + 1 : e->path;
		snprintf(pax_name, sizeof(pax_name), "PaxHeaders.0/%.80s", base);
		if ((r = write_ustar(tw, pax_name, 'x', 0644, pax.len, NULL)) < 0 ||
		    (r = emit(tw, pax.data, pax.len)) < 0 ||
		    (r = emit(tw, zero_block, round_block(pax.len) - pax.len)) < 0)
			goto out;
	}
	r = write_ustar(tw, name, type, e->mode, e->type == TAR_REGULAR ? e->size : 0,
			e->type == TAR_SYMLINK ? e->link : NULL);
	if (r < 0)
		goto out;
	tw->data_offset = tw->offset;
	tw->data_size = tw->remaining = e->type == TAR_REGULAR ? e->size : 0;
out:
	free(pax.data);
	free(name);
	return r;
}

int tar_write_data(struct tar_writer *tw, const void *data, size_t len)
{
	if (len > tw->remaining)
		return -EINVAL;
	tw->remaining -= len;
	return emit(tw, data, len);
}

int tar_end_entry(struct tar_writer *tw)
{
	size_t tail = (size_t)(tw->data_size % TAR_BLOCK);

	if (tw->remaining)
		return -EIO;
	tw->data_size = 0;
	return tail ? emit(tw, zero_block, TAR_BLOCK - tail) : 0;
}

int tar_finish(struct tar_writer *tw)
{
	int r = emit(tw, zero_block, TAR_BLOCK);

	return r < 0 ? r : emit(tw, zero_block, TAR_BLOCK);
}
