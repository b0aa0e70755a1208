/* restore.h — between the restoring parent and the restore child.
 * The parent validates and supervises; the child rebuilds itself. */
#ifndef SNAP_RESTORE_H
#define SNAP_RESTORE_H

#include <stdbool.h>
#include <stdint.h>

struct snap_image;

/* Messages the child sends on its report pipe. */
enum restore_msg_type {
	RESTORE_MSG_ERROR = 'E',   /* followed by a NUL-terminated line */
	RESTORE_MSG_BLOB = 'B',    /* followed by struct restore_msg_blob */
};

struct restore_msg_blob {
	uint64_t start, len;       /* the blob area, for the parent to unmap */
	uint64_t bytes_loaded;
	int32_t uffd;              /* lazy: the child's userfaultfd, for the parent to take; else -1 */
	int32_t reserved;
};

struct restore_child_opts {
	bool lazy;                 /* anonymous memory comes from the page server */
	const uint8_t *eager;      /* lazy: per chunk, 1 = fill it before the process runs */
};

/* Runs in the child after fork: rebuilds the saved process from img and
 * the pages file, then jumps into the restorer blob. Returns only on
 * failure, after sending RESTORE_MSG_ERROR on report_fd. */
void snap_restore_child(const struct snap_image *img, const char *dir, int report_fd, int pages_fd,
			const struct restore_child_opts *opts);

extern const unsigned char _binary_restorer_bin_start[];
extern const unsigned char _binary_restorer_bin_end[];

#endif
