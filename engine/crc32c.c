/* SPDX-License-Identifier: MIT */
/* crc32c.c: CRC32C in software (slicing-by-8) and with SSE4.2, chosen at run time. */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY 0x82f63b78u

/*
 * tab[0] is the classic byte-at-a-time table; tab[k][b] is the CRC of byte b followed by k
 * zero bytes, so eight table lookups fold eight input bytes at once. Built on first use
 * (8 KiB; pthread_once keeps two first callers from racing).
 */
static uint32_t tab[8][256];
static pthread_once_t tab_once = PTHREAD_ONCE_INIT;

static void
tab_build(void)
{
	for (uint32_t b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ (CRC32C_POLY & (0u - (c & 1u)));
		tab[0][b] = c;
	}
	for (uint32_t b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			tab[k][b] = (tab[k - 1][b] >> 8) ^ tab[0][tab[k - 1][b] & 0xff];
}

/* Little-endian load whatever the host: the compiler makes it one mov on x86. */
static inline uint32_t
load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

uint32_t
slc_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint32_t c = ~crc;

	pthread_once(&tab_once, tab_build);
	while (len >= 8) {
		uint32_t lo = load_le32(p) ^ c;
		uint32_t hi = load_le32(p + 4);

		c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
		    tab[4][lo >> 24] ^ tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
		    tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
	return ~c;
}

#if defined(__x86_64__)

bool
slc_crc32c_hw_available(void)
{
	return __builtin_cpu_supports("sse4.2");
}

/*
 * One stream of 8-byte crc32 instructions: about 8 bytes per 3 cycles, well past what a
 * disk takes. (Three interleaved streams would triple that but need a combine step.)
 */
__attribute__((target("sse4.2"))) uint32_t
slc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	while (len > 0 && ((uintptr_t)p & 7) != 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, sizeof(v));
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return ~(uint32_t)c;
}

#else /* !__x86_64__ */

bool
slc_crc32c_hw_available(void)
{
	return false;
}

uint32_t
slc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return slc_crc32c_sw(crc, buf, len);
}

#endif

uint32_t
slc_crc32c(uint32_t crc, const void *buf, size_t len)
{
	/* __builtin_cpu_supports reads a word libgcc filled in at start-up: cheap enough to
	 * ask on every call, and nothing to initialise or race on. */
	if (slc_crc32c_hw_available())
		return slc_crc32c_hw(crc, buf, len);
	return slc_crc32c_sw(crc, buf, len);
}
