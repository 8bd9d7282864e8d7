/* SPDX-License-Identifier: MIT */
/* sluice_bench_hist.h: sluice-bench's log-linear latency histogram (HDR-style buckets). */
#ifndef SLC_PERF_SLUICE_BENCH_HIST_H
#define SLC_PERF_SLUICE_BENCH_HIST_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Every latency sluice-bench measures goes in here, one add per message, so the buckets are
 * found with a count-leading-zeros and a shift, never a search. Values are ns.
 *
 * Buckets: values below 2 * SB_HIST_SUB (256) each have their own (exact); from there on
 * each power-of-two range [2^k, 2^(k+1)) is cut into SB_HIST_SUB (128) equal sub-buckets of
 * width 2^(k-7). A value v in a bucket of width w has v >= 128 w, so the bucket's midpoint
 * is within w/2 <= v/256 of v (0.4%), and any value of the bucket within v/128 (0.8%):
 * under the 1% that issue 14 asks of the quantiles, at every magnitude up to 2^64 - 1.
 *
 *   index:  0 .. 255      v itself
 *           256 + ...     group g = index / 128 >= 2 holds [128 << (g-1), 256 << (g-1))
 *
 * 58 groups of 128 counters: 7424 u64, 58 KiB, one per sender thread (no sharing).
 */

#define SB_HIST_SUB_BITS 7u
#define SB_HIST_SUB      (1u << SB_HIST_SUB_BITS)
#define SB_HIST_BUCKETS  ((64u - SB_HIST_SUB_BITS + 1u) * SB_HIST_SUB)

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

/* The bucket of v: any v, 0 .. SB_HIST_BUCKETS - 1. */
static inline uint32_t
sb_hist_index(uint64_t v)
{
	uint32_t k, shift;

	if (v < 2 * SB_HIST_SUB)
		return (uint32_t)v;
	k = 63u - (uint32_t)__builtin_clzll(v); /* 8 .. 63 */
	shift = k - SB_HIST_SUB_BITS;
	/* v >> shift is in [128, 256): the sub-bucket plus 128, which the group adds back. */
	return (shift + 1u) * SB_HIST_SUB + (uint32_t)(v >> shift) - SB_HIST_SUB;
}

/* The smallest value of bucket i (i < SB_HIST_BUCKETS). */
static inline uint64_t
sb_hist_lowest(uint32_t i)
{
	uint32_t g = i / SB_HIST_SUB;

	if (g < 2)
		return i;
	return (uint64_t)(i % SB_HIST_SUB + SB_HIST_SUB) << (g - 1u);
}

/* The largest value of bucket i: lowest + width - 1 (no overflow: the last bucket ends at
 * UINT64_MAX). */
static inline uint64_t
sb_hist_highest(uint32_t i)
{
	uint32_t g = i / SB_HIST_SUB;

	if (g < 2)
		return i;
	return sb_hist_lowest(i) + ((UINT64_C(1) << (g - 1u)) - 1u);
}

/* What bucket i stands for in a quantile: its midpoint (see the top for the error). */
static inline uint64_t
sb_hist_mid(uint32_t i)
{
	uint64_t lo = sb_hist_lowest(i);

	return lo + (sb_hist_highest(i) - lo) / 2;
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
