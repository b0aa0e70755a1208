/* capture.c — snap_capture(): freeze, read, refuse or write, publish.
 * A capture that fails leaves the target running as it was and no
 * directory behind; the target is killed only after DIR is durable. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctx.h"
#include "freeze.h"
#include "image.h"
#include "inject.h"
#include "io.h"
#include "maps.h"
#include "memory.h"
#include "precopy.h"
#include "dirty.h"
#include "proc.h"

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static void remove_tree(const char *dir)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *d = opendir(dir);

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}

static int fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Reads everything but memory contents while the target is frozen. */
static int read_process(struct snap_ctx *ctx, const struct snap_freeze *fr, int ready_fd, struct snap_image *img)
{
	struct snap_map *maps = NULL;
	struct snap_inject inj;
	uint64_t vdso_start = 0, vdso_end = 0;
	pid_t pid = fr->pid;
	size_t n = 0;
	int r = 0, r2;

	r = snap_maps_read(pid, NULL, &maps, &n);
	if (r < 0)
		return snap_err(ctx, r, "cannot read the memory map of process %d: %s", (int)pid, strerror(-r));
	for (size_t i = 0; i < n; i++)
		if (!strcmp(maps[i].path, "[vdso]")) {
			vdso_start = maps[i].start;
			vdso_end = maps[i].end;
		}
	r = snap_proc_read_vmas(ctx, pid, maps, n, img);
	free(maps);
	if (r < 0)
		return r;
	r = snap_proc_read_fds(ctx, pid, ready_fd, img);
	if (r < 0)
		return r;

	/* Each thread: its registers, then what it can tell from inside. */
	for (int i = 0; i < fr->nr_threads && r == 0; i++) {
		pid_t tid = fr->tids[i];
		r = snap_inject_begin(ctx, tid, vdso_start, vdso_end, &inj);
		if (r < 0)
			return r;
		r = snap_proc_read_thread(ctx, pid, tid, &inj, img);
		if (r == 0 && i == 0)
			r = snap_proc_read_state(ctx, pid, &inj, img);
		/* Registers and scratch memory go back before memory is copied. */
		r2 = snap_inject_end(&inj);
		if (r == 0 && r2 < 0)
			r = snap_err(ctx, r2, "cannot restore the registers of thread %d: %s", (int)tid, strerror(-r2));
	}
	return r;
}

static int prepare_out_dir(struct snap_ctx *ctx, const char *dir, char *tmp, size_t tmp_size)
{
	char copy[PATH_MAX], *parent;
	struct stat st;

	if (strlen(dir) >= PATH_MAX - 32)
		return snap_err(ctx, -ENAMETOOLONG, "%s: path too long", dir);
	if (lstat(dir, &st) == 0)
		return snap_err(ctx, -EEXIST, "%s already exists; remove it or choose another --out", dir);
	snprintf(copy, sizeof(copy), "%s", dir);
	parent = dirname(copy);
	if (stat(parent, &st) < 0 || !S_ISDIR(st.st_mode))
		return snap_err(ctx, -ENOENT, "%s: the parent directory %s does not exist", dir, parent);
	snprintf(tmp, tmp_size, "%s.tmp-XXXXXX", dir);
	return 0;
}

int snap_capture(struct snap_ctx *ctx, pid_t pid, const char *dir, const struct snap_capture_opts *opts,
		 struct snap_capture_result *ret_result)
{
	struct snap_capture_opts defaults = { 0 };
	struct snap_capture_result res = { .pid = pid };
	const struct snap_io_ops *io;
	struct snap_freeze fr = { 0 };
	struct snap_memory_stats stats = { 0 };
	struct snap_precopy *pc = NULL;
	struct snap_image img;
	char tmp[PATH_MAX], path[PATH_MAX];
	bool tmp_made = false;
	void *meta = NULL;
	size_t meta_len;
	uint64_t t0 = snap_now_ns();
	int fd = -1, r;

	if (!opts)
		opts = &defaults;
	ctx->error[0] = '\0';
	snap_image_init(&img);
	r = prepare_out_dir(ctx, dir, tmp, sizeof(tmp));
	if (r < 0)
		return r;
	r = snap_io_select(opts->io_backend, &io);
	if (r < 0)
		return snap_err(ctx, r, "io backend '%s': %s", opts->io_backend ? opts->io_backend : "any",
				r == -ENOENT ? "unknown (use uring or sync)" : strerror(-r));
	snprintf(res.io_backend, sizeof(res.io_backend), "%s", io->name);
	if (getrandom(img.uuid, sizeof(img.uuid), 0) != sizeof(img.uuid))
		return snap_err(ctx, -EIO, "getrandom failed");

	if (opts->precopy_rounds > 0) {
		const struct snap_dirty_ops *dirty;
		r = snap_dirty_select(opts->dirty_backend, &dirty);
		if (r < 0)
			return snap_err(ctx, r, "dirty tracking '%s': %s", opts->dirty_backend ? opts->dirty_backend : "any",
					r == -ENOENT ? "unknown or not available here (uffd-wp, soft-dirty, none)"
						     : strerror(-r));
		if (!opts->dirty_backend && dirty == &snap_dirty_none_ops) {
			/* no tracking here: a pre-copy would copy everything twice */
		} else {
			r = snap_precopy_run(ctx, pid, opts->precopy_rounds, dirty, &pc);
			if (r == -ESRCH || (r < 0 && opts->dirty_backend))
				return r;
			if (r < 0) {
				/* e.g. a seccomp profile forbids userfaultfd in the target */
				snap_log(ctx, SNAP_LOG_WARN, "pre-copy is not possible (%s); capturing with the process frozen throughout",
					 snap_ctx_error(ctx));
				ctx->error[0] = '\0';
				pc = NULL;
			}
		}
	}
	r = snap_freeze(ctx, pid, &fr);
	if (r < 0)
		goto fail;
	r = read_process(ctx, &fr, opts->ready_fd, &img);
	if (r < 0)
		goto fail;
	if (pc) {
		/* The last changes; then the shadow is the snapshot's memory. */
		r = snap_precopy_finish(ctx, pc, &img);
		if (r < 0)
			goto fail;
		res.freeze_ns = snap_now_ns() - fr.frozen_at_ns;
		if (opts->leave_running && img.nr_objects == 0)
			snap_thaw(&fr); /* shared memory objects are read frozen */
	}

	if (!mkdtemp(tmp)) {
		r = snap_err(ctx, -errno, "cannot create %s: %s", tmp, strerror(errno));
		goto fail;
	}
	tmp_made = true;
	chmod(tmp, 0700);

	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_PAGES_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = snap_err(ctx, -errno, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	r = snap_memory_dump(ctx, pid, &img, io, fd, pc, &stats);
	if (r < 0)
		goto fail;
	if (fsync(fd) < 0) {
		r = snap_err(ctx, -errno, "%s: fsync: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;

	r = snap_image_encode(&img, &meta, &meta_len);
	if (r < 0) {
		snap_err(ctx, r, "cannot encode the snapshot metadata: %s", strerror(-r));
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", tmp, SNAP_META_FILE);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = snap_err(ctx, -errno, "cannot create %s: %s", path, strerror(errno));
		goto fail;
	}
	r = write_all(fd, meta, meta_len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (r < 0) {
		snap_err(ctx, r, "writing %s: %s", path, strerror(-r));
		goto fail;
	}
	close(fd);
	fd = -1;

	/* Publish: the directory appears whole, or not at all. */
	r = fsync_path(tmp);
	if (r == 0 && rename(tmp, dir) < 0)
		r = -errno;
	if (r < 0) {
		snap_err(ctx, r, "cannot publish %s: %s", dir, strerror(-r));
		goto fail;
	}
	tmp_made = false;
	{
		char copy[PATH_MAX];
		snprintf(copy, sizeof(copy), "%s", dir);
		fsync_path(dirname(copy));
	}

	if (!res.freeze_ns)
		res.freeze_ns = snap_now_ns() - fr.frozen_at_ns;
	if (pc) {
		struct snap_precopy_stats ps;
		snap_precopy_stats(pc, &ps);
		res.precopy_rounds = ps.rounds;
		res.precopy_bytes = ps.bytes_running;
		res.frozen_bytes = ps.bytes_frozen;
		snprintf(res.dirty_backend, sizeof(res.dirty_backend), "%s", ps.backend);
		snap_precopy_free(pc);
		pc = NULL;
	}
	if (opts->leave_running) {
		snap_thaw(&fr);
	} else {
		r = snap_freeze_kill(&fr);
		if (r < 0)
			snap_log(ctx, SNAP_LOG_WARN, "the snapshot is complete, but process %d could not be ended: %s",
				 (int)pid, strerror(-r));
	}
	res.vmas = img.nr_vmas;
	res.chunks = stats.chunks;
	res.bytes_virtual = stats.bytes_virtual;
	res.bytes_memory = stats.bytes_memory;
	res.bytes_stored = stats.bytes_stored;
	res.total_ns = snap_now_ns() - t0;
	if (ret_result)
		*ret_result = res;
	free(meta);
	snap_image_release(&img);
	return 0;

fail:
	if (fd >= 0)
		close(fd);
	if (tmp_made)
		remove_tree(tmp);
	snap_thaw(&fr);
	snap_precopy_free(pc);
	free(meta);
	snap_image_release(&img);
	return r;
}
