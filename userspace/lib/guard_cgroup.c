/* guard_cgroup.c — the guard on cgroup bpf hooks (sock_create, connect, sendmsg,
 * dev), which any kernel with cgroup v2 offers; never attaches outside the phase. */
#include <errno.h>
#include <string.h>
#include <sys/prctl.h>
#include <linux/capability.h>

#include "ctx.h"
#include "guard.h"
#include "sys.h"

#ifdef SNAP_GUARD_SKELETON
#include <bpf/libbpf.h>
#include <linux/types.h>
#include "guard_event.h"
#include "guard.skel.h"
#endif

/* The kernel runs cgroup/sock_create for AF_INET and AF_INET6 only
 * (inet_create, inet6_create); packet_create has no cgroup hook at all. So
 * this backend keeps AF_PACKET out the way the kernel itself does: the
 * workload starts without CAP_NET_RAW (bounding, ambient, inheritable,
 * permitted and effective sets), which packet_create requires — for
 * socket(2) and io_uring's IORING_OP_SOCKET alike. Observers on raw
 * tracepoints (cap_capable, or sys_enter/sys_exit where it is missing;
 * and io_uring_complete) report them. The capability cannot be given
 * back: with --continue the original runs on without it. */
static int cgroup_probe(const struct snap_features *f, const char **ret_why)
{
	if (!f->cgroup2.mounted.available) {
		*ret_why = "no cgroup v2 hierarchy is mounted";
		return f->cgroup2.mounted.err;
	}
	if (!f->bpf.cgroup_sock.available || !f->bpf.cgroup_sock_addr.available || !f->bpf.cgroup_device.available) {
		*ret_why = "the kernel refuses cgroup_sock, cgroup_sock_addr or cgroup_device programs";
		return -EOPNOTSUPP;
	}
	*ret_why = "sock_create (AF_INET, AF_INET6), connect4/6, sendmsg4/6, dev; AF_PACKET: CAP_NET_RAW withheld";
	return 0;
}

/* Program sets by name, best first: the observers only report, and each
 * needs a tracepoint some kernels lack (cap_capable is recent;
 * io_uring_complete took its cqe argument in 6.0), so a kernel that refuses one still gets the guard. */
static bool observer(const char *name)
{
	return !strncmp(name, "guard_observe_", 14);
}

static bool cgroup_program(const char *name)
{
	return strncmp(name, "guard_lsm_", 10) != 0;
}

static bool set_cap_uring(const char *name)
{
	return cgroup_program(name) && strncmp(name, "guard_observe_sys_", 18);
}

static bool set_cap(const char *name)
{
	return cgroup_program(name) && (!observer(name) || !strcmp(name, "guard_observe_cap"));
}

static bool set_sys_uring(const char *name)
{
	return cgroup_program(name) && strcmp(name, "guard_observe_cap");
}

static bool set_sys(const char *name)
{
	return set_sys_uring(name) && strcmp(name, "guard_observe_uring");
}

static bool set_unobserved(const char *name)
{
	return cgroup_program(name) && !observer(name);
}

static int cgroup_load(struct snap_guard *g)
{
	bool (*const sets[])(const char *) = { set_cap_uring, set_cap, set_sys_uring, set_sys, set_unobserved };
	int r = -EINVAL;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		r = snap_guard_load(g, sets[i]);
		if (r == 0)
			break;
	}
	return r;
}

#ifdef SNAP_GUARD_SKELETON
static int attach_cgroup(struct snap_guard *g, struct bpf_program *prog, int cgroup_fd)
{
	return snap_guard_add_link(g, bpf_program__attach_cgroup(prog, cgroup_fd));
}

/* connect/sendmsg hooks only see sockets created in the cgroup they are
 * attached to or below. The ones that matter were created before (sock_create
 * denies the rest): attached at the hierarchy's root they see every socket,
 * and the program matches the caller's cgroup. Failing that (the root
 * refuses more programs), at the workload's cgroup. */
static int attach_addr_hooks(struct snap_ctx *ctx, struct snap_guard *g)
{
	struct bpf_program *progs[] = {
		g->skel->progs.guard_connect4,
		g->skel->progs.guard_connect6,
		g->skel->progs.guard_sendmsg4,
		g->skel->progs.guard_sendmsg6,
	};
	int first = g->nr_links, r = -EBADF;

	if (g->cfg.root_cgroup_fd >= 0) {
		r = 0;
		for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]) && r == 0; i++)
			r = attach_cgroup(g, progs[i], g->cfg.root_cgroup_fd);
		if (r == 0) {
			g->addr_scope = "hierarchy";
			return 0;
		}
		while (g->nr_links > first)
			bpf_link__destroy(g->links[--g->nr_links]);
		snap_log(ctx, SNAP_LOG_DEBUG, "guard: connect/sendmsg at the hierarchy's root: %s; at the cgroup instead",
			 strerror(-r));
	}
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		r = attach_cgroup(g, progs[i], g->cfg.cgroup_fd);
		if (r < 0)
			return snap_err(ctx, r, "cannot attach the guard's %s program: %s", bpf_program__name(progs[i]),
					strerror(-r));
	}
	g->addr_scope = "cgroup";
	return 0;
}

static int cgroup_attach(struct snap_ctx *ctx, struct snap_guard *g)
{
	struct bpf_program *own[] = { g->skel->progs.guard_sock_create, g->skel->progs.guard_dev };
	int r;

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++) {
		r = attach_cgroup(g, own[i], g->cfg.cgroup_fd);
		if (r < 0)
			return snap_err(ctx, r, "cannot attach the guard's %s program to the workload's cgroup: %s",
					bpf_program__name(own[i]), strerror(-r));
	}
	r = attach_addr_hooks(ctx, g);
	if (r < 0)
		return r;

	/* Observers: each for itself (reporting only). */
	struct bpf_program *observers[] = {
		g->skel->progs.guard_observe_cap,
		g->skel->progs.guard_observe_sys_enter,
		g->skel->progs.guard_observe_sys_exit,
		g->skel->progs.guard_observe_uring,
	};
	int loaded = 0, attached = 0;

	for (size_t i = 0; i < sizeof(observers) / sizeof(observers[0]); i++) {
		if (!bpf_program__autoload(observers[i]))
			continue;
		loaded++;
		r = snap_guard_add_link(g, bpf_program__attach(observers[i]));
		if (r == 0)
			attached++;
		else
			snap_log(ctx, SNAP_LOG_DEBUG, "guard: %s: %s", bpf_program__name(observers[i]), strerror(-r));
	}
	/* socket(2) (cap_capable, or sys_enter + sys_exit) and io_uring. */
	g->packet_observed = loaded >= 2 && attached == loaded;
	if (!g->packet_observed)
		snap_log(ctx, SNAP_LOG_INFO, "guard: AF_PACKET sockets are refused (no CAP_NET_RAW) but %s reported: "
					     "this kernel lacks some of the tracepoints that observe them",
			 attached ? "not all are" : "none is");
	return 0;
}
#else
static int cgroup_attach(struct snap_ctx *ctx, struct snap_guard *g)
{
	return -EOPNOTSUPP;
}
#endif

/* Runs between fork and exec: raw syscalls only. */
static int cgroup_prepare_exec(const struct snap_guard *g)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	const __u32 bit = CAP_TO_MASK(CAP_NET_RAW);
	const int word = CAP_TO_INDEX(CAP_NET_RAW);
	int r;

	/* Out of the bounding set, so that no exec (root's, or a file with
	 * cap_net_raw) brings it back; EPERM without CAP_SETPCAP, where the
	 * process has no CAP_NET_RAW to lose unless a file grants it. */
	r = sys_prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0);
	if (r < 0 && r != -EPERM && r != -EINVAL)
		return r;
	sys_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_NET_RAW, 0, 0);
	r = sys_capget(&hdr, data);
	if (r < 0)
		return r;
	if (!((data[word].effective | data[word].permitted | data[word].inheritable) & bit))
		return 0;
	data[word].effective &= ~bit;
	data[word].permitted &= ~bit;
	data[word].inheritable &= ~bit;
	return sys_capset(&hdr, data);
}

static void cgroup_detach(struct snap_guard *g)
{
	snap_guard_unload(g);
}

const struct snap_guard_ops snap_guard_cgroup_ops = {
	.name = "cgroup",
	.probe = cgroup_probe,
	.load = cgroup_load,
	.attach = cgroup_attach,
	.prepare_exec = cgroup_prepare_exec,
	.detach = cgroup_detach,
};
