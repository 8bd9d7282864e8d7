/* SPDX-License-Identifier: MIT */
/* fuzz_otlp_json.c: libFuzzer target: the OTLP/JSON logs decoder (uring/otlp_json.c). */
/*
 * The input is a request body, copied into a block of exactly its size (a read past the
 * end is an ASan report). What is checked, besides ASan and UBSan:
 *   - slc_otlp_json_check returns 0 or -EBADMSG, with a reason and an offset inside the
 *     body exactly when it refuses, and never writes to the body;
 *   - after a successful check, the walk (which rewrites string bodies in place) hands
 *     out as many records as the check counted and ends with 0, then stays ended; every
 *     body and key lies inside the body; a NONE body is empty; an ANY body is a JSON
 *     object's text ('{' to '}'); a key is never empty when set.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_harness.h"
#include "otlp_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) OTLP_FUZZ_FAIL("fuzz_otlp_json", __VA_ARGS__)

static const uint8_t key_name[] = "service.name";

static void
walk(uint8_t *buf, uint32_t len, uint32_t count)
{
	struct slc_otlp_json_iter it;
	struct slc_otlp_rec rec;
	uint32_t n = 0;
	int ret;

	slc_otlp_json_iter_init(&it, buf, len, key_name, sizeof(key_name) - 1);
	while ((ret = slc_otlp_json_next(&it, &rec)) == 1) {
		n++;
		if (rec.body_len && (rec.body < buf || rec.body + rec.body_len > buf + len))
			FAIL("a body outside the request");
		if (rec.key_len && (rec.key < buf || rec.key + rec.key_len > buf + len))
			FAIL("a key outside the request");
		if ((rec.key == NULL) != (rec.key_len == 0))
			FAIL("a key pointer without a length, or the reverse");
		if (rec.body_kind == SLC_OTLP_BODY_NONE && rec.body_len)
			FAIL("a NONE body with bytes");
		if (rec.body_kind == SLC_OTLP_BODY_ANY &&
		    (rec.body_len < 2 || rec.body[0] != '{' || rec.body[rec.body_len - 1] != '}'))
			FAIL("an ANY body that is not an object's text");
	}
	if (ret != 0 || n != count)
		FAIL("the walk (%d, %u records) and the check (%u) disagree", ret, n, count);
	if (slc_otlp_json_next(&it, &rec) != 0)
		FAIL("the walk did not stay ended");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *err = NULL;
	uint32_t count, err_off = 0, len;
	uint8_t *buf;
	int ret;

	buf = otlp_fuzz_copy(data, size, 1u << 20, &len);
	if (!buf)
		return 0;
	ret = slc_otlp_json_check(buf, len, &count, &err, &err_off);
	otlp_fuzz_check_contract("fuzz_otlp_json", ret, err, err_off, len);
	if (memcmp(buf, data, len) != 0)
		FAIL("the check wrote to the body");
	if (ret == 0)
		walk(buf, len, count);
	free(buf);
	return 0;
}
