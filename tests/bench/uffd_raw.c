/* uffd_raw.c — the ceiling for lazy restore's page server on this machine: one process maps
 * N MiB anonymous, registers it with userfaultfd (MISSING), and a server thread answers each
 * fault with one UFFDIO_COPY of one chunk (4 KiB, or 256 KiB = 64 pages, the page server's
 * chunk) from a pre-filled buffer while the main thread touches the pages in order, reading
 * one byte of each and checking it. Prints one JSON line; figures only, it never judges them.
 *
 * usage: uffd_raw [-m MIB] [-c CHUNK_KIB] [-W]
 *   -m MIB        memory to fault in (default 1024)
 *   -c CHUNK_KIB  bytes each fault copies, a multiple of 4 (default 4)
 *   -W            no warm-up (by default MIB of fresh memory is touched and freed first, so
 *                 that the timed faults do not wait on the hypervisor backing guest memory)
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define MIB (1ul << 20)

struct server {
	int uffd;
	int stop;         /* read end of a pipe: readable once the toucher is done */
	uint8_t *dst;
	const uint8_t *src;
	size_t len, chunk;
	uint64_t faults, copies, bytes, eexist;
	int error;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline uint64_t pattern(uint64_t i)
{
	uint64_t x = (i + 7) * 0x9E3779B97F4A7C15ull;

	return (x ^ (x >> 29)) & 0x00FF00FF00FF00FFull;
}

/* Copies the chunk holding addr; 0, or a negative errno. */
static int answer(struct server *s, uint64_t addr)
{
	uint64_t off = (addr - (uint64_t)(uintptr_t)s->dst) & ~(uint64_t)(s->chunk - 1);
	uint64_t len = s->len - off < s->chunk ? s->len - off : s->chunk;
	struct uffdio_copy cp;

	for (;;) {
		memset(&cp, 0, sizeof(cp));
		cp.dst = (uint64_t)(uintptr_t)s->dst + off;
		cp.src = (uint64_t)(uintptr_t)s->src + off;
		cp.len = len;
		s->copies++;
		if (ioctl(s->uffd, UFFDIO_COPY, &cp) == 0) {
			s->bytes += len;
			return 0;
		}
		if (cp.copy > 0) {
			s->bytes += (uint64_t)cp.copy;
			off += (uint64_t)cp.copy;
			len -= (uint64_t)cp.copy;
		}
		if (errno == EEXIST) {
			/* already there: wake whoever waits on it */
			struct uffdio_range r = { .start = (uint64_t)(uintptr_t)s->dst + off, .len = len };

			s->eexist++;
			return ioctl(s->uffd, UFFDIO_WAKE, &r) < 0 ? -errno : 0;
		}
		if (errno != EAGAIN)
			return -errno;
	}
}

static void *serve(void *arg)
{
	struct server *s = arg;
	struct uffd_msg msgs[32];
	struct pollfd p[2] = { { .fd = s->uffd, .events = POLLIN }, { .fd = s->stop, .events = POLLIN } };

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			s->error = errno;
			return NULL;
		}
		if (p[0].revents & POLLIN) {
			ssize_t n = read(s->uffd, msgs, sizeof(msgs));

			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				continue;
			if (n <= 0) {
				s->error = n < 0 ? errno : EPIPE;
				return NULL;
			}
			for (size_t k = 0; k < (size_t)n / sizeof(msgs[0]); k++) {
				int r;

				if (msgs[k].event != UFFD_EVENT_PAGEFAULT)
					continue;
				s->faults++;
				r = answer(s, msgs[k].arg.pagefault.address);
				if (r < 0) {
					s->error = -r;
					return NULL;
				}
			}
			continue;
		}
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			s->error = EIO;
			return NULL;
		}
		if (p[1].revents)
			return NULL;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: uffd_raw [-m MIB] [-c CHUNK_KIB] [-W]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	size_t mib = 1024, chunk_kib = 4;
	bool warm = true;
	struct server s = { 0 };
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { 0 };
	pthread_t thread;
	int stop[2], c;
	uint64_t *w;
	double t0, t1, secs;
	uint64_t bad = 0;

	while ((c = getopt(argc, argv, "m:c:W")) != -1) {
		switch (c) {
		case 'm':
			mib = strtoul(optarg, NULL, 10);
			break;
		case 'c':
			chunk_kib = strtoul(optarg, NULL, 10);
			break;
		case 'W':
			warm = false;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || mib == 0 || chunk_kib == 0 || chunk_kib % 4 || (chunk_kib & (chunk_kib - 1)) ||
	    chunk_kib * 1024 > mib * MIB)
		usage();
	s.len = mib * MIB;
	s.chunk = chunk_kib * 1024;

	if (warm) {
		uint8_t *m = mmap(NULL, s.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED) {
			fprintf(stderr, "uffd_raw: mmap %zu MiB: %s\n", mib, strerror(errno));
			return 1;
		}
		for (size_t off = 0; off < s.len; off += PAGE)
			m[off] = 1;
		munmap(m, s.len);
	}

	/* The source: every page distinct, as a snapshot's are. */
	s.src = mmap(NULL, s.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s.dst = mmap(NULL, s.len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (s.src == MAP_FAILED || s.dst == MAP_FAILED) {
		fprintf(stderr, "uffd_raw: mmap %zu MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	w = (uint64_t *)s.src;
	for (size_t i = 0; i < s.len / 8; i++)
		w[i] = pattern(i);
	/* One fault per page, as in a restored process's anonymous memory. */
	madvise(s.dst, s.len, MADV_NOHUGEPAGE);

	/* poll() on a blocking userfaultfd says POLLERR */
	s.uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (s.uffd < 0) {
		fprintf(stderr, "uffd_raw: userfaultfd: %s\n", strerror(errno));
		return 1;
	}
	if (ioctl(s.uffd, UFFDIO_API, &api) < 0) {
		fprintf(stderr, "uffd_raw: UFFDIO_API: %s\n", strerror(errno));
		return 1;
	}
	reg.range.start = (uint64_t)(uintptr_t)s.dst;
	reg.range.len = s.len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(s.uffd, UFFDIO_REGISTER, &reg) < 0) {
		fprintf(stderr, "uffd_raw: UFFDIO_REGISTER: %s\n", strerror(errno));
		return 1;
	}
	if (pipe2(stop, O_CLOEXEC) < 0) {
		fprintf(stderr, "uffd_raw: pipe: %s\n", strerror(errno));
		return 1;
	}
	s.stop = stop[0];
	if (pthread_create(&thread, NULL, serve, &s) != 0) {
		fprintf(stderr, "uffd_raw: cannot start the server thread\n");
		return 1;
	}

	/* Sequential first touches: one byte read per page, checked. */
	t0 = now_s();
	for (size_t off = 0; off < s.len; off += PAGE) {
		volatile uint8_t *p = s.dst + off;

		bad += *p != s.src[off];
	}
	t1 = now_s();
	close(stop[1]);
	pthread_join(thread, NULL);
	if (s.error) {
		fprintf(stderr, "uffd_raw: the server thread stopped: %s\n", strerror(s.error));
		return 1;
	}
	if (bad) {
		fprintf(stderr, "uffd_raw: %llu pages read back wrong\n", (unsigned long long)bad);
		return 1;
	}
	secs = t1 - t0;
	printf("{\"mib\": %zu, \"chunk_kib\": %zu, \"faults\": %llu, \"copies\": %llu, \"eexist\": %llu, \"bytes\": %llu, "
	       "\"seconds\": %.6f, \"faults_per_s\": %.0f, \"gib_per_s\": %.3f, \"us_per_fault\": %.2f}\n",
	       mib, chunk_kib, (unsigned long long)s.faults, (unsigned long long)s.copies,
	       (unsigned long long)s.eexist, (unsigned long long)s.bytes, secs, (double)s.faults / secs,
	       (double)s.bytes / secs / (double)(1ul << 30), secs * 1e6 / (double)(s.faults ? s.faults : 1));
	return 0;
}
