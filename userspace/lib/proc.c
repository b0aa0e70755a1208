/* proc.c — reads a frozen process: registers, mm fields, fds, signals and
 * its map. Reads only; refuses what cannot be restored before anything is
 * written, naming the fd or mapping and what it is. */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/kcmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "ctx.h"
#include "fdkind.h"
#include "snap_features.h"
#include "image.h"
#include "inject.h"
#include "maps.h"
#include "proc.h"
#include "sys.h"

/* Reads a small /proc file into buf (NUL-terminated); returns its length. */
static ssize_t read_proc(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[96];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	return n;
}

static int read_link(pid_t pid, const char *name, char *buf, size_t size)
{
	char path[96];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, name);
	n = readlink(path, buf, size - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	return 0;
}

int snap_proc_add_file(struct snap_ctx *ctx, struct snap_image *img, const char *path, unsigned long long ino,
		       int32_t *ret_index)
{
	struct snap_rec_file *f;
	struct stat st;
	int r;

	for (uint32_t i = 0; i < img->nr_files; i++) {
		if (!strcmp(snap_image_string(img, img->files[i].path), path) && (!ino || img->files[i].ino == ino)) {
			*ret_index = (int32_t)i;
			return 0;
		}
	}
	if (stat(path, &st) < 0)
		return snap_err(ctx, -errno, "%s: %s (the process uses it, but it cannot be found to record it)", path,
				strerror(errno));
	if (ino && st.st_ino != ino)
		return snap_err(ctx, -ESTALE,
				"%s was replaced since the process opened it (inode %llu, now %llu); such a file cannot be restored",
				path, ino, (unsigned long long)st.st_ino);
	r = snap_image_add_file(img, &f, ret_index);
	if (r < 0)
		return snap_err(ctx, r, "out of memory");
	r = snap_image_add_string(img, path, &f->path);
	if (r < 0)
		return snap_err(ctx, r, "out of memory");
	f->mode = st.st_mode;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	f->size = (uint64_t)st.st_size;
	f->mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000ll + st.st_mtim.tv_nsec;
	return 0;
}

/* mm fields from /proc/PID/stat (fields 26-28 and 45-51). */
static int read_stat(struct snap_ctx *ctx, pid_t pid, struct snap_rec_process *p)
{
	char buf[4096], *s;
	unsigned long long v[52] = { 0 };
	int field = 3;

	if (read_proc(pid, "stat", buf, sizeof(buf)) < 0)
		return snap_err(ctx, -ESRCH, "process %d vanished", (int)pid);
	s = strrchr(buf, ')');
	if (!s)
		return snap_err(ctx, -EINVAL, "/proc/%d/stat is malformed", (int)pid);
	s += 2; /* past ") " */
	while (*s && field <= 51) {
		char *end;
		if (field == 3) { /* state letter */
			s += 2;
			field++;
			continue;
		}
		v[field] = strtoull(s, &end, 10);
		if (end == s)
			break;
		s = *end ? end + 1 : end;
		field++;
	}
	if (field <= 51)
		return snap_err(ctx, -EINVAL, "/proc/%d/stat has %d fields, expected 51 or more", (int)pid, field - 1);
	p->start_code = v[26];
	p->end_code = v[27];
	p->start_stack = v[28];
	p->start_data = v[45];
	p->end_data = v[46];
	p->start_brk = v[47];
	p->arg_start = v[48];
	p->arg_end = v[49];
	p->env_start = v[50];
	p->env_end = v[51];
	return 0;
}

static long inject(struct snap_ctx *ctx, struct snap_inject *inj, long nr, uint64_t a1, uint64_t a2, uint64_t a3,
		   uint64_t a4, const char *what)
{
	int ok;
	long r = snap_inject_syscall(inj, nr, a1, a2, a3, a4, &ok);

	if (!ok)
		return snap_err(ctx, (int)r, "running %s inside process %d failed: %s", what, (int)inj->pid,
				strerror((int)-r));
	return r;
}

static int read_handlers(struct snap_ctx *ctx, pid_t pid, struct snap_inject *inj, struct snap_image *img)
{
	struct snap_rec_process *p = &img->process;
	long r;

	for (int sig = 1; sig <= SNAP_NSIG; sig++) {
		uint64_t act[4];
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		r = inject(ctx, inj, SYS_rt_sigaction, (uint64_t)sig, 0, inj->scratch, 8, "rt_sigaction");
		if (r == -EINVAL)
			continue;
		if (r < 0)
			return (int)r;
		r = snap_inject_read(inj, inj->scratch, act, sizeof(act));
		if (r < 0)
			return snap_err(ctx, (int)r, "cannot read the signal handlers of process %d", (int)pid);
		p->sigactions[sig - 1].handler = act[0];
		p->sigactions[sig - 1].flags = act[1];
		p->sigactions[sig - 1].restorer = act[2];
		p->sigactions[sig - 1].mask = act[3];
	}
	return 0;
}

/* Signals queued and not yet delivered, read without dequeueing them. */
static int read_pending(struct snap_ctx *ctx, pid_t tid, bool shared, struct snap_image *img, uint64_t *ret_off,
			uint32_t *ret_count)
{
	uint8_t buf[32 * SNAP_SIGINFO_SIZE];
	uint32_t count = 0;
	uint64_t first = 0;

	for (;;) {
		struct {
			uint64_t off;
			uint32_t flags;
			int32_t nr;
		} args = { count, shared ? 1 /* PTRACE_PEEKSIGINFO_SHARED */ : 0, 32 };
		int n = sys_ptrace(PTRACE_PEEKSIGINFO, tid, &args, buf);
		if (n < 0)
			return snap_err(ctx, n, "cannot read the pending signals of thread %d: %s", (int)tid,
					strerror(-n));
		if (n == 0)
			break;
		uint64_t off;
		int r = snap_image_add_blob(img, buf, (uint32_t)n * SNAP_SIGINFO_SIZE, &off);
		if (r < 0)
			return snap_err(ctx, r, "out of memory");
		if (count == 0)
			first = off;
		count += (uint32_t)n;
		if (count > SNAP_MAX_PENDING)
			return snap_err(ctx, -E2BIG, "thread %d has more than %u pending signals", (int)tid,
					SNAP_MAX_PENDING);
		if (n < 32)
			break;
	}
	*ret_off = first;
	*ret_count = count;
	return 0;
}

/* What one thread alone knows: its signal stack and mask, its tid address,
 * rseq and robust futex list. */
static int read_thread_signals(struct snap_ctx *ctx, pid_t tid, struct snap_inject *inj, struct snap_image *img,
			       struct snap_rec_thread *t)
{
	struct {
		uint64_t sp;
		int32_t flags, pad;
		uint64_t size;
	} ss;
	uint64_t mask;
	long r;

	r = inject(ctx, inj, SYS_sigaltstack, 0, inj->scratch, 0, 0, "sigaltstack");
	if (r < 0)
		return (int)r;
	if (snap_inject_read(inj, inj->scratch, &ss, sizeof(ss)) < 0)
		return snap_err(ctx, -EFAULT, "cannot read the sigaltstack of thread %d", (int)tid);
	t->altstack_sp = ss.sp;
	t->altstack_flags = (uint32_t)ss.flags;
	t->altstack_size = ss.size;

	r = sys_ptrace(PTRACE_GETSIGMASK, tid, (void *)sizeof(mask), &mask);
	if (r < 0)
		return snap_err(ctx, (int)r, "cannot read the signal mask of thread %d", (int)tid);
	t->sigmask = mask;

	r = inject(ctx, inj, SYS_prctl, PR_GET_TID_ADDRESS, inj->scratch, 0, 0, "prctl(PR_GET_TID_ADDRESS)");
	if (r < 0)
		return (int)r;
	if (snap_inject_read(inj, inj->scratch, &t->clear_child_tid, 8) < 0)
		return snap_err(ctx, -EFAULT, "cannot read the tid address of thread %d", (int)tid);

	struct snap_ptrace_rseq_configuration rc = { 0 };
	if (sys_ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, (void *)sizeof(rc), &rc) > 0 && rc.rseq_abi_pointer) {
		t->rseq_ptr = rc.rseq_abi_pointer;
		t->rseq_len = rc.rseq_abi_size;
		t->rseq_sig = rc.signature;
	}
	void *head = NULL;
	size_t len = 0;
	if (sys_get_robust_list(tid, &head, &len) == 0) {
		t->robust_head = (uint64_t)(uintptr_t)head;
		t->robust_len = len;
	}
	return read_pending(ctx, tid, false, img, &t->pending_off, &t->pending_count);
}

static int read_regs(struct snap_ctx *ctx, pid_t pid, struct snap_image *img, struct snap_rec_thread *t)
{
	struct user_regs_struct regs;
	struct iovec iov = { &regs, sizeof(regs) };
	uint8_t *xs;
	int r;

	_Static_assert(sizeof(regs) == SNAP_REGS_WORDS * 8, "user_regs_struct layout");
	r = sys_ptrace(PTRACE_GETREGSET, pid, (void *)NT_PRSTATUS, &iov);
	if (r < 0)
		return snap_err(ctx, r, "cannot read the registers of process %d: %s", (int)pid, strerror(-r));

	/* A syscall interrupted by the freeze: the kernel would restart it
	 * through the restart block, which a new process does not have; make
	 * it re-run the original call instead (the ERESTARTNOINTR rule). */
	if ((long)regs.orig_rax >= 0 && (long)regs.rax == -516 /* ERESTART_RESTARTBLOCK */)
		regs.rax = (uint64_t)-513; /* ERESTARTNOINTR */
	memcpy(t->regs, &regs, sizeof(regs));

	uint32_t size = snap_cpu_xsave_size();
	if (size < 512 || size > SNAP_XSTATE_MAX)
		size = SNAP_XSTATE_MAX;
	xs = calloc(1, size);
	if (!xs)
		return snap_err(ctx, -ENOMEM, "out of memory");
	iov = (struct iovec){ xs, size };
	r = sys_ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &iov);
	if (r == 0)
		r = snap_image_add_blob(img, xs, (uint32_t)iov.iov_len, &t->xstate_off);
	free(xs);
	if (r < 0)
		return snap_err(ctx, r, "cannot read the FPU/xstate of process %d: %s", (int)pid, strerror(-r));
	t->xstate_len = (uint32_t)iov.iov_len;
	img->process.xfeatures = snap_cpu_xcr0();
	img->process.xsave_size = t->xstate_len;
	return 0;
}

int snap_proc_read_state(struct snap_ctx *ctx, pid_t pid, struct snap_inject *inj, struct snap_image *img)
{
	struct snap_rec_process *p = &img->process;
	char buf[8192], path[PATH_MAX];
	struct utsname uts;
	struct timespec now;
	ssize_t n;
	long r;

	p->pid = pid;
	r = read_stat(ctx, pid, p);
	if (r < 0)
		return (int)r;

	n = read_proc(pid, "auxv", buf, sizeof(buf));
	if (n < 0 || n % 16)
		return snap_err(ctx, -EINVAL, "cannot read /proc/%d/auxv", (int)pid);
	p->auxv_count = (uint32_t)(n / 16);
	if (p->auxv_count > SNAP_MAX_AUXV)
		return snap_err(ctx, -E2BIG, "process %d has %u auxv entries", (int)pid, p->auxv_count);
	memcpy(p->auxv, buf, (size_t)n);

	n = read_proc(pid, "personality", buf, sizeof(buf));
	p->personality = n > 0 ? (uint32_t)strtoul(buf, NULL, 16) : 0;

	n = read_proc(pid, "status", buf, sizeof(buf));
	if (n > 0) {
		char *u = strstr(buf, "\nUmask:");
		p->umask = u ? (uint32_t)strtoul(u + 7, NULL, 8) : 022;
	}

	n = read_proc(pid, "comm", buf, sizeof(buf));
	if (n > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		if ((r = snap_image_add_string(img, buf, &p->comm)) < 0)
			return snap_err(ctx, (int)r, "out of memory");
	}

	if (read_link(pid, "cwd", path, sizeof(path)) < 0)
		return snap_err(ctx, -errno, "cannot read the working directory of process %d", (int)pid);
	if (strstr(path, " (deleted)"))
		return snap_err(ctx, -ENOENT, "the working directory of process %d (%s) was deleted", (int)pid, path);
	if ((r = snap_image_add_string(img, path, &p->cwd)) < 0)
		return snap_err(ctx, (int)r, "out of memory");

	if (read_link(pid, "exe", path, sizeof(path)) == 0 && !strstr(path, " (deleted)")) {
		r = snap_proc_add_file(ctx, img, path, 0, &p->exe_file);
		if (r < 0)
			return (int)r;
	}

	for (int i = 0; i < SNAP_NRLIMITS; i++) {
		struct rlimit rl;
		if (prlimit(pid, (enum __rlimit_resource)i, NULL, &rl) < 0)
			return snap_err(ctx, -errno, "cannot read the resource limits of process %d", (int)pid);
		p->rlimits[i].cur = rl.rlim_cur;
		p->rlimits[i].max = rl.rlim_max;
	}

	uname(&uts);
	if ((r = snap_image_add_string(img, uts.release, &p->kernel_release)) < 0)
		return snap_err(ctx, (int)r, "out of memory");
	clock_gettime(CLOCK_REALTIME, &now);
	p->capture_time_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;

	/* What only the process can tell: asked from inside it. */
	r = inject(ctx, inj, SYS_brk, 0, 0, 0, 0, "brk");
	if (r < 0)
		return (int)r;
	p->brk = (uint64_t)r;
	for (int which = 0; which < 3; which++) {
		uint64_t itv[4]; /* interval sec, usec; value sec, usec */
		r = inject(ctx, inj, SYS_getitimer, (uint64_t)which, inj->scratch, 0, 0, "getitimer");
		if (r < 0)
			return (int)r;
		if (snap_inject_read(inj, inj->scratch, itv, sizeof(itv)) < 0)
			return snap_err(ctx, -EFAULT, "cannot read the interval timers of process %d", (int)pid);
		p->itimers[which].interval_us = itv[0] * 1000000 + itv[1];
		p->itimers[which].value_us = itv[2] * 1000000 + itv[3];
	}
	r = read_pending(ctx, pid, true, img, &p->shared_pending_off, &p->shared_pending_count);
	if (r < 0)
		return (int)r;
	return read_handlers(ctx, pid, inj, img);
}

int snap_proc_read_thread(struct snap_ctx *ctx, pid_t pid, pid_t tid, struct snap_inject *inj,
			  struct snap_image *img)
{
	struct snap_rec_thread *t;
	char name[64], buf[64];
	long r;

	r = snap_image_add_thread(img, &t);
	if (r < 0)
		return snap_err(ctx, (int)r, "out of memory");
	t->tid = tid;
	snprintf(name, sizeof(name), "task/%d/comm", (int)tid);
	if (read_proc(pid, name, buf, sizeof(buf)) > 0) {
		buf[strcspn(buf, "\n")] = '\0';
		memcpy(t->comm, buf, strnlen(buf, 15));
	}
	/* Registers first: injection changes them (and puts them back). */
	r = read_regs(ctx, tid, img, t);
	if (r < 0)
		return (int)r;
	return read_thread_signals(ctx, tid, inj, img, t);
}

/* Finds or adds the shared memory object behind a mapping or an fd; source
 * is a /proc path through which its content can be read. */
static int add_object(struct snap_ctx *ctx, pid_t pid, struct snap_image *img, uint64_t ino, uint32_t kind,
		      const char *name, const char *source, int32_t *ret_index)
{
	struct snap_rec_object *o;
	struct stat st;
	int fd, r;

	for (uint32_t i = 0; i < img->nr_objects; i++)
		if (img->objects[i].ino == ino) {
			*ret_index = (int32_t)i;
			return 0;
		}
	fd = open(source, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return snap_err(ctx, r, "process %d: cannot open the shared memory %s through %s: %s", (int)pid, name,
				source, strerror(-r));
	}
	r = snap_image_add_object(img, &o, ret_index);
	if (r < 0) {
		close(fd);
		return snap_err(ctx, r, "process %d has too many shared memory objects", (int)pid);
	}
	o->kind = kind;
	o->ino = ino;
	o->size = ((uint64_t)st.st_size + SNAP_PAGE_SIZE - 1) & ~(uint64_t)(SNAP_PAGE_SIZE - 1);
	if (kind == SNAP_OBJECT_MEMFD) {
		int seals = fcntl(fd, F_GET_SEALS);
		o->seals = seals > 0 ? (uint32_t)seals : 0;
	}
	close(fd);
	snprintf(img->object_sources[*ret_index], sizeof(img->object_sources[0]), "%s", source);
	r = snap_image_add_string(img, name, &o->name);
	return r < 0 ? snap_err(ctx, r, "out of memory") : 0;
}

/* ---- fds ---- */

static bool is_tty_major(unsigned int major)
{
	return major == 4 || major == 5 || (major >= 136 && major <= 143);
}

static const char *const restorable_devices[] = {
	"/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
};

static int describe_refusal(struct snap_ctx *ctx, pid_t pid, int fd, const char *link)
{
	const char *what = "an fd of a kind snapctl cannot restore";

	if (!strncmp(link, "socket:", 7))
		what = "a socket; snapctl does not restore network or unix connections: close it before the snapshot point";
	else if (!strncmp(link, "anon_inode:", 11))
		what = "a kernel object (anon inode); not restorable";
	else if (strstr(link, " (deleted)"))
		what = "a deleted file; its content cannot be found again";
	return snap_err(ctx, -EOPNOTSUPP, "process %d: fd %d is %s (%s); nothing was captured and the process was left running",
			(int)pid, fd, what, link);
}

static int read_fdinfo(pid_t pid, int fd, uint64_t *pos, uint32_t *flags)
{
	char name[64], buf[1024], *p;

	snprintf(name, sizeof(name), "fdinfo/%d", fd);
	if (read_proc(pid, name, buf, sizeof(buf)) < 0)
		return -errno;
	p = strstr(buf, "pos:");
	*pos = p ? strtoull(p + 4, NULL, 10) : 0;
	p = strstr(buf, "flags:");
	*flags = p ? (uint32_t)strtoul(p + 6, NULL, 8) : 0;
	return 0;
}

static int fd_compare(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

int snap_proc_read_fds(struct snap_ctx *ctx, pid_t pid, int ready_fd, struct snap_image *img)
{
	char dirpath[64], link[PATH_MAX], name[32], path[96];
	struct dirent *de;
	int *fds = NULL, nfds = 0, cap = 0, r = 0;
	DIR *d;

	snprintf(dirpath, sizeof(dirpath), "/proc/%d/fd", (int)pid);
	d = opendir(dirpath);
	if (!d)
		return snap_err(ctx, -errno, "cannot list the fds of process %d: %s", (int)pid, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if (nfds == cap) {
			int *p = realloc(fds, (size_t)(cap = cap ? cap * 2 : 64) * sizeof(int));
			if (!p) {
				closedir(d);
				free(fds);
				return snap_err(ctx, -ENOMEM, "out of memory");
			}
			fds = p;
		}
		fds[nfds++] = atoi(de->d_name);
	}
	closedir(d);
	qsort(fds, (size_t)nfds, sizeof(int), fd_compare);

	for (int i = 0; i < nfds && r == 0; i++) {
		int fd = fds[i];
		struct snap_rec_fd *rec;
		struct stat st;
		uint64_t pos = 0;
		uint32_t flags = 0;

		snprintf(name, sizeof(name), "fd/%d", fd);
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		if (read_link(pid, name, link, sizeof(link)) < 0 || stat(path, &st) < 0 ||
		    read_fdinfo(pid, fd, &pos, &flags) < 0) {
			r = snap_err(ctx, -ESRCH, "process %d: fd %d vanished while it was being read", (int)pid, fd);
			break;
		}
		if ((r = snap_image_add_fd(img, &rec)) < 0) {
			r = snap_err(ctx, r, "out of memory");
			break;
		}
		rec->fd = fd;
		rec->pos = pos;
		rec->open_flags = flags & ~(uint32_t)O_CLOEXEC;
		rec->flags = (flags & O_CLOEXEC) ? SNAP_FD_CLOEXEC : 0;
		if (fd == ready_fd && ready_fd > 0) {
			rec->kind = SNAP_FD_READY;
			continue;
		}

		if (fd <= 2 && (S_ISFIFO(st.st_mode) || (S_ISCHR(st.st_mode) && is_tty_major(major(st.st_rdev))))) {
			rec->kind = SNAP_FD_STDIO;
			continue;
		}
		r = snap_fdkind_capture(ctx, pid, fd, link, &st, rec, img);
		if (r < 0)
			break;
		if (r > 0) {
			r = 0;
			continue;
		}
		if (S_ISCHR(st.st_mode)) {
			bool ok = false;
			for (size_t k = 0; k < sizeof(restorable_devices) / sizeof(restorable_devices[0]); k++)
				ok |= !strcmp(link, restorable_devices[k]);
			if (!ok) {
				r = snap_err(ctx, -EOPNOTSUPP,
					     "process %d: fd %d is the character device %s (%u:%u); snapctl restores only /dev/null, /dev/zero, /dev/full, /dev/random and /dev/urandom, and GPU devices never: close it before capture",
					     (int)pid, fd, link, major(st.st_rdev), minor(st.st_rdev));
				break;
			}
			rec->kind = SNAP_FD_DEVICE;
			r = snap_proc_add_file(ctx, img, link, st.st_ino, &rec->file);
			continue;
		}
		if (S_ISREG(st.st_mode) && !strncmp(link, "/memfd:", 7)) {
			char name[PATH_MAX];
			snprintf(name, sizeof(name), "%s", link + 7);
			if (strlen(name) > 10 && !strcmp(name + strlen(name) - 10, " (deleted)"))
				name[strlen(name) - 10] = '\0';
			rec->kind = SNAP_FD_MEMFD;
			r = add_object(ctx, pid, img, st.st_ino, SNAP_OBJECT_MEMFD, name, path, &rec->object);
			if (r < 0)
				break;
			for (uint32_t k = 0; k + 1 < img->nr_fds; k++) {
				struct snap_rec_fd *o = &img->fds[k];
				if (o->kind == SNAP_FD_MEMFD && o->object == rec->object && o->same_as == -1 &&
				    sys_kcmp(pid, pid, KCMP_FILE, (unsigned long)o->fd, (unsigned long)fd) == 0) {
					rec->same_as = (int32_t)k;
					break;
				}
			}
			continue;
		}
		if ((S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) && link[0] == '/' && !strstr(link, " (deleted)")) {
			rec->kind = SNAP_FD_FILE;
			if (S_ISREG(st.st_mode) && (flags & O_ACCMODE) == O_RDONLY)
				rec->flags |= SNAP_FD_CHECK_CONTENT;
			r = snap_proc_add_file(ctx, img, link, st.st_ino, &rec->file);
			if (r < 0)
				break;
			/* fds sharing one open file description (dup, fork) come
			 * back sharing it: same offset, same flags. */
			for (uint32_t k = 0; k + 1 < img->nr_fds; k++) {
				struct snap_rec_fd *o = &img->fds[k];
				if (o->kind == SNAP_FD_FILE && o->file == rec->file && o->same_as == -1 &&
				    sys_kcmp(pid, pid, KCMP_FILE, (unsigned long)o->fd, (unsigned long)fd) == 0) {
					rec->same_as = (int32_t)k;
					break;
				}
			}
			continue;
		}
		r = describe_refusal(ctx, pid, fd, link);
	}
	free(fds);
	return r;
}

/* ---- memory map ---- */

/* POSIX timers (timer_create) are not restored: refuse rather than lose them. */
static int check_posix_timers(struct snap_ctx *ctx, pid_t pid)
{
	char buf[256];
	ssize_t n = read_proc(pid, "timers", buf, sizeof(buf));

	if (n > 0 && strstr(buf, "ID:"))
		return snap_err(ctx, -EOPNOTSUPP,
				"process %d has POSIX timers (timer_create), which this version cannot restore; nothing was captured and the process was left running",
				(int)pid);
	return 0;
}

int snap_proc_read_vmas(struct snap_ctx *ctx, pid_t pid, const struct snap_map *maps, size_t n,
			struct snap_image *img)
{
	int r = check_posix_timers(ctx, pid);

	if (r < 0)
		return r;

	for (size_t i = 0; i < n; i++) {
		const struct snap_map *m = &maps[i];
		struct snap_rec_vma *v;
		uint32_t kind;

		if (!strcmp(m->path, "[vsyscall]"))
			continue; /* the same fixed page in every process */
		if (!strcmp(m->path, "[vdso]"))
			kind = SNAP_VMA_VDSO;
		else if (!strncmp(m->path, "[vvar", 5))
			kind = SNAP_VMA_VVAR;
		else if ((m->shared || (m->vmflags & SNAP_VMF_MAYSHARE)) && m->path[0] == '/' && !m->deleted &&
			 !(m->vmflags & (SNAP_VMF_IO | SNAP_VMF_PFNMAP | SNAP_VMF_MIXEDMAP)))
			kind = SNAP_VMA_SHARED_FILE;
		else if (m->shared && m->deleted &&
			 (!strcmp(m->path, "/dev/zero") || !strncmp(m->path, "/memfd:", 7)))
			kind = SNAP_VMA_SHMEM;
		else if (m->shared && !strncmp(m->path, "/SYSV", 5))
			return snap_err(ctx, -EOPNOTSUPP,
					"process %d: mapping %#" PRIx64 "-%#" PRIx64 " is a SysV shared memory segment (key 0x%s), which this version cannot restore; nothing was captured and the process was left running",
					(int)pid, m->start, m->end, m->path + 5);
		else if (m->shared || (m->vmflags & (SNAP_VMF_SHARED | SNAP_VMF_MAYSHARE)))
			return snap_err(ctx, -EOPNOTSUPP,
					"process %d: mapping %#" PRIx64 "-%#" PRIx64 " (%s) is shared memory, which this version cannot restore; nothing was captured and the process was left running",
					(int)pid, m->start, m->end, m->path[0] ? m->path : "anonymous");
		else if (m->vmflags & (SNAP_VMF_IO | SNAP_VMF_PFNMAP | SNAP_VMF_MIXEDMAP))
			return snap_err(ctx, -EOPNOTSUPP,
					"process %d: mapping %#" PRIx64 "-%#" PRIx64 " (%s) maps device memory (a GPU?), which cannot be captured",
					(int)pid, m->start, m->end, m->path);
		else if (m->deleted && m->path[0] == '/')
			kind = SNAP_VMA_ANON; /* its file is gone: every page is kept */
		else if (m->path[0] == '/' || m->ino)
			kind = SNAP_VMA_FILE;
		else if (m->path[0] == '\0' || m->path[0] == '[')
			kind = SNAP_VMA_ANON;
		else
			return snap_err(ctx, -EOPNOTSUPP, "process %d: mapping %#" PRIx64 "-%#" PRIx64 " (%s) is of an unknown kind",
					(int)pid, m->start, m->end, m->path);
		if (m->path[0] == '[' && kind == SNAP_VMA_ANON && strcmp(m->path, "[heap]") && strcmp(m->path, "[stack]") &&
		    strncmp(m->path, "[anon:", 6))
			return snap_err(ctx, -EOPNOTSUPP, "process %d: mapping %#" PRIx64 "-%#" PRIx64 " (%s) cannot be restored",
					(int)pid, m->start, m->end, m->path);

		r = snap_image_add_vma(img, &v);
		if (r < 0)
			return snap_err(ctx, r, "out of memory");
		v->start = m->start;
		v->end = m->end;
		v->prot = m->prot;
		v->kind = kind;
		v->pgoff = kind == SNAP_VMA_FILE || kind == SNAP_VMA_SHARED_FILE ? m->pgoff : 0;
		if (kind == SNAP_VMA_SHARED_FILE && (m->vmflags & SNAP_VMF_MAYWRITE))
			v->flags |= SNAP_VMA_MAYWRITE;
		if (m->vmflags & SNAP_VMF_GROWSDOWN)
			v->flags |= SNAP_VMA_GROWSDOWN;
		if (m->vmflags & SNAP_VMF_NORESERVE)
			v->flags |= SNAP_VMA_NORESERVE;
		if (m->vmflags & SNAP_VMF_LOCKED)
			v->flags |= SNAP_VMA_LOCKED;
		if (m->vmflags & SNAP_VMF_HUGEPAGE)
			v->flags |= SNAP_VMA_HUGEPAGE;
		if (m->vmflags & SNAP_VMF_NOHUGEPAGE)
			v->flags |= SNAP_VMA_NOHUGEPAGE;
		if (m->vmflags & SNAP_VMF_DONTCOPY)
			v->flags |= SNAP_VMA_DONTFORK;
		if (m->vmflags & SNAP_VMF_WIPEONFORK)
			v->flags |= SNAP_VMA_WIPEONFORK;
		if (m->vmflags & SNAP_VMF_DONTDUMP)
			v->flags |= SNAP_VMA_DONTDUMP;
		if (kind == SNAP_VMA_ANON && m->deleted)
			v->flags |= SNAP_VMA_WHOLE;
		if (kind == SNAP_VMA_SHMEM) {
			char source[64];
			snprintf(source, sizeof(source), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, m->start,
				 m->end);
			r = add_object(ctx, pid, img, m->ino,
				       m->path[1] == 'm' ? SNAP_OBJECT_MEMFD : SNAP_OBJECT_SHARED_ANON,
				       m->path[1] == 'm' ? m->path + 7 : "", source, &v->object);
			if (r < 0)
				return r;
			v->pgoff = m->pgoff;
		}
		if (!strcmp(m->path, "[stack]"))
			v->flags |= SNAP_VMA_STACK;
		if (!strcmp(m->path, "[heap]"))
			v->flags |= SNAP_VMA_HEAP;
		if ((r = snap_image_add_string(img, m->path, &v->name)) < 0)
			return snap_err(ctx, r, "out of memory");
		if (kind == SNAP_VMA_FILE || kind == SNAP_VMA_SHARED_FILE) {
			r = snap_proc_add_file(ctx, img, m->path, m->ino, &v->file);
			if (r < 0)
				return r;
		}
	}
	return 0;
}
