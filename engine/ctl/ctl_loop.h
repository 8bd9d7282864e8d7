/* SPDX-License-Identifier: MIT */
/* ctl_loop.h: the controller's thread: samples the pools, ticks the controller, publishes. */
#ifndef SLC_ENGINE_CTL_LOOP_H
#define SLC_ENGINE_CTL_LOOP_H

#include <stdint.h>

#include "ctl/ctl.h"
#include "pool/pool.h"
#include "route/router.h"

/*
 * Every interval_ms the loop reads, per pool (docs/controller.md, "Sampling"):
 *   queue      messages in the pool's rings minus those in the handler
 *   completed  messages the workers finished since the last tick
 *   busy       mean over the workers of the time spent inside the handler / wall time
 *              (counted when a batch finishes: a handler stuck for long shows as inflight).
 *              Handler time, not thread CPU time: a worker spinning on empty rings before
 *              it parks burns CPU without doing work, and a sink blocked in write() or
 *              send() does work without burning CPU.
 *   wait       0: handler time already holds the run-queue delay a worker suffers while
 *              it has work in hand (a CPU hog on its core stretches its handler time and
 *              so lowers the capacity estimate); adding it would count it twice
 *   inflight   messages in the handler now
 * and, per pool, the workers' mean thread CPU time and run-queue delay over wall time
 * (/proc/self/task/TID/schedstat), for the metrics and the tick callback. It hands
 * the samples to slc_ctl_tick() and, when the weights changed, publishes a new route table
 * (slc_route_publish): reactors pick it up with one atomic load.
 *
 * Since busy is occupied time, the loop's controller runs with params.busy_occupied set,
 * whatever cfg->params says, and sat_queue at least half of a worker's ring: a queue then
 * overrides the busy fraction only when half a ring stood from one tick to the next.
 *
 * The loop is the only writer of the controller; readers (metrics) take a snapshot.
 */

/* What one tick saw and did, for a callback (the benchmark's CSV, a log line). */
struct slc_ctl_loop_tick {
	uint64_t tick;     /* 1 for the first tick that reached the controller */
	double t_s;        /* since the loop's first sample */
	double interval_s; /* the time the samples cover */
	uint32_t npools;
	const struct slc_ctl_sample *samples; /* [npools] */
	const double *cpu;                    /* [npools] mean thread CPU time / wall */
	const double *wait;                   /* [npools] mean run-queue delay / wall */
	const double *weights;                /* [npools] after the tick */
	const struct slc_ctl_result *result;
	int changed;     /* slc_ctl_tick()'s return */
	int publish_err; /* slc_route_publish()'s return when changed, else 0 */
};

struct slc_ctl_loop_cfg {
	struct slc_pool_set *pools;
	struct slc_route_shared *route; /* NULL: compute weights without publishing */
	struct slc_ctl_params params;
	uint32_t interval_ms;          /* > 0 */
	const double *initial_weights; /* [npools]; NULL: equal */
	/* Called on the loop's thread after every tick; may be NULL. */
	void (*on_tick)(void *ctx, const struct slc_ctl_loop_tick *t);
	void *ctx;
};

/* Counters, readable from any thread. */
struct slc_ctl_loop_stats {
	uint64_t ticks;
	uint64_t changes;        /* ticks that moved weight */
	uint64_t publish_errors; /* tables that could not be built (counted, weights kept) */
	uint64_t params_taken;   /* parameter sets taken from slc_ctl_loop_params_set */
	enum slc_ctl_reason last_reason;
	uint64_t schedstat_reads; /* workers' schedstat files read (idle workers are skipped) */
};

struct slc_ctl_loop;

/* NULL with *err: -EINVAL (no pools, interval 0, bad params or weights), -ENOMEM. */
struct slc_ctl_loop *slc_ctl_loop_create(const struct slc_ctl_loop_cfg *cfg, int *err);
/* Starts the thread (it samples at once, then every interval). 0 or -errno. */
int slc_ctl_loop_start(struct slc_ctl_loop *l);
/* Stops and joins the thread; safe to call twice or without start. */
void slc_ctl_loop_stop(struct slc_ctl_loop *l);
/* Stops first. Accepts NULL. */
void slc_ctl_loop_destroy(struct slc_ctl_loop *l);

/*
 * Samples and ticks once, now, on the caller's thread (the loop's thread does this every
 * interval; tests and tools without the thread call it themselves). The first call only
 * takes the baseline. Returns slc_ctl_tick()'s result (1 changed, 0 not), 0 for the
 * baseline, or -EINVAL. Not to be called while the thread runs.
 */
int slc_ctl_loop_step(struct slc_ctl_loop *l);

/*
 * Hands the loop new controller parameters, from any thread: the loop takes them at its
 * next tick (slc_ctl_params_set) and frees them. A second call before that tick replaces
 * the first's. Checked here first, so that what the loop takes cannot be refused. Returns
 * 0, -EINVAL (slc_ctl_params_set's reasons), or -ENOMEM.
 */
int slc_ctl_loop_params_set(struct slc_ctl_loop *l, const struct slc_ctl_params *p);

/* The current weights (percent in adaptive mode, table units in pairwise), npools. */
void slc_ctl_loop_weights(struct slc_ctl_loop *l, double *out);
void slc_ctl_loop_stats(struct slc_ctl_loop *l, struct slc_ctl_loop_stats *out);

#endif /* SLC_ENGINE_CTL_LOOP_H */
