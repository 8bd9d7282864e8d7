/* SPDX-License-Identifier: MIT */
/* test_bucket.c: the token bucket alone, on a fake clock: refill, burst, debt, waits. */
#include <criterion/criterion.h>
#include <stdint.h>

#include "bucket.h"

#define SEC 1000000000ull

/* A sender that takes one token whenever there is one, polled every step_ns, for
 * duration_ns from t0: how many it took. */
static uint64_t
drain_for(struct slc_bucket *b, uint64_t t0, uint64_t duration_ns, uint64_t step_ns)
{
	uint64_t n = 0;

	for (uint64_t t = t0; t < t0 + duration_ns; t += step_ns) {
		slc_bucket_refill(b, t);
		while (slc_bucket_avail(b) > 0) {
			slc_bucket_take(b, 1);
			n++;
		}
	}
	return n;
}

Test(bucket, starts_full_and_gives_its_burst_at_once)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 1000, 250, 5 * SEC);
	cr_expect(slc_bucket_limited(&b));
	cr_expect_eq(drain_for(&b, 5 * SEC, 1, 1), 250);
	cr_expect_leq(slc_bucket_avail(&b), 0);
}

Test(bucket, burst_defaults_to_one_second_of_rate)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 400, 0, 0);
	cr_expect_eq(drain_for(&b, 0, 1, 1), 400);
}

/* R tokens a second, each second within 1% of R after the burst is spent, whatever the
 * poll step (1 ms .. 90 ms, with a burst that holds more than a step's worth). */
Test(bucket, the_rate_holds_per_second_at_any_poll_step)
{
	static const uint64_t steps[] = {1000000, 5000000, 37000000, 90000000};

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct slc_bucket b;
		uint64_t t = 0;

		slc_bucket_init(&b, 1000, 100, 0);
		drain_for(&b, 0, 1, 1); /* the burst */
		for (int s = 0; s < 10; s++, t += SEC) {
			uint64_t n = drain_for(&b, t + 1, SEC, steps[i]);

			cr_expect(n >= 990 && n <= 1010, "step %llu ns, second %d: %llu tokens",
			          (unsigned long long)steps[i], s, (unsigned long long)n);
		}
	}
}

Test(bucket, idle_time_saves_up_to_the_burst_only)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 100, 20, 0);
	drain_for(&b, 0, 1, 1);
	slc_bucket_refill(&b, 3600 * SEC);
	cr_expect_float_eq(slc_bucket_avail(&b), 20.0, 1e-9);
}

/* A take larger than what is there leaves a debt that the refill pays first: a message
 * bigger than the burst passes (never wedges), and the long-run rate stays exact. */
Test(bucket, a_take_beyond_the_tokens_is_a_debt_paid_by_time)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 1000, 1000, 0); /* bytes: 1000 a second */
	cr_expect_gt(slc_bucket_avail(&b), 0);
	slc_bucket_take(&b, 5000);
	cr_expect_float_eq(slc_bucket_avail(&b), -4000.0, 1e-9);
	cr_expect_eq(slc_bucket_wait_ns(&b), 4 * SEC + 1);
	slc_bucket_refill(&b, 4 * SEC);
	cr_expect_leq(slc_bucket_avail(&b), 0, "not before 4 s");
	slc_bucket_refill(&b, 4 * SEC + 1000);
	cr_expect_gt(slc_bucket_avail(&b), 0);
	cr_expect_eq(slc_bucket_wait_ns(&b), 0);
}

Test(bucket, rate_zero_is_no_limit)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 0, 0, 0);
	cr_expect_not(slc_bucket_limited(&b));
	slc_bucket_take(&b, 1e12);
	cr_expect_gt(slc_bucket_avail(&b), 1e12);
	cr_expect_eq(slc_bucket_wait_ns(&b), 0);
}

Test(bucket, a_clock_that_does_not_move_adds_nothing)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 1000, 10, 7 * SEC);
	drain_for(&b, 7 * SEC, 1, 1);
	slc_bucket_refill(&b, 7 * SEC);
	slc_bucket_refill(&b, 6 * SEC);
	cr_expect_leq(slc_bucket_avail(&b), 0);
}

/* A deficit whose wait does not fit in 64 bits (a huge debt at 1 msg/s, or 1e12/s with an
 * absurd one) waits SLC_BUCKET_WAIT_NS_MAX, never a wrapped or undefined cast; ordinary
 * waits at both extremes stay exact. */
Test(bucket, the_wait_of_a_huge_deficit_is_clamped)
{
	struct slc_bucket slow, fast;

	slc_bucket_init(&slow, 1, 1, 0);
	slc_bucket_take(&slow, 2);
	/* 1 / (1 / 1e9) is not exact in doubles: a nanosecond either way. */
	cr_expect_geq(slc_bucket_wait_ns(&slow), SEC, "1 msg/s, one in debt: 1 s");
	cr_expect_leq(slc_bucket_wait_ns(&slow), SEC + 1);
	slc_bucket_take(&slow, 1e300);
	cr_expect_eq(slc_bucket_wait_ns(&slow), SLC_BUCKET_WAIT_NS_MAX);

	slc_bucket_init(&fast, 1e12, 1e12, 0);
	slc_bucket_take(&fast, 1e12 + 1e6);
	cr_expect_eq(slc_bucket_wait_ns(&fast), 1000 + 1, "1e12/s, 1e6 in debt: 1 us");
	slc_bucket_take(&fast, 1e30);
	cr_expect_eq(slc_bucket_wait_ns(&fast), SLC_BUCKET_WAIT_NS_MAX);
	slc_bucket_take(&fast, 1e308);
	slc_bucket_take(&fast, 1e308); /* -inf tokens */
	cr_expect_eq(slc_bucket_wait_ns(&fast), SLC_BUCKET_WAIT_NS_MAX);
}

Test(bucket, a_new_rate_keeps_what_was_saved_up_to_the_new_burst)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 1000, 1000, 0);
	cr_expect_eq(drain_for(&b, 0, 1, 1), 1000);
	slc_bucket_refill(&b, SEC / 10); /* 100 saved up, at most 1 over of the debt */
	slc_bucket_rerate(&b, 10, 50, SEC / 10);
	cr_expect_leq(slc_bucket_avail(&b), 50.0, "capped at the new burst");
	cr_expect_gt(slc_bucket_avail(&b), 0.0);
	/* From then on the new rate: 10 a second. */
	cr_expect_leq(drain_for(&b, SEC / 10, 2 * SEC, SEC / 100), 50 + 20 + 1);
}

Test(bucket, a_debt_stays_a_debt_under_a_new_rate)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 100, 10, 0);
	slc_bucket_take(&b, 30); /* 20 owed */
	slc_bucket_rerate(&b, 1000, 500, 0);
	cr_expect_eq(slc_bucket_avail(&b), -20.0);
}

Test(bucket, a_rate_given_to_an_unlimited_bucket_starts_it_full)
{
	struct slc_bucket b;

	slc_bucket_init(&b, 0, 0, 0);
	slc_bucket_rerate(&b, 100, 40, SEC);
	cr_expect(slc_bucket_limited(&b));
	cr_expect_eq(slc_bucket_avail(&b), 40.0);
	slc_bucket_rerate(&b, 0, 0, SEC);
	cr_expect_not(slc_bucket_limited(&b), "and a rate of 0 lifts the limit");
}
