/* tar.h — a POSIX pax tar stream writer for OCI layers: ustar headers, pax
 * records where ustar falls short (long names, files of 8 GiB and more), and
 * optional alignment of file data. It produces bytes only; it never reads files. */
#ifndef SNAPBAKE_TAR_H
#define SNAPBAKE_TAR_H

#include <stdint.h>

#include "compress.h"

#define TAR_BLOCK 512u

enum tar_type { TAR_REGULAR, TAR_DIRECTORY, TAR_SYMLINK };

struct tar_entry {
	const char *path; /* relative, no leading or trailing '/' */
	enum tar_type type;
	unsigned int mode;
	uint64_t size;	  /* TAR_REGULAR only */
	const char *link; /* TAR_SYMLINK only */
};

struct tar_writer {
	compress_sink_fn sink;
	void *sink_arg;
	uint32_t align;	      /* 0, or a power of two: where file data must start */
	int64_t mtime;	      /* every entry's mtime */
	uint64_t offset;      /* bytes emitted so far */
	uint64_t remaining;   /* data still owed for the current entry */
	uint64_t data_offset; /* where the current entry's data starts */
	uint64_t data_size;
};

void tar_writer_init(struct tar_writer *tw, compress_sink_fn sink, void *sink_arg, uint32_t align, int64_t mtime);
/* Emits the headers of e; for a regular file, e->size bytes of data must
 * follow through tar_write_data, then tar_end_entry. Returns -ENAMETOOLONG,
 * -EINVAL, or the sink's error. */
int tar_write_header(struct tar_writer *tw, const struct tar_entry *e);
int tar_write_data(struct tar_writer *tw, const void *data, size_t len);
/* -EIO when fewer bytes than the header promised were written. */
int tar_end_entry(struct tar_writer *tw);
/* The two zero blocks that end an archive. */
int tar_finish(struct tar_writer *tw);

#endif
