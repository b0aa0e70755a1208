/* bench_workload: the stand-in service snapctl bench measures. It fills
 * MiB of memory (its "loading"), stops at its snapshot point, then reads
 * and checks all of it (its "warm-up") before it says it can serve.
 *
 * usage: bench_workload [MIB [READY_FILE]]     (MIB: 256 by default)
 * Speaks snapctl bench's contract (include/snap/snap.h, "bench"):
 *   - "ready\n" on SNAPCTL_READY_FD at the snapshot point, then one line
 *     back: "continued" (cold start) or "restored" (after a restore);
 *   - then every page is read and checked, and it says it can serve: a
 *     line "ready" on stdout, or READY_FILE created when one is given;
 *   - then it waits to be killed. Without SNAPCTL_READY_FD it goes straight
 *     from loading to serving. Exit 1 with a message if the memory is wrong. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static __attribute__((noreturn, format(printf, 1, 2))) void fail(const char *fmt, ...)
{
	va_list ap;

	fputs("bench_workload: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* Word i's content: half its bytes zero, so the snapshot compresses some,
 * as model weights do a little. */
static uint64_t pattern(uint64_t i)
{
	uint64_t x = (i + 11) * 0x9E3779B97F4A7C15ull;

	return (x ^ (x >> 29)) & 0x00FF00FF00FF00FFull;
}

/* The snapshot point: says ready, returns the answer ("continued",
 * "restored") without its newline. */
static void snapshot_point(int fd, char *answer, size_t size)
{
	size_t got = 0;

	if (write(fd, "ready\n", 6) != 6)
		fail("cannot say ready on fd %d: %s", fd, strerror(errno));
	while (got < size - 1) {
		ssize_t n = read(fd, answer + got, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail("no answer on fd %d: %s", fd, n < 0 ? strerror(errno) : "end of file");
		if (answer[got] == '\n')
			break;
		got++;
	}
	answer[got] = '\0';
}

static void say_ready(const char *ready_file)
{
	if (ready_file) {
		int fd = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			fail("cannot create %s: %s", ready_file, strerror(errno));
		close(fd);
	} else if (write(1, "ready\n", 6) != 6) {
		fail("cannot say ready on stdout: %s", strerror(errno));
	}
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256, words;
	const char *ready_file = argc > 2 ? argv[2] : NULL;
	const char *env = getenv("SNAPCTL_READY_FD");
	uint64_t *mem, sum = 0, check = 0;
	char answer[32] = "";

	if (mib == 0 || mib > (1u << 20))
		fail("MIB must be between 1 and %u", 1u << 20);
	words = mib << 17;
	mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		fail("cannot map %zu MiB: %s", mib, strerror(errno));
	for (size_t i = 0; i < words; i++) {
		mem[i] = pattern(i);
		sum += mem[i];
	}

	if (env && *env) {
		snapshot_point(atoi(env), answer, sizeof(answer));
		if (strcmp(answer, "continued") && strcmp(answer, "restored"))
			fail("unexpected answer '%s' at the snapshot point", answer);
	}

	/* The warm-up: every page read, as a service touching its weights. */
	for (size_t i = 0; i < words; i++)
		check += mem[i];
	if (check != sum)
		fail("memory differs after the snapshot point (%s)", answer[0] ? answer : "no snapshot point");
	for (size_t i = 0; i < words; i += 4096)
		if (mem[i] != pattern(i))
			fail("word %zu differs (%s)", i, answer);
	say_ready(ready_file);
	for (;;)
		pause();
}
