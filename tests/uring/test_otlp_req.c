/* SPDX-License-Identifier: MIT */
/* test_otlp_req.c: an OTLP/HTTP logs request from head and body to records and response
 * (uring/otlp_req.c): each status the listener answers, in protobuf and in JSON. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_req.h"

/* ExportLogsServiceRequest{ResourceLogs{ScopeLogs{two LogRecords: "gz one", "gz two"}}}. */
static const uint8_t two_records[] = "\x0a\x1a\x12\x18\x12\x0a\x2a\x08\x0a\x06gz one"
                                     "\x12\x0a\x2a\x08\x0a\x06gz two";
/* The same, gzipped (Python's gzip.compress, mtime 0). */
static const uint8_t two_records_gz[] =
        "\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\x03\xe3\x92\x12\x92\x10\xe2\xd2\xe2\xe0\x62\x4b"
        "\xaf\x52\xc8\xcf\x4b\x85\xb3\x4b\xca\xf3\x01\x66\xe3\xe9\x41\x1c\x00\x00\x00";

static struct slc_gunzip *gz;
static uint8_t scratch[1024];
static uint8_t headbuf[512];

static void
setup(void)
{
	int err = 0;

	gz = slc_gunzip_create(&err);
	cr_assert_not_null(gz);
}

static void
teardown(void)
{
	slc_gunzip_destroy(gz);
}

static struct slc_http_req
head_of(const char *text)
{
	struct slc_http_req h;
	uint32_t n = (uint32_t)strlen(text);

	cr_assert_lt(n, sizeof(headbuf));
	memcpy(headbuf, text, n);
	cr_assert_eq(slc_http_req_parse(headbuf, n, &h), 0, "%s", text);
	return h;
}

/* Runs the body through and collects the records' bodies, "|"-separated, into got. */
static int
run(const char *head_text, const void *body, uint32_t len, size_t scratch_cap, char *got,
    const char **why)
{
	struct slc_http_req h = head_of(head_text);
	struct slc_otlp_req rq;
	struct slc_otlp_rec rec;
	uint8_t *b = malloc(len ? len : 1);
	uint32_t off;
	int st;

	cr_assert_not_null(b);
	memcpy(b, body, len);
	got[0] = 0;
	st = slc_otlp_req_body(&rq, &h, b, len, gz, scratch, scratch_cap, NULL, 0, why, &off);
	while (st == 0 && slc_otlp_req_next(&rq, &rec)) {
		strcat(got, "|");
		strncat(got, (const char *)rec.body, rec.body_len);
	}
	free(b);
	return st;
}

#define PB_HEAD   "POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n"
#define JSON_HEAD "POST /v1/logs HTTP/1.1\r\nContent-Type: application/json\r\n"

Test(otlp_req, protobuf_json_and_gzip_bodies_give_their_records, .init = setup, .fini = teardown)
{
	static const char json[] = "{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":"
	                           "{\"stringValue\":\"j\\\"1\"}}]}]}]}";
	const char *why;
	char got[256];

	cr_expect_eq(run(PB_HEAD "\r\n", two_records, sizeof(two_records) - 1, sizeof(scratch), got,
	                 &why),
	             0);
	cr_expect_str_eq(got, "|gz one|gz two");
	cr_expect_eq(run(PB_HEAD "Content-Encoding: gzip\r\n\r\n", two_records_gz,
	                 sizeof(two_records_gz) - 1, sizeof(scratch), got, &why),
	             0);
	cr_expect_str_eq(got, "|gz one|gz two");
	cr_expect_eq(run(JSON_HEAD "\r\n", json, sizeof(json) - 1, sizeof(scratch), got, &why), 0);
	cr_expect_str_eq(got, "|j\"1");
}

Test(otlp_req, bodies_refused_with_their_status, .init = setup, .fini = teardown)
{
	const char *why;
	char got[256];

	/* Not protobuf: 400 with the decoder's reason, and no record handed out. */
	cr_expect_eq(run(PB_HEAD "\r\n", "\x0b", 1, sizeof(scratch), got, &why), 400);
	cr_expect_str_eq(why, "group wire type");
	cr_expect_str_eq(got, "");
	cr_expect_eq(run(JSON_HEAD "\r\n", "{\"a\":}", 6, sizeof(scratch), got, &why), 400);
	cr_expect_str_eq(why, "unexpected byte");
	/* Said gzip, is not: 400; inflates past the scratch memory: 413. */
	cr_expect_eq(run(PB_HEAD "Content-Encoding: gzip\r\n\r\n", two_records,
	                 sizeof(two_records) - 1, sizeof(scratch), got, &why),
	             400);
	cr_expect_eq(run(PB_HEAD "Content-Encoding: gzip\r\n\r\n", two_records_gz,
	                 sizeof(two_records_gz) - 1, 10, got, &why),
	             413);
	cr_expect_str_eq(why, "inflated body over the limit");
	/* Another type or encoding (the head's judgement stops these earlier; this holds too). */
	cr_expect_eq(run("POST /v1/logs HTTP/1.1\r\nContent-Type: text/plain\r\n\r\n", "x", 1,
	                 sizeof(scratch), got, &why),
	             415);
	cr_expect_eq(
	        run(PB_HEAD "Content-Encoding: br\r\n\r\n", "x", 1, sizeof(scratch), got, &why),
	        415);
}

/* The response's head up to the empty line, and its body after it. */
static void
split(const uint8_t *out, int n, char *head, uint8_t **body, size_t *body_len)
{
	const char *end;

	cr_assert_gt(n, 0);
	end = memmem(out, (size_t)n, "\r\n\r\n", 4);
	cr_assert_not_null(end);
	memcpy(head, out, (size_t)(end + 4 - (const char *)out));
	head[end + 4 - (const char *)out] = 0;
	*body = (uint8_t *)end + 4;
	*body_len = (size_t)n - (size_t)(*body - out);
}

Test(otlp_req, responses_as_the_specification_says)
{
	static uint8_t out[1024];
	char head[512];
	uint8_t *body;
	size_t blen;
	int n;

	/* 200, everything taken: an empty ExportLogsServiceResponse, or {}. */
	n = slc_otlp_req_response(out, sizeof(out), 200, SLC_HTTP_CTYPE_PROTOBUF, 0, NULL, true, 0);
	split(out, n, head, &body, &blen);
	cr_expect_str_eq(head, "HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
	                       "Content-Length: 0\r\n\r\n");
	n = slc_otlp_req_response(out, sizeof(out), 200, SLC_HTTP_CTYPE_JSON, 0, "", true, 0);
	split(out, n, head, &body, &blen);
	cr_expect_eq(blen, 2);
	cr_expect_eq(memcmp(body, "{}", 2), 0);

	/* 200 with some records refused: partial success. */
	n = slc_otlp_req_response(out, sizeof(out), 200, SLC_HTTP_CTYPE_PROTOBUF, 2, "too big",
	                          true, 0);
	split(out, n, head, &body, &blen);
	cr_expect_eq(blen, 13);
	cr_expect_eq(memcmp(body, "\x0a\x0b\x08\x02\x12\x07too big", 13), 0);
	n = slc_otlp_req_response(out, sizeof(out), 200, SLC_HTTP_CTYPE_JSON, 2, "too \"big\"",
	                          true, 0);
	split(out, n, head, &body, &blen);
	body[blen] = 0;
	cr_expect_str_eq((char *)body, "{\"partialSuccess\":{\"rejectedLogRecords\":\"2\","
	                               "\"errorMessage\":\"too \\\"big\\\"\"}}");

	/* 400: a google.rpc.Status with the reason (JSON escapes it). */
	n = slc_otlp_req_response(out, sizeof(out), 400, SLC_HTTP_CTYPE_JSON, 0,
	                          "\\u without four hex digits", false, 0);
	split(out, n, head, &body, &blen);
	body[blen] = 0;
	cr_expect_str_eq((char *)body,
	                 "{\"code\":3,\"message\":\"\\\\u without four hex digits\"}");
	cr_expect(strstr(head, "HTTP/1.1 400 Bad Request\r\n") == head);
	cr_expect_not_null(strstr(head, "Connection: close\r\n"));
	n = slc_otlp_req_response(out, sizeof(out), 400, SLC_HTTP_CTYPE_NONE, 0, "bad", true, 0);
	split(out, n, head, &body, &blen);
	cr_expect_eq(blen, 7);
	cr_expect_eq(memcmp(body,
	                    "\x08\x03\x12\x03"
	                    "bad",
	                    7),
	             0);

	/* 503 with Retry-After: the pools are full. */
	n = slc_otlp_req_response(out, sizeof(out), 503, SLC_HTTP_CTYPE_PROTOBUF, 0, "pools full",
	                          true, 1);
	split(out, n, head, &body, &blen);
	cr_expect(strstr(head, "HTTP/1.1 503 Service Unavailable\r\n") == head);
	cr_expect_not_null(strstr(head, "Retry-After: 1\r\n"));
	cr_expect_eq(body[0], 0x08);
	cr_expect_eq(body[1], 14);

	/* A long message is cut, and the whole still fits 512 bytes. */
	char long_msg[2000];
	memset(long_msg, '"', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = 0;
	n = slc_otlp_req_response(out, 512, 413, SLC_HTTP_CTYPE_JSON, 0, long_msg, false, 0);
	cr_expect_gt(n, 0);
	cr_expect_leq(n, 512);
	split(out, n, head, &body, &blen);
	cr_expect_eq(body[blen - 1], '}');
	cr_expect_eq(slc_otlp_req_response(out, 511, 200, SLC_HTTP_CTYPE_JSON, 0, NULL, true, 0),
	             -ENOSPC);
}
