/* SPDX-License-Identifier: MIT */
/* crc32c.h: CRC32C (Castagnoli), the checksum of the file sink's records. */
#ifndef SLC_ENGINE_CRC32C_H
#define SLC_ENGINE_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "base/compiler.h" /* SLC_UNLIKELY */

/*
 * CRC-32C as in iSCSI (RFC 3720), ext4 and SSE4.2's crc32 instruction: reflected
 * polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF. "123456789" gives
 * 0xE3069283. Like zlib's crc32(), `crc` is the checksum of the bytes before buf (0 for
 * none), so a checksum can be built piece by piece:
 *
 *   slc_crc32c(slc_crc32c(0, a, na), b, nb) == slc_crc32c(0, a || b, na + nb)
 */

/* Software, slicing-by-8 tables: any CPU. The reference the other paths are tested against. */
uint32_t slc_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* True where slc_crc32c_hw() may be called (x86-64 with SSE4.2): a load and a test of a
 * word libgcc filled in at start-up, nothing to initialise or race on. */
static inline bool
slc_crc32c_hw_available(void)
{
#if defined(__x86_64__)
	return __builtin_cpu_supports("sse4.2");
#else
	return false;
#endif
}

/* The SSE4.2 crc32 instruction, in three interleaved streams on buffers of 192 bytes or
 * more; only where slc_crc32c_hw_available(). Exposed for tests. */
uint32_t slc_crc32c_hw(uint32_t crc, const void *buf, size_t len);

/* Up to this many bytes slc_crc32c() works inline: one dependent crc32 per 8 bytes. */
#define SLC_CRC32C_INLINE_MAX 256u

#if defined(__x86_64__)

/*
 * One crc32 instruction each. Inline assembly rather than the <nmmintrin.h> intrinsics:
 * those need target("sse4.2") on every function they are inlined into, so a caller built
 * for baseline x86-64 (the file sink) could only call them out of line. The assembler
 * takes the instruction whatever -m flags the caller has; slc_crc32c() runs it only after
 * asking the CPU.
 */
static inline uint64_t
slc_crc32c_x86_u64(uint64_t c, uint64_t v)
{
	__asm__("crc32q %1, %0" : "+r"(c) : "rm"(v));
	return c;
}

/* The narrower ones write the low half of c's register, which clears the upper half. */
static inline uint64_t
slc_crc32c_x86_u32(uint64_t c, uint32_t v)
{
	__asm__("crc32l %1, %k0" : "+r"(c) : "rm"(v));
	return c;
}

static inline uint64_t
slc_crc32c_x86_u16(uint64_t c, uint16_t v)
{
	__asm__("crc32w %1, %k0" : "+r"(c) : "rm"(v));
	return c;
}

static inline uint64_t
slc_crc32c_x86_u8(uint64_t c, uint8_t v)
{
	__asm__("crc32b %1, %k0" : "+r"(c) : "rm"(v));
	return c;
}

/*
 * Advances the raw CRC register c (not inverted; 64 bits wide only so that the compiler
 * need not zero-extend it between instructions) over len bytes, one stream, and copies
 * them to dst on the way unless dst is NULL (a constant NULL folds the stores away). No
 * alignment prologue: unaligned 8-byte loads cost nothing extra on x86-64, while each byte
 * of a prologue would add a dependent 3-cycle crc32. The tail takes at most three
 * instructions (4, 2, 1 bytes). With a constant len (the file sink's 8-byte header slice)
 * the loop and the tail fold away. The copy rides on the loads the CRC makes anyway: the
 * stores go in parallel with the dependent crc32 chain, which sets the pace.
 */
static inline uint64_t
slc_crc32c_x86_run_copy(uint64_t c, const uint8_t *p, size_t len, uint8_t *dst)
{
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		if (dst != NULL) {
			memcpy(dst, &v, sizeof(v));
			dst += 8;
		}
		c = slc_crc32c_x86_u64(c, v);
		p += 8;
		len -= 8;
	}
	if (len & 4) {
		uint32_t v;

		memcpy(&v, p, sizeof(v));
		if (dst != NULL) {
			memcpy(dst, &v, sizeof(v));
			dst += 4;
		}
		c = slc_crc32c_x86_u32(c, v);
		p += 4;
	}
	if (len & 2) {
		uint16_t v;

		memcpy(&v, p, sizeof(v));
		if (dst != NULL) {
			memcpy(dst, &v, sizeof(v));
			dst += 2;
		}
		c = slc_crc32c_x86_u16(c, v);
		p += 2;
	}
	if (len & 1) {
		if (dst != NULL)
			*dst = *p;
		c = slc_crc32c_x86_u8(c, *p);
	}
	return c;
}

static inline uint64_t
slc_crc32c_x86_run(uint64_t c, const uint8_t *p, size_t len)
{
	return slc_crc32c_x86_run_copy(c, p, len, NULL);
}

/*
 * The checksum on the fastest path this CPU has. Accepts len 0 (and then buf NULL). Inline
 * so that the file sink's three small calls per record (header slice, key, payload) cost
 * no calls, and the CPU check is hoisted out of them. Long buffers go out of line, to
 * three interleaved streams.
 */
static inline uint32_t
slc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (SLC_UNLIKELY(!slc_crc32c_hw_available()))
		return slc_crc32c_sw(crc, buf, len);
	if (len > SLC_CRC32C_INLINE_MAX)
		return slc_crc32c_hw(crc, buf, len);
	return ~(uint32_t)slc_crc32c_x86_run(~crc, buf, len);
}

/*
 * Copies len bytes from src to dst (which do not overlap) and returns slc_crc32c(crc, src,
 * len), reading src once: the file sink copies each record's key and payload into its
 * write buffer anyway. Accepts len 0 (and then NULL pointers). Long buffers: a copy, then
 * three interleaved streams, which beat one stream carrying the stores.
 */
static inline uint32_t
slc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	if (SLC_UNLIKELY(!slc_crc32c_hw_available()) || len > SLC_CRC32C_INLINE_MAX) {
		if (len != 0)
			memcpy(dst, src, len);
		return slc_crc32c(crc, src, len);
	}
	return ~(uint32_t)slc_crc32c_x86_run_copy(~crc, src, len, dst);
}

#else /* !__x86_64__ */

static inline uint32_t
slc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	return slc_crc32c_sw(crc, buf, len);
}

static inline uint32_t
slc_crc32c_copy(uint32_t crc, void *dst, const void *src, size_t len)
{
	if (len != 0)
		memcpy(dst, src, len);
	return slc_crc32c_sw(crc, src, len);
}

#endif

#endif /* SLC_ENGINE_CRC32C_H */
