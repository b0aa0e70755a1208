/* io_uring.c — the io_uring write backend: a pool of SNAP_IO_DEPTH aligned
 * buffers with up to that many writes in flight. Never drops an error or the
 * rest of a short write, and never reuses a buffer the kernel may still read. */
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdlib.h>

#include "io.h"

enum buffer_state {
	BUFFER_FREE,      /* in the pool (data may still be unallocated) */
	BUFFER_CALLER,    /* handed out by get_buffer, not yet submitted */
	BUFFER_IN_FLIGHT, /* the kernel owns it until its completion */
};

struct uring_buffer {
	void *data; /* allocated on first use: small files need one or two */
	enum buffer_state state;
	size_t len;  /* bytes to write */
	size_t done; /* bytes written so far (short writes continue from here) */
	uint64_t off;
};

/* What a struct snap_io * points to for this backend. */
struct uring_io {
	struct io_uring ring;
	int fd;
	int err; /* the first error, returned by every later call */
	unsigned int in_flight;
	struct uring_buffer buffers[SNAP_IO_DEPTH];
};

static struct uring_io *to_uring(struct snap_io *io)
{
	return (struct uring_io *)io;
}

static int record_error(struct uring_io *u, int err)
{
	if (!u->err)
		u->err = err;
	return u->err;
}

static int wait_cqe(struct io_uring *ring, struct io_uring_cqe **ret_cqe)
{
	int r;

	do
		r = io_uring_wait_cqe(ring, ret_cqe);
	while (r == -EINTR);
	return r;
}

static int submit_ring(struct io_uring *ring)
{
	int r;

	do
		r = io_uring_submit(ring);
	while (r == -EINTR);
	if (r == 0)
		return -EAGAIN; /* the kernel took nothing: no completion will come */
	return r < 0 ? r : 0;
}

/* A ring and a NOP through it: proves that io_uring_setup and io_uring_enter
 * both pass seccomp and kernel.io_uring_disabled, not just that the kernel
 * was built with io_uring. */
static int uring_probe(void)
{
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	struct io_uring ring;
	int r;

	r = io_uring_queue_init(2, &ring, 0);
	if (r < 0)
		return r;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	r = submit_ring(&ring);
	if (r == 0)
		r = wait_cqe(&ring, &cqe);
	if (r == 0) {
		r = cqe->res < 0 ? cqe->res : 0;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	return r;
}

static int uring_open(int fd, struct snap_io **ret_io)
{
	struct uring_io *u;
	int r;

	if (fd < 0)
		return -EBADF;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	/* One SQE per buffer: at most SNAP_IO_DEPTH writes are ever queued. */
	r = io_uring_queue_init(SNAP_IO_DEPTH, &u->ring, 0);
	if (r < 0) {
		free(u);
		return r;
	}
	u->fd = fd;
	*ret_io = (struct snap_io *)u;
	return 0;
}

/* Queues what is left of buffer index. On failure the SQE may still sit in
 * the submission ring, so the error is recorded and nothing is submitted
 * again: the kernel never sees it. */
static int queue_write(struct uring_io *u, unsigned int index)
{
	struct uring_buffer *b = &u->buffers[index];
	struct io_uring_sqe *sqe;
	int r;

	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe) /* cannot happen with one SQE per buffer; never wait on it */
		return record_error(u, -EBUSY);
	io_uring_prep_write(sqe, u->fd, (char *)b->data + b->done, b->len - b->done, b->off + b->done);
	io_uring_sqe_set_data(sqe, (void *)(uintptr_t)index);
	r = submit_ring(&u->ring);
	if (r < 0)
		return record_error(u, r);
	b->state = BUFFER_IN_FLIGHT;
	u->in_flight++;
	return 0;
}

/* Accounts one completion: the buffer goes back to the pool, or the rest of
 * a short write is queued again. */
static void complete(struct uring_io *u, struct io_uring_cqe *cqe)
{
	unsigned int index = (unsigned int)(uintptr_t)io_uring_cqe_get_data(cqe);
	struct uring_buffer *b = &u->buffers[index];
	int res = cqe->res;

	io_uring_cqe_seen(&u->ring, cqe);
	u->in_flight--;
	if (res > 0)
		b->done += (size_t)res;
	else if (res == 0)
		res = -EIO; /* no progress: retrying would loop forever */
	if (res < 0)
		record_error(u, res);
	b->state = BUFFER_FREE;
	if (b->done < b->len && !u->err)
		queue_write(u, index);
}

static void reap_ready(struct uring_io *u)
{
	struct io_uring_cqe *cqe;

	while (u->in_flight && io_uring_peek_cqe(&u->ring, &cqe) == 0)
		complete(u, cqe);
}

static int wait_one(struct uring_io *u)
{
	struct io_uring_cqe *cqe;
	int r;

	r = wait_cqe(&u->ring, &cqe);
	if (r < 0)
		return record_error(u, r);
	complete(u, cqe);
	return 0;
}

/* Writes that overlap must land in the order they were submitted; io_uring
 * may run two queued writes in either order, so the later one waits. */
static bool overlaps_in_flight(const struct uring_io *u, uint64_t off, size_t len)
{
	for (unsigned int i = 0; i < SNAP_IO_DEPTH; i++) {
		const struct uring_buffer *b = &u->buffers[i];

		if (b->state == BUFFER_IN_FLIGHT && off < b->off + b->len && b->off < off + len)
			return true;
	}
	return false;
}

static int uring_get_buffer(struct snap_io *io, void **ret_buf)
{
	struct uring_io *u = to_uring(io);
	struct uring_buffer *b;

	reap_ready(u);
	for (;;) {
		if (u->err)
			return u->err;
		/* Reuse an allocated buffer before allocating another. */
		for (b = u->buffers; b < u->buffers + SNAP_IO_DEPTH; b++)
			if (b->state == BUFFER_FREE && b->data)
				goto take;
		for (b = u->buffers; b < u->buffers + SNAP_IO_DEPTH; b++) {
			if (b->state != BUFFER_FREE)
				continue;
			if (posix_memalign(&b->data, 4096, SNAP_IO_BUFFER_SIZE)) {
				b->data = NULL;
				return -ENOMEM;
			}
			goto take;
		}
		if (!u->in_flight)
			return -ENOBUFS; /* the caller holds every buffer */
		if (wait_one(u) < 0)
			return u->err;
	}
take:
	b->state = BUFFER_CALLER;
	*ret_buf = b->data;
	return 0;
}

static int uring_submit(struct snap_io *io, void *buf, size_t len, uint64_t off)
{
	struct uring_io *u = to_uring(io);
	struct uring_buffer *b;

	for (b = u->buffers; b < u->buffers + SNAP_IO_DEPTH; b++)
		if (b->data == buf && buf)
			break;
	if (b == u->buffers + SNAP_IO_DEPTH || b->state != BUFFER_CALLER || len > SNAP_IO_BUFFER_SIZE)
		return -EINVAL; /* not ours, or not handed out: the caller keeps it */
	reap_ready(u);
	while (!u->err && len && overlaps_in_flight(u, off, len))
		wait_one(u);
	b->state = BUFFER_FREE;
	if (u->err)
		return u->err;
	if (!len)
		return 0;
	b->len = len;
	b->done = 0;
	b->off = off;
	return queue_write(u, (unsigned int)(b - u->buffers));
}

static int uring_drain(struct snap_io *io)
{
	struct uring_io *u = to_uring(io);

	/* After a failed wait, completions are lost: stop waiting. The
	 * buffers stay in flight and are freed only after the ring is gone. */
	while (u->in_flight)
		if (wait_one(u) < 0)
			break;
	return u->err;
}

static void uring_close(struct snap_io *io)
{
	struct uring_io *u = to_uring(io);

	if (!u)
		return;
	uring_drain(io);
	/* Tearing the ring down waits for any request the kernel still has,
	 * so the buffers are free to go afterwards. */
	io_uring_queue_exit(&u->ring);
	for (unsigned int i = 0; i < SNAP_IO_DEPTH; i++)
		free(u->buffers[i].data);
	free(u);
}

const struct snap_io_ops snap_io_uring_ops = {
	.name = "uring",
	.probe = uring_probe,
	.open = uring_open,
	.get_buffer = uring_get_buffer,
	.submit = uring_submit,
	.drain = uring_drain,
	.close = uring_close,
};
