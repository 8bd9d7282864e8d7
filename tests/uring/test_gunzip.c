/* SPDX-License-Identifier: MIT */
/* test_gunzip.c: gzip request bodies (uring/gunzip.c): inflated, bounded, refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gunzip.h"

static struct slc_gunzip *g;

static void
setup(void)
{
	int err = 0;

	g = slc_gunzip_create(&err);
	cr_assert_not_null(g, "create: %d", err);
}

static void
teardown(void)
{
	slc_gunzip_destroy(g);
}

/* in as one gzip member into out (cap bytes); its length. */
static size_t
gzip(const void *in, size_t n, uint8_t *out, size_t cap)
{
	z_stream zs = {0};

	cr_assert_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)n;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
	size_t len = cap - zs.avail_out;
	deflateEnd(&zs);
	return len;
}

Test(gunzip, inflates_one_member_then_the_next_body, .init = setup, .fini = teardown)
{
	static uint8_t z[4096], out[4096];
	const char *why;
	size_t zn, n;

	zn = gzip("hello, otlp", 11, z, sizeof(z));
	cr_assert_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), 0);
	cr_expect_eq(n, 11);
	cr_expect_eq(memcmp(out, "hello, otlp", 11), 0);
	/* The inflater is reused: a second body starts afresh. */
	zn = gzip("second", 6, z, sizeof(z));
	cr_assert_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), 0);
	cr_expect_eq(n, 6);
	cr_expect_eq(memcmp(out, "second", 6), 0);
}

Test(gunzip, several_members_follow_each_other, .init = setup, .fini = teardown)
{
	static uint8_t z[4096], out[64];
	const char *why;
	size_t zn, n;

	zn = gzip("abc", 3, z, sizeof(z));
	zn += gzip("def", 3, z + zn, sizeof(z) - zn);
	cr_assert_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), 0);
	cr_expect_eq(n, 6);
	cr_expect_eq(memcmp(out, "abcdef", 6), 0);
}

Test(gunzip, output_is_bounded, .init = setup, .fini = teardown)
{
	static uint8_t zeros[1 << 20], z[1 << 16], out[1 << 16];
	const char *why;
	size_t zn, n;

	/* 1 MiB of zeros is about 1 KiB of gzip: stopped at the 64 KiB limit. */
	zn = gzip(zeros, sizeof(zeros), z, sizeof(z));
	cr_assert_lt(zn, 4096);
	cr_expect_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), -EFBIG);
	cr_expect_str_eq(why, "inflated body over the limit");
	cr_expect_eq(n, 0);
	/* Exactly the limit fits. */
	zn = gzip(zeros, sizeof(out), z, sizeof(z));
	cr_expect_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), 0);
	cr_expect_eq(n, sizeof(out));
}

Test(gunzip, bad_bodies_are_refused, .init = setup, .fini = teardown)
{
	static uint8_t z[4096], out[4096];
	const char *why;
	size_t zn, n;

	zn = gzip("some body to cut", 16, z, sizeof(z));
	for (size_t cut = 0; cut < zn; cut++) {
		uint8_t *copy = malloc(cut ? cut : 1);
		cr_assert_not_null(copy);
		memcpy(copy, z, cut);
		cr_expect_eq(slc_gunzip_body(g, copy, cut, out, sizeof(out), &n, &why), -EBADMSG,
		             "cut at %zu", cut);
		free(copy);
	}
	/* A flipped byte of the CRC, garbage after the member, not gzip at all. */
	z[zn - 5] ^= 1;
	cr_expect_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), -EBADMSG);
	z[zn - 5] ^= 1;
	memcpy(z + zn, "xx", 2);
	cr_expect_eq(slc_gunzip_body(g, z, zn + 2, out, sizeof(out), &n, &why), -EBADMSG);
	cr_expect_eq(slc_gunzip_body(g, (const uint8_t *)"plain text body", 15, out, sizeof(out),
	                             &n, &why),
	             -EBADMSG);
	cr_expect_not_null(why);
	/* And a good body still inflates after all those. */
	cr_expect_eq(slc_gunzip_body(g, z, zn, out, sizeof(out), &n, &why), 0);
	cr_expect_eq(n, 16);
}
