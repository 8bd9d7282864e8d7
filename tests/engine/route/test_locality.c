/* SPDX-License-Identifier: MIT */
/* test_locality.c: NUMA-local routing on the hwloc fixtures, under a simulated load. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "ctl/ctl_loop.h"
#include "numa.h"
#include "pool/pool.h"
#include "route/router.h"

#define TOPO_2N8C   SLC_FIXTURES_DIR "/topo-2n8c.xml"
#define TOPO_4N2C_D SLC_FIXTURES_DIR "/topo-4n2c-dist.xml"

#define RING_SIZE 1024u
#define SIM_MAX   8 /* pools and reactors the simulation holds */

static void
no_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	(void)ctx;
	(void)worker;
	(void)m;
	(void)n;
}

/*
 * A daemon without threads: the plan of a fixture gives each pool and reactor its node;
 * each step every reactor offers `offered` messages to its router, and each pool's (not
 * started) worker takes `rate[p]` messages out of its rings, as a sink of that speed
 * would; then the spill rule runs on the pools' fill, as the controller's tick does.
 */
struct sim {
	struct slc_numa_topo *topo;
	struct slc_numa_plan *plan;
	struct slc_pool_set *ps;
	struct slc_route_shared sh;
	struct slc_router *rt[SIM_MAX];
	uint32_t nreactors, npools, nnodes;
	uint32_t rate[SIM_MAX];
	uint64_t offered, taken; /* over all reactors and steps */
	struct slc_msg buf[4096];
};

static struct sim *
sim_new(const char *topo_xml, int reactors_per_node, int pools)
{
	struct sim *s = calloc(1, sizeof(*s));
	struct slc_numa_plan_req req = {reactors_per_node, pools, 1};
	uint16_t pool_node[SIM_MAX];
	double w[SIM_MAX];
	int err;

	cr_assert_not_null(s);
	s->topo = slc_numa_topo_create(topo_xml, &err);
	cr_assert_not_null(s->topo, "%s: %d", topo_xml, err);
	s->plan = slc_numa_plan_create(s->topo, &req, &err);
	cr_assert_not_null(s->plan);
	s->nreactors = (uint32_t)slc_numa_plan_reactor_count(s->plan);
	s->npools = (uint32_t)pools;
	s->nnodes = (uint32_t)slc_numa_node_count(s->topo);
	cr_assert(s->nreactors <= SIM_MAX && s->npools <= SIM_MAX);
	s->ps = slc_pool_set_create(
	        &(struct slc_pool_cfg){
	                .npools = s->npools,
	                .workers = 1,
	                .producers = s->nreactors,
	                .ring_size = RING_SIZE,
	                .handler = no_handler,
	        },
	        &err);
	cr_assert_not_null(s->ps, "pools: %d", err);
	for (uint32_t p = 0; p < s->npools; p++) {
		w[p] = 1;
		pool_node[p] = (uint16_t)slc_numa_plan_pool_node(s->plan, (int)p);
	}
	cr_assert_eq(slc_route_shared_init(&s->sh, w, s->npools, 1), 0);
	cr_assert_eq(slc_route_locality_set(&s->sh, s->nnodes, pool_node), 0);
	for (uint32_t r = 0; r < s->nreactors; r++) {
		struct slc_numa_place pl;

		s->rt[r] = slc_router_create(SLC_ROUTE_PURE, s->ps, r, &s->sh, &err);
		cr_assert_not_null(s->rt[r]);
		cr_assert_eq(slc_numa_plan_reactor(s->plan, (int)r, &pl), 0);
		cr_assert_eq(slc_router_set_node(s->rt[r], (uint32_t)pl.node), 0);
	}
	return s;
}

static void
sim_free(struct sim *s)
{
	for (uint32_t r = 0; r < s->nreactors; r++)
		slc_router_destroy(s->rt[r]);
	slc_route_shared_fini(&s->sh);
	slc_pool_set_destroy(s->ps);
	slc_numa_plan_destroy(s->plan);
	slc_numa_topo_destroy(s->topo);
	free(s);
}

static uint64_t
sim_cross(const struct sim *s)
{
	uint64_t n = 0;

	for (uint32_t r = 0; r < s->nreactors; r++)
		n += slc_router_cross_node(s->rt[r]);
	return n;
}

/* One step; returns the spill rule's result (1: a node changed state). */
static int
sim_step(struct sim *s, uint32_t offered)
{
	double fill[SIM_MAX];
	int rc;

	cr_assert(offered <= sizeof(s->buf) / sizeof(s->buf[0]));
	for (uint32_t r = 0; r < s->nreactors; r++) {
		s->offered += offered;
		s->taken += slc_router_dispatch(s->rt[r], s->buf, offered);
	}
	for (uint32_t p = 0; p < s->npools; p++) {
		struct slc_worker *w = slc_pool_set_worker(s->ps, p);
		uint32_t left = s->rate[p];

		for (uint32_t r = 0; r < s->nreactors && left > 0; r++)
			left -= slc_ring_spsc_dequeue_burst(slc_worker_ring(w, r), s->buf, left);
		fill[p] = (double)slc_pool_queued(s->ps, p) / (double)slc_pool_capacity(s->ps, p);
	}
	rc = slc_route_spill_update(&s->sh, fill);
	cr_assert(rc >= 0);
	return rc;
}

/* Each pool serves more than its share of the traffic: nothing needs to cross. */
Test(locality, balanced_load_stays_on_its_node_2n8c)
{
	struct sim *s = sim_new(TOPO_2N8C, 2, 4);

	for (uint32_t p = 0; p < s->npools; p++)
		s->rate[p] = 600; /* offered: 2 reactors x 500 per node, 2 pools per node */
	for (int i = 0; i < 2000; i++)
		sim_step(s, 500);
	cr_expect_eq(s->taken, s->offered, "all offered messages were taken");
	cr_expect(sim_cross(s) * 100 < s->taken * 5, "cross-node %llu of %llu: not below 5%%",
	          (unsigned long long)sim_cross(s), (unsigned long long)s->taken);
	cr_expect(!slc_route_spilling(&s->sh, 0) && !slc_route_spilling(&s->sh, 1));
	cr_expect_eq(atomic_load(&s->sh.spill_starts), 0);
	sim_free(s);
}

/* Without locality the same load crosses in proportion to the weights: half of it. */
Test(locality, without_locality_half_crosses)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 2);
	uint16_t dest[1000];
	struct slc_msg m[1000] = {0};
	uint32_t remote = 0;
	int err;
	struct slc_router *plain = slc_router_create(SLC_ROUTE_PURE, s->ps, 0, &s->sh, &err);

	cr_assert_not_null(plain);
	/* a router never put on a node reads the global table: every pool */
	slc_router_decide(plain, m, 1000, dest);
	for (int i = 0; i < 1000; i++)
		remote += slc_numa_plan_pool_node(s->plan, dest[i]) != 0;
	cr_expect_eq(remote, 500);
	/* the node-0 router: its own pool only */
	slc_router_decide(s->rt[0], m, 1000, dest);
	for (int i = 0; i < 1000; i++)
		cr_expect_eq(slc_numa_plan_pool_node(s->plan, dest[i]), 0);
	slc_router_destroy(plain);
	sim_free(s);
}

/* Node 1's pools slow down: its reactors spill onto node 0's pools, and come back once
 * they are fast again. */
Test(locality, slowed_node_spills_then_returns_2n8c)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 4);
	uint64_t before, during, after;
	int i;

	for (uint32_t p = 0; p < s->npools; p++)
		s->rate[p] = 1000;
	for (i = 0; i < 200; i++)
		sim_step(s, 500);
	cr_assert(!slc_route_spilling(&s->sh, 1));
	before = sim_cross(s);
	cr_expect_eq(before, 0);

	/* Node 1's pools (the plan alternates: 1 and 3) serve 100 per step of the 500 its
	 * reactor offers; node 0's keep up with twice their load. */
	for (uint32_t p = 0; p < s->npools; p++)
		if (slc_numa_plan_pool_node(s->plan, (int)p) == 1)
			s->rate[p] = 100;
	for (i = 0; i < 10000 && !slc_route_spilling(&s->sh, 1); i++)
		sim_step(s, 500);
	cr_assert(slc_route_spilling(&s->sh, 1), "node 1 never spilled");
	cr_expect(!slc_route_spilling(&s->sh, 0), "node 0 is not saturated");
	cr_expect_eq(atomic_load(&s->sh.spill_starts), 1);
	during = sim_cross(s);
	for (i = 0; i < 50; i++)
		sim_step(s, 500);
	cr_expect(sim_cross(s) > during, "spilled traffic crosses nodes");

	/* Fast again: node 1's pools drain, and its reactor comes home. */
	for (uint32_t p = 0; p < s->npools; p++)
		s->rate[p] = 1000;
	for (i = 0; i < 10000 && slc_route_spilling(&s->sh, 1); i++)
		sim_step(s, 500);
	cr_assert(!slc_route_spilling(&s->sh, 1), "node 1 never came back");
	after = sim_cross(s);
	for (i = 0; i < 500; i++)
		sim_step(s, 500);
	cr_expect_eq(sim_cross(s), after, "no message crosses once back");
	sim_free(s);
}

/*
 * Pure spills past a full pool (router.c, pure_spill), but in a node's table only to the
 * node's own pools: until the controller lets the node spill, a reactor whose local rings
 * are all full stops taking messages (its connections pause) and sends none across.
 */
Test(locality, full_local_pools_pause_rather_than_cross_before_the_spill_rule)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 4);
	uint64_t taken = 0, offered = 0;
	uint32_t n;

	/* No pool serves anything and the spill rule never runs: only dispatch. */
	do {
		for (uint32_t r = 0; r < s->nreactors; r++) {
			n = slc_router_dispatch(s->rt[r], s->buf, 512);
			taken += n;
			offered += 512;
		}
	} while (taken == offered && offered < 64 * RING_SIZE);
	cr_assert_lt(taken, offered, "the rings never filled");
	/* Each reactor filled exactly its node's two pools' rings. */
	cr_expect_eq(taken, (uint64_t)s->npools * RING_SIZE, "taken %llu",
	             (unsigned long long)taken);
	cr_expect_eq(sim_cross(s), 0, "a full node spilled across before the rule said so");
	sim_free(s);
}

/* Four nodes with distances: every reactor still keeps to its own node's pool. */
Test(locality, four_nodes_each_reactor_keeps_home)
{
	struct sim *s = sim_new(TOPO_4N2C_D, 1, 4);

	cr_assert_eq(s->nnodes, 4);
	for (uint32_t p = 0; p < s->npools; p++)
		s->rate[p] = 600;
	for (int i = 0; i < 500; i++)
		sim_step(s, 500);
	cr_expect_eq(s->taken, s->offered);
	cr_expect_eq(sim_cross(s), 0);
	sim_free(s);
}

/* A node without pools uses every pool: its traffic all crosses, and it is counted. */
Test(locality, node_without_pools_uses_all_and_counts_it)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 1); /* one pool, on node 0 */

	s->rate[0] = 2000;
	for (int i = 0; i < 100; i++)
		sim_step(s, 500);
	cr_expect_eq(s->taken, s->offered);
	cr_expect_eq(sim_cross(s), 100 * 500, "reactor 1's messages all cross");
	cr_expect_eq(slc_router_cross_node(s->rt[0]), 0);
	sim_free(s);
}

Test(locality, refuses_bad_input)
{
	struct slc_route_shared sh;
	double w[2] = {1, 1};
	uint16_t good[2] = {0, 1}, bad[2] = {0, 2};
	struct slc_pool_set *ps = slc_pool_set_create(&(struct slc_pool_cfg){.npools = 2,
	                                                                     .workers = 1,
	                                                                     .producers = 1,
	                                                                     .ring_size = RING_SIZE,
	                                                                     .handler = no_handler},
	                                              &(int){0});
	struct slc_router *rt;
	int err;

	cr_assert_not_null(ps);
	cr_assert_eq(slc_route_shared_init(&sh, w, 2, 1), 0);
	rt = slc_router_create(SLC_ROUTE_PURE, ps, 0, &sh, &err);
	cr_assert_not_null(rt);
	cr_expect_eq(slc_router_set_node(rt, 0), -EINVAL, "no locality yet");
	cr_expect_eq(slc_route_locality_set(&sh, 0, good), -EINVAL);
	cr_expect_eq(slc_route_locality_set(&sh, SLC_ROUTE_NODES_MAX + 1, good), -EINVAL);
	cr_expect_eq(slc_route_locality_set(&sh, 2, bad), -EINVAL);
	cr_expect_eq(slc_route_locality_set(&sh, 2, NULL), -EINVAL);
	cr_expect_eq(slc_route_spill_update(&sh, (double[]){1, 1}), 0, "no locality: no-op");
	cr_assert_eq(slc_route_locality_set(&sh, 2, good), 0);
	cr_expect_eq(slc_route_locality_set(&sh, 2, good), -EINVAL, "already on");
	cr_expect_eq(slc_router_set_node(rt, 2), -EINVAL);
	cr_expect_eq(slc_router_set_node(rt, 1), 0);
	cr_expect(!slc_route_spilling(&sh, 7));
	slc_router_destroy(rt);
	slc_route_shared_fini(&sh);
	slc_route_shared_fini(NULL);
	slc_pool_set_destroy(ps);
}

/* Weights the controller publishes reach the node tables: pool weights of a node keep
 * their ratio, and the other node's pools stay at 0 until it spills. */
Test(locality, publish_keeps_node_tables_local)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 4);
	uint16_t dest[1024];
	struct slc_msg m[1024] = {0};
	uint32_t count[4] = {0};

	/* pools 0, 2 on node 0: weights 3 and 1 */
	cr_assert_eq(slc_route_publish(&s->sh, (double[]){30, 25, 10, 25}), 0);
	slc_router_decide(s->rt[0], m, 1024, dest);
	for (int i = 0; i < 1024; i++)
		count[dest[i]]++;
	cr_expect_eq(count[1] + count[3], 0, "no message leaves node 0");
	cr_expect(count[0] > 2 * count[2] && count[0] < 4 * count[2], "%u vs %u", count[0],
	          count[2]);
	sim_free(s);
}

/* The controller's tick runs the spill rule (engine/ctl/ctl_loop.c): pools that a node's
 * reactor filled make that node spill at the next tick. */
Test(locality, controller_tick_spills_a_saturated_node)
{
	struct sim *s = sim_new(TOPO_2N8C, 1, 2); /* pool 0 on node 0, pool 1 on node 1 */
	struct slc_ctl_params params;
	struct slc_ctl_loop *l;
	int err;

	slc_ctl_params_default(&params);
	l = slc_ctl_loop_create(
	        &(struct slc_ctl_loop_cfg){
	                .pools = s->ps, .route = &s->sh, .params = params, .interval_ms = 100},
	        &err);
	cr_assert_not_null(l, "%d", err);
	cr_assert_eq(slc_ctl_loop_step(l), 0); /* the baseline */
	/* Pool 0 drains, pool 1 does not: reactor 1 fills its ring to pool 1. */
	s->rate[0] = 1000;
	for (int i = 0; i < 10; i++)
		sim_step(s, 500);
	cr_expect(slc_route_spilling(&s->sh, 1), "the simulation's own rule spilled node 1");
	/* Back to local by hand (a fresh locality), then let the controller's tick decide. */
	slc_route_shared_fini(&s->sh);
	cr_assert_eq(slc_route_locality_set(&s->sh, 2, (uint16_t[]){0, 1}), 0);
	cr_assert(!slc_route_spilling(&s->sh, 1));
	cr_assert(slc_ctl_loop_step(l) >= 0);
	cr_expect(slc_route_spilling(&s->sh, 1), "the controller's tick spilled node 1");
	cr_expect(!slc_route_spilling(&s->sh, 0));
	slc_ctl_loop_destroy(l);
	sim_free(s);
}

/* Under TSan: node tables published and spills switched while a router on node 1 routes
 * into running workers; every message arrives once. */
#define RACE_MSGS 200000u

static _Atomic uint64_t race_handled;
static _Atomic bool race_done;

static void
race_handler(void *ctx, uint32_t worker, const struct slc_msg *m, uint32_t n)
{
	(void)ctx;
	(void)worker;
	(void)m;
	atomic_fetch_add(&race_handled, n);
}

static void *
race_producer(void *arg)
{
	struct slc_router *rt = arg;
	struct slc_msg m[64] = {0};
	uint32_t sent = 0;

	while (sent < RACE_MSGS) {
		uint32_t n = RACE_MSGS - sent < 64 ? RACE_MSGS - sent : 64;

		sent += slc_router_dispatch(rt, m, n);
	}
	atomic_store(&race_done, true);
	return NULL;
}

Test(locality, tables_change_under_a_running_router, .timeout = 120)
{
	struct slc_pool_set *ps =
	        slc_pool_set_create(&(struct slc_pool_cfg){.npools = 4,
	                                                   .workers = 1,
	                                                   .producers = 1,
	                                                   .ring_size = RING_SIZE,
	                                                   .handler = race_handler},
	                            &(int){0});
	struct slc_route_shared sh;
	struct slc_router *rt;
	pthread_t th;
	int err;
	uint32_t i = 0;

	cr_assert_not_null(ps);
	cr_assert_eq(slc_route_shared_init(&sh, (double[]){1, 1, 1, 1}, 4, 1), 0);
	cr_assert_eq(slc_route_locality_set(&sh, 2, (uint16_t[]){0, 1, 0, 1}), 0);
	rt = slc_router_create(SLC_ROUTE_PURE, ps, 0, &sh, &err);
	cr_assert_not_null(rt);
	cr_assert_eq(slc_router_set_node(rt, 1), 0);
	cr_assert_eq(slc_pool_set_start(ps), 0);
	cr_assert_eq(pthread_create(&th, NULL, race_producer, rt), 0);
	while (!atomic_load(&race_done)) {
		double full = (i & 1) ? 1.0 : 0.0;

		cr_assert(slc_route_spill_update(&sh, (double[]){0, full, 0, full}) >= 0);
		cr_assert_eq(slc_route_publish(&sh, (double[]){1 + i % 3, 1, 2, 1 + i % 5}), 0);
		i++;
		sched_yield();
	}
	pthread_join(th, NULL);
	slc_pool_set_drain_stop(ps);
	cr_expect_eq(atomic_load(&race_handled), RACE_MSGS);
	cr_expect(slc_router_cross_node(rt) <= RACE_MSGS);
	slc_router_destroy(rt);
	slc_route_shared_fini(&sh);
	slc_pool_set_destroy(ps);
}
