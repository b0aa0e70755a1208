/* inotify: holds an inotify fd, a kind snapctl cannot restore; capture must
 * refuse it by name and leave the process running unharmed. */
#include <sys/inotify.h>

#include "prog.h"

int main(void)
{
	int fd = inotify_init1(IN_CLOEXEC);

	CHECK(fd >= 0 && inotify_add_watch(fd, ".", IN_CREATE) >= 0, "inotify");
	prog_wait_restore();
	CHECK(inotify_add_watch(fd, "/", IN_DELETE) >= 0, "the inotify fd is broken");
	return prog_ok();
}
