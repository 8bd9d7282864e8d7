/* SPDX-License-Identifier: MIT */
/* gunzip.c: gzip bodies inflated with zlib, one reused inflater, output bounded. */
#include "gunzip.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <zlib.h>

struct slc_gunzip {
	z_stream zs;
};

struct slc_gunzip *
slc_gunzip_create(int *err)
{
	struct slc_gunzip *g = calloc(1, sizeof(*g));

	if (!g) {
		*err = -ENOMEM;
		return NULL;
	}
	/* 16 + MAX_WBITS: the gzip wrapper only (not zlib's, not raw deflate). */
	if (inflateInit2(&g->zs, 16 + MAX_WBITS) != Z_OK) {
		free(g);
		*err = -ENOMEM;
		return NULL;
	}
	return g;
}

void
slc_gunzip_destroy(struct slc_gunzip *g)
{
	if (!g)
		return;
	inflateEnd(&g->zs);
	free(g);
}

int
slc_gunzip_body(struct slc_gunzip *g, const uint8_t *in, size_t in_len, uint8_t *out, size_t cap,
                size_t *out_len, const char **why)
{
	z_stream *zs = &g->zs;
	bool member_ended = false;
	int zr;

	*out_len = 0;
	*why = NULL;
	if (in_len > UINT_MAX || cap > UINT_MAX) {
		*why = "body too large for zlib";
		return -EFBIG;
	}
	inflateReset(zs);
	zs->next_in = (Bytef *)in;
	zs->avail_in = (uInt)in_len;
	zs->next_out = out;
	zs->avail_out = (uInt)cap;
	for (;;) {
		zr = inflate(zs, Z_NO_FLUSH);
		if (zr == Z_STREAM_END) {
			member_ended = true;
			if (zs->avail_in == 0)
				break;
			/* Another member follows (RFC 1952 2.2): go on into the same output. */
			inflateReset(zs);
			member_ended = false;
			continue;
		}
		if (zr == Z_OK)
			continue;
		if (zr == Z_BUF_ERROR && zs->avail_out == 0) {
			*why = "inflated body over the limit";
			return -EFBIG;
		}
		if (zr == Z_BUF_ERROR) { /* no progress: the input ended inside a member */
			*why = "gzip body cut short";
			return -EBADMSG;
		}
		if (zr == Z_MEM_ERROR) {
			*why = "no memory to inflate";
			return -ENOMEM;
		}
		*why = zs->msg ? zs->msg : "not gzip";
		return -EBADMSG;
	}
	if (!member_ended) {
		*why = "gzip body cut short";
		return -EBADMSG;
	}
	*out_len = cap - zs->avail_out;
	return 0;
}
