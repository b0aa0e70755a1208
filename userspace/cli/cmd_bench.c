/* cmd_bench.c — snapctl bench [OPTIONS] -- CMD ARGS: parses, calls
 * snap_bench(), prints the table, the JSON and the SVG chart. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "svg.h"

static const char bench_usage[] =
	"usage: snapctl bench [--runs N] [--modes cold,eager,lazy,lazy-prefetch] [--json] [--svg FILE]\n"
	"                     [--ready-file PATH] [--keep DIR] [--timeout SECONDS] -- CMD [ARGS...]\n"
	"\n"
	"Cold start against restore for the workload CMD: it is started once and captured at its\n"
	"snapshot point, then each mode runs N times (default 5), interleaved.\n"
	"\n"
	"The workload's side:\n"
	"  - at its snapshot point it writes \"ready\\n\" on the fd named by SNAPCTL_READY_FD and reads\n"
	"    one line back: \"continued\" in a cold start, \"restored\" after a restore;\n"
	"  - when it can serve (after its post-snapshot work, in both cases) it writes a line \"ready\"\n"
	"    on stdout, or with --ready-file creates PATH (removed by the bench before every run).\n"
	"Time to ready runs from fork (cold) or from the start of the restore to that moment.\n"
	"\n"
	"  --runs N          runs per mode (default 5)\n"
	"  --modes LIST      which modes, comma-separated (default all)\n"
	"  --json            print every run and the summaries as JSON\n"
	"  --svg FILE        write a chart: time to ready per mode and each restore's phases\n"
	"  --ready-file PATH the workload says it can serve by creating PATH\n"
	"  --keep DIR        keep the snapshot in DIR (default: a temporary directory, removed)\n"
	"  --timeout SECONDS how long one run may take to get ready (default 300)\n";

static double ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/* A time for the table: "-" when the mode has none. */
static void cell_ms(char *buf, size_t size, uint64_t ns)
{
	if (ns == SNAP_BENCH_NA)
		snprintf(buf, size, "-");
	else if (ns < 10000000ull)
		snprintf(buf, size, "%.2f", ms(ns));
	else
		snprintf(buf, size, "%.1f", ms(ns));
}

static void json_ms(struct json *j, const char *key, uint64_t ns)
{
	if (ns == SNAP_BENCH_NA)
		json_null(j, key);
	else
		json_double(j, key, ms(ns));
}

static void json_count(struct json *j, const char *key, uint64_t v)
{
	if (v == SNAP_BENCH_NA)
		json_null(j, key);
	else
		json_uint(j, key, v);
}

static void json_stat(struct json *j, const char *key, const struct snap_bench_stat *st, bool is_time)
{
	if (!st->count) {
		json_null(j, key);
		return;
	}
	json_object_begin(j, key);
	json_uint(j, "count", st->count);
	void (*put)(struct json *, const char *, uint64_t) = is_time ? json_ms : json_count;
	put(j, "min", st->min);
	put(j, "p5", st->p5);
	put(j, "median", st->median);
	put(j, "p95", st->p95);
	put(j, "max", st->max);
	json_object_end(j);
}

static void print_json(const struct snap_bench_result *res, char *const *argv, const char *ready_file)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	json_array_begin(&j, "command");
	for (int i = 0; argv[i]; i++)
		json_string(&j, NULL, argv[i]);
	json_array_end(&j);
	json_uint(&j, "runs_per_mode", res->runs_per_mode);
	json_string(&j, "ready_signal", ready_file ? "file" : "stdout");
	if (ready_file)
		json_string(&j, "ready_file", ready_file);
	if (res->capture.pid) {
		json_object_begin(&j, "snapshot");
		json_double(&j, "snapshot_point_ms", ms(res->snapshot_point_ns));
		json_double(&j, "capture_ms", ms(res->capture.total_ns));
		json_double(&j, "freeze_ms", ms(res->capture.freeze_ns));
		json_uint(&j, "bytes_memory", res->capture.bytes_memory);
		json_uint(&j, "bytes_stored", res->capture.bytes_stored);
		json_object_end(&j);
	} else {
		json_null(&j, "snapshot");
	}
	json_object_begin(&j, "modes");
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		const struct snap_bench_summary *s = &res->summary[m];

		if (!(res->modes & (1u << m)))
			continue;
		json_object_begin(&j, snap_bench_mode_name((enum snap_bench_mode)m));
		json_bool(&j, "available", s->available);
		if (!s->available)
			json_string(&j, "reason", "not available in this build");
		json_array_begin(&j, "runs");
		for (uint32_t i = 0; i < res->nr_runs; i++) {
			const struct snap_bench_run *r = &res->runs[i];
			if (r->mode != (enum snap_bench_mode)m)
				continue;
			json_object_begin(&j, NULL);
			json_uint(&j, "run", r->index + 1);
			json_uint(&j, "order", r->order + 1);
			json_ms(&j, "ready_ms", r->ready_ns);
			json_ms(&j, "snapshot_point_ms", r->snapshot_point_ns);
			json_ms(&j, "validate_ms", r->validate_ns);
			json_ms(&j, "create_ms", r->create_ns);
			json_ms(&j, "first_instruction_ms", r->first_instruction_ns);
			json_ms(&j, "pages_in_ms", r->pages_in_ns);
			json_count(&j, "faults", r->faults);
			json_count(&j, "bytes_prefetched", r->bytes_prefetched);
			json_count(&j, "bytes_loaded", r->bytes_loaded);
			json_object_end(&j);
		}
		json_array_end(&j);
		json_object_begin(&j, "summary");
		json_stat(&j, "ready_ms", &s->ready, true);
		json_stat(&j, "snapshot_point_ms", &s->snapshot_point, true);
		json_stat(&j, "validate_ms", &s->validate, true);
		json_stat(&j, "create_ms", &s->create, true);
		json_stat(&j, "first_instruction_ms", &s->first_instruction, true);
		json_stat(&j, "pages_in_ms", &s->pages_in, true);
		json_stat(&j, "faults", &s->faults, false);
		json_stat(&j, "bytes_prefetched", &s->bytes_prefetched, false);
		json_stat(&j, "bytes_loaded", &s->bytes_loaded, false);
		json_object_end(&j);
		json_object_end(&j);
	}
	json_object_end(&j);
	json_object_end(&j);
	json_finish(&j);
}

static void print_command(FILE *out, char *const *argv)
{
	for (int i = 0; argv[i]; i++)
		fprintf(out, "%s%s", i ? " " : "", argv[i]);
}

/* text centred in width columns, after two spaces of gutter */
static void print_centered(const char *text, int width)
{
	int len = (int)strlen(text), left = (width - 2 - len) / 2;

	printf("  %*s%s%*s", left, "", text, width - 2 - len - left, "");
}

static void print_table(const struct snap_bench_result *res, char *const *argv)
{
	const struct snap_bench_summary *cold = &res->summary[SNAP_BENCH_COLD];
	char c[9][16];

	printf("snapctl bench: ");
	print_command(stdout, argv);
	printf("\n  %u runs per mode, interleaved; times in ms from the start of the run\n", res->runs_per_mode);
	if (res->capture.pid)
		printf("  snapshot: %.1f MiB of memory stored in %.1f MiB; snapshot point after %.1f ms, captured in %.1f ms\n",
		       (double)res->capture.bytes_memory / 1048576.0, (double)res->capture.bytes_stored / 1048576.0,
		       ms(res->snapshot_point_ns), ms(res->capture.total_ns));
	printf("\n%-14s", "");
	print_centered("time to ready", 28);
	print_centered("first instruction", 28);
	print_centered("all pages in", 28);
	printf("  %8s  %10s\n", "faults", "prefetched");
	printf("%-14s", "mode");
	for (int k = 0; k < 3; k++)
		printf("  %8s %8s %8s", "min", "median", "p95");
	printf("  %8s  %10s\n", "median", "MiB, med.");
	for (int m = 0; m < SNAP_BENCH_MODE_COUNT; m++) {
		const struct snap_bench_summary *s = &res->summary[m];
		char faults[24], prefetched[24];

		if (!(res->modes & (1u << m)))
			continue;
		if (!s->available) {
			printf("%-14s  not available in this build\n", snap_bench_mode_name((enum snap_bench_mode)m));
			continue;
		}
		cell_ms(c[0], sizeof(c[0]), s->ready.min);
		cell_ms(c[1], sizeof(c[1]), s->ready.median);
		cell_ms(c[2], sizeof(c[2]), s->ready.p95);
		cell_ms(c[3], sizeof(c[3]), s->first_instruction.min);
		cell_ms(c[4], sizeof(c[4]), s->first_instruction.median);
		cell_ms(c[5], sizeof(c[5]), s->first_instruction.p95);
		cell_ms(c[6], sizeof(c[6]), s->pages_in.min);
		cell_ms(c[7], sizeof(c[7]), s->pages_in.median);
		cell_ms(c[8], sizeof(c[8]), s->pages_in.p95);
		if (s->faults.count)
			snprintf(faults, sizeof(faults), "%llu", (unsigned long long)s->faults.median);
		else
			snprintf(faults, sizeof(faults), m == SNAP_BENCH_COLD || m == SNAP_BENCH_EAGER ? "-" : "n/a");
		if (s->bytes_prefetched.count)
			snprintf(prefetched, sizeof(prefetched), "%.1f", (double)s->bytes_prefetched.median / 1048576.0);
		else
			snprintf(prefetched, sizeof(prefetched), m == SNAP_BENCH_COLD || m == SNAP_BENCH_EAGER ? "-" : "n/a");
		if (m != SNAP_BENCH_COLD && !s->pages_in.count)
			for (int k = 6; k < 9; k++)
				snprintf(c[k], sizeof(c[k]), "n/a");
		printf("%-14s  %8s %8s %8s  %8s %8s %8s  %8s %8s %8s  %8s  %10s\n",
		       snap_bench_mode_name((enum snap_bench_mode)m), c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8],
		       faults, prefetched);
	}
	if (cold->available && cold->ready.count && (res->modes & ~(1u << SNAP_BENCH_COLD))) {
		bool any = false;
		for (int m = SNAP_BENCH_EAGER; m < SNAP_BENCH_MODE_COUNT; m++) {
			const struct snap_bench_summary *s = &res->summary[m];
			if (!s->available || !s->ready.count || !s->ready.median)
				continue;
			printf("%s %s %.1fx", any ? "," : "\nmedian time to ready, cold start / restore:",
			       snap_bench_mode_name((enum snap_bench_mode)m),
			       (double)cold->ready.median / (double)s->ready.median);
			any = true;
		}
		if (any)
			putchar('\n');
	}
	printf("('-': the mode has no such time; n/a: this build's engine does not report it)\n");
}

struct progress {
	struct cli *cli;
	bool tty;
};

static void progress(const struct snap_bench_run *run, uint32_t done, uint32_t total, void *user)
{
	struct progress *p = user;

	if (p->cli->verbose)
		fprintf(stderr, "snapctl bench: [%u/%u] %s run %u: ready in %.2f ms\n", done, total,
			snap_bench_mode_name(run->mode), run->index + 1, ms(run->ready_ns));
	else if (p->tty)
		fprintf(stderr, "\r\033[Ksnapctl bench: %u of %u runs (%s %.1f ms)%s", done, total,
			snap_bench_mode_name(run->mode), ms(run->ready_ns), done == total ? "\r\033[K" : "");
}

static int write_svg(struct cli *cli, const char *path, const struct snap_bench_result *res, char *const *argv)
{
	char tmp[4096], command[512] = "";
	size_t len = 0;
	FILE *f;
	int r;

	for (int i = 0; argv[i] && len < sizeof(command) - 1; i++)
		len += (size_t)snprintf(command + len, sizeof(command) - len, "%s%s", i ? " " : "", argv[i]);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return cli_fail(cli, "cannot write the chart %s: %s", tmp, strerror(errno));
	r = svg_write_bench(f, res, command);
	if (fclose(f) != 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return cli_fail(cli, "cannot write the chart %s: %s", path, strerror(-r));
	}
	return 0;
}

int cmd_bench(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "runs", required_argument, NULL, 'n' },
		{ "modes", required_argument, NULL, 'm' },
		{ "svg", required_argument, NULL, 's' },
		{ "ready-file", required_argument, NULL, 'r' },
		{ "keep", required_argument, NULL, 'k' },
		{ "timeout", required_argument, NULL, 't' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct snap_bench_opts opts = { 0 };
	struct snap_bench_result res;
	struct progress prog = { .cli = cli, .tty = isatty(2) };
	const char *svg = NULL;
	long v;
	int c, r;

	optind = 1;
	/* '+': the workload's own options are never ours. */
	while ((c = getopt_long(argc, argv, "+n:m:s:r:k:t:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!cli_parse_long(optarg, 1, 10000, &v))
				return cli_usage(cli, "--runs '%s' is not a number from 1 to 10000", optarg);
			opts.runs = (uint32_t)v;
			break;
		case 'm':
			if (snap_bench_modes_parse(optarg, &opts.modes) < 0)
				return cli_usage(cli, "--modes '%s': a comma-separated list of cold, eager, lazy, lazy-prefetch",
						 optarg);
			break;
		case 's': svg = optarg; break;
		case 'r': opts.ready_file = optarg; break;
		case 'k': opts.keep_dir = optarg; break;
		case 't':
			if (!cli_parse_long(optarg, 1, 86400, &v))
				return cli_usage(cli, "--timeout '%s' is not a number of seconds from 1 to 86400", optarg);
			opts.timeout_ms = (uint32_t)v * 1000u;
			break;
		case 'j': case 'v': break; /* handled globally */
		case 'h':
			fputs(bench_usage, stdout);
			return 0;
		default:
			return cli_usage(cli, "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage(cli, "no workload: snapctl bench [OPTIONS] -- CMD [ARGS...]");
	opts.argv = argv + optind;
	opts.progress = progress;
	opts.user = &prog;

	r = snap_bench(cli->ctx, &opts, &res);
	if (prog.tty && !cli->verbose)
		fputs("\r\033[K", stderr);
	if (r < 0)
		return cli_fail_engine(cli);
	r = 0;
	if (svg)
		r = write_svg(cli, svg, &res, opts.argv);
	if (r == 0) {
		if (cli->json)
			print_json(&res, opts.argv, opts.ready_file);
		else
			print_table(&res, opts.argv);
	}
	snap_bench_result_release(&res);
	return r;
}
