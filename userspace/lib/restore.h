/* restore.h — between the restoring parent and the restore child.
 * The parent validates and supervises; the child rebuilds itself. */
#ifndef SNAP_RESTORE_H
#define SNAP_RESTORE_H

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
};

/* Runs in the child after fork: rebuilds the saved process from img and
 * the pages file, then jumps into the restorer blob. Returns only on
 * failure, after sending RESTORE_MSG_ERROR on report_fd. */
void snap_restore_child(const struct snap_image *img, const char *dir, int report_fd, int pages_fd);

extern const unsigned char _binary_restorer_bin_start[];
extern const unsigned char _binary_restorer_bin_end[];

#endif
