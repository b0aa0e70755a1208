/* maps.h — the memory map of a process as /proc/PID/smaps tells it:
 * addresses, protections, backing file, and the VmFlags that matter. */
#ifndef SNAP_MAPS_H
#define SNAP_MAPS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* VmFlags from smaps, as bits. */
enum {
	SNAP_VMF_GROWSDOWN = 1u << 0,   /* gd */
	SNAP_VMF_NORESERVE = 1u << 1,   /* nr */
	SNAP_VMF_LOCKED = 1u << 2,      /* lo */
	SNAP_VMF_DONTCOPY = 1u << 3,    /* dc */
	SNAP_VMF_WIPEONFORK = 1u << 4,  /* wf */
	SNAP_VMF_DONTDUMP = 1u << 5,    /* dd */
	SNAP_VMF_HUGEPAGE = 1u << 6,    /* hg */
	SNAP_VMF_NOHUGEPAGE = 1u << 7,  /* nh */
	SNAP_VMF_IO = 1u << 8,          /* io */
	SNAP_VMF_PFNMAP = 1u << 9,      /* pf */
	SNAP_VMF_DONTEXPAND = 1u << 10, /* de */
	SNAP_VMF_SHARED = 1u << 11,     /* sh */
	SNAP_VMF_MAYSHARE = 1u << 12,   /* ms */
	SNAP_VMF_UFFD = 1u << 13,       /* um, uw, ui */
	SNAP_VMF_SHADOWSTACK = 1u << 14,/* ss */
	SNAP_VMF_SEALED = 1u << 15,     /* sl */
	SNAP_VMF_MIXEDMAP = 1u << 16,   /* mm */
	SNAP_VMF_MAYWRITE = 1u << 17,   /* mw */
};

struct snap_map {
	uint64_t start, end, pgoff;
	uint32_t prot;        /* PROT_* */
	bool shared;          /* 's' in the permissions */
	bool deleted;         /* path ends in " (deleted)" (removed from the path) */
	uint32_t dev_major, dev_minor;
	uint64_t ino;
	uint32_t vmflags;     /* SNAP_VMF_* */
	char path[PATH_MAX];  /* file path, "[heap]", "[stack]", "[vdso]"..., or "" */
};

/* Parses one maps header line ("start-end perms offset dev inode path").
 * -EINVAL when the line is not one. */
int snap_maps_parse_line(const char *line, struct snap_map *ret_map);
/* Parses a "VmFlags:" value list into SNAP_VMF_* bits. */
uint32_t snap_maps_parse_vmflags(const char *value);
/* Reads /proc/PID/smaps (file is NULL) or the given file. *ret_maps is
 * malloc'ed. */
int snap_maps_read(pid_t pid, const char *file, struct snap_map **ret_maps, size_t *ret_n);

#endif
