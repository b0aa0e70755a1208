/* test_bake.c — cmocka unit tests for snapbake's modules (json, tar, digest,
 * inputs) against their own interfaces; they never touch an image layout. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../../tools/bake/digest.h"
#include "../../tools/bake/inputs.h"
#include "../../tools/bake/json.h"
#include "../../tools/bake/tar.h"

/* ---- json --------------------------------------------------------------- */

static void roundtrip(const char *in, const char *want)
{
	struct json *v = NULL;
	struct json_buf out = { 0 };

	assert_int_equal(json_parse(in, strlen(in), &v, NULL), 0);
	assert_int_equal(json_dump(v, false, &out), 0);
	assert_string_equal(out.data, want);
	json_buf_free(&out);
	json_free(v);
}

static void test_json_roundtrip(void **state)
{
	roundtrip(" {\"b\": [1, -2.5e3, true, false, null], \"a\": \"x\\ty\\u00e9\\ud83d\\ude00\"} ",
		  "{\"b\":[1,-2.5e3,true,false,null],\"a\":\"x\\ty\xc3\xa9\xf0\x9f\x98\x80\"}");
	roundtrip("[]", "[]");
	roundtrip("{}", "{}");
	roundtrip("\"\\u0001\\\"\\\\\"", "\"\\u0001\\\"\\\\\"");
}

static void test_json_rejects(void **state)
{
	static const char *const bad[] = {
		"", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "01", "1.", "-", "tru", "\"\\x\"", "\"\\ud800\"",
		"\"\\udc00x\"", "\"\\u0000\"", "\"a\nb\"", "{\"a\":1,\"a\":2}", "1 2", "\"\xff\"", "\"\xc0\x80\"",
		"\"\xed\xa0\x80\"",
	};
	char deep[200];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json *v = NULL;

		assert_int_equal(json_parse(bad[i], strlen(bad[i]), &v, NULL), -EINVAL);
		assert_null(v);
	}
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	{
		struct json *v = NULL;

		assert_int_equal(json_parse(deep, sizeof(deep), &v, NULL), -EINVAL);
	}
}

static void test_json_build(void **state)
{
	struct json *o = json_new(JSON_OBJECT);
	struct json_buf out = { 0 };
	uint64_t n = 0;

	assert_int_equal(json_object_set(o, "size", json_new_u64(UINT64_MAX)), 0);
	assert_int_equal(json_object_set(o, "name", json_new_string("w\xff")), 0);
	assert_int_equal(json_object_set(o, "size", json_new_u64(42)), 0); /* replaces, keeps its place */
	assert_int_equal(json_object_get_u64(o, "size", &n), 0);
	assert_int_equal(n, 42);
	assert_null(json_object_get_string(o, "size"));
	assert_int_equal(json_dump(o, false, &out), 0);
	assert_string_equal(out.data, "{\"size\":42,\"name\":\"w\\ufffd\"}");
	json_buf_free(&out);
	json_free(o);
}

/* ---- digest ------------------------------------------------------------- */

static void test_digest(void **state)
{
	char d[DIGEST_STRING_LEN];

	assert_int_equal(digest_buffer("abc", 3, d), 0);
	assert_string_equal(d, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	assert_true(digest_is_valid(d));
	assert_false(digest_is_valid("sha256:../../etc/passwd"));
	assert_false(digest_is_valid("sha512:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
	assert_false(digest_is_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
}

/* ---- tar ---------------------------------------------------------------- */

struct sink {
	unsigned char *data;
	size_t len, cap;
};

static int sink_write(void *arg, const void *data, size_t len)
{
	struct sink *s = arg;

	if (s->len + len > s->cap) {
		s->cap = (s->len + len) * 2;
		s->data = realloc(s->data, s->cap);
		assert_non_null(s->data);
	}
	memcpy(s->data + s->len, data, len);
	s->len += len;
	return 0;
}

static void test_tar_alignment(void **state)
{
	/* Every name length and size mix lands file data on the boundary. */
	for (uint32_t align = 1024; align <= 65536; align *= 4) {
		struct sink s = { 0 };
		struct tar_writer tw;
		unsigned char byte = 0x5a;

		tar_writer_init(&tw, sink_write, &s, align, 0);
		for (size_t i = 1; i < 300; i += 7) {
			char name[400];
			struct tar_entry e = { .path = name, .type = TAR_REGULAR, .mode = 0644, .size = i * 13 };

			memset(name, 'n', i);
			name[i] = '\0';
			assert_int_equal(tar_write_header(&tw, &e), 0);
			assert_int_equal(tw.data_offset % align, 0);
			for (size_t k = 0; k < e.size; k++)
				assert_int_equal(tar_write_data(&tw, &byte, 1), 0);
			assert_int_equal(tar_end_entry(&tw), 0);
			assert_int_equal(tw.offset % TAR_BLOCK, 0);
		}
		assert_int_equal(tar_finish(&tw), 0);
		free(s.data);
	}
}

static void test_tar_header(void **state)
{
	struct sink s = { 0 };
	struct tar_writer tw;
	struct tar_entry big = { .path = "models/huge.bin", .type = TAR_REGULAR, .mode = 0644,
				 .size = 9ull << 30 };
	unsigned int sum = 0;

	tar_writer_init(&tw, sink_write, &s, 0, 1700000000);
	assert_int_equal(tar_write_header(&tw, &big), 0);
	/* A pax header first (type 'x') carrying the size, then the ustar one. */
	assert_int_equal(s.data[156], 'x');
	assert_non_null(memmem(s.data + 512, 512, "size=9663676416\n", 16));
	assert_int_equal(s.data[1024 + 156], '0');
	assert_memory_equal(s.data + 1024 + 257, "ustar\0" "00", 8);
	assert_memory_equal(s.data + 1024 + 136, "14524770400", 11); /* mtime, octal */
	for (int i = 0; i < 512; i++)
		sum += (i >= 148 && i < 156) ? ' ' : s.data[1024 + i];
	assert_int_equal(strtoul((char *)s.data + 1024 + 148, NULL, 8), sum);
	/* Data owed: ending now is an error, not a short archive. */
	assert_int_equal(tar_end_entry(&tw), -EIO);
	free(s.data);

	struct tar_entry bad = { .path = "/abs", .type = TAR_DIRECTORY };

	memset(&s, 0, sizeof(s));
	tar_writer_init(&tw, sink_write, &s, 0, 0);
	assert_int_equal(tar_write_header(&tw, &bad), -EINVAL);
	free(s.data);
}

/* ---- inputs ------------------------------------------------------------- */

static void test_inputs_dest(void **state)
{
	struct bake_error err = { 0 };
	char *rel = NULL;

	assert_int_equal(inputs_check_dest("/models//x/", &rel, &err), -EINVAL);
	assert_int_equal(inputs_check_dest("/models/x/", &rel, &err), 0);
	assert_string_equal(rel, "models/x");
	free(rel);
	assert_int_equal(inputs_check_dest("/", &rel, &err), -EINVAL);
	assert_int_equal(inputs_check_dest("models", &rel, &err), -EINVAL);
	assert_int_equal(inputs_check_dest("/a/../b", &rel, &err), -EINVAL);
	assert_int_equal(inputs_check_dest("/a/./b", &rel, &err), -EINVAL);
}

static void test_inputs_symlinks(void **state)
{
	char dir[] = "/tmp/test-bake-XXXXXX", path[256], link_to[256];
	struct bake_error err = { 0 };
	struct input_list list = { 0 };
	struct input_opts opts = { .dest = "/models/m", .kind = INPUT_WEIGHTS };
	char *paths[2];
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/a/deep", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/b.bin", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("b", f);
	fclose(f);
	/* a/deep/up -> ../../b.bin: b.bin is an input of its own. */
	snprintf(path, sizeof(path), "%s/a/deep/up", dir);
	snprintf(link_to, sizeof(link_to), "%s/b.bin", dir);
	assert_int_equal(symlink(link_to, path), 0);
	snprintf(path, sizeof(path), "%s/a", dir);
	paths[0] = path;
	paths[1] = link_to;
	assert_int_equal(inputs_collect(&opts, paths, 2, &list, &err), 0);
	/* models, models/m, models/m/b.bin, models/m/deep, models/m/deep/up */
	assert_int_equal(list.count, 5);
	assert_string_equal(list.entries[2].path, "models/m/b.bin");
	assert_string_equal(list.entries[4].path, "models/m/deep/up");
	assert_int_equal(list.entries[4].type, TAR_SYMLINK);
	assert_string_equal(list.entries[4].link, "../b.bin");
	assert_int_equal(list.files, 1);
	inputs_free(&list);

	/* Without b.bin among the inputs the link leaves them: refused. */
	assert_int_equal(inputs_collect(&opts, paths, 1, &list, &err), -EXDEV);
	assert_non_null(strstr(err.text, "symlink points outside the inputs"));

	snprintf(link_to, sizeof(link_to), "rm -rf %s", dir);
	assert_int_equal(system(link_to), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_roundtrip), cmocka_unit_test(test_json_rejects),
		cmocka_unit_test(test_json_build),     cmocka_unit_test(test_digest),
		cmocka_unit_test(test_tar_alignment),  cmocka_unit_test(test_tar_header),
		cmocka_unit_test(test_inputs_dest),    cmocka_unit_test(test_inputs_symlinks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
