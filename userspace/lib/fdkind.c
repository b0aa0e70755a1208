/* fdkind.c — pipes, eventfd, signalfd, timerfd, epoll: state read from fdinfo (pipe bytes via tee(2)),
 * recreated in the restore child. Never consumes or changes the target's: no read, settime or gettime. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "ctx.h"
#include "fdkind.h"
#include "image.h"
#include "sys.h"

#define NSEC_PER_SEC 1000000000ull
#define PIPE_SIZE_MAX (1ull << 31) /* F_SETPIPE_SZ takes an int */

/* One watch of an epoll set, as the image stores it (enum snap_fd_kind). */
struct epoll_watch {
	int32_t fd;
	uint32_t events;
	uint64_t data;
};
_Static_assert(sizeof(struct epoll_watch) == 16, "the image's epoll watch is 16 bytes");

/* ---- fdinfo ------------------------------------------------------------- */

/* Reads /proc/PID/fdinfo/FD whole (an epoll set's can be long) into a
 * malloc'ed, NUL-terminated *ret_text. */
static int read_fdinfo(pid_t pid, int fd, char **ret_text)
{
	size_t len = 0, cap = 4096;
	char path[64], *buf;
	ssize_t n;
	int f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		close(f);
		return -ENOMEM;
	}
	while ((n = read(f, buf + len, cap - 1 - len)) > 0) {
		len += (size_t)n;
		if (len == cap - 1) {
			char *p = realloc(buf, cap * 2);
			if (!p) {
				n = -1;
				errno = ENOMEM;
				break;
			}
			buf = p;
			cap *= 2;
		}
	}
	if (n < 0) {
		int err = -errno;
		free(buf);
		close(f);
		return err;
	}
	close(f);
	buf[len] = '\0';
	*ret_text = buf;
	return 0;
}

/* What follows key at the start of a line of text, or NULL ("flags:" must
 * not find "settime flags:"). */
static const char *fdinfo_field(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *line = text;

	while (*line) {
		if (!strncmp(line, key, n))
			return line + n;
		line = strchrnul(line, '\n');
		if (*line)
			line++;
	}
	return NULL;
}

static int fdinfo_u64(const char *text, const char *key, int base, uint64_t *ret)
{
	const char *v = fdinfo_field(text, key);
	char *end;

	if (!v)
		return -ENOENT;
	errno = 0;
	*ret = strtoull(v, &end, base);
	return end == v || errno ? -EINVAL : 0;
}

/* ---- capture ------------------------------------------------------------ */

/* An earlier record of this kind sharing fd's open file (dup, fork): the
 * restore child dups that one rather than making a second object. */
static int32_t find_same_file(pid_t pid, const struct snap_image *img, const struct snap_rec_fd *rec)
{
	for (uint32_t k = 0; &img->fds[k] < rec; k++) {
		const struct snap_rec_fd *o = &img->fds[k];
		if (o->kind == rec->kind && o->same_as == -1 &&
		    sys_kcmp(pid, pid, KCMP_FILE, (unsigned long)o->fd, (unsigned long)rec->fd) == 0)
			return (int32_t)k;
	}
	return -1;
}

struct pipe_ends {
	int read_fd, write_fd; /* an fd above 2 holding that end, -1: none */
	bool odd;              /* one was opened read-write or in packet mode */
};

/* The fds above 2 of the process that are ends of the pipe named link
 * ("pipe:[ino]"); fds 0-2 are bound to the restoring command's own. */
static int find_pipe_ends(pid_t pid, const char *link, struct pipe_ends *ret)
{
	char dirpath[64], path[96], target[64];
	struct dirent *de;
	DIR *d;

	*ret = (struct pipe_ends){ -1, -1, false };
	snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int)pid);
	d = opendir(dirpath);
	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);
		uint64_t flags;
		char *info;
		ssize_t n;

		if (de->d_name[0] == '.' || fd <= 2)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, de->d_name);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			continue; /* closed meanwhile by another process sharing the table */
		target[n] = '\0';
		if (strcmp(target, link) || read_fdinfo(pid, fd, &info) < 0)
			continue;
		if (fdinfo_u64(info, "flags:", 8, &flags) == 0) {
			if ((flags & O_ACCMODE) == O_RDWR || (flags & O_DIRECT))
				ret->odd = true;
			else if ((flags & O_ACCMODE) == O_WRONLY && ret->write_fd < 0)
				ret->write_fd = fd;
			else if ((flags & O_ACCMODE) == O_RDONLY && ret->read_fd < 0)
				ret->read_fd = fd;
		}
		free(info);
	}
	closedir(d);
	return 0;
}

static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };

	return poll(&p, 1, 0) == 1 ? p.revents : 0;
}

/* Copies the bytes buffered in the pipe whose read end rcopy is (our
 * duplicate of the target's) without consuming them: tee(2) links them into
 * a pipe of ours of the same size, and we read ours. */
static int copy_pipe_data(struct snap_ctx *ctx, pid_t pid, int fd, int rcopy, uint64_t size,
			  struct snap_rec_fd *rec, struct snap_image *img)
{
	int queued = 0, p[2], r = 0;
	size_t got = 0;
	uint8_t *buf;
	ssize_t n;

	if (ioctl(rcopy, FIONREAD, &queued) < 0)
		return snap_err(ctx, -errno, "process %d: fd %d: cannot see how much its pipe holds: %s", (int)pid, fd,
				strerror(errno));
	if (queued <= 0)
		return 0;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return snap_err(ctx, -errno, "cannot make a pipe to copy fd %d's buffered bytes: %s", fd, strerror(errno));
	buf = malloc((size_t)queued);
	if (!buf) {
		r = snap_err(ctx, -ENOMEM, "out of memory");
		goto out;
	}
	if (fcntl(p[1], F_SETPIPE_SZ, (int)size) < 0) {
		r = snap_err(ctx, -errno,
			     "process %d: fd %d: cannot make a pipe of %" PRIu64 " bytes to copy its buffered bytes: %s (raise fs.pipe-max-size or fs.pipe-user-pages-hard)",
			     (int)pid, fd, size, strerror(errno));
		goto out;
	}
	n = tee(rcopy, p[1], (size_t)queued, SPLICE_F_NONBLOCK);
	if (n != queued) {
		r = snap_err(ctx, n < 0 ? -errno : -EIO,
			     "process %d: fd %d: tee(2) copied %zd of the %d bytes its pipe holds%s%s", (int)pid, fd, n,
			     queued, n < 0 ? ": " : "", n < 0 ? strerror(errno) : "");
		goto out;
	}
	while (got < (size_t)queued) {
		n = read(p[0], buf + got, (size_t)queued - got);
		if (n <= 0) {
			r = snap_err(ctx, n < 0 ? -errno : -EIO, "process %d: fd %d: cannot read back its pipe's bytes",
				     (int)pid, fd);
			goto out;
		}
		got += (size_t)n;
	}
	r = snap_image_add_blob(img, buf, (uint32_t)queued, &rec->data_off);
	if (r < 0) {
		r = snap_err(ctx, r, "out of memory");
		goto out;
	}
	rec->data_len = (uint32_t)queued;
out:
	free(buf);
	close(p[0]);
	close(p[1]);
	return r;
}

/* A pipe: aux[0] its inode, aux[1] the end, aux[2] its size; the first
 * record of a pipe carries its buffered bytes. Restorable when both ends are
 * the process's, or when the end it lacks is held by nobody. */
static int capture_pipe(struct snap_ctx *ctx, pid_t pid, int fd, const char *link, const struct stat *st,
			struct snap_rec_fd *rec, struct snap_image *img)
{
	uint32_t acc = rec->open_flags & O_ACCMODE;
	int pidfd = -1, copy = -1, rcopy = -1, r;
	struct pipe_ends ends;

	if (acc == O_RDWR)
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d: fd %d is a pipe (%s) opened again read-write through /proc, which snapctl cannot restore; nothing was captured and the process was left running",
				(int)pid, fd, link);
	if (rec->open_flags & O_DIRECT)
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d: fd %d is a pipe (%s) in packet mode (O_DIRECT), whose message boundaries snapctl does not keep; nothing was captured and the process was left running",
				(int)pid, fd, link);
	rec->kind = SNAP_FD_PIPE;
	rec->aux[0] = st->st_ino;
	rec->aux[1] = acc == O_WRONLY;

	/* A dup of one of fds 0-2 (bound to the restoring command's own) or
	 * of an end already seen: shared again at restore. */
	for (uint32_t k = 0; &img->fds[k] < rec; k++) {
		const struct snap_rec_fd *o = &img->fds[k];
		if (o->same_as != -1 || !(o->kind == SNAP_FD_STDIO || (o->kind == SNAP_FD_PIPE && o->aux[0] == rec->aux[0])))
			continue;
		if (sys_kcmp(pid, pid, KCMP_FILE, (unsigned long)o->fd, (unsigned long)fd) == 0) {
			rec->same_as = (int32_t)k;
			rec->aux[2] = o->kind == SNAP_FD_PIPE ? o->aux[2] : 0;
			return 1;
		}
	}
	/* Another end (or another open file of one end) of a pipe whose first
	 * record decided already. */
	for (uint32_t k = 0; &img->fds[k] < rec; k++) {
		if (img->fds[k].kind == SNAP_FD_PIPE && img->fds[k].aux[0] == rec->aux[0] && img->fds[k].same_as == -1) {
			rec->aux[2] = img->fds[k].aux[2];
			return 1;
		}
	}

	r = find_pipe_ends(pid, link, &ends);
	if (r < 0)
		return snap_err(ctx, r, "process %d: cannot list its fds: %s", (int)pid, strerror(-r));
	if (ends.odd)
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d: fd %d is a pipe (%s) of which another fd is open read-write or in packet mode, which snapctl cannot restore; nothing was captured and the process was left running",
				(int)pid, fd, link);
	pidfd = sys_pidfd_open(pid, 0);
	if (pidfd < 0)
		return snap_err(ctx, pidfd, "process %d: pidfd_open: %s", (int)pid, strerror(-pidfd));
	copy = sys_pidfd_getfd(pidfd, fd);
	if (copy < 0) {
		r = snap_err(ctx, copy, "process %d: fd %d: cannot look at its pipe (pidfd_getfd): %s", (int)pid, fd,
			     strerror(-copy));
		goto out;
	}
	r = fcntl(copy, F_GETPIPE_SZ);
	if (r < 0) {
		r = snap_err(ctx, -errno, "process %d: fd %d: F_GETPIPE_SZ: %s", (int)pid, fd, strerror(errno));
		goto out;
	}
	rec->aux[2] = (uint64_t)r;

	if (ends.read_fd < 0) {
		/* Only write ends: writes fail with EPIPE when nobody reads
		 * (POLLERR), and the restored pipe's read end is closed too.
		 * What it buffers nobody can read: it is not kept. */
		if (!(poll_now(copy) & POLLERR))
			r = snap_err(ctx, -EOPNOTSUPP,
				     "process %d: fd %d is the write end of a pipe (%s) whose read end is held by another process or by fd 0-2 (bound to the restoring command's own); a restored copy could not reach that reader: close the fd before the snapshot point or keep both ends in this process; nothing was captured and the process was left running",
				     (int)pid, fd, link);
		else
			r = 1;
		goto out;
	}
	rcopy = ends.read_fd == fd ? copy : sys_pidfd_getfd(pidfd, ends.read_fd);
	if (rcopy < 0) {
		r = snap_err(ctx, rcopy, "process %d: fd %d: cannot look at its pipe (pidfd_getfd): %s", (int)pid,
			     ends.read_fd, strerror(-rcopy));
		goto out;
	}
	/* Only read ends: restorable when no writer is left anywhere (POLLHUP);
	 * the restored reader gets the buffered bytes, then end of file. */
	if (ends.write_fd < 0 && !(poll_now(rcopy) & POLLHUP)) {
		r = snap_err(ctx, -EOPNOTSUPP,
			     "process %d: fd %d is the read end of a pipe (%s) whose write end is held by another process or by fd 0-2 (bound to the restoring command's own); a restored copy could not hear that writer: close the fd before the snapshot point or keep both ends in this process; nothing was captured and the process was left running",
			     (int)pid, fd, link);
		goto out;
	}
	r = copy_pipe_data(ctx, pid, fd, rcopy, rec->aux[2], rec, img);
	if (r == 0)
		r = 1;
out:
	if (rcopy >= 0 && rcopy != copy)
		close(rcopy);
	if (copy >= 0)
		close(copy);
	if (pidfd >= 0)
		close(pidfd);
	return r;
}

/* aux[0] count, aux[1] EFD_SEMAPHORE. */
static int capture_eventfd(struct snap_ctx *ctx, pid_t pid, int fd, const char *info, struct snap_rec_fd *rec)
{
	uint64_t sem;

	if (fdinfo_u64(info, "eventfd-count:", 16, &rec->aux[0]) < 0)
		return snap_err(ctx, -EIO, "process %d: fd %d: its fdinfo shows no eventfd-count", (int)pid, fd);
	if (fdinfo_u64(info, "eventfd-semaphore:", 10, &sem) == 0)
		rec->aux[1] = sem != 0;
	else
		snap_log(ctx, SNAP_LOG_WARN,
			 "process %d: fd %d: this kernel does not show whether an eventfd is a semaphore (no \"eventfd-semaphore:\" in fdinfo); it is restored as a plain counter",
			 (int)pid, fd);
	return 1;
}

/* aux[0] the signal mask (bit signo - 1). */
static int capture_signalfd(struct snap_ctx *ctx, pid_t pid, int fd, const char *info, struct snap_rec_fd *rec)
{
	if (fdinfo_u64(info, "sigmask:", 16, &rec->aux[0]) < 0)
		return snap_err(ctx, -EIO, "process %d: fd %d: its fdinfo shows no sigmask", (int)pid, fd);
	return 1;
}

/* aux[0] clock id | settime flags << 32, aux[1] ns left, aux[2] interval
 * ns, aux[3] expirations not yet read. fdinfo shows the time left even of
 * an absolute timer; reading it, unlike timerfd_gettime, changes nothing. */
static int capture_timerfd(struct snap_ctx *ctx, pid_t pid, int fd, const char *info, struct snap_rec_fd *rec)
{
	unsigned long long vs, vns, is, ins;
	uint64_t clock, ticks, flags;
	const char *v, *i;

	v = fdinfo_field(info, "it_value:");
	i = fdinfo_field(info, "it_interval:");
	if (fdinfo_u64(info, "clockid:", 10, &clock) < 0 || fdinfo_u64(info, "ticks:", 10, &ticks) < 0 ||
	    fdinfo_u64(info, "settime flags:", 8, &flags) < 0 || !v || !i ||
	    sscanf(v, " (%llu, %llu)", &vs, &vns) != 2 || sscanf(i, " (%llu, %llu)", &is, &ins) != 2)
		return snap_err(ctx, -EIO, "process %d: fd %d: cannot parse its timerfd fdinfo", (int)pid, fd);
	rec->aux[0] = (clock & 0xffffffffu) | flags << 32;
	rec->aux[1] = vs * NSEC_PER_SEC + vns;
	rec->aux[2] = is * NSEC_PER_SEC + ins;
	rec->aux[3] = ticks;
	return 1;
}

/* data: the watches. Each must be of the fd of that number in the process
 * (an epoll set keeps watching a file whose fd was closed if a dup of it
 * lives on: that cannot be set up again by number). */
static int capture_epoll(struct snap_ctx *ctx, pid_t pid, int fd, const char *info, struct snap_rec_fd *rec,
			 struct snap_image *img)
{
	struct epoll_watch *w = NULL;
	uint32_t n = 0, cap = 0;
	const char *line = info;
	int r = 1;

	while ((line = fdinfo_field(line, "tfd:"))) {
		struct kcmp_epoll_slot slot = { .efd = (uint32_t)fd };
		unsigned long long data;
		unsigned int events;
		int tfd;

		if (sscanf(line, " %d events: %x data: %llx", &tfd, &events, &data) != 3 || tfd < 0) {
			r = snap_err(ctx, -EIO, "process %d: fd %d: cannot parse its epoll fdinfo", (int)pid, fd);
			break;
		}
		slot.tfd = (uint32_t)tfd;
		for (uint32_t k = 0; k < n; k++)
			slot.toff += w[k].fd == tfd;
		int same = sys_kcmp(pid, pid, KCMP_EPOLL_TFD, (unsigned long)tfd, (unsigned long)&slot);
		if (same < 0 && same != -EBADF && same != -ENOSYS) {
			r = snap_err(ctx, same, "process %d: fd %d: cannot check what its epoll set watches as fd %d (kcmp): %s",
				     (int)pid, fd, tfd, strerror(-same));
			break;
		}
		if (same > 0 || same == -EBADF) {
			r = snap_err(ctx, -EOPNOTSUPP,
				     "process %d: fd %d is an epoll set watching a file added as fd %d, which the process no longer holds under that number; remove the watch (EPOLL_CTL_DEL) before closing the fd; nothing was captured and the process was left running",
				     (int)pid, fd, tfd);
			break;
		}
		if (n == cap) {
			struct epoll_watch *p = realloc(w, (cap = cap ? cap * 2 : 16) * sizeof(*w));
			if (!p) {
				r = snap_err(ctx, -ENOMEM, "out of memory");
				break;
			}
			w = p;
		}
		w[n++] = (struct epoll_watch){ tfd, events, data };
	}
	if (r == 1 && n) {
		int e = snap_image_add_blob(img, w, n * (uint32_t)sizeof(*w), &rec->data_off);
		if (e < 0)
			r = snap_err(ctx, e, "out of memory");
		rec->data_len = n * (uint32_t)sizeof(*w);
	}
	free(w);
	return r;
}

int snap_fdkind_capture(struct snap_ctx *ctx, pid_t pid, int fd, const char *link, const struct stat *st,
			struct snap_rec_fd *rec, struct snap_image *img)
{
	char *info;
	int r;

	if (S_ISFIFO(st->st_mode) && !strncmp(link, "pipe:[", 6))
		return capture_pipe(ctx, pid, fd, link, st, rec, img);
	if (S_ISFIFO(st->st_mode))
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d: fd %d is the named FIFO %s, which snapctl cannot restore; nothing was captured and the process was left running",
				(int)pid, fd, link);
	if (!strcmp(link, "anon_inode:[eventfd]"))
		rec->kind = SNAP_FD_EVENTFD;
	else if (!strcmp(link, "anon_inode:[signalfd]"))
		rec->kind = SNAP_FD_SIGNALFD;
	else if (!strcmp(link, "anon_inode:[timerfd]"))
		rec->kind = SNAP_FD_TIMERFD;
	else if (!strcmp(link, "anon_inode:[eventpoll]"))
		rec->kind = SNAP_FD_EPOLL;
	else
		return 0;

	rec->same_as = find_same_file(pid, img, rec);
	if (rec->same_as >= 0) {
		memcpy(rec->aux, img->fds[rec->same_as].aux, sizeof(rec->aux));
		return 1;
	}
	r = read_fdinfo(pid, fd, &info);
	if (r < 0)
		return snap_err(ctx, r, "process %d: fd %d: cannot read its fdinfo: %s", (int)pid, fd, strerror(-r));
	switch (rec->kind) {
	case SNAP_FD_EVENTFD:
		r = capture_eventfd(ctx, pid, fd, info, rec);
		break;
	case SNAP_FD_SIGNALFD:
		r = capture_signalfd(ctx, pid, fd, info, rec);
		break;
	case SNAP_FD_TIMERFD:
		r = capture_timerfd(ctx, pid, fd, info, rec);
		break;
	default:
		r = capture_epoll(ctx, pid, fd, info, rec, img);
		break;
	}
	free(info);
	return r;
}

/* ---- restore (in the restore child) ------------------------------------- */

struct restored_pipe {
	uint64_t id;
	uint64_t size;
	int end[2];      /* ours, read and write, above every saved fd */
	bool handed[2];  /* an fd of the process has that end's open file */
};

struct snap_fdkind_state {
	const struct snap_image *img;
	struct restored_pipe *pipes;
	uint32_t nr_pipes;
};

static __attribute__((format(printf, 3, 4))) int fail(char *msg, size_t msg_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msg_size, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static struct restored_pipe *find_pipe(struct snap_fdkind_state *state, uint64_t id)
{
	for (uint32_t i = 0; i < state->nr_pipes; i++)
		if (state->pipes[i].id == id)
			return &state->pipes[i];
	return NULL;
}

/* A new pipe for rec, its ends lifted above every saved fd (the process's
 * fds are put in place by number after this) and its bytes written. */
static int make_pipe(struct snap_fdkind_state *state, const struct snap_rec_fd *rec, int above, char *msg,
		     size_t msg_size)
{
	struct restored_pipe *p = &state->pipes[state->nr_pipes];
	const uint8_t *data = state->img->blobs + rec->data_off;
	size_t done = 0;
	int fds[2];

	if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0)
		return fail(msg, msg_size, "fd %d: cannot make its pipe: %s", rec->fd, strerror(errno));
	*p = (struct restored_pipe){ .id = rec->aux[0], .size = rec->aux[2], .end = { -1, -1 } };
	state->nr_pipes++;
	for (int k = 0; k < 2; k++) {
		p->end[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, above);
		close(fds[k]);
		if (p->end[k] < 0)
			return fail(msg, msg_size, "fd %d: cannot move its pipe above fd %d: %s (raise the open file limit)",
				    rec->fd, above - 1, strerror(errno));
	}
	if (fcntl(p->end[1], F_GETPIPE_SZ) != (int)p->size && fcntl(p->end[1], F_SETPIPE_SZ, (int)p->size) < 0)
		return fail(msg, msg_size,
			    "fd %d: cannot give its pipe %" PRIu64 " bytes: %s (raise fs.pipe-max-size or fs.pipe-user-pages-hard, or restore as root)",
			    rec->fd, p->size, strerror(errno));
	while (done < rec->data_len) {
		ssize_t n = write(p->end[1], data + done, rec->data_len - done);
		if (n <= 0)
			return fail(msg, msg_size, "fd %d: cannot put %u buffered bytes back in its pipe: %s", rec->fd,
				    rec->data_len, n < 0 ? strerror(errno) : "short write");
		done += (size_t)n;
	}
	return 0;
}

int snap_fdkind_restore_prepare(const struct snap_image *img, struct snap_fdkind_state **ret_state, char *msg,
				size_t msg_size)
{
	struct snap_fdkind_state *state;
	int above = 3, r = 0;

	state = calloc(1, sizeof(*state));
	if (!state)
		return fail(msg, msg_size, "out of memory");
	state->img = img;
	state->pipes = calloc(img->nr_fds ? img->nr_fds : 1, sizeof(*state->pipes));
	if (!state->pipes) {
		free(state);
		return fail(msg, msg_size, "out of memory");
	}
	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd >= above)
			above = img->fds[i].fd + 1;

	for (uint32_t i = 0; i < img->nr_fds && r == 0; i++) {
		const struct snap_rec_fd *f = &img->fds[i];
		struct restored_pipe *p;

		if (f->kind != SNAP_FD_PIPE || f->same_as != -1)
			continue;
		if (f->aux[1] > 1 || f->aux[2] < SNAP_PAGE_SIZE || f->aux[2] > PIPE_SIZE_MAX / 2 || f->data_len > f->aux[2]) {
			r = fail(msg, msg_size, "fd %d: the snapshot's pipe record is corrupt (end %" PRIu64 ", size %" PRIu64 ", %u bytes)",
				 f->fd, f->aux[1], f->aux[2], f->data_len);
			break;
		}
		p = find_pipe(state, f->aux[0]);
		if (!p)
			r = make_pipe(state, f, above, msg, msg_size);
		else if (p->size != f->aux[2] || f->data_len)
			r = fail(msg, msg_size, "fd %d: the snapshot's pipe record disagrees with another of the same pipe", f->fd);
	}
	if (r < 0) {
		snap_fdkind_restore_free(state);
		return r;
	}
	*ret_state = state;
	return 0;
}

static int set_nonblock(int fd, const struct snap_rec_fd *rec, char *msg, size_t msg_size)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, (fl & ~O_NONBLOCK) | (int)(rec->open_flags & O_NONBLOCK)) < 0) {
		fail(msg, msg_size, "cannot set its file status flags: %s", strerror(errno));
		close(fd);
		return -EINVAL;
	}
	return fd;
}

static int open_pipe(struct snap_fdkind_state *state, const struct snap_rec_fd *rec, char *msg, size_t msg_size)
{
	struct restored_pipe *p = find_pipe(state, rec->aux[0]);
	int end = (int)rec->aux[1], fd;

	if (!p)
		return fail(msg, msg_size, "its pipe was not made (corrupt snapshot)");
	if (!p->handed[end]) {
		fd = fcntl(p->end[end], F_DUPFD_CLOEXEC, 0);
		p->handed[end] = true;
	} else {
		/* A second open file of the same end (opened again through
		 * /proc): its own status flags, as it had. */
		char path[64];
		snprintf(path, sizeof(path), "/proc/self/fd/%d", p->end[end]);
		fd = open(path, (end ? O_WRONLY : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
	}
	if (fd < 0)
		return fail(msg, msg_size, "cannot hand out its pipe end: %s", strerror(errno));
	return set_nonblock(fd, rec, msg, msg_size);
}

static int open_eventfd(const struct snap_rec_fd *rec, char *msg, size_t msg_size)
{
	uint64_t count = rec->aux[0];
	int fd;

	if (count == UINT64_MAX || rec->aux[1] > 1)
		return fail(msg, msg_size, "the snapshot's eventfd record is corrupt");
	fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (rec->aux[1] ? EFD_SEMAPHORE : 0));
	if (fd < 0)
		return fail(msg, msg_size, "eventfd: %s", strerror(errno));
	if (count && write(fd, &count, sizeof(count)) != sizeof(count)) {
		fail(msg, msg_size, "cannot set its eventfd count to %" PRIu64 ": %s", count, strerror(errno));
		close(fd);
		return -EINVAL;
	}
	return set_nonblock(fd, rec, msg, msg_size);
}

static int open_signalfd(const struct snap_rec_fd *rec, char *msg, size_t msg_size)
{
	int fd = sys_signalfd4(-1, rec->aux[0], SFD_CLOEXEC);

	if (fd < 0)
		return fail(msg, msg_size, "signalfd with mask %#" PRIx64 ": %s", rec->aux[0], strerror(-fd));
	return set_nonblock(fd, rec, msg, msg_size);
}

static struct timespec ns_to_timespec(uint64_t ns)
{
	return (struct timespec){ .tv_sec = (time_t)(ns / NSEC_PER_SEC), .tv_nsec = (long)(ns % NSEC_PER_SEC) };
}

/* The timer runs out after the time it had left at capture; an absolute one
 * keeps its flags (so TFD_TIMER_CANCEL_ON_SET) with its deadline moved by
 * the time the snapshot was not running. Expirations not yet read are set
 * with TFD_IOC_SET_TICKS. */
static int open_timerfd(const struct snap_rec_fd *rec, char *msg, size_t msg_size)
{
	int clock = (int)(rec->aux[0] & 0xffffffffu), flags = (int)(rec->aux[0] >> 32), fd, r;
	uint64_t left = rec->aux[1], interval = rec->aux[2], ticks = rec->aux[3];
	struct itimerspec its;

	if ((flags & ~(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)) || left >= (1ull << 62) || interval >= (1ull << 62))
		return fail(msg, msg_size, "the snapshot's timerfd record is corrupt");
	fd = timerfd_create(clock, TFD_CLOEXEC);
	if (fd < 0)
		return fail(msg, msg_size, "timerfd_create(clock %d): %s%s", clock, strerror(errno),
			    errno == EPERM ? " (alarm clocks need CAP_WAKE_ALARM)" : "");
	/* A periodic timer that ran out and was not read yet shows 0 left: it
	 * goes on a period from now. */
	if (!left && interval && ticks)
		left = interval;
	its.it_interval = ns_to_timespec(interval);
	its.it_value = ns_to_timespec(left);
	if (left && (flags & TFD_TIMER_ABSTIME)) {
		struct timespec now;
		if (clock_gettime(clock, &now) < 0) {
			fail(msg, msg_size, "clock_gettime(clock %d): %s", clock, strerror(errno));
			close(fd);
			return -EINVAL;
		}
		its.it_value = ns_to_timespec((uint64_t)now.tv_sec * NSEC_PER_SEC + (uint64_t)now.tv_nsec + left);
	}
	if (timerfd_settime(fd, flags, &its, NULL) < 0) {
		fail(msg, msg_size, "timerfd_settime: %s", strerror(errno));
		close(fd);
		return -EINVAL;
	}
	if (ticks && (r = sys_timerfd_set_ticks(fd, ticks)) < 0) {
		fail(msg, msg_size, "cannot give its timerfd the %" PRIu64 " expirations it had not read: %s%s", ticks,
		     strerror(-r), r == -ENOTTY ? " (the kernel lacks CONFIG_CHECKPOINT_RESTORE)" : "");
		close(fd);
		return -EINVAL;
	}
	return set_nonblock(fd, rec, msg, msg_size);
}

int snap_fdkind_restore_open(struct snap_fdkind_state *state, const struct snap_rec_fd *rec, char *msg,
			     size_t msg_size)
{
	int fd;

	switch (rec->kind) {
	case SNAP_FD_PIPE:
		return open_pipe(state, rec, msg, msg_size);
	case SNAP_FD_EVENTFD:
		return open_eventfd(rec, msg, msg_size);
	case SNAP_FD_SIGNALFD:
		return open_signalfd(rec, msg, msg_size);
	case SNAP_FD_TIMERFD:
		return open_timerfd(rec, msg, msg_size);
	case SNAP_FD_EPOLL:
		/* Its watches are added in finish, once every fd is in place. */
		if (rec->data_len % sizeof(struct epoll_watch))
			return fail(msg, msg_size, "the snapshot's epoll record is corrupt");
		fd = epoll_create1(EPOLL_CLOEXEC);
		if (fd < 0)
			return fail(msg, msg_size, "epoll_create1: %s", strerror(errno));
		return set_nonblock(fd, rec, msg, msg_size);
	default:
		return fail(msg, msg_size, "an fd of kind %u is not restored here", rec->kind);
	}
}

static bool is_saved_fd(const struct snap_image *img, int32_t fd)
{
	for (uint32_t i = 0; i < img->nr_fds; i++)
		if (img->fds[i].fd == fd)
			return true;
	return false;
}

int snap_fdkind_restore_finish(struct snap_fdkind_state *state, char *msg, size_t msg_size)
{
	const struct snap_image *img = state->img;

	for (uint32_t i = 0; i < img->nr_fds; i++) {
		const struct snap_rec_fd *f = &img->fds[i];

		if (f->kind != SNAP_FD_EPOLL || f->same_as != -1)
			continue;
		for (uint32_t off = 0; off + sizeof(struct epoll_watch) <= f->data_len; off += sizeof(struct epoll_watch)) {
			struct epoll_watch w;
			struct epoll_event ev;

			memcpy(&w, img->blobs + f->data_off + off, sizeof(w));
			if (!is_saved_fd(img, w.fd))
				return fail(msg, msg_size, "fd %d: its epoll set watches fd %d, which the snapshot does not hold",
					    f->fd, w.fd);
			ev.events = w.events;
			ev.data.u64 = w.data;
			if (epoll_ctl(f->fd, EPOLL_CTL_ADD, w.fd, &ev) < 0)
				return fail(msg, msg_size, "fd %d: cannot watch fd %d in its epoll set again (events %#x): %s",
					    f->fd, w.fd, w.events, strerror(errno));
		}
	}
	return 0;
}

void snap_fdkind_restore_free(struct snap_fdkind_state *state)
{
	if (!state)
		return;
	for (uint32_t i = 0; i < state->nr_pipes; i++)
		for (int k = 0; k < 2; k++)
			if (state->pipes[i].end[k] >= 0)
				close(state->pipes[i].end[k]);
	free(state->pipes);
	free(state);
}
