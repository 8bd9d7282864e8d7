/* SPDX-License-Identifier: MIT */
/* test_otlp_client.c: what a real client sends (the OpenTelemetry JavaScript SDK's OTLP/HTTP
 * log exporters, protobuf, JSON and gzipped protobuf: tests/daemon/clients/otlp) decodes
 * intact, record by record, with its keys. The ctest fixture otlp_client_capture runs the
 * client first. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gunzip.h"
#include "otlp_json.h"
#include "otlp_pb.h"

#ifndef SLC_OTLP_CAPTURE
#error "SLC_OTLP_CAPTURE: the folder capture.sh writes into (tests/CMakeLists.txt)"
#endif

/* The whole file into a block of exactly its size; NULL when it does not exist. */
static uint8_t *
slurp(const char *path, uint32_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *b;
	long n;

	if (!f)
		return NULL;
	cr_assert_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	cr_assert_geq(n, 0);
	rewind(f);
	b = malloc(n ? (size_t)n : 1);
	cr_assert_not_null(b);
	cr_assert_eq(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (uint32_t)n;
	return b;
}

struct expected {
	uint8_t *buf;
	uint32_t len;
	uint32_t pos;  /* the next body's length prefix */
	uint32_t next; /* its index */
};

/* The registry is reachable here and in CI: when the capture could not install the
 * client, the test fails and says why. */
static void
fail_if_unreachable(void)
{
	uint32_t n;
	uint8_t *why = slurp(SLC_OTLP_CAPTURE "/../registry-unreachable", &n);

	cr_assert_null(why, "the npm registry is unreachable: no client to run: %.*s",
	               why != NULL ? (int)n : 0, why != NULL ? (const char *)why : "");
}

/* The record must be the next expected body, with its key. */
static void
expect_record(struct expected *e, const struct slc_otlp_rec *r, const char *file)
{
	char key[32];
	uint32_t n;

	cr_assert_leq(e->pos + 4, e->len, "%s: more records than sent", file);
	memcpy(&n, e->buf + e->pos, 4); /* little-endian, as is this machine */
	cr_assert_eq(r->body_kind, SLC_OTLP_BODY_STRING, "%s: record %u", file, e->next);
	cr_assert_eq(r->body_len, n, "%s: record %u: %u bytes, sent %u", file, e->next, r->body_len,
	             n);
	cr_assert_eq(memcmp(r->body, e->buf + e->pos + 4, n), 0, "%s: record %u differs", file,
	             e->next);
	if (e->next % 3 == 0)
		snprintf(key, sizeof(key), "rec-%u", e->next);
	else
		snprintf(key, sizeof(key), "sluice-test");
	cr_assert_eq(r->key_len, strlen(key), "%s: record %u: key", file, e->next);
	cr_assert_eq(memcmp(r->key, key, r->key_len), 0, "%s: record %u: key", file, e->next);
	e->pos += 4 + n;
	e->next++;
}

static const uint8_t key_name[] = "service.name";

enum kind { PROTO, JSON, PROTO_GZIP };

/* The inflated body of b (which it frees), within 4 MiB. */
static uint8_t *
gunzipped(uint8_t *b, uint32_t *len, const char *path)
{
	size_t cap = 4u << 20, n;
	uint8_t *out = malloc(cap);
	const char *why;
	int err = 0;
	struct slc_gunzip *g = slc_gunzip_create(&err);

	cr_assert_not_null(out);
	cr_assert_not_null(g);
	cr_assert_eq(slc_gunzip_body(g, b, *len, out, cap, &n, &why), 0, "%s: %s", path, why);
	cr_assert_gt(n, *len, "%s: inflating did not grow it", path);
	slc_gunzip_destroy(g);
	free(b);
	*len = (uint32_t)n;
	return out;
}

/* Decodes every capture of one kind, in order, against the expected bodies. */
static void
check_kind(enum kind kind)
{
	static const char *const names[] = {"proto", "json", "protogz"};
	bool json = kind == JSON;
	struct expected e = {0};
	char path[256];
	unsigned files = 0;

	fail_if_unreachable();
	e.buf = slurp(SLC_OTLP_CAPTURE "/expected.bin", &e.len);
	cr_assert_not_null(e.buf, "no capture: did the otlp_client_capture fixture run?");
	for (;; files++) {
		struct slc_otlp_rec rec;
		const char *err = NULL;
		uint32_t len, count, off = 0;
		uint8_t *b;
		int ret;

		snprintf(path, sizeof(path), SLC_OTLP_CAPTURE "/%s-%u.%s", names[kind], files,
		         json ? "json" : "bin");
		b = slurp(path, &len);
		if (!b)
			break;
		if (kind == PROTO_GZIP)
			b = gunzipped(b, &len, path);
		ret = json ? slc_otlp_json_check(b, len, &count, &err, &off)
		           : slc_otlp_pb_check(b, len, &count, &err, &off);
		cr_assert_eq(ret, 0, "%s: %s at %u", path, err ? err : "?", off);
		cr_assert_gt(count, 0, "%s: no records", path);
		if (json) {
			struct slc_otlp_json_iter it;

			slc_otlp_json_iter_init(&it, b, len, key_name, sizeof(key_name) - 1);
			while ((ret = slc_otlp_json_next(&it, &rec)) == 1)
				expect_record(&e, &rec, path);
		} else {
			struct slc_otlp_pb_iter it;

			slc_otlp_pb_iter_init(&it, b, len, key_name, sizeof(key_name) - 1);
			while ((ret = slc_otlp_pb_next(&it, &rec)) == 1)
				expect_record(&e, &rec, path);
		}
		cr_assert_eq(ret, 0, "%s", path);
		free(b);
	}
	cr_expect_gt(files, 0, "no %s requests captured", names[kind]);
	cr_expect_eq(e.pos, e.len, "%u records arrived, fewer than sent", e.next);
	cr_expect_eq(e.next, 1000);
	free(e.buf);
}

Test(otlp_client, protobuf_requests_decode_intact)
{
	check_kind(PROTO);
}

Test(otlp_client, json_requests_decode_intact)
{
	check_kind(JSON);
}

Test(otlp_client, gzipped_protobuf_requests_decode_intact)
{
	check_kind(PROTO_GZIP);
}
