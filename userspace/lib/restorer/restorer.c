/* restorer.c — the restorer blob: runs in the restore child once it has no
 * libc left, moves the premapped memory into place and sets what must be
 * set from inside. Freestanding and position independent: no globals, no
 * libc, no instrumentation; on any failure it reports and exits. */
#include <asm/unistd.h>
#include <linux/mman.h>
#include <linux/prctl.h>

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

__attribute__((section(".text.entry"), used, noreturn)) void restorer_entry(struct restorer_args *a)
{
	const struct restorer_move *moves = (const struct restorer_move *)((char *)a + a->moves_off);
	uint64_t park;
	long r;

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
	if (a->altstack_set) {
		struct {
			uint64_t sp;
			int32_t flags, pad;
			uint64_t size;
		} ss = { a->altstack_sp, a->altstack_flags & ~1 /* SS_ONSTACK is a state */, 0, a->altstack_size };
		r = sys2(__NR_sigaltstack, &ss, 0);
		if (r < 0)
			fail(a, RESTORER_STEP_SIGALTSTACK, r, a->altstack_sp);
	}

	if (a->rseq_len) {
		r = sys4(__NR_rseq, a->rseq_ptr, a->rseq_len, 0, a->rseq_sig);
		if (r < 0)
			fail(a, RESTORER_STEP_RSEQ_REGISTER, r, a->rseq_ptr);
	}
	if (a->robust_len) {
		r = sys2(__NR_set_robust_list, a->robust_head, a->robust_len);
		if (r < 0)
			fail(a, RESTORER_STEP_ROBUST_LIST, r, a->robust_head);
	}
	sys1(__NR_set_tid_address, a->clear_child_tid);

	if (a->exe_fd >= 0)
		sys1(__NR_close, a->exe_fd);
	sys1(__NR_close, a->err_fd);

	/* Done: the restoring parent takes over at this trap, unmaps this blob
	 * and loads the saved registers. */
	for (;;)
		__asm__ volatile("int3" ::: "memory");
}
