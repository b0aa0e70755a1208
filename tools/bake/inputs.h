/* inputs.h — turns the PATH arguments of `snapbake add` into the sorted list of
 * layer entries: names under the destination, normalised modes, no host state. */
#ifndef SNAPBAKE_INPUTS_H
#define SNAPBAKE_INPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "tar.h"

enum input_kind {
	INPUT_WEIGHTS,	/* files 0644 (0755 when executable), directories 0755 */
	INPUT_SNAPSHOT, /* a snapctl snapshot: process memory, so 0600 and 0700 */
};

struct input_entry {
	char *path;   /* in the layer: relative, no leading or trailing '/' */
	char *source; /* on this host; NULL for the destination's own directories */
	enum tar_type type;
	unsigned int mode;
	uint64_t size;
	char *link;   /* TAR_SYMLINK: relative, within the layer */
};

struct input_list {
	struct input_entry *entries;
	size_t count, cap;
	uint64_t files, bytes; /* regular files and their total size */
};

struct input_opts {
	const char *dest; /* absolute directory in the image, e.g. /models/llama */
	enum input_kind kind;
	bool dereference; /* store what symlinks point to instead of refusing ones leaving the inputs */
};

/* A file PATH goes to DEST/basename(PATH); a directory's contents go under
 * DEST. Symlinks whose target lies within the inputs are kept as relative
 * symlinks; any other symlink is refused unless opts->dereference. Every
 * regular file is opened once here, so unreadable files fail before a byte
 * is written. */
int inputs_collect(const struct input_opts *opts, char *const *paths, size_t npaths, struct input_list *ret_list,
		   struct bake_error *err);
void inputs_free(struct input_list *list);

/* Checks that dest is an absolute path below / without "." or ".." parts;
 * ret_relative gets it without its leading and trailing slashes. */
int inputs_check_dest(const char *dest, char **ret_relative, struct bake_error *err);

#endif
