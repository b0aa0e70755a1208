/* guard_workload.c — the workload of the guard tests: tries network sockets and a GPU node from
 * itself, a child and a thread, before and after its snapshot point; never targets beyond loopback. */

/* usage: guard_workload LOG TCP_PORT UDP_PORT DEVNODE BEFORE
 *   BEFORE     "deny": every attempt before the snapshot point must fail with
 *              EPERM (the guard is on); "allow": they must work.
 *   after it   everything must work (sockets connect or send to 127.0.0.1,
 *              DEVNODE fails with ENXIO: a node without a driver), except
 *              AF_PACKET after "continued" when GUARD_TEST_PACKET_AFTER_CONTINUE
 *              is "deny" (the cgroup backend withholds CAP_NET_RAW for good).
 * Each attempt is a line in LOG; exit 0 when all went as expected. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <snap/ready.h>

static const char *log_path;
static int tcp_port, udp_port;
static const char *devnode;

/* One line per event, the file opened for each: no fd is held across the
 * snapshot point. */
static void logf_(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	fd = open(log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (write(fd, line, (size_t)n) < 0)
		n = 0;
	close(fd);
}

/* ---- io_uring, by hand: the test programs link nothing but libc ---- */

/* Submits one request on a ring of its own and returns the cqe's res. */
static int uring_one(const struct io_uring_sqe *req, int *ret_res)
{
	struct io_uring_params p = { 0 };
	size_t sq_size, cq_size, sqes_size;
	void *sq = MAP_FAILED, *cq = MAP_FAILED, *sqes = MAP_FAILED;
	unsigned int *tail, *mask, *array, *cq_head, *cq_tail, *cq_mask, idx;
	struct io_uring_cqe *cqes;
	int fd, r = 0;

	fd = (int)syscall(__NR_io_uring_setup, 4, &p);
	if (fd < 0)
		return -errno;
	sq_size = p.sq_off.array + p.sq_entries * sizeof(unsigned int);
	cq_size = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	if (p.features & IORING_FEAT_SINGLE_MMAP)
		sq_size = cq_size = sq_size > cq_size ? sq_size : cq_size;
	sqes_size = p.sq_entries * sizeof(struct io_uring_sqe);
	sq = mmap(NULL, sq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
	if (sq == MAP_FAILED)
		goto fail;
	cq = p.features & IORING_FEAT_SINGLE_MMAP
		     ? sq
		     : mmap(NULL, cq_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
	if (cq == MAP_FAILED)
		goto fail;
	sqes = mmap(NULL, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
	if (sqes == MAP_FAILED)
		goto fail;

	tail = (unsigned int *)((char *)sq + p.sq_off.tail);
	mask = (unsigned int *)((char *)sq + p.sq_off.ring_mask);
	array = (unsigned int *)((char *)sq + p.sq_off.array);
	idx = *tail & *mask;
	((struct io_uring_sqe *)sqes)[idx] = *req;
	array[idx] = idx;
	__atomic_store_n(tail, *tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		goto fail;
	cq_head = (unsigned int *)((char *)cq + p.cq_off.head);
	cq_tail = (unsigned int *)((char *)cq + p.cq_off.tail);
	cq_mask = (unsigned int *)((char *)cq + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)((char *)cq + p.cq_off.cqes);
	if (*cq_head == __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE)) {
		r = -EIO;
		goto out;
	}
	*ret_res = cqes[*cq_head & *cq_mask].res;
	__atomic_store_n(cq_head, *cq_head + 1, __ATOMIC_RELEASE);
	goto out;
fail:
	r = -errno;
out:
	if (sqes != MAP_FAILED)
		munmap(sqes, sqes_size);
	if (cq != MAP_FAILED && cq != sq)
		munmap(cq, cq_size);
	if (sq != MAP_FAILED)
		munmap(sq, sq_size);
	close(fd);
	return r;
}

/* ---- the attempts: 0 when it worked, else the errno ---- */

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static int try_tcp(void)
{
	struct sockaddr_in a = loopback(tcp_port);
	int s, r = 0;

	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		r = errno;
	close(s);
	return r;
}

static int try_udp(void)
{
	struct sockaddr_in a = loopback(udp_port);
	int s, r = 0;

	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	if (sendto(s, "x", 1, 0, (struct sockaddr *)&a, sizeof(a)) < 0)
		r = errno;
	close(s);
	return r;
}

static int try_packet(void)
{
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0); /* protocol 0: receives nothing */

	if (s < 0)
		return errno;
	close(s);
	return 0;
}

static int try_uring_socket(int family, int type)
{
	struct io_uring_sqe sqe = { .opcode = IORING_OP_SOCKET, .fd = family, .off = (uint64_t)type };
	int res = 0, r;

	r = uring_one(&sqe, &res);
	if (r < 0)
		return -r == ENOSYS ? 0 : -r; /* no io_uring at all: nothing to test */
	if (res < 0)
		return -res;
	close(res);
	return 0;
}

static int try_uring_tcp(void)
{
	return try_uring_socket(AF_INET, SOCK_STREAM);
}

static int try_uring_packet(void)
{
	return try_uring_socket(AF_PACKET, SOCK_RAW);
}

static int try_device(void)
{
	int fd = open(devnode, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static int try_uring_device(void)
{
	struct io_uring_sqe sqe = {
		.opcode = IORING_OP_OPENAT,
		.fd = AT_FDCWD,
		.addr = (uint64_t)(uintptr_t)devnode,
		.open_flags = O_RDONLY | O_CLOEXEC,
	};
	int res = 0, r;

	r = uring_one(&sqe, &res);
	if (r < 0)
		return -r == ENOSYS ? ENXIO : -r;
	if (res < 0)
		return -res;
	close(res);
	return 0;
}

enum expect { ALLOW, DENY };

static const struct attempt {
	const char *name;
	int (*fn)(void);
	bool packet;  /* needs CAP_NET_RAW */
	bool device;  /* allowed means ENXIO */
} attempts[] = {
	{ "tcp-connect", try_tcp, false, false },
	{ "udp-sendto", try_udp, false, false },
	{ "packet-socket", try_packet, true, false },
	{ "uring-socket-tcp", try_uring_tcp, false, false },
	{ "uring-socket-packet", try_uring_packet, true, false },
	{ "device-open", try_device, false, true },
	{ "uring-device-openat", try_uring_device, false, true },
};

struct phase {
	const char *name;   /* "before" or the snapshot point's answer */
	const char *where;  /* "main", "child", "thread" */
	enum expect expect;
	enum expect packet; /* the packet sockets' own expectation */
	int failures;
};

static void run_attempts(struct phase *ph)
{
	for (size_t i = 0; i < sizeof(attempts) / sizeof(attempts[0]); i++) {
		const struct attempt *a = &attempts[i];
		enum expect e = a->packet ? ph->packet : ph->expect;
		int want, got;

		if (a->packet && geteuid() != 0 && e == ALLOW)
			continue; /* no CAP_NET_RAW to begin with */
		want = e == DENY ? EPERM : a->device ? ENXIO : 0;
		got = a->fn();
		logf_("phase=%s where=%s attempt=%s result=%s %s", ph->name, ph->where, a->name,
		      got ? strerrorname_np(got) : "ok", got == want ? "as-expected" : "UNEXPECTED");
		if (got != want)
			ph->failures++;
	}
}

static void *thread_main(void *arg)
{
	pthread_setname_np(pthread_self(), "gw-thread");
	run_attempts(arg);
	return NULL;
}

/* The same attempts in the process, a forked child and a thread. */
static int run_everywhere(const char *name, enum expect expect, enum expect packet)
{
	struct phase main_ph = { name, "main", expect, packet, 0 };
	struct phase thread_ph = { name, "thread", expect, packet, 0 };
	pthread_t t;
	int status, failures;
	pid_t pid;

	run_attempts(&main_ph);
	failures = main_ph.failures;

	pid = fork();
	if (pid == 0) {
		struct phase child_ph = { name, "child", expect, packet, 0 };

		prctl(PR_SET_NAME, "gw-child");
		run_attempts(&child_ph);
		_exit(child_ph.failures ? 1 : 0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		failures++;

	if (pthread_create(&t, NULL, thread_main, &thread_ph) != 0 || pthread_join(t, NULL) != 0)
		failures++;
	return failures + thread_ph.failures;
}

int main(int argc, char **argv)
{
	const char *packet_after = getenv("GUARD_TEST_PACKET_AFTER_CONTINUE");
	enum expect before, after_packet;
	struct stat st;
	int failures, point;

	if (argc != 6 || (strcmp(argv[5], "deny") && strcmp(argv[5], "allow"))) {
		fprintf(stderr, "usage: guard_workload LOG TCP_PORT UDP_PORT DEVNODE deny|allow\n");
		return 2;
	}
	log_path = argv[1];
	tcp_port = atoi(argv[2]);
	udp_port = atoi(argv[3]);
	devnode = argv[4];
	before = strcmp(argv[5], "deny") ? ALLOW : DENY;
	/* Warm the node's dentry: io_uring's OPENAT then completes inline
	 * instead of in an io-wq worker thread that would outlive the ring. */
	stat(devnode, &st);

	failures = run_everywhere("before", before, before);
	logf_("before-failures=%d", failures);

	point = snap_snapshot_point();
	logf_("point=%s pid=%d", snap_snapshot_point_name(point), (int)getpid());
	if (point < 0) {
		logf_("snapshot point failed: %s", strerror(-point));
		return 1;
	}
	after_packet = point == SNAP_POINT_CONTINUED && packet_after && !strcmp(packet_after, "deny") ? DENY : ALLOW;
	failures += run_everywhere(snap_snapshot_point_name(point), ALLOW, after_packet);
	logf_("done point=%s failures=%d", snap_snapshot_point_name(point), failures);
	return failures ? 1 : 0;
}
