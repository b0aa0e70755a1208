/* inherited_socket.c — a workload handed two sockets made outside its cgroup: the guard's
 * connect/sendmsg hooks must still deny them; never targets anything but 127.0.0.1. */

/* usage: inherited_socket UDP_FD TCP_FD UDP_PORT TCP_PORT
 * sendto() on the unconnected UDP socket and connect() on the TCP one must
 * fail with EPERM; both are closed before the snapshot point (a snapshot
 * holds no socket). Exit 0 when both were denied and the point answered. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <snap/ready.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int udp, tcp, e_send = 0, e_conn = 0, point;

	if (argc != 5) {
		fprintf(stderr, "usage: inherited_socket UDP_FD TCP_FD UDP_PORT TCP_PORT\n");
		return 2;
	}
	udp = atoi(argv[1]);
	tcp = atoi(argv[2]);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)atoi(argv[3]));
	if (sendto(udp, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0)
		e_send = errno;
	a.sin_port = htons((uint16_t)atoi(argv[4]));
	if (connect(tcp, (struct sockaddr *)&a, sizeof(a)) < 0)
		e_conn = errno;
	close(udp);
	close(tcp);
	printf("sendto: %s, connect: %s\n", e_send ? strerror(e_send) : "sent", e_conn ? strerror(e_conn) : "connected");
	fflush(stdout);
	point = snap_snapshot_point();
	printf("point: %s\n", snap_snapshot_point_name(point));
	return e_send == EPERM && e_conn == EPERM && point >= 0 ? 0 : 1;
}
