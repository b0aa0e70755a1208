/* lazy_ops: what a lazily restored process does to memory the page server
 * has not brought in yet: MADV_DONTNEED reads back zeros (not snapshot
 * content), a fork sees the snapshot's content, threads fault the same
 * chunk at once, mremap moves it, munmap drops it. Works eagerly too. */
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "prog.h"

#define MIB (1ul << 20)
static uint64_t *region;        /* 64 MiB of pattern */
static const size_t words = 64 * MIB / 8;
static volatile int go_threads;

static void *toucher(void *arg)
{
	size_t start = (size_t)(uintptr_t)arg;
	uint64_t bad = 0;

	while (!go_threads)
		;
	/* every thread reads the same first 4 MiB, then its own slice */
	for (size_t i = 0; i < 4 * MIB / 8; i++)
		bad |= region[i] ^ prog_pattern(3, i);
	for (size_t i = start; i < start + 4 * MIB / 8; i++)
		bad |= region[i] ^ prog_pattern(3, i);
	return (void *)(uintptr_t)(bad != 0);
}

int main(void)
{
	region = mmap(NULL, 64 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *moved = mmap(NULL, 8 * MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(region != MAP_FAILED && moved != MAP_FAILED, "mmap");
	for (size_t i = 0; i < words; i++)
		region[i] = prog_pattern(3, i);
	for (size_t i = 0; i < 8 * MIB; i++)
		moved[i] = (uint8_t)(i * 13);

	prog_wait_restore();

	/* DONTNEED before the page is touched: zeros, not the snapshot */
	uint64_t *dn = region + 40 * MIB / 8;
	CHECK(madvise(dn, 2 * MIB, MADV_DONTNEED) == 0, "madvise");
	for (size_t i = 0; i < 2 * MIB / 8; i++)
		CHECK(dn[i] == 0, "word %zu after MADV_DONTNEED is %#llx, not zero", i, (unsigned long long)dn[i]);
	/* a child reads memory the parent has not touched since restore */
	pid_t c = fork();
	if (c == 0) {
		for (size_t i = 48 * MIB / 8; i < 56 * MIB / 8; i++)
			if (region[i] != prog_pattern(3, i))
				_exit(3);
		_exit(0);
	}
	int st;
	CHECK(c > 0 && waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 0,
	      "a child forked after restore saw wrong memory (status %#x)", st);
	/* threads fault the same chunk at once */
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK(pthread_create(&t[i], NULL, toucher, (void *)(uintptr_t)((size_t)(8 + 4 * i) * MIB / 8)) == 0,
		      "pthread_create");
	go_threads = 1;
	for (int i = 0; i < 4; i++) {
		void *bad;
		CHECK(pthread_join(t[i], &bad) == 0 && !bad, "thread %d read wrong memory", i);
	}
	/* mremap before touching */
	uint8_t *to = mremap(moved, 8 * MIB, 8 * MIB, MREMAP_MAYMOVE | MREMAP_FIXED, region + 56 * MIB / 8);
	CHECK(to != MAP_FAILED, "mremap");
	for (size_t i = 0; i < 8 * MIB; i++)
		CHECK(to[i] == (uint8_t)(i * 13), "byte %zu after mremap", i);
	/* munmap a part, the rest stays right */
	CHECK(munmap(region + 30 * MIB / 8, 2 * MIB) == 0, "munmap");
	for (size_t i = 0; i < 30 * MIB / 8; i++)
		CHECK(region[i] == prog_pattern(3, i), "word %zu", i);
	for (size_t i = 32 * MIB / 8; i < 40 * MIB / 8; i++)
		CHECK(region[i] == prog_pattern(3, i), "word %zu", i);
	/* the DONTNEED range is plain memory again */
	dn[7] = 77;
	CHECK(dn[7] == 77, "write after DONTNEED");
	return prog_ok();
}
