/* tcp: holds a listening TCP socket, which capture must refuse; the
 * original must keep running unharmed and its socket keep working. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "prog.h"

int main(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(s >= 0 && bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(s, 1) == 0, "listen");
	prog_wait_restore();
	CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0 && a.sin_port != 0, "the socket is broken");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	CHECK(c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0, "connect to our own socket");
	return prog_ok();
}
