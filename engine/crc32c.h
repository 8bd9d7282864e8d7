/* SPDX-License-Identifier: MIT */
/* crc32c.h: CRC32C (Castagnoli), the checksum of the file sink's records. */
#ifndef SLC_ENGINE_CRC32C_H
#define SLC_ENGINE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * CRC-32C as in iSCSI (RFC 3720), ext4 and SSE4.2's crc32 instruction: reflected
 * polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF. "123456789" gives
 * 0xE3069283. Like zlib's crc32(), `crc` is the checksum of the bytes before buf (0 for
 * none), so a checksum can be built piece by piece:
 *
 *   slc_crc32c(slc_crc32c(0, a, na), b, nb) == slc_crc32c(0, a || b, na + nb)
 */

/* The checksum on the fastest path this CPU has (chosen at run time). Accepts len 0. */
uint32_t slc_crc32c(uint32_t crc, const void *buf, size_t len);

/* Software, slicing-by-8 tables: any CPU. */
uint32_t slc_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* True where slc_crc32c_hw() may be called (x86-64 with SSE4.2). */
bool slc_crc32c_hw_available(void);

/* The SSE4.2 crc32 instruction; only where slc_crc32c_hw_available(). Exposed for tests. */
uint32_t slc_crc32c_hw(uint32_t crc, const void *buf, size_t len);

#endif /* SLC_ENGINE_CRC32C_H */
