/* writer: a thread keeps writing a sequence number into one page after
 * another of a region (argv[1] MiB, default 256) while the capture runs
 * — pre-copy included. After restore the region must be exactly as it was
 * at the freeze: page (L - j) mod N holds L - j for the last number L the
 * writer recorded (the page after it may hold L + 1: written, not yet
 * recorded). A stale page from an earlier pre-copy pass breaks this. */
#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include "prog.h"

static uint64_t *region;
static uint64_t npages;
static volatile uint64_t last;     /* the last sequence number written */
static volatile int stop;

static void *writer(void *arg)
{
	uint64_t s = last + 1;
	(void)arg;
	while (!stop) {
		region[(s % npages) * 512] = s;
		last = s;
		s++;
		if ((s & 63) == 0) {
			struct timespec ts = { 0, 20000 }; /* ~3 pages per ms */
			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 256;
	pthread_t t;

	npages = mib * 256;
	region = mmap(NULL, mib << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(region != MAP_FAILED, "mmap");
	for (uint64_t p = 0; p < npages; p++) {
		region[p * 512] = p;  /* as if numbers 0..npages-1 were written */
		region[p * 512 + 1] = 0xfeed;
	}
	last = npages - 1;
	CHECK(pthread_create(&t, NULL, writer, NULL) == 0, "pthread_create");

	prog_wait_restore();

	/* The writer ran on after restore: stop it, then check the whole
	 * region against the last number it recorded. */
	stop = 1;
	pthread_join(t, NULL);
	uint64_t L = last;
	for (uint64_t j = 0; j < npages; j++) {
		uint64_t want = L - j, p = want % npages, got = region[p * 512];
		CHECK(got == want || (j == npages - 1 && got == L + 1), "page %llu holds %llu, want %llu (last %llu)",
		      (unsigned long long)p, (unsigned long long)got, (unsigned long long)want, (unsigned long long)L);
		CHECK(region[p * 512 + 1] == 0xfeed, "page %llu lost its marker", (unsigned long long)p);
	}
	return prog_ok();
}
