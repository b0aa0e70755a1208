/* guard_lsm.c — the guard on bpf LSM hooks (socket_create/connect/sendmsg, file_open)
 * where the kernel allows them; global hooks that never deny outside the workload's cgroup. */
#include <errno.h>
#include <string.h>

#include "ctx.h"
#include "guard.h"

#ifdef SNAP_GUARD_SKELETON
#include <bpf/libbpf.h>
#include <linux/types.h>
#include "guard_event.h"
#include "guard.skel.h"
#endif

static int lsm_probe(const struct snap_features *f, const char **ret_why)
{
	if (!f->cgroup2.mounted.available) {
		*ret_why = "no cgroup v2 hierarchy is mounted (the programs match the workload's cgroup)";
		return f->cgroup2.mounted.err;
	}
	if (!f->bpf.lsm.available) {
		*ret_why = f->bpf.lsm.err == -EPERM ? "the kernel refuses LSM programs (lockdown, or not root)"
						    : "the kernel cannot load LSM programs (no BTF or no bpf LSM hooks)";
		return f->bpf.lsm.err;
	}
	/* Loaded is not enough: the hooks run only with "bpf" among the
	 * active LSMs (lsm= on the kernel command line). Unknown is tried. */
	if (f->bpf.lsm_active == 0) {
		*ret_why = "\"bpf\" is not among the active LSMs (boot with lsm=...,bpf)";
		return -EOPNOTSUPP;
	}
	*ret_why = "socket_create (AF_INET, AF_INET6, AF_PACKET), socket_connect, socket_sendmsg, file_open";
	return 0;
}

static bool lsm_program(const char *name)
{
	return strncmp(name, "guard_lsm_", 10) == 0;
}

static int lsm_load(struct snap_guard *g)
{
	return snap_guard_load(g, lsm_program);
}

#ifdef SNAP_GUARD_SKELETON
static int lsm_attach(struct snap_ctx *ctx, struct snap_guard *g)
{
	struct bpf_program *progs[] = {
		g->skel->progs.guard_lsm_socket_create,
		g->skel->progs.guard_lsm_socket_connect,
		g->skel->progs.guard_lsm_socket_sendmsg,
		g->skel->progs.guard_lsm_file_open,
	};
	int r;

	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		r = snap_guard_add_link(g, bpf_program__attach_lsm(progs[i]));
		if (r < 0)
			return snap_err(ctx, r, "cannot attach the guard's %s program: %s", bpf_program__name(progs[i]),
					strerror(-r));
	}
	g->addr_scope = "hierarchy"; /* global hooks: every socket, matched by the caller's cgroup */
	g->packet_observed = true;
	return 0;
}
#else
static int lsm_attach(struct snap_ctx *ctx, struct snap_guard *g)
{
	return -EOPNOTSUPP;
}
#endif

static void lsm_detach(struct snap_guard *g)
{
	snap_guard_unload(g);
}

const struct snap_guard_ops snap_guard_lsm_ops = {
	.name = "lsm",
	.probe = lsm_probe,
	.load = lsm_load,
	.attach = lsm_attach,
	.prepare_exec = NULL, /* nothing to take away: the hooks see everything */
	.detach = lsm_detach,
};
