/* SPDX-License-Identifier: MIT */
/* gz_write.h: gzip members for the tests of CompressedPackedForward (header only, zlib). */
#ifndef SLC_TESTS_GZ_WRITE_H
#define SLC_TESTS_GZ_WRITE_H

#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "mp_write.h"

/* One gzip member (RFC 1952) of in[0..len) into out[0..cap): its length; aborts the test
 * when it does not fit. */
static inline size_t
gz_member(uint8_t *out, size_t cap, const uint8_t *in, size_t len)
{
	z_stream zs = {0};
	size_t n;

	/* 16 + MAX_WBITS: the gzip wrapper, as Fluent Bit and fluent-logger write it. */
	if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8,
	                 Z_DEFAULT_STRATEGY) != Z_OK)
		abort();
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
		abort();
	n = zs.total_out;
	deflateEnd(&zs);
	return n;
}

/* Appends a gzip member of in[0..len) to m. */
static inline void
mp_gzip(struct mp *m, const void *in, size_t len)
{
	m->n += gz_member(m->b + m->n, sizeof(m->b) - m->n, in, len);
}

/* A CompressedPackedForward message: [tag, bin of gz, {"compressed": "gzip"}], the option
 * with "chunk": chunk too unless chunk is NULL. */
static inline void
mp_compressed_msg(struct mp *m, const char *tag, const struct mp *gz, const char *chunk)
{
	mp_arr(m, 3);
	mp_str(m, tag);
	mp_bin_hdr(m, (uint32_t)gz->n);
	mp_cat(m, gz);
	mp_map(m, chunk != NULL ? 2 : 1);
	mp_str(m, "compressed");
	mp_str(m, "gzip");
	if (chunk != NULL) {
		mp_str(m, "chunk");
		mp_str(m, chunk);
	}
}

#endif /* SLC_TESTS_GZ_WRITE_H */
