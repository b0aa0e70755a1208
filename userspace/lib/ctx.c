/* ctx.c — the library context: print hook and one-line errors.
 * Never prints an error by itself: the caller decides what to show. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctx.h"

int snap_ctx_new(struct snap_ctx **ret_ctx)
{
	struct snap_ctx *ctx = calloc(1, sizeof(*ctx));

	if (!ctx)
		return -ENOMEM;
	*ret_ctx = ctx;
	return 0;
}

void snap_ctx_free(struct snap_ctx *ctx)
{
	free(ctx);
}

void snap_ctx_set_print(struct snap_ctx *ctx, snap_print_fn fn, void *user)
{
	ctx->print = fn;
	ctx->print_user = user;
}

const char *snap_ctx_error(const struct snap_ctx *ctx)
{
	return ctx->error;
}

int snap_err(struct snap_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	va_end(ap);
	if (err == 0)
		err = EIO;
	return err < 0 ? err : -err;
}

int snap_err_prefix(struct snap_ctx *ctx, int err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(ctx->error)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, ctx->error, sizeof(old));
	snprintf(ctx->error, sizeof(ctx->error), "%s: %s", prefix, old);
	return err;
}

void snap_log(struct snap_ctx *ctx, enum snap_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!ctx->print)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->print(level, msg, ctx->print_user);
}
