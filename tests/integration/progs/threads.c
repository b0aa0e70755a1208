/* threads: eight threads with their own TLS and stack values, parked in a
 * futex (condition variable), in nanosleep, and spinning, come back with
 * the same tids, resume where they were and finish their work; signals
 * reach them by tid (pthread_kill). */
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>

#include "prog.h"

#define N 8

static __thread uint64_t tls_value;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static volatile int released, started, parked;
static volatile int restored_flag;
static pid_t tids[N];
static uint64_t results[N];
static volatile sig_atomic_t usr1_hits[N];
static __thread int my_index = -1;

static void on_usr1(int sig)
{
	(void)sig;
	if (my_index >= 0)
		usr1_hits[my_index]++;
}

static void *worker(void *arg)
{
	int i = (int)(intptr_t)arg;
	uint64_t on_stack = 0xabc000ull + (uint64_t)i;

	my_index = i;
	tls_value = 0x1000ull * (uint64_t)(i + 1);
	tids[i] = (pid_t)syscall(SYS_gettid);
	__atomic_add_fetch(&started, 1, __ATOMIC_SEQ_CST);
	if (i % 3 == 0) {
		/* parked in a futex */
		pthread_mutex_lock(&lock);
		parked++;
		while (!released)
			pthread_cond_wait(&cond, &lock);
		pthread_mutex_unlock(&lock);
	} else if (i % 3 == 1) {
		/* sleeping: the sleep is restarted after restore */
		__atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
		while (!restored_flag) {
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	} else {
		/* spinning in user space */
		__atomic_add_fetch(&parked, 1, __ATOMIC_SEQ_CST);
		while (!restored_flag)
			__asm__ volatile("pause");
	}
	if (tls_value != 0x1000ull * (uint64_t)(i + 1) || on_stack != 0xabc000ull + (uint64_t)i ||
	    (pid_t)syscall(SYS_gettid) != tids[i])
		results[i] = 0;
	else
		results[i] = tls_value + on_stack;
	/* wait for a signal sent by tid */
	while (!usr1_hits[i])
		sched_yield();
	return NULL;
}

int main(void)
{
	pthread_t th[N];
	struct sigaction sa = { .sa_handler = on_usr1 };

	sigaction(SIGUSR1, &sa, NULL);
	for (int i = 0; i < N; i++)
		CHECK(pthread_create(&th[i], NULL, worker, (void *)(intptr_t)i) == 0, "pthread_create");
	while (__atomic_load_n(&parked, __ATOMIC_SEQ_CST) < N)
		sched_yield();

	prog_wait_restore();

	restored_flag = 1;
	pthread_mutex_lock(&lock);
	released = 1;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (int i = 0; i < N; i++)
		CHECK(pthread_kill(th[i], SIGUSR1) == 0, "pthread_kill thread %d", i);
	for (int i = 0; i < N; i++)
		CHECK(pthread_join(th[i], NULL) == 0, "join thread %d", i);
	for (int i = 0; i < N; i++)
		CHECK(results[i] == 0x1000ull * (uint64_t)(i + 1) + 0xabc000ull + (uint64_t)i,
		      "thread %d lost its TLS, stack or tid", i);
	/* new threads work too */
	pthread_t extra;
	usr1_hits[2] = 0;
	CHECK(pthread_create(&extra, NULL, worker, (void *)(intptr_t)2) == 0, "a new thread after restore");
	/* until it has set up its index, the signal is not counted: repeat */
	while (!usr1_hits[2]) {
		pthread_kill(extra, SIGUSR1);
		sched_yield();
	}
	CHECK(pthread_join(extra, NULL) == 0, "join the new thread");
	return prog_ok();
}
