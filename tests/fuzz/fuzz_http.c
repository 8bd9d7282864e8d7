/* SPDX-License-Identifier: MIT */
/* fuzz_http.c: libFuzzer target: HTTP/1.1 request heads (uring/http.c). */
/*
 * The input is what a client sent, copied into a block of exactly its size (a read past
 * the end is an ASan report). What is checked, besides ASan and UBSan:
 *   - slc_http_head_end returns 0, -E2BIG or a length within the input and the limit that
 *     ends in LF LF or LF CR LF; -E2BIG only for inputs of at least the limit;
 *   - a measured head parses to 0 or a status of http.h's list; a parsed request's method
 *     and path lie inside the head, the path starts with '/', holds no '?', the content
 *     length is -1 or more, and not both chunked and a length;
 *   - its judgement for /v1/logs is 0 or a status of the list, and 0 only for
 *     POST /v1/logs with a protobuf or JSON type and a length within the limit or chunked;
 *   - its response head fits 256 bytes and starts with the status line;
 *   - a chunked request's body (what follows the head) decodes within its bounds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "otlp_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(...) OTLP_FUZZ_FAIL("fuzz_http", __VA_ARGS__)

static void
check_request(const uint8_t *b, uint32_t n, const struct slc_http_req *r)
{
	if (r->method < b || r->method + r->method_len > b + n || !r->method_len)
		FAIL("method outside the head");
	if (r->path < b || r->path + r->path_len > b + n || !r->path_len || r->path[0] != '/')
		FAIL("path outside the head or not absolute");
	if (memchr(r->path, '?', r->path_len))
		FAIL("path holds its query");
	if (r->content_length < -1 || (r->chunked && r->content_length >= 0))
		FAIL("content length %lld, chunked %d", (long long)r->content_length, r->chunked);
	if (r->minor > 1)
		FAIL("minor %u", r->minor);

	int st = slc_http_otlp_status(r, 4096);
	if (st != 0 && st != 404 && st != 405 && st != 411 && st != 413 && st != 415)
		FAIL("otlp status %d", st);
	if (st == 0 && (r->path_len != 8 || memcmp(r->path, "/v1/logs", 8) != 0 ||
	                r->method_len != 4 || memcmp(r->method, "POST", 4) != 0 ||
	                (r->ctype != SLC_HTTP_CTYPE_PROTOBUF && r->ctype != SLC_HTTP_CTYPE_JSON) ||
	                r->encoding == SLC_HTTP_CENC_OTHER ||
	                (!r->chunked && r->content_length < 0) || r->content_length > 4096))
		FAIL("accepted what is not an OTLP logs request");
}

/* What follows a chunked request's head, fed in two pieces at a point the input picks:
 * spans lie inside their piece, and a finished body consumed no more than its bytes. */
static void
check_chunked(const uint8_t *body, uint32_t len)
{
	struct slc_http_chunked st = {0};
	struct slc_http_span spans[4];
	uint32_t cut = len ? body[0] % (len + 1) : 0, pieces[2] = {cut, len - cut}, at = 0, n;

	for (int i = 0; i < 2; i++) {
		uint32_t q = 0;

		while (q < pieces[i] && !st.done) {
			int ret = slc_http_chunked_feed(&st, body + at + q, pieces[i] - q, 4096,
			                                spans, 4, &n);
			if (ret == -EBADMSG || ret == -EFBIG)
				return;
			if (ret < 0 || (uint32_t)ret > pieces[i] - q || (ret == 0 && n == 0))
				FAIL("chunked feed returned %d of %u", ret, pieces[i] - q);
			for (uint32_t k = 0; k < n; k++)
				if (!spans[k].len || spans[k].off + spans[k].len > (uint32_t)ret)
					FAIL("a chunked span outside what was consumed");
			q += (uint32_t)ret;
		}
		at += pieces[i];
		if (st.done)
			return;
	}
	if (st.total > 4096)
		FAIL("chunked body of %llu bytes over the limit", (unsigned long long)st.total);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct slc_http_req req;
	uint8_t resp[256];
	uint32_t n;
	uint8_t *b;
	int end, st;

	b = otlp_fuzz_copy(data, size, 2 * SLC_HTTP_HEAD_MAX, &n);
	if (!b)
		return 0;

	end = slc_http_head_end(b, n);
	if (end == -E2BIG) {
		if (n < SLC_HTTP_HEAD_MAX)
			FAIL("-E2BIG for %u bytes", n);
	} else if (end < 0 || (uint32_t)end > n || (uint32_t)end > SLC_HTTP_HEAD_MAX) {
		FAIL("head end %d of %u", end, n);
	} else if (end > 0) {
		if (b[end - 1] != '\n' ||
		    !(b[end - 2] == '\n' || (end >= 3 && b[end - 2] == '\r' && b[end - 3] == '\n')))
			FAIL("head end %d is not after an empty line", end);
		st = slc_http_req_parse(b, (uint32_t)end, &req);
		if (st == 0) {
			check_request(b, (uint32_t)end, &req);
			if (req.chunked)
				check_chunked(b + end, n - (uint32_t)end);
		} else if (st != 400 && st != 417 && st != 501 && st != 505) {
			FAIL("parse status %d", st);
		}
		int code = st ? st : 200;
		int rl = slc_http_response_head(resp, sizeof(resp), code, "application/json",
		                                (size_t)n, st == 0, st ? 1 : 0);
		if (rl <= 12 || memcmp(resp, "HTTP/1.1 ", 9) != 0)
			FAIL("response head of %d bytes", rl);
	}
	free(b);
	return 0;
}
