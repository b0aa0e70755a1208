/* precopy.h — copies a process's memory while it runs, then only what it
 * wrote meanwhile, so the freeze is as short as the last changes. The
 * copy lives in shadow memory from which the snapshot is written. */
#ifndef SNAP_PRECOPY_H
#define SNAP_PRECOPY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct snap_ctx;
struct snap_image;
struct snap_dirty_ops;
struct snap_precopy;

struct snap_precopy_stats {
	uint32_t rounds;
	uint64_t bytes_running;   /* copied while the process ran */
	uint64_t bytes_frozen;    /* copied while it was frozen */
	uint64_t last_round_bytes;/* what the last running round found written */
	char backend[16];
};

/* Running process: start tracking, copy everything, then up to rounds - 1
 * passes over what was written, stopping early when little changes. */
int snap_precopy_run(struct snap_ctx *ctx, pid_t pid, unsigned int rounds, const struct snap_dirty_ops *ops,
		     struct snap_precopy **ret_pc);
/* Frozen process, final layout in img: copies what changed since the last
 * pass and what was never copied; afterwards the shadow is the snapshot's
 * memory and the process may run again. */
int snap_precopy_finish(struct snap_ctx *ctx, struct snap_precopy *pc, const struct snap_image *img);
/* After finish: the page at addr as it was at the freeze, or NULL when the
 * page is not to be stored. */
const uint8_t *snap_precopy_page(const struct snap_precopy *pc, uint64_t addr);
void snap_precopy_stats(const struct snap_precopy *pc, struct snap_precopy_stats *ret);
/* Stops tracking (the process is left as it was) and frees the shadow. */
void snap_precopy_free(struct snap_precopy *pc);

#endif
