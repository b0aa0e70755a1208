/* start_workload.c — the guard benchmark's workload: a start made of the calls the guard hooks
 * (device opens, socket(2), any syscall), then its snapshot point; never opens a network socket. */

/* usage: start_workload OPS
 * OPS times: open+close /dev/null (cgroup/dev), socket(AF_UNIX)+close (the
 * sock_create path), getppid (any syscall: the sys_enter/sys_exit
 * observers). Then snap_snapshot_point(); exit 0. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <snap/ready.h>

int main(int argc, char **argv)
{
	long ops = argc > 1 ? atol(argv[1]) : 100000;

	for (long i = 0; i < ops; i++) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || s < 0) {
			perror("start_workload");
			return 1;
		}
		close(fd);
		close(s);
		getppid();
	}
	return snap_snapshot_point() < 0;
}
