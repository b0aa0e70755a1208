/* guard.h — the snapshot phase's guard: bpf programs that deny one cgroup network sockets and
 * GPU device opens and report each, behind one ops struct; never attached past snap_guard_stop(). */
#ifndef SNAP_GUARD_H
#define SNAP_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <snap/snap.h>

#include "snap_features.h"

struct snap_ctx;
struct snap_guard;
struct guard_bpf;    /* the skeleton ($(B)/bpf/guard.skel.h) */
struct ring_buffer;
struct bpf_link;

/* What to guard. The fds stay the caller's. */
struct snap_guard_config {
	int cgroup_fd;          /* the workload's cgroup directory */
	uint64_t cgroup_id;     /* its id (the directory's file handle) */
	uint32_t cgroup_level;  /* its depth below the hierarchy's root (0 = root) */
	int root_cgroup_fd;     /* the hierarchy's root: connect/sendmsg hooks go there, or -1 */
	const struct snap_guard_device *devices; /* device nodes to deny (snap_guard_default_devices) */
	size_t nr_devices;
	const char *backend;    /* "cgroup", "lsm", or NULL to probe */
};

/* One backend. probe() decides from features already probed; load()
 * loads its programs with g->cfg's settings (snap_guard_load); attach()
 * attaches them; prepare_exec() runs in the workload's child between fork
 * and exec (async-signal-safe); detach() undoes attach() and load(). */
struct snap_guard_ops {
	const char *name;
	int (*probe)(const struct snap_features *f, const char **ret_why);
	int (*load)(struct snap_guard *g);
	int (*attach)(struct snap_ctx *ctx, struct snap_guard *g);
	int (*prepare_exec)(const struct snap_guard *g);
	void (*detach)(struct snap_guard *g);
};

extern const struct snap_guard_ops snap_guard_cgroup_ops;
extern const struct snap_guard_ops snap_guard_lsm_ops;

#define SNAP_GUARD_MAX_LINKS 16
#define SNAP_GUARD_MAX_DEVICES 16 /* GUARD_MAX_DEVICES on the bpf side */

/* Shared by guard.c and the backends; nothing outside them looks inside. */
struct snap_guard {
	struct snap_ctx *ctx;
	const struct snap_guard_ops *ops;
	struct snap_guard_config cfg;
	struct snap_guard_device devices[SNAP_GUARD_MAX_DEVICES];
	struct guard_bpf *skel;
	struct ring_buffer *rb;
	struct bpf_link *links[SNAP_GUARD_MAX_LINKS];
	int nr_links;
	const char *addr_scope;  /* where connect/sendmsg hooks sit: "hierarchy" or "cgroup" */
	bool packet_observed;    /* the AF_PACKET observer is attached */
	struct snap_guard_denial *denials;
	size_t nr_denials, cap_denials;
	uint64_t lost;
	bool stopped;
};

/* For the backends: opens the skeleton with g->cfg's settings in its
 * rodata, keeps the programs want() accepts (by name), and loads them. */
int snap_guard_load(struct snap_guard *g, bool (*want)(const char *prog));
/* Keeps link (NULL: errno says why) to be destroyed by snap_guard_unload(). */
int snap_guard_add_link(struct snap_guard *g, struct bpf_link *link);
/* Destroys every link, then the ring buffer and the skeleton. */
void snap_guard_unload(struct snap_guard *g);

/* The devices denied by default on this host: NVIDIA (char 195, and the
 * nvidia-uvm, nvidia-caps... majors from /proc/devices), DRI (char 226) and
 * AMD's /dev/kfd (its major from /proc/devices). Returns the count. */
int snap_guard_default_devices(struct snap_guard_device *ret, size_t cap);

/* Picks a backend (cfg->backend, or the first whose probe passes: lsm,
 * then cgroup), loads and attaches it; an LSM load the kernel refuses falls
 * back to the cgroup backend unless cfg->backend asked for "lsm". */
int snap_guard_start(struct snap_ctx *ctx, const struct snap_features *f, const struct snap_guard_config *cfg,
		     struct snap_guard **ret_guard);
/* In the workload's child, between fork and exec; async-signal-safe. */
int snap_guard_prepare_exec(const struct snap_guard *g);
/* An fd that polls readable when denials wait to be read, or -1. */
int snap_guard_fd(const struct snap_guard *g);
/* Reads the denials reported so far. */
int snap_guard_poll(struct snap_guard *g);
/* Detaches every program (the guard is off), then reads the last denials. */
void snap_guard_stop(struct snap_guard *g);
const char *snap_guard_backend(const struct snap_guard *g);
/* The denials, counted by kind, process and target; valid until free. */
const struct snap_guard_denial *snap_guard_denials(const struct snap_guard *g, size_t *ret_n, uint64_t *ret_lost);
/* Stops (if needed) and frees; NULL is fine. */
void snap_guard_free(struct snap_guard *g);

/* ---- for `snapctl check` -------------------------------------------------- */

struct snap_guard_probe {
	bool built;          /* snapctl was built with the guard's bpf programs */
	const char *chosen;  /* the backend `snapctl run` would use, or NULL */
	size_t nr_backends;
	struct snap_guard_probe_backend {
		const char *name;       /* "lsm", "cgroup" */
		struct snap_feature usable; /* probed, then loaded for real (never attached) */
		char note[192];         /* why not, or what it covers */
	} backends[2];
};

/* Which guard backends work here, in order of preference: each probed from
 * f, and the ones that pass loaded for real (nothing is attached). */
int snap_guard_probe(const struct snap_features *f, struct snap_guard_probe *ret);

#endif
