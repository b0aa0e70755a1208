/* cli.h — what the snapctl command handlers share: global options and the
 * one error printer. Handlers parse and print; the engine does the work. */
#ifndef SNAPCTL_CLI_H
#define SNAPCTL_CLI_H

#include <stdbool.h>
#include <snap/snap.h>

#include "json.h"

struct cli {
	const char *cmd;   /* "capture", "restore", ... */
	bool json;
	bool verbose;
	struct snap_ctx *ctx;
};

/* Prints the error once: "snapctl CMD: MSG" on stderr, or {"error": MSG}
 * on stdout in JSON mode. Returns the exit status to use (1, or 2 for
 * usage errors). */
int cli_fail(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage(struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The engine's last error, printed the same way. */
int cli_fail_engine(struct cli *cli);
/* Parses a decimal integer argument in [min, max]. */
bool cli_parse_long(const char *s, long min, long max, long *ret);

int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_capture(struct cli *cli, int argc, char **argv);
int cmd_restore(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_check(struct cli *cli, int argc, char **argv);
int cmd_bench(struct cli *cli, int argc, char **argv);

#endif
