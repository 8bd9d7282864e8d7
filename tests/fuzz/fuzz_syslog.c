/* SPDX-License-Identifier: MIT */
/* fuzz_syslog.c: libFuzzer target: the syslog parser, whole and split, against the reference. */
#include <stdio.h>
#include <stdlib.h>

#include "frame_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char msg[512];

	if (frame_fuzz_check(SLC_FRAME_SYSLOG, data, size, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "fuzz_syslog: %s\n", msg);
		abort();
	}
	return 0;
}
