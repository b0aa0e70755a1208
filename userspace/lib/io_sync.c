/* io_sync.c — the fallback write backend: plain pwrite(2), one write at a
 * time, for kernels or seccomp profiles without io_uring. Never drops an
 * error or the rest of a short write. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#include "io.h"

struct sync_buffer {
	void *data; /* allocated on first use: one is enough unless the caller holds several */
	bool taken; /* handed out by get_buffer, not yet submitted */
};

/* What a struct snap_io * points to for this backend. */
struct sync_io {
	int fd;
	int err; /* the first error, returned by every later call */
	struct sync_buffer buffers[SNAP_IO_DEPTH];
};

static struct sync_io *to_sync(struct snap_io *io)
{
	return (struct sync_io *)io;
}

/* pwrite exists wherever a process can write files. */
static int sync_probe(void)
{
	return 0;
}

static int sync_open(int fd, struct snap_io **ret_io)
{
	struct sync_io *s;

	if (fd < 0)
		return -EBADF;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = fd;
	*ret_io = (struct snap_io *)s;
	return 0;
}

static int sync_get_buffer(struct snap_io *io, void **ret_buf)
{
	struct sync_io *s = to_sync(io);
	struct sync_buffer *b;

	if (s->err)
		return s->err;
	for (b = s->buffers; b < s->buffers + SNAP_IO_DEPTH; b++)
		if (!b->taken && b->data)
			goto take;
	for (b = s->buffers; b < s->buffers + SNAP_IO_DEPTH; b++) {
		if (b->taken)
			continue;
		if (posix_memalign(&b->data, 4096, SNAP_IO_BUFFER_SIZE)) {
			b->data = NULL;
			return -ENOMEM;
		}
		goto take;
	}
	return -ENOBUFS; /* the caller holds every buffer */
take:
	b->taken = true;
	*ret_buf = b->data;
	return 0;
}

static int write_all(int fd, const char *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO; /* no progress: retrying would loop forever */
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int sync_submit(struct snap_io *io, void *buf, size_t len, uint64_t off)
{
	struct sync_io *s = to_sync(io);
	struct sync_buffer *b;
	int r;

	for (b = s->buffers; b < s->buffers + SNAP_IO_DEPTH; b++)
		if (b->data == buf && buf)
			break;
	if (b == s->buffers + SNAP_IO_DEPTH || !b->taken || len > SNAP_IO_BUFFER_SIZE)
		return -EINVAL; /* not ours, or not handed out: the caller keeps it */
	b->taken = false;
	if (s->err)
		return s->err;
	r = write_all(s->fd, buf, len, off);
	if (r < 0)
		s->err = r;
	return r;
}

static int sync_drain(struct snap_io *io)
{
	return to_sync(io)->err;
}

static void sync_close(struct snap_io *io)
{
	struct sync_io *s = to_sync(io);

	if (!s)
		return;
	for (unsigned int i = 0; i < SNAP_IO_DEPTH; i++)
		free(s->buffers[i].data);
	free(s);
}

const struct snap_io_ops snap_io_sync_ops = {
	.name = "sync",
	.probe = sync_probe,
	.open = sync_open,
	.get_buffer = sync_get_buffer,
	.submit = sync_submit,
	.drain = sync_drain,
	.close = sync_close,
};
