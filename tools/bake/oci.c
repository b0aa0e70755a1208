/* oci.c — reads and updates OCI image layouts made by snapbake, umoci, skopeo
 * or buildah. It never trusts a document it has not checked against its
 * digest, and never changes index.json except by an atomic rename. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "blob.h"
#include "oci.h"

/* index.json, manifests and configs are small; a bigger one is not an image. */
#define OCI_MAX_DOCUMENT (16u << 20)
#define INDEX_TMP ".index.json.snapbake"

int oci_parse_reference(const char *ref, char **ret_dir, char **ret_tag)
{
	const char *colon = strrchr(ref, ':');

	if (colon && colon > ref && colon[1] && !strchr(colon, '/')) {
		*ret_dir = strndup(ref, (size_t)(colon - ref));
		*ret_tag = strdup(colon + 1);
		if (!*ret_dir || !*ret_tag) {
			free(*ret_dir);
			free(*ret_tag);
			return -ENOMEM;
		}
		return 0;
	}
	*ret_dir = strdup(ref);
	*ret_tag = NULL;
	return *ret_dir ? 0 : -ENOMEM;
}

/* Reads a whole small file relative to dirfd. */
static int read_small(int dirfd, const char *name, size_t max, char **ret_data, size_t *ret_len)
{
	struct stat st;
	char *data;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto out;
	}
	if ((uint64_t)st.st_size > max) {
		r = -EFBIG;
		goto out;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		r = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			free(data);
			goto out;
		}
		got += (size_t)n;
	}
	data[got] = '\0';
	*ret_data = data;
	*ret_len = got;
out:
	close(fd);
	return r;
}

static int write_all(int fd, const char *p, size_t len)
{
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

/* Replaces dirfd/name with data: temp file, fsync, rename, fsync dir. */
static int replace_file(int dirfd, const char *dir, const char *name, const char *data, size_t len,
			struct bake_error *err)
{
	int fd = openat(dirfd, INDEX_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	int r;

	if (fd < 0)
		return bake_fail(err, -errno, "%s/%s", dir, INDEX_TMP);
	r = write_all(fd, data, len);
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && renameat(dirfd, INDEX_TMP, dirfd, name) < 0)
		r = -errno;
	if (r < 0) {
		unlinkat(dirfd, INDEX_TMP, 0);
		return bake_fail(err, r, "%s/%s", dir, name);
	}
	if (fsync(dirfd) < 0)
		return bake_fail(err, -errno, "%s", dir);
	return 0;
}

static int parse_document(const char *data, size_t len, const char *what, struct json **ret, struct bake_error *err)
{
	size_t at = 0;
	int r = json_parse(data, len, ret, &at);

	if (r == -EINVAL)
		return bake_fail_why(err, r, "%s: not valid JSON (at byte %zu)", what, at);
	if (r < 0)
		return bake_fail(err, r, "%s", what);
	if ((*ret)->type != JSON_OBJECT) {
		json_free(*ret);
		*ret = NULL;
		return bake_fail_why(err, -EINVAL, "%s: not a JSON object", what);
	}
	return 0;
}

/* ---- layout ----------------------------------------------------------------- */

void oci_layout_close(struct oci_layout *layout)
{
	if (!layout)
		return;
	if (layout->blobs_fd >= 0)
		close(layout->blobs_fd);
	if (layout->dirfd >= 0)
		close(layout->dirfd);
	free(layout->path);
	free(layout->blobs_path);
	free(layout);
}

void oci_layout_note_created(struct oci_layout *layout, const char *digest)
{
	if (layout->ncreated < OCI_MAX_CREATED && digest_is_valid(digest))
		memcpy(layout->created[layout->ncreated++], digest, DIGEST_STRING_LEN);
}

void oci_layout_rollback(struct oci_layout *layout)
{
	for (int i = 0; i < layout->ncreated; i++)
		unlinkat(layout->blobs_fd, layout->created[i] + strlen(DIGEST_PREFIX), 0);
	if (layout->ncreated)
		fsync(layout->blobs_fd);
	layout->ncreated = 0;
}

static struct oci_layout *layout_new(const char *dir)
{
	struct oci_layout *layout = calloc(1, sizeof(*layout));

	if (!layout)
		return NULL;
	layout->dirfd = layout->blobs_fd = -1;
	layout->path = strdup(dir);
	if (!layout->path || asprintf(&layout->blobs_path, "%s/blobs/sha256", dir) < 0) {
		layout->blobs_path = NULL;
		oci_layout_close(layout);
		return NULL;
	}
	return layout;
}

int oci_layout_open(const char *dir, bool for_writing, struct oci_layout **ret_layout, struct bake_error *err)
{
	struct oci_layout *layout = layout_new(dir);
	struct json *marker = NULL;
	char *data = NULL;
	const char *version;
	size_t len;
	int r;

	if (!layout)
		return bake_fail(err, -ENOMEM, "%s", dir);
	layout->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layout->dirfd < 0) {
		r = bake_fail(err, -errno, "%s", dir);
		goto fail;
	}
	r = read_small(layout->dirfd, "oci-layout", 4096, &data, &len);
	if (r == -ENOENT) {
		r = bake_fail_why(err, -ENOENT,
				  "%s: not an OCI image layout (no oci-layout file); make one with 'snapbake init %s'",
				  dir, dir);
		goto fail;
	}
	if (r < 0) {
		r = bake_fail(err, r, "%s/oci-layout", dir);
		goto fail;
	}
	if ((r = parse_document(data, len, "oci-layout", &marker, err)) < 0)
		goto fail;
	version = json_object_get_string(marker, "imageLayoutVersion");
	if (!version || strncmp(version, "1.", 2)) {
		r = bake_fail_why(err, -EINVAL, "%s/oci-layout: unsupported imageLayoutVersion %s (1.x expected)", dir,
				  version ? version : "(none)");
		goto fail;
	}
	layout->blobs_fd = openat(layout->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layout->blobs_fd < 0) {
		r = bake_fail(err, -errno, "%s", layout->blobs_path);
		goto fail;
	}
	if (for_writing && flock(layout->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK
			    ? bake_fail_why(err, -EBUSY, "%s: another snapbake is writing this image; wait for it to finish", dir)
			    : bake_fail(err, -errno, "%s: lock", dir);
		goto fail;
	}
	json_free(marker);
	free(data);
	*ret_layout = layout;
	return 0;
fail:
	json_free(marker);
	free(data);
	oci_layout_close(layout);
	return r;
}

/* ---- documents ------------------------------------------------------------- */

static int read_blob_json(struct oci_layout *layout, const char *digest, uint64_t size, const char *what,
			  struct json **ret, struct bake_error *err)
{
	char actual[DIGEST_STRING_LEN];
	char *data = NULL;
	size_t len;
	int r;

	if (!digest_is_valid(digest))
		return bake_fail_why(err, -EINVAL, "%s: %s digest %s is not a sha256 digest this tool can check",
				     layout->path, what, digest ? digest : "(none)");
	r = read_small(layout->blobs_fd, digest + strlen(DIGEST_PREFIX), OCI_MAX_DOCUMENT, &data, &len);
	if (r == -ENOENT)
		return bake_fail_why(err, r, "%s: %s blob %s is missing; the image is incomplete", layout->path, what,
				     digest);
	if (r < 0)
		return bake_fail(err, r, "%s/%s", layout->blobs_path, digest + strlen(DIGEST_PREFIX));
	if ((r = digest_buffer(data, len, actual)) < 0) {
		free(data);
		return bake_fail(err, r, "sha256");
	}
	if (len != size || strcmp(actual, digest)) {
		free(data);
		return bake_fail_why(err, -EINVAL, "%s: %s blob %s does not match its descriptor (size or digest); "
				     "the image is damaged", layout->path, what, digest);
	}
	{
		char label[PATH_MAX + 128];

		snprintf(label, sizeof(label), "%s: %s %s", layout->path, what, digest);
		r = parse_document(data, len, label, ret, err);
	}
	free(data);
	return r;
}

static int descriptor_fields(const struct json *desc, const char **ret_media, const char **ret_digest,
			     uint64_t *ret_size)
{
	*ret_media = json_object_get_string(desc, "mediaType");
	*ret_digest = json_object_get_string(desc, "digest");
	if (!*ret_digest || json_object_get_u64(desc, "size", ret_size) < 0)
		return -EINVAL;
	return 0;
}

void oci_image_free(struct oci_image *image)
{
	if (!image)
		return;
	free(image->tag);
	json_free(image->index);
	json_free(image->manifest);
	json_free(image->config);
	free(image);
}

static const char *descriptor_tag(const struct json *desc)
{
	return json_object_get_string(json_object_get_type(desc, "annotations", JSON_OBJECT), OCI_REF_NAME);
}

static int find_descriptor(struct oci_layout *layout, const struct json *manifests, const char *tag,
			   size_t *ret_pos, struct bake_error *err)
{
	struct json_buf tags = { 0 };

	if (!tag) {
		if (manifests->count == 1) {
			*ret_pos = 0;
			return 0;
		}
		if (!manifests->count)
			return bake_fail_why(err, -ENOENT, "%s: holds no image; make one with 'snapbake init'",
					     layout->path);
		return bake_fail_why(err, -EINVAL, "%s: holds %zu images; name one as %s:TAG", layout->path,
				     manifests->count, layout->path);
	}
	for (size_t i = 0; i < manifests->count; i++) {
		const char *t = descriptor_tag(manifests->items[i]);

		if (t && !strcmp(t, tag)) {
			*ret_pos = i;
			return 0;
		}
	}
	for (size_t i = 0; i < manifests->count; i++) {
		const char *t = descriptor_tag(manifests->items[i]);

		if (t && (json_buf_append(&tags, tags.len ? ", " : "", tags.len ? 2 : 0) < 0 ||
			  json_buf_append(&tags, t, strlen(t)) < 0))
			break;
	}
	bake_fail_why(err, -ENOENT, "%s: no image tagged '%s' (tags here: %s)", layout->path, tag,
		      tags.len ? tags.data : "none");
	json_buf_free(&tags);
	return -ENOENT;
}

int oci_image_load(struct oci_layout *layout, const char *tag, struct oci_image **ret_image, struct bake_error *err)
{
	struct oci_image *img = calloc(1, sizeof(*img));
	const struct json *manifests, *desc, *cfg_desc;
	const char *media, *digest, *mt;
	char *data = NULL;
	size_t len;
	int r;

	if (!img)
		return bake_fail(err, -ENOMEM, "%s", layout->path);
	if (tag && !(img->tag = strdup(tag))) {
		r = bake_fail(err, -ENOMEM, "%s", layout->path);
		goto fail;
	}
	r = read_small(layout->dirfd, "index.json", OCI_MAX_DOCUMENT, &data, &len);
	if (r < 0) {
		r = bake_fail(err, r, "%s/index.json", layout->path);
		goto fail;
	}
	{
		char label[PATH_MAX + 16];

		snprintf(label, sizeof(label), "%s/index.json", layout->path);
		if ((r = parse_document(data, len, label, &img->index, err)) < 0)
			goto fail;
	}
	manifests = json_object_get_type(img->index, "manifests", JSON_ARRAY);
	if (!manifests) {
		r = bake_fail_why(err, -EINVAL, "%s/index.json: no manifests list", layout->path);
		goto fail;
	}
	if ((r = find_descriptor(layout, manifests, tag, &img->index_pos, err)) < 0)
		goto fail;
	desc = manifests->items[img->index_pos];
	if (!tag && descriptor_tag(desc) && !(img->tag = strdup(descriptor_tag(desc)))) {
		r = bake_fail(err, -ENOMEM, "%s", layout->path);
		goto fail;
	}
	if (desc->type != JSON_OBJECT || descriptor_fields(desc, &media, &digest, &img->manifest_size) < 0) {
		r = bake_fail_why(err, -EINVAL, "%s/index.json: a manifest descriptor lacks digest or size", layout->path);
		goto fail;
	}
	if (media && strcmp(media, OCI_MEDIA_MANIFEST)) {
		r = bake_fail_why(err, -EOPNOTSUPP,
				  "%s: the image is a %s, not a single OCI image manifest; copy one platform out "
				  "(e.g. skopeo copy) and bake into that",
				  layout->path, media);
		goto fail;
	}
	snprintf(img->manifest_digest, sizeof(img->manifest_digest), "%s", digest);
	if ((r = read_blob_json(layout, digest, img->manifest_size, "manifest", &img->manifest, err)) < 0)
		goto fail;
	mt = json_object_get_string(img->manifest, "mediaType");
	if (mt && strcmp(mt, OCI_MEDIA_MANIFEST)) {
		r = bake_fail_why(err, -EOPNOTSUPP,
				  "%s: manifest type %s is not an OCI image manifest; convert it with "
				  "'skopeo copy --format oci'", layout->path, mt);
		goto fail;
	}
	cfg_desc = json_object_get_type(img->manifest, "config", JSON_OBJECT);
	if (!cfg_desc || descriptor_fields(cfg_desc, &media, &digest, &img->config_size) < 0 ||
	    !json_object_get_type(img->manifest, "layers", JSON_ARRAY)) {
		r = bake_fail_why(err, -EINVAL, "%s: manifest %s lacks a config descriptor or a layers list",
				  layout->path, img->manifest_digest);
		goto fail;
	}
	if (media && strcmp(media, OCI_MEDIA_CONFIG)) {
		r = bake_fail_why(err, -EOPNOTSUPP, "%s: config type %s is not an OCI image config", layout->path, media);
		goto fail;
	}
	snprintf(img->config_digest, sizeof(img->config_digest), "%s", digest);
	if ((r = read_blob_json(layout, digest, img->config_size, "config", &img->config, err)) < 0)
		goto fail;
	free(data);
	*ret_image = img;
	return 0;
fail:
	free(data);
	oci_image_free(img);
	return r;
}

const struct json *oci_image_layer_history(const struct oci_image *image, size_t i)
{
	const struct json *history = json_object_get_type(image->config, "history", JSON_ARRAY);

	for (size_t k = 0; history && k < history->count; k++) {
		const struct json *h = history->items[k];
		const struct json *empty = json_object_get_type(h, "empty_layer", JSON_BOOL);

		if (empty && empty->boolean)
			continue;
		if (!i--)
			return h;
	}
	return NULL;
}

static struct json *descriptor(const char *media_type, const char *digest, uint64_t size)
{
	struct json *d = json_new(JSON_OBJECT);

	if (!d)
		return NULL;
	if (json_object_set(d, "mediaType", json_new_string(media_type)) < 0 ||
	    json_object_set(d, "digest", json_new_string(digest)) < 0 ||
	    json_object_set(d, "size", json_new_u64(size)) < 0) {
		json_free(d);
		return NULL;
	}
	return d;
}

int oci_image_add_layer(struct oci_image *image, struct oci_new_layer *layer, struct bake_error *err)
{
	struct json *layers = json_object_get_type(image->manifest, "layers", JSON_ARRAY);
	struct json *rootfs = json_object_get_type(image->config, "rootfs", JSON_OBJECT);
	struct json *diff_ids = json_object_get_type(rootfs, "diff_ids", JSON_ARRAY);
	struct json *history = json_object_get_type(image->config, "history", JSON_ARRAY);
	struct json *desc, *entry;
	struct json *annotations = layer->annotations;

	layer->annotations = NULL;
	if (!diff_ids || diff_ids->count != layers->count) {
		json_free(annotations);
		return bake_fail_why(err, -EINVAL, "config %s: rootfs.diff_ids does not list one entry per layer; "
				     "the image is damaged", image->config_digest);
	}
	desc = descriptor(layer->media_type, layer->digest, layer->size);
	if (!desc || (annotations && json_object_set(desc, "annotations", annotations) < 0)) {
		if (!desc)
			json_free(annotations);
		json_free(desc);
		return bake_fail(err, -ENOMEM, "manifest");
	}
	if (json_array_push(layers, desc) < 0 || json_array_push(diff_ids, json_new_string(layer->diff_id)) < 0)
		return bake_fail(err, -ENOMEM, "manifest");
	/* History must keep one entry per layer: start it only on an image
	 * that had none and no layers either. */
	if (!history && !json_object_get(image->config, "history") && layers->count == 1) {
		if (json_object_set(image->config, "history", json_new(JSON_ARRAY)) < 0)
			return bake_fail(err, -ENOMEM, "config");
		history = json_object_get_type(image->config, "history", JSON_ARRAY);
	}
	if (history) {
		entry = json_new(JSON_OBJECT);
		if (!entry || json_object_set(entry, "created", json_new_string(layer->created)) < 0 ||
		    json_object_set(entry, "created_by", json_new_string(layer->created_by)) < 0 ||
		    json_object_set(entry, "comment", json_new_string("snapbake")) < 0 ||
		    json_array_push(history, entry) < 0)
			return bake_fail(err, -ENOMEM, "config");
	}
	return 0;
}

static int save_json_blob(struct oci_layout *layout, const struct json *doc, char ret_digest[DIGEST_STRING_LEN],
			  uint64_t *ret_size, struct bake_error *err)
{
	struct json_buf buf = { 0 };
	bool created = false;
	int r = json_dump(doc, false, &buf);

	if (r < 0)
		return bake_fail(err, r, "JSON");
	r = blob_write_buffer(layout->blobs_fd, layout->blobs_path, buf.data, buf.len, ret_digest, &created, err);
	if (r >= 0 && created)
		oci_layout_note_created(layout, ret_digest);
	*ret_size = buf.len;
	json_buf_free(&buf);
	return r;
}

int oci_image_save(struct oci_layout *layout, struct oci_image *image, struct bake_error *err)
{
	struct json *manifests = json_object_get_type(image->index, "manifests", JSON_ARRAY);
	struct json *desc = manifests->items[image->index_pos];
	struct json *cfg_desc = json_object_get_type(image->manifest, "config", JSON_OBJECT);
	struct json_buf buf = { 0 };
	int r;

	if ((r = save_json_blob(layout, image->config, image->config_digest, &image->config_size, err)) < 0)
		return r;
	if (json_object_set(cfg_desc, "digest", json_new_string(image->config_digest)) < 0 ||
	    json_object_set(cfg_desc, "size", json_new_u64(image->config_size)) < 0)
		return bake_fail(err, -ENOMEM, "manifest");
	if ((r = save_json_blob(layout, image->manifest, image->manifest_digest, &image->manifest_size, err)) < 0)
		return r;
	if (json_object_set(desc, "mediaType", json_new_string(OCI_MEDIA_MANIFEST)) < 0 ||
	    json_object_set(desc, "digest", json_new_string(image->manifest_digest)) < 0 ||
	    json_object_set(desc, "size", json_new_u64(image->manifest_size)) < 0)
		return bake_fail(err, -ENOMEM, "index.json");
	if ((r = json_dump(image->index, false, &buf)) < 0)
		return bake_fail(err, r, "index.json");
	r = replace_file(layout->dirfd, layout->path, "index.json", buf.data, buf.len, err);
	json_buf_free(&buf);
	if (r >= 0)
		layout->ncreated = 0; /* published: nothing to roll back any more */
	return r;
}

/* ---- init ----------------------------------------------------------------- */

static int write_new_file(int dirfd, const char *dir, const char *name, const char *text, struct bake_error *err)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	int r;

	if (fd < 0)
		return bake_fail(err, -errno, "%s/%s", dir, name);
	r = write_all(fd, text, strlen(text));
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	close(fd);
	if (r < 0) {
		unlinkat(dirfd, name, 0);
		return bake_fail(err, r, "%s/%s", dir, name);
	}
	return 0;
}

static int dir_is_empty(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) {
			empty = 0;
			break;
		}
	closedir(d);
	return empty;
}

static struct json *empty_config(const char *arch, const char *created)
{
	struct json *cfg = json_new(JSON_OBJECT), *rootfs = json_new(JSON_OBJECT);

	if (!cfg || !rootfs ||
	    json_object_set(rootfs, "type", json_new_string("layers")) < 0 ||
	    json_object_set(rootfs, "diff_ids", json_new(JSON_ARRAY)) < 0 ||
	    json_object_set(cfg, "created", json_new_string(created)) < 0 ||
	    json_object_set(cfg, "architecture", json_new_string(arch)) < 0 ||
	    json_object_set(cfg, "os", json_new_string("linux")) < 0 ||
	    json_object_set(cfg, "config", json_new(JSON_OBJECT)) < 0) {
		json_free(cfg);
		json_free(rootfs);
		return NULL;
	}
	if (json_object_set(cfg, "rootfs", rootfs) < 0 || json_object_set(cfg, "history", json_new(JSON_ARRAY)) < 0) {
		json_free(cfg);
		return NULL;
	}
	return cfg;
}

int oci_layout_init(const char *dir, const char *tag, const char *arch, const char *created,
		    char ret_manifest_digest[DIGEST_STRING_LEN], struct bake_error *err)
{
	struct oci_layout *layout = layout_new(dir);
	struct oci_image img = { 0 };
	struct json *manifest = NULL, *index = NULL, *desc = NULL, *annotations = NULL, *platform = NULL;
	bool made_dir = false, made_blobs = false, made_sha = false, made_marker = false;
	int r;

	if (!layout)
		return bake_fail(err, -ENOMEM, "%s", dir);
	if (mkdir(dir, 0755) == 0)
		made_dir = true;
	else if (errno != EEXIST) {
		r = bake_fail(err, -errno, "%s", dir);
		goto fail;
	}
	layout->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layout->dirfd < 0) {
		r = bake_fail(err, -errno, "%s", dir);
		goto fail;
	}
	r = dir_is_empty(layout->dirfd);
	if (r <= 0) {
		r = r < 0 ? bake_fail(err, r, "%s", dir)
			  : bake_fail_why(err, -EEXIST, "%s: exists and is not empty; init makes a new image layout "
					  "(use 'snapbake add' to add to an existing one)", dir);
		goto fail;
	}
	if (flock(layout->dirfd, LOCK_EX | LOCK_NB) < 0) {
		r = bake_fail_why(err, -EBUSY, "%s: another snapbake is writing here", dir);
		goto fail;
	}
	if (mkdirat(layout->dirfd, "blobs", 0755) < 0) {
		r = bake_fail(err, -errno, "%s/blobs", dir);
		goto fail;
	}
	made_blobs = true;
	if (mkdirat(layout->dirfd, "blobs/sha256", 0755) < 0) {
		r = bake_fail(err, -errno, "%s", layout->blobs_path);
		goto fail;
	}
	made_sha = true;
	layout->blobs_fd = openat(layout->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (layout->blobs_fd < 0) {
		r = bake_fail(err, -errno, "%s", layout->blobs_path);
		goto fail;
	}

	img.config = empty_config(arch, created);
	manifest = json_new(JSON_OBJECT);
	index = json_new(JSON_OBJECT);
	desc = json_new(JSON_OBJECT);
	annotations = json_new(JSON_OBJECT);
	platform = json_new(JSON_OBJECT);
	if (!img.config || !manifest || !index || !desc || !annotations || !platform ||
	    json_object_set(manifest, "schemaVersion", json_new_u64(2)) < 0 ||
	    json_object_set(manifest, "mediaType", json_new_string(OCI_MEDIA_MANIFEST)) < 0 ||
	    json_object_set(manifest, "config", descriptor(OCI_MEDIA_CONFIG, DIGEST_PREFIX, 0)) < 0 ||
	    json_object_set(manifest, "layers", json_new(JSON_ARRAY)) < 0 ||
	    json_object_set(annotations, OCI_REF_NAME, json_new_string(tag)) < 0 ||
	    json_object_set(platform, "architecture", json_new_string(arch)) < 0 ||
	    json_object_set(platform, "os", json_new_string("linux")) < 0 ||
	    json_object_set(desc, "mediaType", json_new_string(OCI_MEDIA_MANIFEST)) < 0 ||
	    json_object_set(desc, "digest", json_new_string(DIGEST_PREFIX)) < 0 ||
	    json_object_set(desc, "size", json_new_u64(0)) < 0) {
		json_free(annotations);
		json_free(platform);
		json_free(desc);
		desc = NULL;
		r = bake_fail(err, -ENOMEM, "%s", dir);
		goto fail;
	}
	/* Ownership moves into the documents from here on. */
	if (json_object_set(desc, "annotations", annotations) < 0 || json_object_set(desc, "platform", platform) < 0 ||
	    json_object_set(index, "schemaVersion", json_new_u64(2)) < 0 ||
	    json_object_set(index, "mediaType", json_new_string(OCI_MEDIA_INDEX)) < 0 ||
	    json_object_set(index, "manifests", json_new(JSON_ARRAY)) < 0 ||
	    json_array_push(json_object_get(index, "manifests"), desc) < 0) {
		r = bake_fail(err, -ENOMEM, "%s", dir);
		goto fail;
	}
	img.manifest = manifest;
	img.index = index;
	manifest = index = NULL;
	if ((r = write_new_file(layout->dirfd, dir, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err)) < 0)
		goto fail;
	made_marker = true;
	if ((r = oci_image_save(layout, &img, err)) < 0)
		goto fail;
	memcpy(ret_manifest_digest, img.manifest_digest, DIGEST_STRING_LEN);
	json_free(img.config);
	json_free(img.manifest);
	json_free(img.index);
	oci_layout_close(layout);
	return 0;
fail:
	/* Leave the directory as it was found. */
	if (layout->blobs_fd >= 0)
		oci_layout_rollback(layout);
	if (made_marker)
		unlinkat(layout->dirfd, "oci-layout", 0);
	if (made_sha)
		unlinkat(layout->dirfd, "blobs/sha256", AT_REMOVEDIR);
	if (made_blobs)
		unlinkat(layout->dirfd, "blobs", AT_REMOVEDIR);
	if (made_dir)
		rmdir(dir);
	json_free(img.config);
	json_free(img.manifest);
	json_free(img.index);
	json_free(manifest);
	json_free(index);
	oci_layout_close(layout);
	return r;
}
