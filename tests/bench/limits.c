/* limits.c — measures this machine's ceilings for capture and restore (memcpy, first-touch faults,
 * zstd level 1, sequential write + fsync, process_vm_readv): figures only, it never judges them. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define PAGE 4096ul
#define MIB (1ul << 20)
#define GIB (1ul << 30)
#define RUNS 5
#define CHUNK (256ul << 10) /* the engine's chunk: 64 pages, one zstd frame each */
#define READ_PIECE (4ul << 20) /* the engine's staging buffer for process_vm_readv */
#define WRITE_TOTAL GIB
#define WRITE_PIECE MIB

struct limits {
	long cpus;
	char thp[32];
	size_t buffer_bytes;
	double memcpy_gib_s;
	double fault_cold_pages_s, fault_warm_pages_s;
	double zstd_pattern_mb_s, zstd_pattern_ratio, zstd_pattern_all_cpus_mb_s;
	double zstd_float_mb_s, zstd_float_ratio;
	double write_fsync_mb_s, write_no_fsync_mb_s;
	double vm_readv_gib_s;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The integration programs' pattern (tests/integration/progs/prog.h): the
 * same kind of bytes the captured process holds. */
static inline uint64_t prog_pattern(uint64_t s, uint64_t i)
{
	uint64_t x = (i + s) * 0x9E3779B97F4A7C15ull;

	return (x ^ (x >> 29)) & 0x00FF00FF00FF00FFull;
}

static void fill_pattern(void *buf, size_t len)
{
	uint64_t *w = buf;

	for (size_t i = 0; i < len / 8; i++)
		w[i] = prog_pattern(7, i);
}

/* Weight-like float32: roughly normal (sum of four uniforms), std ~0.02. */
static void fill_floats(void *buf, size_t len)
{
	uint64_t s = 0x243F6A8885A308D3ull;
	float *f = buf;

	for (size_t i = 0; i < len / sizeof(float); i++) {
		float sum = 0;
		for (int k = 0; k < 4; k++) {
			s ^= s << 13;
			s ^= s >> 7;
			s ^= s << 17;
			sum += (float)(s >> 40) / (float)(1u << 24);
		}
		f[i] = (sum - 2.0f) * 0.035f;
	}
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Faults are counted in 4 KiB pages, as the captured programs use them. */
	madvise(p, len, MADV_NOHUGEPAGE);
	return p;
}

static int measure_memcpy(struct limits *l)
{
	size_t half = l->buffer_bytes / 2;
	uint8_t *src = map_anon(half), *dst = map_anon(half);
	volatile uint8_t sink;
	double t[RUNS];
	int r = 0;

	if (!src || !dst) {
		r = -ENOMEM;
		goto out;
	}
	/* Touch every page first: a page the VM has not backed yet costs far
	 * more than the copy, and that is not what this figure is about. */
	fill_pattern(src, half);
	memset(dst, 1, half);
	memcpy(dst, src, half);
	for (int i = 0; i < RUNS; i++) {
		double t0 = now_s();
		memcpy(dst, src + (i & 1) * 64, half - 64);
		t[i] = now_s() - t0;
		sink = dst[half / 2];
	}
	(void)sink;
	l->memcpy_gib_s = (double)(half - 64) / GIB / median(t, RUNS);
out:
	if (src)
		munmap(src, half);
	if (dst)
		munmap(dst, half);
	return r;
}

static int touch_pages(size_t len, double *ret_s)
{
	volatile uint8_t *p = map_anon(len);
	double t0;

	if (!p)
		return -ENOMEM;
	t0 = now_s();
	for (size_t off = 0; off < len; off += PAGE)
		p[off] = 1;
	*ret_s = now_s() - t0;
	munmap((void *)p, len);
	return 0;
}

/* First pass: pages as the VM hands them over (possibly never backed yet).
 * Then the same size again right after munmap: the guest kernel's own fault
 * path on memory the host already backs. */
static int measure_faults(struct limits *l)
{
	size_t len = l->buffer_bytes, pages = len / PAGE;
	double cold, t[RUNS];
	int r;

	r = touch_pages(len, &cold);
	if (r < 0)
		return r;
	for (int i = 0; i < RUNS; i++) {
		r = touch_pages(len, &t[i]);
		if (r < 0)
			return r;
	}
	l->fault_cold_pages_s = (double)pages / cold;
	l->fault_warm_pages_s = (double)pages / median(t, RUNS);
	return 0;
}

/* Compresses src in CHUNK frames at level 1 as the engine's codec does;
 * returns the compressed total, or 0 on a zstd error. */
static size_t compress_chunks(ZSTD_CCtx *cctx, const uint8_t *src, size_t len, uint8_t *dst, size_t dst_cap)
{
	size_t total = 0;

	for (size_t off = 0; off < len; off += CHUNK) {
		size_t n = ZSTD_compress2(cctx, dst, dst_cap, src + off, len - off < CHUNK ? len - off : CHUNK);
		if (ZSTD_isError(n))
			return 0;
		total += n;
	}
	return total;
}

static ZSTD_CCtx *codec_cctx(void)
{
	ZSTD_CCtx *cctx = ZSTD_createCCtx();

	if (cctx && (ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1)) ||
		     ZSTD_isError(ZSTD_CCtx_setParameter(cctx, ZSTD_c_contentSizeFlag, 1)))) {
		ZSTD_freeCCtx(cctx);
		return NULL;
	}
	return cctx;
}

static int zstd_speed(const uint8_t *src, size_t len, double *ret_mb_s, double *ret_ratio)
{
	size_t cap = ZSTD_compressBound(CHUNK), out = 0;
	uint8_t *dst = malloc(cap);
	ZSTD_CCtx *cctx = codec_cctx();
	double t0, t;
	int r = 0;

	if (!dst || !cctx) {
		r = -ENOMEM;
		goto out;
	}
	compress_chunks(cctx, src, len < 16 * MIB ? len : 16 * MIB, dst, cap); /* warm-up */
	t0 = now_s();
	out = compress_chunks(cctx, src, len, dst, cap);
	t = now_s() - t0;
	if (!out) {
		r = -EIO;
		goto out;
	}
	*ret_mb_s = (double)len / 1e6 / t;
	*ret_ratio = (double)len / (double)out;
out:
	ZSTD_freeCCtx(cctx);
	free(dst);
	return r;
}

struct zstd_slice {
	const uint8_t *src;
	size_t len;
	int r;
};

static void *zstd_slice_run(void *arg)
{
	struct zstd_slice *s = arg;
	double mb_s, ratio;

	s->r = zstd_speed(s->src, s->len, &mb_s, &ratio);
	return NULL;
}

/* Every CPU compressing its own slice at once: the ceiling for the engine's
 * compression workers. Wall time over all bytes. */
static int zstd_all_cpus(const uint8_t *src, size_t len, long cpus, double *ret_mb_s)
{
	struct zstd_slice slice[64];
	pthread_t th[64];
	size_t per;
	double t0, t;
	int n = cpus > 64 ? 64 : (int)cpus, started = 0, r = 0;

	per = len / (size_t)n / CHUNK * CHUNK;
	t0 = now_s();
	for (int i = 0; i < n; i++) {
		slice[i] = (struct zstd_slice){ src + (size_t)i * per, per, 0 };
		if (pthread_create(&th[i], NULL, zstd_slice_run, &slice[i])) {
			r = -EAGAIN;
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++) {
		pthread_join(th[i], NULL);
		if (slice[i].r < 0)
			r = slice[i].r;
	}
	t = now_s() - t0;
	if (r == 0)
		*ret_mb_s = (double)per * n / 1e6 / t;
	return r;
}

static int measure_zstd(struct limits *l)
{
	size_t len = 256 * MIB;
	uint8_t *buf = map_anon(len);
	int r;

	if (!buf)
		return -ENOMEM;
	fill_pattern(buf, len);
	r = zstd_speed(buf, len, &l->zstd_pattern_mb_s, &l->zstd_pattern_ratio);
	if (r == 0)
		r = zstd_all_cpus(buf, len, l->cpus, &l->zstd_pattern_all_cpus_mb_s);
	if (r == 0) {
		fill_floats(buf, len);
		r = zstd_speed(buf, len, &l->zstd_float_mb_s, &l->zstd_float_ratio);
	}
	munmap(buf, len);
	return r;
}

static int measure_write(struct limits *l, const char *dir)
{
	char path[4096];
	uint8_t *buf = malloc(WRITE_PIECE);
	double t0, t_written, t_synced;
	int fd, r = 0;

	if (!buf)
		return -ENOMEM;
	fill_floats(buf, WRITE_PIECE);
	snprintf(path, sizeof(path), "%s/limits-write.tmp", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "limits: cannot create %s: %s\n", path, strerror(errno));
		free(buf);
		return r;
	}
	t0 = now_s();
	for (size_t off = 0; off < WRITE_TOTAL && r == 0; off += WRITE_PIECE) {
		ssize_t n = pwrite(fd, buf, WRITE_PIECE, (off_t)off);
		if (n != (ssize_t)WRITE_PIECE)
			r = n < 0 ? -errno : -EIO;
	}
	t_written = now_s();
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	t_synced = now_s();
	if (r < 0)
		fprintf(stderr, "limits: writing %s: %s\n", path, strerror(-r));
	close(fd);
	unlink(path);
	free(buf);
	if (r == 0) {
		l->write_fsync_mb_s = (double)WRITE_TOTAL / 1e6 / (t_synced - t0);
		l->write_no_fsync_mb_s = (double)WRITE_TOTAL / 1e6 / (t_written - t0);
	}
	return r;
}

/* A child holds buffer_bytes of patterned memory; the parent reads it all
 * with process_vm_readv in the engine's 4 MiB pieces into one warm buffer. */
static int measure_vm_readv(struct limits *l)
{
	size_t len = l->buffer_bytes;
	int to_parent[2], to_child[2], status, r = 0;
	uint8_t *local = map_anon(READ_PIECE);
	uintptr_t remote = 0;
	double t[RUNS];
	pid_t child;

	if (!local)
		return -ENOMEM;
	memset(local, 1, READ_PIECE);
	if (pipe2(to_parent, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_local;
	}
	if (pipe2(to_child, O_CLOEXEC) < 0) {
		r = -errno;
		goto out_parent_pipe;
	}
	child = fork();
	if (child < 0) {
		r = -errno;
		close(to_child[0]);
		close(to_child[1]);
		goto out_parent_pipe;
	}
	if (child == 0) {
		uint8_t *mem = map_anon(len);
		uintptr_t addr = (uintptr_t)mem;
		char c;

		close(to_parent[0]);
		close(to_child[1]);
		if (mem)
			fill_pattern(mem, len);
		if (write(to_parent[1], &addr, sizeof(addr)) != sizeof(addr))
			_exit(1);
		/* Holds the memory until the parent closes its end. */
		while (read(to_child[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(to_parent[1]);
	close(to_child[0]);
	if (read(to_parent[0], &remote, sizeof(remote)) != sizeof(remote) || !remote) {
		r = -ENOMEM;
		goto out;
	}
	for (int run = -1; run < RUNS && r == 0; run++) {
		double t0 = now_s();
		for (size_t off = 0; off < len; off += READ_PIECE) {
			struct iovec lv = { local, READ_PIECE }, rv = { (void *)(remote + off), READ_PIECE };
			if (process_vm_readv(child, &lv, 1, &rv, 1, 0) != (ssize_t)READ_PIECE) {
				r = errno ? -errno : -EIO;
				fprintf(stderr, "limits: process_vm_readv: %s\n", strerror(-r));
				break;
			}
		}
		if (run >= 0) /* run -1 warms up */
			t[run] = now_s() - t0;
	}
	if (r == 0)
		l->vm_readv_gib_s = (double)len / GIB / median(t, RUNS);
out:
	close(to_child[1]);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	close(to_parent[0]);
	munmap(local, READ_PIECE);
	return r;
out_parent_pipe:
	close(to_parent[0]);
	close(to_parent[1]);
out_local:
	munmap(local, READ_PIECE);
	return r;
}

static void read_thp(struct limits *l)
{
	char buf[128], *open_br, *close_br;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");

	snprintf(l->thp, sizeof(l->thp), "unknown");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f) && (open_br = strchr(buf, '[')) && (close_br = strchr(open_br, ']'))) {
		*close_br = '\0';
		snprintf(l->thp, sizeof(l->thp), "%s", open_br + 1);
	}
	fclose(f);
}

static void print_json(const struct limits *l)
{
	printf("{\n");
	printf("  \"cpus\": %ld,\n", l->cpus);
	printf("  \"transparent_hugepage\": \"%s\",\n", l->thp);
	printf("  \"buffer_mib\": %zu,\n", l->buffer_bytes / MIB);
	printf("  \"memcpy_gib_per_s\": %.3f,\n", l->memcpy_gib_s);
	printf("  \"first_touch_pages_per_s\": %.0f,\n", l->fault_warm_pages_s);
	printf("  \"first_touch_cold_pages_per_s\": %.0f,\n", l->fault_cold_pages_s);
	printf("  \"zstd1_pattern_mb_per_s\": %.1f,\n", l->zstd_pattern_mb_s);
	printf("  \"zstd1_pattern_ratio\": %.3f,\n", l->zstd_pattern_ratio);
	printf("  \"zstd1_pattern_all_cpus_mb_per_s\": %.1f,\n", l->zstd_pattern_all_cpus_mb_s);
	printf("  \"zstd1_float32_mb_per_s\": %.1f,\n", l->zstd_float_mb_s);
	printf("  \"zstd1_float32_ratio\": %.3f,\n", l->zstd_float_ratio);
	printf("  \"file_write_fsync_mb_per_s\": %.1f,\n", l->write_fsync_mb_s);
	printf("  \"file_write_no_fsync_mb_per_s\": %.1f,\n", l->write_no_fsync_mb_s);
	printf("  \"process_vm_readv_gib_per_s\": %.3f\n", l->vm_readv_gib_s);
	printf("}\n");
}

static void usage(FILE *out)
{
	fprintf(out, "usage: limits [--dir DIR] [--mib N]\n"
		     "  --dir DIR  where the 1 GiB write test puts its file (default .)\n"
		     "  --mib N    buffer size for memcpy, faults and process_vm_readv (default 1024)\n"
		     "Prints one JSON object; MB = 10^6 bytes, GiB = 2^30 bytes.\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "mib", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct limits l = { .buffer_bytes = GIB };
	const char *dir = ".", *step;
	int c, r;

	while ((c = getopt_long(argc, argv, "d:m:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dir = optarg;
			break;
		case 'm':
			l.buffer_bytes = strtoul(optarg, NULL, 10) * MIB;
			if (l.buffer_bytes < 16 * MIB) {
				fprintf(stderr, "limits: --mib must be at least 16\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	l.cpus = sysconf(_SC_NPROCESSORS_ONLN);
	if (l.cpus < 1)
		l.cpus = 1;
	read_thp(&l);

	step = "memcpy";
	r = measure_memcpy(&l);
	if (r == 0) {
		step = "first-touch faults";
		r = measure_faults(&l);
	}
	if (r == 0) {
		step = "zstd";
		r = measure_zstd(&l);
	}
	if (r == 0) {
		step = "file write";
		r = measure_write(&l, dir);
	}
	if (r == 0) {
		step = "process_vm_readv";
		r = measure_vm_readv(&l);
	}
	if (r < 0) {
		fprintf(stderr, "limits: %s failed: %s\n", step, strerror(-r));
		return 1;
	}
	print_json(&l);
	return 0;
}
