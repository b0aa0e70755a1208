/* main.c — snapctl: the command table, global options, error printing.
 * No engine logic lives in the CLI: it parses, calls libsnap, prints. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char usage_text[] =
	"usage: snapctl [--json] [-v] COMMAND [ARGS]\n"
	"\n"
	"commands:\n"
	"  run --out DIR [--continue] [--no-guard] [--timeout S] -- CMD [ARGS]\n"
	"                          run CMD guarded until its snapshot point, capture it into DIR\n"
	"  capture --pid PID --out DIR [--leave-running] [--io uring|sync] [--precopy-rounds N]\n"
	"                          snapshot a running process into DIR\n"
	"  restore DIR [--detach] [--pidfile FILE] [--pid-ns] [--lazy [--record] [--prefault-ws]]\n"
	"                          bring the process in DIR back to life\n"
	"  inspect DIR             what a snapshot holds\n"
	"  check                   which kernel features the engine can use here\n"
	"  bench [--runs N] [--modes LIST] [--svg FILE] [--ready-file PATH] [--keep DIR] -- CMD ARGS\n"
	"                          cold start vs eager and lazy restore of CMD, timed to its \"ready\"\n"
	"\n"
	"  --json                  machine-readable output (a stable contract)\n"
	"  -v, --verbose           progress and warnings on stderr\n"
	"  -h, --help              this text\n";

static const struct command {
	const char *name;
	int (*fn)(struct cli *cli, int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "capture", cmd_capture },
	{ "restore", cmd_restore },
	{ "inspect", cmd_inspect },
	{ "check", cmd_check },
	{ "bench", cmd_bench },
};

static void vreport(struct cli *cli, const char *fmt, va_list ap)
{
	char msg[2048];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (cli->json) {
		struct json j;

		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_string(&j, "error", msg);
		json_object_end(&j);
		json_finish(&j);
	} else {
		fprintf(stderr, "snapctl %s: %s\n", cli->cmd ? cli->cmd : "", msg);
	}
}

int cli_fail(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cli, fmt, ap);
	va_end(ap);
	return 1;
}

int cli_usage(struct cli *cli, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cli, fmt, ap);
	va_end(ap);
	if (!cli->json)
		fputs("run 'snapctl --help' for usage\n", stderr);
	return 2;
}

int cli_fail_engine(struct cli *cli)
{
	const char *msg = snap_ctx_error(cli->ctx);

	return cli_fail(cli, "%s", msg[0] ? msg : "failed without a reason (a bug: please report it)");
}

bool cli_parse_long(const char *s, long min, long max, long *ret)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*ret = v;
	return true;
}

static void print_hook(enum snap_log_level level, const char *msg, void *user)
{
	struct cli *cli = user;

	if (level == SNAP_LOG_WARN || cli->verbose)
		fprintf(stderr, "snapctl %s: %s%s\n", cli->cmd, level == SNAP_LOG_WARN ? "warning: " : "", msg);
}

int main(int argc, char **argv)
{
	struct cli cli = { 0 };
	int i, r;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "--json") || !strcmp(argv[i], "-j")) {
			cli.json = true;
		} else if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			cli.verbose = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_text, stdout);
			return 0;
		} else {
			return cli_usage(&cli, "unknown option '%s'", argv[i]);
		}
	}
	if (i >= argc) {
		fputs(usage_text, stderr);
		return 2;
	}

	/* Unique prefixes select a command, as in bpftool ("snapctl insp"). */
	const struct command *found = NULL;
	size_t len = strlen(argv[i]);
	for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++) {
		if (strncmp(commands[k].name, argv[i], len))
			continue;
		if (found)
			return cli_usage(&cli, "'%s' is ambiguous", argv[i]);
		found = &commands[k];
		if (strlen(commands[k].name) == len)
			break;
	}
	if (!found)
		return cli_usage(&cli, "unknown command '%s'", argv[i]);
	cli.cmd = found->name;

	/* Per-command options may also carry --json/-v after the command. */
	for (int k = i + 1; k < argc; k++) {
		if (!strcmp(argv[k], "--"))
			break;
		if (!strcmp(argv[k], "--json"))
			cli.json = true;
		else if (!strcmp(argv[k], "-v") || !strcmp(argv[k], "--verbose"))
			cli.verbose = true;
	}

	r = snap_ctx_new(&cli.ctx);
	if (r < 0)
		return cli_fail(&cli, "out of memory");
	snap_ctx_set_print(cli.ctx, print_hook, &cli);
	r = found->fn(&cli, argc - i, argv + i);
	snap_ctx_free(cli.ctx);
	return r;
}
