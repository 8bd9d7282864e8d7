/* SPDX-License-Identifier: MIT */
/* test_otlp_json.c: the OTLP/JSON logs decoder (uring/otlp_json.c): records, unescaped
 * bodies, keys, the names it accepts, hostile bodies. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_json.h"

struct walked {
	uint8_t *buf; /* the body, which the walk rewrites */
	struct slc_otlp_rec rec[16];
	unsigned n;
	int ret;
};

/* Checks text, then walks a copy of it (in a block of exactly its size) with key name
 * service.name. The check must not write, and must count what the walk hands out. */
static void
walk(const char *text, struct walked *w)
{
	uint32_t len = (uint32_t)strlen(text), count;
	char *before = strdup(text);

	cr_assert_not_null(before);
	w->buf = malloc(len ? len : 1);
	cr_assert_not_null(w->buf);
	memcpy(w->buf, text, len);
	cr_assert_eq(slc_otlp_json_check(w->buf, len, &count, NULL, NULL), 0, "check: %s", text);
	cr_assert_eq(memcmp(w->buf, before, len), 0, "the check wrote");
	free(before);

	struct slc_otlp_json_iter it;
	slc_otlp_json_iter_init(&it, w->buf, len, (const uint8_t *)"service.name", 12);
	w->n = 0;
	while ((w->ret = slc_otlp_json_next(&it, &w->rec[w->n])) == 1)
		cr_assert_lt(++w->n, 16);
	cr_expect_eq(w->ret, 0);
	cr_expect_eq(w->n, count, "the walk and the check disagree: %s", text);
	for (unsigned i = 0; i < w->n; i++) {
		const struct slc_otlp_rec *r = &w->rec[i];

		cr_expect(!r->body_len ||
		          (r->body >= w->buf && r->body + r->body_len <= w->buf + len));
		cr_expect(!r->key_len || (r->key >= w->buf && r->key + r->key_len <= w->buf + len));
	}
}

static bool
eq(const uint8_t *p, uint32_t n, const char *s)
{
	return n == strlen(s) && (!n || memcmp(p, s, n) == 0);
}

#define RES(svc)                                                                              \
	"\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":" \
	"\"" svc "\"}}],\"droppedAttributesCount\":0}"

Test(otlp_json, an_exporter_request)
{
	struct walked w;

	walk("{\"resourceLogs\":[{" RES(
	             "svc") ",\"scopeLogs\":[{\"scope\":{\"name\":\"lib\"},"
	                    "\"logRecords\":[{\"timeUnixNano\":\"1700000000000000001\","
	                    "\"severityNumber\":9,"
	                    "\"severityText\":\"INFO\",\"body\":{\"stringValue\":\"hello "
	                    "\\\"world\\\"\\n"
	                    "\\u00e9\\ud83d\\ude00\\/"
	                    "\\\\\"},\"attributes\":[],\"droppedAttributesCount\":0,"
	                    "\"traceId\":\"5b8efff798038103d269b633813fc60c\",\"spanId\":"
	                    "\"eee19b7ec3c1b174\"},"
	                    "{\"timeUnixNano\":2,\"body\":{\"stringValue\":\"second\"}}]}],"
	                    "\"schemaUrl\":\"\"}]}",
	     &w);
	cr_assert_eq(w.n, 2);
	cr_expect(eq(w.rec[0].body, w.rec[0].body_len,
	             "hello \"world\"\n\xc3\xa9\xf0\x9f\x98\x80/\\"));
	cr_expect_eq(w.rec[0].body_kind, SLC_OTLP_BODY_STRING);
	cr_expect(eq(w.rec[0].key, w.rec[0].key_len, "svc"));
	cr_expect_eq(w.rec[0].time_unix_nano, 1700000000000000001ull);
	cr_expect(eq(w.rec[1].body, w.rec[1].body_len, "second"));
	cr_expect_eq(w.rec[1].time_unix_nano, 2);
	cr_expect(eq(w.rec[1].key, w.rec[1].key_len, "svc"));
	free(w.buf);
}

Test(otlp_json, record_attribute_key_wins_and_raw_escapes)
{
	struct walked w;

	walk("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
	     "{\"body\":{\"stringValue\":\"a\"},\"attributes\":[{\"key\":\"service.name\","
	     "\"value\":{\"stringValue\":\"r\\u0041w\"}}]},"
	     "{\"body\":{\"stringValue\":\"b\"},\"attributes\":[{\"key\":\"service.name\","
	     "\"value\":{\"intValue\":\"3\"}},null]},"
	     "{\"body\":{\"stringValue\":\"c\"}}]}]," RES("res") "}]}",
	     &w);
	cr_assert_eq(w.n, 3);
	/* Keys are the raw bytes between the quotes, escapes as sent. */
	cr_expect(eq(w.rec[0].key, w.rec[0].key_len, "r\\u0041w"));
	/* A non-string attribute is no key; the resource (after its scopeLogs) gives one. */
	cr_expect(eq(w.rec[1].key, w.rec[1].key_len, "res"));
	cr_expect(eq(w.rec[2].key, w.rec[2].key_len, "res"));
	free(w.buf);
}

Test(otlp_json, other_bodies_are_their_json_text)
{
	struct walked w;

	walk("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":["
	     "{\"body\":{\"intValue\":\"5\"}},"
	     "{\"body\":{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"stringValue\":"
	     "\"v\\n\"}}]}}},"
	     "{\"body\":{}},{\"body\":null},{},"
	     "{\"body\":{\"stringValue\":\"\"}}]}]}]}",
	     &w);
	cr_assert_eq(w.n, 6);
	cr_expect_eq(w.rec[0].body_kind, SLC_OTLP_BODY_ANY);
	cr_expect(eq(w.rec[0].body, w.rec[0].body_len, "{\"intValue\":\"5\"}"));
	cr_expect_eq(w.rec[1].body_kind, SLC_OTLP_BODY_ANY);
	/* As sent: its strings are not unescaped. */
	cr_expect(eq(w.rec[1].body, w.rec[1].body_len,
	             "{\"kvlistValue\":{\"values\":[{\"key\":\"k\",\"value\":{\"stringValue\":"
	             "\"v\\n\"}}]}}"));
	for (unsigned i = 2; i < 5; i++) {
		cr_expect_eq(w.rec[i].body_kind, SLC_OTLP_BODY_NONE, "record %u", i);
		cr_expect_eq(w.rec[i].body_len, 0);
	}
	cr_expect_eq(w.rec[5].body_kind, SLC_OTLP_BODY_STRING);
	cr_expect_eq(w.rec[5].body_len, 0);
	free(w.buf);
}

Test(otlp_json, snake_case_unknown_members_nulls_and_whitespace)
{
	struct walked w;

	walk(" \r\n{ \"future\" : [ 1 , { \"x\" : [ ] } ] , \"resource_logs\" : [ null , {"
	     " \"scope_logs\" : [ { \"log_records\" : [ null , { \"body\" : { \"string_value\" :"
	     " \"snake\" } , \"new\" : -1.5e+3 } ] } , null ] } ] , \"scopeLogs\" : 7 }\t\n",
	     &w);
	cr_assert_eq(w.n, 1);
	cr_expect(eq(w.rec[0].body, w.rec[0].body_len, "snake"));
	cr_expect_eq(w.rec[0].key_len, 0);
	free(w.buf);

	walk("{}", &w);
	cr_expect_eq(w.n, 0);
	free(w.buf);
}

Test(otlp_json, lone_surrogates_become_the_replacement_character)
{
	struct walked w;

	walk("{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":{\"stringValue\":"
	     "\"a\\ud83dz\\ude00\"}}]}]}]}",
	     &w);
	cr_assert_eq(w.n, 1);
	cr_expect(eq(w.rec[0].body, w.rec[0].body_len, "a\xef\xbf\xbdz\xef\xbf\xbd"));
	free(w.buf);
}

static int
check_exact(const char *text, uint32_t len, const char **err)
{
	uint8_t *b = malloc(len ? len : 1);
	uint32_t count, off = UINT32_MAX;
	int ret;

	cr_assert_not_null(b);
	memcpy(b, text, len);
	ret = slc_otlp_json_check(b, len, &count, err, &off);
	if (ret)
		cr_expect(off < len || len == 0, "offset %u of %u", off, len);
	free(b);
	return ret;
}

struct hostile {
	const char *body;
	const char *err;
};

Test(otlp_json, hostile_bodies_are_refused_with_the_reason)
{
	static const struct hostile cases[] = {
	        {"", "not a JSON object"},
	        {"[]", "not a JSON object"},
	        {"\"x\"", "not a JSON object"},
	        {"{} x", "bytes after the JSON object"},
	        {"{}{}", "bytes after the JSON object"},
	        {"{\"a\" 1}", "':' expected"},
	        {"{\"a\":1,}", "member name expected"},
	        {"{\"a\":1 \"b\":2}", "',' or a closing bracket expected"},
	        {"{\"a\":[1,]}", "unexpected byte"},
	        {"{\"a\":tru}", "unexpected byte"},
	        {"{\"a\":01}", "',' or a closing bracket expected"},
	        {"{\"a\":-}", "malformed number"},
	        {"{\"a\":1.}", "malformed number"},
	        {"{\"a\":1e}", "malformed number"},
	        {"{\"a\":\"\\x\"}", "unknown escape"},
	        {"{\"a\":\"\\u12G4\"}", "\\u without four hex digits"},
	        {"{\"a\":\"\x01\"}", "control byte in a string"},
	        {"{\"a\":\"open}", "string not closed"},
	        {"{\"resourceLogs\":5}", "resourceLogs, scopeLogs or logRecords not an array"},
	        {"{\"resourceLogs\":[\"x\"]}",
	         "an element of resourceLogs, scopeLogs or logRecords not an object"},
	        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[1]}]}]}",
	         "an element of resourceLogs, scopeLogs or logRecords not an object"},
	        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"body\":\"s\"}]}]}]}",
	         "body not an object"},
	        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"attributes\":{}}]}]}]}",
	         "attributes not an array"},
	        {"{\"resourceLogs\":[{\"scopeLogs\":[{\"logRecords\":[{\"attributes\":[3]}]}]}]}",
	         "attribute not an object"},
	        {"{\"resourceLogs\":[{\"resource\":[]}]}", "resource not an object"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;

		cr_expect_eq(check_exact(cases[i].body, (uint32_t)strlen(cases[i].body), &err),
		             -EBADMSG, "%s", cases[i].body);
		cr_expect(err && strcmp(err, cases[i].err) == 0, "%s: err '%s', expected '%s'",
		          cases[i].body, err ? err : "(none)", cases[i].err);
	}
}

/* {"a":[[...]]} with the given number of arrays. */
static uint32_t
nested(char *out, unsigned arrays)
{
	uint32_t n = (uint32_t)sprintf(out, "{\"a\":");

	for (unsigned i = 0; i < arrays; i++)
		out[n++] = '[';
	for (unsigned i = 0; i < arrays; i++)
		out[n++] = ']';
	out[n++] = '}';
	return n;
}

Test(otlp_json, nesting_is_bounded)
{
	char deep[2 * SLC_OTLP_JSON_DEPTH_MAX + 16];
	const char *err = NULL;

	/* The object is one level, each array one more: 62 arrays reach the limit's edge. */
	cr_expect_eq(check_exact(deep, nested(deep, SLC_OTLP_JSON_DEPTH_MAX - 2), &err), 0);
	cr_expect_eq(check_exact(deep, nested(deep, SLC_OTLP_JSON_DEPTH_MAX - 1), &err), -EBADMSG);
	cr_expect_str_eq(err, "nested too deep");
}

/* Every cut of a valid body is refused: the object is never closed. */
Test(otlp_json, every_truncation_is_refused)
{
	static const char body[] = "{\"resourceLogs\":[{" RES(
	        "s\\u00e9") ",\"scopeLogs\":[{\"logRecords\":["
	                    "{\"timeUnixNano\":\"12\",\"body\":{\"stringValue\":\"x\\ty\"},"
	                    "\"flags\":1.5e-3},"
	                    "{\"body\":{\"boolValue\":true}}]}]}]}";

	cr_assert_eq(check_exact(body, sizeof(body) - 1, NULL), 0);
	for (uint32_t cut = 0; cut < sizeof(body) - 1; cut++)
		cr_expect_eq(check_exact(body, cut, NULL), -EBADMSG, "cut at %u", cut);
}
