/* error.c — records the first error of an operation as one line of text.
 * It never prints and never exits: the CLI decides what the user sees. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

static int record(struct bake_error *err, int negerrno, bool with_errno, const char *fmt, va_list ap)
{
	size_t len;

	if (!err || err->text[0])
		return negerrno;
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	len = strlen(err->text);
	if (with_errno && len < sizeof(err->text))
		snprintf(err->text + len, sizeof(err->text) - len, ": %s", strerror(-negerrno));
	return negerrno;
}

int bake_fail(struct bake_error *err, int negerrno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(err, negerrno, true, fmt, ap);
	va_end(ap);
	return negerrno;
}

int bake_fail_why(struct bake_error *err, int negerrno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	record(err, negerrno, false, fmt, ap);
	va_end(ap);
	return negerrno;
}
