/* oci.h — an OCI image layout on disk (oci-layout, index.json, blobs/sha256):
 * open and check one, read an image out of it, add a layer, publish the result.
 * index.json is only ever replaced whole, after every blob it names is written. */
#ifndef SNAPBAKE_OCI_H
#define SNAPBAKE_OCI_H

#include <stdbool.h>
#include <stdint.h>

#include "digest.h"
#include "error.h"
#include "json.h"

#define OCI_MEDIA_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MEDIA_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MEDIA_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_REF_NAME "org.opencontainers.image.ref.name"
#define OCI_DEFAULT_TAG "latest"

/* Annotations snapbake puts on the layers it bakes, so `inspect` can say
 * what each holds without reading it. */
#define BAKE_ANNOTATION_KIND "org.snapctl.bake.kind"
#define BAKE_ANNOTATION_DEST "org.snapctl.bake.dest"
#define BAKE_ANNOTATION_FILES "org.snapctl.bake.files"
#define BAKE_ANNOTATION_BYTES "org.snapctl.bake.bytes"
#define BAKE_ANNOTATION_ALIGN "org.snapctl.bake.align"

#define OCI_MAX_CREATED 4

struct oci_layout {
	char *path;
	char *blobs_path; /* path/blobs/sha256, for messages */
	int dirfd;
	int blobs_fd;
	/* Blobs this run added, removed again by oci_layout_rollback(). */
	char created[OCI_MAX_CREATED][DIGEST_STRING_LEN];
	int ncreated;
};

struct oci_image {
	char *tag;	      /* NULL when the layout's only image was taken untagged */
	struct json *index;   /* the whole index.json */
	size_t index_pos;     /* the image's descriptor in index.manifests */
	struct json *manifest;
	struct json *config;
	char manifest_digest[DIGEST_STRING_LEN];
	uint64_t manifest_size;
	char config_digest[DIGEST_STRING_LEN];
	uint64_t config_size;
};

struct oci_new_layer {
	const char *media_type;
	const char *digest, *diff_id;
	uint64_t size;
	const char *created;	/* RFC 3339 time for the history entry */
	const char *created_by; /* what was baked, in words */
	struct json *annotations; /* taken over (may be NULL) */
};

/* Splits "DIR[:TAG]": a final ":NAME" without '/' is the tag. */
int oci_parse_reference(const char *ref, char **ret_dir, char **ret_tag);

/* Makes DIR (absent or empty) an image layout holding one empty image for
 * linux/ARCH, tagged TAG. */
int oci_layout_init(const char *dir, const char *tag, const char *arch, const char *created,
		    char ret_manifest_digest[DIGEST_STRING_LEN], struct bake_error *err);

/* Opens an existing layout; for_writing takes an exclusive lock on it, so two
 * bakes into one image cannot lose each other's layers. */
int oci_layout_open(const char *dir, bool for_writing, struct oci_layout **ret_layout, struct bake_error *err);
void oci_layout_close(struct oci_layout *layout);
void oci_layout_note_created(struct oci_layout *layout, const char *digest);
/* Removes the blobs noted as created: the layout is as it was. */
void oci_layout_rollback(struct oci_layout *layout);

/* tag NULL: the layout must hold exactly one image. Checks every document's
 * size and digest before trusting it. */
int oci_image_load(struct oci_layout *layout, const char *tag, struct oci_image **ret_image, struct bake_error *err);
void oci_image_free(struct oci_image *image);

int oci_image_add_layer(struct oci_image *image, struct oci_new_layer *layer, struct bake_error *err);
/* Writes config and manifest blobs, then replaces index.json atomically. */
int oci_image_save(struct oci_layout *layout, struct oci_image *image, struct bake_error *err);

/* The history entry that describes layer i (empty_layer entries skipped), or NULL. */
const struct json *oci_image_layer_history(const struct oci_image *image, size_t i);

#endif
