/* SPDX-License-Identifier: MIT */
/* forward.h: the Fluent Forward protocol v1 framing (framing=forward): entries as frames. */
#ifndef SLC_URING_FORWARD_H
#define SLC_URING_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "frame.h"

/*
 * A forward connection carries msgpack arrays, one per Forward message, in one of three
 * modes (Fluent Forward protocol specification v1):
 *
 *   Message        [tag, time, record]             or [tag, time, record, option]
 *   Forward        [tag, [[time, record], ...]]    or [tag, [...], option]
 *   PackedForward  [tag, bin|str]                  or [tag, bin|str, option]
 *                  where the bin holds [time, record] arrays back to back
 *
 * tag is a str; time an unsigned integer (seconds) or an EventTime (ext type 0, 8 bytes:
 * seconds and nanoseconds, big-endian 32 bits each); record a map; option a map or nil.
 *
 * Each entry is one frame, and its bytes are the time object followed by the record object
 * (two msgpack objects, no array header): inside the receive buffer in every mode, since
 * time and record are adjacent both in an entry [time, record] (whose one-byte array header
 * the parser steps over, like a delimiter) and in a Message. So every entry is zero-copy
 * unless it straddles receive buffers, and then only that entry is reassembled, bounded by
 * max_frame. slc_forward_entry_decode() reads such a frame back.
 *
 * The parser only finds object boundaries: a count of the objects still to read in the
 * current element (an array header of n adds n, a map's 2n, every object takes one off)
 * needs no stack, so a record of any depth costs the same few bytes of state, carried from
 * chunk to chunk in struct slc_frame_parser. It never allocates and never copies.
 *
 * Refused, with the connection closed (the frames before the error are delivered first):
 *   SLC_FRAME_ERR_OVERSIZE         an entry, a tag or an option of more than max_frame
 *                                  bytes (an entry may be skipped with --oversize skip;
 *                                  a tag or option may not)
 *   SLC_FRAME_ERR_MSGPACK          a byte that starts no msgpack object (0xc1)
 *   SLC_FRAME_ERR_FORWARD_SHAPE    msgpack, but not a Forward message: not an array of 2
 *                                  to 4, a tag that is not a str, an entry that is not
 *                                  [time, record], a record that is not a map, an option
 *                                  that is neither map nor nil, entries that run past
 *                                  their bin
 *   SLC_FRAME_ERR_FORWARD_TIME     a time that is neither an unsigned integer nor an
 *                                  EventTime
 *   SLC_FRAME_ERR_FORWARD_COMPRESSED gzip where no compressed bin can start: after
 *                                  entries of a bin, or inside an inflated bin
 */

/*
 * CompressedPackedForward: [tag, bin, option] whose bin holds gzip member(s) of the
 * entries, and whose option says "compressed": "gzip". The option comes after the bin, so
 * the parser goes by the bin's first byte: gzip's 0x1f starts no entry (an entry is an
 * array, 0x92), and makes the bin a compressed one (the option's "compressed" is not
 * needed). Its bytes go out as pieces that are no entry, SLC_FRAME_TRIM_GZIP while more
 * are to come, SLC_FRAME_TRIM_GZIP_END with the last; the burst stops there, and the
 * parser takes no more bytes until the caller has inflated the bin (uring/gunzip.h) and
 * called slc_forward_inflated() with the inflated length. Then the inflated bytes, parsed
 * as the next chunk, are the bin's entries, every one whole in them (zero-copy); then the
 * rest of the stream, the option first. Inflated bytes with gzip in them are refused
 * (SLC_FRAME_ERR_FORWARD_COMPRESSED): no nesting. The parser neither inflates nor bounds
 * the bin (a caller does both; the reactor: --forward-max-inflated).
 */

/* After a GZIP_END piece: the bin inflated to len bytes, which the caller parses next. */
void slc_forward_inflated(struct slc_frame_parser *p, uint32_t len);

/*
 * Acknowledgements. A message whose option map has a top-level "chunk" (a str of 1 to
 * SLC_FORWARD_CHUNK_MAX bytes; one per message, else SLC_FRAME_ERR_FORWARD_SHAPE) asks for
 * {"ack": chunk} once its entries are durable. The parser hands the chunk's bytes out as
 * pieces with trim SLC_FRAME_TRIM_CHUNK (frame.h), in order, and marks the message's end
 * with SLC_FRAME_TRIM_MSG_END, or with SLC_FRAME_TRIM_CHUNK_END on the chunk's last piece
 * when the message ends there: every entry of the message came before. A message without
 * a chunk gets no such piece.
 */
#define SLC_FORWARD_CHUNK_MAX 64u

/*
 * The tag as a routing key (--key forward:tag). An entry's bytes do not hold its
 * message's tag, so a parser readied with slc_frame_parser_tag_key() hands each message's
 * tag out as pieces that are no entry, before the message's first entry: trim
 * SLC_FRAME_TRIM_TAG while more of the tag is to come (a tag that straddles chunks),
 * SLC_FRAME_TRIM_TAG_END with its last bytes (len 0 for an empty tag). Every entry that
 * follows, up to the next TAG piece, is of that tag.
 */

/* Steps the forward parser from chunk[*ip] (at least one byte): returns 1 with *pc filled
 * (an entry's piece), 0 when the chunk was used up without one, or -SLC_FRAME_ERR_* with
 * *ip left where the step began. frame.c's slc_frame_parse_burst() calls it. */
int slc_forward_step(struct slc_frame_parser *p, const uint8_t *chunk, uint32_t len, uint32_t *ip,
                     struct slc_frame_piece *pc);

/* One entry as the parser framed it: time, then the record's msgpack map. */
struct slc_forward_entry {
	uint64_t sec;
	uint32_t nsec; /* 0 unless the time was an EventTime */
	const uint8_t *record;
	uint32_t record_len;
};

/*
 * Reads an entry's bytes (d, len): returns 0 with *e filled, or -EINVAL when they are not
 * a time followed by exactly one map (anything that is not a forward frame).
 */
int slc_forward_entry_decode(const uint8_t *d, uint32_t len, struct slc_forward_entry *e);

/*
 * The length of the one msgpack object at d (at most len bytes), whose nesting is at most
 * what the bytes hold: 0 when d[0 .. len) does not begin with a whole object.
 */
uint32_t slc_forward_object_len(const uint8_t *d, uint32_t len);

#endif /* SLC_URING_FORWARD_H */
