/* ctx.h — the library context: the print hook and the last error.
 * Holds no engine state; everything else is passed explicitly. */
#ifndef SNAP_CTX_H
#define SNAP_CTX_H

#include <snap/snap.h>

struct snap_ctx {
	snap_print_fn print;
	void *print_user;
	char error[1024];
};

/* Records "fmt..." as the context's error and returns -abs(err) (EIO if
 * err is 0), so a failing path reads `return snap_err(ctx, r, "...")`. */
int snap_err(struct snap_ctx *ctx, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to the recorded error; returns err unchanged. */
int snap_err_prefix(struct snap_ctx *ctx, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void snap_log(struct snap_ctx *ctx, enum snap_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
