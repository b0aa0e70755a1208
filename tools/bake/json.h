/* json.h — JSON values for OCI documents and for snapbake's --json output.
 * The parser trusts nothing it reads; nothing here touches files. */
#ifndef SNAPBAKE_JSON_H
#define SNAPBAKE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	bool boolean;
	char *text;	      /* JSON_STRING: UTF-8 without NUL; JSON_NUMBER: the literal as read */
	size_t count, cap;    /* JSON_ARRAY and JSON_OBJECT */
	char **keys;	      /* JSON_OBJECT, in document order */
	struct json **items;
};

/* A growing byte buffer that always ends in a NUL. */
struct json_buf {
	char *data;
	size_t len, cap;
};

/* Parses text[0..len). On failure returns -EINVAL (or -ENOMEM) and, when
 * ret_offset is not NULL, the byte offset where reading stopped. */
int json_parse(const char *text, size_t len, struct json **ret_value, size_t *ret_offset);
void json_free(struct json *value);

struct json *json_new(enum json_type type);
struct json *json_new_string(const char *s);
struct json *json_new_u64(uint64_t n);
struct json *json_new_double(double d);
struct json *json_new_bool(bool b);

/* Both take ownership of value (freed on failure too). */
int json_object_set(struct json *obj, const char *key, struct json *value);
int json_array_push(struct json *arr, struct json *value);

/* NULL unless obj is an object holding key. */
struct json *json_object_get(const struct json *obj, const char *key);
/* NULL unless obj.key exists and has the given type. */
struct json *json_object_get_type(const struct json *obj, const char *key, enum json_type type);
const char *json_object_get_string(const struct json *obj, const char *key);
/* -EINVAL unless obj.key is a non-negative integer that fits in 64 bits. */
int json_object_get_u64(const struct json *obj, const char *key, uint64_t *ret_n);

/* Appends value as compact JSON (pretty: two-space indents and newlines).
 * Keys keep their order, so the same value always gives the same bytes. */
int json_dump(const struct json *value, bool pretty, struct json_buf *out);

int json_buf_append(struct json_buf *buf, const void *data, size_t len);
void json_buf_free(struct json_buf *buf);

#endif
