/* heap: brk heap growth before the snapshot, malloc/free and brk growth
 * after it. */
#include <malloc.h>

#include "prog.h"

#define N 2000

int main(void)
{
	uint64_t *small[N];
	void *start = sbrk(0), *grown;

	mallopt(M_MMAP_THRESHOLD, 1 << 30); /* keep allocations on the brk heap */
	for (int i = 0; i < N; i++) {
		small[i] = malloc(1024 * sizeof(uint64_t));
		CHECK(small[i], "malloc");
		for (int w = 0; w < 1024; w++)
			small[i][w] = prog_pattern((uint64_t)i, (uint64_t)w);
	}
	grown = sbrk(0);
	CHECK(grown > start, "the heap did not grow through brk");

	prog_wait_restore();

	CHECK(sbrk(0) == grown, "brk is %p, was %p", sbrk(0), grown);
	for (int i = 0; i < N; i++)
		for (int w = 0; w < 1024; w++)
			CHECK(small[i][w] == prog_pattern((uint64_t)i, (uint64_t)w), "block %d word %d", i, w);
	for (int i = 0; i < N; i += 2)
		free(small[i]);
	for (int round = 0; round < 4; round++) {
		uint8_t *big = malloc(64 << 20);
		CHECK(big, "malloc 64 MiB after restore");
		memset(big, round + 1, 64 << 20);
		CHECK(big[(64 << 20) - 1] == round + 1, "big block");
		free(big);
	}
	CHECK(sbrk(1 << 20) != (void *)-1, "brk growth after restore");
	return prog_ok();
}
