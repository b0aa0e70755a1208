/* exitcode: the restored process's exit status (argv[1]) or death by a
 * signal (argv[1] = "abort") is what `snapctl restore` exits with. */
#include <signal.h>

#include "prog.h"

int main(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "42";

	prog_wait_restore();
	prog_ok();
	if (!strcmp(how, "abort")) {
		signal(SIGABRT, SIG_DFL);
		raise(SIGABRT);
	}
	return atoi(how);
}
