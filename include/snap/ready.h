/* ready.h — a workload's side of snapctl's readiness protocol, header-only, libc only:
 * snap_snapshot_point() says "ready" and tells how the process goes on; never links libsnap. */
#ifndef SNAP_READY_H
#define SNAP_READY_H

/*
 * Under `snapctl run`, SNAPCTL_READY_FD names an fd. At its snapshot point —
 * imports done, weights loaded, no socket or GPU touched yet — a workload
 * writes "ready\n" there and blocks reading one line back:
 *
 *   "continued"  the original, after its snapshot was taken (snapctl run --continue);
 *   "restored"   a process restored from that snapshot: the moment to reseed
 *                randomness, open connections, move weights to the GPU.
 *
 * Without SNAPCTL_READY_FD the call returns at once: "unmanaged".
 *
 *   switch (snap_snapshot_point()) {
 *   case SNAP_POINT_RESTORED: reseed(); break;
 *   case SNAP_POINT_CONTINUED: case SNAP_POINT_UNMANAGED: break;
 *   default: fail;   (a negative errno)
 *   }
 *
 * One snapshot point per process: the fd is closed once it has answered.
 * The call is not async-signal-safe and not meant for two threads at once.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The same strings as <snap/snap.h>, for workloads that vendor this header alone. */
#ifndef SNAP_READY_ENV
#define SNAP_READY_ENV "SNAPCTL_READY_FD"
#endif
#ifndef SNAP_READY_LINE
#define SNAP_READY_LINE "ready\n"
#endif
#ifndef SNAP_CONTINUED_LINE
#define SNAP_CONTINUED_LINE "continued\n"
#endif
#ifndef SNAP_RESTORED_LINE
#define SNAP_RESTORED_LINE "restored\n"
#endif

enum snap_point {
	SNAP_POINT_UNMANAGED = 0, /* not run under snapctl */
	SNAP_POINT_CONTINUED = 1, /* the original, its snapshot taken */
	SNAP_POINT_RESTORED = 2,  /* restored from the snapshot */
};

/* "unmanaged", "continued", "restored", or "error" for a negative errno. */
static inline const char *snap_snapshot_point_name(int point)
{
	switch (point) {
	case SNAP_POINT_UNMANAGED: return "unmanaged";
	case SNAP_POINT_CONTINUED: return "continued";
	case SNAP_POINT_RESTORED: return "restored";
	}
	return "error";
}

/* SNAPCTL_READY_FD as an fd: -ENOENT when unset or empty, -EINVAL when it is no fd number. */
static inline int snap_ready_fd(void)
{
	const char *s = getenv(SNAP_READY_ENV);
	long fd = 0;

	if (!s || !*s)
		return -ENOENT;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || fd > INT_MAX / 10)
			return -EINVAL;
		fd = fd * 10 + (*s - '0');
	}
	return fd <= INT_MAX ? (int)fd : -EINVAL;
}

/* Writes all of buf; send() with MSG_NOSIGNAL on a socket, so that a snapctl
 * gone away is an EPIPE return and not a SIGPIPE. */
static inline int snap_ready_write_(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads one line, byte by byte so that nothing past it is consumed.
 * A restore resumes the read that was blocked here, on the restored fd. */
static inline int snap_ready_read_line_(int fd, char *buf, size_t size)
{
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n = read(fd, buf + len, 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE; /* closed before answering: snapctl went away */
		if (buf[len++] == '\n') {
			buf[len] = 0;
			return 0;
		}
	}
	return -EPROTO;
}

/* Says "ready" and waits for the answer: SNAP_POINT_CONTINUED or
 * SNAP_POINT_RESTORED; SNAP_POINT_UNMANAGED at once without snapctl;
 * a negative errno on failure (-EBADF: the fd is not open; -EPIPE: snapctl
 * closed it; -EPROTO: an answer this header does not know). */
static inline int snap_snapshot_point(void)
{
	char line[32];
	int fd, r;

	fd = snap_ready_fd();
	if (fd == -ENOENT)
		return SNAP_POINT_UNMANAGED;
	if (fd < 0)
		return fd;
	if (fcntl(fd, F_GETFD) < 0)
		return -EBADF;
	r = snap_ready_write_(fd, SNAP_READY_LINE, strlen(SNAP_READY_LINE));
	if (r == 0)
		r = snap_ready_read_line_(fd, line, sizeof(line));
	close(fd);
	if (r < 0)
		return r;
	if (!strcmp(line, SNAP_RESTORED_LINE))
		return SNAP_POINT_RESTORED;
	if (!strcmp(line, SNAP_CONTINUED_LINE))
		return SNAP_POINT_CONTINUED;
	return -EPROTO;
}

#ifdef __cplusplus
}
#endif
#endif
