/* SPDX-License-Identifier: MIT */
/* test_http.c: HTTP/1.1 request heads for the OTLP listener (uring/http.c): finding the end,
 * parsing, the status each bad head gets, judging for POST /v1/logs, response heads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

/* Parses text (a whole head) from a block of exactly its size, so that ASan sees any read
 * past it; checks that slc_http_head_end measures all of it first. The block lives until
 * the next parse: *req points into it. */
static int
parse(const char *text, struct slc_http_req *req)
{
	static uint8_t *b;
	uint32_t n = (uint32_t)strlen(text);

	free(b);
	b = malloc(n);
	cr_assert_not_null(b);
	memcpy(b, text, n);
	cr_assert_eq(slc_http_head_end(b, n), (int)n, "head end of: %s", text);
	return slc_http_req_parse(b, n, req);
}

#define OTLP_HEAD(extra)                                                                           \
	"POST /v1/logs HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-protobuf\r\n" extra "\r" \
	"\n"

Test(http, head_end_finds_the_empty_line)
{
	cr_expect_eq(slc_http_head_end((const uint8_t *)"GET / HTTP/1.1\r\n\r\nbody", 22), 18);
	cr_expect_eq(slc_http_head_end((const uint8_t *)"GET / HTTP/1.1\n\nbody", 20), 16);
	cr_expect_eq(slc_http_head_end((const uint8_t *)"GET / HTTP/1.1\r\nA: b\r\n", 22), 0);
	cr_expect_eq(slc_http_head_end((const uint8_t *)"GET / HTTP/1.1\r\n\r", 17), 0);
	cr_expect_eq(slc_http_head_end((const uint8_t *)"", 0), 0);

	static uint8_t big[SLC_HTTP_HEAD_MAX + 10];
	memset(big, 'a', sizeof(big));
	cr_expect_eq(slc_http_head_end(big, SLC_HTTP_HEAD_MAX - 1), 0);
	cr_expect_eq(slc_http_head_end(big, SLC_HTTP_HEAD_MAX), -E2BIG);
	cr_expect_eq(slc_http_head_end(big, sizeof(big)), -E2BIG);
	/* An end just inside the limit counts; just past it does not. */
	memcpy(big + SLC_HTTP_HEAD_MAX - 4, "\r\n\r\n", 4);
	cr_expect_eq(slc_http_head_end(big, sizeof(big)), (int)SLC_HTTP_HEAD_MAX);
	memset(big, 'a', sizeof(big));
	memcpy(big + SLC_HTTP_HEAD_MAX - 3, "\r\n\r\n", 4);
	cr_expect_eq(slc_http_head_end(big, sizeof(big)), -E2BIG);
}

Test(http, parses_an_otlp_request)
{
	struct slc_http_req r;

	cr_assert_eq(parse("POST /v1/logs?x=1 HTTP/1.1\r\nHost: localhost:4318\r\n"
	                   "content-type: Application/X-Protobuf; charset=binary\r\n"
	                   "Content-Length:  1234 \r\nContent-Encoding: gzip\r\n"
	                   "User-Agent: OTel-OTLP-Exporter-JavaScript/0.301.0\r\n\r\n",
	                   &r),
	             0);
	cr_expect_eq(r.method_len, 4);
	cr_expect_eq(r.path_len, 8);
	cr_expect_eq(r.minor, 1);
	cr_expect_eq(r.content_length, 1234);
	cr_expect_eq(r.ctype, SLC_HTTP_CTYPE_PROTOBUF);
	cr_expect_eq(r.encoding, SLC_HTTP_CENC_GZIP);
	cr_expect(r.keep_alive);
	cr_expect_not(r.chunked);
	cr_expect_not(r.expect_continue);
	cr_expect_eq(slc_http_otlp_status(&r, 4096), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 1233), 413);
}

Test(http, keep_alive_by_version_and_connection)
{
	struct slc_http_req r;

	cr_assert_eq(parse(OTLP_HEAD("Connection: close\r\n"), &r), 0);
	cr_expect_not(r.keep_alive);
	cr_assert_eq(parse(OTLP_HEAD("Connection: Upgrade, Close\r\n"), &r), 0);
	cr_expect_not(r.keep_alive);
	cr_assert_eq(parse("POST /v1/logs HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &r), 0);
	cr_expect_eq(r.minor, 0);
	cr_expect_not(r.keep_alive);
	cr_assert_eq(parse("POST /v1/logs HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r), 0);
	cr_expect(r.keep_alive);
	cr_assert_eq(parse("POST /v1/logs HTTP/1.1\nContent-Length: 5\n\n", &r), 0);
	cr_expect(r.keep_alive);
}

Test(http, chunked_json_expect_continue)
{
	struct slc_http_req r;

	cr_assert_eq(parse("POST /v1/logs HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n"
	                   "Content-Type: application/json\r\nExpect: 100-continue\r\n\r\n",
	                   &r),
	             0);
	cr_expect(r.chunked);
	cr_expect(r.expect_continue);
	cr_expect_eq(r.content_length, -1);
	cr_expect_eq(r.ctype, SLC_HTTP_CTYPE_JSON);
	cr_expect_eq(slc_http_otlp_status(&r, 10), 0);
}

Test(http, content_length_lists_of_one_value)
{
	struct slc_http_req r;

	cr_assert_eq(parse(OTLP_HEAD("Content-Length: 7, 7\r\nContent-Length: 7\r\n"), &r), 0);
	cr_expect_eq(r.content_length, 7);
	cr_assert_eq(parse(OTLP_HEAD("Content-Length: 9223372036854775807\r\n"), &r), 0);
	cr_expect_eq(r.content_length, INT64_MAX);
}

struct bad_head {
	const char *head;
	int status;
};

Test(http, bad_heads_get_their_status)
{
	static const struct bad_head cases[] = {
	        {"POST  /v1/logs HTTP/1.1\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1 \r\n\r\n", 400},
	        {"POST /v1/logs\r\n\r\n", 400},
	        {"P(ST /v1/logs HTTP/1.1\r\n\r\n", 400},
	        {"POST v1/logs HTTP/1.1\r\n\r\n", 400},
	        {"POST http://h/v1/logs HTTP/1.1\r\n\r\n", 400},
	        {"POST /v1/\x7flogs HTTP/1.1\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.x\r\n\r\n", 400},
	        {"POST /v1/logs http/1.1\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/2.0\r\n\r\n", 505},
	        {"POST /v1/logs HTTP/1.2\r\n\r\n", 505},
	        {"POST /v1/logs HTTP/1.1\r\nNoColon\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\n: empty name\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nHost : h\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nA: b\x01\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: +1\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: \r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400},
	        {"POST /v1/logs HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: "
	         "chunked\r\n\r\n",
	         400},
	        {"POST /v1/logs HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
	        {"POST /v1/logs HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
	         "Transfer-Encoding: chunked\r\n\r\n",
	         501},
	        {"POST /v1/logs HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", 417},
	};
	struct slc_http_req r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(parse(cases[i].head, &r), cases[i].status, "%s", cases[i].head);
}

Test(http, too_many_header_lines)
{
	char head[4096] = "POST /v1/logs HTTP/1.1\r\n";
	struct slc_http_req r;

	for (unsigned i = 0; i < SLC_HTTP_FIELDS_MAX; i++)
		strcat(head, "X: y\r\n");
	strcat(head, "\r\n");
	cr_expect_eq(parse(head, &r), 0);
	strcpy(head + strlen(head) - 2, "X: y\r\n\r\n");
	cr_expect_eq(parse(head, &r), 400);
}

Test(http, otlp_status_judges_path_method_type_length)
{
	struct slc_http_req r;

	cr_assert_eq(parse("POST /v1/traces HTTP/1.1\r\nContent-Length: 1\r\n\r\n", &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 404);
	cr_assert_eq(parse("POST /V1/LOGS HTTP/1.1\r\nContent-Length: 1\r\n\r\n", &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 404);
	cr_assert_eq(parse("GET /v1/logs HTTP/1.1\r\n\r\n", &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 405);
	cr_assert_eq(parse("post /v1/logs HTTP/1.1\r\n\r\n", &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 405);
	cr_assert_eq(parse("POST /v1/logs HTTP/1.1\r\nContent-Length: 1\r\n\r\n", &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 415);
	cr_assert_eq(parse(OTLP_HEAD("Content-Type: text/plain\r\nContent-Length: 1\r\n"), &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 415);
	cr_assert_eq(parse(OTLP_HEAD("Content-Encoding: br\r\nContent-Length: 1\r\n"), &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 415);
	cr_assert_eq(parse(OTLP_HEAD("Content-Encoding: identity\r\nContent-Length: 1\r\n"), &r),
	             0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 0);
	cr_assert_eq(parse(OTLP_HEAD(""), &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 411);
	cr_assert_eq(parse(OTLP_HEAD("Content-Length: 101\r\n"), &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 413);
	cr_assert_eq(parse(OTLP_HEAD("Content-Length: 100\r\n"), &r), 0);
	cr_expect_eq(slc_http_otlp_status(&r, 100), 0);
}

Test(http, response_heads)
{
	uint8_t out[256];
	int n;

	n = slc_http_response_head(out, sizeof(out), 200, "application/x-protobuf", 0, true, 0);
	cr_assert_gt(n, 0);
	cr_expect_eq(memcmp(out,
	                    "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
	                    "Content-Length: 0\r\n\r\n",
	                    (size_t)n),
	             0);
	n = slc_http_response_head(out, sizeof(out), 503, NULL, 0, false, 1);
	cr_assert_gt(n, 0);
	out[n] = 0;
	cr_expect_str_eq((char *)out, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
	                              "Connection: close\r\nRetry-After: 1\r\n\r\n");
	n = slc_http_response_head(out, sizeof(out), 405, NULL, 0, true, 0);
	cr_assert_gt(n, 0);
	out[n] = 0;
	cr_expect_str_eq((char *)out, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
	                              "Allow: POST\r\n\r\n");
	cr_expect_eq(slc_http_response_head(out, 20, 200, NULL, 0, true, 0), -ENOSPC);
	cr_expect_str_eq(slc_http_reason(413), "Content Too Large");
	cr_expect_str_eq(slc_http_reason(299), "Error");
}
