/* dirty.h — which pages a running process wrote since we last looked:
 * one interface, several backends probed at run time (userfaultfd
 * write-protect in async mode + PAGEMAP_SCAN, soft-dirty, or none).
 * A backend reports a page it cannot vouch for as written, never as clean. */
#ifndef SNAP_DIRTY_H
#define SNAP_DIRTY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct snap_ctx;
struct snap_dirty_ops;

/* Every backend's state starts with this. */
struct snap_dirty {
	const struct snap_dirty_ops *ops;
	/* Non-zero: a pagemap entry whose swap type and offset (bits 0-54)
	 * match this one's, with the swapped bit, is a mark the backend left
	 * on a never-touched page (uffd-wp's marker), not a page of data. */
	uint64_t hole_entry;
};

struct snap_dirty_ops {
	const char *name;          /* "uffd-wp", "soft-dirty", "none" */
	int (*probe)(void);        /* 0 when usable on this kernel */
	/* Starts tracking writes to the private anonymous memory of pid
	 * (running; a backend may stop it for a moment). */
	int (*start)(struct snap_ctx *ctx, pid_t pid, struct snap_dirty **ret);
	/* Sets bit i of bitmap for each page start + i * 4096 in [start, end)
	 * written since start() or the last rearm (uffd-wp: since the previous
	 * collect of that page, which re-protects it at once). */
	int (*collect)(struct snap_dirty *d, uint64_t start, uint64_t end, uint8_t *bitmap);
	/* After collecting every range: starts the next interval. */
	int (*rearm)(struct snap_dirty *d);
	/* Collect and rearm must run with the process frozen (soft-dirty:
	 * clear_refs is not atomic with reading the bits). */
	bool needs_freeze;
	void (*stop)(struct snap_dirty *d); /* leaves the process as it was */
};

extern const struct snap_dirty_ops snap_dirty_uffd_ops;
extern const struct snap_dirty_ops snap_dirty_softdirty_ops;
extern const struct snap_dirty_ops snap_dirty_none_ops;

/* By name, or the first that probes well when name is NULL. */
int snap_dirty_select(const char *name, const struct snap_dirty_ops **ret_ops);

#endif
