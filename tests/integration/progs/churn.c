/* churn: threads that start and exit and children that are forked all the
 * time, also while the capture freezes the process. The capture must come
 * out consistent (children are not captured: a child forked just before
 * the freeze belongs to the original only), and after restore the process
 * keeps making threads and children. */
#include <pthread.h>
#include <sys/wait.h>

#include "prog.h"

static volatile int stop;
static volatile unsigned long threads_made, forks_made;

static void *short_lived(void *arg)
{
	(void)arg;
	return NULL;
}

static void *churner(void *arg)
{
	(void)arg;
	while (!stop) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_lived, NULL) == 0 && pthread_join(t, NULL) == 0)
			threads_made++;
		pid_t c = fork();
		if (c == 0)
			_exit(7);
		if (c > 0) {
			int st;
			/* ECHILD: the child was forked by the original just before
			 * the snapshot and is not ours after restore. */
			if (waitpid(c, &st, 0) == c && WIFEXITED(st) && WEXITSTATUS(st) == 7)
				forks_made++;
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		CHECK(pthread_create(&t[i], NULL, churner, NULL) == 0, "pthread_create");
	while (threads_made < 50 || forks_made < 20)
		sched_yield();

	prog_wait_restore();

	unsigned long th = threads_made, fk = forks_made;
	while (threads_made < th + 100 || forks_made < fk + 50)
		sched_yield();
	stop = 1;
	for (int i = 0; i < 2; i++)
		CHECK(pthread_join(t[i], NULL) == 0, "join churner");
	return prog_ok();
}
