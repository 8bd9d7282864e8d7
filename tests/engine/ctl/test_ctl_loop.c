/* SPDX-License-Identifier: MIT */
/* test_ctl_loop.c: what the controller's thread samples from the pools, and what it publishes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "ctl/ctl_loop.h"
#include "pool/pool.h"
#include "route/router.h"

/* Pool 0's handler waits for the gate; the others just count. */
struct gated {
	_Atomic bool open;
	_Atomic uint64_t handled;
};

static void
gated_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	struct gated *g = ctx;

	(void)m;
	while (worker == 0 && !atomic_load(&g->open))
		usleep(100);
	atomic_fetch_add(&g->handled, n);
}

/* What the last tick handed to the callback. */
struct seen {
	struct slc_ctl_sample s[4];
	double w[4];
	uint64_t ticks;
};

static void
record_tick(void *ctx, const struct slc_ctl_loop_tick *t)
{
	struct seen *seen = ctx;

	memcpy(seen->s, t->samples, t->npools * sizeof(*t->samples));
	memcpy(seen->w, t->weights, t->npools * sizeof(double));
	seen->ticks = t->tick;
}

static void
wait_handled(_Atomic uint64_t *c, uint64_t n)
{
	for (int i = 0; i < 20000 && atomic_load(c) < n; i++)
		usleep(500);
	cr_assert_eq(atomic_load(c), n);
}

Test(ctl_loop, samples_queue_inflight_and_completed)
{
	struct gated g = {0};
	struct seen seen = {0};
	struct slc_pool_cfg pc = {.npools = 2,
	                          .workers = 1,
	                          .producers = 1,
	                          .ring_size = 1024,
	                          .handler = gated_handler,
	                          .handler_ctx = &g};
	struct slc_ctl_loop_cfg lc = {.interval_ms = 10, .on_tick = record_tick, .ctx = &seen};
	struct slc_msg m[300];
	struct slc_pool_set *ps;
	struct slc_ctl_loop *l;
	int err;

	ps = slc_pool_set_create(&pc, &err);
	cr_assert_not_null(ps);
	memset(m, 0, sizeof(m));
	/* 300 messages before the worker starts: it takes one batch of 256 and blocks. */
	cr_assert_eq(
	        slc_ring_spsc_enqueue_burst(slc_worker_ring(slc_pool_set_worker(ps, 0), 0), m, 300),
	        300u);
	lc.pools = ps;
	slc_ctl_params_default(&lc.params);
	l = slc_ctl_loop_create(&lc, &err);
	cr_assert_not_null(l, "%d", err);
	cr_assert_eq(slc_ctl_loop_step(l), 0, "the first step only takes the baseline");
	cr_assert_eq(slc_pool_set_start(ps), 0);
	/* The worker took its batch (the queue's count drops before inflight is set). */
	for (int i = 0; i < 20000 && atomic_load(&slc_pool_set_worker(ps, 0)->st.inflight) != 256;
	     i++)
		usleep(500);
	cr_assert_geq(slc_ctl_loop_step(l), 0);
	cr_expect_eq(seen.ticks, 1u);
	cr_expect_eq(seen.s[0].inflight, 256.0);
	cr_expect_eq(seen.s[0].queue, 44.0);
	cr_expect_eq(seen.s[0].completed, 0.0);
	cr_expect_eq(seen.s[0].workers, 1.0);
	/* busy counts finished batches: a handler stuck this long shows as inflight */
	cr_expect_eq(seen.s[0].busy, 0.0);
	cr_expect_eq(seen.s[1].queue + seen.s[1].inflight + seen.s[1].completed, 0.0);

	atomic_store(&g.open, true);
	wait_handled(&g.handled, 300);
	cr_assert_geq(slc_ctl_loop_step(l), 0);
	cr_expect_eq(seen.ticks, 2u);
	cr_expect_eq(seen.s[0].completed, 300.0);
	cr_expect_eq(seen.s[0].inflight + seen.s[0].queue, 0.0);

	slc_ctl_loop_destroy(l);
	slc_pool_set_destroy(ps);
}

/* Every message costs its worker cost_ns[pool] of sleep, against the worker's own clock. */
struct paced {
	uint64_t cost_ns[2];
	uint64_t until_ns[2];
	_Atomic uint64_t handled;
};

static void
paced_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	struct paced *p = ctx;
	uint64_t now = slc_mono_ns();
	struct timespec ts;

	(void)m;
	if (p->until_ns[worker] + 2000000u < now)
		p->until_ns[worker] = now;
	p->until_ns[worker] += n * p->cost_ns[worker];
	ts = slc_timespec_from_ns(p->until_ns[worker]);
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	atomic_fetch_add(&p->handled, n);
}

/*
 * Pool 1 serves a quarter of what pool 0 serves. With the loop's thread running and a
 * feeder routing keyless messages as fast as the rings take them, the controller moves
 * most of the traffic to pool 0 (ideal 80/20) and the router's table follows.
 */
Test(ctl_loop, thread_moves_weight_to_the_faster_pool_and_publishes, .timeout = 60)
{
	struct paced p = {.cost_ns = {20000, 80000}};
	struct slc_pool_cfg pc = {.npools = 2,
	                          .workers = 1,
	                          .producers = 1,
	                          .ring_size = 256,
	                          .handler = paced_handler,
	                          .handler_ctx = &p};
	struct slc_ctl_loop_cfg lc = {.interval_ms = 20};
	struct slc_route_shared *sh = malloc(sizeof(*sh));
	const double w0[2] = {1, 1};
	struct slc_ctl_loop_stats st;
	struct slc_msg m[16];
	struct slc_pool_set *ps;
	struct slc_router *rt;
	struct slc_ctl_loop *l;
	uint64_t t_end, gen0;
	double w[2];
	int err;

	cr_assert_not_null(sh);
	ps = slc_pool_set_create(&pc, &err);
	cr_assert_not_null(ps);
	cr_assert_eq(slc_route_shared_init(sh, w0, 2, 1), 0);
	gen0 = atomic_load(&sh->gen);
	rt = slc_router_create(SLC_ROUTE_PURE, ps, 0, sh, &err);
	cr_assert_not_null(rt);
	lc.pools = ps;
	lc.route = sh;
	slc_ctl_params_default(&lc.params);
	l = slc_ctl_loop_create(&lc, &err);
	cr_assert_not_null(l);
	cr_assert_eq(slc_pool_set_start(ps), 0);
	cr_assert_eq(slc_ctl_loop_start(l), 0);
	memset(m, 0, sizeof(m));
	t_end = slc_mono_ns() + 2000000000ull;
	while (slc_mono_ns() < t_end) {
		if (slc_router_dispatch(rt, m, 16) < 16)
			usleep(200);
	}
	slc_ctl_loop_stop(l);
	slc_ctl_loop_weights(l, w);
	slc_ctl_loop_stats(l, &st);
	cr_expect_geq(st.ticks, 20u, "the thread ticked every 20 ms");
	cr_expect_geq(st.changes, 1u);
	cr_expect_eq(st.publish_errors, 0u);
	cr_expect_gt(w[0], 2.5 * w[1], "weights %.1f / %.1f, capacities 4:1", w[0], w[1]);
	cr_expect_gt(atomic_load(&sh->gen), gen0, "a new table was published");
	cr_expect_gt(sh->table.weight[0], 2 * sh->table.weight[1], "table %u / %u",
	             sh->table.weight[0], sh->table.weight[1]);

	slc_ctl_loop_destroy(l);
	slc_router_destroy(rt);
	slc_pool_set_destroy(ps);
	free(sh);
}

/*
 * An idle daemon's controller reads no worker's schedstat (with hundreds of workers those
 * reads were most of its idle cost); a worker with work queued or done is read again.
 */
Test(ctl_loop, idle_workers_schedstat_is_not_read)
{
	struct gated g = {.open = true};
	struct slc_pool_cfg pc = {.npools = 2,
	                          .workers = 2,
	                          .producers = 1,
	                          .ring_size = 1024,
	                          .handler = gated_handler,
	                          .handler_ctx = &g};
	struct slc_ctl_loop_cfg lc = {.interval_ms = 10};
	struct slc_ctl_loop_stats st;
	struct slc_msg m[10];
	struct slc_pool_set *ps;
	struct slc_ctl_loop *l;
	uint64_t reads;
	int err;

	ps = slc_pool_set_create(&pc, &err);
	cr_assert_not_null(ps);
	lc.pools = ps;
	slc_ctl_params_default(&lc.params);
	l = slc_ctl_loop_create(&lc, &err);
	cr_assert_not_null(l, "%d", err);
	cr_assert_eq(slc_pool_set_start(ps), 0);
	/* Every worker's file is opened once it runs (its tid is known). */
	for (int i = 0; i < 20000; i++) {
		bool all = true;

		for (uint32_t k = 0; k < 4; k++)
			all = all && atomic_load(&slc_pool_set_worker(ps, k)->tid) != 0;
		if (all)
			break;
		usleep(500);
	}
	/* The baseline reads all four (and opens their files); idle ticks read none. */
	cr_assert_eq(slc_ctl_loop_step(l), 0);
	slc_ctl_loop_stats(l, &st);
	cr_assert_eq(st.schedstat_reads, 0u, "stats are published by ticks, not the baseline");
	for (int i = 0; i < 10; i++)
		cr_assert_geq(slc_ctl_loop_step(l), 0);
	slc_ctl_loop_stats(l, &st);
	cr_expect_eq(st.schedstat_reads, 4u, "idle workers were read: %llu",
	             (unsigned long long)st.schedstat_reads);

	/* Pool 0 gets work: the worker that did it is read on the next tick, and no other
	 * (its pool's queue is empty again by then). */
	memset(m, 0, sizeof(m));
	reads = st.schedstat_reads;
	for (int i = 0; i < 10; i++)
		cr_assert_eq(slc_pool_submit(ps, 0, &m[i], 1000), 0);
	for (int i = 0;
	     i < 20000 && atomic_load(&slc_pool_set_worker(ps, 0)->st.processed) +
	                                  atomic_load(&slc_pool_set_worker(ps, 1)->st.processed) <
	                          10;
	     i++)
		usleep(500);
	wait_handled(&g.handled, 10);
	cr_assert_geq(slc_ctl_loop_step(l), 0);
	slc_ctl_loop_stats(l, &st);
	cr_expect_geq(st.schedstat_reads, reads + 1, "the worker that worked was not read");
	cr_expect_leq(st.schedstat_reads, reads + 2, "pool 1's idle workers were read");

	slc_ctl_loop_destroy(l);
	slc_pool_set_destroy(ps);
}

Test(ctl_loop, create_refuses_bad_configuration)
{
	struct slc_pool_cfg pc = {.npools = 2,
	                          .workers = 1,
	                          .producers = 1,
	                          .ring_size = 64,
	                          .handler = gated_handler};
	struct slc_ctl_loop_cfg lc = {.interval_ms = 100};
	struct slc_pool_set *ps;
	const double zero[2] = {0, 0};
	int err;

	ps = slc_pool_set_create(&pc, &err);
	cr_assert_not_null(ps);
	slc_ctl_params_default(&lc.params);
	cr_expect_null(slc_ctl_loop_create(&lc, &err), "no pools");
	cr_expect_eq(err, -EINVAL);
	lc.pools = ps;
	lc.interval_ms = 0;
	cr_expect_null(slc_ctl_loop_create(&lc, &err), "interval 0");
	cr_expect_eq(err, -EINVAL);
	lc.interval_ms = 100;
	lc.params.max_frac = 2;
	cr_expect_null(slc_ctl_loop_create(&lc, &err), "max_frac out of range");
	cr_expect_eq(err, -EINVAL);
	slc_ctl_params_default(&lc.params);
	lc.initial_weights = zero;
	cr_expect_null(slc_ctl_loop_create(&lc, &err), "all weights zero");
	cr_expect_eq(err, -EINVAL);
	slc_ctl_loop_destroy(NULL);
	slc_pool_set_destroy(ps);
}

static struct slc_pool_set *
two_pools(void)
{
	struct slc_pool_cfg pc = {.npools = 2,
	                          .workers = 1,
	                          .producers = 1,
	                          .ring_size = 64,
	                          .handler = gated_handler};
	int err;
	struct slc_pool_set *ps = slc_pool_set_create(&pc, &err);

	cr_assert_not_null(ps, "pool set: %d", err);
	return ps;
}

/* A loop over two idle pools with the default parameters (*p gets them); *ps to destroy. */
static struct slc_ctl_loop *
loop_of_two(struct slc_pool_set **ps, uint32_t interval_ms, struct slc_ctl_params *p)
{
	struct slc_ctl_loop_cfg lc = {.pools = two_pools(), .interval_ms = interval_ms};
	struct slc_ctl_loop *l;
	int err;

	slc_ctl_params_default(&lc.params);
	l = slc_ctl_loop_create(&lc, &err);
	cr_assert_not_null(l, "%d", err);
	*ps = lc.pools;
	*p = lc.params;
	return l;
}

Test(ctl_loop, params_set_refuses_what_the_controller_cannot_take)
{
	struct slc_pool_set *ps;
	struct slc_ctl_params def, p;
	struct slc_ctl_loop *l = loop_of_two(&ps, 100, &def);

	p = def;
	p.mode = SLC_CTL_PAIRWISE;
	cr_expect_eq(slc_ctl_loop_params_set(l, &p), -EINVAL, "the mode is fixed");
	p = def;
	p.max_frac = 0;
	cr_expect_eq(slc_ctl_loop_params_set(l, &p), -EINVAL, "max_frac out of range");
	p = def;
	p.min_weight = 50; /* 2 pools x 50 leaves no weight to move */
	cr_expect_eq(slc_ctl_loop_params_set(l, &p), -EINVAL, "min_weight too high");
	slc_ctl_loop_destroy(l);
	slc_pool_set_destroy(ps);
}

Test(ctl_loop, params_set_is_taken_at_the_next_tick_the_last_one_wins)
{
	struct slc_pool_set *ps;
	struct slc_ctl_loop_stats st;
	struct slc_ctl_params p;
	struct slc_ctl_loop *l = loop_of_two(&ps, 100, &p);

	p.max_step = 2;
	cr_assert_eq(slc_ctl_loop_params_set(l, &p), 0);
	p.max_step = 3;
	cr_assert_eq(slc_ctl_loop_params_set(l, &p), 0, "replaces the one not yet taken");
	cr_assert_eq(slc_ctl_loop_step(l), 0, "the baseline");
	while (slc_ctl_loop_step(l) < 0 || (slc_ctl_loop_stats(l, &st), st.ticks == 0))
		sched_yield(); /* the clock may not have moved since the baseline */
	cr_expect_eq(st.params_taken, 1u, "two sets before a tick are one update");
	cr_assert_eq(slc_ctl_loop_params_set(l, &p), 0);
	slc_ctl_params_default(&p);
	cr_assert_eq(slc_ctl_loop_params_set(l, &p), 0, "left for destroy to free");
	slc_ctl_loop_destroy(l);
	slc_pool_set_destroy(ps);
}

/* For the TSan build: parameters handed over while the thread ticks every millisecond. */
Test(ctl_loop, params_set_races_the_running_loop, .timeout = 30)
{
	struct slc_pool_set *ps;
	struct slc_ctl_loop_stats st;
	struct slc_ctl_params p;
	struct slc_ctl_loop *l = loop_of_two(&ps, 1, &p);

	cr_assert_eq(slc_ctl_loop_start(l), 0);
	do {
		p.max_step = p.max_step == 5.0 ? 4.0 : 5.0;
		cr_assert_eq(slc_ctl_loop_params_set(l, &p), 0);
		sched_yield();
		slc_ctl_loop_stats(l, &st);
	} while (st.params_taken < 50);
	slc_ctl_loop_destroy(l);
	slc_pool_set_destroy(ps);
}

Test(ctl_loop, ctl_params_set_keeps_the_weights_and_the_mode)
{
	const double w0[2] = {3, 5};
	struct slc_ctl_params p;
	struct slc_ctl *c;

	slc_ctl_params_default(&p);
	p.mode = SLC_CTL_PAIRWISE;
	c = slc_ctl_create(&p, 2, w0, NULL);
	cr_assert_not_null(c);
	p.mode = SLC_CTL_ADAPTIVE;
	cr_expect_eq(slc_ctl_params_set(c, &p), -EINVAL, "the mode is fixed");
	p.mode = SLC_CTL_PAIRWISE;
	p.max_step = 0;
	cr_expect_eq(slc_ctl_params_set(c, &p), -EINVAL, "max_step out of range");
	p.max_step = 2;
	cr_expect_eq(slc_ctl_params_set(c, &p), 0);
	cr_expect_eq(slc_ctl_weights(c)[0], 3.0);
	cr_expect_eq(slc_ctl_weights(c)[1], 5.0);
	slc_ctl_destroy(c);
}
