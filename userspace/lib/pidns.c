/* pidns.c — restore into a fresh PID namespace: an init of our own that
 * creates the restore child with the saved pid and then only reaps,
 * forwards signals and mirrors the child's exit. Init never exec()s, never
 * allocates, and never outlives the child or a caller that gave up. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctx.h"
#include "pidns.h"
#include "sys.h"

/* Messages on the control socket (SOCK_SEQPACKET, one struct each). */
enum pidns_msg_type {
	PIDNS_MSG_CHILD = 'C',   /* init -> caller, sent by the child itself: its pid rides in SCM_CREDENTIALS */
	PIDNS_MSG_ERROR = 'E',   /* init -> caller: init could not create the child; err = -errno */
	PIDNS_MSG_RELEASE = 'R', /* caller -> init: the child runs; stop watching the caller */
};

struct pidns_msg {
	char type;
	int32_t err;
};

/* Signals init passes on to the child: what a terminal, a service manager
 * or `kill` aims at a container's pid 1. SIGCHLD is init's own. */
static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int send_msg(int fd, char type, int err)
{
	struct pidns_msg m = { .type = type, .err = err };
	ssize_t n;

	do
		n = send(fd, &m, sizeof(m), MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(m) ? 0 : -EPIPE;
}

/* 1 with *msg and the sender's pid as we see it, 0 at end of stream. */
static int recv_msg(int fd, struct pidns_msg *msg, pid_t *ret_sender)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} control;
	struct iovec iov = { msg, sizeof(*msg) };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof(control.buf),
	};
	ssize_t n;

	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(*msg))
		return -EPROTO;
	*ret_sender = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred cred;
			memcpy(&cred, CMSG_DATA(c), sizeof(cred));
			*ret_sender = cred.pid;
		}
	}
	return 1;
}

/* ---- init, inside the namespace ---- */

/* Closes every fd but a and b (a < b). */
static void close_all_but(int a, int b)
{
	if (a > 0)
		close_range(0, (unsigned int)a - 1, 0);
	if (b > a + 1)
		close_range((unsigned int)a + 1, (unsigned int)b - 1, 0);
	close_range((unsigned int)b + 1, ~0u, 0);
}

static int status_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static __attribute__((noreturn)) void init_fail(int ctl, int err)
{
	send_msg(ctl, PIDNS_MSG_ERROR, err);
	_exit(127);
}

/* Until released, the end of the caller's socket means the caller gave up
 * (or died): init exits, and the kernel kills the rest of the namespace. */
static __attribute__((noreturn)) void init_loop(int ctl, int sfd, pid_t child)
{
	bool released = false;

	for (;;) {
		struct pollfd p[2] = { { sfd, POLLIN, 0 }, { released ? -1 : ctl, POLLIN, 0 } };
		struct signalfd_siginfo si;
		int status;
		pid_t dead;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			_exit(127);
		if (p[1].revents) {
			char c = 0;
			ssize_t n = recv(ctl, &c, 1, MSG_DONTWAIT);
			if (n == 1 && c == PIDNS_MSG_RELEASE) {
				released = true;
				close(ctl);
			} else if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				_exit(127);
			}
		}
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			if (si.ssi_signo != SIGCHLD)
				kill(child, (int)si.ssi_signo);
		/* Orphans of the child come to us too: reap them all. */
		while ((dead = waitpid(-1, &status, WNOHANG | __WALL)) > 0)
			if (dead == child)
				_exit(status_code(status));
		if (dead < 0 && errno == ECHILD)
			_exit(127); /* cannot happen: the child is ours until we reap it */
	}
}

static __attribute__((noreturn)) void init_main(int ctl, pid_t want, snap_pidns_child_fn fn, void *arg)
{
	struct clone_args args = { .exit_signal = SIGCHLD };
	sigset_t handled, old;
	pid_t tid = want;
	long child;
	int sfd;

	sys_prctl(PR_SET_NAME, (unsigned long)"snapctl-pidns", 0, 0, 0);
	sigemptyset(&handled);
	sigaddset(&handled, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
		sigaddset(&handled, forwarded[i]);
	/* Blocked, a signal reaches pid 1 even with no handler: signalfd takes it. */
	sigprocmask(SIG_BLOCK, &handled, &old);
	sfd = signalfd(-1, &handled, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		init_fail(ctl, -errno);

	/* From inside, set_tid_size 1 names the pid in this namespace. */
	args.set_tid = (uint64_t)(uintptr_t)&tid;
	args.set_tid_size = 1;
	child = sys_clone3(&args, sizeof(args));
	if (child < 0)
		init_fail(ctl, (int)child);
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		close(sfd);
		/* The kernel attaches our pid to the message, translated into
		 * the receiver's namespace: that is how the caller learns it. */
		if (send_msg(ctl, PIDNS_MSG_CHILD, 0) < 0)
			_exit(127);
		close(ctl);
		fn(arg);
		_exit(127);
	}
	/* Hold nothing of the caller's: no pipe it reads to its end, no
	 * terminal, no working directory that keeps a mount busy. */
	if (ctl < sfd)
		close_all_but(ctl, sfd);
	else
		close_all_but(sfd, ctl);
	if (chdir("/") < 0) {
		/* harmless: only a mount stays busy */
	}
	init_loop(ctl, sfd, (pid_t)child);
}

/* ---- the caller's side ---- */

int snap_pidns_spawn(struct snap_ctx *ctx, pid_t want, snap_pidns_child_fn fn, void *arg,
		     struct snap_pidns *ret_ns, pid_t *ret_child)
{
	struct clone_args args = { .flags = CLONE_NEWPID, .exit_signal = SIGCHLD };
	struct snap_pidns ns = SNAP_PIDNS_NONE;
	struct pidns_msg msg;
	int sv[2], one = 1, r;
	pid_t child = 0;
	long init;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return snap_err(ctx, -errno, "cannot create a socket for the PID namespace's init: %s", strerror(errno));
	if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
		r = snap_err(ctx, -errno, "cannot set SO_PASSCRED on the PID namespace's socket: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return r;
	}
	init = sys_clone3(&args, sizeof(args));
	if (init < 0) {
		close(sv[0]);
		close(sv[1]);
		return snap_err(ctx, (int)init, "cannot create a PID namespace: %s%s", strerror((int)-init),
				init == -EPERM ? "; --pid-ns needs CAP_SYS_ADMIN (run as root)" : "");
	}
	if (init == 0) {
		close(sv[0]);
		init_main(sv[1], want, fn, arg);
	}
	close(sv[1]);
	ns.init_pid = (pid_t)init;
	ns.ctl_fd = sv[0];

	r = recv_msg(ns.ctl_fd, &msg, &child);
	if (r == 0 || (r > 0 && msg.type == PIDNS_MSG_ERROR)) {
		int err = r > 0 ? msg.err : -EIO;
		snap_pidns_kill(&ns);
		return snap_err(ctx, err, "cannot create the process with pid %d in its new PID namespace: %s",
				(int)want, r > 0 ? strerror(-err) : "the namespace's init ended without a word");
	}
	if (r < 0 || msg.type != PIDNS_MSG_CHILD || child <= 0) {
		snap_pidns_kill(&ns);
		return snap_err(ctx, r < 0 ? r : -EPROTO,
				"the PID namespace's init did not say which process it created (%s)",
				r < 0 ? strerror(-r) : "no pid in its message");
	}
	*ret_ns = ns;
	*ret_child = child;
	return 0;
}

int snap_pidns_release(struct snap_ctx *ctx, struct snap_pidns *ns)
{
	int r = send_msg(ns->ctl_fd, PIDNS_MSG_RELEASE, 0);

	close(ns->ctl_fd);
	ns->ctl_fd = -1;
	if (r < 0)
		return snap_err(ctx, r, "the PID namespace's init (pid %d) is gone: the restored process ended early",
				(int)ns->init_pid);
	return 0;
}

int snap_pidns_wait(struct snap_pidns *ns)
{
	int status = 0;
	pid_t r;

	do
		r = waitpid(ns->init_pid, &status, 0);
	while (r < 0 && errno == EINTR);
	ns->init_pid = -1;
	if (r < 0)
		return 128 + SIGKILL; /* reaped by someone else: nothing more is known */
	return status_code(status);
}

void snap_pidns_kill(struct snap_pidns *ns)
{
	if (ns->ctl_fd >= 0)
		close(ns->ctl_fd);
	ns->ctl_fd = -1;
	if (ns->init_pid > 0) {
		kill(ns->init_pid, SIGKILL);
		while (waitpid(ns->init_pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	ns->init_pid = -1;
}
