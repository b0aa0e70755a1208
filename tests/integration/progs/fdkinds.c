/* fdkinds: pipes (100 KiB buffered in a 256 KiB pipe, per-end O_NONBLOCK, a
 * reader whose writer is gone, a writer whose reader is gone, a thread
 * blocked reading), eventfds, a signalfd, timerfds (armed, disarmed, with an
 * unread expiry, absolute) and an epoll set come back as they were. With an argument, a case whose capture must be refused
 * (its pipe's other end, or an epoll watch's file, is out of reach); the
 * process then checks that it was left working. */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>

#include "prog.h"

#define PIPE_SIZE (256 << 10)
#define PIPE_DATA (100 << 10)
#define NS(ts) ((long long)(ts).tv_sec * 1000000000ll + (ts).tv_nsec)

static uint8_t pattern_byte(size_t i)
{
	return (uint8_t)(prog_pattern(7, i / 8) >> (i % 8 * 8)) ^ (uint8_t)i;
}

static int blocked_pipe[2];
static volatile pid_t reader_tid;
static char reader_buf[64];
static ssize_t reader_got;

static void *blocked_reader(void *arg)
{
	(void)arg;
	reader_tid = (pid_t)syscall(SYS_gettid);
	reader_got = read(blocked_pipe[0], reader_buf, sizeof(reader_buf));
	return NULL;
}

/* Until thread tid sits in read(2) on fd (its /proc syscall line says so). */
static void wait_in_read(pid_t tid, int fd)
{
	char path[64], line[256], want[32];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	snprintf(want, sizeof(want), "%d 0x%x ", SYS_read, fd);
	for (int i = 0; i < 5000; i++) {
		FILE *f = fopen(path, "r");
		if (f) {
			char *l = fgets(line, sizeof(line), f);
			fclose(f);
			if (l && !strncmp(line, want, strlen(want)))
				return;
		}
		usleep(1000);
	}
	prog_fail("the reader thread never blocked in read(2)");
}

static void write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		CHECK(n > 0, "write: %s", strerror(errno));
		done += (size_t)n;
	}
}

static uint64_t read_u64(int fd, const char *what)
{
	uint64_t v = 0;
	ssize_t n = read(fd, &v, sizeof(v));

	CHECK(n == sizeof(v), "%s: read returned %zd (%s)", what, n, n < 0 ? strerror(errno) : "short");
	return v;
}

static int roundtrip(void)
{
	int a[2], b[2], d[2], e[2], efd, semfd, sfd, tfd, tdis, tpend, tper, tabs, ep;
	static uint8_t data[PIPE_DATA], back[PIPE_DATA];
	struct itimerspec its;
	struct timespec now;
	pthread_t reader;
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	CHECK(sigprocmask(SIG_BLOCK, &mask, NULL) == 0, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);

	/* a: both ends, 256 KiB, 100 KiB buffered */
	CHECK(pipe(a) == 0, "pipe a");
	CHECK(fcntl(a[1], F_SETPIPE_SZ, PIPE_SIZE) == PIPE_SIZE, "F_SETPIPE_SZ: %s", strerror(errno));
	for (size_t i = 0; i < PIPE_DATA; i++)
		data[i] = pattern_byte(i);
	write_all(a[1], data, PIPE_DATA);
	/* b: the read end nonblocking, the write end not */
	CHECK(pipe(b) == 0 && fcntl(b[0], F_SETFL, O_NONBLOCK) == 0, "pipe b");
	/* d: a reader whose writer is gone, "bye" left in it */
	CHECK(pipe(d) == 0, "pipe d");
	write_all(d[1], "bye", 3);
	close(d[1]);
	/* e: a writer whose reader is gone */
	CHECK(pipe(e) == 0, "pipe e");
	close(e[0]);

	efd = eventfd(5, 0);
	CHECK(efd >= 0 && dup2(efd, 50) == 50, "eventfd");
	semfd = eventfd(3, EFD_SEMAPHORE | EFD_NONBLOCK);
	CHECK(semfd >= 0, "semaphore eventfd");
	sfd = signalfd(-1, &mask, SFD_NONBLOCK);
	CHECK(sfd >= 0, "signalfd");

	tfd = timerfd_create(CLOCK_MONOTONIC, 0);
	its = (struct itimerspec){ .it_value = { 1, 0 }, .it_interval = { 0, 200 * 1000 * 1000 } };
	CHECK(tfd >= 0 && timerfd_settime(tfd, 0, &its, NULL) == 0, "timerfd");
	tdis = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	CHECK(tdis >= 0, "disarmed timerfd");
	/* one expiry that nobody read: poll sees it without consuming it */
	tpend = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	its = (struct itimerspec){ .it_value = { 0, 1000 * 1000 } };
	CHECK(tpend >= 0 && timerfd_settime(tpend, 0, &its, NULL) == 0, "pending timerfd");
	struct pollfd pp = { .fd = tpend, .events = POLLIN };
	CHECK(poll(&pp, 1, 5000) == 1, "the 1 ms timer did not expire");
	/* a periodic timer that ran out once and was not read: fdinfo shows
	 * nothing left until a read re-arms it */
	tper = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	its = (struct itimerspec){ .it_value = { 0, 1000 * 1000 }, .it_interval = { 3600, 0 } };
	CHECK(tper >= 0 && timerfd_settime(tper, 0, &its, NULL) == 0, "expired periodic timerfd");
	pp = (struct pollfd){ .fd = tper, .events = POLLIN };
	CHECK(poll(&pp, 1, 5000) == 1, "the 1 ms periodic timer did not expire");
	/* an absolute deadline an hour away on the wall clock */
	tabs = timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK);
	clock_gettime(CLOCK_REALTIME, &now);
	its = (struct itimerspec){ .it_value = { now.tv_sec + 3600, now.tv_nsec } };
	CHECK(tabs >= 0 && timerfd_settime(tabs, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, NULL) == 0,
	      "absolute timerfd");

	ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x1111 };
	CHECK(ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, a[0], &ev) == 0, "epoll a");
	ev = (struct epoll_event){ .events = EPOLLIN, .data.u64 = 0x2222000000002222ull };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0, "epoll eventfd");

	CHECK(pipe(blocked_pipe) == 0, "pipe c");
	CHECK(pthread_create(&reader, NULL, blocked_reader, NULL) == 0, "pthread_create");
	while (!reader_tid)
		usleep(1000);
	wait_in_read(reader_tid, blocked_pipe[0]);

	prog_wait_restore();

	/* epoll first: it sees a and the eventfd readable, with their data */
	struct epoll_event evs[8];
	int n = epoll_wait(ep, evs, 8, 1000), seen = 0;
	CHECK(n == 2, "epoll_wait returned %d events, want 2", n);
	for (int i = 0; i < n; i++) {
		CHECK(evs[i].events & EPOLLIN, "epoll event %d without EPOLLIN", i);
		seen |= evs[i].data.u64 == 0x1111 ? 1 : evs[i].data.u64 == 0x2222000000002222ull ? 2 : 4;
	}
	CHECK(seen == 3, "epoll data are wrong (%#llx, %#llx)", (unsigned long long)evs[0].data.u64,
	      (unsigned long long)evs[1].data.u64);

	/* a: size, the exact bytes, then both ways again */
	int queued = -1;
	CHECK(fcntl(a[0], F_GETPIPE_SZ) == PIPE_SIZE, "pipe size is %d", fcntl(a[0], F_GETPIPE_SZ));
	CHECK(ioctl(a[0], FIONREAD, &queued) == 0 && queued == PIPE_DATA, "pipe holds %d bytes", queued);
	for (size_t got = 0; got < PIPE_DATA;) {
		ssize_t r = read(a[0], back + got, PIPE_DATA - got);
		CHECK(r > 0, "read pipe a: %zd", r);
		got += (size_t)r;
	}
	for (size_t i = 0; i < PIPE_DATA; i++)
		CHECK(back[i] == data[i], "pipe byte %zu is %#x, want %#x", i, back[i], data[i]);
	CHECK(ioctl(a[0], FIONREAD, &queued) == 0 && queued == 0, "pipe still holds %d bytes", queued);
	char buf[16];
	write_all(a[1], "abc", 3);
	CHECK(read(a[0], buf, sizeof(buf)) == 3 && !memcmp(buf, "abc", 3), "pipe a after restore");
	CHECK(!(fcntl(a[0], F_GETFL) & O_NONBLOCK), "pipe a became nonblocking");

	/* b: O_NONBLOCK on the read end only */
	CHECK(read(b[0], buf, 1) == -1 && errno == EAGAIN, "read on empty nonblocking pipe: %s", strerror(errno));
	CHECK(fcntl(b[0], F_GETFL) & O_NONBLOCK, "pipe b's read end lost O_NONBLOCK");
	CHECK(!(fcntl(b[1], F_GETFL) & O_NONBLOCK), "pipe b's write end gained O_NONBLOCK");
	write_all(b[1], "x", 1);
	CHECK(read(b[0], buf, 1) == 1 && buf[0] == 'x', "pipe b after restore");

	/* d: the bytes, then end of file; e: EPIPE */
	CHECK(read(d[0], buf, sizeof(buf)) == 3 && !memcmp(buf, "bye", 3), "pipe d lost its bytes");
	CHECK(read(d[0], buf, sizeof(buf)) == 0, "pipe d has a writer again");
	CHECK(write(e[1], "x", 1) == -1 && errno == EPIPE, "pipe e has a reader again");

	/* eventfds: the count, shared with the dup at 50; the semaphore */
	CHECK(read_u64(efd, "eventfd") == 5, "eventfd count is not 5");
	uint64_t two = 2;
	CHECK(write(50, &two, sizeof(two)) == sizeof(two), "write to fd 50");
	CHECK(read_u64(efd, "eventfd via dup") == 2, "fd 50 is not the same eventfd");
	for (int i = 0; i < 3; i++)
		CHECK(read_u64(semfd, "semaphore eventfd") == 1, "semaphore eventfd read %d is not 1", i);
	uint64_t v;
	CHECK(read(semfd, &v, sizeof(v)) == -1 && errno == EAGAIN, "semaphore eventfd is not empty");

	/* signalfd */
	struct signalfd_siginfo si;
	CHECK(read(sfd, &si, sizeof(si)) == -1 && errno == EAGAIN, "signalfd has something before raise");
	raise(SIGUSR2);
	CHECK(read(sfd, &si, sizeof(si)) == sizeof(si) && si.ssi_signo == SIGUSR2, "signalfd did not get SIGUSR2");

	/* timerfds */
	CHECK(read_u64(tpend, "pending timerfd") == 1, "the unread expiry was lost");
	CHECK(read_u64(tper, "expired periodic timerfd") == 1, "the periodic timer's unread expiry was lost");
	CHECK(timerfd_gettime(tper, &its) == 0 && NS(its.it_value) > 3500ll * 1000000000 &&
		      NS(its.it_interval) == 3600ll * 1000000000,
	      "the periodic timer is not a period from its next expiry (%lld ns left)", NS(its.it_value));
	CHECK(timerfd_gettime(tdis, &its) == 0 && !NS(its.it_value) && !NS(its.it_interval), "disarmed timer is armed");
	CHECK(read(tdis, &v, sizeof(v)) == -1 && errno == EAGAIN, "disarmed timer fired");
	CHECK(timerfd_gettime(tabs, &its) == 0 && NS(its.it_value) > 3500ll * 1000000000 &&
		      NS(its.it_value) <= 3600ll * 1000000000,
	      "absolute timer has %lld ns left", NS(its.it_value));
	CHECK(timerfd_gettime(tfd, &its) == 0 && NS(its.it_interval) == 200 * 1000 * 1000, "timer interval");
	pp = (struct pollfd){ .fd = tfd, .events = POLLIN };
	CHECK(poll(&pp, 1, 5000) == 1, "the periodic timer does not fire");
	CHECK(read_u64(tfd, "timerfd") >= 1, "no ticks");

	/* the thread blocked in read(2) gets what we write now */
	write_all(blocked_pipe[1], "wake up", 7);
	CHECK(pthread_join(reader, NULL) == 0, "join");
	CHECK(reader_got == 7 && !memcmp(reader_buf, "wake up", 7), "the blocked reader got %zd bytes", reader_got);
	return prog_ok();
}

/* Only one end of a pipe, the other in a child process. */
static int refuse_pipe(bool keep_write_end)
{
	int p[2], status;
	char buf[8];
	pid_t child;

	CHECK(pipe(p) == 0, "pipe");
	child = fork();
	CHECK(child >= 0, "fork");
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (keep_write_end) { /* the child reads */
			close(p[1]);
			_exit(read(p[0], buf, 4) == 4 && !memcmp(buf, "ping", 4) ? 0 : 1);
		}
		close(p[0]); /* the child writes, and keeps its end open */
		write_all(p[1], "pong", 4);
		pause();
		_exit(1);
	}
	close(keep_write_end ? p[0] : p[1]);

	prog_wait_restore();

	if (keep_write_end) {
		write_all(p[1], "ping", 4);
		CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "the child did not read ping");
	} else {
		CHECK(read(p[0], buf, 4) == 4 && !memcmp(buf, "pong", 4), "the capture took pong out of the pipe");
		kill(child, SIGKILL);
		waitpid(child, &status, 0);
	}
	return prog_ok();
}

/* An epoll set watching a file under a number that was closed since. */
static int refuse_epoll(void)
{
	int efd = eventfd(0, 0), ep = epoll_create1(0), dup_fd;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 7 };
	uint64_t one = 1;

	CHECK(efd >= 0 && ep >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev) == 0, "epoll");
	dup_fd = dup(efd);
	CHECK(dup_fd >= 0 && close(efd) == 0, "dup");

	prog_wait_restore();

	CHECK(write(dup_fd, &one, sizeof(one)) == sizeof(one), "write");
	CHECK(epoll_wait(ep, &ev, 1, 1000) == 1 && ev.data.u64 == 7, "epoll lost its watch");
	return prog_ok();
}

static int refuse_fifo(void)
{
	int fd;

	CHECK(mkfifo("fifo", 0600) == 0 || errno == EEXIST, "mkfifo");
	fd = open("fifo", O_RDWR);
	CHECK(fd >= 0, "open fifo");
	prog_wait_restore();
	CHECK(write(fd, "x", 1) == 1, "fifo write");
	return prog_ok();
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	if (!strcmp(mode, "write-end-only"))
		return refuse_pipe(true);
	if (!strcmp(mode, "read-end-only"))
		return refuse_pipe(false);
	if (!strcmp(mode, "epoll-closed-fd"))
		return refuse_epoll();
	if (!strcmp(mode, "fifo"))
		return refuse_fifo();
	return roundtrip();
}
