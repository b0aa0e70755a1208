/* mem_pattern: anonymous memory with a pattern (size in MiB as argv[1],
 * default 64) comes back bit for bit; same pid; a syscall blocked at
 * capture (read) is restarted. */
#include <sys/mman.h>

#include "prog.h"

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64, words = mib << 17;
	uint64_t *mem = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t stack_canary = 0x5eed5eedull;
	pid_t pid;

	CHECK(mem != MAP_FAILED, "mmap %zu MiB", mib);
	for (size_t i = 0; i < words; i++)
		mem[i] = prog_pattern(7, i);

	pid = prog_wait_restore();

	CHECK(getpid() == pid, "pid %d after restore, %d before", getpid(), pid);
	CHECK(stack_canary == 0x5eed5eedull, "stack value changed");
	for (size_t i = 0; i < words; i++)
		CHECK(mem[i] == prog_pattern(7, i), "word %zu of %zu differs", i, words);
	/* The memory is still ours to change. */
	for (size_t i = 0; i < words; i += 512)
		mem[i] = i;
	return prog_ok();
}
