/* checksum.h — CRC-32C (Castagnoli), the checksum of every byte in a
 * snapshot. Hardware instruction when the CPU has SSE4.2, table otherwise. */
#ifndef SNAP_CHECKSUM_H
#define SNAP_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/* crc continues a running checksum; start with 0. */
uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
