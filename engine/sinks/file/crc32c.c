/* SPDX-License-Identifier: MIT */
/* crc32c.c: CRC32C in software (slicing-by-8) and with SSE4.2 for long buffers. */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

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

/*
 * Long buffers: three streams of crc32 over three consecutive pieces of a block, since
 * one stream waits 3 cycles on each instruction while the CPU could start one per cycle.
 * The pieces' CRCs are then joined: the CRC register after A || B is the register after A
 * advanced over |B| zero bytes, xor the register B alone gives from 0; advancing over n
 * zeros is a multiplication by x^(8n) modulo the polynomial, linear in the register, so a
 * table per byte of the register does it in four look-ups. Two block sizes, so that a
 * buffer of a few hundred bytes gains too.
 */
#define CRC32C_LONG  2048u /* bytes per stream in a long block */
#define CRC32C_SHORT 64u   /* and in a short one */

static uint32_t shift_long[4][256];  /* register advanced over CRC32C_LONG zero bytes */
static uint32_t shift_short[4][256]; /* ... over CRC32C_SHORT */
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* a(x) * b(x) modulo the polynomial, both reflected (bit 31 is x^0). */
static uint32_t
mulmod(uint32_t a, uint32_t b)
{
	uint32_t prod = 0;

	for (uint32_t m = 1u << 31; m != 0; m >>= 1) {
		if (a & m)
			prod ^= b;
		b = (b >> 1) ^ (CRC32C_POLY & (0u - (b & 1u))); /* b *= x */
	}
	return prod;
}

/* x^(8n) modulo the polynomial: what advancing a register over n zero bytes multiplies by. */
static uint32_t
x8n_mod(size_t n)
{
	uint32_t p = 1u << 31, sq = 1u << 23; /* x^0, x^8 */

	for (; n != 0; n >>= 1) {
		if (n & 1)
			p = mulmod(sq, p);
		sq = mulmod(sq, sq);
	}
	return p;
}

static void
shift_build_one(uint32_t t[4][256], size_t n)
{
	uint32_t k = x8n_mod(n);

	for (uint32_t i = 0; i < 4; i++)
		for (uint32_t b = 0; b < 256; b++)
			t[i][b] = mulmod(k, b << (8 * i));
}

static void
shift_build(void)
{
	shift_build_one(shift_long, CRC32C_LONG);
	shift_build_one(shift_short, CRC32C_SHORT);
}

static inline uint32_t
shift_apply(uint32_t t[4][256], uint32_t c)
{
	return t[0][c & 0xff] ^ t[1][(c >> 8) & 0xff] ^ t[2][(c >> 16) & 0xff] ^ t[3][c >> 24];
}

/* Advances register c over one block of 3 * n bytes (n a multiple of 8) at p. */
static inline uint64_t
three_streams(uint64_t c, const uint8_t *p, size_t n, uint32_t t[4][256])
{
	uint64_t c1 = 0, c2 = 0;

	for (size_t i = 0; i < n; i += 8) {
		uint64_t v0, v1, v2;

		memcpy(&v0, p + i, sizeof(v0));
		memcpy(&v1, p + n + i, sizeof(v1));
		memcpy(&v2, p + 2 * n + i, sizeof(v2));
		c = slc_crc32c_x86_u64(c, v0);
		c1 = slc_crc32c_x86_u64(c1, v1);
		c2 = slc_crc32c_x86_u64(c2, v2);
	}
	c = shift_apply(t, (uint32_t)c) ^ c1;
	return shift_apply(t, (uint32_t)c) ^ c2;
}

uint32_t
slc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t c = ~crc;

	if (len >= 3 * CRC32C_SHORT) {
		pthread_once(&shift_once, shift_build);
		for (; len >= 3 * CRC32C_LONG; p += 3 * CRC32C_LONG, len -= 3 * CRC32C_LONG)
			c = three_streams(c, p, CRC32C_LONG, shift_long);
		for (; len >= 3 * CRC32C_SHORT; p += 3 * CRC32C_SHORT, len -= 3 * CRC32C_SHORT)
			c = three_streams(c, p, CRC32C_SHORT, shift_short);
	}
	return ~(uint32_t)slc_crc32c_x86_run(c, p, len);
}

#else /* !__x86_64__ */

uint32_t
slc_crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
	return slc_crc32c_sw(crc, buf, len);
}

#endif
