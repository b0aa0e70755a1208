/* thp: a 16 MiB region with MADV_HUGEPAGE, patterned, in which a thread
 * has its stack (so its TLS and rseq area, which a restore writes before
 * the process runs, live there too). After restore every word outside the
 * stack must hold the pattern: a lazy restore must not let a huge page of
 * zeros be filled around the pages written first. */
#include <pthread.h>
#include <sys/mman.h>

#include "prog.h"

#define MIB (1ul << 20)
#define SIZE (16 * MIB)
#define STACK_AT (9 * MIB)       /* the thread's stack: [9 MiB, 10 MiB) */
#define STACK_SIZE MIB

static uint64_t *region;
static volatile int done;

static void *idle(void *arg)
{
	(void)arg;
	while (!done)
		usleep(1000);
	return NULL;
}

int main(void)
{
	uint8_t *m = mmap(NULL, SIZE + 2 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_attr_t attr;
	pthread_t t;

	CHECK(m != MAP_FAILED, "mmap");
	/* 2 MiB-aligned, so that huge pages fit wherever the kernel puts it */
	region = (uint64_t *)(((uintptr_t)m + 2 * MIB - 1) & ~(2 * MIB - 1));
	CHECK(madvise(region, SIZE, MADV_HUGEPAGE) == 0, "madvise(MADV_HUGEPAGE)");
	for (size_t i = 0; i < SIZE / 8; i++)
		region[i] = prog_pattern(7, i);
	CHECK(pthread_attr_init(&attr) == 0 && pthread_attr_setstack(&attr, (uint8_t *)region + STACK_AT, STACK_SIZE) == 0,
	      "pthread_attr_setstack");
	CHECK(pthread_create(&t, &attr, idle, NULL) == 0, "pthread_create");

	prog_wait_restore();

	for (size_t i = 0; i < SIZE / 8; i++) {
		if (i * 8 >= STACK_AT && i * 8 < STACK_AT + STACK_SIZE)
			continue;
		CHECK(region[i] == prog_pattern(7, i), "word %zu (%zu KiB in) is %#llx, not the snapshot's", i, i * 8 / 1024,
		      (unsigned long long)region[i]);
	}
	done = 1;
	CHECK(pthread_join(t, NULL) == 0, "pthread_join");
	return prog_ok();
}
