/* SPDX-License-Identifier: MIT */
/* test_crc32c.c: CRC32C's known vectors, and its hardware and software paths agreeing. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"

Test(crc32c, known_vectors)
{
	uint8_t zeros[32] = {0}, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	/* "123456789" is the check value of the CRC catalogue; the rest are RFC 3720's. */
	cr_expect_eq(slc_crc32c(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(slc_crc32c_sw(0, "123456789", 9), 0xe3069283u);
	cr_expect_eq(slc_crc32c(0, NULL, 0), 0u);
	cr_expect_eq(slc_crc32c(0, zeros, 32), 0x8a9136aau);
	cr_expect_eq(slc_crc32c(0, ones, 32), 0x62a8ab43u);
	cr_expect_eq(slc_crc32c(0, inc, 32), 0x46dd794eu);
	cr_expect_eq(slc_crc32c_sw(0, inc, 32), 0x46dd794eu);
	/* Piece by piece equals all at once. */
	cr_expect_eq(slc_crc32c(slc_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	cr_expect_eq(slc_crc32c_sw(slc_crc32c_sw(0, inc, 13), inc + 13, 19), 0x46dd794eu);
	if (slc_crc32c_hw_available()) {
		cr_expect_eq(slc_crc32c_hw(0, "123456789", 9), 0xe3069283u);
		cr_expect_eq(slc_crc32c_hw(0, inc, 32), 0x46dd794eu);
	}
}

static uint64_t
crc_rand(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

Test(crc32c, hw_and_sw_agree)
{
	static uint8_t buf[4096 + 16];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	if (!slc_crc32c_hw_available())
		cr_skip_test("no SSE4.2 on this CPU: only the software path exists");
	for (size_t i = 0; i < sizeof(buf); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		buf[i] = (uint8_t)x;
	}
	/* Every length up to 300 at every misalignment up to 8, then some long ones. */
	for (size_t start = 0; start < 9; start++)
		for (size_t len = 0; len < 300; len++)
			cr_assert_eq(slc_crc32c_hw(0x1234u, buf + start, len),
			             slc_crc32c_sw(0x1234u, buf + start, len), "start %zu len %zu",
			             start, len);
	cr_assert_eq(slc_crc32c_hw(0, buf + 3, 4096), slc_crc32c_sw(0, buf + 3, 4096));
	cr_assert_eq(slc_crc32c(0, buf, 4096), slc_crc32c_sw(0, buf, 4096));
}

/* The inline path (slc_crc32c), the out-of-line one and the tables agree on every length a
 * record's pieces have, at every misalignment, from any starting CRC, whole or in the
 * three pieces of a record (header slice, key, payload). */
Test(crc32c, paths_agree_on_every_short_length_and_misalignment)
{
	static uint8_t buf[8 + 300];
	uint64_t x = 0x2545f4914f6cdd1dull;
	bool hw = slc_crc32c_hw_available();

	for (size_t off = 0; off < 8; off++) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)crc_rand(&x);
		for (size_t len = 0; len <= 300; len++) {
			const uint8_t *p = buf + off;
			uint32_t seed = (uint32_t)crc_rand(&x), want = slc_crc32c_sw(seed, p, len);
			size_t a = len ? crc_rand(&x) % (len + 1) : 0;
			size_t b = a + (len - a ? crc_rand(&x) % (len - a + 1) : 0);

			cr_assert_eq(slc_crc32c(seed, p, len), want, "off %zu len %zu", off, len);
			if (hw)
				cr_assert_eq(slc_crc32c_hw(seed, p, len), want, "off %zu len %zu",
				             off, len);
			cr_assert_eq(slc_crc32c(slc_crc32c(slc_crc32c(seed, p, a), p + a, b - a),
			                        p + b, len - b),
			             want, "off %zu len %zu in pieces at %zu, %zu", off, len, a, b);
		}
	}
	/* The constant 8-byte header slice, as the file sink writes it. */
	cr_assert_eq(slc_crc32c(0, buf + 1, 8), slc_crc32c_sw(0, buf + 1, 8));
}

/* Long buffers take three interleaved streams in blocks of two sizes: every boundary of
 * those, and random lengths, at every misalignment. */
Test(crc32c, paths_agree_on_long_buffers)
{
	static const size_t lens[] = {191,  192,   193,   255,   256,   257,  383,        384,
	                              385,  575,   576,   6143,  6144,  6145, 6144 + 191, 6336,
	                              6337, 12288, 12479, 12480, 65536, 65543};
	size_t cap = 70000 + 8;
	uint8_t *buf = malloc(cap);
	uint64_t x = 0x9fb21c651e98df25ull;

	cr_assert_not_null(buf);
	for (size_t i = 0; i < cap; i++)
		buf[i] = (uint8_t)crc_rand(&x);
	for (size_t off = 0; off < 8; off++) {
		for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]) + 20; k++) {
			size_t len =
			        k < sizeof(lens) / sizeof(lens[0]) ? lens[k] : crc_rand(&x) % 70000;
			uint32_t seed = (uint32_t)crc_rand(&x);
			uint32_t want = slc_crc32c_sw(seed, buf + off, len);

			cr_assert_eq(slc_crc32c(seed, buf + off, len), want, "off %zu len %zu", off,
			             len);
			if (slc_crc32c_hw_available())
				cr_assert_eq(slc_crc32c_hw(seed, buf + off, len), want,
				             "off %zu len %zu", off, len);
		}
	}
	free(buf);
}

/* slc_crc32c_copy: the checksum of the source and a copy of it, byte for byte and no byte
 * more, for every short length (the inline path), long ones (copy, then the streams),
 * and every misalignment of either side. */
Test(crc32c, copy_checksums_and_copies_exactly)
{
	static const size_t lens[] = {0, 1, 7, 8, 9, 100, 255, 256, 257, 300, 4096, 8192};
	static uint8_t src[8 + 8192], dst[8 + 8192 + 16];
	uint64_t x = 0x5851f42d4c957f2dull;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)crc_rand(&x);
	for (size_t so = 0; so < 8; so++)
		for (size_t d_o = 0; d_o < 8; d_o++)
			for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]) + 40; k++) {
				size_t len =
				        k < sizeof(lens) / sizeof(lens[0]) ? lens[k] : k * 7 % 301;
				uint32_t seed = (uint32_t)crc_rand(&x);

				memset(dst, 0xa5, sizeof(dst));
				cr_assert_eq(slc_crc32c_copy(seed, dst + d_o, src + so, len),
				             slc_crc32c_sw(seed, src + so, len),
				             "so %zu do %zu len %zu", so, d_o, len);
				cr_assert_eq(memcmp(dst + d_o, src + so, len), 0, "len %zu", len);
				for (size_t i = 0; i < sizeof(dst); i++)
					if (i < d_o || i >= d_o + len)
						cr_assert_eq(dst[i], 0xa5,
						             "byte %zu written (len %zu)", i, len);
			}
	cr_assert_eq(slc_crc32c_copy(0x1234u, NULL, NULL, 0), 0x1234u, "len 0: unchanged");
}
