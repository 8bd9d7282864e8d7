/* SPDX-License-Identifier: MIT */
/* mp_write.h: a small msgpack writer for the tests of the forward framing (header only). */
#ifndef SLC_TESTS_MP_WRITE_H
#define SLC_TESTS_MP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Just what Fluent Forward messages need: arrays, maps, str, bin headers, unsigned
 * integers, EventTime; written into a fixed buffer. */
struct mp {
	uint8_t b[8192];
	size_t n;
};

static inline void
mp_put(struct mp *m, const void *p, size_t n)
{
	if (m->n + n > sizeof(m->b))
		abort(); /* a test that writes more than it sized for */
	memcpy(m->b + m->n, p, n);
	m->n += n;
}

static inline void
mp_put_be(struct mp *m, uint8_t first, uint64_t v, unsigned bytes)
{
	uint8_t t[9];

	t[0] = first;
	for (unsigned k = 0; k < bytes; k++)
		t[1 + k] = (uint8_t)(v >> (8 * (bytes - 1 - k)));
	mp_put(m, t, 1 + bytes);
}

/* An array or map header: the fix form below 16, else the 32-bit one. */
static inline void
mp_count(struct mp *m, uint8_t fix, uint8_t wide, uint32_t n)
{
	if (n < 16)
		mp_put_be(m, (uint8_t)(fix | n), 0, 0);
	else
		mp_put_be(m, wide, n, 4);
}

static inline void
mp_arr(struct mp *m, uint32_t n)
{
	mp_count(m, 0x90, 0xdd, n);
}

static inline void
mp_map(struct mp *m, uint32_t n)
{
	mp_count(m, 0x80, 0xdf, n);
}

static inline void
mp_str(struct mp *m, const char *s)
{
	size_t n = strlen(s);

	if (n < 32)
		mp_put_be(m, (uint8_t)(0xa0 | n), 0, 0);
	else
		mp_put_be(m, 0xda, n, 2);
	mp_put(m, s, n);
}

static inline void
mp_bin_hdr(struct mp *m, uint32_t n)
{
	mp_put_be(m, 0xc6, n, 4);
}

static inline void
mp_uint(struct mp *m, uint64_t v)
{
	if (v < 128)
		mp_put_be(m, (uint8_t)v, 0, 0);
	else if (v <= UINT32_MAX)
		mp_put_be(m, 0xce, v, 4);
	else
		mp_put_be(m, 0xcf, v, 8);
}

/* EventTime as fixext8 (what Fluentd sends) or ext8 (also valid). */
static inline void
mp_evt(struct mp *m, uint32_t sec, uint32_t nsec, bool ext8)
{
	if (ext8)
		mp_put(m, (const uint8_t[]){0xc7, 8, 0}, 3);
	else
		mp_put(m, (const uint8_t[]){0xd7, 0}, 2);
	mp_put_be(m, (uint8_t)(sec >> 24), sec & 0xffffffu, 3);
	mp_put_be(m, (uint8_t)(nsec >> 24), nsec & 0xffffffu, 3);
}

static inline void
mp_cat(struct mp *m, const struct mp *o)
{
	mp_put(m, o->b, o->n);
}

#endif /* SLC_TESTS_MP_WRITE_H */
