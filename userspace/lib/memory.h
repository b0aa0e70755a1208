/* memory.h — copies the memory of a frozen process into the pages file:
 * only pages that exist (and, for file mappings, differ from the file),
 * zero pages skipped, in zstd or raw chunks. */
#ifndef SNAP_MEMORY_H
#define SNAP_MEMORY_H

#include <stdint.h>
#include <sys/types.h>

struct snap_ctx;
struct snap_image;
struct snap_io_ops;
struct snap_precopy;

struct snap_memory_stats {
	uint64_t bytes_virtual, bytes_memory, bytes_stored, chunks, zero_pages;
};

/* Writes the pages file through io (fd open for writing, empty) and adds
 * the chunk records to img; private memory comes from precopy's shadow
 * when there is one, else from the (frozen) process. Sets
 * img->process.pages_size and
 * pages_header_crc. Does not fsync. */
int snap_memory_dump(struct snap_ctx *ctx, pid_t pid, struct snap_image *img, const struct snap_io_ops *io_ops,
		     int fd, const struct snap_precopy *precopy, struct snap_memory_stats *ret_stats);

#endif
