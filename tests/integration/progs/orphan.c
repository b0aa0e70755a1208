/* orphan: after restore, forks a child and exits at once; the child, now
 * an orphan whose memory was never touched since restore, waits until its
 * parent is gone, then checks all of it and appends "child ok" (or "child
 * bad") to stdout. A lazy restore's page server must keep serving the
 * child after the process it restored has ended. */
#include <sys/mman.h>

#include "prog.h"

#define MIB (1ul << 20)

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64, words = mib * MIB / 8;
	uint64_t *region = mmap(NULL, mib * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(region != MAP_FAILED, "mmap");
	for (size_t i = 0; i < words; i++)
		region[i] = prog_pattern(5, i);

	prog_wait_restore();

	pid_t parent = getpid(), c = fork();
	CHECK(c >= 0, "fork");
	if (c > 0)
		return prog_ok();
	while (getppid() == parent)
		usleep(1000);
	usleep(200 * 1000);
	size_t bad = words;
	for (size_t i = 0; i < words && bad == words; i++)
		if (region[i] != prog_pattern(5, i))
			bad = i;
	if (bad == words)
		printf("child ok\n");
	else
		printf("child bad: word %zu is %#llx\n", bad, (unsigned long long)region[bad]);
	return 0;
}
