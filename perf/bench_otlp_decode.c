/* SPDX-License-Identifier: MIT */
/* bench_otlp_decode.c: decoding OTLP logs request bodies: uring/otlp_pb.c against protobuf-c. */
/*
 * What it measures: one thread decodes the same ExportLogsServiceRequest body over and over
 * (--records LogRecords of --body-bytes string bodies, two record attributes, trace and span
 * ids, one resource with service.name and host.name), and for every record takes what the
 * reactor needs: the body's bytes and length, and the service.name key (record attribute,
 * else resource attribute). Two decoders of the same schema (uring/otlp_logs.proto):
 *
 *   ours       slc_otlp_pb_check (the whole body validated, records counted), then the
 *              slc_otlp_pb_next walk: both passes the reactor makes; nothing allocated.
 *   protobuf-c the generated unpack (protoc-c at build time) with an arena allocator reset
 *              per request (no malloc per record), then a walk over the structs; a string's
 *              length is a strlen (protobuf-c keeps strings NUL-terminated, without length).
 *
 * The body is packed by protobuf-c, so ours also shows that it reads what another encoder
 * wrote (the run stops if the two disagree on a record).
 *
 * A third path, request, is ours as the listener will run it, but for the I/O and the
 * delivery: the HTTP head parsed and judged, the body checked and walked through
 * uring/otlp_req.h, the response written.
 *
 * How it times: each path runs for --seconds, in a rotated order from round to round,
 * --runs rounds. Columns (--csv, one row per path of ours: decode, request):
 *   path, records, body_bytes, request_bytes, runs, seconds   the configuration
 *   msgs_per_s            records per second, median over the runs
 *   baseline_msgs_per_s   protobuf-c, median over the runs
 *   ratio                 median over the runs of the path / protobuf-c of the same round
 *
 *   bench_otlp_decode                     # 512 records of 100 bytes, 3 runs of 3 s
 *   bench_otlp_decode --csv --records 64 --body-bytes 400
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_opts.h"
#include "bench_util.h"
#include "otlp_logs.pb-c.h"
#include "otlp_pb.h"
#include "otlp_req.h"

#define PB(t) Opentelemetry__Proto__Collector__Logs__V1__##t
#define pb(f) opentelemetry__proto__collector__logs__v1__##f

struct opts {
	int64_t records;
	int64_t body_bytes;
	int64_t seconds;
	int64_t runs;
	bool csv;
};

static const struct bench_opt opt_table[] = {
        {"--records", BENCH_OPT_INT, 512, 1, 65536, NULL, "N", "LogRecords per request",
         offsetof(struct opts, records)},
        {"--body-bytes", BENCH_OPT_INT, 100, 1, 65536, NULL, "B", "bytes of each record's body",
         offsetof(struct opts, body_bytes)},
        {"--seconds", BENCH_OPT_INT, 3, 3, 3600, NULL, "S", "seconds per decoder and run",
         offsetof(struct opts, seconds)},
        {"--runs", BENCH_OPT_INT, 3, 1, 100, NULL, "N", "rounds", offsetof(struct opts, runs)},
        {"--csv", BENCH_OPT_FLAG, 0, 0, 0, NULL, NULL, "one CSV row with a header",
         offsetof(struct opts, csv)},
};

/* ---- the request, packed by protobuf-c ---- */

static PB(KeyValue) * kv_new(const char *key, const char *val)
{
	PB(KeyValue) *kv = malloc(sizeof(*kv));
	PB(AnyValue) *any = malloc(sizeof(*any));

	if (!kv || !any)
		abort();
	pb(key_value__init)(kv);
	pb(any_value__init)(any);
	any->value_case = OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__ANY_VALUE__VALUE_STRING_VALUE;
	any->string_value = (char *)val;
	kv->key = (char *)key;
	kv->value = any;
	return kv;
}

/* Leaks what it builds: it is built once, for the life of the benchmark. */
static uint8_t *
request_build(const struct opts *o, size_t *len)
{
	static uint8_t ids[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
	static PB(ExportLogsServiceRequest) req;
	static PB(ResourceLogs) rl;
	static PB(Resource) res;
	static PB(ScopeLogs) sl;
	static PB(InstrumentationScope) scope;
	static PB(ResourceLogs) * rls[1];
	static PB(ScopeLogs) * sls[1];
	static PB(KeyValue) * res_attrs[2];
	size_t n = (size_t)o->records;
	PB(LogRecord) **recs = calloc(n, sizeof(*recs));
	uint8_t *out;

	if (!recs)
		abort();
	pb(export_logs_service_request__init)(&req);
	pb(resource_logs__init)(&rl);
	pb(resource__init)(&res);
	pb(scope_logs__init)(&sl);
	pb(instrumentation_scope__init)(&scope);
	res_attrs[0] = kv_new("service.name", "checkout");
	res_attrs[1] = kv_new("host.name", "node-17.example.net");
	res.n_attributes = 2;
	res.attributes = res_attrs;
	scope.name = "bench";
	scope.version = "1.0";
	for (size_t i = 0; i < n; i++) {
		PB(LogRecord) *r = malloc(sizeof(*r));
		PB(AnyValue) *body = malloc(sizeof(*body));
		PB(KeyValue) **attrs = malloc(2 * sizeof(*attrs));
		char *text = malloc((size_t)o->body_bytes + 1);

		if (!r || !body || !attrs || !text)
			abort();
		pb(log_record__init)(r);
		pb(any_value__init)(body);
		for (int64_t j = 0; j < o->body_bytes; j++)
			text[j] = (char)('a' + (i + (size_t)j) % 26);
		text[o->body_bytes] = 0;
		body->value_case =
		        OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__ANY_VALUE__VALUE_STRING_VALUE;
		body->string_value = text;
		r->body = body;
		r->time_unix_nano = 1700000000000000000ull + i;
		r->observed_time_unix_nano = r->time_unix_nano + 1000;
		r->severity_number = 9;
		r->severity_text = "INFO";
		attrs[0] = kv_new("http.method", "GET");
		attrs[1] = kv_new("http.route", "/api/v1/cart");
		r->n_attributes = 2;
		r->attributes = attrs;
		r->trace_id.len = 16;
		r->trace_id.data = ids;
		r->span_id.len = 8;
		r->span_id.data = ids;
		recs[i] = r;
	}
	sl.scope = &scope;
	sl.n_log_records = n;
	sl.log_records = recs;
	sls[0] = &sl;
	rl.resource = &res;
	rl.n_scope_logs = 1;
	rl.scope_logs = sls;
	rls[0] = &rl;
	req.n_resource_logs = 1;
	req.resource_logs = rls;
	*len = pb(export_logs_service_request__get_packed_size)(&req);
	out = malloc(*len);
	if (!out)
		abort();
	pb(export_logs_service_request__pack)(&req, out);
	return out;
}

/* ---- the two decoders; each returns the sum of body and key lengths, 0 on an error ---- */

static uint64_t
decode_ours(const uint8_t *buf, uint32_t len)
{
	static const uint8_t name[] = "service.name";
	struct slc_otlp_pb_iter it;
	struct slc_otlp_rec rec;
	uint64_t sum = 0;
	uint32_t count;
	int ret;

	if (slc_otlp_pb_check(buf, len, &count, NULL, NULL) != 0)
		return 0;
	slc_otlp_pb_iter_init(&it, buf, len, name, sizeof(name) - 1);
	while ((ret = slc_otlp_pb_next(&it, &rec)) == 1)
		sum += rec.body_len + rec.key_len + rec.body[0];
	return ret == 0 ? sum : 0;
}

/* The arena: a bump allocator over one block, reset per request; free does nothing. */
struct arena {
	uint8_t *mem;
	size_t cap;
	size_t used;
};

static void *
arena_alloc(void *data, size_t size)
{
	struct arena *a = data;
	size_t at = (a->used + 15) & ~(size_t)15;

	if (at + size > a->cap)
		return NULL;
	a->used = at + size;
	return a->mem + at;
}

static void
arena_free(void *data, void *p)
{
	(void)data;
	(void)p;
}

static const char *
kv_find(PB(KeyValue) * *kvs, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kvs[i]->key, name) == 0 && kvs[i]->value &&
		    kvs[i]->value->value_case ==
		            OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__ANY_VALUE__VALUE_STRING_VALUE &&
		    kvs[i]->value->string_value[0])
			return kvs[i]->value->string_value;
	return NULL;
}

static uint64_t
decode_protobuf_c(const uint8_t *buf, uint32_t len, struct arena *a)
{
	ProtobufCAllocator alloc = {arena_alloc, arena_free, a};
	PB(ExportLogsServiceRequest) * req;
	uint64_t sum = 0;

	a->used = 0;
	req = pb(export_logs_service_request__unpack)(&alloc, len, buf);
	if (!req)
		return 0;
	for (size_t i = 0; i < req->n_resource_logs; i++) {
		PB(ResourceLogs) *rl = req->resource_logs[i];
		const char *res_key = rl->resource
		                              ? kv_find(rl->resource->attributes,
		                                        rl->resource->n_attributes, "service.name")
		                              : NULL;
		for (size_t j = 0; j < rl->n_scope_logs; j++) {
			PB(ScopeLogs) *sl = rl->scope_logs[j];
			for (size_t k = 0; k < sl->n_log_records; k++) {
				PB(LogRecord) *r = sl->log_records[k];
				const char *key =
				        kv_find(r->attributes, r->n_attributes, "service.name");
				const char *body = r->body && r->body->value_case == 1
				                           ? r->body->string_value
				                           : "";

				if (!key)
					key = res_key ? res_key : "";
				sum += strlen(body) + strlen(key) + (uint8_t)body[0];
			}
		}
	}
	return sum;
}

/* The whole request as the listener will take it, but for the I/O and the delivery: the
 * head parsed and judged, the body checked and walked (uring/otlp_req.h), the response
 * written. */
static uint64_t
request_ours(const uint8_t *buf, uint32_t len)
{
	static const uint8_t name[] = "service.name";
	static uint8_t head[256], resp[512];
	static int head_len;
	struct slc_http_req h;
	struct slc_otlp_req rq;
	struct slc_otlp_rec rec;
	const char *why;
	uint32_t off;
	uint64_t sum = 0;

	if (!head_len)
		head_len = snprintf((char *)head, sizeof(head),
		                    "POST /v1/logs HTTP/1.1\r\nHost: localhost:4318\r\n"
		                    "Content-Type: application/x-protobuf\r\n"
		                    "Content-Length: %u\r\n\r\n",
		                    len);
	if (slc_http_head_end(head, (uint32_t)head_len) != head_len ||
	    slc_http_req_parse(head, (uint32_t)head_len, &h) || slc_http_otlp_status(&h, 4u << 20))
		return 0;
	/* The protobuf walk does not write: the shared body can be walked again and again. */
	if (slc_otlp_req_body(&rq, &h, (uint8_t *)buf, len, NULL, NULL, 0, name, sizeof(name) - 1,
	                      &why, &off))
		return 0;
	while (slc_otlp_req_next(&rq, &rec))
		sum += rec.body_len + rec.key_len + rec.body[0];
	if (slc_otlp_req_response(resp, sizeof(resp), 200, h.ctype, 0, NULL, h.keep_alive, 0) <= 0)
		return 0;
	return sum;
}

enum path { OURS, PROTOBUF_C, REQUEST, NPATHS };

static const char *const path_names[NPATHS] = {"ours", "protobuf-c", "request"};

/* Runs a path for the given seconds; records per second, or 0 when a decode failed. */
static double
run(enum path which, const uint8_t *buf, uint32_t len, const struct opts *o, struct arena *a,
    uint64_t want)
{
	uint64_t t0 = bench_now_ns(), t, reqs = 0, end = t0 + (uint64_t)o->seconds * 1000000000ull;

	do {
		for (int i = 0; i < 16; i++) {
			uint64_t got = which == PROTOBUF_C ? decode_protobuf_c(buf, len, a)
			               : which == OURS     ? decode_ours(buf, len)
			                                   : request_ours(buf, len);
			if (got != want) {
				fprintf(stderr,
				        "bench_otlp_decode: %s decoded %llu, expected %llu\n",
				        path_names[which], (unsigned long long)got,
				        (unsigned long long)want);
				return 0;
			}
		}
		reqs += 16;
		t = bench_now_ns();
	} while (t < end);
	return (double)reqs * (double)o->records / ((double)(t - t0) / 1e9);
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct arena a;
	size_t len;
	uint8_t *buf;
	uint64_t want;

	if (bench_opt_table_parse(&o, opt_table, sizeof(opt_table) / sizeof(opt_table[0]),
	                          "bench_otlp_decode", argc, argv))
		return 2;
	buf = request_build(&o, &len);
	if (len > UINT32_MAX)
		return 2;
	a.cap = 64 * len + (1u << 20);
	a.mem = malloc(a.cap);
	if (!a.mem)
		return 1;
	want = decode_protobuf_c(buf, (uint32_t)len, &a);
	if (!want || decode_ours(buf, (uint32_t)len) != want ||
	    request_ours(buf, (uint32_t)len) != want) {
		fprintf(stderr, "bench_otlp_decode: the decoders disagree on the request\n");
		return 1;
	}

	/* rate[path][round], ratio[path][round] against protobuf-c of the same round; each
	 * round runs the three paths in a rotated order. */
	size_t runs = (size_t)o.runs;
	double *rate[NPATHS], *ratio[NPATHS];
	for (int p = 0; p < NPATHS; p++) {
		rate[p] = calloc(runs, sizeof(double));
		ratio[p] = calloc(runs, sizeof(double));
		if (!rate[p] || !ratio[p])
			return 1;
	}
	for (size_t r = 0; r < runs; r++) {
		for (int k = 0; k < NPATHS; k++) {
			enum path p = (enum path)((r + (size_t)k) % NPATHS);

			rate[p][r] = run(p, buf, (uint32_t)len, &o, &a, want);
			if (!rate[p][r])
				return 1;
		}
		for (int p = 0; p < NPATHS; p++)
			ratio[p][r] = rate[p][r] / rate[PROTOBUF_C][r];
	}
	double base = bench_median(rate[PROTOBUF_C], runs);
	if (o.csv)
		printf("path,records,body_bytes,request_bytes,runs,seconds,msgs_per_s,"
		       "baseline_msgs_per_s,ratio\n");
	else
		printf("path records body_bytes request_bytes runs seconds | records/s "
		       "protobuf-c | ratio\n");
	for (int p = 0; p < NPATHS; p++) {
		if (p == PROTOBUF_C)
			continue;
		printf(o.csv ? "%s,%lld,%lld,%zu,%lld,%lld,%.0f,%.0f,%.3f\n"
		             : "%s %lld %lld %zu %lld %lld | %.0f %.0f | %.3f\n",
		       p == OURS ? "decode" : "request", (long long)o.records,
		       (long long)o.body_bytes, len, (long long)o.runs, (long long)o.seconds,
		       bench_median(rate[p], runs), base, bench_median(ratio[p], runs));
	}
	return 0;
}
