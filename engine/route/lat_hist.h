/* SPDX-License-Identifier: MIT */
/* lat_hist.h: the log-linear latency buckets the daemon and sluice-bench share (header only). */
#ifndef SLC_ENGINE_LAT_HIST_H
#define SLC_ENGINE_LAT_HIST_H

#include <stdint.h>

/*
 * One fixed set of buckets for every latency measured in ns, so that the daemon's workers
 * and sluice-bench count into the same buckets and a scrape of one adds into the other
 * without re-binning. A bucket is found with a count-leading-zeros and a shift, never a
 * search (the daemon does it once per stamped message).
 *
 * Values below 2 * SLC_LAT_HIST_SUB (256) each have their own bucket (exact); from there on
 * each power-of-two range [2^k, 2^(k+1)) is cut into SLC_LAT_HIST_SUB (128) equal
 * sub-buckets of width 2^(k-7). A value v in a bucket of width w has v >= 128 w, so the
 * bucket's midpoint is within w/2 <= v/256 of v (0.4%), and any value of the bucket within
 * v/128 (0.8%): under the 1% issue 14 asks of the quantiles, at every magnitude up to
 * 2^64 - 1.
 *
 *   index:  0 .. 255      v itself
 *           256 + ...     group g = index / 128 >= 2 holds [128 << (g-1), 256 << (g-1))
 *
 * 58 groups of 128: SLC_LAT_HIST_BUCKETS = 7424 counters.
 */

#define SLC_LAT_HIST_SUB_BITS 7u
#define SLC_LAT_HIST_SUB      (1u << SLC_LAT_HIST_SUB_BITS)
#define SLC_LAT_HIST_BUCKETS  ((64u - SLC_LAT_HIST_SUB_BITS + 1u) * SLC_LAT_HIST_SUB)

/* The bucket of v: any v, 0 .. SLC_LAT_HIST_BUCKETS - 1. */
static inline uint32_t
slc_lat_hist_index(uint64_t v)
{
	uint32_t k, shift;

	if (v < 2 * SLC_LAT_HIST_SUB)
		return (uint32_t)v;
	k = 63u - (uint32_t)__builtin_clzll(v); /* 8 .. 63 */
	shift = k - SLC_LAT_HIST_SUB_BITS;
	/* v >> shift is in [128, 256): the sub-bucket plus 128, which the group adds back. */
	return (shift + 1u) * SLC_LAT_HIST_SUB + (uint32_t)(v >> shift) - SLC_LAT_HIST_SUB;
}

/* The smallest value of bucket i (i < SLC_LAT_HIST_BUCKETS). */
static inline uint64_t
slc_lat_hist_lowest(uint32_t i)
{
	uint32_t g = i / SLC_LAT_HIST_SUB;

	if (g < 2)
		return i;
	return (uint64_t)(i % SLC_LAT_HIST_SUB + SLC_LAT_HIST_SUB) << (g - 1u);
}

/* The largest value of bucket i: lowest + width - 1 (no overflow: the last bucket ends at
 * UINT64_MAX). */
static inline uint64_t
slc_lat_hist_highest(uint32_t i)
{
	uint32_t g = i / SLC_LAT_HIST_SUB;

	if (g < 2)
		return i;
	return slc_lat_hist_lowest(i) + ((UINT64_C(1) << (g - 1u)) - 1u);
}

/* What bucket i stands for in a quantile: its midpoint (see the top for the error). */
static inline uint64_t
slc_lat_hist_mid(uint32_t i)
{
	uint64_t lo = slc_lat_hist_lowest(i);

	return lo + (slc_lat_hist_highest(i) - lo) / 2;
}

#endif /* SLC_ENGINE_LAT_HIST_H */
