/* SPDX-License-Identifier: MIT */
/* test_ctl.c: the controller's rules: the design's vectors, adaptive one tick at a time. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "ctl/ctl.h"

/* ---- pairwise: the design's rule, row by row (shared/controller-vectors.md) ---- */

struct vector {
	double q[3], rate[3], workers[3], w_before[3];
	double min_pressure_delta, max_step, pace_rate; /* 0: the default */
	double w_after[3];
	int changed;
	double d;
	int64_t step;
	enum slc_ctl_reason reason;
};

static const struct vector vectors[] = {
        {{0, 0, 35},
         {0, 0, 0},
         {5, 3, 2},
         {1, 1, 8},
         3,
         1,
         3,
         {2, 1, 7},
         1,
         35.0,
         1,
         SLC_CTL_MOVED},
        {{0, 0, 500},
         {100, 60, 130},
         {8, 4, 2},
         {1, 1, 8},
         0,
         0,
         0,
         {3, 1, 6},
         1,
         3.85,
         2,
         SLC_CTL_MOVED},
        {{0, 0, 500},
         {100, 60, 10},
         {2, 4, 8},
         {1, 1, 8},
         0,
         0,
         0,
         {3, 1, 6},
         1,
         50,
         2,
         SLC_CTL_MOVED},
        {{0, 0, 500},
         {100, 60, 10},
         {8, 4, 2},
         {10, 10, 80},
         0,
         0,
         0,
         {15, 10, 75},
         1,
         50,
         5,
         SLC_CTL_MOVED},
        {{10, 0, 0},
         {0.5, 60, 10},
         {8, 4, 2},
         {1, 2, 2},
         0,
         0,
         0,
         {1, 2, 2},
         0,
         10,
         0,
         SLC_CTL_DONOR_AT_FLOOR},
        {{0, 0, 300},
         {100, 60, 100},
         {8, 4, 2},
         {1, 1, 8},
         0,
         0,
         0,
         {3, 1, 6},
         1,
         3.0,
         2,
         SLC_CTL_MOVED},
};

static struct slc_ctl *
pairwise_new(const struct vector *v)
{
	struct slc_ctl_params p;
	struct slc_ctl *c;
	int err = 1;

	slc_ctl_params_default(&p);
	p.mode = SLC_CTL_PAIRWISE;
	if (v->min_pressure_delta > 0)
		p.min_pressure_delta = v->min_pressure_delta;
	if (v->max_step > 0)
		p.max_step = v->max_step;
	if (v->pace_rate > 0)
		p.pace_rate = v->pace_rate;
	c = slc_ctl_create(&p, 3, v->w_before, &err);
	cr_assert_not_null(c, "create: %d", err);
	cr_assert_eq(err, 0);
	return c;
}

/* The rule takes rate 0 on a pool's first sample: a first tick with empty queues (which
 * moves nothing) makes the vector's rates count, as they did in the original. */
static void
prime(struct slc_ctl *c)
{
	struct slc_ctl_sample s[3] = {{0}};
	struct slc_ctl_result r;

	cr_assert_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 0);
	cr_assert_eq(r.reason, SLC_CTL_NO_SPREAD);
}

static void
check_vector(unsigned idx)
{
	const struct vector *v = &vectors[idx];
	struct slc_ctl *c = pairwise_new(v);
	struct slc_ctl_sample s[3];
	struct slc_ctl_result r;
	const double *w;

	prime(c);
	for (int i = 0; i < 3; i++)
		s[i] = (struct slc_ctl_sample){
		        .queue = v->q[i], .completed = v->rate[i] * 2.0, .workers = v->workers[i]};
	/* completed over 2 s: the rate is completed / dt, not completed */
	cr_expect_eq(slc_ctl_tick(c, s, 2.0, 1000, &r), v->changed, "vector %u", idx + 1);
	w = slc_ctl_weights(c);
	for (int i = 0; i < 3; i++)
		cr_expect_eq(w[i], v->w_after[i], "vector %u pool %d: %g, want %g", idx + 1, i,
		             w[i], v->w_after[i]);
	cr_expect(fabs(r.d - v->d) < 0.005, "vector %u: D %.4f, want %.2f", idx + 1, r.d, v->d);
	cr_expect_eq(r.step, v->step, "vector %u: step %lld", idx + 1, (long long)r.step);
	cr_expect_eq(r.reason, v->reason, "vector %u: reason %d", idx + 1, (int)r.reason);
	if (v->changed) {
		cr_expect_eq(r.imax, 2u);
		cr_expect_eq(r.imin, 0u, "the first pool holding the minimum receives");
	}
	slc_ctl_destroy(c);
}

Test(ctl, pairwise_vector1_max_step_caps_a_large_d)
{
	check_vector(0);
}

Test(ctl, pairwise_vector2_worker_ratio_doubles_the_step)
{
	check_vector(1);
}

Test(ctl, pairwise_vector3_max_frac_caps_the_step)
{
	check_vector(2);
}

Test(ctl, pairwise_vector4_max_step_caps_the_step)
{
	check_vector(3);
}

Test(ctl, pairwise_vector5_busiest_at_min_weight_blocks)
{
	check_vector(4);
}

Test(ctl, pairwise_vector6_d_equal_to_three)
{
	check_vector(5);
}

static struct slc_ctl *
pairwise_plain(const double *w, uint32_t n)
{
	struct slc_ctl_params p;
	struct slc_ctl *c;

	slc_ctl_params_default(&p);
	p.mode = SLC_CTL_PAIRWISE;
	c = slc_ctl_create(&p, n, w, NULL);
	cr_assert_not_null(c);
	return c;
}

Test(ctl, pairwise_first_sample_has_rate_zero)
{
	/* The design's first-tick weakness, kept: P is the raw queue length on tick one. */
	double w0[3] = {1, 1, 8};
	struct slc_ctl *c = pairwise_plain(w0, 3);
	struct slc_ctl_sample s[3] = {
	        {.queue = 0, .completed = 100, .workers = 8},
	        {.queue = 0, .completed = 60, .workers = 4},
	        {.queue = 500, .completed = 130, .workers = 2},
	};
	struct slc_ctl_result r;

	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 1);
	cr_expect(fabs(r.d - 500) < 1e-9, "D %g: Q / eps, not Q / rate", r.d);
	cr_expect_eq(r.step, 2, "maxFrac still caps it");
	slc_ctl_destroy(c);
}

Test(ctl, pairwise_cooldown_counts_from_the_last_change)
{
	double w0[3] = {10, 10, 80};
	struct slc_ctl *c = pairwise_plain(w0, 3);
	struct slc_ctl_sample s[3] = {
	        {.queue = 0, .completed = 100, .workers = 8},
	        {.queue = 0, .completed = 60, .workers = 4},
	        {.queue = 500, .completed = 10, .workers = 2},
	};
	struct slc_ctl_result r;
	const double *w = slc_ctl_weights(c);

	prime(c);
	cr_assert_eq(slc_ctl_tick(c, s, 1.0, 5000, &r), 1);
	cr_expect_eq(w[2], 75);
	/* within 10 s of the change: nothing, however high the pressure */
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 5000 + 9999, &r), 0);
	cr_expect_eq(r.reason, SLC_CTL_COOLDOWN);
	cr_expect_eq(w[2], 75);
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 5000 + 10000, &r), 1);
	cr_expect_eq(w[2], 70);
	cr_expect_eq(w[0], 20);
	/* a tick that changed nothing does not restart the cooldown */
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 5000 + 15000, &r), 0);
	s[2].queue = 0;
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 5000 + 20000, &r), 0);
	cr_expect_eq(r.reason, SLC_CTL_NO_SPREAD);
	s[2].queue = 500;
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 5000 + 20001, &r), 1);
	slc_ctl_destroy(c);
}

Test(ctl, pairwise_worker_ratio_truncates_small_steps_to_zero)
{
	/* The documented weakness: receiver 2 workers, donor 8: nothing moves until D >= 7. */
	double w0[2] = {5, 5};
	struct slc_ctl *c = pairwise_plain(w0, 2);
	struct slc_ctl_sample s[2] = {
	        {.queue = 0, .completed = 100, .workers = 2},
	        {.queue = 699, .completed = 100, .workers = 8},
	};
	struct slc_ctl_result r;

	prime(c);
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 0);
	cr_expect_eq(r.reason, SLC_CTL_STEP_ZERO, "D 6.99: reason %d", (int)r.reason);
	s[1].queue = 700;
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 1);
	cr_expect_eq(r.step, 1);
	slc_ctl_destroy(c);
}

Test(ctl, pairwise_small_pressure_difference_is_ignored)
{
	double w0[2] = {5, 5};
	struct slc_ctl *c = pairwise_plain(w0, 2);
	struct slc_ctl_sample s[2] = {
	        {.queue = 0, .completed = 100, .workers = 1},
	        {.queue = 199, .completed = 100, .workers = 1},
	};
	struct slc_ctl_result r;

	prime(c);
	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 0);
	cr_expect_eq(r.reason, SLC_CTL_BELOW_DELTA);
	slc_ctl_destroy(c);
}

/* ---- weights_to_u32 ---- */

static uint32_t
sum_u32(const uint32_t *v, uint32_t n)
{
	uint32_t s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

Test(ctl, weights_to_u32_largest_remainder)
{
	const double w[3] = {1, 1, 1};
	const double w2[4] = {0.5, 0.26, 0.24, 0};
	uint32_t out[4];

	cr_assert_eq(slc_ctl_weights_to_u32(w, 3, 100, 0, out), 0);
	cr_expect_eq(out[0], 34u, "ties go to the lower index");
	cr_expect_eq(out[1], 33u);
	cr_expect_eq(out[2], 33u);

	/* exact 50, 26, 24, 0 scaled to 10: 5.0, 2.6, 2.4, 0: the .6 gets the spare unit */
	cr_assert_eq(slc_ctl_weights_to_u32(w2, 4, 10, 0, out), 0);
	cr_expect_eq(out[0], 5u);
	cr_expect_eq(out[1], 3u);
	cr_expect_eq(out[2], 2u);
	cr_expect_eq(out[3], 0u);
}

Test(ctl, weights_to_u32_respects_the_floor_and_the_total)
{
	const double w[4] = {97, 1, 1, 1};
	const double z[3] = {0, 0, 5};
	uint32_t out[4];

	/* 1% of 1000 is 10: each small pool is lifted to the floor of 50, the big one shrinks */
	cr_assert_eq(slc_ctl_weights_to_u32(w, 4, 1000, 50, out), 0);
	cr_expect_eq(out[0], 850u);
	cr_expect_eq(out[1], 50u);
	cr_expect_eq(sum_u32(out, 4), 1000u);

	cr_assert_eq(slc_ctl_weights_to_u32(z, 3, 7, 2, out), 0);
	cr_expect_eq(out[0], 2u);
	cr_expect_eq(out[1], 2u);
	cr_expect_eq(out[2], 3u);

	/* the floor taking everything */
	cr_assert_eq(slc_ctl_weights_to_u32(w, 4, 8, 2, out), 0);
	for (int i = 0; i < 4; i++)
		cr_expect_eq(out[i], 2u);
}

Test(ctl, weights_to_u32_sums_exactly_for_many_shapes)
{
	double w[16];
	uint32_t out[16];
	uint64_t x = 12345;

	for (int round = 0; round < 2000; round++) {
		uint32_t n = 1 + round % 16, total = 1 + (uint32_t)(x % 70000), floor_w;

		for (uint32_t i = 0; i < n; i++) {
			x = x * 6364136223846793005ull + 1442695040888963407ull;
			w[i] = (double)(x >> 40) / (double)(1u << 24) *
			       ((x >> 8) % 3 == 0 ? 1e-6 : 100);
		}
		w[round % n] += 1;
		floor_w = (uint32_t)(x % (total / n + 1));
		cr_assert_eq(slc_ctl_weights_to_u32(w, n, total, floor_w, out), 0);
		cr_assert_eq(sum_u32(out, n), total, "round %d", round);
		for (uint32_t i = 0; i < n; i++)
			cr_assert_geq(out[i], floor_w, "round %d pool %u", round, i);
	}
}

Test(ctl, weights_to_u32_refuses_bad_input)
{
	const double w[2] = {1, 1};
	const double neg[2] = {1, -1};
	const double zero[2] = {0, 0};
	const double nan_w[2] = {NAN, 1};
	uint32_t out[2];

	cr_expect_eq(slc_ctl_weights_to_u32(w, 0, 10, 0, out), -EINVAL);
	cr_expect_eq(slc_ctl_weights_to_u32(neg, 2, 10, 0, out), -EINVAL);
	cr_expect_eq(slc_ctl_weights_to_u32(zero, 2, 10, 0, out), -EINVAL);
	cr_expect_eq(slc_ctl_weights_to_u32(nan_w, 2, 10, 0, out), -EINVAL);
	cr_expect_eq(slc_ctl_weights_to_u32(w, 2, 10, 6, out), -EINVAL, "2 * 6 > 10");
	cr_expect_eq(slc_ctl_weights_to_u32(NULL, 2, 10, 0, out), -EINVAL);
	cr_expect_eq(slc_ctl_weights_to_u32(w, 2, 10, 5, out), 0, "2 * 5 == 10 is fine");
}

/* ---- parameters ---- */

Test(ctl, params_default_are_the_designs)
{
	struct slc_ctl_params p;

	slc_ctl_params_default(&p);
	cr_expect_eq(p.mode, SLC_CTL_ADAPTIVE);
	cr_expect_eq(p.eps_rate, 1.0);
	cr_expect_eq(p.min_pressure_delta, 2.0);
	cr_expect_eq(p.base_step, 1.0);
	cr_expect_eq(p.max_step, 5.0);
	cr_expect_eq(p.min_weight, 1.0);
	cr_expect_eq(p.max_frac, 0.2);
	cr_expect_eq(p.pace_rate, 5.0);
	cr_expect_eq(p.cooldown_ms, 10000u);
	cr_expect_eq(p.dead_band, 0.03);
	cr_expect_eq(p.rate_alpha, 0.3);
	cr_expect_eq(p.gain, 0.5);
	cr_expect_eq(p.sat_queue, 512.0);
	cr_expect(!p.busy_occupied, "busy is CPU time unless the caller says otherwise");
	cr_expect_eq(slc_ctl_params_check(&p), 0);
}

Test(ctl, bad_params_are_refused)
{
	struct slc_ctl_params p, d;
	const double w[2] = {1, 1};
	int err = 0;

	slc_ctl_params_default(&d);
#define BAD(field, value)                                                             \
	do {                                                                          \
		p = d;                                                                \
		p.field = value;                                                      \
		cr_expect_eq(slc_ctl_params_check(&p), -EINVAL, #field " = " #value); \
		err = 0;                                                              \
		cr_expect_null(slc_ctl_create(&p, 2, w, &err), #field " = " #value);  \
		cr_expect_eq(err, -EINVAL, #field " = " #value);                      \
	} while (0)
	BAD(eps_rate, 0);
	BAD(eps_rate, -1);
	BAD(eps_rate, INFINITY);
	BAD(min_pressure_delta, -0.5);
	BAD(base_step, -1);
	BAD(max_step, 0);
	BAD(max_step, -5);
	BAD(min_weight, -1);
	BAD(min_weight, NAN);
	BAD(max_frac, 0);
	BAD(max_frac, 1.01);
	BAD(max_frac, -0.2);
	BAD(pace_rate, 0);
	BAD(dead_band, -0.1);
	BAD(dead_band, 1);
	BAD(rate_alpha, 0);
	BAD(rate_alpha, 1.5);
	BAD(gain, 0);
	BAD(gain, 2);
	BAD(sat_queue, 0);
	BAD(mode, (enum slc_ctl_mode)7);
#undef BAD
	p = d;
	p.max_frac = 1;
	cr_expect_eq(slc_ctl_params_check(&p), 0, "max_frac 1 is allowed");
	cr_expect_eq(slc_ctl_params_check(NULL), -EINVAL);
}

Test(ctl, bad_pools_and_weights_are_refused)
{
	struct slc_ctl_params p;
	const double w[3] = {1, 1, 1};
	const double neg[3] = {1, -1, 1};
	const double zero[3] = {0, 0, 0};
	const double frac[3] = {1, 1.5, 1};
	double many[101];
	int err = 0;

	slc_ctl_params_default(&p);
	cr_expect_null(slc_ctl_create(&p, 0, w, &err));
	cr_expect_eq(err, -EINVAL, "zero pools");
	cr_expect_null(slc_ctl_create(&p, 3, NULL, &err));
	cr_expect_null(slc_ctl_create(&p, 3, neg, &err));
	cr_expect_eq(err, -EINVAL);
	cr_expect_null(slc_ctl_create(&p, 3, zero, &err));
	cr_expect_eq(err, -EINVAL);
	cr_expect_null(slc_ctl_create(NULL, 3, w, &err));
	cr_expect_null(slc_ctl_create(&p, SLC_CTL_POOLS_MAX + 1, w, &err));
	/* adaptive: 100 pools at a 1% floor leave nothing to distribute */
	for (int i = 0; i < 101; i++)
		many[i] = 1;
	cr_expect_null(slc_ctl_create(&p, 100, many, &err));
	cr_expect_eq(err, -EINVAL);
	/* pairwise weights are integers */
	p.mode = SLC_CTL_PAIRWISE;
	cr_expect_null(slc_ctl_create(&p, 3, frac, &err));
	cr_expect_eq(err, -EINVAL);
	struct slc_ctl *c = slc_ctl_create(&p, 100, many, &err);
	cr_expect_not_null(c, "pairwise has no such limit");
	slc_ctl_destroy(c);
	slc_ctl_destroy(NULL);
}

Test(ctl, bad_samples_are_refused_and_change_nothing)
{
	struct slc_ctl_params p;
	const double w0[2] = {50, 50};
	struct slc_ctl_sample s[2] = {{.queue = 0, .completed = 100, .workers = 1, .busy = 0.5},
	                              {.queue = 0, .completed = 100, .workers = 1, .busy = 0.5}};
	struct slc_ctl *c;

	slc_ctl_params_default(&p);
	c = slc_ctl_create(&p, 2, w0, NULL);
	cr_assert_not_null(c);
	cr_expect_eq(slc_ctl_tick(c, s, 0, 0, NULL), -EINVAL);
	cr_expect_eq(slc_ctl_tick(c, s, -1, 0, NULL), -EINVAL);
	cr_expect_eq(slc_ctl_tick(c, s, NAN, 0, NULL), -EINVAL);
	s[1].queue = -1;
	cr_expect_eq(slc_ctl_tick(c, s, 1, 0, NULL), -EINVAL);
	s[1].queue = 0;
	s[1].busy = NAN;
	cr_expect_eq(slc_ctl_tick(c, s, 1, 0, NULL), -EINVAL);
	s[1].busy = 0.5;
	s[0].completed = INFINITY;
	cr_expect_eq(slc_ctl_tick(c, s, 1, 0, NULL), -EINVAL);
	cr_expect_eq(slc_ctl_tick(NULL, s, 1, 0, NULL), -EINVAL);
	cr_expect_eq(slc_ctl_capacity(c, 0), -1, "refused samples leave no estimate");
	slc_ctl_destroy(c);
}

/* ---- adaptive, one tick at a time ---- */

static struct slc_ctl *
adaptive_new(uint32_t n, const double *w0)
{
	struct slc_ctl_params p;
	struct slc_ctl *c;
	int err;

	slc_ctl_params_default(&p);
	c = slc_ctl_create(&p, n, w0, &err);
	cr_assert_not_null(c, "create: %d", err);
	return c;
}

static double
sum_d(const double *v, uint32_t n)
{
	double s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

Test(ctl, adaptive_scales_initial_weights_to_percent)
{
	const double w0[3] = {1, 1, 8};
	struct slc_ctl *c = adaptive_new(3, w0);
	const double *w = slc_ctl_weights(c);

	cr_expect(fabs(w[0] - 10) < 1e-12 && fabs(w[2] - 80) < 1e-12);
	cr_expect(fabs(sum_d(w, 3) - SLC_CTL_ADAPTIVE_TOTAL) < 1e-9);
	slc_ctl_destroy(c);

	const double tiny[3] = {0, 1, 1000};
	c = adaptive_new(3, tiny);
	w = slc_ctl_weights(c);
	cr_expect_eq(w[0], 1.0, "lifted to min_weight");
	cr_expect(fabs(sum_d(w, 3) - SLC_CTL_ADAPTIVE_TOTAL) < 1e-9);
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_first_sample_seeds_the_estimate)
{
	/* Pairwise would see P = Q / eps on this tick. Adaptive takes the first sample's own
	 * capacity (rate / busy), not an average with zero or with eps. */
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	struct slc_ctl_sample s[2] = {
	        {.queue = 0, .completed = 400, .workers = 1, .busy = 0.5},
	        {.queue = 0, .completed = 400, .workers = 1, .busy = 0.25},
	};
	struct slc_ctl_result r;

	cr_expect_eq(slc_ctl_tick(c, s, 2.0, 0, &r), 1);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 400) < 1e-9, "%g", slc_ctl_capacity(c, 0));
	cr_expect(fabs(slc_ctl_capacity(c, 1) - 800) < 1e-9, "%g", slc_ctl_capacity(c, 1));
	cr_expect(fabs(slc_ctl_targets(c)[1] - 200.0 / 3) < 1e-9, "target ∝ capacity");
	cr_expect_lt(slc_ctl_weights(c)[0], 50);
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_idle_pool_keeps_its_weight_until_known)
{
	const double w0[3] = {1, 1, 1};
	struct slc_ctl *c = adaptive_new(3, w0);
	struct slc_ctl_sample s[3] = {
	        {.completed = 100, .workers = 1, .busy = 0.1},
	        {.completed = 300, .workers = 1, .busy = 0.1},
	        {.workers = 1}, /* no traffic: says nothing */
	};
	const double *w = slc_ctl_weights(c);
	double w2 = w[2];

	for (int t = 0; t < 50; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect_eq(slc_ctl_capacity(c, 2), -1);
	cr_expect_eq(w[2], w2, "an unknown pool neither gives nor takes");
	cr_expect(fabs(w[1] / w[0] - 3) < 0.15, "known pools split the rest 1:3: %g %g", w[0],
	          w[1]);

	/* Once known, an idle tick does not erase the estimate. */
	s[2] = (struct slc_ctl_sample){.completed = 200, .workers = 1, .busy = 0.1};
	slc_ctl_tick(c, s, 1.0, 0, NULL);
	s[2] = (struct slc_ctl_sample){.workers = 1};
	slc_ctl_tick(c, s, 1.0, 0, NULL);
	cr_expect(fabs(slc_ctl_capacity(c, 2) - 2000) < 1e-9, "%g", slc_ctl_capacity(c, 2));
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_has_no_dead_zone_but_a_dead_band)
{
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	/* capacities 1000 and 1100: a 5% imbalance in share still moves weight */
	struct slc_ctl_sample s[2] = {
	        {.completed = 500, .workers = 1, .busy = 0.5},
	        {.completed = 550, .workers = 1, .busy = 0.5},
	};
	struct slc_ctl_result r;
	const double *w = slc_ctl_weights(c);
	int moves = 0;

	cr_expect_eq(slc_ctl_tick(c, s, 1.0, 0, &r), 1);
	cr_expect_gt(w[1], 50);
	for (int t = 0; t < 20; t++)
		moves += slc_ctl_tick(c, s, 1.0, 0, &r);
	cr_expect_eq(r.reason, SLC_CTL_IN_BAND, "settled inside the dead band");
	cr_expect_lt(moves, 8);
	cr_expect_leq(r.dev_max, 0.03);
	cr_expect(fabs(w[1] - 1100.0 / 21) < 0.03 * 1100.0 / 21, "%g", w[1]);
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_moves_are_rate_limited_and_conserve_the_total)
{
	const double w0[4] = {25, 25, 25, 25};
	struct slc_ctl *c = adaptive_new(4, w0);
	struct slc_ctl_sample s[4] = {
	        {.completed = 100, .workers = 1, .busy = 1, .queue = 1000},
	        {.completed = 100, .workers = 1, .busy = 0.01},
	        {.completed = 100, .workers = 1, .busy = 0.01},
	        {.completed = 100, .workers = 1, .busy = 0.01},
	};
	struct slc_ctl_result r;
	const double *w = slc_ctl_weights(c);
	double prev[4];

	for (int t = 0; t < 30; t++) {
		memcpy(prev, w, sizeof(prev));
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, &r), 0);
		double moved = 0;

		for (int i = 0; i < 4; i++) {
			cr_expect_leq(fabs(w[i] - prev[i]), 5.0 + 1e-9, "max_step");
			cr_expect_geq(w[i], 1.0 - 1e-12, "min_weight");
			moved += fabs(w[i] - prev[i]);
		}
		cr_expect_leq(moved / 2, 20.0 + 1e-9, "max_frac");
		cr_expect(fabs(sum_d(w, 4) - 100) < 1e-9);
	}
	cr_expect_lt(w[0], 1.0 + 0.05, "the stuck pool ends at the floor: %g", w[0]);
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_cpu_hog_lowers_capacity)
{
	/* Two pools with the same CPU cost per message; a hog takes half of pool 0's core. */
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	struct slc_ctl_sample s[2] = {
	        /* 300 msg/s at 30% CPU, runnable but waiting another 30%: capacity 500 */
	        {.completed = 300, .workers = 1, .busy = 0.3, .wait = 0.3},
	        {.completed = 300, .workers = 1, .busy = 0.3},
	};

	slc_ctl_tick(c, s, 1.0, 0, NULL);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 500) < 1e-9, "%g", slc_ctl_capacity(c, 0));
	cr_expect(fabs(slc_ctl_capacity(c, 1) - 1000) < 1e-9, "%g", slc_ctl_capacity(c, 1));
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_queue_means_the_rate_is_the_capacity)
{
	/* A sink blocked in I/O (or a hog without schedstat): little CPU, but a standing
	 * queue: it served all it could, so the rate is its capacity, not rate / busy. */
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	struct slc_ctl_sample s[2] = {
	        {.completed = 300, .workers = 2, .busy = 0.1, .queue = 2 * 512},
	        {.completed = 300, .workers = 2, .busy = 0.1, .queue = 512},
	};

	slc_ctl_tick(c, s, 1.0, 0, NULL);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 300) < 1e-9, "%g", slc_ctl_capacity(c, 0));
	/* half the saturating queue: demand 0.1 + 0.9 * 0.5 */
	cr_expect(fabs(slc_ctl_capacity(c, 1) - 300 / 0.55) < 1e-9, "%g", slc_ctl_capacity(c, 1));
	slc_ctl_destroy(c);
}

/*
 * A bursty producer leaves a queue of a batch or two behind a pool at some tick ends and
 * none at others, while the pool is idle 16% of every tick: that is not saturation, and
 * its capacity is rate / busy. A queue that stands from one tick's end to the next is.
 */
Test(ctl, adaptive_queue_must_stand_for_a_tick_to_mean_saturation)
{
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	struct slc_ctl_sample s[2] = {
	        {.completed = 840, .workers = 1, .busy = 0.84},
	        {.completed = 840, .workers = 1, .busy = 0.84},
	};

	for (int t = 0; t < 30; t++) {
		s[0].queue = t % 2 ? 600 : 0; /* above sat_queue (512) every other tick end */
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	}
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 1000) < 10, "pool 0: %g, not capped at the rate",
	          slc_ctl_capacity(c, 0));
	cr_expect(fabs(slc_ctl_capacity(c, 1) - 1000) < 1e-6, "%g", slc_ctl_capacity(c, 1));

	/* Now the queue stands, with little CPU (a sink blocked in I/O): the rate is the
	 * capacity from the second such tick on. */
	s[0] = (struct slc_ctl_sample){.completed = 300, .workers = 1, .busy = 0.1, .queue = 2000};
	for (int t = 0; t < 30; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 300) < 1, "pool 0: %g", slc_ctl_capacity(c, 0));
	slc_ctl_destroy(c);
}

/*
 * busy_occupied (what slc_ctl_loop passes: handler time): the busy fraction is the truth,
 * so a queue below sat_queue, even standing, does not lower the estimate of a pool that
 * was idle 73% of the tick (sticky routing behind a full slow pool leaves bursts in the
 * fast pools' rings at every tick end); a pool that finished nothing with work waiting is
 * stalled, and when it recovers no ceiling holds it down; a queue of sat_queue standing
 * all tick still makes the rate the capacity.
 */
Test(ctl, adaptive_occupied_busy_ignores_the_queue_but_sees_a_stall)
{
	struct slc_ctl_params p;
	const double w0[2] = {50, 50};
	struct slc_ctl_sample s[2] = {
	        {.completed = 270, .workers = 1, .busy = 0.27, .queue = 1000},
	        {.completed = 270, .workers = 1, .busy = 0.27},
	};
	struct slc_ctl *c;
	int err;

	slc_ctl_params_default(&p);
	p.busy_occupied = true;
	p.sat_queue = 2048; /* what slc_ctl_loop sets for rings of 4096 */
	c = slc_ctl_create(&p, 2, w0, &err);
	cr_assert_not_null(c);
	for (int t = 0; t < 5; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 1000) < 1e-6, "queued pool: %g",
	          slc_ctl_capacity(c, 0));
	cr_expect(fabs(slc_ctl_capacity(c, 1) - 1000) < 1e-6, "%g", slc_ctl_capacity(c, 1));

	/* Stalled: nothing finished, a batch in hand. */
	s[0] = (struct slc_ctl_sample){.workers = 1, .inflight = 256, .queue = 3000};
	for (int t = 0; t < 10; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect_lt(slc_ctl_capacity(c, 0), 1.0, "stalled: %g", slc_ctl_capacity(c, 0));

	/* Back, at 90% occupied: rate / busy from the next ticks on, no probing. */
	s[0] = (struct slc_ctl_sample){.completed = 900, .workers = 1, .busy = 0.9, .queue = 300};
	for (int t = 0; t < 12; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 1000) < 20, "recovered: %g",
	          slc_ctl_capacity(c, 0));

	/* Occupied 20%, but sat_queue stands at both ends of every tick: the worker had work
	 * and was not in its handler (woken late by a hog): the rate is the capacity. */
	s[0] = (struct slc_ctl_sample){.completed = 200, .workers = 1, .busy = 0.2, .queue = 3000};
	for (int t = 0; t < 30; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect(fabs(slc_ctl_capacity(c, 0) - 200) < 1, "full ring: %g", slc_ctl_capacity(c, 0));
	slc_ctl_destroy(c);
}

/*
 * Ordered routing behind a full slow pool: the senders pause, so the fast pools see a
 * trickle and are busy far under CTL_DEMAND_MIN (1%). Their rate at that occupancy is a
 * lower bound of their capacity (rate / 1%), enough to know them faster than the
 * saturated pool, whose weight must then go down; left unknown, they kept their weight
 * and so did the slow pool (the daemon's ordered rebalance test stalled there). A lower
 * bound never lowers an estimate.
 */
Test(ctl, adaptive_pools_barely_busy_still_count_against_a_saturated_one)
{
	struct slc_ctl_params p;
	const double w0[3] = {1, 1, 1};
	struct slc_ctl_sample s[3] = {
	        {.completed = 1000, .workers = 2, .busy = 1.0, .queue = 700},
	        {.completed = 500, .workers = 2, .busy = 0.002},
	        {.completed = 500, .workers = 2, .busy = 0.002},
	};
	const double *w;
	struct slc_ctl *c;
	int err;

	slc_ctl_params_default(&p);
	p.busy_occupied = true;
	p.sat_queue = 128;
	c = slc_ctl_create(&p, 3, w0, &err);
	cr_assert_not_null(c);
	w = slc_ctl_weights(c);
	for (int t = 0; t < 30; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect_geq(slc_ctl_capacity(c, 1), 500 / 0.01 - 1e-6, "%g", slc_ctl_capacity(c, 1));
	cr_expect_lt(w[0], 100.0 / 3 / 2, "the saturated pool kept %g", w[0]);

	/* A measured estimate above the bound stays. */
	s[1] = (struct slc_ctl_sample){.completed = 80000, .workers = 2, .busy = 0.5};
	for (int t = 0; t < 30; t++)
		cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	s[1] = (struct slc_ctl_sample){.completed = 10, .workers = 2, .busy = 0.0001};
	cr_assert_geq(slc_ctl_tick(c, s, 1.0, 0, NULL), 0);
	cr_expect_gt(slc_ctl_capacity(c, 1), 150000, "%g", slc_ctl_capacity(c, 1));
	slc_ctl_destroy(c);
}

Test(ctl, adaptive_stalled_pool_loses_its_capacity)
{
	const double w0[2] = {50, 50};
	struct slc_ctl *c = adaptive_new(2, w0);
	struct slc_ctl_sample s[2] = {
	        {.completed = 500, .workers = 1, .busy = 0.5},
	        {.completed = 500, .workers = 1, .busy = 0.5},
	};
	const double *w = slc_ctl_weights(c);

	slc_ctl_tick(c, s, 1.0, 0, NULL);
	/* pool 1's sink hangs: nothing completes, one message in hand, the queue grows */
	for (int t = 0; t < 30; t++) {
		s[1] = (struct slc_ctl_sample){
		        .workers = 1, .inflight = 1, .queue = 100.0 * (t + 1), .busy = 0};
		slc_ctl_tick(c, s, 1.0, 0, NULL);
	}
	cr_expect_lt(slc_ctl_capacity(c, 1), 1.0);
	cr_expect(fabs(w[1] - 1.0) < 0.05, "at the floor: %g", w[1]);

	/* The sink comes back: it works off its backlog at full speed (little CPU: it was
	 * I/O it waited for), then runs unsaturated. The backlog measures it; no probing. */
	for (int t = 0; t < 3; t++) {
		s[1] = (struct slc_ctl_sample){
		        .workers = 1, .completed = 1000, .queue = 3000.0 - 1000 * t, .busy = 0.2};
		slc_ctl_tick(c, s, 1.0, 0, NULL);
	}
	for (int t = 0; t < 10; t++) {
		s[1] = (struct slc_ctl_sample){.workers = 1, .completed = 100, .busy = 0.02};
		slc_ctl_tick(c, s, 1.0, 0, NULL);
	}
	cr_expect_gt(slc_ctl_capacity(c, 1), 900, "%g", slc_ctl_capacity(c, 1));
	cr_expect_gt(w[1], 40, "%g", w[1]);
	slc_ctl_destroy(c);
}
