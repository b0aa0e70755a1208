/* sparse: a 16 GiB MAP_NORESERVE reservation with 4096 touched pages: the
 * touched pages come back, untouched ones read zero, and the snapshot is
 * sized by the touched pages (the driver checks that). */
#include <sys/mman.h>

#include "prog.h"

#define SIZE (16ull << 30)
#define STRIDE (SIZE / 4096)

int main(void)
{
	uint8_t *m = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	CHECK(m != MAP_FAILED, "mmap 16 GiB NORESERVE");
	for (uint64_t i = 0; i < 4096; i++)
		for (int w = 0; w < 512; w++)
			((uint64_t *)(m + i * STRIDE))[w] = prog_pattern(i, (uint64_t)w) | 1;

	prog_wait_restore();

	for (uint64_t i = 0; i < 4096; i++) {
		for (int w = 0; w < 512; w++)
			CHECK(((uint64_t *)(m + i * STRIDE))[w] == (prog_pattern(i, (uint64_t)w) | 1),
			      "touched page %llu word %d", (unsigned long long)i, w);
		/* the page after each touched one was never touched: zero */
		const uint64_t *z = (const uint64_t *)(m + i * STRIDE + 4096);
		for (int w = 0; w < 512; w++)
			CHECK(z[w] == 0, "untouched page after %llu is not zero", (unsigned long long)i);
	}
	return prog_ok();
}
