/* SPDX-License-Identifier: MIT */
/* frame_harness.h: feeds input to a framing parser in chunks, checks pieces, rebuilds frames. */
#ifndef SLC_TESTS_FRAME_HARNESS_H
#define SLC_TESTS_FRAME_HARNESS_H

/*
 * Shared by tests/uring/test_frame.c and the fuzz targets, so that both check the same
 * invariants. frame_run_feed() splits the input into chunks of given sizes, each in a heap
 * block of exactly its size (ASan then catches a read past a chunk), runs the parser over
 * them, checks every call against the contract of slc_frame_parse_burst(), and rebuilds the
 * frames from the pieces, trims included. frame_run_reference() computes what any split
 * must give, with a slow byte-at-a-time reading of the whole input that shares no code with
 * the parser.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

/* forward: a compressed bin is inflated (uring/gunzip.c) into at most this many bytes;
 * more is forward_inflated, as the reactor's --forward-max-inflated. */
#define FRAME_RUN_GZIP_MAX (1u << 20)

struct frame_run {
	uint8_t *bytes; /* the frames' payloads, back to back */
	size_t *offs;   /* where each frame begins in bytes */
	uint32_t *lens; /* each frame's length */
	uint32_t n_frames;
	size_t n_bytes;
	uint32_t n_pieces; /* pieces the parser returned */
	uint32_t n_whole;  /* frames that came as one piece (start && end) */
	int err;           /* 0 or an enum slc_frame_error */
	bool mid_frame;    /* slc_frame_parser_mid_frame() after the last chunk */
	bool skip;         /* fed with skip mode: drop pieces are taken, and counted */
	bool tags;         /* forward, fed with tag pieces: "#tag@N|" in chunks (N frames before) */
	uint32_t n_dropped; /* drop pieces (skip mode) */
	char chunks[512];   /* forward: each message's chunk and '|', in order (as fits) */
	size_t chunks_len;
	char violation[256]; /* empty, or the first broken rule */
};

/*
 * Parses in[0 .. len) with a new parser of format f and max_frame, in chunks of sizes[0],
 * sizes[1], ... (cycled; a size of 0 means the rest of the input), asking for at most burst
 * pieces per call. Stops at the first framing error (after checking that it repeats).
 * Returns 0, -EINVAL if the parser refused f or max_frame, -ENOMEM, or -EPROTO if the parser
 * broke a rule: r->violation then says which. Frames and error are filled in either way;
 * release them with frame_run_fini().
 */
int frame_run_feed(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                   const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes,
                   uint32_t burst);

/* The same in skip mode (slc_frame_parser_skip_oversize): drop pieces discard their frame. */
int frame_run_feed_skip(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                        const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes,
                        uint32_t burst);

/* The same with forward tag pieces (slc_frame_parser_tag_key): each message's tag joins
 * r->chunks as "#tag@N|", N the frames before its entries. */
int frame_run_feed_tags(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                        const uint8_t *in, size_t len, const uint32_t *sizes, size_t n_sizes,
                        uint32_t burst);

/* The frames, error and mid_frame that any split of in[0 .. len) must give. 0 or -ENOMEM. */
int frame_run_reference(struct frame_run *r, enum slc_frame_format f, uint32_t max_frame,
                        const uint8_t *in, size_t len);

/* Same frames, same error, and (without an error) the same mid_frame. */
bool frame_run_same(const struct frame_run *a, const struct frame_run *b);

/* Writes a one-line description of where a and b first differ into buf. */
void frame_run_diff(const struct frame_run *a, const struct frame_run *b, char *buf, size_t size);

/*
 * The fuzz targets' body: reads max_frame, burst and chunk sizes from the first 4 bytes of
 * data, parses the rest whole, split, and one byte at a time, and compares each run with
 * the reference. Returns 0, or -1 with the reason in msg. Inputs under 4 bytes pass.
 */
int frame_fuzz_check(enum slc_frame_format f, const uint8_t *data, size_t size, char *msg,
                     size_t msg_size);

void frame_run_fini(struct frame_run *r);

#endif /* SLC_TESTS_FRAME_HARNESS_H */
