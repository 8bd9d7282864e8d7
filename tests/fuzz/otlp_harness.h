/* SPDX-License-Identifier: MIT */
/* otlp_harness.h: what the OTLP listener's fuzz targets share (fuzz_otlp, fuzz_otlp_json,
 * fuzz_http): the failure report, the exact-size copy of the input, a check's contract. */
#ifndef SLC_TESTS_OTLP_HARNESS_H
#define SLC_TESTS_OTLP_HARNESS_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reports what broke, as "NAME: ...", and aborts: libFuzzer keeps the input. */
#define OTLP_FUZZ_FAIL(name, ...)                       \
	do {                                            \
		fprintf(stderr, name ": " __VA_ARGS__); \
		fputc('\n', stderr);                    \
		abort();                                \
	} while (0)

/* The input in a heap block of exactly its size, so that a read past its end is an ASan
 * report; NULL for inputs over max bytes (or without memory). */
static inline uint8_t *
otlp_fuzz_copy(const uint8_t *data, size_t size, size_t max, uint32_t *len)
{
	uint8_t *buf;

	if (size > max)
		return NULL;
	buf = malloc(size ? size : 1);
	if (buf) {
		memcpy(buf, data, size);
		*len = (uint32_t)size;
	}
	return buf;
}

/* A decoder's check returns 0 or -EBADMSG, gives a reason exactly when it refuses, and
 * places the refusal inside the body. */
static inline void
otlp_fuzz_check_contract(const char *name, int ret, const char *err, uint32_t err_off, uint32_t len)
{
	if (ret != 0 && ret != -EBADMSG)
		OTLP_FUZZ_FAIL("%s", "check returned %d", name, ret);
	if ((ret != 0) != (err != NULL))
		OTLP_FUZZ_FAIL("%s", "a reason without a refusal, or a refusal without one", name);
	if (ret && len && err_off >= len)
		OTLP_FUZZ_FAIL("%s", "error offset %u outside a body of %u", name, err_off, len);
}

#endif /* SLC_TESTS_OTLP_HARNESS_H */
