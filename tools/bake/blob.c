/* blob.c — blob files: an unnamed temporary file (O_TMPFILE) linked under its
 * digest only once complete and synced; never a partial blob under a digest name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include "blob.h"

/* Writes are batched so that many small tar headers cost one syscall. */
#define BLOB_BUFFER_SIZE (1u << 20)

static int write_all(int fd, const unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int blob_writer_open(struct blob_writer *w, int dirfd, const char *dir_name, struct bake_error *err)
{
	int r;

	memset(w, 0, sizeof(*w));
	w->dirfd = dirfd;
	w->dir_name = dir_name;
	w->fd = -1;
	w->fd = openat(dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (w->fd >= 0) {
		w->anonymous = true;
	} else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
		/* Filesystems without O_TMPFILE: a dot-file removed on failure. */
		for (int tries = 0; tries < 16 && w->fd < 0; tries++) {
			unsigned int rnd = 0;

			if (getrandom(&rnd, sizeof(rnd), 0) < 0)
				rnd = (unsigned int)getpid() + (unsigned int)tries;
			snprintf(w->tmp_name, sizeof(w->tmp_name), ".snapbake-%08x", rnd);
			w->fd = openat(dirfd, w->tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
			if (w->fd < 0 && errno != EEXIST)
				break;
		}
	}
	if (w->fd < 0) {
		r = -errno;
		w->tmp_name[0] = '\0';
		return bake_fail(err, r, "%s", dir_name);
	}
	w->buf = malloc(BLOB_BUFFER_SIZE);
	if (!w->buf) {
		blob_writer_abort(w);
		return bake_fail(err, -ENOMEM, "%s", dir_name);
	}
	if ((r = digest_init(&w->digest)) < 0) {
		blob_writer_abort(w);
		return bake_fail(err, r, "sha256");
	}
	return 0;
}

static int flush(struct blob_writer *w, struct bake_error *err)
{
	int r;

	if (!w->buf_len)
		return 0;
	if ((r = write_all(w->fd, w->buf, w->buf_len)) < 0)
		return bake_fail(err, r, "%s", w->dir_name);
	w->buf_len = 0;
	return 0;
}

int blob_writer_write(struct blob_writer *w, const void *data, size_t len, struct bake_error *err)
{
	const unsigned char *p = data;
	int r;

	if ((r = digest_update(&w->digest, data, len)) < 0)
		return bake_fail(err, r, "sha256");
	w->size += len;
	while (len) {
		size_t n = BLOB_BUFFER_SIZE - w->buf_len;

		if (!w->buf_len && len >= BLOB_BUFFER_SIZE) {
			/* Large writes skip the copy. */
			if ((r = write_all(w->fd, p, len)) < 0)
				return bake_fail(err, r, "%s", w->dir_name);
			return 0;
		}
		if (n > len)
			n = len;
		memcpy(w->buf + w->buf_len, p, n);
		w->buf_len += n;
		p += n;
		len -= n;
		if (w->buf_len == BLOB_BUFFER_SIZE && (r = flush(w, err)) < 0)
			return r;
	}
	return 0;
}

int blob_writer_commit(struct blob_writer *w, char ret_digest[DIGEST_STRING_LEN], bool *ret_created,
		       struct bake_error *err)
{
	char digest[DIGEST_STRING_LEN];
	const char *name;
	bool created = true;
	int r;

	if ((r = flush(w, err)) < 0)
		return r;
	if (fsync(w->fd) < 0)
		return bake_fail(err, -errno, "%s", w->dir_name);
	if ((r = digest_final(&w->digest, digest)) < 0)
		return bake_fail(err, r, "sha256");
	name = digest + strlen(DIGEST_PREFIX);
	if (w->anonymous) {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", w->fd);
		r = linkat(AT_FDCWD, proc, w->dirfd, name, AT_SYMLINK_FOLLOW);
		if (r < 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
			r = linkat(w->fd, "", w->dirfd, name, AT_EMPTY_PATH);
	} else {
		r = linkat(w->dirfd, w->tmp_name, w->dirfd, name, 0);
	}
	if (r < 0 && errno == EEXIST)
		created = false;
	else if (r < 0)
		return bake_fail(err, -errno, "%s/%s", w->dir_name, name);
	if (created && fsync(w->dirfd) < 0)
		return bake_fail(err, -errno, "%s", w->dir_name);
	blob_writer_abort(w);
	memcpy(ret_digest, digest, DIGEST_STRING_LEN);
	if (ret_created)
		*ret_created = created;
	return 0;
}

void blob_writer_abort(struct blob_writer *w)
{
	if (w->digest.ctx)
		digest_free(&w->digest);
	free(w->buf);
	w->buf = NULL;
	if (w->fd >= 0) {
		close(w->fd);
		w->fd = -1;
	}
	if (w->tmp_name[0]) {
		unlinkat(w->dirfd, w->tmp_name, 0);
		w->tmp_name[0] = '\0';
	}
}

int blob_write_buffer(int dirfd, const char *dir_name, const void *data, size_t len,
		      char ret_digest[DIGEST_STRING_LEN], bool *ret_created, struct bake_error *err)
{
	struct blob_writer w;
	int r = blob_writer_open(&w, dirfd, dir_name, err);

	if (r < 0)
		return r;
	if ((r = blob_writer_write(&w, data, len, err)) < 0 ||
	    (r = blob_writer_commit(&w, ret_digest, ret_created, err)) < 0)
		blob_writer_abort(&w);
	return r;
}
