/* io.h — how snapshot files are written: one interface, two backends
 * (io_uring with several writes in flight; plain pwrite as the fallback
 * where io_uring is missing or forbidden by a seccomp profile).
 * Callers fill buffers the backend owns; the backend never reorders data
 * within one offset and never drops an error. */
#ifndef SNAP_IO_H
#define SNAP_IO_H

#include <stddef.h>
#include <stdint.h>

#define SNAP_IO_BUFFER_SIZE (1u << 20) /* bytes per buffer */
#define SNAP_IO_DEPTH 8                /* buffers (and writes in flight) */

struct snap_io; /* an output file opened through a backend */

struct snap_io_ops {
	const char *name; /* "uring", "sync" */
	/* 0 when the backend works on this kernel and under this process's
	 * seccomp profile, else -errno. Cheap; may be called repeatedly. */
	int (*probe)(void);
	/* Takes over nothing: fd stays the caller's and must outlive io. */
	int (*open)(int fd, struct snap_io **ret_io);
	/* A free, 4096-aligned buffer of SNAP_IO_BUFFER_SIZE bytes; waits for a
	 * write to complete when all are in flight. Returns the first write
	 * error seen so far instead, if any. */
	int (*get_buffer)(struct snap_io *io, void **ret_buf);
	/* Queues buf[0..len) for writing at off; buf goes back to the pool when
	 * written. Short writes are retried; errors are kept for later calls. */
	int (*submit)(struct snap_io *io, void *buf, size_t len, uint64_t off);
	/* Waits for every queued write; returns the first error (-ENOSPC...). */
	int (*drain)(struct snap_io *io);
	void (*close)(struct snap_io *io); /* drains first; frees buffers */
};

extern const struct snap_io_ops snap_io_uring_ops;
extern const struct snap_io_ops snap_io_sync_ops;

/* Backend by name ("uring", "sync"), or the first that probes well when
 * name is NULL. -ENOENT for an unknown name, the probe's error when the
 * named backend cannot work here. */
int snap_io_select(const char *name, const struct snap_io_ops **ret_ops);

#endif
