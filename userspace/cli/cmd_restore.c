/* cmd_restore.c — snapctl restore DIR [--eager|--lazy] [--detach] [--pidfile FILE] [--pid-ns]:
 * parses, calls snap_restore(), passes the process's exit status on.
 * Lazy is the default where the kernel's userfaultfd allows it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int cmd_restore(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "detach", no_argument, NULL, 'd' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "pid-ns", no_argument, NULL, 'n' },
		{ "lazy", no_argument, NULL, 'L' },
		{ "eager", no_argument, NULL, 'E' },
		{ "prefault-ws", no_argument, NULL, 'W' },
		{ "record", no_argument, NULL, 'R' },
		{ "no-prefetch", no_argument, NULL, 'N' },
		{ "server-log", required_argument, NULL, 'S' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct snap_restore_opts opts = { 0 };
	struct snap_restore_result res;
	bool lazy = false, eager = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "dp:njvhLEWRNS:", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': opts.detach = true; break;
		case 'p': opts.pidfile = optarg; break;
		case 'n': opts.pid_ns = true; break;
		case 'L': lazy = true; break;
		case 'E': eager = true; break;
		case 'W': opts.prefault_ws = true; break;
		case 'R': opts.record = true; break;
		case 'N': opts.no_prefetch = true; break;
		case 'S': opts.server_log = optarg; break;
		case 'j': case 'v': break;
		case 'h':
			puts("usage: snapctl restore DIR [--eager|--lazy] [--detach] [--pidfile FILE] [--pid-ns] [--json]\n"
			     "  --pid-ns  restore into a new PID namespace, where the saved pid and thread ids are\n"
			     "            free (pid and --pidfile give the pid outside; /proc stays the host's)\n"
			     "  --lazy    (the default where userfaultfd allows it) memory comes in on first touch\n"
			     "            from a page server, which prefetches the rest (in the recorded working-set\n"
			     "            order) and exits when all is in; chunks are checked as they are read\n"
			     "  --eager   every page is loaded, and every chunk checked, before the process runs\n"
			     "  --prefault-ws  lazy: load the working set's early pages before it runs\n"
			     "  --record  lazy: record the working set (DIR/workingset) from the faults served\n"
			     "  --no-prefetch  lazy: serve faults only (for measurements)\n"
			     "  --server-log FILE  the page server's log (default: stderr)");
			return 0;
		default:
			return cli_usage(cli, "unknown option");
		}
	}
	if (optind != argc - 1)
		return cli_usage(cli, "restore takes one snapshot directory");
	if (lazy && eager)
		return cli_usage(cli, "--lazy and --eager exclude each other");
	if (eager && (opts.prefault_ws || opts.record || opts.no_prefetch || opts.server_log))
		return cli_usage(cli, "--prefault-ws, --record, --no-prefetch and --server-log are for lazy restore, not --eager");
	opts.lazy = lazy || (!eager && snap_lazy_supported());
	if (!opts.lazy && !eager && cli->verbose)
		fprintf(stderr, "snapctl restore: this kernel's userfaultfd cannot serve a lazy restore; restoring eagerly\n");

	/* In the foreground the JSON line comes once the process has ended. */
	if (snap_restore(cli->ctx, argv[optind], &opts, &res) < 0)
		return cli_fail_engine(cli);

	if (cli->json) {
		struct json j;
		json_init(&j, stdout);
		json_object_begin(&j, NULL);
		json_int(&j, "pid", res.pid);
		json_int(&j, "saved_pid", res.saved_pid);
		json_bool(&j, "same_pid", res.same_pid);
		json_bool(&j, "pid_ns", res.pid_ns);
		if (res.pid_ns) {
			json_int(&j, "pid_in_ns", res.pid_in_ns);
			json_int(&j, "ns_init_pid", res.ns_init_pid);
		}
		json_bool(&j, "detached", opts.detach);
		json_bool(&j, "lazy", res.lazy);
		if (res.lazy)
			json_int(&j, "page_server_pid", res.page_server_pid);
		json_double(&j, "validate_ms", (double)res.validate_ns / 1e6);
		json_double(&j, "create_ms", (double)res.create_ns / 1e6);
		json_double(&j, "total_ms", (double)res.total_ns / 1e6);
		json_uint(&j, "bytes_loaded", res.bytes_loaded);
		if (!opts.detach)
			json_int(&j, "exit_status", res.exit_status);
		if (res.have_server_stats) {
			json_object_begin(&j, "page_server");
			json_uint(&j, "faults", res.server.faults);
			json_uint(&j, "zero_faults", res.server.zero_faults);
			json_uint(&j, "bytes_on_demand", res.server.bytes_on_demand);
			json_uint(&j, "bytes_prefetched", res.server.bytes_prefetched);
			json_double(&j, "serve_ms", (double)res.server.serve_ns / 1e6);
			json_bool(&j, "complete", res.server.complete);
			json_object_end(&j);
		}
		json_object_end(&j);
		json_finish(&j);
	} else if ((opts.detach || cli->verbose) && res.pid_ns) {
		fprintf(stderr, "snapctl restore: pid %d running, pid %d in its own PID namespace (init %d), restored in %.1f ms\n",
			(int)res.pid, (int)res.pid_in_ns, (int)res.ns_init_pid, (double)res.total_ns / 1e6);
	} else if (opts.detach || cli->verbose) {
		fprintf(stderr, "snapctl restore: pid %d running (saved as %d), restored %s in %.1f ms\n", (int)res.pid,
			(int)res.saved_pid, res.lazy ? "lazily" : "eagerly", (double)res.total_ns / 1e6);
	}
	if (!cli->json && cli->verbose && res.have_server_stats)
		fprintf(stderr, "snapctl restore: page server: %llu faults (%llu zero), %.1f MiB on demand, %.1f MiB prefetched, %s after %.1f ms\n",
			(unsigned long long)res.server.faults, (unsigned long long)res.server.zero_faults,
			(double)res.server.bytes_on_demand / 1048576.0, (double)res.server.bytes_prefetched / 1048576.0,
			res.server.complete ? "every page in" : "the process ended", (double)res.server.serve_ns / 1e6);
	return opts.detach ? 0 : res.exit_status;
}
