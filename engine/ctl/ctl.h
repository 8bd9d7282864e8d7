/* SPDX-License-Identifier: MIT */
/* ctl.h: the controller's decision logic: per-pool samples in, routing weights out. */
#ifndef SLC_ENGINE_CTL_H
#define SLC_ENGINE_CTL_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The controller is pure computation: no threads, no clocks, no allocation after
 * slc_ctl_create(). The engine samples its pools once per --rebalance-interval, calls
 * slc_ctl_tick() with the samples, the seconds since the previous tick and a monotonic
 * time, and publishes the weights it gets back. docs/controller.md gives both formulas,
 * every parameter, and why the default mode differs from the design's rule.
 *
 *   SLC_CTL_PAIRWISE  the design's rule, exactly (shared/controller-vectors.md): integer
 *                     weights in the units of the initial table; one step per tick from
 *                     the pool of highest backlog seconds to the pool of lowest; a
 *                     cooldown after every change.
 *   SLC_CTL_ADAPTIVE  (default) smoothed capacity estimates from service rate, CPU busy
 *                     fraction and queue; every pool moves toward a target proportional
 *                     to its capacity, corrected to drain backlogs; weights are doubles
 *                     summing to SLC_CTL_ADAPTIVE_TOTAL; a dead band and a per-tick rate
 *                     limit instead of a cooldown.
 */
enum slc_ctl_mode {
	SLC_CTL_ADAPTIVE = 0,
	SLC_CTL_PAIRWISE = 1,
};

/* Adaptive weights always sum to this: a weight is a percentage of the traffic. */
#define SLC_CTL_ADAPTIVE_TOTAL 100.0

/* Most pools one controller takes (sizes its bookkeeping; pools are few). */
#define SLC_CTL_POOLS_MAX 1024u

/*
 * Parameters. The first seven are the design's flags; the units of the weight-valued ones
 * (base_step, max_step, min_weight) are the initial table's units in pairwise mode and
 * percent of traffic in adaptive mode. docs/controller.md says which mode reads which.
 */
struct slc_ctl_params {
	enum slc_ctl_mode mode;
	double eps_rate;           /* msg/s, > 0: floor of a rate used as a divisor */
	double min_pressure_delta; /* s, >= 0: pairwise only: smallest D that moves weight */
	double base_step;          /* weight, >= 0: pairwise only: step at the smallest D */
	double max_step;           /* weight, > 0: most one pool's weight moves in a tick */
	double min_weight;         /* weight, >= 0: floor of every pool's weight */
	double max_frac;           /* (0, 1]: most of the total weight moved in a tick */
	double pace_rate;          /* s, > 0: pairwise: D per extra step; adaptive: drain horizon */
	double dead_band;          /* [0, 1): adaptive: no move while all within this of target */
	double rate_alpha;         /* (0, 1]: adaptive: EWMA weight of a new capacity sample */
	double gain;               /* (0, 1]: adaptive: fraction of the gap to target per tick */
	double sat_queue;          /* msg per worker, > 0: adaptive: queue that means saturated */
	uint32_t cooldown_ms;      /* pairwise only: no change this long after a change */
	/* adaptive: samples' busy is occupied time (time with work in hand, as the engine's
	 * handler time), not CPU time: it already counts a hog's and a blocked sink's time,
	 * so the queue counts only when it is at least sat_queue per worker at both ends of
	 * a tick (then the rate is the capacity), with no blend and no ceiling; a pool that
	 * finished nothing with work waiting or in hand samples capacity 0. false by
	 * default; slc_ctl_loop sets it. */
	bool busy_occupied;
};

/*
 * Fills p with the defaults: mode adaptive; the design's 1.0 2.0 1.0 5.0 1.0 0.2 5.0;
 * cooldown 10 s; dead_band 0.03, rate_alpha 0.3, gain 0.5, sat_queue 512 (reasons in
 * docs/controller.md).
 */
void slc_ctl_params_default(struct slc_ctl_params *p);

/* Checks p: 0, or -EINVAL when a field is out of the range its comment gives. */
int slc_ctl_params_check(const struct slc_ctl_params *p);

/*
 * One pool, sampled once per tick. Every field is finite and >= 0.
 *   queue      messages waiting in the pool's rings (not counting ones being handled)
 *   completed  messages the pool finished since the previous tick
 *   workers    worker threads of the pool
 *   busy       mean over the workers of thread CPU time / wall time since the previous
 *              tick (0..1; more is taken as 1)
 *   wait       mean over the workers of the time they were runnable but waiting for a
 *              CPU / wall time (schedstat run-queue delay; 0 when unknown): what a CPU
 *              hog on the pool's cores takes from it (adaptive only)
 *   inflight   messages dequeued but not finished (adaptive only: a pool with work in
 *              hand that completed nothing is stalled, not idle)
 */
struct slc_ctl_sample {
	double queue;
	double completed;
	double workers;
	double busy;
	double wait;
	double inflight;
};

/* Why a tick moved weight or did not (for metrics and the rate-limited log line). */
enum slc_ctl_reason {
	SLC_CTL_MOVED = 0,
	SLC_CTL_COOLDOWN,       /* pairwise: within cooldown_ms of the last change */
	SLC_CTL_NO_SPREAD,      /* pairwise: the max and min of P are the same pool */
	SLC_CTL_BELOW_DELTA,    /* pairwise: D < min_pressure_delta */
	SLC_CTL_DONOR_AT_FLOOR, /* pairwise: the busiest pool's weight <= min_weight */
	SLC_CTL_STEP_ZERO,      /* pairwise: the step truncated to 0 */
	SLC_CTL_NO_INFO,        /* adaptive: no pool has a capacity estimate yet */
	SLC_CTL_IN_BAND,        /* adaptive: every pool within dead_band of its target */
};

/* What one tick saw and did, beyond the weights themselves. */
struct slc_ctl_result {
	enum slc_ctl_reason reason;
	/* pairwise: the donor and receiver pools, D = P[imax] - P[imin], the step (0: none) */
	uint32_t imax;
	uint32_t imin;
	double d;
	int64_t step;
	/* adaptive: largest |w - target| / target before the move; weight moved this tick
	 * (half the sum of |change|); whether max_step or max_frac shortened the move */
	double dev_max;
	double moved;
	bool rate_limited;
};

struct slc_ctl;

/*
 * Builds a controller for npools pools starting from initial_weights (npools values).
 * Pairwise takes them as they are and refuses values that are not integers. Adaptive
 * scales them to SLC_CTL_ADAPTIVE_TOTAL and lifts any below min_weight to it.
 * Returns NULL with *err set to -EINVAL (bad parameters; npools 0 or above
 * SLC_CTL_POOLS_MAX; a weight negative, not finite, or all zero; adaptive with
 * npools * min_weight >= SLC_CTL_ADAPTIVE_TOTAL) or -ENOMEM. err may be NULL.
 */
struct slc_ctl *slc_ctl_create(const struct slc_ctl_params *p, uint32_t npools,
                               const double *initial_weights, int *err);

/* Accepts NULL. */
void slc_ctl_destroy(struct slc_ctl *c);

/*
 * Replaces c's parameters with p from the next tick on; the weights stay where they are
 * (a raised min_weight lifts the pools below it at the next tick). Returns 0, or -EINVAL
 * when p is out of range, changes the mode, or (adaptive) has npools * min_weight >=
 * SLC_CTL_ADAPTIVE_TOTAL; c is then unchanged.
 */
int slc_ctl_params_set(struct slc_ctl *c, const struct slc_ctl_params *p);

/*
 * One tick: s holds one sample per pool, dt_s > 0 is the time the samples cover, now_ms
 * a monotonic time for the cooldown. Updates the weights (slc_ctl_weights()) and, when
 * out is not NULL, fills it. Returns 1 if the weights changed, 0 if not, -EINVAL when
 * dt_s is not a positive finite number or a sample field is negative or not finite (the
 * controller is then unchanged).
 */
int slc_ctl_tick(struct slc_ctl *c, const struct slc_ctl_sample *s, double dt_s, uint64_t now_ms,
                 struct slc_ctl_result *out);

/* The current weights, npools of them; valid until slc_ctl_destroy(). */
const double *slc_ctl_weights(const struct slc_ctl *c);

/* Adaptive: the targets of the last tick (the current weights before the first one). */
const double *slc_ctl_targets(const struct slc_ctl *c);

/* Adaptive: smoothed capacity estimate of pool i in msg/s, or -1 while unknown. */
double slc_ctl_capacity(const struct slc_ctl *c, uint32_t i);

uint32_t slc_ctl_pool_count(const struct slc_ctl *c);

/*
 * Converts n weights (finite, >= 0, not all 0) to integers for the router: out sums to
 * total exactly, every out[i] >= min_each, and out is the largest-remainder rounding of
 * the weights scaled to total after any below min_each are lifted to it (the others
 * shrink in proportion). Ties go to the lower index. Returns 0, or -EINVAL (n 0, a bad
 * weight, or n * min_each > total).
 */
int slc_ctl_weights_to_u32(const double *w, uint32_t n, uint32_t total, uint32_t min_each,
                           uint32_t *out);

#endif /* SLC_ENGINE_CTL_H */
