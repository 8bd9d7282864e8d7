/* SPDX-License-Identifier: MIT */
/* bucket.h: a token bucket on the caller's clock: pure, inline, no lock, no system call. */
#ifndef SLC_URING_BUCKET_H
#define SLC_URING_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * One token bucket: rate tokens a second, at most burst of them saved up. The owner (one
 * reactor) refills it from its own clock (the loop's now_ns, read once a loop anyway), so
 * a check costs a subtraction and a multiply, never a lock or a clock read.
 *
 * Tokens may go below zero: a taker that finds any token (tokens > 0) may take more than
 * are there (a message larger than the bytes left, or a burst of messages offered
 * together), and the debt is paid back by the refill before anything else passes. So a
 * message larger than the burst never wedges its sender, and the long-run rate is exact:
 * over any time T, what passes is at most rate * T + burst + the last take's overshoot.
 *
 * rate == 0: no limit (slc_bucket_avail is always positive). Doubles, not integers:
 * rates up to terabytes a second and fractions of a token per nanosecond need no care for
 * overflow, and the error of a double over a day's refills is far below one token.
 */
struct slc_bucket {
	double tokens;    /* may be negative: a debt (see above) */
	double rate_ns;   /* tokens per nanosecond; 0: unlimited */
	double burst;     /* the most tokens it holds */
	uint64_t last_ns; /* the clock of the last refill */
};

/* A full bucket at now_ns: a sender starts with its whole burst. burst 0 with a rate:
 * one second's worth. */
static inline void
slc_bucket_init(struct slc_bucket *b, double rate, double burst, uint64_t now_ns)
{
	b->rate_ns = rate / 1e9;
	b->burst = burst > 0 ? burst : rate;
	b->tokens = b->burst;
	b->last_ns = now_ns;
}

static inline bool
slc_bucket_limited(const struct slc_bucket *b)
{
	return b->rate_ns != 0;
}

/* Adds what the time since the last refill earned, up to burst. A clock that went
 * backwards (it cannot: the reactor's is monotonic) adds nothing. */
static inline void
slc_bucket_refill(struct slc_bucket *b, uint64_t now_ns)
{
	if (now_ns <= b->last_ns)
		return;
	b->tokens += (double)(now_ns - b->last_ns) * b->rate_ns;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->last_ns = now_ns;
}

/* A new rate and burst for a bucket in use (a reload): what it saved up under the old rate
 * stays, up to the new burst (a debt stays a debt); a bucket that had no limit starts
 * full, as a new one would. */
static inline void
slc_bucket_rerate(struct slc_bucket *b, double rate, double burst, uint64_t now_ns)
{
	double tokens;

	if (b->rate_ns == 0) {
		slc_bucket_init(b, rate, burst, now_ns);
		return;
	}
	slc_bucket_refill(b, now_ns);
	tokens = b->tokens;
	slc_bucket_init(b, rate, burst, now_ns);
	if (tokens < b->tokens)
		b->tokens = tokens;
}

/* Tokens there now (after a refill): > 0 means something may pass. */
static inline double
slc_bucket_avail(const struct slc_bucket *b)
{
	return slc_bucket_limited(b) ? b->tokens : 1e300;
}

/* Takes n tokens (after a check of slc_bucket_avail): may leave a debt. */
static inline void
slc_bucket_take(struct slc_bucket *b, double n)
{
	if (slc_bucket_limited(b))
		b->tokens -= n;
}

/* The longest wait slc_bucket_wait_ns returns (2^62 ns, 146 years): a caller may add it
 * to a monotonic clock without wrapping. */
#define SLC_BUCKET_WAIT_NS_MAX (1ull << 62)

/* Nanoseconds until tokens > 0 again (0: there are some now): when to look next; at most
 * SLC_BUCKET_WAIT_NS_MAX. */
static inline uint64_t
slc_bucket_wait_ns(const struct slc_bucket *b)
{
	double w;

	if (!slc_bucket_limited(b) || b->tokens > 0)
		return 0;
	/* A wait past the clamp (a huge debt, an infinite one) would make the cast below
	 * undefined; !(w < max) also catches a NaN. */
	w = -b->tokens / b->rate_ns;
	if (!(w < (double)(SLC_BUCKET_WAIT_NS_MAX - 1)))
		return SLC_BUCKET_WAIT_NS_MAX;
	/* +1: the refill must make tokens strictly positive. */
	return (uint64_t)w + 1;
}

#endif /* SLC_URING_BUCKET_H */
