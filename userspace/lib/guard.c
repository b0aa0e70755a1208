/* guard.c — the guard's common part: which backend, the settings handed to the
 * bpf side, and the denials read from its ring buffer; attaches nothing itself. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/types.h>
#include <sys/socket.h>

#include "ctx.h"
#include "guard.h"
#include "guard_event.h"

#ifdef SNAP_GUARD_SKELETON
#include <bpf/libbpf.h>
#include "guard.skel.h"
#endif

_Static_assert(SNAP_GUARD_MAX_DEVICES == GUARD_MAX_DEVICES, "the device list differs between bpf and libsnap");

/* Distinct denials kept; beyond that they are only counted as lost. */
#define MAX_DENIALS 4096

static const struct snap_guard_ops *const backends[] = {
	&snap_guard_lsm_ops,
	&snap_guard_cgroup_ops,
};
#define NR_BACKENDS (sizeof(backends) / sizeof(backends[0]))

/* ---- the devices denied by default -------------------------------------- */

static size_t add_device(struct snap_guard_device *list, size_t n, size_t cap, char type, uint32_t major, int32_t minor)
{
	for (size_t i = 0; i < n; i++)
		if (list[i].type == type && list[i].major == major && (list[i].minor == -1 || list[i].minor == minor))
			return n;
	if (n >= cap)
		return n;
	list[n] = (struct snap_guard_device){ .type = type, .major = major, .minor = minor };
	return n + 1;
}

int snap_guard_default_devices(struct snap_guard_device *ret, size_t cap)
{
	char line[256], name[128];
	bool chars = false;
	unsigned int major;
	size_t n = 0;
	FILE *f;

	n = add_device(ret, n, cap, 'c', 195, -1); /* NVIDIA: nvidia0..., nvidiactl, nvidia-modeset */
	n = add_device(ret, n, cap, 'c', 226, -1); /* DRI: card* and renderD* */
	/* nvidia-uvm, nvidia-caps and AMD's kfd get their majors when their
	 * drivers load: /proc/devices says which, on this boot. */
	f = fopen("/proc/devices", "re");
	if (!f)
		return (int)n;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Character devices:", 18)) {
			chars = true;
			continue;
		}
		if (!strncmp(line, "Block devices:", 14))
			break;
		if (!chars || sscanf(line, "%u %127s", &major, name) != 2)
			continue;
		if (!strncmp(name, "nvidia", 6) || !strcmp(name, "kfd") || !strcmp(name, "drm"))
			n = add_device(ret, n, cap, 'c', major, -1);
	}
	fclose(f);
	return (int)n;
}

#ifdef SNAP_GUARD_SKELETON

/* ---- denials -------------------------------------------------------------- */

static const char *family_name(unsigned int family, char *buf, size_t size)
{
	switch (family) {
	case AF_INET: return "AF_INET";
	case AF_INET6: return "AF_INET6";
	case AF_PACKET: return "AF_PACKET";
	case AF_UNIX: return "AF_UNIX";
	}
	snprintf(buf, size, "family %u", family);
	return buf;
}

static const char *type_name(unsigned int type, char *buf, size_t size)
{
	switch (type & 0xf) { /* SOCK_NONBLOCK and SOCK_CLOEXEC ride in the high bits */
	case SOCK_STREAM: return "SOCK_STREAM";
	case SOCK_DGRAM: return "SOCK_DGRAM";
	case SOCK_RAW: return "SOCK_RAW";
	case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
	case SOCK_PACKET: return "SOCK_PACKET";
	}
	snprintf(buf, size, "type %u", type & 0xf);
	return buf;
}

static const char *hook_name(unsigned int hook)
{
	switch (hook) {
	case GUARD_HOOK_CGROUP: return "cgroup";
	case GUARD_HOOK_LSM: return "lsm";
	case GUARD_HOOK_CAP: return "capability";
	}
	return "unknown";
}

/* Turns one event into a denial; false when the record makes no sense. */
static bool decode_event(const struct guard_event *e, struct snap_guard_denial *d)
{
	char fb[32], tb[32];

	memset(d, 0, sizeof(*d));
	d->pid = (pid_t)e->tgid;
	memcpy(d->comm, e->comm, sizeof(d->comm) - 1);
	d->err = e->err;
	d->denied_by = hook_name(e->hook);
	d->count = 1;
	switch (e->what) {
	case GUARD_SOCKET:
		d->kind = SNAP_GUARD_SOCKET;
		d->family = (int)e->family;
		d->type = (int)(e->type & 0xf);
		d->protocol = (int)e->protocol;
		snprintf(d->what, sizeof(d->what), "socket(%s, %s)", family_name(e->family, fb, sizeof(fb)),
			 type_name(e->type, tb, sizeof(tb)));
		return true;
	case GUARD_CONNECT:
	case GUARD_SENDMSG:
		d->kind = e->what == GUARD_CONNECT ? SNAP_GUARD_CONNECT : SNAP_GUARD_SENDMSG;
		d->family = (int)e->family;
		d->type = (int)(e->type & 0xf);
		d->protocol = (int)e->protocol;
		d->port = e->port;
		if (e->family == AF_INET)
			inet_ntop(AF_INET, e->addr, d->address, sizeof(d->address));
		else if (e->family == AF_INET6)
			inet_ntop(AF_INET6, e->addr, d->address, sizeof(d->address));
		else
			snprintf(d->address, sizeof(d->address), "(%s)", family_name(e->family, fb, sizeof(fb)));
		snprintf(d->what, sizeof(d->what), e->family == AF_INET6 ? "%s to [%s]:%u" : "%s to %s:%u",
			 e->what == GUARD_CONNECT ? "connect" : "send", d->address, (unsigned int)d->port);
		return true;
	case GUARD_DEVICE:
		if (e->dev_type != 'c' && e->dev_type != 'b')
			return false;
		d->kind = SNAP_GUARD_DEVICE;
		d->device_type = (char)e->dev_type;
		d->major = e->major;
		d->minor = e->minor;
		snprintf(d->what, sizeof(d->what), "open of %s device %u:%u", e->dev_type == 'c' ? "char" : "block",
			 e->major, e->minor);
		return true;
	}
	return false;
}

/* Counts d in with the denials of the same kind, process and target. */
static void add_denial(struct snap_guard *g, const struct snap_guard_denial *d)
{
	for (size_t i = 0; i < g->nr_denials; i++) {
		struct snap_guard_denial *x = &g->denials[i];

		if (x->kind == d->kind && x->pid == d->pid && x->denied_by == d->denied_by && !strcmp(x->what, d->what) &&
		    !strcmp(x->comm, d->comm)) {
			x->count++;
			return;
		}
	}
	if (g->nr_denials == g->cap_denials) {
		size_t cap = g->cap_denials ? g->cap_denials * 2 : 16;
		struct snap_guard_denial *p;

		if (cap > MAX_DENIALS || !(p = realloc(g->denials, cap * sizeof(*p)))) {
			g->lost++;
			return;
		}
		g->denials = p;
		g->cap_denials = cap;
	}
	g->denials[g->nr_denials++] = *d;
}


/* ---- libbpf's messages ------------------------------------------------------ */

/* libbpf prints through one process-wide hook; while the guard calls into
 * it, its warnings go to this thread's context as debug lines instead of
 * stderr (the library never prints). */
static __thread struct snap_ctx *libbpf_ctx;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[512];
	size_t len;

	if (!libbpf_ctx || level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	len = strlen(msg);
	while (len && msg[len - 1] == '\n')
		msg[--len] = 0;
	snap_log(libbpf_ctx, SNAP_LOG_DEBUG, "%s", msg); /* libbpf says "libbpf: " itself */
	return 0;
}

static libbpf_print_fn_t libbpf_quiet(struct snap_ctx *ctx)
{
	libbpf_ctx = ctx;
	return libbpf_set_print(libbpf_print);
}

static void libbpf_loud(libbpf_print_fn_t old)
{
	libbpf_set_print(old);
	libbpf_ctx = NULL;
}

/* ---- loading, for the backends ------------------------------------------------- */

int snap_guard_load(struct snap_guard *g, bool (*want)(const char *prog))
{
	struct guard_bpf *skel;
	struct bpf_program *prog;
	int r;

	skel = guard_bpf__open();
	if (!skel)
		return errno ? -errno : -EINVAL;
	skel->rodata->target_cgid = g->cfg.cgroup_id;
	skel->rodata->target_level = g->cfg.cgroup_level;
	skel->rodata->nr_devices = (__u32)g->cfg.nr_devices;
	for (size_t i = 0; i < g->cfg.nr_devices; i++) {
		const struct snap_guard_device *d = &g->cfg.devices[i];

		skel->rodata->devices[i].type = (__u32)d->type;
		skel->rodata->devices[i].major = d->major;
		skel->rodata->devices[i].minor = d->minor < 0 ? GUARD_ANY_MINOR : (__u32)d->minor;
	}
	bpf_object__for_each_program(prog, skel->obj)
		bpf_program__set_autoload(prog, want(bpf_program__name(prog)));
	r = guard_bpf__load(skel);
	if (r < 0) {
		guard_bpf__destroy(skel);
		return r;
	}
	g->skel = skel;
	return 0;
}

int snap_guard_add_link(struct snap_guard *g, struct bpf_link *link)
{
	if (!link)
		return errno ? -errno : -EINVAL;
	if (g->nr_links == SNAP_GUARD_MAX_LINKS) {
		bpf_link__destroy(link);
		return -E2BIG;
	}
	g->links[g->nr_links++] = link;
	return 0;
}

static void detach_links(struct snap_guard *g)
{
	while (g->nr_links > 0)
		bpf_link__destroy(g->links[--g->nr_links]);
}

void snap_guard_unload(struct snap_guard *g)
{
	detach_links(g);
	ring_buffer__free(g->rb);
	g->rb = NULL;
	guard_bpf__destroy(g->skel);
	g->skel = NULL;
}

static int on_event(void *user, void *data, size_t size)
{
	struct snap_guard *g = user;
	struct snap_guard_denial d;

	/* The record comes from the kernel, but trust its size no further. */
	if (size < sizeof(struct guard_event) || !decode_event(data, &d))
		return 0;
	add_denial(g, &d);
	return 0;
}

static const struct snap_guard_ops *find_backend(const char *name)
{
	for (size_t i = 0; i < NR_BACKENDS; i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

static int start_backend(struct snap_ctx *ctx, const struct snap_features *f, struct snap_guard *g,
			 const struct snap_guard_ops *ops)
{
	const char *why = "";
	int r;

	r = ops->probe(f, &why);
	if (r < 0)
		return snap_err(ctx, r, "the %s guard cannot work here: %s", ops->name, why);
	g->ops = ops;
	r = ops->load(g);
	if (r < 0) {
		snap_err(ctx, r, "the kernel refused the %s guard's programs: %s%s", ops->name, strerror(-r),
			 r == -EPERM ? " (lockdown, or not root)" : "");
		goto fail;
	}
	r = ops->attach(ctx, g);
	if (r < 0)
		goto fail;
	g->rb = ring_buffer__new(bpf_map__fd(g->skel->maps.events), on_event, g, NULL);
	if (!g->rb) {
		r = snap_err(ctx, errno ? -errno : -ENOMEM, "the guard's ring buffer: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	ops->detach(g);
	g->ops = NULL;
	return r;
}

int snap_guard_start(struct snap_ctx *ctx, const struct snap_features *f, const struct snap_guard_config *cfg,
		     struct snap_guard **ret_guard)
{
	const struct snap_guard_ops *only = NULL;
	libbpf_print_fn_t old;
	struct snap_guard *g;
	int r = -ENODEV;

	if (cfg->backend && !(only = find_backend(cfg->backend)))
		return snap_err(ctx, -EINVAL, "unknown guard backend '%s' (use cgroup or lsm)", cfg->backend);
	if (cfg->nr_devices > GUARD_MAX_DEVICES)
		return snap_err(ctx, -E2BIG, "too many device kinds to deny: the guard holds %d, defaults included",
				GUARD_MAX_DEVICES);
	g = calloc(1, sizeof(*g));
	if (!g)
		return snap_err(ctx, -ENOMEM, "out of memory");
	g->ctx = ctx;
	g->cfg = *cfg;
	memcpy(g->devices, cfg->devices, cfg->nr_devices * sizeof(*cfg->devices));
	g->cfg.devices = g->devices;

	old = libbpf_quiet(ctx);
	if (only) {
		r = start_backend(ctx, f, g, only);
	} else {
		for (size_t i = 0; i < NR_BACKENDS; i++) {
			r = start_backend(ctx, f, g, backends[i]);
			if (r == 0)
				break;
			/* The last error stays the one reported if none works. */
			if (i + 1 < NR_BACKENDS)
				snap_log(ctx, SNAP_LOG_DEBUG, "guard: %s; trying the %s backend", snap_ctx_error(ctx),
					 backends[i + 1]->name);
		}
	}
	libbpf_loud(old);
	if (r < 0) {
		free(g);
		return r;
	}
	ctx->error[0] = 0;
	*ret_guard = g;
	return 0;
}

int snap_guard_fd(const struct snap_guard *g)
{
	return g && g->rb ? ring_buffer__epoll_fd(g->rb) : -1;
}

int snap_guard_poll(struct snap_guard *g)
{
	int r;

	if (!g || !g->rb)
		return 0;
	r = ring_buffer__consume(g->rb);
	return r < 0 ? r : 0;
}

void snap_guard_stop(struct snap_guard *g)
{
	libbpf_print_fn_t old;

	if (!g || g->stopped)
		return;
	old = libbpf_quiet(g->ctx);
	/* Off first, then read what was reported until then. */
	detach_links(g);
	if (g->rb)
		ring_buffer__consume(g->rb);
	if (g->skel && g->skel->bss)
		g->lost += g->skel->bss->lost_events;
	if (g->ops)
		g->ops->detach(g);
	snap_guard_unload(g);
	libbpf_loud(old);
	g->stopped = true;
}

/* ---- snapctl check ---------------------------------------------------------------- */

int snap_guard_probe(const struct snap_features *f, struct snap_guard_probe *ret)
{
	libbpf_print_fn_t old;

	if (!f || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->built = true;
	ret->nr_backends = NR_BACKENDS;
	old = libbpf_quiet(NULL);
	for (size_t i = 0; i < NR_BACKENDS; i++) {
		struct snap_guard_probe_backend *b = &ret->backends[i];
		/* No cgroup: the programs are loaded, never attached. */
		struct snap_guard g = { .cfg = { .cgroup_fd = -1, .root_cgroup_fd = -1 } };
		const char *why = "";
		int r;

		b->name = backends[i]->name;
		r = backends[i]->probe(f, &why);
		if (r == 0) {
			r = backends[i]->load(&g);
			if (r < 0)
				why = r == -EPERM ? "the kernel refused the load (lockdown, or not root)"
						  : "the kernel refused the load";
			snap_guard_unload(&g);
		}
		b->usable.available = r == 0;
		b->usable.err = r < 0 ? r : 0;
		snprintf(b->note, sizeof(b->note), "%s", why);
		if (r == 0 && !ret->chosen)
			ret->chosen = b->name;
	}
	libbpf_loud(old);
	return 0;
}

#else /* !SNAP_GUARD_SKELETON: built without clang or bpftool */

int snap_guard_load(struct snap_guard *g, bool (*want)(const char *prog))
{
	return -EOPNOTSUPP;
}

int snap_guard_add_link(struct snap_guard *g, struct bpf_link *link)
{
	return -EOPNOTSUPP;
}

void snap_guard_unload(struct snap_guard *g)
{
}

int snap_guard_start(struct snap_ctx *ctx, const struct snap_features *f, const struct snap_guard_config *cfg,
		     struct snap_guard **ret_guard)
{
	return snap_err(ctx, -EOPNOTSUPP,
			"this snapctl was built without the guard's bpf programs (clang or bpftool missing at build "
			"time): rebuild with them (scripts/deps/guard.txt), or run with --no-guard");
}

int snap_guard_fd(const struct snap_guard *g)
{
	return -1;
}

int snap_guard_poll(struct snap_guard *g)
{
	return 0;
}

void snap_guard_stop(struct snap_guard *g)
{
}

int snap_guard_probe(const struct snap_features *f, struct snap_guard_probe *ret)
{
	if (!f || !ret)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->nr_backends = NR_BACKENDS;
	for (size_t i = 0; i < NR_BACKENDS; i++) {
		ret->backends[i].name = backends[i]->name;
		ret->backends[i].usable.err = -EOPNOTSUPP;
		snprintf(ret->backends[i].note, sizeof(ret->backends[i].note), "not built (no clang or bpftool)");
	}
	return 0;
}

#endif

int snap_guard_prepare_exec(const struct snap_guard *g)
{
	return g && g->ops && g->ops->prepare_exec ? g->ops->prepare_exec(g) : 0;
}

void snap_guard_free(struct snap_guard *g)
{
	if (!g)
		return;
	snap_guard_stop(g);
	free(g->denials);
	free(g);
}

const struct snap_guard_denial *snap_guard_denials(const struct snap_guard *g, size_t *ret_n, uint64_t *ret_lost)
{
	*ret_n = g ? g->nr_denials : 0;
	*ret_lost = g ? g->lost : 0;
	return g ? g->denials : NULL;
}

const char *snap_guard_backend(const struct snap_guard *g)
{
	return g && g->ops ? g->ops->name : "none";
}
