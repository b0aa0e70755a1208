/* maps.c — parses /proc/PID/smaps into struct snap_map.
 * Must accept every line the kernel can print (paths with spaces, escaped
 * newlines, " (deleted)") and reject anything else without guessing. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "maps.h"

static int parse_hex(const char **p, uint64_t *ret, char stop)
{
	const char *s = *p;
	uint64_t v = 0;
	int digits = 0;

	for (; *s && *s != stop; s++, digits++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else
			return -EINVAL;
		if (digits >= 16)
			return -EINVAL;
		v = v << 4 | (uint64_t)d;
	}
	if (digits == 0 || *s != stop)
		return -EINVAL;
	*p = s + 1;
	*ret = v;
	return 0;
}

int snap_maps_parse_line(const char *line, struct snap_map *ret_map)
{
	struct snap_map m;
	const char *p = line;
	uint64_t major, minor;
	char *end;
	size_t len;

	memset(&m, 0, sizeof(m));
	if (parse_hex(&p, &m.start, '-') < 0 || parse_hex(&p, &m.end, ' ') < 0 || m.start >= m.end)
		return -EINVAL;
	if (strlen(p) < 5 || p[4] != ' ')
		return -EINVAL;
	if ((p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') || (p[2] != 'x' && p[2] != '-') ||
	    (p[3] != 'p' && p[3] != 's'))
		return -EINVAL;
	m.prot = (p[0] == 'r' ? PROT_READ : 0) | (p[1] == 'w' ? PROT_WRITE : 0) | (p[2] == 'x' ? PROT_EXEC : 0);
	m.shared = p[3] == 's';
	p += 5;
	if (parse_hex(&p, &m.pgoff, ' ') < 0 || parse_hex(&p, &major, ':') < 0 || parse_hex(&p, &minor, ' ') < 0)
		return -EINVAL;
	m.dev_major = (uint32_t)major;
	m.dev_minor = (uint32_t)minor;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	m.ino = strtoull(p, &end, 10);
	if (errno || (*end != ' ' && *end != '\n' && *end != '\0'))
		return -EINVAL;
	p = end;
	while (*p == ' ')
		p++;
	len = strcspn(p, "\n");
	if (len >= sizeof(m.path))
		return -ENAMETOOLONG;
	memcpy(m.path, p, len);
	m.path[len] = '\0';
	if (len > 10 && !strcmp(m.path + len - 10, " (deleted)")) {
		m.deleted = true;
		m.path[len - 10] = '\0';
	}
	*ret_map = m;
	return 0;
}

uint32_t snap_maps_parse_vmflags(const char *value)
{
	static const struct {
		char name[3];
		uint32_t bit;
	} names[] = {
		{ "gd", SNAP_VMF_GROWSDOWN }, { "nr", SNAP_VMF_NORESERVE }, { "lo", SNAP_VMF_LOCKED },
		{ "dc", SNAP_VMF_DONTCOPY },  { "wf", SNAP_VMF_WIPEONFORK }, { "dd", SNAP_VMF_DONTDUMP },
		{ "hg", SNAP_VMF_HUGEPAGE },  { "nh", SNAP_VMF_NOHUGEPAGE }, { "io", SNAP_VMF_IO },
		{ "pf", SNAP_VMF_PFNMAP },    { "de", SNAP_VMF_DONTEXPAND }, { "sh", SNAP_VMF_SHARED },
		{ "ms", SNAP_VMF_MAYSHARE },  { "um", SNAP_VMF_UFFD },       { "uw", SNAP_VMF_UFFD },
		{ "ui", SNAP_VMF_UFFD },      { "ss", SNAP_VMF_SHADOWSTACK },{ "sl", SNAP_VMF_SEALED },
		{ "mm", SNAP_VMF_MIXEDMAP },  { "mw", SNAP_VMF_MAYWRITE },
	};
	uint32_t bits = 0;
	const char *p = value;

	while (*p) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (p[0] && p[1] && (p[2] == ' ' || p[2] == '\n' || p[2] == '\0')) {
			for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
				if (p[0] == names[i].name[0] && p[1] == names[i].name[1])
					bits |= names[i].bit;
		}
		while (*p && *p != ' ' && *p != '\n')
			p++;
		if (*p == '\n')
			break;
	}
	return bits;
}

int snap_maps_read(pid_t pid, const char *file, struct snap_map **ret_maps, size_t *ret_n)
{
	char path[64], *line = NULL;
	size_t cap = 0, n = 0, alloc = 0;
	struct snap_map *maps = NULL, m;
	FILE *f;
	int r = 0;

	if (!file) {
		snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
		file = path;
	}
	f = fopen(file, "re");
	if (!f)
		return -errno;
	while (getline(&line, &cap, f) > 0) {
		if (!strncmp(line, "VmFlags:", 8)) {
			if (n == 0) {
				r = -EINVAL;
				break;
			}
			maps[n - 1].vmflags = snap_maps_parse_vmflags(line + 8);
			continue;
		}
		/* Field lines ("Rss:", "THPeligible:") start with a capital. */
		if (line[0] >= 'A' && line[0] <= 'Z')
			continue;
		r = snap_maps_parse_line(line, &m);
		if (r < 0)
			break;
		if (n == alloc) {
			size_t na = alloc ? alloc * 2 : 64;
			struct snap_map *p = realloc(maps, na * sizeof(*maps));
			if (!p) {
				r = -ENOMEM;
				break;
			}
			maps = p;
			alloc = na;
		}
		maps[n++] = m;
	}
	free(line);
	if (ferror(f) && r == 0)
		r = -EIO;
	fclose(f);
	if (r < 0) {
		free(maps);
		return r;
	}
	*ret_maps = maps;
	*ret_n = n;
	return 0;
}
