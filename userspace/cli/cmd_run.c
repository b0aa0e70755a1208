/* cmd_run.c — snapctl run --out DIR [...] -- CMD ARGS: parses, calls snap_run(),
 * prints the guard's denials and the capture; no engine logic and no cgroup here. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/signalfd.h>

#include "cli.h"

static const char usage_text[] =
	"usage: snapctl run --out DIR [--continue] [--no-guard] [--timeout S] [--json] -- CMD [ARGS...]\n"
	"  runs CMD in a cgroup of its own with the guard on (no network sockets, no GPU device\n"
	"  opens) and SNAPCTL_READY_FD set; captures it into DIR when it says \"ready\"\n"
	"  --continue           answer \"continued\" and wait for it (its exit status is ours);\n"
	"                       without it the capture ends it\n"
	"  --no-guard           the cgroup, but no bpf programs\n"
	"  --timeout S          give up (and kill it) if it is not ready within S seconds\n"
	"  --guard-backend B    cgroup or lsm (default: the first that works here, see snapctl check)\n"
	"  --deny-device T:MAJ[:MIN]  deny opens of another device (T is c or b) besides the GPUs\n"
	"  --io uring|sync      the capture's write backend\n"
	"exit status: 0, or with --continue the workload's; 124 timeout, 126/127 CMD cannot run or\n"
	"is not found, 130/143 interrupted, the workload's status if it ended before its snapshot\n"
	"point, 1 for anything else\n";

static const char *stage_name(enum snap_run_stage stage)
{
	switch (stage) {
	case SNAP_RUN_DONE: return "done";
	case SNAP_RUN_SETUP: return "setup";
	case SNAP_RUN_EXEC: return "exec";
	case SNAP_RUN_EXITED: return "exited";
	case SNAP_RUN_TIMEOUT: return "timeout";
	case SNAP_RUN_CANCELLED: return "cancelled";
	case SNAP_RUN_PROTOCOL: return "protocol";
	case SNAP_RUN_CAPTURE: return "capture";
	}
	return "unknown";
}

static bool parse_device(const char *s, struct snap_guard_device *ret)
{
	unsigned long major, minor;
	char *end;

	if ((s[0] != 'c' && s[0] != 'b') || s[1] != ':')
		return false;
	errno = 0;
	major = strtoul(s + 2, &end, 10);
	if (errno || end == s + 2 || major > 0xfff)
		return false;
	*ret = (struct snap_guard_device){ .type = s[0], .major = (uint32_t)major, .minor = -1 };
	if (!*end)
		return true;
	if (*end != ':' || !end[1])
		return false;
	minor = strtoul(end + 1, &end, 10);
	if (errno || *end || minor > 0xfffff)
		return false;
	ret->minor = (int32_t)minor;
	return true;
}

static bool parse_seconds(const char *s, uint64_t *ret_ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0) || v > 1e7)
		return false;
	*ret_ms = (uint64_t)(v * 1000.0 + 0.5);
	return *ret_ms > 0;
}

static void print_denials_text(const struct snap_run_result *res)
{
	for (size_t i = 0; i < res->nr_denials; i++) {
		const struct snap_guard_denial *d = &res->denials[i];

		printf("guard: denied %s by %s (pid %d)", d->what, d->comm, (int)d->pid);
		if (d->count > 1)
			printf(", %llu times", (unsigned long long)d->count);
		if (!strcmp(d->denied_by, "capability"))
			printf(" [no CAP_NET_RAW]");
		putchar('\n');
	}
	if (res->denials_lost)
		printf("guard: %llu more denials not reported one by one (the ring buffer was full)\n",
		       (unsigned long long)res->denials_lost);
	if (strcmp(res->guard_backend, "none") && !res->nr_denials && !res->denials_lost)
		printf("guard: nothing denied\n");
}

struct phase_report {
	const char *out;
	bool leave_running;
	bool printed;
};

/* The phase's report: what the guard denied, what was captured. */
static void print_phase(const struct snap_run_result *res, struct phase_report *rep)
{
	print_denials_text(res);
	if (res->captured) {
		const struct snap_capture_result *cap = &res->capture;
		double ratio = cap->bytes_stored ? (double)cap->bytes_memory / (double)cap->bytes_stored : 0;

		printf("captured pid %d into %s: %.1f MiB of memory in %.1f MiB (%.2fx), frozen %.1f ms; "
		       "ready %.1f ms after its start (guard: %s, set up in %.1f ms); the process was %s\n",
		       (int)res->pid, rep->out, (double)cap->bytes_memory / 1048576.0, (double)cap->bytes_stored / 1048576.0,
		       ratio, (double)cap->freeze_ns / 1e6, (double)res->start_ns / 1e6, res->guard_backend,
		       (double)res->guard_setup_ns / 1e6, rep->leave_running ? "continued" : "ended");
	}
	fflush(stdout);
	rep->printed = true;
}

/* --continue: the report when the phase ends, not when the workload exits. */
static void on_phase_end(const struct snap_run_result *res, void *user)
{
	print_phase(res, user);
}

static void json_denials(struct json *j, const struct snap_run_result *res)
{
	json_object_begin(j, "guard");
	json_string(j, "backend", res->guard_backend);
	json_string(j, "connect_scope", res->guard_scope);
	json_double(j, "setup_ms", (double)res->guard_setup_ns / 1e6);
	json_uint(j, "lost", res->denials_lost);
	json_array_begin(j, "denials");
	for (size_t i = 0; i < res->nr_denials; i++) {
		const struct snap_guard_denial *d = &res->denials[i];
		static const char *const kinds[] = { "", "socket", "connect", "sendmsg", "device" };

		json_object_begin(j, NULL);
		json_string(j, "kind", kinds[d->kind <= SNAP_GUARD_DEVICE ? d->kind : 0]);
		json_string(j, "what", d->what);
		json_int(j, "pid", d->pid);
		json_string(j, "comm", d->comm);
		json_uint(j, "count", d->count);
		json_string(j, "errno", d->err == EPERM ? "EPERM" : "other");
		json_string(j, "denied_by", d->denied_by);
		if (d->kind == SNAP_GUARD_DEVICE) {
			char type[2] = { d->device_type, 0 };

			json_string(j, "device_type", type);
			json_uint(j, "major", d->major);
			json_uint(j, "minor", d->minor);
		} else {
			json_int(j, "family", d->family);
			json_int(j, "type", d->type);
			if (d->kind != SNAP_GUARD_SOCKET) {
				json_string(j, "address", d->address);
				json_uint(j, "port", d->port);
			}
		}
		json_object_end(j);
	}
	json_array_end(j);
	json_object_end(j);
}

static void json_capture(struct json *j, const struct snap_capture_result *c)
{
	double ratio = c->bytes_stored ? (double)c->bytes_memory / (double)c->bytes_stored : 0;

	json_object_begin(j, "capture");
	json_string(j, "io_backend", c->io_backend);
	json_uint(j, "mappings", c->vmas);
	json_uint(j, "chunks", c->chunks);
	json_uint(j, "bytes_memory", c->bytes_memory);
	json_uint(j, "bytes_stored", c->bytes_stored);
	json_double(j, "compression_ratio", ratio);
	json_double(j, "freeze_ms", (double)c->freeze_ns / 1e6);
	json_double(j, "total_ms", (double)c->total_ns / 1e6);
	json_object_end(j);
}

static void print_json(const struct snap_run_result *res, const char *dir, const char *error)
{
	struct json j;

	json_init(&j, stdout);
	json_object_begin(&j, NULL);
	if (error)
		json_string(&j, "error", error);
	json_string(&j, "stage", stage_name(res->stage));
	json_int(&j, "pid", res->pid);
	json_string(&j, "dir", dir);
	json_string(&j, "cgroup", res->cgroup);
	json_bool(&j, "ready", res->ready);
	json_bool(&j, "captured", res->captured);
	json_bool(&j, "continued", res->continued);
	if (res->exited)
		json_int(&j, "exit_status", res->exit_status);
	else
		json_null(&j, "exit_status");
	json_double(&j, "setup_ms", (double)res->setup_ns / 1e6);
	json_double(&j, "start_ms", (double)res->start_ns / 1e6);
	json_double(&j, "total_ms", (double)res->total_ns / 1e6);
	json_denials(&j, res);
	if (res->captured)
		json_capture(&j, &res->capture);
	json_object_end(&j);
	json_finish(&j);
}

/* SIGINT, SIGTERM and SIGHUP become a readable fd the engine polls, so
 * that it cleans up before we exit. */
static int cancel_fd_open(sigset_t *ret_old)
{
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, ret_old) < 0)
		return -1;
	return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

static int cancel_signal(int fd)
{
	struct signalfd_siginfo si;

	if (fd < 0 || read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
		return SIGINT;
	return (int)si.ssi_signo;
}

static int exit_code(const struct snap_run_result *res, int cancel_fd)
{
	switch (res->stage) {
	case SNAP_RUN_DONE: return res->continued && res->exited ? res->exit_status : 0;
	case SNAP_RUN_EXEC: return res->exec_errno == ENOENT ? 127 : 126;
	case SNAP_RUN_EXITED: return res->exited && res->exit_status ? res->exit_status : 1;
	case SNAP_RUN_TIMEOUT: return 124;
	case SNAP_RUN_CANCELLED: return 128 + cancel_signal(cancel_fd);
	default: return 1;
	}
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "continue", no_argument, NULL, 'c' },
		{ "no-guard", no_argument, NULL, 'G' },
		{ "guard-backend", required_argument, NULL, 'B' },
		{ "timeout", required_argument, NULL, 't' },
		{ "deny-device", required_argument, NULL, 'D' },
		{ "io", required_argument, NULL, 'i' },
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct snap_run_opts opts = { .cancel_fd = -1 };
	struct snap_guard_device devices[16];
	struct phase_report report = { 0 };
	struct snap_run_result res;
	const char *out = NULL;
	sigset_t old;
	int c, r, code;

	optind = 1;
	/* '+': stop at CMD, whose options are its own. */
	while ((c = getopt_long(argc, argv, "+o:cGB:t:D:i:jvh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out = optarg; break;
		case 'c': opts.leave_running = true; break;
		case 'G': opts.no_guard = true; break;
		case 'B': opts.guard_backend = optarg; break;
		case 't':
			if (!parse_seconds(optarg, &opts.timeout_ms))
				return cli_usage(cli, "--timeout '%s' is not a number of seconds", optarg);
			break;
		case 'D':
			if (opts.nr_deny_devices == sizeof(devices) / sizeof(devices[0]))
				return cli_usage(cli, "too many --deny-device");
			if (!parse_device(optarg, &devices[opts.nr_deny_devices]))
				return cli_usage(cli, "--deny-device '%s' is not c:MAJOR[:MINOR] or b:MAJOR[:MINOR]", optarg);
			opts.nr_deny_devices++;
			break;
		case 'i': opts.capture.io_backend = optarg; break;
		case 'j': case 'v': break; /* handled globally */
		case 'h': fputs(usage_text, stdout); return 0;
		default: return cli_usage(cli, "unknown option");
		}
	}
	if (!out)
		return cli_usage(cli, "--out DIR is required");
	if (optind >= argc)
		return cli_usage(cli, "no command to run: snapctl run --out DIR -- CMD [ARGS...]");
	if (opts.no_guard && (opts.guard_backend || opts.nr_deny_devices))
		return cli_usage(cli, "--no-guard with --guard-backend or --deny-device makes no sense");
	opts.argv = argv + optind;
	opts.deny_devices = devices;
	report.out = out;
	report.leave_running = opts.leave_running;
	if (!cli->json) {
		opts.phase_end = on_phase_end;
		opts.user = &report;
	}

	/* The workload's output shares our stdout: ours must not sit in a
	 * buffer while it writes. */
	fflush(stdout);
	sigprocmask(SIG_SETMASK, NULL, &old);
	opts.cancel_fd = cancel_fd_open(&old);
	r = snap_run(cli->ctx, out, &opts, &res);
	code = exit_code(&res, opts.cancel_fd);
	if (r < 0 && code == 0)
		code = 1;
	if (opts.cancel_fd >= 0) {
		/* The engine has acted on them (ended the run, or passed
		 * SIGTERM on): they must not kill us once unblocked. */
		struct signalfd_siginfo si;

		while (read(opts.cancel_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(opts.cancel_fd);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);

	if (cli->json) {
		const char *msg = snap_ctx_error(cli->ctx);

		print_json(&res, out, r < 0 ? (msg[0] ? msg : "failed without a reason (a bug: please report it)") : NULL);
	} else {
		if (!report.printed)
			print_phase(&res, &report);
		if (res.continued && res.exited)
			printf("the workload (pid %d) exited with status %d\n", (int)res.pid, res.exit_status);
		fflush(stdout);
		if (r < 0)
			cli_fail_engine(cli);
	}
	snap_run_result_release(&res);
	return code;
}
