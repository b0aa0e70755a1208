/* dirtier: the pre-copy benchmark's workload. Fills SIZE MiB (argv[1]),
 * says ready, then keeps writing 1% of its pages every 100 ms (argv[2]
 * permille per tick changes the rate) until its stdin closes or a line
 * arrives. Nothing to verify: the benchmark measures freeze time. */
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 2048;
	unsigned permille = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10;
	size_t pages = mib * 256, per_tick = pages * permille / 1000;
	uint8_t *m = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t x = 88172645463325252ull, tick = 0;

	if (m == MAP_FAILED)
		return 1;
	for (size_t i = 0; i < (mib << 20); i += 8)
		*(uint64_t *)(m + i) = i * 0x9E3779B97F4A7C15ull;
	if (write(1, "ready\n", 6) != 6)
		return 1;
	for (;;) {
		struct pollfd p = { 0, POLLIN, 0 };
		if (poll(&p, 1, 100) != 0)
			break; /* a line or EOF on stdin: done */
		tick++;
		for (size_t k = 0; k < per_tick; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			m[(x % pages) * 4096 + (tick & 4095)] = (uint8_t)tick;
		}
	}
	return 0;
}
