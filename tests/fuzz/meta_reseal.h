/* meta_reseal.h — recomputes every section CRC and the header CRC of a meta file
 * in place; safe on any bytes (the fuzzer's), never touching outside buf. */
#ifndef SNAP_TESTS_META_RESEAL_H
#define SNAP_TESTS_META_RESEAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "checksum.h"
#include "image.h"

/* Returns the number of sections resealed, or -1 when buf has no complete
 * header and section table (nothing is changed then). */
static inline int meta_reseal(uint8_t *buf, size_t len)
{
	struct snap_meta_header h;
	struct snap_section sec;
	size_t table_len;
	int n = 0;

	if (len < sizeof(h))
		return -1;
	memcpy(&h, buf, sizeof(h));
	if (h.section_count > SNAP_SEC_MAX)
		return -1;
	table_len = (size_t)h.section_count * sizeof(sec);
	if (table_len > len - sizeof(h))
		return -1;
	for (uint32_t i = 0; i < h.section_count; i++) {
		uint8_t *at = buf + sizeof(h) + (size_t)i * sizeof(sec);

		memcpy(&sec, at, sizeof(sec));
		if (sec.offset > len || sec.size > len - sec.offset)
			continue;
		sec.crc = snap_crc32c(0, buf + sec.offset, sec.size);
		memcpy(at, &sec, sizeof(sec));
		n++;
	}
	h.crc = 0;
	memcpy(buf, &h, sizeof(h));
	h.crc = snap_crc32c(0, buf, sizeof(h) + table_len);
	memcpy(buf, &h, sizeof(h));
	return n;
}

#endif
