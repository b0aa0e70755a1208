/* test_maps.c — the /proc/PID/smaps parser on lines the kernel really
 * prints (and tricky ones it can print), on this process, and on bad input. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "maps.h"

static struct snap_map parse_ok(const char *line)
{
	struct snap_map m;

	memset(&m, 0xee, sizeof(m));
	assert_int_equal(snap_maps_parse_line(line, &m), 0);
	return m;
}

static void test_anonymous(void **state)
{
	/* The kernel ends a nameless line with a space before the newline. */
	struct snap_map m = parse_ok("7f36a0cbd000-7f36a0cdf000 rw-p 00000000 00:00 0 \n");

	assert_int_equal(m.start, 0x7f36a0cbd000ull);
	assert_int_equal(m.end, 0x7f36a0cdf000ull);
	assert_int_equal(m.prot, PROT_READ | PROT_WRITE);
	assert_false(m.shared);
	assert_false(m.deleted);
	assert_int_equal(m.pgoff, 0);
	assert_int_equal(m.dev_major, 0);
	assert_int_equal(m.dev_minor, 0);
	assert_int_equal(m.ino, 0);
	assert_string_equal(m.path, "");

	/* Without the trailing space or the newline. */
	m = parse_ok("7f36a0cbd000-7f36a0cdf000 ---p 00000000 00:00 0");
	assert_int_equal(m.prot, 0);
	assert_string_equal(m.path, "");
}

static void test_special_names(void **state)
{
	static const struct {
		const char *line, *path;
		uint32_t prot;
	} cases[] = {
		{ "5605bd819000-5605bd83a000 rw-p 00000000 00:00 0                          [heap]\n", "[heap]",
		  PROT_READ | PROT_WRITE },
		{ "7ffd5c3f1000-7ffd5c412000 rw-p 00000000 00:00 0                          [stack]\n", "[stack]",
		  PROT_READ | PROT_WRITE },
		{ "7f36a0f35000-7f36a0f37000 r-xp 00000000 00:00 0                          [vdso]\n", "[vdso]",
		  PROT_READ | PROT_EXEC },
		{ "7f36a0f2f000-7f36a0f33000 r--p 00000000 00:00 0                          [vvar]\n", "[vvar]",
		  PROT_READ },
		{ "7f36a0f33000-7f36a0f35000 r--p 00000000 00:00 0                          [vvar_vclock]\n",
		  "[vvar_vclock]", PROT_READ },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct snap_map m = parse_ok(cases[i].line);

		assert_string_equal(m.path, cases[i].path);
		assert_int_equal(m.prot, cases[i].prot);
		assert_false(m.deleted);
		assert_true(m.start < m.end);
	}
}

static void test_file_mapping(void **state)
{
	struct snap_map m =
		parse_ok("56058c6d5000-56058c6da000 r-xp 00002000 fe:00 247134                     /usr/bin/cat\n");

	assert_int_equal(m.start, 0x56058c6d5000ull);
	assert_int_equal(m.end, 0x56058c6da000ull);
	assert_int_equal(m.prot, PROT_READ | PROT_EXEC);
	assert_int_equal(m.pgoff, 0x2000);
	assert_int_equal(m.dev_major, 0xfe);
	assert_int_equal(m.dev_minor, 0);
	assert_int_equal(m.ino, 247134);
	assert_string_equal(m.path, "/usr/bin/cat");

	/* Shared, large offset, large device numbers and inode. */
	m = parse_ok("7f0000000000-7f0000400000 rw-s 1a2b3c000 103:1f 18446744073709551615 /dev/shm/x\n");
	assert_true(m.shared);
	assert_int_equal(m.pgoff, 0x1a2b3c000ull);
	assert_int_equal(m.dev_major, 0x103);
	assert_int_equal(m.dev_minor, 0x1f);
	assert_int_equal(m.ino, UINT64_MAX);
}

static void test_path_with_spaces(void **state)
{
	struct snap_map m = parse_ok(
		"7f0000000000-7f0000001000 r--p 00000000 08:01 1234                       /opt/my models/weights v2.bin\n");

	assert_string_equal(m.path, "/opt/my models/weights v2.bin");
	assert_false(m.deleted);

	/* Trailing spaces in a file name are the name's own. */
	m = parse_ok("7f0000000000-7f0000001000 r--p 00000000 08:01 1234 /tmp/a  \n");
	assert_string_equal(m.path, "/tmp/a  ");
}

static void test_deleted(void **state)
{
	struct snap_map m = parse_ok(
		"7f0000000000-7f0000010000 rw-s 00000000 00:01 99                         /dev/shm/buf 1 (deleted)\n");

	assert_true(m.deleted);
	assert_string_equal(m.path, "/dev/shm/buf 1");

	/* "(deleted)" anywhere but at the end is part of the name. */
	m = parse_ok("7f0000000000-7f0000010000 r--p 00000000 08:01 99 /tmp/x (deleted) y\n");
	assert_false(m.deleted);
	assert_string_equal(m.path, "/tmp/x (deleted) y");
	m = parse_ok("7f0000000000-7f0000010000 r--p 00000000 08:01 99 /tmp/x(deleted)\n");
	assert_false(m.deleted);
	assert_string_equal(m.path, "/tmp/x(deleted)");
}

static void test_sixteen_digit_address(void **state)
{
	struct snap_map m =
		parse_ok("ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]\n");

	assert_int_equal(m.start, 0xffffffffff600000ull);
	assert_int_equal(m.end, 0xffffffffff601000ull);
	assert_int_equal(m.prot, PROT_EXEC);
	assert_string_equal(m.path, "[vsyscall]");
}

static void test_bad_lines(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"7f0000000000-7f0000001000\n",                                    /* nothing after the range */
		"7f0000000000-7f0000001000 rw-p\n",                               /* no offset, dev, inode */
		"7f0000000000-7f0000001000 rw-p 00000000\n",                      /* no dev, inode */
		"7f0000000000-7f0000001000 rw-p 00000000 00:00\n",                /* no inode */
		"7f0000000000-7f0000001000 rw-p 00000000 0000 0\n",               /* dev without ':' */
		"7f0000000000 rw-p 00000000 00:00 0\n",                           /* no end */
		"-7f0000001000 rw-p 00000000 00:00 0\n",                          /* no start */
		"7f0000000000-7f0000001000 rwxq 00000000 00:00 0\n",              /* 4th perm not p/s */
		"7f0000000000-7f0000001000 rwx 00000000 00:00 0\n",               /* 3 perms */
		"7f0000000000-7f0000001000 rw-pp 00000000 00:00 0\n",             /* 5 perms */
		"7f0000000000-7f0000001000 wr-p 00000000 00:00 0\n",              /* perms out of order */
		"7f0000000000-7f0000001000 RW-P 00000000 00:00 0\n",              /* upper case */
		"1ffffffffff600000-1ffffffffff601000 --xp 00000000 00:00 0\n",    /* 17 hex digits */
		"ffffffffff600000-1ffffffffff601000 --xp 00000000 00:00 0\n",     /* 17 in the end only */
		"7f0000000000-7f0000001000 rw-p 100000000000000000 00:00 0\n",    /* 18-digit offset */
		"7f0000001000-7f0000001000 rw-p 00000000 00:00 0\n",              /* start == end */
		"7f0000002000-7f0000001000 rw-p 00000000 00:00 0\n",              /* start > end */
		"7F0000000000-7F0000001000 rw-p 00000000 00:00 0\n",              /* upper-case hex */
		"7f000000000g-7f0000001000 rw-p 00000000 00:00 0\n",              /* not hex */
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 x\n",              /* inode not a number */
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 12x /a\n",         /* inode runs into text */
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 -1\n",             /* negative inode */
		"7f0000000000-7f0000001000 rw-p 00000000 00:00 99999999999999999999\n", /* inode > 64 bits */
		"Rss:                 144 kB\n",                                  /* a field line */
		"VmFlags: rd mr mw me\n",
	};
	struct snap_map m, untouched;

	memset(&untouched, 0x77, sizeof(untouched));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(&m, &untouched, sizeof(m));
		if (snap_maps_parse_line(bad[i], &m) != -EINVAL)
			fail_msg("accepted or wrong error for \"%s\"", bad[i]);
		/* ret_map is written only on success. */
		assert_memory_equal(&m, &untouched, sizeof(m));
	}
}

static void test_path_too_long(void **state)
{
	size_t n = PATH_MAX + 64;
	char *line = malloc(n + 64);
	struct snap_map m;
	int len;

	assert_non_null(line);
	len = snprintf(line, n + 64, "7f0000000000-7f0000001000 r--p 00000000 08:01 1 /");
	memset(line + len, 'a', n - (size_t)len);
	strcpy(line + n, "\n");
	assert_int_equal(snap_maps_parse_line(line, &m), -ENAMETOOLONG);
	free(line);
}

static void test_vmflags(void **state)
{
	assert_int_equal(snap_maps_parse_vmflags(" rd wr mr mw me gd ac"), SNAP_VMF_GROWSDOWN | SNAP_VMF_MAYWRITE);
	assert_int_equal(snap_maps_parse_vmflags("rd wr mr me gd ac \n"), SNAP_VMF_GROWSDOWN);
	assert_int_equal(snap_maps_parse_vmflags(" nr"), SNAP_VMF_NORESERVE);
	assert_int_equal(snap_maps_parse_vmflags("wf dd"), SNAP_VMF_WIPEONFORK | SNAP_VMF_DONTDUMP);
	assert_int_equal(snap_maps_parse_vmflags("rd ex mr mw me lo dc hg sh ms"),
			 SNAP_VMF_LOCKED | SNAP_VMF_DONTCOPY | SNAP_VMF_HUGEPAGE | SNAP_VMF_SHARED | SNAP_VMF_MAYSHARE |
				 SNAP_VMF_MAYWRITE);
	assert_int_equal(snap_maps_parse_vmflags("um"), SNAP_VMF_UFFD);
	assert_int_equal(snap_maps_parse_vmflags("uw ui"), SNAP_VMF_UFFD);
	assert_int_equal(snap_maps_parse_vmflags("ss sl mm io pf de nh"),
			 SNAP_VMF_SHADOWSTACK | SNAP_VMF_SEALED | SNAP_VMF_MIXEDMAP | SNAP_VMF_IO | SNAP_VMF_PFNMAP |
				 SNAP_VMF_DONTEXPAND | SNAP_VMF_NOHUGEPAGE);
	/* Unknown flags, including ones a newer kernel may add, are ignored. */
	assert_int_equal(snap_maps_parse_vmflags("rd zz ?? mt bt nr"), SNAP_VMF_NORESERVE);
	/* Only whole two-letter words count. */
	assert_int_equal(snap_maps_parse_vmflags("gdx nrr xnr"), 0);
	assert_int_equal(snap_maps_parse_vmflags("g"), 0);
	assert_int_equal(snap_maps_parse_vmflags(""), 0);
	/* Nothing after the newline belongs to the value. */
	assert_int_equal(snap_maps_parse_vmflags("rd\ngd nr"), 0);
}

static const struct snap_map *find_containing(const struct snap_map *maps, size_t n, uint64_t start, uint64_t end)
{
	for (size_t i = 0; i < n; i++)
		if (maps[i].start <= start && end <= maps[i].end)
			return &maps[i];
	return NULL;
}

static void test_read_self(void **state)
{
	size_t len = 64ull << 20, n = 0;
	uint8_t *nr, *plain;
	struct snap_map *maps = NULL;
	const struct snap_map *m;
	int on_stack = 0;

	/* 64 MiB reserved, never touched; and a plain mapping for contrast. */
	nr = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(nr != MAP_FAILED);
	plain = mmap(NULL, 1 << 20, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(plain != MAP_FAILED);

	assert_int_equal(snap_maps_read(getpid(), NULL, &maps, &n), 0);
	assert_true(n > 5);
	for (size_t i = 0; i < n; i++) {
		assert_true(maps[i].start < maps[i].end);
		if (i)
			assert_true(maps[i - 1].end <= maps[i].start);
	}

	/* The main thread's stack: [stack], grows down, holds our locals. */
	for (size_t i = 0; i < n; i++) {
		if (strcmp(maps[i].path, "[stack]"))
			continue;
		assert_true(maps[i].vmflags & SNAP_VMF_GROWSDOWN);
		assert_int_equal(maps[i].prot, PROT_READ | PROT_WRITE);
		on_stack++;
	}
	assert_int_equal(on_stack, 1);

	/* A neighbouring mapping with the same flags may have merged with
	 * ours, so look for the mapping that contains it. */
	m = find_containing(maps, n, (uintptr_t)nr, (uintptr_t)nr + len);
	assert_non_null(m);
	assert_true(m->vmflags & SNAP_VMF_NORESERVE);
	assert_int_equal(m->prot, PROT_READ | PROT_WRITE);
	assert_string_equal(m->path, "");
	m = find_containing(maps, n, (uintptr_t)plain, (uintptr_t)plain + (1 << 20));
	assert_non_null(m);
	assert_false(m->vmflags & SNAP_VMF_NORESERVE);
	assert_int_equal(m->prot, PROT_READ);

	/* This function's code: an executable file mapping of this binary. */
	m = find_containing(maps, n, (uintptr_t)test_read_self, (uintptr_t)test_read_self + 1);
	assert_non_null(m);
	assert_true(m->prot & PROT_EXEC);
	assert_non_null(strstr(m->path, "test_maps"));
	assert_true(m->ino != 0);

	free(maps);
	munmap(nr, len);
	munmap(plain, 1 << 20);
}

static void test_read_crafted(void **state)
{
	static const char text[] =
		"00400000-00452000 r-xp 00000000 08:02 173521                             /usr/bin/dbus daemon\n"
		"Size:                328 kB\n"
		"Rss:                 308 kB\n"
		"THPeligible:    0\n"
		"ProtectionKey:         0\n"
		"VmFlags: rd ex mr mw me dw sd\n"
		"7f0000000000-7f0400000000 rw-p 00000000 00:00 0 \n"
		"Size:           16777216 kB\n"
		"THPeligible:    1\n"
		"VmFlags: nr\n"
		"7ffd5c3f1000-7ffd5c412000 rw-p 00000000 00:00 0                          [stack]\n"
		"VmFlags: rd wr mr mw me gd ac\n"
		"7ffd5c500000-7ffd5c501000 rw-s 00000000 00:01 77                         /dev/shm/x (deleted)\n";
	char dir[] = "/tmp/test_maps.XXXXXX", path[64];
	struct snap_map *maps = NULL;
	size_t n = 0;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/smaps", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);

	assert_int_equal(snap_maps_read(0, path, &maps, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(maps[0].start, 0x400000);
	assert_int_equal(maps[0].end, 0x452000);
	assert_string_equal(maps[0].path, "/usr/bin/dbus daemon");
	assert_int_equal(maps[0].vmflags, SNAP_VMF_MAYWRITE);
	assert_int_equal(maps[1].end, 0x7f0400000000ull);
	assert_string_equal(maps[1].path, "");
	assert_int_equal(maps[1].vmflags, SNAP_VMF_NORESERVE);
	assert_string_equal(maps[2].path, "[stack]");
	assert_int_equal(maps[2].vmflags, SNAP_VMF_GROWSDOWN | SNAP_VMF_MAYWRITE);
	assert_string_equal(maps[3].path, "/dev/shm/x");
	assert_true(maps[3].deleted);
	assert_true(maps[3].shared);
	assert_int_equal(maps[3].vmflags, 0);
	free(maps);

	/* VmFlags before any mapping, and a broken mapping line, are refused. */
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("VmFlags: nr\n7f0000000000-7f0000001000 rw-p 00000000 00:00 0\n", f);
	assert_int_equal(fclose(f), 0);
	maps = NULL;
	assert_int_equal(snap_maps_read(0, path, &maps, &n), -EINVAL);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("7f0000000000-7f0000001000 rw-p 00000000 00:00 0\nRss: 4 kB\n7f0000002000-7f0000001000 rw-p 00000000 00:00 0\n",
	      f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(snap_maps_read(0, path, &maps, &n), -EINVAL);

	/* An empty file is an empty map; a missing file is ENOENT. */
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	maps = NULL;
	n = 99;
	assert_int_equal(snap_maps_read(0, path, &maps, &n), 0);
	assert_int_equal(n, 0);
	free(maps);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(snap_maps_read(0, path, &maps, &n), -ENOENT);
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anonymous),
		cmocka_unit_test(test_special_names),
		cmocka_unit_test(test_file_mapping),
		cmocka_unit_test(test_path_with_spaces),
		cmocka_unit_test(test_deleted),
		cmocka_unit_test(test_sixteen_digit_address),
		cmocka_unit_test(test_bad_lines),
		cmocka_unit_test(test_path_too_long),
		cmocka_unit_test(test_vmflags),
		cmocka_unit_test(test_read_self),
		cmocka_unit_test(test_read_crafted),
	};

	return cmocka_run_group_tests_name("maps", tests, NULL, NULL);
}
