/* SPDX-License-Identifier: MIT */
/* test_stamp.c: the bench message stamp, and sluice-bench's reading of a Prometheus scrape. */
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../../perf/prom_scrape.h"
#include "route/stamp.h"

/*
 * Parses a copy of data[0..len) in a buffer of exactly len bytes, so that ASan catches a
 * read past the end.
 */
static bool
parse_exact(const void *data, size_t len, struct slc_stamp *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	bool ok;

	cr_assert_not_null(copy);
	memcpy(copy, data, len);
	ok = slc_stamp_parse(copy, (uint32_t)len, out);
	free(copy);
	return ok;
}

static bool
find_exact(const void *data, size_t len, struct slc_stamp *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	bool ok;

	cr_assert_not_null(copy);
	memcpy(copy, data, len);
	ok = slc_stamp_find(copy, (uint32_t)len, out);
	free(copy);
	return ok;
}

Test(stamp, round_trip)
{
	static const struct slc_stamp cases[] = {
	        {0, 0, 0, 0},
	        {999, 12345, 1700000000123456789u, 3},
	        {UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT32_MAX},
	        {10, 100, 1000, 10000},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct slc_stamp *c = &cases[i];
		uint32_t n = slc_stamp_len(c->key, c->conn, c->seq, c->send_ns);
		char buf[SLC_STAMP_LEN_MAX + 64];
		struct slc_stamp out;

		cr_assert_leq(n, SLC_STAMP_LEN_MAX);
		for (uint32_t size = n; size <= n + 64; size += 32) {
			int rc = slc_stamp_format(buf, sizeof(buf), c->key, c->conn, c->seq,
			                          c->send_ns, size);

			cr_assert_eq(rc, (int)size);
			cr_assert(parse_exact(buf, size, &out), "case %zu size %u: %.*s", i, size,
			          (int)size, buf);
			cr_expect_eq(out.key, c->key);
			cr_expect_eq(out.conn, c->conn);
			cr_expect_eq(out.seq, c->seq);
			cr_expect_eq(out.send_ns, c->send_ns);
			for (uint32_t j = n; j < size; j++)
				cr_expect_eq(buf[j], 'x');
		}
	}
}

Test(stamp, text_is_as_documented)
{
	char buf[64];
	int rc = slc_stamp_format(buf, sizeof(buf), 42, 3, 7, 123456789, 30);

	cr_assert_eq(rc, 30);
	cr_expect_eq(memcmp(buf, "SLB1 k42 3.7 123456789 xxxxxxx", 30), 0, "%.30s", buf);
	cr_expect_eq(slc_stamp_len(0, 0, 0, 0), SLC_STAMP_LEN_MIN);
}

Test(stamp, format_refuses_a_small_size_or_buffer)
{
	char buf[64];
	uint32_t n = slc_stamp_len(42, 3, 7, 123456789);

	cr_expect_eq(slc_stamp_format(buf, sizeof(buf), 42, 3, 7, 123456789, n - 1), -EMSGSIZE);
	cr_expect_eq(slc_stamp_format(buf, sizeof(buf), 42, 3, 7, 123456789, 0), -EMSGSIZE);
	cr_expect_eq(slc_stamp_format(buf, n - 1, 42, 3, 7, 123456789, n), -ENOSPC);
	cr_expect_eq(slc_stamp_format(buf, sizeof(buf), 42, 3, 7, 123456789, n), (int)n);
}

/* Every proper prefix of a stamp is refused: the trailing SP ends the last number. */
Test(stamp, truncated_stamps_are_refused)
{
	char buf[SLC_STAMP_LEN_MAX];
	uint32_t n = slc_stamp_len(UINT64_MAX, 17, 123456, 98765432109876);
	struct slc_stamp out = {0};

	cr_assert_eq(slc_stamp_format(buf, sizeof(buf), UINT64_MAX, 17, 123456, 98765432109876, n),
	             (int)n);
	for (uint32_t len = 0; len < n; len++) {
		cr_expect_not(parse_exact(buf, len, &out), "prefix of %u bytes accepted", len);
		cr_expect_not(find_exact(buf, len, &out), "find: prefix of %u bytes accepted", len);
	}
	cr_expect(parse_exact(buf, n, &out));
}

Test(stamp, garbled_stamps_are_refused)
{
	static const char *const bad[] = {
	        "SLB2 k1 0.0 5 ",
	        "SLB1 1 0.0 5 ",
	        "slb1 k1 0.0 5 ",
	        "SLB1  k1 0.0 5 ",
	        "SLB1 k 0.0 5 ",
	        "SLB1 k1 0 0 5 ",
	        "SLB1 k1 0.0.5 ",
	        "SLB1 k1 .0 5 ",
	        "SLB1 k1 0. 5 ",
	        "SLB1 k01 0.0 5 ",
	        "SLB1 k1 00.0 5 ",
	        "SLB1 k1 0.01 5 ",
	        "SLB1 k1 0.0 05 ",
	        "SLB1 k1 0.0 5x",
	        "SLB1 k1 0.0 5\n",
	        "SLB1 k-1 0.0 5 ",
	        "SLB1 k+1 0.0 5 ",
	        "SLB1 k1 0,0 5 ",
	        "SLB1 k1\t0.0 5 ",
	        "SLB1 k1 0.0  5 ",
	        "SLB1 k1 0.0 5",
	        "SLB1 k1 0.0 -5 ",
	        "SLB1 k1 0.0 ",
	        "",
	        "SLB1 k18446744073709551616 0.0 5 ", /* 2^64 */
	        "SLB1 k1 4294967296.0 5 ",           /* 2^32 */
	        "SLB1 k1 0.0 99999999999999999999 ", /* > 2^64 */
	        "SLB1 k1 0.0 184467440737095516150 ",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct slc_stamp out = {1, 2, 3, 4};

		cr_expect_not(parse_exact(bad[i], strlen(bad[i]), &out), "accepted '%s'", bad[i]);
		cr_expect_eq(out.key, 1, "'%s' wrote *out", bad[i]);
		cr_expect_eq(out.conn, 4);
	}
	/* The largest values are fine, and so is the padding being anything. */
	{
		static const char ok[] =
		        "SLB1 k18446744073709551615 4294967295.18446744073709551615 "
		        "18446744073709551615 anything";
		struct slc_stamp out;

		cr_assert(parse_exact(ok, strlen(ok), &out));
		cr_expect_eq(out.key, UINT64_MAX);
		cr_expect_eq(out.conn, UINT32_MAX);
		cr_expect_eq(out.seq, UINT64_MAX);
		cr_expect_eq(out.send_ns, UINT64_MAX);
	}
}

/* Any one byte changed: refused, or read as a stamp that formats back to the same bytes. */
Test(stamp, single_byte_changes_are_canonical_or_refused)
{
	static const uint8_t subst[] = {'0', '1', '9', ' ', '.', 'k', 'S', 'x', 0, 0xff, '\n'};
	char buf[64];
	int n = slc_stamp_format(buf, sizeof(buf), 907, 12, 3004, 5000600070008, 40);

	cr_assert_eq(n, 40);
	for (int pos = 0; pos < n; pos++) {
		for (size_t s = 0; s < sizeof(subst); s++) {
			char mod[64], again[64];
			struct slc_stamp out;
			uint32_t len;

			memcpy(mod, buf, (size_t)n);
			mod[pos] = (char)subst[s];
			if (!parse_exact(mod, (size_t)n, &out))
				continue;
			len = slc_stamp_len(out.key, out.conn, out.seq, out.send_ns);
			cr_assert_leq(len, (uint32_t)n);
			cr_assert_eq(slc_stamp_format(again, sizeof(again), out.key, out.conn,
			                              out.seq, out.send_ns, len),
			             (int)len);
			cr_expect_eq(memcmp(again, mod, len), 0, "pos %d byte %u: %.*s", pos,
			             subst[s], n, mod);
		}
	}
}

Test(stamp, find_skips_syslog_and_len32_headers)
{
	char msg[256];
	struct slc_stamp out;
	int h, n;

	/* RFC 5424, with a false "SLB1 " in the hostname. */
	h = snprintf(msg, sizeof(msg), "<14>1 2024-05-01T12:00:00Z SLB1 sluice-bench - - - ");
	n = slc_stamp_format(msg + h, sizeof(msg) - (size_t)h, 5, 1, 2, 3, 40);
	cr_assert_eq(n, 40);
	cr_assert(find_exact(msg, (size_t)(h + n), &out));
	cr_expect_eq(out.key, 5);
	cr_expect_eq(out.conn, 1);
	cr_expect_eq(out.seq, 2);
	cr_expect_eq(out.send_ns, 3);
	cr_expect_not(parse_exact(msg, (size_t)(h + n), &out));

	/* len32 key header: K = 3, "k77", then the body. */
	{
		const uint8_t *body = NULL;
		uint32_t body_len = 0;

		msg[0] = 0;
		msg[1] = 3;
		memcpy(msg + 2, "k77", 3);
		n = slc_stamp_format(msg + 5, sizeof(msg) - 5, 77, 0, 9, 11, 30);
		cr_assert_eq(n, 30);
		cr_assert(slc_stamp_len32_body((const uint8_t *)msg, 35, &body, &body_len));
		cr_expect_eq(body, (const uint8_t *)msg + 5);
		cr_expect_eq(body_len, 30);
		cr_expect(parse_exact(body, body_len, &out));
		cr_expect_eq(out.key, 77);
		cr_expect(find_exact(msg, 35, &out));
		cr_expect_eq(out.seq, 9);
		/* K past the end, or no room for K */
		cr_expect_not(slc_stamp_len32_body((const uint8_t *)msg, 4, &body, &body_len));
		cr_expect_not(slc_stamp_len32_body((const uint8_t *)msg, 1, &body, &body_len));
		cr_expect(slc_stamp_len32_body((const uint8_t *)msg, 5, &body, &body_len));
		cr_expect_eq(body_len, 0);
	}
}

Test(stamp, find_looks_only_near_the_start)
{
	char msg[SLC_STAMP_FIND_MAX + 64];
	struct slc_stamp out;

	memset(msg, '-', sizeof(msg));
	cr_expect_not(find_exact(msg, sizeof(msg), &out));
	cr_assert_eq(slc_stamp_format(msg + SLC_STAMP_FIND_MAX - 1, 64, 1, 2, 3, 4, 20), 20);
	cr_expect(find_exact(msg, SLC_STAMP_FIND_MAX + 19, &out));
	memset(msg, '-', sizeof(msg));
	cr_assert_eq(slc_stamp_format(msg + SLC_STAMP_FIND_MAX, 64, 1, 2, 3, 4, 20), 20);
	cr_expect_not(find_exact(msg, SLC_STAMP_FIND_MAX + 20, &out));
	cr_expect_not(find_exact("SLB1 k", 6, &out));
	cr_expect_not(find_exact("", 0, &out));
}

/* ---- the fast formatter against a plain one ---- */

/* The plain way to write a stamp: what slc_stamp_format() must match byte for byte. */
static int
ref_format(char *buf, size_t cap, uint64_t key, uint32_t conn, uint64_t seq, uint64_t send_ns,
           uint32_t size)
{
	int n = snprintf(buf, cap, "SLB1 k%" PRIu64 " %" PRIu32 ".%" PRIu64 " %" PRIu64 " ", key,
	                 conn, seq, send_ns);

	cr_assert(n > 0 && (uint32_t)n <= size && size < cap);
	memset(buf + n, 'x', size - (uint32_t)n);
	return n;
}

static uint64_t
test_rand(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15u); /* splitmix64 */

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9u;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebu;
	return x ^ (x >> 31);
}

/* A random number of random length: every digit count turns up, not mostly 19 or 20. */
static uint64_t
test_rand_any_len(uint64_t *state)
{
	return test_rand(state) >> (test_rand(state) % 64);
}

/*
 * slc_stamp_format() and slc_stamp_format_ns() write what ref_format() does, no byte past
 * size, refuse one byte less of size or of cap, and what they write parses back.
 */
static void
check_format(uint64_t key, uint32_t conn, uint64_t seq, uint64_t send_ns)
{
	char ref[SLC_STAMP_LEN_MAX + 16];
	uint32_t len = slc_stamp_len(key, conn, seq, send_ns);
	struct slc_stamp_ns t;

	slc_stamp_ns_set(&t, send_ns);
	for (uint32_t size = len; size <= len + 7; size += 7) {
		char buf[SLC_STAMP_LEN_MAX + 16], buf_ns[SLC_STAMP_LEN_MAX + 16];
		struct slc_stamp out;
		int ref_len = ref_format(ref, sizeof(ref), key, conn, seq, send_ns, size);

		cr_assert_eq((uint32_t)ref_len, len, "slc_stamp_len %u, snprintf %d for %s", len,
		             ref_len, ref);
		cr_assert_leq(len, SLC_STAMP_LEN_MAX);
		memset(buf, '#', sizeof(buf));
		memset(buf_ns, '#', sizeof(buf_ns));
		cr_assert_eq(slc_stamp_format(buf, size, key, conn, seq, send_ns, size), (int)size);
		cr_assert_eq(slc_stamp_format_ns(buf_ns, size, key, conn, seq, &t, size),
		             (int)size);
		cr_assert_eq(memcmp(buf, ref, size), 0, "got '%.*s', want '%.*s'", (int)size, buf,
		             (int)size, ref);
		cr_assert_eq(memcmp(buf_ns, ref, size), 0, "_ns: got '%.*s', want '%.*s'",
		             (int)size, buf_ns, (int)size, ref);
		cr_assert_eq(buf[size], '#', "a byte written past size");
		cr_assert_eq(buf_ns[size], '#', "_ns: a byte written past size");

		cr_assert(parse_exact(buf, size, &out), "'%.*s' not parsed", (int)size, buf);
		cr_assert(out.key == key && out.conn == conn && out.seq == seq &&
		                  out.send_ns == send_ns,
		          "'%.*s' read back wrong", (int)size, buf);
		cr_assert(find_exact(buf, size, &out));
		cr_assert(out.key == key && out.seq == seq && out.send_ns == send_ns);
	}
	cr_assert_eq(slc_stamp_format(ref, sizeof(ref), key, conn, seq, send_ns, len - 1),
	             -EMSGSIZE);
	cr_assert_eq(slc_stamp_format_ns(ref, sizeof(ref), key, conn, seq, &t, len - 1), -EMSGSIZE);
	cr_assert_eq(slc_stamp_format(ref, len - 1, key, conn, seq, send_ns, len), -ENOSPC);
	cr_assert_eq(slc_stamp_format_ns(ref, len - 1, key, conn, seq, &t, len), -ENOSPC);
	cr_assert_eq(
	        slc_stamp_format_ns(ref, sizeof(ref), key, conn, seq, &t, (uint32_t)INT32_MAX + 1),
	        -EMSGSIZE);
}

/* 0, 1, 9, 10, 11 and every 10^k - 1, 10^k, 10^k + 1 that fits; then 2^32 and 2^64 edges. */
static size_t
edge_values(uint64_t *v, size_t cap, uint64_t max)
{
	size_t n = 0;

	v[n++] = 0;
	for (uint64_t p = 1;; p *= 10) {
		if (p - 1 > 0)
			v[n++] = p - 1;
		v[n++] = p;
		if (p + 1 <= max)
			v[n++] = p + 1;
		if (p > max / 10)
			break;
	}
	if (max == UINT64_MAX) {
		v[n++] = UINT32_MAX;
		v[n++] = (uint64_t)UINT32_MAX + 1;
		v[n++] = UINT64_C(1) << 63;
	}
	v[n++] = max - 1;
	v[n++] = max;
	cr_assert_leq(n, cap);
	return n;
}

Test(stamp, digits_match_snprintf)
{
	uint64_t v[80];
	size_t n = edge_values(v, 80, UINT64_MAX);

	/* And both ends of every bit width: the digit count starts from the bit count. */
	for (uint32_t b = 1; b <= 64; b++) {
		uint64_t lo = UINT64_C(1) << (b - 1);
		uint64_t vs[2] = {lo, lo - 1 + lo}; /* 2^(b-1) .. 2^b - 1 */

		for (int i = 0; i < 2; i++) {
			char want[24], got[24];
			int len = snprintf(want, sizeof(want), "%" PRIu64, vs[i]);

			memset(got, '#', sizeof(got));
			cr_assert_eq(slc_stamp_digits(vs[i]), (uint32_t)len, "%s", want);
			cr_assert_eq(slc_stamp_put_u64(got, vs[i]), (uint32_t)len, "%s", want);
			cr_assert_eq(memcmp(got, want, (size_t)len), 0, "%.*s for %s", len, got,
			             want);
			cr_assert_eq(got[len], '#');
		}
	}
	for (size_t i = 0; i < n; i++) {
		char want[24], got[24];
		int len = snprintf(want, sizeof(want), "%" PRIu64, v[i]);

		memset(got, '#', sizeof(got));
		cr_assert_eq(slc_stamp_put_u64(got, v[i]), (uint32_t)len, "%s", want);
		cr_assert_eq(memcmp(got, want, (size_t)len), 0, "%.*s for %s", len, got, want);
		cr_assert_eq(got[len], '#');
	}
}

Test(stamp, format_matches_snprintf_at_the_edges)
{
	uint64_t v[80], c[40];
	size_t nv = edge_values(v, 80, UINT64_MAX);
	size_t nc = edge_values(c, 40, UINT32_MAX);

	/* Every pair of edges as (key, seq), send_ns and conn walking their lists alongside. */
	for (size_t i = 0; i < nv; i++)
		for (size_t j = 0; j < nv; j++)
			check_format(v[i], (uint32_t)c[(i * 7 + j) % nc], v[j], v[(i + j) % nv]);
	for (size_t k = 0; k < nc; k++)
		check_format(UINT64_MAX, (uint32_t)c[k], UINT64_MAX, UINT64_MAX);
}

Test(stamp, format_matches_snprintf_at_random)
{
	uint64_t state = 20240501;

	for (int i = 0; i < 100000; i++) {
		uint64_t key = test_rand_any_len(&state);
		uint32_t conn = (uint32_t)test_rand_any_len(&state);
		uint64_t seq = test_rand_any_len(&state);

		check_format(key, conn, seq, test_rand_any_len(&state));
	}
}

/* ---- prom_scrape (perf/): the scrape sluice-bench reads ---- */

static const char scrape_before[] =
        "# HELP sluice_worker_processed_total Messages the workers handed to the sink.\n"
        "# TYPE sluice_worker_processed_total counter\n"
        "sluice_worker_processed_total{pool=\"a\",worker=\"0\"} 100\n"
        "sluice_worker_processed_total{pool=\"b\",worker=\"1\"} 50\n"
        "sluice_worker_processed_totals 7\n"
        "sluice_udp_drops_total{listener=\"udp:5140\"} 3\n"
        "# TYPE sluice_e2e_latency_seconds histogram\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"0.0001\"} 10\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"0.001\"} 20\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"+Inf\"} 20\n"
        "sluice_e2e_latency_seconds_bucket{le=\"0.0001\",pool=\"b\"} 0\n"
        "sluice_e2e_latency_seconds_bucket{le=\"0.001\",pool=\"b\"} 0\n"
        "sluice_e2e_latency_seconds_bucket{le=\"+Inf\",pool=\"b\"} 0\n"
        "sluice_e2e_latency_seconds_count{pool=\"a\"} 20\n"
        "sluice_e2e_latency_seconds_sum{pool=\"a\"} 0.01\n";

/* 1000 more samples: 100 under 100 us, 800 in (100 us, 1 ms], 90 in (1, 10 ms], 10 over. */
static const char scrape_after[] =
        "sluice_worker_processed_total{pool=\"a\",worker=\"0\"} 600 1700000000000\n"
        "sluice_worker_processed_total{pool=\"b\",worker=\"1\"} 5.5e2\n"
        "sluice_udp_drops_total{listener=\"udp:5140\"} 3\n"
        "sluice_udp_drops_total{listener=\"udp:5141\",note=\"a \\\"}\\\" b\"} 4\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"0.0001\"} 60\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"0.001\"} 520\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"0.01\"} 560\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"a\",le=\"+Inf\"} 570\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"b\",le=\"0.0001\"} 50\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"b\",le=\"0.001\"} 400\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"b\",le=\"0.01\"} 450\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"b\",le=\"+Inf\"} 450\n"
        "sluice_e2e_latency_seconds_count{pool=\"a\"} 570\n"
        "sluice_e2e_latency_seconds_count{pool=\"b\"} 450\n"
        "sluice_e2e_latency_seconds_sum{pool=\"a\"} 0.5\n"
        "garbage line\n"
        "sluice_worker_processed_total{pool=\"c\" 5\n"
        "sluice_worker_processed_total{pool=\"c\"} five\n"
        "sluice_e2e_latency_seconds_bucket{le=\"\"} 9\n"
        "sluice_e2e_latency_seconds_bucket{pool=\"c\"} 9\n"
        "sluice_e2e_latency_seconds_bucket{le=\"0.5\"}"; /* no value, no LF */

Test(stamp, prom_scrape_sums_label_sets)
{
	static struct bench_prom_sample s;

	bench_prom_parse(scrape_before, &s);
	cr_expect(s.has_processed);
	cr_expect(fabs(s.processed - 150) < 1e-9, "%f", s.processed);
	cr_expect(s.has_udp_drops);
	cr_expect(fabs(s.udp_drops - 3) < 1e-9);
	cr_assert(s.has_lat);
	cr_assert_eq(s.lat.n, 3);
	cr_expect(fabs(s.lat.le[0] - 0.0001) < 1e-12);
	cr_expect(isinf(s.lat.le[2]));
	cr_expect(fabs(s.lat.cum[1] - 20) < 1e-9);
	cr_expect(fabs(s.lat.count - 20) < 1e-9);
	cr_expect(fabs(s.lat.sum - 0.01) < 1e-12);

	bench_prom_parse(scrape_after, &s);
	cr_expect(fabs(s.processed - 1150) < 1e-9, "%f", s.processed);
	cr_expect(fabs(s.udp_drops - 7) < 1e-9, "%f", s.udp_drops);
	cr_assert_eq(s.lat.n, 4);
	cr_expect(fabs(s.lat.cum[3] - 1020) < 1e-9);
	cr_expect(fabs(s.lat.count - 1020) < 1e-9);
	cr_expect_not(s.lat_truncated);
}

Test(stamp, prom_scrape_without_the_metrics)
{
	static struct bench_prom_sample s;

	bench_prom_parse("# nothing here\n\nother_metric 5\n", &s);
	cr_expect_not(s.has_processed);
	cr_expect_not(s.has_udp_drops);
	cr_expect_not(s.has_lat);
	cr_expect_lt(bench_prom_quantile(NULL, &s.lat, 0.5, NULL), 0);
	bench_prom_parse("", &s);
	cr_expect_not(s.has_processed);
}

Test(stamp, prom_quantiles_of_the_delta)
{
	static struct bench_prom_sample a, b;
	double n, p50, p99, p999;

	bench_prom_parse(scrape_before, &a);
	bench_prom_parse(scrape_after, &b);
	/* Delta: 100 <= 100 us, 900 <= 1 ms, 990 <= 10 ms, 1000 in all. */
	p50 = bench_prom_quantile(&a.lat, &b.lat, 0.5, &n);
	cr_expect(fabs(n - 1000) < 1e-9, "%f", n);
	/* rank 500: 400 of the 800 in (100 us, 1 ms] */
	cr_expect(fabs(p50 - (0.0001 + 0.0009 * 400 / 800)) < 1e-12, "%g", p50);
	/* rank 990: the top of (1, 10 ms] */
	p99 = bench_prom_quantile(&a.lat, &b.lat, 0.99, NULL);
	cr_expect(fabs(p99 - 0.01) < 1e-12, "%g", p99);
	/* rank 999: in +Inf, so the largest finite bound */
	p999 = bench_prom_quantile(&a.lat, &b.lat, 0.999, NULL);
	cr_expect(fabs(p999 - 0.01) < 1e-12, "%g", p999);
	/* Without a before: the first bucket starts at 0. */
	p50 = bench_prom_quantile(NULL, &a.lat, 0.25, NULL);
	cr_expect(fabs(p50 - 0.00005) < 1e-12, "%g", p50);
	/* Nothing new between two equal scrapes; a reset (after < before) is refused. */
	cr_expect_lt(bench_prom_quantile(&b.lat, &b.lat, 0.5, &n), 0);
	cr_expect(fabs(n) < 1e-9);
	cr_expect_lt(bench_prom_quantile(&b.lat, &a.lat, 0.5, NULL), 0);
}

Test(stamp, prom_scrape_keeps_a_bounded_number_of_buckets)
{
	static char text[BENCH_PROM_BUCKETS_MAX * 80 + 256];
	static struct bench_prom_sample s;
	size_t off = 0;

	for (int i = BENCH_PROM_BUCKETS_MAX + 4; i > 0; i--)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
		                        "sluice_e2e_latency_seconds_bucket{le=\"%d\"} %d\n", i, i);
	bench_prom_parse(text, &s);
	cr_expect_eq(s.lat.n, BENCH_PROM_BUCKETS_MAX);
	cr_expect(s.lat_truncated);
	for (uint32_t i = 1; i < s.lat.n; i++)
		cr_expect_lt(s.lat.le[i - 1], s.lat.le[i]);
}

/*
 * sluiced's sparse form (engine/daemon/latency.c): for each bucket of route/lat_hist.h with
 * samples, the bound below it (no new samples) and its own upper end. n[k] samples of
 * value v[k] (ascending) for the e2e histogram; the daemon one holds them all at 1 us.
 */
static size_t
sparse_scrape(char *text, size_t cap, const uint64_t *v, const uint64_t *n, uint32_t k)
{
	size_t off = 0;
	uint64_t cum = 0;

	for (uint32_t j = 0; j < k; j++) {
		uint32_t i = slc_lat_hist_index(v[j]);

		off += (size_t)snprintf(text + off, cap - off,
		                        BENCH_PROM_LATENCY "_bucket{le=\"%.17g\"} %" PRIu64
		                                           "\n" BENCH_PROM_LATENCY
		                                           "_bucket{le=\"%.17g\"} %" PRIu64 "\n",
		                        (double)slc_lat_hist_highest(i - 1) / 1e9, cum,
		                        (double)slc_lat_hist_highest(i) / 1e9, cum + n[j]);
		cum += n[j];
	}
	off += (size_t)snprintf(
	        text + off, cap - off,
	        BENCH_PROM_LATENCY "_bucket{le=\"+Inf\"} %" PRIu64 "\n" BENCH_PROM_DLATENCY
	                           "_bucket{le=\"%.17g\"} 0\n" BENCH_PROM_DLATENCY
	                           "_bucket{le=\"%.17g\"} %" PRIu64 "\n" BENCH_PROM_DLATENCY
	                           "_bucket{le=\"+Inf\"} %" PRIu64 "\n",
	        cum, (double)slc_lat_hist_highest(slc_lat_hist_index(1000) - 1) / 1e9,
	        (double)slc_lat_hist_highest(slc_lat_hist_index(1000)) / 1e9, cum, cum);
	return off;
}

static void
expect_near(double got_s, double want_ns, const char *what)
{
	cr_expect(fabs(got_s * 1e9 - want_ns) <= want_ns * 0.01, "%s: %.9g s, want %.0f ns +-1%%",
	          what, got_s, want_ns);
}

Test(stamp, prom_sparse_log_linear_buckets_give_quantiles_min_and_max_within_1pct)
{
	static struct bench_prom_sample a, b;
	static char text[4096];
	static const uint64_t v[] = {1000, 50000, 2000000};
	static const uint64_t before[] = {10, 0, 0}, after[] = {10, 80, 10};
	double lo, hi, n;

	sparse_scrape(text, sizeof(text), v, before, 1);
	bench_prom_parse(text, &a);
	sparse_scrape(text, sizeof(text), v, after, 3);
	bench_prom_parse(text, &b);
	cr_assert(b.has_lat && b.has_dlat);
	cr_expect_not(b.lat_truncated);
	/* All of after: 10 at 1 us, 80 at 50 us, 10 at 2 ms. */
	cr_assert(bench_prom_range(NULL, &b.lat, &lo, &hi));
	expect_near(lo, 1000, "min");
	expect_near(hi, 2000000, "max");
	expect_near(bench_prom_quantile(NULL, &b.lat, 0.5, &n), 50000, "p50");
	cr_expect(fabs(n - 100) < 1e-9);
	expect_near(bench_prom_quantile(NULL, &b.lat, 0.999, NULL), 2000000, "p99.9");
	/* The window after - before has no sample at 1 us: its min is 50 us. */
	cr_assert(bench_prom_range(&a.lat, &b.lat, &lo, &hi));
	expect_near(lo, 50000, "window min");
	expect_near(hi, 2000000, "window max");
	expect_near(bench_prom_quantile(&a.lat, &b.lat, 0.5, NULL), 50000, "window p50");
	expect_near(bench_prom_quantile(&a.lat, &b.lat, 0.95, NULL), 2000000, "window p95");
	expect_near(bench_prom_quantile(&a.dlat, &b.dlat, 0.5, NULL), 1000, "daemon p50");
	/* Nothing new, or counts that went backwards (a restart): no range. */
	cr_expect_not(bench_prom_range(&b.lat, &b.lat, &lo, &hi));
	cr_expect_not(bench_prom_range(&b.lat, &a.lat, &lo, &hi));
}
