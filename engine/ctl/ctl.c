/* SPDX-License-Identifier: MIT */
/* ctl.c: the controller's two rules, pairwise (the design's) and adaptive (the default). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "base/assert.h"

/*
 * Below this demand fraction (busy + wait, or queue saturation) a sample says too little
 * about capacity to extrapolate from: rate / 0.004 would multiply the noise 250 times. The
 * pool keeps its estimate; it still gets at least min_weight of the traffic, so at any
 * real load its workers are measurably busy again.
 */
#define CTL_DEMAND_MIN 0.01

/* At or above this demand fraction a sample counts as saturated: its rate is a measured
 * capacity, not an extrapolation. */
#define CTL_DEMAND_SAT 0.95

/*
 * How fast a ceiling (capacity_sample()) probes upward, per tick, as a fraction of
 * max(ceiling, mean pool capacity). Slow enough that the probing cycle of a hog that only
 * a queue reveals stays within ~13% of the ideal share (docs/controller.md), fast enough
 * that a pool whose hog left is back in ~35 ticks.
 */
#define CTL_CEIL_CLIMB 0.02

struct slc_ctl {
	struct slc_ctl_params p;
	uint32_t n;
	uint64_t ticks;          /* successful ticks so far */
	bool changed_once;       /* pairwise: last_change_ms is valid */
	uint64_t last_change_ms; /* pairwise: when weight last moved */
	double *w;               /* n weights */
	double *target;          /* n adaptive targets of the last tick */
	double *cap;             /* n smoothed capacities (msg/s); < 0: no estimate yet */
	double *ceiling;         /* n caps on extrapolated samples (msg/s) */
	double *q_prev;          /* n queues of the previous tick; < 0: none yet */
	double mem[];
};

void
slc_ctl_params_default(struct slc_ctl_params *p)
{
	*p = (struct slc_ctl_params){
	        .mode = SLC_CTL_ADAPTIVE,
	        .eps_rate = 1.0,
	        .min_pressure_delta = 2.0,
	        .base_step = 1.0,
	        .max_step = 5.0,
	        .min_weight = 1.0,
	        .max_frac = 0.2,
	        .pace_rate = 5.0,
	        .dead_band = 0.03,
	        .rate_alpha = 0.3,
	        .gain = 0.5,
	        .sat_queue = 512.0,
	        .cooldown_ms = 10000,
	};
}

static bool
finite_in(double v, double lo, double hi)
{
	return isfinite(v) && v >= lo && v <= hi;
}

int
slc_ctl_params_check(const struct slc_ctl_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->mode != SLC_CTL_ADAPTIVE && p->mode != SLC_CTL_PAIRWISE)
		return -EINVAL;
	if (!finite_in(p->eps_rate, 0, HUGE_VAL) || p->eps_rate == 0)
		return -EINVAL;
	if (!finite_in(p->min_pressure_delta, 0, HUGE_VAL) || !finite_in(p->base_step, 0, HUGE_VAL))
		return -EINVAL;
	if (!finite_in(p->max_step, 0, HUGE_VAL) || p->max_step == 0)
		return -EINVAL;
	if (!finite_in(p->min_weight, 0, HUGE_VAL))
		return -EINVAL;
	if (!finite_in(p->max_frac, 0, 1) || p->max_frac == 0)
		return -EINVAL;
	if (!finite_in(p->pace_rate, 0, HUGE_VAL) || p->pace_rate == 0)
		return -EINVAL;
	if (!finite_in(p->dead_band, 0, 1) || p->dead_band == 1)
		return -EINVAL;
	if (!finite_in(p->rate_alpha, 0, 1) || p->rate_alpha == 0)
		return -EINVAL;
	if (!finite_in(p->gain, 0, 1) || p->gain == 0)
		return -EINVAL;
	if (!finite_in(p->sat_queue, 0, HUGE_VAL) || p->sat_queue == 0)
		return -EINVAL;
	return 0;
}

/*
 * Water-filling: the scale s for which sum_i max(floor_w, v[i] * s) == total over the
 * entries with v[i] >= 0 (negative entries take no part). The result spreads total in
 * proportion to v, except that no entry gets less than floor_w. The caller guarantees
 * that the entries' count times floor_w is at most total and that some v[i] > 0.
 * Each round pins the entries below the floor at it and rescales the rest; the scale only
 * falls, so the pinned set only grows, and n + 1 rounds always suffice.
 */
static double
waterfill_scale(const double *v, uint32_t n, double total, double floor_w)
{
	double sum = 0, s;
	uint32_t prev_pinned = UINT32_MAX;

	for (uint32_t i = 0; i < n; i++)
		if (v[i] >= 0)
			sum += v[i];
	SLC_ASSERT(sum > 0);
	s = total / sum;
	for (uint32_t round = 0; round <= n; round++) {
		uint32_t pinned = 0;
		double free_sum = 0;

		for (uint32_t i = 0; i < n; i++) {
			if (v[i] < 0)
				continue;
			if (v[i] * s < floor_w)
				pinned++;
			else
				free_sum += v[i];
		}
		if (pinned == prev_pinned)
			break;
		prev_pinned = pinned;
		if (free_sum <= 0)
			return 0; /* everything sits on the floor */
		s = (total - pinned * floor_w) / free_sum;
	}
	return s;
}

static bool
weights_ok(const double *w, uint32_t n)
{
	double sum = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (!finite_in(w[i], 0, HUGE_VAL))
			return false;
		sum += w[i];
	}
	return sum > 0 && isfinite(sum);
}

int
slc_ctl_weights_to_u32(const double *w, uint32_t n, uint32_t total, uint32_t min_each,
                       uint32_t *out)
{
	double s;
	int64_t left = total;

	if (!w || !out || n == 0 || !weights_ok(w, n))
		return -EINVAL;
	if ((uint64_t)n * min_each > total)
		return -EINVAL;

	/* Exact shares q[i] = max(min_each, w[i] * s); their integer parts first. */
	s = waterfill_scale(w, n, total, min_each);
	for (uint32_t i = 0; i < n; i++) {
		double q = fmax((double)min_each, w[i] * s);
		double f = floor(q);

		out[i] = f > (double)total ? total : (uint32_t)f;
		if (out[i] < min_each)
			out[i] = min_each; /* q fell a rounding error below the floor */
		left -= out[i];
	}

	/*
	 * Largest remainder: what is left goes one unit each to the largest fractional parts.
	 * left < n in exact arithmetic; the loops also absorb a rounding error either way
	 * (a unit too many is taken back from the smallest remainder above the floor).
	 */
	while (left > 0) {
		uint32_t best = 0;
		double best_rem = -HUGE_VAL;

		/* A pool already given its unit has rem < 0, so the first pass over the
		 * remainders never gives one twice; only a rounding error can start a second. */
		for (uint32_t i = 0; i < n; i++) {
			double q = fmax((double)min_each, w[i] * s);
			double rem = q - (double)out[i];

			if (rem > best_rem) {
				best = i;
				best_rem = rem;
			}
		}
		out[best]++;
		left--;
	}
	while (left < 0) {
		uint32_t best = UINT32_MAX;
		double best_rem = 2;

		for (uint32_t i = 0; i < n; i++) {
			double q = fmax((double)min_each, w[i] * s);
			double rem = q - (double)out[i];

			if (out[i] > min_each && rem < best_rem) {
				best = i;
				best_rem = rem;
			}
		}
		SLC_ASSERT(best != UINT32_MAX);
		if (best == UINT32_MAX)
			return -EINVAL;
		out[best]--;
		left++;
	}
	return 0;
}

struct slc_ctl *
slc_ctl_create(const struct slc_ctl_params *p, uint32_t npools, const double *initial_weights,
               int *err)
{
	struct slc_ctl *c;
	int e = -EINVAL;

	if (slc_ctl_params_check(p) != 0 || npools == 0 || npools > SLC_CTL_POOLS_MAX)
		goto fail;
	if (!initial_weights || !weights_ok(initial_weights, npools))
		goto fail;
	if (p->mode == SLC_CTL_PAIRWISE) {
		for (uint32_t i = 0; i < npools; i++)
			if (initial_weights[i] != trunc(initial_weights[i]) ||
			    initial_weights[i] > (double)INT32_MAX)
				goto fail;
	} else if (npools * p->min_weight >= SLC_CTL_ADAPTIVE_TOTAL) {
		goto fail;
	}

	c = calloc(1, sizeof(*c) + 5 * (size_t)npools * sizeof(double));
	if (!c) {
		e = -ENOMEM;
		goto fail;
	}
	c->p = *p;
	c->n = npools;
	c->w = c->mem;
	c->target = c->mem + npools;
	c->cap = c->mem + 2 * (size_t)npools;
	c->ceiling = c->mem + 3 * (size_t)npools;
	c->q_prev = c->mem + 4 * (size_t)npools;
	if (p->mode == SLC_CTL_PAIRWISE) {
		memcpy(c->w, initial_weights, npools * sizeof(double));
	} else {
		double s = waterfill_scale(initial_weights, npools, SLC_CTL_ADAPTIVE_TOTAL,
		                           p->min_weight);

		for (uint32_t i = 0; i < npools; i++)
			c->w[i] = fmax(p->min_weight, initial_weights[i] * s);
	}
	for (uint32_t i = 0; i < npools; i++) {
		c->target[i] = c->w[i];
		c->cap[i] = -1;
		c->ceiling[i] = HUGE_VAL;
		c->q_prev[i] = -1;
	}
	if (err)
		*err = 0;
	return c;

fail:
	if (err)
		*err = e;
	return NULL;
}

int
slc_ctl_params_set(struct slc_ctl *c, const struct slc_ctl_params *p)
{
	if (slc_ctl_params_check(p) != 0 || p->mode != c->p.mode)
		return -EINVAL;
	if (p->mode == SLC_CTL_ADAPTIVE && c->n * p->min_weight >= SLC_CTL_ADAPTIVE_TOTAL)
		return -EINVAL;
	c->p = *p;
	return 0;
}

void
slc_ctl_destroy(struct slc_ctl *c)
{
	free(c);
}

const double *
slc_ctl_weights(const struct slc_ctl *c)
{
	return c->w;
}

const double *
slc_ctl_targets(const struct slc_ctl *c)
{
	return c->target;
}

double
slc_ctl_capacity(const struct slc_ctl *c, uint32_t i)
{
	return i < c->n ? c->cap[i] : -1;
}

uint32_t
slc_ctl_pool_count(const struct slc_ctl *c)
{
	return c->n;
}

/*
 * The design's rule, step for step (shared/controller-vectors.md); the numbers in the
 * comments are the rule's steps. Weights stay integers held in doubles.
 */
static int
tick_pairwise(struct slc_ctl *c, const struct slc_ctl_sample *s, double dt_s, uint64_t now_ms,
              struct slc_ctl_result *r)
{
	const struct slc_ctl_params *p = &c->p;
	double pmax = -1, pmin = HUGE_VAL, sum_w = 0, mult, ratio, cand, step;
	uint32_t imax = 0, imin = 0;
	bool first = c->ticks == 0;

	/* 1, 2: P = Q / max(rate, eps), the rate being 0 on the first sample; the first
	 * pool holding the strict maximum and the first holding the strict minimum. */
	for (uint32_t i = 0; i < c->n; i++) {
		double rate = first ? 0 : s[i].completed / dt_s;
		double pr = s[i].queue / fmax(rate, p->eps_rate);

		if (pr > pmax) {
			pmax = pr;
			imax = i;
		}
		if (pr < pmin) {
			pmin = pr;
			imin = i;
		}
		sum_w += c->w[i];
	}
	r->imax = imax;
	r->imin = imin;
	r->d = pmax - pmin;

	if (c->changed_once && now_ms < c->last_change_ms + p->cooldown_ms) {
		r->reason = SLC_CTL_COOLDOWN;
		return 0;
	}
	if (imax == imin) {
		r->reason = SLC_CTL_NO_SPREAD;
		return 0;
	}
	/* 3, 4 */
	if (r->d < p->min_pressure_delta) {
		r->reason = SLC_CTL_BELOW_DELTA;
		return 0;
	}
	if (c->w[imax] <= p->min_weight) {
		r->reason = SLC_CTL_DONOR_AT_FLOOR;
		return 0;
	}
	/* 5 - 8, in doubles: every operand of the final min() is an integer below 2^53 except
	 * cand, which min() only ever lowers. */
	mult = 1 + floor((r->d - p->min_pressure_delta) / p->pace_rate);
	ratio = sqrt(s[imin].workers / fmax(1, s[imax].workers));
	cand = trunc(mult * p->base_step * ratio);
	step = fmin(cand, trunc(p->max_step));
	step = fmin(step, c->w[imax] - trunc(p->min_weight));
	step = fmin(step, fmax(1, floor(sum_w * p->max_frac)));
	/* 9 */
	if (!(step > 0)) {
		r->reason = SLC_CTL_STEP_ZERO;
		return 0;
	}
	c->w[imax] -= step;
	c->w[imin] += step;
	r->step = (int64_t)step;
	r->moved = step;
	r->reason = SLC_CTL_MOVED;
	c->changed_once = true;
	c->last_change_ms = now_ms;
	return 1;
}

/*
 * One capacity sample of a pool in msg/s, or -1 when the sample says nothing about it.
 * The workers wanted the CPU for a fraction u = busy + wait of the tick and finished
 * `rate` messages a second in it, so at u = 1 they would finish rate / u. A queue
 * beyond sat_queue per worker at both ends of the tick (q_standing, the smaller of this
 * tick's queue and the previous one's) means they had work all tick whatever u says
 * (their idle CPU time was not available to them: a hog without schedstat, a sink
 * blocked in I/O): then the rate itself is the capacity. Between the two the demand
 * fraction blends linearly, so the estimate does not jump when a queue crosses a
 * threshold. One snapshot is not enough: a bursty producer leaves a queue of a few
 * batches at random instants behind pools that are idle a sixth of the tick
 * (bench_controller's fast pools), and taking such a snapshot as saturation set ceilings
 * that held their estimates a sixth too low. With p->busy_occupied, busy is time with
 * work in hand and already the whole truth: the queue is ignored (a pool is 27% occupied
 * whether or not a burst sits in its ring at the tick's end) and no ceiling is kept.
 * Two things still override it: a pool that finished nothing with work waiting is
 * stalled (capacity 0), and a queue of sat_queue per worker standing at both ends of the
 * tick (slc_ctl_loop: half a ring) means the rate was all the pool could do: a worker
 * woken late from its park by a hog on its CPU is not in its handler, yet not serving.
 */
static double
capacity_sample(const struct slc_ctl_params *p, const struct slc_ctl_sample *s, double q_standing,
                double dt_s, double cap_mean, double *ceiling, bool *lower)
{
	double u, sigma, demand, x;

	*lower = false;
	if (s->workers <= 0)
		return 0; /* no one serves it: no capacity, and that is known */
	if (s->completed <= 0 && s->queue <= 0 && s->inflight <= 0)
		return -1; /* idle: no traffic, no information */
	u = fmin(1, s->busy + s->wait);
	if (p->busy_occupied) /* see above: only a stall or a standing full ring count */
		sigma = s->completed <= 0 || q_standing >= s->workers * p->sat_queue ? 1 : 0;
	else
		sigma = fmin(1, q_standing / (s->workers * p->sat_queue));
	demand = u + (1 - u) * sigma;
	/* Busy less than CTL_DEMAND_MIN of the time: too little to extrapolate from, but
	 * what it completed at that occupancy is a lower bound of what it could. A pool that
	 * nothing reaches because a slower one holds the senders back (ordered, paused
	 * connections) must still count as faster than that one: left unknown, it kept its
	 * weight and the slow pool's stayed where it was. */
	if (demand < CTL_DEMAND_MIN) {
		*lower = true;
		return s->completed > 0 ? s->completed / dt_s / CTL_DEMAND_MIN : -1;
	}
	x = s->completed / dt_s / demand;
	if (demand >= CTL_DEMAND_SAT) {
		/* Saturated: x is a measurement. If the workers also looked busy, busy + wait
		 * tells the truth about this pool and needs no ceiling; if only the queue said
		 * so, later extrapolations from busy + wait must not exceed what was measured. */
		*ceiling = u >= CTL_DEMAND_SAT || p->busy_occupied ? HUGE_VAL : x;
	} else if (x > *ceiling) {
		/* Probe upward while the extrapolation keeps claiming more: the hog may have
		 * left. The additive part lets a pool that stalled at 0 come back. */
		x = *ceiling;
		*ceiling += CTL_CEIL_CLIMB * fmax(*ceiling, cap_mean);
	}
	return x;
}

/*
 * Adaptive (docs/controller.md, "adaptive"): smooth each pool's capacity, aim every pool
 * at a share proportional to it (less where backlog seconds exceed the average), and close
 * a gain-sized fraction of the gap, limited by max_step and max_frac, unless every pool
 * is within dead_band of its target.
 */
static int
tick_adaptive(struct slc_ctl *c, const struct slc_ctl_sample *s, double dt_s,
              struct slc_ctl_result *r)
{
	const struct slc_ctl_params *p = &c->p;
	double q_sum = 0, cap_sum = 0, mass = SLC_CTL_ADAPTIVE_TOTAL, raw_sum = 0;
	double b_avg, scale, d_max = 0, d_sum = 0, k = 1;
	double cap_mean = 0;
	uint32_t known = 0;

	for (uint32_t i = 0; i < c->n; i++) {
		if (c->cap[i] >= 0) {
			cap_mean += c->cap[i];
			known++;
		}
	}
	cap_mean = known ? cap_mean / known : 0;
	known = 0;
	for (uint32_t i = 0; i < c->n; i++) {
		/* No previous queue on the first tick: the snapshot is all there is. */
		double q_standing = c->q_prev[i] < 0 ? s[i].queue : fmin(c->q_prev[i], s[i].queue);
		bool lower;
		double x = capacity_sample(p, &s[i], q_standing, dt_s, cap_mean, &c->ceiling[i],
		                           &lower);

		c->q_prev[i] = s[i].queue;

		/* A lower bound raises an estimate (or makes the first); it never lowers one. */
		if (lower && c->cap[i] >= 0 && x <= c->cap[i])
			x = -1;
		if (x >= 0 && c->cap[i] < 0) {
			c->cap[i] = x;
		} else if (x >= 0) {
			double a = x < c->cap[i] ? fmin(1, 2 * p->rate_alpha) : p->rate_alpha;

			c->cap[i] += a * (x - c->cap[i]);
		}
		if (c->cap[i] >= 0) {
			known++;
			q_sum += s[i].queue;
			cap_sum += fmax(c->cap[i], p->eps_rate);
		} else {
			mass -= c->w[i]; /* unknown pools keep their weight */
		}
	}
	/* Backlog seconds over all known pools together: what each would have if the
	 * backlog were spread in proportion to capacity. */
	b_avg = known ? q_sum / cap_sum : 0;
	for (uint32_t i = 0; i < c->n; i++) {
		if (c->cap[i] < 0) {
			c->target[i] = -1;
			continue;
		}
		double b = s[i].queue / fmax(c->cap[i], p->eps_rate);
		double raw = c->cap[i] * fmax(0, 1 + (b_avg - b) / p->pace_rate);

		c->target[i] = raw;
		raw_sum += raw;
	}
	if (raw_sum <= 0) {
		memcpy(c->target, c->w, c->n * sizeof(double));
		r->reason = SLC_CTL_NO_INFO;
		return 0;
	}
	scale = waterfill_scale(c->target, c->n, mass, p->min_weight);
	for (uint32_t i = 0; i < c->n; i++) {
		double t = c->target[i] < 0 ? c->w[i] : fmax(p->min_weight, c->target[i] * scale);
		double dev = fabs(c->w[i] - t);

		c->target[i] = t;
		dev = t > 0 ? dev / t : (dev > 0 ? HUGE_VAL : 0);
		r->dev_max = fmax(r->dev_max, dev);
	}
	if (r->dev_max <= p->dead_band) {
		r->reason = SLC_CTL_IN_BAND;
		return 0;
	}

	/* Every pool moves by gain * gap; one factor k scales all moves alike, so the total
	 * stays put and no pool passes its target or its floor. */
	for (uint32_t i = 0; i < c->n; i++) {
		double d = p->gain * (c->target[i] - c->w[i]);

		d_max = fmax(d_max, fabs(d));
		d_sum += fabs(d);
	}
	if (d_max > p->max_step)
		k = p->max_step / d_max;
	if (k * d_sum / 2 > p->max_frac * SLC_CTL_ADAPTIVE_TOTAL)
		k = p->max_frac * SLC_CTL_ADAPTIVE_TOTAL / (d_sum / 2);
	for (uint32_t i = 0; i < c->n; i++)
		c->w[i] += k * p->gain * (c->target[i] - c->w[i]);
	r->rate_limited = k < 1;
	r->moved = k * d_sum / 2;
	r->reason = SLC_CTL_MOVED;
	return 1;
}

static bool
samples_ok(const struct slc_ctl_sample *s, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (!finite_in(s[i].queue, 0, HUGE_VAL) ||
		    !finite_in(s[i].completed, 0, HUGE_VAL) ||
		    !finite_in(s[i].workers, 0, HUGE_VAL) || !finite_in(s[i].busy, 0, HUGE_VAL) ||
		    !finite_in(s[i].wait, 0, HUGE_VAL) || !finite_in(s[i].inflight, 0, HUGE_VAL))
			return false;
	}
	return true;
}

int
slc_ctl_tick(struct slc_ctl *c, const struct slc_ctl_sample *s, double dt_s, uint64_t now_ms,
             struct slc_ctl_result *out)
{
	struct slc_ctl_result r = {0};
	int ret;

	if (!c || !s || !finite_in(dt_s, 0, HUGE_VAL) || dt_s == 0 || !samples_ok(s, c->n))
		return -EINVAL;
	if (c->p.mode == SLC_CTL_PAIRWISE)
		ret = tick_pairwise(c, s, dt_s, now_ms, &r);
	else
		ret = tick_adaptive(c, s, dt_s, &r);
	c->ticks++;
	if (out)
		*out = r;
	return ret;
}
