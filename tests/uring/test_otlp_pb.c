/* SPDX-License-Identifier: MIT */
/* test_otlp_pb.c: the OTLP logs protobuf decoder (uring/otlp_pb.c): records, keys, hostile
 * bodies, the response body. Bodies are built here with a small encoder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_pb.h"

struct enc {
	uint8_t b[8192];
	uint32_t n;
};

static void
e_raw(struct enc *e, const void *p, size_t n)
{
	cr_assert(e->n + n <= sizeof(e->b));
	memcpy(e->b + e->n, p, n);
	e->n += (uint32_t)n;
}

static void
e_varint(struct enc *e, uint64_t v)
{
	uint8_t b;

	while (v >= 0x80) {
		b = (uint8_t)(v | 0x80);
		e_raw(e, &b, 1);
		v >>= 7;
	}
	b = (uint8_t)v;
	e_raw(e, &b, 1);
}

static void
e_tag(struct enc *e, uint32_t num, unsigned wt)
{
	e_varint(e, (uint64_t)num << 3 | wt);
}

static void
e_bytes(struct enc *e, uint32_t num, const void *p, size_t n)
{
	e_tag(e, num, 2);
	e_varint(e, n);
	e_raw(e, p, n);
}

static void
e_str(struct enc *e, uint32_t num, const char *s)
{
	e_bytes(e, num, s, strlen(s));
}

static void
e_msg(struct enc *e, uint32_t num, const struct enc *sub)
{
	e_bytes(e, num, sub->b, sub->n);
}

static void
e_fixed64(struct enc *e, uint32_t num, uint64_t v)
{
	e_tag(e, num, 1);
	for (unsigned i = 0; i < 8; i++) {
		uint8_t b = (uint8_t)(v >> (8 * i));
		e_raw(e, &b, 1);
	}
}

/* KeyValue{key, AnyValue{string_value}} as field num of e. */
static void
e_attr(struct enc *e, uint32_t num, const char *key, const char *val)
{
	struct enc any = {0}, kv = {0};

	e_str(&any, 1, val);
	e_str(&kv, 1, key);
	e_msg(&kv, 2, &any);
	e_msg(e, num, &kv);
}

/* A LogRecord with a string body, a time, and optionally a string attribute. */
static void
e_record(struct enc *e, const char *body, uint64_t t, const char *akey, const char *aval)
{
	struct enc any = {0}, rec = {0};

	e_fixed64(&rec, 1, t);
	e_str(&any, 1, body);
	e_msg(&rec, 5, &any);
	if (akey)
		e_attr(&rec, 6, akey, aval);
	e_msg(e, 2, &rec);
}

/* A ResourceLogs with a service.name resource attribute (svc may be NULL) and the given
 * ScopeLogs (already encoded as fields 2). */
static void
e_resource_logs(struct enc *req, const char *svc, const struct enc *scopes)
{
	struct enc res = {0}, rl = {0};

	if (svc) {
		e_attr(&res, 1, "service.name", svc);
		e_msg(&rl, 1, &res);
	}
	e_raw(&rl, scopes->b, scopes->n);
	e_msg(req, 1, &rl);
}

/* Walks buf with key name "service.name" into recs; returns the walk's last result. */
static int
walk(const struct enc *e, struct slc_otlp_rec *recs, unsigned max, unsigned *n)
{
	struct slc_otlp_pb_iter it;
	int ret;

	slc_otlp_pb_iter_init(&it, e->b, e->n, (const uint8_t *)"service.name", 12);
	*n = 0;
	while ((ret = slc_otlp_pb_next(&it, &recs[*n < max ? *n : max - 1])) == 1)
		(*n)++;
	return ret;
}

static bool
rec_is(const struct slc_otlp_rec *r, const char *body, const char *key)
{
	/* memcmp only with bytes to compare: an empty body's pointer may be NULL. */
	return r->body_len == strlen(body) &&
	       (!r->body_len || memcmp(r->body, body, r->body_len) == 0) &&
	       r->key_len == (key ? strlen(key) : 0) &&
	       (!r->key_len || memcmp(r->key, key, r->key_len) == 0);
}

Test(otlp_pb, records_in_order_across_resources_and_scopes)
{
	struct enc req = {0}, sl1 = {0}, sl2 = {0}, scopes1 = {0}, sl3 = {0}, scopes2 = {0};
	struct slc_otlp_rec r[8];
	uint32_t count;
	unsigned n;

	e_record(&sl1, "a", 1, NULL, NULL);
	e_record(&sl1, "bb", 2, NULL, NULL);
	e_record(&sl2, "ccc", 3, NULL, NULL);
	e_msg(&scopes1, 2, &sl1);
	e_msg(&scopes1, 2, &sl2);
	e_resource_logs(&req, "svc1", &scopes1);
	e_record(&sl3, "dddd", 4, NULL, NULL);
	e_msg(&scopes2, 2, &sl3);
	e_resource_logs(&req, "svc2", &scopes2);

	cr_assert_eq(walk(&req, r, 8, &n), 0);
	cr_assert_eq(n, 4);
	cr_expect(rec_is(&r[0], "a", "svc1"));
	cr_expect(rec_is(&r[1], "bb", "svc1"));
	cr_expect(rec_is(&r[2], "ccc", "svc1"));
	cr_expect(rec_is(&r[3], "dddd", "svc2"));
	for (unsigned i = 0; i < 4; i++) {
		cr_expect_eq(r[i].time_unix_nano, i + 1);
		cr_expect_eq(r[i].body_kind, SLC_OTLP_BODY_STRING);
		/* Zero-copy: the body lies inside the request. */
		cr_expect(r[i].body >= req.b && r[i].body + r[i].body_len <= req.b + req.n);
	}
	cr_assert_eq(slc_otlp_pb_check(req.b, req.n, &count, NULL, NULL), 0);
	cr_expect_eq(count, 4);
}

Test(otlp_pb, record_attribute_key_wins_over_resource_attribute)
{
	struct enc req = {0}, sl = {0}, scopes = {0}, any = {0}, kv = {0}, rec = {0};
	struct slc_otlp_rec r[8];
	unsigned n;

	e_record(&sl, "one", 0, "service.name", "rec");
	e_record(&sl, "two", 0, NULL, NULL);
	e_record(&sl, "three", 0, "other", "x");
	/* A non-string attribute of the key's name is no key: the resource's is taken. */
	e_varint(&any, 3 << 3 | 0);
	e_varint(&any, 42);
	e_str(&kv, 1, "service.name");
	e_msg(&kv, 2, &any);
	e_msg(&rec, 6, &kv);
	e_msg(&sl, 2, &rec);
	e_msg(&scopes, 2, &sl);
	e_resource_logs(&req, "svc", &scopes);

	cr_assert_eq(walk(&req, r, 8, &n), 0);
	cr_assert_eq(n, 4);
	cr_expect(rec_is(&r[0], "one", "rec"));
	cr_expect(rec_is(&r[1], "two", "svc"));
	cr_expect(rec_is(&r[2], "three", "svc"));
	cr_expect(rec_is(&r[3], "", "svc"));
	cr_expect_eq(r[3].body_kind, SLC_OTLP_BODY_NONE);
}

Test(otlp_pb, no_key_without_key_name_or_attribute)
{
	struct enc req = {0}, sl = {0}, scopes = {0};
	struct slc_otlp_pb_iter it;
	struct slc_otlp_rec r;

	e_record(&sl, "x", 0, "service.name", "rec");
	e_msg(&scopes, 2, &sl);
	e_resource_logs(&req, NULL, &scopes);
	slc_otlp_pb_iter_init(&it, req.b, req.n, NULL, 0);
	cr_assert_eq(slc_otlp_pb_next(&it, &r), 1);
	cr_expect_eq(r.key_len, 0);
	cr_expect_null(r.key);
	slc_otlp_pb_iter_init(&it, req.b, req.n, (const uint8_t *)"host.name", 9);
	cr_assert_eq(slc_otlp_pb_next(&it, &r), 1);
	cr_expect_eq(r.key_len, 0);
	cr_expect_eq(slc_otlp_pb_next(&it, &r), 0);
}

/* protobuf fields may come in any order: the resource after its scope_logs still keys them. */
Test(otlp_pb, resource_after_scope_logs_still_keys_them)
{
	struct enc req = {0}, sl = {0}, rl = {0}, res = {0};
	struct slc_otlp_rec r[2];
	unsigned n;

	e_record(&sl, "late", 0, NULL, NULL);
	e_msg(&rl, 2, &sl);
	e_attr(&res, 1, "service.name", "svc");
	e_msg(&rl, 1, &res);
	e_msg(&req, 1, &rl);
	cr_assert_eq(walk(&req, r, 2, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect(rec_is(&r[0], "late", "svc"));
}

Test(otlp_pb, other_body_kinds_are_their_anyvalue_bytes)
{
	struct enc req = {0}, sl = {0}, scopes = {0}, any = {0}, rec = {0}, arr = {0}, inner = {0};
	struct slc_otlp_rec r[2];
	unsigned n;

	/* body: AnyValue{array_value: [ "x", 7 ]} */
	e_str(&inner, 1, "x");
	e_msg(&arr, 1, &inner);
	memset(&inner, 0, sizeof(inner));
	e_tag(&inner, 3, 0);
	e_varint(&inner, 7);
	e_msg(&arr, 1, &inner);
	e_msg(&any, 5, &arr);
	e_msg(&rec, 5, &any);
	e_msg(&sl, 2, &rec);
	e_msg(&scopes, 2, &sl);
	e_resource_logs(&req, NULL, &scopes);
	cr_assert_eq(walk(&req, r, 2, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect_eq(r[0].body_kind, SLC_OTLP_BODY_ANY);
	cr_assert_eq(r[0].body_len, any.n);
	cr_expect_eq(memcmp(r[0].body, any.b, any.n), 0);
}

Test(otlp_pb, unknown_fields_of_every_wire_type_are_skipped)
{
	struct enc req = {0}, sl = {0}, scopes = {0}, rec = {0}, any = {0}, unk = {0};
	struct slc_otlp_rec r[2];
	unsigned n;

	/* One unknown field of each valid wire type, put at every level. */
	e_tag(&unk, 99, 0);
	e_varint(&unk, 300);
	e_fixed64(&unk, 98, 1);
	e_str(&unk, 1000, "deprecated instrumentation_library_logs");
	e_tag(&unk, 97, 5);
	e_raw(&unk, "\1\2\3\4", 4);

	e_raw(&any, unk.b, unk.n);
	e_str(&any, 1, "body");
	e_raw(&rec, unk.b, unk.n);
	e_msg(&rec, 5, &any);
	e_raw(&sl, unk.b, unk.n);
	e_msg(&sl, 2, &rec);
	e_raw(&scopes, unk.b, unk.n);
	e_msg(&scopes, 2, &sl);
	e_raw(&req, unk.b, unk.n);
	e_resource_logs(&req, "svc", &scopes);
	e_raw(&req, unk.b, unk.n);
	cr_assert_eq(walk(&req, r, 2, &n), 0);
	cr_assert_eq(n, 1);
	cr_expect(rec_is(&r[0], "body", "svc"));
}

Test(otlp_pb, empty_body_is_a_request_of_no_records)
{
	uint32_t count = 99;

	cr_expect_eq(slc_otlp_pb_check((const uint8_t *)"", 0, &count, NULL, NULL), 0);
	cr_expect_eq(count, 0);
}

/* A body in a buffer of exactly its size, so that ASan sees any read past its end. */
static int
check_exact(const uint8_t *b, uint32_t n, uint32_t *count, const char **err, uint32_t *err_off)
{
	uint8_t *copy = malloc(n ? n : 1);
	int ret;

	cr_assert_not_null(copy);
	memcpy(copy, b, n);
	ret = slc_otlp_pb_check(copy, n, count, err, err_off);
	free(copy);
	return ret;
}

struct hostile {
	const char *name;
	const uint8_t *b;
	uint32_t n;
	const char *err;
};

#define H(name_, bytes_, err_)                                             \
	{                                                                  \
		name_, (const uint8_t *)(bytes_), sizeof(bytes_) - 1, err_ \
	}

Test(otlp_pb, hostile_bodies_are_refused_with_the_reason)
{
	static const struct hostile cases[] = {
	        H("varint cut", "\x0a\x80", "varint cut short"),
	        H("tag cut", "\x80", "varint cut short"),
	        H("11-byte varint", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
	          "varint over 64 bits"),
	        H("10th byte over 1", "\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x02",
	          "varint over 64 bits"),
	        H("length past end", "\x0a\x05\x00", "length past the end of its message"),
	        H("huge length", "\x0a\xff\xff\xff\xff\x0f", "length past the end of its message"),
	        H("field 0", "\x02\x00", "field number out of range"),
	        H("group start", "\x0b", "group wire type"),
	        H("group end", "\x0c", "group wire type"),
	        H("wire type 7", "\x0f", "undefined wire type"),
	        H("fixed64 cut", "\x09\x01\x02", "fixed-size field cut short"),
	        H("resource_logs as varint", "\x08\x01", "wrong wire type for a known field"),
	        /* ResourceLogs{ScopeLogs{LogRecord{trace_id: 5 bytes}}} */
	        H("short trace_id", "\x0a\x0b\x12\x09\x12\x07\x4a\x05\x01\x02\x03\x04\x05",
	          "trace_id not 16 bytes"),
	        H("short span_id", "\x0a\x09\x12\x07\x12\x05\x52\x03\x01\x02\x03",
	          "span_id not 8 bytes"),
	        /* LogRecord{time_unix_nano as varint} */
	        H("time as varint", "\x0a\x06\x12\x04\x12\x02\x08\x01",
	          "wrong wire type for a known field"),
	        /* A record whose length runs past its ScopeLogs (though not past the body). */
	        H("record past its scope", "\x0a\x04\x12\x02\x12\x05\x00\x00\x00\x00\x00",
	          "length past the end of its message"),
	        /* Resource{attributes: KeyValue{value as fixed32}} */
	        H("attribute value as fixed32",
	          "\x0a\x0c\x0a\x0a\x0a\x08\x0a\x01k\x15\x00\x00\x00\x00",
	          "wrong wire type for a known field"),
	        H("attribute value cut", "\x0a\x0a\x0a\x08\x0a\x06\x0a\x01k\x15\x00\x00",
	          "fixed-size field cut short"),
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *err = NULL;
		uint32_t count, off = UINT32_MAX;

		cr_expect_eq(check_exact(cases[i].b, cases[i].n, &count, &err, &off), -EBADMSG,
		             "%s", cases[i].name);
		/* The offset is where the offending field starts: inside the body, for the log. */
		cr_expect_lt(off, cases[i].n, "%s: offset %u", cases[i].name, off);
		cr_expect(err && strcmp(err, cases[i].err) == 0, "%s: err '%s', expected '%s'",
		          cases[i].name, err ? err : "(none)", cases[i].err);
	}
}

/* Every prefix of a valid body decodes into no more records than the whole, or is refused;
 * a cut inside a nested message is always refused. */
Test(otlp_pb, every_truncation_is_refused_or_a_smaller_request)
{
	struct enc req = {0}, sl = {0}, scopes = {0};
	uint32_t whole, count;

	e_record(&sl, "first record", 1, "k", "v");
	e_record(&sl, "second", 2, NULL, NULL);
	e_msg(&scopes, 2, &sl);
	e_resource_logs(&req, "svc1", &scopes);
	e_resource_logs(&req, "svc2", &scopes);
	cr_assert_eq(slc_otlp_pb_check(req.b, req.n, &whole, NULL, NULL), 0);
	cr_assert_eq(whole, 4);

	uint32_t rl1_end = req.n / 2; /* the two ResourceLogs are the same size */
	for (uint32_t cut = 0; cut < req.n; cut++) {
		int ret = check_exact(req.b, cut, &count, NULL, NULL);

		if (cut == 0 || cut == rl1_end) {
			cr_expect_eq(ret, 0, "cut at %u", cut);
			cr_expect_eq(count, cut ? 2 : 0, "cut at %u", cut);
		} else {
			cr_expect_eq(ret, -EBADMSG, "cut at %u", cut);
		}
	}
}

/* body: AnyValue nested depth times through array_value, a string at the bottom. */
static void
e_nested_body_request(struct enc *req, unsigned depth)
{
	static struct enc a, b;
	struct enc sl = {0}, scopes = {0}, rec = {0}, arr;

	memset(&a, 0, sizeof(a));
	e_str(&a, 1, "deep");
	for (unsigned i = 0; i < depth; i++) {
		memset(&arr, 0, sizeof(arr));
		e_msg(&arr, 1, &a);
		memset(&b, 0, sizeof(b));
		e_msg(&b, 5, &arr);
		a = b;
	}
	e_msg(&rec, 5, &a);
	e_msg(&sl, 2, &rec);
	e_msg(&scopes, 2, &sl);
	memset(req, 0, sizeof(*req));
	e_resource_logs(req, NULL, &scopes);
}

Test(otlp_pb, nesting_is_bounded)
{
	struct enc req;
	const char *err = NULL;
	uint32_t count;

	e_nested_body_request(&req, SLC_OTLP_PB_DEPTH_MAX - 1);
	cr_expect_eq(check_exact(req.b, req.n, &count, &err, NULL), 0);
	cr_expect_eq(count, 1);
	e_nested_body_request(&req, SLC_OTLP_PB_DEPTH_MAX);
	cr_expect_eq(check_exact(req.b, req.n, &count, &err, NULL), -EBADMSG);
	cr_expect_str_eq(err, "values nested too deep");
}

Test(otlp_pb, an_error_is_sticky_and_records_before_it_were_counted)
{
	struct enc req = {0}, sl = {0}, scopes = {0};
	struct slc_otlp_pb_iter it;
	struct slc_otlp_rec r;

	e_record(&sl, "ok", 0, NULL, NULL);
	e_msg(&scopes, 2, &sl);
	e_resource_logs(&req, NULL, &scopes);
	e_raw(&req, "\x0b", 1);
	slc_otlp_pb_iter_init(&it, req.b, req.n, NULL, 0);
	cr_expect_eq(slc_otlp_pb_next(&it, &r), 1);
	cr_expect_eq(slc_otlp_pb_next(&it, &r), -EBADMSG);
	cr_expect_eq(it.err_off, req.n - 1);
	cr_expect_eq(slc_otlp_pb_next(&it, &r), -EBADMSG);
	cr_expect_eq(it.records, 1);
}

Test(otlp_pb, response_bodies)
{
	uint8_t out[64];
	int n;

	cr_expect_eq(slc_otlp_pb_response(out, sizeof(out), 0, NULL), 0);
	cr_expect_eq(slc_otlp_pb_response(out, sizeof(out), 0, ""), 0);
	cr_expect_eq(slc_otlp_pb_response(out, 31, 3, "x"), -ENOSPC);

	/* partial_success{rejected_log_records: 3, error_message: "pool full"} */
	n = slc_otlp_pb_response(out, sizeof(out), 3, "pool full");
	static const uint8_t want[] = "\x0a\x0d\x08\x03\x12\x09pool full";
	cr_assert_eq(n, (int)sizeof(want) - 1);
	cr_expect_eq(memcmp(out, want, (size_t)n), 0);

	/* A message longer than the room is cut, and what is written still decodes. */
	char long_msg[100];
	memset(long_msg, 'm', sizeof(long_msg) - 1);
	long_msg[sizeof(long_msg) - 1] = 0;
	n = slc_otlp_pb_response(out, sizeof(out), 300, long_msg);
	cr_assert_gt(n, 0);
	cr_assert_leq(n, (int)sizeof(out));
	cr_expect_eq(out[0], 0x0a);
	cr_expect_eq(out[1], n - 2);
	cr_expect_eq(out[2], 0x08);
	cr_expect_eq(out[3], (300 & 0x7f) | 0x80);
	cr_expect_eq(out[4], 300 >> 7);
	cr_expect_eq(out[5], 0x12);
	cr_expect_eq(out[6], n - 7);
}
