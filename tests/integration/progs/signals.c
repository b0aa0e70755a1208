/* signals: a handler (with its flags and mask) that still runs, on the
 * alternate stack; a blocked signal stays blocked; an ignored one ignored. */
#include <signal.h>

#include "prog.h"

static volatile sig_atomic_t hits;
static volatile uintptr_t handler_sp;
static char altstack[64 * 1024];

static void on_usr1(int sig)
{
	int local;
	(void)sig;
	handler_sp = (uintptr_t)&local;
	hits++;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART | SA_ONSTACK }, got;
	stack_t ss = { .ss_sp = altstack, .ss_size = sizeof(altstack) }, now;
	sigset_t block, cur;

	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR2);
	CHECK(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
	CHECK(sigaltstack(&ss, NULL) == 0, "sigaltstack");
	signal(SIGTERM, SIG_IGN);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR2);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1);
	CHECK(hits == 1, "handler before the snapshot");

	prog_wait_restore();

	CHECK(sigaction(SIGUSR1, NULL, &got) == 0 && got.sa_handler == on_usr1, "the handler is gone");
	CHECK((got.sa_flags & (SA_RESTART | SA_ONSTACK)) == (SA_RESTART | SA_ONSTACK), "handler flags %#x",
	      (unsigned)got.sa_flags);
	CHECK(sigismember(&got.sa_mask, SIGUSR2), "handler mask lost SIGUSR2");
	CHECK(sigaction(SIGTERM, NULL, &got) == 0 && got.sa_handler == SIG_IGN, "SIGTERM is no longer ignored");
	CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0 && sigismember(&cur, SIGUSR2), "SIGUSR2 is not blocked");
	CHECK(sigaltstack(NULL, &now) == 0 && now.ss_sp == altstack && now.ss_size == sizeof(altstack),
	      "sigaltstack is %p/%zu", now.ss_sp, now.ss_size);
	raise(SIGUSR1);
	CHECK(hits == 2, "the handler did not run after restore");
	CHECK(handler_sp >= (uintptr_t)altstack && handler_sp < (uintptr_t)altstack + sizeof(altstack),
	      "the handler did not run on the alternate stack");
	raise(SIGTERM);
	return prog_ok();
}
