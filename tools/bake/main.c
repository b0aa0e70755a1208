/* main.c — snapbake's command line: init, add, inspect; option parsing,
 * progress, summaries, and the one place errors are printed. No OCI, tar or
 * compression logic lives here: it parses, calls the modules, prints. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "compress.h"
#include "error.h"
#include "inputs.h"
#include "json.h"
#include "layer.h"
#include "oci.h"

#define SNAPBAKE_VERSION "1.0.0"
/* The largest mtime a ustar header's 11 octal digits hold (year 2242). */
#define MAX_EPOCH 077777777777ll
#define MAX_ALIGN (2u << 20)

static const char usage_text[] =
	"usage: snapbake COMMAND [OPTIONS] [ARGS]\n"
	"\n"
	"commands:\n"
	"  init OCI_DIR[:TAG] [--arch ARCH]\n"
	"                     make an empty OCI image layout for linux/ARCH (default amd64, tag latest)\n"
	"  add OCI_DIR[:TAG] --dest /models/NAME PATH...\n"
	"                     append a layer holding PATH... under /models/NAME: a file goes to\n"
	"                     /models/NAME/its-name, a directory's contents go under /models/NAME\n"
	"  add OCI_DIR[:TAG] --snapshot DIR [--dest /snapshots/NAME]\n"
	"                     append a layer holding a snapctl snapshot directory\n"
	"  inspect OCI_DIR[:TAG]\n"
	"                     list an image's layers and what each holds\n"
	"\n"
	"add options:\n"
	"  --compress zstd|gzip|none  layer compression (default zstd)\n"
	"  --level N                  compression level (zstd 1-19, default 3; gzip 1-9, default 1)\n"
	"  --threads N                zstd worker threads (default: online CPUs, at most 8)\n"
	"  --align N                  start file data at N-byte offsets in the uncompressed tar\n"
	"                             (a power of two, 512 to 2097152; 4096 lets a loader mmap it)\n"
	"  --dereference              bake the files symlinks point to, wherever they are\n"
	"  -q, --quiet                no progress on the terminal\n"
	"\n"
	"  --json                     machine-readable output on stdout\n"
	"  -h, --help                 this text\n"
	"  --version                  the version\n"
	"\n"
	"Times in the image come from SOURCE_DATE_EPOCH (default 0), so the same\n"
	"inputs always give the same digests.\n";

/* Option parsing is the one place with state shared across the CLI. */
struct options {
	bool json;
	bool quiet;
	bool dereference;
	const char *dest;
	const char *snapshot;
	const char *arch;
	const struct compressor_ops *compression;
	int level; /* -1: the backend's default */
	int threads;
	uint32_t align;
	int64_t epoch;
};

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
	interrupted = sig;
}

static void print_json(const struct json *doc)
{
	struct json_buf buf = { 0 };

	if (json_dump(doc, true, &buf) >= 0)
		printf("%s\n", buf.data);
	json_buf_free(&buf);
}

/* Every failure ends up here, once. */
static int fail(const struct options *o, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(const struct options *o, int code, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (o->json) {
		struct json *doc = json_new(JSON_OBJECT);

		if (doc && json_object_set(doc, "error", json_new_string(msg)) >= 0)
			print_json(doc);
		json_free(doc);
	} else {
		/* One line, usage errors included: scripts grep it, people read it. */
		fprintf(stderr, "snapbake: %s%s\n", msg, code == 2 ? " (see snapbake --help)" : "");
	}
	return code;
}

static int fail_error(const struct options *o, const struct bake_error *err, int r)
{
	if (r == -EINTR || interrupted)
		return fail(o, 130, "%s", err->text[0] ? err->text : "interrupted; the image was left as it was");
	if (err->text[0])
		return fail(o, 1, "%s", err->text);
	return fail(o, 1, "%s (a bug: this error has no better message; please report it)", strerror(-r));
}

static const char *human(uint64_t n, char buf[32])
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)n;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 32, "%" PRIu64 " B", n);
	else
		snprintf(buf, 32, "%.2f %s", v, units[u]);
	return buf;
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void rfc3339(int64_t epoch, char buf[32])
{
	time_t t = (time_t)epoch;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- progress ---------------------------------------------------------- */

struct progress {
	double start, last;
	bool shown;
};

static void progress_update(void *arg, uint64_t done, uint64_t total)
{
	struct progress *p = arg;
	double now = now_seconds();
	double rate;
	char a[32], b[32];

	if (now - p->last < 0.2 && done != total)
		return;
	p->last = now;
	rate = now > p->start ? (double)done / (now - p->start) / 1e6 : 0;
	fprintf(stderr, "\r\033[Ksnapbake: %s of %s  %3.0f%%  %.0f MB/s", human(done, a), human(total, b),
		total ? 100.0 * (double)done / (double)total : 100.0, rate);
	if (rate > 0 && total > done)
		fprintf(stderr, "  %.0fs left", (double)(total - done) / 1e6 / rate);
	fflush(stderr);
	p->shown = true;
}

static void progress_end(struct progress *p)
{
	if (p->shown)
		fputs("\r\033[K", stderr);
}

/* ---- options ----------------------------------------------------------- */

enum { OPT_COMPRESS = 256, OPT_LEVEL, OPT_THREADS, OPT_ALIGN, OPT_DEST, OPT_SNAPSHOT, OPT_DEREF, OPT_ARCH,
       OPT_JSON, OPT_VERSION };

static const struct option long_options[] = {
	{ "compress", required_argument, NULL, OPT_COMPRESS },
	{ "level", required_argument, NULL, OPT_LEVEL },
	{ "threads", required_argument, NULL, OPT_THREADS },
	{ "align", required_argument, NULL, OPT_ALIGN },
	{ "dest", required_argument, NULL, OPT_DEST },
	{ "snapshot", required_argument, NULL, OPT_SNAPSHOT },
	{ "dereference", no_argument, NULL, OPT_DEREF },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ 0 },
};

static int parse_number(const char *s, long long min, long long max, long long *ret)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*ret = v;
	return 0;
}

/* Parses argv (options may come before or after the operands); returns 0,
 * or the exit code for --help/--version (-1) and usage errors (2). */
static int parse_options(struct options *o, int argc, char **argv)
{
	const char *epoch = getenv("SOURCE_DATE_EPOCH");
	long long v;
	int c;

	*o = (struct options){ .compression = &compressor_zstd, .level = -1, .arch = "amd64" };
	v = sysconf(_SC_NPROCESSORS_ONLN);
	o->threads = v > 0 ? (int)v : 1;
	if (epoch && *epoch) {
		if (parse_number(epoch, 0, MAX_EPOCH, &v) < 0)
			return fail(o, 2, "SOURCE_DATE_EPOCH=%s: want seconds since 1970, 0 to %lld", epoch, MAX_EPOCH);
		o->epoch = v;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", long_options, NULL)) != -1) {
		switch (c) {
		case OPT_COMPRESS:
			o->compression = compressor_find(optarg);
			if (!o->compression)
				return fail(o, 2, "--compress %s: want zstd, gzip or none", optarg);
			break;
		case OPT_LEVEL:
			if (parse_number(optarg, 0, 1000, &v) < 0)
				return fail(o, 2, "--level %s: want a number (zstd 1-19, gzip 1-9)", optarg);
			o->level = (int)v;
			break;
		case OPT_THREADS:
			if (parse_number(optarg, 1, 256, &v) < 0)
				return fail(o, 2, "--threads %s: want 1 to 256", optarg);
			o->threads = (int)v;
			break;
		case OPT_ALIGN:
			if (parse_number(optarg, 0, MAX_ALIGN, &v) < 0 || (v && (v < 512 || (v & (v - 1)))))
				return fail(o, 2, "--align %s: want 0 or a power of two from 512 to %u", optarg, MAX_ALIGN);
			o->align = (uint32_t)v;
			break;
		case OPT_DEST:
			o->dest = optarg;
			break;
		case OPT_SNAPSHOT:
			o->snapshot = optarg;
			break;
		case OPT_DEREF:
			o->dereference = true;
			break;
		case OPT_ARCH:
			o->arch = optarg;
			break;
		case OPT_JSON:
			o->json = true;
			break;
		case 'q':
			o->quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case OPT_VERSION:
			printf("snapbake %s\n", SNAPBAKE_VERSION);
			return -1;
		default:
			return fail(o, 2, "%s: unknown option or missing value", argv[optind - 1]);
		}
	}
	if (o->level >= 0 &&
	    (o->level < o->compression->min_level || o->level > o->compression->max_level))
		return fail(o, 2, "--level %d: %s takes %d to %d", o->level, o->compression->name,
			    o->compression->min_level, o->compression->max_level);
	return 0;
}

/* ---- init -------------------------------------------------------------- */

static int cmd_init(struct options *o, int argc, char **argv)
{
	struct bake_error err = { 0 };
	char digest[DIGEST_STRING_LEN], created[32];
	char *dir = NULL, *tag = NULL;
	int r;

	if (argc != 1)
		return fail(o, 2, "init: want exactly one OCI_DIR[:TAG]");
	if (oci_parse_reference(argv[0], &dir, &tag) < 0)
		return fail(o, 1, "%s", strerror(ENOMEM));
	rfc3339(o->epoch, created);
	r = oci_layout_init(dir, tag ? tag : OCI_DEFAULT_TAG, o->arch, created, digest, &err);
	if (r < 0) {
		r = fail_error(o, &err, r);
	} else if (o->json) {
		struct json *doc = json_new(JSON_OBJECT);

		if (doc && json_object_set(doc, "image", json_new_string(dir)) >= 0 &&
		    json_object_set(doc, "tag", json_new_string(tag ? tag : OCI_DEFAULT_TAG)) >= 0 &&
		    json_object_set(doc, "manifest", json_new_string(digest)) >= 0)
			print_json(doc);
		json_free(doc);
	} else {
		printf("initialised %s:%s (linux/%s, manifest %s)\n", dir, tag ? tag : OCI_DEFAULT_TAG, o->arch, digest);
	}
	free(dir);
	free(tag);
	return r < 0 ? 1 : r;
}

/* ---- add --------------------------------------------------------------- */

static struct json *annotation_object(const struct options *o, const char *kind, const char *dest,
				      const struct input_list *inputs)
{
	struct json *a = json_new(JSON_OBJECT);
	char num[24];

	if (!a)
		return NULL;
	json_object_set(a, BAKE_ANNOTATION_KIND, json_new_string(kind));
	json_object_set(a, BAKE_ANNOTATION_DEST, json_new_string(dest));
	snprintf(num, sizeof(num), "%" PRIu64, inputs->files);
	json_object_set(a, BAKE_ANNOTATION_FILES, json_new_string(num));
	snprintf(num, sizeof(num), "%" PRIu64, inputs->bytes);
	json_object_set(a, BAKE_ANNOTATION_BYTES, json_new_string(num));
	if (o->align) {
		snprintf(num, sizeof(num), "%" PRIu32, o->align);
		json_object_set(a, BAKE_ANNOTATION_ALIGN, json_new_string(num));
	}
	return a;
}

static void print_add_summary(const struct options *o, const char *dir, const struct oci_image *img,
			      const struct layer_result *res, const struct input_list *inputs, const char *kind,
			      const char *dest, size_t layer_index, double seconds)
{
	double ratio = res->size ? (double)res->tar_size / (double)res->size : 0;
	double mbps = seconds > 0 ? (double)inputs->bytes / seconds / 1e6 : 0;
	char a[32], b[32], c[32];

	if (o->json) {
		struct json *doc = json_new(JSON_OBJECT), *layer = json_new(JSON_OBJECT);
		struct json *man = json_new(JSON_OBJECT), *cfg = json_new(JSON_OBJECT);

		if (!doc || !layer || !man || !cfg) {
			json_free(doc);
			json_free(layer);
			json_free(man);
			json_free(cfg);
			return;
		}
		json_object_set(man, "digest", json_new_string(img->manifest_digest));
		json_object_set(man, "size", json_new_u64(img->manifest_size));
		json_object_set(cfg, "digest", json_new_string(img->config_digest));
		json_object_set(cfg, "size", json_new_u64(img->config_size));
		json_object_set(layer, "index", json_new_u64(layer_index));
		json_object_set(layer, "kind", json_new_string(kind));
		json_object_set(layer, "dest", json_new_string(dest));
		json_object_set(layer, "media_type", json_new_string(o->compression->media_type));
		json_object_set(layer, "compression", json_new_string(o->compression->name));
		json_object_set(layer, "digest", json_new_string(res->digest));
		json_object_set(layer, "diff_id", json_new_string(res->diff_id));
		json_object_set(layer, "size", json_new_u64(res->size));
		json_object_set(layer, "uncompressed_size", json_new_u64(res->tar_size));
		json_object_set(layer, "files", json_new_u64(inputs->files));
		json_object_set(layer, "bytes", json_new_u64(inputs->bytes));
		json_object_set(layer, "align", json_new_u64(o->align));
		json_object_set(doc, "image", json_new_string(dir));
		json_object_set(doc, "tag", img->tag ? json_new_string(img->tag) : json_new(JSON_NULL));
		json_object_set(doc, "manifest", man);
		json_object_set(doc, "config", cfg);
		json_object_set(doc, "layer", layer);
		json_object_set(doc, "ratio", json_new_double(ratio));
		json_object_set(doc, "seconds", json_new_double(seconds));
		json_object_set(doc, "mb_per_s", json_new_double(mbps));
		print_json(doc);
		json_free(doc);
		return;
	}
	printf("baked %" PRIu64 " file%s (%s) into %s%s%s as layer %zu at %s\n", inputs->files,
	       inputs->files == 1 ? "" : "s", human(inputs->bytes, a), dir, img->tag ? ":" : "",
	       img->tag ? img->tag : "", layer_index, dest);
	printf("  layer     %s  %s %s, %s uncompressed, ratio %.2f\n", res->digest, o->compression->name,
	       human(res->size, b), human(res->tar_size, c), ratio);
	printf("  diff_id   %s\n", res->diff_id);
	printf("  manifest  %s\n", img->manifest_digest);
	printf("  config    %s\n", img->config_digest);
	printf("  time      %.2f s, %.0f MB/s\n", seconds, mbps);
}

static int cmd_add(struct options *o, int argc, char **argv)
{
	struct bake_error err = { 0 };
	struct oci_layout *layout = NULL;
	struct oci_image *img = NULL;
	struct input_list inputs = { 0 };
	struct layer_result res = { 0 };
	struct progress progress = { 0 };
	struct json *layers;
	char *dir = NULL, *tag = NULL, *dest = NULL, *created_by = NULL;
	char created[32], sizes[32], align_text[32] = "";
	const char *kind = o->snapshot ? "snapshot" : "weights";
	double start = now_seconds();
	size_t layer_index;
	int r, code = 0;

	if (argc < 1)
		return fail(o, 2, "add: want OCI_DIR[:TAG] and what to bake");
	if (o->snapshot && argc > 1)
		return fail(o, 2, "add --snapshot takes no PATH: a snapshot is baked as a layer of its own");
	if (!o->snapshot && argc < 2)
		return fail(o, 2, "add: no PATH to bake (or --snapshot DIR)");
	if (!o->snapshot && !o->dest)
		return fail(o, 2, "add: --dest is required, e.g. --dest /models/NAME");
	if (o->snapshot) {
		struct stat st;
		char *real;
		const char *base;

		if (stat(o->snapshot, &st) < 0)
			return fail(o, 1, "%s: %s", o->snapshot, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			return fail(o, 1, "%s: a snapctl snapshot is a directory", o->snapshot);
		real = realpath(o->snapshot, NULL);
		if (!real)
			return fail(o, 1, "%s: %s", o->snapshot, strerror(errno));
		base = strrchr(real, '/');
		if (o->dest)
			dest = strdup(o->dest);
		else if (asprintf(&dest, "/snapshots/%s", base && base[1] ? base + 1 : "snapshot") < 0)
			dest = NULL;
		if (!dest) {
			free(real);
			return fail(o, 1, "%s", strerror(ENOMEM));
		}
		free(real);
	} else if (!(dest = strdup(o->dest))) {
		return fail(o, 1, "%s", strerror(ENOMEM));
	}
	if (oci_parse_reference(argv[0], &dir, &tag) < 0) {
		code = fail(o, 1, "%s", strerror(ENOMEM));
		goto out;
	}

	/* Everything that can be refused is refused before a byte is written. */
	if ((r = oci_layout_open(dir, true, &layout, &err)) < 0 || (r = oci_image_load(layout, tag, &img, &err)) < 0)
		goto failed;
	{
		struct input_opts io = { .dest = dest, .kind = o->snapshot ? INPUT_SNAPSHOT : INPUT_WEIGHTS,
					 .dereference = o->dereference };
		char *snap_paths[] = { (char *)o->snapshot };

		r = o->snapshot ? inputs_collect(&io, snap_paths, 1, &inputs, &err)
				: inputs_collect(&io, argv + 1, (size_t)argc - 1, &inputs, &err);
		if (r < 0)
			goto failed;
	}
	if (o->snapshot && !inputs.files) {
		r = bake_fail_why(&err, -EINVAL, "%s: holds no files; not a snapctl snapshot", o->snapshot);
		goto failed;
	}

	{
		struct layer_opts lo = {
			.compression = o->compression,
			.level = o->level >= 0 ? o->level : o->compression->default_level,
			.threads = o->threads,
			.align = o->align,
			.mtime = o->epoch,
			.progress = (!o->quiet && isatty(STDERR_FILENO)) ? progress_update : NULL,
			.progress_arg = &progress,
			.cancel = &interrupted,
		};

		progress.start = progress.last = now_seconds();
		r = layer_write(layout->blobs_fd, layout->blobs_path, &inputs, &lo, &res, &err);
		progress_end(&progress);
		if (r < 0)
			goto failed;
	}
	if (res.created)
		oci_layout_note_created(layout, res.digest);

	rfc3339(o->epoch, created);
	if (o->align)
		snprintf(align_text, sizeof(align_text), ", aligned %" PRIu32, o->align);
	if (asprintf(&created_by, "snapbake add --dest %s: %s, %" PRIu64 " file%s, %s (%s%s)", dest, kind,
		     inputs.files, inputs.files == 1 ? "" : "s", human(inputs.bytes, sizes), o->compression->name,
		     align_text) < 0) {
		created_by = NULL;
		r = bake_fail(&err, -ENOMEM, "history");
		goto failed;
	}
	{
		struct oci_new_layer nl = {
			.media_type = o->compression->media_type,
			.digest = res.digest,
			.diff_id = res.diff_id,
			.size = res.size,
			.created = created,
			.created_by = created_by,
			.annotations = annotation_object(o, kind, dest, &inputs),
		};

		if ((r = oci_image_add_layer(img, &nl, &err)) < 0)
			goto failed;
	}
	if (interrupted) {
		r = bake_fail_why(&err, -EINTR, "interrupted; the image was left as it was");
		goto failed;
	}
	if ((r = oci_image_save(layout, img, &err)) < 0)
		goto failed;
	layers = json_object_get_type(img->manifest, "layers", JSON_ARRAY);
	layer_index = layers ? layers->count - 1 : 0;
	print_add_summary(o, dir, img, &res, &inputs, kind, dest, layer_index, now_seconds() - start);
	goto out;

failed:
	if (layout)
		oci_layout_rollback(layout);
	code = fail_error(o, &err, r);
out:
	inputs_free(&inputs);
	oci_image_free(img);
	oci_layout_close(layout);
	free(created_by);
	free(dir);
	free(tag);
	free(dest);
	return code;
}

/* ---- inspect ----------------------------------------------------------- */

static const char *short_media(const char *media)
{
	const char *prefix = "application/vnd.oci.image.layer.v1.";
	const char *docker = "application/vnd.docker.image.rootfs.diff.";

	if (!media)
		return "?";
	if (!strncmp(media, prefix, strlen(prefix)))
		return media + strlen(prefix);
	if (!strncmp(media, docker, strlen(docker)))
		return media + strlen(docker);
	return media;
}

/* What a layer holds, in words: snapbake's annotations, else its history. */
static void describe_layer(const struct json *layer, const struct json *history, char *buf, size_t len)
{
	const struct json *ann = json_object_get_type(layer, "annotations", JSON_OBJECT);
	const char *kind = json_object_get_string(ann, BAKE_ANNOTATION_KIND);
	const char *dest = json_object_get_string(ann, BAKE_ANNOTATION_DEST);
	const char *files = json_object_get_string(ann, BAKE_ANNOTATION_FILES);
	const char *bytes = json_object_get_string(ann, BAKE_ANNOTATION_BYTES);
	const char *align = json_object_get_string(ann, BAKE_ANNOTATION_ALIGN);
	const char *by = json_object_get_string(history, "created_by");

	if (kind && dest) {
		char h[32] = "?";

		if (bytes)
			human(strtoull(bytes, NULL, 10), h);
		snprintf(buf, len, "%s at %s: %s file%s, %s%s%s", kind, dest, files ? files : "?",
			 files && !strcmp(files, "1") ? "" : "s", h, align ? ", aligned " : "", align ? align : "");
	} else if (by) {
		snprintf(buf, len, "%s", by);
	} else {
		snprintf(buf, len, "-");
	}
}

static struct json *copy_json(const struct json *v)
{
	struct json_buf buf = { 0 };
	struct json *out = NULL;

	if (v && json_dump(v, false, &buf) >= 0)
		json_parse(buf.data, buf.len, &out, NULL);
	json_buf_free(&buf);
	return out;
}

static int cmd_inspect(struct options *o, int argc, char **argv)
{
	struct bake_error err = { 0 };
	struct oci_layout *layout = NULL;
	struct oci_image *img = NULL;
	const struct json *layers;
	char *dir = NULL, *tag = NULL;
	const char *os, *arch;
	uint64_t total = 0;
	int r, code = 0;

	if (argc != 1)
		return fail(o, 2, "inspect: want exactly one OCI_DIR[:TAG]");
	if (oci_parse_reference(argv[0], &dir, &tag) < 0)
		return fail(o, 1, "%s", strerror(ENOMEM));
	if ((r = oci_layout_open(dir, false, &layout, &err)) < 0 || (r = oci_image_load(layout, tag, &img, &err)) < 0) {
		code = fail_error(o, &err, r);
		goto out;
	}
	layers = json_object_get_type(img->manifest, "layers", JSON_ARRAY);
	os = json_object_get_string(img->config, "os");
	arch = json_object_get_string(img->config, "architecture");
	for (size_t i = 0; i < layers->count; i++) {
		uint64_t size = 0;

		json_object_get_u64(layers->items[i], "size", &size);
		total += size;
	}
	if (o->json) {
		struct json *doc = json_new(JSON_OBJECT), *man = json_new(JSON_OBJECT), *cfg = json_new(JSON_OBJECT);
		struct json *list = json_new(JSON_ARRAY);
		const struct json *diff_ids = json_object_get_type(json_object_get(img->config, "rootfs"), "diff_ids",
								   JSON_ARRAY);

		if (!doc || !man || !cfg || !list) {
			json_free(doc);
			json_free(man);
			json_free(cfg);
			json_free(list);
			code = fail(o, 1, "%s", strerror(ENOMEM));
			goto out;
		}
		json_object_set(man, "digest", json_new_string(img->manifest_digest));
		json_object_set(man, "size", json_new_u64(img->manifest_size));
		json_object_set(cfg, "digest", json_new_string(img->config_digest));
		json_object_set(cfg, "size", json_new_u64(img->config_size));
		json_object_set(cfg, "os", os ? json_new_string(os) : json_new(JSON_NULL));
		json_object_set(cfg, "architecture", arch ? json_new_string(arch) : json_new(JSON_NULL));
		for (size_t i = 0; i < layers->count; i++) {
			const struct json *l = layers->items[i];
			const struct json *h = oci_image_layer_history(img, i);
			const struct json *ann = json_object_get_type(l, "annotations", JSON_OBJECT);
			const char *by = json_object_get_string(h, "created_by");
			const char *diff = diff_ids && i < diff_ids->count && diff_ids->items[i]->type == JSON_STRING
						   ? diff_ids->items[i]->text
						   : NULL;
			struct json *item = json_new(JSON_OBJECT);
			char what[512];
			uint64_t size = 0;

			if (!item)
				continue;
			json_object_get_u64(l, "size", &size);
			describe_layer(l, h, what, sizeof(what));
			json_object_set(item, "index", json_new_u64(i));
			json_object_set(item, "media_type", json_new_string(json_object_get_string(l, "mediaType") ?: ""));
			json_object_set(item, "digest", json_new_string(json_object_get_string(l, "digest") ?: ""));
			json_object_set(item, "size", json_new_u64(size));
			json_object_set(item, "diff_id", diff ? json_new_string(diff) : json_new(JSON_NULL));
			json_object_set(item, "created_by", by ? json_new_string(by) : json_new(JSON_NULL));
			json_object_set(item, "holds", json_new_string(what));
			json_object_set(item, "annotations", ann ? copy_json(ann) : json_new(JSON_OBJECT));
			json_array_push(list, item);
		}
		json_object_set(doc, "image", json_new_string(dir));
		json_object_set(doc, "tag", img->tag ? json_new_string(img->tag) : json_new(JSON_NULL));
		json_object_set(doc, "manifest", man);
		json_object_set(doc, "config", cfg);
		json_object_set(doc, "layers", list);
		json_object_set(doc, "layers_size", json_new_u64(total));
		print_json(doc);
		json_free(doc);
		goto out;
	}
	{
		char h[32];

		printf("image     %s%s%s\n", dir, img->tag ? ":" : "", img->tag ? img->tag : "");
		printf("platform  %s/%s\n", os ? os : "?", arch ? arch : "?");
		printf("manifest  %s (%" PRIu64 " bytes)\n", img->manifest_digest, img->manifest_size);
		printf("config    %s (%" PRIu64 " bytes)\n", img->config_digest, img->config_size);
		printf("layers    %zu, %s\n", layers->count, human(total, h));
		if (layers->count)
			printf("  %-3s %-11s %-10s %-20s %s\n", "#", "SIZE", "TYPE", "DIGEST", "HOLDS");
		for (size_t i = 0; i < layers->count; i++) {
			const struct json *l = layers->items[i];
			const char *digest = json_object_get_string(l, "digest");
			char what[512];
			uint64_t size = 0;

			json_object_get_u64(l, "size", &size);
			describe_layer(l, oci_image_layer_history(img, i), what, sizeof(what));
			printf("  %-3zu %-11s %-10s %-20.19s %s\n", i, human(size, h),
			       short_media(json_object_get_string(l, "mediaType")), digest ? digest : "?", what);
		}
	}
out:
	oci_image_free(img);
	oci_layout_close(layout);
	free(dir);
	free(tag);
	return code;
}

/* ---- main -------------------------------------------------------------- */

static const struct command {
	const char *name;
	int (*fn)(struct options *o, int argc, char **argv);
} commands[] = {
	{ "init", cmd_init },
	{ "add", cmd_add },
	{ "inspect", cmd_inspect },
};

int main(int argc, char **argv)
{
	struct options o;
	struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
	const struct command *cmd = NULL;
	int r;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("snapbake %s\n", SNAPBAKE_VERSION);
		return 0;
	}
	/* Unique prefixes are enough, as in bpftool: "snapbake insp". */
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strncmp(commands[i].name, argv[1], strlen(argv[1]))) {
			if (cmd) {
				cmd = NULL;
				break;
			}
			cmd = &commands[i];
		}
	}
	/* Permute so options may follow the operands, then parse. */
	r = parse_options(&o, argc - 1, argv + 1);
	if (r)
		return r < 0 ? 0 : r;
	if (!cmd)
		return fail(&o, 2, "%s: unknown command (init, add, inspect)", argv[1]);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	return cmd->fn(&o, argc - 1 - optind, argv + 1 + optind);
}
