/* SPDX-License-Identifier: MIT */
/* test_expo.c: the Prometheus text builder (engine/metrics/expo.c). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "expo_check.h"
#include "metrics/expo.h"

Test(metrics, counter_family_with_two_label_sets)
{
	struct slc_metrics_buf *b = buf_new();
	char l[64];

	cr_assert_eq(slc_metrics_family(b, "sluice_rx_total", "counter", "Messages received."), 0);
	cr_assert_eq(slc_metrics_labels(l, sizeof(l), "pool", "a", "proto", "tcp", NULL), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_rx_total", l, 1), 0);
	cr_assert_eq(slc_metrics_labels(l, sizeof(l), "pool", "b", "proto", "udp", NULL), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_rx_total", l, UINT64_MAX), 0);
	cr_expect_str_eq(text_of(b), "# HELP sluice_rx_total Messages received.\n"
	                             "# TYPE sluice_rx_total counter\n"
	                             "sluice_rx_total{pool=\"a\",proto=\"tcp\"} 1\n"
	                             "sluice_rx_total{pool=\"b\",proto=\"udp\"} "
	                             "18446744073709551615\n");
	cr_expect_eq(slc_metrics_buf_refused(b, NULL), 0u);
	expect_valid(text_of(b));
	slc_metrics_buf_destroy(b);
}

Test(metrics, gauge_values_in_the_format_spelling)
{
	struct slc_metrics_buf *b = buf_new();

	cr_assert_eq(slc_metrics_family(b, "sluice_level", "gauge", "A level."), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"1\"", 0.1), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"2\"", 1e-9), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"3\"", 42.0), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"4\"", NAN), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"5\"", INFINITY), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "k=\"6\"", -INFINITY), 0);
	cr_assert_eq(slc_metrics_f64(b, "sluice_level", "", 1.0 / 3.0), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_level", NULL, 7), 0);
	cr_expect_str_eq(text_of(b), "# HELP sluice_level A level.\n"
	                             "# TYPE sluice_level gauge\n"
	                             "sluice_level{k=\"1\"} 0.1\n"
	                             "sluice_level{k=\"2\"} 1e-09\n"
	                             "sluice_level{k=\"3\"} 42\n"
	                             "sluice_level{k=\"4\"} NaN\n"
	                             "sluice_level{k=\"5\"} +Inf\n"
	                             "sluice_level{k=\"6\"} -Inf\n"
	                             "sluice_level 0.3333333333333333\n"
	                             "sluice_level 7\n");
	expect_valid(text_of(b));
	slc_metrics_buf_destroy(b);
}

Test(metrics, escaping_of_label_values_and_help)
{
	struct slc_metrics_buf *b = buf_new();
	char l[64], small[6];

	cr_assert_eq(slc_metrics_family(b, "sluice_x", "gauge", "Back\\slash, \"quotes\"\nnext"),
	             0);
	cr_assert_eq(slc_metrics_labels(l, sizeof(l), "path", "a\\b\"c\nd", NULL), 0);
	cr_expect_str_eq(l, "path=\"a\\\\b\\\"c\\nd\"");
	cr_assert_eq(slc_metrics_u64(b, "sluice_x", l, 3), 0);
	cr_expect_str_eq(text_of(b), "# HELP sluice_x Back\\\\slash, \"quotes\"\\nnext\n"
	                             "# TYPE sluice_x gauge\n"
	                             "sluice_x{path=\"a\\\\b\\\"c\\nd\"} 3\n");
	expect_valid(text_of(b));

	cr_expect_eq(slc_metrics_label_escape(l, sizeof(l), "x\"y"), 4);
	cr_expect_str_eq(l, "x\\\"y");
	/* Truncation never leaves half an escape. */
	cr_expect_eq(slc_metrics_label_escape(small, sizeof(small), "abcd\"e"), -ENOSPC);
	cr_expect_str_eq(small, "abcd");
	cr_expect_eq(slc_metrics_label_escape(small, sizeof(small), "abc\"e"), -ENOSPC);
	cr_expect_str_eq(small, "abc\\\"");
	cr_expect_eq(slc_metrics_labels(small, sizeof(small), "pool", "abcdef", NULL), -ENOSPC);
	cr_expect_str_eq(small, "");
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), "__name", "x", NULL), -EINVAL);
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), "1x", "x", NULL), -EINVAL);
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), "a-b", "x", NULL), -EINVAL);
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), "ok", (const char *)NULL, NULL), -EINVAL);
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), "k", "v", "bad", (const char *)NULL, NULL),
	             -EINVAL);
	cr_expect_str_eq(l, "");
	cr_expect_eq(slc_metrics_labels(l, sizeof(l), NULL), 0);
	cr_expect_str_eq(l, "");
	slc_metrics_buf_destroy(b);
}

Test(metrics, histogram_log2_is_cumulative)
{
	struct slc_metrics_buf *b = buf_new();
	/* 3 values in [4, 8) ns, 5 in [16, 32) ns */
	const uint64_t h[8] = {0, 0, 3, 0, 5, 0, 0, 0};
	const uint64_t low[2] = {2, 1};
	const uint64_t none[4] = {0};

	cr_assert_eq(slc_metrics_family(b, "sluice_lat_seconds", "histogram", "Latency."), 0);
	cr_assert_eq(slc_metrics_histogram_log2(b, "sluice_lat_seconds", "pool=\"a\"", h, 8, 1e-9,
	                                        1.5e-7),
	             0);
	cr_assert_eq(slc_metrics_histogram_log2(b, "sluice_lat_seconds", NULL, low, 2, 1e-6, 0.25),
	             0);
	cr_assert_eq(slc_metrics_histogram_log2(b, "sluice_lat_seconds", "pool=\"c\"", none, 4,
	                                        1e-9, 0.0),
	             0);
	cr_expect_str_eq(text_of(b), "# HELP sluice_lat_seconds Latency.\n"
	                             "# TYPE sluice_lat_seconds histogram\n"
	                             "sluice_lat_seconds_bucket{pool=\"a\",le=\"4e-09\"} 0\n"
	                             "sluice_lat_seconds_bucket{pool=\"a\",le=\"8e-09\"} 3\n"
	                             "sluice_lat_seconds_bucket{pool=\"a\",le=\"1.6e-08\"} 3\n"
	                             "sluice_lat_seconds_bucket{pool=\"a\",le=\"3.2e-08\"} 8\n"
	                             "sluice_lat_seconds_bucket{pool=\"a\",le=\"+Inf\"} 8\n"
	                             "sluice_lat_seconds_sum{pool=\"a\"} 1.5e-07\n"
	                             "sluice_lat_seconds_count{pool=\"a\"} 8\n"
	                             "sluice_lat_seconds_bucket{le=\"2e-06\"} 2\n"
	                             "sluice_lat_seconds_bucket{le=\"4e-06\"} 3\n"
	                             "sluice_lat_seconds_bucket{le=\"+Inf\"} 3\n"
	                             "sluice_lat_seconds_sum 0.25\n"
	                             "sluice_lat_seconds_count 3\n"
	                             "sluice_lat_seconds_bucket{pool=\"c\",le=\"+Inf\"} 0\n"
	                             "sluice_lat_seconds_sum{pool=\"c\"} 0\n"
	                             "sluice_lat_seconds_count{pool=\"c\"} 0\n");
	expect_valid(text_of(b));
	slc_metrics_buf_destroy(b);
}

Test(metrics, histogram_with_explicit_bounds)
{
	struct slc_metrics_buf *b = buf_new();
	const double bounds[3] = {0.001, 0.002, 0.005};
	const uint64_t counts[4] = {1, 0, 2, 3};
	const double bad[2] = {0.002, 0.001};

	cr_assert_eq(slc_metrics_family(b, "sluice_lat_seconds", "histogram", "Latency."), 0);
	cr_assert_eq(slc_metrics_histogram(b, "sluice_lat_seconds", NULL, bounds, counts, 3, 0.5),
	             0);
	cr_expect_str_eq(text_of(b), "# HELP sluice_lat_seconds Latency.\n"
	                             "# TYPE sluice_lat_seconds histogram\n"
	                             "sluice_lat_seconds_bucket{le=\"0.001\"} 1\n"
	                             "sluice_lat_seconds_bucket{le=\"0.002\"} 1\n"
	                             "sluice_lat_seconds_bucket{le=\"0.005\"} 3\n"
	                             "sluice_lat_seconds_bucket{le=\"+Inf\"} 6\n"
	                             "sluice_lat_seconds_sum 0.5\n"
	                             "sluice_lat_seconds_count 6\n");
	/* bounds must rise */
	cr_expect_eq(slc_metrics_histogram(b, "sluice_lat_seconds", NULL, bad, counts, 2, 0),
	             -EINVAL);
	expect_valid(text_of(b));
	slc_metrics_buf_destroy(b);
}

Test(metrics, histogram_of_all_64_buckets)
{
	struct slc_metrics_buf *b = buf_new();
	uint64_t h[SLC_METRICS_LOG2_BUCKETS_MAX];
	uint64_t cum = 0, prev = 0, count = 0;
	double prev_le = 0;
	const char *p;
	unsigned lines = 0;

	for (unsigned i = 0; i < SLC_METRICS_LOG2_BUCKETS_MAX; i++)
		h[i] = i + 1;
	cr_assert_eq(slc_metrics_family(b, "h_seconds", "histogram", "All."), 0);
	cr_assert_eq(slc_metrics_histogram_log2(b, "h_seconds", NULL, h, 64, 1e-9, 1.0), 0);
	expect_valid(text_of(b));
	/* Bounds rise, counts never fall, +Inf equals _count equals the sum of the buckets. */
	for (p = strstr(text_of(b), "h_seconds_bucket{le=\""); p != NULL;
	     p = strstr(p + 1, "h_seconds_bucket{le=\"")) {
		const char *q = p + strlen("h_seconds_bucket{le=\"");
		unsigned long long v;

		if (strncmp(q, "+Inf", 4) == 0) {
			cr_assert_eq(sscanf(q, "+Inf\"} %llu", &v), 1);
			cr_expect_eq(v, cum);
			continue;
		}
		double le = strtod(q, NULL);
		cr_expect_gt(le, prev_le);
		prev_le = le;
		cr_assert_eq(sscanf(strchr(q, '}'), "} %llu", &v), 1);
		cr_expect_geq(v, prev);
		prev = cum = v;
		lines++;
	}
	for (unsigned i = 0; i < 64; i++)
		count += h[i];
	cr_expect_eq(lines, 64u);
	cr_expect_eq(cum, count);
	cr_expect_not_null(strstr(text_of(b), "h_seconds_count 2080\n"));
	cr_expect_not_null(strstr(text_of(b), "h_seconds_sum 1\n"));
	cr_expect_eq(slc_metrics_histogram_log2(b, "h_seconds", NULL, h, 65, 1e-9, 1.0), -EINVAL);
	cr_expect_eq(slc_metrics_histogram_log2(b, "h_seconds", NULL, h, 4, 0.0, 1.0), -EINVAL);
	cr_expect_eq(slc_metrics_histogram_log2(b, "h_seconds", NULL, NULL, 4, 1e-9, 1.0), -EINVAL);
	slc_metrics_buf_destroy(b);
}

/* A helper that writes one family for one pool, called once per pool. */
static void
emit_depth(struct slc_metrics_buf *b, const char *pool, uint64_t v)
{
	char l[32];

	cr_assert_eq(slc_metrics_family(b, "sluice_depth", "gauge", "Queue depth."), 0);
	cr_assert_eq(slc_metrics_labels(l, sizeof(l), "pool", pool, NULL), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_depth", l, v), 0);
}

Test(metrics, family_written_once_and_never_split)
{
	struct slc_metrics_buf *b = buf_new();
	const char *first;
	size_t len;

	emit_depth(b, "a", 1);
	emit_depth(b, "b", 2);
	cr_expect_str_eq(text_of(b), "# HELP sluice_depth Queue depth.\n"
	                             "# TYPE sluice_depth gauge\n"
	                             "sluice_depth{pool=\"a\"} 1\n"
	                             "sluice_depth{pool=\"b\"} 2\n");
	cr_assert_eq(slc_metrics_family(b, "sluice_other", "counter", "Other."), 0);
	slc_metrics_buf_text(b, &len);

	/* Every refusal writes nothing. */
	cr_expect_eq(slc_metrics_family(b, "sluice_depth", "gauge", "Queue depth."), -EINVAL);
	cr_expect_eq(slc_metrics_u64(b, "sluice_depth", NULL, 3), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, "sluice_other", "gauge", "Other."), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, "9bad", "gauge", "x"), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, "bad-name", "gauge", "x"), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, "ok", "summary", "x"), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, "ok", "gauge", NULL), -EINVAL);
	cr_expect_eq(slc_metrics_family(b, NULL, "gauge", "x"), -EINVAL);
	cr_expect_eq(slc_metrics_histogram_log2(b, "sluice_other", NULL, NULL, 0, 1e-9, 0),
	             -EINVAL);
	cr_expect_eq(slc_metrics_f64(b, NULL, NULL, 1), -EINVAL);
	cr_expect_eq(slc_metrics_buf_text(b, NULL)[len], '\0');
	cr_expect_eq(strlen(text_of(b)), len);
	cr_expect_eq(slc_metrics_buf_refused(b, &first), 10u);
	cr_expect_not_null(strstr(first, "split"), "first refusal: %s", first);
	cr_assert_eq(slc_metrics_u64(b, "sluice_other", NULL, 5), 0);
	expect_valid(text_of(b));

	/* A reset starts a new render: the same families again. */
	slc_metrics_buf_reset(b);
	cr_expect_str_eq(text_of(b), "");
	cr_expect_eq(slc_metrics_buf_refused(b, NULL), 0u);
	emit_depth(b, "a", 1);
	cr_expect_not_null(strstr(text_of(b), "# HELP sluice_depth"));
	slc_metrics_buf_destroy(b);
}

Test(metrics, large_render_grows_the_buffer)
{
	struct slc_metrics_buf *b = buf_new();
	char l[32], name[32];
	size_t len;

	for (unsigned f = 0; f < 50; f++) {
		snprintf(name, sizeof(name), "sluice_f%u_total", f);
		cr_assert_eq(slc_metrics_family(b, name, "counter", "Many."), 0);
		for (unsigned i = 0; i < 200; i++) {
			snprintf(l, sizeof(l), "i=\"%u\"", i);
			cr_assert_eq(slc_metrics_u64(b, name, l, i), 0);
		}
	}
	slc_metrics_buf_text(b, &len);
	cr_expect_gt(len, (size_t)200000);
	cr_expect_not_null(strstr(text_of(b), "sluice_f49_total{i=\"199\"} 199\n"));
	cr_expect_null(exposition_error(text_of(b)));
	slc_metrics_buf_destroy(b);
}
