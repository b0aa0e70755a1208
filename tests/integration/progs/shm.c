/* shm: shared anonymous memory, a memfd mapped twice and held as an fd
 * (one object, not two copies), a sealed memfd, a MAP_SHARED file mapping
 * whose writes reach the file, madvise/mlock state, a mapping of a deleted
 * file, pending signals (per thread, process-wide, queued real-time with
 * values) and an interval timer. */
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "prog.h"

static volatile sig_atomic_t usr1, usr2, rt_count, rt_value_sum;

static void on_usr1(int s) { (void)s; usr1++; }
static void on_usr2(int s) { (void)s; usr2++; }
static void on_rt(int s, siginfo_t *si, void *u)
{
	(void)s;
	(void)u;
	rt_count++;
	rt_value_sum += si->si_value.sival_int;
}

static int has_vmflag(void *addr, const char *flag)
{
	char line[512];
	unsigned long s, e, a = (unsigned long)addr;
	int in = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = a >= s && a < e;
		else if (in && !strncmp(line, "VmFlags:", 8))
			found = strstr(line, flag) != NULL;
	}
	if (f)
		fclose(f);
	return found;
}

int main(void)
{
	const size_t sz = 1 << 20, msz = 3 << 20;
	uint8_t *anon = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("weights", MFD_CLOEXEC), sealed = memfd_create("sealed", MFD_ALLOW_SEALING);
	uint8_t *m1, *m2, *fm, *del, *adv[6];
	int ffd;

	CHECK(anon != MAP_FAILED && mfd >= 0 && sealed >= 0, "setup");
	for (size_t i = 0; i < sz; i++)
		anon[i] = (uint8_t)(i * 31 + 7);
	CHECK(ftruncate(mfd, (off_t)msz) == 0, "ftruncate memfd");
	m1 = mmap(NULL, msz, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	m2 = mmap(NULL, msz, PROT_READ, MAP_SHARED, mfd, 0);
	CHECK(m1 != MAP_FAILED && m2 != MAP_FAILED, "map memfd twice");
	for (size_t i = 0; i < msz; i += 4096)
		m1[i] = (uint8_t)(i >> 12);
	CHECK(ftruncate(sealed, 8192) == 0 && pwrite(sealed, "seal", 4, 0) == 4 &&
		      fcntl(sealed, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) == 0, "sealed memfd");

	ffd = open("shared.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(ffd >= 0 && ftruncate(ffd, 8192) == 0, "shared file");
	fm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, ffd, 0);
	CHECK(fm != MAP_FAILED, "map shared file");
	close(ffd);
	memcpy(fm, "before", 6);

	int dfd = open("deleted.data", O_RDWR | O_CREAT | O_TRUNC, 0644);
	uint8_t page[4096];
	for (int i = 0; i < 4096; i++)
		page[i] = (uint8_t)(i ^ 0x5a);
	CHECK(dfd >= 0 && write(dfd, page, 4096) == 4096 && write(dfd, page, 4096) == 4096, "deleted file");
	del = mmap(NULL, 8192, PROT_READ, MAP_PRIVATE, dfd, 0);
	CHECK(del != MAP_FAILED && unlink("deleted.data") == 0, "map and unlink");
	close(dfd);

	static const int advice[] = { MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_DONTFORK, MADV_WIPEONFORK, MADV_DONTDUMP, -1 };
	for (int i = 0; i < 6; i++) {
		adv[i] = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		CHECK(adv[i] != MAP_FAILED, "mmap for madvise");
		if (advice[i] >= 0)
			CHECK(madvise(adv[i], 4 << 20, advice[i]) == 0, "madvise %d", advice[i]);
		else
			CHECK(mlock(adv[i], 4096 * 4) == 0, "mlock");
		adv[i][0] = (uint8_t)(i + 1);
	}

	struct sigaction sa = { .sa_handler = on_usr1 }, sr = { .sa_sigaction = on_rt, .sa_flags = SA_SIGINFO };
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_usr2;
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGRTMIN, &sr, NULL);
	sigset_t block, pend;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	sigaddset(&block, SIGRTMIN);
	sigprocmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1);            /* pending for this thread */
	kill(getpid(), SIGUSR2);   /* pending for the process */
	union sigval v1 = { .sival_int = 40 }, v2 = { .sival_int = 2 };
	CHECK(sigqueue(getpid(), SIGRTMIN, v1) == 0 && sigqueue(getpid(), SIGRTMIN, v2) == 0, "sigqueue");
	struct itimerval it = { .it_value = { 300, 0 } };
	CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");

	prog_wait_restore();

	/* shared anonymous memory: content, and still shared with a child */
	for (size_t i = 0; i < sz; i++)
		CHECK(anon[i] == (uint8_t)(i * 31 + 7), "shared anon byte %zu", i);
	pid_t child = fork();
	if (child == 0) {
		anon[5] = 0xEE;
		_exit(0);
	}
	int st;
	CHECK(child > 0 && waitpid(child, &st, 0) == child && anon[5] == 0xEE, "shared anon is not shared with a child");
	/* one memfd object behind two mappings and an fd */
	for (size_t i = 0; i < msz; i += 4096)
		CHECK(m1[i] == (uint8_t)(i >> 12) && m2[i] == m1[i], "memfd page %zu", i >> 12);
	m1[4096] = 0x77;
	CHECK(m2[4096] == 0x77, "the two memfd mappings are copies, not one object");
	uint8_t b = 0;
	CHECK(pread(mfd, &b, 1, 4096) == 1 && b == 0x77, "the memfd fd is not the mapped object");
	CHECK(pwrite(mfd, "Z", 1, 8192) == 1 && m1[8192] == 'Z', "a write through the memfd fd is not seen");
	struct stat s;
	CHECK(fstat(mfd, &s) == 0 && (size_t)s.st_size == msz, "memfd size");
	CHECK(fcntl(mfd, F_GETFD) & FD_CLOEXEC, "memfd lost FD_CLOEXEC");
	char link[128] = "";
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	CHECK(readlink(path, link, sizeof(link) - 1) > 0 && strstr(link, "memfd:weights"), "memfd name is %s", link);
	CHECK(fcntl(sealed, F_GET_SEALS) == (F_SEAL_SHRINK | F_SEAL_GROW), "seals are %#x", fcntl(sealed, F_GET_SEALS));
	CHECK(pread(sealed, page, 4, 0) == 4 && !memcmp(page, "seal", 4), "sealed memfd content");
	CHECK(ftruncate(sealed, 4096) < 0, "a sealed memfd shrank");
	/* shared file mapping: writes reach the file */
	CHECK(!memcmp(fm, "before", 6), "shared file content");
	memcpy(fm, "after!", 6);
	msync(fm, 8192, MS_SYNC);
	ffd = open("shared.data", O_RDONLY);
	CHECK(ffd >= 0 && pread(ffd, page, 6, 0) == 6 && !memcmp(page, "after!", 6), "a shared write did not reach the file");
	/* the deleted file's content survived */
	for (int i = 0; i < 8192; i++)
		CHECK(del[i] == (uint8_t)((i % 4096) ^ 0x5a), "deleted-file mapping byte %d", i);
	/* madvise and mlock */
	static const char *const flag[] = { " hg", " nh", " dc", " wf", " dd", " lo" };
	for (int i = 0; i < 6; i++) {
		CHECK(adv[i][0] == i + 1, "advised region %d content", i);
		CHECK(has_vmflag(adv[i], flag[i]), "VmFlags lost%s", flag[i]);
	}
	/* pending signals: still pending, then delivered with their values */
	CHECK(sigpending(&pend) == 0 && sigismember(&pend, SIGUSR1) && sigismember(&pend, SIGUSR2) &&
		      sigismember(&pend, SIGRTMIN), "pending signals were lost");
	sigprocmask(SIG_UNBLOCK, &block, NULL);
	CHECK(usr1 == 1 && usr2 == 1, "SIGUSR1 %d, SIGUSR2 %d delivered", (int)usr1, (int)usr2);
	CHECK(rt_count == 2 && rt_value_sum == 42, "real-time signals: %d with sum %d", (int)rt_count, (int)rt_value_sum);
	/* the interval timer still runs */
	CHECK(getitimer(ITIMER_REAL, &it) == 0 && it.it_value.tv_sec > 200 && it.it_value.tv_sec <= 300,
	      "ITIMER_REAL has %ld s left", (long)it.it_value.tv_sec);
	return prog_ok();
}
