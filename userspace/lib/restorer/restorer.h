/* restorer.h — what the restore child hands the restorer blob: every step
 * the blob takes after the child's own memory is gone. Shared by libsnap
 * and the freestanding blob: fixed-size fields, no pointers into libc. */
#ifndef SNAP_RESTORER_H
#define SNAP_RESTORER_H

#include <stdint.h>
#include <linux/prctl.h>

#define RESTORER_MAX_UNMAP 64
#define RESTORER_MAX_SPECIAL 4
#define RESTORER_NSIG 64
#define RESTORER_THREAD_STACK (16u << 10)

struct restorer_move {
	uint64_t from, to, len;
};

struct restorer_range {
	uint64_t start, len;
};

/* One thread to create (index 0 is the leader, which exists already). */
struct restorer_thread {
	int32_t tid;
	int32_t altstack_set;
	uint64_t altstack_sp, altstack_size;
	int32_t altstack_flags;
	uint32_t rseq_len;
	uint64_t rseq_ptr;
	uint32_t rseq_sig;
	uint32_t reserved;
	uint64_t robust_head, robust_len;
	uint64_t clear_child_tid;
	uint64_t stack_top;          /* 16-byte aligned, in the blob's area */
};

/* A signal to queue again: tid 0 for the whole process. */
struct restorer_sigqueue {
	int32_t tid;
	int32_t sig;
	uint8_t info[128]; /* siginfo_t */
};

/* Failure report the blob writes to err_fd before exit_group(127). */
struct restorer_failure {
	uint32_t magic; /* RESTORER_FAILURE_MAGIC */
	uint32_t step;  /* enum restorer_step */
	int64_t err;    /* -errno from the syscall */
	uint64_t addr;  /* the address involved, if any */
};
#define RESTORER_FAILURE_MAGIC 0x52535446u

enum restorer_step {
	RESTORER_STEP_RSEQ_UNREGISTER = 1,
	RESTORER_STEP_UNMAP,
	RESTORER_STEP_MOVE_SPECIAL,
	RESTORER_STEP_MOVE_VMA,
	RESTORER_STEP_UNMAP_PREMAP,
	RESTORER_STEP_MM_MAP,
	RESTORER_STEP_SIGACTION,
	RESTORER_STEP_SIGALTSTACK,
	RESTORER_STEP_RSEQ_REGISTER,
	RESTORER_STEP_ROBUST_LIST,
	RESTORER_STEP_CLONE_THREAD,
	RESTORER_STEP_SIGQUEUE,
	RESTORER_STEP_ITIMER,
	RESTORER_STEP_UFFD_REGISTER,
	RESTORER_STEP_COUNT,
};

struct restorer_args {
	/* the child's own rseq registration, dropped first */
	uint64_t self_rseq_ptr;
	uint32_t self_rseq_len, self_rseq_sig;

	/* the child's memory: everything but the premap area and vDSO/vvar */
	uint32_t nr_unmap;
	uint32_t nr_special;
	struct restorer_range unmap[RESTORER_MAX_UNMAP];
	/* vDSO and vvar pages: moved (through park) to their saved places */
	struct restorer_move special[RESTORER_MAX_SPECIAL];
	uint64_t park;

	/* premapped memory, each moved to its saved address */
	uint64_t nr_moves;
	uint64_t moves_off; /* struct restorer_move[nr_moves] at (char *)args + moves_off */
	struct restorer_range premap; /* placeholder left after the moves */

	struct prctl_mm_map mm;
	uint64_t auxv[128];

	struct {
		uint64_t handler, flags, restorer, mask;
	} sigactions[RESTORER_NSIG];
	uint64_t sigaction_set; /* bit (signo - 1): restore this handler */

	/* pending signals, queued again: sigqueue[nr_sigqueue] at args + sigqueue_off */
	uint64_t nr_sigqueue;
	uint64_t sigqueue_off;
	/* ITIMER_REAL, _VIRTUAL, _PROF as struct itimerval (interval, value), if set */
	uint64_t itimers[3][4];
	uint32_t itimer_set; /* bit n: itimers[n] */
	uint32_t reserved0;

	/* threads[nr_threads] at (char *)args + threads_off; [0] is the leader */
	uint64_t nr_threads;
	uint64_t threads_off;

	/* lazy restore: ranges to register with the userfaultfd (missing mode) */
	int32_t uffd;            /* -1: eager restore */
	uint32_t threads_ready;  /* threads done with their own setup */
	uint32_t nr_register;
	uint64_t register_off;   /* struct restorer_range[nr_register] at args + register_off */

	int32_t exe_fd;
	int32_t err_fd;
};

/* The blob's entry point is at offset 0. */
typedef void (*restorer_entry_fn)(struct restorer_args *args);

#endif
