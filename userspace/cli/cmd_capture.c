/* cmd_capture.c — snapctl capture --pid PID --out DIR: parses, calls
 * snap_capture(), prints what was captured. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* Pre-copy passes by default. scripts/bench-precopy (3 runs, 2 GiB writing
 * 1% of its pages per 100 ms, --leave-running): frozen 1758 ms without,
 * 78 ms with 2 passes, 39 ms with 4 (a pre-copy stops early once a pass
 * finds less than 16 MiB written, so 4 costs nothing where 2 suffice). */
#define DEFAULT_PRECOPY_ROUNDS 4

int cmd_capture(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "out", required_argument, NULL, 'o' },
		{ "leave-running", no_argument, NULL, 'l' },
		{ "io", required_argument, NULL, 'i' },
		{ "precopy-rounds", required_argument, NULL, 'r' },
		{ "dirty", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct snap_capture_opts opts = { .precopy_rounds = DEFAULT_PRECOPY_ROUNDS };
	struct snap_capture_result res;
	const char *out = NULL;
	long pid = 0;
	int c;

	optind = 1;
	long rounds;

	while ((c = getopt_long(argc, argv, "p:o:li:r:d:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (!cli_parse_long(optarg, 1, 0x7fffffff, &pid))
				return cli_usage(cli, "--pid '%s' is not a process id", optarg);
			break;
		case 'o': out = optarg; break;
		case 'l': opts.leave_running = true; break;
		case 'i': opts.io_backend = optarg; break;
		case 'r':
			if (!cli_parse_long(optarg, 0, 64, &rounds))
				return cli_usage(cli, "--precopy-rounds '%s' is not a number from 0 to 64", optarg);
			opts.precopy_rounds = (unsigned int)rounds;
			break;
		case 'd': opts.dirty_backend = optarg; break;
		case 'j': case 'v': break; /* handled globally */
		case 'h':
			puts("usage: snapctl capture --pid PID --out DIR [--leave-running] [--io uring|sync]\n"
			     "                       [--precopy-rounds N] [--dirty uffd-wp|soft-dirty|none] [--json]");
			return 0;
		default:
			return cli_usage(cli, "unknown option");
		}
	}
	if (!pid || !out)
		return cli_usage(cli, "both --pid and --out are required");
	if (optind < argc)
		return cli_usage(cli, "unexpected argument '%s'", argv[optind]);

	if (snap_capture(cli->ctx, (pid_t)pid, out, &opts, &res) < 0)
		return cli_fail_engine(cli);

	double ratio = res.bytes_stored ? (double)res.bytes_memory / (double)res.bytes_stored : 0;
	if (cli->json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_int(&j, "pid", res.pid);
		json_string(&j, "dir", out);
		json_string(&j, "io_backend", res.io_backend);
		json_uint(&j, "mappings", res.vmas);
		json_uint(&j, "chunks", res.chunks);
		json_uint(&j, "bytes_virtual", res.bytes_virtual);
		json_uint(&j, "bytes_memory", res.bytes_memory);
		json_uint(&j, "bytes_stored", res.bytes_stored);
		json_double(&j, "compression_ratio", ratio);
		json_double(&j, "freeze_ms", (double)res.freeze_ns / 1e6);
		json_uint(&j, "precopy_rounds", res.precopy_rounds);
		json_uint(&j, "precopy_bytes", res.precopy_bytes);
		json_uint(&j, "frozen_bytes", res.frozen_bytes);
		json_string(&j, "dirty_backend", res.dirty_backend);
		json_double(&j, "total_ms", (double)res.total_ns / 1e6);
		json_bool(&j, "left_running", opts.leave_running);
		json_object_end(&j);
		json_finish(&j);
	} else {
		printf("captured pid %d into %s: %.1f MiB of memory in %.1f MiB (%.2fx), %llu chunks, "
		       "frozen %.1f ms, total %.1f ms (io: %s); the process was %s\n",
		       (int)res.pid, out, (double)res.bytes_memory / 1048576.0, (double)res.bytes_stored / 1048576.0,
		       ratio, (unsigned long long)res.chunks, (double)res.freeze_ns / 1e6, (double)res.total_ns / 1e6,
		       res.io_backend, opts.leave_running ? "left running" : "ended");
	}
	return 0;
}
