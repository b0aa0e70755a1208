/* restorer.c — the restorer blob: runs in the restore child once it has no
 * libc left, moves the premapped memory into place and sets what must be
 * set from inside. Freestanding and position independent: no globals, no
 * libc, no instrumentation; on any failure it reports and exits. */
#include <asm/unistd.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>

#include "restorer.h"

#define MREMAP_MAYMOVE_ 1
#define MREMAP_FIXED_ 2
#define RSEQ_FLAG_UNREGISTER_ 1

static inline long sys6(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

#define sys1(nr, a) sys6(nr, (long)(a), 0, 0, 0, 0, 0)
#define sys2(nr, a, b) sys6(nr, (long)(a), (long)(b), 0, 0, 0, 0)
#define sys3(nr, a, b, c) sys6(nr, (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define sys4(nr, a, b, c, d) sys6(nr, (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define sys5(nr, a, b, c, d, e) sys6(nr, (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

static __attribute__((noreturn)) void fail(struct restorer_args *a, unsigned int step, long err, uint64_t addr)
{
	struct restorer_failure f;

	f.magic = RESTORER_FAILURE_MAGIC;
	f.step = step;
	f.err = err;
	f.addr = addr;
	sys3(__NR_write, a->err_fd, &f, sizeof(f));
	for (;;)
		sys1(__NR_exit_group, 127);
}

static long move(uint64_t from, uint64_t len, uint64_t to)
{
	long r;

	if (from == to)
		return 0;
	r = sys5(__NR_mremap, from, len, len, MREMAP_MAYMOVE_ | MREMAP_FIXED_, to);
	return r < 0 ? r : 0;
}

static struct restorer_thread *threads_of(struct restorer_args *a)
{
	return (struct restorer_thread *)((char *)a + a->threads_off);
}

/* Done: the restoring parent takes over at this trap, unmaps this blob
 * and loads the saved registers. */
static __attribute__((noreturn)) void trap(void)
{
	for (;;)
		__asm__ volatile("int3" ::: "memory");
}

/* What each thread sets for itself: signal stack, rseq, robust futex
 * list, the tid address. */
static void setup_thread(struct restorer_args *a, const struct restorer_thread *t)
{
	long r;

	if (t->altstack_set) {
		struct {
			uint64_t sp;
			int32_t flags, pad;
			uint64_t size;
		} ss = { t->altstack_sp, t->altstack_flags & ~1 /* SS_ONSTACK is a state */, 0, t->altstack_size };
		r = sys2(__NR_sigaltstack, &ss, 0);
		if (r < 0)
			fail(a, RESTORER_STEP_SIGALTSTACK, r, t->altstack_sp);
	}
	if (t->rseq_len) {
		r = sys4(__NR_rseq, t->rseq_ptr, t->rseq_len, 0, t->rseq_sig);
		if (r < 0)
			fail(a, RESTORER_STEP_RSEQ_REGISTER, r, t->rseq_ptr);
	}
	if (t->robust_len) {
		r = sys2(__NR_set_robust_list, t->robust_head, t->robust_len);
		if (r < 0)
			fail(a, RESTORER_STEP_ROBUST_LIST, r, t->robust_head);
	}
	sys1(__NR_set_tid_address, t->clear_child_tid);
}

__attribute__((used, noreturn)) void restorer_thread_entry(struct restorer_args *a, uint64_t index)
{
	setup_thread(a, &threads_of(a)[index]);
	__atomic_add_fetch(&a->threads_ready, 1, __ATOMIC_RELEASE);
	trap();
}

struct clone_args_ {
	uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size,
		cgroup;
};

/* clone3 for a thread with its saved tid, on its own small stack; the new
 * thread starts in restorer_thread_entry(a, index). */
static long clone_thread(struct restorer_args *a, uint64_t index)
{
	const struct restorer_thread *t = &threads_of(a)[index];
	uint64_t tid = (uint64_t)t->tid;
	struct clone_args_ ca;
	long ret;

	ca.flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000 | 0x40000; /* VM FS FILES SIGHAND THREAD SYSVSEM */
	ca.pidfd = 0;
	ca.child_tid = 0;
	ca.parent_tid = 0;
	ca.exit_signal = 0;
	ca.stack = t->stack_top - RESTORER_THREAD_STACK;
	ca.stack_size = RESTORER_THREAD_STACK;
	ca.tls = 0;
	ca.set_tid = (uint64_t)&tid;
	ca.set_tid_size = 1;
	ca.cgroup = 0;
	__asm__ volatile("mov %[a], %%r12\n\t"
			 "mov %[idx], %%r13\n\t"
			 "syscall\n\t"
			 "test %%rax, %%rax\n\t"
			 "jnz 1f\n\t"
			 "mov %%r12, %%rdi\n\t"
			 "mov %%r13, %%rsi\n\t"
			 "call restorer_thread_entry\n\t"
			 "ud2\n"
			 "1:\n\t"
			 : "=a"(ret)
			 : "a"((long)__NR_clone3), "D"(&ca), "S"(sizeof(ca)), [a] "r"(a), [idx] "r"(index)
			 : "rcx", "r11", "r12", "r13", "memory");
	return ret;
}

__attribute__((section(".text.entry"), used, noreturn)) void restorer_entry(struct restorer_args *a)
{
	const struct restorer_move *moves = (const struct restorer_move *)((char *)a + a->moves_off);
	uint64_t park;
	long r;

	/* Nothing is delivered until the parent loads the saved masks. */
	uint64_t all = ~0ull;
	sys4(__NR_rt_sigprocmask, 2 /* SIG_SETMASK */, &all, 0, 8);

	/* glibc registered rseq for the child's thread in memory about to go. */
	if (a->self_rseq_len) {
		r = sys4(__NR_rseq, a->self_rseq_ptr, a->self_rseq_len, RSEQ_FLAG_UNREGISTER_, a->self_rseq_sig);
		if (r < 0)
			fail(a, RESTORER_STEP_RSEQ_UNREGISTER, r, a->self_rseq_ptr);
	}

	for (uint32_t i = 0; i < a->nr_unmap; i++) {
		r = sys2(__NR_munmap, a->unmap[i].start, a->unmap[i].len);
		if (r < 0)
			fail(a, RESTORER_STEP_UNMAP, r, a->unmap[i].start);
	}

	/* vvar/vDSO: park them all first so no target overlaps a source. */
	park = a->park;
	for (uint32_t i = 0; i < a->nr_special; i++) {
		r = move(a->special[i].from, a->special[i].len, park);
		if (r < 0)
			fail(a, RESTORER_STEP_MOVE_SPECIAL, r, a->special[i].from);
		park += a->special[i].len;
	}
	park = a->park;
	for (uint32_t i = 0; i < a->nr_special; i++) {
		r = move(park, a->special[i].len, a->special[i].to);
		if (r < 0)
			fail(a, RESTORER_STEP_MOVE_SPECIAL, r, a->special[i].to);
		park += a->special[i].len;
	}

	for (uint64_t i = 0; i < a->nr_moves; i++) {
		r = move(moves[i].from, moves[i].len, moves[i].to);
		if (r < 0)
			fail(a, RESTORER_STEP_MOVE_VMA, r, moves[i].to);
	}
	if (a->premap.len) {
		r = sys2(__NR_munmap, a->premap.start, a->premap.len);
		if (r < 0)
			fail(a, RESTORER_STEP_UNMAP_PREMAP, r, a->premap.start);
	}

	a->mm.auxv = (__u64 *)a->auxv;
	r = sys5(__NR_prctl, PR_SET_MM, PR_SET_MM_MAP, &a->mm, sizeof(a->mm), 0);
	if (r < 0)
		fail(a, RESTORER_STEP_MM_MAP, r, 0);

	for (int sig = 1; sig <= RESTORER_NSIG; sig++) {
		if (!(a->sigaction_set & (1ull << (sig - 1))))
			continue;
		r = sys4(__NR_rt_sigaction, sig, &a->sigactions[sig - 1], 0, 8);
		if (r < 0)
			fail(a, RESTORER_STEP_SIGACTION, r, (uint64_t)sig);
	}
	for (uint64_t i = 1; i < a->nr_threads; i++) {
		r = clone_thread(a, i);
		if (r < 0)
			fail(a, RESTORER_STEP_CLONE_THREAD, r, (uint64_t)threads_of(a)[i].tid);
	}
	setup_thread(a, &threads_of(a)[0]);

	/* Signals that were pending, queued again from inside the process
	 * (the kernel accepts any siginfo a process sends itself). */
	const struct restorer_sigqueue *q = (const struct restorer_sigqueue *)((char *)a + a->sigqueue_off);
	int32_t tgid = threads_of(a)[0].tid;
	for (uint64_t i = 0; i < a->nr_sigqueue; i++) {
		if (q[i].tid == 0)
			r = sys3(__NR_rt_sigqueueinfo, tgid, q[i].sig, q[i].info);
		else
			r = sys4(__NR_rt_tgsigqueueinfo, tgid, q[i].tid, q[i].sig, q[i].info);
		if (r < 0)
			fail(a, RESTORER_STEP_SIGQUEUE, r, (uint64_t)q[i].sig);
	}
	for (int which = 0; which < 3; which++) {
		if (!(a->itimer_set & (1u << which)))
			continue;
		r = sys3(__NR_setitimer, which, a->itimers[which], 0);
		if (r < 0)
			fail(a, RESTORER_STEP_ITIMER, r, (uint64_t)which);
	}

	/* Lazy restore: from here on, a missing page is the page server's.
	 * Last of all: the kernel writes rseq areas as threads register them,
	 * and a fault now would wait for a server that starts only later. */
	while (__atomic_load_n(&a->threads_ready, __ATOMIC_ACQUIRE) + 1 < a->nr_threads)
		sys1(__NR_sched_yield, 0);
	if (a->uffd >= 0) {
		const struct restorer_range *reg = (const struct restorer_range *)((char *)a + a->register_off);
		for (uint32_t i = 0; i < a->nr_register; i++) {
			struct uffdio_register ur = {
				.range = { reg[i].start, reg[i].len },
				.mode = UFFDIO_REGISTER_MODE_MISSING,
			};
			r = sys3(__NR_ioctl, a->uffd, UFFDIO_REGISTER, &ur);
			if (r < 0)
				fail(a, RESTORER_STEP_UFFD_REGISTER, r, reg[i].start);
		}
		/* registered: huge pages may come again (faults go to the server) */
		sys5(__NR_prctl, PR_SET_THP_DISABLE, 0, 0, 0, 0);
	}
	if (a->exe_fd >= 0)
		sys1(__NR_close, a->exe_fd);
	sys1(__NR_close, a->err_fd);
	trap();
}
