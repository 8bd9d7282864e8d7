/* SPDX-License-Identifier: MIT */
/* fuzz_forward.c: libFuzzer target: the forward framing, split every way, entries readable. */
#include <stdio.h>
#include <stdlib.h>

#include "forward.h"
#include "frame_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * The framing has no byte-at-a-time reference (frame_run_reference reads the text formats):
 * its oracle is that every split gives what one chunk gives (frames, error, mid_frame), that
 * the harness finds no broken rule of slc_frame_parse_burst(), and that every frame reads
 * back as a time and a record (slc_forward_entry_decode). Input: 4 bytes of settings (limit,
 * burst, chunk sizes, skip mode or tag pieces), then the stream. With tag pieces, every split
 * gives the same tags too, each before the same entries.
 */
static int
check(const uint8_t *data, size_t size, char *msg, size_t msg_size)
{
	static const uint32_t limits[4] = {8, 64, 4096, SLC_FRAME_LEN_MAX};
	uint32_t max_frame = limits[data[0] & 3], burst = 1 + ((data[0] >> 2) & 7);
	bool skip = data[0] & 0x80;
	int (*feed)(struct frame_run *, enum slc_frame_format, uint32_t, const uint8_t *, size_t,
	            const uint32_t *, size_t, uint32_t) = skip             ? frame_run_feed_skip
	                                                  : data[0] & 0x40 ? frame_run_feed_tags
	                                                                   : frame_run_feed;
	uint32_t sizes[2] = {1 + data[2] % 17, 1 + data[3]};
	const uint32_t one = 1;
	const uint8_t *in = data + 4;
	size_t len = size - 4;
	struct frame_run whole, r;
	int rc = 0;

	if (feed(&whole, SLC_FRAME_FORWARD, max_frame, in, len, NULL, 0, 64) != 0) {
		snprintf(msg, msg_size, "whole: %s", whole.violation);
		frame_run_fini(&whole);
		return -1;
	}
	if (whole.n_whole != whole.n_frames) {
		snprintf(msg, msg_size, "one chunk: %u of %u frames in pieces",
		         whole.n_frames - whole.n_whole, whole.n_frames);
		rc = -1;
	}
	for (uint32_t i = 0; rc == 0 && i < whole.n_frames; i++) {
		struct slc_forward_entry e;

		if (slc_forward_entry_decode(whole.bytes + whole.offs[i], whole.lens[i], &e) != 0) {
			snprintf(msg, msg_size, "frame %u of %u bytes does not decode", i,
			         whole.lens[i]);
			rc = -1;
		}
	}
	for (int k = 0; rc == 0 && k < 3; k++) {
		const uint32_t *sz = k == 0 ? sizes : k == 1 ? &one : &sizes[1];
		size_t nsz = k == 0 ? 2 : 1;
		uint32_t b = k == 2 ? 64 : burst;
		char diff[256];

		if (feed(&r, SLC_FRAME_FORWARD, max_frame, in, len, sz, nsz, b) != 0) {
			snprintf(msg, msg_size, "split %u burst %u: %s", sz[0], b, r.violation);
			rc = -1;
		} else if (!frame_run_same(&whole, &r)) {
			frame_run_diff(&whole, &r, diff, sizeof(diff));
			snprintf(msg, msg_size, "split %u burst %u: %s", sz[0], b, diff);
			rc = -1;
		}
		frame_run_fini(&r);
	}
	frame_run_fini(&whole);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512];

	if (size < 4)
		return 0;
	if (check(data, size, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "fuzz_forward: %s\n", msg);
		abort();
	}
	return 0;
}
