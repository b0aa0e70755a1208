/* checksum.c — CRC-32C over snapshot bytes, at memory speed with SSE4.2.
 * Must give the same value on every path: the table and the instruction
 * implement one polynomial (0x82F63B78, reflected). */
#include <cpuid.h>
#include <stdbool.h>

#include "checksum.h"

static uint32_t table[8][256];

static void init_table(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
		table[0][i] = c;
	}
	for (uint32_t i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
}

static uint32_t crc_table(uint32_t crc, const unsigned char *p, size_t len)
{
	while (len >= 8) {
		uint64_t v;
		__builtin_memcpy(&v, p, 8);
		v ^= crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^ table[5][(v >> 16) & 0xff] ^
		      table[4][(v >> 24) & 0xff] ^ table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		      table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return crc;
}

__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = crc;

	while (len >= 8) {
		uint64_t v;
		__builtin_memcpy(&v, p, 8);
		c = __builtin_ia32_crc32di(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

enum { IMPL_UNKNOWN, IMPL_HW, IMPL_TABLE };

static int pick_impl(void)
{
	static int impl = IMPL_UNKNOWN; /* set once, same value from any thread */
	unsigned a, b, c, d;

	if (impl != IMPL_UNKNOWN)
		return impl;
	if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_SSE4_2)) {
		impl = IMPL_HW;
	} else {
		init_table();
		impl = IMPL_TABLE;
	}
	return impl;
}

uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len)
{
	crc = ~crc;
	if (pick_impl() == IMPL_HW)
		crc = crc_hw(crc, buf, len);
	else
		crc = crc_table(crc, buf, len);
	return ~crc;
}

/* Exposed for the unit test: the table path on any CPU. */
uint32_t snap_crc32c_portable(uint32_t crc, const void *buf, size_t len);
uint32_t snap_crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	static bool ready;

	if (!ready) {
		init_table();
		ready = true;
	}
	return ~crc_table(~crc, buf, len);
}
