/* clock: the vDSO is where the process had it and clock_gettime works
 * through it after restore. */
#include <sys/auxv.h>
#include <time.h>

#include "prog.h"

static int in_vdso(unsigned long addr)
{
	char line[512], name[64];
	unsigned long s, e;
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	while (f && fgets(line, sizeof(line), f)) {
		name[0] = '\0';
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %63s", &s, &e, name) >= 2 && addr >= s && addr < e)
			found = !strcmp(name, "[vdso]");
	}
	if (f)
		fclose(f);
	return found;
}

int main(void)
{
	struct timespec r0, m0, r1, m1;
	unsigned long vdso = getauxval(AT_SYSINFO_EHDR);

	CHECK(vdso && in_vdso(vdso), "no vDSO at %#lx", vdso);
	clock_gettime(CLOCK_REALTIME, &r0);
	clock_gettime(CLOCK_MONOTONIC, &m0);

	prog_wait_restore();

	CHECK(in_vdso(vdso), "the vDSO moved away from %#lx", vdso);
	for (int i = 0; i < 1000; i++) {
		CHECK(clock_gettime(CLOCK_REALTIME, &r1) == 0, "clock_gettime(REALTIME)");
		CHECK(clock_gettime(CLOCK_MONOTONIC, &m1) == 0, "clock_gettime(MONOTONIC)");
	}
	CHECK(r1.tv_sec > r0.tv_sec || (r1.tv_sec == r0.tv_sec && r1.tv_nsec >= r0.tv_nsec), "realtime went back");
	CHECK(m1.tv_sec > m0.tv_sec || (m1.tv_sec == m0.tv_sec && m1.tv_nsec >= m0.tv_nsec), "monotonic went back");
	CHECK(time(NULL) >= r0.tv_sec, "time()");
	return prog_ok();
}
