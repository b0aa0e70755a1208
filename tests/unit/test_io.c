/* test_io.c — the io backends (io_uring and pwrite) against one contract:
 * every byte lands where it was sent, buffers recycle, and no error is lost. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"

#define BUF SNAP_IO_BUFFER_SIZE

/* Never zero, so a byte that was not written (a hole reads 0) is caught. */
static uint8_t pattern(uint64_t off, uint32_t seed)
{
	uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ull ^ ((uint64_t)seed << 32);

	x ^= x >> 29;
	return (uint8_t)(x % 251 + 1);
}

static void fill(void *buf, size_t len, uint64_t off, uint32_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern(off + i, seed);
}

/* Compares the file to pattern(seed) on [off, off+len); returns the first
 * differing offset, or UINT64_MAX when all match. */
static uint64_t mismatch(int fd, uint64_t off, size_t len, uint32_t seed)
{
	static uint8_t chunk[65536];

	while (len) {
		size_t n = len < sizeof(chunk) ? len : sizeof(chunk);
		ssize_t got = pread(fd, chunk, n, (off_t)off);

		if (got != (ssize_t)n)
			return off;
		for (size_t i = 0; i < n; i++)
			if (chunk[i] != pattern(off + i, seed))
				return off + i;
		off += n;
		len -= n;
	}
	return UINT64_MAX;
}

static bool all_zero(int fd, uint64_t off, size_t len)
{
	static uint8_t chunk[65536];

	while (len) {
		size_t n = len < sizeof(chunk) ? len : sizeof(chunk);

		if (pread(fd, chunk, n, (off_t)off) != (ssize_t)n)
			return false;
		for (size_t i = 0; i < n; i++)
			if (chunk[i])
				return false;
		off += n;
		len -= n;
	}
	return true;
}

static uint64_t rng_state = 0x243f6a8885a308d3ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* ---- per-test fixture: the backend, the file, and what must be undone ---- */

struct fixture {
	const struct snap_io_ops *ops;
	struct snap_io *io;
	int fd;
	char dir[64];
	bool mounted;
	bool fsize_changed;
	struct rlimit old_fsize;
	struct sigaction old_xfsz;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	f->ops = *state;
	f->fd = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (f->io)
		f->ops->close(f->io);
	if (f->fd >= 0)
		close(f->fd);
	if (f->fsize_changed) {
		setrlimit(RLIMIT_FSIZE, &f->old_fsize);
		sigaction(SIGXFSZ, &f->old_xfsz, NULL);
	}
	if (f->mounted)
		umount2(f->dir, MNT_DETACH);
	if (f->dir[0])
		rmdir(f->dir);
	free(f);
	return 0;
}

/* Opens the backend on a fresh memfd; skips when the backend cannot work here. */
static struct fixture *start(void **state)
{
	struct fixture *f = *state;
	int r = f->ops->probe();

	if (r < 0) {
		print_message("# backend %s unusable here: %s\n", f->ops->name, strerror(-r));
		skip();
	}
	if (f->fd < 0) {
		f->fd = memfd_create("test_io", MFD_CLOEXEC);
		assert_true(f->fd >= 0);
	}
	assert_int_equal(f->ops->open(f->fd, &f->io), 0);
	return f;
}

/* Writes [off, off+len) of pattern(seed) through one buffer. */
static int write_one(struct fixture *f, uint64_t off, size_t len, uint32_t seed)
{
	void *buf;
	int r;

	r = f->ops->get_buffer(f->io, &buf);
	if (r < 0)
		return r;
	assert_int_equal((uintptr_t)buf % 4096, 0);
	fill(buf, len, off, seed);
	return f->ops->submit(f->io, buf, len, off);
}

/* ---- the contract, for each backend ---- */

/* Writes of random lengths at scattered offsets, in random order, leave each
 * byte exactly where it was sent and the gaps between them zero. */
static void test_scattered_writes(void **state)
{
	enum { N = 40 };
	const uint64_t slot = BUF + 3 * 4096 + 123; /* unaligned on purpose */
	struct fixture *f = start(state);
	uint64_t off[N];
	size_t len[N];
	int order[N];
	struct stat st;

	for (int i = 0; i < N; i++) {
		order[i] = i;
		off[i] = i * slot + rng() % 4096;
		len[i] = i % 4 == 0 ? BUF : 1 + rng() % BUF;
	}
	for (int i = N - 1; i > 0; i--) {
		int j = rng() % (i + 1), t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (int k = 0; k < N; k++)
		assert_int_equal(write_one(f, off[order[k]], len[order[k]], 7), 0);
	assert_int_equal(f->ops->drain(f->io), 0);

	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, off[N - 1] + len[N - 1]);
	uint64_t end = 0;
	for (int i = 0; i < N; i++) {
		assert_true(all_zero(f->fd, end, off[i] - end));
		assert_int_equal(mismatch(f->fd, off[i], len[i], 7), UINT64_MAX);
		end = off[i] + len[i];
	}
}

/* Many more buffers than SNAP_IO_DEPTH: the pool recycles them, never hands
 * out more than SNAP_IO_DEPTH distinct ones, and loses nothing. */
static void test_buffers_recycle(void **state)
{
	enum { N = 5 * SNAP_IO_DEPTH + 3 };
	struct fixture *f = start(state);
	void *seen[SNAP_IO_DEPTH] = { 0 };
	int distinct = 0;

	for (int i = 0; i < N; i++) {
		size_t len = BUF - (size_t)i * 512;
		void *buf;
		int k;

		assert_int_equal(f->ops->get_buffer(f->io, &buf), 0);
		for (k = 0; k < distinct && seen[k] != buf; k++)
			;
		if (k == distinct) {
			assert_true(distinct < SNAP_IO_DEPTH);
			seen[distinct++] = buf;
		}
		fill(buf, len, (uint64_t)i * BUF, 3);
		assert_int_equal(f->ops->submit(f->io, buf, len, (uint64_t)i * BUF), 0);
	}
	assert_int_equal(f->ops->drain(f->io), 0);
	for (int i = 0; i < N; i++)
		assert_int_equal(mismatch(f->fd, (uint64_t)i * BUF, BUF - (size_t)i * 512, 3), UINT64_MAX);
}

/* A caller holding every buffer gets -ENOBUFS instead of waiting forever;
 * submitting them out of order works. */
static void test_all_buffers_held(void **state)
{
	struct fixture *f = start(state);
	void *held[SNAP_IO_DEPTH], *extra;

	for (int i = 0; i < SNAP_IO_DEPTH; i++)
		assert_int_equal(f->ops->get_buffer(f->io, &held[i]), 0);
	assert_int_equal(f->ops->get_buffer(f->io, &extra), -ENOBUFS);
	for (int i = SNAP_IO_DEPTH - 1; i >= 0; i--) {
		fill(held[i], 4096, (uint64_t)i * 4096, 5);
		assert_int_equal(f->ops->submit(f->io, held[i], 4096, (uint64_t)i * 4096), 0);
	}
	assert_int_equal(f->ops->drain(f->io), 0);
	assert_int_equal(mismatch(f->fd, 0, SNAP_IO_DEPTH * 4096, 5), UINT64_MAX);
}

/* Overlapping writes land in submission order: the last one wins. */
static void test_overlapping_writes_keep_order(void **state)
{
	struct fixture *f = start(state);

	for (uint32_t seed = 1; seed <= 3 * SNAP_IO_DEPTH; seed++)
		assert_int_equal(write_one(f, (seed % 3) * 4096, BUF / 2, seed), 0);
	assert_int_equal(write_one(f, 0, BUF, 99), 0);
	assert_int_equal(write_one(f, 4096, 8192, 100), 0);
	assert_int_equal(f->ops->drain(f->io), 0);
	assert_int_equal(mismatch(f->fd, 0, 4096, 99), UINT64_MAX);
	assert_int_equal(mismatch(f->fd, 4096, 8192, 100), UINT64_MAX);
	assert_int_equal(mismatch(f->fd, 3 * 4096, BUF - 3 * 4096, 99), UINT64_MAX);
}

/* Misuse is refused without harm: a foreign pointer, a length beyond the
 * buffer, a buffer submitted twice, a bad fd. */
static void test_bad_arguments(void **state)
{
	struct fixture *f = start(state);
	struct snap_io *io;
	char foreign[16];
	void *buf;

	assert_int_equal(f->ops->open(-1, &io), -EBADF);
	assert_int_equal(f->ops->submit(f->io, foreign, sizeof(foreign), 0), -EINVAL);
	assert_int_equal(f->ops->submit(f->io, NULL, 0, 0), -EINVAL);
	assert_int_equal(f->ops->get_buffer(f->io, &buf), 0);
	assert_int_equal(f->ops->submit(f->io, buf, BUF + 1, 0), -EINVAL);
	/* still the caller's after the refusal */
	fill(buf, 100, 0, 9);
	assert_int_equal(f->ops->submit(f->io, buf, 100, 0), 0);
	assert_int_equal(f->ops->drain(f->io), 0);
	assert_int_equal(f->ops->submit(f->io, buf, 100, 0), -EINVAL);
	assert_int_equal(f->ops->drain(f->io), 0);
	assert_int_equal(mismatch(f->fd, 0, 100, 9), UINT64_MAX);
}

/* Writes until the error shows, then checks it is kept: drain returns it,
 * and so do every later get_buffer, submit and drain. */
static int write_until_error(struct fixture *f, int n, uint32_t seed)
{
	int r = 0;

	for (int i = 0; i < n && r == 0; i++)
		r = write_one(f, (uint64_t)i * BUF, BUF, seed);
	return r;
}

static void assert_error_kept(struct fixture *f, int err, int first)
{
	void *buf;

	assert_true(first == 0 || first == err);
	assert_int_equal(f->ops->drain(f->io), err);
	assert_int_equal(f->ops->get_buffer(f->io, &buf), err);
	assert_int_equal(f->ops->drain(f->io), err);
}

/* A full filesystem (a 256 KiB tmpfs): the first write comes back short, the
 * rest of it fails with ENOSPC, and that error is never lost. */
static void test_enospc_kept(void **state)
{
	struct fixture *f = *state;
	char path[128];
	struct stat st;
	int first;

	if (f->ops->probe() < 0)
		skip();
	strcpy(f->dir, "/tmp/snap-test-io-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	if (mount("tmpfs", f->dir, "tmpfs", 0, "size=256k,mode=0700") < 0) {
		print_message("# cannot mount a tmpfs: %s\n", strerror(errno));
		skip();
	}
	f->mounted = true;
	snprintf(path, sizeof(path), "%s/out", f->dir);
	f->fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(f->fd >= 0);
	/* Detached at once: the open fd keeps the tmpfs alive, and a test
	 * killed halfway leaves no mount behind. */
	assert_int_equal(umount2(f->dir, MNT_DETACH), 0);
	f->mounted = false;
	assert_int_equal(rmdir(f->dir), 0);
	f->dir[0] = 0;
	start(state);

	first = write_until_error(f, 4, 11);
	assert_error_kept(f, -ENOSPC, first);

	/* What did land is right: each byte is the pattern or a hole. */
	assert_int_equal(fstat(f->fd, &st), 0);
	assert_true(st.st_size > 0);
	for (off_t off = 0; off < st.st_size; off += 4096) {
		uint8_t page[4096];
		ssize_t n = pread(f->fd, page, sizeof(page), off);

		assert_true(n > 0);
		for (ssize_t i = 0; i < n; i++)
			assert_true(page[i] == 0 || page[i] == pattern(off + i, 11));
	}
}

/* RLIMIT_FSIZE (SIGXFSZ ignored): the write crossing the limit is cut short,
 * its remainder fails with EFBIG, and every byte below the limit is right. */
static void test_efbig_kept(void **state)
{
	struct fixture *f = *state;
	const uint64_t limit = BUF + BUF / 2 + 123;
	struct sigaction ign = { .sa_handler = SIG_IGN };
	struct rlimit rl;
	struct stat st;
	int first;

	if (f->ops->probe() < 0)
		skip();
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &f->old_fsize), 0);
	assert_int_equal(sigaction(SIGXFSZ, &ign, &f->old_xfsz), 0);
	f->fsize_changed = true;
	rl = f->old_fsize;
	rl.rlim_cur = limit;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &rl), 0);
	start(state);

	first = write_until_error(f, 2, 13); /* the error comes only from the rest of the short write */
	assert_error_kept(f, -EFBIG, first);

	assert_int_equal(fstat(f->fd, &st), 0);
	assert_int_equal(st.st_size, limit);
	assert_int_equal(mismatch(f->fd, 0, limit, 13), UINT64_MAX);
}

/* ---- choosing a backend ---- */

static void test_select_by_name(void **state)
{
	const struct snap_io_ops *ops = NULL;
	int r;

	assert_int_equal(snap_io_select("sync", &ops), 0);
	assert_ptr_equal(ops, &snap_io_sync_ops);
	assert_string_equal(ops->name, "sync");

	ops = NULL;
	r = snap_io_select("uring", &ops);
	assert_int_equal(r, snap_io_uring_ops.probe());
	if (r == 0)
		assert_ptr_equal(ops, &snap_io_uring_ops);
	else
		assert_null(ops);
}

static void test_select_unknown(void **state)
{
	const struct snap_io_ops *ops = NULL;

	assert_int_equal(snap_io_select("pwritev2", &ops), -ENOENT);
	assert_int_equal(snap_io_select("", &ops), -ENOENT);
	assert_int_equal(snap_io_select("URING", &ops), -ENOENT);
	assert_null(ops);
}

static void test_select_first_usable(void **state)
{
	const struct snap_io_ops *ops = NULL;

	assert_int_equal(snap_io_select(NULL, &ops), 0);
	if (snap_io_uring_ops.probe() == 0)
		assert_ptr_equal(ops, &snap_io_uring_ops);
	else
		assert_ptr_equal(ops, &snap_io_sync_ops);
}

#define BACKEND_TESTS(prefix, ops)                                                                          \
	{ prefix "scattered_writes", test_scattered_writes, setup, teardown, (void *)(ops) },                \
	{ prefix "buffers_recycle", test_buffers_recycle, setup, teardown, (void *)(ops) },                  \
	{ prefix "all_buffers_held", test_all_buffers_held, setup, teardown, (void *)(ops) },                \
	{ prefix "overlapping_writes_keep_order", test_overlapping_writes_keep_order, setup, teardown,       \
	  (void *)(ops) },                                                                                   \
	{ prefix "bad_arguments", test_bad_arguments, setup, teardown, (void *)(ops) },                      \
	{ prefix "enospc_kept", test_enospc_kept, setup, teardown, (void *)(ops) },                          \
	{ prefix "efbig_kept", test_efbig_kept, setup, teardown, (void *)(ops) }

int main(void)
{
	const struct CMUnitTest tests[] = {
		BACKEND_TESTS("uring_", &snap_io_uring_ops),
		BACKEND_TESTS("sync_", &snap_io_sync_ops),
		cmocka_unit_test(test_select_by_name),
		cmocka_unit_test(test_select_unknown),
		cmocka_unit_test(test_select_first_usable),
	};

	return cmocka_run_group_tests_name("io", tests, NULL, NULL);
}
