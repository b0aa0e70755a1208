/* inputs.c — walks the files to bake and decides each one's name, mode and
 * type in the layer. It never reads file contents and never lets the order,
 * owner or time of anything on this host reach the layer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "inputs.h"

/* Deeper than any weights tree; stops symlink loops under --dereference. */
#define INPUT_MAX_DEPTH 64

struct root {
	char *real;    /* realpath of the input */
	char *dest;    /* where it lands in the layer */
	bool is_dir;
};

struct walk {
	const struct input_opts *opts;
	struct root *roots;
	size_t nroots;
	struct input_list *list;
	struct bake_error *err;
};

void inputs_free(struct input_list *list)
{
	for (size_t i = 0; i < list->count; i++) {
		free(list->entries[i].path);
		free(list->entries[i].source);
		free(list->entries[i].link);
	}
	free(list->entries);
	memset(list, 0, sizeof(*list));
}

int inputs_check_dest(const char *dest, char **ret_relative, struct bake_error *err)
{
	const char *p = dest;
	char *rel;
	size_t len;

	if (!dest || dest[0] != '/')
		return bake_fail_why(err, -EINVAL, "--dest %s: must be an absolute path in the image, e.g. /models/NAME",
				     dest ? dest : "");
	while (*p == '/')
		p++;
	rel = strdup(p);
	if (!rel)
		return -ENOMEM;
	len = strlen(rel);
	while (len && rel[len - 1] == '/')
		rel[--len] = '\0';
	if (!len) {
		free(rel);
		return bake_fail_why(err, -EINVAL, "--dest %s: name a directory below /, e.g. /models/NAME", dest);
	}
	for (char *c = rel; *c;) {
		char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		if (!n || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
			free(rel);
			return bake_fail_why(err, -EINVAL, "--dest %s: no empty, '.' or '..' parts allowed", dest);
		}
		c = *end ? end + 1 : end;
	}
	*ret_relative = rel;
	return 0;
}

static int add_entry(struct input_list *list, char *path, char *source, enum tar_type type, unsigned int mode,
		     uint64_t size, char *link)
{
	struct input_entry *e;

	if (!path || (type != TAR_DIRECTORY && !source && type != TAR_SYMLINK) ||
	    (type == TAR_SYMLINK && !link)) {
		free(path);
		free(source);
		free(link);
		return -ENOMEM;
	}
	if (list->count == list->cap) {
		size_t cap = list->cap ? list->cap * 2 : 64;
		struct input_entry *grown = realloc(list->entries, cap * sizeof(*grown));

		if (!grown) {
			free(path);
			free(source);
			free(link);
			return -ENOMEM;
		}
		list->entries = grown;
		list->cap = cap;
	}
	e = &list->entries[list->count++];
	*e = (struct input_entry){ .path = path, .source = source, .type = type, .mode = mode, .size = size, .link = link };
	if (type == TAR_REGULAR) {
		list->files++;
		list->bytes += size;
	}
	return 0;
}

static char *join(const char *a, const char *b)
{
	char *s = NULL;

	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

static unsigned int file_mode(const struct input_opts *opts, mode_t st_mode)
{
	if (opts->kind == INPUT_SNAPSHOT)
		return 0600;
	return (st_mode & S_IXUSR) ? 0755 : 0644;
}

static unsigned int dir_mode(const struct input_opts *opts)
{
	return opts->kind == INPUT_SNAPSHOT ? 0700 : 0755;
}

/* Opening each file now turns "unreadable" into an error before the bake
 * starts rather than minutes into it. */
static int check_readable(struct walk *w, const char *source)
{
	int fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0)
		return bake_fail(w->err, -errno, "%s", source);
	close(fd);
	return 0;
}

static int add_file(struct walk *w, const char *source, const char *dest, const struct stat *st)
{
	int r = check_readable(w, source);

	if (r < 0)
		return r;
	r = add_entry(w->list, strdup(dest), strdup(source), TAR_REGULAR, file_mode(w->opts, st->st_mode),
		      (uint64_t)st->st_size, NULL);
	return r < 0 ? bake_fail(w->err, r, "%s", source) : 0;
}

/* Where a resolved host path lands in the layer, or NULL when outside every input. */
static char *map_to_layer(const struct walk *w, const char *real)
{
	for (size_t i = 0; i < w->nroots; i++) {
		const struct root *root = &w->roots[i];
		size_t n = strlen(root->real);

		if (!strcmp(real, root->real))
			return strdup(root->dest);
		if (!root->is_dir)
			continue;
		if (!strcmp(root->real, "/"))
			n = 0;
		if (!strncmp(real, root->real, n) && real[n] == '/')
			return join(root->dest, real + n + 1);
	}
	return NULL;
}

/* Number of '/'-separated components in the first len bytes of path. */
static size_t count_components(const char *path, size_t len)
{
	size_t n = len ? 1 : 0;

	for (size_t i = 0; i < len; i++)
		n += path[i] == '/';
	return n;
}

/* The relative link text that leads from the directory holding `from` to `to`,
 * both paths in the layer (relative, no leading or trailing '/'). */
static char *relative_link(const char *from, const char *to)
{
	const char *slash = strrchr(from, '/');
	size_t dir_len = slash ? (size_t)(slash - from) : 0;
	size_t to_len = strlen(to), shared = 0, ups;
	const char *rest;
	char *out, *p;

	/* shared: the length of the longest common run of whole components. */
	for (size_t i = 0;; i++) {
		bool dir_end = i == dir_len, to_end = i == to_len;

		if ((dir_end || from[i] == '/') && (to_end || to[i] == '/'))
			shared = i;
		if (dir_end || to_end || from[i] != to[i])
			break;
	}
	ups = count_components(from + shared, dir_len - shared);
	if (shared < dir_len && from[shared] == '/')
		ups = count_components(from + shared + 1, dir_len - shared - 1);
	rest = to + shared;
	if (*rest == '/')
		rest++;
	out = malloc(ups * 3 + strlen(rest) + 2);
	if (!out)
		return NULL;
	p = out;
	for (size_t k = 0; k < ups; k++, p += 3)
		memcpy(p, "../", 3);
	strcpy(p, rest);
	p += strlen(rest);
	if (p > out && p[-1] == '/')
		*--p = '\0';
	if (p == out)
		strcpy(out, ".");
	return out;
}

static int walk_dir(struct walk *w, const char *source, const char *dest, int depth);

static int add_symlink(struct walk *w, const char *source, const char *dest, int depth)
{
	struct stat st;
	char *real, *target, *link;
	int r;

	if (w->opts->dereference) {
		if (stat(source, &st) < 0)
			return bake_fail(w->err, -errno, "%s: symlink target", source);
		if (S_ISREG(st.st_mode))
			return add_file(w, source, dest, &st);
		if (S_ISDIR(st.st_mode)) {
			r = add_entry(w->list, strdup(dest), NULL, TAR_DIRECTORY, dir_mode(w->opts), 0, NULL);
			return r < 0 ? bake_fail(w->err, r, "%s", source) : walk_dir(w, source, dest, depth + 1);
		}
		return bake_fail_why(w->err, -EINVAL, "%s: points to something that is not a file or directory",
				     source);
	}
	real = realpath(source, NULL);
	if (!real)
		return bake_fail(w->err, -errno, "%s: symlink target", source);
	target = map_to_layer(w, real);
	if (!target) {
		r = bake_fail_why(w->err, -EXDEV,
				  "%s: symlink points outside the inputs (to %s); add its target to the inputs, "
				  "or pass --dereference to bake the file it points to",
				  source, real);
		free(real);
		return r;
	}
	free(real);
	link = relative_link(dest, target);
	free(target);
	r = add_entry(w->list, strdup(dest), NULL, TAR_SYMLINK, 0777, 0, link);
	return r < 0 ? bake_fail(w->err, r, "%s", source) : 0;
}

static int walk_dir(struct walk *w, const char *source, const char *dest, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > INPUT_MAX_DEPTH)
		return bake_fail_why(w->err, -ELOOP, "%s: nested more than %d directories deep (a symlink loop?)",
				     source, INPUT_MAX_DEPTH);
	d = opendir(source);
	if (!d)
		return bake_fail(w->err, -errno, "%s", source);
	while (r >= 0) {
		struct stat st;
		char *src, *dst;

		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno)
				r = bake_fail(w->err, -errno, "%s", source);
			break;
		}
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		src = join(source, de->d_name);
		dst = join(dest, de->d_name);
		if (!src || !dst) {
			r = bake_fail(w->err, -ENOMEM, "%s", source);
		} else if (lstat(src, &st) < 0) {
			r = bake_fail(w->err, -errno, "%s", src);
		} else if (S_ISDIR(st.st_mode)) {
			r = add_entry(w->list, strdup(dst), NULL, TAR_DIRECTORY, dir_mode(w->opts), 0, NULL);
			if (r < 0)
				bake_fail(w->err, r, "%s", src);
			else
				r = walk_dir(w, src, dst, depth + 1);
		} else if (S_ISREG(st.st_mode)) {
			r = add_file(w, src, dst, &st);
		} else if (S_ISLNK(st.st_mode)) {
			r = add_symlink(w, src, dst, depth);
		} else {
			r = bake_fail_why(w->err, -EINVAL, "%s: not a regular file, directory or symlink; remove it from the inputs",
					  src);
		}
		free(src);
		free(dst);
	}
	closedir(d);
	return r;
}

/* Layer order: byte order, with '/' before every other character so that a
 * directory's entries follow it directly. */
static int compare_paths(const void *a, const void *b)
{
	const unsigned char *x = (const unsigned char *)((const struct input_entry *)a)->path;
	const unsigned char *y = (const unsigned char *)((const struct input_entry *)b)->path;

	for (;; x++, y++) {
		int cx = *x == '/' ? 1 : *x ? *x + 1 : 0;
		int cy = *y == '/' ? 1 : *y ? *y + 1 : 0;

		if (cx != cy)
			return cx - cy;
		if (!cx)
			return 0;
	}
}

static const char *describe(const struct input_entry *e)
{
	return e->source ? e->source : e->path;
}

/* Sorts, merges directories named twice, refuses two things at one name. */
static int finish_list(struct input_list *list, const char *dest_abs, struct bake_error *err)
{
	size_t out = 0;

	qsort(list->entries, list->count, sizeof(list->entries[0]), compare_paths);
	for (size_t i = 0; i < list->count; i++) {
		struct input_entry *e = &list->entries[i];

		if (out) {
			struct input_entry *prev = &list->entries[out - 1];
			size_t plen = strlen(prev->path);

			if (!strcmp(prev->path, e->path)) {
				if (prev->type == TAR_DIRECTORY && e->type == TAR_DIRECTORY) {
					free(e->path);
					free(e->source);
					free(e->link);
					continue;
				}
				return bake_fail_why(err, -EEXIST, "%s and %s would both be baked as /%s; rename one",
						     describe(prev), describe(e), e->path);
			}
			if (prev->type != TAR_DIRECTORY && !strncmp(prev->path, e->path, plen) && e->path[plen] == '/')
				return bake_fail_why(err, -EEXIST, "%s would be baked as /%s, which %s needs as a directory",
						     describe(prev), prev->path, describe(e));
		}
		list->entries[out++] = *e;
	}
	list->count = out;
	(void)dest_abs;
	return 0;
}

static int add_dest_dirs(struct walk *w, const char *rel)
{
	for (const char *c = rel;;) {
		const char *end = strchrnul(c, '/');
		bool last = !*end;
		int r;

		/* Parents of the destination are ordinary directories; the
		 * destination itself takes the layer's directory mode. */
		r = add_entry(w->list, strndup(rel, (size_t)(end - rel)), NULL, TAR_DIRECTORY,
			      last ? dir_mode(w->opts) : 0755, 0, NULL);
		if (r < 0)
			return bake_fail(w->err, r, "--dest");
		if (last)
			return 0;
		c = end + 1;
	}
}

int inputs_collect(const struct input_opts *opts, char *const *paths, size_t npaths, struct input_list *ret_list,
		   struct bake_error *err)
{
	struct input_list list = { 0 };
	struct walk w = { .opts = opts, .list = &list, .err = err };
	char *rel = NULL;
	int r;

	if ((r = inputs_check_dest(opts->dest, &rel, err)) < 0)
		return r;
	w.roots = calloc(npaths ? npaths : 1, sizeof(*w.roots));
	if (!w.roots) {
		r = -ENOMEM;
		goto out;
	}
	/* Resolve every input first: symlinks anywhere may point into any of them. */
	for (size_t i = 0; i < npaths; i++) {
		struct stat st;
		struct root *root = &w.roots[w.nroots];
		const char *base;
		char *copy;

		if (stat(paths[i], &st) < 0) {
			r = bake_fail(err, -errno, "%s", paths[i]);
			goto out;
		}
		if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
			r = bake_fail_why(err, -EINVAL, "%s: not a regular file or directory", paths[i]);
			goto out;
		}
		root->real = realpath(paths[i], NULL);
		if (!root->real) {
			r = bake_fail(err, -errno, "%s", paths[i]);
			goto out;
		}
		w.nroots++;
		root->is_dir = S_ISDIR(st.st_mode);
		if (root->is_dir) {
			root->dest = strdup(rel);
		} else {
			copy = strdup(paths[i]);
			if (!copy) {
				r = -ENOMEM;
				goto out;
			}
			while (strlen(copy) > 1 && copy[strlen(copy) - 1] == '/')
				copy[strlen(copy) - 1] = '\0';
			base = strrchr(copy, '/');
			root->dest = join(rel, base ? base + 1 : copy);
			free(copy);
		}
		if (!root->dest) {
			r = -ENOMEM;
			goto out;
		}
	}
	if ((r = add_dest_dirs(&w, rel)) < 0)
		goto out;
	for (size_t i = 0; i < w.nroots && r >= 0; i++) {
		struct stat st;

		if (w.roots[i].is_dir) {
			r = walk_dir(&w, paths[i], w.roots[i].dest, 0);
		} else if (stat(paths[i], &st) < 0) {
			r = bake_fail(err, -errno, "%s", paths[i]);
		} else {
			r = add_file(&w, paths[i], w.roots[i].dest, &st);
		}
	}
	if (r >= 0)
		r = finish_list(&list, opts->dest, err);
out:
	if (r == -ENOMEM)
		bake_fail(err, r, "collecting inputs");
	for (size_t i = 0; i < w.nroots; i++) {
		free(w.roots[i].real);
		free(w.roots[i].dest);
	}
	free(w.roots);
	free(rel);
	if (r < 0) {
		inputs_free(&list);
		return r;
	}
	*ret_list = list;
	return 0;
}
