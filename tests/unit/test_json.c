/* test_json.c — snapctl's JSON writer: the exact bytes it emits, because
 * --json output is a contract. Strings escaped, commas only between values. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"

struct capture {
	FILE *out;
	char *text;
	size_t len;
	struct json j;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->out = open_memstream(&c->text, &c->len);
	if (!c->out)
		return -1;
	json_init(&c->j, c->out);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	if (c->out)
		fclose(c->out);
	free(c->text);
	free(c);
	return 0;
}

/* Everything written so far; json_finish has flushed, fflush makes sure. */
static const char *text(struct capture *c)
{
	fflush(c->out);
	return c->text;
}

static void test_escapes_strings(void **state)
{
	struct capture *c = *state;

	json_object_begin(&c->j, NULL);
	json_string(&c->j, "quote\"key", "a \"b\" \\ c");
	json_string(&c->j, "ws", "line\nret\rtab\t");
	json_string(&c->j, "ctl", "\x01\x1f\x7f");
	json_string(&c->j, "utf8", "caf\xc3\xa9 \xe2\x82\xac");
	json_string(&c->j, "slash", "/a/b");
	json_string(&c->j, "null", NULL);
	json_object_end(&c->j);
	json_finish(&c->j);
	assert_string_equal(text(c), "{\"quote\\\"key\":\"a \\\"b\\\" \\\\ c\","
				     "\"ws\":\"line\\nret\\rtab\\t\","
				     "\"ctl\":\"\\u0001\\u001f\x7f\","
				     "\"utf8\":\"caf\xc3\xa9 \xe2\x82\xac\","
				     "\"slash\":\"/a/b\","
				     "\"null\":\"\"}\n");
}

static void test_commas_between_values_only(void **state)
{
	struct capture *c = *state;

	json_object_begin(&c->j, NULL);
	json_object_begin(&c->j, "empty");
	json_object_end(&c->j);
	json_array_begin(&c->j, "none");
	json_array_end(&c->j);
	json_array_begin(&c->j, "list");
	json_int(&c->j, NULL, 1);
	json_object_begin(&c->j, NULL);
	json_bool(&c->j, "t", true);
	json_bool(&c->j, "f", false);
	json_object_end(&c->j);
	json_array_begin(&c->j, NULL);
	json_array_end(&c->j);
	json_null(&c->j, NULL);
	json_array_end(&c->j);
	json_object_begin(&c->j, "nested");
	json_object_begin(&c->j, "deeper");
	json_uint(&c->j, "x", 2);
	json_object_end(&c->j);
	json_uint(&c->j, "y", 3);
	json_object_end(&c->j);
	json_string(&c->j, "last", "z");
	json_object_end(&c->j);
	json_finish(&c->j);
	assert_string_equal(text(c), "{\"empty\":{},\"none\":[],\"list\":[1,{\"t\":true,\"f\":false},[],null],"
				     "\"nested\":{\"deeper\":{\"x\":2},\"y\":3},\"last\":\"z\"}\n");
}

static void test_numbers(void **state)
{
	struct capture *c = *state;

	json_object_begin(&c->j, NULL);
	json_int(&c->j, "min", INT64_MIN);
	json_uint(&c->j, "max", UINT64_MAX);
	json_hex(&c->j, "hex", 0x2e7);
	json_hex(&c->j, "zero", 0);
	json_double(&c->j, "half", 0.5);
	json_double(&c->j, "nan", NAN);
	json_double(&c->j, "inf", INFINITY);
	json_object_end(&c->j);
	json_finish(&c->j);
	assert_string_equal(text(c), "{\"min\":-9223372036854775808,\"max\":18446744073709551615,"
				     "\"hex\":\"0x2e7\",\"zero\":\"0x0\",\"half\":0.5,\"nan\":null,\"inf\":null}\n");
}

/* Two documents through the same writer: the second starts clean. */
static void test_reinit_starts_clean(void **state)
{
	struct capture *c = *state;

	json_object_begin(&c->j, NULL);
	json_int(&c->j, "a", 1);
	json_object_end(&c->j);
	json_finish(&c->j);
	json_init(&c->j, c->out);
	json_object_begin(&c->j, NULL);
	json_int(&c->j, "b", 2);
	json_object_end(&c->j);
	json_finish(&c->j);
	assert_string_equal(text(c), "{\"a\":1}\n{\"b\":2}\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_escapes_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commas_between_values_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reinit_starts_clean, setup, teardown),
	};

	return cmocka_run_group_tests_name("json", tests, NULL, NULL);
}
