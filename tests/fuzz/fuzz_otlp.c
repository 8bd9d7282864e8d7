/* SPDX-License-Identifier: MIT */
/* fuzz_otlp.c: libFuzzer target: the OTLP logs protobuf decoder (uring/otlp_pb.c). */
/*
 * The input is a request body, copied into a block of exactly its size (a read past the
 * end is an ASan report). What is checked, besides ASan and UBSan:
 *   - slc_otlp_pb_check returns 0 or -EBADMSG, with a reason and an offset inside the body
 *     exactly when it refuses;
 *   - a walk with a key name hands out as many records as the check counted and ends the
 *     same way (the key lookup changes nothing about what decodes), then stays ended;
 *   - every body and key lies inside the input; a key is never empty; a body of kind NONE
 *     is empty, a STRING or ANY body is where the kind says (an ANY body decodes again as
 *     an AnyValue: it is checked by wrapping it as the body of a one-record request);
 *   - the response body for the record count fits and starts with partial_success.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_harness.h"
#include "otlp_pb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) OTLP_FUZZ_FAIL("fuzz_otlp", __VA_ARGS__)

static const uint8_t key_name[] = "service.name";

static void
inside(const uint8_t *p, uint32_t n, const uint8_t *buf, uint32_t len, const char *what)
{
	if (n && (p < buf || p + n > buf + len))
		FAIL("%s outside the body", what);
}

/* ResourceLogs{ScopeLogs{LogRecord{body: any}}}: lengths as varints of up to 5 bytes. */
static void
rewrap_any(const uint8_t *any, uint32_t n)
{
	static uint8_t buf[1 << 16];
	uint32_t lens[4], pos = 0;
	uint8_t tags[4] = {0x0a, 0x12, 0x12, 0x2a};

	if (n > sizeof(buf) - 64)
		return;
	lens[3] = n;
	for (int i = 2; i >= 0; i--) {
		uint32_t v = lens[i + 1], vl = 1;
		while (v >= 0x80) {
			v >>= 7;
			vl++;
		}
		lens[i] = lens[i + 1] + 1 + vl;
	}
	for (int i = 0; i < 4; i++) {
		uint32_t v = lens[i];
		buf[pos++] = tags[i];
		while (v >= 0x80) {
			buf[pos++] = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		buf[pos++] = (uint8_t)v;
	}
	memcpy(buf + pos, any, n);
	pos += n;

	uint32_t count;
	if (slc_otlp_pb_check(buf, pos, &count, NULL, NULL) != 0 || count != 1)
		FAIL("an ANY body does not decode again as a body");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slc_otlp_pb_iter it;
	struct slc_otlp_rec rec;
	const char *err = NULL;
	uint32_t count, err_off = 0, len;
	uint8_t *buf;
	int ret, ret2;

	buf = otlp_fuzz_copy(data, size, 1u << 20, &len);
	if (!buf)
		return 0;
	ret = slc_otlp_pb_check(buf, len, &count, &err, &err_off);
	otlp_fuzz_check_contract("fuzz_otlp", ret, err, err_off, len);

	slc_otlp_pb_iter_init(&it, buf, len, key_name, sizeof(key_name) - 1);
	uint32_t n = 0;
	while ((ret2 = slc_otlp_pb_next(&it, &rec)) == 1) {
		n++;
		inside(rec.body, rec.body_len, buf, len, "a body");
		inside(rec.key, rec.key_len, buf, len, "a key");
		if ((rec.key == NULL) != (rec.key_len == 0))
			FAIL("a key pointer without a length, or the reverse");
		switch (rec.body_kind) {
		case SLC_OTLP_BODY_NONE:
			if (rec.body_len)
				FAIL("a body of kind NONE with bytes");
			break;
		case SLC_OTLP_BODY_STRING:
			break;
		case SLC_OTLP_BODY_ANY:
			if (!rec.body_len)
				FAIL("an ANY body without bytes");
			rewrap_any(rec.body, rec.body_len);
			break;
		default:
			FAIL("body kind %d", rec.body_kind);
		}
	}
	if (ret2 != ret || n != count || it.records != n)
		FAIL("the walk (%d, %u records) and the check (%d, %u) disagree", ret2, n, ret,
		     count);
	if (slc_otlp_pb_next(&it, &rec) != ret)
		FAIL("the walk did not stay ended");

	uint8_t resp[64];
	int rl = slc_otlp_pb_response(resp, sizeof(resp), count, err ? err : "");
	if (rl < 0 || rl > (int)sizeof(resp) || (count && (rl < 2 || resp[0] != 0x0a)))
		FAIL("response of %d bytes", rl);
	free(buf);
	return 0;
}
