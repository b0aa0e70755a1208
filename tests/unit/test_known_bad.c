/* test_known_bad.c — every meta file in tests/known-bad/ must be refused with
 * a message; the generated ones for the reason their name gives. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <snap/snap.h>

#include "ctx.h"
#include "image.h"

#define KNOWN_BAD "tests/known-bad"

/* What each generated file (scripts/fuzz --generate) must be refused for.
 * Files not listed (fuzzer findings dropped in later) need only be refused. */
static const struct {
	const char *name;
	int err;
	const char *says;
} expected[] = {
	{ "empty", -EUCLEAN, "truncated" },
	{ "truncated-in-header", -EUCLEAN, "truncated" },
	{ "truncated-in-section-table", -EUCLEAN, "truncated" },
	{ "truncated-half", -EUCLEAN, "truncated" },
	{ "truncated-last-byte", -EUCLEAN, "truncated" },
	{ "appended-byte", -EUCLEAN, "appended" },
	{ "appended-bytes-counted-in-header", -EUCLEAN, "after the last section" },
	{ "bad-magic", -EUCLEAN, "bad magic" },
	{ "wrong-version-2", -EPROTONOSUPPORT, "version 2" },
	{ "bad-header-crc", -EUCLEAN, "header checksum" },
	{ "bad-header-crc-uuid-changed", -EUCLEAN, "header checksum" },
	{ "bad-section-crc", -EUCLEAN, "mappings section checksum" },
	{ "section-type-repeated", -EUCLEAN, "repeated type" },
	{ "section-type-unknown", -EUCLEAN, "unknown" },
	{ "section-misplaced", -EUCLEAN, "misplaced" },
	{ "section-count-disagrees-with-size", -EUCLEAN, "records of" },
	{ "too-many-sections", -EUCLEAN, "sections" },
	{ "overlapping-mappings", -EUCLEAN, "overlapping" },
	{ "unaligned-mapping", -EUCLEAN, "not page aligned" },
	{ "chunk-outside-mappings", -EUCLEAN, "not inside one memory mapping" },
	{ "chunk-in-vdso", -EUCLEAN, "not inside one memory mapping" },
	{ "chunk-past-mapping-end", -EUCLEAN, "not inside one memory mapping" },
	{ "raw-chunk-unaligned", -EUCLEAN, "raw chunk 0" },
	{ "chunk-gap-4096", -EUCLEAN, "gap" },
	{ "chunk-overlaps-pages-header", -EUCLEAN, "chunk 0 lies outside the pages file" },
	{ "chunk-too-many-pages", -EUCLEAN, "65 pages" },
	{ "fd-file-out-of-range", -EUCLEAN, "fd 3 refers to file 2 of 2" },
	{ "fd-same-as-later-record", -EUCLEAN, "fd 3 shares" },
	{ "string-offset-out-of-range", -EUCLEAN, "string table" },
	{ "strings-unterminated", -EUCLEAN, "not terminated" },
	{ "file-path-relative", -EUCLEAN, "no absolute path" },
	{ "xstate-outside-blobs", -EUCLEAN, "outside the blob section" },
	{ "xstate-offset-wraps", -EUCLEAN, "outside the blob section" },
	{ "pages-size-past-last-chunk", -EUCLEAN, "pages file should end" },
	{ "pages-size-before-last-chunk-end", -EUCLEAN, "outside the pages file" },
	{ "exe-file-out-of-range", -EUCLEAN, "executable refers to file 5" },
	{ "pid-zero", -EUCLEAN, "pid 0" },
	{ "too-many-auxv", -EUCLEAN, "auxv" },
	{ "mapping-kind-unknown", -EUCLEAN, "kind 7" },
	{ "anon-mapping-with-file", -EUCLEAN, "refers to file 0" },
	{ "thread-count-mismatch", -EUCLEAN, "2 threads but 1" },
	{ "no-threads", -EUCLEAN, "0 threads" },
	{ "thread-name-unterminated", -EUCLEAN, "thread 0's name is not terminated" },
};

#define NR_EXPECTED (sizeof(expected) / sizeof(expected[0]))

/* SNAP_SRCDIR (set by scripts/run-tests), else the nearest directory
 * upwards from here that holds tests/known-bad. */
static int find_known_bad(char *path, size_t size)
{
	const char *src = getenv("SNAP_SRCDIR");
	char dir[PATH_MAX];
	struct stat st;

	if (src && *src) {
		snprintf(path, size, "%s/%s", src, KNOWN_BAD);
		return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -ENOENT;
	}
	if (!getcwd(dir, sizeof(dir)))
		return -errno;
	for (;;) {
		char *slash;

		snprintf(path, size, "%s/%s", strcmp(dir, "/") ? dir : "", KNOWN_BAD);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			return 0;
		slash = strrchr(dir, '/');
		if (!slash || slash == dir) {
			if (!strcmp(dir, "/"))
				return -ENOENT;
			strcpy(dir, "/");
			continue;
		}
		*slash = '\0';
	}
}

static void *read_all(const char *path, size_t *ret_len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	/* Exactly the file's size, so a read past its end is caught. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	close(fd);
	*ret_len = (size_t)st.st_size;
	return buf;
}

static void test_every_file_refused(void **state)
{
	char dirpath[PATH_MAX], path[PATH_MAX + 256];
	bool seen[NR_EXPECTED] = { 0 };
	struct snap_ctx *ctx = NULL;
	struct dirent *e;
	size_t files = 0;
	DIR *dir;

	if (find_known_bad(dirpath, sizeof(dirpath)) < 0)
		fail_msg("cannot find %s (set SNAP_SRCDIR to the source tree)", KNOWN_BAD);
	dir = opendir(dirpath);
	assert_non_null(dir);
	assert_int_equal(snap_ctx_new(&ctx), 0);
	while ((e = readdir(dir))) {
		struct snap_image img;
		size_t len;
		void *buf;
		int r;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dirpath, e->d_name);
		buf = read_all(path, &len);
		ctx->error[0] = '\0';
		r = snap_image_decode(ctx, buf, len, &img);
		if (r >= 0) {
			snap_image_release(&img);
			fail_msg("%s was accepted", e->d_name);
		}
		if (!snap_ctx_error(ctx)[0])
			fail_msg("%s was refused (%d) without a message", e->d_name, r);
		for (size_t i = 0; i < NR_EXPECTED; i++) {
			if (strcmp(expected[i].name, e->d_name))
				continue;
			seen[i] = true;
			if (r != expected[i].err || !strstr(snap_ctx_error(ctx), expected[i].says))
				fail_msg("%s: refused with %d \"%s\"; expected %d saying \"%s\"", e->d_name, r,
					 snap_ctx_error(ctx), expected[i].err, expected[i].says);
		}
		print_message("# %s: %s\n", e->d_name, snap_ctx_error(ctx));
		free(buf);
		files++;
	}
	closedir(dir);
	snap_ctx_free(ctx);
	/* A missing file would make its case pass unseen. */
	for (size_t i = 0; i < NR_EXPECTED; i++)
		if (!seen[i])
			fail_msg("%s/%s is missing", dirpath, expected[i].name);
	assert_true(files >= NR_EXPECTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_file_refused),
	};

	return cmocka_run_group_tests_name("known_bad", tests, NULL, NULL);
}
