/* protections: read-only and PROT_NONE regions come back with the same
 * permissions at the same addresses; a write to read-only still faults;
 * content under PROT_NONE survives. */
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>

#include "prog.h"

static sigjmp_buf jump;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(jump, 1);
}

static int faults(volatile uint8_t *p, int write)
{
	if (sigsetjmp(jump, 1))
		return 1;
	if (write)
		*p = 1;
	else
		(void)*p;
	return 0;
}

static const char *perms_of(void *addr, char *out)
{
	char line[512];
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long s, e, a = (unsigned long)addr;

	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %4s", &s, &e, out) == 3 && a >= s && a < e)
			break;
		else
			out[0] = '\0';
	if (f)
		fclose(f);
	return out;
}

int main(void)
{
	uint8_t *ro = mmap(NULL, 8 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *none = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *guard = mmap(NULL, 16 * 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char p1[8], p2[8], p3[8], b1[8], b2[8], b3[8];
	struct sigaction sa = { .sa_handler = on_segv };

	CHECK(ro != MAP_FAILED && none != MAP_FAILED && guard != MAP_FAILED, "mmap");
	for (int i = 0; i < 8 * 4096; i++)
		ro[i] = (uint8_t)(i * 7 + 3);
	memset(none, 0xA5, 4 * 4096);
	CHECK(mprotect(ro, 8 * 4096, PROT_READ) == 0, "mprotect ro");
	CHECK(mprotect(none, 4 * 4096, PROT_NONE) == 0, "mprotect none");
	perms_of(ro, b1);
	perms_of(none, b2);
	perms_of(guard, b3);

	prog_wait_restore();

	CHECK(!strcmp(perms_of(ro, p1), b1), "read-only region is '%s', was '%s'", p1, b1);
	CHECK(!strcmp(perms_of(none, p2), b2), "PROT_NONE region is '%s', was '%s'", p2, b2);
	CHECK(!strcmp(perms_of(guard, p3), b3), "guard region is '%s', was '%s'", p3, b3);
	for (int i = 0; i < 8 * 4096; i++)
		CHECK(ro[i] == (uint8_t)(i * 7 + 3), "read-only byte %d", i);
	sigaction(SIGSEGV, &sa, NULL);
	CHECK(faults(ro + 100, 1), "a write to read-only memory did not fault");
	CHECK(faults(guard + 4096, 0), "a read of the guard region did not fault");
	CHECK(faults(none, 0), "a read of PROT_NONE memory did not fault");
	CHECK(mprotect(none, 4 * 4096, PROT_READ) == 0, "mprotect back");
	for (int i = 0; i < 4 * 4096; i++)
		CHECK(none[i] == 0xA5, "content under PROT_NONE, byte %d", i);
	return prog_ok();
}
