/* SPDX-License-Identifier: MIT */
/* gunzip.h: gzip request bodies (Content-Encoding: gzip) inflated into bounded memory. */
#ifndef SLC_URING_GUNZIP_H
#define SLC_URING_GUNZIP_H

#include <stddef.h>
#include <stdint.h>

/*
 * One inflater per reactor, made once (zlib allocates its state and 32 KiB window at
 * slc_gunzip_create) and reset per body, so that a request costs no allocation. The output
 * is bounded by the caller's buffer: a small body that inflates past it (a "zip bomb") is
 * stopped there, having cost at most that much memory and the time to fill it.
 */
struct slc_gunzip;

/* NULL with *err = -ENOMEM. */
struct slc_gunzip *slc_gunzip_create(int *err);
void slc_gunzip_destroy(struct slc_gunzip *g);

/*
 * Inflates the gzip data in[0..in_len) (one member, or several one after another, as
 * RFC 1952 allows) into out[0..cap), *out_len its length. Returns 0, or
 *   -EFBIG    the inflated body would be longer than cap (answer 413)
 *   -EBADMSG  not gzip, corrupt (bad CRC or length), cut short, or bytes after the last
 *             member that are not one (answer 400); *why says which, a static string
 *   -ENOMEM   zlib could not get memory (answer 503)
 */
int slc_gunzip_body(struct slc_gunzip *g, const uint8_t *in, size_t in_len, uint8_t *out,
                    size_t cap, size_t *out_len, const char **why);

#endif /* SLC_URING_GUNZIP_H */
