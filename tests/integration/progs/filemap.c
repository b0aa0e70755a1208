/* filemap: a MAP_PRIVATE file mapping with some pages changed (one of them
 * to zeros) comes back with the changes, the rest from the file, and the
 * file itself untouched. */
#include <fcntl.h>
#include <sys/mman.h>

#include "prog.h"

#define PAGES 16

static uint8_t expect_file(int i) { return (uint8_t)(i * 13 + 1); }

int main(void)
{
	uint8_t buf[PAGES * 4096], *m;
	int fd = open("filemap.data", O_RDWR | O_CREAT | O_TRUNC, 0644);

	CHECK(fd >= 0, "create filemap.data");
	for (int i = 0; i < PAGES * 4096; i++)
		buf[i] = expect_file(i);
	CHECK(write(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "write file");
	m = mmap(NULL, sizeof(buf), PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	CHECK(m != MAP_FAILED, "mmap file");
	close(fd);
	for (int i = 0; i < PAGES * 4096; i += 4096)
		(void)*(volatile uint8_t *)(m + i); /* page cache pages, not copies */
	memset(m + 3 * 4096, 0x33, 4096);
	memset(m + 7 * 4096 + 100, 0x77, 50);
	memset(m + 9 * 4096, 0, 4096); /* a zero page that differs from the file */

	prog_wait_restore();

	for (int p = 0; p < PAGES; p++)
		for (int i = p * 4096; i < (p + 1) * 4096; i++) {
			uint8_t want = expect_file(i);
			if (p == 3)
				want = 0x33;
			else if (p == 9)
				want = 0;
			else if (p == 7 && i >= 7 * 4096 + 100 && i < 7 * 4096 + 150)
				want = 0x77;
			CHECK(m[i] == want, "page %d byte %d is %#x, want %#x", p, i, m[i], want);
		}
	fd = open("filemap.data", O_RDONLY);
	CHECK(fd >= 0 && read(fd, buf, sizeof(buf)) == (ssize_t)sizeof(buf), "read file back");
	for (int i = 0; i < PAGES * 4096; i++)
		CHECK(buf[i] == expect_file(i), "the file changed at byte %d", i);
	/* Still a private mapping: writes do not reach the file. */
	m[0] = 0xEE;
	CHECK(pread(fd, buf, 1, 0) == 1 && buf[0] == expect_file(0), "a private write reached the file");
	return prog_ok();
}
