/* SPDX-License-Identifier: MIT */
/* segment.h: the file sink's on-disk segment format, its encoders, and segment names. */
#ifndef SLC_ENGINE_SINKS_FILE_SEGMENT_H
#define SLC_ENGINE_SINKS_FILE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

/*
 * What the writer (writer.c), recovery (recover.c), the reader (reader.h) and sluice-cat
 * agree on. On-disk format, version 1 (docs/file-format.md says the same, with examples).
 * All integers little-endian. CRC is CRC32C (crc32c.h).
 *
 * File name: DIR/w<worker>-<seq>.seg, worker in decimal with at least 3 digits, seq with
 * at least 8 ("w007-00000042.seg"); zero-padded, so that names sort in numeric order up to
 * worker 999 and seq 99999999. Other names in DIR are ignored (sluice.lock is ours).
 *
 * Segment header, 32 bytes, at offset 0:
 *    0  u8[8]  magic "SLUICESG"
 *    8  u16    version (1)
 *   10  u16    header length (32): records start here
 *   12  u32    worker
 *   16  u64    seq
 *   24  u32    flags (0)
 *   28  u32    CRC of bytes 0..27
 *
 * Records follow back to back, no padding:
 *    0  u32    magic 0x9BD51CE5 (bytes e5 1c d5 9b: not text, so rarely inside a payload)
 *    4  u32    payload length P
 *    8  u16    key length K (0: no key)
 *   10  u16    flags: bit 0 = segment trailer; the other bits are 0
 *   12  u32    CRC of bytes 4..11 of this header, then the key, then the payload
 *   16  u8[K]  key
 * 16+K  u8[P]  payload
 *
 * A segment that was ended in order finishes with a trailer: a record with flag bit 0,
 * K = 0, P = 16, payload { u64 records before it; u64 its own offset }. Nothing follows
 * it. A segment without a trailer was being written when the writer stopped (crash, kill,
 * write error) or is still being written.
 */

#define SLC_SINK_FILE_WORKERS_MAX 256u /* worker indexes 0..255 (pool.h's cap) */
#define SLC_SINK_FILE_KEY_MAX     65535u

#define SLC_SINK_FILE_SEG_MAGIC    "SLUICESG"
#define SLC_SINK_FILE_SEG_VERSION  1u
#define SLC_SINK_FILE_SEG_HDR_SIZE 32u
#define SLC_SINK_FILE_REC_MAGIC    0x9bd51ce5u
#define SLC_SINK_FILE_REC_HDR_SIZE 16u
#define SLC_SINK_FILE_REC_F_END    0x0001u
#define SLC_SINK_FILE_TRAILER_SIZE (SLC_SINK_FILE_REC_HDR_SIZE + 16u)
#define SLC_SINK_FILE_NAME_MAX     40u /* "w" 10 digits "-" 20 digits ".seg" NUL, rounded */

/* ---- little-endian fields (inline: the writer encodes a record header per message) ---- */

static inline void
slc_seg_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
slc_seg_put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void
slc_seg_put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t
slc_seg_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
slc_seg_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t
slc_seg_get_le64(const uint8_t *p)
{
	return (uint64_t)slc_seg_get_le32(p) | (uint64_t)slc_seg_get_le32(p + 4) << 32;
}

/* ---- headers, records, trailers ---- */

/* The 32-byte segment header of worker's segment seq. */
void slc_seg_hdr_put(uint8_t *h, uint32_t worker, uint64_t seq);

/* Why the 32 bytes at h are not the header of a segment of this version (bad magic,
 * version or header length; a static string), or NULL when they may be one. Zeros and the
 * header's CRC are not checked: a crash leaves those in a segment that is still ours. */
const char *slc_seg_hdr_foreign(const uint8_t *h);

/* Bytes 0..11 of a record header (its CRC, bytes 12..15, is the caller's: it covers what
 * follows the header too). */
static inline void
slc_seg_rec_hdr_put(uint8_t *h, uint32_t payload_len, uint16_t key_len, uint16_t flags)
{
	slc_seg_put_le32(h, SLC_SINK_FILE_REC_MAGIC);
	slc_seg_put_le32(h + 4, payload_len);
	slc_seg_put_le16(h + 8, key_len);
	slc_seg_put_le16(h + 10, flags);
}

/* The trailer (TRAILER_SIZE bytes at h) of a segment with `records` records, the trailer
 * itself at offset `at`. */
void slc_seg_trailer_put(uint8_t *h, uint64_t records, uint64_t at);

/* True when h (TRAILER_SIZE bytes, at offset `at` of its file) is a valid trailer that
 * says it is at `at`. */
bool slc_seg_trailer_valid(const uint8_t *h, uint64_t at);

/* ---- segments in a directory ---- */

struct slc_sink_file_seg {
	uint32_t worker;
	uint64_t seq;
	char name[SLC_SINK_FILE_NAME_MAX];
};

/* True when name is a segment name as the sink writes it (canonical: "w7-1.seg" and
 * "w0007-00000001.seg" are not, "w007-00000001.seg" is). */
bool slc_sink_file_name_parse(const char *name, uint32_t *worker, uint64_t *seq);

/* Lists DIR's segments sorted by worker, then seq: 0 and a malloc'ed array (*segs, free()
 * it; NULL when *n is 0), or -ENOENT, -ENOTDIR, -EACCES, -ENOMEM, ... _io: through io
 * (io.h) rather than the system calls, as are the other _io functions. */
int slc_sink_file_dir_scan(const char *dir, struct slc_sink_file_seg **segs, size_t *n);
int slc_sink_file_dir_scan_io(const struct slc_sink_file_io *io, const char *dir,
                              struct slc_sink_file_seg **segs, size_t *n);

/* The highest seq of worker's segments in dir: 0 and *found (false: none, or no dir: a
 * segment create makes it again), or the error of listing dir (-EACCES, -ENOMEM, ...). */
int slc_seg_dir_max_seq(const struct slc_sink_file_io *io, const char *dir, uint32_t worker,
                        bool *found, uint64_t *max);

#endif /* SLC_ENGINE_SINKS_FILE_SEGMENT_H */
