/* json.c — a JSON parser for documents read from an image (bounded depth,
 * every byte checked) and a writer with stable output; it never does I/O. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>

#include "json.h"

/* OCI documents nest a handful of levels; this bound keeps the recursive
 * parser's stack small on hostile input. */
#define JSON_MAX_DEPTH 64

struct parser {
	const char *p, *end;
	const char *start;
	int depth;
};

int json_buf_append(struct json_buf *buf, const void *data, size_t len)
{
	if (buf->len + len + 1 > buf->cap) {
		size_t cap = buf->cap ? buf->cap : 256;
		char *grown;

		while (cap < buf->len + len + 1)
			cap *= 2;
		grown = realloc(buf->data, cap);
		if (!grown)
			return -ENOMEM;
		buf->data = grown;
		buf->cap = cap;
	}
	memcpy(buf->data + buf->len, data, len);
	buf->len += len;
	buf->data[buf->len] = '\0';
	return 0;
}

static int buf_puts(struct json_buf *buf, const char *s)
{
	return json_buf_append(buf, s, strlen(s));
}

void json_buf_free(struct json_buf *buf)
{
	free(buf->data);
	buf->data = NULL;
	buf->len = buf->cap = 0;
}

struct json *json_new(enum json_type type)
{
	struct json *v = calloc(1, sizeof(*v));

	if (v)
		v->type = type;
	return v;
}

void json_free(struct json *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->count; i++) {
		if (v->keys)
			free(v->keys[i]);
		json_free(v->items[i]);
	}
	free(v->keys);
	free(v->items);
	free(v->text);
	free(v);
}

struct json *json_new_string(const char *s)
{
	struct json *v = json_new(JSON_STRING);

	if (v && !(v->text = strdup(s))) {
		free(v);
		return NULL;
	}
	return v;
}

struct json *json_new_u64(uint64_t n)
{
	char tmp[24];
	struct json *v = json_new(JSON_NUMBER);

	snprintf(tmp, sizeof(tmp), "%" PRIu64, n);
	if (v && !(v->text = strdup(tmp))) {
		free(v);
		return NULL;
	}
	return v;
}

struct json *json_new_double(double d)
{
	char tmp[40];
	struct json *v = json_new(JSON_NUMBER);

	if (!isfinite(d))
		d = 0;
	snprintf(tmp, sizeof(tmp), "%.3f", d);
	if (v && !(v->text = strdup(tmp))) {
		free(v);
		return NULL;
	}
	return v;
}

struct json *json_new_bool(bool b)
{
	struct json *v = json_new(JSON_BOOL);

	if (v)
		v->boolean = b;
	return v;
}

static int grow(struct json *v, bool with_keys)
{
	size_t cap;
	struct json **items;

	if (v->count < v->cap)
		return 0;
	cap = v->cap ? v->cap * 2 : 4;
	items = realloc(v->items, cap * sizeof(*items));
	if (!items)
		return -ENOMEM;
	v->items = items;
	if (with_keys) {
		char **keys = realloc(v->keys, cap * sizeof(*keys));

		if (!keys)
			return -ENOMEM;
		v->keys = keys;
	}
	v->cap = cap;
	return 0;
}

int json_array_push(struct json *arr, struct json *value)
{
	if (!value)
		return -ENOMEM;
	if (arr->type != JSON_ARRAY || grow(arr, false) < 0) {
		json_free(value);
		return arr->type != JSON_ARRAY ? -EINVAL : -ENOMEM;
	}
	arr->items[arr->count++] = value;
	return 0;
}

static ssize_t object_find(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return -1;
	for (size_t i = 0; i < obj->count; i++)
		if (!strcmp(obj->keys[i], key))
			return (ssize_t)i;
	return -1;
}

int json_object_set(struct json *obj, const char *key, struct json *value)
{
	ssize_t at;
	char *k;

	if (!value)
		return -ENOMEM;
	if (obj->type != JSON_OBJECT) {
		json_free(value);
		return -EINVAL;
	}
	at = object_find(obj, key);
	if (at >= 0) {
		json_free(obj->items[at]);
		obj->items[at] = value;
		return 0;
	}
	k = strdup(key);
	if (!k || grow(obj, true) < 0) {
		free(k);
		json_free(value);
		return -ENOMEM;
	}
	obj->keys[obj->count] = k;
	obj->items[obj->count++] = value;
	return 0;
}

struct json *json_object_get(const struct json *obj, const char *key)
{
	ssize_t at = object_find(obj, key);

	return at < 0 ? NULL : obj->items[at];
}

struct json *json_object_get_type(const struct json *obj, const char *key, enum json_type type)
{
	struct json *v = json_object_get(obj, key);

	return v && v->type == type ? v : NULL;
}

const char *json_object_get_string(const struct json *obj, const char *key)
{
	struct json *v = json_object_get_type(obj, key, JSON_STRING);

	return v ? v->text : NULL;
}

int json_object_get_u64(const struct json *obj, const char *key, uint64_t *ret_n)
{
	struct json *v = json_object_get_type(obj, key, JSON_NUMBER);
	uint64_t n = 0;

	if (!v || !v->text[0])
		return -EINVAL;
	for (const char *c = v->text; *c; c++) {
		if (*c < '0' || *c > '9' || n > (UINT64_MAX - 9) / 10)
			return -EINVAL;
		n = n * 10 + (uint64_t)(*c - '0');
	}
	*ret_n = n;
	return 0;
}

/* Length of the well-formed UTF-8 sequence at p (at most n bytes), or 0:
 * no overlong forms, no surrogates, nothing past U+10FFFF. */
static size_t utf8_sequence(const unsigned char *p, size_t n)
{
	unsigned cp;
	size_t len;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* ---- parser ------------------------------------------------------------ */

static void skip_space(struct parser *ps)
{
	while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
		ps->p++;
}

static int parse_value(struct parser *ps, struct json **ret);

static int hex4(struct parser *ps, unsigned *ret)
{
	unsigned v = 0;

	if (ps->end - ps->p < 4)
		return -EINVAL;
	for (int i = 0; i < 4; i++) {
		char c = *ps->p++;

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret = v;
	return 0;
}

static int put_utf8(struct json_buf *out, unsigned cp)
{
	char b[4];
	size_t n;

	if (cp < 0x80) {
		b[0] = (char)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (char)(0xc0 | (cp >> 6));
		b[1] = (char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (char)(0xe0 | (cp >> 12));
		b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		b[0] = (char)(0xf0 | (cp >> 18));
		b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return json_buf_append(out, b, n);
}

/* Reads a string whose opening quote is at ps->p; returns it in ret (malloc'd). */
static int parse_string(struct parser *ps, char **ret)
{
	struct json_buf out = { 0 };
	int r = 0;

	ps->p++;
	if (json_buf_append(&out, "", 0) < 0)
		return -ENOMEM;
	for (;;) {
		const char *run = ps->p;

		while (ps->p < ps->end && *ps->p != '"' && *ps->p != '\\' && (unsigned char)*ps->p >= 0x20) {
			/* JSON text is UTF-8: anything else would reach our own output. */
			size_t n = utf8_sequence((const unsigned char *)ps->p, (size_t)(ps->end - ps->p));

			if (!n) {
				r = -EINVAL;
				goto fail;
			}
			ps->p += n;
		}
		if (ps->p > run && (r = json_buf_append(&out, run, (size_t)(ps->p - run))) < 0)
			goto fail;
		if (ps->p >= ps->end || (unsigned char)*ps->p < 0x20) {
			r = -EINVAL;
			goto fail;
		}
		if (*ps->p == '"') {
			ps->p++;
			*ret = out.data;
			return 0;
		}
		ps->p++; /* backslash */
		if (ps->p >= ps->end) {
			r = -EINVAL;
			goto fail;
		}
		char c = *ps->p++;
		const char *simple = NULL;

		switch (c) {
		case '"': simple = "\""; break;
		case '\\': simple = "\\"; break;
		case '/': simple = "/"; break;
		case 'b': simple = "\b"; break;
		case 'f': simple = "\f"; break;
		case 'n': simple = "\n"; break;
		case 'r': simple = "\r"; break;
		case 't': simple = "\t"; break;
		case 'u': {
			unsigned cp, low;

			if ((r = hex4(ps, &cp)) < 0)
				goto fail;
			if (cp >= 0xd800 && cp < 0xdc00) {
				if (ps->end - ps->p < 6 || ps->p[0] != '\\' || ps->p[1] != 'u') {
					r = -EINVAL;
					goto fail;
				}
				ps->p += 2;
				if ((r = hex4(ps, &low)) < 0)
					goto fail;
				if (low < 0xdc00 || low > 0xdfff) {
					r = -EINVAL;
					goto fail;
				}
				cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
			} else if (cp >= 0xdc00 && cp <= 0xdfff) {
				r = -EINVAL;
				goto fail;
			}
			/* Strings are kept as C strings: an escaped NUL cannot be. */
			if (cp == 0) {
				r = -EINVAL;
				goto fail;
			}
			if ((r = put_utf8(&out, cp)) < 0)
				goto fail;
			break;
		}
		default:
			r = -EINVAL;
			goto fail;
		}
		if (simple && (r = buf_puts(&out, simple)) < 0)
			goto fail;
	}
fail:
	json_buf_free(&out);
	return r;
}

static int parse_number(struct parser *ps, struct json **ret)
{
	const char *s = ps->p;
	struct json *v;

	if (ps->p < ps->end && *ps->p == '-')
		ps->p++;
	if (ps->p >= ps->end)
		return -EINVAL;
	if (*ps->p == '0') {
		ps->p++;
	} else if (*ps->p >= '1' && *ps->p <= '9') {
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	} else {
		return -EINVAL;
	}
	if (ps->p < ps->end && *ps->p == '.') {
		ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return -EINVAL;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
		ps->p++;
		if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-'))
			ps->p++;
		if (ps->p >= ps->end || *ps->p < '0' || *ps->p > '9')
			return -EINVAL;
		while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9')
			ps->p++;
	}
	v = json_new(JSON_NUMBER);
	if (!v || !(v->text = strndup(s, (size_t)(ps->p - s)))) {
		free(v);
		return -ENOMEM;
	}
	*ret = v;
	return 0;
}

static int parse_literal(struct parser *ps, const char *word, struct json *v)
{
	size_t n = strlen(word);

	if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) {
		json_free(v);
		return -EINVAL;
	}
	ps->p += n;
	return 0;
}

static int parse_container(struct parser *ps, struct json **ret)
{
	bool is_object = *ps->p == '{';
	char close = is_object ? '}' : ']';
	struct json *v = json_new(is_object ? JSON_OBJECT : JSON_ARRAY);
	int r;

	if (!v)
		return -ENOMEM;
	if (++ps->depth > JSON_MAX_DEPTH) {
		r = -EINVAL;
		goto fail;
	}
	ps->p++;
	skip_space(ps);
	if (ps->p < ps->end && *ps->p == close) {
		ps->p++;
		goto done;
	}
	for (;;) {
		char *key = NULL;
		struct json *item = NULL;

		skip_space(ps);
		if (is_object) {
			if (ps->p >= ps->end || *ps->p != '"') {
				r = -EINVAL;
				goto fail;
			}
			if ((r = parse_string(ps, &key)) < 0)
				goto fail;
			/* A key given twice means two readers may see two documents. */
			if (object_find(v, key) >= 0) {
				free(key);
				r = -EINVAL;
				goto fail;
			}
			skip_space(ps);
			if (ps->p >= ps->end || *ps->p != ':') {
				free(key);
				r = -EINVAL;
				goto fail;
			}
			ps->p++;
		}
		if ((r = parse_value(ps, &item)) < 0) {
			free(key);
			goto fail;
		}
		if ((r = grow(v, is_object)) < 0) {
			free(key);
			json_free(item);
			goto fail;
		}
		if (is_object)
			v->keys[v->count] = key;
		v->items[v->count++] = item;
		skip_space(ps);
		if (ps->p < ps->end && *ps->p == ',') {
			ps->p++;
			continue;
		}
		if (ps->p < ps->end && *ps->p == close) {
			ps->p++;
			break;
		}
		r = -EINVAL;
		goto fail;
	}
done:
	ps->depth--;
	*ret = v;
	return 0;
fail:
	json_free(v);
	return r;
}

static int parse_value(struct parser *ps, struct json **ret)
{
	struct json *v;
	int r;

	skip_space(ps);
	if (ps->p >= ps->end)
		return -EINVAL;
	switch (*ps->p) {
	case '{':
	case '[':
		return parse_container(ps, ret);
	case '"':
		v = json_new(JSON_STRING);
		if (!v)
			return -ENOMEM;
		if ((r = parse_string(ps, &v->text)) < 0) {
			free(v);
			return r;
		}
		*ret = v;
		return 0;
	case 't':
	case 'f':
		if (!(v = json_new_bool(*ps->p == 't')))
			return -ENOMEM;
		if ((r = parse_literal(ps, v->boolean ? "true" : "false", v)) < 0)
			return r;
		*ret = v;
		return 0;
	case 'n':
		if (!(v = json_new(JSON_NULL)))
			return -ENOMEM;
		if ((r = parse_literal(ps, "null", v)) < 0)
			return r;
		*ret = v;
		return 0;
	default:
		return parse_number(ps, ret);
	}
}

int json_parse(const char *text, size_t len, struct json **ret_value, size_t *ret_offset)
{
	struct parser ps = { .p = text, .end = text + len, .start = text };
	struct json *v = NULL;
	int r;

	r = parse_value(&ps, &v);
	if (r >= 0) {
		skip_space(&ps);
		if (ps.p != ps.end) {
			json_free(v);
			r = -EINVAL;
		}
	}
	if (r < 0) {
		if (ret_offset)
			*ret_offset = (size_t)(ps.p - ps.start);
		return r;
	}
	*ret_value = v;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

static int dump_string(const char *s, struct json_buf *out)
{
	int r = buf_puts(out, "\"");

	for (const char *run = s; r >= 0; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[8];
		size_t n = c >= 0x80 ? utf8_sequence((const unsigned char *)s, strnlen(s, 4)) : 1;

		if (n > 1) {
			s += n - 1;
			continue;
		}
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\')
			continue;
		if ((r = json_buf_append(out, run, (size_t)(s - run))) < 0)
			return r;
		if (!c)
			break;
		switch (c) {
		case '"': strcpy(esc, "\\\""); break;
		case '\\': strcpy(esc, "\\\\"); break;
		case '\n': strcpy(esc, "\\n"); break;
		case '\t': strcpy(esc, "\\t"); break;
		case '\r': strcpy(esc, "\\r"); break;
		default:
			/* Control characters escaped; bytes that are not UTF-8
			 * (host file names can be anything) become U+FFFD. */
			snprintf(esc, sizeof(esc), c >= 0x80 ? "\\ufffd" : "\\u%04x", c);
			break;
		}
		r = buf_puts(out, esc);
		run = s + 1;
	}
	return r < 0 ? r : buf_puts(out, "\"");
}

static int indent(struct json_buf *out, bool pretty, int depth)
{
	int r = 0;

	if (!pretty)
		return 0;
	r = buf_puts(out, "\n");
	for (int i = 0; i < depth && r >= 0; i++)
		r = buf_puts(out, "  ");
	return r;
}

static int dump(const struct json *v, bool pretty, int depth, struct json_buf *out)
{
	int r;

	switch (v->type) {
	case JSON_NULL:
		return buf_puts(out, "null");
	case JSON_BOOL:
		return buf_puts(out, v->boolean ? "true" : "false");
	case JSON_NUMBER:
		return buf_puts(out, v->text);
	case JSON_STRING:
		return dump_string(v->text, out);
	case JSON_ARRAY:
	case JSON_OBJECT:
		break;
	}
	r = buf_puts(out, v->type == JSON_OBJECT ? "{" : "[");
	for (size_t i = 0; i < v->count && r >= 0; i++) {
		if (i)
			r = buf_puts(out, ",");
		if (r >= 0)
			r = indent(out, pretty, depth + 1);
		if (r >= 0 && v->type == JSON_OBJECT) {
			r = dump_string(v->keys[i], out);
			if (r >= 0)
				r = buf_puts(out, pretty ? ": " : ":");
		}
		if (r >= 0)
			r = dump(v->items[i], pretty, depth + 1, out);
	}
	if (r >= 0 && v->count)
		r = indent(out, pretty, depth);
	return r < 0 ? r : buf_puts(out, v->type == JSON_OBJECT ? "}" : "]");
}

int json_dump(const struct json *value, bool pretty, struct json_buf *out)
{
	return dump(value, pretty, 0, out);
}
