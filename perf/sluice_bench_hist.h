/* SPDX-License-Identifier: MIT */
/* sluice_bench_hist.h: sluice-bench's log-linear latency histogram (HDR-style buckets). */
#ifndef SLC_PERF_SLUICE_BENCH_HIST_H
#define SLC_PERF_SLUICE_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "route/lat_hist.h"

/*
 * Every latency sluice-bench measures goes in here, one add per message, into the buckets
 * the daemon's workers use too (route/lat_hist.h: log-linear, within 0.8% at every
 * magnitude), so that a scrape of sluiced's histograms adds into one of these as it is.
 * 58 KiB, one per sender thread (no sharing). Values are ns.
 */

#define SB_HIST_BUCKETS SLC_LAT_HIST_BUCKETS

struct sb_hist {
	uint64_t count;
	uint64_t min, max; /* exact; min is UINT64_MAX while count is 0 */
	uint64_t b[SB_HIST_BUCKETS];
};

static inline void
sb_hist_init(struct sb_hist *h)
{
	for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++)
		h->b[i] = 0;
	h->count = 0;
	h->min = UINT64_MAX;
	h->max = 0;
}

static inline uint32_t
sb_hist_index(uint64_t v)
{
	return slc_lat_hist_index(v);
}

static inline uint64_t
sb_hist_lowest(uint32_t i)
{
	return slc_lat_hist_lowest(i);
}

static inline uint64_t
sb_hist_highest(uint32_t i)
{
	return slc_lat_hist_highest(i);
}

static inline uint64_t
sb_hist_mid(uint32_t i)
{
	return slc_lat_hist_mid(i);
}

static inline void
sb_hist_add(struct sb_hist *h, uint64_t v)
{
	h->b[sb_hist_index(v)]++;
	h->count++;
	h->min = v < h->min ? v : h->min;
	h->max = v > h->max ? v : h->max;
}

/* Adds everything in src to dst. */
static inline void
sb_hist_merge(struct sb_hist *dst, const struct sb_hist *src)
{
	for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->min = src->min < dst->min ? src->min : dst->min;
	dst->max = src->max > dst->max ? src->max : dst->max;
}

/*
 * The q-quantile (0 <= q <= 1): the value of rank ceil(q * count) (at least 1), as the
 * midpoint of its bucket, held within [min, max] so that p100 is max and a histogram of
 * one value gives that value. False when the histogram is empty.
 */
static inline bool
sb_hist_quantile(const struct sb_hist *h, double q, uint64_t *out)
{
	uint64_t rank, seen = 0;
	double want;

	if (h->count == 0)
		return false;
	want = q * (double)h->count;
	rank = (uint64_t)want;
	if ((double)rank < want)
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;
	for (uint32_t i = 0; i < SB_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= rank) {
			uint64_t v = sb_hist_mid(i);

			*out = v < h->min ? h->min : v > h->max ? h->max : v;
			return true;
		}
	}
	*out = h->max; /* not reached: the buckets add up to count */
	return true;
}

#endif /* SLC_PERF_SLUICE_BENCH_HIST_H */
