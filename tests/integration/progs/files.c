/* files: regular-file fds with offsets, O_APPEND, a dup at fd 42 sharing
 * its offset, FD_CLOEXEC, /dev/null; cwd and umask. */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "prog.h"

int main(void)
{
	char cwd[PATH_MAX], buf[64];
	int a, b, c, n;

	CHECK(mkdir("sub dir", 0755) == 0 || errno == EEXIST, "mkdir");
	CHECK(chdir("sub dir") == 0, "chdir");
	umask(027);
	a = open("a.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(a >= 0 && write(a, "hello world", 11) == 11 && lseek(a, 5, SEEK_SET) == 5, "file a");
	b = open("b.log", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
	CHECK(b >= 0 && write(b, "line1\n", 6) == 6, "file b");
	CHECK(dup2(a, 42) == 42, "dup2 to 42");
	c = open("a.txt", O_RDONLY | O_CLOEXEC);
	CHECK(c >= 0 && read(c, buf, 3) == 3, "file c");
	n = open("/dev/null", O_WRONLY);
	CHECK(n >= 0, "/dev/null");
	CHECK(getcwd(cwd, sizeof(cwd)), "getcwd");

	prog_wait_restore();

	char now[PATH_MAX];
	CHECK(getcwd(now, sizeof(now)) && !strcmp(now, cwd), "cwd is %s, was %s", now, cwd);
	mode_t old = umask(0);
	CHECK(old == 027, "umask is %o", old);
	CHECK(lseek(a, 0, SEEK_CUR) == 5, "offset of a is %ld", (long)lseek(a, 0, SEEK_CUR));
	CHECK(read(42, buf, 1) == 1 && buf[0] == ' ', "read through fd 42");
	CHECK(lseek(a, 0, SEEK_CUR) == 6, "fd 42 does not share a's offset");
	CHECK(lseek(c, 0, SEEK_CUR) == 3, "offset of c");
	CHECK(fcntl(c, F_GETFD) & FD_CLOEXEC, "c lost FD_CLOEXEC");
	CHECK(!(fcntl(a, F_GETFD) & FD_CLOEXEC), "a gained FD_CLOEXEC");
	CHECK(fcntl(b, F_GETFL) & O_APPEND, "b lost O_APPEND");
	CHECK((fcntl(a, F_GETFL) & O_ACCMODE) == O_RDWR, "a is not O_RDWR");
	CHECK(write(b, "line2\n", 6) == 6, "append");
	CHECK(write(n, "x", 1) == 1, "/dev/null write");
	int r = open("b.log", O_RDONLY);
	memset(buf, 0, sizeof(buf));
	CHECK(r >= 0 && read(r, buf, sizeof(buf) - 1) == 12 && !strcmp(buf, "line1\nline2\n"), "b.log is '%s'", buf);
	return prog_ok();
}
