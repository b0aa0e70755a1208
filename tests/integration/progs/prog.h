/* prog.h — the side of an integration test that runs inside the captured
 * process: set state up, say "ready", block until restored, verify.
 * Protocol: "ready\n" on stdout, then one line read from stdin (the
 * restored process reads it from the restore command's stdin); exit 0 and
 * "ok" when every check passed, else exit 1 naming the first failure. */
#ifndef SNAPCTL_TEST_PROG_H
#define SNAPCTL_TEST_PROG_H

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline __attribute__((noreturn, format(printf, 1, 2))) void prog_fail(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

#define CHECK(cond, ...)                                  \
	do {                                              \
		if (!(cond))                              \
			prog_fail(__VA_ARGS__);           \
	} while (0)

/* Says ready, then blocks in read(0) — a syscall the capture interrupts
 * and the restore must restart — until a line arrives. Returns the pid the
 * process had when it said ready. */
static inline pid_t prog_wait_restore(void)
{
	char buf[64];
	pid_t pid = getpid();
	ssize_t n;

	if (write(1, "ready\n", 6) != 6)
		prog_fail("cannot say ready: %s", strerror(errno));
	n = read(0, buf, sizeof(buf));
	CHECK(n > 0, "read(0) after restore returned %zd (%s)", n, n < 0 ? strerror(errno) : "EOF");
	return pid;
}

static inline int prog_ok(void)
{
	if (write(1, "ok\n", 3) != 3)
		return 1;
	return 0;
}

/* Deterministic content for word i of a region seeded with s. */
static inline uint64_t prog_pattern(uint64_t s, uint64_t i)
{
	uint64_t x = (i + s) * 0x9E3779B97F4A7C15ull;
	return (x ^ (x >> 29)) & 0x00FF00FF00FF00FFull; /* half the bytes zero: compresses some */
}

#endif
