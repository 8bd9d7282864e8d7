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

/* Feeds body in pieces of step bytes; the decoded body into out, *out_len; the status of
 * the last feed (or 0), and *used the bytes consumed in all. */
static int
chunked(const char *body, uint32_t step, uint64_t max_body, char *out, uint32_t *out_len,
        uint32_t *used, bool *done)
{
	struct slc_http_chunked st = {0};
	struct slc_http_span spans[2];
	uint32_t len = (uint32_t)strlen(body), p = 0, n;

	*out_len = 0;
	*used = 0;
	while (p < len && !st.done) {
		uint32_t piece = len - p < step ? len - p : step, q = 0;
		uint8_t *b = malloc(piece);

		cr_assert_not_null(b);
		memcpy(b, body + p, piece);
		while (q < piece && !st.done) {
			int ret = slc_http_chunked_feed(&st, b + q, piece - q, max_body, spans, 2,
			                                &n);
			if (ret < 0) {
				free(b);
				*done = false;
				return ret;
			}
			for (uint32_t i = 0; i < n; i++) {
				cr_assert_gt(spans[i].len, 0);
				cr_assert_leq(spans[i].off + spans[i].len, piece - q);
				memcpy(out + *out_len, b + q + spans[i].off, spans[i].len);
				*out_len += spans[i].len;
			}
			q += (uint32_t)ret;
		}
		free(b);
		p += q;
		*used = p;
	}
	*done = st.done;
	return 0;
}

Test(http, chunked_bodies_in_any_pieces)
{
	static const char body[] = "5\r\nhello\r\n7;ext=\"v\"\r\n, world\r\n10\n0123456789abcdef\n"
	                           "0\r\nTrailer: x\r\n\r\nNEXT";
	char out[64];
	uint32_t n, used;
	bool done;

	for (uint32_t step = 1; step <= sizeof(body); step++) {
		cr_assert_eq(chunked(body, step, 100, out, &n, &used, &done), 0, "step %u", step);
		cr_expect(done, "step %u", step);
		cr_expect_eq(n, 28, "step %u", step);
		cr_expect_eq(memcmp(out, "hello, world0123456789abcdef", 28), 0, "step %u", step);
		/* The bytes after the body are the next request's: not consumed. */
		cr_expect_eq(used, sizeof(body) - 1 - 4, "step %u", step);
	}
}

Test(http, chunked_bodies_refused)
{
	static const struct {
		const char *body;
		int ret;
	} cases[] = {
	        {"x\r\n", -EBADMSG},
	        {"\r\n", -EBADMSG},
	        {";ext\r\n", -EBADMSG},
	        {"5\rX\n", -EBADMSG},
	        {"1000000000000000\r\n", -EBADMSG},
	        {"3\r\nabcX\r\n", -EBADMSG},
	        {"3\r\nabc\rX", -EBADMSG},
	        {"0\r\n\rX", -EBADMSG},
	        {"65\r\n", -EFBIG}, /* 101 bytes: over the limit of 100, before any arrives */
	        {"64\r\n", 0},      /* 100: not */
	        {"32\r\n", 0},
	};
	char out[256];
	uint32_t n, used;
	bool done;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(chunked(cases[i].body, 64, 100, out, &n, &used, &done), cases[i].ret,
		             "%s", cases[i].body);
	/* The limit counts the whole body: 50 + 51 is over 100. */
	cr_expect_eq(chunked("32\r\n"
	                     "01234567890123456789012345678901234567890123456789\r\n"
	                     "33\r\n",
	                     7, 100, out, &n, &used, &done),
	             -EFBIG);
}

/* Trailer fields, however many, are bounded together by SLC_HTTP_HEAD_MAX bytes (as the
 * head is): a stream of short trailers past it is refused with -E2BIG (431), one just
 * within it is taken. */
Test(http, chunked_trailers_bounded_in_total)
{
	const uint32_t line = 8; /* "T: 1234\n" */
	uint32_t lines = SLC_HTTP_HEAD_MAX / line, n, used;
	char *body = malloc(3 + (size_t)(lines + 2) * line + 2), out[8];
	size_t p = 0;
	bool done;

	cr_assert_not_null(body);
	memcpy(body, "0\r\n", 3);
	p = 3;
	/* lines * 8 == SLC_HTTP_HEAD_MAX bytes of trailers, then the empty line: within. */
	for (uint32_t i = 0; i < lines - 1; i++, p += line)
		memcpy(body + p, "T: 1234\n", line);
	memcpy(body + p, "T: 123\r\n\r\n", 10);
	body[p + 10] = '\0';
	cr_expect_eq(chunked(body, 1000, 100, out, &n, &used, &done), 0);
	cr_expect(done);
	/* One more trailer line: over. */
	for (uint32_t i = 0; i < 3; i++, p += line)
		memcpy(body + p, "T: 1234\n", line);
	memcpy(body + p, "\n", 2);
	cr_expect_eq(chunked(body, 1000, 100, out, &n, &used, &done), -E2BIG);
	cr_expect_not(done);
	free(body);
}

/* A head measured a byte at a time, each scan from the previous length less 3 (as the
 * connection does), ends where a whole scan says, whatever its line ends. */
Test(http, head_end_from_resumes_a_byte_at_a_time)
{
	static const char *const heads[] = {
	        "GET / HTTP/1.1\r\nA: b\r\n\r\nbody",
	        "GET / HTTP/1.1\nA: b\n\nbody",
	        "GET / HTTP/1.1\r\nA: b\n\r\nbody",
	        "GET / HTTP/1.1\nA: b\r\n\nbody",
	        "G\n\n",
	        "\r\n\r\n",
	};

	for (size_t h = 0; h < sizeof(heads) / sizeof(heads[0]); h++) {
		const uint8_t *b = (const uint8_t *)heads[h];
		uint32_t len = (uint32_t)strlen(heads[h]), old = 0;
		int want = slc_http_head_end(b, len), end = 0;

		cr_assert_gt(want, 0, "%s", heads[h]);
		for (uint32_t fill = 1; fill <= len && end == 0; old = fill++) {
			end = slc_http_head_end_from(b, fill, old < 3 ? 0 : old - 3);
			cr_expect(end == 0 || end == want, "%s at %u: %d", heads[h], fill, end);
		}
		cr_expect_eq(end, want, "%s", heads[h]);
	}
	/* Past the limit a resumed scan refuses as a whole one does. */
	static uint8_t big[SLC_HTTP_HEAD_MAX];
	memset(big, 'a', sizeof(big));
	cr_expect_eq(slc_http_head_end_from(big, SLC_HTTP_HEAD_MAX, SLC_HTTP_HEAD_MAX - 4), -E2BIG);
}
