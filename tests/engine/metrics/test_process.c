/* SPDX-License-Identifier: MIT */
/* test_process.c: the process's memory gauges (engine/metrics/process.c). */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expo_check.h"
#include "metrics/process.h"

Test(metrics, jemalloc_gauges_or_enoent)
{
	struct slc_metrics_buf *b = buf_new();
	unsigned long long rss = 0, allocated = 0, resident = 0;
	const char *p;
	int rc;

	cr_assert_eq(slc_metrics_family(b, "sluice_before", "gauge", "Before."), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_before", NULL, 1), 0);
	rc = slc_metrics_jemalloc(b);
	cr_assert(rc == 0 || rc == -ENOENT, "rc %d", rc);
	/* The caller's families go on after it. */
	cr_assert_eq(slc_metrics_family(b, "sluice_after", "gauge", "After."), 0);
	cr_assert_eq(slc_metrics_u64(b, "sluice_after", NULL, 2), 0);
	expect_valid(text_of(b));
	cr_expect_eq(slc_metrics_buf_refused(b, NULL), 0u);

	p = strstr(text_of(b), "\nsluice_process_resident_bytes ");
	cr_assert_not_null(p, "%s", text_of(b));
	cr_expect_eq(sscanf(p, "\nsluice_process_resident_bytes %llu", &rss), 1);
	cr_expect_gt(rss, 0ull);
	p = strstr(text_of(b), "\nsluice_jemalloc_allocated_bytes ");
	if (rc == -ENOENT) {
		cr_expect_null(p, "no jemalloc, yet: %s", text_of(b));
	} else {
		cr_assert_not_null(p, "%s", text_of(b));
		cr_expect_eq(sscanf(p, "\nsluice_jemalloc_allocated_bytes %llu", &allocated), 1);
		p = strstr(text_of(b), "\nsluice_jemalloc_resident_bytes ");
		cr_assert_not_null(p);
		cr_expect_eq(sscanf(p, "\nsluice_jemalloc_resident_bytes %llu", &resident), 1);
		cr_expect_gt(allocated, 0ull);
		cr_expect_geq(resident, allocated);
	}
	slc_metrics_buf_destroy(b);
}
